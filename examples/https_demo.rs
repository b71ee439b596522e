//! HTTPS over mutual TLS with hyper, SPIFFE IDs from an embedded dev agent, across SVID rotations.
//! Run: `cargo run --example https-demo [-- N]` (N requests, default 20). Exits 0 when every
//! one succeeded and the unauthorised client was refused.

use std::process::ExitCode;

use spiffe_examples::{demo, https};

#[tokio::main]
async fn main() -> ExitCode {
    let count = match demo::call_count("https-demo [N]   (N > 0 requests, default 20)") {
        Ok(count) => count,
        Err(status) => return status,
    };

    match https::run(count).await {
        Ok(summary) => summary.report("requests"),
        Err(e) => {
            eprintln!("demo could not run: {e}");
            ExitCode::FAILURE
        }
    }
}
