//! The agent's JWT signing keys and the JWT-SVIDs it signs with them.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use spiffe_bundle::{EcCurve, JwtAuthority, JwtPublicKey};
use spiffe_svid::JwsAlgorithm;

use crate::DevAgentError;

/// The algorithm an agent signs JWT-SVIDs with unless its builder picks another.
pub const DEFAULT_JWT_ALGORITHM: JwsAlgorithm = JwsAlgorithm::Es256;

/// How long the key replaced by [`rotate_jwt_key`](crate::DevAgentHandle::rotate_jwt_key)
/// stays in the JWT bundle, so that tokens it signed keep validating.
pub const DEFAULT_JWT_GRACE: Duration = Duration::from_secs(3600);

/// The latest `exp` a token may carry: 9999-12-31T23:59:59Z (what validators accept).
const MAX_NUMERIC_DATE: u64 = 253_402_300_799;

/// One JWT signing key: its algorithm, random `kid`, key pair and public JWK.
pub(crate) struct SigningKey {
    alg: JwsAlgorithm,
    pair: Pair,
    authority: JwtAuthority,
}

enum Pair {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

impl SigningKey {
    /// A fresh key for `alg` with a random 128-bit `kid`. RSA keys are 2048 bits.
    pub(crate) fn generate(alg: JwsAlgorithm) -> Result<Self, DevAgentError> {
        let kid = random_kid();
        let pair = match alg {
            JwsAlgorithm::Es256 => ec_pair(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)?,
            JwsAlgorithm::Es384 => ec_pair(&signature::ECDSA_P384_SHA384_FIXED_SIGNING)?,
            JwsAlgorithm::Es512 => ec_pair(&signature::ECDSA_P521_SHA512_FIXED_SIGNING)?,
            _ => Pair::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).map_err(signing_error)?),
        };

        let public = match &pair {
            Pair::Ec(pair) => ec_public_key(alg, pair.public_key().as_ref())?,
            Pair::Rsa(pair) => {
                let public = pair.public_key();
                JwtPublicKey::rsa(
                    public.modulus().big_endian_without_leading_zero().to_vec(),
                    public.exponent().big_endian_without_leading_zero().to_vec(),
                )
                .map_err(signing_error)?
            }
        };
        let authority = JwtAuthority::new(kid, public).map_err(signing_error)?;
        tracing::trace!(
            alg = alg.name(),
            kid = authority.key_id(),
            "generated jwt key"
        );
        Ok(Self {
            alg,
            pair,
            authority,
        })
    }

    pub(crate) fn algorithm(&self) -> JwsAlgorithm {
        self.alg
    }

    pub(crate) fn key_id(&self) -> &str {
        self.authority.key_id()
    }

    /// The public key as the JWT bundle carries it.
    pub(crate) fn authority(&self) -> &JwtAuthority {
        &self.authority
    }

    /// Signs `claims` as a compact JWS with the header `{alg, kid, typ: JWT}`.
    pub(crate) fn sign(&self, claims: &Map<String, Value>) -> Result<String, DevAgentError> {
        let header = json!({ "alg": self.alg.name(), "kid": self.key_id(), "typ": "JWT" });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string())
        );

        let rng = SystemRandom::new();
        let signature = match &self.pair {
            // FIXED signing: r || s, as JWS wants it (RFC 7518 §3.4).
            Pair::Ec(pair) => pair
                .sign(&rng, signing_input.as_bytes())
                .map_err(signing_error)?
                .as_ref()
                .to_vec(),
            Pair::Rsa(pair) => {
                let mut out = vec![0; pair.public_modulus_len()];
                pair.sign(
                    rsa_padding(self.alg),
                    &rng,
                    signing_input.as_bytes(),
                    &mut out,
                )
                .map_err(signing_error)?;
                out
            }
        };
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

impl fmt::Debug for SigningKey {
    // The private key stays out of debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.key_id())
            .finish_non_exhaustive()
    }
}

/// The claims of a JWT-SVID for `spiffe_id`: `sub`, `aud` (a string when there is one value,
/// an array otherwise; JWT-SVID §3.2), `exp` at `now + ttl` and `iat` at `now`.
pub(crate) fn svid_claims(
    spiffe_id: &str,
    audience: &[String],
    now: SystemTime,
    ttl: Duration,
) -> Result<Map<String, Value>, DevAgentError> {
    let issued_at = seconds(now);
    let expiry = expiry(now, ttl)
        .ok_or_else(|| DevAgentError::identity(spiffe_id, "jwt ttl is too long for exp"))?;
    let aud = match audience {
        [one] => Value::from(one.as_str()),
        many => Value::from(many.to_vec()),
    };

    let mut claims = Map::new();
    claims.insert("sub".to_owned(), Value::from(spiffe_id));
    claims.insert("aud".to_owned(), aud);
    claims.insert("exp".to_owned(), Value::from(expiry));
    claims.insert("iat".to_owned(), Value::from(issued_at));
    Ok(claims)
}

/// `now + ttl` in seconds since the epoch, or `None` past the end of year 9999.
pub(crate) fn expiry(now: SystemTime, ttl: Duration) -> Option<u64> {
    seconds(now)
        .checked_add(ttl.as_secs())
        .filter(|exp| *exp <= MAX_NUMERIC_DATE)
}

fn seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

fn ec_pair(alg: &'static signature::EcdsaSigningAlgorithm) -> Result<Pair, DevAgentError> {
    EcdsaKeyPair::generate(alg)
        .map(Pair::Ec)
        .map_err(signing_error)
}

/// The JWK of an uncompressed SEC1 point (0x04 || x || y).
fn ec_public_key(alg: JwsAlgorithm, point: &[u8]) -> Result<JwtPublicKey, DevAgentError> {
    let curve = match alg {
        JwsAlgorithm::Es384 => EcCurve::P384,
        JwsAlgorithm::Es512 => EcCurve::P521,
        _ => EcCurve::P256,
    };
    let field = curve.coordinate_len();
    let coordinates = point
        .strip_prefix(&[0x04])
        .filter(|c| c.len() == 2 * field)
        .ok_or_else(|| {
            DevAgentError::JwtSigning("ec public key is not an uncompressed point".into())
        })?;
    let (x, y) = coordinates.split_at(field);
    JwtPublicKey::ec(curve, x.to_vec(), y.to_vec()).map_err(signing_error)
}

fn rsa_padding(alg: JwsAlgorithm) -> &'static dyn signature::RsaEncoding {
    match alg {
        JwsAlgorithm::Rs384 => &signature::RSA_PKCS1_SHA384,
        JwsAlgorithm::Rs512 => &signature::RSA_PKCS1_SHA512,
        JwsAlgorithm::Ps256 => &signature::RSA_PSS_SHA256,
        JwsAlgorithm::Ps384 => &signature::RSA_PSS_SHA384,
        JwsAlgorithm::Ps512 => &signature::RSA_PSS_SHA512,
        _ => &signature::RSA_PKCS1_SHA256,
    }
}

/// 16 random bytes, hex: a `kid` that never repeats in practice.
fn random_kid() -> String {
    let mut bytes = [0u8; 16];
    fastrand::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn signing_error(err: impl std::error::Error + Send + Sync + 'static) -> DevAgentError {
    DevAgentError::JwtSigning(Box::new(err))
}

#[cfg(test)]
mod tests {
    use super::*;

    use spiffe_bundle::JwtBundle;
    use spiffe_id::TrustDomain;
    use spiffe_svid::JwtSvid;

    #[test]
    fn every_algorithm_signs_tokens_that_validate_against_its_public_key() {
        for alg in JwsAlgorithm::ALL {
            let key = SigningKey::generate(alg).unwrap();
            let td = TrustDomain::new("example.org").unwrap();
            let mut bundle = JwtBundle::new(td);
            bundle.add_authority(key.authority().clone()).unwrap();

            let audience = ["a".to_owned()];
            let claims = svid_claims(
                "spiffe://example.org/w",
                &audience,
                SystemTime::now(),
                Duration::from_secs(60),
            )
            .unwrap();
            let token = key.sign(&claims).unwrap();

            let svid = JwtSvid::validate(&token, &bundle, &["a"]).unwrap();
            assert_eq!(svid.key_id(), Some(key.key_id()), "{alg}");
            assert_eq!(svid.algorithm(), alg);
        }
    }

    #[test]
    fn audience_is_a_string_when_one_and_an_array_when_several() {
        let now = SystemTime::now();
        let ttl = Duration::from_secs(1);
        let one = svid_claims("spiffe://e/w", &["a".to_owned()], now, ttl).unwrap();
        assert_eq!(one["aud"], json!("a"));
        let two = svid_claims("spiffe://e/w", &["a".to_owned(), "b".to_owned()], now, ttl);
        assert_eq!(two.unwrap()["aud"], json!(["a", "b"]));
    }

    #[test]
    fn an_expiry_past_year_9999_is_an_error() {
        let claims = svid_claims(
            "spiffe://e/w",
            &["a".to_owned()],
            SystemTime::now(),
            Duration::MAX,
        );
        assert!(claims.is_err());
    }

    #[test]
    fn key_ids_are_random() {
        assert_ne!(random_kid(), random_kid());
        assert_eq!(random_kid().len(), 32);
    }
}
