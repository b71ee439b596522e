use core::fmt;

/// Why a string is not a SPIFFE ID or a trust domain.
///
/// Every variant names the rule of the SPIFFE-ID standard (or of this workspace's policy, see
/// `docs/policy.md`) that the input breaks. Positions are byte offsets into the input.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpiffeIdError {
    /// The input is empty (SPIFFE-ID §2).
    Empty,

    /// The input does not start with `spiffe://` (SPIFFE-ID §2.1). The scheme is matched
    /// byte for byte, so `SPIFFE://` is refused too; [`SpiffeId::parse_lenient`] accepts it.
    ///
    /// [`SpiffeId::parse_lenient`]: crate::SpiffeId::parse_lenient
    WrongScheme,

    /// Nothing stands between `spiffe://` and the path (SPIFFE-ID §2.2).
    MissingTrustDomain,

    /// A trust domain byte outside `a-z 0-9 . - _` (SPIFFE-ID §2.2). Uppercase letters,
    /// ports, user information and percent-encoding all end up here.
    TrustDomainChar {
        /// Byte offset of the offending byte in the input.
        position: usize,
        /// The offending byte.
        byte: u8,
    },

    /// A path byte outside `a-z A-Z 0-9 . - _` (SPIFFE-ID §2.3). Queries, fragments and
    /// percent-encoding end up here.
    PathChar {
        /// Byte offset of the offending byte in the input.
        position: usize,
        /// The offending byte.
        byte: u8,
    },

    /// Two slashes in a row: a path segment is empty (SPIFFE-ID §2.3).
    EmptySegment {
        /// Byte offset of the segment's leading slash.
        position: usize,
    },

    /// A path segment is `.` or `..` (SPIFFE-ID §2.3). Dot segments are never resolved.
    DotSegment {
        /// Byte offset of the segment's leading slash.
        position: usize,
    },

    /// The path ends with a slash (SPIFFE-ID §2.3).
    TrailingSlash,

    /// The whole ID is longer than [`MAX_ID_LEN`](crate::MAX_ID_LEN) bytes (SPIFFE-ID §2.4).
    TooLong {
        /// Length of the input in bytes.
        len: usize,
    },

    /// The trust domain is longer than [`MAX_TRUST_DOMAIN_LEN`](crate::MAX_TRUST_DOMAIN_LEN)
    /// bytes (SPIFFE-ID §2.4).
    TrustDomainTooLong {
        /// Length of the trust domain in bytes.
        len: usize,
    },

    /// A trust domain was expected, but the input carries a path.
    UnexpectedPath,

    /// A segment given to [`SpiffeId::from_segments`](crate::SpiffeId::from_segments) is
    /// not a valid path segment.
    Segment {
        /// Index of the segment in the slice.
        index: usize,
        /// What is wrong with it; positions are offsets into the segment.
        reason: Box<SpiffeIdError>,
    },
}

impl fmt::Display for SpiffeIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty SPIFFE ID"),
            Self::WrongScheme => f.write_str("scheme is not `spiffe://` (lowercase)"),
            Self::MissingTrustDomain => f.write_str("missing trust domain"),
            Self::TrustDomainChar { position, byte } => {
                write!(
                    f,
                    "invalid trust domain character {} at byte {position}",
                    Byte(*byte)
                )?;
                if byte.is_ascii_uppercase() {
                    f.write_str(" (trust domains are lowercase)")?;
                }
                Ok(())
            }
            Self::PathChar { position, byte } => {
                write!(
                    f,
                    "invalid path character {} at byte {position}",
                    Byte(*byte)
                )
            }
            Self::EmptySegment { position } => {
                write!(f, "empty path segment at byte {position}")
            }
            Self::DotSegment { position } => {
                write!(f, "dot segment (`.` or `..`) at byte {position}")
            }
            Self::TrailingSlash => f.write_str("path has a trailing slash"),
            Self::TooLong { len } => {
                write!(
                    f,
                    "SPIFFE ID is {len} bytes, more than {}",
                    crate::MAX_ID_LEN
                )
            }
            Self::TrustDomainTooLong { len } => write!(
                f,
                "trust domain is {len} bytes, more than {}",
                crate::MAX_TRUST_DOMAIN_LEN
            ),
            Self::UnexpectedPath => f.write_str("a trust domain cannot have a path"),
            Self::Segment { index, reason } => write!(f, "path segment {index}: {reason}"),
        }
    }
}

impl std::error::Error for SpiffeIdError {}

/// Shows a byte as a quoted character when printable, else in hex.
struct Byte(u8);

impl fmt::Display for Byte {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_ascii_graphic() || self.0 == b' ' {
            write!(f, "'{}'", self.0 as char)
        } else {
            write!(f, "0x{:02x}", self.0)
        }
    }
}
