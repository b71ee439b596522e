use std::fmt;

use spiffe_id::SpiffeIdError;

use crate::JwsAlgorithm;

/// Which of the three parts of a compact JWS an error is about (RFC 7515 §7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtPart {
    /// The JOSE header, the first part.
    Header,
    /// The claims set (the JWS payload), the second part.
    Claims,
    /// The signature, the third part.
    Signature,
}

impl fmt::Display for JwtPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Header => "header",
            Self::Claims => "claims",
            Self::Signature => "signature",
        })
    }
}

/// A claim that must be present, or whose value is checked, in a JWT-SVID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtClaim {
    /// `sub`, the SPIFFE ID (JWT-SVID §3.1).
    Subject,
    /// `aud`, the audience (JWT-SVID §3.2).
    Audience,
    /// `exp`, the expiration time (JWT-SVID §3.3).
    Expiry,
    /// `nbf`, not before (RFC 7519 §4.1.5).
    NotBefore,
    /// `iat`, issued at (RFC 7519 §4.1.6).
    IssuedAt,
    /// `jti`, the JWT ID (RFC 7519 §4.1.7).
    JwtId,
}

impl JwtClaim {
    /// The claim's registered name, such as `"exp"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Subject => "sub",
            Self::Audience => "aud",
            Self::Expiry => "exp",
            Self::NotBefore => "nbf",
            Self::IssuedAt => "iat",
            Self::JwtId => "jti",
        }
    }
}

impl fmt::Display for JwtClaim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a JWT-SVID was refused.
///
/// Values copied from the token into an error (`alg`, `typ`, `kid`) are cut to
/// [`MAX_ECHO_CHARS`](crate::jwt::MAX_ECHO_CHARS) characters; no error holds the token.
/// Validation reports the first rule broken, in this order: size and shape, header, claims
/// set, bundle and key, audience and time, signature. Everything before the signature costs
/// no public key operation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtSvidError {
    /// The token is longer than [`MAX_JWT_BYTES`](crate::MAX_JWT_BYTES); it is refused before
    /// anything else (workspace policy, bounding the work of hostile input).
    TooLarge {
        /// Length of the token in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },

    /// The token is not three parts separated by two dots: JWT-SVIDs use the JWS compact
    /// serialization (JWT-SVID §5.1, RFC 7515 §7.1); a JWE or an unsecured JWT has another
    /// shape.
    Malformed {
        /// How many dot-separated parts the token has.
        parts: usize,
    },

    /// A part is not base64url without padding (RFC 7515 §2 and §7.1). Padding, whitespace,
    /// the standard `+/` alphabet and non-zero trailing bits are all refused.
    InvalidBase64 {
        /// Which part.
        part: JwtPart,
    },

    /// The header or the claims set is not a JSON object (RFC 7515 §5.2 step 3, RFC 7519
    /// §7.2 step 10), or a registered header member (`alg`, `kid`, `typ`) is not a string
    /// (RFC 7515 §4.1).
    InvalidJson {
        /// Which part.
        part: JwtPart,
    },

    /// A member name appears twice in one JSON object of the header or the claims set. RFC
    /// 7515 §5.2 step 4 and RFC 7519 §4 let a parser reject these; keeping one of the two
    /// would let two readers see different tokens.
    DuplicateMember {
        /// Which part.
        part: JwtPart,
    },

    /// The header has no `alg` (RFC 7515 §4.1.1: required).
    MissingAlgorithm,

    /// The header's `alg` is not in the JWT-SVID allow-list (JWT-SVID §2.1): `none`, `HS256`,
    /// `EdDSA` and unknown names. Refused before any key is looked up.
    UnsupportedAlgorithm {
        /// The `alg` value, cut to the echo limit.
        alg: String,
    },

    /// The algorithm is allowed but the crypto backend compiled in cannot verify it: ES512
    /// (P-521) under the `ring` backend, which has no P-521. Build with `aws-lc-rs` to accept
    /// such tokens.
    AlgorithmNotSupportedByBackend {
        /// The algorithm.
        alg: JwsAlgorithm,
    },

    /// The header's `typ` is neither `JWT` nor `JOSE` (JWT-SVID §2.3).
    UnsupportedType {
        /// The `typ` value, cut to the echo limit.
        typ: String,
    },

    /// The header has a `crit` member. It names extensions the validator must understand
    /// (RFC 7515 §4.1.11); this validator understands none, and JWT-SVID §2 allows no header
    /// members beyond `alg`, `kid` and `typ`.
    CriticalHeader,

    /// The header has no `kid`. JWT-SVID §2.2 makes it optional, but SPIRE always sets it
    /// and this workspace requires it unless
    /// [`JwtValidation::allow_missing_kid`](crate::JwtValidation::allow_missing_kid) is set.
    MissingKeyId,

    /// A required claim is absent: `sub` (JWT-SVID §3.1), `aud` (§3.2) or `exp` (§3.3).
    MissingClaim {
        /// The claim.
        claim: JwtClaim,
    },

    /// A claim has the wrong JSON type or an impossible value: `sub` and `jti` must be
    /// strings; `aud` a string or a non-empty array of strings (JWT-SVID §3.2: one or more
    /// values); `exp`, `nbf` and `iat` JSON numbers (RFC 7519 §2, NumericDate) between 0 and
    /// the end of year 9999. A number in a string is refused.
    InvalidClaim {
        /// The claim.
        claim: JwtClaim,
    },

    /// `sub` is not a SPIFFE ID (JWT-SVID §3.1).
    InvalidSubject(SpiffeIdError),

    /// No JWT bundle for the trust domain of `sub`: nothing can verify the token.
    NoBundle {
        /// The trust domain of the subject.
        trust_domain: String,
    },

    /// The bundle of the subject's trust domain has no key at all.
    NoKeys {
        /// The trust domain of the subject.
        trust_domain: String,
    },

    /// The bundle of the subject's trust domain has no key with the token's `kid`.
    UnknownKeyId {
        /// The `kid` value, cut to the echo limit.
        kid: String,
        /// The trust domain of the subject.
        trust_domain: String,
    },

    /// The key named by `kid` cannot verify this algorithm: its type or curve does not match
    /// (an ES256 token against an RSA key, an ES384 token against a P-256 key), or the key is
    /// unusable (an RSA modulus outside 2048 to 8192 bits, a key type this crate does not
    /// know). RFC 7518 §3.3 to §3.5 tie each algorithm to one key type. Refused before any
    /// signature work.
    KeyMismatch {
        /// The token's algorithm.
        alg: JwsAlgorithm,
        /// The `kid` value, cut to the echo limit.
        kid: String,
    },

    /// The token has no `kid` (allowed by the options) and the trust domain has no key of
    /// the algorithm's type and curve.
    NoMatchingKey {
        /// The token's algorithm.
        alg: JwsAlgorithm,
        /// The trust domain of the subject.
        trust_domain: String,
    },

    /// The signature does not verify with the key (RFC 7515 §5.2 step 8): the token was
    /// altered or signed by another key. Without a `kid`, no key of the matching type
    /// verified it.
    InvalidSignature,

    /// `exp` plus the leeway is not after the current time (RFC 7519 §4.1.4, JWT-SVID §3.3).
    Expired,

    /// `nbf` is after the current time plus the leeway (RFC 7519 §4.1.5).
    NotYetValid,

    /// `iat` is after the current time plus the leeway (RFC 7519 §4.1.6; rejecting a token
    /// issued in the future is this workspace's policy).
    IssuedInFuture,

    /// None of the token's `aud` values is one of the expected audiences (JWT-SVID §3.2,
    /// RFC 7519 §4.1.3).
    AudienceMismatch,

    /// The caller passed an empty list of expected audiences. JWT-SVID §3.2 requires the
    /// validator to check `aud`; an empty list is a mistake, never "accept any audience".
    NoExpectedAudience,
}

impl fmt::Display for JwtSvidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { len, max } => {
                write!(
                    f,
                    "token of {len} bytes is larger than the limit of {max} bytes"
                )
            }
            Self::Malformed { parts } => write!(
                f,
                "token has {parts} dot-separated parts, a compact JWS has 3"
            ),
            Self::InvalidBase64 { part } => write!(f, "{part} part is not unpadded base64url"),
            Self::InvalidJson { part } => write!(f, "{part} part is not a valid JSON object"),
            Self::DuplicateMember { part } => {
                write!(f, "{part} part repeats a JSON member name")
            }
            Self::MissingAlgorithm => f.write_str("header has no `alg`"),
            Self::UnsupportedAlgorithm { alg } => {
                write!(f, "algorithm {alg:?} is not allowed for JWT-SVIDs")
            }
            Self::AlgorithmNotSupportedByBackend { alg } => {
                write!(f, "algorithm {alg} is not supported by the ring backend")
            }
            Self::UnsupportedType { typ } => {
                write!(f, "header `typ` {typ:?} is neither \"JWT\" nor \"JOSE\"")
            }
            Self::CriticalHeader => f.write_str("header has a `crit` member"),
            Self::MissingKeyId => f.write_str("header has no `kid`"),
            Self::MissingClaim { claim } => write!(f, "claim `{claim}` is missing"),
            Self::InvalidClaim { claim } => write!(f, "claim `{claim}` has an invalid value"),
            Self::InvalidSubject(_) => f.write_str("claim `sub` is not a SPIFFE ID"),
            Self::NoBundle { trust_domain } => {
                write!(f, "no JWT bundle for trust domain {trust_domain}")
            }
            Self::NoKeys { trust_domain } => {
                write!(f, "JWT bundle for trust domain {trust_domain} has no keys")
            }
            Self::UnknownKeyId { kid, trust_domain } => write!(
                f,
                "no key with id {kid:?} in the JWT bundle for trust domain {trust_domain}"
            ),
            Self::KeyMismatch { alg, kid } => {
                write!(f, "key {kid:?} cannot verify algorithm {alg}")
            }
            Self::NoMatchingKey { alg, trust_domain } => write!(
                f,
                "no key for algorithm {alg} in the JWT bundle for trust domain {trust_domain}"
            ),
            Self::InvalidSignature => f.write_str("signature does not verify"),
            Self::Expired => f.write_str("token has expired"),
            Self::NotYetValid => f.write_str("token is not valid yet (`nbf`)"),
            Self::IssuedInFuture => f.write_str("token is issued in the future (`iat`)"),
            Self::AudienceMismatch => f.write_str("token is not for any expected audience"),
            Self::NoExpectedAudience => f.write_str("no expected audience given"),
        }
    }
}

impl std::error::Error for JwtSvidError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidSubject(err) => Some(err),
            _ => None,
        }
    }
}
