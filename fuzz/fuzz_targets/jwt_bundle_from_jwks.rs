//! `JwtBundle::from_jwks` must return, never panic, on any input; what it accepts must be
//! written back by `to_jwks` into a document that reads to an equal bundle.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spiffe_bundle::JwtBundle;
use spiffe_id::TrustDomain;

fuzz_target!(|data: &[u8]| {
    let Ok(td) = TrustDomain::new("example.org") else {
        return;
    };
    if let Ok(bundle) = JwtBundle::from_jwks(td.clone(), data) {
        let again = JwtBundle::from_jwks(td, bundle.to_jwks().as_bytes());
        assert_eq!(again.ok(), Some(bundle));
    }
});
