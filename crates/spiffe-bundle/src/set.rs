use std::borrow::Borrow;
use std::collections::BTreeMap;

use spiffe_id::TrustDomain;

use crate::{JwtBundle, SpiffeBundle, X509Bundle};

/// A bundle that belongs to one trust domain, as a [`BundleSet`] holds it.
pub trait TrustDomainBundle {
    /// The trust domain whose authorities the bundle holds.
    fn trust_domain(&self) -> &TrustDomain;
}

impl TrustDomainBundle for X509Bundle {
    fn trust_domain(&self) -> &TrustDomain {
        X509Bundle::trust_domain(self)
    }
}

impl TrustDomainBundle for JwtBundle {
    fn trust_domain(&self) -> &TrustDomain {
        JwtBundle::trust_domain(self)
    }
}

impl TrustDomainBundle for SpiffeBundle {
    fn trust_domain(&self) -> &TrustDomain {
        SpiffeBundle::trust_domain(self)
    }
}

/// Bundles keyed by trust domain: the local one and any federated ones.
///
/// Holds at most one bundle per trust domain; inserting a bundle replaces the one of the same
/// trust domain. Iteration is in trust domain order. Code that builds a set from a map that
/// may name a trust domain twice (such as a Workload API response) should check
/// [`contains`](Self::contains) first and refuse the duplicate (SPEC-POLICY "Bundles").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleSet<B> {
    bundles: BTreeMap<TrustDomain, B>,
}

/// X.509 bundles keyed by trust domain.
pub type X509BundleSet = BundleSet<X509Bundle>;

/// JWT bundles keyed by trust domain.
pub type JwtBundleSet = BundleSet<JwtBundle>;

/// SPIFFE bundles keyed by trust domain, as a federating server or a bundle endpoint client
/// keeps them; the set answers both [`X509BundleSource`](crate::X509BundleSource) and
/// [`JwtBundleSource`](crate::JwtBundleSource).
pub type SpiffeBundleSet = BundleSet<SpiffeBundle>;

impl<B> Default for BundleSet<B> {
    fn default() -> Self {
        Self {
            bundles: BTreeMap::new(),
        }
    }
}

impl<B: TrustDomainBundle> BundleSet<B> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `bundle`, returning the bundle it replaces for the same trust domain, if any.
    pub fn insert(&mut self, bundle: B) -> Option<B> {
        self.bundles.insert(bundle.trust_domain().clone(), bundle)
    }

    /// The bundle of a trust domain, looked up by `&str` (`"example.org"`) or `&TrustDomain`.
    #[inline]
    pub fn get<Q>(&self, trust_domain: &Q) -> Option<&B>
    where
        TrustDomain: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.bundles.get(trust_domain)
    }

    /// Removes and returns the bundle of a trust domain.
    pub fn remove<Q>(&mut self, trust_domain: &Q) -> Option<B>
    where
        TrustDomain: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.bundles.remove(trust_domain)
    }

    /// Whether the set has a bundle for the trust domain.
    pub fn contains<Q>(&self, trust_domain: &Q) -> bool
    where
        TrustDomain: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.bundles.contains_key(trust_domain)
    }

    /// The bundles, in trust domain order.
    pub fn iter(&self) -> impl Iterator<Item = &B> {
        self.bundles.values()
    }

    /// The number of trust domains with a bundle.
    pub fn len(&self) -> usize {
        self.bundles.len()
    }

    /// Whether the set holds no bundle.
    pub fn is_empty(&self) -> bool {
        self.bundles.is_empty()
    }
}

impl BundleSet<X509Bundle> {
    /// Whether both sets cover the same trust domains with the same authorities, ignoring the
    /// order of authorities within each bundle.
    pub fn same_authorities(&self, other: &X509BundleSet) -> bool {
        self.len() == other.len()
            && self.bundles.iter().all(|(td, mine)| {
                other
                    .bundles
                    .get(td)
                    .is_some_and(|theirs| mine.same_authorities(theirs))
            })
    }
}

impl<B: TrustDomainBundle> FromIterator<B> for BundleSet<B> {
    /// Collects bundles; a later bundle replaces an earlier one of the same trust domain.
    fn from_iter<I: IntoIterator<Item = B>>(iter: I) -> Self {
        let mut set = Self::new();
        set.extend(iter);
        set
    }
}

impl<B: TrustDomainBundle> Extend<B> for BundleSet<B> {
    fn extend<I: IntoIterator<Item = B>>(&mut self, iter: I) {
        for bundle in iter {
            self.insert(bundle);
        }
    }
}

impl<B> IntoIterator for BundleSet<B> {
    type Item = B;
    type IntoIter = std::collections::btree_map::IntoValues<TrustDomain, B>;

    fn into_iter(self) -> Self::IntoIter {
        self.bundles.into_values()
    }
}
