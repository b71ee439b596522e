//! SPIFFE Verifiable Identity Documents (SVIDs): X.509-SVIDs and JWT-SVIDs, parsing, profile
//! checks and verification.
//!
//! An X.509-SVID is a certificate chain whose leaf carries a SPIFFE ID as its only URI SAN,
//! together with the leaf's private key. This crate reads one from the Workload API's DER
//! form or from PEM files ([`X509Svid`]), checks it against the X.509-SVID profile, makes sure
//! the key belongs to the leaf and loads the key for rustls. On the other side of a
//! connection, [`verify_x509_svid_chain`] verifies a peer's chain against the bundle of the
//! peer's own trust domain and returns its SPIFFE ID.
//!
//! # Example
//!
//! ```
//! use std::time::SystemTime;
//!
//! use rcgen::{
//!     BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
//! };
//! use spiffe_bundle::X509Bundle;
//! use spiffe_id::TrustDomain;
//! use spiffe_svid::{X509Svid, verify_x509_svid_chain};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A CA for example.org and a workload SVID it signs.
//! let ca_key = KeyPair::generate()?;
//! let mut ca_params = CertificateParams::default();
//! ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
//! ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
//! let ca = ca_params.self_signed(&ca_key)?;
//! let issuer = Issuer::new(ca_params, ca_key);
//!
//! let leaf_key = KeyPair::generate()?;
//! let mut leaf_params = CertificateParams::default();
//! leaf_params.subject_alt_names =
//!     vec![SanType::URI("spiffe://example.org/web".try_into()?)];
//! leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
//! let leaf = leaf_params.signed_by(&leaf_key, &issuer)?;
//!
//! // The workload reads its SVID as the Workload API delivers it.
//! let svid = X509Svid::from_der(leaf.der(), &leaf_key.serialize_der())?;
//! assert_eq!(svid.spiffe_id().as_str(), "spiffe://example.org/web");
//!
//! // A peer verifies the chain against the bundle of example.org.
//! let bundle = X509Bundle::from_der(TrustDomain::new("example.org")?, ca.der())?;
//! let verified = verify_x509_svid_chain(svid.chain(), &bundle, SystemTime::now())?;
//! assert_eq!(verified.spiffe_id(), svid.spiffe_id());
//! # Ok(())
//! # }
//! ```
//!
//! # JWT-SVIDs
//!
//! A JWT-SVID is a signed JWT whose `sub` is a SPIFFE ID, sent as a bearer token.
//! [`JwtSvid::validate`] checks one against the JWT bundle of its subject's trust domain;
//! [`JwtValidator`] adds a cache for servers that see the same tokens again.
//!
//! ```
//! use std::time::{SystemTime, UNIX_EPOCH};
//!
//! use aws_lc_rs::rand::SystemRandom;
//! use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
//! use spiffe_bundle::{EcCurve, JwtAuthority, JwtBundle, JwtPublicKey};
//! use spiffe_id::TrustDomain;
//! use spiffe_svid::{JwtSvid, JwtSvidError};
//!
//! # fn b64(bytes: &[u8]) -> String {
//! #     const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
//! #     let mut out = String::new();
//! #     for chunk in bytes.chunks(3) {
//! #         let bits = chunk.iter().enumerate().fold(0u32, |b, (i, &v)| b | u32::from(v) << (16 - 8 * i));
//! #         for i in 0..=chunk.len() {
//! #             out.push(char::from(ABC[(bits >> (18 - 6 * i) & 0x3f) as usize]));
//! #         }
//! #     }
//! #     out
//! # }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The signing key of example.org, and its public half in the trust domain's JWT bundle.
//! let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)?;
//! let point = pair.public_key().as_ref(); // 0x04 || x || y
//! let public = JwtPublicKey::ec(EcCurve::P256, point[1..33].to_vec(), point[33..].to_vec())?;
//! let mut bundle = JwtBundle::new(TrustDomain::new("example.org")?);
//! bundle.add_authority(JwtAuthority::new("key-1", public)?)?;
//!
//! // A token as an agent would issue it: header and claims, base64url, ES256 over both.
//! let exp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + 300;
//! let header = r#"{"alg":"ES256","kid":"key-1","typ":"JWT"}"#;
//! let claims = format!(r#"{{"sub":"spiffe://example.org/web","aud":["api"],"exp":{exp}}}"#);
//! let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
//! let signature = pair.sign(&SystemRandom::new(), input.as_bytes())?;
//! let token = format!("{input}.{}", b64(signature.as_ref()));
//!
//! // The server that answers to "api" validates it.
//! let svid = JwtSvid::validate(&token, &bundle, &["api"])?;
//! assert_eq!(svid.spiffe_id().as_str(), "spiffe://example.org/web");
//!
//! // Another audience, or no audience at all, is refused.
//! let err = JwtSvid::validate(&token, &bundle, &["billing"]).unwrap_err();
//! assert_eq!(err, JwtSvidError::AudienceMismatch);
//! let err = JwtSvid::validate(&token, &bundle, &[]).unwrap_err();
//! assert_eq!(err, JwtSvidError::NoExpectedAudience);
//! # Ok(())
//! # }
//! ```
//!
//! Validation ([`JwtSvid::validate_with`], options in [`JwtValidation`]) follows the
//! JWT-SVID standard and this workspace's policy, cheapest checks first:
//!
//! - at most [`MAX_JWT_BYTES`] (16 KiB), checked before anything else; three parts of
//!   unpadded, canonical base64url (JWS compact serialization);
//! - header: `alg` one of RS256/384/512, ES256/384/512 (ES512 is P-521), PS256/384/512,
//!   decided before any key is looked up (`none`, `HS*`, `EdDSA` are refused); `typ`, when
//!   present, exactly `JWT` or `JOSE`; no `crit`; `kid` required unless
//!   [`JwtValidation::allow_missing_kid`] is set, then every key of the trust domain whose
//!   type and curve fit is tried. Other header members are ignored;
//! - header and claims are JSON objects with no member name repeated (at any depth in the
//!   claims): serde_json would silently keep the last one;
//! - claims: `sub` a SPIFFE ID, whose trust domain picks the bundle; `aud` a string or a
//!   non-empty array of strings sharing a value with the expected audiences (an empty
//!   expected list is an error, never "any"); `exp` required; `nbf` and `iat` honoured when
//!   present; all three JSON numbers from 0 to the end of year 9999 (a string or a negative
//!   number is refused; fractions are rounded so as never to widen validity);
//! - time, with [`JwtValidation::DEFAULT_LEEWAY`] (60 s) unless set, down to zero: the token
//!   is refused once `exp + leeway` is reached, or when `nbf` or `iat` is later than
//!   `now + leeway`;
//! - the key named by `kid` must be of the algorithm's type and curve (an RSA key for `RS*`
//!   and `PS*`, 2048 to 8192 bits); a mismatch is refused before any signature work. ECDSA
//!   signatures are the fixed-width `r || s` of JWS, not DER.
//!
//! [`JwtSvid::parse_insecure`] reads a token without its signature, time or audience, for a
//! workload looking at its own token; never for authentication.
//!
//! # Features
//!
//! | feature | default | effect |
//! |---|---|---|
//! | `aws-lc-rs` | yes | loads keys and verifies signatures with aws-lc-rs (through rustls and rustls-webpki for X.509, directly for JWT-SVIDs) |
//! | `ring` | no | the same with *ring*; used when `aws-lc-rs` is off. *ring* has no P-521: ES512 JWT-SVIDs fail with [`JwtSvidError::AlgorithmNotSupportedByBackend`] |
//!
//! One backend is required; when both are enabled, aws-lc-rs is used. The backend is used
//! directly: no process-wide rustls `CryptoProvider` is installed.
//!
//! # What is checked
//!
//! Reading an SVID ([`X509Svid::from_der`], [`X509Svid::from_pem`]) and verifying a peer
//! ([`verify_x509_svid_chain`]) apply the same profile, see [`ProfileError`]:
//!
//! - the leaf has exactly one URI SAN, a SPIFFE ID with a path (DNS and IP SANs may
//!   accompany it);
//! - the leaf is not a CA (no basicConstraints counts as not a CA), its key usage has
//!   digitalSignature and neither keyCertSign nor cRLSign;
//! - every certificate after the leaf is a CA with keyCertSign;
//! - at most [`MAX_CHAIN_LEN`] certificates.
//!
//! Reading an SVID also checks that the private key matches the leaf's public key (by
//! comparing public keys, without signing). Verifying a peer also runs path validation with
//! rustls-webpki against the authorities of the leaf's trust domain only, at the time the
//! caller passes in.
//!
//! # Limitations
//!
//! - Reading an SVID does not check its validity period: an expired SVID reads fine and
//!   [`X509Svid::not_after`] tells the caller. Peer verification does check it.
//! - No revocation checking: CRLs from the Workload API are ignored.
//! - Name constraints are enforced by rustls-webpki as it implements them; there is no SPIFFE
//!   specific handling of URI name constraints.
//! - Private keys must be PKCS#8; PKCS#1 and SEC1 keys are refused.
//! - JWT-SVIDs: `jti` is exposed but not tracked for replay (JWT-SVID §6.1 does not require
//!   it); no JWE, no JWS JSON serialization, no unsecured JWTs; header members other than
//!   `alg`, `kid`, `typ` and `crit` are ignored rather than refused; `sub` may be a trust
//!   domain ID (no path), as the policy only asks for a valid SPIFFE ID.
//! - ES512 JWT-SVIDs need the `aws-lc-rs` backend.
//! - [`JwtValidator`] ties its cache to the `Arc` of the bundles: wrapping the same bundles
//!   in a new `Arc` on every call disables caching. Its bound counts tokens, not bytes
//!   (at most [`MAX_JWT_BYTES`] each).

#![forbid(unsafe_code)]

mod backend;
mod error;
mod inspect;
mod jwt;
mod profile;
mod svid;
mod verify;

pub use error::{PemInput, X509SvidError};
pub use inspect::{LeafInfo, inspect_leaf};
pub use jwt::{
    JwsAlgorithm, JwtClaim, JwtPart, JwtSvid, JwtSvidError, JwtValidation, JwtValidator,
    MAX_ECHO_CHARS, MAX_JWT_BYTES,
};
pub use profile::ProfileError;
pub use svid::X509Svid;
pub use verify::{
    PathValidationError, VerifiedX509Svid, X509TrustAnchorSet, X509TrustAnchors, X509VerifyError,
    verify_x509_svid_chain, verify_x509_svid_with_anchors,
};

/// The most certificates an X.509-SVID chain may hold, leaf included: 16 (workspace policy).
pub const MAX_CHAIN_LEN: usize = 16;

/// The largest certificate input [`X509Svid::from_der`] and [`X509Svid::from_pem`] accept:
/// 1 MiB, far above [`MAX_CHAIN_LEN`] certificates of usual size. For PEM the same limit
/// applies to the key input, which may be the whole file.
pub const MAX_CHAIN_BYTES: usize = 1024 * 1024;

/// The largest PKCS#8 private key accepted, in DER bytes: 16 KiB (an RSA-8192 key is about
/// 4.9 KiB).
pub const MAX_KEY_BYTES: usize = 16 * 1024;
