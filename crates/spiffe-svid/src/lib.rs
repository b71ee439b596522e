//! SPIFFE Verifiable Identity Documents (SVIDs): X.509-SVID parsing, profile checks and
//! verification.
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
//! # Features
//!
//! | feature | default | effect |
//! |---|---|---|
//! | `aws-lc-rs` | yes | loads keys and verifies signatures with aws-lc-rs (through rustls and rustls-webpki) |
//! | `ring` | no | the same with *ring*; used when `aws-lc-rs` is off |
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
//! - JWT-SVIDs are not covered yet.

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
pub use verify::{PathValidationError, VerifiedX509Svid, X509VerifyError, verify_x509_svid_chain};

/// The most certificates an X.509-SVID chain may hold, leaf included: 16 (workspace policy).
pub const MAX_CHAIN_LEN: usize = 16;

/// The largest certificate input [`X509Svid::from_der`] and [`X509Svid::from_pem`] accept:
/// 1 MiB, far above [`MAX_CHAIN_LEN`] certificates of usual size. For PEM the same limit
/// applies to the key input, which may be the whole file.
pub const MAX_CHAIN_BYTES: usize = 1024 * 1024;

/// The largest PKCS#8 private key accepted, in DER bytes: 16 KiB (an RSA-8192 key is about
/// 4.9 KiB).
pub const MAX_KEY_BYTES: usize = 16 * 1024;
