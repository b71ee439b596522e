//! Peer verification on every handshake: the current anchors of the peer's own trust domain,
//! then the authorizer.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, SignatureScheme,
};
use spiffe_id::SpiffeId;
use spiffe_svid::{X509VerifyError, verify_x509_svid_with_anchors};

use crate::material::Shared;
use crate::{Authorizer, SvidSource};

/// Why a peer was refused: its SVID did not verify, or its SPIFFE ID is not authorised.
///
/// The handshake fails with `rustls::Error::InvalidCertificate(CertificateError::Other(..))`
/// holding this error; [`PeerError::from_rustls`] finds it again.
#[derive(Debug)]
#[non_exhaustive]
pub enum PeerError {
    /// The peer's chain is not a valid X.509-SVID under the current bundle of its own trust
    /// domain (or there is no bundle for that trust domain).
    Verify(X509VerifyError),
    /// The peer's SVID verified, but the authorizer refused its SPIFFE ID.
    Unauthorized {
        /// The peer's verified SPIFFE ID.
        id: SpiffeId,
    },
}

impl PeerError {
    /// The `PeerError` inside a rustls error that a spiffe-tls verifier returned, if any.
    pub fn from_rustls(error: &rustls::Error) -> Option<&PeerError> {
        match error {
            rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
                other.0.downcast_ref()
            }
            _ => None,
        }
    }
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Verify(err) => fmt::Display::fmt(err, f),
            Self::Unauthorized { id } => write!(f, "SPIFFE ID {id} is not authorised"),
        }
    }
}

impl std::error::Error for PeerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Verify(err) => err.source(),
            Self::Unauthorized { .. } => None,
        }
    }
}

/// Verifies a peer's SVID against the current anchors of the peer's trust domain, then asks
/// the authorizer. Serves as a client verifier (servers) and a server verifier (clients).
pub(crate) struct SpiffeVerifier<S> {
    shared: Arc<Shared<S>>,
    authorizer: Authorizer,
    algorithms: WebPkiSupportedAlgorithms,
}

impl<S: SvidSource> SpiffeVerifier<S> {
    pub(crate) fn new(
        shared: Arc<Shared<S>>,
        authorizer: Authorizer,
        provider: &CryptoProvider,
    ) -> Self {
        Self {
            shared,
            authorizer,
            algorithms: provider.signature_verification_algorithms,
        }
    }

    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let verified = self.shared.with(|material| {
            verify_x509_svid_with_anchors(
                end_entity,
                intermediates,
                &material.anchors,
                self.algorithms.all,
                now,
            )
        });
        let id = verified.map_err(|err| {
            tracing::debug!(error = %err, "peer SVID refused");
            refuse(PeerError::Verify(err))
        })?;

        if !self.authorizer.authorize(&id) {
            tracing::debug!(peer = %id, "peer SPIFFE ID not authorised");
            return Err(refuse(PeerError::Unauthorized { id }));
        }
        Ok(())
    }
}

fn refuse(error: PeerError) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(error))))
}

impl<S> fmt::Debug for SpiffeVerifier<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpiffeVerifier")
            .field("authorizer", &self.authorizer)
            .field("material", &self.shared)
            .finish()
    }
}

impl<S: SvidSource> ServerCertVerifier for SpiffeVerifier<S> {
    /// The server name is not checked: a SPIFFE peer is identified by its SPIFFE ID.
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

impl<S: SvidSource> ClientCertVerifier for SpiffeVerifier<S> {
    /// No hints: the acceptable authorities depend on the client's trust domain.
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

/// Hands out the source's current SVID, as a rustls certified key built once per update.
pub(crate) struct SvidResolver<S> {
    pub(crate) shared: Arc<Shared<S>>,
}

impl<S: SvidSource> SvidResolver<S> {
    fn current(&self) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let key = self.shared.with(|material| material.certified_key.clone());
        if key.is_none() {
            tracing::debug!("no SVID to present in this handshake");
        }
        key
    }
}

impl<S> fmt::Debug for SvidResolver<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SvidResolver")
            .field("material", &self.shared)
            .finish()
    }
}

impl<S: SvidSource> rustls::server::ResolvesServerCert for SvidResolver<S> {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        self.current()
    }
}

impl<S: SvidSource> rustls::client::ResolvesClientCert for SvidResolver<S> {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        self.current()
    }

    fn has_certs(&self) -> bool {
        true
    }
}
