use std::sync::Arc;

use arc_swap::ArcSwap;
use spiffe_bundle::{JwtBundleSet, X509BundleSet};
use spiffe_workload_api::{
    JwtBundlesStream, WorkloadApiClient, WorkloadApiError, X509BundlesStream,
};
use tokio::sync::watch;

use crate::follow::{Connection, Handler, Lifecycle};
use crate::{Health, SourceError};

/// A kind of bundle stream: what it carries and how to open it.
pub(crate) trait BundleKind: Send + Sync + 'static {
    /// The bundles of every trust domain, as one message carries them.
    type Set: Default + Send + Sync + 'static;
    /// The stream the client opens.
    type Stream: futures::Stream<Item = Result<Self::Set, WorkloadApiError>>
        + Send
        + Unpin
        + 'static;

    const NAME: &'static str;

    fn open(
        client: &WorkloadApiClient,
    ) -> impl Future<Output = Result<Self::Stream, WorkloadApiError>> + Send + '_;

    /// Whether two sets hold the same authorities, in whatever order.
    fn same(a: &Self::Set, b: &Self::Set) -> bool;
}

/// `FetchX509Bundles`.
pub(crate) struct X509Kind;

impl BundleKind for X509Kind {
    type Set = X509BundleSet;
    type Stream = X509BundlesStream;

    const NAME: &'static str = "x509-bundles";

    fn open(
        client: &WorkloadApiClient,
    ) -> impl Future<Output = Result<X509BundlesStream, WorkloadApiError>> + Send + '_ {
        client.watch_x509_bundles()
    }

    fn same(a: &X509BundleSet, b: &X509BundleSet) -> bool {
        a.same_authorities(b)
    }
}

/// `FetchJWTBundles`.
pub(crate) struct JwtKind;

impl BundleKind for JwtKind {
    type Set = JwtBundleSet;
    type Stream = JwtBundlesStream;

    const NAME: &'static str = "jwt-bundles";

    fn open(
        client: &WorkloadApiClient,
    ) -> impl Future<Output = Result<JwtBundlesStream, WorkloadApiError>> + Send + '_ {
        client.watch_jwt_bundles()
    }

    fn same(a: &JwtBundleSet, b: &JwtBundleSet) -> bool {
        // JWT bundles compare by key ID, so equality is already order-insensitive.
        a == b
    }
}

/// The current bundle set of one stream, with a generation number (0 until the first
/// message).
pub(crate) struct Current<K: BundleKind> {
    pub(crate) set: ArcSwap<K::Set>,
    pub(crate) generation: std::sync::atomic::AtomicU64,
}

impl<K: BundleKind> Current<K> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            set: ArcSwap::from_pointee(K::Set::default()),
            generation: std::sync::atomic::AtomicU64::new(0),
        })
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// Keeps a [`Current`] set up to date from its stream.
pub(crate) struct BundleHandler<K: BundleKind> {
    current: Arc<Current<K>>,
    updates: watch::Sender<u64>,
}

impl<K: BundleKind> Handler for BundleHandler<K> {
    type Message = K::Set;
    type Stream = K::Stream;

    const NAME: &'static str = K::NAME;

    fn open(
        client: &WorkloadApiClient,
    ) -> impl Future<Output = Result<K::Stream, WorkloadApiError>> + Send + '_ {
        K::open(client)
    }

    fn apply(&mut self, set: K::Set) {
        let generation = self.current.generation();
        if generation > 0 && K::same(&self.current.set.load(), &set) {
            tracing::trace!(stream = K::NAME, "bundle update identical; not notifying");
            return;
        }
        self.current.set.store(Arc::new(set));
        self.current
            .generation
            .store(generation + 1, std::sync::atomic::Ordering::Release);
        self.updates.send_replace(generation + 1);
    }
}

/// Starts following one bundle stream.
pub(crate) fn follow<K: BundleKind>(
    connection: &Connection,
    client: WorkloadApiClient,
) -> (Arc<Current<K>>, Lifecycle) {
    let current = Current::<K>::new();
    let (updates, receiver) = watch::channel(0);
    let handler = BundleHandler {
        current: Arc::clone(&current),
        updates,
    };
    let lifecycle = Lifecycle::spawn(handler, connection, client, receiver);
    (current, lifecycle)
}

/// Waits for the first message of a bundle stream.
pub(crate) async fn first_update<K: BundleKind>(
    current: &Current<K>,
    lifecycle: &Lifecycle,
    connection: &Connection,
) -> Result<(), SourceError> {
    let ready = || current.generation() > 0;
    let held = || Health::Pending;
    lifecycle
        .wait_ready(connection.first_update_timeout, ready, held)
        .await
}

/// The trust bundles of every trust domain the workload may talk to, X.509 and JWT, its own
/// and federated ones, kept current by the `FetchX509Bundles` and `FetchJWTBundles` streams.
///
/// For a workload that verifies peers but has no identity of its own to present (or gets it
/// elsewhere). Reads are lock-free and allocation-free. Like every source, create one, share
/// it, close it at shutdown.
///
/// ```no_run
/// # async fn demo() -> Result<(), spiffe_source::SourceError> {
/// use spiffe_source::BundleSource;
///
/// let bundles = BundleSource::builder().endpoint("unix:///run/spire/agent.sock").build().await?;
/// let x509 = bundles.x509_bundles();
/// let roots = x509.get("example.org").map(|b| b.authorities().len()).unwrap_or(0);
/// let jwt = bundles.jwt_bundles();
/// let keys = jwt.get("example.org").map(|b| b.len()).unwrap_or(0);
/// println!("example.org: {roots} roots, {keys} JWT keys");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct BundleSource {
    inner: Arc<BundleInner>,
}

struct BundleInner {
    x509: Arc<Current<X509Kind>>,
    jwt: Arc<Current<JwtKind>>,
    x509_lifecycle: Lifecycle,
    jwt_lifecycle: Lifecycle,
}

/// A bundle set borrowed from a source; hold it for one operation.
pub type BundleGuard<T> = arc_swap::Guard<Arc<T>>;

impl BundleSource {
    /// Builds a bundle source with default settings (`SPIFFE_ENDPOINT_SOCKET`, 30 s for the
    /// first update of each stream).
    ///
    /// # Errors
    ///
    /// As [`BundleSourceBuilder::build`].
    pub async fn new() -> Result<Self, SourceError> {
        Self::builder().build().await
    }

    /// Starts configuring a bundle source.
    pub fn builder() -> BundleSourceBuilder {
        BundleSourceBuilder::default()
    }

    /// The X.509 bundles of every trust domain (lock-free, no allocation).
    pub fn x509_bundles(&self) -> BundleGuard<X509BundleSet> {
        self.inner.x509.set.load()
    }

    /// The JWT bundles of every trust domain (lock-free, no allocation).
    pub fn jwt_bundles(&self) -> BundleGuard<JwtBundleSet> {
        self.inner.jwt.set.load()
    }

    /// Notifications of new X.509 or JWT bundles.
    pub fn updates(&self) -> BundleUpdates {
        BundleUpdates {
            x509: self.inner.x509_lifecycle.updates(),
            jwt: self.inner.jwt_lifecycle.updates(),
        }
    }

    /// Why a stream stopped for good, if one did (see [`X509Source::stopped`]).
    ///
    /// [`X509Source::stopped`]: crate::X509Source::stopped
    pub fn stopped(&self) -> Option<SourceError> {
        let x509 = self.inner.x509_lifecycle.stopped();
        x509.or_else(|| self.inner.jwt_lifecycle.stopped())
    }

    /// Ends both streams and their tasks, and waits for them.
    pub async fn close(&self) {
        self.inner.x509_lifecycle.close().await;
        self.inner.jwt_lifecycle.close().await;
    }
}

impl core::fmt::Debug for BundleSource {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BundleSource")
            .field("x509_trust_domains", &self.x509_bundles().len())
            .field("jwt_trust_domains", &self.jwt_bundles().len())
            .field("stopped", &self.stopped())
            .finish()
    }
}

/// Notifications of a [`BundleSource`]'s updates.
#[derive(Clone)]
pub struct BundleUpdates {
    x509: watch::Receiver<u64>,
    jwt: watch::Receiver<u64>,
}

impl core::fmt::Debug for BundleUpdates {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BundleUpdates").finish_non_exhaustive()
    }
}

impl BundleUpdates {
    /// Waits until the X.509 or the JWT bundles change.
    ///
    /// # Errors
    ///
    /// [`SourceError::Closed`] once the source is closed or dropped.
    pub async fn changed(&mut self) -> Result<(), SourceError> {
        let changed = tokio::select! {
            changed = self.x509.changed() => changed,
            changed = self.jwt.changed() => changed,
        };
        changed.map_err(|_| SourceError::Closed)
    }
}

/// Configures a [`BundleSource`].
#[derive(Clone, Debug, Default)]
pub struct BundleSourceBuilder {
    connection: Connection,
}

impl BundleSourceBuilder {
    crate::follow::connection_setters!();

    /// Starts both streams and waits for the first message of each.
    ///
    /// # Errors
    ///
    /// As [`X509SourceBuilder::build`](crate::X509SourceBuilder::build).
    pub async fn build(self) -> Result<BundleSource, SourceError> {
        let client = self.connection.client()?;
        let (x509, x509_lifecycle) = follow::<X509Kind>(&self.connection, client.clone());
        let (jwt, jwt_lifecycle) = follow::<JwtKind>(&self.connection, client);
        let source = BundleSource {
            inner: Arc::new(BundleInner {
                x509,
                jwt,
                x509_lifecycle,
                jwt_lifecycle,
            }),
        };

        let inner = &source.inner;
        let (x509_ready, jwt_ready) = tokio::join!(
            first_update(&inner.x509, &inner.x509_lifecycle, &self.connection),
            first_update(&inner.jwt, &inner.jwt_lifecycle, &self.connection),
        );
        x509_ready?;
        jwt_ready?;
        Ok(source)
    }
}
