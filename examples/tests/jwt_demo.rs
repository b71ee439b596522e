//! The JWT-SVID demo, shortened: every request succeeds across a JWT key rotation, tokens come
//! from the cache, and the wrong audience and the unknown caller are refused.

use std::time::Duration;

use spiffe_examples::jwt::{self, JwtDemoConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_demo_passes_across_a_jwt_key_rotation() {
    let config = JwtDemoConfig {
        duration: Duration::from_secs(6),
        interval: Duration::from_millis(100),
        jwt_ttl: Duration::from_secs(3),
        verbose: false,
        use_env: false,
    };
    let summary = jwt::run(config).await.expect("demo runs");

    assert_eq!(summary.problems(), Vec::<String>::new(), "{summary:?}");
    assert!(summary.cached > summary.fetched, "{summary:?}");
    assert!(summary.rotation_seen);
    assert_eq!(summary.not_refused, 0);
}
