//! `cargo xtask interop`: interoperability against real SPIRE, go-spiffe and py-spiffe.
//!
//! Steps, each timed:
//! 1. build `spire-server` and `spire-agent` from the pinned module in `tests/interop/spire`
//!    with the installed Go, cached under `<cache>/spire-<version>-<go version>/bin`;
//! 2. build the go-spiffe programs (`tests/interop/go`) and a py-spiffe venv
//!    (`<cache>/py-<hash of requirements.txt>-<python version>`);
//! 3. differential vectors: go-spiffe's verdicts, then `tests/interop/tests/vectors.rs`;
//! 4. the go-spiffe and py-spiffe programs against the `spiffe-dev-agent` binary;
//! 5. our client and sources against SPIRE: `tests/interop/tests/spire.rs`.
//!
//! `<cache>` is `$SPIFFE_INTEROP_CACHE`, else `$HOME/.cache/spiffe-rs-interop`. Every process
//! started here is stopped by its pid; the SPIRE tests run in their own process group, which is
//! sent SIGTERM at the end in case a test process died without cleaning up.

use std::fs;
use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::BoxError;

/// The divergence the Python probe checks (see `tests/interop/divergences.json`).
const AUTHORITY_CASE: &str = "py-spiffe default :authority over a Unix socket";

pub(crate) fn run(root: &Path) -> Result<(), BoxError> {
    let started = Instant::now();
    let mut timings: Vec<(String, Duration)> = Vec::new();
    let mut step = |name: &str, f: &mut dyn FnMut() -> Result<(), BoxError>| {
        eprintln!("\n--> interop: {name}");
        let t = Instant::now();
        let result = f();
        let took = t.elapsed();
        eprintln!("<-- interop: {name}: {} in {took:.1?}", outcome(&result));
        timings.push((name.to_owned(), took));
        result.map_err(|e| -> BoxError { format!("interop step `{name}` failed: {e}").into() })
    };

    let go_version = capture(Command::new("go").args(["env", "GOVERSION"]), 30)
        .map_err(|e| format!("Go is needed for the interop stage: {e}"))?;
    let go_version = go_version.trim().to_owned();
    let python = capture(
        Command::new("python3").args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"]),
        30,
    )
    .map_err(|e| format!("python3 is needed for the interop stage: {e}"))?;
    let python = python.trim().to_owned();
    let cache = cache_dir()?;
    let interop = root.join("tests/interop");
    let spire_version = spire_version(&interop.join("spire/go.mod"))?;
    eprintln!(
        "interop: SPIRE {spire_version}, {go_version}, Python {python}, cache {}",
        cache.display()
    );

    let spire_bin = cache.join(format!("spire-{spire_version}-{go_version}/bin"));
    step(&format!("SPIRE {spire_version} binaries"), &mut || {
        build_spire(&interop.join("spire"), &spire_bin)
    })?;

    let go_bin = cache.join(format!("go-programs-{go_version}"));
    step("go-spiffe programs", &mut || {
        for program in ["client", "vectors"] {
            let mut cmd = go_command(&interop.join("go"));
            cmd.args(["build", "-o"])
                .arg(go_bin.join(program))
                .arg(format!("./{program}"));
            check(&mut cmd, 900)?;
        }
        Ok(())
    })?;

    let requirements = interop.join("py/requirements.txt");
    let venv = cache.join(format!(
        "py-{:016x}-{python}",
        fnv1a(&fs::read(&requirements)?)
    ));
    step("py-spiffe venv", &mut || python_venv(&venv, &requirements))?;

    // The whole workspace's test build, as `cargo test --workspace` makes it: the same feature
    // resolution, so after the test stage of `.ci/run` nothing is compiled again (a `-p` build
    // resolves features for one package and would build much of the graph a second time). It
    // also builds the `spiffe-dev-agent` binary, which its package's integration tests need.
    step("build the dev agent and the interop tests", &mut || {
        check(
            Command::new(cargo())
                .current_dir(root)
                .args(["test", "-q", "--workspace", "--no-run"]),
            1800,
        )
    })?;

    let target = target_dir(root);
    step(
        "differential vectors (go-spiffe vs our crates)",
        &mut || {
            // The workspace's own copies of the shared vectors, so the stage runs from any
            // checkout (crates/*/tests/data, with their licence).
            let verdicts = capture(
                Command::new(go_bin.join("vectors"))
                    .arg("-ids")
                    .arg(root.join("crates/spiffe-id/tests/data/spiffe-id.tsv"))
                    .arg("-x509svid")
                    .arg(root.join("crates/spiffe-svid/tests/data/go-spiffe/x509svid")),
                120,
            )?;
            let file = target.join("interop-go-verdicts.json");
            fs::create_dir_all(&target)?;
            fs::write(&file, verdicts)?;
            check(
                Command::new(cargo())
                    .current_dir(root)
                    .args(["test", "-q", "--workspace", "--test", "vectors"])
                    .args(["--", "--ignored"])
                    .env("SPIFFE_INTEROP_GO_VERDICTS", &file),
                900,
            )
        },
    )?;

    step(
        "go-spiffe and py-spiffe against spiffe-dev-agent",
        &mut || clients_against_dev_agent(root, &target, &go_bin, &venv, &interop),
    )?;

    step("our client and sources against SPIRE", &mut || {
        spire_tests(root, &spire_bin)
    })?;

    eprintln!("\ninterop: all steps passed");
    for (name, took) in &timings {
        eprintln!("  {took:>8.1?}  {name}");
    }
    eprintln!(
        "interop stage took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn outcome<T>(result: &Result<T, BoxError>) -> &'static str {
    if result.is_ok() { "ok" } else { "FAILED" }
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

fn cache_dir() -> Result<PathBuf, BoxError> {
    if let Some(dir) = std::env::var_os("SPIFFE_INTEROP_CACHE") {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").ok_or("neither SPIFFE_INTEROP_CACHE nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cache/spiffe-rs-interop"))
}

/// The SPIRE version the throwaway module pins (`github.com/spiffe/spire vX.Y.Z`).
fn spire_version(go_mod: &Path) -> Result<String, BoxError> {
    let text = fs::read_to_string(go_mod)?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("github.com/spiffe/spire "))
        .filter_map(|rest| rest.split_whitespace().next())
        .next()
        .map(str::to_owned)
        .ok_or_else(|| {
            format!(
                "no github.com/spiffe/spire requirement in {}",
                go_mod.display()
            )
            .into()
        })
}

/// Go with the installed toolchain only: never a toolchain download.
fn go_command(dir: &Path) -> Command {
    let mut cmd = Command::new("go");
    cmd.current_dir(dir)
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=readonly -buildvcs=false");
    cmd
}

fn build_spire(module: &Path, bin: &Path) -> Result<(), BoxError> {
    let names = ["spire-server", "spire-agent"];
    if names.iter().all(|n| bin.join(n).is_file()) {
        eprintln!("cached in {}", bin.display());
        return Ok(());
    }
    // Build next to the cache entry, then rename: a cut-short build never looks cached.
    let parent = bin.parent().ok_or("cache path has no parent")?;
    fs::create_dir_all(parent)?;
    let scratch = tempfile::tempdir_in(parent)?;
    eprintln!("building SPIRE (the first time takes several minutes) ...");
    let mut cmd = go_command(module);
    cmd.args(["build", "-trimpath", "-o"])
        .arg(scratch.path())
        .args([
            "github.com/spiffe/spire/cmd/spire-server",
            "github.com/spiffe/spire/cmd/spire-agent",
        ]);
    check(&mut cmd, 45 * 60)?;
    let _ = fs::remove_dir_all(bin);
    fs::rename(scratch.keep(), bin)?;
    Ok(())
}

fn python_venv(venv: &Path, requirements: &Path) -> Result<(), BoxError> {
    let marker = venv.join(".installed");
    if marker.is_file() {
        eprintln!("cached in {}", venv.display());
        return Ok(());
    }
    let _ = fs::remove_dir_all(venv);
    check(Command::new("python3").args(["-m", "venv"]).arg(venv), 300)?;
    check(
        Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "-q",
                "--disable-pip-version-check",
                "--require-virtualenv",
                "-r",
            ])
            .arg(requirements),
        900,
    )?;
    fs::write(marker, "")?;
    Ok(())
}

/// A spawned process that is stopped (SIGTERM, then SIGKILL after 5 s) when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        terminate(&mut self.0);
    }
}

fn terminate(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    for _ in 0..100 {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn clients_against_dev_agent(
    root: &Path,
    target: &Path,
    go_bin: &Path,
    venv: &Path,
    interop: &Path,
) -> Result<(), BoxError> {
    let dir = tempfile::Builder::new()
        .prefix("devagent-")
        .tempdir_in("/tmp")?;
    let socket = dir.path().join("agent.sock");
    let addr = format!("unix://{}", socket.display());
    let uid = capture(Command::new("id").arg("-u"), 10)?;
    let id = "spiffe://example.org/interop";
    let log = fs::File::create(dir.path().join("agent.log"))?;
    let agent = Command::new(target.join("debug/spiffe-dev-agent"))
        .current_dir(root)
        .arg("--socket")
        .arg(&socket)
        .arg("--identity")
        .arg(format!("{id},ttl=8s,jwt_ttl=5m,uid={}", uid.trim()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start spiffe-dev-agent: {e}"))?;
    let mut agent = Guard(agent);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !socket.exists() {
        if let Some(status) = agent.0.try_wait()? {
            return Err(format!("spiffe-dev-agent exited ({status})").into());
        }
        if Instant::now() > deadline {
            return Err("spiffe-dev-agent did not create its socket within 30 s".into());
        }
        thread::sleep(Duration::from_millis(50));
    }

    let mut failures = Vec::new();
    let go = Command::new(go_bin.join("client"))
        .args(["-addr", &addr, "-id", id, "-rotation-timeout", "30s"])
        .output_bounded(120);
    report("go-spiffe", go, &mut failures);

    let py = |extra: &[&str]| {
        Command::new(venv.join("bin/python"))
            .arg(interop.join("py/client.py"))
            .args(["--addr", &addr])
            .args(extra)
            .output_bounded(120)
    };
    let probe = py(&["--probe-default-authority"])?;
    eprint!("py-spiffe as shipped: {probe}");
    let recorded = authority_divergence_recorded(interop)?;
    match (probe.trim() == "accepted", recorded) {
        (true, true) => failures.push(format!(
            "py-spiffe as shipped is now accepted: remove `{AUTHORITY_CASE}` from divergences.json"
        )),
        (false, false) => failures.push(format!(
            "py-spiffe as shipped is refused ({}) and divergences.json does not record it",
            probe.trim()
        )),
        _ => {}
    }
    let mut args = vec!["--id", id, "--rotation-timeout", "30"];
    if recorded {
        args.push("--localhost-authority");
    }
    report("py-spiffe", py(&args), &mut failures);

    terminate(&mut agent.0);
    if failures.is_empty() {
        Ok(())
    } else {
        let log = fs::read_to_string(dir.path().join("agent.log")).unwrap_or_default();
        Err(format!("{}\n--- dev agent log ---\n{log}", failures.join("\n")).into())
    }
}

fn report(name: &str, result: Result<String, BoxError>, failures: &mut Vec<String>) {
    match result {
        Ok(out) => eprint!("{name}:\n{out}"),
        Err(e) => failures.push(format!("{name}: {e}")),
    }
}

/// Whether `divergences.json` records the py-spiffe `:authority` divergence.
fn authority_divergence_recorded(interop: &Path) -> Result<bool, BoxError> {
    let text = fs::read_to_string(interop.join("divergences.json"))?;
    let entries: Vec<serde_json::Value> = serde_json::from_str(&text)?;
    Ok(entries
        .iter()
        .any(|e| e.get("case").and_then(|c| c.as_str()) == Some(AUTHORITY_CASE)))
}

fn spire_tests(root: &Path, spire_bin: &Path) -> Result<(), BoxError> {
    let mut cmd = Command::new(cargo());
    cmd.current_dir(root)
        .args(["test", "-q", "--workspace", "--test", "spire"])
        .args(["--", "--ignored", "--test-threads", "2"])
        .env("SPIFFE_INTEROP_SPIRE_BIN", spire_bin)
        // Its own process group, so that anything left behind can be stopped at the end.
        .process_group(0);
    let mut child = cmd.spawn()?;
    let group = child.id();
    let status = wait_bounded(&mut child, 25 * 60);
    let _ = Command::new("kill")
        .args(["-TERM", "--", &format!("-{group}")])
        .stderr(Stdio::null())
        .status();
    match status? {
        s if s.success() => Ok(()),
        s => Err(format!("the SPIRE tests failed ({s}); their output is above").into()),
    }
}

fn wait_bounded(child: &mut Child, seconds: u64) -> Result<std::process::ExitStatus, BoxError> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            terminate(child);
            return Err(format!("did not finish within {seconds} s; stopped").into());
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Runs a command with inherited output, bounded in time; fails on a non-zero exit.
fn check(cmd: &mut Command, seconds: u64) -> Result<(), BoxError> {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    let status = wait_bounded(&mut child, seconds).map_err(|e| format!("{shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})").into())
    }
}

/// Runs a command bounded in time and returns its stdout; stderr is passed through.
fn capture(cmd: &mut Command, seconds: u64) -> Result<String, BoxError> {
    cmd.output_bounded(seconds)
}

trait OutputBounded {
    fn output_bounded(&mut self, seconds: u64) -> Result<String, BoxError>;
}

impl OutputBounded for Command {
    fn output_bounded(&mut self, seconds: u64) -> Result<String, BoxError> {
        let shown = format!("{self:?}");
        let mut child = self
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {shown}: {e}"))?;
        let mut stdout = child.stdout.take().ok_or("no stdout")?;
        let reader = thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        let status = wait_bounded(&mut child, seconds).map_err(|e| format!("{shown}: {e}"))?;
        let out = reader.join().unwrap_or_default();
        if status.success() {
            Ok(out)
        } else {
            Err(format!("{shown} failed ({status}):\n{out}").into())
        }
    }
}

/// FNV-1a, to key the venv by the content of requirements.txt.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
