//! SPIFFE ID parsing. Run: `cargo bench -p spiffe-id --bench parse`.
#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use spiffe_id::{SpiffeId, TrustDomain};

const ID: &str = "spiffe://prod.acme-corp.io/ns/payments/sa/api-server";

fn parse(c: &mut Criterion) {
    c.bench_function("spiffe_id/parse", |b| {
        b.iter(|| SpiffeId::parse(black_box(ID)))
    });
    c.bench_function("spiffe_id/parse_invalid", |b| {
        b.iter(|| SpiffeId::parse(black_box("spiffe://prod.acme-corp.io/ns/../sa/api")))
    });
    c.bench_function("trust_domain/new", |b| {
        b.iter(|| TrustDomain::new(black_box("prod.acme-corp.io")))
    });
}

criterion_group!(benches, parse);
criterion_main!(benches);
