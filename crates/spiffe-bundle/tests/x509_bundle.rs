//! X509Bundle, X509BundleSet and X509BundleSource against rcgen-made certificates.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::error::Error as _;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls_pki_types::CertificateDer;
use spiffe_bundle::{
    BundleError, MAX_AUTHORITIES, MAX_BUNDLE_BYTES, X509Bundle, X509BundleSet, X509BundleSource,
};
use spiffe_id::TrustDomain;

fn td(name: &str) -> TrustDomain {
    TrustDomain::new(name).unwrap()
}

fn ca(name: &str) -> Vec<u8> {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.self_signed(&key).unwrap().der().to_vec()
}

fn bundle_of(name: &str, cas: &[&[u8]]) -> X509Bundle {
    X509Bundle::from_der(td(name), &cas.concat()).unwrap()
}

#[test]
fn from_der_reads_certificates_back_to_back_in_order() {
    let (a, b, c) = (ca("a"), ca("b"), ca("c"));
    let bundle = bundle_of("example.org", &[&a, &b, &c]);

    let got: Vec<&[u8]> = bundle
        .authorities()
        .iter()
        .map(|cert| cert.as_ref())
        .collect();
    assert_eq!(got, vec![&a[..], &b[..], &c[..]]);
    assert_eq!(bundle.to_der(), [a, b, c].concat());
}

#[test]
fn from_der_of_empty_input_is_an_empty_bundle() {
    let bundle = X509Bundle::from_der(td("example.org"), &[]).unwrap();
    assert!(bundle.is_empty());
    assert_eq!(bundle, X509Bundle::new(td("example.org")));
}

#[test]
fn from_der_names_the_certificate_that_cannot_be_parsed() {
    // A well-framed SEQUENCE that is not a certificate, in second place.
    let der = [ca("a"), vec![0x30, 0x03, 0x02, 0x01, 0x01]].concat();
    let err = X509Bundle::from_der(td("example.org"), &der).unwrap_err();

    assert!(
        matches!(err, BundleError::InvalidCertificate { index: 2, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "certificate 2 of the bundle cannot be parsed"
    );
    assert!(err.source().is_some());
}

#[test]
fn from_der_reports_a_truncated_certificate_by_position() {
    let a = ca("a");
    let b = ca("b");
    let der = [&a[..], &b[..b.len() - 1]].concat();
    let err = X509Bundle::from_der(td("example.org"), &der).unwrap_err();
    assert!(
        matches!(err, BundleError::MalformedDer { index: 2 }),
        "{err:?}"
    );
}

#[test]
fn from_der_refuses_input_larger_than_the_cap_before_parsing() {
    let der = vec![0u8; MAX_BUNDLE_BYTES + 1];
    let err = X509Bundle::from_der(td("example.org"), &der).unwrap_err();
    assert!(
        matches!(
            err,
            BundleError::TooLarge {
                max: MAX_BUNDLE_BYTES,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn from_der_refuses_more_authorities_than_the_cap() {
    // Empty SEQUENCEs are framed like certificates, so the count is reached before decoding.
    let der = [0x30, 0x00].repeat(MAX_AUTHORITIES + 1);
    let err = X509Bundle::from_der(td("example.org"), &der).unwrap_err();
    assert!(
        matches!(
            err,
            BundleError::TooManyAuthorities {
                max: MAX_AUTHORITIES
            }
        ),
        "{err:?}"
    );
}

#[test]
fn to_pem_writes_blocks_that_from_pem_reads_back() {
    let bundle = bundle_of("example.org", &[&ca("a"), &ca("b")]);
    let pem = bundle.to_pem();

    assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----\n").count(), 2);
    assert!(pem.lines().all(|line| line.len() <= 64));
    let back = X509Bundle::from_pem(td("example.org"), pem.as_bytes()).unwrap();
    assert_eq!(back, bundle);
}

#[test]
fn from_pem_refuses_a_private_key_block() {
    let key = KeyPair::generate().unwrap();
    let pem = format!(
        "{}{}",
        bundle_of("x.org", &[&ca("a")]).to_pem(),
        key.serialize_pem()
    );
    let err = X509Bundle::from_pem(td("example.org"), pem.as_bytes()).unwrap_err();
    assert!(
        matches!(err, BundleError::UnexpectedPemBlock { block: 2 }),
        "{err:?}"
    );
}

#[test]
fn add_authority_checks_that_it_is_a_certificate() {
    let mut bundle = X509Bundle::new(td("example.org"));
    bundle.add_authority(CertificateDer::from(ca("a"))).unwrap();

    let err = bundle
        .add_authority(CertificateDer::from(vec![0x30, 0x00]))
        .unwrap_err();
    assert!(
        matches!(err, BundleError::InvalidCertificate { index: 2, .. }),
        "{err:?}"
    );
    assert_eq!(bundle.authorities().len(), 1);
}

#[test]
fn same_authorities_ignores_order_but_not_content() {
    let (a, b, c) = (ca("a"), ca("b"), ca("c"));
    let ab = bundle_of("example.org", &[&a, &b]);
    let ba = bundle_of("example.org", &[&b, &a]);
    let ac = bundle_of("example.org", &[&a, &c]);
    let aab = bundle_of("example.org", &[&a, &a, &b]);
    let abb = bundle_of("example.org", &[&a, &b, &b]);

    assert!(ab.same_authorities(&ba));
    assert_ne!(ab, ba, "equality keeps the order");
    assert!(!ab.same_authorities(&ac));
    assert!(!ab.same_authorities(&aab));
    assert!(!aab.same_authorities(&abb));
}

#[test]
fn debug_shows_trust_domain_and_count_not_bytes() {
    let bundle = bundle_of("example.org", &[&ca("a")]);
    let debug = format!("{bundle:?}");
    assert!(
        debug.contains("example.org") && debug.contains("authorities: 1"),
        "{debug}"
    );
}

#[test]
fn bundle_set_looks_up_by_str_and_by_trust_domain() {
    let mut set = X509BundleSet::new();
    assert!(set.insert(bundle_of("a.org", &[&ca("a")])).is_none());
    assert!(set.insert(bundle_of("b.org", &[&ca("b")])).is_none());

    assert_eq!(set.len(), 2);
    assert_eq!(set.get("a.org").unwrap().trust_domain().as_str(), "a.org");
    assert_eq!(
        set.get(&td("b.org")).unwrap().trust_domain().as_str(),
        "b.org"
    );
    assert!(set.get("c.org").is_none());
    assert!(set.contains("a.org"));
}

#[test]
fn bundle_set_insert_replaces_and_remove_takes_out() {
    let old = bundle_of("a.org", &[&ca("old")]);
    let new = bundle_of("a.org", &[&ca("new")]);
    let mut set: X509BundleSet = [old.clone()].into_iter().collect();

    assert_eq!(set.insert(new.clone()), Some(old));
    assert_eq!(set.get("a.org"), Some(&new));
    assert_eq!(set.remove("a.org"), Some(new));
    assert!(set.is_empty());
}

#[test]
fn bundle_set_iterates_in_trust_domain_order() {
    let set: X509BundleSet = ["c.org", "a.org", "b.org"]
        .into_iter()
        .map(|name| X509Bundle::new(td(name)))
        .collect();
    let names: Vec<&str> = set.iter().map(|b| b.trust_domain().as_str()).collect();
    assert_eq!(names, ["a.org", "b.org", "c.org"]);
}

#[test]
fn bundle_sets_with_reordered_authorities_have_the_same_authorities() {
    let (a, b) = (ca("a"), ca("b"));
    let one: X509BundleSet = [bundle_of("x.org", &[&a, &b])].into_iter().collect();
    let two: X509BundleSet = [bundle_of("x.org", &[&b, &a])].into_iter().collect();
    let three: X509BundleSet = [bundle_of("y.org", &[&a, &b])].into_iter().collect();

    assert!(one.same_authorities(&two));
    assert!(!one.same_authorities(&three));
}

#[test]
fn a_single_bundle_is_a_source_for_its_own_trust_domain_only() {
    let bundle = bundle_of("a.org", &[&ca("a")]);
    assert!(bundle.x509_bundle("a.org").is_some());
    assert!(bundle.x509_bundle("b.org").is_none());
}

#[test]
fn a_bundle_set_is_a_source_through_references_and_arcs() {
    fn lookup(source: &impl X509BundleSource, name: &str) -> bool {
        source.x509_bundle(name).is_some()
    }

    let set: X509BundleSet = [bundle_of("a.org", &[&ca("a")])].into_iter().collect();
    assert!(lookup(&set, "a.org"));
    assert!(lookup(&&set, "a.org"));
    assert!(lookup(&std::sync::Arc::new(set.clone()), "a.org"));
    assert!(!lookup(&set, "b.org"));
}
