//! SPIFFE trust bundles: the authorities that decide which identities a workload trusts.
//!
//! A trust bundle holds the public material of one trust domain. This crate covers the X.509
//! part: an [`X509Bundle`] is the set of root certificates against which X.509-SVIDs of that
//! trust domain are verified, and an [`X509BundleSet`] holds one bundle per trust domain (the
//! local one plus federated ones), as the Workload API delivers them. Verification code asks
//! for bundles through the [`X509BundleSource`] trait, one trust domain at a time.
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
//! # Formats
//!
//! | input | constructor | notes |
//! |---|---|---|
//! | DER certificates back to back (Workload API `bundle`, `federated_bundles`) | [`X509Bundle::from_der`] | empty input: empty bundle |
//! | PEM `CERTIFICATE` blocks (bundle files) | [`X509Bundle::from_pem`] | empty input: empty bundle; other text without blocks: error |
//!
//! Both are written back with [`X509Bundle::to_der`] and [`X509Bundle::to_pem`].
//!
//! # Limits
//!
//! Input is checked against [`MAX_BUNDLE_BYTES`] before it is read, and the number of
//! certificates against [`MAX_AUTHORITIES`] before they are decoded, so hostile input costs
//! bounded work.
//!
//! # Features
//!
//! This crate has no cargo features. It does no cryptography: certificates are decoded (with
//! `x509-cert`) to make sure they are certificates, and signatures are checked by
//! `spiffe-svid` at verification time.
//!
//! # Limitations
//!
//! - Only X.509 bundles for now; JWT bundles and the SPIFFE bundle (JWKS) format are planned.
//! - A bundle keeps its authorities in input order and does not remove duplicates.
//! - Authorities are decoded but not judged: an expired or non-CA certificate is accepted in a
//!   bundle, and simply fails path validation later.
//! - PEM blocks other than `CERTIFICATE` are refused in a bundle file, rather than skipped.

#![forbid(unsafe_code)]

pub mod der;
mod error;
mod set;
mod source;
mod x509;

pub use error::BundleError;
pub use set::X509BundleSet;
pub use source::X509BundleSource;
pub use x509::X509Bundle;

/// The largest input, DER or PEM, that [`X509Bundle::from_der`] and [`X509Bundle::from_pem`]
/// accept: 4 MiB. A bundle of [`MAX_AUTHORITIES`] typical CA certificates (about 1.5 KiB of
/// PEM each) stays well below it.
pub const MAX_BUNDLE_BYTES: usize = 4 * 1024 * 1024;

/// The most certificates one X.509 bundle may hold: 1000. Real trust domains have a handful
/// (the current root plus those being rotated in or out).
pub const MAX_AUTHORITIES: usize = 1000;
