//! Long-lived SPIFFE sources.
//!
//! A source keeps what a workload needs current through one streaming connection to the
//! SPIFFE Workload API (a SPIRE agent, or the dev agent of this workspace):
//! - [`X509Source`]: the workload's X.509-SVIDs and the X.509 bundles to verify peers;
//! - [`JwtSource`]: JWT-SVIDs on demand (cached, refreshed before they expire) and the JWT
//!   bundles to validate peers' tokens;
//! - [`BundleSource`]: bundles only, for a workload that verifies peers but has no identity
//!   of its own to present.
//!
//! Create one at start-up, share it (it is cheap to clone), and close it at shutdown.
//! Creating one per request is the classic mistake: every source opens its own stream to the
//! agent.
//!
//! # Runtime
//!
//! Sources run on Tokio: build one inside a Tokio runtime (`#[tokio::main]`, either flavour,
//! or `Runtime::block_on`), whose background task then follows the agent. Built anywhere
//! else, `build()` returns [`SourceError::NoRuntime`]. Add `tokio` to your own dependencies
//! with the `macros` and `rt-multi-thread` (or `rt`) features for `#[tokio::main]`.
//!
//! # Errors
//!
//! Errors are layered: a [`SourceError`] says what failed, and its
//! [`source()`](std::error::Error::source) chain says why (an invalid address, a missing
//! socket, the agent's refusal). Print the whole chain when you log one, for example with
//! `anyhow`'s `{:#}` or by walking `source()`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use spiffe_source::X509Source;
//!
//! let source = X509Source::builder()
//!     .endpoint("unix:///run/spire/agent.sock") // else SPIFFE_ENDPOINT_SOCKET
//!     .pick_hint("internal")                    // else the first SVID
//!     .first_update_timeout(Duration::from_secs(10))
//!     .build()
//!     .await?;
//!
//! let mut updates = source.updates();
//! tokio::spawn(async move {
//!     while updates.changed().await.is_ok() {
//!         // Rotated SVID, new bundle, revocation or expiry: read the source again.
//!     }
//! });
//!
//! let snapshot = source.snapshot();           // lock-free, no allocation
//! let svid = snapshot.svid()?;                // the picked SVID
//! let bundle = snapshot.bundle(svid.spiffe_id().trust_domain_name());
//! # let _ = bundle;
//! source.close().await;
//! # Ok(()) }
//! ```
//!
//! # How a source behaves
//!
//! It follows the workspace policy (`docs/policy.md` in the repository, "Workload API client"
//! and "Sources"):
//! - every stream message is the full state; an identical update does not notify;
//! - an update that fails to parse is rejected whole and the last good state stays;
//! - PermissionDenied in the middle of a stream, or an update with no SVIDs, revokes the
//!   identity: SVID reads fail with [`SourceError::Revoked`], bundles are still served;
//! - an SVID past its NotAfter is not served ([`SourceError::Expired`]);
//! - failures are retried with jittered exponential backoff (slower while the agent has no
//!   identity for the workload); InvalidArgument and Unimplemented stop the source;
//! - a snapshot's SVID and bundles always come from the same message.
//!
//! # Features
//!
//! | feature | default | what it does |
//! |---|---|---|
//! | `aws-lc-rs` | yes | loads private keys with aws-lc-rs |
//! | `ring` | no | loads private keys with ring |
//!
//! # Limitations
//!
//! - Sources read the Workload API only: no SVIDs from files, no federation bundle endpoints
//!   of their own (federated bundles arrive through the agent), no WIT-SVIDs.

#![forbid(unsafe_code)]

mod bundles;
mod error;
mod follow;
mod jwt;
mod snapshot;
mod x509;

pub use bundles::{BundleGuard, BundleSource, BundleSourceBuilder, BundleUpdates};
pub use error::SourceError;
pub use follow::DEFAULT_FIRST_UPDATE_TIMEOUT;
pub use jwt::{JwtSource, JwtSourceBuilder, MAX_CACHED_TOKENS};
pub use snapshot::{Health, SnapshotGuard, X509Snapshot};
pub use x509::{SvidPicker, Updates, X509Source, X509SourceBuilder};
