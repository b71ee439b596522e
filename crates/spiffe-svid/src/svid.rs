use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use rustls::sign::SigningKey;
use rustls_pki_types::pem::{PemObject, SectionKind};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use spiffe_bundle::der::{SplitError, parse_certificate, split_certificates};
use spiffe_id::SpiffeId;
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use zeroize::{Zeroize, Zeroizing};

use crate::error::PemInput;
use crate::{MAX_CHAIN_BYTES, MAX_CHAIN_LEN, MAX_KEY_BYTES, X509SvidError, backend, profile};

/// An X.509-SVID: a SPIFFE ID proven by a certificate chain, with the leaf's private key.
///
/// Every `X509Svid` has passed the profile checks (one SPIFFE URI SAN with a path, leaf not a
/// CA, key usages, signing certificates are CAs) and its private key matches the leaf. It is
/// not verified against a bundle: that is the peer's job, see
/// [`verify_x509_svid_chain`](crate::verify_x509_svid_chain).
///
/// The private key bytes are zeroised when the SVID is dropped and never appear in `Debug`.
pub struct X509Svid {
    spiffe_id: SpiffeId,
    chain: Vec<CertificateDer<'static>>,
    private_key: PrivateKeyDer<'static>,
    signing_key: Arc<dyn SigningKey>,
    not_after: SystemTime,
    serial_hex: String,
    hint: Option<String>,
}

impl X509Svid {
    /// Reads an SVID from DER certificates back to back (leaf first) and a PKCS#8 DER key, the
    /// form of the Workload API's `X509SVID` message.
    ///
    /// # Errors
    ///
    /// [`X509SvidError::TooLarge`], [`X509SvidError::TooManyCertificates`] and
    /// [`X509SvidError::EmptyChain`] for input outside the limits,
    /// [`X509SvidError::MalformedDer`] and [`X509SvidError::InvalidCertificate`] for
    /// undecodable certificates, [`X509SvidError::Profile`] for a certificate that breaks the
    /// X.509-SVID profile, and [`X509SvidError::InvalidPrivateKey`] or
    /// [`X509SvidError::KeyMismatch`] for a key that is unusable or not the leaf's.
    pub fn from_der(chain_der: &[u8], key_pkcs8_der: &[u8]) -> Result<Self, X509SvidError> {
        check_size(PemInput::Certificates, chain_der, MAX_CHAIN_BYTES)?;
        check_size(PemInput::PrivateKey, key_pkcs8_der, MAX_KEY_BYTES)?;

        let slices = split_certificates(chain_der, MAX_CHAIN_LEN).map_err(|err| match err {
            SplitError::TooMany { max } => X509SvidError::TooManyCertificates { max },
            SplitError::Malformed { index } => X509SvidError::MalformedDer { index },
            // A kind of split failure added later: the chain is unusable from its start.
            _ => X509SvidError::MalformedDer { index: 1 },
        })?;
        let chain = slices
            .into_iter()
            .map(|der| CertificateDer::from(der.to_vec()))
            .collect();

        let key = PrivatePkcs8KeyDer::from(key_pkcs8_der.to_vec());
        Self::from_parts(chain, PrivateKeyDer::Pkcs8(key))
    }

    /// Reads an SVID from PEM: `CERTIFICATE` blocks (leaf first) and a `PRIVATE KEY` (PKCS#8)
    /// block.
    ///
    /// Both inputs may be the same file, in any block order: the certificate input ignores
    /// key blocks and the key input ignores certificate blocks.
    ///
    /// # Errors
    ///
    /// As [`from_der`](Self::from_der), plus [`X509SvidError::InvalidPem`] for a block that
    /// does not decode, [`X509SvidError::NoPemBlocks`] for non-empty input without PEM,
    /// [`X509SvidError::NoPrivateKey`], [`X509SvidError::MultiplePrivateKeys`] and
    /// [`X509SvidError::KeyNotPkcs8`] for the key input.
    pub fn from_pem(certs_pem: &[u8], key_pem: &[u8]) -> Result<Self, X509SvidError> {
        // The key input may be the whole file, certificates included, hence the chain limit.
        check_size(PemInput::Certificates, certs_pem, MAX_CHAIN_BYTES)?;
        check_size(PemInput::PrivateKey, key_pem, MAX_CHAIN_BYTES)?;

        let chain = chain_from_pem(certs_pem)?;
        let key = key_from_pem(key_pem)?;
        Self::from_parts(chain, key)
    }

    fn from_parts(
        chain: Vec<CertificateDer<'static>>,
        private_key: PrivateKeyDer<'static>,
    ) -> Result<Self, X509SvidError> {
        if chain.is_empty() {
            return Err(X509SvidError::EmptyChain);
        }
        if chain.len() > MAX_CHAIN_LEN {
            return Err(X509SvidError::TooManyCertificates { max: MAX_CHAIN_LEN });
        }

        let mut parsed = Vec::with_capacity(chain.len());
        for (position, der) in chain.iter().enumerate() {
            let cert =
                parse_certificate(der).map_err(|source| X509SvidError::InvalidCertificate {
                    index: position + 1,
                    source,
                })?;
            parsed.push(cert);
        }

        let leaf = &parsed[0];
        let spiffe_id = profile::check_leaf(leaf)?;
        for (position, cert) in parsed.iter().enumerate().skip(1) {
            profile::check_signing_cert(cert, position + 1)?;
        }

        let signing_key = backend::load_signing_key(&private_key)
            .map_err(|source| X509SvidError::InvalidPrivateKey { source })?;
        check_key_match(signing_key.as_ref(), leaf)?;

        let tbs = &leaf.tbs_certificate;
        Ok(Self {
            spiffe_id,
            not_after: tbs.validity.not_after.to_system_time(),
            serial_hex: serial_hex(tbs.serial_number.as_bytes()),
            chain,
            private_key,
            signing_key,
            hint: None,
        })
    }

    /// Attaches the operator-defined hint the Workload API sent with this SVID.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The SPIFFE ID of the leaf certificate.
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.spiffe_id
    }

    /// The hint, if one was attached with [`with_hint`](Self::with_hint).
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The certificate chain, leaf first, as it was read.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The leaf certificate.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        // `from_parts` refuses an empty chain, so the first element exists.
        &self.chain[0]
    }

    /// The private key (PKCS#8 DER) of the leaf.
    pub fn private_key(&self) -> &PrivateKeyDer<'static> {
        &self.private_key
    }

    /// The leaf's NotAfter time.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// The leaf's serial number in lowercase hex, two digits per byte, without the sign
    /// padding byte of DER (`0x00ff` reads `"ff"`).
    pub fn serial_hex(&self) -> &str {
        &self.serial_hex
    }

    /// The private key loaded into the crypto backend, ready for a TLS certified key. It is
    /// made once, when the SVID is read.
    pub fn signing_key(&self) -> &Arc<dyn SigningKey> {
        &self.signing_key
    }
}

impl Clone for X509Svid {
    fn clone(&self) -> Self {
        Self {
            spiffe_id: self.spiffe_id.clone(),
            chain: self.chain.clone(),
            private_key: self.private_key.clone_key(),
            signing_key: Arc::clone(&self.signing_key),
            not_after: self.not_after,
            serial_hex: self.serial_hex.clone(),
            hint: self.hint.clone(),
        }
    }
}

impl fmt::Debug for X509Svid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("X509Svid")
            .field("spiffe_id", &self.spiffe_id)
            .field("hint", &self.hint)
            .field("chain_len", &self.chain.len())
            .field("serial_hex", &self.serial_hex)
            .field("not_after", &self.not_after)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

impl Drop for X509Svid {
    fn drop(&mut self) {
        self.private_key.zeroize();
    }
}

fn check_size(input: PemInput, bytes: &[u8], max: usize) -> Result<(), X509SvidError> {
    if bytes.len() > max {
        return Err(X509SvidError::TooLarge {
            input,
            len: bytes.len(),
            max,
        });
    }
    Ok(())
}

/// The `CERTIFICATE` blocks of `pem`, in order; other blocks (such as the key, when both live
/// in one file) are skipped.
fn chain_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, X509SvidError> {
    let mut chain = Vec::new();
    let mut blocks = 0;

    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem) {
        blocks += 1;
        let (kind, der) = section.map_err(|source| X509SvidError::InvalidPem {
            input: PemInput::Certificates,
            source,
        })?;

        if kind == SectionKind::Certificate {
            if chain.len() == MAX_CHAIN_LEN {
                return Err(X509SvidError::TooManyCertificates { max: MAX_CHAIN_LEN });
            }
            chain.push(CertificateDer::from(der));
        } else {
            // Key material that is not ours to keep: wipe it before it is freed.
            drop(Zeroizing::new(der));
        }
    }

    if blocks == 0 && !pem.is_empty() {
        return Err(X509SvidError::NoPemBlocks {
            input: PemInput::Certificates,
        });
    }
    Ok(chain)
}

/// The single `PRIVATE KEY` (PKCS#8) block of `pem`; certificate blocks are skipped.
fn key_from_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>, X509SvidError> {
    let mut key = None;
    let mut other_key_forms = false;
    let mut blocks = 0;

    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem) {
        blocks += 1;
        let (kind, der) = section.map_err(|source| X509SvidError::InvalidPem {
            input: PemInput::PrivateKey,
            source,
        })?;
        let der = Zeroizing::new(der);

        match kind {
            SectionKind::PrivateKey if key.is_some() => {
                return Err(X509SvidError::MultiplePrivateKeys);
            }
            SectionKind::PrivateKey => {
                if der.len() > MAX_KEY_BYTES {
                    return Err(X509SvidError::TooLarge {
                        input: PemInput::PrivateKey,
                        len: der.len(),
                        max: MAX_KEY_BYTES,
                    });
                }
                key = Some(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der.to_vec())));
            }
            SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey => other_key_forms = true,
            _ => {}
        }
    }

    match key {
        Some(key) => Ok(key),
        None if blocks == 0 && !pem.is_empty() => Err(X509SvidError::NoPemBlocks {
            input: PemInput::PrivateKey,
        }),
        None if other_key_forms => Err(X509SvidError::KeyNotPkcs8),
        None => Err(X509SvidError::NoPrivateKey),
    }
}

/// Compares the public key of `key` with the leaf's: algorithm OID and key bits.
fn check_key_match(key: &dyn SigningKey, leaf: &Certificate) -> Result<(), X509SvidError> {
    let spki_der = key
        .public_key()
        .ok_or(X509SvidError::PublicKeyUnavailable)?;
    let ours = SubjectPublicKeyInfoOwned::from_der(&spki_der)
        .map_err(|_| X509SvidError::PublicKeyUnavailable)?;

    let leaf_spki = &leaf.tbs_certificate.subject_public_key_info;
    let same = ours.algorithm.oid == leaf_spki.algorithm.oid
        && ours.subject_public_key == leaf_spki.subject_public_key;
    if !same {
        return Err(X509SvidError::KeyMismatch);
    }
    Ok(())
}

pub(crate) fn serial_hex(bytes: &[u8]) -> String {
    let significant = match bytes {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => bytes,
    };
    significant.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::serial_hex;

    #[test]
    fn serial_hex_drops_only_the_sign_padding_byte() {
        assert_eq!(serial_hex(&[0x00, 0xff, 0x01]), "ff01");
        assert_eq!(serial_hex(&[0x7f]), "7f");
        assert_eq!(serial_hex(&[0x00]), "00");
        assert_eq!(serial_hex(&[0x01, 0x00]), "0100");
    }
}
