//! `spiffe-dev-agent`: a Workload API server with an in-memory CA, for development.
//!
//! ```text
//! spiffe-dev-agent --trust-domain example.org \
//!     --identity spiffe://example.org/web,hint=internal,ttl=30s \
//!     --socket /tmp/agent.sock
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use spiffe_dev_agent::{AgentConfig, DevAgentError, Identity, JwsAlgorithm};
use tokio::signal::unix::{SignalKind, signal};

/// A SPIFFE Workload API server with an in-memory CA, for development and tests.
///
/// Flags override the configuration file; identities from both are served.
#[derive(Debug, Parser)]
#[command(name = "spiffe-dev-agent", version)]
struct Cli {
    /// Unix socket to listen on (default: a fresh temporary directory).
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,

    /// Trust domain, a bare name such as example.org (default: example.org).
    #[arg(long, value_name = "NAME")]
    trust_domain: Option<String>,

    /// An identity to serve: spiffe://td/path[,hint=h][,ttl=30s][,jwt_ttl=5m][,uid=1000].
    /// Repeatable.
    #[arg(long = "identity", value_name = "SPEC", value_parser = parse_identity)]
    identities: Vec<Identity>,

    /// JWT-SVID signing algorithm: ES256 (default), ES384, ES512, RS256, RS384, RS512,
    /// PS256, PS384 or PS512.
    #[arg(long, value_name = "ALG", value_parser = spiffe_dev_agent::parse_jwt_algorithm)]
    jwt_algorithm: Option<JwsAlgorithm>,

    /// Sign SVIDs with an intermediate CA.
    #[arg(long)]
    intermediate: bool,

    /// TOML configuration file (trust_domain, socket, intermediate, jwt_algorithm,
    /// [[identity]]).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Uses the `--identity` syntax of `Identity`'s `FromStr` (clap would otherwise pick
/// `From<String>`, which takes the whole value as a SPIFFE ID).
fn parse_identity(value: &str) -> Result<Identity, DevAgentError> {
    value.parse()
}

impl Cli {
    fn into_config(self) -> Result<AgentConfig, DevAgentError> {
        let mut config = match &self.config {
            Some(path) => AgentConfig::from_file(path)?,
            None => AgentConfig::default(),
        };
        if let Some(td) = self.trust_domain {
            config.set_trust_domain(td);
        }
        if let Some(socket) = self.socket {
            config.set_socket(socket);
        }
        if self.intermediate {
            config.enable_intermediate();
        }
        if let Some(alg) = self.jwt_algorithm {
            config.set_jwt_algorithm(alg);
        }
        for identity in self.identities {
            config.add_identity(identity);
        }
        Ok(config)
    }
}

#[expect(
    clippy::print_stderr,
    reason = "a binary reports its errors to its user"
)]
fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("spiffe-dev-agent: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprint!("spiffe-dev-agent: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprint!(": {cause}");
                source = cause.source();
            }
            eprintln!();
            ExitCode::from(2)
        }
    }
}

#[expect(clippy::print_stdout, reason = "the endpoint is the binary's output")]
async fn run(cli: Cli) -> Result<(), DevAgentError> {
    let config = cli.into_config()?;
    if config.identities().is_empty() {
        tracing::warn!("no --identity given: every caller gets PermissionDenied");
    }
    let agent = config.builder().start().await?;

    println!("SPIFFE_ENDPOINT_SOCKET={}", agent.endpoint());
    for svid in agent.svids() {
        tracing::info!(
            spiffe_id = svid.spiffe_id(),
            serial = svid.serial_hex(),
            "serving"
        );
    }

    // Ctrl-C (SIGINT) or SIGTERM, as sent by kill, systemd and container runtimes.
    let mut terminate = signal(SignalKind::terminate()).map_err(|source| DevAgentError::Io {
        context: "cannot wait for SIGTERM on behalf of",
        path: agent.socket_path().to_owned(),
        source,
    })?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => {
            if let Err(err) = result {
                tracing::warn!(error = %err, "cannot wait for ctrl-c; stopping");
            }
        }
        _ = terminate.recv() => {}
    }
    tracing::info!("stopping");
    agent.stop().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_and_add_identities() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agent.toml");
        let toml = "trust_domain = \"a.org\"\n[[identity]]\nspiffe_id = \"spiffe://b.org/x\"\n";
        std::fs::write(&file, toml).unwrap();

        let cli = Cli::try_parse_from([
            "spiffe-dev-agent",
            "--config",
            file.to_str().unwrap(),
            "--trust-domain",
            "b.org",
            "--identity",
            "spiffe://b.org/y,ttl=10s",
            "--intermediate",
        ])
        .unwrap();
        let config = cli.into_config().unwrap();

        let ids: Vec<_> = config
            .identities()
            .iter()
            .map(Identity::spiffe_id)
            .collect();
        assert_eq!(ids, ["spiffe://b.org/x", "spiffe://b.org/y"]);
    }

    #[test]
    fn jwt_algorithm_flag_picks_the_algorithm_and_refuses_unknown_names() {
        let cli = Cli::try_parse_from(["spiffe-dev-agent", "--jwt-algorithm", "PS256"]).unwrap();
        assert_eq!(cli.jwt_algorithm, Some(JwsAlgorithm::Ps256));
        let err = Cli::try_parse_from(["spiffe-dev-agent", "--jwt-algorithm", "HS256"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not one of"), "{err}");
    }

    #[test]
    fn malformed_identity_flag_is_a_clap_error_not_a_panic() {
        let parsed =
            Cli::try_parse_from(["spiffe-dev-agent", "--identity", "spiffe://b.org/y,ttl=ten"]);
        let err = parsed.unwrap_err().to_string();
        assert!(err.contains("does not start with a number"), "{err}");
    }

    #[tokio::test]
    async fn identity_outside_the_trust_domain_fails_start_with_a_clear_error() {
        let cli = Cli::try_parse_from([
            "spiffe-dev-agent",
            "--trust-domain",
            "a.org",
            "--identity",
            "spiffe://b.org/y",
        ])
        .unwrap();
        let err = cli
            .into_config()
            .unwrap()
            .builder()
            .start()
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("not in the agent's trust domain a.org"),
            "{err}"
        );
    }
}
