//! The go-spiffe x509svid vectors (see `data/go-spiffe/README.md`) with their expected
//! outcomes. The certificates are expired, so they are read, not verified.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use spiffe_svid::{PemInput, ProfileError, X509Svid, X509SvidError};

fn read(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/data/go-spiffe/x509svid/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|err| panic!("cannot read {path}: {err}"))
}

fn load(certs: &str, key: &str) -> Result<X509Svid, X509SvidError> {
    X509Svid::from_pem(&read(certs), &read(key))
}

fn profile_error(certs: &str) -> ProfileError {
    match load(certs, "key-pkcs8-rsa.pem") {
        Err(X509SvidError::Profile(err)) => err,
        other => panic!("{certs}: expected a profile error, got {other:?}"),
    }
}

#[test]
fn good_leaf_only_reads_with_its_rsa_key() {
    let svid = load("good-leaf-only.pem", "key-pkcs8-rsa.pem").unwrap();
    assert_eq!(svid.spiffe_id().as_str(), "spiffe://example.org/workload-1");
    assert_eq!(svid.chain().len(), 1);
}

#[test]
fn good_leaf_and_intermediate_reads_with_its_p256_key() {
    let svid = load("good-leaf-and-intermediate.pem", "key-pkcs8-ecdsa.pem").unwrap();
    assert_eq!(svid.chain().len(), 2);
    assert_eq!(svid.leaf(), &svid.chain()[0]);
}

#[test]
fn good_cert_and_key_reads_both_from_one_file() {
    let svid = load("good-cert-and-key.pem", "good-cert-and-key.pem").unwrap();
    assert_eq!(svid.chain().len(), 1);
}

#[test]
fn a_key_that_belongs_to_another_certificate_is_a_mismatch() {
    let err = load("good-leaf-only.pem", "key-pkcs8-ecdsa.pem").unwrap_err();
    assert!(matches!(err, X509SvidError::KeyMismatch), "{err:?}");
}

#[test]
fn wrong_leaf_ca_true_is_refused_as_a_ca() {
    assert_eq!(
        profile_error("wrong-leaf-ca-true.pem"),
        ProfileError::LeafIsCa
    );
}

#[test]
fn wrong_leaf_cert_sign_is_refused_for_key_cert_sign() {
    assert_eq!(
        profile_error("wrong-leaf-cert-sign.pem"),
        ProfileError::LeafHasKeyCertSign
    );
}

#[test]
fn wrong_leaf_no_digital_signature_is_refused() {
    assert_eq!(
        profile_error("wrong-leaf-no-digital-signature.pem"),
        ProfileError::LeafLacksDigitalSignature
    );
}

#[test]
fn wrong_leaf_empty_id_is_refused_for_missing_uri_san() {
    assert_eq!(
        profile_error("wrong-leaf-empty-id.pem"),
        ProfileError::NoUriSan
    );
}

#[test]
fn wrong_intermediate_no_ca_is_refused_as_a_signing_cert_that_is_not_a_ca() {
    assert_eq!(
        profile_error("wrong-intermediate-no-ca.pem"),
        ProfileError::SigningCertNotCa { index: 2 }
    );
}

#[test]
fn corrupt_cert_is_a_malformed_certificate() {
    let err = load("corrupt-cert.pem", "key-pkcs8-rsa.pem").unwrap_err();
    assert!(
        matches!(err, X509SvidError::InvalidCertificate { index: 1, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "certificate 1 of the chain cannot be parsed"
    );
}

#[test]
fn not_pem_is_refused_with_no_pem_blocks() {
    let err = load("not-pem", "key-pkcs8-rsa.pem").unwrap_err();
    assert!(
        matches!(
            err,
            X509SvidError::NoPemBlocks {
                input: PemInput::Certificates
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "no PEM blocks in the certificate input");
}
