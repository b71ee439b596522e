//! The X.509-SVID certificate profile: what a leaf and its signing certificates must carry.

use std::fmt;

use spiffe_id::{SpiffeId, SpiffeIdError};
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::der::oid::AssociatedOid;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, SubjectAltName};

/// A certificate that does not follow the X.509-SVID profile.
///
/// Positions (`index`) are 1-based in chain order: the leaf is certificate 1.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProfileError {
    /// The leaf has no URI SAN, so it carries no SPIFFE ID (X509-SVID §2).
    NoUriSan,

    /// The leaf has more than one URI SAN, SPIFFE or not; an SVID carries exactly one
    /// (X509-SVID §2).
    MultipleUriSans {
        /// How many URI SANs the leaf has.
        count: usize,
    },

    /// The leaf's URI SAN is not a valid SPIFFE ID (X509-SVID §2, SPIFFE-ID §2).
    InvalidSpiffeId {
        /// The URI SAN as found in the certificate.
        uri: String,
        /// Why it is not a SPIFFE ID.
        source: SpiffeIdError,
    },

    /// The leaf's SPIFFE ID has no path: it names a trust domain, not a workload
    /// (X509-SVID §3.1).
    TrustDomainId {
        /// The SPIFFE ID without a path.
        id: SpiffeId,
    },

    /// The leaf is a CA: basicConstraints has `cA` true (X509-SVID §4.1).
    LeafIsCa,

    /// The leaf's key usage lacks digitalSignature; a missing key usage extension counts as
    /// lacking it (X509-SVID §4.3).
    LeafLacksDigitalSignature,

    /// The leaf's key usage includes keyCertSign (X509-SVID §4.3).
    LeafHasKeyCertSign,

    /// The leaf's key usage includes cRLSign (X509-SVID §4.3).
    LeafHasCrlSign,

    /// A certificate after the leaf is not a CA: basicConstraints is missing or has `cA` false
    /// (X509-SVID §3.2, §4.1).
    SigningCertNotCa {
        /// Position of the certificate.
        index: usize,
    },

    /// A certificate after the leaf lacks keyCertSign in its key usage (X509-SVID §4.3).
    SigningCertLacksKeyCertSign {
        /// Position of the certificate.
        index: usize,
    },

    /// An extension the profile depends on cannot be decoded, or appears twice (RFC 5280
    /// §4.2: an extension appears at most once).
    MalformedExtension {
        /// Position of the certificate.
        index: usize,
        /// Which extension: `"subjectAltName"`, `"basicConstraints"` or `"keyUsage"`.
        extension: &'static str,
    },
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoUriSan => f.write_str("leaf certificate has no URI SAN"),
            Self::MultipleUriSans { count } => {
                write!(
                    f,
                    "leaf certificate has {count} URI SANs, an SVID has exactly one"
                )
            }
            Self::InvalidSpiffeId { uri, .. } => {
                write!(
                    f,
                    "URI SAN {uri:?} of the leaf certificate is not a valid SPIFFE ID"
                )
            }
            Self::TrustDomainId { id } => {
                write!(f, "leaf SPIFFE ID {id} has no path")
            }
            Self::LeafIsCa => f.write_str("leaf certificate is a CA"),
            Self::LeafLacksDigitalSignature => {
                f.write_str("leaf certificate key usage lacks digitalSignature")
            }
            Self::LeafHasKeyCertSign => f.write_str("leaf certificate key usage has keyCertSign"),
            Self::LeafHasCrlSign => f.write_str("leaf certificate key usage has cRLSign"),
            Self::SigningCertNotCa { index } => {
                write!(f, "certificate {index} of the chain signs but is not a CA")
            }
            Self::SigningCertLacksKeyCertSign { index } => {
                write!(
                    f,
                    "certificate {index} of the chain signs but lacks keyCertSign"
                )
            }
            Self::MalformedExtension { index, extension } => {
                write!(
                    f,
                    "{extension} extension of certificate {index} of the chain is malformed"
                )
            }
        }
    }
}

impl std::error::Error for ProfileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidSpiffeId { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Checks the leaf and returns its SPIFFE ID.
pub(crate) fn check_leaf(leaf: &Certificate) -> Result<SpiffeId, ProfileError> {
    let sans = extension::<SubjectAltName>(leaf, 1, "subjectAltName")?;
    let mut uris = sans
        .iter()
        .flat_map(|san| &san.0)
        .filter_map(|name| match name {
            GeneralName::UniformResourceIdentifier(uri) => Some(uri.as_str()),
            _ => None,
        });

    // X509-SVID §2: exactly one URI SAN, whatever its scheme; DNS and IP SANs may accompany it.
    let uri = uris.next().ok_or(ProfileError::NoUriSan)?;
    let extra = uris.count();
    if extra > 0 {
        return Err(ProfileError::MultipleUriSans { count: extra + 1 });
    }

    let id = SpiffeId::parse(uri).map_err(|source| ProfileError::InvalidSpiffeId {
        uri: uri.to_owned(),
        source,
    })?;

    // X509-SVID §3.1: a leaf's SPIFFE ID has a path.
    if id.is_trust_domain_id() {
        return Err(ProfileError::TrustDomainId { id });
    }

    // X509-SVID §4.1: a leaf is not a CA; no basicConstraints means not a CA.
    if is_ca(leaf, 1)? {
        return Err(ProfileError::LeafIsCa);
    }

    // X509-SVID §4.3: digitalSignature set, keyCertSign and cRLSign clear.
    let usage = extension::<KeyUsage>(leaf, 1, "keyUsage")?;
    if !usage.is_some_and(|ku| ku.digital_signature()) {
        return Err(ProfileError::LeafLacksDigitalSignature);
    }
    if usage.is_some_and(|ku| ku.key_cert_sign()) {
        return Err(ProfileError::LeafHasKeyCertSign);
    }
    if usage.is_some_and(|ku| ku.crl_sign()) {
        return Err(ProfileError::LeafHasCrlSign);
    }

    Ok(id)
}

/// Checks a certificate that signs another one in the chain (`index` 2 and up).
pub(crate) fn check_signing_cert(cert: &Certificate, index: usize) -> Result<(), ProfileError> {
    // X509-SVID §3.2, §4.1: signing certificates are CAs.
    if !is_ca(cert, index)? {
        return Err(ProfileError::SigningCertNotCa { index });
    }

    // X509-SVID §4.3: signing certificates have keyCertSign.
    let usage = extension::<KeyUsage>(cert, index, "keyUsage")?;
    if !usage.is_some_and(|ku| ku.key_cert_sign()) {
        return Err(ProfileError::SigningCertLacksKeyCertSign { index });
    }

    Ok(())
}

fn is_ca(cert: &Certificate, index: usize) -> Result<bool, ProfileError> {
    let constraints = extension::<BasicConstraints>(cert, index, "basicConstraints")?;
    Ok(constraints.is_some_and(|bc| bc.ca))
}

/// The decoded extension `T` of `cert`, `None` when absent.
fn extension<'a, T>(
    cert: &'a Certificate,
    index: usize,
    name: &'static str,
) -> Result<Option<T>, ProfileError>
where
    T: Decode<'a> + AssociatedOid,
{
    match cert.tbs_certificate.get::<T>() {
        Ok(found) => Ok(found.map(|(_critical, value)| value)),
        Err(_) => Err(ProfileError::MalformedExtension {
            index,
            extension: name,
        }),
    }
}
