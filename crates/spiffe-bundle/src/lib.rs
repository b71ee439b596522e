//! SPIFFE trust bundles: the authorities that decide which identities a workload trusts.
//!
//! A trust bundle holds the public material of one trust domain:
//!
//! - an [`X509Bundle`] is the set of root certificates against which X.509-SVIDs of that
//!   trust domain are verified;
//! - a [`JwtBundle`] is the set of public keys, by key ID (`kid`), against which JWT-SVIDs
//!   are verified;
//! - a [`SpiffeBundle`] is both together in the SPIFFE bundle format (a JWK Set with
//!   `spiffe_sequence` and `spiffe_refresh_hint`), the form trust domains exchange to
//!   federate.
//!
//! [`X509BundleSet`], [`JwtBundleSet`] and [`SpiffeBundleSet`] hold one bundle per trust
//! domain (the local one plus federated ones), as the Workload API delivers them.
//! Verification code asks for bundles through the [`X509BundleSource`] and
//! [`JwtBundleSource`] traits, one trust domain at a time.
//!
//! # Example
//!
//! ```
//! use spiffe_bundle::{X509Bundle, X509BundleSet, X509BundleSource};
//! use spiffe_id::TrustDomain;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // An empty PEM file is an empty bundle; a real one would list CA certificates.
//! let td = TrustDomain::new("example.org")?;
//! let bundle = X509Bundle::from_pem(td, b"")?;
//! assert!(bundle.authorities().is_empty());
//!
//! let mut set = X509BundleSet::new();
//! set.insert(bundle);
//! assert!(set.x509_bundle("example.org").is_some());
//! assert!(set.x509_bundle("other.org").is_none());
//!
//! // Input that is not PEM is refused rather than read as an empty bundle.
//! let td = TrustDomain::new("example.org")?;
//! let err = X509Bundle::from_pem(td, b"not a certificate").unwrap_err();
//! assert_eq!(err.to_string(), "no PEM blocks in the bundle input");
//! # Ok(())
//! # }
//! ```
//!
//! JWT bundles come as JWK Sets, SPIFFE bundles as SPIFFE bundle documents:
//!
//! ```
//! use std::time::Duration;
//!
//! use spiffe_bundle::{
//!     BundleError, JwtBundle, JwtBundleSet, JwtBundleSource, JwtPublicKey, SpiffeBundle,
//! };
//! use spiffe_id::TrustDomain;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let jwks = br#"{"keys": [{
//!     "kty": "EC", "kid": "C6vs25welZOx6WksNYfbMfiw9l96pMnD", "crv": "P-256",
//!     "x": "ngLYQnlfF6GsojUwqtcEE3WgTNG2RUlsGhK73RNEl5k",
//!     "y": "tKbiDSUSsQ3F1P7wteeHNXIcU-cx6CgSbroeQrQHTLM"
//! }]}"#;
//! let bundle = JwtBundle::from_jwks(TrustDomain::new("example.org")?, jwks)?;
//! let key = bundle.authority("C6vs25welZOx6WksNYfbMfiw9l96pMnD").unwrap().public_key();
//! assert_eq!(key.ec_point().map(|p| p.len()), Some(65));
//!
//! let set: JwtBundleSet = [bundle].into_iter().collect();
//! assert!(set.jwt_bundle("example.org").is_some());
//!
//! // The Workload API sends zero bytes for a trust domain without JWT keys.
//! assert!(JwtBundle::from_jwks(TrustDomain::new("other.org")?, b"")?.is_empty());
//!
//! // A SPIFFE bundle document: this key has no `use`, so it is ignored.
//! let doc = br#"{"keys": [{"kty": "EC"}], "spiffe_sequence": 7, "spiffe_refresh_hint": 300}"#;
//! let spiffe = SpiffeBundle::parse(TrustDomain::new("example.org")?, doc)?;
//! assert_eq!(spiffe.sequence(), Some(7));
//! assert_eq!(spiffe.refresh_hint(), Some(Duration::from_secs(300)));
//! assert!(spiffe.jwt_bundle().is_empty() && spiffe.x509_bundle().is_empty());
//!
//! // Private key material rejects the whole document.
//! let leaked = br#"{"keys": [{"use": "foo", "kty": "EC", "d": "AAAA"}]}"#;
//! let err = SpiffeBundle::parse(TrustDomain::new("example.org")?, leaked).unwrap_err();
//! assert!(matches!(err, BundleError::PrivateKeyMember { index: 1, member: "d" }));
//! assert_eq!(err.to_string(), "key 1 carries the private key member `d`");
//! # Ok(())
//! # }
//! ```
//!
//! # Formats
//!
//! | input | constructor | notes |
//! |---|---|---|
//! | DER certificates back to back (Workload API `bundle`, `federated_bundles`) | [`X509Bundle::from_der`] | empty input: empty bundle |
//! | PEM `CERTIFICATE` blocks (bundle files) | [`X509Bundle::from_pem`] | empty input: empty bundle; other text without blocks: error |
//! | JWK Set (Workload API `JWTBundlesResponse`, `jwks.json`) | [`JwtBundle::from_jwks`] | empty input, `"keys": []` and `"keys": null`: empty bundle; keys count whatever their `use` |
//! | SPIFFE bundle document (bundle endpoint, federation) | [`SpiffeBundle::parse`] | keys sorted by `use`; `keys` required |
//!
//! They are written back with [`X509Bundle::to_der`], [`X509Bundle::to_pem`],
//! [`JwtBundle::to_jwks`] and [`SpiffeBundle::to_json`].
//!
//! ## Keys in JSON documents
//!
//! | key | JWK Set | SPIFFE bundle document |
//! |---|---|---|
//! | `kty` `EC` (P-256, P-384, P-521) or `RSA` | JWT authority; `kid` required | by `use`: `jwt-svid` JWT authority (`kid` required), `x509-svid` X.509 authority (one `x5c`) |
//! | `kty` `OKP`, `oct` without `k`, or unknown | ignored | ignored, except `OKP` with `use` `x509-svid` (an X.509 authority) |
//! | no `kty` | error | error for `x509-svid` and `jwt-svid`, else ignored |
//! | `use` `wit-svid`, unknown, or none | counts like any key | ignored |
//! | any private member (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`) | whole document refused | whole document refused |
//!
//! An EC key's coordinates must be exactly the curve's size; an RSA modulus must have
//! [`MIN_RSA_MODULUS_BITS`] to [`MAX_RSA_MODULUS_BITS`] bits and be odd, its exponent odd and
//! from 3 to 2^32 - 1. Binary members are base64url without padding; `x5c` entries are
//! standard base64. Unknown members are ignored, but a member this crate reads may appear
//! only once per object (JSON readers disagree on which copy wins).
//!
//! # Limits
//!
//! Input is checked against [`MAX_BUNDLE_BYTES`] before it is read. The number of
//! certificates of an X.509 bundle, of keys of a JWT bundle, and of entries of a JSON
//! `keys` array are bounded by [`MAX_AUTHORITIES`], checked before certificates are decoded
//! and before keys are judged. Deep JSON nesting costs no stack: the reader recurses only to
//! a fixed depth and lets `serde_json` skip the rest with a loop. Hostile input therefore
//! costs work and memory in proportion to its (capped) size.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | (none) | | X.509, JWT and SPIFFE bundles are always built |
//!
//! A `wit` feature for WIT-SVID keys is planned (SPEC-POLICY "Other"); until then such keys
//! are ignored. The crate does no cryptography: certificates are decoded (with `x509-cert`)
//! to make sure they are certificates, JWT keys are checked for shape, and signatures are
//! checked by `spiffe-svid` at verification time.
//!
//! # Limitations
//!
//! - A bundle keeps its X.509 authorities in input order and does not remove duplicates.
//! - Authorities are decoded but not judged: an expired or non-CA certificate is accepted in a
//!   bundle, and simply fails path validation later. An EC point is not checked to lie on its
//!   curve here; the signature library does that when it builds a verifier.
//! - PEM blocks other than `CERTIFICATE` are refused in a bundle file, rather than skipped.
//! - WIT-SVID keys (`use` `wit-svid`) are ignored: there is no `wit` feature yet.
//! - In a SPIFFE bundle document, the JWK parameters of an `x509-svid` key are not compared
//!   with its certificate's public key; the certificate is the authority.
//! - [`SpiffeBundle::to_json`] writes `kty` and key parameters for certificates with EC
//!   (P-256, P-384, P-521), RSA, Ed25519 and Ed448 keys. Parameters that cannot be read off
//!   the certificate are left out (the coordinates of an EC point in compressed form, an RSA
//!   key not in strict DER, a key BIT STRING with unused bits): such a key is written with
//!   `kty` (and `crv`) only. An X.509 authority with another key type is written without
//!   `kty`, and [`SpiffeBundle::parse`] refuses such a key.
//! - Size caps apply to what is read. A bundle read from a document just under
//!   [`MAX_BUNDLE_BYTES`] can be written back a little over it (`to_json` adds key
//!   parameters, `to_pem` wraps lines at 64 characters), and is then refused if read again.
//! - A JWT key without `kid` is always an error: there is no lenient mode that keeps such a
//!   key, since a bundle looks its keys up by `kid`.
//! - Comparing a fetched bundle's `spiffe_sequence` with the stored one is left to the code
//!   that stores bundles.

#![forbid(unsafe_code)]

pub mod der;
mod error;
mod json;
mod jwt;
mod set;
mod source;
mod spiffe;
mod x509;

pub use error::{BundleError, JsonError, JwtKeyError, MemberProblem};
pub use jwt::{EcCurve, JwtAuthority, JwtBundle, JwtPublicKey};
pub use set::{BundleSet, JwtBundleSet, SpiffeBundleSet, TrustDomainBundle, X509BundleSet};
pub use source::{JwtBundleSource, X509BundleSource};
pub use spiffe::SpiffeBundle;
pub use x509::X509Bundle;

/// The largest input, DER, PEM or JSON, that [`X509Bundle::from_der`],
/// [`X509Bundle::from_pem`], [`JwtBundle::from_jwks`] and [`SpiffeBundle::parse`] accept:
/// 4 MiB, the Workload API's message limit. A bundle of [`MAX_AUTHORITIES`] typical CA
/// certificates (about 1.5 KiB of PEM each) stays well below it.
pub const MAX_BUNDLE_BYTES: usize = 4 * 1024 * 1024;

/// The most certificates one X.509 bundle may hold, the most keys one JWT bundle may hold,
/// and the most entries (ignored ones included) a JSON `keys` array may have: 1000. Real
/// trust domains have a handful (the current keys plus those being rotated in or out).
pub const MAX_AUTHORITIES: usize = 1000;

/// The smallest RSA modulus accepted in a JWT key: 2048 bits, the floor NIST SP 800-131A
/// and the common JWT libraries set for RS256 and PS256.
pub const MIN_RSA_MODULUS_BITS: usize = 2048;

/// The largest RSA modulus accepted in a JWT key: 8192 bits. Larger keys are rare and make
/// each signature check markedly slower, so hostile bundles could use them to waste work.
pub const MAX_RSA_MODULUS_BITS: usize = 8192;
