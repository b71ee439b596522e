//! Path prefix and wildcard pattern matchers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use spiffe_id::{IdMatcher, IdPattern, SpiffeId, SpiffeIdError};

fn id(s: &str) -> SpiffeId {
    SpiffeId::parse(s).unwrap()
}

#[test]
fn path_prefix_matches_whole_segments_of_its_own_trust_domain() {
    let prod = IdMatcher::path_prefix(id("spiffe://example.org/ns/prod"));

    assert!(prod.matches(&id("spiffe://example.org/ns/prod")));
    assert!(prod.matches(&id("spiffe://example.org/ns/prod/sa/api")));
    assert!(!prod.matches(&id("spiffe://example.org/ns/production")));
    assert!(!prod.matches(&id("spiffe://example.org/ns")));
    assert!(!prod.matches(&id("spiffe://example.org")));
    assert!(!prod.matches(&id("spiffe://other.org/ns/prod/sa/api")));
    assert!(!prod.matches(&id("spiffe://example.org.evil/ns/prod")));
}

#[test]
fn path_prefix_without_a_path_matches_the_whole_trust_domain() {
    let all = IdMatcher::path_prefix(id("spiffe://example.org"));
    assert!(all.matches(&id("spiffe://example.org")));
    assert!(all.matches(&id("spiffe://example.org/a/b")));
    assert!(!all.matches(&id("spiffe://example.com/a")));
}

#[test]
fn pattern_wildcards_stand_for_exactly_one_segment() {
    let frontends = IdMatcher::pattern("spiffe://example.org/ns/*/sa/frontend").unwrap();

    assert!(frontends.matches(&id("spiffe://example.org/ns/prod/sa/frontend")));
    assert!(frontends.matches(&id("spiffe://example.org/ns/x/sa/frontend")));
    assert!(!frontends.matches(&id("spiffe://example.org/ns/sa/frontend")));
    assert!(!frontends.matches(&id("spiffe://example.org/ns/a/b/sa/frontend")));
    assert!(!frontends.matches(&id("spiffe://example.org/ns/prod/sa/frontend/x")));
    assert!(!frontends.matches(&id("spiffe://example.org/ns/prod/sa/backend")));
    assert!(!frontends.matches(&id("spiffe://other.org/ns/prod/sa/frontend")));
}

#[test]
fn pattern_with_several_wildcards_and_none() {
    let any_two = IdPattern::parse("spiffe://example.org/*/*").unwrap();
    assert!(any_two.matches(&id("spiffe://example.org/a/b")));
    assert!(!any_two.matches(&id("spiffe://example.org/a")));
    assert!(!any_two.matches(&id("spiffe://example.org")));
    assert_eq!(any_two.to_string(), "spiffe://example.org/*/*");

    let literal = IdPattern::parse("spiffe://example.org/web").unwrap();
    assert!(literal.matches(&id("spiffe://example.org/web")));
    assert!(!literal.matches(&id("spiffe://example.org/web2")));

    let td_only = IdPattern::parse("spiffe://example.org").unwrap();
    assert!(td_only.matches(&id("spiffe://example.org")));
    assert!(!td_only.matches(&id("spiffe://example.org/web")));
}

#[test]
fn pattern_refuses_what_is_not_an_id_with_whole_segment_wildcards() {
    // A `*` inside a segment or in the trust domain is an invalid character where it stands.
    let err = IdPattern::parse("spiffe://example.org/ns/fo*").unwrap_err();
    assert!(matches!(err, SpiffeIdError::PathChar { .. }), "{err:?}");
    let err = IdPattern::parse("spiffe://*/ns").unwrap_err();
    assert!(
        matches!(err, SpiffeIdError::TrustDomainChar { .. }),
        "{err:?}"
    );

    for bad in [
        "spiffe://example.org/*/",
        "spiffe://example.org//*",
        "spiffe://example.org/../*",
        "spiffe://Example.org/*",
        "https://example.org/*",
        "",
    ] {
        assert!(IdPattern::parse(bad).is_err(), "{bad} parsed");
    }
}
