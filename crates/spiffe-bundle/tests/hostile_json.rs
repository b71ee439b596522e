//! Hostile input for JWK Sets and SPIFFE bundle documents: the size cap before parsing, deep
//! nesting, huge numbers, non-UTF-8, the key count limit at and past its boundary, and random
//! bytes, truncations and bit flips of valid documents.
//!
//! Generation is deterministic (a fixed-seed xorshift) and bounded; every call must return
//! `Ok` or a typed error whose message is non-empty and lowercase-first.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod support;

use spiffe_bundle::{
    BundleError, JwtBundle, MAX_AUTHORITIES, MAX_BUNDLE_BYTES, MemberProblem, SpiffeBundle,
};
use spiffe_id::TrustDomain;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn td() -> TrustDomain {
    TrustDomain::new("example.org").unwrap()
}

/// Both readers on the same input; each must return, and every error must read well.
fn both(
    input: &[u8],
) -> (
    Result<JwtBundle, BundleError>,
    Result<SpiffeBundle, BundleError>,
) {
    let jwks = JwtBundle::from_jwks(td(), input);
    let spiffe = SpiffeBundle::parse(td(), input);
    for err in [jwks.as_ref().err(), spiffe.as_ref().err()]
        .into_iter()
        .flatten()
    {
        assert_message(err);
    }
    (jwks, spiffe)
}

/// Non-empty, lowercase first (a leading acronym such as `RSA` or `EOF` is allowed), no
/// trailing period; the same for the source.
fn assert_message(err: &dyn std::error::Error) {
    let mut next = Some(err);
    while let Some(err) = next {
        let msg = err.to_string();
        assert!(!msg.is_empty(), "{err:?} has an empty message");
        let first_word: String = msg.chars().take_while(|c| c.is_alphanumeric()).collect();
        let acronym = first_word.len() >= 2 && !first_word.chars().any(char::is_lowercase);
        assert!(
            !msg.chars().next().unwrap().is_uppercase() || acronym,
            "message of {err:?} is not lowercase-first: {msg:?}"
        );
        assert!(!msg.ends_with('.'), "message ends with a period: {msg:?}");
        next = err.source();
    }
}

#[test]
fn input_over_the_cap_is_refused_before_parsing() {
    // Not JSON at all: only the size can be what is reported.
    let input = vec![b'x'; MAX_BUNDLE_BYTES + 1];
    let (jwks, spiffe) = both(&input);
    for err in [jwks.unwrap_err(), spiffe.unwrap_err()] {
        assert!(
            matches!(err, BundleError::TooLarge { len, max } if len == MAX_BUNDLE_BYTES + 1 && max == MAX_BUNDLE_BYTES),
            "{err:?}"
        );
    }

    // A valid document exactly at the cap is read.
    let mut doc = br#"{"keys":[],"pad":""#.to_vec();
    doc.resize(MAX_BUNDLE_BYTES - 2, b'a');
    doc.extend_from_slice(br#""}"#);
    assert_eq!(doc.len(), MAX_BUNDLE_BYTES);
    let (jwks, spiffe) = both(&doc);
    assert!(jwks.unwrap().is_empty());
    assert!(spiffe.unwrap().jwt_bundle().is_empty());
}

#[test]
fn deep_nesting_costs_no_stack_wherever_it_is() {
    // The reader's own recursion stops at a fixed depth (document, keys, key, member); what
    // lies below is skipped by serde_json without recursion. So nesting far past serde_json's
    // recursion limit of 128 gives the same outcome as a flat value in the same place.
    for depth in [129, 10_000, 500_000] {
        let open = |s: &str| s.repeat(depth);
        let ignored = [
            format!(r#"{{"keys":[],"x":{}{}}}"#, open("["), open("]")),
            format!(
                r#"{{"keys":[{{"kty":"oct","x5t":{}0{}}}]}}"#,
                open("{\"a\":"),
                open("}")
            ),
            format!(
                r#"{{"keys":[{{"use":"foo","kty":"oct","x5c":[{}{}]}}]}}"#,
                open("["),
                open("]")
            ),
        ];
        for doc in ignored {
            let (jwks, spiffe) = both(doc.as_bytes());
            assert!(jwks.unwrap().is_empty(), "depth {depth}");
            assert!(spiffe.unwrap().jwt_bundle().is_empty(), "depth {depth}");
        }

        let doc = format!(r#"{{"keys":{}{}}}"#, open("["), open("]"));
        let (jwks, spiffe) = both(doc.as_bytes());
        for err in [jwks.unwrap_err(), spiffe.unwrap_err()] {
            assert!(
                matches!(err, BundleError::KeyNotObject { index: 1 }),
                "{err:?}"
            );
        }

        let doc = format!(
            r#"{{"keys":[{{"kty":"EC","kid":{}"a"{}}}]}}"#,
            open("["),
            open("]")
        );
        let err = JwtBundle::from_jwks(td(), doc.as_bytes()).unwrap_err();
        assert!(
            matches!(err, BundleError::InvalidMember { member: "kid", .. }),
            "{err:?}"
        );
    }

    // Unbalanced nesting is still malformed JSON.
    let doc = format!(r#"{{"keys":[],"x":{}}}"#, "[".repeat(100_000));
    let (jwks, spiffe) = both(doc.as_bytes());
    assert!(matches!(jwks.unwrap_err(), BundleError::InvalidJson { .. }));
    assert!(matches!(
        spiffe.unwrap_err(),
        BundleError::InvalidJson { .. }
    ));
}

#[test]
fn huge_numbers_are_errors_not_panics() {
    let out_of_range = r#"{"keys":[],"spiffe_sequence":1e400}"#;
    let err = SpiffeBundle::parse(td(), out_of_range.as_bytes()).unwrap_err();
    assert!(matches!(err, BundleError::InvalidJson { .. }), "{err:?}");

    let long_integer = format!(
        r#"{{"keys":[],"spiffe_refresh_hint":{}}}"#,
        "9".repeat(5000)
    );
    let err = SpiffeBundle::parse(td(), long_integer.as_bytes()).unwrap_err();
    assert_message(&err);
    assert!(
        matches!(
            err,
            BundleError::InvalidJson { .. }
                | BundleError::InvalidMember {
                    problem: MemberProblem::WrongType { .. },
                    ..
                }
        ),
        "{err:?}"
    );

    // In a member that is ignored, a huge number is still only a number.
    let ignored = format!(r#"{{"keys":[],"spiffe_x":{}}}"#, "9".repeat(5000));
    assert!(SpiffeBundle::parse(td(), ignored.as_bytes()).is_ok());
}

#[test]
fn non_utf8_input_is_refused_wherever_it_is() {
    let cases: [(&[u8], usize); 4] = [
        (b"{\"keys\":[{\"kty\":\"EC\",\"kid\":\"\xff\"}]}", 28),
        (b"{\"k\xc3\x28ys\":[]}", 3),
        // In a member that is otherwise skipped.
        (b"{\"keys\":[],\"x\":\"\xc0\xaf\"}", 16),
        (b"\xfe\xff\x00{", 0),
    ];
    for (input, offset) in cases {
        let (jwks, spiffe) = both(input);
        for err in [jwks.unwrap_err(), spiffe.unwrap_err()] {
            assert!(
                matches!(err, BundleError::NotUtf8 { offset: o } if o == offset),
                "{input:?}: {err:?}"
            );
        }
    }

    // A UTF-8 byte order mark is UTF-8 but not JSON (RFC 8259 §8.1: must not be added).
    let (jwks, _) = both(b"\xef\xbb\xbf{\"keys\":[]}");
    assert!(matches!(jwks.unwrap_err(), BundleError::InvalidJson { .. }));
}

#[test]
fn the_key_limit_holds_at_and_past_its_boundary() {
    let key = r#"{"kty":"oct"}"#;
    let doc = |n: usize| format!(r#"{{"keys":[{}]}}"#, vec![key; n].join(","));

    let (jwks, spiffe) = both(doc(MAX_AUTHORITIES).as_bytes());
    assert!(jwks.unwrap().is_empty());
    assert!(spiffe.unwrap().jwt_bundle().is_empty());

    let (jwks, spiffe) = both(doc(MAX_AUTHORITIES + 1).as_bytes());
    for err in [jwks.unwrap_err(), spiffe.unwrap_err()] {
        assert!(
            matches!(err, BundleError::TooManyKeys { max } if max == MAX_AUTHORITIES),
            "{err:?}"
        );
    }
}

#[test]
fn a_thousand_usable_keys_are_read() {
    let mut keys = Vec::new();
    let authority = support::ec_authority("seed", spiffe_bundle::EcCurve::P256);
    let mut bundle = JwtBundle::new(td());
    for i in 0..MAX_AUTHORITIES {
        let mut copy = JwtBundle::new(td());
        copy.add_authority(
            spiffe_bundle::JwtAuthority::new(format!("k{i}"), authority.public_key().clone())
                .unwrap(),
        )
        .unwrap();
        keys.push(copy);
        bundle
            .add_authority(
                spiffe_bundle::JwtAuthority::new(format!("k{i}"), authority.public_key().clone())
                    .unwrap(),
            )
            .unwrap();
    }
    let read = JwtBundle::from_jwks(td(), bundle.to_jwks().as_bytes()).unwrap();
    assert_eq!(read.len(), MAX_AUTHORITIES);

    let extra =
        spiffe_bundle::JwtAuthority::new("one-more", authority.public_key().clone()).unwrap();
    let err = bundle.add_authority(extra).unwrap_err();
    assert!(
        matches!(err, BundleError::TooManyAuthorities { .. }),
        "{err:?}"
    );
}

#[test]
fn random_bytes_give_errors_not_panics() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for _ in 0..2000 {
        let len = rng.below(200);
        let input: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let (jwks, spiffe) = both(&input);
        // Only the empty input is a bundle among these.
        assert_eq!(jwks.is_ok(), input.is_empty(), "{input:?}");
        assert!(spiffe.is_err(), "{input:?}");
    }
}

fn sample_documents() -> Vec<String> {
    let jwks = support::three_key_jwks();
    let mut spiffe = SpiffeBundle::new(td());
    spiffe
        .x509_bundle_mut()
        .add_authority(support::ca_der("root").into())
        .unwrap();
    for authority in JwtBundle::from_jwks(td(), jwks.as_bytes())
        .unwrap()
        .authorities()
    {
        spiffe
            .jwt_bundle_mut()
            .add_authority(authority.clone())
            .unwrap();
    }
    spiffe.set_sequence(Some(3));
    vec![jwks, spiffe.to_json()]
}

#[test]
fn truncations_of_valid_documents_give_errors_not_panics() {
    for doc in sample_documents() {
        let bytes = doc.as_bytes();
        for end in 1..bytes.len() {
            let (jwks, spiffe) = both(&bytes[..end]);
            assert!(
                jwks.is_err() && spiffe.is_err(),
                "prefix of {end} bytes was accepted"
            );
        }
    }
}

#[test]
fn bit_flips_give_an_error_or_a_bundle_that_round_trips() {
    let mut rng = Rng(0xb17f_11b5_0000_0002);
    for doc in sample_documents() {
        for _ in 0..3000 {
            let mut bytes = doc.clone().into_bytes();
            let at = rng.below(bytes.len());
            bytes[at] ^= 1 << rng.below(8);

            let (jwks, spiffe) = both(&bytes);
            if let Ok(bundle) = jwks {
                let again = JwtBundle::from_jwks(td(), bundle.to_jwks().as_bytes()).unwrap();
                assert_eq!(again, bundle);
            }
            if let Ok(bundle) = spiffe {
                match SpiffeBundle::parse(td(), bundle.to_json().as_bytes()) {
                    Ok(again) => assert_eq!(again, bundle),
                    // A flip in the certificate's key algorithm leaves a certificate whose key
                    // has no JWK form; it is written without `kty` (a documented limitation).
                    Err(BundleError::InvalidMember {
                        member: "kty",
                        problem: MemberProblem::Missing,
                        ..
                    }) => {}
                    Err(err) => panic!("own output refused: {err:?}"),
                }
            }
        }
    }
}

#[test]
fn every_json_error_reports_line_and_column() {
    let err = JwtBundle::from_jwks(td(), b"{\n  \"keys\": [,]\n}").unwrap_err();
    let BundleError::InvalidJson { source } = &err else {
        panic!("{err:?}");
    };
    assert_eq!((source.line(), source.column()), (2, 12));
    assert_eq!(err.to_string(), "bundle document is not valid JSON");
    assert!(source.to_string().contains("line 2 column 12"), "{source}");
}

#[test]
fn a_top_level_that_is_not_an_object_is_invalid_json() {
    for input in ["[]", "\"keys\"", "null", "1", "{\"keys\":[]} {}"] {
        let (jwks, spiffe) = both(input.as_bytes());
        for err in [jwks.unwrap_err(), spiffe.unwrap_err()] {
            assert!(
                matches!(err, BundleError::InvalidJson { .. }),
                "{input}: {err:?}"
            );
        }
    }
}
