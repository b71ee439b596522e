use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use spiffe_bundle::der::{CertificateDecodeError, parse_certificate};
use spiffe_bundle::{X509Bundle, X509BundleSet, X509BundleSource};
use spiffe_id::{SpiffeId, TrustDomain};
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
    let spiffe_id = check_leaf_der(leaf_der, intermediates)?;

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

    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let mut verified = vec![leaf_der.clone().into_owned()];
    validate_path(
        PathInput {
            leaf_der,
            intermediates,
            trust_domain,
            anchors: &anchors,
            algorithms: backend::verification_algorithms(),
            now: UnixTime::since_unix_epoch(since_epoch),
        },
        |der| verified.push(der.into_owned()),
    )?;

    Ok(VerifiedX509Svid {
        spiffe_id,
        path: verified,
    })
}

/// Verifies a peer's X.509-SVID, given as rustls hands it to a certificate verifier, against
/// trust anchors parsed beforehand, with the signature algorithms of an explicit crypto
/// provider. Returns the peer's SPIFFE ID.
///
/// This is [`verify_x509_svid_chain`] for the handshake path of a TLS stack: the same profile
/// checks, the same binding to the leaf's trust domain (only `anchors.get(leaf_td)` is
/// used), but nothing of the bundles is parsed here and the verified path is not copied out.
///
/// # Errors
///
/// As [`verify_x509_svid_chain`]: [`X509VerifyError::NoBundle`] when `anchors` has nothing
/// for the leaf's trust domain, [`X509VerifyError::NoAuthorities`] when that trust domain has
/// no usable authority, [`X509VerifyError::Profile`] and
/// [`X509VerifyError::PathValidation`] for a chain that is not a valid SVID at `now`.
pub fn verify_x509_svid_with_anchors(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    anchors: &X509TrustAnchorSet,
    algorithms: &[&dyn SignatureVerificationAlgorithm],
    now: UnixTime,
) -> Result<SpiffeId, X509VerifyError> {
    let spiffe_id = check_leaf_der(end_entity, intermediates)?;

    // Workspace policy: only the anchors of the leaf's own trust domain are used.
    let trust_domain = spiffe_id.trust_domain_name();
    let domain = anchors
        .get(trust_domain)
        .ok_or_else(|| X509VerifyError::NoBundle {
            trust_domain: trust_domain.to_owned(),
        })?;

    validate_path(
        PathInput {
            leaf_der: end_entity,
            intermediates,
            trust_domain,
            anchors: &domain.anchors,
            algorithms,
            now,
        },
        |_| {},
    )?;
    Ok(spiffe_id)
}

/// Bounds the chain and applies the leaf profile (X509-SVID §5.2); returns the leaf's ID.
fn check_leaf_der(
    leaf_der: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> Result<SpiffeId, X509VerifyError> {
    if intermediates.len() >= MAX_CHAIN_LEN {
        return Err(X509VerifyError::TooManyCertificates { max: MAX_CHAIN_LEN });
    }

    let leaf = parse_certificate(leaf_der)
        .map_err(|source| X509VerifyError::InvalidCertificate { index: 1, source })?;
    Ok(profile::check_leaf(&leaf)?)
}

/// What path validation needs, once the leaf has passed its profile checks.
struct PathInput<'a, 'c> {
    leaf_der: &'a CertificateDer<'c>,
    intermediates: &'a [CertificateDer<'c>],
    trust_domain: &'a str,
    anchors: &'a [TrustAnchor<'a>],
    algorithms: &'a [&'a dyn SignatureVerificationAlgorithm],
    now: UnixTime,
}

/// X509-SVID §5.1: path validation up to one of the trust domain's anchors, then the profile
/// of every intermediate on the path, each handed to `keep` once it passed.
fn validate_path(
    input: PathInput<'_, '_>,
    mut keep: impl FnMut(CertificateDer<'_>),
) -> Result<(), X509VerifyError> {
    let trust_domain = input.trust_domain;
    if input.anchors.is_empty() {
        return Err(X509VerifyError::NoAuthorities {
            trust_domain: trust_domain.to_owned(),
        });
    }

    let path_error = |source| X509VerifyError::PathValidation {
        trust_domain: trust_domain.to_owned(),
        source: PathValidationError(source),
    };
    let end_entity = EndEntityCert::try_from(input.leaf_der).map_err(path_error)?;
    let path = end_entity
        .verify_for_usage(
            input.algorithms,
            input.anchors,
            input.intermediates,
            input.now,
            TlsAuthentication,
            None,
            None,
        )
        .map_err(path_error)?;

    // X509-SVID §3.2, §4.1, §4.3: every intermediate on the path is a CA with keyCertSign.
    for cert in path.intermediate_certificates() {
        let der = cert.der();
        let index = position_in(input.intermediates, &der);
        let parsed = parse_certificate(&der)
            .map_err(|source| X509VerifyError::InvalidCertificate { index, source })?;
        profile::check_signing_cert(&parsed, index)?;
        keep(der);
    }
    Ok(())
}

/// The 1-based position of `cert` in the peer's chain, whose leaf is position 1.
fn position_in(intermediates: &[CertificateDer<'_>], cert: &[u8]) -> usize {
    intermediates
        .iter()
        .position(|c| c.as_ref() == cert)
        .map_or(0, |i| i + 2)
}

/// The trust anchors of one trust domain, parsed once from its X.509 bundle so that many
/// verifications can use them without parsing the bundle again.
///
/// Authorities that cannot serve as anchors (not a certificate rustls-webpki can read) are
/// left out; [`X509TrustAnchors::len`] counts the usable ones.
#[derive(Clone, Debug)]
pub struct X509TrustAnchors {
    trust_domain: TrustDomain,
    anchors: Vec<TrustAnchor<'static>>,
}

impl X509TrustAnchors {
    /// Parses the authorities of `bundle`.
    pub fn from_bundle(bundle: &X509Bundle) -> Self {
        let anchors = bundle
            .authorities()
            .iter()
            .filter_map(|cert| webpki::anchor_from_trusted_cert(cert).ok())
            .map(|anchor| anchor.to_owned())
            .collect();
        Self {
            trust_domain: bundle.trust_domain().clone(),
            anchors,
        }
    }

    /// The trust domain whose bundle the anchors come from.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// How many usable anchors the bundle had.
    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    /// Whether the bundle had no usable anchor.
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }
}

/// [`X509TrustAnchors`] by trust domain, parsed from a bundle set. Each trust domain keeps
/// its own anchors: a verification looks up the peer's trust domain and uses nothing else.
#[derive(Clone, Debug, Default)]
pub struct X509TrustAnchorSet {
    by_trust_domain: HashMap<TrustDomain, X509TrustAnchors>,
}

impl X509TrustAnchorSet {
    /// Parses the authorities of every bundle of `bundles`.
    pub fn from_bundles(bundles: &X509BundleSet) -> Self {
        let by_trust_domain = bundles
            .iter()
            .map(|bundle| {
                (
                    bundle.trust_domain().clone(),
                    X509TrustAnchors::from_bundle(bundle),
                )
            })
            .collect();
        Self { by_trust_domain }
    }

    /// The anchors of `trust_domain` (a name such as `"example.org"`).
    pub fn get(&self, trust_domain: &str) -> Option<&X509TrustAnchors> {
        self.by_trust_domain.get(trust_domain)
    }

    /// How many trust domains the set holds.
    pub fn len(&self) -> usize {
        self.by_trust_domain.len()
    }

    /// Whether the set holds no trust domain.
    pub fn is_empty(&self) -> bool {
        self.by_trust_domain.is_empty()
    }
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
