//! JWT-SVIDs as bearer tokens between two workloads, each with a long-lived `JwtSource`,
//! across a rotation of the agent's JWT key. Run: `cargo run --example jwt-demo [-- --seconds N]`.

use std::process::ExitCode;
use std::time::Duration;

use spiffe_examples::jwt::{self, JwtDemoConfig};

#[tokio::main]
async fn main() -> ExitCode {
    let mut config = JwtDemoConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (
            arg.as_str(),
            args.next().and_then(|v| v.parse::<u64>().ok()),
        ) {
            ("--seconds", Some(s)) => config.duration = Duration::from_secs(s),
            ("--ttl", Some(s)) => config.jwt_ttl = Duration::from_secs(s),
            _ => {
                eprintln!("usage: jwt-demo [--seconds N] [--ttl N]");
                return ExitCode::from(2);
            }
        }
    }

    let summary = match jwt::run(config).await {
        Ok(summary) => summary,
        Err(e) => {
            eprintln!("demo could not run: {e}");
            return ExitCode::FAILURE;
        }
    };

    println!();
    println!("requests ok: {}, failed: {}", summary.ok, summary.failed);
    println!(
        "tokens: {} served from the cache, {} fetched from the agent",
        summary.cached, summary.fetched
    );
    println!(
        "refused: {} wrong audience, {} unknown caller; not refused: {}",
        summary.wrong_audience_refused, summary.unknown_caller_refused, summary.not_refused
    );
    println!(
        "JWT key rotation seen by the service: {}",
        summary.rotation_seen
    );

    let problems = summary.problems();
    if problems.is_empty() {
        println!("PASS");
        ExitCode::SUCCESS
    } else {
        for problem in problems {
            println!("FAIL: {problem}");
        }
        ExitCode::FAILURE
    }
}
