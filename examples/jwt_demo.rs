//! JWT-SVIDs as bearer tokens between two workloads, each with a long-lived `JwtSource`,
//! across a rotation of the agent's JWT key. Run: `cargo run --example jwt-demo [-- --seconds N]`.

use std::process::ExitCode;

use spiffe_examples::demo;
use spiffe_examples::jwt::{self, JwtDemoConfig};

#[tokio::main]
async fn main() -> ExitCode {
    let mut config = JwtDemoConfig::default();
    match demo::seconds_and_ttl("jwt-demo [--seconds N] [--ttl N]") {
        Ok((seconds, ttl)) => {
            config.duration = seconds.unwrap_or(config.duration);
            config.jwt_ttl = ttl.unwrap_or(config.jwt_ttl);
        }
        Err(status) => return status,
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

    demo::verdict(summary.problems())
}
