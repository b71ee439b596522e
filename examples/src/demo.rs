//! What the demos share: where the Workload API is, a source per workload, timestamped output.

use std::error::Error;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use spiffe_dev_agent::DevAgentHandle;
use spiffe_source::X509Source;

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

/// Reads `--seconds N` and `--ttl N` from the command line: (duration, TTL), each `None` when
/// not given; `Err` with the usage line printed when the arguments are anything else.
pub fn seconds_and_ttl(usage: &str) -> Result<(Option<Duration>, Option<Duration>), ExitCode> {
    let (mut seconds, mut ttl) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
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
