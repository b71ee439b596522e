//! SPIFFE ID parsing, this workspace against the `spiffe` crate 0.19, same inputs, same run.
//!
//! Run: `cargo bench -p spiffe-benches --bench compare_id`.
#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

const INPUTS: [(&str, &str); 3] = [
    ("short", "spiffe://example.org/workload"),
    (
        "typical",
        "spiffe://prod.acme-corp.io/ns/payments/sa/api-server",
    ),
    (
        "long",
        "spiffe://cluster-01.eu-west-1.prod.acme-corp.io/ns/payments/sa/api-server/v2/canary/shard-17",
    ),
];

fn compare(c: &mut Criterion) {
    for (name, input) in INPUTS {
        let ours = spiffe_id::SpiffeId::parse(input).expect("valid input");
        let theirs = spiffe_019::SpiffeId::new(input).expect("valid input");
        assert_eq!(ours.as_str(), theirs.to_string());

        let mut group = c.benchmark_group(format!("spiffe_id_parse/{name}"));
        group.bench_function("spiffe-id", |b| {
            b.iter(|| spiffe_id::SpiffeId::parse(black_box(input)))
        });
        group.bench_function("spiffe-0.19", |b| {
            b.iter(|| spiffe_019::SpiffeId::new(black_box(input)))
        });
        group.finish();
    }
}

criterion_group!(benches, compare);
criterion_main!(benches);
