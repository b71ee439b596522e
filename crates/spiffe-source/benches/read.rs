//! Reading a source on the hot path. Run: `cargo bench -p spiffe-source --bench read`.
//!
//! - `x509_source_read`: an `X509Source` snapshot as a handshake reads it. Target: under
//!   20 ns, flat from 1 to 2 threads.
//! - `jwt_source_fetch_cached`: a `JwtSource` handing out a cached JWT-SVID (no agent call).
//!   Target: under 1 µs.
#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark set-up")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use spiffe_dev_agent::{DevAgent, Identity};
use spiffe_source::{JwtSource, X509Source};

/// One read as a handshake does it: the snapshot, its default SVID and the peer's bundle.
fn read(source: &X509Source) -> usize {
    let snapshot = source.snapshot();
    let svid = snapshot.svid().map(|s| s.chain().len()).unwrap_or(0);
    let bundle = snapshot
        .bundle("example.org")
        .map(|b| b.authorities().len())
        .unwrap_or(0);
    svid + bundle
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (agent, source) = runtime.block_on(async {
        let agent = DevAgent::builder()
            .trust_domain("example.org")
            .identity(
                Identity::new("spiffe://example.org/bench").with_ttl(Duration::from_secs(3600)),
            )
            .start()
            .await
            .unwrap();
        let source = X509Source::builder()
            .endpoint(agent.endpoint())
            .build()
            .await
            .unwrap();
        (agent, source)
    });
    assert!(read(&source) >= 2);

    let mut group = c.benchmark_group("x509_source_read");
    for threads in [1, 2] {
        group.bench_function(format!("{threads}_thread"), |b| {
            b.iter_custom(|iters| {
                // Every thread does `iters` reads; the time per read is what each thread saw.
                let start = Instant::now();
                std::thread::scope(|scope| {
                    for _ in 0..threads {
                        scope.spawn(|| {
                            for _ in 0..iters {
                                black_box(read(black_box(&source)));
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
    }
    group.finish();

    let jwt = runtime.block_on(async {
        JwtSource::builder()
            .endpoint(agent.endpoint())
            .build()
            .await
            .unwrap()
    });
    let calls_before = agent.stats().jwt_svid_calls;
    runtime
        .block_on(jwt.fetch_jwt_svid(&["spiffe://example.org/api"]))
        .unwrap();
    c.bench_function("jwt_source_fetch_cached", |b| {
        b.iter(|| {
            runtime
                .block_on(jwt.fetch_jwt_svid(black_box(&["spiffe://example.org/api"])))
                .unwrap()
        })
    });
    assert_eq!(
        agent.stats().jwt_svid_calls,
        calls_before + 1,
        "the agent was asked again"
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
