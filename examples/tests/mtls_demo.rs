//! The mutual TLS demo, shortened: every request succeeds across SVID and CA rotations and the
//! unauthorised client is refused.

use std::time::Duration;

use spiffe_examples::mtls::{self, DemoConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_demo_passes_across_svid_and_ca_rotations() {
    let config = DemoConfig {
        duration: Duration::from_secs(8),
        interval: Duration::from_millis(100),
        svid_ttl: Duration::from_secs(3),
        verbose: false,
        use_env: false,
    };
    let summary = mtls::run(config).await.expect("demo runs");

    assert_eq!(summary.problems(), Vec::<String>::new(), "{summary:?}");
    assert!(summary.ok >= 10, "{summary:?}");
    assert!(summary.server_svid_rotations >= 2 && summary.client_svid_rotations >= 2);
    assert!(summary.server_ca_rotations >= 1 && summary.client_ca_rotations >= 1);
    assert!(summary.rogue_refused);
}
