//! A SPIFFE Workload API server with an in-memory CA, for development and for tests.
//!
//! The dev agent listens on a Unix socket and answers the X.509 and JWT calls of the Workload
//! API like a SPIFFE agent would: it runs a CA and a JWT signing key for one trust domain,
//! issues X.509-SVIDs for the identities it is configured with, re-issues them at half their
//! TTL, signs JWT-SVIDs on request, validates tokens, and pushes the full state on every open
//! stream whenever something changes. On top of that it lets a test
//! script what real agents do on bad days: refuse streams with a status, hold the first
//! message, send malformed messages, end streams, revoke identities, rotate the CA, and go
//! away and come back on the same socket path. It counts what it sees (stream opens, open
//! and cancelled streams, header rejections, ...) so that a test can wait for an
//! observation instead of sleeping.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use spiffe_dev_agent::{Code, DevAgent, Fault, Identity, StreamKind};
//!
//! # async fn demo() -> Result<(), spiffe_dev_agent::DevAgentError> {
//! let agent = DevAgent::builder()
//!     .trust_domain("example.org")
//!     .identity(Identity::new("spiffe://example.org/web").with_ttl(Duration::from_secs(60)))
//!     .intermediate(true)
//!     .start()
//!     .await?;
//!
//! // The first three stream opens are refused, then the agent behaves.
//! let denied = Fault::status(Code::PermissionDenied, "no identity issued");
//! agent.script(StreamKind::X509Svid, denied, 3)?;
//!
//! // Point the code under test at the agent ...
//! let endpoint = agent.endpoint(); // "unix:///tmp/spiffe-dev-agent-.../agent.sock"
//! # let _ = endpoint;
//!
//! // ... and wait for what it should do, without sleeping.
//! agent.wait_for_stream_opens(StreamKind::X509Svid, 4, Duration::from_secs(5)).await?;
//! agent.rotate_ca()?;
//! agent.restart().await?;
//! agent.stop().await;
//! # Ok(())
//! # }
//! ```
//!
//! # What is served
//!
//! - Each identity ([`Identity`]) gets an X.509-SVID: a P-256 key (PKCS#8), a leaf with one
//!   SPIFFE URI SAN, not a CA, key usage digitalSignature and keyEncipherment, extended key
//!   usage serverAuth and clientAuth, a random serial, NotBefore 30 s in the past and
//!   NotAfter at now + TTL. With [`DevAgentBuilder::intermediate`] the chain is leaf then
//!   intermediate.
//! - The bundle of the agent's trust domain holds the current root, an announced next root
//!   ([`DevAgentHandle::prepare_ca_rotation`]) and old roots still in their grace period
//!   ([`DevAgentHandle::rotate_ca`]). Foreign bundles can be added with
//!   [`DevAgentHandle::set_federated_bundle`].
//! - An identity with a uid is served only to callers whose peer credentials carry it;
//!   others are served to every caller. A caller with no identity gets PermissionDenied
//!   "no identity issued", on both X.509 calls.
//! - A call without exactly one `workload.spiffe.io: true` header gets InvalidArgument
//!   "security header missing from request".
//! - JWT-SVIDs (`FetchJWTSVID`): one per identity the caller may have (only the requested
//!   one if the request names a SPIFFE ID), signed with the agent's JWT key, ES256 unless
//!   [`DevAgentBuilder::jwt_algorithm`] picks another algorithm of the JWT-SVID allow-list
//!   ([`JwsAlgorithm`]; RSA keys are 2048 bits). Header `{alg, kid, typ: "JWT"}` with a
//!   random 128-bit `kid`; claims `sub`, `aud` (a string for one audience, an array for
//!   several), `iat` now and `exp` now plus the identity's JWT TTL
//!   ([`Identity::with_jwt_ttl`], default [`DEFAULT_JWT_TTL`]). No audience, an empty one or
//!   a malformed SPIFFE ID: InvalidArgument. No matching identity: PermissionDenied "no
//!   identity issued".
//! - JWT bundles (`FetchJWTBundles`, a stream): the agent's trust domain's JWK Set (current
//!   key, then keys still in their grace period after
//!   [`DevAgentHandle::rotate_jwt_key`]; public parts only, no `use`) plus federated JWT
//!   bundles ([`DevAgentHandle::set_federated_jwt_bundle`]), keyed by `spiffe://td`; pushed
//!   again on every change.
//! - `ValidateJWTSVID`: the token is validated with `spiffe_svid::JwtSvid::validate` against
//!   the bundles the agent serves (60 s leeway); the answer carries the SPIFFE ID and the
//!   claims as a `google.protobuf.Struct`. A refused token, an empty audience or an empty
//!   token: InvalidArgument. No identity is needed to validate.
//! - WIT-SVID calls get Unimplemented.
//!
//! # Scripting
//!
//! - [`Fault`]s are queued per [`CallKind`] and consumed one per stream open or unary call
//!   ([`DevAgentHandle::script`]); on the JWT calls: a status, [`Fault::Hang`] (accept and
//!   never answer, scenario H1), [`Fault::HoldFirst`], [`Garbage::ZeroSvids`],
//!   [`Garbage::UnparsableToken`], raw answers ([`Fault::RawJwtSvid`], which repeated serves
//!   the same token on every call, [`Fault::RawJwtBundles`], [`Fault::RawValidateJwtSvid`]).
//! - [`DevAgentHandle::freeze_jwt_svids`] makes the agent hand out the same token for the same
//!   SPIFFE ID and audience set on every call; [`DevAgentHandle::sign_jwt_claims`] signs any
//!   claims (chosen times, `jti`) with the current key.
//! - Injections act on streams that are already open: malformed messages
//!   ([`DevAgentHandle::inject_garbage`]), raw responses, and ending streams with a status
//!   ([`DevAgentHandle::end_streams`]).
//! - [`DevAgentHandle::revoke`] takes an identity away, with an empty update or with
//!   PermissionDenied ([`Revocation`]).
//! - [`DevAgentHandle::stop`] and [`DevAgentHandle::restart`] take the socket away and bring
//!   it back on the same path; state and counters survive.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `cli` | yes | the `spiffe-dev-agent` binary (clap; `--jwt-algorithm RS256`) and [`AgentConfig`], the TOML configuration file (`jwt_algorithm`, per identity `jwt_ttl`) |
//!
//! Depend on the library with `default-features = false` in tests to leave clap out.
//!
//! # Limitations
//!
//! - No WIT-SVIDs (Unimplemented).
//! - One JWT signing key at a time per agent (plus retired ones in their grace period); every
//!   start makes a new one. Federated JWT bundles are served as given, not fetched.
//! - No CRLs; no TCP listener, Unix sockets only.
//! - Callers are told apart by uid only; there is no other workload attestation.
//! - The CA lives in memory only; every start makes a new one.
//! - [`DevAgentHandle::rotate_ca`] sends the new root and the re-issued SVIDs in one update;
//!   call [`DevAgentHandle::prepare_ca_rotation`] first for a bundle-only update before it.
//! - Private keys are not zeroised; this is a development tool, never run it for real
//!   workloads.
//! - gRPC clients built on grpcio (py-spiffe, for one) send the percent-encoded socket path as
//!   the HTTP/2 `:authority`, which the HTTP/2 library under tonic refuses (the stream is
//!   reset with PROTOCOL_ERROR before the agent sees the call). Such clients must set the
//!   channel option `grpc.default_authority` (e.g. to `localhost`); go-spiffe and this
//!   workspace's client are unaffected. The interoperability run checks both facts
//!   (`tests/interop/divergences.json`).

#![forbid(unsafe_code)]

mod agent;
mod ca;
#[cfg(feature = "cli")]
mod config;
mod error;
mod fault;
mod id;
mod identity;
mod jwt;
mod service;
mod state;
mod stats;

pub use agent::{
    DEFAULT_CA_GRACE, DEFAULT_CA_LIFETIME, DEFAULT_TRUST_DOMAIN, DevAgent, DevAgentBuilder,
    DevAgentHandle,
};
pub use ca::IssuedSvid;
#[cfg(feature = "cli")]
pub use config::{AgentConfig, parse_jwt_algorithm};
pub use error::DevAgentError;
pub use fault::{CallKind, Code, Fault, Garbage, Revocation, StreamEnd, StreamKind};
pub use identity::{DEFAULT_JWT_TTL, DEFAULT_SVID_TTL, Identity, MIN_SVID_TTL};
pub use jwt::{DEFAULT_JWT_ALGORITHM, DEFAULT_JWT_GRACE};
/// The JWS algorithms a dev agent can sign JWT-SVIDs with
/// ([`DevAgentBuilder::jwt_algorithm`]).
pub use spiffe_svid::JwsAlgorithm;
pub use stats::AgentStats;

/// The generated Workload API messages, re-exported for raw responses
/// ([`Fault::RawX509Svid`], [`DevAgentHandle::inject_x509_svid_response`]).
pub use spiffe_workload_api::proto;
