//! An X509Source against the in-process dev agent: first update, rotation, picking, closing.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test code")]

use std::time::Duration;

use spiffe_dev_agent::{DevAgent, DevAgentHandle, Identity};
use spiffe_source::{Health, SourceError, X509Source};

async fn agent() -> DevAgentHandle {
    DevAgent::builder()
        .trust_domain("example.org")
        .identity(Identity::new("spiffe://example.org/a").with_hint("a"))
        .identity(Identity::new("spiffe://example.org/b").with_hint("b"))
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn source_serves_the_first_svid_and_its_bundle() {
    let agent = agent().await;
    let source = X509Source::builder()
        .endpoint(agent.endpoint())
        .build()
        .await
        .unwrap();

    let snapshot = source.snapshot();
    let svid = snapshot.svid().unwrap();
    assert_eq!(svid.spiffe_id().as_str(), "spiffe://example.org/a");
    assert_eq!(snapshot.svids().len(), 2);
    let bundle = snapshot.bundle("example.org").unwrap();
    assert_eq!(bundle.authorities().len(), agent.bundle().len());
    assert_eq!(snapshot.health(), &Health::Ready);
    source.close().await;
}

#[tokio::test]
async fn source_picks_the_svid_by_hint() {
    let agent = agent().await;
    let source = X509Source::builder()
        .endpoint(agent.endpoint())
        .pick_hint("b")
        .build()
        .await
        .unwrap();
    assert_eq!(
        source.snapshot().svid().unwrap().spiffe_id().as_str(),
        "spiffe://example.org/b"
    );
}

#[tokio::test]
async fn source_follows_a_rotation_and_notifies() {
    let agent = agent().await;
    let source = X509Source::builder()
        .endpoint(agent.endpoint())
        .build()
        .await
        .unwrap();
    let before = source.snapshot().svid().unwrap().serial_hex().to_owned();
    let mut updates = source.updates();

    agent.rotate_svids().unwrap();
    tokio::time::timeout(Duration::from_secs(5), updates.changed())
        .await
        .unwrap()
        .unwrap();

    let after = source.snapshot().svid().unwrap().serial_hex().to_owned();
    assert_ne!(before, after);
}

#[tokio::test]
async fn closed_source_ends_its_update_stream() {
    let agent = agent().await;
    let source = X509Source::builder()
        .endpoint(agent.endpoint())
        .build()
        .await
        .unwrap();
    let mut updates = source.updates();
    source.close().await;
    assert!(matches!(updates.changed().await, Err(SourceError::Closed)));
}

#[tokio::test]
async fn picker_that_matches_nothing_times_out_and_says_so() {
    let agent = agent().await;
    let err = X509Source::builder()
        .endpoint(agent.endpoint())
        .pick_hint("nope")
        .first_update_timeout(Duration::from_millis(500))
        .build()
        .await
        .unwrap_err();

    assert!(
        matches!(
            &err,
            SourceError::FirstUpdateTimeout {
                held: Health::NoMatchingSvid(_),
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("no SVID matches the picker (hint \"nope\")"),
        "{message}"
    );
}

/// Polls a future once with no runtime at all around it.
fn poll_once<F: std::future::Future>(future: F) -> std::task::Poll<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    std::pin::pin!(future).poll(&mut cx)
}

#[test]
fn building_outside_a_tokio_runtime_is_an_error_not_a_panic() {
    use std::task::Poll;

    use spiffe_source::{BundleSource, JwtSource};

    let endpoint = "unix:///tmp/no-such-agent.sock";
    let x509 = poll_once(X509Source::builder().endpoint(endpoint).build());
    let Poll::Ready(Err(error)) = x509 else {
        panic!("expected an immediate error, got {x509:?}");
    };
    assert!(matches!(error, SourceError::NoRuntime), "{error:?}");
    assert!(error.to_string().contains("Tokio runtime"), "{error}");

    let jwt = poll_once(JwtSource::builder().endpoint(endpoint).build());
    assert!(matches!(jwt, Poll::Ready(Err(SourceError::NoRuntime))));
    let bundles = poll_once(BundleSource::builder().endpoint(endpoint).build());
    assert!(matches!(bundles, Poll::Ready(Err(SourceError::NoRuntime))));
}
