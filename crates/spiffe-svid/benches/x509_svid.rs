//! X.509-SVID parsing: `X509Svid::from_der` of a leaf plus intermediate with a P-256 key.
//! Run: `cargo bench -p spiffe-svid --bench x509_svid`.
#![allow(
    missing_docs,
    clippy::expect_used,
    reason = "criterion_group! generates undocumented items; setup failures should abort"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};
use spiffe_svid::X509Svid;

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    params
}

/// A leaf and its intermediate (DER back to back) and the leaf's PKCS#8 key.
fn svid_material() -> (Vec<u8>, Vec<u8>) {
    let root_key = KeyPair::generate().expect("key generation");
    let root = Issuer::new(ca_params(), root_key);

    let mid_key = KeyPair::generate().expect("key generation");
    let mid_cert = ca_params()
        .signed_by(&mid_key, &root)
        .expect("intermediate");
    let mid = Issuer::new(ca_params(), mid_key);

    let leaf_key = KeyPair::generate().expect("key generation");
    let mut params = CertificateParams::default();
    let uri = "spiffe://example.org/bench".try_into().expect("URI SAN");
    params.subject_alt_names = vec![SanType::URI(uri)];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let leaf = params.signed_by(&leaf_key, &mid).expect("leaf");

    (
        [leaf.der().as_ref(), mid_cert.der().as_ref()].concat(),
        leaf_key.serialize_der(),
    )
}

fn parse(c: &mut Criterion) {
    let (chain, key) = svid_material();
    X509Svid::from_der(&chain, &key).expect("bench material is a valid SVID");

    c.bench_function("x509_svid_from_der_2_certs_p256", |b| {
        b.iter(|| X509Svid::from_der(std::hint::black_box(&chain), std::hint::black_box(&key)))
    });
}

criterion_group!(benches, parse);
criterion_main!(benches);
