//! `JwtSvid::parse_insecure` and `JwtSvid::validate_with` must return, never panic, on any
//! token; a token `parse_insecure` accepts keeps its text; and no input validates against a
//! key whose private half nobody has (the fuzzer cannot sign).
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use spiffe_bundle::JwtBundle;
use spiffe_id::TrustDomain;
use spiffe_svid::{JwtSvid, JwtValidation};

/// A P-256 public key (kid `k1`) for `example.org`, from the workspace's bundle tests.
const JWKS: &str = r#"{"keys":[{"kty":"EC","kid":"k1","crv":"P-256",
    "x":"ngLYQnlfF6GsojUwqtcEE3WgTNG2RUlsGhK73RNEl5k",
    "y":"tKbiDSUSsQ3F1P7wteeHNXIcU-cx6CgSbroeQrQHTLM"}]}"#;

fn bundle() -> &'static JwtBundle {
    static BUNDLE: OnceLock<JwtBundle> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let td = TrustDomain::new("example.org").expect("trust domain");
        JwtBundle::from_jwks(td, JWKS.as_bytes()).expect("fixed JWKS")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(svid) = JwtSvid::parse_insecure(token) {
        assert_eq!(svid.token(), token);
    }

    // A fixed clock inside any plausible `exp`, so that time does not end every run early.
    let audience = ["x"];
    for allow_missing_kid in [false, true] {
        let options = JwtValidation::new(&audience)
            .at(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
            .with_missing_kid_allowed(allow_missing_kid);
        let validated = JwtSvid::validate_with(token, bundle(), &options);
        assert!(
            validated.is_err(),
            "a token validated without a signer: {token:?}"
        );
    }
});
