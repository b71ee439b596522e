//! `X509Bundle::from_der` must return, never panic, on any input; what it accepts must
//! round-trip through `to_der`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spiffe_bundle::X509Bundle;
use spiffe_id::TrustDomain;

fuzz_target!(|data: &[u8]| {
    let Ok(td) = TrustDomain::new("example.org") else {
        return;
    };
    if let Ok(bundle) = X509Bundle::from_der(td, data) {
        assert_eq!(bundle.to_der(), data);
    }
});
