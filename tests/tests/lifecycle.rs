//! How a source starts, fails to start, and ends: scenarios L1, L2, L4 and L6.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::time::{Duration, Instant};

use common::{FAST, WAIT, WEB, agent_with, issued_serial, next_update, source_on, within};
use spiffe_dev_agent::{Code, DevAgent, Fault, StreamKind};
use spiffe_source::{Health, SourceError, X509Source};
use spiffe_workload_api::{BackoffPolicy, WorkloadApiError};

/// L1: an agent that never issues an identity makes `build` fail after the first-update
/// timeout with a typed error that names the cause and counts the attempts.
#[tokio::test]
async fn source_without_identity_times_out_saying_no_identity_was_issued() {
    let agent = DevAgent::builder().start().await.unwrap();
    let timeout = Duration::from_millis(1500);
    let slow = BackoffPolicy {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(400),
        multiplier: 2,
    };

    let started = Instant::now();
    let built = source_on(&agent)
        .slow_backoff(slow)
        .first_update_timeout(timeout)
        .build()
        .await;
    let waited = started.elapsed();

    let error = built.unwrap_err();
    let SourceError::FirstUpdateTimeout {
        stream: "x509-svid",
        timeout: reported,
        attempts,
        last_error: Some(last),
        held: Health::Pending,
    } = &error
    else {
        panic!("expected a first-update timeout with a last error, got {error:?}");
    };
    assert_eq!(*reported, timeout);
    assert!(
        matches!(**last, WorkloadApiError::NoIdentityIssued { .. }),
        "{last:?}"
    );
    assert!(*attempts >= 2, "only {attempts} attempt(s) in {waited:?}");
    let opens = agent.stats().x509_svid_opens;
    assert!(
        opens + 1 >= u64::from(*attempts) && opens <= u64::from(*attempts),
        "the agent saw {opens} opens, the source reports {attempts} attempts"
    );

    let message = error.to_string();
    assert!(message.contains("no identity issued"), "{message}");
    assert!(
        message.contains(&format!("{attempts} attempt")),
        "{message}"
    );
    assert!(waited >= timeout && waited < WAIT, "{waited:?}");
}

/// L2: PermissionDenied on the first three opens, then an SVID: the source becomes ready by
/// itself, on the slow schedule, without the caller retrying. `build` hands out no source (so
/// no TLS configuration can be made) before an SVID exists.
#[tokio::test]
async fn source_becomes_ready_by_itself_after_three_refused_opens() {
    let agent = agent_with(&[WEB]).await;
    let denied = Fault::status(Code::PermissionDenied, "no identity issued");
    agent.script(StreamKind::X509Svid, denied, 3).unwrap();

    let source = source_on(&agent).build().await.unwrap();

    let snapshot = source.snapshot();
    assert_eq!(snapshot.svid().unwrap().spiffe_id().as_str(), WEB);
    assert_eq!(snapshot.generation(), 1);
    let stats = agent.stats();
    assert_eq!(stats.faults_applied, 3);
    assert_eq!(stats.x509_svid_opens, 4);
    assert_eq!(stats.open_x509_svid_streams, 1);
}

/// L4: a socket path where nothing exists fails within about the first-update timeout, with
/// an error that says the socket is missing and where it was looked for.
#[tokio::test]
async fn source_on_a_missing_socket_fails_in_time_saying_the_socket_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-agent.sock");
    let timeout = Duration::from_secs(1);

    let started = Instant::now();
    let built = X509Source::builder()
        .endpoint(format!("unix://{}", path.display()))
        .first_update_timeout(timeout)
        .build()
        .await;
    let waited = started.elapsed();

    let error = built.unwrap_err();
    let SourceError::FirstUpdateTimeout {
        last_error: Some(last),
        attempts,
        ..
    } = &error
    else {
        panic!("expected a first-update timeout with a last error, got {error:?}");
    };
    assert!(
        matches!(&**last, WorkloadApiError::SocketMissing { path: p } if *p == path),
        "{last:?}"
    );
    assert!(*attempts >= 1);
    let message = error.to_string();
    assert!(message.contains("does not exist"), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    // The scenario asks for about 1.2 s; the bound leaves room for a loaded machine.
    assert!(
        waited >= timeout && waited < Duration::from_secs(2),
        "{waited:?}"
    );
}

/// L6: dropping one clone keeps the source running; dropping the last one ends its task and
/// its stream, which the agent sees cancelled within a second.
#[tokio::test]
async fn dropping_the_last_handle_cancels_the_stream_within_a_second() {
    let agent = agent_with(&[WEB]).await;
    let source = source_on(&agent).build().await.unwrap();
    let clone = source.clone();
    let mut updates = clone.updates();

    drop(source);
    agent.rotate_svids().unwrap();
    next_update(&mut updates).await;
    assert_eq!(common::serial(&clone), issued_serial(&agent, WEB));
    assert_eq!(agent.stats().cancelled_streams, 0);

    drop(clone);
    agent
        .wait_for_cancelled_streams(1, Duration::from_secs(1))
        .await
        .unwrap();
    let ended = within("the update channel to close", updates.changed()).await;
    assert!(matches!(ended, Err(SourceError::Closed)), "{ended:?}");
    let stats = agent.stats();
    assert_eq!(stats.open_x509_svid_streams, 0);
    assert_eq!(stats.x509_svid_opens, 1);
}

/// L6: shutting down the runtime a source runs on does not hang; the agent sees the stream
/// go, and a handle that outlives its runtime still reads the last state and drops cleanly.
#[test]
fn runtime_shutdown_with_a_live_source_does_not_hang() {
    let agent_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let agent = agent_runtime.block_on(agent_with(&[WEB]));
    let source_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let source = source_runtime.block_on(source_on(&agent).build()).unwrap();

    let (done, shut_down) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(source_runtime);
        let _ = done.send(());
    });
    shut_down
        .recv_timeout(WAIT)
        .expect("runtime shutdown hung with a live source");

    agent_runtime
        .block_on(agent.wait_for_cancelled_streams(1, WAIT))
        .unwrap();
    assert_eq!(source.snapshot().svid().unwrap().spiffe_id().as_str(), WEB);
    drop(source);
}

/// A caller that gives up on `build` (drops its future) stops the source it was building: the
/// agent sees no more opens once the future is gone.
#[tokio::test]
async fn abandoning_build_stops_the_retries() {
    let agent = DevAgent::builder().start().await.unwrap();
    let build = source_on(&agent).wait_forever().build();
    let building = tokio::spawn(build);
    agent
        .wait_for_stream_opens(StreamKind::X509Svid, 2, WAIT)
        .await
        .unwrap();

    building.abort();
    let _ = building.await;
    let opens = agent.stats().x509_svid_opens;
    // Several retries fit in this pause on the FAST schedule (at most 200 ms apart).
    tokio::time::sleep(4 * FAST.max).await;

    assert!(
        agent.stats().x509_svid_opens <= opens + 1,
        "{} opens after abandoning build at {opens}",
        agent.stats().x509_svid_opens
    );
}
