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
            id: s.into(),
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
/// Parsing is byte-exact (see `docs/policy.md`): equal IDs are equal strings. The ID is kept as
/// one shared string, so parsing allocates once and cloning does not allocate.
#[derive(Clone)]
pub struct SpiffeId {
    id: Arc<str>,
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
            id: s.into(),
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
            id: owned.into(),
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
            id: s.into(),
            path_start: SCHEME.len() + td.name.len(),
        })
    }

    /// The whole ID, `spiffe://example.org/path`.
    pub fn as_str(&self) -> &str {
        &self.id
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
        &self.id[SCHEME.len()..self.path_start]
    }

    /// The path: empty, or a `/` followed by segments, such as `/ns/prod`.
    pub fn path(&self) -> &str {
        &self.id[self.path_start..]
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
fn validate(s: &str) -> Result<usize, SpiffeIdError> {
    if s.is_empty() {
        return Err(SpiffeIdError::Empty);
    }
    if s.len() > MAX_ID_LEN {
        return Err(SpiffeIdError::TooLong { len: s.len() });
    }
    let Some(rest) = s.strip_prefix(SCHEME) else {
        return Err(SpiffeIdError::WrongScheme);
    };

    let td_len = rest.bytes().position(|b| b == b'/').unwrap_or(rest.len());
    if td_len == 0 {
        return Err(SpiffeIdError::MissingTrustDomain);
    }
    check_trust_domain(&rest[..td_len], SCHEME.len())?;

    let path_start = SCHEME.len() + td_len;
    check_path(&s[path_start..], path_start)?;
    Ok(path_start)
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

/// SPIFFE-ID §2.3: a path is empty or a series of `/segment`.
fn check_path(path: &str, offset: usize) -> Result<(), SpiffeIdError> {
    if path.is_empty() {
        return Ok(());
    }

    let mut start = 0;
    for segment in path[1..].split('/') {
        let position = offset + start;
        if segment.is_empty() {
            let is_last = start + 1 == path.len();
            return Err(if is_last {
                SpiffeIdError::TrailingSlash
            } else {
                SpiffeIdError::EmptySegment { position }
            });
        }
        check_segment(segment, position + 1)?;
        start += 1 + segment.len();
    }
    Ok(())
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
        self.id == other.id
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
        self.id.cmp(&other.id)
    }
}

impl core::hash::Hash for SpiffeId {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl Borrow<str> for SpiffeId {
    fn borrow(&self) -> &str {
        &self.id
    }
}

impl AsRef<str> for SpiffeId {
    fn as_ref(&self) -> &str {
        &self.id
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

impl fmt::Debug for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpiffeId({:?})", &*self.id)
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
