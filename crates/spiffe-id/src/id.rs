use core::borrow::Borrow;
use core::fmt;
use core::str::FromStr;
use std::sync::Arc;

use crate::error::SpiffeIdError;

/// Longest SPIFFE ID accepted, in bytes (SPIFFE-ID §2.4: URIs up to 2048 bytes must work).
pub const MAX_ID_LEN: usize = 2048;

/// Longest trust domain accepted, in bytes (SPIFFE-ID §2.4).
pub const MAX_TRUST_DOMAIN_LEN: usize = 255;

const SCHEME: &str = "spiffe://";

/// Longest SPIFFE ID stored inline, without a heap allocation.
pub const INLINE_CAPACITY: usize = 62;

/// The bytes of a validated (hence ASCII) ID: inline when short, shared when long.
#[derive(Clone)]
enum IdStr {
    Inline {
        len: u8,
        bytes: [u8; INLINE_CAPACITY],
    },
    Shared(Arc<str>),
}

impl IdStr {
    fn new(s: &str) -> Self {
        match u8::try_from(s.len()) {
            Ok(len) if s.len() <= INLINE_CAPACITY => {
                let mut bytes = [0; INLINE_CAPACITY];
                bytes[..s.len()].copy_from_slice(s.as_bytes());
                Self::Inline { len, bytes }
            }
            _ => Self::Shared(s.into()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Self::Shared(s) => s.as_bytes(),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Only validated IDs are stored, and those are ASCII, so this cannot fail; the
            // check is the price of `forbid(unsafe_code)` and costs a few nanoseconds.
            Self::Inline { .. } => core::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            Self::Shared(s) => s,
        }
    }

    fn len(&self) -> usize {
        self.as_bytes().len()
    }
}

/// Byte classes, one lookup per input byte.
const TD: u8 = 1;
const PATH: u8 = 2;

static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let lower_or_digit = c.is_ascii_lowercase() || c.is_ascii_digit();
        let punct = c == b'.' || c == b'-' || c == b'_';
        if lower_or_digit || punct {
            table[b] = TD | PATH;
        } else if c.is_ascii_uppercase() {
            table[b] = PATH;
        }
        b += 1;
    }
    table
};

/// The name of a SPIFFE trust domain, such as `example.org`.
///
/// A trust domain is always valid and always lowercase. Cloning is a reference-count increment.
/// A map keyed by `TrustDomain` can be searched with a `&str`, which is how a SPIFFE ID finds
/// its bundle without allocating: `map.get(id.trust_domain_name())`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TrustDomain {
    name: Arc<str>,
}

impl TrustDomain {
    /// Parses a bare trust domain name such as `example.org`.
    ///
    /// # Errors
    ///
    /// When the name is empty, too long, or has a character outside `a-z 0-9 . - _`.
    pub fn new(name: &str) -> Result<Self, SpiffeIdError> {
        if name.is_empty() {
            return Err(SpiffeIdError::MissingTrustDomain);
        }
        check_trust_domain(name, 0)?;
        Ok(Self { name: name.into() })
    }

    /// Parses either a bare name (`example.org`) or a trust domain ID (`spiffe://example.org`).
    ///
    /// # Errors
    ///
    /// As [`TrustDomain::new`]; also when the input is an ID with a path.
    pub fn from_name_or_id(s: &str) -> Result<Self, SpiffeIdError> {
        if !s.starts_with(SCHEME) {
            return Self::new(s);
        }

        let id = SpiffeId::parse(s)?;
        if !id.is_trust_domain_id() {
            return Err(SpiffeIdError::UnexpectedPath);
        }
        Ok(id.trust_domain())
    }

    /// The name, such as `example.org`.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The trust domain's own SPIFFE ID, `spiffe://<name>`.
    pub fn id(&self) -> SpiffeId {
        let mut s = String::with_capacity(SCHEME.len() + self.name.len());
        s.push_str(SCHEME);
        s.push_str(&self.name);
        SpiffeId {
            id: IdStr::new(&s),
            path_start: SCHEME.len() + self.name.len(),
        }
    }
}

impl fmt::Display for TrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl fmt::Debug for TrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrustDomain({:?})", &*self.name)
    }
}

impl FromStr for TrustDomain {
    type Err = SpiffeIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl Borrow<str> for TrustDomain {
    fn borrow(&self) -> &str {
        &self.name
    }
}

impl AsRef<str> for TrustDomain {
    fn as_ref(&self) -> &str {
        &self.name
    }
}

/// A SPIFFE ID, such as `spiffe://example.org/ns/prod/sa/api`.
///
/// Parsing is byte-exact (see `docs/policy.md`): equal IDs are equal strings. An ID of up to
/// [`INLINE_CAPACITY`] bytes is stored inline (parsing and cloning do not allocate); a longer
/// one is kept in one shared string (parsing allocates once, cloning does not).
#[derive(Clone)]
pub struct SpiffeId {
    id: IdStr,
    /// Byte offset where the path starts (equal to the length for a trust domain ID).
    path_start: usize,
}

impl SpiffeId {
    /// Parses a SPIFFE ID, byte for byte.
    ///
    /// # Errors
    ///
    /// When the input breaks a rule of the SPIFFE-ID standard or of the workspace policy; the
    /// error says which rule and where.
    pub fn parse(s: &str) -> Result<Self, SpiffeIdError> {
        let path_start = validate(s)?;
        Ok(Self {
            id: IdStr::new(s),
            path_start,
        })
    }

    /// Parses operator input: like [`SpiffeId::parse`], but the scheme and the trust domain are
    /// lowercased first. The path is never changed.
    ///
    /// Use it for values typed by people (flags, configuration), not for IDs read from
    /// certificates or tokens, which must match byte for byte.
    ///
    /// # Errors
    ///
    /// As [`SpiffeId::parse`], after lowercasing.
    pub fn parse_lenient(s: &str) -> Result<Self, SpiffeIdError> {
        // Cap the work before copying anything.
        if s.len() > MAX_ID_LEN {
            return Err(SpiffeIdError::TooLong { len: s.len() });
        }
        let authority_end = match s.get(..SCHEME.len()) {
            Some(scheme) if scheme.eq_ignore_ascii_case(SCHEME) => {
                let rest = &s[SCHEME.len()..];
                SCHEME.len() + rest.find('/').unwrap_or(rest.len())
            }
            _ => return Self::parse(s),
        };

        let mut owned = String::with_capacity(s.len());
        owned.push_str(&s[..authority_end].to_ascii_lowercase());
        owned.push_str(&s[authority_end..]);
        let path_start = validate(&owned)?;
        Ok(Self {
            id: IdStr::new(&owned),
            path_start,
        })
    }

    /// Builds an ID from a trust domain and path segments, each checked on its own: a segment
    /// may not be empty, `.` or `..`, nor contain `/` or any other byte outside
    /// `a-z A-Z 0-9 . - _`. No segments gives the trust domain ID.
    ///
    /// # Errors
    ///
    /// [`SpiffeIdError::Segment`] naming the first bad segment, or
    /// [`SpiffeIdError::TooLong`] when the result is too long.
    pub fn from_segments(td: &TrustDomain, segments: &[&str]) -> Result<Self, SpiffeIdError> {
        let mut len = SCHEME.len() + td.name.len();
        for (index, segment) in segments.iter().enumerate() {
            check_segment(segment, 0).map_err(|reason| SpiffeIdError::Segment {
                index,
                reason: Box::new(reason),
            })?;
            len += 1 + segment.len();
        }
        if len > MAX_ID_LEN {
            return Err(SpiffeIdError::TooLong { len });
        }

        let mut s = String::with_capacity(len);
        s.push_str(SCHEME);
        s.push_str(&td.name);
        for segment in segments {
            s.push('/');
            s.push_str(segment);
        }
        Ok(Self {
            id: IdStr::new(&s),
            path_start: SCHEME.len() + td.name.len(),
        })
    }

    /// The whole ID, `spiffe://example.org/path`.
    pub fn as_str(&self) -> &str {
        self.id.as_str()
    }

    /// The trust domain, as its own value (allocates; see
    /// [`SpiffeId::trust_domain_name`] for a borrowed name).
    pub fn trust_domain(&self) -> TrustDomain {
        TrustDomain {
            name: self.trust_domain_name().into(),
        }
    }

    /// The trust domain name, such as `example.org`, without allocating.
    pub fn trust_domain_name(&self) -> &str {
        &self.as_str()[SCHEME.len()..self.path_start]
    }

    /// The path: empty, or a `/` followed by segments, such as `/ns/prod`.
    pub fn path(&self) -> &str {
        &self.as_str()[self.path_start..]
    }

    /// The path segments, without slashes; none for a trust domain ID.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        let path = self.path();
        path.get(1..)
            .unwrap_or("")
            .split('/')
            .filter(move |_| !path.is_empty())
    }

    /// Whether this ID belongs to `td`.
    pub fn is_member_of(&self, td: &TrustDomain) -> bool {
        self.trust_domain_name() == td.as_str()
    }

    /// Whether this is a trust domain ID (`spiffe://example.org`, with no path).
    pub fn is_trust_domain_id(&self) -> bool {
        self.path_start == self.id.len()
    }
}

/// Checks `s` and returns the byte offset where its path starts.
///
/// One pass over the bytes with a table lookup each; this is the hot path of ID parsing.
fn validate(s: &str) -> Result<usize, SpiffeIdError> {
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return Err(SpiffeIdError::Empty);
    }
    if bytes.len() > MAX_ID_LEN {
        return Err(SpiffeIdError::TooLong { len: bytes.len() });
    }
    if !bytes.starts_with(SCHEME.as_bytes()) {
        return Err(SpiffeIdError::WrongScheme);
    }

    // SPIFFE-ID §2.2: the trust domain runs up to the first slash.
    let mut i = SCHEME.len();
    while i < bytes.len() {
        let b = bytes[i];
        if CLASS[usize::from(b)] & TD == 0 {
            if b == b'/' {
                break;
            }
            return Err(SpiffeIdError::TrustDomainChar {
                position: i,
                byte: b,
            });
        }
        i += 1;
    }
    let td_len = i - SCHEME.len();
    if td_len == 0 {
        return Err(SpiffeIdError::MissingTrustDomain);
    }
    if td_len > MAX_TRUST_DOMAIN_LEN {
        return Err(SpiffeIdError::TrustDomainTooLong { len: td_len });
    }
    let path_start = i;

    // SPIFFE-ID §2.3: the path is a series of `/segment`; `slash` is the current segment's
    // leading slash.
    let mut slash = i;
    i += 1;
    while i < bytes.len() {
        let b = bytes[i];
        if CLASS[usize::from(b)] & PATH == 0 {
            if b != b'/' {
                return Err(SpiffeIdError::PathChar {
                    position: i,
                    byte: b,
                });
            }
            check_segment_shape(&bytes[slash + 1..i], slash, false)?;
            slash = i;
        }
        i += 1;
    }
    if path_start < bytes.len() {
        check_segment_shape(&bytes[slash + 1..], slash, true)?;
    }
    Ok(path_start)
}

/// SPIFFE-ID §2.3: a segment is neither empty nor a dot segment. `slash` is the position of
/// its leading slash; an empty last segment is a trailing slash.
fn check_segment_shape(segment: &[u8], slash: usize, last: bool) -> Result<(), SpiffeIdError> {
    match segment {
        [] if last => Err(SpiffeIdError::TrailingSlash),
        [] => Err(SpiffeIdError::EmptySegment { position: slash }),
        [b'.'] | [b'.', b'.'] => Err(SpiffeIdError::DotSegment { position: slash }),
        _ => Ok(()),
    }
}

/// SPIFFE-ID §2.2: trust domain characters and length. `offset` places errors in the input.
fn check_trust_domain(td: &str, offset: usize) -> Result<(), SpiffeIdError> {
    if td.len() > MAX_TRUST_DOMAIN_LEN {
        return Err(SpiffeIdError::TrustDomainTooLong { len: td.len() });
    }
    match td.bytes().position(|b| CLASS[usize::from(b)] & TD == 0) {
        Some(i) => Err(SpiffeIdError::TrustDomainChar {
            position: offset + i,
            byte: td.as_bytes()[i],
        }),
        None => Ok(()),
    }
}

/// One path segment; `offset` is the position of its first byte in the input.
fn check_segment(segment: &str, offset: usize) -> Result<(), SpiffeIdError> {
    if segment.is_empty() {
        return Err(SpiffeIdError::EmptySegment { position: offset });
    }
    if segment == "." || segment == ".." {
        return Err(SpiffeIdError::DotSegment {
            position: offset.saturating_sub(1),
        });
    }
    match segment
        .bytes()
        .position(|b| CLASS[usize::from(b)] & PATH == 0)
    {
        Some(i) => Err(SpiffeIdError::PathChar {
            position: offset + i,
            byte: segment.as_bytes()[i],
        }),
        None => Ok(()),
    }
}

impl PartialEq for SpiffeId {
    fn eq(&self, other: &Self) -> bool {
        self.id.as_bytes() == other.id.as_bytes()
    }
}

impl Eq for SpiffeId {}

impl PartialOrd for SpiffeId {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SpiffeId {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.id.as_bytes().cmp(other.id.as_bytes())
    }
}

impl core::hash::Hash for SpiffeId {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.id.as_bytes().hash(state);
    }
}

impl AsRef<str> for SpiffeId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpiffeId({:?})", self.as_str())
    }
}

impl FromStr for SpiffeId {
    type Err = SpiffeIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for SpiffeId {
    type Error = SpiffeIdError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for TrustDomain {
    type Error = SpiffeIdError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

#[cfg(feature = "serde")]
mod serde_impls {
    use super::{SpiffeId, TrustDomain};

    impl serde::Serialize for SpiffeId {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(self.as_str())
        }
    }

    impl<'de> serde::Deserialize<'de> for SpiffeId {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
            Self::parse(&s).map_err(serde::de::Error::custom)
        }
    }

    impl serde::Serialize for TrustDomain {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(self.as_str())
        }
    }

    impl<'de> serde::Deserialize<'de> for TrustDomain {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
            Self::new(&s).map_err(serde::de::Error::custom)
        }
    }
}
