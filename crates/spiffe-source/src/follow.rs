//! What every source shares: one background task that follows one Workload API stream,
//! hands each message to a handler, and after a failure waits on the schedule the error calls
//! for; the handle that closes the task; and the wait for the first usable update.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use parking_lot::Mutex;
use spiffe_workload_api::{
    Address, Backoff, BackoffPolicy, RetryClass, WorkloadApiClient, WorkloadApiError,
};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::{Health, SourceError};

/// How long a source's `build` waits for the first update unless told otherwise.
pub const DEFAULT_FIRST_UPDATE_TIMEOUT: Duration = Duration::from_secs(30);

/// What a stream's messages do to a source.
pub(crate) trait Handler: Send + 'static {
    /// One message of the stream, already parsed.
    type Message: Send + 'static;
    /// The stream the client opens.
    type Stream: Stream<Item = Result<Self::Message, WorkloadApiError>> + Send + Unpin + 'static;

    /// Names the stream in logs.
    const NAME: &'static str;

    /// Opens the stream.
    fn open(
        client: &WorkloadApiClient,
    ) -> impl Future<Output = Result<Self::Stream, WorkloadApiError>> + Send + '_;

    /// Applies a message (every message is the full state).
    fn apply(&mut self, message: Self::Message);

    /// The agent answered PermissionDenied: it has no identity for this workload (any more).
    fn denied(&mut self) {}

    /// A moment at which [`deadline_passed`](Self::deadline_passed) must run, such as an
    /// SVID's expiry.
    fn deadline(&self) -> Option<Instant> {
        None
    }

    /// The deadline passed with no newer message.
    fn deadline_passed(&mut self) {}
}

/// What the task learned about its attempts, for error messages.
#[derive(Default)]
pub(crate) struct Diagnostics {
    pub(crate) attempts: u32,
    /// The last failure since the last good message.
    pub(crate) last_error: Option<Arc<WorkloadApiError>>,
    /// Why the task stopped for good.
    pub(crate) stopped: Option<SourceError>,
}

/// The builder methods every source shares: where the Workload API is, how long the first
/// update may take, how to retry. Expands inside an `impl` of a builder with a
/// `connection: Connection` field.
macro_rules! connection_setters {
    () => {
        /// The Workload API address, such as `unix:///run/spire/agent.sock`. It wins over
        /// `SPIFFE_ENDPOINT_SOCKET`.
        pub fn endpoint(mut self, address: impl Into<String>) -> Self {
            self.connection.endpoint = Some(address.into());
            self
        }

        /// Uses this client instead of creating one (for a custom channel or settings).
        pub fn client(mut self, client: spiffe_workload_api::WorkloadApiClient) -> Self {
            self.connection.client = Some(client);
            self
        }

        /// How long [`build`](Self::build) waits for the first usable update (default 30 s).
        pub fn first_update_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.connection.first_update_timeout = Some(timeout);
            self
        }

        /// Makes [`build`](Self::build) wait for the first update for as long as it takes.
        pub fn wait_forever(mut self) -> Self {
            self.connection.first_update_timeout = None;
            self
        }

        /// The retry schedule after a failure (default: from 200 ms, doubling, at most 10 s,
        /// with jitter).
        pub fn backoff(mut self, policy: spiffe_workload_api::BackoffPolicy) -> Self {
            self.connection.backoff = policy;
            self
        }

        /// The retry schedule while the agent has issued no identity (default: from 1 s,
        /// doubling, at most 30 s, with jitter).
        pub fn slow_backoff(mut self, policy: spiffe_workload_api::BackoffPolicy) -> Self {
            self.connection.slow_backoff = policy;
            self
        }
    };
}

pub(crate) use connection_setters;

/// Where a source finds the Workload API and how it retries; shared by the source builders.
#[derive(Clone, Debug)]
pub(crate) struct Connection {
    pub(crate) endpoint: Option<String>,
    pub(crate) client: Option<WorkloadApiClient>,
    pub(crate) first_update_timeout: Option<Duration>,
    pub(crate) backoff: BackoffPolicy,
    pub(crate) slow_backoff: BackoffPolicy,
}

impl Default for Connection {
    fn default() -> Self {
        Self {
            endpoint: None,
            client: None,
            first_update_timeout: Some(DEFAULT_FIRST_UPDATE_TIMEOUT),
            backoff: BackoffPolicy::DEFAULT,
            slow_backoff: BackoffPolicy::SLOW,
        }
    }
}

impl Connection {
    /// The given client, or one for the given endpoint, or one from `SPIFFE_ENDPOINT_SOCKET`.
    /// Every builder calls this first, so it is also where a missing Tokio runtime is reported
    /// (as an error, rather than the panic `tokio::spawn` would raise later).
    pub(crate) fn client(&self) -> Result<WorkloadApiClient, SourceError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(SourceError::NoRuntime);
        }
        match (&self.client, &self.endpoint) {
            (Some(client), _) => Ok(client.clone()),
            (None, Some(endpoint)) => {
                let address = Address::parse(endpoint)
                    .map_err(|e| client_error(WorkloadApiError::InvalidAddress(e)))?;
                WorkloadApiClient::new(address).map_err(client_error)
            }
            (None, None) => WorkloadApiClient::from_env().map_err(client_error),
        }
    }
}

fn client_error(error: WorkloadApiError) -> SourceError {
    match error {
        WorkloadApiError::NoEndpoint => SourceError::NoEndpoint,
        other => SourceError::Client(Arc::new(other)),
    }
}

/// Owned by the clones of one source; dropping the last one stops the background task.
pub(crate) struct Lifecycle {
    close: Mutex<Option<oneshot::Sender<()>>>,
    task: Mutex<Option<JoinHandle<()>>>,
    diagnostics: Arc<Mutex<Diagnostics>>,
    /// Generation numbers; the sender lives in the task, so receivers learn when it ends.
    updates: watch::Receiver<u64>,
    /// The name of the stream the task follows, for errors.
    stream: &'static str,
}

impl Lifecycle {
    /// Spawns the task that follows `H`'s stream. `updates` is the receiver of the sender
    /// the handler publishes on.
    pub(crate) fn spawn<H: Handler>(
        handler: H,
        connection: &Connection,
        client: WorkloadApiClient,
        updates: watch::Receiver<u64>,
    ) -> Self {
        let diagnostics = Arc::new(Mutex::new(Diagnostics::default()));
        let (close_tx, close_rx) = oneshot::channel();
        let follower = Follower {
            handler,
            client,
            backoff: Backoff::new(connection.backoff),
            slow: Backoff::new(connection.slow_backoff),
            short_streams: Backoff::new(connection.backoff),
            last_stream_short: false,
            closed: close_rx,
            diagnostics: Arc::clone(&diagnostics),
        };
        Self {
            close: Mutex::new(Some(close_tx)),
            task: Mutex::new(Some(tokio::spawn(follower.run()))),
            diagnostics,
            updates,
            stream: H::NAME,
        }
    }

    /// A receiver of generation numbers that has seen the current one.
    pub(crate) fn updates(&self) -> watch::Receiver<u64> {
        let mut rx = self.updates.clone();
        rx.mark_unchanged();
        rx
    }

    pub(crate) fn stopped(&self) -> Option<SourceError> {
        self.diagnostics.lock().stopped.clone()
    }

    /// Ends the stream and the task, and waits for the task to finish.
    pub(crate) async fn close(&self) {
        self.close.lock().take();
        self.diagnostics
            .lock()
            .stopped
            .get_or_insert(SourceError::Closed);
        let task = self.task.lock().take();
        if let Some(task) = task {
            // The task only ends by returning; a join error would mean it panicked, which it
            // has no way to do, or that the runtime is shutting down.
            let _ = task.await;
        }
    }

    /// Waits until `ready()` holds, for at most `timeout`. On timeout the task is closed and
    /// the error says what `held()` was, how many attempts were made and the last error.
    pub(crate) async fn wait_ready(
        &self,
        timeout: Option<Duration>,
        ready: impl Fn() -> bool,
        held: impl Fn() -> Health,
    ) -> Result<(), SourceError> {
        let mut rx = self.updates.clone();
        let until_ready = async {
            loop {
                if ready() {
                    return Ok(());
                }
                if rx.changed().await.is_err() {
                    return Err(self.stopped().unwrap_or(SourceError::Closed));
                }
            }
        };

        let Some(timeout) = timeout else {
            return until_ready.await;
        };
        if let Ok(result) = tokio::time::timeout(timeout, until_ready).await {
            return result;
        }
        let error = {
            let diagnostics = self.diagnostics.lock();
            SourceError::FirstUpdateTimeout {
                stream: self.stream,
                timeout,
                attempts: diagnostics.attempts,
                last_error: diagnostics.last_error.clone(),
                held: held(),
            }
        };
        self.close().await;
        Err(error)
    }
}

impl Drop for Lifecycle {
    fn drop(&mut self) {
        // Dropping the sender wakes the task, which ends its stream and returns.
        self.close.lock().take();
    }
}

/// A stream the agent ends cleanly is reopened at once (workspace policy, "Workload API
/// client"), unless it and the one before it both ended sooner than this after opening: then
/// reopening backs off as after a failure.
const SHORT_STREAM: Duration = Duration::from_secs(1);

/// What ended one stream.
enum StreamEnd {
    /// The source is closing.
    Closed,
    /// The agent ended the stream with OK.
    Clean { received: bool },
    /// The stream failed.
    Failed(WorkloadApiError),
}

/// The background task of one source.
struct Follower<H> {
    handler: H,
    client: WorkloadApiClient,
    backoff: Backoff,
    /// The slower schedule used while the agent has no identity for us.
    slow: Backoff,
    /// The schedule for streams the agent ends cleanly within [`SHORT_STREAM`] of opening,
    /// twice or more in a row.
    short_streams: Backoff,
    /// Whether the last stream the agent ended cleanly was short.
    last_stream_short: bool,
    closed: oneshot::Receiver<()>,
    diagnostics: Arc<Mutex<Diagnostics>>,
}

impl<H: Handler> Follower<H> {
    async fn run(mut self) {
        tracing::trace!(stream = H::NAME, "source started");
        loop {
            self.diagnostics.lock().attempts += 1;
            let opened = tokio::select! {
                biased;
                _ = &mut self.closed => break,
                opened = H::open(&self.client) => opened,
            };

            let opened_at = Instant::now();
            let error = match opened {
                Ok(stream) => match self.follow(stream).await {
                    StreamEnd::Closed => break,
                    StreamEnd::Clean { received: true } => {
                        // Reopened at once (workspace policy), except when the last stream
                        // was short too: an agent that ends every stream right after its
                        // first message would otherwise drive thousands of opens a second.
                        let short = opened_at.elapsed() < SHORT_STREAM;
                        let again = short && self.last_stream_short;
                        self.last_stream_short = short;
                        if !short {
                            self.short_streams.reset();
                        }
                        if !again {
                            tracing::trace!(
                                stream = H::NAME,
                                "stream ended by the agent; reopening"
                            );
                            continue;
                        }
                        let delay = self.short_streams.next_delay();
                        tracing::debug!(
                            stream = H::NAME,
                            ?delay,
                            "the agent keeps ending streams right after opening them; backing off"
                        );
                        if !self.wait(delay).await {
                            break;
                        }
                        continue;
                    }
                    StreamEnd::Clean { received: false } => {
                        let delay = self.backoff.next_delay();
                        if !self.wait(delay).await {
                            break;
                        }
                        continue;
                    }
                    StreamEnd::Failed(error) => error,
                },
                Err(error) => error,
            };

            if !self.retry_after(error).await {
                break;
            }
        }
        self.client.close();
        tracing::trace!(stream = H::NAME, "source stopped");
    }

    /// Handles a failed open or stream; returns false when the task must end.
    async fn retry_after(&mut self, error: WorkloadApiError) -> bool {
        let class = error.retry();
        let error = Arc::new(error);
        self.diagnostics.lock().last_error = Some(Arc::clone(&error));

        let delay = match class {
            RetryClass::Stop => return false,
            RetryClass::Never => {
                tracing::warn!(
                    stream = H::NAME,
                    %error,
                    "the Workload API refused the stream; giving up"
                );
                self.diagnostics.lock().stopped = Some(SourceError::Rejected(error));
                return false;
            }
            RetryClass::Slow => {
                self.handler.denied();
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
        tracing::debug!(stream = H::NAME, %error, ?delay, "stream failed; retrying");
        self.wait(delay).await
    }

    /// Reads one stream until it ends.
    async fn follow(&mut self, mut stream: H::Stream) -> StreamEnd {
        tracing::trace!(stream = H::NAME, "stream open");
        let mut received = false;
        loop {
            let deadline = self.handler.deadline();
            let item = tokio::select! {
                biased;
                _ = &mut self.closed => return StreamEnd::Closed,
                () = sleep_until(deadline) => {
                    self.handler.deadline_passed();
                    continue;
                }
                item = stream.next() => item,
            };

            match item {
                None => return StreamEnd::Clean { received },
                Some(Ok(message)) => {
                    received = true;
                    self.diagnostics.lock().last_error = None;
                    self.backoff.reset();
                    self.slow.reset();
                    self.handler.apply(message);
                }
                Some(Err(error @ WorkloadApiError::InvalidResponse(_))) => {
                    // Workspace policy, "Sources": a bad update is rejected whole.
                    tracing::warn!(
                        stream = H::NAME,
                        %error,
                        "rejected an update; keeping the last good state"
                    );
                    self.diagnostics.lock().last_error = Some(Arc::new(error));
                }
                Some(Err(error)) => return StreamEnd::Failed(error),
            }
        }
    }

    /// Sleeps for `delay`, minding the handler's deadline; false when the source is closing.
    async fn wait(&mut self, delay: Duration) -> bool {
        let until = Instant::now() + delay;
        loop {
            let deadline = self.handler.deadline().filter(|d| *d < until);
            tokio::select! {
                biased;
                _ = &mut self.closed => return false,
                () = sleep_until(deadline) => self.handler.deadline_passed(),
                () = tokio::time::sleep_until(until) => return true,
            }
        }
    }
}

/// The Tokio instant at which the wall-clock time `at` arrives (now, if it has passed).
pub(crate) fn instant_at(at: std::time::SystemTime) -> Instant {
    let left = at
        .duration_since(std::time::SystemTime::now())
        .unwrap_or(Duration::ZERO);
    Instant::now() + left
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => futures::future::pending().await,
    }
}
