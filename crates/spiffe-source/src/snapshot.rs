use std::sync::Arc;

use spiffe_bundle::{X509Bundle, X509BundleSet};
use spiffe_id::SpiffeId;
use spiffe_svid::X509Svid;

use crate::SourceError;

/// The state of an [`X509Source`](crate::X509Source) at one moment: SVIDs and the bundles that
/// came with them in the same Workload API message, so they always belong together.
///
/// A snapshot never changes; the source swaps in a new one on every update.
#[derive(Debug)]
pub struct X509Snapshot {
    pub(crate) svids: Vec<X509Svid>,
    /// Index into `svids` of the SVID the picker chose, if any.
    pub(crate) default: Option<usize>,
    pub(crate) bundles: X509BundleSet,
    pub(crate) health: Health,
    pub(crate) generation: u64,
}

/// Whether a snapshot can serve its SVID.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Health {
    /// The default SVID is current.
    Ready,
    /// The agent revoked the identity; bundles are still served.
    Revoked,
    /// The default SVID is past its NotAfter.
    Expired,
    /// The picker matches none of the SVIDs; the string describes the picker.
    NoMatchingSvid(String),
    /// Nothing has arrived yet.
    Pending,
}

impl X509Snapshot {
    pub(crate) fn pending() -> Self {
        Self {
            svids: Vec::new(),
            default: None,
            bundles: X509BundleSet::new(),
            health: Health::Pending,
            generation: 0,
        }
    }

    /// The default SVID: the one the picker chose (by default the first the agent sent).
    ///
    /// # Errors
    ///
    /// [`SourceError::Revoked`] once the agent revoked the identity,
    /// [`SourceError::Expired`] when the SVID is past its NotAfter and no newer one arrived,
    /// [`SourceError::NoMatchingSvid`] when the picker matches nothing.
    #[inline]
    pub fn svid(&self) -> Result<&X509Svid, SourceError> {
        match (&self.health, self.default) {
            (Health::Ready, Some(i)) => Ok(&self.svids[i]),
            (Health::Expired, Some(i)) => Err(SourceError::Expired {
                id: self.svids[i].spiffe_id().clone(),
            }),
            (Health::NoMatchingSvid(picker), _) => Err(SourceError::NoMatchingSvid {
                picker: picker.clone(),
            }),
            (Health::Revoked, _) => Err(SourceError::Revoked),
            _ => Err(SourceError::Closed),
        }
    }

    /// Every SVID of the last update, in the agent's order; empty once revoked.
    pub fn svids(&self) -> &[X509Svid] {
        match self.health {
            Health::Revoked => &[],
            _ => &self.svids,
        }
    }

    /// The X.509 bundles of every trust domain, the workload's own and federated ones.
    pub fn bundles(&self) -> &X509BundleSet {
        &self.bundles
    }

    /// The bundle of one trust domain.
    #[inline]
    pub fn bundle(&self, trust_domain: &str) -> Option<&X509Bundle> {
        self.bundles.get(trust_domain)
    }

    /// The default SVID's ID, even when it cannot be served (expired).
    pub fn spiffe_id(&self) -> Option<&SpiffeId> {
        self.default.map(|i| self.svids[i].spiffe_id())
    }

    /// Whether the snapshot can serve its SVID.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Counts the updates the source applied; each new snapshot has a higher number.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// A snapshot borrowed from a source. Holding it keeps that state alive; hold it for the
/// length of one operation (a handshake, a request), not for the life of a program.
pub struct SnapshotGuard {
    pub(crate) guard: arc_swap::Guard<Arc<X509Snapshot>>,
}

impl core::ops::Deref for SnapshotGuard {
    type Target = X509Snapshot;

    #[inline]
    fn deref(&self) -> &X509Snapshot {
        &self.guard
    }
}

impl core::fmt::Debug for SnapshotGuard {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(&**self, f)
    }
}

impl SnapshotGuard {
    /// Turns the borrowed snapshot into an owned, shareable one.
    pub fn into_arc(self) -> Arc<X509Snapshot> {
        arc_swap::Guard::into_inner(self.guard)
    }
}
