//! The go-spiffe x509bundle, jwtbundle and spiffebundle vectors (see
//! `data/go-spiffe/README.md`) with their expected outcomes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::time::Duration;

use spiffe_bundle::{BundleError, EcCurve, JwtBundle, SpiffeBundle, X509Bundle};
use spiffe_id::TrustDomain;

fn read_in(folder: &str, name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/data/go-spiffe/{folder}/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|err| panic!("cannot read {path}: {err}"))
}

fn read(name: &str) -> Vec<u8> {
    read_in("x509bundle", name)
}

fn td() -> TrustDomain {
    TrustDomain::new("example.org").unwrap()
}

fn from_pem(name: &str) -> Result<X509Bundle, BundleError> {
    X509Bundle::from_pem(td(), &read(name))
}

fn from_jwks(name: &str) -> Result<JwtBundle, BundleError> {
    JwtBundle::from_jwks(td(), &read_in("jwtbundle", name))
}

fn spiffe(name: &str) -> Result<SpiffeBundle, BundleError> {
    SpiffeBundle::parse(td(), &read_in("spiffebundle", name))
}

#[test]
fn cert_pem_gives_one_authority() {
    let bundle = from_pem("cert.pem").unwrap();
    assert_eq!(bundle.authorities().len(), 1);
    assert_eq!(bundle.trust_domain().as_str(), "example.org");
}

#[test]
fn certs_pem_gives_two_authorities_in_file_order() {
    let bundle = from_pem("certs.pem").unwrap();
    let single = from_pem("cert.pem").unwrap();
    assert_eq!(bundle.authorities().len(), 2);
    assert_eq!(bundle.authorities()[0], single.authorities()[0]);
}

#[test]
fn corrupted_pem_is_a_certificate_that_cannot_be_parsed() {
    let err = from_pem("corrupted.pem").unwrap_err();
    assert!(
        matches!(err, BundleError::InvalidCertificate { index: 1, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "certificate 1 of the bundle cannot be parsed"
    );
}

#[test]
fn empty_pem_is_an_empty_bundle() {
    let bundle = from_pem("empty.pem").unwrap();
    assert!(bundle.is_empty());
}

#[test]
fn not_pem_is_refused_with_no_pem_blocks() {
    let err = from_pem("not-pem.pem").unwrap_err();
    assert!(matches!(err, BundleError::NoPemBlocks), "{err:?}");
    assert!(err.to_string().contains("no PEM blocks"));
}

#[test]
fn certs_pem_survives_a_der_and_pem_round_trip() {
    let bundle = from_pem("certs.pem").unwrap();
    let td = bundle.trust_domain().clone();

    let from_der = X509Bundle::from_der(td.clone(), &bundle.to_der()).unwrap();
    let from_pem = X509Bundle::from_pem(td, bundle.to_pem().as_bytes()).unwrap();
    assert_eq!(from_der, bundle);
    assert_eq!(from_pem, bundle);
}

#[test]
fn jwks_valid_1_gives_one_p256_key() {
    let bundle = from_jwks("jwks_valid_1.json").unwrap();
    assert_eq!(bundle.len(), 1);
    let authority = bundle
        .authority("C6vs25welZOx6WksNYfbMfiw9l96pMnD")
        .unwrap();
    assert_eq!(authority.public_key().curve(), Some(EcCurve::P256));
    assert_eq!(authority.public_key().ec_point().unwrap().len(), 65);
}

#[test]
fn jwks_valid_2_gives_two_keys() {
    let bundle = from_jwks("jwks_valid_2.json").unwrap();
    let kids: Vec<&str> = bundle.authorities().map(|a| a.key_id()).collect();
    assert_eq!(
        kids,
        [
            "C6vs25welZOx6WksNYfbMfiw9l96pMnD",
            "gHTCunJbefYtnZnTctd84xeRWyMrEsWD"
        ]
    );
}

#[test]
fn jwks_missing_kid_names_the_second_key() {
    let err = from_jwks("jwks_missing_kid.json").unwrap_err();
    assert!(
        matches!(err, BundleError::MissingKeyId { index: 2 }),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "key 2 has no `kid`");
}

#[test]
fn jwks_vectors_survive_a_round_trip() {
    for name in ["jwks_valid_1.json", "jwks_valid_2.json"] {
        let bundle = from_jwks(name).unwrap();
        let again = JwtBundle::from_jwks(td(), bundle.to_jwks().as_bytes()).unwrap();
        assert_eq!(again, bundle, "{name}");
    }
}

#[test]
fn spiffebundle_valid_1_gives_one_of_each_and_no_hints() {
    let bundle = spiffe("spiffebundle_valid_1.json").unwrap();
    assert_eq!(bundle.x509_bundle().authorities().len(), 1);
    assert_eq!(bundle.jwt_bundle().len(), 1);
    assert!(
        bundle
            .jwt_bundle()
            .authority("C6vs25welZOx6WksNYfbMfiw9l96pMnD")
            .is_some()
    );
    assert_eq!(bundle.refresh_hint(), None);
    assert_eq!(bundle.sequence(), None);
}

#[test]
fn spiffebundle_valid_2_gives_six_jwt_keys_hint_and_sequence() {
    let bundle = spiffe("spiffebundle_valid_2.json").unwrap();
    assert_eq!(bundle.x509_bundle().authorities().len(), 1);
    assert_eq!(bundle.jwt_bundle().len(), 6);
    assert_eq!(bundle.refresh_hint(), Some(Duration::from_secs(60)));
    assert_eq!(bundle.sequence(), Some(1));
}

#[test]
fn spiffebundle_valid_with_wit_ignores_the_wit_keys() {
    let bundle = spiffe("spiffebundle_valid_with_wit.json").unwrap();
    assert_eq!(bundle.x509_bundle().authorities().len(), 1);
    let kids: Vec<&str> = bundle
        .jwt_bundle()
        .authorities()
        .map(|a| a.key_id())
        .collect();
    assert_eq!(
        kids,
        [
            "IRsID4VIM3T11TsK43Ny1DgCD5UNWhva",
            "qjwWkiMpkHzIxsSrAsLxSZ2WZ8AyMESx"
        ]
    );
    // The WIT keys' IDs do not leak into the JWT bundle.
    assert!(
        bundle
            .jwt_bundle()
            .authority("uNhqAaPI7NDn7IHOsa2ac1BF4O5qGxjZ")
            .is_none()
    );
}

#[test]
fn spiffebundle_missing_kid_names_the_jwt_key() {
    let err = spiffe("spiffebundle_missing_kid.json").unwrap_err();
    assert!(
        matches!(err, BundleError::MissingKeyId { index: 2 }),
        "{err:?}"
    );
}

#[test]
fn spiffebundle_no_keys_is_an_error() {
    let err = spiffe("spiffebundle_no_keys.json").unwrap_err();
    assert!(matches!(err, BundleError::MissingKeys), "{err:?}");
    assert_eq!(err.to_string(), "bundle document has no `keys` member");
}

#[test]
fn spiffebundle_vectors_survive_a_round_trip() {
    for name in [
        "spiffebundle_valid_1.json",
        "spiffebundle_valid_2.json",
        "spiffebundle_valid_with_wit.json",
    ] {
        let bundle = spiffe(name).unwrap();
        let again = SpiffeBundle::parse(td(), bundle.to_json().as_bytes()).unwrap();
        assert_eq!(again, bundle, "{name}");
    }
}

#[test]
fn the_x509_authority_of_a_spiffe_bundle_is_the_x5c_certificate() {
    let bundle = spiffe("spiffebundle_valid_1.json").unwrap();
    let cert = &bundle.x509_bundle().authorities()[0];
    // A certificate of 464 bytes (the DER behind the vector's x5c entry), P-384 key.
    assert_eq!(cert.len(), 464);
    assert_eq!(&cert[..2], &[0x30, 0x82]);

    // Written back, the key carries the certificate's P-384 point as in the original.
    let json: serde_json::Value = serde_json::from_str(&bundle.to_json()).unwrap();
    let key = &json["keys"][0];
    assert_eq!(key["use"], "x509-svid");
    assert_eq!(key["kty"], "EC");
    assert_eq!(key["crv"], "P-384");
    assert_eq!(
        key["x"],
        "WjB-nSGSxIYiznb84xu5WGDZj80nL7W1c3zf48Why0ma7Y7mCBKzfQkrgDguI4j0"
    );
}
