//! The in-memory certificate authority: a root, an optional intermediate, and X.509-SVIDs.

use std::fmt;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
    SerialNumber,
};
use time::OffsetDateTime;

use crate::DevAgentError;

/// How far NotBefore lies in the past, so that peers with a slightly slow clock accept a
/// certificate issued a moment ago.
const BACKDATE: Duration = Duration::from_secs(30);

/// An X.509-SVID as the agent issued it.
///
/// The fields are what the agent puts on the wire, so a test can compare what a client
/// received with what was issued.
#[derive(Clone)]
pub struct IssuedSvid {
    pub(crate) spiffe_id: String,
    pub(crate) hint: Option<String>,
    pub(crate) chain: Vec<Vec<u8>>,
    pub(crate) key_pkcs8: Vec<u8>,
    pub(crate) serial_hex: String,
    pub(crate) not_after: SystemTime,
}

impl IssuedSvid {
    /// The SPIFFE ID in the leaf's URI SAN.
    pub fn spiffe_id(&self) -> &str {
        &self.spiffe_id
    }

    /// The hint served with the SVID, if the identity has one.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The certificate chain, leaf first, each certificate DER-encoded.
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// The chain as the Workload API carries it: DER certificates back to back.
    pub fn chain_der(&self) -> Vec<u8> {
        self.chain.concat()
    }

    /// The leaf's private key, PKCS#8 DER.
    pub fn private_key_pkcs8(&self) -> &[u8] {
        &self.key_pkcs8
    }

    /// The leaf's serial number, lowercase hex without leading zero bytes.
    pub fn serial_hex(&self) -> &str {
        &self.serial_hex
    }

    /// The leaf's NotAfter.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }
}

impl fmt::Debug for IssuedSvid {
    // The private key stays out of debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedSvid")
            .field("spiffe_id", &self.spiffe_id)
            .field("hint", &self.hint)
            .field("serial_hex", &self.serial_hex)
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

/// One generation of the CA: a root and, optionally, an intermediate that signs the leaves.
pub(crate) struct Authority {
    root: CertifiedIssuer<'static, KeyPair>,
    intermediate: Option<CertifiedIssuer<'static, KeyPair>>,
}

impl Authority {
    pub(crate) fn new(
        trust_domain: &str,
        with_intermediate: bool,
        lifetime: Duration,
    ) -> Result<Self, DevAgentError> {
        let generation = fastrand::u32(..);
        let now = SystemTime::now();

        let root_params = ca_params(
            trust_domain,
            &format!("root {generation:08x}"),
            now,
            lifetime,
        )?;
        let root = CertifiedIssuer::self_signed(root_params, new_key()?)
            .map_err(DevAgentError::certificate)?;

        let intermediate = if with_intermediate {
            let mut params = ca_params(
                trust_domain,
                &format!("intermediate {generation:08x}"),
                now,
                lifetime,
            )?;
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            let issuer = CertifiedIssuer::signed_by(params, new_key()?, &root)
                .map_err(DevAgentError::certificate)?;
            Some(issuer)
        } else {
            None
        };

        tracing::trace!(
            trust_domain,
            generation,
            with_intermediate,
            "created certificate authority"
        );
        Ok(Self { root, intermediate })
    }

    /// The root certificate, DER.
    pub(crate) fn root_der(&self) -> Vec<u8> {
        self.root.der().to_vec()
    }

    /// Issues an X.509-SVID for `spiffe_id`, valid from a little before now for `ttl`.
    pub(crate) fn issue(
        &self,
        spiffe_id: &str,
        hint: Option<&str>,
        ttl: Duration,
    ) -> Result<IssuedSvid, DevAgentError> {
        let now = SystemTime::now();
        let too_long =
            || DevAgentError::identity(spiffe_id, "ttl is too long for a certificate's NotAfter");
        let not_after = now.checked_add(ttl).ok_or_else(too_long)?;
        let serial = random_serial();

        let mut params = CertificateParams::default();
        params.not_before = OffsetDateTime::from(now - BACKDATE);
        params.not_after = certificate_time(now, ttl).ok_or_else(too_long)?;
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "SPIFFE");
        // X509-SVID §2: exactly one URI SAN, the SPIFFE ID.
        let uri = spiffe_id.try_into().map_err(|_| {
            DevAgentError::identity(spiffe_id, "not representable as an IA5 string")
        })?;
        params.subject_alt_names = vec![SanType::URI(uri)];
        // X509-SVID §4.1 and §4.3: a leaf is not a CA and signs nothing but handshakes.
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;

        let key = new_key()?;
        let issuer = self.intermediate.as_ref().unwrap_or(&self.root);
        let leaf = params
            .signed_by(&key, issuer)
            .map_err(DevAgentError::certificate)?;

        let mut chain = vec![leaf.der().to_vec()];
        if let Some(intermediate) = &self.intermediate {
            chain.push(intermediate.der().to_vec());
        }

        Ok(IssuedSvid {
            spiffe_id: spiffe_id.to_owned(),
            hint: hint.map(str::to_owned),
            chain,
            key_pkcs8: key.serialize_der(),
            serial_hex: serial_hex(&serial),
            not_after,
        })
    }
}

fn ca_params(
    trust_domain: &str,
    name: &str,
    now: SystemTime,
    lifetime: Duration,
) -> Result<CertificateParams, DevAgentError> {
    let mut params = CertificateParams::default();
    params.not_before = OffsetDateTime::from(now - BACKDATE);
    params.not_after = certificate_time(now, lifetime).ok_or_else(|| {
        DevAgentError::InvalidConfig(
            "ca lifetime is too long for a certificate's NotAfter".to_owned(),
        )
    })?;
    params.serial_number = Some(SerialNumber::from_slice(&random_serial()));
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "spiffe-dev-agent");
    params
        .distinguished_name
        .push(DnType::CommonName, format!("{trust_domain} {name}"));
    // X509-SVID §3: a signing certificate may carry the trust domain's SPIFFE ID.
    let uri = format!("spiffe://{trust_domain}").try_into().map_err(|_| {
        DevAgentError::InvalidTrustDomain {
            input: trust_domain.to_owned(),
            reason: "not representable as an IA5 string".to_owned(),
        }
    })?;
    params.subject_alt_names = vec![SanType::URI(uri)];
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// `start + length` as a certificate time, or `None` when it lies beyond what `time` (and
/// X.509, RFC 5280 §4.1.2.5: four-digit years) can represent. `OffsetDateTime::from` and
/// `SystemTime + Duration` would panic there, and a TTL comes straight from user input.
fn certificate_time(start: SystemTime, length: Duration) -> Option<OffsetDateTime> {
    let length = time::Duration::try_from(length).ok()?;
    OffsetDateTime::from(start).checked_add(length)
}

fn new_key() -> Result<KeyPair, DevAgentError> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(DevAgentError::certificate)
}

/// 16 random bytes, high bit cleared and first byte non-zero, so that the DER INTEGER is
/// positive and keeps all 16 bytes (RFC 5280 §4.1.2.2 allows up to 20).
fn random_serial() -> [u8; 16] {
    let mut serial = [0u8; 16];
    fastrand::fill(&mut serial);
    serial[0] = (serial[0] & 0x7f).max(1);
    serial
}

fn serial_hex(serial: &[u8]) -> String {
    serial.iter().map(|b| format!("{b:02x}")).collect()
}

/// Turns a PKCS#8 DER EC key into the SEC1 `ECPrivateKey` it wraps: a valid key in the wrong
/// container, for the "key is not PKCS#8" fault.
///
/// PKCS#8 (RFC 5208 §5): SEQUENCE { INTEGER version, SEQUENCE algorithm, OCTET STRING key }.
pub(crate) fn sec1_from_pkcs8(pkcs8: &[u8]) -> Option<Vec<u8>> {
    let (tag, body, _) = der_element(pkcs8)?;
    if tag != 0x30 {
        return None;
    }
    let (version_tag, _, rest) = der_element(body)?;
    let (algorithm_tag, _, rest) = der_element(rest)?;
    let (key_tag, key, _) = der_element(rest)?;
    (version_tag == 0x02 && algorithm_tag == 0x30 && key_tag == 0x04).then(|| key.to_vec())
}

/// Splits one DER element off `input`: (tag, contents, rest). Short and long lengths up to
/// four bytes; anything else is `None`.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;

    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[count..])
    };

    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_positive_and_sixteen_bytes() {
        for _ in 0..64 {
            let serial = random_serial();
            assert!(serial[0] != 0 && serial[0] < 0x80);
        }
        assert_eq!(serial_hex(&[0x0a, 0xff]), "0aff");
    }

    #[test]
    fn sec1_key_is_unwrapped_from_pkcs8() {
        let key = new_key().unwrap();
        let pkcs8 = key.serialize_der();
        let sec1 = sec1_from_pkcs8(&pkcs8).unwrap();

        // ECPrivateKey (RFC 5915 §3) is a SEQUENCE starting with INTEGER 1.
        assert_eq!(sec1[0], 0x30);
        assert_ne!(sec1, pkcs8);
        assert!(pkcs8.windows(sec1.len()).any(|w| w == sec1.as_slice()));
        assert!(sec1_from_pkcs8(b"\x04\x01x").is_none());
    }
}
