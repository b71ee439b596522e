use std::fmt;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::{PemObject, SectionKind};
use spiffe_id::TrustDomain;

use crate::der::{SplitError, parse_certificate, split_certificates};
use crate::{BundleError, MAX_AUTHORITIES, MAX_BUNDLE_BYTES};

/// The X.509 authorities (root certificates) of one trust domain.
///
/// An X.509-SVID of the trust domain is trusted when its chain leads to one of these
/// certificates. Every authority has been decoded as an X.509 certificate when it was added;
/// the bundle keeps the DER bytes as given.
#[derive(Clone, PartialEq, Eq)]
pub struct X509Bundle {
    trust_domain: TrustDomain,
    authorities: Vec<CertificateDer<'static>>,
}

impl X509Bundle {
    /// An empty bundle for `trust_domain`.
    pub fn new(trust_domain: TrustDomain) -> Self {
        Self {
            trust_domain,
            authorities: Vec::new(),
        }
    }

    /// Reads DER certificates placed back to back, as the Workload API sends them.
    ///
    /// An empty input gives an empty bundle.
    ///
    /// # Errors
    ///
    /// [`BundleError::TooLarge`] and [`BundleError::TooManyAuthorities`] for input beyond the
    /// limits, [`BundleError::MalformedDer`] when the certificates cannot be told apart and
    /// [`BundleError::InvalidCertificate`] when one does not decode.
    pub fn from_der(trust_domain: TrustDomain, der: &[u8]) -> Result<Self, BundleError> {
        check_size(der)?;

        let slices = split_certificates(der, MAX_AUTHORITIES).map_err(|err| match err {
            SplitError::TooMany { max } => BundleError::TooManyAuthorities { max },
            SplitError::Malformed { index } => BundleError::MalformedDer { index },
        })?;

        let mut bundle = Self::new(trust_domain);
        for (position, slice) in slices.into_iter().enumerate() {
            parse_certificate(slice).map_err(|source| BundleError::InvalidCertificate {
                index: position + 1,
                source,
            })?;
            bundle
                .authorities
                .push(CertificateDer::from(slice.to_vec()));
        }

        Ok(bundle)
    }

    /// Reads PEM `CERTIFICATE` blocks.
    ///
    /// Text around the blocks is ignored. An empty input gives an empty bundle; a non-empty
    /// input without any PEM block is an error, so that a file in the wrong format is noticed.
    ///
    /// # Errors
    ///
    /// [`BundleError::TooLarge`] and [`BundleError::TooManyAuthorities`] for input beyond the
    /// limits, [`BundleError::NoPemBlocks`] for non-empty input without blocks,
    /// [`BundleError::InvalidPem`] for a block that does not decode,
    /// [`BundleError::UnexpectedPemBlock`] for a block that is not a certificate and
    /// [`BundleError::InvalidCertificate`] for a certificate that does not parse.
    pub fn from_pem(trust_domain: TrustDomain, pem: &[u8]) -> Result<Self, BundleError> {
        check_size(pem)?;

        // The PEM reader skips blocks whose label it does not know (`TRUSTED CERTIFICATE`,
        // `X509 CRL` in some versions, typos); a bundle file refuses them like any other
        // block that is not a certificate, so they are looked for here first.
        if let Some(block) = first_foreign_block(pem) {
            return Err(BundleError::UnexpectedPemBlock { block });
        }

        let mut bundle = Self::new(trust_domain);
        for (position, section) in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem).enumerate() {
            let block = position + 1;
            if block > MAX_AUTHORITIES {
                return Err(BundleError::TooManyAuthorities {
                    max: MAX_AUTHORITIES,
                });
            }

            let (kind, der) =
                section.map_err(|source| BundleError::InvalidPem { block, source })?;
            if kind != SectionKind::Certificate {
                return Err(BundleError::UnexpectedPemBlock { block });
            }

            parse_certificate(&der).map_err(|source| BundleError::InvalidCertificate {
                index: block,
                source,
            })?;
            bundle.authorities.push(CertificateDer::from(der));
        }

        if bundle.authorities.is_empty() && !pem.is_empty() {
            return Err(BundleError::NoPemBlocks);
        }
        Ok(bundle)
    }

    /// Adds one authority after checking that it decodes as an X.509 certificate.
    ///
    /// # Errors
    ///
    /// [`BundleError::TooManyAuthorities`] when the bundle is full and
    /// [`BundleError::InvalidCertificate`] when `der` is not exactly one certificate.
    pub fn add_authority(&mut self, der: CertificateDer<'_>) -> Result<(), BundleError> {
        let index = self.authorities.len() + 1;
        if index > MAX_AUTHORITIES {
            return Err(BundleError::TooManyAuthorities {
                max: MAX_AUTHORITIES,
            });
        }

        parse_certificate(&der)
            .map_err(|source| BundleError::InvalidCertificate { index, source })?;
        self.authorities.push(der.into_owned());
        Ok(())
    }

    /// Adds an authority that the caller has already decoded as a certificate.
    pub(crate) fn push_checked(&mut self, der: CertificateDer<'static>) {
        self.authorities.push(der);
    }

    /// The trust domain the authorities belong to.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The authorities, in the order they were read.
    pub fn authorities(&self) -> &[CertificateDer<'static>] {
        &self.authorities
    }

    /// Whether the bundle has no authority.
    pub fn is_empty(&self) -> bool {
        self.authorities.is_empty()
    }

    /// The authorities as DER certificates back to back (the Workload API form).
    pub fn to_der(&self) -> Vec<u8> {
        self.authorities
            .iter()
            .flat_map(|cert| cert.iter().copied())
            .collect()
    }

    /// The authorities as PEM `CERTIFICATE` blocks, with `\n` line endings and lines of 64
    /// characters. Read back by [`X509Bundle::from_pem`] unless the text exceeds
    /// [`MAX_BUNDLE_BYTES`](crate::MAX_BUNDLE_BYTES): a bundle read from PEM just under the
    /// limit with longer lines can come out a little over it.
    pub fn to_pem(&self) -> String {
        let mut out = String::new();
        for cert in &self.authorities {
            out.push_str("-----BEGIN CERTIFICATE-----\n");
            let body = base64(cert);
            let mut start = 0;
            while start < body.len() {
                // The body is ASCII, so any index is a character boundary.
                let end = (start + 64).min(body.len());
                out.push_str(&body[start..end]);
                out.push('\n');
                start = end;
            }
            out.push_str("-----END CERTIFICATE-----\n");
        }
        out
    }

    /// Whether both bundles hold the same authorities, in any order.
    ///
    /// The trust domains are not compared. Duplicates count: `[a, a, b]` differs from
    /// `[a, b, b]`.
    pub fn same_authorities(&self, other: &X509Bundle) -> bool {
        if self.authorities.len() != other.authorities.len() {
            return false;
        }

        let mut mine: Vec<&[u8]> = self.authorities.iter().map(|c| c.as_ref()).collect();
        let mut theirs: Vec<&[u8]> = other.authorities.iter().map(|c| c.as_ref()).collect();
        mine.sort_unstable();
        theirs.sort_unstable();
        mine == theirs
    }
}

impl fmt::Debug for X509Bundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("X509Bundle")
            .field("trust_domain", &self.trust_domain.as_str())
            .field("authorities", &self.authorities.len())
            .finish()
    }
}

/// The 1-based position of the first PEM block whose BEGIN line has a label other than
/// `CERTIFICATE`, counting every block, known to the PEM reader or not.
fn first_foreign_block(pem: &[u8]) -> Option<usize> {
    pem.split(|&b| b == b'\n' || b == b'\r')
        .filter_map(|line| line.strip_prefix(b"-----BEGIN "))
        .position(|label| !label.starts_with(b"CERTIFICATE-----"))
        .map(|i| i + 1)
}

fn check_size(input: &[u8]) -> Result<(), BundleError> {
    if input.len() > MAX_BUNDLE_BYTES {
        return Err(BundleError::TooLarge {
            len: input.len(),
            max: MAX_BUNDLE_BYTES,
        });
    }
    Ok(())
}

/// Standard base64 with padding (RFC 4648 §4), as PEM uses it.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);

        let symbols = group.len() + 1;
        for i in 0..4 {
            if i < symbols {
                let sextet = (n >> (18 - 6 * i)) & 0x3f;
                out.push(char::from(ALPHABET[sextet as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_rfc4648_test_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in cases {
            assert_eq!(base64(input.as_bytes()), expected, "input {input:?}");
        }
    }
}
