//! Live mutual TLS and TLS with SPIFFE X.509-SVIDs, for rustls.
//!
//! This crate turns a source of SPIFFE material (an [`X509Source`](spiffe_source::X509Source)
//! kept current by the Workload API, or a [`StaticSource`]) into rustls
//! [`ServerConfig`](rustls::ServerConfig)s and [`ClientConfig`](rustls::ClientConfig)s that
//! stay right for the life of the process:
//!
//! - every handshake presents the source's **current** SVID;
//! - every peer is verified against the **current** bundle of the **peer's own** trust
//!   domain, never a pool of all trust domains' authorities (X509-SVID §5, workspace policy),
//!   then its SPIFFE ID goes through an [`Authorizer`];
//! - nothing is rebuilt by the user on rotation: build a configuration once, share it.
//!
//! Two modes: mutual TLS (both sides present SVIDs) and TLS where only the server presents
//! an SVID and the client checks the server's SPIFFE ID.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use spiffe_id::SpiffeId;
//! use spiffe_source::X509Source;
//! use spiffe_tls::{Authorizer, ClientConfigBuilder, ServerConfigBuilder};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let source = X509Source::builder().pick_hint("api").build().await?;
//!
//! // A server that accepts the frontends of any namespace of example.org.
//! let server = ServerConfigBuilder::mtls(
//!     source.clone(),
//!     Authorizer::pattern("spiffe://example.org/ns/*/sa/frontend")?,
//! )
//! .build()?;
//! let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
//!
//! // A client that talks to the database only.
//! let db = SpiffeId::parse("spiffe://example.org/ns/prod/sa/db")?;
//! let client = ClientConfigBuilder::mtls(source.clone(), Authorizer::exact(db)).build()?;
//! let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
//!
//! // After a handshake, the peer's SPIFFE ID (already verified and authorised):
//! # let tcp = tokio::net::TcpStream::connect("127.0.0.1:8443").await?;
//! let name = rustls::pki_types::ServerName::try_from("db")?; // not checked: SPIFFE ID is
//! let tls = connector.connect(name, tcp).await?;
//! let peer = spiffe_tls::peer_id(tls.get_ref().1);
//! # let _ = (acceptor, peer);
//! # Ok(()) }
//! ```
//!
//! # How a handshake reads the source
//!
//! On the first handshake after each source update, the configuration derives once what
//! every handshake needs: the rustls `CertifiedKey` of the SVID (chain plus the signing key
//! that [`X509Svid`](spiffe_svid::X509Svid) loaded at parse time) and the trust anchors of
//! each trust domain ([`X509TrustAnchorSet`](spiffe_svid::X509TrustAnchorSet)). It publishes
//! them in an `ArcSwap` keyed by the source's generation. Every other handshake does two
//! lock-free loads and a comparison: no lock that a source update holds, no parsing of our
//! own material, no allocation for it. Peer chains are of course parsed and verified.
//!
//! # Session resumption
//!
//! Off by default: a resumed session skips certificate verification, so it would outlive a
//! bundle change. [`ServerConfigBuilder::resumption`] and [`ClientConfigBuilder::resumption`]
//! turn it on with session stores bound to the bundles: when the source's bundles change
//! (any trust domain), every stored session is dropped, and stateless tickets are never
//! issued. A resumed session is therefore never accepted once the bundle that verified it
//! has changed. SVID rotations alone keep stored sessions.
//!
//! # Features
//!
//! | feature | default | what it does |
//! |---|---|---|
//! | `aws-lc-rs` | yes | [`default_provider`] is rustls' aws-lc-rs provider; SVID keys load with aws-lc-rs |
//! | `ring` | no | the same with *ring* (used when `aws-lc-rs` is off) |
//!
//! The provider is passed to rustls explicitly (see [`ServerConfigBuilder::provider`]); this
//! crate never installs a process-wide `CryptoProvider`.
//!
//! # Limitations
//!
//! - The server name the client connects to is not checked; the server is identified by its
//!   SPIFFE ID alone. Servers present their one SVID whatever SNI the client sends.
//! - A server sends no acceptable-CA hints in its certificate request.
//! - Each built configuration keeps its own derived material: fifty configurations over one
//!   source each derive it once per update (cheap, but not shared).
//! - With resumption on, a session stored in the microseconds between the verification of
//!   its handshake and a bundle change that lands before the store call is tagged with the
//!   new bundles; it is dropped at the next bundle change.
//! - No revocation checking (CRLs from the Workload API are ignored workspace-wide).

#![forbid(unsafe_code)]

mod authorize;
mod config;
mod material;
mod resumption;
mod source;
mod verify;

/// The README's examples (sources and TLS), compiled as doctests so that they cannot drift
/// from the API. This crate sees every layer they use.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

pub use authorize::Authorizer;
pub use config::{ClientConfigBuilder, ServerConfigBuilder, default_provider};
pub use source::{StaticMaterial, StaticSource, SvidSnapshot, SvidSource};
pub use verify::PeerError;

use spiffe_id::SpiffeId;

/// The SPIFFE ID of the peer of a completed handshake, read from its leaf certificate.
///
/// Use it on connections made with this crate's configurations, whose verifiers have already
/// verified and authorised that certificate; it verifies nothing by itself. `None` when the
/// peer sent no certificate or the leaf is not an SVID.
pub fn peer_id(connection: &rustls::CommonState) -> Option<SpiffeId> {
    let leaf = connection.peer_certificates()?.first()?;
    spiffe_svid::inspect_leaf(leaf)
        .ok()
        .map(|info| info.spiffe_id)
}
