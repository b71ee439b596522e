//! What the TLS configurations read on every handshake: an SVID and bundles, with a number
//! that changes when they do.

use std::sync::Arc;

use spiffe_bundle::X509BundleSet;
use spiffe_source::{SnapshotGuard, X509Source};
use spiffe_svid::X509Svid;

/// A source of X.509 material for TLS: the workload's SVID and the bundles of the trust
/// domains it talks to, as one consistent snapshot.
///
/// [`X509Source`] implements it (the live source of the Workload API), and so does
/// [`StaticSource`] (an SVID and bundles fixed at construction, for files and tests).
/// Implement it for anything else that can hand out snapshots cheaply: it is called once per
/// handshake, so `snapshot` should be a lock-free read.
pub trait SvidSource: Send + Sync + 'static {
    /// One consistent state of the source.
    type Snapshot: SvidSnapshot;

    /// The current state. Called once per handshake.
    fn snapshot(&self) -> Self::Snapshot;
}

/// One consistent state of an [`SvidSource`]: the SVID and the bundles that go with it.
pub trait SvidSnapshot {
    /// A number that differs whenever the SVID or the bundles differ from those of the
    /// previous snapshot. Everything derived from a snapshot (rustls certified key, trust
    /// anchors) is computed again only when it changes.
    fn generation(&self) -> u64;

    /// The SVID to present, or `None` when there is none to serve (revoked, expired, or a
    /// source that holds bundles only).
    fn svid(&self) -> Option<&X509Svid>;

    /// The X.509 bundles by trust domain; a peer is verified against its own trust domain's
    /// bundle only.
    fn bundles(&self) -> &X509BundleSet;
}

impl SvidSource for X509Source {
    type Snapshot = SnapshotGuard;

    fn snapshot(&self) -> SnapshotGuard {
        X509Source::snapshot(self)
    }
}

impl SvidSnapshot for SnapshotGuard {
    fn generation(&self) -> u64 {
        spiffe_source::X509Snapshot::generation(self)
    }

    fn svid(&self) -> Option<&X509Svid> {
        spiffe_source::X509Snapshot::svid(self).ok()
    }

    fn bundles(&self) -> &X509BundleSet {
        spiffe_source::X509Snapshot::bundles(self)
    }
}

impl<S: SvidSource> SvidSource for Arc<S> {
    type Snapshot = S::Snapshot;

    fn snapshot(&self) -> S::Snapshot {
        (**self).snapshot()
    }
}

/// An SVID and bundles that never change: material read from files, or made in a test.
///
/// Cloning is cheap (the material is shared). A server or a mutual TLS client needs an SVID;
/// a client that only verifies its server can be built from bundles alone
/// ([`StaticSource::bundles_only`]).
#[derive(Clone, Debug)]
pub struct StaticSource {
    material: Arc<StaticMaterial>,
}

/// The snapshot of a [`StaticSource`]: always the same material.
#[derive(Clone, Debug)]
pub struct StaticMaterial {
    svid: Option<X509Svid>,
    bundles: X509BundleSet,
}

impl StaticSource {
    /// A source that presents `svid` and verifies peers against `bundles`.
    pub fn new(svid: X509Svid, bundles: X509BundleSet) -> Self {
        Self::from_parts(Some(svid), bundles)
    }

    /// A source without an SVID: enough for a client of server-only TLS.
    pub fn bundles_only(bundles: X509BundleSet) -> Self {
        Self::from_parts(None, bundles)
    }

    fn from_parts(svid: Option<X509Svid>, bundles: X509BundleSet) -> Self {
        Self {
            material: Arc::new(StaticMaterial { svid, bundles }),
        }
    }
}

impl SvidSource for StaticSource {
    type Snapshot = Arc<StaticMaterial>;

    fn snapshot(&self) -> Arc<StaticMaterial> {
        Arc::clone(&self.material)
    }
}

impl SvidSnapshot for Arc<StaticMaterial> {
    fn generation(&self) -> u64 {
        0
    }

    fn svid(&self) -> Option<&X509Svid> {
        self.svid.as_ref()
    }

    fn bundles(&self) -> &X509BundleSet {
        &self.bundles
    }
}
