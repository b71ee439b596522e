//! Reading a leaf's SPIFFE ID, serial and expiry without verification.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test code")]

mod common;

use common::{leaf, root};
use rustls_pki_types::CertificateDer;
use spiffe_svid::{ProfileError, X509Svid, X509VerifyError, inspect_leaf};

#[test]
fn inspecting_a_leaf_reads_the_same_fields_as_parsing_the_svid() {
    let ca = root("ca");
    let (cert, key) = leaf("spiffe://example.org/web", &ca);
    let svid = X509Svid::from_der(&cert, &key).unwrap();

    let info = inspect_leaf(&CertificateDer::from(cert.clone())).unwrap();
    assert_eq!(&info.spiffe_id, svid.spiffe_id());
    assert_eq!(info.serial_hex, svid.serial_hex());
    assert_eq!(info.not_after, svid.not_after());
}

#[test]
fn inspecting_garbage_or_a_ca_certificate_is_an_error() {
    let garbage = inspect_leaf(&CertificateDer::from(vec![0x30, 0x03, 1, 2, 3]));
    assert!(
        matches!(garbage, Err(X509VerifyError::InvalidCertificate { .. })),
        "{garbage:?}"
    );

    let ca = root("ca");
    let result = inspect_leaf(&CertificateDer::from(ca.der().to_vec()));
    match result {
        Err(X509VerifyError::Profile(ProfileError::NoUriSan | ProfileError::LeafIsCa)) => {}
        other => panic!("expected a profile error, got {other:?}"),
    }
}
