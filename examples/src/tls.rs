//! rustls glue over an [`X509Source`]: the certificate comes from the source on every handshake,
//! and the peer is verified against the current bundle of its own trust domain, then
//! authorised by SPIFFE ID.
//!
//! This is the minimal integration the demos need; the `spiffe-tls` crate (a later layer)
//! replaces it with precomputed keys and anchors per update.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::client::ResolvesClientCert;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, OtherError,
    ServerConfig, SignatureScheme,
};
use spiffe_id::{IdMatcher, SpiffeId};
use spiffe_source::X509Source;

/// The crypto provider the demos use, passed explicitly: nothing is installed process-wide.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A server configuration that presents the source's SVID and requires a client SVID that
/// `authorize` accepts.
///
/// # Errors
///
/// When the provider supports no TLS version (never with the default provider).
pub fn server_config(
    source: X509Source,
    authorize: IdMatcher,
) -> Result<ServerConfig, rustls::Error> {
    let provider = provider();
    let verifier = Arc::new(SpiffeVerifier::new(source.clone(), authorize, &provider));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(SvidResolver { source }));

    // No resumption: a resumed session would skip verification against the current bundle.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(config)
}

/// A client configuration that presents the source's SVID and accepts a server whose SVID
/// `authorize` accepts. The server name of the connection is not checked: SPIFFE
/// authenticates by SPIFFE ID.
///
/// # Errors
///
/// When the provider supports no TLS version (never with the default provider).
pub fn client_config(
    source: X509Source,
    authorize: IdMatcher,
) -> Result<ClientConfig, rustls::Error> {
    let provider = provider();
    let verifier = Arc::new(SpiffeVerifier::new(source.clone(), authorize, &provider));
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_cert_resolver(Arc::new(SvidResolver { source }));

    // No resumption: a resumed session would skip verification against the current bundle.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

/// The SPIFFE ID, serial and expiry of a peer that the handshake verified.
pub fn peer_info(certs: Option<&[CertificateDer<'_>]>) -> Option<spiffe_svid::LeafInfo> {
    spiffe_svid::inspect_leaf(certs?.first()?).ok()
}

/// Hands out the source's current SVID on every handshake.
#[derive(Debug)]
struct SvidResolver {
    source: X509Source,
}

impl SvidResolver {
    fn current(&self) -> Option<Arc<CertifiedKey>> {
        let snapshot = self.source.snapshot();
        let svid = snapshot.svid().ok()?;
        let key = CertifiedKey::new(svid.chain().to_vec(), Arc::clone(svid.signing_key()));
        Some(Arc::new(key))
    }
}

impl ResolvesServerCert for SvidResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current()
    }
}

impl ResolvesClientCert for SvidResolver {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.current()
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Verifies a peer SVID against the bundle of its own trust domain, then authorises its ID.
struct SpiffeVerifier {
    source: X509Source,
    authorize: IdMatcher,
    algorithms: WebPkiSupportedAlgorithms,
}

impl SpiffeVerifier {
    fn new(source: X509Source, authorize: IdMatcher, provider: &CryptoProvider) -> Self {
        Self {
            source,
            authorize,
            algorithms: provider.signature_verification_algorithms,
        }
    }

    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let mut chain = Vec::with_capacity(1 + intermediates.len());
        chain.push(end_entity.clone());
        chain.extend(intermediates.iter().cloned());

        let snapshot = self.source.snapshot();
        let at = UNIX_EPOCH + Duration::from_secs(now.as_secs());
        let verified =
            spiffe_svid::verify_x509_svid_chain(&chain, snapshot.bundles(), at).map_err(other)?;

        if !self.authorize.matches(verified.spiffe_id()) {
            return Err(other(Unauthorized(verified.into_spiffe_id())));
        }
        Ok(())
    }
}

fn other(error: impl std::error::Error + Send + Sync + 'static) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(error))))
}

/// A verified peer whose SPIFFE ID the authoriser refused.
#[derive(Debug)]
struct Unauthorized(SpiffeId);

impl fmt::Display for Unauthorized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SPIFFE ID {} is not authorised", self.0)
    }
}

impl std::error::Error for Unauthorized {}

impl fmt::Debug for SpiffeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpiffeVerifier")
            .field("authorize", &self.authorize)
            .finish()
    }
}

impl ServerCertVerifier for SpiffeVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verify(end_entity, intermediates, now)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl ClientCertVerifier for SpiffeVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.verify(end_entity, intermediates, now)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Seconds until `at`, negative when it has passed.
pub fn seconds_left(at: SystemTime) -> f64 {
    match at.duration_since(SystemTime::now()) {
        Ok(left) => left.as_secs_f64(),
        Err(past) => -past.duration().as_secs_f64(),
    }
}
