use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use spiffe_id::SpiffeId;
use spiffe_svid::X509Svid;
use spiffe_workload_api::{WorkloadApiClient, WorkloadApiError, X509Context, X509ContextStream};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::SourceError;
use crate::follow::{Connection, Handler, Lifecycle, instant_at};
use crate::snapshot::{Health, SnapshotGuard, X509Snapshot};

/// Which of the agent's SVIDs a source serves as its default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SvidPicker {
    /// The first SVID of each update (the agent's order).
    #[default]
    First,
    /// The SVID with this hint (as set on the registration entry).
    Hint(String),
    /// The SVID with this SPIFFE ID.
    Id(SpiffeId),
}

impl SvidPicker {
    fn pick(&self, svids: &[X509Svid]) -> Option<usize> {
        match self {
            Self::First => (!svids.is_empty()).then_some(0),
            Self::Hint(hint) => svids.iter().position(|s| s.hint() == Some(hint.as_str())),
            Self::Id(id) => svids.iter().position(|s| s.spiffe_id() == id),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::First => "first SVID".to_owned(),
            Self::Hint(hint) => format!("hint {hint:?}"),
            Self::Id(id) => format!("SPIFFE ID {id}"),
        }
    }
}

/// A long-lived source of X.509-SVIDs and bundles, kept current by one Workload API stream.
///
/// Create one at start-up and share it (it is cheap to clone) for the life of the process:
/// every TLS configuration, handshake and request reads from it. Creating a source per request
/// opens a stream to the agent each time; that is the mistake this type exists to avoid.
///
/// Reads ([`X509Source::snapshot`]) take no lock and do not allocate. The background task
/// follows every rotation, keeps the last good state when an update is bad, reconnects with
/// backoff, and ends when the source is closed or its last clone dropped.
///
/// ```no_run
/// # async fn demo() -> Result<(), spiffe_source::SourceError> {
/// use spiffe_source::X509Source;
///
/// // Reads SPIFFE_ENDPOINT_SOCKET; waits for the first SVID (30 s at most).
/// let source = X509Source::new().await?;
///
/// let snapshot = source.snapshot();
/// let svid = snapshot.svid()?;
/// println!("I am {}", svid.spiffe_id());
///
/// source.close().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct X509Source {
    inner: Arc<Inner>,
}

/// Owned by the clones of one source; dropping the last one stops the background task.
struct Inner {
    current: Arc<ArcSwap<X509Snapshot>>,
    lifecycle: Lifecycle,
}

impl X509Source {
    /// Builds a source with default settings: the address from `SPIFFE_ENDPOINT_SOCKET`, the
    /// first SVID as default, a 30 s wait for the first update.
    ///
    /// # Errors
    ///
    /// See [`X509SourceBuilder::build`].
    pub async fn new() -> Result<Self, SourceError> {
        Self::builder().build().await
    }

    /// Starts configuring a source.
    pub fn builder() -> X509SourceBuilder {
        X509SourceBuilder::default()
    }

    /// The current state: default SVID, all SVIDs and the bundles that came with them.
    ///
    /// Lock-free and allocation-free; call it on every handshake rather than caching.
    #[inline]
    pub fn snapshot(&self) -> SnapshotGuard {
        SnapshotGuard {
            guard: self.inner.current.load(),
        }
    }

    /// A receiver of update notifications.
    pub fn updates(&self) -> Updates {
        Updates {
            rx: self.inner.lifecycle.updates(),
        }
    }

    /// Why the background task stopped for good, if it did: [`SourceError::Rejected`] when
    /// the agent refused the request as invalid or unsupported, [`SourceError::Closed`] after
    /// [`close`](Self::close). A source that is running, even while retrying, reports `None`.
    pub fn stopped(&self) -> Option<SourceError> {
        self.inner.lifecycle.stopped()
    }

    /// Ends the stream and the background task, and waits for the task to finish. Reads keep
    /// returning the last state; update receivers see the end.
    pub async fn close(&self) {
        self.inner.lifecycle.close().await;
    }
}

impl core::fmt::Debug for X509Source {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let snapshot = self.snapshot();
        f.debug_struct("X509Source")
            .field("spiffe_id", &snapshot.spiffe_id())
            .field("health", snapshot.health())
            .field("generation", &snapshot.generation())
            .field("stopped", &self.stopped())
            .finish()
    }
}

/// Notifications of a source's updates: for an [`X509Source`], new SVIDs or bundles,
/// revocation, expiry; for a [`JwtSource`](crate::JwtSource), new JWT bundles.
#[derive(Clone)]
pub struct Updates {
    pub(crate) rx: watch::Receiver<u64>,
}

impl core::fmt::Debug for Updates {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Updates")
            .field("seen_generation", &*self.rx.borrow())
            .finish()
    }
}

impl Updates {
    /// Waits for the next update. Several updates in quick succession may be seen as one;
    /// read the source's snapshot after each wake-up.
    ///
    /// # Errors
    ///
    /// [`SourceError::Closed`] once the source is closed or dropped.
    pub async fn changed(&mut self) -> Result<u64, SourceError> {
        self.rx.changed().await.map_err(|_| SourceError::Closed)?;
        Ok(*self.rx.borrow_and_update())
    }
}

/// Configures an [`X509Source`].
#[derive(Clone, Debug, Default)]
pub struct X509SourceBuilder {
    connection: Connection,
    picker: SvidPicker,
}

impl X509SourceBuilder {
    crate::follow::connection_setters!();

    /// Serves the SVID with this hint as the default.
    pub fn pick_hint(mut self, hint: impl Into<String>) -> Self {
        self.picker = SvidPicker::Hint(hint.into());
        self
    }

    /// Serves the SVID with this SPIFFE ID as the default.
    pub fn pick_id(mut self, id: SpiffeId) -> Self {
        self.picker = SvidPicker::Id(id);
        self
    }

    /// Sets the SVID picker.
    pub fn picker(mut self, picker: SvidPicker) -> Self {
        self.picker = picker;
        self
    }

    /// Starts the source and waits until it holds an SVID the picker accepts.
    ///
    /// Must be called within a Tokio runtime: the source's task runs on it.
    ///
    /// # Errors
    ///
    /// - [`SourceError::NoRuntime`] at once when called outside a Tokio runtime;
    /// - [`SourceError::NoEndpoint`] at once when there is no address at all;
    /// - [`SourceError::Client`] for a malformed address;
    /// - [`SourceError::Rejected`] when the agent refuses the request for good;
    /// - [`SourceError::FirstUpdateTimeout`] when no usable update arrived in time, with the
    ///   number of attempts and the last error (socket missing, refused, no identity issued).
    pub async fn build(self) -> Result<X509Source, SourceError> {
        let client = self.connection.client()?;
        let current = Arc::new(ArcSwap::from_pointee(X509Snapshot::pending()));
        let (updates, receiver) = watch::channel(0);
        let handler = X509Handler {
            current: Arc::clone(&current),
            picker: self.picker,
            updates,
            expiry: None,
        };
        let lifecycle = Lifecycle::spawn(handler, &self.connection, client, receiver);
        let source = X509Source {
            inner: Arc::new(Inner { current, lifecycle }),
        };

        let ready = || source.snapshot().health == Health::Ready;
        let held = || source.snapshot().health.clone();
        let timeout = self.connection.first_update_timeout;
        source
            .inner
            .lifecycle
            .wait_ready(timeout, ready, held)
            .await?;
        Ok(source)
    }
}

/// Keeps an [`X509Source`]'s snapshot current from the `FetchX509SVID` stream.
struct X509Handler {
    current: Arc<ArcSwap<X509Snapshot>>,
    picker: SvidPicker,
    updates: watch::Sender<u64>,
    /// When the default SVID expires.
    expiry: Option<Instant>,
}

impl Handler for X509Handler {
    type Message = X509Context;
    type Stream = X509ContextStream;

    const NAME: &'static str = "x509-svid";

    fn open(
        client: &WorkloadApiClient,
    ) -> impl Future<Output = Result<X509ContextStream, WorkloadApiError>> + Send + '_ {
        client.watch_x509_context()
    }

    fn apply(&mut self, context: X509Context) {
        if context.svids.is_empty() {
            // Workspace policy, "Sources": an update without SVIDs revokes the identity.
            if self.current.load().health != Health::Revoked {
                tracing::warn!("the agent sent an update without SVIDs: identity revoked");
                self.revoke();
            }
            return;
        }

        let current = self.current.load_full();
        let default = self.picker.pick(&context.svids);
        let health = match default {
            None => Health::NoMatchingSvid(self.picker.describe()),
            Some(i) if context.svids[i].not_after() <= SystemTime::now() => Health::Expired,
            Some(_) => Health::Ready,
        };
        if health == current.health && same_material(&current, &context) {
            tracing::trace!("x509 update identical to the current state; not notifying");
            return;
        }

        let new_id = default.map(|i| context.svids[i].spiffe_id());
        if let (Some(old), Some(new)) = (current.spiffe_id(), new_id)
            && old != new
        {
            tracing::warn!(%old, %new, "the default SVID changed its SPIFFE ID");
        }
        if let Health::NoMatchingSvid(picker) = &health {
            tracing::warn!(picker, "no SVID in the update matches the picker");
        }

        self.expiry = default.map(|i| instant_at(context.svids[i].not_after()));
        tracing::trace!(generation = current.generation + 1, "x509 source rotated");
        self.publish(X509Snapshot {
            svids: context.svids,
            default,
            bundles: context.bundles,
            health,
            generation: current.generation + 1,
        });
    }

    fn denied(&mut self) {
        // Workspace policy, "Sources": PermissionDenied in the middle of a stream revokes.
        if self.current.load().health == Health::Ready {
            tracing::warn!("the agent answered PermissionDenied: identity revoked");
            self.revoke();
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.expiry
    }

    /// Marks the default SVID expired.
    fn deadline_passed(&mut self) {
        self.expiry = None;
        let current = self.current.load_full();
        if current.health != Health::Ready {
            return;
        }
        tracing::warn!(
            id = ?current.spiffe_id(),
            "the X.509-SVID expired before a new one arrived"
        );
        self.publish(X509Snapshot {
            svids: current.svids.clone(),
            default: current.default,
            bundles: current.bundles.clone(),
            health: Health::Expired,
            generation: current.generation + 1,
        });
    }
}

impl X509Handler {
    /// Stops serving SVIDs, keeps the bundles.
    fn revoke(&mut self) {
        let current = self.current.load_full();
        self.expiry = None;
        self.publish(X509Snapshot {
            svids: Vec::new(),
            default: None,
            bundles: current.bundles.clone(),
            health: Health::Revoked,
            generation: current.generation + 1,
        });
    }

    fn publish(&self, snapshot: X509Snapshot) {
        let generation = snapshot.generation;
        self.current.store(Arc::new(snapshot));
        self.updates.send_replace(generation);
    }
}

/// Whether an update carries the same SVIDs and bundles as the snapshot, in any order.
///
/// The SVIDs are compared as multisets (sorted, then pairwise), so `[a, a]` after `[a, b]` is
/// a change, and a hostile update with thousands of SVIDs costs `n log n`, not `n²`.
fn same_material(current: &X509Snapshot, context: &X509Context) -> bool {
    current.svids.len() == context.svids.len()
        && sorted_material(&current.svids) == sorted_material(&context.svids)
        && current.bundles.same_authorities(&context.bundles)
}

/// What makes two SVIDs the same: the chain's certificates, the hint, the private key.
type SvidMaterial<'a> = (Vec<&'a [u8]>, Option<&'a str>, &'a [u8]);

/// The SVIDs' material, sorted.
fn sorted_material(svids: &[X509Svid]) -> Vec<SvidMaterial<'_>> {
    let mut material: Vec<_> = svids
        .iter()
        .map(|svid| {
            let chain = svid.chain().iter().map(|cert| cert.as_ref()).collect();
            (chain, svid.hint(), svid.private_key().secret_der())
        })
        .collect();
    material.sort_unstable();
    material
}
