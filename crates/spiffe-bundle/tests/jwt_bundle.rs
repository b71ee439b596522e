//! JWT bundles read from JWK Sets: what counts as a key, what is skipped, what is refused,
//! scenario P7 (empty bundles) and the J3 rule that unusable key types produce nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod support;

use std::sync::Arc;

use spiffe_bundle::{
    BundleError, EcCurve, JwtAuthority, JwtBundle, JwtBundleSet, JwtBundleSource, JwtKeyError,
    JwtPublicKey, MemberProblem,
};
use spiffe_id::TrustDomain;

const P256_X: &str = "ngLYQnlfF6GsojUwqtcEE3WgTNG2RUlsGhK73RNEl5k";
const P256_Y: &str = "tKbiDSUSsQ3F1P7wteeHNXIcU-cx6CgSbroeQrQHTLM";

fn td(name: &str) -> TrustDomain {
    TrustDomain::new(name).unwrap()
}

fn jwks(json: &str) -> Result<JwtBundle, BundleError> {
    JwtBundle::from_jwks(td("example.org"), json.as_bytes())
}

fn ec_key(kid: &str) -> String {
    format!(r#"{{"kty":"EC","kid":"{kid}","crv":"P-256","x":"{P256_X}","y":"{P256_Y}"}}"#)
}

#[test]
fn empty_bytes_and_an_empty_key_list_are_empty_bundles() {
    // Scenario P7: one trust domain sends `{"keys":[]}`, another empty bytes.
    for input in ["", r#"{"keys":[]}"#, r#"{"keys":null}"#] {
        let bundle = jwks(input).unwrap();
        assert!(bundle.is_empty(), "{input:?}");
        assert_eq!(bundle.authorities().count(), 0);
        assert!(bundle.authority("any").is_none());
    }
}

#[test]
fn whitespace_is_not_empty_input() {
    let err = jwks(" \n").unwrap_err();
    assert!(matches!(err, BundleError::InvalidJson { .. }), "{err:?}");
}

#[test]
fn a_missing_keys_member_is_an_error() {
    let err = jwks(r#"{"kty":"EC"}"#).unwrap_err();
    assert!(matches!(err, BundleError::MissingKeys), "{err:?}");
}

#[test]
fn keys_count_whatever_their_use() {
    let doc = format!(
        r#"{{"keys":[{}, {}, {}]}}"#,
        ec_key("a").replace("{", r#"{"use":"x509-svid","#),
        ec_key("b").replace("{", r#"{"use":"foo","#),
        ec_key("c"),
    );
    let bundle = jwks(&doc).unwrap();
    let kids: Vec<&str> = bundle.authorities().map(JwtAuthority::key_id).collect();
    assert_eq!(kids, ["a", "b", "c"]);
}

#[test]
fn unusable_key_types_are_skipped_and_produce_no_authority() {
    // J3: a token whose `kid` names one of these keys finds nothing to verify with.
    let doc = format!(
        r#"{{"keys":[
            {{"kty":"oct","kid":"sym"}},
            {{"kty":"OKP","kid":"ed","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}},
            {{"kty":"future","kid":"new"}},
            {}
        ]}}"#,
        ec_key("ec")
    );
    let bundle = jwks(&doc).unwrap();
    assert_eq!(bundle.len(), 1);
    for kid in ["sym", "ed", "new"] {
        assert!(bundle.authority(kid).is_none(), "{kid}");
    }
    assert!(bundle.authority("ec").is_some());
}

#[test]
fn a_skipped_key_needs_no_kid_but_a_usable_one_does() {
    let bundle = jwks(r#"{"keys":[{"kty":"oct"}]}"#).unwrap();
    assert!(bundle.is_empty());

    let err = jwks(&format!(r#"{{"keys":[{{"kty":"oct"}}, {}]}}"#, ec_key(""))).unwrap_err();
    assert!(
        matches!(err, BundleError::MissingKeyId { index: 2 }),
        "{err:?}"
    );
}

#[test]
fn a_key_without_kty_is_an_error() {
    let err = jwks(r#"{"keys":[{"kid":"a"}]}"#).unwrap_err();
    assert!(
        matches!(
            err,
            BundleError::InvalidMember {
                key: Some(1),
                member: "kty",
                problem: MemberProblem::Missing
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "member `kty` of key 1 is missing");
}

#[test]
fn private_members_reject_the_whole_document() {
    for member in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        // Even on a key that would be skipped, and even when the value is null.
        let doc = format!(
            r#"{{"keys":[{}, {{"kty":"oct","{member}":null}}]}}"#,
            ec_key("a")
        );
        let err = jwks(&doc).unwrap_err();
        match err {
            BundleError::PrivateKeyMember {
                index: 2,
                member: m,
            } => assert_eq!(m, member),
            other => panic!("{member}: {other:?}"),
        }
    }
}

#[test]
fn a_private_member_is_reported_before_other_faults() {
    // Key 1 has a bad curve, key 2 leaks a private key: the leak is what gets reported.
    let doc = r#"{"keys":[{"kty":"EC","kid":"a","crv":"P-192","x":"AA","y":"AA"},
                          {"kty":"RSA","kid":"b","d":"AQAB"}]}"#;
    let err = jwks(doc).unwrap_err();
    assert!(
        matches!(
            err,
            BundleError::PrivateKeyMember {
                index: 2,
                member: "d"
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_duplicate_kid_is_an_error_naming_the_later_key() {
    let doc = format!(
        r#"{{"keys":[{}, {}, {}]}}"#,
        ec_key("a"),
        ec_key("b"),
        ec_key("a")
    );
    let err = jwks(&doc).unwrap_err();
    assert!(
        matches!(err, BundleError::DuplicateKeyId { index: 3 }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "key 3 has the same `kid` as an earlier key"
    );
}

#[test]
fn a_member_twice_in_one_object_is_an_error() {
    let doc = format!(r#"{{"keys":[{}], "keys":[]}}"#, ec_key("a"));
    let err = jwks(&doc).unwrap_err();
    assert!(
        matches!(
            err,
            BundleError::DuplicateMember {
                member: "keys",
                key: None
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "member `keys` appears twice in the bundle document"
    );

    // Escapes do not hide the second copy.
    let doc = format!(r#"{{"keys":[{}], "k\u0065ys":[]}}"#, ec_key("a"));
    assert!(matches!(
        jwks(&doc).unwrap_err(),
        BundleError::DuplicateMember { member: "keys", .. }
    ));

    let doc = ec_key("a").replace("{", r#"{"kid":"b","#);
    let err = jwks(&format!(r#"{{"keys":[{doc}]}}"#)).unwrap_err();
    assert!(
        matches!(
            err,
            BundleError::DuplicateMember {
                member: "kid",
                key: Some(1)
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "member `kid` appears twice in key 1");
}

#[test]
fn unknown_members_may_repeat_and_are_ignored() {
    let doc = ec_key("a").replace("{", r#"{"alg":"ES256","alg":"x","x5t":[1,{"a":null}],"#);
    let bundle = jwks(&format!(r#"{{"keys":[{doc}],"other":1,"other":2}}"#)).unwrap();
    assert_eq!(bundle.len(), 1);
}

#[test]
fn wrong_member_types_name_the_member_and_the_key() {
    let cases = [
        (r#"{"keys":{}}"#, None, "keys", "an array"),
        (r#"{"keys":[{"kty":1}]}"#, Some(1), "kty", "a string"),
        (
            r#"{"keys":[{"kty":"EC","use":true}]}"#,
            Some(1),
            "use",
            "a string",
        ),
        (
            r#"{"keys":[{"kty":"EC","kid":["a"],"crv":"P-256","x":"AA","y":"AA"}]}"#,
            Some(1),
            "kid",
            "a string",
        ),
        (
            r#"{"keys":[{"kty":"EC","kid":"a","crv":null}]}"#,
            Some(1),
            "crv",
            "a string",
        ),
    ];
    for (doc, key, member, expected) in cases {
        let err = jwks(doc).unwrap_err();
        match &err {
            BundleError::InvalidMember {
                key: k,
                member: m,
                problem: MemberProblem::WrongType { expected: e },
            } => assert_eq!((*k, *m, *e), (key, member, expected), "{doc}"),
            other => panic!("{doc}: {other:?}"),
        }
    }
}

#[test]
fn an_entry_that_is_not_an_object_is_an_error() {
    let err = jwks(&format!(r#"{{"keys":[{}, "x"]}}"#, ec_key("a"))).unwrap_err();
    assert!(
        matches!(err, BundleError::KeyNotObject { index: 2 }),
        "{err:?}"
    );
}

#[test]
fn ec_coordinates_must_have_the_curve_size() {
    // 31 bytes of x for P-256.
    let short_x = "ngLYQnlfF6GsojUwqtcEE3WgTNG2RUlsGhK73RNElw";
    let doc = format!(
        r#"{{"keys":[{{"kty":"EC","kid":"a","crv":"P-256","x":"{short_x}","y":"{P256_Y}"}}]}}"#
    );
    let err = jwks(&doc).unwrap_err();
    match &err {
        BundleError::InvalidJwtKey { index: 1, source } => assert_eq!(
            *source,
            JwtKeyError::CoordinateLength {
                curve: EcCurve::P256,
                coordinate: "x",
                len: 31
            }
        ),
        other => panic!("{other:?}"),
    }
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert_eq!(source, "coordinate x has 31 bytes where P-256 needs 32");

    // The P-256 point claimed as P-384.
    let doc = ec_key("a").replace("P-256", "P-384");
    let err = jwks(&format!(r#"{{"keys":[{doc}]}}"#)).unwrap_err();
    assert!(
        matches!(
            err,
            BundleError::InvalidJwtKey {
                source: JwtKeyError::CoordinateLength { len: 32, .. },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn only_the_three_nist_curves_are_accepted() {
    for crv in ["P-192", "secp256k1", "Ed25519", "p-256"] {
        let doc = ec_key("a").replace("P-256", crv);
        let err = jwks(&format!(r#"{{"keys":[{doc}]}}"#)).unwrap_err();
        assert!(
            matches!(
                err,
                BundleError::InvalidJwtKey {
                    index: 1,
                    source: JwtKeyError::UnsupportedCurve
                }
            ),
            "{crv}: {err:?}"
        );
    }
}

#[test]
fn binary_members_must_be_unpadded_base64url() {
    for bad in [
        format!("{P256_X}="),
        P256_X.replacen('n', "+", 1),
        "not base64!".to_owned(),
    ] {
        let doc = ec_key("a").replace(P256_X, &bad);
        let err = jwks(&format!(r#"{{"keys":[{doc}]}}"#)).unwrap_err();
        assert!(
            matches!(
                err,
                BundleError::InvalidMember {
                    key: Some(1),
                    member: "x",
                    problem: MemberProblem::NotBase64Url
                }
            ),
            "{bad}: {err:?}"
        );
    }
}

fn rsa_doc(n: &[u8], e: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        r#"{{"keys":[{{"kty":"RSA","kid":"r","n":"{}","e":"{}"}}]}}"#,
        b64.encode(n),
        b64.encode(e)
    )
}

#[test]
fn rsa_moduli_from_2048_to_8192_bits_are_accepted() {
    for bits in [2048usize, 3072, 4096, 8192] {
        let mut n = vec![0xc3; bits / 8];
        n[0] = 0x80;
        let bundle = jwks(&rsa_doc(&n, &[1, 0, 1])).unwrap();
        let key = bundle.authority("r").unwrap().public_key();
        assert_eq!(key.rsa_modulus_bits(), Some(bits));
        assert_eq!(key.kty(), "RSA");
        assert!(key.ec_point().is_none());
    }
}

#[test]
fn rsa_moduli_outside_the_range_are_refused() {
    let mut small = vec![0xff; 256];
    small[0] = 0x7f; // 2047 bits
    let mut large = vec![0xff; 1025];
    large[0] = 0x01; // 8193 bits
    for (n, bits) in [(small, 2047), (large, 8193), (vec![0xff; 128], 1024)] {
        let err = jwks(&rsa_doc(&n, &[1, 0, 1])).unwrap_err();
        match err {
            BundleError::InvalidJwtKey { source, .. } => {
                assert_eq!(source, JwtKeyError::RsaModulusSize { bits });
            }
            other => panic!("{bits}: {other:?}"),
        }
    }
}

#[test]
fn an_even_modulus_and_a_bad_exponent_are_refused() {
    let mut even = vec![0xff; 256];
    even[255] = 0xfe;
    let err = jwks(&rsa_doc(&even, &[1, 0, 1])).unwrap_err();
    assert!(matches!(
        err,
        BundleError::InvalidJwtKey {
            source: JwtKeyError::RsaModulusEven,
            ..
        }
    ));

    let n = vec![0xff; 256];
    for e in [&[1u8][..], &[2], &[1, 0, 0, 0, 1]] {
        let err = jwks(&rsa_doc(&n, e)).unwrap_err();
        assert!(
            matches!(
                err,
                BundleError::InvalidJwtKey {
                    source: JwtKeyError::RsaExponent,
                    ..
                }
            ),
            "{e:?}"
        );
    }
}

#[test]
fn a_leading_zero_in_the_modulus_is_dropped() {
    let mut n = vec![0x00];
    n.extend(vec![0xff; 256]);
    let bundle = jwks(&rsa_doc(&n, &[1, 0, 1])).unwrap();
    let JwtPublicKey::Rsa { n, .. } = bundle.authority("r").unwrap().public_key() else {
        panic!("not RSA");
    };
    assert_eq!(n.len(), 256);
}

#[test]
fn generated_keys_survive_a_round_trip() {
    let json = support::three_key_jwks();
    let bundle = jwks(&json).unwrap();
    assert_eq!(bundle.len(), 3);
    assert_eq!(bundle.to_jwks(), json);

    let again = jwks(&bundle.to_jwks()).unwrap();
    assert_eq!(again, bundle);
    let curves: Vec<_> = again
        .authorities()
        .map(|a| a.public_key().curve())
        .collect();
    assert_eq!(curves, [Some(EcCurve::P256), Some(EcCurve::P384), None]);
}

#[test]
fn add_authority_refuses_a_duplicate_kid_and_leaves_the_bundle_unchanged() {
    let mut bundle = JwtBundle::new(td("example.org"));
    bundle
        .add_authority(support::ec_authority("a", EcCurve::P256))
        .unwrap();
    let before = bundle.clone();

    let err = bundle
        .add_authority(support::ec_authority("a", EcCurve::P384))
        .unwrap_err();
    assert!(
        matches!(err, BundleError::DuplicateKeyId { index: 2 }),
        "{err:?}"
    );
    assert_eq!(bundle, before);

    assert!(bundle.remove_authority("a").is_some());
    assert!(bundle.is_empty());
}

#[test]
fn public_key_constructors_check_the_shape() {
    assert_eq!(
        JwtPublicKey::ec(EcCurve::P521, vec![0; 66], vec![0; 65]).unwrap_err(),
        JwtKeyError::CoordinateLength {
            curve: EcCurve::P521,
            coordinate: "y",
            len: 65
        }
    );
    let key = JwtPublicKey::ec(EcCurve::P521, vec![1; 66], vec![2; 66]).unwrap();
    let point = key.ec_point().unwrap();
    assert_eq!(point.len(), 133);
    assert_eq!((point[0], point[1], point[67]), (0x04, 1, 2));

    assert_eq!(
        JwtAuthority::new("", key).unwrap_err(),
        JwtKeyError::EmptyKeyId
    );
}

#[test]
fn a_set_answers_per_trust_domain_through_every_source_form() {
    let a = jwks(&format!(r#"{{"keys":[{}]}}"#, ec_key("a"))).unwrap();
    let b = JwtBundle::from_jwks(td("other.org"), b"").unwrap();
    let set: JwtBundleSet = [a.clone(), b].into_iter().collect();
    assert_eq!(set.len(), 2);

    fn lookup(source: impl JwtBundleSource, td: &str) -> Option<usize> {
        source.jwt_bundle(td).map(JwtBundle::len)
    }
    assert_eq!(lookup(&set, "example.org"), Some(1));
    assert_eq!(lookup(&set, "other.org"), Some(0));
    assert_eq!(lookup(&set, "third.org"), None);
    assert_eq!(lookup(Arc::new(set.clone()), "example.org"), Some(1));
    assert_eq!(lookup(&a, "example.org"), Some(1));
    assert_eq!(lookup(&a, "other.org"), None);

    let by_td = td("example.org");
    assert!(set.get(&by_td).is_some());
    assert!(set.contains("other.org"));
}

#[test]
fn debug_output_names_key_ids_but_no_key_material() {
    let bundle = jwks(&format!(r#"{{"keys":[{}]}}"#, ec_key("kid-1"))).unwrap();
    let debug = format!("{bundle:?} {:?}", bundle.authority("kid-1").unwrap());
    assert!(debug.contains("kid-1") && debug.contains("P256"), "{debug}");
    assert!(!debug.contains("158"), "coordinates leak into {debug}");
}
