//! SPIFFE bundle documents: which keys become authorities (scenario P6), the `x5c` rule,
//! `spiffe_sequence` and `spiffe_refresh_hint`, round trips, and the bundle set.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod support;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use spiffe_bundle::{
    BundleError, EcCurve, JwtBundleSource, MemberProblem, SpiffeBundle, SpiffeBundleSet,
    X509BundleSource,
};
use spiffe_id::TrustDomain;

const P256_X: &str = "ngLYQnlfF6GsojUwqtcEE3WgTNG2RUlsGhK73RNEl5k";
const P256_Y: &str = "tKbiDSUSsQ3F1P7wteeHNXIcU-cx6CgSbroeQrQHTLM";

fn td(name: &str) -> TrustDomain {
    TrustDomain::new(name).unwrap()
}

fn parse(json: &str) -> Result<SpiffeBundle, BundleError> {
    SpiffeBundle::parse(td("example.org"), json.as_bytes())
}

/// A JWK body for a P-256 key, without braces, so tests can add members around it.
fn ec_members(kid: &str) -> String {
    format!(r#""kty":"EC","kid":"{kid}","crv":"P-256","x":"{P256_X}","y":"{P256_Y}""#)
}

fn x509_key(der: &[u8]) -> String {
    format!(
        r#"{{"use":"x509-svid","kty":"EC","x5c":["{}"]}}"#,
        STANDARD.encode(der)
    )
}

#[test]
fn known_keys_are_kept_and_the_rest_ignored() {
    // Scenario P6: uses x509-svid, jwt-svid, wit-svid, foo and none, and an unknown top-level
    // member.
    let ca = support::ca_der("p6 root");
    let doc = format!(
        r#"{{
            "keys": [
                {},
                {{"use":"jwt-svid",{}}},
                {{"use":"wit-svid",{}}},
                {{"use":"foo",{}}},
                {{{}}}
            ],
            "spiffe_federation_extra": {{"nested": [1, 2, {{"deep": null}}]}}
        }}"#,
        x509_key(&ca),
        ec_members("jwt"),
        ec_members("wit"),
        ec_members("foo"),
        ec_members("none"),
    );
    let bundle = parse(&doc).unwrap();

    assert_eq!(bundle.x509_bundle().authorities().len(), 1);
    assert_eq!(
        bundle.x509_bundle().authorities()[0].as_ref(),
        ca.as_slice()
    );
    let kids: Vec<&str> = bundle
        .jwt_bundle()
        .authorities()
        .map(|a| a.key_id())
        .collect();
    assert_eq!(kids, ["jwt"]);
    assert_eq!(bundle.sequence(), None);
}

#[test]
fn ignored_keys_are_not_judged_beyond_private_members() {
    // Malformed but ignored: no kid, bad coordinates, x5c not an array.
    let doc = r#"{"keys":[
        {"use":"wit-svid","kty":"EC","crv":"P-999","x":"!!"},
        {"use":"foo","x5c":"not an array"},
        {"kty":"RSA","n":1}
    ]}"#;
    let bundle = parse(doc).unwrap();
    assert!(bundle.x509_bundle().is_empty() && bundle.jwt_bundle().is_empty());

    let leaked = r#"{"keys":[{"use":"wit-svid","kty":"EC","d":"AAAA"}]}"#;
    assert!(matches!(
        parse(leaked).unwrap_err(),
        BundleError::PrivateKeyMember {
            index: 1,
            member: "d"
        }
    ));
}

#[test]
fn jwt_svid_keys_of_unusable_types_are_ignored() {
    // J3: an `oct` key (without `k`) or an `OKP` key gives no authority.
    let doc = r#"{"keys":[
        {"use":"jwt-svid","kty":"oct","kid":"sym"},
        {"use":"jwt-svid","kty":"OKP","kid":"ed","crv":"Ed25519","x":"AA"},
        {"use":"jwt-svid","kty":"unknown","kid":"new"}
    ]}"#;
    let bundle = parse(doc).unwrap();
    assert!(bundle.jwt_bundle().is_empty());
    assert!(bundle.jwt_bundle().authority("sym").is_none());

    let with_k = r#"{"keys":[{"use":"jwt-svid","kty":"oct","kid":"sym","k":"c2VjcmV0"}]}"#;
    assert!(matches!(
        parse(with_k).unwrap_err(),
        BundleError::PrivateKeyMember {
            index: 1,
            member: "k"
        }
    ));
}

#[test]
fn an_x509_svid_key_carries_exactly_one_certificate() {
    let ca = STANDARD.encode(support::ca_der("root"));
    for (x5c, count) in [
        ("[]".to_owned(), 0),
        (format!(r#"["{ca}","{ca}"]"#), 2),
        (format!(r#"["{ca}",1,2]"#), 3),
    ] {
        let doc = format!(r#"{{"keys":[{{"use":"x509-svid","kty":"EC","x5c":{x5c}}}]}}"#);
        let err = parse(&doc).unwrap_err();
        match err {
            BundleError::X509SvidCertificateCount { index: 1, count: c } => assert_eq!(c, count),
            other => panic!("{x5c}: {other:?}"),
        }
    }

    let err = parse(r#"{"keys":[{"use":"x509-svid","kty":"RSA"}]}"#).unwrap_err();
    assert!(
        matches!(
            err,
            BundleError::X509SvidCertificateCount { index: 1, count: 0 }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "key 1 of use x509-svid has 0 `x5c` certificates instead of one"
    );
}

#[test]
fn an_x5c_entry_must_be_standard_base64_of_a_certificate() {
    let der = support::ca_der("root");
    let url_safe = base64::engine::general_purpose::URL_SAFE.encode(&der);
    let unpadded = STANDARD
        .encode(&der[..der.len() - 1])
        .trim_end_matches('=')
        .to_owned();

    for entry in [url_safe, unpadded] {
        if !entry.contains(['-', '_']) && entry.len() % 4 == 0 {
            continue; // this certificate happens to encode the same in both alphabets
        }
        let doc = format!(r#"{{"keys":[{{"use":"x509-svid","kty":"EC","x5c":["{entry}"]}}]}}"#);
        let err = parse(&doc).unwrap_err();
        assert!(
            matches!(
                err,
                BundleError::InvalidMember {
                    key: Some(1),
                    member: "x5c",
                    problem: MemberProblem::NotBase64
                }
            ),
            "{err:?}"
        );
    }

    let truncated = STANDARD.encode(&der[..der.len() - 10]);
    let doc = format!(r#"{{"keys":[{{"use":"x509-svid","kty":"EC","x5c":["{truncated}"]}}]}}"#);
    let err = parse(&doc).unwrap_err();
    assert!(
        matches!(err, BundleError::InvalidKeyCertificate { index: 1, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the `x5c` certificate of key 1 cannot be parsed"
    );

    let doc = r#"{"keys":[{"use":"x509-svid","kty":"EC","x5c":[7]}]}"#;
    assert!(matches!(
        parse(doc).unwrap_err(),
        BundleError::InvalidMember {
            member: "x5c",
            problem: MemberProblem::WrongType { .. },
            ..
        }
    ));
}

#[test]
fn an_x509_svid_key_needs_a_known_asymmetric_kty() {
    let ca = STANDARD.encode(support::ca_der("root"));
    for (kty, kept) in [
        ("EC", true),
        ("RSA", true),
        ("OKP", true),
        ("oct", false),
        ("X", false),
    ] {
        let doc = format!(r#"{{"keys":[{{"use":"x509-svid","kty":"{kty}","x5c":["{ca}"]}}]}}"#);
        let bundle = parse(&doc).unwrap();
        assert_eq!(
            bundle.x509_bundle().authorities().len(),
            usize::from(kept),
            "{kty}"
        );
    }

    let doc = format!(r#"{{"keys":[{{"use":"x509-svid","x5c":["{ca}"]}}]}}"#);
    assert!(matches!(
        parse(&doc).unwrap_err(),
        BundleError::InvalidMember {
            key: Some(1),
            member: "kty",
            problem: MemberProblem::Missing
        }
    ));
}

#[test]
fn keys_is_required_and_must_be_an_array() {
    assert!(matches!(
        parse(r#"{}"#).unwrap_err(),
        BundleError::MissingKeys
    ));
    assert!(parse(r#"{"keys":[]}"#).unwrap().jwt_bundle().is_empty());
    for doc in [r#"{"keys":null}"#, r#"{"keys":"x"}"#, r#"{"keys":{}}"#] {
        assert!(
            matches!(
                parse(doc).unwrap_err(),
                BundleError::InvalidMember {
                    key: None,
                    member: "keys",
                    ..
                }
            ),
            "{doc}"
        );
    }
    // Unlike a Workload API JWKS, empty input is not a bundle document.
    assert!(matches!(
        parse("").unwrap_err(),
        BundleError::InvalidJson { .. }
    ));
}

#[test]
fn sequence_and_refresh_hint_are_non_negative_integers() {
    let bundle =
        parse(r#"{"keys":[],"spiffe_sequence":18446744073709551615,"spiffe_refresh_hint":0}"#)
            .unwrap();
    assert_eq!(bundle.sequence(), Some(u64::MAX));
    assert_eq!(bundle.refresh_hint(), Some(Duration::ZERO));

    for value in [
        "-1",
        "1.5",
        "1e3",
        "\"60\"",
        "null",
        "true",
        "[1]",
        "18446744073709551616",
    ] {
        for member in ["spiffe_sequence", "spiffe_refresh_hint"] {
            let doc = format!(r#"{{"keys":[],"{member}":{value}}}"#);
            let err = parse(&doc).unwrap_err();
            match &err {
                BundleError::InvalidMember {
                    key: None,
                    member: m,
                    problem: MemberProblem::WrongType { .. },
                } => assert_eq!(*m, member),
                other => panic!("{doc}: {other:?}"),
            }
            assert_eq!(
                err.to_string(),
                format!("member `{member}` of the bundle document is not a non-negative integer")
            );
        }
    }

    let doc = r#"{"keys":[],"spiffe_sequence":1,"spiffe_sequence":2}"#;
    assert!(matches!(
        parse(doc).unwrap_err(),
        BundleError::DuplicateMember {
            member: "spiffe_sequence",
            key: None
        }
    ));
}

#[test]
fn a_bundle_with_rsa_and_ec_authorities_survives_a_round_trip() {
    let mut bundle = SpiffeBundle::new(td("example.org"));
    for name in ["root a", "root b"] {
        let der = support::ca_der(name);
        bundle.x509_bundle_mut().add_authority(der.into()).unwrap();
    }
    for authority in [
        support::ec_authority("ec", EcCurve::P384),
        support::rsa_authority("rsa"),
    ] {
        bundle.jwt_bundle_mut().add_authority(authority).unwrap();
    }
    bundle.set_sequence(Some(42));
    bundle.set_refresh_hint(Some(Duration::from_secs(300)));

    let json = bundle.to_json();
    let again = SpiffeBundle::parse(td("example.org"), json.as_bytes()).unwrap();
    assert_eq!(again, bundle);
    assert_eq!(again.to_json(), json);

    // The document holds what the standard asks for.
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["spiffe_sequence"], 42);
    assert_eq!(value["spiffe_refresh_hint"], 300);
    let keys = value["keys"].as_array().unwrap();
    let uses: Vec<&str> = keys.iter().map(|k| k["use"].as_str().unwrap()).collect();
    assert_eq!(uses, ["x509-svid", "x509-svid", "jwt-svid", "jwt-svid"]);
    assert_eq!(keys[0]["kty"], "EC");
    assert_eq!(keys[0]["crv"], "P-256");
    assert_eq!(keys[3]["kty"], "RSA");
    assert_eq!(keys[3]["e"], "AQAB");
}

#[test]
fn an_empty_bundle_writes_an_empty_key_list() {
    let bundle = SpiffeBundle::new(td("example.org"));
    assert_eq!(bundle.to_json(), r#"{"keys":[]}"#);
}

#[test]
fn the_set_answers_both_source_traits_per_trust_domain() {
    let doc = format!(
        r#"{{"keys":[{},{{"use":"jwt-svid",{}}}]}}"#,
        x509_key(&support::ca_der("root")),
        ec_members("k")
    );
    let a = SpiffeBundle::parse(td("a.org"), doc.as_bytes()).unwrap();
    let b = SpiffeBundle::new(td("b.org"));
    let set: SpiffeBundleSet = [a.clone(), b].into_iter().collect();

    assert_eq!(
        set.x509_bundle("a.org").map(|x| x.authorities().len()),
        Some(1)
    );
    assert_eq!(set.jwt_bundle("a.org").map(|j| j.len()), Some(1));
    assert_eq!(set.jwt_bundle("b.org").map(|j| j.len()), Some(0));
    assert!(set.x509_bundle("c.org").is_none() && set.jwt_bundle("c.org").is_none());

    // The inherent accessors share the traits' method names, so the traits are named here.
    assert!(JwtBundleSource::jwt_bundle(&a, "a.org").is_some());
    assert!(X509BundleSource::x509_bundle(&a, "b.org").is_none());

    let (x509, jwt) = a.into_parts();
    assert_eq!(
        (x509.trust_domain().as_str(), jwt.trust_domain().as_str()),
        ("a.org", "a.org")
    );
}

/// `der` with its subject public key replaced by `key` (a P-256 CA from rcgen). The signature
/// no longer matches, which a bundle does not check: its authorities are decoded, not judged.
fn with_public_key(
    der: &[u8],
    key: impl FnOnce(&[u8]) -> x509_cert::der::asn1::BitString,
) -> Vec<u8> {
    use x509_cert::der::{Decode, Encode};

    let mut cert = x509_cert::Certificate::from_der(der).unwrap();
    let spki = &mut cert.tbs_certificate.subject_public_key_info;
    let point = spki.subject_public_key.raw_bytes().to_vec();
    assert_eq!(point[0], 0x04, "rcgen writes uncompressed points");
    spki.subject_public_key = key(&point);
    cert.to_der().unwrap()
}

/// Reads `der` as the one authority of a document, writes it back, and checks what the key
/// was written with and that the output reads back to an equal bundle.
fn round_trip_without_coordinates(der: &[u8]) {
    let bundle = parse(&format!(r#"{{"keys":[{}]}}"#, x509_key(der))).unwrap();
    let json = bundle.to_json();
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let key = &doc["keys"][0];
    assert_eq!(key["kty"], "EC", "{json}");
    assert_eq!(key["crv"], "P-256", "{json}");
    assert!(key.get("x").is_none() && key.get("y").is_none(), "{json}");
    assert_eq!(parse(&json).unwrap(), bundle);
}

#[test]
fn an_authority_with_a_compressed_ec_point_is_written_back_readably() {
    // 0x02 or 0x03 by the parity of y, then x: the coordinates would need decompressing.
    let der = with_public_key(&support::ca_der("compressed root"), |point| {
        let (x, y) = point[1..].split_at(32);
        let mut compressed = vec![0x02 | (y[31] & 1)];
        compressed.extend_from_slice(x);
        x509_cert::der::asn1::BitString::from_bytes(&compressed).unwrap()
    });
    round_trip_without_coordinates(&der);
}

#[test]
fn an_authority_whose_key_bit_string_has_unused_bits_is_written_back_readably() {
    // Found by the spiffe_bundle_parse fuzz target: such a key has no byte form, and was
    // written without `kty`.
    let der = with_public_key(&support::ca_der("odd bits root"), |point| {
        x509_cert::der::asn1::BitString::new(3, point.to_vec()).unwrap()
    });
    round_trip_without_coordinates(&der);
}
