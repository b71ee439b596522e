//! The `SpiffeWorkloadAPI` gRPC service.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use spiffe_workload_api::proto::spiffe_workload_api_server::SpiffeWorkloadApi;
use spiffe_workload_api::proto::{
    JwtBundlesRequest, JwtBundlesResponse, JwtsvidRequest, JwtsvidResponse, ValidateJwtsvidRequest,
    ValidateJwtsvidResponse, WitBundlesRequest, WitBundlesResponse, WitsvidRequest,
    WitsvidResponse, X509BundlesRequest, X509BundlesResponse, X509svidRequest, X509svidResponse,
};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::Stream;
use tonic::transport::server::UdsConnectInfo;
use tonic::{Request, Response, Status};

use crate::AgentStats;
use crate::fault::{CallKind, Fault, StreamEnd, StreamKind};
use crate::state::{Command, Shared, View};

/// Workload API §5.2 (and SPEC-POLICY): every request carries exactly one of these.
const SECURITY_HEADER: &str = "workload.spiffe.io";
const NO_IDENTITY: &str = "no identity issued";
/// Messages buffered per stream; a slow client holds the stream task, not the agent.
const STREAM_BUFFER: usize = 4;

pub(crate) struct AgentService {
    shared: Arc<Shared>,
}

impl AgentService {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    fn check_header<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let mut values = request.metadata().get_all(SECURITY_HEADER).iter();
        let exactly_one_true = matches!(
            (values.next(), values.next()),
            (Some(value), None) if value == "true"
        );
        if exactly_one_true {
            return Ok(());
        }
        tracing::debug!("rejected a call without the security header");
        self.shared.count(|s| s.header_rejections += 1);
        Err(Status::invalid_argument(
            "security header missing from request",
        ))
    }

    /// The header check and counter common to the unary JWT calls, then the scripted fault.
    fn unary<T>(
        &self,
        request: &Request<T>,
        kind: CallKind,
        count: impl FnOnce(&mut AgentStats),
    ) -> Result<Option<Fault>, Status> {
        self.check_header(request)?;
        if !self.shared.serving.load(Ordering::Acquire) {
            return Err(Status::unavailable("dev agent is stopping"));
        }
        self.shared.count(count);
        Ok(self.take_fault(kind))
    }

    fn take_fault(&self, kind: CallKind) -> Option<Fault> {
        let fault = self.shared.with_faults(|faults| faults.next(kind));
        if let Some(fault) = &fault {
            tracing::debug!(?kind, ?fault, "applying scripted fault");
            self.shared.count(|s| s.faults_applied += 1);
        }
        fault
    }

    /// What a fault does to a unary call before its real answer: `Some` ends the call with
    /// that result; `None` lets the call go on.
    async fn unary_fault<R>(&self, fault: Option<&Fault>) -> Option<Result<R, Status>> {
        match fault? {
            Fault::Status { code, message } => Some(Err(Status::new(*code, message.clone()))),
            Fault::Hang => {
                // Accept and never answer (scenario H1): only the client going away (which
                // drops this future) or the agent stopping ends the call.
                let mut epoch = self.shared.epoch.subscribe();
                let _ = epoch.changed().await;
                Some(Err(Status::unavailable("dev agent stopped")))
            }
            Fault::HoldFirst(delay) => {
                let mut epoch = self.shared.epoch.subscribe();
                tokio::select! {
                    () = tokio::time::sleep(*delay) => None,
                    _ = epoch.changed() => Some(Err(Status::unavailable("dev agent stopped"))),
                }
            }
            _ => None,
        }
    }

    fn unimplemented<T>(&self, request: &Request<T>, what: &str) -> Status {
        if let Err(status) = self.check_header(request) {
            return status;
        }
        self.shared.count(|s| s.unimplemented_calls += 1);
        Status::unimplemented(format!("{what} is not supported by the dev agent"))
    }

    /// The common start of both streaming X.509 calls: header, counters, scripted fault,
    /// identity check, then the stream task.
    fn open<M: StreamMessage, Req>(
        &self,
        request: Request<Req>,
    ) -> Result<Response<ResponseStream<M>>, Status> {
        self.check_header(&request)?;
        if !self.shared.serving.load(Ordering::Acquire) {
            return Err(Status::unavailable("dev agent is stopping"));
        }
        let caller_uid = caller_uid(&request);

        self.shared.log_open(M::KIND);
        self.shared.count(|s| *opens(s, M::KIND) += 1);
        let fault = self.take_fault(M::KIND.into());
        if let Some(Fault::Status { code, message }) = fault {
            return Err(Status::new(code, message));
        }
        if matches!(M::view(&self.shared, caller_uid), View::Denied) {
            self.shared.count(|s| s.permission_denials += 1);
            return Err(Status::permission_denied(NO_IDENTITY));
        }

        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let task = StreamTask {
            shared: Arc::clone(&self.shared),
            caller_uid,
            tx,
            changes: M::changes(&self.shared),
            commands: self.shared.commands.subscribe(),
            epoch: self.shared.epoch.subscribe(),
        };
        let guard = StreamGuard::new(Arc::clone(&self.shared), M::KIND);
        tracing::trace!(kind = ?M::KIND, ?caller_uid, "stream opened");
        tokio::spawn(task.run(fault));
        Ok(Response::new(ResponseStream { rx, guard }))
    }
}

#[tonic::async_trait]
impl SpiffeWorkloadApi for AgentService {
    type FetchX509SVIDStream = ResponseStream<X509svidResponse>;
    type FetchX509BundlesStream = ResponseStream<X509BundlesResponse>;
    type FetchJWTBundlesStream = ResponseStream<JwtBundlesResponse>;
    type FetchWITSVIDStream = tokio_stream::Empty<Result<WitsvidResponse, Status>>;
    type FetchWITBundlesStream = tokio_stream::Empty<Result<WitBundlesResponse, Status>>;

    async fn fetch_x509svid(
        &self,
        request: Request<X509svidRequest>,
    ) -> Result<Response<Self::FetchX509SVIDStream>, Status> {
        self.open(request)
    }

    async fn fetch_x509_bundles(
        &self,
        request: Request<X509BundlesRequest>,
    ) -> Result<Response<Self::FetchX509BundlesStream>, Status> {
        self.open(request)
    }

    async fn fetch_jwtsvid(
        &self,
        request: Request<JwtsvidRequest>,
    ) -> Result<Response<JwtsvidResponse>, Status> {
        let fault = self.unary(&request, CallKind::JwtSvid, |s| s.jwt_svid_calls += 1)?;
        let caller_uid = caller_uid(&request);
        let JwtsvidRequest {
            audience,
            spiffe_id,
        } = request.into_inner();

        // Workload API §6.1: the audience is required; SPIFFE IDs are checked like any other.
        if audience.is_empty() {
            return Err(Status::invalid_argument("audience must be specified"));
        }
        if audience.iter().any(String::is_empty) {
            return Err(Status::invalid_argument("audience must not be empty"));
        }
        let spiffe_id = (!spiffe_id.is_empty()).then_some(spiffe_id);
        if let Some(id) = &spiffe_id
            && let Err(err) = spiffe_id::SpiffeId::parse(id)
        {
            return Err(Status::invalid_argument(format!(
                "invalid spiffe_id: {err}"
            )));
        }

        if let Some(ended) = self.unary_fault(fault.as_ref()).await {
            return ended.map(Response::new);
        }
        let internal = |err: crate::DevAgentError| Status::internal(err.to_string());
        let response = match fault {
            Some(Fault::RawJwtSvid(raw)) => raw,
            Some(Fault::Garbage(garbage)) => self
                .shared
                .jwt_svid_garbage(caller_uid, &audience, spiffe_id.as_deref(), garbage)
                .map_err(internal)?,
            _ => match self
                .shared
                .issue_jwt_svids(caller_uid, &audience, spiffe_id.as_deref())
                .map_err(internal)?
            {
                View::Serve(response) => response,
                View::Denied => {
                    self.shared.count(|s| s.permission_denials += 1);
                    return Err(Status::permission_denied(NO_IDENTITY));
                }
            },
        };
        Ok(Response::new(response))
    }

    async fn fetch_jwt_bundles(
        &self,
        request: Request<JwtBundlesRequest>,
    ) -> Result<Response<Self::FetchJWTBundlesStream>, Status> {
        self.open(request)
    }

    async fn validate_jwtsvid(
        &self,
        request: Request<ValidateJwtsvidRequest>,
    ) -> Result<Response<ValidateJwtsvidResponse>, Status> {
        let fault = self.unary(&request, CallKind::ValidateJwtSvid, |s| {
            s.validate_jwt_svid_calls += 1;
        })?;
        let ValidateJwtsvidRequest { audience, svid } = request.into_inner();
        if audience.is_empty() {
            return Err(Status::invalid_argument("audience must be specified"));
        }
        if svid.is_empty() {
            return Err(Status::invalid_argument("svid must be specified"));
        }

        if let Some(ended) = self.unary_fault(fault.as_ref()).await {
            return ended.map(Response::new);
        }
        if let Some(Fault::RawValidateJwtSvid(raw)) = fault {
            return Ok(Response::new(raw));
        }

        let validated = self
            .shared
            .validate_jwt_svid(&svid, &audience)
            .map_err(|err| Status::invalid_argument(format!("invalid jwt-svid: {err}")))?;
        Ok(Response::new(ValidateJwtsvidResponse {
            spiffe_id: validated.spiffe_id().to_string(),
            claims: Some(claims_struct(validated.claims())),
        }))
    }

    async fn fetch_witsvid(
        &self,
        request: Request<WitsvidRequest>,
    ) -> Result<Response<Self::FetchWITSVIDStream>, Status> {
        Err(self.unimplemented(&request, "FetchWITSVID"))
    }

    async fn fetch_wit_bundles(
        &self,
        request: Request<WitBundlesRequest>,
    ) -> Result<Response<Self::FetchWITBundlesStream>, Status> {
        Err(self.unimplemented(&request, "FetchWITBundles"))
    }
}

/// The streamed message types, seen the same way by the stream task.
pub(crate) trait StreamMessage: Sized + Send + 'static {
    const KIND: StreamKind;

    /// The change notifications this stream follows.
    fn changes(shared: &Shared) -> watch::Receiver<u64> {
        shared.changes.subscribe()
    }

    fn view(shared: &Shared, caller_uid: Option<u32>) -> View<Self>;

    /// The message a scripted fault or an injected command stands for, if it is for us.
    fn from_fault(shared: &Shared, caller_uid: Option<u32>, fault: &Fault) -> Option<Self>;

    fn from_command(shared: &Shared, caller_uid: Option<u32>, command: &Command) -> Option<Self>;
}

impl StreamMessage for X509svidResponse {
    const KIND: StreamKind = StreamKind::X509Svid;

    fn view(shared: &Shared, caller_uid: Option<u32>) -> View<Self> {
        shared.x509_svid_view(caller_uid)
    }

    fn from_fault(shared: &Shared, caller_uid: Option<u32>, fault: &Fault) -> Option<Self> {
        match fault {
            Fault::Garbage(garbage) => Some(shared.x509_svid_garbage(caller_uid, *garbage)),
            Fault::RawX509Svid(raw) => Some(raw.clone()),
            _ => None,
        }
    }

    fn from_command(shared: &Shared, caller_uid: Option<u32>, command: &Command) -> Option<Self> {
        match command {
            Command::Garbage(StreamKind::X509Svid, garbage) => {
                Some(shared.x509_svid_garbage(caller_uid, *garbage))
            }
            Command::RawX509Svid(raw) => Some(raw.clone()),
            _ => None,
        }
    }
}

impl StreamMessage for X509BundlesResponse {
    const KIND: StreamKind = StreamKind::X509Bundles;

    fn view(shared: &Shared, caller_uid: Option<u32>) -> View<Self> {
        shared.x509_bundles_view(caller_uid)
    }

    fn from_fault(shared: &Shared, caller_uid: Option<u32>, fault: &Fault) -> Option<Self> {
        match fault {
            Fault::Garbage(_) => Some(shared.x509_bundles_garbage(caller_uid)),
            Fault::RawX509Bundles(raw) => Some(raw.clone()),
            _ => None,
        }
    }

    fn from_command(shared: &Shared, caller_uid: Option<u32>, command: &Command) -> Option<Self> {
        match command {
            Command::Garbage(StreamKind::X509Bundles, _) => {
                Some(shared.x509_bundles_garbage(caller_uid))
            }
            Command::RawX509Bundles(raw) => Some(raw.clone()),
            _ => None,
        }
    }
}

impl StreamMessage for JwtBundlesResponse {
    const KIND: StreamKind = StreamKind::JwtBundles;

    fn changes(shared: &Shared) -> watch::Receiver<u64> {
        shared.jwt_changes.subscribe()
    }

    fn view(shared: &Shared, caller_uid: Option<u32>) -> View<Self> {
        shared.jwt_bundles_view(caller_uid)
    }

    fn from_fault(shared: &Shared, caller_uid: Option<u32>, fault: &Fault) -> Option<Self> {
        match fault {
            Fault::Garbage(_) => Some(shared.jwt_bundles_garbage(caller_uid)),
            Fault::RawJwtBundles(raw) => Some(raw.clone()),
            _ => None,
        }
    }

    fn from_command(shared: &Shared, caller_uid: Option<u32>, command: &Command) -> Option<Self> {
        match command {
            Command::Garbage(StreamKind::JwtBundles, _) => {
                Some(shared.jwt_bundles_garbage(caller_uid))
            }
            Command::RawJwtBundles(raw) => Some(raw.clone()),
            _ => None,
        }
    }
}

/// Feeds one response stream until the client goes away, the agent stops or a fault ends it.
struct StreamTask<M> {
    shared: Arc<Shared>,
    caller_uid: Option<u32>,
    tx: mpsc::Sender<Result<M, Status>>,
    changes: watch::Receiver<u64>,
    commands: broadcast::Receiver<Command>,
    epoch: watch::Receiver<u64>,
}

/// Why a stream task stopped waiting.
enum Wake {
    Ready,
    ClientGone,
    Stopping,
}

impl<M: StreamMessage> StreamTask<M> {
    async fn run(mut self, fault: Option<Fault>) {
        let mut first = None;
        let proceed = match &fault {
            Some(Fault::HoldFirst(delay)) => self.wait(Some(*delay)).await,
            Some(Fault::Hang) => {
                self.wait(None).await;
                false
            }
            Some(fault @ Fault::Garbage(_)) => {
                match M::from_fault(&self.shared, self.caller_uid, fault) {
                    Some(garbage) => self.send(Ok(garbage)).await,
                    None => true,
                }
            }
            Some(fault) => {
                first = M::from_fault(&self.shared, self.caller_uid, fault);
                true
            }
            None => true,
        };
        if !proceed {
            return;
        }

        self.changes.borrow_and_update();
        let sent = match first {
            Some(raw) => self.send(Ok(raw)).await,
            None => self.send_state().await,
        };
        if !sent || matches!(fault, Some(Fault::EndAfterFirst)) {
            tracing::trace!(kind = ?M::KIND, "stream ended by the agent");
            return;
        }

        loop {
            // Biased, commands before changes: an injection made before a state change reaches
            // the stream before it, so a test can use the change as a sync point.
            let keep_going = tokio::select! {
                biased;
                () = self.tx.closed() => false,
                _ = self.epoch.changed() => {
                    self.send(Err(Status::unavailable("dev agent stopped"))).await;
                    false
                }
                command = self.commands.recv() => match command {
                    Ok(command) => self.apply(command).await,
                    Err(broadcast::error::RecvError::Lagged(_)) => true,
                    Err(broadcast::error::RecvError::Closed) => false,
                },
                changed = self.changes.changed() => changed.is_ok() && self.send_state().await,
            };
            if !keep_going {
                return;
            }
        }
    }

    /// Waits for `delay` (or forever), returning `false` if the stream should end instead.
    async fn wait(&mut self, delay: Option<std::time::Duration>) -> bool {
        let sleep = async {
            match delay {
                Some(delay) => tokio::time::sleep(delay).await,
                None => std::future::pending().await,
            }
        };
        let wake = tokio::select! {
            () = sleep => Wake::Ready,
            () = self.tx.closed() => Wake::ClientGone,
            _ = self.epoch.changed() => Wake::Stopping,
        };
        match wake {
            Wake::Ready => true,
            Wake::ClientGone => false,
            Wake::Stopping => {
                self.send(Err(Status::unavailable("dev agent stopped")))
                    .await;
                false
            }
        }
    }

    async fn apply(&mut self, command: Command) -> bool {
        if let Command::End(kind, end) = &command {
            if *kind != M::KIND {
                return true;
            }
            if let StreamEnd::Status { code, message } = end {
                self.send(Err(Status::new(*code, message.clone()))).await;
            }
            return false;
        }
        match M::from_command(&self.shared, self.caller_uid, &command) {
            Some(message) => self.send(Ok(message)).await,
            None => true,
        }
    }

    /// Sends the caller's full state, or PermissionDenied when it has no identity left.
    async fn send_state(&mut self) -> bool {
        match M::view(&self.shared, self.caller_uid) {
            View::Serve(message) => self.send(Ok(message)).await,
            View::Denied => {
                tracing::debug!(kind = ?M::KIND, "caller lost its last identity");
                self.shared.count(|s| s.permission_denials += 1);
                self.send(Err(Status::permission_denied(NO_IDENTITY))).await;
                false
            }
        }
    }

    async fn send(&mut self, item: Result<M, Status>) -> bool {
        let is_message = item.is_ok();
        if self.tx.send(item).await.is_err() {
            return false;
        }
        if is_message {
            self.shared.count(|s| *messages(s, M::KIND) += 1);
        }
        true
    }
}

/// The response stream handed to tonic. Dropping it before the agent ended it means the
/// client cancelled.
pub(crate) struct ResponseStream<M> {
    rx: mpsc::Receiver<Result<M, Status>>,
    guard: StreamGuard,
}

impl<M> Stream for ResponseStream<M> {
    type Item = Result<M, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.rx.poll_recv(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            self.guard.ended_by_agent = true;
        }
        polled
    }
}

struct StreamGuard {
    shared: Arc<Shared>,
    kind: StreamKind,
    epoch: u64,
    ended_by_agent: bool,
}

impl StreamGuard {
    fn new(shared: Arc<Shared>, kind: StreamKind) -> Self {
        let epoch = *shared.epoch.borrow();
        shared.count(|s| *open_streams(s, kind) += 1);
        Self {
            shared,
            kind,
            epoch,
            ended_by_agent: false,
        }
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        // A stream cut because the agent stopped is not a client cancellation.
        let cancelled = !self.ended_by_agent && *self.shared.epoch.borrow() == self.epoch;
        if cancelled {
            tracing::trace!(kind = ?self.kind, "stream cancelled by the client");
        }
        self.shared.count(|s| {
            *open_streams(s, self.kind) -= 1;
            if cancelled {
                s.cancelled_streams += 1;
            }
        });
    }
}

fn opens(stats: &mut AgentStats, kind: StreamKind) -> &mut u64 {
    match kind {
        StreamKind::X509Svid => &mut stats.x509_svid_opens,
        StreamKind::X509Bundles => &mut stats.x509_bundles_opens,
        StreamKind::JwtBundles => &mut stats.jwt_bundles_opens,
    }
}

fn open_streams(stats: &mut AgentStats, kind: StreamKind) -> &mut u64 {
    match kind {
        StreamKind::X509Svid => &mut stats.open_x509_svid_streams,
        StreamKind::X509Bundles => &mut stats.open_x509_bundles_streams,
        StreamKind::JwtBundles => &mut stats.open_jwt_bundles_streams,
    }
}

fn messages(stats: &mut AgentStats, kind: StreamKind) -> &mut u64 {
    match kind {
        StreamKind::X509Svid => &mut stats.x509_svid_messages,
        StreamKind::X509Bundles => &mut stats.x509_bundles_messages,
        StreamKind::JwtBundles => &mut stats.jwt_bundles_messages,
    }
}

fn caller_uid<T>(request: &Request<T>) -> Option<u32> {
    request
        .extensions()
        .get::<UdsConnectInfo>()
        .and_then(|info| info.peer_cred)
        .map(|cred| cred.uid())
}

/// JSON claims as the `google.protobuf.Struct` of `ValidateJWTSVIDResponse`. Numbers become
/// doubles, as the Struct has no other number type.
fn claims_struct(claims: &serde_json::Map<String, serde_json::Value>) -> prost_types::Struct {
    prost_types::Struct {
        fields: claims
            .iter()
            .map(|(name, value)| (name.clone(), proto_value(value)))
            .collect(),
    }
}

fn proto_value(value: &serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    use serde_json::Value;

    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.iter().map(proto_value).collect(),
        }),
        Value::Object(map) => Kind::StructValue(claims_struct(map)),
    };
    prost_types::Value { kind: Some(kind) }
}
