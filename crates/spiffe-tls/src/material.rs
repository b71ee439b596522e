//! What the handshake path needs, derived from one snapshot of the source and kept until
//! the source's generation changes.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwapOption;
use rustls::sign::CertifiedKey;
use spiffe_bundle::X509BundleSet;
use spiffe_svid::X509TrustAnchorSet;

use crate::{SvidSnapshot, SvidSource};

/// Derived from one snapshot: never changes once built.
pub(crate) struct Material {
    /// The source generation it was built from.
    generation: u64,
    /// The SVID as rustls presents it; `None` when the source has no SVID to serve.
    pub(crate) certified_key: Option<Arc<CertifiedKey>>,
    /// Trust anchors per trust domain, parsed from the bundles.
    pub(crate) anchors: Arc<X509TrustAnchorSet>,
    /// The bundles the anchors came from, to tell a bundle change from an SVID rotation.
    bundles: Arc<X509BundleSet>,
    /// Changes exactly when the bundles change; resumed sessions are bound to it.
    pub(crate) bundle_epoch: u64,
}

/// A source and the material derived from its latest snapshot, shared by every resolver,
/// verifier and session store of the configurations built over it.
pub(crate) struct Shared<S> {
    source: S,
    current: ArcSwapOption<Material>,
    epochs: AtomicU64,
}

impl<S: SvidSource> Shared<S> {
    pub(crate) fn new(source: S) -> Self {
        Self {
            source,
            current: ArcSwapOption::empty(),
            epochs: AtomicU64::new(0),
        }
    }

    /// The material of the source's current snapshot. In the steady state this is two
    /// lock-free loads and a comparison; the first call after an update builds the material
    /// once (certified key, trust anchors) and publishes it for every later call.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&Material) -> R) -> R {
        let snapshot = self.source.snapshot();
        let cached = self.current.load();
        if let Some(material) = cached.as_deref()
            && material.generation == snapshot.generation()
        {
            return f(material);
        }

        let fresh = Arc::new(self.build(&snapshot, cached.as_deref()));
        // Publish unless another handshake published first; either way use our own.
        let _ = self
            .current
            .compare_and_swap(&cached, Some(Arc::clone(&fresh)));
        f(&fresh)
    }

    fn build(&self, snapshot: &S::Snapshot, previous: Option<&Material>) -> Material {
        let generation = snapshot.generation();
        let certified_key = snapshot.svid().map(|svid| {
            let chain = svid.chain().to_vec();
            Arc::new(CertifiedKey::new(chain, Arc::clone(svid.signing_key())))
        });
        if certified_key.is_none() {
            tracing::debug!(generation, "source has no SVID to present");
        }

        let bundles = snapshot.bundles();
        let (anchors, kept, bundle_epoch) = match previous {
            Some(old) if old.bundles.same_authorities(bundles) => (
                Arc::clone(&old.anchors),
                Arc::clone(&old.bundles),
                old.bundle_epoch,
            ),
            _ => {
                let epoch = self.epochs.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::trace!(
                    generation,
                    epoch,
                    trust_domains = bundles.len(),
                    "bundles changed"
                );
                (
                    Arc::new(X509TrustAnchorSet::from_bundles(bundles)),
                    Arc::new(bundles.clone()),
                    epoch,
                )
            }
        };

        tracing::trace!(generation, "TLS material rebuilt");
        Material {
            generation,
            certified_key,
            anchors,
            bundles: kept,
            bundle_epoch,
        }
    }
}

impl<S> fmt::Debug for Shared<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = self.current.load();
        f.debug_struct("Shared")
            .field("generation", &current.as_deref().map(|m| m.generation))
            .field("bundle_epoch", &current.as_deref().map(|m| m.bundle_epoch))
            .finish_non_exhaustive()
    }
}
