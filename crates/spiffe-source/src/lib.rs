//! Long-lived SPIFFE sources.
//!
//! An [`X509Source`] holds a workload's X.509-SVIDs and the trust bundles it needs, kept
//! current by one streaming connection to the SPIFFE Workload API (a SPIRE agent, or the dev
//! agent of this workspace). Create one at start-up, share it, close it at shutdown.
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
//! It follows the workspace policy (`docs/policy.md`, "Workload API client" and "Sources"):
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
//! - JWT-SVIDs and a bundle-only source are not here yet (`JwtSource`, `BundleSource`).

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
