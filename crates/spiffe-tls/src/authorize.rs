//! Which verified peers a configuration accepts, by SPIFFE ID.

use std::fmt;
use std::ops::Not;
use std::sync::Arc;

use spiffe_id::{IdMatcher, SpiffeId, SpiffeIdError, TrustDomain};

/// Decides, after a peer's SVID has been verified against its trust domain's bundle, whether
/// its SPIFFE ID may talk to us.
///
/// Build one from the constructors and combine with [`and`](Self::and), [`or`](Self::or)
/// and `!` (the [`Not`] operator):
///
/// ```
/// use spiffe_id::{SpiffeId, TrustDomain};
/// use spiffe_tls::Authorizer;
///
/// let prod = Authorizer::member_of(TrustDomain::new("example.org")?)
///     .and(Authorizer::pattern("spiffe://example.org/ns/*/sa/frontend")?)
///     .and(!Authorizer::exact(SpiffeId::parse("spiffe://example.org/ns/test/sa/frontend")?));
///
/// assert!(prod.authorize(&SpiffeId::parse("spiffe://example.org/ns/prod/sa/frontend")?));
/// assert!(!prod.authorize(&SpiffeId::parse("spiffe://example.org/ns/test/sa/frontend")?));
/// assert!(!prod.authorize(&SpiffeId::parse("spiffe://example.org/ns/prod/sa/backend")?));
/// # Ok::<(), spiffe_id::SpiffeIdError>(())
/// ```
#[derive(Clone)]
pub struct Authorizer {
    rule: Rule,
}

#[derive(Clone)]
enum Rule {
    Matcher(IdMatcher),
    Predicate(Arc<dyn Fn(&SpiffeId) -> bool + Send + Sync>),
    And(Box<Rule>, Box<Rule>),
    Or(Box<Rule>, Box<Rule>),
    Not(Box<Rule>),
}

impl Authorizer {
    /// Accepts every verified peer, whatever its ID. Verification still binds the peer to a
    /// bundle we hold.
    pub fn any() -> Self {
        IdMatcher::any().into()
    }

    /// Accepts exactly `id`.
    pub fn exact(id: SpiffeId) -> Self {
        IdMatcher::exact(id).into()
    }

    /// Accepts any ID of `ids`; an empty set accepts nobody.
    pub fn one_of(ids: impl IntoIterator<Item = SpiffeId>) -> Self {
        IdMatcher::one_of(ids).into()
    }

    /// Accepts any ID of trust domain `td`.
    pub fn member_of(td: TrustDomain) -> Self {
        IdMatcher::member_of(td).into()
    }

    /// Accepts the IDs under `prefix`, whole segments only (see [`IdMatcher::path_prefix`]).
    pub fn path_prefix(prefix: SpiffeId) -> Self {
        IdMatcher::path_prefix(prefix).into()
    }

    /// Accepts the IDs that fit `pattern`, whose path segments may be `*`
    /// (see [`spiffe_id::IdPattern`]).
    ///
    /// # Errors
    ///
    /// When `pattern` is not a SPIFFE ID with whole-segment wildcards.
    pub fn pattern(pattern: &str) -> Result<Self, SpiffeIdError> {
        IdMatcher::pattern(pattern).map(Self::from)
    }

    /// Accepts the IDs for which `predicate` returns true. It runs on every handshake: keep
    /// it quick and free of blocking.
    pub fn predicate(predicate: impl Fn(&SpiffeId) -> bool + Send + Sync + 'static) -> Self {
        Self {
            rule: Rule::Predicate(Arc::new(predicate)),
        }
    }

    /// Accepts what both `self` and `other` accept.
    #[must_use]
    pub fn and(self, other: Authorizer) -> Self {
        Self {
            rule: Rule::And(Box::new(self.rule), Box::new(other.rule)),
        }
    }

    /// Accepts what `self` or `other` accepts.
    #[must_use]
    pub fn or(self, other: Authorizer) -> Self {
        Self {
            rule: Rule::Or(Box::new(self.rule), Box::new(other.rule)),
        }
    }

    /// Whether a verified peer with this ID is accepted.
    pub fn authorize(&self, id: &SpiffeId) -> bool {
        self.rule.authorize(id)
    }
}

impl Rule {
    fn authorize(&self, id: &SpiffeId) -> bool {
        match self {
            Self::Matcher(matcher) => matcher.matches(id),
            Self::Predicate(predicate) => predicate(id),
            Self::And(a, b) => a.authorize(id) && b.authorize(id),
            Self::Or(a, b) => a.authorize(id) || b.authorize(id),
            Self::Not(inner) => !inner.authorize(id),
        }
    }
}

/// `!authorizer` accepts exactly what `authorizer` refuses.
impl Not for Authorizer {
    type Output = Authorizer;

    fn not(self) -> Authorizer {
        Self {
            rule: Rule::Not(Box::new(self.rule)),
        }
    }
}

impl From<IdMatcher> for Authorizer {
    fn from(matcher: IdMatcher) -> Self {
        Self {
            rule: Rule::Matcher(matcher),
        }
    }
}

impl fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.rule, f)
    }
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Matcher(matcher) => fmt::Debug::fmt(matcher, f),
            Self::Predicate(_) => f.write_str("Predicate(..)"),
            Self::And(a, b) => f.debug_tuple("And").field(a).field(b).finish(),
            Self::Or(a, b) => f.debug_tuple("Or").field(a).field(b).finish(),
            Self::Not(inner) => f.debug_tuple("Not").field(inner).finish(),
        }
    }
}
