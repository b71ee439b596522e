//! `X509Bundle::from_pem` must return, never panic, on any input; what it accepts must read
//! back the same from its own `to_pem`, unless that output is over `MAX_BUNDLE_BYTES` (lines
//! are rewrapped at 64 characters, so input just under the cap can come out over it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use spiffe_bundle::{BundleError, MAX_BUNDLE_BYTES, X509Bundle};
use spiffe_id::TrustDomain;

fuzz_target!(|data: &[u8]| {
    let Ok(td) = TrustDomain::new("example.org") else {
        return;
    };
    let Ok(bundle) = X509Bundle::from_pem(td.clone(), data) else {
        return;
    };
    let pem = bundle.to_pem();
    match X509Bundle::from_pem(td, pem.as_bytes()) {
        Ok(again) => assert_eq!(again, bundle),
        Err(BundleError::TooLarge { .. }) if pem.len() > MAX_BUNDLE_BYTES => {}
        Err(err) => panic!("own output refused: {err:?}"),
    }
});
