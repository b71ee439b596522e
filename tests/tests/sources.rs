//! What a source serves as the agent's state changes: revocation, identical updates, expiry,
//! picking the default SVID, and snapshots that hold together (workspace policy, "Sources").
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use common::{
    DB, WAIT, WEB, agent_with, issued_serial, next_update, serial, source_on, until, within,
};
use spiffe_dev_agent::proto::{X509svid, X509svidResponse};
use spiffe_dev_agent::{
    Code, DevAgent, DevAgentHandle, Fault, Identity, Revocation, StreamEnd, StreamKind,
};
use spiffe_id::SpiffeId;
use spiffe_source::{Health, SourceError, X509Source};
use spiffe_svid::verify_x509_svid_chain;

/// PermissionDenied in the middle of a stream revokes the identity: SVID reads fail with
/// `Revoked`, bundles are still served, subscribers are notified once, and the source keeps
/// asking (slowly) until the agent issues the identity again.
#[tokio::test]
async fn permission_denied_mid_stream_revokes_until_the_identity_is_reinstated() {
    let agent = agent_with(&[WEB]).await;
    let source = source_on(&agent).build().await.unwrap();
    let bundle = source.snapshot().bundle("example.org").cloned().unwrap();
    let mut updates = source.updates();

    agent.revoke(WEB, Revocation::PermissionDenied).unwrap();
    let revoked = next_update(&mut updates).await;

    let snapshot = source.snapshot();
    assert!(matches!(snapshot.svid(), Err(SourceError::Revoked)));
    assert_eq!(snapshot.bundle("example.org"), Some(&bundle));
    drop(snapshot);

    // Two more refused opens: the source keeps watching, and does not notify again.
    agent
        .wait_for_stream_opens(StreamKind::X509Svid, 3, WAIT)
        .await
        .unwrap();
    agent.reinstate(WEB).unwrap();
    until(&source, "the source to be ready again", |s| {
        s.health() == &Health::Ready
    })
    .await;

    assert_eq!(source.snapshot().generation(), revoked + 1);
    assert_eq!(serial(&source), issued_serial(&agent, WEB));
    assert!(agent.stats().permission_denials >= 2);
}

/// A stream that ends with PermissionDenied revokes even when the next stream brings back
/// the very same SVID: going from revoked to ready is a change, and it notifies.
#[tokio::test]
async fn same_svid_after_a_revocation_makes_the_source_ready_again() {
    let agent = agent_with(&[WEB]).await;
    let source = source_on(&agent).build().await.unwrap();
    let before = serial(&source);
    let mut updates = source.updates();
    // The stream after the revocation sends nothing until the agent restarts, so the
    // revoked state can be looked at without racing the reconnect.
    agent.script(StreamKind::X509Svid, Fault::Hang, 1).unwrap();

    let denied = StreamEnd::status(Code::PermissionDenied, "no identity issued");
    assert_eq!(agent.end_streams(StreamKind::X509Svid, denied), 1);
    let revoked = next_update(&mut updates).await;
    assert_eq!(source.snapshot().health(), &Health::Revoked);
    agent
        .wait_for(WAIT, |s| {
            s.x509_svid_opens == 2 && s.open_x509_svid_streams == 1
        })
        .await
        .unwrap();

    agent.restart().await.unwrap();
    let ready = next_update(&mut updates).await;

    assert_eq!(ready, revoked + 1);
    assert_eq!(source.snapshot().health(), &Health::Ready);
    assert_eq!(serial(&source), before);
    assert_eq!(agent.stats().x509_svid_opens, 3);
}

/// An update without the SVID of the only identity (the agent's "empty update" revocation)
/// revokes; reinstating the identity makes the source ready with it again.
#[tokio::test]
async fn empty_update_revokes_and_reinstating_restores_the_svid() {
    let agent = agent_with(&[WEB]).await;
    let source = source_on(&agent).build().await.unwrap();
    let mut updates = source.updates();

    agent.revoke(WEB, Revocation::EmptyUpdate).unwrap();
    next_update(&mut updates).await;
    assert!(matches!(
        source.snapshot().svid(),
        Err(SourceError::Revoked)
    ));
    assert!(source.snapshot().bundle("example.org").is_some());

    agent.reinstate(WEB).unwrap();
    next_update(&mut updates).await;
    assert_eq!(serial(&source), issued_serial(&agent, WEB));
    assert_eq!(agent.stats().x509_svid_opens, 1);
}

/// The agent's current state as one raw message, SVIDs and bundle certificates in reverse
/// order.
fn reversed_state(agent: &DevAgentHandle) -> X509svidResponse {
    let mut roots = agent.bundle();
    roots.reverse();
    let bundle = roots.concat();
    let svids = agent.svids().into_iter().rev().map(|issued| X509svid {
        spiffe_id: issued.spiffe_id().to_owned(),
        x509_svid: issued.chain_der(),
        x509_svid_key: issued.private_key_pkcs8().to_vec(),
        bundle: bundle.clone(),
        hint: String::new(),
    });
    X509svidResponse {
        svids: svids.collect(),
        ..X509svidResponse::default()
    }
}

/// The same SVIDs in another order are the same update, but `[web, web]` after `[web, db]` is
/// not: the SVIDs are compared as multisets (found by a hostile-agent run, which kept serving
/// the removed `db`).
#[tokio::test]
async fn an_update_that_repeats_one_svid_and_drops_another_is_a_change() {
    let agent = agent_with(&[WEB, DB]).await;
    let source = source_on(&agent).build().await.unwrap();
    assert_eq!(source.snapshot().svids().len(), 2);
    let mut updates = source.updates();
    let generation = source.snapshot().generation();

    let mut state = reversed_state(&agent);
    let web = state
        .svids
        .iter()
        .find(|svid| svid.spiffe_id == WEB)
        .unwrap()
        .clone();
    state.svids = vec![web.clone(), web];
    assert_eq!(agent.inject_x509_svid_response(state), 1);

    assert_eq!(next_update(&mut updates).await, generation + 1);
    let ids: Vec<String> = source
        .snapshot()
        .svids()
        .iter()
        .map(|svid| svid.spiffe_id().to_string())
        .collect();
    assert_eq!(ids, [WEB, WEB]);
}

/// An update with the same material, SVIDs and bundle certificates in another order, does
/// not notify; neither does the unchanged state a reopened stream starts with.
#[tokio::test]
async fn identical_updates_do_not_notify() {
    let agent = agent_with(&[WEB, DB]).await;
    let source = source_on(&agent)
        .pick_id(SpiffeId::parse(DB).unwrap())
        .build()
        .await
        .unwrap();
    let mut updates = source.updates();
    agent.prepare_ca_rotation().unwrap();
    next_update(&mut updates).await;
    assert_eq!(
        source
            .snapshot()
            .bundle("example.org")
            .unwrap()
            .authorities()
            .len(),
        2
    );

    // Same material in another order. The rotation after it is the sync point: when the
    // source has the rotation, it has read the reordered message too.
    let generation = source.snapshot().generation();
    assert_eq!(agent.inject_x509_svid_response(reversed_state(&agent)), 1);
    agent.rotate_svids().unwrap();
    assert_eq!(next_update(&mut updates).await, generation + 1);

    // The stream ends cleanly; the new one starts with the state the source already has.
    let generation = source.snapshot().generation();
    assert_eq!(agent.end_streams(StreamKind::X509Svid, StreamEnd::Ok), 1);
    agent
        .wait_for(WAIT, |s| {
            s.x509_svid_opens == 2 && s.open_x509_svid_streams == 1
        })
        .await
        .unwrap();
    agent.rotate_svids().unwrap();
    assert_eq!(next_update(&mut updates).await, generation + 1);
    assert_eq!(serial(&source), issued_serial(&agent, DB));
}

/// An SVID past its NotAfter, with no newer one coming (the agent is down), is reported as
/// `Expired` and the source tells its subscribers; the bundle is still served. Once the agent
/// is back with a fresh SVID the source is ready again.
#[tokio::test]
async fn svid_past_its_not_after_is_reported_as_expired() {
    let agent = DevAgent::builder()
        .identity(Identity::new(WEB).with_ttl(Duration::from_secs(4)))
        .start()
        .await
        .unwrap();
    let source = source_on(&agent).build().await.unwrap();

    agent.stop().await;
    until(&source, "the SVID to expire", |s| {
        s.health() == &Health::Expired
    })
    .await;

    let snapshot = source.snapshot();
    let error = snapshot.svid().unwrap_err();
    assert!(
        matches!(&error, SourceError::Expired { id } if id.as_str() == WEB),
        "{error:?}"
    );
    assert!(error.to_string().contains("expired"), "{error}");
    assert_eq!(snapshot.spiffe_id().unwrap().as_str(), WEB);
    assert!(snapshot.svids()[0].not_after() <= SystemTime::now());
    assert!(snapshot.bundle("example.org").is_some());
    drop(snapshot);

    agent.restart().await.unwrap();
    until(&source, "a fresh SVID", |s| s.health() == &Health::Ready).await;
    assert!(source.snapshot().svid().unwrap().not_after() > SystemTime::now());
}

/// The default SVID is the one picked by SPIFFE ID, whatever its position, also after a
/// rotation; a picked identity the agent stops issuing is reported as not matching.
#[tokio::test]
async fn default_svid_is_picked_by_spiffe_id() {
    let agent = agent_with(&[WEB, DB]).await;
    let source = source_on(&agent)
        .pick_id(SpiffeId::parse(DB).unwrap())
        .build()
        .await
        .unwrap();
    let mut updates = source.updates();
    assert_eq!(source.snapshot().svid().unwrap().spiffe_id().as_str(), DB);
    assert_eq!(source.snapshot().svids().len(), 2);

    agent.rotate_svids().unwrap();
    next_update(&mut updates).await;
    assert_eq!(serial(&source), issued_serial(&agent, DB));

    agent.revoke(DB, Revocation::EmptyUpdate).unwrap();
    next_update(&mut updates).await;
    let error = source.snapshot().svid().unwrap_err();
    assert!(
        matches!(&error, SourceError::NoMatchingSvid { picker } if picker.contains(DB)),
        "{error:?}"
    );
}

/// Without a picker the default SVID is the first one; when the first identity is revoked
/// the default becomes the next one, and subscribers are told.
#[tokio::test]
async fn default_svid_moves_to_the_next_one_when_the_first_is_revoked() {
    let agent = agent_with(&[WEB, DB]).await;
    let source = source_on(&agent).build().await.unwrap();
    let mut updates = source.updates();
    assert_eq!(source.snapshot().spiffe_id().unwrap().as_str(), WEB);

    agent.revoke(WEB, Revocation::EmptyUpdate).unwrap();
    next_update(&mut updates).await;

    assert_eq!(source.snapshot().svid().unwrap().spiffe_id().as_str(), DB);
}

/// A source whose picker matches none of the agent's SVIDs says so when the first-update
/// timeout passes, rather than claiming the agent sent nothing.
#[tokio::test]
async fn first_update_timeout_says_when_the_picker_matches_nothing() {
    let agent = agent_with(&[WEB]).await;
    let nobody = "spiffe://example.org/nobody";

    let error = source_on(&agent)
        .pick_id(SpiffeId::parse(nobody).unwrap())
        .first_update_timeout(Duration::from_secs(1))
        .build()
        .await
        .unwrap_err();

    let SourceError::FirstUpdateTimeout {
        last_error: None,
        held: Health::NoMatchingSvid(picker),
        ..
    } = &error
    else {
        panic!("expected a timeout that names the picker, got {error:?}");
    };
    assert!(picker.contains(nobody), "{picker}");
    let message = error.to_string();
    assert!(message.contains("no SVID matches"), "{message}");
    assert!(message.contains(nobody), "{message}");
    assert!(agent.stats().x509_svid_messages >= 1);
}

/// A source told to wait for an identity the agent does not issue yet becomes ready as soon
/// as the agent issues it.
#[tokio::test]
async fn source_waits_for_the_picked_identity_to_be_issued() {
    let agent = agent_with(&[WEB]).await;
    let later = "spiffe://example.org/later";
    let build = source_on(&agent)
        .pick_id(SpiffeId::parse(later).unwrap())
        .wait_forever()
        .build();
    let building = tokio::spawn(build);
    agent
        .wait_for(WAIT, |s| s.x509_svid_messages >= 1)
        .await
        .unwrap();

    agent.add_identity(later).unwrap();
    let source = within("build to return", building).await.unwrap().unwrap();

    assert_eq!(
        source.snapshot().svid().unwrap().spiffe_id().as_str(),
        later
    );
}

/// A snapshot's SVID always verifies against the same snapshot's bundle, across CA rotations
/// (new root, re-issued SVIDs, old root dropped right away), read concurrently with the
/// updates. Checked against the bundle from before a rotation, the new SVID would fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_svid_and_bundle_belong_together_across_ca_rotations() {
    let agent = DevAgent::builder()
        .identity(WEB)
        .intermediate(true)
        .ca_grace(Duration::ZERO)
        .start()
        .await
        .unwrap();
    let source = source_on(&agent).build().await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn(read_and_verify(source.clone(), Arc::clone(&stop)));

    for _ in 0..10 {
        let old_bundles = source.snapshot().bundles().clone();
        agent.rotate_ca().unwrap();
        let expected = issued_serial(&agent, WEB);
        until(&source, "the re-issued SVID", |s| {
            s.svid().is_ok_and(|svid| svid.serial_hex() == expected)
        })
        .await;

        let snapshot = source.snapshot();
        let chain = snapshot.svid().unwrap().chain();
        let now = SystemTime::now();
        verify_x509_svid_chain(chain, snapshot.bundles(), now).unwrap();
        assert!(verify_x509_svid_chain(chain, &old_bundles, now).is_err());
    }

    stop.store(true, Ordering::Release);
    let verified = within("the reader to stop", reader).await.unwrap();
    assert!(verified > 0);
    assert_eq!(agent.stats().ca_rotations, 10);
}

/// Verifies every snapshot it can read until told to stop (or twice [`WAIT`] passed); returns
/// how many it verified.
async fn read_and_verify(source: X509Source, stop: Arc<AtomicBool>) -> u64 {
    let deadline = Instant::now() + 2 * WAIT;
    let mut verified = 0;
    while !stop.load(Ordering::Acquire) && Instant::now() < deadline {
        let snapshot = source.snapshot();
        if let Ok(svid) = snapshot.svid() {
            let checked =
                verify_x509_svid_chain(svid.chain(), snapshot.bundles(), SystemTime::now());
            if let Err(error) = checked {
                panic!("generation {}: {error}", snapshot.generation());
            }
            verified += 1;
        }
        drop(snapshot);
        tokio::task::yield_now().await;
    }
    verified
}
