//! Where a source finds the Workload API: scenario L3 and the precedence of an explicit address
//! over `SPIFFE_ENDPOINT_SOCKET`.
//!
//! The environment is process-wide, so this file is a test binary of its own with a single
//! test that changes the variable step by step, on a single-threaded runtime: nothing else
//! runs while the variable changes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::time::{Duration, Instant};

use common::{WEB, agent_with};
use spiffe_source::{SourceError, X509Source};
use spiffe_workload_api::{AddressError, ENDPOINT_SOCKET_ENV, WorkloadApiClient, WorkloadApiError};

#[allow(
    unsafe_code,
    reason = "edition 2024: changing the environment is unsafe"
)]
fn set_endpoint_env(value: Option<&str>) {
    // SAFETY: this binary runs one test; it changes the variable only while no runtime task
    // runs (between `block_on` calls of a current-thread runtime) and no other thread reads it.
    unsafe {
        match value {
            Some(value) => std::env::set_var(ENDPOINT_SOCKET_ENV, value),
            None => std::env::remove_var(ENDPOINT_SOCKET_ENV),
        }
    }
}

/// L3: with neither an address nor `SPIFFE_ENDPOINT_SOCKET`, building fails at once with a
/// typed "no endpoint" error. With the variable set, a source needs no address; an explicit
/// address wins over the variable; a malformed variable is a typed address error.
#[test]
fn source_address_comes_from_the_caller_then_the_environment_and_none_fails_at_once() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let agent = runtime.block_on(agent_with(&[WEB]));

    // No address anywhere: an immediate, typed error, not a wait for the 30 s default.
    set_endpoint_env(None);
    let started = Instant::now();
    let built = runtime.block_on(X509Source::builder().build());
    assert!(matches!(built, Err(SourceError::NoEndpoint)), "{built:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let message = built.unwrap_err().to_string();
    assert!(message.contains(ENDPOINT_SOCKET_ENV), "{message}");
    let client = WorkloadApiClient::from_env();
    assert!(
        matches!(client, Err(WorkloadApiError::NoEndpoint)),
        "{client:?}"
    );

    // The variable alone is enough.
    set_endpoint_env(Some(&agent.endpoint()));
    let source = runtime.block_on(X509Source::builder().build()).unwrap();
    assert_eq!(source.snapshot().svid().unwrap().spiffe_id().as_str(), WEB);
    runtime.block_on(source.close());

    // An explicit address wins over a variable that points nowhere.
    let dir = tempfile::tempdir().unwrap();
    let nowhere = format!("unix://{}", dir.path().join("nothing.sock").display());
    set_endpoint_env(Some(&nowhere));
    let source = runtime
        .block_on(X509Source::builder().endpoint(agent.endpoint()).build())
        .unwrap();
    assert_eq!(source.snapshot().svid().unwrap().spiffe_id().as_str(), WEB);
    runtime.block_on(source.close());

    // A malformed variable is refused at once, saying what is wrong with it.
    set_endpoint_env(Some("/run/agent.sock"));
    let built = runtime.block_on(X509Source::builder().build());
    let Err(SourceError::Client(error)) = &built else {
        panic!("expected a client error, got {built:?}");
    };
    assert!(
        matches!(
            **error,
            WorkloadApiError::InvalidAddress(AddressError::BarePath)
        ),
        "{error:?}"
    );

    set_endpoint_env(None);
}
