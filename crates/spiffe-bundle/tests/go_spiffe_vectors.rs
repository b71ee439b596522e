//! The go-spiffe x509bundle vectors (see `data/go-spiffe/README.md`) with their expected
//! outcomes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use spiffe_bundle::{BundleError, X509Bundle};
use spiffe_id::TrustDomain;

fn read(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/data/go-spiffe/x509bundle/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|err| panic!("cannot read {path}: {err}"))
}

fn from_pem(name: &str) -> Result<X509Bundle, BundleError> {
    X509Bundle::from_pem(TrustDomain::new("example.org").unwrap(), &read(name))
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
