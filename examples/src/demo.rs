//! What the demos share: where the Workload API is, a source per workload, timestamped output.

use std::error::Error;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use spiffe_dev_agent::{DevAgent, DevAgentHandle, Identity};
use spiffe_source::{SourceError, X509Source};

/// The Workload API to use: `SPIFFE_ENDPOINT_SOCKET` when `use_env` and it is set, else a dev
/// agent started by `start` (kept alive by the returned handle).
///
/// # Errors
///
/// When the dev agent cannot start.
pub async fn endpoint<F>(
    use_env: bool,
    log: &Log,
    start: F,
) -> Result<(Option<DevAgentHandle>, String), Box<dyn Error>>
where
    F: AsyncFnOnce() -> Result<DevAgentHandle, Box<dyn Error>>,
{
    let from_env = std::env::var("SPIFFE_ENDPOINT_SOCKET")
        .ok()
        .filter(|_| use_env);
    if let Some(endpoint) = from_env.filter(|e| !e.is_empty()) {
        log.line(format!("using the Workload API at {endpoint}"));
        return Ok((None, endpoint));
    }

    let agent = start().await?;
    let endpoint = agent.endpoint();
    log.line(format!(
        "embedded dev agent for {} at {endpoint}",
        agent.trust_domain()
    ));
    Ok((Some(agent), endpoint))
}

/// A workload's long-lived X.509 source, its SVID picked by hint.
///
/// # Errors
///
/// When the source gets no SVID with that hint in time.
pub async fn source_by_hint(endpoint: &str, hint: &str) -> Result<X509Source, Box<dyn Error>> {
    let source = X509Source::builder()
        .endpoint(endpoint)
        .pick_hint(hint)
        .build()
        .await?;
    Ok(source)
}

/// The serial number of the SVID a source serves now, empty when it serves none.
pub fn serial(source: &X509Source) -> String {
    source
        .snapshot()
        .svid()
        .map(|svid| svid.serial_hex().to_owned())
        .unwrap_or_default()
}

/// The three workloads of the hyper and tonic demos on one embedded dev agent: a server, its
/// client and an unauthorised client, each with its own long-lived source picked by hint.
pub struct Workloads {
    /// The agent, which issues all three identities.
    pub agent: DevAgentHandle,
    /// The server's source (hint `server`).
    pub server: X509Source,
    /// The authorised client's source (hint `client`).
    pub client: X509Source,
    /// The unauthorised client's source (hint `rogue`).
    pub rogue: X509Source,
}

impl Workloads {
    /// Starts the agent with the three SPIFFE IDs and a source for each.
    ///
    /// # Errors
    ///
    /// When the agent cannot start or a source gets no SVID in time.
    pub async fn start(server: &str, client: &str, rogue: &str) -> Result<Self, Box<dyn Error>> {
        let agent = DevAgent::builder()
            .identity(Identity::new(server).with_hint("server"))
            .identity(Identity::new(client).with_hint("client"))
            .identity(Identity::new(rogue).with_hint("rogue"))
            .start()
            .await?;
        let endpoint = agent.endpoint();
        Ok(Self {
            server: source_by_hint(&endpoint, "server").await?,
            client: source_by_hint(&endpoint, "client").await?,
            rogue: source_by_hint(&endpoint, "rogue").await?,
            agent,
        })
    }

    /// Before call `call`: every fifth call, rotates the agent's SVIDs and waits (up to 5 s)
    /// until the server's and the client's sources serve their new ones, so that the next
    /// handshakes use the new certificates; counts the rotation in `summary`.
    ///
    /// # Errors
    ///
    /// When the agent cannot rotate, or a source did not follow in time.
    pub async fn rotate_before(
        &self,
        call: u32,
        summary: &mut CallSummary,
    ) -> Result<(), Box<dyn Error>> {
        if call == 0 || !call.is_multiple_of(5) {
            return Ok(());
        }

        let sources = [&self.server, &self.client];
        let before = sources.map(serial);
        let mut updates = sources.map(X509Source::updates);
        self.agent.rotate_svids()?;
        for ((source, updates), old) in sources.iter().zip(&mut updates).zip(before) {
            tokio::time::timeout(Duration::from_secs(5), async {
                while serial(source) == old {
                    updates.changed().await?;
                }
                Ok::<_, SourceError>(())
            })
            .await
            .map_err(|_| "a source did not follow an SVID rotation within 5 s")??;
        }
        summary.svid_rotations += 1;
        Ok(())
    }

    /// Closes the sources and stops the agent.
    pub async fn stop(self) {
        for source in [self.server, self.client, self.rogue] {
            source.close().await;
        }
        self.agent.stop().await;
    }
}

/// Reads `--seconds N` and `--ttl N` from the command line: (duration, TTL), each `None` when
/// not given; `Err` with the usage line printed when the arguments are anything else (exit
/// status 2), or when they ask for `--help` (exit status 0).
pub fn seconds_and_ttl(usage: &str) -> Result<(Option<Duration>, Option<Duration>), ExitCode> {
    let (mut seconds, mut ttl) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" {
            #[allow(clippy::print_stdout, reason = "the usage line is what was asked for")]
            {
                println!("usage: {usage}");
            }
            return Err(ExitCode::SUCCESS);
        }
        let value = args.next().and_then(|v| v.parse::<u64>().ok());
        match (arg.as_str(), value) {
            ("--seconds", Some(s)) => seconds = Some(Duration::from_secs(s)),
            ("--ttl", Some(s)) => ttl = Some(Duration::from_secs(s)),
            _ => {
                #[allow(clippy::print_stderr, reason = "the usage line is for the user")]
                {
                    eprintln!("usage: {usage}");
                }
                return Err(ExitCode::from(2));
            }
        }
    }
    Ok((seconds, ttl))
}

/// What a run of the hyper or tonic demo saw.
#[derive(Debug, Default)]
pub struct CallSummary {
    /// Calls answered with the caller's ID.
    pub ok: u32,
    /// Calls that failed.
    pub failed: u32,
    /// Whether the unauthorised client was refused.
    pub rogue_refused: bool,
    /// SVID rotations made by the agent, each followed by both sources before the next call.
    pub svid_rotations: usize,
    /// Distinct server certificates the client saw in its handshakes: one more than the
    /// rotations when every rotation reached the wire.
    pub server_certs_seen: usize,
}

impl CallSummary {
    /// Why the run failed: empty when every call was answered, the rogue refused, and the
    /// client saw the server's certificate change at every rotation.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.ok == 0 || self.failed > 0 {
            problems.push(format!(
                "{} of {} calls failed",
                self.failed,
                self.ok + self.failed
            ));
        }
        if !self.rogue_refused {
            problems.push("the unauthorised client was accepted".to_owned());
        }
        if self.server_certs_seen <= self.svid_rotations {
            problems.push(format!(
                "{} server certificate(s) seen across {} rotation(s)",
                self.server_certs_seen, self.svid_rotations
            ));
        }
        problems
    }

    /// Whether the run passed.
    pub fn passed(&self) -> bool {
        self.problems().is_empty()
    }

    /// Prints what the run saw, then the verdict; the exit status. `calls` names them
    /// ("requests", "calls").
    #[allow(clippy::print_stdout, reason = "the summary is the demo's output")]
    pub fn report(&self, calls: &str) -> ExitCode {
        println!("{calls} ok: {}, failed: {}", self.ok, self.failed);
        println!(
            "SVID rotations: {}, each followed by both sources; server certificates seen by \
             the client: {}",
            self.svid_rotations, self.server_certs_seen
        );
        println!("unauthorised client refused: {}", self.rogue_refused);
        verdict(self.problems())
    }
}

/// Reads the number of calls, the only argument (default 20); `Err` with the usage line
/// printed when it is anything else (exit status 2) or `--help` (exit status 0).
pub fn call_count(usage: &str) -> Result<u32, ExitCode> {
    match std::env::args().nth(1).as_deref() {
        None => Ok(20),
        Some("--help" | "-h") => {
            #[allow(clippy::print_stdout, reason = "the usage line is what was asked for")]
            {
                println!("usage: {usage}");
            }
            Err(ExitCode::SUCCESS)
        }
        Some(arg) => match arg.parse::<u32>() {
            Ok(n) if n > 0 => Ok(n),
            _ => {
                #[allow(clippy::print_stderr, reason = "the usage line is for the user")]
                {
                    eprintln!("usage: {usage}");
                }
                Err(ExitCode::from(2))
            }
        },
    }
}

/// Prints PASS, or each problem, and gives the matching exit status.
#[allow(clippy::print_stdout, reason = "the verdict is the demo's output")]
pub fn verdict(problems: Vec<String>) -> ExitCode {
    if problems.is_empty() {
        println!("PASS");
        return ExitCode::SUCCESS;
    }
    for problem in problems {
        println!("FAIL: {problem}");
    }
    ExitCode::FAILURE
}

/// Seconds until `at`, negative when it has passed.
pub fn seconds_left(at: SystemTime) -> f64 {
    match at.duration_since(SystemTime::now()) {
        Ok(left) => left.as_secs_f64(),
        Err(past) => -past.duration().as_secs_f64(),
    }
}

/// Timestamped output: `line` only when verbose, `always` in any case.
#[derive(Clone, Debug)]
pub struct Log {
    started: Instant,
    verbose: bool,
}

impl Log {
    /// Times lines from now.
    pub fn new(verbose: bool) -> Self {
        Self {
            started: Instant::now(),
            verbose,
        }
    }

    /// When the log started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// A line shown when verbose.
    pub fn line(&self, text: String) {
        if self.verbose {
            self.always(text);
        }
    }

    /// A line shown in any case (failures).
    #[allow(clippy::print_stdout, reason = "the demo's output is its purpose")]
    pub fn always(&self, text: String) {
        println!("[{:6.2}s] {text}", self.started.elapsed().as_secs_f64());
    }
}
