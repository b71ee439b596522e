//! JWKS parsing, this workspace against the `spiffe` crate 0.19, same input, same run: one
//! P-256, one P-384 and one RSA-2048 key, as the Workload API sends a JWT bundle.
//!
//! Run: `cargo bench -p spiffe-benches --bench compare_jwks`.
#![allow(
    missing_docs,
    clippy::expect_used,
    reason = "criterion_group! generates undocumented items; setup failures should abort"
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

#[path = "../../crates/spiffe-bundle/tests/support/mod.rs"]
mod support;

fn compare(c: &mut Criterion) {
    let jwks = support::three_key_jwks();
    let ours_td = spiffe_id::TrustDomain::new("example.org").expect("trust domain");
    let theirs_td = spiffe_019::TrustDomain::new("example.org").expect("trust domain");

    // Both read the same three keys.
    let ours =
        spiffe_bundle::JwtBundle::from_jwks(ours_td.clone(), jwks.as_bytes()).expect("valid JWKS");
    let theirs = spiffe_019::JwtBundle::from_jwt_authorities(theirs_td.clone(), jwks.as_bytes())
        .expect("valid JWKS");
    for authority in ours.authorities() {
        assert!(theirs.find_jwt_authority(authority.key_id()).is_some());
    }
    assert_eq!(theirs.jwt_authorities().count(), ours.len());

    let mut group = c.benchmark_group("jwks_parse/3_keys");
    group.bench_function("spiffe-bundle", |b| {
        b.iter(|| spiffe_bundle::JwtBundle::from_jwks(ours_td.clone(), black_box(jwks.as_bytes())))
    });
    group.bench_function("spiffe-0.19", |b| {
        b.iter(|| {
            spiffe_019::JwtBundle::from_jwt_authorities(
                theirs_td.clone(),
                black_box(jwks.as_bytes()),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, compare);
criterion_main!(benches);
