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

#[cfg(feature = "aws-lc-rs")]
use aws_lc_rs::signature as jws;
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
use ring::signature as jws;

use crate::JwsAlgorithm;
use crate::jwt::alg::Curve;

/// Public key material of a JWT signing key, borrowed from a bundle.
#[derive(Clone, Copy, Debug)]
pub(crate) enum JwsKey<'a> {
    /// Big-endian affine coordinates, each exactly the curve's field size.
    Ec {
        curve: Curve,
        x: &'a [u8],
        y: &'a [u8],
    },
    /// Big-endian modulus and public exponent.
    Rsa { n: &'a [u8], e: &'a [u8] },
}

/// Whether the active backend verifies `alg`: *ring* has no P-521.
pub(crate) fn supports_jws(alg: JwsAlgorithm) -> bool {
    cfg!(feature = "aws-lc-rs") || alg != JwsAlgorithm::Es512
}

/// Verifies a JWS signature (RFC 7515 §5.2 step 8). ECDSA signatures are the fixed-width
/// `r || s` of RFC 7518 §3.4, not DER. The caller has matched the key to the algorithm;
/// a mismatch here fails like a bad signature.
pub(crate) fn verify_jws(
    alg: JwsAlgorithm,
    key: JwsKey<'_>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), ()> {
    match key {
        JwsKey::Ec { curve, x, y } => {
            let algorithm = ecdsa_algorithm(alg, curve).ok_or(())?;
            let field = curve.field_len();
            if x.len() != field || y.len() != field {
                return Err(());
            }

            // SEC1 uncompressed point, 0x04 || x || y, built on the stack.
            let mut point = [0u8; 1 + 2 * 66];
            point[0] = 0x04;
            point[1..=field].copy_from_slice(x);
            point[field + 1..=2 * field].copy_from_slice(y);
            jws::UnparsedPublicKey::new(algorithm, &point[..=2 * field])
                .verify(message, signature)
                .map_err(|_| ())
        }
        JwsKey::Rsa { n, e } => {
            let params = rsa_parameters(alg).ok_or(())?;
            jws::RsaPublicKeyComponents { n, e }
                .verify(params, message, signature)
                .map_err(|_| ())
        }
    }
}

fn ecdsa_algorithm(
    alg: JwsAlgorithm,
    curve: Curve,
) -> Option<&'static jws::EcdsaVerificationAlgorithm> {
    match (alg, curve) {
        (JwsAlgorithm::Es256, Curve::P256) => Some(&jws::ECDSA_P256_SHA256_FIXED),
        (JwsAlgorithm::Es384, Curve::P384) => Some(&jws::ECDSA_P384_SHA384_FIXED),
        #[cfg(feature = "aws-lc-rs")]
        (JwsAlgorithm::Es512, Curve::P521) => Some(&jws::ECDSA_P521_SHA512_FIXED),
        _ => None,
    }
}

/// RSA parameters: keys of 2048 to 8192 bits, the range both backends verify.
fn rsa_parameters(alg: JwsAlgorithm) -> Option<&'static jws::RsaParameters> {
    Some(match alg {
        JwsAlgorithm::Rs256 => &jws::RSA_PKCS1_2048_8192_SHA256,
        JwsAlgorithm::Rs384 => &jws::RSA_PKCS1_2048_8192_SHA384,
        JwsAlgorithm::Rs512 => &jws::RSA_PKCS1_2048_8192_SHA512,
        JwsAlgorithm::Ps256 => &jws::RSA_PSS_2048_8192_SHA256,
        JwsAlgorithm::Ps384 => &jws::RSA_PSS_2048_8192_SHA384,
        JwsAlgorithm::Ps512 => &jws::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}
