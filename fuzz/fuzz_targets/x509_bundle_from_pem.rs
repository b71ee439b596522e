//! `X509Bundle::from_pem` must return, never panic, on any input; what it accepts must read
//! back the same from its own `to_pem`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spiffe_bundle::X509Bundle;
use spiffe_id::TrustDomain;

fuzz_target!(|data: &[u8]| {
    let Ok(td) = TrustDomain::new("example.org") else { return };
    if let Ok(bundle) = X509Bundle::from_pem(td.clone(), data) {
        let again = X509Bundle::from_pem(td, bundle.to_pem().as_bytes());
        assert!(again.is_ok_and(|again| again == bundle));
    }
});
