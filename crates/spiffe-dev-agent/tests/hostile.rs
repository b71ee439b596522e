//! Hostile input for the dev agent's configuration: `--identity` strings, TOML documents and
//! files, builder values at and past their limits, and the binary run with bad flags and bad
//! files. Every case must end in a typed error (and, for the binary, a clear message and a
//! non-zero exit), never a panic or a hang.
//!
//! Generation is deterministic (a fixed-seed xorshift) and bounded.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use spiffe_dev_agent::{AgentConfig, DevAgent, DevAgentError, Identity, MIN_SVID_TTL};
use spiffe_test_support::{Rng, assert_message};

const ID_PIECES: &[&str] = &[
    "spiffe://example.org/x",
    "spiffe://td/x",
    ",",
    "=",
    "hint",
    "ttl",
    "uid",
    "colour",
    "30s",
    "0ms",
    "1d",
    "18446744073709551615ms",
    "99999999999999999999s",
    "10000000d",
    "-1",
    "+7",
    "4294967296",
    " ",
    "é",
    "\u{1F600}",
    "\0",
    "\n",
];

#[test]
fn identity_strings_parse_or_fail_with_a_typed_error() {
    let mut rng = Rng(0xa9e7_0000_0000_0001);
    for _ in 0..4000 {
        let mut input = String::new();
        for _ in 0..rng.below(8) {
            input.push_str(ID_PIECES[rng.below(ID_PIECES.len())]);
        }
        match input.parse::<Identity>() {
            Ok(identity) => {
                assert!(!identity.spiffe_id().is_empty());
                assert!(!identity.spiffe_id().contains(','));
            }
            Err(err) => {
                assert!(matches!(err, DevAgentError::InvalidIdentity { .. }));
                assert_message(&err);
            }
        }
    }
}

#[test]
fn ttl_and_uid_limits_hold_at_and_past_their_boundaries() {
    let ok = |s: &str| s.parse::<Identity>().unwrap();
    let err = |s: &str| {
        let e = s.parse::<Identity>().unwrap_err();
        assert_message(&e);
        e.to_string()
    };

    assert_eq!(
        ok("spiffe://e.org/a,ttl=18446744073709551615ms").ttl(),
        Duration::from_millis(u64::MAX)
    );
    assert!(err("spiffe://e.org/a,ttl=18446744073709551616ms").contains("ttl"));
    assert!(err("spiffe://e.org/a,ttl=18446744073709552s").contains("too long"));
    assert_eq!(ok("spiffe://e.org/a,uid=4294967295").uid(), Some(u32::MAX));
    assert!(err("spiffe://e.org/a,uid=4294967296").contains("not a number"));
    assert!(err("spiffe://e.org/a,uid=-1").contains("not a number"));
    assert!(err("spiffe://e.org/a,ttl=1.5s").contains("unit"));
    assert!(err("spiffe://e.org/a,ttl=").contains("number"));
    assert!(err("spiffe://e.org/a,=").contains("unknown option"));
    assert!(err(",ttl=1s").contains("missing"));
}

#[tokio::test]
async fn ttl_boundaries_are_checked_when_the_agent_starts() {
    let start = |ttl: Duration| async move {
        DevAgent::builder()
            .identity(Identity::new("spiffe://example.org/a").with_ttl(ttl))
            .start()
            .await
    };

    // One millisecond short of the minimum, then exactly the minimum.
    let err = start(MIN_SVID_TTL - Duration::from_millis(1))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, DevAgentError::InvalidIdentity { .. }),
        "{err:?}"
    );
    let agent = start(MIN_SVID_TTL).await.unwrap();
    agent.stop().await;

    // TTLs whose NotAfter no certificate can carry: refused, not a panic in the CA.
    for ttl in [
        Duration::from_secs(10_000_000 * 86_400),
        Duration::from_millis(u64::MAX),
        Duration::MAX,
    ] {
        let err = start(ttl).await.err().unwrap();
        assert!(
            matches!(err, DevAgentError::InvalidIdentity { .. }),
            "{err:?}"
        );
        assert_message(&err);
        assert!(err.to_string().contains("too long"), "{err}");
    }

    // A CA lifetime past what a certificate can carry is refused the same way.
    let err = DevAgent::builder()
        .ca_lifetime(Duration::MAX)
        .start()
        .await
        .err()
        .unwrap();
    assert!(matches!(err, DevAgentError::InvalidConfig(_)), "{err:?}");
    assert_message(&err);
}

#[tokio::test]
async fn a_ca_grace_period_too_long_for_the_clock_keeps_the_old_root() {
    let agent = DevAgent::builder()
        .identity("spiffe://example.org/a")
        .ca_grace(Duration::MAX)
        .start()
        .await
        .unwrap();
    let old_root = agent.bundle()[0].clone();

    agent.rotate_ca().unwrap();
    let bundle = agent.bundle();
    assert_eq!(bundle.len(), 2);
    assert!(bundle.contains(&old_root));
    agent.stop().await;
}

#[tokio::test]
async fn identities_and_trust_domains_with_hostile_text_are_refused_at_start() {
    let long_td = "a".repeat(256);
    let long_id = format!("spiffe://example.org/{}", "a".repeat(2048));
    let bad_ids = [
        "spiffe://example.org",
        "spiffe://exämple.org/a",
        "spiffe://example.org/\u{1F600}",
        "spiffe://example.org/a\0b",
        "spiffe://example.org/a b",
        "spiffe://EXAMPLE.org/a",
        long_id.as_str(),
    ];
    for id in bad_ids {
        let err = DevAgent::builder()
            .identity(id)
            .start()
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, DevAgentError::InvalidIdentity { .. }),
            "{id:?}: {err:?}"
        );
        assert_message(&err);
    }

    for td in [
        "",
        "Example.org",
        "exämple.org",
        "a/b",
        "a\nb",
        long_td.as_str(),
    ] {
        let err = DevAgent::builder()
            .trust_domain(td)
            .start()
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, DevAgentError::InvalidTrustDomain { .. }),
            "{td:?}: {err:?}"
        );
        assert_message(&err);
    }

    // Exactly at the limits is fine.
    let td = "a".repeat(255);
    let id = format!("spiffe://{td}/x");
    let agent = DevAgent::builder()
        .trust_domain(&td)
        .identity(id.as_str())
        .start()
        .await
        .unwrap();
    assert_eq!(agent.svids()[0].spiffe_id(), id);
    agent.stop().await;
}

#[test]
fn toml_documents_parse_or_fail_with_a_typed_error() {
    let deep = format!(
        "trust_domain = {}{}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let deep_table = format!("{}= 1", "a.".repeat(50_000));
    let wide = "[[identity]]\nspiffe_id = \"x\"\n".repeat(20_000);
    let cases = [
        "trust_domain = 1".to_owned(),
        "trust_domain = \"a\"\ntrust_domain = \"b\"".to_owned(),
        "intermediate = 1".to_owned(),
        "[[identity]]\nspiffe_id = \"spiffe://e/a\"\nuid = -1".to_owned(),
        "[[identity]]\nspiffe_id = \"spiffe://e/a\"\nuid = 4294967296".to_owned(),
        "[[identity]]\nspiffe_id = \"spiffe://e/a\"\nttl = 30".to_owned(),
        "[[identity]]\nspiffe_id = \"spiffe://e/a\"\nttl = \"99999999999999999999s\"".to_owned(),
        "[[identity]]\nspiffe_id = \"spiffe://e/a\"\nextra = 1".to_owned(),
        "identity = \"x\"".to_owned(),
        "socket = 5".to_owned(),
        "\u{feff}trust_domain = \"a\"".to_owned(),
        "trust_domain = \"a\0\"".to_owned(),
        "trust_domain = \"\\ud800\"".to_owned(),
        "= 1".to_owned(),
        "[".to_owned(),
        "\"".repeat(3),
        deep,
        deep_table,
    ];
    for text in &cases {
        let started = Instant::now();
        match AgentConfig::from_toml_str(text) {
            Ok(config) => {
                // Only what the schema allows gets through.
                assert!(
                    config
                        .identities()
                        .iter()
                        .all(|i| !i.spiffe_id().is_empty())
                );
            }
            Err(err) => {
                assert!(
                    matches!(
                        err,
                        DevAgentError::InvalidConfig(_) | DevAgentError::InvalidIdentity { .. }
                    ),
                    "{err:?}"
                );
                assert_message(&err);
            }
        }
        assert!(started.elapsed() < Duration::from_secs(2), "{:.60}", text);
    }

    // Many identities are read (checked at start), CRLF works, multi-byte text is kept.
    let config = AgentConfig::from_toml_str(&wide).unwrap();
    assert_eq!(config.identities().len(), 20_000);
    let crlf = "trust_domain = \"e.org\"\r\n[[identity]]\r\nspiffe_id = \"spiffe://e.org/a\"\r\nhint = \"ünïcödé \u{1F600}\"\r\n";
    let config = AgentConfig::from_toml_str(crlf).unwrap();
    assert_eq!(config.identities()[0].hint(), Some("ünïcödé \u{1F600}"));
}

#[test]
fn random_toml_bytes_never_panic() {
    const PIECES: &[&str] = &[
        "trust_domain",
        "socket",
        "intermediate",
        "[[identity]]",
        "[identity]",
        "spiffe_id",
        "hint",
        "ttl",
        "uid",
        " = ",
        "\"",
        "'",
        "\n",
        "\r\n",
        "[",
        "]",
        "{",
        "}",
        ",",
        ".",
        "true",
        "1",
        "-1",
        "\"30s\"",
        "\"spiffe://example.org/a\"",
        "#",
        "é",
        "\\u0000",
    ];
    let mut rng = Rng(0xa9e7_0000_0000_0002);
    for _ in 0..2000 {
        let mut text = String::new();
        for _ in 0..rng.below(16) {
            text.push_str(PIECES[rng.below(PIECES.len())]);
        }
        if let Err(err) = AgentConfig::from_toml_str(&text) {
            assert_message(&err);
        }
    }
}

#[test]
fn config_files_that_are_not_regular_small_utf8_files_are_refused_fast() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };

    let at_limit = write("at.toml", &{
        let mut text = b"# ".to_vec();
        text.resize(1024 * 1024 - 1, b'x');
        text.push(b'\n');
        text
    });
    AgentConfig::from_file(&at_limit).unwrap();

    let past_limit = write("past.toml", &vec![b'\n'; 1024 * 1024 + 1]);
    let non_utf8 = write("latin1.toml", b"trust_domain = \"caf\xe9\"\n");
    let fifo = dir.path().join("fifo.toml");
    let made_fifo = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());

    let mut refused = vec![
        past_limit,
        non_utf8,
        dir.path().to_owned(),
        dir.path().join("missing.toml"),
        "/dev/zero".into(),
        "/dev/urandom".into(),
        "/dev/null".into(),
    ];
    if made_fifo {
        refused.push(fifo);
    }
    for path in refused {
        let started = Instant::now();
        let err = AgentConfig::from_file(&path).unwrap_err();
        assert_message(&err);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{}",
            path.display()
        );
    }
}

/// Runs the binary with `args`; it must exit on its own within the time limit.
fn run_binary(args: &[&str]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_spiffe-dev-agent"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Read stderr on the side: a long message would otherwise fill the pipe and block the
    // child, which would look like a hang.
    let mut pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut pipe, &mut bytes).unwrap();
        bytes
    });

    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("spiffe-dev-agent {args:?} did not exit: it accepted the input");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
    (status.code().unwrap_or(-1), stderr)
}

fn assert_clear_failure(args: &[&str], expected: &str) {
    let (code, stderr) = run_binary(args);
    assert_ne!(code, 0, "{args:?} succeeded");
    assert_ne!(code, 101, "{args:?} panicked: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert!(!stderr.contains("stack backtrace"), "{args:?}: {stderr}");
    assert!(
        stderr.contains(expected),
        "{args:?}: expected {expected:?} in {stderr}"
    );
}

#[test]
fn binary_exits_with_a_clear_error_on_bad_flags() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("a.sock");
    let sock = sock.to_str().unwrap();
    let occupied = dir.path().join("file");
    std::fs::write(&occupied, "x").unwrap();
    let long_socket = format!("{}/{}", dir.path().display(), "s".repeat(200));

    let cases: &[(&[&str], &str)] = &[
        (
            &["--identity", "spiffe://example.org/x,ttl=10000000d"],
            "too long",
        ),
        (
            &[
                "--identity",
                "spiffe://example.org/x,ttl=18446744073709551615ms",
            ],
            "too long",
        ),
        (
            &["--identity", "spiffe://example.org/x,ttl=0s"],
            "shorter than",
        ),
        (
            &["--identity", "spiffe://example.org/x,uid=-1"],
            "not a number",
        ),
        (
            &["--identity", "spiffe://example.org/x,colour=red"],
            "unknown option",
        ),
        (&["--identity", ""], "missing"),
        (
            &["--identity", "spiffe://other.org/x"],
            "not in the agent's trust domain",
        ),
        (&["--identity", "spiffe://example.org"], "path is empty"),
        (
            &["--identity", "spiffe://exämple.org/x"],
            "invalid identity",
        ),
        (&["--trust-domain", "Example.org"], "invalid trust domain"),
        (&["--trust-domain", ""], "invalid trust domain"),
        (&["--trust-domain", "exämple.org"], "invalid trust domain"),
        (&["--no-such-flag"], "unexpected argument"),
        (&["--intermediate=maybe"], "error"),
        (&["--config"], "error"),
        (
            &["--config", "/nonexistent/agent.toml"],
            "cannot read the configuration file",
        ),
        (&["--config", "/dev/zero"], "not a regular file"),
    ];
    for (args, expected) in cases {
        let mut full = vec!["--socket", sock];
        full.extend_from_slice(args);
        assert_clear_failure(&full, expected);
    }

    assert_clear_failure(
        &[
            "--socket",
            occupied.to_str().unwrap(),
            "--identity",
            "spiffe://example.org/x",
        ],
        "is not a unix socket",
    );
    assert_clear_failure(&["--socket", &long_socket], "spiffe-dev-agent:");
    assert_clear_failure(
        &["--socket", "/nonexistent-dir/a.sock"],
        "spiffe-dev-agent:",
    );
}

#[test]
fn binary_exits_with_a_clear_error_on_bad_config_files() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("a.sock");
    let file = |name: &str, text: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };

    let cases: Vec<(std::path::PathBuf, &str)> = vec![
        (
            file("typo.toml", b"trust_domian = \"e.org\"\n"),
            "unknown field",
        ),
        (
            file("type.toml", b"intermediate = \"yes\"\n"),
            "invalid type",
        ),
        (file("syntax.toml", b"trust_domain = \n"), "invalid"),
        (
            file("latin1.toml", b"trust_domain = \"caf\xe9\"\n"),
            "cannot read",
        ),
        (
            file(
                "ttl.toml",
                b"[[identity]]\nspiffe_id = \"spiffe://example.org/a\"\nttl = \"10000000d\"\n",
            ),
            "too long",
        ),
        (
            file("td.toml", "trust_domain = \"exämple.org\"\r\n".as_bytes()),
            "invalid trust domain",
        ),
        (
            file(
                "deep.toml",
                format!("trust_domain = {}", "[".repeat(500_000)).as_bytes(),
            ),
            "invalid configuration",
        ),
        (
            file("big.toml", &vec![b'#'; 1024 * 1024 + 1]),
            "larger than 1 MiB",
        ),
        (dir.path().to_owned(), "not a regular file"),
    ];
    for (path, expected) in &cases {
        let args = [
            "--socket",
            sock.to_str().unwrap(),
            "--config",
            path.to_str().unwrap(),
        ];
        assert_clear_failure(&args, expected);
    }
    assert!(
        !Path::new(&sock).exists(),
        "a refused start left a socket behind"
    );
}
