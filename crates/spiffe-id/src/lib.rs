//! SPIFFE IDs and trust domains.
//!
//! A [`SpiffeId`] names a workload: `spiffe://<trust domain>/<path>`. A [`TrustDomain`] names
//! the authority that issues identities. This crate parses both strictly, following the
//! SPIFFE-ID standard and the workspace policy (`docs/policy.md`): parsing is byte-exact, so two
//! IDs are equal exactly when their strings are; nothing is decoded, trimmed or normalised.
//!
//! It does no I/O and has no required dependencies.
//!
//! ```
//! use spiffe_id::{IdMatcher, SpiffeId, TrustDomain};
//!
//! let id: SpiffeId = "spiffe://example.org/ns/prod/sa/api".parse()?;
//! assert_eq!(id.trust_domain_name(), "example.org");
//! assert_eq!(id.path(), "/ns/prod/sa/api");
//! assert_eq!(id.segments().collect::<Vec<_>>(), ["ns", "prod", "sa", "api"]);
//!
//! let td = TrustDomain::new("example.org")?;
//! let built = SpiffeId::from_segments(&td, &["ns", "prod", "sa", "api"])?;
//! assert_eq!(built, id);
//!
//! // Bad input gets an error that says what is wrong and where.
//! let err = SpiffeId::parse("spiffe://example.org/a/../b").unwrap_err();
//! assert_eq!(err.to_string(), "dot segment (`.` or `..`) at byte 22");
//!
//! assert!(IdMatcher::member_of(td).matches(&id));
//! # Ok::<(), spiffe_id::SpiffeIdError>(())
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `serde` | no | `Serialize`/`Deserialize` for [`SpiffeId`] and [`TrustDomain`], as strings, validated on the way in |
//!
//! # Costs
//!
//! Parsing checks a valid ID eight bytes at a time and stores an ID of up to
//! [`INLINE_CAPACITY`] (61) bytes inline, without allocating; a longer ID is kept in one shared
//! string, allocated once. Cloning an inline ID copies its 80 bytes; cloning a longer ID or a
//! trust domain is a reference-count increment. Invalid input is checked again byte by byte,
//! so that the error names the first broken rule and its position.
//!
//! # Limitations
//!
//! - IDs and trust domains are ASCII by construction; internationalised trust domain names
//!   must be given in their ASCII (punycode) form.

#![forbid(unsafe_code)]

mod error;
mod id;
mod matcher;

pub use error::SpiffeIdError;
pub use id::{INLINE_CAPACITY, MAX_ID_LEN, MAX_TRUST_DOMAIN_LEN, SpiffeId, TrustDomain};
pub use matcher::{IdMatcher, IdPattern};
