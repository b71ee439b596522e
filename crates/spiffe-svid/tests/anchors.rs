//! Verification against trust anchors parsed beforehand: the same answers as
//! `verify_x509_svid_chain`, and the same binding to the leaf's trust domain.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::time::SystemTime;

use common::{intermediate, leaf, leaf_params, leaf_with, root};
use rcgen::{BasicConstraints, IsCa, KeyUsagePurpose};
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};
use spiffe_bundle::{X509Bundle, X509BundleSet};
use spiffe_id::TrustDomain;
use spiffe_svid::{
    ProfileError, X509TrustAnchorSet, X509TrustAnchors, X509VerifyError, verify_x509_svid_chain,
    verify_x509_svid_with_anchors,
};

fn bundle(td: &str, cas: &[&[u8]]) -> X509Bundle {
    X509Bundle::from_der(TrustDomain::new(td).unwrap(), &cas.concat()).unwrap()
}

/// The signature algorithms of whichever backend the crate is built with.
fn algorithms() -> &'static [&'static dyn SignatureVerificationAlgorithm] {
    #[cfg(feature = "aws-lc-rs")]
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    #[cfg(not(feature = "aws-lc-rs"))]
    let provider = rustls::crypto::ring::default_provider();
    provider.signature_verification_algorithms.all
}

fn verify(
    chain: &[CertificateDer<'_>],
    anchors: &X509TrustAnchorSet,
) -> Result<String, X509VerifyError> {
    let (leaf, intermediates) = chain.split_first().unwrap();
    verify_x509_svid_with_anchors(leaf, intermediates, anchors, algorithms(), UnixTime::now())
        .map(|id| id.to_string())
}

#[test]
fn anchors_verify_a_chain_with_an_intermediate_like_the_bundle_does() {
    let ca = root("root");
    let mid = intermediate("mid", &ca);
    let (cert, _) = leaf("spiffe://example.org/web", &mid);
    let chain = vec![
        CertificateDer::from(cert),
        CertificateDer::from(mid.der().to_vec()),
    ];
    let set: X509BundleSet = [bundle("example.org", &[ca.der()])].into_iter().collect();

    let anchors = X509TrustAnchorSet::from_bundles(&set);
    assert_eq!(anchors.len(), 1);
    assert_eq!(anchors.get("example.org").unwrap().len(), 1);

    let by_bundle = verify_x509_svid_chain(&chain, &set, SystemTime::now()).unwrap();
    assert_eq!(
        verify(&chain, &anchors).unwrap(),
        by_bundle.spiffe_id().as_str()
    );
}

#[test]
fn anchors_of_another_trust_domain_are_never_used() {
    // T2: the peer claims trust domain b and is signed by our own CA; b has no bundle.
    let ours = root("ours");
    let (cert, _) = leaf("spiffe://b/web", &ours);
    let set: X509BundleSet = [bundle("a", &[ours.der()])].into_iter().collect();

    let err = verify(&[cert.into()], &X509TrustAnchorSet::from_bundles(&set)).unwrap_err();
    assert!(matches!(err, X509VerifyError::NoBundle { .. }), "{err:?}");
    assert_eq!(err.to_string(), "no bundle for trust domain b");
}

#[test]
fn a_bundle_without_usable_authorities_has_no_anchors() {
    let mut set = X509BundleSet::new();
    set.insert(X509Bundle::new(TrustDomain::new("example.org").unwrap()));
    let anchors = X509TrustAnchorSet::from_bundles(&set);
    assert!(anchors.get("example.org").unwrap().is_empty());

    let ca = root("root");
    let (cert, _) = leaf("spiffe://example.org/web", &ca);
    let err = verify(&[cert.into()], &anchors).unwrap_err();
    assert!(
        matches!(err, X509VerifyError::NoAuthorities { .. }),
        "{err:?}"
    );
}

#[test]
fn anchors_apply_the_leaf_profile_before_path_validation() {
    // T1: a CA leaf and a leaf without digitalSignature, both with a SPIFFE URI.
    let ca = root("root");
    let one = X509TrustAnchors::from_bundle(&bundle("example.org", &[ca.der()]));
    assert_eq!(one.trust_domain().as_str(), "example.org");
    let set: X509BundleSet = [bundle("example.org", &[ca.der()])].into_iter().collect();
    let anchors = X509TrustAnchorSet::from_bundles(&set);

    let mut is_ca = leaf_params("spiffe://example.org/web");
    is_ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let (cert, _) = leaf_with(is_ca, &ca);
    let err = verify(&[cert.into()], &anchors).unwrap_err();
    assert!(
        matches!(err, X509VerifyError::Profile(ProfileError::LeafIsCa)),
        "{err:?}"
    );

    let mut no_signature = leaf_params("spiffe://example.org/web");
    no_signature.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
    let (cert, _) = leaf_with(no_signature, &ca);
    let err = verify(&[cert.into()], &anchors).unwrap_err();
    assert!(
        matches!(
            err,
            X509VerifyError::Profile(ProfileError::LeafLacksDigitalSignature)
        ),
        "{err:?}"
    );
}

#[test]
fn anchors_refuse_more_than_the_chain_limit() {
    let ca = root("root");
    let (cert, _) = leaf("spiffe://example.org/web", &ca);
    let chain: Vec<CertificateDer<'static>> =
        std::iter::repeat_n(cert, 17).map(Into::into).collect();
    let set: X509BundleSet = [bundle("example.org", &[ca.der()])].into_iter().collect();

    let err = verify(&chain, &X509TrustAnchorSet::from_bundles(&set)).unwrap_err();
    assert!(
        matches!(err, X509VerifyError::TooManyCertificates { max: 16 }),
        "{err:?}"
    );
}
