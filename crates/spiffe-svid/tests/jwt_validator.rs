//! The JwtValidator cache: hits, expiry with the token, bundle changes, the bound, and the
//! checks repeated on every hit.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod jwt_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use jwt_common::{AUDIENCE, Key, Token, bundle, now};
use serde_json::{Value, json};
use spiffe_bundle::{JwtBundle, JwtBundleSource};
use spiffe_svid::{JwsAlgorithm, JwtSvidError, JwtValidation, JwtValidator};

const ES256: JwsAlgorithm = JwsAlgorithm::Es256;

/// A bundle that counts lookups: every full validation looks the bundle up once, a cache hit
/// never does.
struct Counting {
    bundle: JwtBundle,
    lookups: AtomicUsize,
}

impl Counting {
    fn new(bundle: JwtBundle) -> Arc<Self> {
        Arc::new(Self {
            bundle,
            lookups: AtomicUsize::new(0),
        })
    }

    fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }
}

impl JwtBundleSource for Counting {
    fn jwt_bundle(&self, trust_domain: &str) -> Option<&JwtBundle> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.bundle.jwt_bundle(trust_domain)
    }
}

fn setup() -> (Key, Arc<Counting>) {
    let key = Key::new(ES256, "k1");
    let bundles = Counting::new(bundle("example.org", &[key.jwk()]));
    (key, bundles)
}

fn at(secs: u64) -> JwtValidation<'static> {
    JwtValidation::new(&[AUDIENCE]).at(UNIX_EPOCH + Duration::from_secs(secs))
}

#[test]
fn token_validated_once_is_answered_from_the_cache() {
    let (key, bundles) = setup();
    let validator = JwtValidator::new();
    let token = Token::new(ES256, "k1").sign(&key);

    let first = validator.validate(&token, &bundles, &[AUDIENCE]).unwrap();
    let second = validator.validate(&token, &bundles, &[AUDIENCE]).unwrap();

    assert_eq!(bundles.lookups(), 1);
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(validator.len(), 1);
}

#[test]
fn cached_entry_lives_no_longer_than_the_token_exp() {
    let (key, bundles) = setup();
    let validator = JwtValidator::new();
    let exp = now() + 100;
    let token = Token::new(ES256, "k1").claim("exp", json!(exp)).sign(&key);

    validator
        .validate_with(&token, &bundles, &at(exp - 10))
        .unwrap();
    validator
        .validate_with(&token, &bundles, &at(exp - 1))
        .unwrap();
    assert_eq!(bundles.lookups(), 1);

    // Past exp, within the leeway: validated again in full, and not cached again.
    validator
        .validate_with(&token, &bundles, &at(exp + 10))
        .unwrap();
    validator
        .validate_with(&token, &bundles, &at(exp + 20))
        .unwrap();
    assert_eq!(bundles.lookups(), 3);

    assert_eq!(
        validator
            .validate_with(&token, &bundles, &at(exp + 60))
            .unwrap_err(),
        JwtSvidError::Expired
    );
}

#[test]
fn cache_is_dropped_when_the_bundles_change() {
    let (key, bundles) = setup();
    let validator = JwtValidator::new();
    let token = Token::new(ES256, "k1").sign(&key);
    let other = Token::new(ES256, "k1").claim("jti", json!("2")).sign(&key);
    validator.validate(&token, &bundles, &[AUDIENCE]).unwrap();
    validator.validate(&other, &bundles, &[AUDIENCE]).unwrap();
    assert_eq!(validator.len(), 2);

    // The same keys in a new Arc count as new bundles.
    let updated = Counting::new(bundles.bundle.clone());
    validator.validate(&token, &updated, &[AUDIENCE]).unwrap();
    assert_eq!(updated.lookups(), 1);
    assert_eq!(validator.len(), 1);
    validator.validate(&token, &updated, &[AUDIENCE]).unwrap();
    assert_eq!(updated.lookups(), 1);
}

#[test]
fn token_cached_before_its_key_left_the_bundle_is_refused_after() {
    let (key, bundles) = setup();
    let validator = JwtValidator::new();
    let token = Token::new(ES256, "k1").sign(&key);
    validator.validate(&token, &bundles, &[AUDIENCE]).unwrap();

    let rotated = Counting::new(bundle("example.org", &[Key::new(ES256, "k2").jwk()]));
    let err = validator
        .validate(&token, &rotated, &[AUDIENCE])
        .unwrap_err();
    assert!(matches!(err, JwtSvidError::UnknownKeyId { .. }), "{err:?}");
    assert!(validator.is_empty());
}

#[test]
fn cache_never_holds_more_than_its_capacity() {
    let (key, bundles) = setup();
    let validator = JwtValidator::with_capacity(3);
    for i in 0..10 {
        let token = Token::new(ES256, "k1").claim("n", json!(i)).sign(&key);
        validator.validate(&token, &bundles, &[AUDIENCE]).unwrap();
        assert!(validator.len() <= 3);
    }
    assert_eq!(validator.len(), 3);
    assert_eq!(validator.capacity(), 3);
}

#[test]
fn full_cache_drops_the_entry_that_expires_soonest() {
    let (key, bundles) = setup();
    let validator = JwtValidator::with_capacity(2);
    let now = now();
    let token = |exp: u64| Token::new(ES256, "k1").claim("exp", json!(exp)).sign(&key);
    let (soon, later, latest) = (token(now + 100), token(now + 200), token(now + 300));

    for t in [&later, &soon, &latest] {
        validator.validate(t, &bundles, &[AUDIENCE]).unwrap();
    }
    assert_eq!(bundles.lookups(), 3);

    validator.validate(&later, &bundles, &[AUDIENCE]).unwrap();
    validator.validate(&latest, &bundles, &[AUDIENCE]).unwrap();
    assert_eq!(bundles.lookups(), 3, "later and latest are still cached");
    validator.validate(&soon, &bundles, &[AUDIENCE]).unwrap();
    assert_eq!(bundles.lookups(), 4, "soon was evicted");
}

#[test]
fn cache_hit_checks_the_audience_of_each_call() {
    let (key, bundles) = setup();
    let validator = JwtValidator::new();
    let token = Token::new(ES256, "k1").sign(&key);
    validator.validate(&token, &bundles, &[AUDIENCE]).unwrap();

    let err = validator.validate(&token, &bundles, &["spiffe://example.org/other"]);
    assert_eq!(err.unwrap_err(), JwtSvidError::AudienceMismatch);
    let err = validator.validate(&token, &bundles, &[]);
    assert_eq!(err.unwrap_err(), JwtSvidError::NoExpectedAudience);
    assert_eq!(bundles.lookups(), 1);
}

#[test]
fn cache_hit_checks_the_leeway_and_kid_rule_of_each_call() {
    let (key, bundles) = setup();
    let validator = JwtValidator::new();
    let now = now();
    let token = Token::new(ES256, "k1")
        .header("kid", Value::Null)
        .claim("nbf", json!(now + 30))
        .sign(&key);

    let lenient = JwtValidation::new(&[AUDIENCE]).with_missing_kid_allowed(true);
    validator.validate_with(&token, &bundles, &lenient).unwrap();

    assert_eq!(
        validator
            .validate(&token, &bundles, &[AUDIENCE])
            .unwrap_err(),
        JwtSvidError::MissingKeyId
    );
    let strict = lenient.with_leeway(Duration::ZERO);
    assert_eq!(
        validator
            .validate_with(&token, &bundles, &strict)
            .unwrap_err(),
        JwtSvidError::NotYetValid
    );
    assert_eq!(bundles.lookups(), 1);
}

#[test]
fn refused_tokens_are_not_cached() {
    let (_, bundles) = setup();
    let validator = JwtValidator::new();
    let forged = Token::new(ES256, "k1").sign(&Key::new(ES256, "k1"));
    for _ in 0..2 {
        assert_eq!(
            validator
                .validate(&forged, &bundles, &[AUDIENCE])
                .unwrap_err(),
            JwtSvidError::InvalidSignature
        );
    }
    assert_eq!(bundles.lookups(), 2);
    assert!(validator.is_empty());
}

#[test]
fn capacity_zero_validates_every_call_in_full() {
    let (key, bundles) = setup();
    let validator = JwtValidator::with_capacity(0);
    let token = Token::new(ES256, "k1").sign(&key);
    for _ in 0..3 {
        validator.validate(&token, &bundles, &[AUDIENCE]).unwrap();
    }
    assert_eq!(bundles.lookups(), 3);
    assert!(validator.is_empty());
}

#[test]
fn oversized_token_is_refused_before_the_cache_is_consulted() {
    let (_, bundles) = setup();
    let validator = JwtValidator::new();
    let err = validator
        .validate(&"a".repeat(20_000), &bundles, &[AUDIENCE])
        .unwrap_err();
    assert!(matches!(err, JwtSvidError::TooLarge { .. }));
    assert_eq!(bundles.lookups(), 0);
}

#[test]
fn clear_empties_the_cache() {
    let (key, bundles) = setup();
    let validator = JwtValidator::new();
    let token = Token::new(ES256, "k1").sign(&key);
    validator.validate(&token, &bundles, &[AUDIENCE]).unwrap();
    validator.clear();
    assert!(validator.is_empty());
    validator.validate(&token, &bundles, &[AUDIENCE]).unwrap();
    assert_eq!(bundles.lookups(), 2);
}
