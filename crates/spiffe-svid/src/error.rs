use std::fmt;

use spiffe_bundle::der::CertificateDecodeError;

use crate::ProfileError;

/// Which PEM input an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PemInput {
    /// The certificate chain.
    Certificates,
    /// The private key.
    PrivateKey,
}

impl fmt::Display for PemInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Certificates => "certificate",
            Self::PrivateKey => "private key",
        })
    }
}

/// Why an X.509-SVID (chain plus private key) could not be read.
///
/// Positions (`index`) are 1-based in chain order: the leaf is certificate 1.
#[derive(Debug)]
#[non_exhaustive]
pub enum X509SvidError {
    /// An input is larger than its limit ([`MAX_CHAIN_BYTES`](crate::MAX_CHAIN_BYTES) or
    /// [`MAX_KEY_BYTES`](crate::MAX_KEY_BYTES)); it is refused before parsing.
    TooLarge {
        /// Which input.
        input: PemInput,
        /// Its size in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },

    /// The chain has more than [`MAX_CHAIN_LEN`](crate::MAX_CHAIN_LEN) certificates
    /// (workspace policy, bounding the work of hostile input).
    TooManyCertificates {
        /// The limit.
        max: usize,
    },

    /// The chain has no certificate; an SVID has at least its leaf (X509-SVID §3).
    EmptyChain,

    /// The element at `index` is not a complete DER `SEQUENCE`, so the certificates cannot be
    /// told apart (SPIFFE Workload API: certificates are DER, back to back).
    MalformedDer {
        /// Position of the element.
        index: usize,
    },

    /// The certificate at `index` is not a well-formed X.509 certificate (RFC 5280 §4.1,
    /// which X509-SVID §1 builds on).
    InvalidCertificate {
        /// Position of the certificate.
        index: usize,
        /// What the decoder reported.
        source: CertificateDecodeError,
    },

    /// A certificate breaks the X.509-SVID profile (X509-SVID §2 to §4).
    Profile(ProfileError),

    /// A PEM input cannot be decoded (bad base64, a missing end line).
    InvalidPem {
        /// Which input.
        input: PemInput,
        /// What the PEM reader reported.
        source: rustls_pki_types::pem::Error,
    },

    /// A non-empty PEM input holds no PEM block at all.
    NoPemBlocks {
        /// Which input.
        input: PemInput,
    },

    /// The PEM key input has no `PRIVATE KEY` (PKCS#8) block.
    NoPrivateKey,

    /// The PEM key input has more than one `PRIVATE KEY` block, so which one belongs to the
    /// leaf is ambiguous.
    MultiplePrivateKeys,

    /// The private key is in PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`) form; the
    /// Workload API delivers PKCS#8 (SPIFFE Workload API, `X509SVID.x509_svid_key`: PKCS#8 DER).
    KeyNotPkcs8,

    /// The crypto backend cannot load the private key (malformed, or an unsupported type).
    InvalidPrivateKey {
        /// What the backend reported.
        source: rustls::Error,
    },

    /// The backend cannot derive the public key of the private key, so it cannot be matched
    /// against the leaf.
    PublicKeyUnavailable,

    /// The private key does not belong to the leaf: the public keys differ (workspace policy: the
    /// PKCS#8 key must match the leaf's SubjectPublicKeyInfo; compared, never test-signed).
    KeyMismatch,
}

impl fmt::Display for X509SvidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { input, len, max } => {
                write!(
                    f,
                    "{input} input of {len} bytes is larger than the limit of {max} bytes"
                )
            }
            Self::TooManyCertificates { max } => {
                write!(f, "chain holds more than {max} certificates")
            }
            Self::EmptyChain => f.write_str("chain holds no certificate"),
            Self::MalformedDer { index } => {
                write!(
                    f,
                    "element {index} of the chain is not a complete DER certificate"
                )
            }
            Self::InvalidCertificate { index, .. } => {
                write!(f, "certificate {index} of the chain cannot be parsed")
            }
            Self::Profile(err) => fmt::Display::fmt(err, f),
            Self::InvalidPem { input, .. } => write!(f, "{input} PEM cannot be decoded"),
            Self::NoPemBlocks { input } => write!(f, "no PEM blocks in the {input} input"),
            Self::NoPrivateKey => f.write_str("no PKCS#8 PRIVATE KEY block in the key input"),
            Self::MultiplePrivateKeys => f.write_str("more than one private key in the key input"),
            Self::KeyNotPkcs8 => f.write_str("private key is not in PKCS#8 form"),
            Self::InvalidPrivateKey { .. } => f.write_str("private key cannot be loaded"),
            Self::PublicKeyUnavailable => {
                f.write_str("public key of the private key cannot be derived")
            }
            Self::KeyMismatch => {
                f.write_str("private key does not match the leaf certificate's public key")
            }
        }
    }
}

impl std::error::Error for X509SvidError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidCertificate { source, .. } => Some(source),
            // The message is the profile error's own, so its source comes next.
            Self::Profile(err) => err.source(),
            Self::InvalidPem { source, .. } => Some(source),
            Self::InvalidPrivateKey { source } => Some(source),
            _ => None,
        }
    }
}

impl From<ProfileError> for X509SvidError {
    fn from(err: ProfileError) -> Self {
        Self::Profile(err)
    }
}
