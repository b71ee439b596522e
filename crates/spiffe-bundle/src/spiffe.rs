use std::fmt;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use spiffe_id::TrustDomain;
use x509_cert::der::asn1::{ObjectIdentifier, UintRef};
use x509_cert::der::{Decode, Reader, SliceReader};

use crate::der::parse_certificate;
use crate::json::{self, RawJwk, RawX5c, Value, decode_base64, optional_text};
use crate::jwt::{OutDocument, OutJwk, check_size, document_keys, jwt_authority, to_json_string};
use crate::{
    BundleError, JwtBundle, JwtBundleSource, SpiffeBundleSet, X509Bundle, X509BundleSource,
};

/// `use` of a key that is an X.509 authority (SPIFFE Trust Domain and Bundle §4.2.1).
const USE_X509_SVID: &str = "x509-svid";
/// `use` of a key that is a JWT authority (SPIFFE Trust Domain and Bundle §4.2.2).
const USE_JWT_SVID: &str = "jwt-svid";

/// A trust domain's bundle in the SPIFFE bundle format (SPIFFE Trust Domain and Bundle §4): its
/// X.509 and JWT authorities, plus the sequence number and refresh hint that federation uses.
///
/// This is the document a SPIFFE bundle endpoint serves and that trust domains exchange to
/// federate. The authorities are held as an [`X509Bundle`] and a [`JwtBundle`] of the same
/// trust domain.
#[derive(Clone, PartialEq, Eq)]
pub struct SpiffeBundle {
    x509: X509Bundle,
    jwt: JwtBundle,
    sequence: Option<u64>,
    refresh_hint: Option<Duration>,
}

impl SpiffeBundle {
    /// An empty bundle for `trust_domain`, without sequence number or refresh hint.
    pub fn new(trust_domain: TrustDomain) -> Self {
        Self {
            x509: X509Bundle::new(trust_domain.clone()),
            jwt: JwtBundle::new(trust_domain),
            sequence: None,
            refresh_hint: None,
        }
    }

    /// Reads a SPIFFE bundle document (SPIFFE Trust Domain and Bundle §4).
    ///
    /// - `keys` is required; `[]` is an empty bundle. Unknown top-level members are ignored.
    /// - A key with `use` `x509-svid` must carry exactly one certificate in `x5c` (standard
    ///   base64 of DER), which becomes an X.509 authority. Its `kty` must be `EC`, `RSA` or
    ///   `OKP`, else the key is ignored; its other members are not compared with the
    ///   certificate.
    /// - A key with `use` `jwt-svid` and `kty` `EC` or `RSA` becomes a JWT authority and must
    ///   have a `kid`; one of another `kty` (`oct` without `k`, `OKP`, unknown) is ignored.
    /// - A key with `use` `wit-svid` is ignored (this crate has no WIT-SVID support yet), as
    ///   is a key with no `use` or an unknown one.
    /// - A key with a private member (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`) rejects the
    ///   whole document, ignored keys included. A known member twice in one object rejects it
    ///   too.
    /// - `spiffe_sequence` and `spiffe_refresh_hint` (seconds), when present, are
    ///   non-negative integers.
    ///
    /// Unlike [`JwtBundle::from_jwks`], empty input and `"keys": null` are errors.
    ///
    /// # Errors
    ///
    /// [`BundleError::TooLarge`] for input over [`MAX_BUNDLE_BYTES`](crate::MAX_BUNDLE_BYTES),
    /// checked before parsing; [`BundleError::NotUtf8`] and [`BundleError::InvalidJson`] for
    /// malformed JSON;
    /// [`BundleError::MissingKeys`], [`BundleError::TooManyKeys`],
    /// [`BundleError::DuplicateMember`], [`BundleError::KeyNotObject`],
    /// [`BundleError::PrivateKeyMember`], [`BundleError::InvalidMember`],
    /// [`BundleError::X509SvidCertificateCount`], [`BundleError::InvalidKeyCertificate`],
    /// [`BundleError::MissingKeyId`], [`BundleError::DuplicateKeyId`] and
    /// [`BundleError::InvalidJwtKey`] for documents that break the rules above. Each names
    /// the key by its 1-based position in `keys`.
    pub fn parse(trust_domain: TrustDomain, json: &[u8]) -> Result<Self, BundleError> {
        check_size(json)?;
        let document = json::read_document(json, true)?;
        let keys = document_keys(&document, false)?;

        let mut bundle = Self::new(trust_domain);
        bundle.sequence = non_negative(&document.sequence, "spiffe_sequence")?;
        bundle.refresh_hint =
            non_negative(&document.refresh_hint, "spiffe_refresh_hint")?.map(Duration::from_secs);

        for (position, jwk) in keys.iter().enumerate() {
            let index = position + 1;
            match optional_text(&jwk.key_use, Some(index), "use")? {
                Some(USE_X509_SVID) => {
                    if let Some(der) = x509_authority(jwk, index)? {
                        bundle.x509.push_checked(der);
                    }
                }
                Some(USE_JWT_SVID) => {
                    if let Some(authority) = jwt_authority(jwk, index)? {
                        bundle.jwt.insert(authority, index)?;
                    }
                }
                // `wit-svid` (WIT-SVIDs, incubating: not supported here yet), unknown uses and
                // keys without `use` are not authorities of this bundle.
                _ => {}
            }
        }

        Ok(bundle)
    }

    /// The bundle as a SPIFFE bundle document: X.509 authorities first (with `kty` and the
    /// public parameters taken from each certificate), then JWT authorities in key ID order,
    /// then `spiffe_sequence` and `spiffe_refresh_hint` when set. [`SpiffeBundle::parse`]
    /// reads it back to an equal bundle, with two exceptions (see the crate's limitations):
    /// an X.509 authority whose key is not EC, RSA, Ed25519 or Ed448, and a document over
    /// [`MAX_BUNDLE_BYTES`](crate::MAX_BUNDLE_BYTES), which a bundle read from a document
    /// just under it can produce, since the key parameters written here may not have been in
    /// the input.
    pub fn to_json(&self) -> String {
        let mut keys: Vec<OutJwk<'_>> = self.x509.authorities().iter().map(x509_jwk).collect();
        keys.extend(
            self.jwt
                .authorities()
                .map(|a| OutJwk::jwt(a, Some(USE_JWT_SVID))),
        );

        to_json_string(&OutDocument {
            keys,
            spiffe_sequence: self.sequence,
            spiffe_refresh_hint: self.refresh_hint.map(|hint| hint.as_secs()),
        })
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> &TrustDomain {
        self.x509.trust_domain()
    }

    /// The X.509 authorities.
    pub fn x509_bundle(&self) -> &X509Bundle {
        &self.x509
    }

    /// The X.509 authorities, to change them.
    pub fn x509_bundle_mut(&mut self) -> &mut X509Bundle {
        &mut self.x509
    }

    /// The JWT authorities.
    pub fn jwt_bundle(&self) -> &JwtBundle {
        &self.jwt
    }

    /// The JWT authorities, to change them.
    pub fn jwt_bundle_mut(&mut self) -> &mut JwtBundle {
        &mut self.jwt
    }

    /// The X.509 and the JWT authorities.
    pub fn into_parts(self) -> (X509Bundle, JwtBundle) {
        (self.x509, self.jwt)
    }

    /// The sequence number (`spiffe_sequence`), which grows with each change of the bundle.
    pub fn sequence(&self) -> Option<u64> {
        self.sequence
    }

    /// Sets or clears the sequence number.
    pub fn set_sequence(&mut self, sequence: Option<u64>) {
        self.sequence = sequence;
    }

    /// How long a consumer should wait before fetching the bundle again
    /// (`spiffe_refresh_hint`), in whole seconds.
    pub fn refresh_hint(&self) -> Option<Duration> {
        self.refresh_hint
    }

    /// Sets or clears the refresh hint. The document holds whole seconds, so a fraction of a
    /// second is dropped.
    pub fn set_refresh_hint(&mut self, hint: Option<Duration>) {
        self.refresh_hint = hint.map(|hint| Duration::from_secs(hint.as_secs()));
    }
}

impl fmt::Debug for SpiffeBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpiffeBundle")
            .field("trust_domain", &self.trust_domain().as_str())
            .field("x509_authorities", &self.x509.authorities().len())
            .field("jwt_authorities", &self.jwt.len())
            .field("sequence", &self.sequence)
            .field("refresh_hint", &self.refresh_hint)
            .finish()
    }
}

/// `spiffe_sequence` or `spiffe_refresh_hint`: absent, or a non-negative integer.
fn non_negative(
    value: &Option<Value<'_>>,
    member: &'static str,
) -> Result<Option<u64>, BundleError> {
    match value {
        None => Ok(None),
        Some(Value::Uint(n)) => Ok(Some(*n)),
        Some(_) => Err(json::wrong_type(None, member, "a non-negative integer")),
    }
}

/// The certificate of an `x509-svid` key, checked to be one, or `None` for a key of a `kty`
/// that is ignored.
fn x509_authority(
    jwk: &RawJwk<'_>,
    index: usize,
) -> Result<Option<CertificateDer<'static>>, BundleError> {
    let kty = json::required_text(&jwk.kty, Some(index), "kty")?;
    if !matches!(kty, "EC" | "RSA" | "OKP") {
        return Ok(None);
    }

    // SPIFFE Trust Domain and Bundle §4.2.1: exactly one certificate in `x5c`.
    let first = match &jwk.x5c {
        None => None,
        Some(RawX5c::NotArray) => return Err(json::wrong_type(Some(index), "x5c", "an array")),
        Some(RawX5c::List { first, count: 1 }) => first.as_ref(),
        Some(RawX5c::List { count, .. }) => {
            return Err(BundleError::X509SvidCertificateCount {
                index,
                count: *count,
            });
        }
    };
    let Some(first) = first else {
        return Err(BundleError::X509SvidCertificateCount { index, count: 0 });
    };

    let der = decode_base64(first.text(Some(index), "x5c")?, index)?;
    parse_certificate(&der)
        .map_err(|source| BundleError::InvalidKeyCertificate { index, source })?;
    Ok(Some(CertificateDer::from(der)))
}

const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const ED448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.113");

/// The JWK of an X.509 authority: `use`, `x5c`, and `kty` with the public parameters read
/// from the certificate's subject public key, where the key type has a JWK form.
fn x509_jwk(cert: &CertificateDer<'static>) -> OutJwk<'static> {
    let mut out = OutJwk {
        key_use: Some(USE_X509_SVID),
        kty: None,
        kid: None,
        crv: None,
        x: None,
        y: None,
        n: None,
        e: None,
        x5c: Some([json::encode_base64(cert)]),
    };

    // Every authority decoded when it was added; should that change, the key is written
    // without its parameters rather than not at all.
    let Ok(cert) = parse_certificate(cert) else {
        return out;
    };
    let spki = &cert.tbs_certificate.subject_public_key_info;
    // A key BIT STRING with unused bits has no byte form: `kty` and `crv`, no parameters.
    let key = spki.subject_public_key.as_bytes().unwrap_or_default();

    // `kty` is written for every key type that has a JWK form, so that `parse` reads the
    // document back; the public parameters only where they can be read off the certificate
    // (an EC point in compressed form would need decompressing, which takes field arithmetic
    // this crate does not do). `parse` does not require them for an `x509-svid` key: the
    // certificate is the authority.
    let oid = spki.algorithm.oid;
    if oid == ID_EC_PUBLIC_KEY {
        out.kty = Some("EC");
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        out.crv = match curve {
            Some(SECP256R1) => Some("P-256"),
            Some(SECP384R1) => Some("P-384"),
            Some(SECP521R1) => Some("P-521"),
            _ => return out,
        };
        // SEC1 uncompressed point: 0x04 || x || y.
        if let Some(point) = key
            .strip_prefix(&[0x04])
            .filter(|p| !p.is_empty() && p.len() % 2 == 0)
        {
            let (x, y) = point.split_at(point.len() / 2);
            out.x = Some(json::encode_base64url(x));
            out.y = Some(json::encode_base64url(y));
        }
    } else if oid == RSA_ENCRYPTION {
        out.kty = Some("RSA");
        if let Some((n, e)) = rsa_public_key(key) {
            out.n = Some(json::encode_base64url(n));
            out.e = Some(json::encode_base64url(e));
        }
    } else if oid == ED25519 || oid == ED448 {
        out.kty = Some("OKP");
        out.crv = Some(if oid == ED25519 { "Ed25519" } else { "Ed448" });
        if !key.is_empty() {
            out.x = Some(json::encode_base64url(key));
        }
    }
    out
}

/// Modulus and exponent of a DER `RSAPublicKey` (RFC 8017 §A.1.1), without leading zeros.
fn rsa_public_key(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut reader = SliceReader::new(der).ok()?;
    let (n, e) = reader
        .sequence(|seq| Ok((UintRef::decode(seq)?, UintRef::decode(seq)?)))
        .ok()?;
    reader.is_finished().then_some((n.as_bytes(), e.as_bytes()))
}

impl X509BundleSource for SpiffeBundleSet {
    fn x509_bundle(&self, trust_domain: &str) -> Option<&X509Bundle> {
        self.get(trust_domain).map(SpiffeBundle::x509_bundle)
    }
}

impl JwtBundleSource for SpiffeBundleSet {
    fn jwt_bundle(&self, trust_domain: &str) -> Option<&JwtBundle> {
        self.get(trust_domain).map(SpiffeBundle::jwt_bundle)
    }
}

/// A single bundle answers for its own trust domain only.
impl X509BundleSource for SpiffeBundle {
    fn x509_bundle(&self, trust_domain: &str) -> Option<&X509Bundle> {
        self.x509.x509_bundle(trust_domain)
    }
}

/// A single bundle answers for its own trust domain only.
impl JwtBundleSource for SpiffeBundle {
    fn jwt_bundle(&self, trust_domain: &str) -> Option<&JwtBundle> {
        self.jwt.jwt_bundle(trust_domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_public_key_reads_modulus_and_exponent() {
        // SEQUENCE { INTEGER 0x00c5, INTEGER 0x010001 }
        let der = [
            0x30, 0x09, 0x02, 0x02, 0x00, 0xc5, 0x02, 0x03, 0x01, 0x00, 0x01,
        ];
        assert_eq!(
            rsa_public_key(&der),
            Some((&[0xc5][..], &[0x01, 0x00, 0x01][..]))
        );
        assert_eq!(rsa_public_key(&der[..10]), None);
    }

    #[test]
    fn refresh_hint_keeps_whole_seconds() {
        let mut bundle = SpiffeBundle::new(TrustDomain::new("example.org").unwrap());
        bundle.set_refresh_hint(Some(Duration::from_millis(2500)));
        assert_eq!(bundle.refresh_hint(), Some(Duration::from_secs(2)));
    }
}
