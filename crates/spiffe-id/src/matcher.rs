use std::collections::HashSet;

use crate::{SpiffeId, TrustDomain};

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

    /// Whether `id` is acceptable.
    pub fn matches(&self, id: &SpiffeId) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(expected) => expected == id,
            Self::OneOf(set) => set.contains(id),
            Self::MemberOf(td) => id.is_member_of(td),
        }
    }
}
