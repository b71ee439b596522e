//! Session stores for users who turn resumption on: each is bound to the bundles that were
//! current when its sessions were stored, and emptied as soon as those bundles change.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::NamedGroup;
use rustls::client::{
    ClientSessionMemoryCache, ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue,
};
use rustls::pki_types::ServerName;
use rustls::server::{ServerSessionMemoryCache, StoresServerSessions};

use crate::SvidSource;
use crate::material::Shared;

/// How many sessions a store keeps (per configuration).
pub(crate) const SESSION_CAPACITY: usize = 256;

/// A cache and the bundle epoch its sessions were verified under.
struct Epoch<C> {
    epoch: u64,
    cache: C,
}

/// Wraps a rustls session cache; swaps in an empty one whenever the source's bundles change.
struct Bound<S, C> {
    shared: Arc<Shared<S>>,
    current: ArcSwap<Epoch<C>>,
    make: fn() -> C,
}

impl<S: SvidSource, C> Bound<S, C> {
    fn new(shared: Arc<Shared<S>>, make: fn() -> C) -> Self {
        // Epochs start at 1: the first use replaces this cache, nothing is read before.
        Self {
            shared,
            current: ArcSwap::from_pointee(Epoch {
                epoch: 0,
                cache: make(),
            }),
            make,
        }
    }

    /// The cache of the current bundle epoch, emptied first if the bundles changed.
    fn cache(&self) -> Arc<Epoch<C>> {
        let epoch = self.shared.with(|material| material.bundle_epoch);
        let current = self.current.load_full();
        if current.epoch == epoch {
            return current;
        }

        tracing::debug!(
            old = current.epoch,
            new = epoch,
            "bundles changed: stored TLS sessions dropped"
        );
        let fresh = Arc::new(Epoch {
            epoch,
            cache: (self.make)(),
        });
        self.current.store(Arc::clone(&fresh));
        fresh
    }
}

/// Client side: TLS 1.2 sessions and TLS 1.3 tickets from servers.
pub(crate) struct BoundClientStore<S> {
    bound: Bound<S, ClientSessionMemoryCache>,
}

impl<S: SvidSource> BoundClientStore<S> {
    pub(crate) fn new(shared: Arc<Shared<S>>) -> Self {
        Self {
            bound: Bound::new(shared, || ClientSessionMemoryCache::new(SESSION_CAPACITY)),
        }
    }
}

impl<S: SvidSource> ClientSessionStore for BoundClientStore<S> {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.bound.cache().cache.set_kx_hint(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.bound.cache().cache.kx_hint(server_name)
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.bound
            .cache()
            .cache
            .set_tls12_session(server_name, value);
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.bound.cache().cache.tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.bound.cache().cache.remove_tls12_session(server_name);
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        self.bound
            .cache()
            .cache
            .insert_tls13_ticket(server_name, value);
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        self.bound.cache().cache.take_tls13_ticket(server_name)
    }
}

/// Server side: stateful TLS 1.2 sessions and TLS 1.3 tickets.
pub(crate) struct BoundServerStore<S> {
    bound: Bound<S, Arc<ServerSessionMemoryCache>>,
}

impl<S: SvidSource> BoundServerStore<S> {
    pub(crate) fn new(shared: Arc<Shared<S>>) -> Self {
        Self {
            bound: Bound::new(shared, || ServerSessionMemoryCache::new(SESSION_CAPACITY)),
        }
    }
}

impl<S: SvidSource> StoresServerSessions for BoundServerStore<S> {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.bound.cache().cache.put(key, value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.bound.cache().cache.get(key)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.bound.cache().cache.take(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

impl<S> fmt::Debug for BoundClientStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundClientStore")
            .field("epoch", &self.bound.current.load().epoch)
            .finish_non_exhaustive()
    }
}

impl<S> fmt::Debug for BoundServerStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundServerStore")
            .field("epoch", &self.bound.current.load().epoch)
            .finish_non_exhaustive()
    }
}
