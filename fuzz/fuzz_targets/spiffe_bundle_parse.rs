//! `SpiffeBundle::parse` must return, never panic, on any input; what it accepts must be
//! written back by `to_json` into a document that reads to an equal bundle, except in the two
//! documented cases (crate limitations): an X.509 authority whose key type has no JWK form
//! (written without `kty`, which `parse` refuses), and output over `MAX_BUNDLE_BYTES`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spiffe_bundle::{BundleError, MAX_BUNDLE_BYTES, MemberProblem, SpiffeBundle};
use spiffe_id::TrustDomain;
use x509_cert::der::Decode;
use x509_cert::der::oid::ObjectIdentifier;

/// Key algorithms `to_json` writes a `kty` for: EC, RSA, Ed25519, Ed448.
const JWK_KEY_TYPES: [ObjectIdentifier; 4] = [
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1"),
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1"),
    ObjectIdentifier::new_unwrap("1.3.101.112"),
    ObjectIdentifier::new_unwrap("1.3.101.113"),
];

fuzz_target!(|data: &[u8]| {
    let Ok(td) = TrustDomain::new("example.org") else {
        return;
    };
    let Ok(bundle) = SpiffeBundle::parse(td.clone(), data) else {
        return;
    };
    let json = bundle.to_json();
    match SpiffeBundle::parse(td, json.as_bytes()) {
        Ok(again) => assert_eq!(again, bundle),
        Err(BundleError::TooLarge { .. }) if json.len() > MAX_BUNDLE_BYTES => {}
        Err(BundleError::InvalidMember {
            member: "kty",
            problem: MemberProblem::Missing,
            ..
        }) => {
            let without_jwk_form = bundle.x509_bundle().authorities().iter().any(|der| {
                x509_cert::Certificate::from_der(der).is_ok_and(|cert| {
                    let oid = cert.tbs_certificate.subject_public_key_info.algorithm.oid;
                    !JWK_KEY_TYPES.contains(&oid)
                })
            });
            assert!(
                without_jwk_form,
                "kty missing for a key type that has a JWK form"
            );
        }
        Err(err) => panic!("own output refused: {err:?}"),
    }
});
