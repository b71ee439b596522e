//! `SpiffeBundle::parse` must return, never panic, on any input; what it accepts must be
//! written back by `to_json` into a document that reads to an equal bundle, except for an
//! X.509 authority whose key has no JWK form (a documented limitation: written without
//! `kty`, which `parse` refuses).
#![no_main]

use libfuzzer_sys::fuzz_target;
use spiffe_bundle::{BundleError, MemberProblem, SpiffeBundle};
use spiffe_id::TrustDomain;

fuzz_target!(|data: &[u8]| {
    let Ok(td) = TrustDomain::new("example.org") else { return };
    if let Ok(bundle) = SpiffeBundle::parse(td.clone(), data) {
        match SpiffeBundle::parse(td, bundle.to_json().as_bytes()) {
            Ok(again) => assert_eq!(again, bundle),
            Err(BundleError::InvalidMember {
                member: "kty",
                problem: MemberProblem::Missing,
                ..
            }) => {}
            Err(err) => panic!("own output refused: {err:?}"),
        }
    }
});
