//! Verifying peer chains: scenarios T1 and T2, trust domain binding and the injected clock.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::time::{Duration, SystemTime};

use common::{intermediate, intermediate_with, leaf, leaf_params, leaf_with, root};
use rcgen::{BasicConstraints, IsCa, KeyUsagePurpose, date_time_ymd};
use rustls_pki_types::CertificateDer;
use spiffe_bundle::{X509Bundle, X509BundleSet};
use spiffe_id::TrustDomain;
use spiffe_svid::{ProfileError, X509VerifyError, verify_x509_svid_chain};

fn bundle(td: &str, cas: &[&[u8]]) -> X509Bundle {
    X509Bundle::from_der(TrustDomain::new(td).unwrap(), &cas.concat()).unwrap()
}

fn chain(certs: &[&[u8]]) -> Vec<CertificateDer<'static>> {
    certs
        .iter()
        .map(|der| CertificateDer::from(der.to_vec()))
        .collect()
}

fn profile_error(result: Result<spiffe_svid::VerifiedX509Svid, X509VerifyError>) -> ProfileError {
    match result {
        Err(X509VerifyError::Profile(err)) => err,
        other => panic!("expected a profile error, got {other:?}"),
    }
}

#[test]
fn peer_signed_by_the_bundle_of_its_trust_domain_is_accepted() {
    let ca = root("ca");
    let (cert, _) = leaf("spiffe://example.org/web", &ca);

    let verified = verify_x509_svid_chain(
        &chain(&[&cert]),
        &bundle("example.org", &[ca.der()]),
        SystemTime::now(),
    )
    .unwrap();
    assert_eq!(verified.spiffe_id().as_str(), "spiffe://example.org/web");
    assert_eq!(verified.path().len(), 1);
}

#[test]
fn peer_chain_with_intermediates_returns_the_path_used() {
    let root = root("root");
    let mid1 = intermediate("mid1", &root);
    let mid2 = intermediate("mid2", &mid1);
    let (cert, _) = leaf("spiffe://example.org/web", &mid2);
    let peer = chain(&[&cert, mid2.der(), mid1.der()]);

    let verified = verify_x509_svid_chain(
        &peer,
        &bundle("example.org", &[root.der()]),
        SystemTime::now(),
    )
    .unwrap();
    assert_eq!(verified.path(), &peer[..]);
}

#[test]
fn peer_leaf_that_is_a_ca_is_rejected() {
    let ca = root("ca");
    let mut params = leaf_params("spiffe://example.org/web");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let (cert, _) = leaf_with(params, &ca);

    let result = verify_x509_svid_chain(
        &chain(&[&cert]),
        &bundle("example.org", &[ca.der()]),
        SystemTime::now(),
    );
    assert_eq!(profile_error(result), ProfileError::LeafIsCa);
}

#[test]
fn peer_leaf_with_key_cert_sign_is_rejected() {
    let ca = root("ca");
    let mut params = leaf_params("spiffe://example.org/web");
    params.key_usages.push(KeyUsagePurpose::KeyCertSign);
    let (cert, _) = leaf_with(params, &ca);

    let result = verify_x509_svid_chain(
        &chain(&[&cert]),
        &bundle("example.org", &[ca.der()]),
        SystemTime::now(),
    );
    assert_eq!(profile_error(result), ProfileError::LeafHasKeyCertSign);
}

#[test]
fn peer_leaf_with_crl_sign_is_rejected() {
    let ca = root("ca");
    let mut params = leaf_params("spiffe://example.org/web");
    params.key_usages.push(KeyUsagePurpose::CrlSign);
    let (cert, _) = leaf_with(params, &ca);

    let result = verify_x509_svid_chain(
        &chain(&[&cert]),
        &bundle("example.org", &[ca.der()]),
        SystemTime::now(),
    );
    assert_eq!(profile_error(result), ProfileError::LeafHasCrlSign);
}

#[test]
fn peer_leaf_without_digital_signature_is_rejected() {
    let ca = root("ca");
    let mut params = leaf_params("spiffe://example.org/web");
    params.key_usages = vec![KeyUsagePurpose::KeyAgreement];
    let (cert, _) = leaf_with(params, &ca);

    let result = verify_x509_svid_chain(
        &chain(&[&cert]),
        &bundle("example.org", &[ca.der()]),
        SystemTime::now(),
    );
    assert_eq!(
        profile_error(result),
        ProfileError::LeafLacksDigitalSignature
    );
}

#[test]
fn peer_of_a_trust_domain_without_bundle_is_rejected_even_if_our_ca_signed_it() {
    let ours = root("our ca");
    let (cert, _) = leaf("spiffe://b/web", &ours);
    let bundles: X509BundleSet = [bundle("a", &[ours.der()])].into_iter().collect();

    let err = verify_x509_svid_chain(&chain(&[&cert]), &bundles, SystemTime::now()).unwrap_err();
    assert!(matches!(err, X509VerifyError::NoBundle { .. }), "{err:?}");
    assert_eq!(err.to_string(), "no bundle for trust domain b");
}

#[test]
fn peer_is_checked_only_against_the_bundle_of_its_own_trust_domain() {
    let ca_a = root("ca a");
    let ca_b = root("ca b");
    // Signed by a's CA but claiming trust domain b, whose bundle holds only b's CA.
    let (cert, _) = leaf("spiffe://b/web", &ca_a);
    let bundles: X509BundleSet = [bundle("a", &[ca_a.der()]), bundle("b", &[ca_b.der()])]
        .into_iter()
        .collect();

    let err = verify_x509_svid_chain(&chain(&[&cert]), &bundles, SystemTime::now()).unwrap_err();
    assert!(
        matches!(err, X509VerifyError::PathValidation { ref trust_domain, .. } if trust_domain == "b"),
        "{err:?}"
    );
}

#[test]
fn intermediate_without_key_cert_sign_on_the_path_is_rejected() {
    let root = root("root");
    let mut params = common::ca_params("mid");
    params.key_usages = vec![KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let mid = intermediate_with(params, &root);
    let (cert, _) = leaf("spiffe://example.org/web", &mid);

    let result = verify_x509_svid_chain(
        &chain(&[&cert, mid.der()]),
        &bundle("example.org", &[root.der()]),
        SystemTime::now(),
    );
    assert_eq!(
        profile_error(result),
        ProfileError::SigningCertLacksKeyCertSign { index: 2 }
    );
}

#[test]
fn expired_peer_is_rejected_now_and_accepted_at_an_injected_earlier_time() {
    let ca = root("ca");
    let mut params = leaf_params("spiffe://example.org/web");
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2021, 1, 1);
    let (cert, _) = leaf_with(params, &ca);
    let peer = chain(&[&cert]);
    let bundle = bundle("example.org", &[ca.der()]);

    let err = verify_x509_svid_chain(&peer, &bundle, SystemTime::now()).unwrap_err();
    match &err {
        X509VerifyError::PathValidation { source, .. } => {
            assert!(source.is_expired_or_not_yet_valid(), "{err:?}")
        }
        other => panic!("expected an expiry, got {other:?}"),
    }

    // 2020-07-01, inside the validity period (the CA is valid from rcgen's default 1975).
    let mid_2020 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_593_561_600);
    assert!(verify_x509_svid_chain(&peer, &bundle, mid_2020).is_ok());
}

#[test]
fn leaf_with_only_an_unrelated_extended_key_usage_is_rejected() {
    let ca = root("ca");
    let mut params = leaf_params("spiffe://example.org/web");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
    let (cert, _) = leaf_with(params, &ca);

    let err = verify_x509_svid_chain(
        &chain(&[&cert]),
        &bundle("example.org", &[ca.der()]),
        SystemTime::now(),
    )
    .unwrap_err();
    assert!(
        matches!(err, X509VerifyError::PathValidation { .. }),
        "{err:?}"
    );
}

#[test]
fn leaf_with_client_auth_extended_key_usage_is_accepted() {
    let ca = root("ca");
    let mut params = leaf_params("spiffe://example.org/web");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let (cert, _) = leaf_with(params, &ca);

    assert!(
        verify_x509_svid_chain(
            &chain(&[&cert]),
            &bundle("example.org", &[ca.der()]),
            SystemTime::now()
        )
        .is_ok()
    );
}

#[test]
fn empty_peer_chain_and_empty_bundle_are_typed_errors() {
    let ca = root("ca");
    let (cert, _) = leaf("spiffe://example.org/web", &ca);
    let empty = X509Bundle::new(TrustDomain::new("example.org").unwrap());

    let err = verify_x509_svid_chain(&[], &empty, SystemTime::now()).unwrap_err();
    assert!(matches!(err, X509VerifyError::EmptyChain), "{err:?}");
    let err = verify_x509_svid_chain(&chain(&[&cert]), &empty, SystemTime::now()).unwrap_err();
    assert!(
        matches!(err, X509VerifyError::NoAuthorities { .. }),
        "{err:?}"
    );
}
