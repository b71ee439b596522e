//! Behaviour of the public API beyond the vector table.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::collections::HashMap;

use spiffe_id::{IdMatcher, SpiffeId, SpiffeIdError, TrustDomain};

fn td(s: &str) -> TrustDomain {
    TrustDomain::new(s).unwrap()
}

fn id(s: &str) -> SpiffeId {
    SpiffeId::parse(s).unwrap()
}

#[test]
fn from_segments_rejects_dot_empty_slash_and_percent_segments() {
    let td = td("example.org");
    for bad in [&["a", ".."][..], &[""], &["a/b"], &["%41"], &["."]] {
        let err = SpiffeId::from_segments(&td, bad).unwrap_err();
        assert!(
            matches!(err, SpiffeIdError::Segment { .. }),
            "{bad:?}: {err:?}"
        );
    }

    let err = SpiffeId::from_segments(&td, &["a", ".."]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "path segment 1: dot segment (`.` or `..`) at byte 0"
    );
}

#[test]
fn from_segments_builds_the_same_id_as_parsing() {
    let built = SpiffeId::from_segments(&td("example.org"), &["ns", "Prod", "a.b"]).unwrap();
    assert_eq!(built, id("spiffe://example.org/ns/Prod/a.b"));
    assert_eq!(built.path(), "/ns/Prod/a.b");

    let root = SpiffeId::from_segments(&td("example.org"), &[]).unwrap();
    assert!(root.is_trust_domain_id());
    assert_eq!(root, td("example.org").id());
}

#[test]
fn from_segments_enforces_the_length_limit() {
    let long = "a".repeat(1000);
    let err = SpiffeId::from_segments(&td("td"), &[&long, &long, &long]).unwrap_err();
    assert!(matches!(err, SpiffeIdError::TooLong { len } if len > 2048));
}

#[test]
fn accessors_split_trust_domain_path_and_segments() {
    let x = id("spiffe://example.org/a/b/c");
    assert_eq!(x.trust_domain_name(), "example.org");
    assert_eq!(x.trust_domain(), td("example.org"));
    assert_eq!(x.path(), "/a/b/c");
    assert_eq!(x.segments().collect::<Vec<_>>(), ["a", "b", "c"]);
    assert!(!x.is_trust_domain_id());
    assert!(x.is_member_of(&td("example.org")));
    assert!(!x.is_member_of(&td("example.com")));

    let root = id("spiffe://example.org");
    assert_eq!(root.segments().count(), 0);
    assert_eq!(root.path(), "");
}

#[test]
fn trust_domain_parses_bare_names_and_ids_but_never_ids_with_paths() {
    assert_eq!(td("example.org").as_str(), "example.org");
    assert_eq!(
        TrustDomain::from_name_or_id("spiffe://example.org").unwrap(),
        td("example.org")
    );
    assert_eq!(
        TrustDomain::from_name_or_id("example.org").unwrap(),
        td("example.org")
    );
    assert_eq!(
        TrustDomain::from_name_or_id("spiffe://example.org/a").unwrap_err(),
        SpiffeIdError::UnexpectedPath
    );
    assert!(TrustDomain::new("spiffe://example.org").is_err());
    assert!(TrustDomain::new("example.org/a").is_err());
    assert!(TrustDomain::new("Example.org").is_err());
    assert_eq!(
        TrustDomain::new("").unwrap_err(),
        SpiffeIdError::MissingTrustDomain
    );
    assert!(matches!(
        TrustDomain::new(&"a".repeat(256)).unwrap_err(),
        SpiffeIdError::TrustDomainTooLong { len: 256 }
    ));
    assert!(TrustDomain::new(&"a".repeat(255)).is_ok());
}

#[test]
fn lenient_parsing_lowercases_scheme_and_trust_domain_but_not_the_path() {
    let x = SpiffeId::parse_lenient("SPIFFE://Example.ORG/Ns/Prod").unwrap();
    assert_eq!(x.as_str(), "spiffe://example.org/Ns/Prod");
    assert!(SpiffeId::parse("SPIFFE://Example.ORG/Ns/Prod").is_err());
    assert_eq!(
        SpiffeId::parse_lenient("https://x/y").unwrap_err(),
        SpiffeIdError::WrongScheme
    );
    assert!(SpiffeId::parse_lenient("spiffe://Example.org/a/..").is_err());
}

#[test]
fn errors_say_what_is_wrong_and_where() {
    let cases = [
        (
            "spiffe://Example.org/x",
            "invalid trust domain character 'E' at byte 9 (trust domains are lowercase)",
        ),
        (
            "spiffe://example.org/a%20b",
            "invalid path character '%' at byte 22",
        ),
        ("spiffe://example.org//a", "empty path segment at byte 20"),
        ("spiffe://example.org/a/", "path has a trailing slash"),
        (
            "spiffe://example.org/a\nb",
            "invalid path character 0x0a at byte 22",
        ),
        ("http://x", "scheme is not `spiffe://` (lowercase)"),
    ];
    for (input, message) in cases {
        assert_eq!(
            SpiffeId::parse(input).unwrap_err().to_string(),
            message,
            "{input:?}"
        );
    }
}

#[test]
fn non_ascii_input_is_rejected_without_panicking() {
    for input in [
        "spiffe://exämple.org/a",
        "spiffe://example.org/ä",
        "spïffe://x/y",
        "ä",
    ] {
        assert!(SpiffeId::parse(input).is_err(), "{input:?}");
        assert!(SpiffeId::parse_lenient(input).is_err(), "{input:?}");
    }
}

#[test]
fn trust_domain_keyed_maps_are_searched_by_an_ids_trust_domain_name() {
    let mut map = HashMap::new();
    map.insert(td("example.org"), 1);
    map.insert(td("other.org"), 2);
    assert_eq!(
        map.get(id("spiffe://other.org/x").trust_domain_name()),
        Some(&2)
    );
}

#[test]
fn ids_order_hash_and_compare_as_their_strings() {
    let mut ids = [id("spiffe://b/x"), id("spiffe://a/y"), id("spiffe://a/x")];
    ids.sort();
    let sorted: Vec<_> = ids.iter().map(SpiffeId::as_str).collect();
    assert_eq!(sorted, ["spiffe://a/x", "spiffe://a/y", "spiffe://b/x"]);
    assert_ne!(id("spiffe://a/X"), id("spiffe://a/x"));
    assert_eq!(format!("{}", id("spiffe://a/x")), "spiffe://a/x");
    assert_eq!(
        format!("{:?}", id("spiffe://a/x")),
        "SpiffeId(\"spiffe://a/x\")"
    );
}

#[test]
fn matchers_accept_exactly_what_they_name() {
    let api = id("spiffe://example.org/api");
    let web = id("spiffe://example.org/web");
    let other = id("spiffe://other.org/api");

    assert!(IdMatcher::any().matches(&other));
    assert!(IdMatcher::exact(api.clone()).matches(&api));
    assert!(!IdMatcher::exact(api.clone()).matches(&web));

    let one_of = IdMatcher::one_of([api.clone(), other.clone()]);
    assert!(one_of.matches(&api) && one_of.matches(&other) && !one_of.matches(&web));
    assert!(!IdMatcher::one_of([]).matches(&api));

    let member = IdMatcher::member_of(td("example.org"));
    assert!(member.matches(&api) && member.matches(&web) && !member.matches(&other));
    assert!(member.matches(&td("example.org").id()));
}

#[test]
fn lenient_parsing_refuses_overlong_input_before_copying_it() {
    let huge = format!("SPIFFE://EXAMPLE.ORG/{}", "a".repeat(1 << 20));
    let err = SpiffeId::parse_lenient(&huge).unwrap_err();
    assert!(matches!(err, SpiffeIdError::TooLong { len } if len == huge.len()));
}

#[test]
fn ids_on_both_sides_of_the_inline_capacity_behave_the_same() {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};

    let hash = |id: &SpiffeId| {
        let mut h = DefaultHasher::new();
        id.hash(&mut h);
        h.finish()
    };
    let prefix = "spiffe://example.org/";
    for len in spiffe_id::INLINE_CAPACITY - 2..=spiffe_id::INLINE_CAPACITY + 2 {
        let s = format!("{prefix}{}", "a".repeat(len - prefix.len()));
        let parsed = id(&s);
        assert_eq!(parsed.as_str(), s, "length {len}");
        assert_eq!(parsed.trust_domain_name(), "example.org", "length {len}");
        assert_eq!(
            parsed.path(),
            &s["spiffe://example.org".len()..],
            "length {len}"
        );
        assert!(!parsed.is_trust_domain_id(), "length {len}");

        // The same ID built another way, and a clone, are equal and hash alike.
        let segment = &s[prefix.len()..];
        let built = SpiffeId::from_segments(&td("example.org"), &[segment]).unwrap();
        assert_eq!(built, parsed, "length {len}");
        assert_eq!(hash(&built), hash(&parsed), "length {len}");
        assert_eq!(parsed.clone(), parsed, "length {len}");

        // Ordering follows the strings across the boundary.
        let longer = id(&format!("{s}a"));
        assert!(parsed < longer, "length {len}");
    }
}

#[test]
fn an_id_stays_small_enough_to_move_cheaply() {
    // Inline bytes, their length, the path offset and an optional shared string.
    assert!(std::mem::size_of::<SpiffeId>() <= 80);
}
