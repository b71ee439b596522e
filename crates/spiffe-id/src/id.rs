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
pub const INLINE_CAPACITY: usize = 61;

// Offsets into an ID are kept as `u16`.
const _: () = assert!(MAX_ID_LEN <= u16::MAX as usize);

/// The bytes of a validated (hence ASCII) ID and where its path starts: inline when short, in
/// one shared string when long.
///
/// The inline buffer and the shared string are separate fields rather than two variants of an
/// enum over the same bytes: with the variants overlapping, LLVM copied the value byte by byte
/// at every move (some 10 ns each on the bench machine); as a plain struct of 80 bytes it is
/// moved in a few wide loads and stores.
#[derive(Clone)]
struct IdStr {
    /// The ID when `heap` is `None`, in the first `len` bytes; zeros after.
    bytes: [u8; INLINE_CAPACITY],
    len: u8,
    /// Byte offset where the path starts (equal to the length for a trust domain ID).
    path_start: u16,
    /// The ID when it is longer than [`INLINE_CAPACITY`].
    heap: Option<Arc<str>>,
}

impl IdStr {
    /// `s` must be a validated ID (at most [`MAX_ID_LEN`] bytes) and `path_start` an offset in
    /// it, so both fit in `u16`.
    fn new(s: &str, path_start: usize) -> Self {
        let path_start = path_start as u16;
        match u8::try_from(s.len()) {
            Ok(len) if s.len() <= INLINE_CAPACITY => {
                let mut bytes = [0; INLINE_CAPACITY];
                bytes[..s.len()].copy_from_slice(s.as_bytes());
                Self {
                    bytes,
                    len,
                    path_start,
                    heap: None,
                }
            }
            _ => Self {
                bytes: [0; INLINE_CAPACITY],
                len: 0,
                path_start,
                heap: Some(s.into()),
            },
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match &self.heap {
            None => &self.bytes[..usize::from(self.len)],
            Some(s) => s.as_bytes(),
        }
    }

    fn as_str(&self) -> &str {
        match &self.heap {
            // Only validated IDs are stored, and those are ASCII, so this cannot fail; the
            // check is the price of `forbid(unsafe_code)` and costs a few nanoseconds.
            None => core::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            Some(s) => s,
        }
    }

    fn len(&self) -> usize {
        self.as_bytes().len()
    }

    fn path_start(&self) -> usize {
        usize::from(self.path_start)
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
            id: IdStr::new(&s, SCHEME.len() + self.name.len()),
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
            id: IdStr::new(s, path_start),
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
            id: IdStr::new(&owned, path_start),
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
            id: IdStr::new(&s, SCHEME.len() + td.name.len()),
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
        &self.as_str()[SCHEME.len()..self.id.path_start()]
    }

    /// The path: empty, or a `/` followed by segments, such as `/ns/prod`.
    pub fn path(&self) -> &str {
        &self.as_str()[self.id.path_start()..]
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
        self.id.path_start() == self.id.len()
    }
}

/// Checks `s` and returns the byte offset where its path starts.
///
/// Valid IDs, the common case, are accepted by [`scan`], eight bytes at a time; anything it
/// refuses is checked again by [`validate_bytewise`], which finds the first broken rule and its
/// position. `scan` accepts nothing that `validate_bytewise` refuses (tested side by side).
fn validate(s: &str) -> Result<usize, SpiffeIdError> {
    match scan(s.as_bytes()) {
        Some(path_start) => Ok(path_start),
        None => validate_bytewise(s),
    }
}

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` whose value lies in `lo..=hi`, for a word of ASCII bytes.
///
/// With every byte below 0x80 neither sum carries into the next byte: `b + 0x80 - lo` reaches
/// 0x80 exactly when `b >= lo`, and `b + 0x7f - hi` exactly when `b > hi`.
const fn in_range(w: u64, lo: u8, hi: u8) -> u64 {
    let at_least_lo = w.wrapping_add(LOW_BITS * (0x80 - lo as u64));
    let above_hi = w.wrapping_add(LOW_BITS * (0x7f - hi as u64));
    at_least_lo & !above_hi & HIGH_BITS
}

/// Eight bytes of `bytes` from `at`, little-endian (byte `at` lowest).
fn word_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(*bytes.get(at..)?.first_chunk::<8>()?))
}

/// The fast check: `Some(path_start)` for a valid ID, `None` for anything else (including some
/// inputs it could accept but leaves to the bytewise check, such as an empty input).
///
/// Each word of eight bytes is classified at once (SWAR): any byte outside the path alphabet
/// (`a-z A-Z 0-9 . - _` and `/`) refuses the input; the first uppercase letter or slash ends the
/// trust domain, and must be a slash; every later slash closes a segment, checked for being
/// empty or a dot segment.
fn scan(bytes: &[u8]) -> Option<usize> {
    let len = bytes.len();
    if len > MAX_ID_LEN || !bytes.starts_with(SCHEME.as_bytes()) {
        return None;
    }
    // 0 until the slash ending the trust domain is found (it is never at offset 0).
    let mut path_start = 0;
    let mut last_slash = 0;
    let mut at = SCHEME.len();
    while at < len {
        let left = len - at;
        let (w, live) = if left >= 8 {
            (word_at(bytes, at)?, HIGH_BITS)
        } else {
            // The last few bytes: the input's final word shifted down, so that its low bytes
            // are the ones not yet checked and the high bytes are zeros, outside `live`.
            let shift = 8 * (8 - left as u32);
            (word_at(bytes, len - 8)? >> shift, HIGH_BITS >> shift)
        };
        if w & HIGH_BITS != 0 {
            return None;
        }
        let mut slashes = in_range(w, b'/', b'/') & live;
        let upper = in_range(w, b'A', b'Z') & live;
        // `-./0-9` are one range, 0x2d to 0x39.
        let allowed =
            in_range(w, b'-', b'9') | in_range(w, b'a', b'z') | upper | in_range(w, b'_', b'_');
        if live & !allowed != 0 {
            return None;
        }
        if path_start == 0 {
            let ends_td = upper | slashes;
            if ends_td != 0 {
                let first = ends_td & ends_td.wrapping_neg();
                if first & slashes == 0 {
                    return None;
                }
                path_start = at + (first.trailing_zeros() / 8) as usize;
                last_slash = path_start;
                slashes &= slashes - 1;
            }
        }
        while slashes != 0 {
            let slash = at + (slashes.trailing_zeros() / 8) as usize;
            if !is_plain_segment(bytes.get(last_slash + 1..slash)?) {
                return None;
            }
            last_slash = slash;
            slashes &= slashes - 1;
        }
        at += 8;
    }
    if path_start == 0 {
        path_start = len;
    } else if !is_plain_segment(bytes.get(last_slash + 1..)?) {
        return None;
    }
    let td_len = path_start - SCHEME.len();
    if td_len == 0 || td_len > MAX_TRUST_DOMAIN_LEN {
        return None;
    }
    Some(path_start)
}

/// A segment that is neither empty nor `.` nor `..`.
fn is_plain_segment(segment: &[u8]) -> bool {
    !matches!(segment, [] | [b'.'] | [b'.', b'.'])
}

/// The bytewise check: one pass with a table lookup per byte, stopping at the first broken rule.
fn validate_bytewise(s: &str) -> Result<usize, SpiffeIdError> {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "test code")]

    use spiffe_test_support::Rng;

    use super::{MAX_ID_LEN, scan, validate_bytewise};

    /// The fast check agrees with the bytewise one: same offset for valid input, refusal for
    /// everything else.
    fn agree(input: &[u8]) {
        let bytewise = core::str::from_utf8(input)
            .ok()
            .and_then(|s| validate_bytewise(s).ok());
        assert_eq!(
            scan(input),
            bytewise,
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }

    #[test]
    fn the_word_scan_agrees_with_the_bytewise_check_on_random_ids() {
        // Alphabets weighted towards the characters that matter: slashes and dots for segment
        // rules, the edges of each allowed range, uppercase for the trust domain, non-ASCII.
        let alphabets: [&[u8]; 3] = [b"a./", b"a.-/_Z0:%", b"a.-/_Z09AzZ\x7f`{@[^,\x80\xff\x00 "];
        let mut rng = Rng(0x5eed_0f1d);
        for round in 0..200_000 {
            let alphabet = alphabets[round % alphabets.len()];
            let len = rng.below(if round % 10 == 0 { 300 } else { 80 });
            let mut input = b"spiffe://".to_vec();
            input.extend((0..len).map(|_| *rng.pick(alphabet)));
            if round % 7 == 0 {
                // Sometimes break the scheme too.
                let at = rng.below(input.len());
                input[at] = b'X';
            }
            agree(&input);
        }
    }

    #[test]
    fn the_word_scan_agrees_on_every_byte_at_every_position() {
        let template = b"spiffe://example.org/ns/prod/sa/api-server/v2";
        for at in 0..template.len() {
            for byte in 0..=255u8 {
                let mut input = template.to_vec();
                input[at] = byte;
                agree(&input);
            }
        }
    }

    #[test]
    fn the_word_scan_agrees_at_the_length_limits() {
        let long_td = |n: usize| format!("spiffe://{}", "a".repeat(n));
        for n in [254, 255, 256] {
            agree(long_td(n).as_bytes());
            agree(format!("{}/x", long_td(n)).as_bytes());
        }
        let base = "spiffe://example.org/";
        for total in [MAX_ID_LEN - 1, MAX_ID_LEN, MAX_ID_LEN + 1] {
            agree(format!("{base}{}", "a".repeat(total - base.len())).as_bytes());
        }
        for short in [
            "",
            "s",
            "spiffe:/",
            "spiffe://",
            "spiffe://a",
            "spiffe://a/",
            "spiffe:///",
        ] {
            agree(short.as_bytes());
        }
    }
}
