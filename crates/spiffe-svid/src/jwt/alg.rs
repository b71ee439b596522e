//! The JWS algorithms a JWT-SVID may be signed with (JWT-SVID §2.1).

use std::fmt;

/// A JWS signature algorithm allowed for JWT-SVIDs (JWT-SVID §2.1, RFC 7518 §3.3 to §3.5).
///
/// This is the whole allow-list: `none`, the HMAC algorithms (`HS*`), `EdDSA` and any other
/// name are refused before a key is looked up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwsAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// ECDSA with P-256 and SHA-256.
    Es256,
    /// ECDSA with P-384 and SHA-384.
    Es384,
    /// ECDSA with P-521 and SHA-512. Not available with the `ring` backend.
    Es512,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384 and MGF1 with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512 and MGF1 with SHA-512.
    Ps512,
}

/// Which key an algorithm needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Rsa,
    Ec(Curve),
}

/// The NIST curves of the ES algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    /// The size of one coordinate, and of each of `r` and `s` in a JWS signature, in bytes
    /// (RFC 7518 §3.4).
    pub(crate) fn field_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }
}

impl JwsAlgorithm {
    /// Every allowed algorithm, in the order of JWT-SVID §2.1.
    pub const ALL: [JwsAlgorithm; 9] = [
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
        Self::Es256,
        Self::Es384,
        Self::Es512,
        Self::Ps256,
        Self::Ps384,
        Self::Ps512,
    ];

    /// The algorithm of a JOSE `alg` value, exactly as registered (`"ES256"`); `None` for
    /// any name outside the allow-list, `"none"` included.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "RS256" => Self::Rs256,
            "RS384" => Self::Rs384,
            "RS512" => Self::Rs512,
            "ES256" => Self::Es256,
            "ES384" => Self::Es384,
            "ES512" => Self::Es512,
            "PS256" => Self::Ps256,
            "PS384" => Self::Ps384,
            "PS512" => Self::Ps512,
            _ => return None,
        })
    }

    /// The registered `alg` name, such as `"ES256"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Es512 => "ES512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
        }
    }

    /// Whether the crypto backend compiled in can verify this algorithm: all of them with
    /// aws-lc-rs; all but ES512 (P-521) with *ring*.
    pub fn is_supported_by_backend(self) -> bool {
        crate::backend::supports_jws(self)
    }

    pub(crate) fn key_kind(self) -> KeyKind {
        match self {
            Self::Rs256 | Self::Rs384 | Self::Rs512 | Self::Ps256 | Self::Ps384 | Self::Ps512 => {
                KeyKind::Rsa
            }
            Self::Es256 => KeyKind::Ec(Curve::P256),
            Self::Es384 => KeyKind::Ec(Curve::P384),
            Self::Es512 => KeyKind::Ec(Curve::P521),
        }
    }
}

impl fmt::Display for JwsAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
