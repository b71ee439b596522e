//! Builders for rustls server and client configurations over an [`SvidSource`].

use std::sync::Arc;

use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::server::NoServerSessionStorage;
use rustls::{ClientConfig, ServerConfig};

use crate::material::Shared;
use crate::resumption::{BoundClientStore, BoundServerStore};
use crate::verify::{SpiffeVerifier, SvidResolver};
use crate::{Authorizer, SvidSource};

/// The crypto provider of the enabled backend feature (aws-lc-rs, else ring). It is made
/// for the caller and never installed process-wide.
pub fn default_provider() -> Arc<CryptoProvider> {
    #[cfg(feature = "aws-lc-rs")]
    return Arc::new(rustls::crypto::aws_lc_rs::default_provider());

    #[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
    return Arc::new(rustls::crypto::ring::default_provider());
}

#[cfg(not(any(feature = "aws-lc-rs", feature = "ring")))]
compile_error!("spiffe-tls needs a crypto backend: enable the `aws-lc-rs` or the `ring` feature");

/// Builds a rustls [`ServerConfig`] that presents the source's current SVID on every
/// handshake and, for mutual TLS, verifies the client's SVID against the current bundle of
/// the client's trust domain and authorises its SPIFFE ID.
///
/// Session resumption is off unless [`resumption`](Self::resumption) turns it on.
#[derive(Debug)]
#[must_use]
pub struct ServerConfigBuilder<S> {
    source: S,
    clients: Option<Authorizer>,
    provider: Option<Arc<CryptoProvider>>,
    resumption: bool,
}

impl<S: SvidSource> ServerConfigBuilder<S> {
    /// Mutual TLS: clients must present an SVID that verifies and that `authorizer` accepts.
    pub fn mtls(source: S, authorizer: Authorizer) -> Self {
        Self {
            source,
            clients: Some(authorizer),
            provider: None,
            resumption: false,
        }
    }

    /// TLS with a server SVID only: clients present no certificate.
    pub fn tls(source: S) -> Self {
        Self {
            source,
            clients: None,
            provider: None,
            resumption: false,
        }
    }

    /// The crypto provider to use; without it, [`default_provider`].
    pub fn provider(mut self, provider: Arc<CryptoProvider>) -> Self {
        self.provider = Some(provider);
        self
    }

    /// Turns session resumption on (`false` by default). Stored sessions are dropped as soon
    /// as the source's bundles change, so a session verified under an older bundle is never
    /// resumed.
    pub fn resumption(mut self, on: bool) -> Self {
        self.resumption = on;
        self
    }

    /// Builds the configuration. Nothing is read from the source until the first handshake.
    ///
    /// # Errors
    ///
    /// When the provider supports none of the safe default TLS versions (never with the
    /// built-in providers).
    pub fn build(self) -> Result<ServerConfig, rustls::Error> {
        let provider = self.provider.unwrap_or_else(default_provider);
        let shared = Arc::new(Shared::new(self.source));
        let resolver = Arc::new(SvidResolver {
            shared: Arc::clone(&shared),
        });

        let versions = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()?;
        let mut config = match self.clients {
            Some(authorizer) => {
                let verifier = SpiffeVerifier::new(Arc::clone(&shared), authorizer, &provider);
                versions
                    .with_client_cert_verifier(Arc::new(verifier))
                    .with_cert_resolver(resolver)
            }
            None => versions.with_no_client_auth().with_cert_resolver(resolver),
        };

        // Stateless tickets stay off (the default ticketer produces none): every session a
        // server can resume lives in a store that forgets it when the bundles change.
        if self.resumption {
            config.session_storage = Arc::new(BoundServerStore::new(shared));
        } else {
            config.session_storage = Arc::new(NoServerSessionStorage {});
            config.send_tls13_tickets = 0;
        }
        Ok(config)
    }
}

/// Builds a rustls [`ClientConfig`] that verifies the server's SVID against the current
/// bundle of the server's trust domain and authorises its SPIFFE ID; for mutual TLS it also
/// presents the source's current SVID.
///
/// The server name given to rustls when connecting is not checked: the server is identified
/// by its SPIFFE ID. Session resumption is off unless [`resumption`](Self::resumption)
/// turns it on.
#[derive(Debug)]
#[must_use]
pub struct ClientConfigBuilder<S> {
    source: S,
    servers: Authorizer,
    present_svid: bool,
    provider: Option<Arc<CryptoProvider>>,
    resumption: bool,
}

impl<S: SvidSource> ClientConfigBuilder<S> {
    /// Mutual TLS: presents the source's SVID and accepts servers that `authorizer` accepts.
    pub fn mtls(source: S, authorizer: Authorizer) -> Self {
        Self {
            source,
            servers: authorizer,
            present_svid: true,
            provider: None,
            resumption: false,
        }
    }

    /// TLS with a server SVID only: presents no certificate (the source may hold bundles
    /// only) and accepts servers that `authorizer` accepts.
    pub fn tls(source: S, authorizer: Authorizer) -> Self {
        Self {
            present_svid: false,
            ..Self::mtls(source, authorizer)
        }
    }

    /// The crypto provider to use; without it, [`default_provider`].
    pub fn provider(mut self, provider: Arc<CryptoProvider>) -> Self {
        self.provider = Some(provider);
        self
    }

    /// Turns session resumption on (`false` by default). Stored sessions are dropped as soon
    /// as the source's bundles change, so a session verified under an older bundle is never
    /// resumed.
    pub fn resumption(mut self, on: bool) -> Self {
        self.resumption = on;
        self
    }

    /// Builds the configuration. Nothing is read from the source until the first handshake.
    ///
    /// # Errors
    ///
    /// When the provider supports none of the safe default TLS versions (never with the
    /// built-in providers).
    pub fn build(self) -> Result<ClientConfig, rustls::Error> {
        let provider = self.provider.unwrap_or_else(default_provider);
        let shared = Arc::new(Shared::new(self.source));
        let verifier = SpiffeVerifier::new(Arc::clone(&shared), self.servers, &provider);

        let verified = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier));
        let mut config = if self.present_svid {
            verified.with_client_cert_resolver(Arc::new(SvidResolver {
                shared: Arc::clone(&shared),
            }))
        } else {
            verified.with_no_client_auth()
        };

        config.resumption = if self.resumption {
            Resumption::store(Arc::new(BoundClientStore::new(shared)))
        } else {
            Resumption::disabled()
        };
        Ok(config)
    }
}
