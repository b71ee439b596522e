//! Mutual TLS between two workloads whose identities come from long-lived `X509Source`s,
//! across SVID and CA rotations. Run: `cargo run --example mtls-demo [-- --seconds N]`.

use std::process::ExitCode;
use std::time::Duration;

use spiffe_examples::mtls::{self, DemoConfig};

#[tokio::main]
async fn main() -> ExitCode {
    let mut config = DemoConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (
            arg.as_str(),
            args.next().and_then(|v| v.parse::<u64>().ok()),
        ) {
            ("--seconds", Some(s)) => config.duration = Duration::from_secs(s),
            ("--ttl", Some(s)) => config.svid_ttl = Duration::from_secs(s),
            _ => {
                eprintln!("usage: mtls-demo [--seconds N] [--ttl N]");
                return ExitCode::from(2);
            }
        }
    }

    let summary = match mtls::run(config).await {
        Ok(summary) => summary,
        Err(e) => {
            eprintln!("demo could not run: {e}");
            return ExitCode::FAILURE;
        }
    };

    println!();
    println!("requests ok: {}, failed: {}", summary.ok, summary.failed);
    println!(
        "SVID rotations seen: server {}, client {}",
        summary.server_svid_rotations, summary.client_svid_rotations
    );
    println!(
        "CA rotations seen: server {}, client {}",
        summary.server_ca_rotations, summary.client_ca_rotations
    );
    println!("unauthorised client refused: {}", summary.rogue_refused);

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
