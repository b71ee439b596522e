//! gRPC over mutual TLS with tonic, SPIFFE IDs from an embedded dev agent, across SVID rotations.
//! Run: `cargo run --example grpc-demo [-- N]` (N calls, default 20). Exits 0 when every
//! one succeeded and the unauthorised client was refused.

use std::process::ExitCode;

use spiffe_examples::{demo, grpc};

#[tokio::main]
async fn main() -> ExitCode {
    let count = match demo::call_count("grpc-demo [N]   (N > 0 calls, default 20)") {
        Ok(count) => count,
        Err(status) => return status,
    };

    match grpc::run(count).await {
        Ok(summary) => summary.report("calls"),
        Err(e) => {
            eprintln!("demo could not run: {e}");
            ExitCode::FAILURE
        }
    }
}
