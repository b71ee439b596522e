//! Hostile input for SPIFFE ID and trust domain parsing: random bytes, mutations of valid IDs,
//! multi-byte UTF-8, every length limit at and one past its boundary, and round trips.
//!
//! Generation is deterministic (a fixed-seed xorshift) and bounded; every call must return
//! `Ok` or a typed error whose message is non-empty and lowercase-first.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::time::{Duration, Instant};

use spiffe_id::{MAX_ID_LEN, MAX_TRUST_DOMAIN_LEN, SpiffeId, SpiffeIdError, TrustDomain};
use spiffe_test_support::{Rng, assert_message};

/// Positions in errors must point at what they describe.
fn assert_position(input: &str, err: &SpiffeIdError) {
    let bytes = input.as_bytes();
    match err {
        SpiffeIdError::TrustDomainChar { position, byte }
        | SpiffeIdError::PathChar { position, byte } => {
            assert_eq!(bytes.get(*position), Some(byte), "{input:?}: {err:?}");
        }
        SpiffeIdError::EmptySegment { position } | SpiffeIdError::DotSegment { position } => {
            assert_eq!(bytes.get(*position), Some(&b'/'), "{input:?}: {err:?}");
        }
        SpiffeIdError::TooLong { len } => {
            assert_eq!(*len, bytes.len());
            assert!(*len > MAX_ID_LEN);
        }
        SpiffeIdError::TrustDomainTooLong { len } => assert!(*len > MAX_TRUST_DOMAIN_LEN),
        _ => {}
    }
}

/// What a parsed ID must satisfy whatever the input was.
fn assert_id_invariants(id: &SpiffeId) {
    let s = id.as_str();
    assert!(s.is_ascii(), "{s:?}");
    assert!(s.len() <= MAX_ID_LEN);
    assert!(s.starts_with("spiffe://"));
    let td = id.trust_domain_name();
    assert!(!td.is_empty() && td.len() <= MAX_TRUST_DOMAIN_LEN);
    assert_eq!(format!("spiffe://{td}{}", id.path()), s);

    // Display/parse round trip and the segment view.
    let reparsed = SpiffeId::parse(&format!("{id}")).unwrap();
    assert_eq!(&reparsed, id);
    let segments: Vec<&str> = id.segments().collect();
    let rebuilt = SpiffeId::from_segments(&id.trust_domain(), &segments).unwrap();
    assert_eq!(&rebuilt, id);
    assert!(id.trust_domain().id().is_trust_domain_id());
    assert!(id.is_member_of(&id.trust_domain()));
}

/// Characters that matter to the grammar, plus some that must never pass.
const PIECES: &[&str] = &[
    "spiffe://",
    "SPIFFE://",
    "spiffe:/",
    "/",
    "//",
    ".",
    "..",
    "-",
    "_",
    "a",
    "Z",
    "0",
    "example.org",
    "%2F",
    "%41",
    "?",
    "#",
    "@",
    ":",
    ":8080",
    " ",
    "\t",
    "\0",
    "\u{7f}",
    "é",
    "ä",
    "\u{2044}",
    "\u{ff0f}",
    "\u{1F600}",
    "\u{200b}",
    "ı",
    "K",
    "\u{212a}",
    "\r\n",
];

fn random_input(rng: &mut Rng) -> String {
    let mut s = String::new();
    let parts = rng.below(12);
    for _ in 0..parts {
        if rng.below(4) == 0 {
            // A raw byte, made valid UTF-8 the way a lossy decoder would.
            let byte = [rng.next_u64() as u8];
            s.push_str(&String::from_utf8_lossy(&byte));
        } else {
            let piece: &&str = rng.pick(PIECES);
            s.push_str(piece);
        }
    }
    s
}

fn check_all_parsers(input: &str) {
    match SpiffeId::parse(input) {
        Ok(id) => {
            assert_eq!(id.as_str(), input, "parse is byte-exact");
            assert_id_invariants(&id);
        }
        Err(err) => {
            assert_message(&err);
            assert_position(input, &err);
        }
    }

    match SpiffeId::parse_lenient(input) {
        Ok(id) => {
            assert_id_invariants(&id);
            // Only the scheme and trust domain may change, and only in case.
            assert!(id.as_str().eq_ignore_ascii_case(input));
            assert!(
                input.ends_with(id.path()),
                "path changed: {input:?} -> {id}"
            );
        }
        Err(err) => assert_message(&err),
    }

    match TrustDomain::new(input) {
        Ok(td) => {
            assert_eq!(td.as_str(), input);
            assert!(input.len() <= MAX_TRUST_DOMAIN_LEN);
            assert_eq!(TrustDomain::new(&format!("{td}")).unwrap(), td);
            assert_eq!(TrustDomain::from_name_or_id(td.id().as_str()).unwrap(), td);
        }
        Err(err) => {
            assert_message(&err);
            assert_position(input, &err);
        }
    }

    match TrustDomain::from_name_or_id(input) {
        Ok(td) => assert!(input == td.as_str() || input == td.id().as_str()),
        Err(err) => assert_message(&err),
    }
}

#[test]
fn random_grammar_pieces_and_bytes_never_panic() {
    let mut rng = Rng(0x5eed_1d00_0000_0001);
    for _ in 0..4000 {
        let input = random_input(&mut rng);
        check_all_parsers(&input);
    }
}

#[test]
fn random_printable_ascii_never_panics_and_accepts_only_the_grammar() {
    let mut rng = Rng(0x5eed_1d00_0000_0002);
    for _ in 0..3000 {
        let len = rng.below(40);
        let tail: String = (0..len)
            .map(|_| char::from(b' ' + (rng.below(95) as u8)))
            .collect();
        let input = format!("spiffe://{tail}");
        check_all_parsers(&input);

        // Accepted exactly when every byte is allowed where it stands.
        let accepted = SpiffeId::parse(&input).is_ok();
        let (td, path) = tail.split_at(tail.find('/').unwrap_or(tail.len()));
        let td_ok = !td.is_empty()
            && td
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b));
        let path_ok = path.is_empty()
            || path[1..].split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
            });
        assert_eq!(accepted, td_ok && path_ok, "{input:?}");
    }
}

#[test]
fn mutations_of_valid_ids_never_panic() {
    let seeds = [
        "spiffe://example.org/ns/prod/sa/api",
        "spiffe://a/b",
        "spiffe://x-y_z.0/A.b-C_d/e",
    ];
    let mut rng = Rng(0x5eed_1d00_0000_0003);
    for _ in 0..3000 {
        let mut bytes = (*rng.pick(&seeds)).as_bytes().to_vec();
        for _ in 0..=rng.below(3) {
            let at = rng.below(bytes.len());
            match rng.below(4) {
                0 => bytes[at] ^= 1 << rng.below(8),
                1 => {
                    bytes.remove(at);
                }
                2 => bytes.insert(at, rng.next_u64() as u8),
                _ => bytes.truncate(at),
            }
            if bytes.is_empty() {
                break;
            }
        }
        let input = String::from_utf8_lossy(&bytes).into_owned();
        check_all_parsers(&input);
    }
}

#[test]
fn multi_byte_utf8_is_refused_at_its_first_byte() {
    let cases = [
        ("spiffe://exämple.org/a", 11, 0xc3, true),
        ("spiffe://example.org/é", 21, 0xc3, false),
        ("spiffe://example.org/a/\u{1F600}", 23, 0xf0, false),
        ("spiffe://\u{212a}.org/a", 9, 0xe2, true),
        ("spiffe://example.org/\u{ff0f}etc", 21, 0xef, false),
    ];
    for (input, position, byte, in_td) in cases {
        let err = SpiffeId::parse(input).unwrap_err();
        let expected = if in_td {
            SpiffeIdError::TrustDomainChar { position, byte }
        } else {
            SpiffeIdError::PathChar { position, byte }
        };
        assert_eq!(err, expected, "{input:?}");
        assert_message(&err);
        // The byte is shown in hex, never as a broken character.
        assert!(err.to_string().contains(&format!("0x{byte:02x}")), "{err}");

        // Lowercasing (ASCII only) does not make these valid either.
        assert!(SpiffeId::parse_lenient(input).is_err(), "{input:?}");
    }

    // A multi-byte character where the scheme ends must not split a char boundary.
    for input in [
        "spiffe:/é/x",
        "SPIFFE:/é",
        "spiffé://x/y",
        "\u{1F600}spiffe://x/y",
    ] {
        assert_eq!(
            SpiffeId::parse_lenient(input).unwrap_err(),
            SpiffeIdError::WrongScheme
        );
    }
    assert!(TrustDomain::new("exämple.org").is_err());
    assert!(TrustDomain::from_name_or_id("spiffe://exämple.org").is_err());
}

fn id_of_len(len: usize) -> String {
    let prefix = "spiffe://example.org/";
    let mut s = String::from(prefix);
    // Segments of up to 100 bytes keep the path realistic.
    while s.len() < len {
        if s.len() > prefix.len()
            && (s.len() - prefix.len()).is_multiple_of(100)
            && s.len() + 1 < len
        {
            s.push('/');
        } else {
            s.push('a');
        }
    }
    s
}

#[test]
fn id_length_limit_holds_at_and_one_past_the_boundary() {
    let at = id_of_len(MAX_ID_LEN);
    assert_eq!(at.len(), MAX_ID_LEN);
    let id = SpiffeId::parse(&at).unwrap();
    assert_id_invariants(&id);
    assert_eq!(SpiffeId::parse_lenient(&at).unwrap(), id);

    let past = id_of_len(MAX_ID_LEN + 1);
    let err = SpiffeId::parse(&past).unwrap_err();
    assert_eq!(
        err,
        SpiffeIdError::TooLong {
            len: MAX_ID_LEN + 1
        }
    );
    assert_message(&err);
    assert_eq!(SpiffeId::parse_lenient(&past).unwrap_err(), err);

    // from_segments enforces the same limit on what it builds.
    let td = TrustDomain::new("example.org").unwrap();
    let segment_at = "a".repeat(MAX_ID_LEN - "spiffe://example.org/".len());
    let built = SpiffeId::from_segments(&td, &[segment_at.as_str()]).unwrap();
    assert_eq!(built.as_str().len(), MAX_ID_LEN);
    assert_eq!(built.path(), format!("/{segment_at}"));
    let segment_past = format!("{segment_at}a");
    assert!(matches!(
        SpiffeId::from_segments(&td, &[segment_past.as_str()]),
        Err(SpiffeIdError::TooLong { len }) if len == MAX_ID_LEN + 1
    ));
}

#[test]
fn trust_domain_length_limit_holds_at_and_one_past_the_boundary() {
    let at = "a".repeat(MAX_TRUST_DOMAIN_LEN);
    let past = "a".repeat(MAX_TRUST_DOMAIN_LEN + 1);

    assert_eq!(TrustDomain::new(&at).unwrap().as_str(), at);
    assert_eq!(
        TrustDomain::new(&past).unwrap_err(),
        SpiffeIdError::TrustDomainTooLong {
            len: MAX_TRUST_DOMAIN_LEN + 1
        }
    );

    let id_at = format!("spiffe://{at}/w");
    assert_eq!(SpiffeId::parse(&id_at).unwrap().trust_domain_name(), at);
    assert_eq!(
        TrustDomain::from_name_or_id(&format!("spiffe://{at}"))
            .unwrap()
            .as_str(),
        at
    );

    let id_past = format!("spiffe://{past}/w");
    let err = SpiffeId::parse(&id_past).unwrap_err();
    assert_eq!(
        err,
        SpiffeIdError::TrustDomainTooLong {
            len: MAX_TRUST_DOMAIN_LEN + 1
        }
    );
    assert_message(&err);
    assert!(TrustDomain::from_name_or_id(&format!("spiffe://{past}")).is_err());
    // Uppercase operator input is lowercased, the limit still applies.
    let upper_past = format!("SPIFFE://{}/w", "A".repeat(MAX_TRUST_DOMAIN_LEN + 1));
    assert!(SpiffeId::parse_lenient(&upper_past).is_err());
}

#[test]
fn huge_inputs_are_refused_by_length_before_anything_else() {
    // 16 MiB: far past the cap, built of bytes that would be valid one by one.
    let body = "a".repeat(16 * 1024 * 1024);
    let inputs = [
        format!("spiffe://example.org/{body}"),
        format!("SPIFFE://{}", body.to_uppercase()),
        body.clone(),
    ];

    let started = Instant::now();
    for input in &inputs {
        let len = input.len();
        assert_eq!(
            SpiffeId::parse(input).unwrap_err(),
            SpiffeIdError::TooLong { len },
            "parse"
        );
        assert_eq!(
            SpiffeId::parse_lenient(input).unwrap_err(),
            SpiffeIdError::TooLong { len },
            "parse_lenient"
        );
    }
    assert!(matches!(
        TrustDomain::new(&body),
        Err(SpiffeIdError::TrustDomainTooLong { .. })
    ));
    assert!(TrustDomain::from_name_or_id(&inputs[0]).is_err());
    // Length checks only: no pass over (or copy of) the 16 MiB.
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn generated_valid_ids_round_trip() {
    const TD: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789.-_";
    const PATH: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_";
    let mut rng = Rng(0x5eed_1d00_0000_0004);

    for _ in 0..2000 {
        let td_len = 1 + rng.below(40);
        let td: String = (0..td_len).map(|_| char::from(*rng.pick(TD))).collect();
        let mut segments = Vec::new();
        for _ in 0..rng.below(6) {
            let len = 1 + rng.below(12);
            let seg: String = (0..len).map(|_| char::from(*rng.pick(PATH))).collect();
            if seg != "." && seg != ".." {
                segments.push(seg);
            }
        }
        let path: String = segments.iter().map(|s| format!("/{s}")).collect();
        let text = format!("spiffe://{td}{path}");

        let id = SpiffeId::parse(&text).unwrap();
        assert_eq!(id.to_string(), text);
        assert_eq!(id.trust_domain_name(), td);
        assert_eq!(id.path(), path);
        assert_eq!(id.segments().collect::<Vec<_>>(), segments);
        assert_id_invariants(&id);

        // The lenient constructor lowercases the scheme and the trust domain only.
        let shouted = format!("SPIFFE://{}{path}", td.to_uppercase());
        assert_eq!(SpiffeId::parse_lenient(&shouted).unwrap(), id);
        if td.bytes().any(|b| b.is_ascii_lowercase()) {
            assert!(SpiffeId::parse(&shouted).is_err());
        }

        let trust_domain = TrustDomain::new(&td).unwrap();
        let refs: Vec<&str> = segments.iter().map(String::as_str).collect();
        assert_eq!(SpiffeId::from_segments(&trust_domain, &refs).unwrap(), id);
    }
}

#[test]
fn from_segments_refuses_what_parse_refuses() {
    let td = TrustDomain::new("example.org").unwrap();
    let mut rng = Rng(0x5eed_1d00_0000_0005);
    for _ in 0..2000 {
        let segment = random_input(&mut rng);
        let built = SpiffeId::from_segments(&td, &[segment.as_str()]);
        let parsed = SpiffeId::parse(&format!("spiffe://example.org/{segment}"));
        match built {
            Ok(id) => {
                assert_eq!(id, parsed.unwrap(), "{segment:?}");
                assert_id_invariants(&id);
            }
            Err(err) => {
                assert_message(&err);
                assert!(matches!(err, SpiffeIdError::Segment { index: 0, .. }));
                // A `/` is a separator for parse but never allowed inside one segment.
                if !segment.contains('/') {
                    assert!(parsed.is_err(), "{segment:?}");
                }
            }
        }
    }
}
