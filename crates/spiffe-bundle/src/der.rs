//! Splitting and decoding of DER certificates placed back to back.
//!
//! The Workload API and bundle files carry certificates as one byte string, each certificate a
//! DER `SEQUENCE` directly followed by the next. [`split_certificates`] finds the boundaries
//! from the outer tag and length alone, so the number of certificates is bounded before any of
//! them is decoded. [`parse_certificate`] then decodes one of them. `spiffe-svid` uses both for
//! X.509-SVID chains.

use std::fmt;

use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode, Reader, SliceReader, Tag};

/// Why a byte string could not be split into DER certificates.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SplitError {
    /// More than the allowed number of certificates follow each other.
    TooMany {
        /// The limit that was passed to [`split_certificates`].
        max: usize,
    },

    /// The element at this position (1-based) is not a complete DER `SEQUENCE`: its tag is
    /// wrong, its length is malformed, or the input ends before the element does.
    Malformed {
        /// 1-based position of the element in the input.
        index: usize,
    },
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooMany { max } => write!(f, "more than {max} certificates"),
            Self::Malformed { index } => {
                write!(f, "element {index} is not a complete DER sequence")
            }
        }
    }
}

impl std::error::Error for SplitError {}

/// A certificate that is framed correctly but does not decode as an X.509 certificate.
///
/// The underlying decoder's error is available through [`std::error::Error::source`].
#[derive(Debug)]
pub struct CertificateDecodeError(x509_cert::der::Error);

impl fmt::Display for CertificateDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed X.509 certificate")
    }
}

impl std::error::Error for CertificateDecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Splits DER certificates placed back to back into one slice per certificate.
///
/// Only the outer tag and length of each element are read; the contents are not decoded. An
/// empty input gives an empty list.
///
/// # Errors
///
/// [`SplitError::TooMany`] once a certificate beyond `max` starts, and
/// [`SplitError::Malformed`] for an element that is not a complete DER `SEQUENCE`.
pub fn split_certificates(der: &[u8], max: usize) -> Result<Vec<&[u8]>, SplitError> {
    let mut slices = Vec::new();
    let mut rest = der;

    while !rest.is_empty() {
        let index = slices.len() + 1;
        if index > max {
            return Err(SplitError::TooMany { max });
        }

        let len = element_len(rest).ok_or(SplitError::Malformed { index })?;
        let (element, tail) = rest.split_at(len);
        slices.push(element);
        rest = tail;
    }

    Ok(slices)
}

/// The length of the whole DER `SEQUENCE` (header and contents) at the start of `input`, or
/// `None` when there is no complete one.
fn element_len(input: &[u8]) -> Option<usize> {
    let reader = SliceReader::new(input).ok()?;
    let header = reader.peek_header().ok()?;
    if header.tag != Tag::Sequence {
        return None;
    }

    let total = (header.encoded_len().ok()? + header.length).ok()?;
    let total = usize::try_from(u32::from(total)).ok()?;
    (total <= input.len()).then_some(total)
}

/// Decodes one DER certificate; the input must hold exactly one certificate.
///
/// # Errors
///
/// [`CertificateDecodeError`] when the bytes are not a well-formed X.509 certificate.
pub fn parse_certificate(der: &[u8]) -> Result<Certificate, CertificateDecodeError> {
    Certificate::from_der(der).map_err(CertificateDecodeError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_finds_each_sequence_by_its_length() {
        let bytes = [0x30, 0x01, 0xaa, 0x30, 0x00, 0x30, 0x02, 0xbb, 0xcc];
        let parts = split_certificates(&bytes, 10).unwrap();
        assert_eq!(parts, vec![&bytes[0..3], &bytes[3..5], &bytes[5..9]]);
    }

    #[test]
    fn split_of_empty_input_is_empty() {
        assert!(split_certificates(&[], 10).unwrap().is_empty());
    }

    #[test]
    fn split_reports_the_position_of_a_truncated_element() {
        let bytes = [0x30, 0x00, 0x30, 0x05, 0x01];
        assert_eq!(
            split_certificates(&bytes, 10),
            Err(SplitError::Malformed { index: 2 })
        );
    }

    #[test]
    fn split_rejects_an_element_that_is_not_a_sequence() {
        let bytes = [0x04, 0x01, 0x00];
        assert_eq!(
            split_certificates(&bytes, 10),
            Err(SplitError::Malformed { index: 1 })
        );
    }

    #[test]
    fn split_stops_at_the_limit_before_reading_further() {
        let bytes = [0x30, 0x00, 0x30, 0x00, 0xff];
        assert_eq!(
            split_certificates(&bytes, 1),
            Err(SplitError::TooMany { max: 1 })
        );
    }
}
