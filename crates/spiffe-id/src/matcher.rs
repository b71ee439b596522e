use std::collections::HashSet;
use std::fmt;

use crate::{SpiffeId, SpiffeIdError, TrustDomain};

/// Decides whether a SPIFFE ID is acceptable, for example a peer's ID after its certificate
/// chain has been verified.
///
/// ```
/// use spiffe_id::{IdMatcher, SpiffeId, TrustDomain};
///
/// let td = TrustDomain::new("example.org")?;
/// let matcher = IdMatcher::member_of(td);
/// assert!(matcher.matches(&SpiffeId::parse("spiffe://example.org/api")?));
/// assert!(!matcher.matches(&SpiffeId::parse("spiffe://other.org/api")?));
/// # Ok::<(), spiffe_id::SpiffeIdError>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum IdMatcher {
    /// Every ID matches.
    Any,
    /// Exactly this ID.
    Exact(SpiffeId),
    /// Any ID of this set.
    OneOf(HashSet<SpiffeId>),
    /// Any ID in this trust domain, including the trust domain's own ID.
    MemberOf(TrustDomain),
    /// IDs of the same trust domain whose path starts with this ID's segments.
    PathPrefix(SpiffeId),
    /// IDs that fit a pattern whose segments may be `*`.
    Pattern(IdPattern),
}

impl IdMatcher {
    /// Matches every ID.
    pub fn any() -> Self {
        Self::Any
    }

    /// Matches exactly `id`.
    pub fn exact(id: SpiffeId) -> Self {
        Self::Exact(id)
    }

    /// Matches any ID of `ids`. An empty set matches nothing.
    pub fn one_of(ids: impl IntoIterator<Item = SpiffeId>) -> Self {
        Self::OneOf(ids.into_iter().collect())
    }

    /// Matches any ID in trust domain `td`.
    pub fn member_of(td: TrustDomain) -> Self {
        Self::MemberOf(td)
    }

    /// Matches the IDs of `prefix`'s trust domain whose path begins with all of `prefix`'s
    /// segments, whole segments only: `spiffe://td/ns/prod` matches `spiffe://td/ns/prod` and
    /// `spiffe://td/ns/prod/api`, not `spiffe://td/ns/production`. A prefix without a path
    /// matches the whole trust domain.
    ///
    /// ```
    /// use spiffe_id::{IdMatcher, SpiffeId};
    ///
    /// let prod = IdMatcher::path_prefix(SpiffeId::parse("spiffe://example.org/ns/prod")?);
    /// assert!(prod.matches(&SpiffeId::parse("spiffe://example.org/ns/prod/sa/api")?));
    /// assert!(!prod.matches(&SpiffeId::parse("spiffe://example.org/ns/production")?));
    /// # Ok::<(), spiffe_id::SpiffeIdError>(())
    /// ```
    pub fn path_prefix(prefix: SpiffeId) -> Self {
        Self::PathPrefix(prefix)
    }

    /// Matches the IDs that fit `pattern`, a SPIFFE ID in which whole path segments may be
    /// `*`; see [`IdPattern`].
    ///
    /// # Errors
    ///
    /// As [`IdPattern::parse`].
    pub fn pattern(pattern: &str) -> Result<Self, SpiffeIdError> {
        IdPattern::parse(pattern).map(Self::Pattern)
    }

    /// Whether `id` is acceptable.
    pub fn matches(&self, id: &SpiffeId) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(expected) => expected == id,
            Self::OneOf(set) => set.contains(id),
            Self::MemberOf(td) => id.is_member_of(td),
            Self::PathPrefix(prefix) => {
                let mut segments = id.segments();
                prefix.trust_domain_name() == id.trust_domain_name()
                    && prefix.segments().all(|want| segments.next() == Some(want))
            }
            Self::Pattern(pattern) => pattern.matches(id),
        }
    }
}

/// A SPIFFE ID pattern: a trust domain and path segments, each either literal or `*`, which
/// stands for exactly one segment of any value. `spiffe://example.org/ns/*/sa/frontend`
/// matches `spiffe://example.org/ns/prod/sa/frontend`, not `spiffe://example.org/ns/sa/frontend`
/// nor `spiffe://example.org/ns/a/b/sa/frontend`.
///
/// ```
/// use spiffe_id::{IdPattern, SpiffeId};
///
/// let frontends = IdPattern::parse("spiffe://example.org/ns/*/sa/frontend")?;
/// assert!(frontends.matches(&SpiffeId::parse("spiffe://example.org/ns/dev/sa/frontend")?));
/// assert!(!frontends.matches(&SpiffeId::parse("spiffe://example.org/ns/dev/sa/backend")?));
/// assert!(!frontends.matches(&SpiffeId::parse("spiffe://other.org/ns/dev/sa/frontend")?));
/// # Ok::<(), spiffe_id::SpiffeIdError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdPattern {
    trust_domain: TrustDomain,
    /// `None` is a `*` segment.
    segments: Vec<Option<String>>,
    text: String,
}

impl IdPattern {
    /// Parses a pattern: a SPIFFE ID (same rules, byte-exact) in which a path segment may be
    /// the single character `*`. The trust domain is always literal.
    ///
    /// # Errors
    ///
    /// The [`SpiffeIdError`] that parsing the ID would give, with `*` segments read as
    /// ordinary ones: a `*` inside a longer segment or in the trust domain is an invalid
    /// character at its position.
    pub fn parse(pattern: &str) -> Result<Self, SpiffeIdError> {
        // Every `*` segment is checked as a one-character literal, so positions in errors
        // stay those of the pattern.
        let checked: Vec<&str> = pattern
            .split('/')
            .enumerate()
            .map(|(i, part)| if i >= 3 && part == "*" { "x" } else { part })
            .collect();
        let id = SpiffeId::parse(&checked.join("/"))?;

        let wildcards = pattern.split('/').skip(3).map(|part| part == "*");
        let segments = id
            .segments()
            .zip(wildcards)
            .map(|(segment, wild)| (!wild).then(|| segment.to_owned()))
            .collect();
        Ok(Self {
            trust_domain: id.trust_domain(),
            segments,
            text: pattern.to_owned(),
        })
    }

    /// Whether `id` has the pattern's trust domain and as many segments, each equal to the
    /// pattern's or matched by a `*`.
    pub fn matches(&self, id: &SpiffeId) -> bool {
        if id.trust_domain_name() != self.trust_domain.as_str() {
            return false;
        }

        let mut wanted = self.segments.iter();
        for segment in id.segments() {
            match wanted.next() {
                Some(Some(literal)) if literal != segment => return false,
                Some(_) => {}
                None => return false,
            }
        }
        wanted.next().is_none()
    }

    /// The pattern as it was parsed.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for IdPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
