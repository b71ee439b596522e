//! The crypto backend chosen by cargo features: key loading and signature verification.

use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::sign::SigningKey;
use rustls_pki_types::{PrivateKeyDer, SignatureVerificationAlgorithm};

#[cfg(not(any(feature = "aws-lc-rs", feature = "ring")))]
compile_error!("spiffe-svid needs a crypto backend: enable the `aws-lc-rs` or the `ring` feature");

/// The provider of the active backend. It is built here and never installed as the
/// process-wide default, so applications keep that choice.
#[cfg(feature = "aws-lc-rs")]
fn provider() -> CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// Loads a private key into a signing key of the active backend.
pub(crate) fn load_signing_key(
    key: &PrivateKeyDer<'_>,
) -> Result<Arc<dyn SigningKey>, rustls::Error> {
    #[cfg(feature = "aws-lc-rs")]
    return rustls::crypto::aws_lc_rs::sign::any_supported_type(key);

    #[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
    return rustls::crypto::ring::sign::any_supported_type(key);
}

/// The signature algorithms the active backend verifies certificates with; the same list
/// rustls uses for TLS.
pub(crate) fn verification_algorithms() -> &'static [&'static dyn SignatureVerificationAlgorithm] {
    static ALGORITHMS: OnceLock<&'static [&'static dyn SignatureVerificationAlgorithm]> =
        OnceLock::new();
    ALGORITHMS.get_or_init(|| provider().signature_verification_algorithms.all)
}
