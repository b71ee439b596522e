//! TLS configurations over one source: scenario L7, with real handshakes through
//! spiffe-tls.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::sync::Arc;

use common::{WEB, agent_with, issued_serial, next_update, source_on, within};
use rustls::pki_types::ServerName;
use spiffe_id::SpiffeId;
use spiffe_source::X509Source;
use spiffe_svid::X509Svid;
use spiffe_tls::{Authorizer, ClientConfigBuilder, ServerConfigBuilder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// What each side of a completed handshake saw of the other.
struct Handshake {
    /// The leaf the client received from the server.
    server_leaf: Vec<u8>,
    /// The leaf the server received from the client.
    client_leaf: Vec<u8>,
    /// The chain the server received from the client.
    client_chain: Vec<rustls::pki_types::CertificateDer<'static>>,
}

/// Runs one mutual TLS handshake over an in-memory pipe and echoes a byte across it.
async fn handshake(
    client: Arc<rustls::ClientConfig>,
    server: Arc<rustls::ServerConfig>,
) -> Result<Handshake, std::io::Error> {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let name = ServerName::try_from("web.example.org").unwrap();

    let accept = TlsAcceptor::from(server).accept(server_io);
    let connect = TlsConnector::from(client).connect(name, client_io);
    let (accepted, connected) = tokio::join!(accept, connect);
    let (mut server_tls, mut client_tls) = (accepted?, connected?);

    client_tls.write_all(b"x").await?;
    client_tls.flush().await?;
    let mut byte = [0u8; 1];
    server_tls.read_exact(&mut byte).await?;
    assert_eq!(&byte, b"x");

    let from_client = server_tls.get_ref().1.peer_certificates().unwrap();
    let from_server = client_tls.get_ref().1.peer_certificates().unwrap();
    Ok(Handshake {
        server_leaf: from_server[0].to_vec(),
        client_leaf: from_client[0].to_vec(),
        client_chain: from_client.iter().map(|c| c.clone().into_owned()).collect(),
    })
}

fn web() -> Authorizer {
    Authorizer::exact(SpiffeId::parse(WEB).unwrap())
}

fn client_config(source: X509Source, servers: Authorizer) -> rustls::ClientConfig {
    ClientConfigBuilder::mtls(source, servers).build().unwrap()
}

fn server_config(source: X509Source, clients: Authorizer) -> rustls::ServerConfig {
    ServerConfigBuilder::mtls(source, clients).build().unwrap()
}

fn current_leaf(source: &X509Source) -> Vec<u8> {
    source
        .snapshot()
        .svid()
        .map(X509Svid::leaf)
        .unwrap()
        .to_vec()
}

/// L7: fifty client and fifty server configurations made from one source share its single
/// stream: the agent sees exactly one FetchX509SVID open. Handshakes with any of them present
/// the source's current SVID, also after a rotation, without rebuilding a configuration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_tls_configurations_from_one_source_share_one_agent_stream() {
    let agent = agent_with(&[WEB]).await;
    let source = source_on(&agent).build().await.unwrap();

    let mut clients = Vec::new();
    let mut servers = Vec::new();
    for _ in 0..50 {
        clients.push(Arc::new(client_config(source.clone(), web())));
        servers.push(Arc::new(server_config(source.clone(), web())));
    }

    let stats = agent.stats();
    assert_eq!(stats.x509_svid_opens, 1);
    assert_eq!(stats.open_x509_svid_streams, 1);
    assert_eq!(stats.x509_bundles_opens, 0);

    let first = within(
        "a handshake",
        handshake(clients[0].clone(), servers[49].clone()),
    )
    .await
    .unwrap();
    assert_eq!(first.server_leaf, current_leaf(&source));
    assert_eq!(first.client_leaf, current_leaf(&source));
    let snapshot = source.snapshot();
    let now = std::time::SystemTime::now();
    let verified =
        spiffe_svid::verify_x509_svid_chain(&first.client_chain, snapshot.bundles(), now);
    assert_eq!(verified.unwrap().spiffe_id().as_str(), WEB);
    drop(snapshot);

    let mut updates = source.updates();
    agent.rotate_svids().unwrap();
    next_update(&mut updates).await;
    assert_eq!(common::serial(&source), issued_serial(&agent, WEB));

    let second = within(
        "a handshake",
        handshake(clients[49].clone(), servers[0].clone()),
    )
    .await
    .unwrap();
    assert_eq!(second.server_leaf, current_leaf(&source));
    assert_ne!(second.server_leaf, first.server_leaf);

    let stats = agent.stats();
    assert_eq!(stats.x509_svid_opens, 1);
    assert_eq!(stats.open_x509_svid_streams, 1);
}

/// spiffe-tls authorises by SPIFFE ID: a server that accepts only another workload refuses
/// our client even though its chain verifies.
#[tokio::test]
async fn tls_server_refuses_a_verified_client_it_does_not_authorise() {
    let agent = agent_with(&[WEB]).await;
    let source = source_on(&agent).build().await.unwrap();
    let only_db = Authorizer::exact(SpiffeId::parse(common::DB).unwrap());

    let client = Arc::new(client_config(source.clone(), web()));
    let server = Arc::new(server_config(source.clone(), only_db));
    let refused = within("a refused handshake", handshake(client, server)).await;

    let error = refused
        .err()
        .expect("the handshake should fail")
        .to_string();
    assert!(error.contains("invalid peer certificate"), "{error}");
    assert!(error.contains(WEB), "{error}");
}
