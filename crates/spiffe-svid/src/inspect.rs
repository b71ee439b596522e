use std::time::SystemTime;

use rustls_pki_types::CertificateDer;
use spiffe_bundle::der::parse_certificate;
use spiffe_id::SpiffeId;

use crate::{X509VerifyError, profile, svid};

/// What a leaf certificate says about its holder: SPIFFE ID, serial, expiry.
///
/// Made by [`inspect_leaf`], which verifies nothing beyond the leaf's profile.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeafInfo {
    /// The SPIFFE ID in the leaf's URI SAN.
    pub spiffe_id: SpiffeId,
    /// The serial number in lowercase hex, as
    /// [`X509Svid::serial_hex`](crate::X509Svid::serial_hex).
    pub serial_hex: String,
    /// The end of the validity period.
    pub not_after: SystemTime,
}

/// Reads a leaf certificate's SPIFFE ID, serial and expiry, checking the leaf profile only.
///
/// This is no verification: it trusts nothing and proves nothing. Use it on a peer
/// certificate that [`verify_x509_svid_chain`](crate::verify_x509_svid_chain) already accepted
/// (for example, after a TLS handshake whose verifier used it), to label logs or pick a policy.
///
/// # Errors
///
/// [`X509VerifyError::InvalidCertificate`] when the bytes are not a certificate,
/// [`X509VerifyError::Profile`] when the leaf breaks the X.509-SVID profile.
pub fn inspect_leaf(leaf: &CertificateDer<'_>) -> Result<LeafInfo, X509VerifyError> {
    let cert = parse_certificate(leaf)
        .map_err(|source| X509VerifyError::InvalidCertificate { index: 1, source })?;
    let spiffe_id = profile::check_leaf(&cert)?;

    let tbs = &cert.tbs_certificate;
    Ok(LeafInfo {
        spiffe_id,
        serial_hex: svid::serial_hex(tbs.serial_number.as_bytes()),
        not_after: tbs.validity.not_after.to_system_time(),
    })
}
