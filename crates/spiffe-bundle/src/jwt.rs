use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use spiffe_id::TrustDomain;

use crate::error::JwtKeyError;
use crate::json::{
    self, RawDocument, RawJwk, RawKeys, decode_base64url, optional_text, required_text,
};
use crate::{
    BundleError, MAX_AUTHORITIES, MAX_BUNDLE_BYTES, MAX_RSA_MODULUS_BITS, MIN_RSA_MODULUS_BITS,
};

/// The elliptic curves of the JWT-SVID algorithms ES256, ES384 and ES512 (RFC 7518 §3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EcCurve {
    /// NIST P-256 (secp256r1), for ES256.
    P256,
    /// NIST P-384 (secp384r1), for ES384.
    P384,
    /// NIST P-521 (secp521r1), for ES512.
    P521,
}

impl EcCurve {
    /// The curve by its JWK `crv` name (`"P-256"`, `"P-384"`, `"P-521"`; RFC 7518 §6.2.1.1).
    pub fn from_jwk_name(name: &str) -> Option<Self> {
        match name {
            "P-256" => Some(Self::P256),
            "P-384" => Some(Self::P384),
            "P-521" => Some(Self::P521),
            _ => None,
        }
    }

    /// The JWK `crv` name.
    pub fn jwk_name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
            Self::P521 => "P-521",
        }
    }

    /// The size of one coordinate in bytes: 32, 48 or 66.
    pub fn coordinate_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }
}

/// The public key of a JWT authority, checked for shape when it was made.
///
/// Made by [`JwtPublicKey::ec`] and [`JwtPublicKey::rsa`] (or by reading a JWKS), so every
/// value has passed their checks. Whether an EC point lies on its curve is left to the
/// signature library that turns the key into a verifier.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtPublicKey {
    /// `kty` `EC`: the big-endian coordinates, each exactly the curve's size.
    #[non_exhaustive]
    Ec {
        /// The curve.
        curve: EcCurve,
        /// The x coordinate.
        x: Vec<u8>,
        /// The y coordinate.
        y: Vec<u8>,
    },
    /// `kty` `RSA`: modulus and public exponent, big-endian, without leading zeros.
    #[non_exhaustive]
    Rsa {
        /// The modulus.
        n: Vec<u8>,
        /// The public exponent.
        e: Vec<u8>,
    },
}

impl JwtPublicKey {
    /// An EC public key from its coordinates.
    ///
    /// # Errors
    ///
    /// [`JwtKeyError::CoordinateLength`] unless both coordinates are exactly
    /// [`EcCurve::coordinate_len`] bytes (RFC 7518 §6.2.1.2).
    pub fn ec(curve: EcCurve, x: Vec<u8>, y: Vec<u8>) -> Result<Self, JwtKeyError> {
        for (coordinate, value) in [("x", &x), ("y", &y)] {
            if value.len() != curve.coordinate_len() {
                return Err(JwtKeyError::CoordinateLength {
                    curve,
                    coordinate,
                    len: value.len(),
                });
            }
        }
        Ok(Self::Ec { curve, x, y })
    }

    /// An RSA public key from its modulus and public exponent, big-endian.
    ///
    /// Leading zero bytes are removed (RFC 7518 §6.3.1.1 asks producers to leave them out;
    /// some add one anyway, and the value is the same).
    ///
    /// # Errors
    ///
    /// [`JwtKeyError::RsaModulusSize`] for a modulus outside [`MIN_RSA_MODULUS_BITS`] to
    /// [`MAX_RSA_MODULUS_BITS`], [`JwtKeyError::RsaModulusEven`] for an even one, and
    /// [`JwtKeyError::RsaExponent`] unless the exponent is odd and from 3 to 2^32 - 1.
    pub fn rsa(mut n: Vec<u8>, mut e: Vec<u8>) -> Result<Self, JwtKeyError> {
        strip_leading_zeros(&mut n);
        strip_leading_zeros(&mut e);

        let bits = bit_len(&n);
        if !(MIN_RSA_MODULUS_BITS..=MAX_RSA_MODULUS_BITS).contains(&bits) {
            return Err(JwtKeyError::RsaModulusSize { bits });
        }
        if n.last().is_some_and(|low| low & 1 == 0) {
            return Err(JwtKeyError::RsaModulusEven);
        }

        let exponent =
            (e.len() <= 4).then(|| e.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b)));
        if !exponent.is_some_and(|e| e >= 3 && e & 1 == 1) {
            return Err(JwtKeyError::RsaExponent);
        }

        Ok(Self::Rsa { n, e })
    }

    /// The JWK `kty`: `"EC"` or `"RSA"`.
    pub fn kty(&self) -> &'static str {
        match self {
            Self::Ec { .. } => "EC",
            Self::Rsa { .. } => "RSA",
        }
    }

    /// The curve of an EC key.
    pub fn curve(&self) -> Option<EcCurve> {
        match self {
            Self::Ec { curve, .. } => Some(*curve),
            Self::Rsa { .. } => None,
        }
    }

    /// The uncompressed SEC1 point (`0x04 || x || y`) of an EC key, the form signature
    /// libraries take; `None` for RSA.
    pub fn ec_point(&self) -> Option<Vec<u8>> {
        match self {
            Self::Ec { x, y, .. } => {
                let mut point = Vec::with_capacity(1 + x.len() + y.len());
                point.push(0x04);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                Some(point)
            }
            Self::Rsa { .. } => None,
        }
    }

    /// The size of an RSA modulus in bits; `None` for EC.
    pub fn rsa_modulus_bits(&self) -> Option<usize> {
        match self {
            Self::Rsa { n, .. } => Some(bit_len(n)),
            Self::Ec { .. } => None,
        }
    }
}

impl fmt::Debug for JwtPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ec { curve, .. } => f.debug_struct("Ec").field("curve", curve).finish(),
            Self::Rsa { n, .. } => f.debug_struct("Rsa").field("bits", &bit_len(n)).finish(),
        }
    }
}

fn strip_leading_zeros(bytes: &mut Vec<u8>) {
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    bytes.drain(..zeros);
}

/// Bits of a big-endian number without leading zero bytes.
fn bit_len(bytes: &[u8]) -> usize {
    match bytes.first() {
        Some(&top) => bytes.len() * 8 - top.leading_zeros() as usize,
        None => 0,
    }
}

/// One JWT signing key of a trust domain: a key ID and a public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtAuthority {
    key_id: String,
    public_key: JwtPublicKey,
}

impl JwtAuthority {
    /// An authority from its key ID and public key.
    ///
    /// # Errors
    ///
    /// [`JwtKeyError::EmptyKeyId`] for an empty key ID.
    pub fn new(key_id: impl Into<String>, public_key: JwtPublicKey) -> Result<Self, JwtKeyError> {
        let key_id = key_id.into();
        if key_id.is_empty() {
            return Err(JwtKeyError::EmptyKeyId);
        }
        Ok(Self { key_id, public_key })
    }

    /// The key ID, the `kid` a JWT-SVID names in its header.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The public key.
    pub fn public_key(&self) -> &JwtPublicKey {
        &self.public_key
    }
}

/// The JWT authorities (signing keys) of one trust domain, by key ID.
///
/// A JWT-SVID of the trust domain is trusted when it is signed by one of these keys. Each key
/// ID appears at most once. Iteration is in key ID order, and two bundles are equal when they
/// have the same trust domain and the same authorities, whatever order they were read in.
#[derive(Clone, PartialEq, Eq)]
pub struct JwtBundle {
    trust_domain: TrustDomain,
    authorities: BTreeMap<String, JwtAuthority>,
}

impl JwtBundle {
    /// An empty bundle for `trust_domain`.
    pub fn new(trust_domain: TrustDomain) -> Self {
        Self {
            trust_domain,
            authorities: BTreeMap::new(),
        }
    }

    /// Reads a JWK Set (RFC 7517 §5), as the Workload API's `JWTBundlesResponse` and
    /// `ValidateJWTSVID` carry it and as `.well-known/jwks.json` files hold it.
    ///
    /// - **Empty input (zero bytes) is an empty bundle.** The Workload API sends empty bytes
    ///   for a trust domain without JWT authorities. Whitespace alone is not empty input.
    /// - `"keys": []` and `"keys": null` are empty bundles (Go's JSON encoder writes an empty
    ///   key list as `null`). A missing `keys` member is an error.
    /// - Keys count whatever their `use` (SPEC-POLICY "Bundles": the Workload API has
    ///   already picked the JWT-SVID keys). `use`, when present, must be a string.
    /// - `kty` `EC` (P-256, P-384, P-521) and `RSA` keys become authorities and must have a
    ///   non-empty `kid`. Keys of any other `kty` (`oct` without `k`, `OKP`, unknown types)
    ///   are skipped without error and produce nothing: a token naming their `kid` finds no
    ///   key. A key without `kty` is an error.
    /// - A key carrying a private member (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`)
    ///   rejects the whole document, skipped keys included.
    /// - Unknown members are ignored; a member this crate reads must not appear twice in one
    ///   object.
    ///
    /// # Errors
    ///
    /// [`BundleError::TooLarge`] for input over [`MAX_BUNDLE_BYTES`], checked before parsing;
    /// [`BundleError::NotUtf8`] and [`BundleError::InvalidJson`] for malformed JSON;
    /// [`BundleError::MissingKeys`], [`BundleError::TooManyKeys`],
    /// [`BundleError::DuplicateMember`], [`BundleError::KeyNotObject`],
    /// [`BundleError::PrivateKeyMember`], [`BundleError::InvalidMember`],
    /// [`BundleError::MissingKeyId`], [`BundleError::DuplicateKeyId`] and
    /// [`BundleError::InvalidJwtKey`] for documents that break the rules above. Each names
    /// the key by its 1-based position in `keys`.
    pub fn from_jwks(trust_domain: TrustDomain, json: &[u8]) -> Result<Self, BundleError> {
        check_size(json)?;
        let mut bundle = Self::new(trust_domain);
        if json.is_empty() {
            return Ok(bundle);
        }

        let document = json::read_document(json, false)?;
        let keys = document_keys(&document, true)?;
        for (position, jwk) in keys.iter().enumerate() {
            let index = position + 1;
            optional_text(&jwk.key_use, Some(index), "use")?;
            if let Some(authority) = jwt_authority(jwk, index)? {
                bundle.insert(authority, index)?;
            }
        }

        Ok(bundle)
    }

    /// The bundle as a JWK Set: `{"keys":[...]}` with `kty`, `kid` and the public
    /// parameters of each key, in key ID order, without `use`. [`JwtBundle::from_jwks`] reads
    /// it back to an equal bundle.
    pub fn to_jwks(&self) -> String {
        let keys = self.authorities().map(|a| OutJwk::jwt(a, None)).collect();
        to_json_string(&OutDocument {
            keys,
            spiffe_sequence: None,
            spiffe_refresh_hint: None,
        })
    }

    /// The trust domain the authorities belong to.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The authority with key ID `key_id`.
    pub fn authority(&self, key_id: &str) -> Option<&JwtAuthority> {
        self.authorities.get(key_id)
    }

    /// The authorities, in key ID order.
    pub fn authorities(&self) -> impl ExactSizeIterator<Item = &JwtAuthority> {
        self.authorities.values()
    }

    /// Adds an authority.
    ///
    /// # Errors
    ///
    /// [`BundleError::DuplicateKeyId`] when the bundle has an authority with the same key ID
    /// (the bundle is unchanged), and [`BundleError::TooManyAuthorities`] when it already
    /// holds [`MAX_AUTHORITIES`]. The `index` of the error is the position the authority
    /// would have taken.
    pub fn add_authority(&mut self, authority: JwtAuthority) -> Result<(), BundleError> {
        let index = self.authorities.len() + 1;
        self.insert(authority, index)
    }

    /// Removes and returns the authority with key ID `key_id`.
    pub fn remove_authority(&mut self, key_id: &str) -> Option<JwtAuthority> {
        self.authorities.remove(key_id)
    }

    /// The number of authorities.
    pub fn len(&self) -> usize {
        self.authorities.len()
    }

    /// Whether the bundle has no authority.
    pub fn is_empty(&self) -> bool {
        self.authorities.is_empty()
    }

    pub(crate) fn insert(
        &mut self,
        authority: JwtAuthority,
        index: usize,
    ) -> Result<(), BundleError> {
        if self.authorities.len() >= MAX_AUTHORITIES {
            return Err(BundleError::TooManyAuthorities {
                max: MAX_AUTHORITIES,
            });
        }

        match self.authorities.entry(authority.key_id.clone()) {
            std::collections::btree_map::Entry::Occupied(_) => {
                Err(BundleError::DuplicateKeyId { index })
            }
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(authority);
                Ok(())
            }
        }
    }
}

impl fmt::Debug for JwtBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtBundle")
            .field("trust_domain", &self.trust_domain.as_str())
            .field("key_ids", &self.authorities.keys().collect::<Vec<_>>())
            .finish()
    }
}

pub(crate) fn check_size(input: &[u8]) -> Result<(), BundleError> {
    if input.len() > MAX_BUNDLE_BYTES {
        return Err(BundleError::TooLarge {
            len: input.len(),
            max: MAX_BUNDLE_BYTES,
        });
    }
    Ok(())
}

/// The entries of `keys` after the document-wide checks: duplicate members, `keys` present
/// and an array (or `null` where `null_is_empty`), within the limit, every entry an object,
/// and no private member anywhere. Private members are looked for in every key before any
/// key is judged, so that a leaked private key is what gets reported.
pub(crate) fn document_keys<'d, 'a>(
    document: &'d RawDocument<'a>,
    null_is_empty: bool,
) -> Result<&'d [RawJwk<'a>], BundleError> {
    if let Some(member) = document.duplicate {
        return Err(BundleError::DuplicateMember { member, key: None });
    }

    let keys = match &document.keys {
        None => return Err(BundleError::MissingKeys),
        Some(RawKeys::Null) if null_is_empty => return Ok(&[]),
        Some(RawKeys::Null | RawKeys::NotArray) => {
            return Err(json::wrong_type(None, "keys", "an array"));
        }
        Some(RawKeys::List { keys, total }) => {
            if *total > MAX_AUTHORITIES {
                return Err(BundleError::TooManyKeys {
                    max: MAX_AUTHORITIES,
                });
            }
            keys
        }
    };

    for (position, jwk) in keys.iter().enumerate() {
        let index = position + 1;
        if jwk.not_object {
            return Err(BundleError::KeyNotObject { index });
        }
        if let Some(member) = jwk.private {
            return Err(BundleError::PrivateKeyMember { index, member });
        }
        if let Some(member) = jwk.duplicate {
            return Err(BundleError::DuplicateMember {
                member,
                key: Some(index),
            });
        }
    }

    Ok(keys)
}

/// The JWT authority a key makes, or `None` for a key of a `kty` that makes none.
pub(crate) fn jwt_authority(
    jwk: &RawJwk<'_>,
    index: usize,
) -> Result<Option<JwtAuthority>, BundleError> {
    let key = Some(index);
    let kty = required_text(&jwk.kty, key, "kty")?;
    if !matches!(kty, "EC" | "RSA") {
        // `oct`, `OKP` and types this crate does not know make no JWT authority: the
        // algorithms JWT-SVIDs may use (SPEC-POLICY "JWT-SVIDs") need EC or RSA keys.
        return Ok(None);
    }

    let key_id = match &jwk.kid {
        None => return Err(BundleError::MissingKeyId { index }),
        Some(value) => value.text(key, "kid")?,
    };
    if key_id.is_empty() {
        return Err(BundleError::MissingKeyId { index });
    }

    let invalid = |source| BundleError::InvalidJwtKey { index, source };
    let public_key = if kty == "EC" {
        let crv = required_text(&jwk.crv, key, "crv")?;
        let x = decode_base64url(required_text(&jwk.x, key, "x")?, index, "x")?;
        let y = decode_base64url(required_text(&jwk.y, key, "y")?, index, "y")?;
        let curve =
            EcCurve::from_jwk_name(crv).ok_or_else(|| invalid(JwtKeyError::UnsupportedCurve))?;
        JwtPublicKey::ec(curve, x, y).map_err(invalid)?
    } else {
        let n = decode_base64url(required_text(&jwk.n, key, "n")?, index, "n")?;
        let e = decode_base64url(required_text(&jwk.e, key, "e")?, index, "e")?;
        JwtPublicKey::rsa(n, e).map_err(invalid)?
    };

    Ok(Some(JwtAuthority {
        key_id: key_id.to_owned(),
        public_key,
    }))
}

/// A JWK as this crate writes it.
#[derive(Serialize)]
pub(crate) struct OutJwk<'a> {
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    pub(crate) key_use: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) kty: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) kid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) crv: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) y: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) n: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) e: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) x5c: Option<[String; 1]>,
}

impl<'a> OutJwk<'a> {
    pub(crate) fn jwt(authority: &'a JwtAuthority, key_use: Option<&'static str>) -> Self {
        let mut out = Self {
            key_use,
            kty: Some(authority.public_key.kty()),
            kid: Some(&authority.key_id),
            crv: None,
            x: None,
            y: None,
            n: None,
            e: None,
            x5c: None,
        };
        match &authority.public_key {
            JwtPublicKey::Ec { curve, x, y } => {
                out.crv = Some(curve.jwk_name());
                out.x = Some(json::encode_base64url(x));
                out.y = Some(json::encode_base64url(y));
            }
            JwtPublicKey::Rsa { n, e } => {
                out.n = Some(json::encode_base64url(n));
                out.e = Some(json::encode_base64url(e));
            }
        }
        out
    }
}

/// A document as this crate writes it.
#[derive(Serialize)]
pub(crate) struct OutDocument<'a> {
    pub(crate) keys: Vec<OutJwk<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) spiffe_sequence: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) spiffe_refresh_hint: Option<u64>,
}

pub(crate) fn to_json_string(document: &OutDocument<'_>) -> String {
    #[expect(
        clippy::expect_used,
        reason = "strings, integers and arrays of them always serialize to a String"
    )]
    serde_json::to_string(document).expect("bundle documents serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_len_counts_from_the_highest_set_bit() {
        assert_eq!(bit_len(&[]), 0);
        assert_eq!(bit_len(&[1]), 1);
        assert_eq!(bit_len(&[0x80, 0]), 16);
        assert_eq!(bit_len(&[0x7f, 0]), 15);
    }

    #[test]
    fn rsa_strips_leading_zeros_before_judging_size() {
        let mut n = vec![0, 0x80];
        n.resize(257, 0x01);
        let key = JwtPublicKey::rsa(n, vec![0, 1, 0, 1]).unwrap();
        assert_eq!(key.rsa_modulus_bits(), Some(2048));
        let JwtPublicKey::Rsa { n, e } = key else {
            panic!("not RSA");
        };
        assert_eq!(n.len(), 256);
        assert_eq!(e, [1, 0, 1]);
    }

    #[test]
    fn rsa_exponent_must_be_odd_and_from_3_to_2_pow_32_minus_1() {
        let mut n = vec![0xff; 256];
        n[255] = 0xff;
        for (e, ok) in [
            (vec![3], true),
            (vec![1], false),
            (vec![2], false),
            (vec![], false),
            (vec![0xff, 0xff, 0xff, 0xff], true),
            (vec![1, 0, 0, 0, 1], false),
        ] {
            let result = JwtPublicKey::rsa(n.clone(), e.clone());
            assert_eq!(result.is_ok(), ok, "exponent {e:?}: {result:?}");
            if !ok {
                assert_eq!(result.unwrap_err(), JwtKeyError::RsaExponent);
            }
        }
    }
}
