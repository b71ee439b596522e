//! A full mutual TLS handshake in memory: spiffe-tls configurations against plain rustls
//! with a fixed certificate and a static root store, on the same keys, in the same run.
//!
//! `cargo bench -p spiffe-tls --bench handshake`
#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "bench code"
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;

use common::{bundles, handshake, issue, leaf_params, root, rustls_pair};
use criterion::{Criterion, criterion_group, criterion_main};
use rustls::client::Resumption;
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use spiffe_id::SpiffeId;
use spiffe_svid::X509Svid;
use spiffe_tls::{
    Authorizer, ClientConfigBuilder, ServerConfigBuilder, StaticSource, default_provider,
};

fn bench_handshake(c: &mut Criterion) {
    // One CA; server and client leaves are SVIDs that also name server.test, so that plain
    // rustls accepts the very same certificates and keys.
    let ca = root("example.org");
    let (server_cert, server_key) = issue(
        leaf_params("spiffe://example.org/server", &["server.test"]),
        &ca,
    );
    let (client_cert, client_key) = issue(
        leaf_params("spiffe://example.org/client", &["client.test"]),
        &ca,
    );
    let provider = default_provider();

    // Plain rustls: fixed certificates, static root store, WebPKI verifiers, no resumption.
    let mut roots = RootCertStore::empty();
    roots.add(ca.der.clone().into()).unwrap();
    let roots = Arc::new(roots);
    let (chain, key) = rustls_pair(&server_cert, &server_key);
    let client_verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::clone(&roots), Arc::clone(&provider))
            .build()
            .unwrap();
    let mut plain_server = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(chain, key)
        .unwrap();
    plain_server.session_storage = Arc::new(NoServerSessionStorage {});
    plain_server.send_tls13_tickets = 0;
    let (chain, key) = rustls_pair(&client_cert, &client_key);
    let mut plain_client = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(Arc::clone(&roots))
        .with_client_auth_cert(chain, key)
        .unwrap();
    plain_client.resumption = Resumption::disabled();
    let (plain_client, plain_server) = (Arc::new(plain_client), Arc::new(plain_server));

    // spiffe-tls over the same certificates and keys.
    let set = bundles(&[("example.org", &ca)]);
    let server_svid = X509Svid::from_der(&server_cert, &server_key).unwrap();
    let client_svid = X509Svid::from_der(&client_cert, &client_key).unwrap();
    let client_id = SpiffeId::parse("spiffe://example.org/client").unwrap();
    let server_id = SpiffeId::parse("spiffe://example.org/server").unwrap();
    let spiffe_server = ServerConfigBuilder::mtls(
        StaticSource::new(server_svid, set.clone()),
        Authorizer::exact(client_id),
    )
    .provider(Arc::clone(&provider))
    .build()
    .unwrap();
    let spiffe_client = ClientConfigBuilder::mtls(
        StaticSource::new(client_svid, set),
        Authorizer::exact(server_id),
    )
    .provider(provider)
    .build()
    .unwrap();
    let (spiffe_client, spiffe_server) = (Arc::new(spiffe_client), Arc::new(spiffe_server));

    let mut group = c.benchmark_group("mtls_handshake");
    group.bench_function("plain_rustls", |b| {
        b.iter(|| handshake(&plain_client, &plain_server).unwrap());
    });
    group.bench_function("spiffe_tls", |b| {
        b.iter(|| handshake(&spiffe_client, &spiffe_server).unwrap());
    });
    group.finish();
}

criterion_group!(benches, bench_handshake);
criterion_main!(benches);
