//! The Workload API client: connection, security header, deadlines, fetches and watches.

use std::ffi::OsString;
use std::fmt;
use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use futures::stream::{BoxStream, Stream, StreamExt};
use serde_json::{Map, Value};
use spiffe_bundle::{JwtBundleSet, X509BundleSet};
use spiffe_id::SpiffeId;
use spiffe_svid::JwtSvid;
use tokio::sync::watch;
use tonic::codec::Streaming;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::address::{Address, ENDPOINT_SOCKET_ENV};
use crate::convert::{self, X509Context};
use crate::error::WorkloadApiError;
use crate::proto;
use crate::proto::spiffe_workload_api_client::SpiffeWorkloadApiClient;

/// How long a one-shot call waits for the agent's answer unless configured otherwise
/// (SPEC-POLICY: unary calls have a default deadline of 30 s). Watches never have a deadline.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

/// The largest message accepted from the agent: 4 MiB, gRPC's customary default. A response
/// with several SVIDs and federated bundles is a few tens of KiB; anything near this is hostile
/// or broken and is refused before decoding.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// How long one dial of the endpoint may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// SPIFFE Workload Endpoint §2: every request carries this metadata with the value `true`.
const SECURITY_HEADER: &str = "workload.spiffe.io";

type Transport = InterceptedService<Channel, SecurityHeader>;
type Grpc = SpiffeWorkloadApiClient<Transport>;

/// Sets `workload.spiffe.io: true` on every request, replacing any value already there, so a
/// request carries the header exactly once whatever channel it travels on.
#[derive(Clone, Copy, Debug)]
struct SecurityHeader;

impl tonic::service::Interceptor for SecurityHeader {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert(
            SECURITY_HEADER,
            tonic::metadata::MetadataValue::from_static("true"),
        );
        Ok(request)
    }
}

/// A client of the SPIFFE Workload API.
///
/// Creating a client does not connect: the endpoint is dialled on the first call, and dialled
/// again (the socket path resolved anew) whenever the connection has to be re-established.
/// Clones share one connection and one [`close`](Self::close) state.
///
/// One-shot calls ([`fetch_x509_context`](Self::fetch_x509_context),
/// [`fetch_x509_bundles`](Self::fetch_x509_bundles), [`fetch_jwt_bundles`](Self::fetch_jwt_bundles))
/// and the unary JWT calls ([`fetch_jwt_svids`](Self::fetch_jwt_svids),
/// [`validate_jwt_svid`](Self::validate_jwt_svid)) give up after a deadline,
/// [`DEFAULT_DEADLINE`] unless configured; watches never time out.
#[derive(Clone)]
pub struct WorkloadApiClient {
    inner: Arc<Inner>,
}

struct Inner {
    connection: Connection,
    grpc: OnceLock<Grpc>,
    address: Option<Address>,
    deadline: Duration,
    closed: watch::Sender<bool>,
}

enum Connection {
    /// Our own endpoint; the channel is made on first use, inside the caller's runtime.
    Endpoint(Box<Endpoint>),
    /// A channel the user supplied.
    Channel(Channel),
}

/// Configures a [`WorkloadApiClient`].
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    address: Option<Address>,
    deadline: Duration,
}

impl ClientBuilder {
    fn new() -> Self {
        Self {
            address: None,
            deadline: DEFAULT_DEADLINE,
        }
    }

    /// The endpoint to use; it takes precedence over `SPIFFE_ENDPOINT_SOCKET`.
    pub fn address(mut self, address: Address) -> Self {
        self.address = Some(address);
        self
    }

    /// The deadline of one-shot calls (default [`DEFAULT_DEADLINE`]). Watches have none.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Builds the client, reading `SPIFFE_ENDPOINT_SOCKET` when no address was set. Does not
    /// connect.
    ///
    /// # Errors
    ///
    /// [`WorkloadApiError::NoEndpoint`] when there is neither an address nor the variable,
    /// [`WorkloadApiError::InvalidAddress`] when the variable holds a malformed address.
    pub fn build(self) -> Result<WorkloadApiClient, WorkloadApiError> {
        let address = resolve_address(self.address, std::env::var_os(ENDPOINT_SOCKET_ENV))?;
        let endpoint = endpoint_for(&address);
        Ok(WorkloadApiClient::from_parts(
            Connection::Endpoint(Box::new(endpoint)),
            Some(address),
            self.deadline,
        ))
    }

    /// Builds the client on a channel the caller made (a tonic integration point). The
    /// security header is still added to every request. Any address set on the builder is
    /// used only in error messages.
    pub fn build_with_channel(self, channel: Channel) -> WorkloadApiClient {
        WorkloadApiClient::from_parts(Connection::Channel(channel), self.address, self.deadline)
    }
}

/// The explicit address wins; otherwise the environment; otherwise a typed error, at once.
fn resolve_address(
    explicit: Option<Address>,
    env: Option<OsString>,
) -> Result<Address, WorkloadApiError> {
    if let Some(address) = explicit {
        return Ok(address);
    }
    let Some(value) = env else {
        return Err(WorkloadApiError::NoEndpoint);
    };
    let Some(value) = value.to_str() else {
        return Err(WorkloadApiError::InvalidAddress(
            crate::AddressError::MissingScheme,
        ));
    };
    Ok(Address::parse(value)?)
}

fn endpoint_for(address: &Address) -> Endpoint {
    match address.tcp_addr() {
        Some(addr) => Endpoint::from(tcp_uri(addr)),
        // The authority of a Unix endpoint's URI is never dialled; the connector is.
        None => Endpoint::from_static("http://localhost"),
    }
    .connect_timeout(CONNECT_TIMEOUT)
}

fn tcp_uri(addr: std::net::SocketAddr) -> http::Uri {
    http::Uri::builder()
        .scheme("http")
        .authority(addr.to_string())
        .path_and_query("/")
        .build()
        // A socket address always forms a valid authority; fall back to a URI that fails to
        // dial rather than panic should that ever change.
        .unwrap_or_else(|_| http::Uri::from_static("http://0.0.0.0:0/"))
}

impl WorkloadApiClient {
    /// A client for `address`. Does not connect.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for address checks that need the platform.
    pub fn new(address: Address) -> Result<Self, WorkloadApiError> {
        Self::builder().address(address).build()
    }

    /// A client for the address in `SPIFFE_ENDPOINT_SOCKET`. Does not connect.
    ///
    /// # Errors
    ///
    /// [`WorkloadApiError::NoEndpoint`] when the variable is not set,
    /// [`WorkloadApiError::InvalidAddress`] when it is malformed.
    pub fn from_env() -> Result<Self, WorkloadApiError> {
        Self::builder().build()
    }

    /// A client on a tonic [`Channel`] the caller made, for custom transports. The security
    /// header is added to every request all the same.
    pub fn from_channel(channel: Channel) -> Self {
        Self::builder().build_with_channel(channel)
    }

    /// A builder for the options of a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    fn from_parts(connection: Connection, address: Option<Address>, deadline: Duration) -> Self {
        let (closed, _) = watch::channel(false);
        let inner = Inner {
            connection,
            grpc: OnceLock::new(),
            address,
            deadline,
            closed,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The endpoint address, unless the client was built on a caller's channel without one.
    pub fn address(&self) -> Option<&Address> {
        self.inner.address.as_ref()
    }

    /// Fetches the current X.509 context (SVIDs and bundles) once.
    ///
    /// Opens an `FetchX509SVID` stream, takes its first message and cancels the stream.
    /// The context may hold no SVIDs: that is how an agent signals a revoked identity.
    ///
    /// # Errors
    ///
    /// [`WorkloadApiError::Closed`] after [`close`](Self::close), a connection error, the
    /// classified gRPC status, [`WorkloadApiError::DeadlineExceeded`] when no message came
    /// within the deadline, or [`WorkloadApiError::InvalidResponse`].
    pub async fn fetch_x509_context(&self) -> Result<X509Context, WorkloadApiError> {
        let message = self
            .fetch_first(|mut grpc, deadline| async move {
                grpc.fetch_x509svid(request(proto::X509svidRequest {}, deadline))
                    .await
                    .map(tonic::Response::into_inner)
            })
            .await?;
        convert::x509_context(&message).map_err(|e| invalid_response(e, "x509 context"))
    }

    /// Watches the X.509 context: every message the agent sends becomes an item.
    ///
    /// A message that cannot be read yields an [`WorkloadApiError::InvalidResponse`] item and
    /// the stream goes on; a gRPC status yields its error as the last item; a clean end of
    /// the agent's stream ends the stream; [`close`](Self::close) yields
    /// [`WorkloadApiError::Closed`] and ends it.
    ///
    /// # Errors
    ///
    /// [`WorkloadApiError::Closed`], a connection error or the classified gRPC status when
    /// the stream cannot be opened.
    pub async fn watch_x509_context(&self) -> Result<X509ContextStream, WorkloadApiError> {
        let messages = self
            .open(|mut grpc, deadline| async move {
                grpc.fetch_x509svid(request(proto::X509svidRequest {}, deadline))
                    .await
                    .map(tonic::Response::into_inner)
            })
            .await?;
        let items = self.watch(messages).map(|item| {
            item.and_then(|m| {
                convert::x509_context(&m).map_err(|e| invalid_response(e, "x509 context"))
            })
        });
        Ok(X509ContextStream {
            items: items.boxed(),
        })
    }

    /// Fetches the X.509 bundles once (`FetchX509Bundles`, first message, then cancelled).
    ///
    /// # Errors
    ///
    /// As [`fetch_x509_context`](Self::fetch_x509_context).
    pub async fn fetch_x509_bundles(&self) -> Result<X509BundleSet, WorkloadApiError> {
        let message = self
            .fetch_first(|mut grpc, deadline| async move {
                grpc.fetch_x509_bundles(request(proto::X509BundlesRequest {}, deadline))
                    .await
                    .map(tonic::Response::into_inner)
            })
            .await?;
        convert::x509_bundles(&message).map_err(|e| invalid_response(e, "x509 bundles"))
    }

    /// Watches the X.509 bundles; items behave as in
    /// [`watch_x509_context`](Self::watch_x509_context).
    ///
    /// # Errors
    ///
    /// As [`watch_x509_context`](Self::watch_x509_context).
    pub async fn watch_x509_bundles(&self) -> Result<X509BundlesStream, WorkloadApiError> {
        let messages = self
            .open(|mut grpc, deadline| async move {
                grpc.fetch_x509_bundles(request(proto::X509BundlesRequest {}, deadline))
                    .await
                    .map(tonic::Response::into_inner)
            })
            .await?;
        let items = self.watch(messages).map(|item| {
            item.and_then(|m| {
                convert::x509_bundles(&m).map_err(|e| invalid_response(e, "x509 bundles"))
            })
        });
        Ok(X509BundlesStream {
            items: items.boxed(),
        })
    }

    /// Fetches JWT-SVIDs for `audience` (unary `FetchJWTSVID`): one per identity of the
    /// workload, or only the one for `spiffe_id` when given.
    ///
    /// Each token is read with [`JwtSvid::parse_insecure`]: the agent is the trusted source
    /// of its own tokens, so the signature is not checked here. The hint is kept. The call
    /// carries the client's deadline.
    ///
    /// # Errors
    ///
    /// [`WorkloadApiError::EmptyAudience`] for an empty `audience` or an empty value in it,
    /// before any call; [`WorkloadApiError::Closed`], a connection error, the classified gRPC
    /// status (PermissionDenied: [`WorkloadApiError::NoIdentityIssued`]),
    /// [`WorkloadApiError::DeadlineExceeded`]; [`WorkloadApiError::InvalidResponse`] when the
    /// answer holds no SVID ([`ResponseError::NoJwtSvids`](crate::ResponseError::NoJwtSvids)),
    /// a token that is not a JWT-SVID, an SVID for another SPIFFE ID than declared or
    /// requested, without one of the requested audiences, or expired (or not yet valid) by
    /// more than [`JWT_CLOCK_SKEW`](crate::JWT_CLOCK_SKEW).
    pub async fn fetch_jwt_svids(
        &self,
        audience: &[&str],
        spiffe_id: Option<&SpiffeId>,
    ) -> Result<Vec<JwtSvid>, WorkloadApiError> {
        if audience.is_empty() || audience.iter().any(|a| a.is_empty()) {
            return Err(WorkloadApiError::EmptyAudience);
        }
        let message = proto::JwtsvidRequest {
            audience: audience.iter().map(|a| (*a).to_owned()).collect(),
            spiffe_id: spiffe_id.map(ToString::to_string).unwrap_or_default(),
        };

        let response = self
            .unary(|mut grpc, deadline| async move {
                grpc.fetch_jwtsvid(request(message, Some(deadline))).await
            })
            .await?;
        convert::jwt_svids(&response, spiffe_id, audience, SystemTime::now())
            .map_err(|e| invalid_response(e, "jwt-svid"))
    }

    /// Fetches one JWT-SVID for `audience`: the first the agent returns (the one for
    /// `spiffe_id` when given).
    ///
    /// # Errors
    ///
    /// As [`fetch_jwt_svids`](Self::fetch_jwt_svids).
    pub async fn fetch_jwt_svid(
        &self,
        audience: &[&str],
        spiffe_id: Option<&SpiffeId>,
    ) -> Result<JwtSvid, WorkloadApiError> {
        let svids = self.fetch_jwt_svids(audience, spiffe_id).await?;
        // `fetch_jwt_svids` never returns an empty list: zero SVIDs is an invalid response.
        svids
            .into_iter()
            .next()
            .ok_or(WorkloadApiError::InvalidResponse(
                convert::ResponseError::NoJwtSvids,
            ))
    }

    /// Fetches the JWT bundles once (`FetchJWTBundles`, first message, then cancelled).
    ///
    /// A trust domain whose JWK Set is `{"keys":[]}` or empty bytes has an empty bundle.
    ///
    /// # Errors
    ///
    /// As [`fetch_x509_bundles`](Self::fetch_x509_bundles).
    pub async fn fetch_jwt_bundles(&self) -> Result<JwtBundleSet, WorkloadApiError> {
        let message = self
            .fetch_first(|mut grpc, deadline| async move {
                grpc.fetch_jwt_bundles(request(proto::JwtBundlesRequest {}, deadline))
                    .await
                    .map(tonic::Response::into_inner)
            })
            .await?;
        convert::jwt_bundles(&message).map_err(|e| invalid_response(e, "jwt bundles"))
    }

    /// Watches the JWT bundles; items behave as in
    /// [`watch_x509_context`](Self::watch_x509_context).
    ///
    /// # Errors
    ///
    /// As [`watch_x509_context`](Self::watch_x509_context).
    pub async fn watch_jwt_bundles(&self) -> Result<JwtBundlesStream, WorkloadApiError> {
        let messages = self
            .open(|mut grpc, deadline| async move {
                grpc.fetch_jwt_bundles(request(proto::JwtBundlesRequest {}, deadline))
                    .await
                    .map(tonic::Response::into_inner)
            })
            .await?;
        let items = self.watch(messages).map(|item| {
            item.and_then(|m| {
                convert::jwt_bundles(&m).map_err(|e| invalid_response(e, "jwt bundles"))
            })
        });
        Ok(JwtBundlesStream {
            items: items.boxed(),
        })
    }

    /// Asks the agent to validate `token` for `audience` (unary `ValidateJWTSVID`) and
    /// returns the token's SPIFFE ID and claims.
    ///
    /// Integral numbers in the claims (`exp`, `iat`) come back as JSON integers; the
    /// protobuf `Struct` the agent answers with carries every number as a double.
    ///
    /// # Errors
    ///
    /// [`WorkloadApiError::EmptyAudience`] or [`WorkloadApiError::EmptyToken`] before any
    /// call; a token the agent refuses is [`WorkloadApiError::InvalidArgument`]; otherwise as
    /// [`fetch_jwt_svids`](Self::fetch_jwt_svids), with
    /// [`WorkloadApiError::InvalidResponse`] for an answer without a valid SPIFFE ID or
    /// claims.
    pub async fn validate_jwt_svid(
        &self,
        audience: &str,
        token: &str,
    ) -> Result<(SpiffeId, Map<String, Value>), WorkloadApiError> {
        if audience.is_empty() {
            return Err(WorkloadApiError::EmptyAudience);
        }
        if token.is_empty() {
            return Err(WorkloadApiError::EmptyToken);
        }
        let message = proto::ValidateJwtsvidRequest {
            audience: audience.to_owned(),
            svid: token.to_owned(),
        };

        let response = self
            .unary(|mut grpc, deadline| async move {
                grpc.validate_jwtsvid(request(message, Some(deadline)))
                    .await
            })
            .await?;
        convert::validated(&response).map_err(|e| invalid_response(e, "jwt-svid validation"))
    }

    /// Closes the client and all its clones: every later call fails at once with
    /// [`WorkloadApiError::Closed`] without dialling, and open watches end.
    pub fn close(&self) {
        if !self.inner.closed.send_replace(true) {
            tracing::trace!("workload API client closed");
        }
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        *self.inner.closed.borrow()
    }

    fn grpc(&self) -> Result<Grpc, WorkloadApiError> {
        if self.is_closed() {
            return Err(WorkloadApiError::Closed);
        }
        let grpc = self.inner.grpc.get_or_init(|| {
            let channel = match &self.inner.connection {
                Connection::Channel(channel) => channel.clone(),
                Connection::Endpoint(endpoint) => connect_lazy(endpoint, self.address()),
            };
            SpiffeWorkloadApiClient::new(InterceptedService::new(channel, SecurityHeader))
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
        });
        Ok(grpc.clone())
    }

    /// Opens a server stream with no deadline.
    async fn open<M, F, Fut>(&self, call: F) -> Result<Streaming<M>, WorkloadApiError>
    where
        F: FnOnce(Grpc, Option<Duration>) -> Fut,
        Fut: Future<Output = Result<Streaming<M>, tonic::Status>>,
    {
        let grpc = self.grpc()?;
        tracing::trace!(
            address = ?self.address().map(ToString::to_string),
            "opening workload API stream"
        );

        let opened = self.until_closed(call(grpc, None)).await?;
        opened.map_err(|status| self.status_error(&status))
    }

    /// Opens a server stream, takes its first message within the deadline and cancels it
    /// (scenario L9: a one-shot fetch does not leave a stream open on the agent).
    async fn fetch_first<M, F, Fut>(&self, call: F) -> Result<M, WorkloadApiError>
    where
        F: FnOnce(Grpc, Option<Duration>) -> Fut,
        Fut: Future<Output = Result<Streaming<M>, tonic::Status>>,
    {
        let deadline = self.inner.deadline;
        let first = async {
            let grpc = self.grpc()?;
            let mut messages = self
                .until_closed(call(grpc, Some(deadline)))
                .await?
                .map_err(|s| self.status_error(&s))?;

            let first = self.until_closed(messages.message()).await?;
            // Dropping the stream resets it: the agent sees the call cancelled.
            drop(messages);
            match first {
                Ok(Some(message)) => Ok(message),
                Ok(None) => Err(WorkloadApiError::Unavailable {
                    message: "stream ended before the first message".to_string(),
                }),
                Err(status) => Err(self.status_error(&status)),
            }
        };

        match tokio::time::timeout(deadline, first).await {
            Ok(result) => result,
            Err(_) => {
                tracing::debug!(?deadline, "workload API one-shot call hit its deadline");
                Err(WorkloadApiError::DeadlineExceeded)
            }
        }
    }

    /// Makes a unary call within the deadline (`grpc-timeout` plus a local timer).
    async fn unary<M, F, Fut>(&self, call: F) -> Result<M, WorkloadApiError>
    where
        F: FnOnce(Grpc, Duration) -> Fut,
        Fut: Future<Output = Result<tonic::Response<M>, tonic::Status>>,
    {
        let deadline = self.inner.deadline;
        let answer = async {
            let grpc = self.grpc()?;
            self.until_closed(call(grpc, deadline))
                .await?
                .map(tonic::Response::into_inner)
                .map_err(|s| self.status_error(&s))
        };

        // tonic enforces `grpc-timeout` too and may fire first: `from_status` reads its
        // timeout as DeadlineExceeded as well.
        match tokio::time::timeout(deadline, answer).await {
            Ok(result) => result,
            Err(_) => {
                tracing::debug!(?deadline, "workload API unary call hit its deadline");
                Err(WorkloadApiError::DeadlineExceeded)
            }
        }
    }

    /// Runs `fut` unless the client is closed first.
    async fn until_closed<F: Future>(&self, fut: F) -> Result<F::Output, WorkloadApiError> {
        let mut closed = self.inner.closed.subscribe();
        tokio::select! {
            biased;
            () = wait_closed(&mut closed) => Err(WorkloadApiError::Closed),
            output = fut => Ok(output),
        }
    }

    fn watch<M: Send + 'static>(
        &self,
        messages: Streaming<M>,
    ) -> impl Stream<Item = Result<M, WorkloadApiError>> + Send + 'static {
        let state = Watch {
            messages: Some(messages),
            closed: self.inner.closed.subscribe(),
            address: self.inner.address.clone(),
        };
        futures::stream::unfold(state, |mut state| async move {
            let item = state.next().await?;
            Some((item, state))
        })
    }

    fn status_error(&self, status: &tonic::Status) -> WorkloadApiError {
        let err = WorkloadApiError::from_status(status, self.address());
        tracing::debug!(code = ?status.code(), error = %err, "workload API call failed");
        err
    }
}

fn connect_lazy(endpoint: &Endpoint, address: Option<&Address>) -> Channel {
    let Some(path) = address.and_then(Address::unix_path) else {
        return endpoint.connect_lazy();
    };

    // Dial the path on every (re)connect, so an agent that re-creates its socket is found.
    let path: Arc<Path> = Arc::from(path);
    endpoint.connect_with_connector_lazy(tower::service_fn(move |_: http::Uri| {
        let path = Arc::clone(&path);
        async move {
            tracing::trace!(path = %path.display(), "dialling workload API socket");
            let stream = tokio::net::UnixStream::connect(&*path).await?;
            Ok::<_, io::Error>(hyper_util::rt::TokioIo::new(stream))
        }
    }))
}

/// A request, with the `grpc-timeout` header when it has a deadline.
fn request<T>(message: T, deadline: Option<Duration>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(deadline) = deadline {
        request.set_timeout(deadline);
    }
    request
}

fn invalid_response(err: convert::ResponseError, what: &str) -> WorkloadApiError {
    tracing::warn!(error = %err, "workload API sent an invalid {what} response");
    WorkloadApiError::InvalidResponse(err)
}

/// Resolves once the client is closed. Dropping every client handle is not a close: open
/// watches own their connection and go on.
async fn wait_closed(closed: &mut watch::Receiver<bool>) {
    if closed.wait_for(|closed| *closed).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The state of an open watch: the gRPC stream until it ends, and the close signal.
struct Watch<M> {
    messages: Option<Streaming<M>>,
    closed: watch::Receiver<bool>,
    address: Option<Address>,
}

impl<M> Watch<M> {
    async fn next(&mut self) -> Option<Result<M, WorkloadApiError>> {
        let messages = self.messages.as_mut()?;

        let item = tokio::select! {
            biased;
            () = wait_closed(&mut self.closed) => Err(WorkloadApiError::Closed),
            next = messages.message() => match next {
                Ok(Some(message)) => Ok(message),
                Ok(None) => {
                    tracing::trace!("workload API stream ended by the agent");
                    self.messages = None;
                    return None;
                }
                Err(status) => {
                    let err = WorkloadApiError::from_status(&status, self.address.as_ref());
                    tracing::debug!(error = %err, "workload API stream ended with a status");
                    Err(err)
                }
            },
        };

        if item.is_err() {
            // A status or close ends the stream; dropping it cancels the call on the agent.
            self.messages = None;
        }
        Some(item)
    }
}

/// The items of [`WorkloadApiClient::watch_x509_context`].
pub struct X509ContextStream {
    items: BoxStream<'static, Result<X509Context, WorkloadApiError>>,
}

/// The items of [`WorkloadApiClient::watch_x509_bundles`].
pub struct X509BundlesStream {
    items: BoxStream<'static, Result<X509BundleSet, WorkloadApiError>>,
}

/// The items of [`WorkloadApiClient::watch_jwt_bundles`].
pub struct JwtBundlesStream {
    items: BoxStream<'static, Result<JwtBundleSet, WorkloadApiError>>,
}

impl Stream for JwtBundlesStream {
    type Item = Result<JwtBundleSet, WorkloadApiError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.items.poll_next_unpin(cx)
    }
}

impl fmt::Debug for JwtBundlesStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtBundlesStream").finish_non_exhaustive()
    }
}

impl Stream for X509ContextStream {
    type Item = Result<X509Context, WorkloadApiError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.items.poll_next_unpin(cx)
    }
}

impl Stream for X509BundlesStream {
    type Item = Result<X509BundleSet, WorkloadApiError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.items.poll_next_unpin(cx)
    }
}

impl fmt::Debug for WorkloadApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkloadApiClient")
            .field(
                "address",
                &self.inner.address.as_ref().map(ToString::to_string),
            )
            .field("deadline", &self.inner.deadline)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for X509ContextStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("X509ContextStream").finish_non_exhaustive()
    }
}

impl fmt::Debug for X509BundlesStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("X509BundlesStream").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_address_wins_over_the_environment() {
        let explicit = Address::parse("unix:///explicit.sock").unwrap();
        let got = resolve_address(Some(explicit.clone()), Some("unix:///env.sock".into()));
        assert_eq!(got.unwrap(), explicit);
    }

    #[test]
    fn environment_address_is_used_when_none_is_given() {
        let got = resolve_address(None, Some("tcp://127.0.0.1:8081".into())).unwrap();
        assert_eq!(got.to_string(), "tcp://127.0.0.1:8081");
    }

    #[test]
    fn no_address_at_all_is_an_immediate_no_endpoint_error() {
        let err = resolve_address(None, None).unwrap_err();
        assert!(matches!(err, WorkloadApiError::NoEndpoint), "{err:?}");
        assert!(err.to_string().contains(ENDPOINT_SOCKET_ENV), "{err}");
    }

    #[test]
    fn malformed_environment_address_is_an_invalid_address_error() {
        let err = resolve_address(None, Some("/run/agent.sock".into())).unwrap_err();
        assert!(
            matches!(
                err,
                WorkloadApiError::InvalidAddress(crate::AddressError::BarePath)
            ),
            "{err:?}"
        );
    }
}
