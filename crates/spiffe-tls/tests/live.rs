//! Real handshakes over live sources of the dev agent: scenario T3, the 1000-handshake
//! rotation run, and resumption bound to the bundles.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::{Side, handshake};
use rustls::{ClientConfig, HandshakeKind, ServerConfig};
use spiffe_dev_agent::{DevAgent, DevAgentHandle, Identity};
use spiffe_id::SpiffeId;
use spiffe_source::X509Source;
use spiffe_tls::{Authorizer, ClientConfigBuilder, ServerConfigBuilder, StaticSource};

const SERVER: &str = "spiffe://example.org/server";
const CLIENT: &str = "spiffe://example.org/client";

async fn agent() -> DevAgentHandle {
    DevAgent::builder()
        .intermediate(true)
        .identity(Identity::new(SERVER).with_hint("server"))
        .identity(Identity::new(CLIENT).with_hint("client"))
        .start()
        .await
        .unwrap()
}

async fn source(agent: &DevAgentHandle, hint: &str) -> X509Source {
    X509Source::builder()
        .endpoint(agent.endpoint())
        .pick_hint(hint)
        .first_update_timeout(Duration::from_secs(10))
        .build()
        .await
        .unwrap()
}

/// Waits until every source has applied an update after `action`.
async fn after(action: impl FnOnce(), sources: &[&X509Source]) {
    let mut updates: Vec<_> = sources.iter().map(|s| s.updates()).collect();
    action();
    for rx in &mut updates {
        tokio::time::timeout(Duration::from_secs(10), rx.changed())
            .await
            .expect("an update within 10 s")
            .unwrap();
    }
}

fn id(s: &str) -> SpiffeId {
    SpiffeId::parse(s).unwrap()
}

fn configs(
    server: &X509Source,
    client: &X509Source,
    resumption: bool,
) -> (Arc<ClientConfig>, Arc<ServerConfig>) {
    let client = ClientConfigBuilder::mtls(client.clone(), Authorizer::exact(id(SERVER)))
        .resumption(resumption)
        .build()
        .unwrap();
    let server = ServerConfigBuilder::mtls(server.clone(), Authorizer::exact(id(CLIENT)))
        .resumption(resumption)
        .build()
        .unwrap();
    (Arc::new(client), Arc::new(server))
}

fn leaf_serial(certs: Option<&[rustls::pki_types::CertificateDer<'_>]>) -> String {
    spiffe_svid::inspect_leaf(&certs.unwrap()[0])
        .unwrap()
        .serial_hex
}

/// T3: the bundle gains CA2 while our SVID still comes from CA1; a peer whose chain comes
/// from CA2 is accepted at once by the configuration built before, never rebuilt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_update_adding_a_ca_is_trusted_at_once_without_rebuilding_the_config() {
    let agent = agent().await;
    let ours = source(&agent, "server").await;
    let peer = source(&agent, "client").await;
    let (client, server) = configs(&ours, &peer, false);
    let our_serial = ours.snapshot().svid().unwrap().serial_hex().to_owned();
    // Our material at the start, frozen: the control that must refuse CA2 peers.
    let frozen = {
        let snapshot = ours.snapshot();
        StaticSource::new(snapshot.svid().unwrap().clone(), snapshot.bundles().clone())
    };
    handshake(&client, &server).unwrap();

    // CA2 joins the bundle; SVIDs stay from CA1. Our source then stops listening, so that
    // our SVID stays the CA1 one while the peer moves to CA2.
    after(|| agent.prepare_ca_rotation().unwrap(), &[&ours, &peer]).await;
    ours.close().await;
    after(|| agent.rotate_ca().unwrap(), &[&peer]).await;

    let connected = handshake(&client, &server).unwrap();
    assert_eq!(
        leaf_serial(connected.server.peer_certificates()),
        peer.snapshot().svid().unwrap().serial_hex()
    );
    assert_eq!(
        leaf_serial(connected.client.peer_certificates()),
        our_serial
    );

    let stale = ServerConfigBuilder::mtls(frozen, Authorizer::exact(id(CLIENT)))
        .build()
        .unwrap();
    let (side, error) = handshake(&client, &Arc::new(stale)).err().unwrap();
    assert_eq!(side, Side::Server);
    assert_eq!(
        spiffe_tls::PeerError::from_rustls(&error)
            .unwrap()
            .to_string(),
        "peer chain does not verify against the bundle of example.org"
    );
}

/// 1000 handshakes across two SVID rotations and one CA rotation, on configurations built
/// once: no failure, and every phase presents the then current SVIDs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_handshakes_across_svid_and_ca_rotations_never_fail() {
    let agent = agent().await;
    let server_source = source(&agent, "server").await;
    let client_source = source(&agent, "client").await;
    let (client, server) = configs(&server_source, &client_source, false);
    let both = [&server_source, &client_source];

    let mut failures = Vec::new();
    let mut server_serials = HashSet::new();
    let mut client_serials = HashSet::new();
    for i in 0..1000 {
        match i {
            200 => after(|| agent.rotate_svids().unwrap(), &both).await,
            450 => after(|| agent.prepare_ca_rotation().unwrap(), &both).await,
            600 => after(|| agent.rotate_ca().unwrap(), &both).await,
            800 => after(|| agent.rotate_svids().unwrap(), &both).await,
            _ => {}
        }

        match handshake(&client, &server) {
            Ok(connected) => {
                let presented = leaf_serial(connected.client.peer_certificates());
                assert_eq!(
                    presented,
                    server_source.snapshot().svid().unwrap().serial_hex()
                );
                server_serials.insert(presented);
                client_serials.insert(leaf_serial(connected.server.peer_certificates()));
            }
            Err((side, error)) => failures.push(format!("{i}: {side:?}: {error}")),
        }
    }

    assert_eq!(failures, Vec::<String>::new());
    assert_eq!(
        server_serials.len(),
        4,
        "initial, two SVID rotations, CA rotation"
    );
    assert_eq!(client_serials.len(), 4);
}

/// With resumption on, sessions resume while the bundles stay the same (SVID rotations
/// included), and never once the bundles changed, whichever side notices the change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumed_sessions_are_refused_once_the_bundle_changed() {
    let agent = agent().await;
    let server_source = source(&agent, "server").await;
    let client_source = source(&agent, "client").await;
    let (client, server) = configs(&server_source, &client_source, true);
    let kind = |client: &Arc<ClientConfig>, server: &Arc<ServerConfig>| {
        handshake(client, server)
            .unwrap()
            .client
            .handshake_kind()
            .unwrap()
    };

    assert_eq!(kind(&client, &server), HandshakeKind::Full);
    assert_eq!(kind(&client, &server), HandshakeKind::Resumed);
    after(
        || agent.rotate_svids().unwrap(),
        &[&server_source, &client_source],
    )
    .await;
    assert_eq!(kind(&client, &server), HandshakeKind::Resumed);

    after(
        || agent.prepare_ca_rotation().unwrap(),
        &[&server_source, &client_source],
    )
    .await;
    assert_eq!(kind(&client, &server), HandshakeKind::Full);
    assert_eq!(kind(&client, &server), HandshakeKind::Resumed);

    // Only the server sees the next change (the announcement of a third CA): its store
    // forgets, the client's ticket is refused and the handshake is full.
    client_source.close().await;
    after(|| agent.rotate_ca().unwrap(), &[&server_source]).await;
    assert_eq!(
        kind(&client, &server),
        HandshakeKind::Resumed,
        "same roots, new SVIDs"
    );
    after(|| agent.prepare_ca_rotation().unwrap(), &[&server_source]).await;
    assert_eq!(kind(&client, &server), HandshakeKind::Full);
}

/// The same when only the client sees the change: its store forgets its tickets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_drops_its_tickets_when_its_bundle_changes() {
    let agent = agent().await;
    let server_source = source(&agent, "server").await;
    let client_source = source(&agent, "client").await;
    let (client, server) = configs(&server_source, &client_source, true);
    let kind = |client: &Arc<ClientConfig>, server: &Arc<ServerConfig>| {
        handshake(client, server)
            .unwrap()
            .client
            .handshake_kind()
            .unwrap()
    };

    assert_eq!(kind(&client, &server), HandshakeKind::Full);
    assert_eq!(kind(&client, &server), HandshakeKind::Resumed);

    server_source.close().await;
    after(|| agent.prepare_ca_rotation().unwrap(), &[&client_source]).await;
    assert_eq!(kind(&client, &server), HandshakeKind::Full);
}
