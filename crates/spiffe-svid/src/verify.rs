use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls_pki_types::{CertificateDer, UnixTime};
use spiffe_bundle::X509BundleSource;
use spiffe_bundle::der::{CertificateDecodeError, parse_certificate};
use spiffe_id::SpiffeId;
use webpki::{
    EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter, KeyUsage,
    RequiredEkuNotFoundContext,
};

use crate::{MAX_CHAIN_LEN, ProfileError, backend, profile};

/// Why a peer's X.509-SVID chain was not accepted.
///
/// Positions (`index`) are 1-based in the order the peer sent the chain: the leaf is 1.
#[derive(Debug)]
#[non_exhaustive]
pub enum X509VerifyError {
    /// The peer sent no certificate (X509-SVID §5: validation starts from the leaf).
    EmptyChain,

    /// The peer sent more than [`MAX_CHAIN_LEN`](crate::MAX_CHAIN_LEN) certificates
    /// (workspace policy, bounding the work of hostile input).
    TooManyCertificates {
        /// The limit.
        max: usize,
    },

    /// A certificate of the chain cannot be decoded (RFC 5280 §4.1).
    InvalidCertificate {
        /// Position of the certificate.
        index: usize,
        /// What the decoder reported.
        source: CertificateDecodeError,
    },

    /// A certificate breaks the X.509-SVID profile (X509-SVID §2 to §4, leaf checks of §5.2).
    Profile(ProfileError),

    /// There is no bundle for the trust domain of the leaf's SPIFFE ID. Only that trust
    /// domain's bundle may anchor the chain, so verification cannot proceed (X509-SVID §5.1;
    /// workspace policy: never pool the authorities of several trust domains).
    NoBundle {
        /// The trust domain name of the leaf's SPIFFE ID.
        trust_domain: String,
    },

    /// The trust domain's bundle has no authority that can serve as a root (X509-SVID §5.1).
    NoAuthorities {
        /// The trust domain name.
        trust_domain: String,
    },

    /// Path validation failed: bad signature, expired or not yet valid certificate, no path
    /// to an authority of the trust domain, or a usage the leaf is not allowed (X509-SVID
    /// §5.1, RFC 5280 §6).
    PathValidation {
        /// The trust domain whose bundle was used.
        trust_domain: String,
        /// What the path validator reported.
        source: PathValidationError,
    },
}

impl fmt::Display for X509VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyChain => f.write_str("peer sent no certificate"),
            Self::TooManyCertificates { max } => {
                write!(f, "peer chain holds more than {max} certificates")
            }
            Self::InvalidCertificate { index, .. } => {
                write!(f, "certificate {index} of the peer chain cannot be parsed")
            }
            Self::Profile(err) => fmt::Display::fmt(err, f),
            Self::NoBundle { trust_domain } => {
                write!(f, "no bundle for trust domain {trust_domain}")
            }
            Self::NoAuthorities { trust_domain } => {
                write!(
                    f,
                    "bundle for trust domain {trust_domain} has no usable authority"
                )
            }
            Self::PathValidation { trust_domain, .. } => {
                write!(
                    f,
                    "peer chain does not verify against the bundle of {trust_domain}"
                )
            }
        }
    }
}

impl std::error::Error for X509VerifyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidCertificate { source, .. } => Some(source),
            Self::Profile(err) => err.source(),
            Self::PathValidation { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<ProfileError> for X509VerifyError {
    fn from(err: ProfileError) -> Self {
        Self::Profile(err)
    }
}

/// The reason given by the path validator (rustls-webpki), kept opaque so that its error
/// type is not part of this crate's API.
#[derive(Debug)]
pub struct PathValidationError(webpki::Error);

impl PathValidationError {
    /// Whether a certificate of the path was outside its validity period at the time of
    /// verification.
    pub fn is_expired_or_not_yet_valid(&self) -> bool {
        matches!(
            self.0,
            webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. }
        )
    }
}

impl fmt::Display for PathValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for PathValidationError {}

/// A peer X.509-SVID that passed verification.
#[derive(Clone, Debug)]
pub struct VerifiedX509Svid {
    spiffe_id: SpiffeId,
    path: Vec<CertificateDer<'static>>,
}

impl VerifiedX509Svid {
    /// The peer's SPIFFE ID, from its leaf certificate.
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.spiffe_id
    }

    /// The verified path without its root: the leaf, then the intermediates that were used,
    /// in signing order. Certificates the peer sent but the path did not need are left out.
    pub fn path(&self) -> &[CertificateDer<'static>] {
        &self.path
    }

    /// Consumes the result, returning the SPIFFE ID.
    pub fn into_spiffe_id(self) -> SpiffeId {
        self.spiffe_id
    }
}

/// Verifies a peer's X.509-SVID chain (leaf first) at time `now`.
///
/// The leaf must follow the X.509-SVID profile; its SPIFFE ID names the trust domain whose
/// bundle, and only that bundle, anchors path validation. Every intermediate on the path must
/// be a CA with keyCertSign. The leaf's extended key usage, when present, must allow TLS
/// client or server authentication.
///
/// # Errors
///
/// [`X509VerifyError::NoBundle`] when `bundles` has nothing for the leaf's trust domain,
/// [`X509VerifyError::Profile`] for a certificate that breaks the profile,
/// [`X509VerifyError::PathValidation`] when no valid path leads to an authority at `now`,
/// and the other variants for malformed or oversized input.
pub fn verify_x509_svid_chain(
    chain: &[CertificateDer<'_>],
    bundles: &impl X509BundleSource,
    now: SystemTime,
) -> Result<VerifiedX509Svid, X509VerifyError> {
    let (leaf_der, intermediates) = chain.split_first().ok_or(X509VerifyError::EmptyChain)?;
    if chain.len() > MAX_CHAIN_LEN {
        return Err(X509VerifyError::TooManyCertificates { max: MAX_CHAIN_LEN });
    }

    // X509-SVID §5.2: leaf checks, which also yield the trust domain to verify against.
    let leaf = parse_certificate(leaf_der)
        .map_err(|source| X509VerifyError::InvalidCertificate { index: 1, source })?;
    let spiffe_id = profile::check_leaf(&leaf)?;

    // Workspace policy: only the bundle of the leaf's own trust domain is used.
    let trust_domain = spiffe_id.trust_domain_name();
    let bundle = bundles
        .x509_bundle(trust_domain)
        .ok_or_else(|| X509VerifyError::NoBundle {
            trust_domain: trust_domain.to_owned(),
        })?;
    let anchors: Vec<_> = bundle
        .authorities()
        .iter()
        .filter_map(|cert| webpki::anchor_from_trusted_cert(cert).ok())
        .collect();
    if anchors.is_empty() {
        return Err(X509VerifyError::NoAuthorities {
            trust_domain: trust_domain.to_owned(),
        });
    }

    // X509-SVID §5.1: standard path validation up to one of those authorities.
    let path_error = |source| X509VerifyError::PathValidation {
        trust_domain: trust_domain.to_owned(),
        source: PathValidationError(source),
    };
    let end_entity = EndEntityCert::try_from(leaf_der).map_err(path_error)?;
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let path = end_entity
        .verify_for_usage(
            backend::verification_algorithms(),
            &anchors,
            intermediates,
            UnixTime::since_unix_epoch(since_epoch),
            TlsAuthentication,
            None,
            None,
        )
        .map_err(path_error)?;

    // X509-SVID §3.2, §4.1, §4.3: every intermediate on the path is a CA with keyCertSign.
    let mut verified = vec![leaf_der.clone().into_owned()];
    for cert in path.intermediate_certificates() {
        let der = cert.der();
        let index = position_in(chain, &der);
        let parsed = parse_certificate(&der)
            .map_err(|source| X509VerifyError::InvalidCertificate { index, source })?;
        profile::check_signing_cert(&parsed, index)?;
        verified.push(der.into_owned());
    }

    Ok(VerifiedX509Svid {
        spiffe_id,
        path: verified,
    })
}

/// The 1-based position of `cert` in the peer's chain.
fn position_in(chain: &[CertificateDer<'_>], cert: &[u8]) -> usize {
    chain
        .iter()
        .position(|c| c.as_ref() == cert)
        .map_or(0, |i| i + 1)
}

/// Extended key usage policy for SVIDs: an absent EKU extension allows any use; a present one
/// must list TLS server or client authentication (X509-SVID §4.4).
struct TlsAuthentication;

impl ExtendedKeyUsageValidator for TlsAuthentication {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        const SERVER_AUTH: [usize; 9] = [1, 3, 6, 1, 5, 5, 7, 3, 1];
        const CLIENT_AUTH: [usize; 9] = [1, 3, 6, 1, 5, 5, 7, 3, 2];

        let mut present = Vec::new();
        for purpose in iter {
            let oid = purpose?.to_decoded_oid();
            if oid == SERVER_AUTH || oid == CLIENT_AUTH {
                return Ok(());
            }
            present.push(oid);
        }

        if present.is_empty() {
            return Ok(());
        }
        // webpki's context names one required purpose; clientAuth would have done as well.
        Err(webpki::Error::RequiredEkuNotFoundContext(
            RequiredEkuNotFoundContext {
                required: KeyUsage::server_auth(),
                present,
            },
        ))
    }
}
