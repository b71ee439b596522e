use std::fmt;

use crate::EcCurve;
use crate::der::CertificateDecodeError;

/// Why a bundle (X.509, JWT or SPIFFE bundle document) could not be read.
///
/// Positions (`index`, `block`, `key`) are 1-based, in input order. For JSON documents a key's
/// position is its place in the `keys` array, counting every entry, ignored ones too.
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

    /// The input holds more than [`MAX_AUTHORITIES`](crate::MAX_AUTHORITIES) certificates, or
    /// a JWT bundle would hold more than that many keys.
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

    /// JSON input is not UTF-8 (RFC 8259 §8.1), checked for the whole input before parsing,
    /// skipped members included.
    NotUtf8 {
        /// The offset of the first byte that is not part of valid UTF-8.
        offset: usize,
    },

    /// JSON input (JWKS or SPIFFE bundle document) is not well-formed JSON (numbers out of
    /// range included) or is not a JSON object at the top (RFC 8259; RFC 7517 §5: a JWK Set
    /// is a JSON object).
    InvalidJson {
        /// What the JSON reader reported, with line and column.
        source: JsonError,
    },

    /// A member that this crate reads appears twice in the same JSON object. JSON readers
    /// differ on which copy wins (RFC 8259 §4 leaves it open), so the document is refused
    /// rather than read one way here and another way elsewhere (SPEC-POLICY "Bundles").
    DuplicateMember {
        /// The member's name.
        member: &'static str,
        /// The key the member belongs to; `None` for a top-level member.
        key: Option<usize>,
    },

    /// The document has no `keys` member (RFC 7517 §5.1; SPIFFE Trust Domain and Bundle
    /// §4.1: `keys` is required; an empty array is an empty bundle).
    MissingKeys,

    /// The `keys` array holds more than [`MAX_AUTHORITIES`](crate::MAX_AUTHORITIES) entries,
    /// ignored ones included. The entries past the limit are not examined.
    TooManyKeys {
        /// The limit.
        max: usize,
    },

    /// An entry of `keys` is not a JSON object (RFC 7517 §4: a JWK is a JSON object).
    KeyNotObject {
        /// Position of the entry.
        index: usize,
    },

    /// A key carries a private key member (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`) or a
    /// symmetric key (`k`). A bundle is public material; a document that leaks a private key
    /// is refused whole, whatever the key's `use` or `kty` (SPEC-POLICY "Bundles").
    PrivateKeyMember {
        /// Position of the key.
        index: usize,
        /// The private member found first.
        member: &'static str,
    },

    /// A member has the wrong JSON type, is missing where it is required, or is not the
    /// base64 form its definition asks for (RFC 7517 §4, RFC 7518 §6; SPIFFE Trust Domain and
    /// Bundle §4.1 for `spiffe_sequence` and `spiffe_refresh_hint`).
    InvalidMember {
        /// The key the member belongs to; `None` for a top-level member.
        key: Option<usize>,
        /// The member's name.
        member: &'static str,
        /// What is wrong with it.
        problem: MemberProblem,
    },

    /// A key that would become a JWT authority has no `kid`, or an empty one. JWT-SVIDs name
    /// their signing key by `kid` (JWT-SVID §3, SPIFFE Trust Domain and Bundle §4.2.2), and
    /// keys of a bundle are looked up by it.
    MissingKeyId {
        /// Position of the key.
        index: usize,
    },

    /// Two JWT authorities of one bundle share a `kid`, so a token naming it would be
    /// ambiguous (SPEC-POLICY "Bundles").
    DuplicateKeyId {
        /// Position of the later key.
        index: usize,
    },

    /// A key of a supported type has parameters that do not make a usable public key (see
    /// [`JwtKeyError`]).
    InvalidJwtKey {
        /// Position of the key.
        index: usize,
        /// What is wrong with the key.
        source: JwtKeyError,
    },

    /// A key with `use` `x509-svid` does not carry exactly one certificate in `x5c` (SPIFFE
    /// Trust Domain and Bundle §4.2.1).
    X509SvidCertificateCount {
        /// Position of the key.
        index: usize,
        /// How many entries `x5c` has.
        count: usize,
    },

    /// The `x5c` certificate of a key with `use` `x509-svid` is not an X.509 certificate
    /// (SPIFFE Trust Domain and Bundle §4.2.1).
    InvalidKeyCertificate {
        /// Position of the key.
        index: usize,
        /// What the decoder reported.
        source: CertificateDecodeError,
    },
}

/// What is wrong with one member of a JSON bundle document, see
/// [`BundleError::InvalidMember`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemberProblem {
    /// The member is required here and absent.
    Missing,
    /// The member has another JSON type than the one named.
    WrongType {
        /// The expected type, such as `"a string"`.
        expected: &'static str,
    },
    /// The member should be base64url without padding (RFC 7515 §2, RFC 7518 §6) and is not,
    /// or it has stray bits in its last symbol.
    NotBase64Url,
    /// The member should be standard base64 with padding (RFC 7517 §4.7, `x5c`) and is not.
    NotBase64,
}

impl fmt::Display for MemberProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("is missing"),
            Self::WrongType { expected } => write!(f, "is not {expected}"),
            Self::NotBase64Url => f.write_str("is not base64url without padding"),
            Self::NotBase64 => f.write_str("is not standard base64"),
        }
    }
}

/// Why key material cannot become a [`JwtPublicKey`](crate::JwtPublicKey) or
/// [`JwtAuthority`](crate::JwtAuthority).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtKeyError {
    /// `crv` names a curve other than P-256, P-384 and P-521, the curves of ES256, ES384 and
    /// ES512 (RFC 7518 §3.4; SPEC-POLICY "JWT-SVIDs").
    UnsupportedCurve,

    /// An EC coordinate is not exactly the curve's field size (RFC 7518 §6.2.1.2 and
    /// §6.2.1.3: the full size, leading zeros included).
    CoordinateLength {
        /// The curve.
        curve: EcCurve,
        /// `"x"` or `"y"`.
        coordinate: &'static str,
        /// The length found, in bytes.
        len: usize,
    },

    /// The RSA modulus is outside [`MIN_RSA_MODULUS_BITS`](crate::MIN_RSA_MODULUS_BITS) to
    /// [`MAX_RSA_MODULUS_BITS`](crate::MAX_RSA_MODULUS_BITS).
    RsaModulusSize {
        /// The modulus size in bits, leading zeros not counted.
        bits: usize,
    },

    /// The RSA modulus is even, so it is not the product of two odd primes (RFC 8017 §3.1).
    RsaModulusEven,

    /// The RSA public exponent is not an odd number from 3 to 2^32 - 1 (RFC 8017 §3.1 asks
    /// for 3 to n - 1; the upper bound here is this crate's, and covers every exponent in use).
    RsaExponent,

    /// The key ID is empty.
    EmptyKeyId,
}

impl fmt::Display for JwtKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedCurve => f.write_str("curve is not one of P-256, P-384 and P-521"),
            Self::CoordinateLength {
                curve,
                coordinate,
                len,
            } => write!(
                f,
                "coordinate {coordinate} has {len} bytes where {} needs {}",
                curve.jwk_name(),
                curve.coordinate_len()
            ),
            Self::RsaModulusSize { bits } => write!(
                f,
                "RSA modulus has {bits} bits, outside the accepted {} to {}",
                crate::MIN_RSA_MODULUS_BITS,
                crate::MAX_RSA_MODULUS_BITS
            ),
            Self::RsaModulusEven => f.write_str("RSA modulus is even"),
            Self::RsaExponent => {
                f.write_str("RSA public exponent is not an odd number from 3 to 2^32 - 1")
            }
            Self::EmptyKeyId => f.write_str("key ID is empty"),
        }
    }
}

impl std::error::Error for JwtKeyError {}

/// A JSON document that the JSON reader refused; see [`BundleError::InvalidJson`].
///
/// The message says what was wrong and where (line and column, both 1-based).
pub struct JsonError(pub(crate) serde_json::Error);

impl JsonError {
    /// The line of the error, 1-based.
    pub fn line(&self) -> usize {
        self.0.line()
    }

    /// The column of the error, 1-based.
    pub fn column(&self) -> usize {
        self.0.column()
    }
}

impl fmt::Debug for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JsonError")
            .field(&self.0.to_string())
            .finish()
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for JsonError {}

/// `key 3` or `the bundle document`, for messages about a member.
struct Owner(Option<usize>);

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(index) => write!(f, "key {index}"),
            None => f.write_str("the bundle document"),
        }
    }
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
            Self::NotUtf8 { offset } => {
                write!(f, "bundle document is not UTF-8 at byte {offset}")
            }
            Self::InvalidJson { .. } => f.write_str("bundle document is not valid JSON"),
            Self::DuplicateMember { member, key } => {
                write!(f, "member `{member}` appears twice in {}", Owner(*key))
            }
            Self::MissingKeys => f.write_str("bundle document has no `keys` member"),
            Self::TooManyKeys { max } => {
                write!(f, "bundle document holds more than {max} keys")
            }
            Self::KeyNotObject { index } => {
                write!(f, "key {index} of the bundle document is not a JSON object")
            }
            Self::PrivateKeyMember { index, member } => {
                write!(f, "key {index} carries the private key member `{member}`")
            }
            Self::InvalidMember {
                key,
                member,
                problem,
            } => write!(f, "member `{member}` of {} {problem}", Owner(*key)),
            Self::MissingKeyId { index } => write!(f, "key {index} has no `kid`"),
            Self::DuplicateKeyId { index } => {
                write!(f, "key {index} has the same `kid` as an earlier key")
            }
            Self::InvalidJwtKey { index, .. } => {
                write!(f, "key {index} is not a usable JWT public key")
            }
            Self::X509SvidCertificateCount { index, count } => write!(
                f,
                "key {index} of use x509-svid has {count} `x5c` certificates instead of one"
            ),
            Self::InvalidKeyCertificate { index, .. } => {
                write!(f, "the `x5c` certificate of key {index} cannot be parsed")
            }
        }
    }
}

impl std::error::Error for BundleError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidCertificate { source, .. } => Some(source),
            Self::InvalidPem { source, .. } => Some(source),
            Self::InvalidJson { source } => Some(source),
            Self::InvalidJwtKey { source, .. } => Some(source),
            Self::InvalidKeyCertificate { source, .. } => Some(source),
            _ => None,
        }
    }
}
