use std::fmt;

use crate::der::CertificateDecodeError;

/// Why an X.509 bundle could not be read.
///
/// Positions (`index`, `block`) are 1-based, in input order.
#[derive(Debug)]
#[non_exhaustive]
pub enum BundleError {
    /// The input is larger than [`MAX_BUNDLE_BYTES`](crate::MAX_BUNDLE_BYTES); it is refused
    /// before any parsing.
    TooLarge {
        /// Size of the input in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },

    /// The input holds more than [`MAX_AUTHORITIES`](crate::MAX_AUTHORITIES) certificates.
    TooManyAuthorities {
        /// The limit.
        max: usize,
    },

    /// DER input: the element at `index` is not a complete DER `SEQUENCE`, so the certificates
    /// cannot be told apart (SPIFFE Workload API: certificates are DER, back to back).
    MalformedDer {
        /// Position of the element.
        index: usize,
    },

    /// The certificate at `index` is framed correctly but is not an X.509 certificate
    /// (X509-SVID §5.1: the authorities of a bundle are the roots of path validation, so each
    /// must be a certificate).
    InvalidCertificate {
        /// Position of the certificate.
        index: usize,
        /// What the decoder reported.
        source: CertificateDecodeError,
    },

    /// PEM input: a block cannot be decoded (bad base64, missing end line).
    InvalidPem {
        /// Position of the block.
        block: usize,
        /// What the PEM reader reported.
        source: rustls_pki_types::pem::Error,
    },

    /// PEM input: a block has a label other than `CERTIFICATE`. A bundle holds only
    /// certificates; a private key in a bundle file is refused rather than skipped.
    UnexpectedPemBlock {
        /// Position of the block.
        block: usize,
    },

    /// PEM input: the input is not empty but holds no PEM block at all.
    NoPemBlocks,
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { len, max } => {
                write!(
                    f,
                    "bundle of {len} bytes is larger than the limit of {max} bytes"
                )
            }
            Self::TooManyAuthorities { max } => {
                write!(f, "bundle holds more than {max} certificates")
            }
            Self::MalformedDer { index } => {
                write!(
                    f,
                    "element {index} of the bundle is not a complete DER certificate"
                )
            }
            Self::InvalidCertificate { index, .. } => {
                write!(f, "certificate {index} of the bundle cannot be parsed")
            }
            Self::InvalidPem { block, .. } => {
                write!(f, "PEM block {block} of the bundle cannot be decoded")
            }
            Self::UnexpectedPemBlock { block } => {
                write!(f, "PEM block {block} of the bundle is not a certificate")
            }
            Self::NoPemBlocks => f.write_str("no PEM blocks in the bundle input"),
        }
    }
}

impl std::error::Error for BundleError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidCertificate { source, .. } => Some(source),
            Self::InvalidPem { source, .. } => Some(source),
            _ => None,
        }
    }
}
