//! Reading X.509-SVIDs made with rcgen: profile scenarios P2, P3, P4 and the key rules.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::time::{Duration, UNIX_EPOCH};

use common::{Ca, intermediate, intermediate_with, leaf, leaf_params, leaf_with, root};
use rcgen::{KeyPair, KeyUsagePurpose, SanType, SerialNumber, date_time_ymd};
use spiffe_svid::{MAX_CHAIN_LEN, ProfileError, X509Svid, X509SvidError};

fn profile_error(result: Result<X509Svid, X509SvidError>) -> ProfileError {
    match result {
        Err(X509SvidError::Profile(err)) => err,
        other => panic!("expected a profile error, got {other:?}"),
    }
}

fn read(params: rcgen::CertificateParams, ca: &Ca) -> Result<X509Svid, X509SvidError> {
    let (cert, key) = leaf_with(params, ca);
    X509Svid::from_der(&cert, &key)
}

#[test]
fn leaf_with_two_spiffe_uri_sans_is_rejected() {
    let ca = root("ca");
    let mut params = leaf_params("spiffe://example.org/a");
    params
        .subject_alt_names
        .push(SanType::URI("spiffe://example.org/b".try_into().unwrap()));

    let err = profile_error(read(params, &ca));
    assert_eq!(err, ProfileError::MultipleUriSans { count: 2 });
}

#[test]
fn leaf_with_a_spiffe_and_an_https_uri_san_is_rejected() {
    let ca = root("ca");
    let mut params = leaf_params("spiffe://example.org/a");
    params
        .subject_alt_names
        .push(SanType::URI("https://example.org/".try_into().unwrap()));

    let err = profile_error(read(params, &ca));
    assert_eq!(err, ProfileError::MultipleUriSans { count: 2 });
}

#[test]
fn leaf_with_one_spiffe_uri_san_and_dns_sans_is_accepted() {
    let ca = root("ca");
    let mut params = leaf_params("spiffe://example.org/a");
    params
        .subject_alt_names
        .push(SanType::DnsName("a.example.org".try_into().unwrap()));
    params
        .subject_alt_names
        .push(SanType::DnsName("b.example.org".try_into().unwrap()));

    let svid = read(params, &ca).unwrap();
    assert_eq!(svid.spiffe_id().as_str(), "spiffe://example.org/a");
}

#[test]
fn leaf_whose_uri_san_is_a_trust_domain_id_is_rejected() {
    let ca = root("ca");
    let err = profile_error(read(leaf_params("spiffe://example.org"), &ca));
    assert!(matches!(err, ProfileError::TrustDomainId { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "leaf SPIFFE ID spiffe://example.org has no path"
    );
}

#[test]
fn leaf_whose_uri_san_is_not_a_spiffe_id_is_rejected() {
    let ca = root("ca");
    let err = profile_error(read(leaf_params("https://example.org/a"), &ca));
    assert!(
        matches!(err, ProfileError::InvalidSpiffeId { .. }),
        "{err:?}"
    );
}

#[test]
fn leaf_without_basic_constraints_or_key_cert_sign_is_accepted() {
    // rcgen's default `IsCa::NoCa` writes no basicConstraints extension.
    let ca = root("ca");
    let (cert, key) = leaf("spiffe://example.org/a", &ca);
    assert!(
        lacks_basic_constraints(&cert),
        "the test leaf must lack basicConstraints"
    );

    assert!(X509Svid::from_der(&cert, &key).is_ok());
}

/// Whether the basicConstraints OID (2.5.29.19) is absent from the certificate bytes.
fn lacks_basic_constraints(der: &[u8]) -> bool {
    !der.windows(5).any(|w| w == [0x06, 0x03, 0x55, 0x1d, 0x13])
}

#[test]
fn leaf_with_crl_sign_is_rejected() {
    let ca = root("ca");
    let mut params = leaf_params("spiffe://example.org/a");
    params.key_usages.push(KeyUsagePurpose::CrlSign);
    assert_eq!(
        profile_error(read(params, &ca)),
        ProfileError::LeafHasCrlSign
    );
}

#[test]
fn leaf_without_key_usage_lacks_digital_signature() {
    let ca = root("ca");
    let mut params = leaf_params("spiffe://example.org/a");
    params.key_usages.clear();
    assert_eq!(
        profile_error(read(params, &ca)),
        ProfileError::LeafLacksDigitalSignature
    );
}

#[test]
fn intermediate_without_key_cert_sign_is_rejected() {
    let root = root("root");
    let mut params = common::ca_params("intermediate");
    params.key_usages = vec![KeyUsagePurpose::CrlSign];
    let mid = intermediate_with(params, &root);
    let (cert, key) = leaf("spiffe://example.org/a", &mid);

    let chain = [cert, mid.der().to_vec()].concat();
    let err = profile_error(X509Svid::from_der(&chain, &key));
    assert_eq!(err, ProfileError::SigningCertLacksKeyCertSign { index: 2 });
}

#[test]
fn chain_of_leaf_and_two_intermediates_reads_in_order() {
    let root = root("root");
    let mid1 = intermediate("mid1", &root);
    let mid2 = intermediate("mid2", &mid1);
    let (cert, key) = leaf("spiffe://example.org/a", &mid2);

    let chain = [cert.clone(), mid2.der().to_vec(), mid1.der().to_vec()].concat();
    let svid = X509Svid::from_der(&chain, &key).unwrap();
    assert_eq!(svid.chain().len(), 3);
    assert_eq!(svid.leaf().as_ref(), &cert[..]);
}

#[test]
fn chain_longer_than_the_limit_is_rejected_before_parsing() {
    let chain = [0x30, 0x00].repeat(MAX_CHAIN_LEN + 1);
    let err = X509Svid::from_der(&chain, &[]).unwrap_err();
    assert!(
        matches!(
            err,
            X509SvidError::TooManyCertificates { max: MAX_CHAIN_LEN }
        ),
        "{err:?}"
    );
}

#[test]
fn empty_chain_is_rejected() {
    let err = X509Svid::from_der(&[], &[]).unwrap_err();
    assert!(matches!(err, X509SvidError::EmptyChain), "{err:?}");
}

#[test]
fn key_of_another_leaf_is_a_mismatch() {
    let ca = root("ca");
    let (cert, _) = leaf("spiffe://example.org/a", &ca);
    let (_, other_key) = leaf("spiffe://example.org/a", &ca);

    let err = X509Svid::from_der(&cert, &other_key).unwrap_err();
    assert!(matches!(err, X509SvidError::KeyMismatch), "{err:?}");
}

#[test]
fn corrupt_key_is_an_invalid_private_key() {
    let ca = root("ca");
    let (cert, mut key) = leaf("spiffe://example.org/a", &ca);
    key.truncate(key.len() / 2);

    let err = X509Svid::from_der(&cert, &key).unwrap_err();
    assert!(
        matches!(err, X509SvidError::InvalidPrivateKey { .. }),
        "{err:?}"
    );
}

#[test]
fn key_block_before_certificate_block_in_one_file_reads() {
    let ca = root("ca");
    let key = KeyPair::generate().unwrap();
    let cert = leaf_params("spiffe://example.org/a")
        .signed_by(&key, &ca.issuer)
        .unwrap();
    let file = format!("{}{}", key.serialize_pem(), cert.pem());

    let svid = X509Svid::from_pem(file.as_bytes(), file.as_bytes()).unwrap();
    assert_eq!(svid.spiffe_id().as_str(), "spiffe://example.org/a");
}

#[test]
fn pkcs1_or_sec1_key_pem_is_refused_as_not_pkcs8() {
    let ca = root("ca");
    let key = KeyPair::generate().unwrap();
    let cert = leaf_params("spiffe://example.org/a")
        .signed_by(&key, &ca.issuer)
        .unwrap();
    let sec1 = "-----BEGIN EC PRIVATE KEY-----\nMAA=\n-----END EC PRIVATE KEY-----\n";

    let err = X509Svid::from_pem(cert.pem().as_bytes(), sec1.as_bytes()).unwrap_err();
    assert!(matches!(err, X509SvidError::KeyNotPkcs8), "{err:?}");
}

#[test]
fn two_private_keys_in_the_key_input_are_ambiguous() {
    let ca = root("ca");
    let key = KeyPair::generate().unwrap();
    let cert = leaf_params("spiffe://example.org/a")
        .signed_by(&key, &ca.issuer)
        .unwrap();
    let keys = format!("{}{}", key.serialize_pem(), key.serialize_pem());

    let err = X509Svid::from_pem(cert.pem().as_bytes(), keys.as_bytes()).unwrap_err();
    assert!(matches!(err, X509SvidError::MultiplePrivateKeys), "{err:?}");
}

#[test]
fn accessors_report_serial_not_after_and_hint() {
    let ca = root("ca");
    let mut params = leaf_params("spiffe://example.org/a");
    params.serial_number = Some(SerialNumber::from_slice(&[0x00, 0xab, 0x01]));
    params.not_after = date_time_ymd(2040, 1, 2);
    let svid = read(params, &ca).unwrap().with_hint("internal");

    assert_eq!(svid.serial_hex(), "ab01");
    assert_eq!(svid.hint(), Some("internal"));
    let expected = UNIX_EPOCH + Duration::from_secs(2_209_075_200);
    assert_eq!(svid.not_after(), expected);
}

#[test]
fn signing_key_matches_the_leaf_key_algorithm() {
    let ca = root("ca");
    let (cert, key) = leaf("spiffe://example.org/a", &ca);
    let svid = X509Svid::from_der(&cert, &key).unwrap();

    assert_eq!(
        svid.signing_key().algorithm(),
        rustls::SignatureAlgorithm::ECDSA
    );
    assert_eq!(svid.private_key().secret_der(), &key[..]);
}

#[test]
fn debug_never_prints_the_private_key() {
    let ca = root("ca");
    let (cert, key) = leaf("spiffe://example.org/a", &ca);
    let svid = X509Svid::from_der(&cert, &key).unwrap();
    let debug = format!("{svid:?}");

    assert!(
        debug.contains("spiffe://example.org/a") && debug.contains("redacted"),
        "{debug}"
    );
    let key_hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!debug.contains(&key_hex[..16]));
    assert!(!debug.contains(&format!("{:?}", &key[..8])));
}

#[test]
fn clone_keeps_identity_and_key() {
    let ca = root("ca");
    let (cert, key) = leaf("spiffe://example.org/a", &ca);
    let svid = X509Svid::from_der(&cert, &key).unwrap().with_hint("h");
    let copy = svid.clone();
    drop(svid);

    assert_eq!(copy.spiffe_id().as_str(), "spiffe://example.org/a");
    assert_eq!(copy.private_key().secret_der(), &key[..]);
    assert_eq!(copy.hint(), Some("h"));
}
