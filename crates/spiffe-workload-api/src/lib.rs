//! A client of the SPIFFE Workload API: where the agent is, how to talk to it, and what its
//! answers mean.
//!
//! A workload asks its local SPIFFE agent (SPIRE, or any other implementation of the SPIFFE
//! Workload API) for its X.509-SVIDs and JWT-SVIDs and the trust bundles to verify peers
//! with, and may ask it to validate a peer's JWT-SVID. This crate is the transport layer of
//! that conversation:
//!
//! - [`Address`] parses the endpoint (`unix:///run/agent.sock`, `tcp://127.0.0.1:8081`),
//!   from the caller or from `SPIFFE_ENDPOINT_SOCKET`, refusing ambiguous forms.
//! - [`WorkloadApiClient`] makes one-shot fetches and long-lived watches, adds the
//!   `workload.spiffe.io: true` security header to every request and turns responses into
//!   [`X509Svid`](spiffe_svid::X509Svid)s, [`JwtSvid`](spiffe_svid::JwtSvid)s,
//!   [`X509BundleSet`](spiffe_bundle::X509BundleSet)s and
//!   [`JwtBundleSet`](spiffe_bundle::JwtBundleSet)s.
//! - [`WorkloadApiError`] says what went wrong (socket missing, no identity issued, ...) and
//!   [`WorkloadApiError::retry`] how to react; [`Backoff`] is the retry schedule to react with.
//! - [`proto`] is the generated gRPC code, with the server side behind the feature `server`.
//!
//! Keeping SVIDs fresh (reconnecting, backing off, serving the last good state) is the job of
//! the `spiffe-source` crate built on top of this one.
//!
//! # Example
//!
//! ```no_run
//! use spiffe_workload_api::{Address, WorkloadApiClient};
//! use futures::StreamExt;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = WorkloadApiClient::new(Address::parse("unix:///run/spire/agent.sock")?)?;
//!
//! let context = client.fetch_x509_context().await?;
//! for svid in &context.svids {
//!     println!("{} (hint {:?})", svid.spiffe_id(), svid.hint());
//! }
//!
//! let token = client.fetch_jwt_svid(&["spiffe://example.org/api"], None).await?;
//! let (peer, claims) = client.validate_jwt_svid("spiffe://example.org/api", token.token()).await?;
//! println!("{peer} expires at {}", claims["exp"]);
//!
//! let mut updates = client.watch_x509_context().await?;
//! while let Some(update) = updates.next().await {
//!     match update {
//!         Ok(context) => println!("{} svids, {} bundles", context.svids.len(), context.bundles.len()),
//!         Err(err) => eprintln!("update refused: {err}"),
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `aws-lc-rs` | yes | loads SVID private keys (and verifies JWT-SVIDs in `spiffe-svid`) with aws-lc-rs |
//! | `ring` | no | the same with ring instead |
//! | `server` | no | the generated server trait and service, `proto::spiffe_workload_api_server`, for agents and test servers |
//!
//! # Decisions
//!
//! - Addresses follow SPEC-POLICY: `unix:///abs/path`, `unix:/abs/path`, `tcp://IPv4:port`,
//!   `tcp://[IPv6]:port`; host names, relative paths, authorities in `unix` URIs, queries,
//!   fragments and userinfo are refused. An explicit address wins over the environment.
//! - One-shot fetches ([`WorkloadApiClient::fetch_x509_context`],
//!   [`WorkloadApiClient::fetch_x509_bundles`], [`WorkloadApiClient::fetch_jwt_bundles`]) read
//!   the first message of the agent's stream, then cancel the stream. They and the unary JWT
//!   calls ([`WorkloadApiClient::fetch_jwt_svids`], [`WorkloadApiClient::validate_jwt_svid`])
//!   carry the client's deadline ([`DEFAULT_DEADLINE`], 30 s, configurable with
//!   [`ClientBuilder::deadline`]), both as `grpc-timeout` and as a local timer; either one
//!   firing is [`WorkloadApiError::DeadlineExceeded`]. Watches never carry a deadline.
//! - JWT-SVIDs from the agent are read with
//!   [`JwtSvid::parse_insecure`](spiffe_svid::JwtSvid::parse_insecure): the agent is the
//!   trusted source of its own tokens. Each must name the SPIFFE ID it is declared for (and
//!   the one requested, if any); an answer with zero JWT-SVIDs is
//!   [`ResponseError::NoJwtSvids`]. An empty audience list (or an empty audience or token) is
//!   refused before any call ([`WorkloadApiError::EmptyAudience`],
//!   [`WorkloadApiError::EmptyToken`]).
//! - JWT bundles are plain JWK Sets; `{"keys":[]}` and empty bytes are both empty bundles.
//! - `validate_jwt_svid` returns the claims as JSON; integral numbers (which the protobuf
//!   `Struct` carries as doubles) come back as JSON integers.
//! - Messages larger than [`MAX_MESSAGE_BYTES`] are refused.
//! - A response that cannot be read is refused whole; in a watch it becomes an error item and
//!   the watch goes on. A response with no SVIDs is *not* an error: it signals revocation.
//! - The `spiffe_id` field of each SVID must equal the ID in its certificate.
//!
//! # Limitations
//!
//! - WIT-SVID calls (`FetchWITSVID`, `FetchWITBundles`) are not wrapped; the generated
//!   client in [`proto`] can make them.
//! - JWT-SVIDs are not cached here: every `fetch_jwt_svids` is one agent call. Caching per
//!   SPIFFE ID and audience set belongs to a source built on top.
//! - CRLs in responses are ignored.
//! - Named pipes (Windows) are not supported.
//! - The client does not retry by itself: it classifies errors ([`RetryClass`]) and leaves
//!   the retry loop to the caller.
//! - A peer on the socket that closes every connection at once cannot be told from an agent
//!   going away: it is reported as a lost connection ([`WorkloadApiError::Connect`]), not as
//!   [`WorkloadApiError::NotGrpc`].
//! - An X.509-SVID is not checked against the bundle it arrives with; a mismatch shows when
//!   a peer verifies the chain.

#![forbid(unsafe_code)]

mod address;
mod backoff;
mod client;
mod convert;
mod error;

/// Code generated from `proto/workloadapi.proto` by `cargo xtask codegen`; never edited by hand.
#[allow(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms,
    clippy::all,
    clippy::pedantic,
    reason = "generated by tonic-prost-build; regenerated and diffed in CI, not edited"
)]
#[path = "generated/workloadapi.rs"]
mod generated;

/// The Workload API messages and gRPC client and server (feature `server`) as generated from
/// the vendored `workloadapi.proto`.
///
/// The proto declares no package, so method paths are `/SpiffeWorkloadAPI/<Method>`.
/// Prefer [`WorkloadApiClient`]: it adds the security header, deadlines and response parsing.
pub mod proto {
    pub use crate::generated::*;
}

pub use address::{Address, AddressError, ENDPOINT_SOCKET_ENV};
pub use backoff::{Backoff, BackoffPolicy};
pub use client::{
    ClientBuilder, DEFAULT_DEADLINE, JwtBundlesStream, MAX_MESSAGE_BYTES, WorkloadApiClient,
    X509BundlesStream, X509ContextStream,
};
pub use convert::{JWT_CLOCK_SKEW, ResponseError, X509Context};
pub use error::{RetryClass, StatusCode, WorkloadApiError};
