//! Malformed messages from the agent: scenario P5 on the X.509 stream.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::time::Duration;

use common::{WEB, agent_with, issued_serial, next_update, serial, source_on};
use spiffe_dev_agent::proto::{X509svid, X509svidResponse};
use spiffe_dev_agent::{DevAgentHandle, Fault, Garbage, StreamKind};
use spiffe_source::{Health, SourceError};
use spiffe_workload_api::{ResponseError, WorkloadApiError};

const BROKEN: [Garbage; 4] = [
    Garbage::UnparsableCertificate,
    Garbage::EmptyKey,
    Garbage::NonPkcs8Key,
    Garbage::UnparsableBundle,
];

/// P5: each malformed update in the middle of a stream is rejected whole. The source keeps
/// its last good state (no new generation, no notification), stays on the same stream, and
/// applies the next good update as usual.
#[tokio::test]
async fn source_keeps_its_last_good_state_when_an_update_is_malformed() {
    let agent = agent_with(&[WEB]).await;
    let source = source_on(&agent).build().await.unwrap();
    let mut updates = source.updates();

    for garbage in BROKEN {
        let generation = source.snapshot().generation();
        let good = serial(&source);

        assert_eq!(agent.inject_garbage(StreamKind::X509Svid, garbage), 1);
        assert_eq!(serial(&source), good, "{garbage:?}");
        // The rotation comes after the garbage on the same stream: once the source has it,
        // it has read the garbage too, and only the rotation may have made a generation.
        agent.rotate_svids().unwrap();
        let next = next_update(&mut updates).await;

        assert_eq!(next, generation + 1, "{garbage:?} made a generation");
        assert_eq!(source.snapshot().generation(), generation + 1);
        assert_eq!(serial(&source), issued_serial(&agent, WEB), "{garbage:?}");
    }

    let stats = agent.stats();
    assert_eq!(stats.x509_svid_opens, 1, "the source left its stream");
    assert_eq!(stats.open_x509_svid_streams, 1);
    assert_eq!(stats.x509_svid_messages, 1 + 2 * BROKEN.len() as u64);
}

/// P5: a malformed first message (followed by the real state) does not stop a source from
/// starting, on the same stream.
#[tokio::test]
async fn source_starts_from_the_good_message_after_a_malformed_first_one() {
    for garbage in BROKEN {
        let agent = agent_with(&[WEB]).await;
        agent
            .script(StreamKind::X509Svid, Fault::Garbage(garbage), 1)
            .unwrap();

        let source = source_on(&agent).build().await.unwrap();

        assert_eq!(source.snapshot().generation(), 1, "{garbage:?}");
        assert_eq!(serial(&source), issued_serial(&agent, WEB));
        assert_eq!(agent.stats().x509_svid_opens, 1, "{garbage:?}");
    }
}

/// The agent's first SVID as one raw SVID message, with its key replaced by `key`.
fn svid_message(agent: &DevAgentHandle, key: Vec<u8>) -> X509svid {
    let issued = agent.svids().into_iter().next().unwrap();
    X509svid {
        spiffe_id: issued.spiffe_id().to_owned(),
        x509_svid: issued.chain_der(),
        x509_svid_key: key,
        bundle: agent.bundle().concat(),
        hint: String::new(),
    }
}

/// P5: when the only message the agent sends is malformed, the first-update timeout reports
/// it as a typed error (here: the first SVID, index 1, without its private key), after a
/// single attempt: the source stayed connected rather than redialling.
#[tokio::test]
async fn first_update_timeout_names_the_malformed_message_it_got() {
    let agent = agent_with(&[WEB]).await;
    let keyless = X509svidResponse {
        svids: vec![svid_message(&agent, Vec::new())],
        ..X509svidResponse::default()
    };
    agent
        .script(StreamKind::X509Svid, Fault::RawX509Svid(keyless), 1)
        .unwrap();

    let error = source_on(&agent)
        .first_update_timeout(Duration::from_secs(1))
        .build()
        .await
        .unwrap_err();

    let SourceError::FirstUpdateTimeout {
        attempts,
        last_error: Some(last),
        ..
    } = &error
    else {
        panic!("expected a first-update timeout with a last error, got {error:?}");
    };
    assert!(
        matches!(
            **last,
            WorkloadApiError::InvalidResponse(ResponseError::MissingPrivateKey { index: 1 })
        ),
        "{last:?}"
    );
    assert_eq!(*attempts, 1);
    assert_eq!(agent.stats().x509_svid_opens, 1);
    // The message carries the whole chain: what was wrong and where, not only "invalid".
    let message = error.to_string();
    assert!(message.contains("x509-svid stream"), "{message}");
    assert!(
        message.contains("invalid workload API response: ") && message.contains("svid 1"),
        "{message}"
    );
}

/// P5: zero SVIDs in an update is a revocation, not garbage: SVID reads fail with `Revoked`,
/// bundles are still served, subscribers are notified, the stream stays open, and the next
/// SVID makes the source ready again.
#[tokio::test]
async fn update_with_zero_svids_revokes_until_a_new_svid_arrives() {
    let agent = agent_with(&[WEB]).await;
    let source = source_on(&agent).build().await.unwrap();
    let bundle = source.snapshot().bundle("example.org").cloned().unwrap();
    let mut updates = source.updates();

    assert_eq!(
        agent.inject_garbage(StreamKind::X509Svid, Garbage::ZeroSvids),
        1
    );
    next_update(&mut updates).await;

    let snapshot = source.snapshot();
    assert!(matches!(snapshot.svid(), Err(SourceError::Revoked)));
    assert_eq!(snapshot.health(), &Health::Revoked);
    assert!(snapshot.svids().is_empty());
    assert_eq!(snapshot.bundle("example.org"), Some(&bundle));
    drop(snapshot);

    agent.rotate_svids().unwrap();
    next_update(&mut updates).await;
    assert_eq!(source.snapshot().health(), &Health::Ready);
    assert_eq!(serial(&source), issued_serial(&agent, WEB));
    assert_eq!(agent.stats().x509_svid_opens, 1);
}
