//! Interoperability harness: a real SPIRE deployment on loopback and temporary Unix sockets.
//!
//! [`Deployment::start`] runs `spire-server` for `example.org`, a second `spire-server` for
//! `federated.test` whose bundle the first one holds (`bundle show` / `bundle set`), and a
//! `spire-agent` attested with a join token that serves the Workload API on a temporary socket
//! with the `unix` workload attestor. Registration entries select the uid of the test process.
//!
//! Every process is started by this crate, listens on 127.0.0.1 or a socket under a fresh
//! temporary directory, and is killed by its pid when the [`Deployment`] drops, also when a
//! test panics. Every wait is bounded; a timeout names what was awaited and shows the tail of
//! the logs.
//!
//! The binaries come from `SPIFFE_INTEROP_SPIRE_BIN` (a directory holding `spire-server` and
//! `spire-agent`), which `cargo xtask interop` sets after building them.

use std::fmt::Write as _;
use std::fs;
use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Environment variable naming the directory with `spire-server` and `spire-agent`.
pub const SPIRE_BIN_ENV: &str = "SPIFFE_INTEROP_SPIRE_BIN";

/// The trust domain of the main server.
pub const TRUST_DOMAIN: &str = "example.org";

/// The trust domain of the second, federated server.
pub const FEDERATED_TRUST_DOMAIN: &str = "federated.test";

/// How long any single step (a command, a process becoming ready) may take.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// An error of the harness, with enough context to act on.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// A registration entry to create for the test process's uid.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The SPIFFE ID, e.g. `spiffe://example.org/a`.
    pub spiffe_id: String,
    /// The hint the agent passes along with the SVID.
    pub hint: Option<String>,
    /// X.509-SVID lifetime in seconds.
    pub x509_ttl: u32,
    /// JWT-SVID lifetime in seconds.
    pub jwt_ttl: u32,
}

impl Entry {
    /// An entry for `path` in [`TRUST_DOMAIN`], 60 s X.509 and 300 s JWT lifetimes, no hint.
    pub fn new(path: &str) -> Self {
        Self {
            spiffe_id: format!("spiffe://{TRUST_DOMAIN}{path}"),
            hint: None,
            x509_ttl: 60,
            jwt_ttl: 300,
        }
    }

    /// Sets the hint.
    pub fn hint(mut self, hint: &str) -> Self {
        self.hint = Some(hint.to_owned());
        self
    }

    /// Sets the X.509-SVID lifetime in seconds.
    pub fn x509_ttl(mut self, seconds: u32) -> Self {
        self.x509_ttl = seconds;
        self
    }
}

/// A process this harness started, with its log file.
#[derive(Debug)]
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, log: PathBuf, command: &mut Command) -> Result<Self, Error> {
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let err = out.try_clone()?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        Ok(Self { name, child, log })
    }

    /// Fails when the process has already exited, with the tail of its log.
    fn ensure_running(&mut self) -> Result<(), Error> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(format!(
                "{} exited early ({status}); its log ends with:\n{}",
                self.name,
                tail(&self.log)
            )
            .into()),
        }
    }

    /// SIGTERM, then SIGKILL after 5 s; always reaps.
    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One SPIRE deployment: two servers (one federated) and an agent.
#[derive(Debug)]
pub struct Deployment {
    dir: tempfile::TempDir,
    bin: PathBuf,
    server: Option<Proc>,
    federated: Option<Proc>,
    agent: Option<Proc>,
    agent_args: Vec<String>,
    uid: u32,
}

impl Deployment {
    /// Starts both servers, creates `entries` (federated with [`FEDERATED_TRUST_DOMAIN`]),
    /// starts the agent and waits until it serves one X.509-SVID per entry.
    ///
    /// # Errors
    ///
    /// A binary missing, a process exiting, a command failing or a bounded wait running out.
    pub fn start(entries: &[Entry]) -> Result<Self, Error> {
        let bin = std::env::var_os(SPIRE_BIN_ENV)
            .map(PathBuf::from)
            .ok_or_else(|| format!("{SPIRE_BIN_ENV} is not set: run `cargo xtask interop`"))?;
        for name in ["spire-server", "spire-agent"] {
            if !bin.join(name).is_file() {
                return Err(format!("{} is missing", bin.join(name).display()).into());
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("spire-")
            .tempdir_in("/tmp")?;
        let uid = current_uid()?;
        let mut deployment = Self {
            dir,
            bin,
            server: None,
            federated: None,
            agent: None,
            agent_args: Vec::new(),
            uid,
        };

        deployment.start_server("a", TRUST_DOMAIN)?;
        deployment.start_server("b", FEDERATED_TRUST_DOMAIN)?;
        deployment.federate()?;

        let token = deployment.server_cmd("a", &["token", "generate", "-ttl", "600"])?;
        // "Token: <uuid>", then a warning line about the missing SPIFFE ID.
        let token = token
            .lines()
            .find_map(|l| l.strip_prefix("Token:"))
            .map(|t| t.trim().to_owned())
            .ok_or_else(|| format!("no token in `token generate` output:\n{token}"))?;
        let parent = format!("spiffe://{TRUST_DOMAIN}/spire/agent/join_token/{token}");
        for entry in entries {
            deployment.create_entry(&parent, entry)?;
        }

        deployment.write_agent_config()?;
        deployment.agent_args = vec!["-joinToken".to_owned(), token];
        deployment.start_agent()?;
        deployment.wait_for_svids(entries.len())?;
        Ok(deployment)
    }

    /// The Workload API endpoint of the agent, `unix:///...`.
    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.agent_socket().display())
    }

    /// The uid the entries select.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn agent_socket(&self) -> PathBuf {
        self.path("public/agent.sock")
    }

    fn start_server(&mut self, name: &'static str, trust_domain: &str) -> Result<(), Error> {
        let data = self.path(&format!("server-{name}"));
        fs::create_dir_all(&data)?;
        let port = free_port()?;
        if name == "a" {
            fs::write(self.path("server-a-port"), port.to_string())?;
        }
        let socket = self.path(&format!("server-{name}.sock"));
        let config = format!(
            r#"server {{
    bind_address = "127.0.0.1"
    bind_port = "{port}"
    socket_path = "{socket}"
    trust_domain = "{trust_domain}"
    data_dir = "{data}"
    log_level = "INFO"
    ca_ttl = "24h"
    default_x509_svid_ttl = "1h"
    default_jwt_svid_ttl = "5m"
}}
plugins {{
    DataStore "sql" {{
        plugin_data {{
            database_type = "sqlite3"
            connection_string = "{data}/datastore.sqlite3"
        }}
    }}
    KeyManager "memory" {{ plugin_data {{}} }}
    NodeAttestor "join_token" {{ plugin_data {{}} }}
}}
"#,
            socket = socket.display(),
            data = data.display(),
        );
        let conf_path = self.path(&format!("server-{name}.conf"));
        fs::write(&conf_path, config)?;

        let log = self.path(&format!("server-{name}.log"));
        let proc_name = if name == "a" {
            "spire-server (example.org)"
        } else {
            "spire-server (federated.test)"
        };
        let mut proc = Proc::spawn(
            proc_name,
            log,
            Command::new(self.bin.join("spire-server"))
                .args(["run", "-config"])
                .arg(&conf_path),
        )?;
        let ready = wait_until(STEP_TIMEOUT, &format!("{proc_name} healthy"), || {
            proc.ensure_running()?;
            Ok(self.run_quiet(
                "spire-server",
                &["healthcheck", "-socketPath", &socket.display().to_string()],
            ))
        });
        if name == "a" {
            self.server = Some(proc);
        } else {
            self.federated = Some(proc);
        }
        ready
    }

    /// Gives server a the bundle of server b, as an operator would with `bundle show/set`.
    fn federate(&self) -> Result<(), Error> {
        let bundle = self.server_cmd("b", &["bundle", "show", "-format", "spiffe"])?;
        let file = self.path("federated-bundle.json");
        fs::write(&file, bundle)?;
        self.server_cmd(
            "a",
            &[
                "bundle",
                "set",
                "-format",
                "spiffe",
                "-id",
                &format!("spiffe://{FEDERATED_TRUST_DOMAIN}"),
                "-path",
                &file.display().to_string(),
            ],
        )?;
        Ok(())
    }

    /// The federated server's bundle as `spire-server bundle show -format spiffe` printed it.
    pub fn federated_bundle_json(&self) -> String {
        fs::read_to_string(self.path("federated-bundle.json")).unwrap_or_default()
    }

    fn create_entry(&self, parent: &str, entry: &Entry) -> Result<String, Error> {
        let uid = format!("unix:uid:{}", self.uid);
        let x509_ttl = entry.x509_ttl.to_string();
        let jwt_ttl = entry.jwt_ttl.to_string();
        let federates = format!("spiffe://{FEDERATED_TRUST_DOMAIN}");
        let mut args = vec![
            "entry",
            "create",
            "-parentID",
            parent,
            "-spiffeID",
            &entry.spiffe_id,
            "-selector",
            &uid,
            "-x509SVIDTTL",
            &x509_ttl,
            "-jwtSVIDTTL",
            &jwt_ttl,
            "-federatesWith",
            &federates,
        ];
        if let Some(hint) = &entry.hint {
            args.extend(["-hint", hint.as_str()]);
        }
        let out = self.server_cmd("a", &args)?;
        out.lines()
            .find_map(|l| l.strip_prefix("Entry ID"))
            .and_then(|rest| rest.split(':').nth(1))
            .map(|id| id.trim().to_owned())
            .ok_or_else(|| format!("no entry ID in `entry create` output:\n{out}").into())
    }

    /// Deletes every entry of `spiffe_id` on the main server.
    ///
    /// # Errors
    ///
    /// A failing `spire-server entry` command, or no entry for the ID.
    pub fn delete_entries_of(&self, spiffe_id: &str) -> Result<(), Error> {
        let out = self.server_cmd("a", &["entry", "show", "-spiffeID", spiffe_id])?;
        let ids: Vec<String> = out
            .lines()
            .filter_map(|l| l.strip_prefix("Entry ID"))
            .filter_map(|rest| rest.split(':').nth(1))
            .map(|id| id.trim().to_owned())
            .collect();
        if ids.is_empty() {
            return Err(format!("no entry for {spiffe_id}:\n{out}").into());
        }
        for id in ids {
            self.server_cmd("a", &["entry", "delete", "-entryID", &id])?;
        }
        Ok(())
    }

    fn write_agent_config(&self) -> Result<(), Error> {
        let data = self.path("agent");
        fs::create_dir_all(&data)?;
        // SPIRE wants the admin socket outside the Workload API socket's directory.
        fs::create_dir_all(self.path("public"))?;
        fs::create_dir_all(self.path("admin"))?;
        let port = fs::read_to_string(self.path("server-a-port"))?;
        let config = format!(
            r#"agent {{
    data_dir = "{data}"
    log_level = "INFO"
    server_address = "127.0.0.1"
    server_port = "{port}"
    socket_path = "{socket}"
    admin_socket_path = "{admin}"
    trust_domain = "{TRUST_DOMAIN}"
    insecure_bootstrap = true
}}
plugins {{
    NodeAttestor "join_token" {{ plugin_data {{}} }}
    KeyManager "disk" {{ plugin_data {{ directory = "{data}" }} }}
    WorkloadAttestor "unix" {{ plugin_data {{}} }}
}}
"#,
            data = data.display(),
            socket = self.agent_socket().display(),
            admin = self.path("admin/agent.sock").display(),
        );
        fs::write(self.path("agent.conf"), config)?;
        Ok(())
    }

    fn start_agent(&mut self) -> Result<(), Error> {
        let mut proc = Proc::spawn(
            "spire-agent",
            self.path("agent.log"),
            Command::new(self.bin.join("spire-agent"))
                .args(["run", "-config"])
                .arg(self.path("agent.conf"))
                .args(&self.agent_args),
        )?;
        let socket = self.agent_socket().display().to_string();
        let ready = wait_until(STEP_TIMEOUT, "spire-agent healthy", || {
            proc.ensure_running()?;
            Ok(self.run_quiet("spire-agent", &["healthcheck", "-socketPath", &socket]))
        });
        self.agent = Some(proc);
        ready
    }

    /// Waits until the agent serves `count` X.509-SVIDs to this uid (via `spire-agent api`).
    ///
    /// # Errors
    ///
    /// The count not reached within [`STEP_TIMEOUT`].
    pub fn wait_for_svids(&self, count: usize) -> Result<(), Error> {
        let socket = self.agent_socket().display().to_string();
        let want = format!("Received {count} svid");
        wait_until(
            STEP_TIMEOUT,
            &format!("the agent serving {count} SVID(s)"),
            || {
                let out = self.output(
                    "spire-agent",
                    &[
                        "api",
                        "fetch",
                        "x509",
                        "-socketPath",
                        &socket,
                        "-timeout",
                        "5s",
                    ],
                );
                Ok(out.is_ok_and(|o| o.contains(&want)))
            },
        )
    }

    /// Stops the agent (SIGTERM), waits `downtime`, starts it again with its stored SVID and
    /// waits until it is healthy.
    ///
    /// # Errors
    ///
    /// The agent not coming back within [`STEP_TIMEOUT`].
    pub fn restart_agent(&mut self, downtime: Duration) -> Result<(), Error> {
        if let Some(mut agent) = self.agent.take() {
            agent.stop();
        }
        thread::sleep(downtime);
        // The join token is single-use: the agent comes back with the SVID in its data dir.
        self.agent_args.clear();
        self.start_agent()
    }

    /// Whether the agent process is running.
    pub fn agent_running(&mut self) -> bool {
        self.agent
            .as_mut()
            .is_some_and(|a| matches!(a.child.try_wait(), Ok(None)))
    }

    fn server_cmd(&self, server: &str, args: &[&str]) -> Result<String, Error> {
        let socket = self
            .path(&format!("server-{server}.sock"))
            .display()
            .to_string();
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["-socketPath", socket.as_str()]);
        self.output("spire-server", &full)
    }

    fn run_quiet(&self, binary: &str, args: &[&str]) -> bool {
        self.output(binary, args).is_ok()
    }

    /// Runs a SPIRE command line with a bounded wait; stdout on success.
    fn output(&self, binary: &str, args: &[&str]) -> Result<String, Error> {
        let mut command = Command::new(self.bin.join(binary));
        command.args(args);
        run_bounded(&mut command, Duration::from_secs(30))
    }

    /// The last lines of every log, for failure messages.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        for name in ["server-a.log", "server-b.log", "agent.log"] {
            let _ = write!(all, "--- {name} ---\n{}\n", tail(&self.path(name)));
        }
        all
    }
}

impl Drop for Deployment {
    #[expect(clippy::print_stderr, reason = "shown with the failing test's output")]
    fn drop(&mut self) {
        for proc in [&mut self.agent, &mut self.server, &mut self.federated]
            .into_iter()
            .flatten()
        {
            proc.stop();
        }
        if thread::panicking() {
            eprintln!(
                "SPIRE logs ({}):\n{}",
                self.dir.path().display(),
                self.logs()
            );
        }
    }
}

/// Runs `command` to completion within `timeout`; stdout when it exits 0, else an error with
/// its output. The process is killed when the time runs out.
///
/// # Errors
///
/// Spawn failure, non-zero exit, or the timeout.
pub fn run_bounded(command: &mut Command, timeout: Duration) -> Result<String, Error> {
    let shown = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let out_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });

    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    match status {
        Some(s) if s.success() => Ok(out),
        Some(s) => Err(format!("{shown} failed ({s}):\n{out}{err}").into()),
        None => Err(format!("{shown} did not finish within {timeout:?}").into()),
    }
}

/// Polls `ready` every 200 ms until it returns `Ok(true)`, an error, or `timeout` passes.
///
/// # Errors
///
/// The error of `ready`, or a timeout naming `what`.
pub fn wait_until(
    timeout: Duration,
    what: &str,
    mut ready: impl FnMut() -> Result<bool, Error>,
) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    loop {
        if ready()? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("timed out after {timeout:?} waiting for {what}").into());
        }
        thread::sleep(Duration::from_millis(200));
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16, Error> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The real uid of this process, as `id -u` prints it.
fn current_uid() -> Result<u32, Error> {
    let out = run_bounded(Command::new("id").arg("-u"), Duration::from_secs(5))?;
    Ok(out.trim().parse()?)
}

/// The last 40 lines of a log file.
fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
