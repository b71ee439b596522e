//! Real handshakes (in memory) with static material: both modes, authorisation, and the
//! peer certificates SPIFFE verification must refuse (scenarios T1 and T2).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::sync::Arc;

use common::{Ca, Side, bundles, handshake, issue, leaf_params, root, rustls_pair, svid};
use rcgen::{BasicConstraints, IsCa, KeyUsagePurpose};
use rustls::{ClientConfig, ServerConfig};
use spiffe_id::{SpiffeId, TrustDomain};
use spiffe_svid::{ProfileError, X509VerifyError};
use spiffe_tls::{
    Authorizer, ClientConfigBuilder, PeerError, ServerConfigBuilder, StaticSource, default_provider,
};

const SERVER: &str = "spiffe://a/server";
const CLIENT: &str = "spiffe://a/client";

fn id(s: &str) -> SpiffeId {
    SpiffeId::parse(s).unwrap()
}

fn source(uri: &str, ca: &Ca) -> StaticSource {
    StaticSource::new(svid(uri, ca), bundles(&[("a", ca)]))
}

fn mtls_server(ca: &Ca, clients: Authorizer) -> Arc<ServerConfig> {
    Arc::new(
        ServerConfigBuilder::mtls(source(SERVER, ca), clients)
            .build()
            .unwrap(),
    )
}

fn mtls_client(ca: &Ca, servers: Authorizer) -> Arc<ClientConfig> {
    Arc::new(
        ClientConfigBuilder::mtls(source(CLIENT, ca), servers)
            .build()
            .unwrap(),
    )
}

/// A rustls server that presents `cert` without any SPIFFE checks of its own.
fn plain_server(cert: &[u8], key: &[u8]) -> Arc<ServerConfig> {
    let (chain, key) = rustls_pair(cert, key);
    let config = ServerConfig::builder_with_provider(default_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    Arc::new(config)
}

/// A rustls client that presents `cert` and trusts any server (the server is under test).
fn plain_client(cert: &[u8], key: &[u8], server_ca: &Ca) -> Arc<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server_ca.der.clone().into()).unwrap();
    let (chain, key) = rustls_pair(cert, key);
    let config = ClientConfig::builder_with_provider(default_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    Arc::new(config)
}

fn peer_error(side: Side, result: Result<common::Connected, (Side, rustls::Error)>) -> String {
    let (failed, error) = result.err().expect("the handshake should fail");
    assert_eq!(failed, side, "{error}");
    let peer = PeerError::from_rustls(&error).unwrap_or_else(|| panic!("not a PeerError: {error}"));
    peer.to_string()
}

#[test]
fn mutual_tls_presents_both_svids_and_reports_peer_ids() {
    let ca = root("a");
    let client = mtls_client(&ca, Authorizer::exact(id(SERVER)));
    let server = mtls_server(&ca, Authorizer::exact(id(CLIENT)));

    let connected = handshake(&client, &server).unwrap();
    assert_eq!(spiffe_tls::peer_id(&connected.client), Some(id(SERVER)));
    assert_eq!(spiffe_tls::peer_id(&connected.server), Some(id(CLIENT)));
}

#[test]
fn server_only_tls_checks_the_server_id_and_sends_no_client_certificate() {
    let ca = root("a");
    let server = ServerConfigBuilder::tls(source(SERVER, &ca))
        .build()
        .unwrap();
    let server = Arc::new(server);
    let verifying = StaticSource::bundles_only(bundles(&[("a", &ca)]));

    let client = ClientConfigBuilder::tls(verifying.clone(), Authorizer::exact(id(SERVER)));
    let connected = handshake(&Arc::new(client.build().unwrap()), &server).unwrap();
    assert_eq!(spiffe_tls::peer_id(&connected.client), Some(id(SERVER)));
    assert!(connected.server.peer_certificates().is_none());

    let wrong = ClientConfigBuilder::tls(verifying, Authorizer::exact(id(CLIENT)));
    let message = peer_error(
        Side::Client,
        handshake(&Arc::new(wrong.build().unwrap()), &server),
    );
    assert_eq!(message, format!("SPIFFE ID {SERVER} is not authorised"));
}

#[test]
fn a_verified_client_that_the_authorizer_refuses_is_refused() {
    let ca = root("a");
    let client = mtls_client(&ca, Authorizer::any());
    let only_b = Authorizer::member_of(TrustDomain::new("b").unwrap());
    let server = mtls_server(&ca, only_b.or(!Authorizer::exact(id(CLIENT))));

    let message = peer_error(Side::Server, handshake(&client, &server));
    assert_eq!(message, format!("SPIFFE ID {CLIENT} is not authorised"));
}

#[test]
fn predicates_and_combinators_decide_per_handshake() {
    let ca = root("a");
    let client = mtls_client(&ca, Authorizer::any());
    let clients = Authorizer::predicate(|id| id.path().starts_with("/cli"))
        .and(Authorizer::one_of([id(CLIENT), id("spiffe://a/other")]))
        .and(Authorizer::path_prefix(id("spiffe://a")));
    handshake(&client, &mtls_server(&ca, clients)).unwrap();
}

/// T1: a peer whose leaf is a CA, or has keyCertSign or cRLSign, or lacks
/// digitalSignature, is refused even though it carries a SPIFFE URI and chains to our CA;
/// the same leaves as servers are refused by our client.
#[test]
fn peer_leaves_with_ca_powers_or_without_digital_signature_are_refused() {
    let ca = root("a");
    let server = mtls_server(&ca, Authorizer::any());
    let client = mtls_client(&ca, Authorizer::any());

    let mut is_ca = leaf_params("spiffe://a/peer", &["server.test"]);
    is_ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    is_ca.key_usages.push(KeyUsagePurpose::KeyCertSign);
    let mut cert_sign = leaf_params("spiffe://a/peer", &["server.test"]);
    cert_sign.key_usages.push(KeyUsagePurpose::KeyCertSign);
    let mut crl_sign = leaf_params("spiffe://a/peer", &["server.test"]);
    crl_sign.key_usages.push(KeyUsagePurpose::CrlSign);
    let mut no_signature = leaf_params("spiffe://a/peer", &["server.test"]);
    no_signature.key_usages = vec![KeyUsagePurpose::KeyEncipherment];

    let cases = [
        (is_ca, ProfileError::LeafIsCa),
        (cert_sign, ProfileError::LeafHasKeyCertSign),
        (crl_sign, ProfileError::LeafHasCrlSign),
        (no_signature, ProfileError::LeafLacksDigitalSignature),
    ];
    for (params, expected) in cases {
        let (cert, key) = issue(params, &ca);

        let (side, error) = handshake(&plain_client(&cert, &key, &ca), &server)
            .err()
            .unwrap();
        assert_eq!(side, Side::Server, "{error}");
        match PeerError::from_rustls(&error) {
            Some(PeerError::Verify(X509VerifyError::Profile(found))) => {
                assert_eq!(found, &expected)
            }
            other => panic!("{expected:?}: got {other:?}"),
        }

        let (side, error) = handshake(&client, &plain_server(&cert, &key))
            .err()
            .unwrap();
        assert_eq!(side, Side::Client, "{error}");
        match PeerError::from_rustls(&error) {
            Some(PeerError::Verify(X509VerifyError::Profile(found))) => {
                assert_eq!(found, &expected)
            }
            other => panic!("{expected:?}: got {other:?}"),
        }
    }
}

/// T2: a peer in trust domain b, signed by our own CA, is refused because b has no bundle;
/// our CA's authority is never borrowed for another trust domain.
#[test]
fn a_peer_of_a_trust_domain_without_bundle_is_refused_even_when_signed_by_our_ca() {
    let ca = root("a");
    let server = mtls_server(&ca, Authorizer::any());
    let client = mtls_client(&ca, Authorizer::any());
    let (cert, key) = issue(leaf_params("spiffe://b/peer", &["server.test"]), &ca);

    let message = peer_error(
        Side::Server,
        handshake(&plain_client(&cert, &key, &ca), &server),
    );
    assert_eq!(message, "no bundle for trust domain b");

    let message = peer_error(Side::Client, handshake(&client, &plain_server(&cert, &key)));
    assert_eq!(message, "no bundle for trust domain b");
}

#[test]
fn a_peer_signed_by_another_trust_domains_ca_is_refused() {
    let ours = root("a");
    let theirs = root("b");
    // We hold both bundles; the peer claims a but is signed by b's CA.
    let server = ServerConfigBuilder::mtls(
        StaticSource::new(
            svid(SERVER, &ours),
            bundles(&[("a", &ours), ("b", &theirs)]),
        ),
        Authorizer::any(),
    )
    .build()
    .unwrap();
    let (cert, key) = issue(leaf_params("spiffe://a/peer", &[]), &theirs);

    let message = peer_error(
        Side::Server,
        handshake(&plain_client(&cert, &key, &ours), &Arc::new(server)),
    );
    assert_eq!(
        message,
        "peer chain does not verify against the bundle of a"
    );
}

#[test]
fn a_federated_peer_verifies_against_its_own_trust_domains_bundle() {
    let ours = root("a");
    let theirs = root("b");
    let server = ServerConfigBuilder::mtls(
        StaticSource::new(
            svid(SERVER, &ours),
            bundles(&[("a", &ours), ("b", &theirs)]),
        ),
        Authorizer::member_of(TrustDomain::new("b").unwrap()),
    )
    .build()
    .unwrap();
    let client = ClientConfigBuilder::mtls(
        StaticSource::new(svid("spiffe://b/client", &theirs), bundles(&[("a", &ours)])),
        Authorizer::exact(id(SERVER)),
    )
    .build()
    .unwrap();

    let connected = handshake(&Arc::new(client), &Arc::new(server)).unwrap();
    assert_eq!(
        spiffe_tls::peer_id(&connected.server),
        Some(id("spiffe://b/client"))
    );
}

#[test]
fn a_provider_passed_explicitly_is_used() {
    let ca = root("a");
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.cipher_suites =
        vec![rustls::crypto::aws_lc_rs::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256];
    let provider = Arc::new(provider);
    let client = ClientConfigBuilder::mtls(source(CLIENT, &ca), Authorizer::any())
        .provider(Arc::clone(&provider))
        .build()
        .unwrap();
    assert!(Arc::ptr_eq(client.crypto_provider(), &provider));

    let connected = handshake(&Arc::new(client), &mtls_server(&ca, Authorizer::any())).unwrap();
    let suite = connected.client.negotiated_cipher_suite().unwrap().suite();
    assert_eq!(suite, rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256);
}

#[test]
fn resumption_is_off_by_default() {
    let ca = root("a");
    let client = mtls_client(&ca, Authorizer::any());
    let server = mtls_server(&ca, Authorizer::any());
    for _ in 0..3 {
        let connected = handshake(&client, &server).unwrap();
        assert_eq!(
            connected.client.handshake_kind(),
            Some(rustls::HandshakeKind::Full)
        );
    }
}
