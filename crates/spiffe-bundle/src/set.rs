use std::borrow::Borrow;
use std::collections::BTreeMap;

use spiffe_id::TrustDomain;

use crate::{JwtBundle, X509Bundle};

/// X.509 bundles keyed by trust domain: the local one and any federated ones.
///
/// Holds at most one bundle per trust domain; inserting a bundle replaces the one of the same
/// trust domain. Iteration is in trust domain order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct X509BundleSet {
    bundles: BTreeMap<TrustDomain, X509Bundle>,
}

impl X509BundleSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `bundle`, returning the bundle it replaces for the same trust domain, if any.
    pub fn insert(&mut self, bundle: X509Bundle) -> Option<X509Bundle> {
        self.bundles.insert(bundle.trust_domain().clone(), bundle)
    }

    /// The bundle of a trust domain, looked up by `&str` (`"example.org"`) or `&TrustDomain`.
    pub fn get<Q>(&self, trust_domain: &Q) -> Option<&X509Bundle>
    where
        TrustDomain: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.bundles.get(trust_domain)
    }

    /// Removes and returns the bundle of a trust domain.
    pub fn remove<Q>(&mut self, trust_domain: &Q) -> Option<X509Bundle>
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
    pub fn iter(&self) -> impl Iterator<Item = &X509Bundle> {
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

impl FromIterator<X509Bundle> for X509BundleSet {
    /// Collects bundles; a later bundle replaces an earlier one of the same trust domain.
    fn from_iter<I: IntoIterator<Item = X509Bundle>>(iter: I) -> Self {
        let mut set = Self::new();
        for bundle in iter {
            set.insert(bundle);
        }
        set
    }
}

impl Extend<X509Bundle> for X509BundleSet {
    fn extend<I: IntoIterator<Item = X509Bundle>>(&mut self, iter: I) {
        for bundle in iter {
            self.insert(bundle);
        }
    }
}

impl IntoIterator for X509BundleSet {
    type Item = X509Bundle;
    type IntoIter = std::collections::btree_map::IntoValues<TrustDomain, X509Bundle>;

    fn into_iter(self) -> Self::IntoIter {
        self.bundles.into_values()
    }
}

/// JWT bundles keyed by trust domain: the local one and any federated ones.
///
/// Holds at most one bundle per trust domain; inserting a bundle replaces the one of the same
/// trust domain. Iteration is in trust domain order. Code that builds a set from a map that
/// may name a trust domain twice (such as a Workload API response) should check
/// [`JwtBundleSet::contains`] first and refuse the duplicate (SPEC-POLICY "Bundles").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JwtBundleSet {
    bundles: BTreeMap<TrustDomain, JwtBundle>,
}

impl JwtBundleSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `bundle`, returning the bundle it replaces for the same trust domain, if any.
    pub fn insert(&mut self, bundle: JwtBundle) -> Option<JwtBundle> {
        self.bundles.insert(bundle.trust_domain().clone(), bundle)
    }

    /// The bundle of a trust domain, looked up by `&str` (`"example.org"`) or `&TrustDomain`.
    pub fn get<Q>(&self, trust_domain: &Q) -> Option<&JwtBundle>
    where
        TrustDomain: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.bundles.get(trust_domain)
    }

    /// Removes and returns the bundle of a trust domain.
    pub fn remove<Q>(&mut self, trust_domain: &Q) -> Option<JwtBundle>
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
    pub fn iter(&self) -> impl Iterator<Item = &JwtBundle> {
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

impl FromIterator<JwtBundle> for JwtBundleSet {
    /// Collects bundles; a later bundle replaces an earlier one of the same trust domain.
    fn from_iter<I: IntoIterator<Item = JwtBundle>>(iter: I) -> Self {
        let mut set = Self::new();
        set.extend(iter);
        set
    }
}

impl Extend<JwtBundle> for JwtBundleSet {
    fn extend<I: IntoIterator<Item = JwtBundle>>(&mut self, iter: I) {
        for bundle in iter {
            self.insert(bundle);
        }
    }
}

impl IntoIterator for JwtBundleSet {
    type Item = JwtBundle;
    type IntoIter = std::collections::btree_map::IntoValues<TrustDomain, JwtBundle>;

    fn into_iter(self) -> Self::IntoIter {
        self.bundles.into_values()
    }
}
