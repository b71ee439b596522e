use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use futures::StreamExt;
use parking_lot::Mutex;
use spiffe_id::SpiffeId;
use spiffe_svid::X509Svid;
use spiffe_workload_api::{
    Address, Backoff, BackoffPolicy, RetryClass, WorkloadApiClient, WorkloadApiError, X509Context,
    X509ContextStream,
};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::SourceError;
use crate::snapshot::{Health, SnapshotGuard, X509Snapshot};

/// How long [`X509SourceBuilder::build`] waits for the first update unless told otherwise.
pub const DEFAULT_FIRST_UPDATE_TIMEOUT: Duration = Duration::from_secs(30);

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
    handle: Arc<Handle>,
}

/// Owned by the clones of one source; dropping the last one stops the background task.
struct Handle {
    shared: Arc<Shared>,
    close: Mutex<Option<oneshot::Sender<()>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// State the background task and the handles both see.
struct Shared {
    current: ArcSwap<X509Snapshot>,
    /// Generation numbers; the sender lives in the task, so receivers learn when it ends.
    updates: watch::Receiver<u64>,
    diagnostics: Mutex<Diagnostics>,
}

#[derive(Default)]
struct Diagnostics {
    attempts: u32,
    last_error: Option<Arc<WorkloadApiError>>,
    stopped: Option<SourceError>,
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
    pub fn snapshot(&self) -> SnapshotGuard {
        SnapshotGuard {
            guard: self.handle.shared.current.load(),
        }
    }

    /// A receiver of update notifications.
    pub fn updates(&self) -> X509Updates {
        let mut rx = self.handle.shared.updates.clone();
        rx.mark_unchanged();
        X509Updates { rx }
    }

    /// Why the background task stopped for good, if it did: [`SourceError::Rejected`] when
    /// the agent refused the request as invalid or unsupported, [`SourceError::Closed`] after
    /// [`close`](Self::close). A source that is running, even while retrying, reports `None`.
    pub fn stopped(&self) -> Option<SourceError> {
        self.handle.shared.diagnostics.lock().stopped.clone()
    }

    /// Ends the stream and the background task, and waits for the task to finish. Reads keep
    /// returning the last state; update receivers see the end.
    pub async fn close(&self) {
        self.handle.close.lock().take();
        self.handle
            .shared
            .diagnostics
            .lock()
            .stopped
            .get_or_insert(SourceError::Closed);
        let task = self.handle.task.lock().take();
        if let Some(task) = task {
            // The task only ends by returning; a join error would mean it panicked, which it
            // has no way to do, or that the runtime is shutting down.
            let _ = task.await;
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // Dropping the sender wakes the task, which ends its stream and returns.
        self.close.lock().take();
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

/// Notifications of a source's updates: new SVIDs or bundles, revocation, expiry.
#[derive(Clone)]
pub struct X509Updates {
    rx: watch::Receiver<u64>,
}

impl core::fmt::Debug for X509Updates {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("X509Updates")
            .field("seen_generation", &*self.rx.borrow())
            .finish()
    }
}

impl X509Updates {
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
#[derive(Clone, Debug)]
pub struct X509SourceBuilder {
    endpoint: Option<String>,
    client: Option<WorkloadApiClient>,
    first_update_timeout: Option<Duration>,
    picker: SvidPicker,
    backoff: BackoffPolicy,
    slow_backoff: BackoffPolicy,
}

impl Default for X509SourceBuilder {
    fn default() -> Self {
        Self {
            endpoint: None,
            client: None,
            first_update_timeout: Some(DEFAULT_FIRST_UPDATE_TIMEOUT),
            picker: SvidPicker::First,
            backoff: BackoffPolicy::DEFAULT,
            slow_backoff: BackoffPolicy::SLOW,
        }
    }
}

impl X509SourceBuilder {
    /// The Workload API address, such as `unix:///run/spire/agent.sock`. It wins over
    /// `SPIFFE_ENDPOINT_SOCKET`.
    pub fn endpoint(mut self, address: impl Into<String>) -> Self {
        self.endpoint = Some(address.into());
        self
    }

    /// Uses this client instead of creating one (for a custom channel or settings).
    pub fn client(mut self, client: WorkloadApiClient) -> Self {
        self.client = Some(client);
        self
    }

    /// How long [`build`](Self::build) waits for the first usable update (default 30 s).
    pub fn first_update_timeout(mut self, timeout: Duration) -> Self {
        self.first_update_timeout = Some(timeout);
        self
    }

    /// Makes [`build`](Self::build) wait for the first update for as long as it takes.
    pub fn wait_forever(mut self) -> Self {
        self.first_update_timeout = None;
        self
    }

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

    /// The retry schedule after a failure (default: from 200 ms, doubling, at most 10 s,
    /// with jitter).
    pub fn backoff(mut self, policy: BackoffPolicy) -> Self {
        self.backoff = policy;
        self
    }

    /// The retry schedule while the agent has issued no identity (default: from 1 s,
    /// doubling, at most 30 s, with jitter).
    pub fn slow_backoff(mut self, policy: BackoffPolicy) -> Self {
        self.slow_backoff = policy;
        self
    }

    /// Starts the source and waits until it holds an SVID the picker accepts.
    ///
    /// Must be called within a Tokio runtime: the source's task runs on it.
    ///
    /// # Errors
    ///
    /// - [`SourceError::NoEndpoint`] at once when there is no address at all;
    /// - [`SourceError::Client`] for a malformed address;
    /// - [`SourceError::Rejected`] when the agent refuses the request for good;
    /// - [`SourceError::FirstUpdateTimeout`] when no usable update arrived in time, with the
    ///   number of attempts and the last error (socket missing, refused, no identity issued).
    pub async fn build(self) -> Result<X509Source, SourceError> {
        let client = match (self.client, self.endpoint) {
            (Some(client), _) => client,
            (None, Some(endpoint)) => {
                let address = Address::parse(&endpoint)
                    .map_err(|e| client_error(WorkloadApiError::InvalidAddress(e)))?;
                WorkloadApiClient::new(address).map_err(client_error)?
            }
            (None, None) => WorkloadApiClient::from_env().map_err(client_error)?,
        };

        let (tx, rx) = watch::channel(0);
        let shared = Arc::new(Shared {
            current: ArcSwap::from_pointee(X509Snapshot::pending()),
            updates: rx,
            diagnostics: Mutex::new(Diagnostics::default()),
        });
        let (close_tx, close_rx) = oneshot::channel();

        let task = Task {
            shared: Arc::clone(&shared),
            client,
            picker: self.picker,
            backoff: Backoff::new(self.backoff),
            slow: Backoff::new(self.slow_backoff),
            updates: tx,
            closed: close_rx,
            expiry: None,
        };
        let handle = Arc::new(Handle {
            shared,
            close: Mutex::new(Some(close_tx)),
            task: Mutex::new(Some(tokio::spawn(task.run()))),
        });
        let source = X509Source { handle };

        match self.first_update_timeout {
            Some(timeout) => match tokio::time::timeout(timeout, source.first_update()).await {
                Ok(result) => result?,
                Err(_) => {
                    let error = {
                        let diagnostics = source.handle.shared.diagnostics.lock();
                        SourceError::FirstUpdateTimeout {
                            timeout,
                            attempts: diagnostics.attempts,
                            last_error: diagnostics.last_error.clone(),
                            held: source.snapshot().health.clone(),
                        }
                    };
                    source.close().await;
                    return Err(error);
                }
            },
            None => source.first_update().await?,
        }
        Ok(source)
    }
}

fn client_error(error: WorkloadApiError) -> SourceError {
    match error {
        WorkloadApiError::NoEndpoint => SourceError::NoEndpoint,
        other => SourceError::Client(Arc::new(other)),
    }
}

impl X509Source {
    /// Waits until a snapshot can serve an SVID, or the task stops for good.
    async fn first_update(&self) -> Result<(), SourceError> {
        let mut rx = self.handle.shared.updates.clone();
        loop {
            if self.snapshot().health == Health::Ready {
                return Ok(());
            }
            if rx.changed().await.is_err() {
                let stopped = self.handle.shared.diagnostics.lock().stopped.clone();
                return Err(stopped.unwrap_or(SourceError::Closed));
            }
        }
    }
}

/// What ended one stream.
enum StreamEnd {
    /// The source is closing.
    Closed,
    /// The agent ended the stream with OK.
    Clean { received: bool },
    /// The stream failed with this error.
    Failed(WorkloadApiError, bool),
}

/// The background task behind one source.
struct Task {
    shared: Arc<Shared>,
    client: WorkloadApiClient,
    picker: SvidPicker,
    backoff: Backoff,
    /// The slower schedule used while the agent has no identity for us.
    slow: Backoff,
    updates: watch::Sender<u64>,
    closed: oneshot::Receiver<()>,
    /// When the default SVID expires.
    expiry: Option<Instant>,
}

impl Task {
    async fn run(mut self) {
        tracing::trace!("x509 source started");
        loop {
            self.shared.diagnostics.lock().attempts += 1;
            let opened = tokio::select! {
                biased;
                _ = &mut self.closed => break,
                opened = self.client.watch_x509_context() => opened,
            };

            let (error, received) = match opened {
                Ok(stream) => match self.follow(stream).await {
                    StreamEnd::Closed => break,
                    StreamEnd::Clean { received: true } => {
                        tracing::trace!("x509 stream ended by the agent; reopening");
                        continue;
                    }
                    StreamEnd::Clean { received: false } => {
                        let delay = self.backoff.next_delay();
                        if !self.wait(delay).await {
                            break;
                        }
                        continue;
                    }
                    StreamEnd::Failed(error, received) => (error, received),
                },
                Err(error) => (error, false),
            };
            if received {
                self.backoff.reset();
            }

            if !self.retry_after(error).await {
                break;
            }
        }
        self.client.close();
        tracing::trace!("x509 source stopped");
    }

    /// Handles a failed open or stream; returns false when the task must end.
    async fn retry_after(&mut self, error: WorkloadApiError) -> bool {
        let class = error.retry();
        let error = Arc::new(error);
        self.shared.diagnostics.lock().last_error = Some(Arc::clone(&error));

        let delay = match class {
            RetryClass::Stop => return false,
            RetryClass::Never => {
                tracing::warn!(%error, "the Workload API refused the X.509 stream; giving up");
                self.shared.diagnostics.lock().stopped = Some(SourceError::Rejected(error));
                return false;
            }
            RetryClass::Slow => {
                if self.shared.current.load().health == Health::Ready {
                    tracing::warn!(%error, "the agent revoked this workload's identity");
                    self.revoke();
                }
                self.slow.next_delay()
            }
            RetryClass::Reconnect => {
                // A fresh client has a fresh connection; a client on a caller's own channel
                // has no address and keeps its channel.
                let fresh = self.client.address().cloned().map(WorkloadApiClient::new);
                if let Some(Ok(client)) = fresh {
                    self.client.close();
                    self.client = client;
                }
                self.backoff.next_delay()
            }
            _ => self.backoff.next_delay(),
        };
        tracing::debug!(%error, ?delay, "x509 stream failed; retrying");
        self.wait(delay).await
    }

    /// Reads one stream until it ends.
    async fn follow(&mut self, mut stream: X509ContextStream) -> StreamEnd {
        tracing::trace!("x509 stream open");
        let mut received = false;
        loop {
            let expiry = self.expiry;
            let item = tokio::select! {
                biased;
                _ = &mut self.closed => return StreamEnd::Closed,
                _ = sleep_until(expiry) => {
                    self.expire();
                    continue;
                }
                item = stream.next() => item,
            };

            match item {
                None => return StreamEnd::Clean { received },
                Some(Ok(context)) => {
                    received = true;
                    self.shared.diagnostics.lock().last_error = None;
                    self.backoff.reset();
                    self.slow.reset();
                    self.apply(context);
                }
                Some(Err(error @ WorkloadApiError::InvalidResponse(_))) => {
                    // Workspace policy, "Sources": a bad update is rejected whole.
                    tracing::warn!(%error, "rejected an X.509 update; keeping the last good state");
                    self.shared.diagnostics.lock().last_error = Some(Arc::new(error));
                }
                Some(Err(error)) => return StreamEnd::Failed(error, received),
            }
        }
    }

    /// Sleeps for `delay`, handling expiry meanwhile; false when the source is closing.
    async fn wait(&mut self, delay: Duration) -> bool {
        let deadline = Instant::now() + delay;
        loop {
            let expiry = self.expiry.filter(|e| *e < deadline);
            tokio::select! {
                biased;
                _ = &mut self.closed => return false,
                _ = sleep_until(expiry) => self.expire(),
                _ = tokio::time::sleep_until(deadline) => return true,
            }
        }
    }

    fn apply(&mut self, context: X509Context) {
        if context.svids.is_empty() {
            // Workspace policy, "Sources": an update without SVIDs revokes the identity.
            if self.shared.current.load().health != Health::Revoked {
                tracing::warn!("the agent sent an update without SVIDs: identity revoked");
                self.revoke();
            }
            return;
        }

        let current = self.shared.current.load_full();
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

    /// Stops serving SVIDs, keeps the bundles.
    fn revoke(&mut self) {
        let current = self.shared.current.load_full();
        self.expiry = None;
        self.publish(X509Snapshot {
            svids: Vec::new(),
            default: None,
            bundles: current.bundles.clone(),
            health: Health::Revoked,
            generation: current.generation + 1,
        });
    }

    /// Marks the default SVID expired.
    fn expire(&mut self) {
        self.expiry = None;
        let current = self.shared.current.load_full();
        if current.health != Health::Ready {
            return;
        }
        tracing::warn!(id = ?current.spiffe_id(), "the X.509-SVID expired before a new one arrived");
        self.publish(X509Snapshot {
            svids: current.svids.clone(),
            default: current.default,
            bundles: current.bundles.clone(),
            health: Health::Expired,
            generation: current.generation + 1,
        });
    }

    fn publish(&self, snapshot: X509Snapshot) {
        let generation = snapshot.generation;
        self.shared.current.store(Arc::new(snapshot));
        self.updates.send_replace(generation);
    }
}

/// Whether an update carries the same SVIDs and bundles as the snapshot, in any order.
fn same_material(current: &X509Snapshot, context: &X509Context) -> bool {
    current.svids.len() == context.svids.len()
        && context
            .svids
            .iter()
            .all(|new| current.svids.iter().any(|old| same_svid(old, new)))
        && current.bundles.same_authorities(&context.bundles)
}

fn same_svid(a: &X509Svid, b: &X509Svid) -> bool {
    a.chain() == b.chain()
        && a.hint() == b.hint()
        && a.private_key().secret_der() == b.private_key().secret_der()
}

/// The Tokio instant at which the wall-clock time `at` arrives (now, if it has passed).
fn instant_at(at: SystemTime) -> Instant {
    let left = at
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    Instant::now() + left
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => futures::future::pending().await,
    }
}
