//! gRPC over mutual TLS with tonic, SPIFFE IDs from an embedded dev agent, across SVID rotations.
//! Run: `cargo run --example grpc-demo [-- N]` (N calls, default 20). Exits 0 when every
//! one succeeded and the unauthorised client was refused.

use std::process::ExitCode;

use spiffe_examples::grpc;

#[tokio::main]
async fn main() -> ExitCode {
    let count = match std::env::args().nth(1).map(|n| n.parse::<u32>()) {
        None => 20,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: grpc-demo [N]   (N > 0 calls)");
            return ExitCode::from(2);
        }
    };

    let summary = match grpc::run(count).await {
        Ok(summary) => summary,
        Err(e) => {
            eprintln!("demo could not run: {e}");
            return ExitCode::FAILURE;
        }
    };

    println!("calls ok: {}, failed: {}", summary.ok, summary.failed);
    println!(
        "SVID rotations: {}, each followed by both sources; server certificates seen by the \
         client: {}",
        summary.svid_rotations, summary.server_certs_seen
    );
    println!("unauthorised client refused: {}", summary.rogue_refused);
    if summary.passed() {
        println!("PASS");
        ExitCode::SUCCESS
    } else {
        println!("FAIL");
        ExitCode::FAILURE
    }
}
