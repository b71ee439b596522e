//! The hyper and tonic demos, shortened: every call succeeds across SVID rotations (the client
//! sees a new server certificate after each), the caller's SPIFFE ID reaches the handler, and
//! the unauthorised client is refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use spiffe_examples::{grpc, https};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_demo_passes_across_svid_rotations() {
    let summary = https::run(12).await.expect("demo runs");
    assert_eq!(summary.ok, 12, "{summary:?}");
    assert_eq!(summary.failed, 0, "{summary:?}");
    assert!(summary.rogue_refused, "{summary:?}");
    // Calls 5 and 10 come after a rotation: three server certificates on the wire.
    assert_eq!(summary.svid_rotations, 2, "{summary:?}");
    assert!(summary.server_certs_seen >= 3, "{summary:?}");
    assert!(summary.passed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_demo_passes_across_svid_rotations() {
    let summary = grpc::run(12).await.expect("demo runs");
    assert_eq!(summary.ok, 12, "{summary:?}");
    assert_eq!(summary.failed, 0, "{summary:?}");
    assert!(summary.rogue_refused, "{summary:?}");
    // Calls 5 and 10 come after a rotation: three server certificates on the wire.
    assert_eq!(summary.svid_rotations, 2, "{summary:?}");
    assert!(summary.server_certs_seen >= 3, "{summary:?}");
    assert!(summary.passed());
}
