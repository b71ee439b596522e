//! JWKS parsing: `JwtBundle::from_jwks` of one P-256, one P-384 and one RSA-2048 key, and
//! `SpiffeBundle::parse` of the same keys as a SPIFFE bundle document.
//! Run: `cargo bench -p spiffe-bundle --bench jwt_bundle`.
#![allow(
    missing_docs,
    clippy::expect_used,
    reason = "criterion_group! generates undocumented items; setup failures should abort"
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use spiffe_bundle::{JwtBundle, SpiffeBundle};
use spiffe_id::TrustDomain;

#[path = "../tests/support/mod.rs"]
mod support;

fn parse(c: &mut Criterion) {
    let jwks = support::three_key_jwks();
    let td = TrustDomain::new("example.org").expect("trust domain");
    let bundle = JwtBundle::from_jwks(td.clone(), jwks.as_bytes()).expect("valid JWKS");
    assert_eq!(bundle.len(), 3);

    let mut spiffe = SpiffeBundle::new(td.clone());
    for authority in bundle.authorities() {
        spiffe
            .jwt_bundle_mut()
            .add_authority(authority.clone())
            .expect("distinct key IDs");
    }
    let document = spiffe.to_json();

    c.bench_function("jwt_bundle_from_jwks_3_keys", |b| {
        b.iter(|| JwtBundle::from_jwks(td.clone(), black_box(jwks.as_bytes())))
    });
    c.bench_function("spiffe_bundle_parse_3_jwt_keys", |b| {
        b.iter(|| SpiffeBundle::parse(td.clone(), black_box(document.as_bytes())))
    });
    c.bench_function("jwt_bundle_to_jwks_3_keys", |b| {
        b.iter(|| black_box(&bundle).to_jwks())
    });
}

criterion_group!(benches, parse);
criterion_main!(benches);
