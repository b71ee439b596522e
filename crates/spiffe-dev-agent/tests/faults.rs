//! Scripted faults, injections, revocation and the listener lifecycle.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests and their helpers: a failed unwrap is a failed test"
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use spiffe_dev_agent::proto::{X509BundlesResponse, X509svid, X509svidResponse};
use spiffe_dev_agent::{
    Code, DevAgent, DevAgentError, DevAgentHandle, Fault, Garbage, Identity, Revocation, StreamEnd,
    StreamKind,
};

async fn agent() -> DevAgentHandle {
    DevAgent::builder()
        .identity("spiffe://example.org/a")
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn scripted_status_answers_the_first_opens_then_the_agent_behaves() {
    let cases = [
        (Code::PermissionDenied, "no identity issued"),
        (Code::Unavailable, "rate limit exceeded"),
        (Code::InvalidArgument, "bad request"),
        (Code::Unauthenticated, "who are you"),
        (Code::Unimplemented, "not here"),
    ];
    for (code, message) in cases {
        let agent = agent().await;
        agent
            .script(StreamKind::X509Svid, Fault::status(code, message), 3)
            .unwrap();
        let mut client = connect(&agent).await;

        for _ in 0..3 {
            let status = open_svids(&mut client).await.unwrap_err();
            assert_eq!((status.code(), status.message()), (code, message));
        }
        let response = next(&mut open_svids(&mut client).await.unwrap())
            .await
            .unwrap();

        assert_eq!(response.unwrap().svids.len(), 1, "{code:?}");
        let stats = agent.stats();
        assert_eq!((stats.x509_svid_opens, stats.faults_applied), (4, 3));
        assert_eq!(agent.pending_faults(StreamKind::X509Svid), 0);
    }
}

#[tokio::test]
async fn faults_for_bundles_streams_leave_svid_streams_alone() {
    let agent = agent().await;
    let unavailable = Fault::status(Code::Unavailable, "later");
    agent
        .script(StreamKind::X509Bundles, unavailable, 1)
        .unwrap();
    let mut client = connect(&agent).await;

    assert!(open_svids(&mut client).await.is_ok());
    let status = open_bundles(&mut client).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(open_bundles(&mut client).await.is_ok());
}

#[tokio::test]
async fn held_first_message_arrives_after_the_hold() {
    let agent = agent().await;
    let hold = Duration::from_millis(400);
    agent
        .script(StreamKind::X509Svid, Fault::HoldFirst(hold), 1)
        .unwrap();
    let mut client = connect(&agent).await;
    let opened = Instant::now();

    let mut stream = open_svids(&mut client).await.unwrap();
    let first = next(&mut stream).await.unwrap().unwrap();

    assert!(
        opened.elapsed() >= hold,
        "arrived after {:?}",
        opened.elapsed()
    );
    assert_eq!(first.svids.len(), 1);
}

#[tokio::test]
async fn hanging_stream_sends_nothing_and_stays_open() {
    let agent = agent().await;
    agent.script(StreamKind::X509Svid, Fault::Hang, 1).unwrap();
    let mut client = connect(&agent).await;

    let mut stream = open_svids(&mut client).await.unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(300), stream.message()).await;

    assert!(waited.is_err(), "a message arrived on a hanging stream");
    assert_eq!(agent.stats().open_x509_svid_streams, 1);
}

/// The first INTEGER inside the outer SEQUENCE, as a single byte.
fn der_version(der: &[u8]) -> u8 {
    let header = if der[1] < 0x80 {
        2
    } else {
        2 + usize::from(der[1] & 0x7f)
    };
    assert_eq!(&der[header..header + 2], [0x02, 0x01]);
    der[header + 2]
}

#[tokio::test]
async fn garbage_first_message_is_followed_by_the_real_state() {
    let kinds = [
        Garbage::UnparsableCertificate,
        Garbage::EmptyKey,
        Garbage::NonPkcs8Key,
        Garbage::ZeroSvids,
        Garbage::UnparsableBundle,
    ];
    for garbage in kinds {
        let agent = agent().await;
        agent
            .script(StreamKind::X509Svid, Fault::Garbage(garbage), 1)
            .unwrap();
        let mut client = connect(&agent).await;
        let mut stream = open_svids(&mut client).await.unwrap();

        let bad = next(&mut stream).await.unwrap().unwrap();
        let good = next(&mut stream).await.unwrap().unwrap();

        let real = &good.svids[0];
        assert!(rcgen::KeyPair::try_from(real.x509_svid_key.as_slice()).is_ok());
        match garbage {
            Garbage::ZeroSvids => assert!(bad.svids.is_empty()),
            Garbage::EmptyKey => assert!(bad.svids[0].x509_svid_key.is_empty()),
            Garbage::NonPkcs8Key => {
                let key = &bad.svids[0].x509_svid_key;
                assert!(!key.is_empty() && key != &real.x509_svid_key);
                // SEC1 ECPrivateKey (RFC 5915 §3) starts with version 1; PKCS#8 with version 0.
                assert_eq!(der_version(key), 1);
                assert_eq!(der_version(&real.x509_svid_key), 0);
            }
            Garbage::UnparsableCertificate => {
                assert!(
                    x509_cert::der::Decode::from_der(&bad.svids[0].x509_svid)
                        .map(|_: x509_cert::Certificate| ())
                        .is_err()
                );
            }
            Garbage::UnparsableBundle => assert_ne!(bad.svids[0].bundle, real.bundle),
            _ => unreachable!(),
        }
        assert_eq!(agent.stats().x509_svid_messages, 2);
    }
}

#[tokio::test]
async fn stream_ends_with_ok_after_the_first_message() {
    let agent = agent().await;
    agent
        .script(StreamKind::X509Svid, Fault::EndAfterFirst, 1)
        .unwrap();
    let mut client = connect(&agent).await;
    let mut stream = open_svids(&mut client).await.unwrap();

    assert!(next(&mut stream).await.unwrap().is_some());
    assert!(next(&mut stream).await.unwrap().is_none(), "clean end");

    // The next open behaves normally and follows rotations.
    let mut stream = open_svids(&mut client).await.unwrap();
    next(&mut stream).await.unwrap().unwrap();
    agent.rotate_svids().unwrap();
    assert!(next(&mut stream).await.unwrap().is_some());
    assert_eq!(agent.stats().cancelled_streams, 0);
}

#[tokio::test]
async fn raw_response_replaces_the_first_message() {
    let agent = agent().await;
    let raw = X509svidResponse {
        svids: vec![X509svid {
            spiffe_id: "spiffe://example.org/raw".into(),
            ..X509svid::default()
        }],
        ..X509svidResponse::default()
    };
    agent
        .script(StreamKind::X509Svid, Fault::RawX509Svid(raw.clone()), 1)
        .unwrap();
    let mut client = connect(&agent).await;
    let mut stream = open_svids(&mut client).await.unwrap();

    assert_eq!(next(&mut stream).await.unwrap().unwrap(), raw);
    agent.rotate_svids().unwrap();
    let real = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(real.svids[0].spiffe_id, "spiffe://example.org/a");
}

#[tokio::test]
async fn garbage_injected_mid_stream_keeps_the_stream_open() {
    let agent = agent().await;
    let mut client = connect(&agent).await;
    let mut stream = open_svids(&mut client).await.unwrap();
    let good = next(&mut stream).await.unwrap().unwrap();

    assert_eq!(
        agent.inject_garbage(StreamKind::X509Svid, Garbage::EmptyKey),
        1
    );
    let bad = next(&mut stream).await.unwrap().unwrap();
    assert!(bad.svids[0].x509_svid_key.is_empty());
    assert_eq!(bad.svids[0].x509_svid, good.svids[0].x509_svid);

    agent.rotate_svids().unwrap();
    let next_good = next(&mut stream).await.unwrap().unwrap();
    assert!(!next_good.svids[0].x509_svid_key.is_empty());
}

#[tokio::test]
async fn injections_reach_the_stream_before_a_later_state_change() {
    let agent = agent().await;
    let mut client = connect(&agent).await;
    let mut stream = open_svids(&mut client).await.unwrap();
    next(&mut stream).await.unwrap().unwrap();

    // Made back to back, twenty times: an agent that picked among ready events at random
    // would deliver the rotation first about half of the time.
    for _ in 0..20 {
        agent.inject_garbage(StreamKind::X509Svid, Garbage::EmptyKey);
        agent.rotate_svids().unwrap();
        let first = next(&mut stream).await.unwrap().unwrap();
        let second = next(&mut stream).await.unwrap().unwrap();
        assert!(first.svids[0].x509_svid_key.is_empty());
        assert!(!second.svids[0].x509_svid_key.is_empty());
    }
}

#[tokio::test]
async fn end_streams_ends_open_streams_with_the_given_status() {
    let agent = agent().await;
    let mut client = connect(&agent).await;
    let mut svids = open_svids(&mut client).await.unwrap();
    let mut bundles = open_bundles(&mut client).await.unwrap();
    next(&mut svids).await.unwrap().unwrap();
    next(&mut bundles).await.unwrap().unwrap();

    let end = StreamEnd::status(Code::PermissionDenied, "no identity issued");
    assert_eq!(
        agent.end_streams(StreamKind::X509Svid, end),
        2,
        "both streams get the command"
    );

    let status = next(&mut svids).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    agent.end_streams(StreamKind::X509Bundles, StreamEnd::Ok);
    assert!(next(&mut bundles).await.unwrap().is_none());
    agent
        .wait_for(WAIT, |s| s.open_streams() == 0)
        .await
        .unwrap();
}

#[tokio::test]
async fn revocation_with_empty_update_sends_zero_svids() {
    let agent = agent().await;
    let mut client = connect(&agent).await;
    let mut stream = open_svids(&mut client).await.unwrap();
    next(&mut stream).await.unwrap().unwrap();

    agent
        .revoke("spiffe://example.org/a", Revocation::EmptyUpdate)
        .unwrap();
    let update = next(&mut stream).await.unwrap().unwrap();
    assert!(update.svids.is_empty());
    let fresh = next(&mut open_svids(&mut client).await.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(fresh.svids.is_empty());

    agent.reinstate("spiffe://example.org/a").unwrap();
    assert_eq!(next(&mut stream).await.unwrap().unwrap().svids.len(), 1);
}

#[tokio::test]
async fn revocation_with_permission_denied_ends_streams_and_refuses_opens() {
    let agent = agent().await;
    let mut client = connect(&agent).await;
    let mut stream = open_svids(&mut client).await.unwrap();
    next(&mut stream).await.unwrap().unwrap();

    agent
        .revoke("spiffe://example.org/a", Revocation::PermissionDenied)
        .unwrap();

    let status = next(&mut stream).await.unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::PermissionDenied, "no identity issued")
    );
    let status = open_svids(&mut client).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        agent
            .revoke("spiffe://example.org/nobody", Revocation::EmptyUpdate)
            .is_err()
    );
}

#[tokio::test]
async fn client_dropping_its_stream_is_counted_as_cancelled() {
    let agent = agent().await;
    let mut client = connect(&agent).await;
    let mut stream = open_svids(&mut client).await.unwrap();
    next(&mut stream).await.unwrap().unwrap();
    agent
        .wait_for_open_streams(StreamKind::X509Svid, 1, WAIT)
        .await
        .unwrap();

    drop(stream);

    let stats = agent.wait_for_cancelled_streams(1, WAIT).await.unwrap();
    assert_eq!(stats.open_x509_svid_streams, 0);
}

#[tokio::test]
async fn wait_for_reports_the_last_stats_when_it_times_out() {
    let agent = agent().await;

    let err = agent
        .wait_for_stream_opens(StreamKind::X509Svid, 1, Duration::from_millis(50))
        .await
        .unwrap_err();

    assert!(err.to_string().contains("x509_svid_opens: 0"), "{err}");
}

#[tokio::test]
async fn stop_ends_streams_removes_the_socket_and_restart_listens_on_the_same_path() {
    let agent = agent().await;
    let path = agent.socket_path().to_owned();
    let mut client = connect(&agent).await;
    let mut stream = open_svids(&mut client).await.unwrap();
    let before = next(&mut stream).await.unwrap().unwrap();

    agent.stop().await;
    let status = next(&mut stream).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(!path.exists(), "socket file removed");
    assert!(!agent.is_running());
    assert!(tokio::net::UnixStream::connect(&path).await.is_err());

    agent.restart().await.unwrap();
    assert!(path.exists());
    let mut client = connect_path(path).await;
    let after = next(&mut open_svids(&mut client).await.unwrap())
        .await
        .unwrap()
        .unwrap();

    assert_eq!(after.svids, before.svids, "state survives the restart");
    let stats = agent.stats();
    assert_eq!(
        (
            stats.connections,
            stats.x509_svid_opens,
            stats.cancelled_streams
        ),
        (2, 2, 0)
    );
}

#[tokio::test]
async fn restart_while_running_replaces_the_listener() {
    let agent = agent().await;
    let mut client = connect(&agent).await;
    let mut stream = open_svids(&mut client).await.unwrap();
    next(&mut stream).await.unwrap().unwrap();

    agent.restart().await.unwrap();

    assert_eq!(
        next(&mut stream).await.unwrap_err().code(),
        Code::Unavailable
    );
    let mut client = connect(&agent).await;
    assert!(open_svids(&mut client).await.is_ok());
}

#[tokio::test]
async fn fixed_socket_path_with_a_stale_socket_file_is_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.sock");
    let stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
    drop(stale);

    let agent = DevAgent::builder()
        .socket_path(&path)
        .identity(Identity::new("spiffe://example.org/a"))
        .start()
        .await
        .unwrap();

    assert_eq!(agent.endpoint(), format!("unix://{}", path.display()));
    let mut client = connect(&agent).await;
    assert!(open_svids(&mut client).await.is_ok());
    drop(agent);
    assert!(!path.exists(), "dropping the handle removes the socket");
}

#[tokio::test]
async fn second_agent_on_a_live_socket_refuses_to_take_it_over() {
    let first = agent().await;
    let path = first.socket_path().to_owned();

    let second = DevAgent::builder()
        .socket_path(&path)
        .identity(Identity::new("spiffe://example.org/b"))
        .start()
        .await;
    assert!(
        matches!(&second, Err(DevAgentError::SocketInUse(p)) if *p == path),
        "{second:?}"
    );

    // The first agent still serves on its socket.
    let mut client = connect(&first).await;
    assert!(open_svids(&mut client).await.is_ok());
    assert!(path.exists());
}

#[tokio::test]
async fn bundles_stream_takes_garbage_and_raw_responses_then_the_real_bundle() {
    let agent = agent().await;
    let raw = X509BundlesResponse {
        bundles: [("spiffe://raw.org".to_owned(), vec![1, 2, 3])].into(),
        ..X509BundlesResponse::default()
    };
    let fault = Fault::RawX509Bundles(raw.clone());
    agent.script(StreamKind::X509Bundles, fault, 1).unwrap();
    let garbage = Fault::Garbage(Garbage::UnparsableBundle);
    agent.script(StreamKind::X509Bundles, garbage, 1).unwrap();
    let mut stats = agent.watch_stats();
    let mut client = connect(&agent).await;

    let mut first = open_bundles(&mut client).await.unwrap();
    assert_eq!(next(&mut first).await.unwrap().unwrap(), raw);
    let mut second = open_bundles(&mut client).await.unwrap();
    let bad = next(&mut second).await.unwrap().unwrap();
    let good = next(&mut second).await.unwrap().unwrap();

    let own = "spiffe://example.org";
    assert_ne!(bad.bundles[own], good.bundles[own]);
    assert_eq!(good.bundles[own], agent.bundle().concat());
    assert_eq!(agent.inject_x509_bundles_response(raw.clone()), 2);
    assert_eq!(next(&mut second).await.unwrap().unwrap(), raw);
    stats
        .wait_for(|s| s.x509_bundles_messages == 5)
        .await
        .unwrap();
}
