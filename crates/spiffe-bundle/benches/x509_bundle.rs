//! X.509 bundle parsing: `X509Bundle::from_der` of a few CA certificates.
//! Run: `cargo bench -p spiffe-bundle --bench x509_bundle`.
#![allow(
    missing_docs,
    clippy::expect_used,
    reason = "criterion_group! generates undocumented items; setup failures should abort"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use spiffe_bundle::X509Bundle;
use spiffe_id::TrustDomain;

fn ca_der(name: &str) -> Vec<u8> {
    let key = KeyPair::generate().expect("key generation");
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params
        .self_signed(&key)
        .expect("self-signed CA")
        .der()
        .to_vec()
}

fn parse(c: &mut Criterion) {
    let der: Vec<u8> = ["ca1", "ca2", "ca3", "ca4"]
        .iter()
        .flat_map(|n| ca_der(n))
        .collect();
    let td = TrustDomain::new("example.org").expect("trust domain");

    c.bench_function("x509_bundle_from_der_4_cas", |b| {
        b.iter(|| X509Bundle::from_der(td.clone(), std::hint::black_box(&der)))
    });
}

criterion_group!(benches, parse);
criterion_main!(benches);
