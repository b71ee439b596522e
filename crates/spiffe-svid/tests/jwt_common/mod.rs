//! Signing keys and tokens made in the test, with aws-lc-rs, and JWKS bundles built from them.
#![allow(
    dead_code,
    clippy::panic,
    reason = "each test binary uses a part; a misused helper is a bug in the test"
)]

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde_json::{Value, json};
use spiffe_bundle::JwtBundle;
use spiffe_id::TrustDomain;
use spiffe_svid::JwsAlgorithm;

/// The audience tokens are made for unless a test says otherwise.
pub(crate) const AUDIENCE: &str = "spiffe://example.org/api";
/// The subject tokens are made for unless a test says otherwise.
pub(crate) const SUBJECT: &str = "spiffe://example.org/workload";

/// Base64url without padding.
pub(crate) fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let mut bits = 0u32;
        for (i, &b) in chunk.iter().enumerate() {
            bits |= u32::from(b) << (16 - 8 * i);
        }
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(bits >> (18 - 6 * i) & 0x3f) as usize]));
        }
    }
    out
}

/// Decodes base64url without padding (test input only: no validation).
pub(crate) fn unb64(encoded: &str) -> Vec<u8> {
    let mut bits = 0u32;
    let mut held = 0;
    let mut out = Vec::new();
    for c in encoded.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            _ => 63,
        };
        bits = bits << 6 | u32::from(v);
        held += 6;
        if held >= 8 {
            held -= 8;
            out.push((bits >> held) as u8);
        }
    }
    out
}

/// Seconds since the epoch, now.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

enum Pair {
    Ec(EcdsaKeyPair),
    Rsa(&'static RsaKeyPair),
}

/// A signing key with its `kid`.
pub(crate) struct Key {
    pub(crate) kid: String,
    pair: Pair,
}

/// One RSA-2048 key per test binary: generating them is slow.
fn rsa_pair() -> &'static RsaKeyPair {
    static PAIR: OnceLock<RsaKeyPair> = OnceLock::new();
    PAIR.get_or_init(|| RsaKeyPair::generate(KeySize::Rsa2048).unwrap())
}

impl Key {
    /// A new key that can sign with `alg` (RSA keys are shared within a test binary).
    pub(crate) fn new(alg: JwsAlgorithm, kid: &str) -> Self {
        let pair = match alg {
            JwsAlgorithm::Es256 => Pair::Ec(
                EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap(),
            ),
            JwsAlgorithm::Es384 => Pair::Ec(
                EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING).unwrap(),
            ),
            JwsAlgorithm::Es512 => Pair::Ec(
                EcdsaKeyPair::generate(&signature::ECDSA_P521_SHA512_FIXED_SIGNING).unwrap(),
            ),
            _ => Pair::Rsa(rsa_pair()),
        };
        Self {
            kid: kid.to_owned(),
            pair,
        }
    }

    /// The uncompressed SEC1 point of an EC key.
    pub(crate) fn ec_point(&self) -> Vec<u8> {
        match &self.pair {
            Pair::Ec(pair) => pair.public_key().as_ref().to_vec(),
            Pair::Rsa(_) => panic!("not an EC key"),
        }
    }

    /// The public key as a JWK.
    pub(crate) fn jwk(&self) -> Value {
        match &self.pair {
            Pair::Ec(pair) => {
                let point = pair.public_key().as_ref();
                let field = (point.len() - 1) / 2;
                let crv = match field {
                    32 => "P-256",
                    48 => "P-384",
                    _ => "P-521",
                };
                json!({
                    "kty": "EC",
                    "crv": crv,
                    "kid": self.kid,
                    "x": b64(&point[1..=field]),
                    "y": b64(&point[field + 1..]),
                })
            }
            Pair::Rsa(pair) => {
                let public = pair.public_key();
                json!({
                    "kty": "RSA",
                    "kid": self.kid,
                    "n": b64(public.modulus().big_endian_without_leading_zero()),
                    "e": b64(public.exponent().big_endian_without_leading_zero()),
                })
            }
        }
    }

    /// Signs `signing_input` for `alg`: fixed `r || s` for ECDSA.
    pub(crate) fn sign(&self, alg: JwsAlgorithm, signing_input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Ec(pair) => pair.sign(&rng, signing_input).unwrap().as_ref().to_vec(),
            Pair::Rsa(pair) => {
                let padding: &'static dyn signature::RsaEncoding = match alg {
                    JwsAlgorithm::Rs256 => &signature::RSA_PKCS1_SHA256,
                    JwsAlgorithm::Rs384 => &signature::RSA_PKCS1_SHA384,
                    JwsAlgorithm::Rs512 => &signature::RSA_PKCS1_SHA512,
                    JwsAlgorithm::Ps256 => &signature::RSA_PSS_SHA256,
                    JwsAlgorithm::Ps384 => &signature::RSA_PSS_SHA384,
                    _ => &signature::RSA_PSS_SHA512,
                };
                let mut out = vec![0; pair.public_modulus_len()];
                pair.sign(padding, &rng, signing_input, &mut out).unwrap();
                out
            }
        }
    }
}

/// A JWT bundle of example.org (or `td`) holding these JWKs.
pub(crate) fn bundle(td: &str, jwks: &[Value]) -> JwtBundle {
    let json = json!({ "keys": jwks }).to_string();
    JwtBundle::from_jwks(TrustDomain::new(td).unwrap(), json.as_bytes()).unwrap()
}

/// Header and claims of a token in the making; `sign` or `sign_raw` turn them into a token.
pub(crate) struct Token {
    pub(crate) header: Value,
    pub(crate) claims: Value,
}

impl Token {
    /// `{"alg", "kid", "typ": "JWT"}` and `{"sub", "aud": [AUDIENCE], "exp": +5 min,
    /// "iat": now}`.
    pub(crate) fn new(alg: JwsAlgorithm, kid: &str) -> Self {
        let now = now();
        Self {
            header: json!({ "alg": alg.name(), "kid": kid, "typ": "JWT" }),
            claims: json!({
                "sub": SUBJECT,
                "aud": [AUDIENCE],
                "exp": now + 300,
                "iat": now,
            }),
        }
    }

    /// Sets a header member; `Value::Null` removes it.
    pub(crate) fn header(mut self, name: &str, value: Value) -> Self {
        set(&mut self.header, name, value);
        self
    }

    /// Sets a claim; `Value::Null` removes it.
    pub(crate) fn claim(mut self, name: &str, value: Value) -> Self {
        set(&mut self.claims, name, value);
        self
    }

    /// Signs with `key` for the algorithm the header names (or ES256 if it names none
    /// allowed).
    pub(crate) fn sign(&self, key: &Key) -> String {
        let alg = self.header["alg"]
            .as_str()
            .and_then(JwsAlgorithm::from_name)
            .unwrap_or(JwsAlgorithm::Es256);
        self.sign_with(key, alg)
    }

    /// Signs with `key` for `alg`, whatever the header says.
    pub(crate) fn sign_with(&self, key: &Key, alg: JwsAlgorithm) -> String {
        let input = self.signing_input();
        let signature = key.sign(alg, input.as_bytes());
        format!("{input}.{}", b64(&signature))
    }

    /// `header.claims`, base64url-encoded from the JSON text.
    pub(crate) fn signing_input(&self) -> String {
        signing_input(&self.header.to_string(), &self.claims.to_string())
    }
}

/// `header.claims` from raw JSON text, for members serde_json cannot repeat.
pub(crate) fn signing_input(header_json: &str, claims_json: &str) -> String {
    format!(
        "{}.{}",
        b64(header_json.as_bytes()),
        b64(claims_json.as_bytes())
    )
}

fn set(object: &mut Value, name: &str, value: Value) {
    let map = object.as_object_mut().unwrap();
    if value.is_null() {
        map.remove(name);
    } else {
        map.insert(name.to_owned(), value);
    }
}
