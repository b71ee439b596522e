//! Mutual TLS between two workloads whose identities come from long-lived `X509Source`s,
//! across SVID and CA rotations. Run: `cargo run --example mtls-demo [-- --seconds N]`.

use std::process::ExitCode;

use spiffe_examples::demo;
use spiffe_examples::mtls::{self, DemoConfig};

#[tokio::main]
async fn main() -> ExitCode {
    let mut config = DemoConfig::default();
    match demo::seconds_and_ttl("mtls-demo [--seconds N] [--ttl N]") {
        Ok((seconds, ttl)) => {
            config.duration = seconds.unwrap_or(config.duration);
            config.svid_ttl = ttl.unwrap_or(config.svid_ttl);
        }
        Err(status) => return status,
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

    let status = demo::verdict(summary.problems());
    println!(
        "next: examples/src/mtls.rs is the code behind this run; README \"Using a source\" \
         shows the same pattern in your own service"
    );
    status
}
