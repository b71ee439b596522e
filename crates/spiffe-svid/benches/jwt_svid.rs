//! JWT-SVID validation against the raw signature check it is built on, in one run:
//!
//! - `p256_verify_raw`: the backend verifying the token's ES256 signature over its signing
//!   input, key parsed from the point on each call (what validation does);
//! - `jwt_svid_validate_es256`: `JwtSvid::validate` of the same token, end to end;
//! - `jwt_validator_cached_es256`: the same token answered by a warm `JwtValidator`.
//!
//! Run: `cargo bench -p spiffe-svid --bench jwt_svid`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "criterion_group! generates undocumented items; setup failures should abort"
)]

#[path = "../tests/jwt_common/mod.rs"]
mod jwt_common;

use std::hint::black_box;
use std::sync::Arc;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use criterion::{Criterion, criterion_group, criterion_main};
use jwt_common::{AUDIENCE, Key, Token, bundle, unb64};
use spiffe_svid::{JwsAlgorithm, JwtSvid, JwtValidator};

fn validation(c: &mut Criterion) {
    let key = Key::new(JwsAlgorithm::Es256, "bench-key-1");
    let bundle = bundle("example.org", &[key.jwk()]);
    let token = Token::new(JwsAlgorithm::Es256, "bench-key-1").sign(&key);
    let (signing_input, signature) = token.rsplit_once('.').expect("three parts");
    let signature = unb64(signature);
    let point = key.ec_point();

    JwtSvid::validate(&token, &bundle, &[AUDIENCE]).expect("bench token validates");
    let shared = Arc::new(bundle.clone());
    let validator = JwtValidator::new();
    validator
        .validate(&token, &shared, &[AUDIENCE])
        .expect("bench token validates");

    c.bench_function("p256_verify_raw", |b| {
        b.iter(|| {
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, black_box(point.as_slice()))
                .verify(black_box(signing_input.as_bytes()), black_box(&signature))
        })
    });
    c.bench_function("jwt_svid_validate_es256", |b| {
        b.iter(|| JwtSvid::validate(black_box(&token), &bundle, &[AUDIENCE]))
    });
    c.bench_function("jwt_validator_cached_es256", |b| {
        b.iter(|| validator.validate(black_box(&token), &shared, &[AUDIENCE]))
    });
}

criterion_group!(benches, validation);
criterion_main!(benches);
