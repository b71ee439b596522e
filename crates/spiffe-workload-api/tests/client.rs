//! The client against a scripted Workload API server on a temp Unix socket.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed setup step should fail the test loudly"
)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};
use spiffe_workload_api::proto::spiffe_workload_api_server::{
    SpiffeWorkloadApi, SpiffeWorkloadApiServer,
};
use spiffe_workload_api::proto::{
    JwtBundlesRequest, JwtBundlesResponse, Jwtsvid, JwtsvidRequest, JwtsvidResponse,
    ValidateJwtsvidRequest, ValidateJwtsvidResponse, WitBundlesRequest, WitBundlesResponse,
    WitsvidRequest, WitsvidResponse, X509BundlesRequest, X509BundlesResponse, X509svid,
    X509svidRequest, X509svidResponse,
};
use spiffe_workload_api::{Address, RetryClass, StatusCode, WorkloadApiClient, WorkloadApiError};
use tokio::sync::{mpsc, oneshot};
use tonic::{Code, Request, Response, Status};

/// Upper bound for anything a test waits for; reaching it is a failure, not a pass.
const PATIENCE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Test material: an rcgen CA and SVIDs signed by it.

struct Ca {
    der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let der = params.self_signed(&key).unwrap().der().to_vec();
        Self {
            der,
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for `id` and its PKCS#8 key.
    fn svid(&self, id: &str) -> (Vec<u8>, Vec<u8>) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = vec![SanType::URI(id.try_into().unwrap())];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.is_ca = IsCa::ExplicitNoCa;
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.der().to_vec(), key.serialize_der())
    }
}

fn svid_message(ca: &Ca, id: &str, hint: &str) -> X509svid {
    let (cert, key) = ca.svid(id);
    X509svid {
        spiffe_id: id.to_string(),
        x509_svid: cert,
        x509_svid_key: key,
        bundle: ca.der.clone(),
        hint: hint.to_string(),
    }
}

fn x509_response(svids: Vec<X509svid>) -> X509svidResponse {
    X509svidResponse {
        svids,
        crl: Vec::new(),
        federated_bundles: HashMap::new(),
    }
}

fn bundles_response(entries: &[(&str, &Ca)]) -> X509BundlesResponse {
    let bundles = entries
        .iter()
        .map(|(td, ca)| (td.to_string(), ca.der.clone()))
        .collect();
    X509BundlesResponse {
        crl: Vec::new(),
        bundles,
    }
}

/// An unsigned JWT-SVID (a signature of zero bytes): enough for a client that reads tokens
/// from its agent without verifying them.
fn unsigned_token(sub: &str, audience: &[String]) -> String {
    fn b64(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let mut bits = 0u32;
            for (i, &b) in chunk.iter().enumerate() {
                bits |= u32::from(b) << (16 - 8 * i);
            }
            for i in 0..=chunk.len() {
                out.push(char::from(ALPHABET[(bits >> (18 - 6 * i) & 0x3f) as usize]));
            }
        }
        out
    }
    let header = r#"{"alg":"ES256","kid":"k","typ":"JWT"}"#;
    let audience: Vec<String> = audience.iter().map(|a| format!("{a:?}")).collect();
    let claims = format!(
        r#"{{"sub":"{sub}","aud":[{}],"exp":4102444800}}"#,
        audience.join(",")
    );
    format!("{}.{}.", b64(header.as_bytes()), b64(claims.as_bytes()))
}

// ---------------------------------------------------------------------------------------------
// The fake agent.

/// What the next stream call does.
#[derive(Clone)]
enum Script<M> {
    /// Send these items, then hold the stream open until the client goes away.
    Send(Vec<Result<M, Status>>),
    /// Send these items, then end the stream with OK.
    SendAndEnd(Vec<M>),
    /// Fail the call with this status before any message.
    Fail(Status),
    /// Accept the call and never send anything.
    Hang,
}

#[derive(Debug, PartialEq, Eq)]
enum Event {
    Opened(&'static str),
    /// The client cancelled a stream that was still held open.
    Cancelled(&'static str),
}

struct Agent {
    x509: Mutex<Script<X509svidResponse>>,
    bundles: Mutex<Script<X509BundlesResponse>>,
    events: mpsc::UnboundedSender<Event>,
}

type BoxedStream<M> = Pin<Box<dyn Stream<Item = Result<M, Status>> + Send>>;

impl Agent {
    /// Scenario X2: exactly one `workload.spiffe.io: true`, or InvalidArgument.
    fn check_header<T>(request: &Request<T>) -> Result<(), Status> {
        let values: Vec<_> = request
            .metadata()
            .get_all("workload.spiffe.io")
            .iter()
            .collect();
        if values.len() == 1 && values[0] == "true" {
            Ok(())
        } else {
            Err(Status::invalid_argument(format!(
                "security header missing or repeated: {} values",
                values.len()
            )))
        }
    }

    fn play<M: Send + 'static>(
        &self,
        method: &'static str,
        script: Script<M>,
    ) -> Result<Response<BoxedStream<M>>, Status> {
        let _ = self.events.send(Event::Opened(method));
        let (items, hold) = match script {
            Script::Fail(status) => return Err(status),
            Script::Send(items) => (items, true),
            Script::SendAndEnd(items) => (items.into_iter().map(Ok).collect(), false),
            Script::Hang => (Vec::new(), true),
        };

        let (tx, rx) = mpsc::channel(items.len().max(1));
        let events = self.events.clone();
        tokio::spawn(async move {
            for item in items {
                if tx.send(item).await.is_err() {
                    break;
                }
            }
            if hold && tokio::time::timeout(PATIENCE, tx.closed()).await.is_ok() {
                let _ = events.send(Event::Cancelled(method));
            }
        });
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
        Ok(Response::new(Box::pin(stream)))
    }
}

#[tonic::async_trait]
impl SpiffeWorkloadApi for Agent {
    type FetchX509SVIDStream = BoxedStream<X509svidResponse>;
    type FetchX509BundlesStream = BoxedStream<X509BundlesResponse>;
    type FetchJWTBundlesStream = BoxedStream<JwtBundlesResponse>;
    type FetchWITSVIDStream = BoxedStream<WitsvidResponse>;
    type FetchWITBundlesStream = BoxedStream<WitBundlesResponse>;

    async fn fetch_x509svid(
        &self,
        request: Request<X509svidRequest>,
    ) -> Result<Response<Self::FetchX509SVIDStream>, Status> {
        Agent::check_header(&request)?;
        let script = self.x509.lock().unwrap().clone();
        self.play("FetchX509SVID", script)
    }

    async fn fetch_x509_bundles(
        &self,
        request: Request<X509BundlesRequest>,
    ) -> Result<Response<Self::FetchX509BundlesStream>, Status> {
        Agent::check_header(&request)?;
        let script = self.bundles.lock().unwrap().clone();
        self.play("FetchX509Bundles", script)
    }

    async fn fetch_jwtsvid(
        &self,
        request: Request<JwtsvidRequest>,
    ) -> Result<Response<JwtsvidResponse>, Status> {
        Agent::check_header(&request)?;
        let id = "spiffe://example.org/a";
        let svid = Jwtsvid {
            spiffe_id: id.to_string(),
            svid: unsigned_token(id, &request.get_ref().audience),
            hint: "h".to_string(),
        };
        Ok(Response::new(JwtsvidResponse { svids: vec![svid] }))
    }

    async fn fetch_jwt_bundles(
        &self,
        request: Request<JwtBundlesRequest>,
    ) -> Result<Response<Self::FetchJWTBundlesStream>, Status> {
        Agent::check_header(&request)?;
        let bundles = [(
            "spiffe://example.org".to_string(),
            b"{\"keys\":[]}".to_vec(),
        )];
        let message = JwtBundlesResponse {
            bundles: bundles.into_iter().collect(),
        };
        self.play("FetchJWTBundles", Script::Send(vec![Ok(message)]))
    }

    async fn validate_jwtsvid(
        &self,
        request: Request<ValidateJwtsvidRequest>,
    ) -> Result<Response<ValidateJwtsvidResponse>, Status> {
        Agent::check_header(&request)?;
        let sub = prost_types::Value {
            kind: Some(prost_types::value::Kind::StringValue(
                "spiffe://example.org/a".to_string(),
            )),
        };
        Ok(Response::new(ValidateJwtsvidResponse {
            spiffe_id: "spiffe://example.org/a".to_string(),
            claims: Some(prost_types::Struct {
                fields: [("sub".to_string(), sub)].into_iter().collect(),
            }),
        }))
    }

    async fn fetch_witsvid(
        &self,
        _: Request<WitsvidRequest>,
    ) -> Result<Response<Self::FetchWITSVIDStream>, Status> {
        Err(Status::unimplemented("not scripted"))
    }

    async fn fetch_wit_bundles(
        &self,
        _: Request<WitBundlesRequest>,
    ) -> Result<Response<Self::FetchWITBundlesStream>, Status> {
        Err(Status::unimplemented("not scripted"))
    }
}

/// A running fake agent; the server stops when this is dropped.
struct Running {
    agent: Arc<Agent>,
    events: mpsc::UnboundedReceiver<Event>,
    path: PathBuf,
    _dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

impl Running {
    fn address(&self) -> Address {
        Address::unix(&self.path).unwrap()
    }

    fn client(&self) -> WorkloadApiClient {
        WorkloadApiClient::new(self.address()).unwrap()
    }

    fn script_x509(&self, script: Script<X509svidResponse>) {
        *self.agent.x509.lock().unwrap() = script;
    }

    fn script_bundles(&self, script: Script<X509BundlesResponse>) {
        *self.agent.bundles.lock().unwrap() = script;
    }

    async fn next_event(&mut self) -> Event {
        tokio::time::timeout(PATIENCE, self.events.recv())
            .await
            .expect("no agent event in time")
            .expect("agent event channel closed")
    }
}

async fn start_agent() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();

    let (events_tx, events) = mpsc::unbounded_channel();
    let agent = Arc::new(Agent {
        x509: Mutex::new(Script::Hang),
        bundles: Mutex::new(Script::Hang),
        events: events_tx,
    });

    let (stop, stopped) = oneshot::channel::<()>();
    let service = SpiffeWorkloadApiServer::from_arc(Arc::clone(&agent));
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::UnixListenerStream::new(listener),
                async {
                    let _ = stopped.await;
                },
            )
            .await
            .unwrap();
    });

    Running {
        agent,
        events,
        path,
        _dir: dir,
        _stop: stop,
    }
}

/// A channel the caller builds itself, dialling the agent's socket.
fn user_channel(path: &Path) -> tonic::transport::Channel {
    let path = path.to_path_buf();
    tonic::transport::Endpoint::from_static("http://workload.local").connect_with_connector_lazy(
        tower::service_fn(move |_: http::Uri| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }),
    )
}

async fn within<F: std::future::Future>(fut: F) -> F::Output {
    tokio::time::timeout(PATIENCE, fut)
        .await
        .expect("timed out")
}

// ---------------------------------------------------------------------------------------------
// Fetches and watches.

#[tokio::test]
async fn fetch_x509_context_returns_svids_with_hints_and_federated_bundles() {
    let ca = Ca::new();
    let other = Ca::new();
    let agent = start_agent().await;
    let mut response = x509_response(vec![
        svid_message(&ca, "spiffe://example.org/web", "internal"),
        svid_message(&ca, "spiffe://example.org/db", ""),
    ]);
    response
        .federated_bundles
        .insert("spiffe://other.org".into(), other.der.clone());
    agent.script_x509(Script::Send(vec![Ok(response)]));

    let context = within(agent.client().fetch_x509_context()).await.unwrap();

    assert_eq!(context.svids.len(), 2);
    assert_eq!(
        context.svids[0].spiffe_id().as_str(),
        "spiffe://example.org/web"
    );
    assert_eq!(context.svids[0].hint(), Some("internal"));
    assert_eq!(context.svids[1].hint(), None);
    assert_eq!(context.bundles.len(), 2);
    assert_eq!(
        context.bundles.get("example.org").unwrap().authorities()[0].as_ref(),
        ca.der
    );
    assert_eq!(
        context.bundles.get("other.org").unwrap().authorities()[0].as_ref(),
        other.der
    );
}

#[tokio::test]
async fn fetch_x509_context_with_zero_svids_is_not_an_error() {
    let ca = Ca::new();
    let agent = start_agent().await;
    let mut response = x509_response(Vec::new());
    response
        .federated_bundles
        .insert("example.org".into(), ca.der.clone());
    agent.script_x509(Script::Send(vec![Ok(response)]));

    let context = within(agent.client().fetch_x509_context()).await.unwrap();

    assert!(context.svids.is_empty());
    assert!(context.bundles.get("example.org").is_some());
}

#[tokio::test]
async fn one_shot_fetch_cancels_the_server_stream_after_the_first_message() {
    // Scenario L9.
    let ca = Ca::new();
    let mut agent = start_agent().await;
    let response = x509_response(vec![svid_message(&ca, "spiffe://example.org/a", "")]);
    agent.script_x509(Script::Send(vec![Ok(response.clone()), Ok(response)]));

    within(agent.client().fetch_x509_context()).await.unwrap();

    assert_eq!(agent.next_event().await, Event::Opened("FetchX509SVID"));
    assert_eq!(agent.next_event().await, Event::Cancelled("FetchX509SVID"));
}

#[tokio::test]
async fn fetch_x509_bundles_reads_every_trust_domain() {
    let (a, b) = (Ca::new(), Ca::new());
    let mut agent = start_agent().await;
    agent.script_bundles(Script::Send(vec![Ok(bundles_response(&[
        ("spiffe://a.org", &a),
        ("spiffe://b.org", &b),
    ]))]));

    let bundles = within(agent.client().fetch_x509_bundles()).await.unwrap();

    assert_eq!(bundles.len(), 2);
    assert_eq!(
        bundles.get("a.org").unwrap().authorities()[0].as_ref(),
        a.der
    );
    assert_eq!(
        bundles.get("b.org").unwrap().authorities()[0].as_ref(),
        b.der
    );
    assert_eq!(agent.next_event().await, Event::Opened("FetchX509Bundles"));
    assert_eq!(
        agent.next_event().await,
        Event::Cancelled("FetchX509Bundles")
    );
}

#[tokio::test]
async fn watch_reports_unreadable_messages_and_keeps_going() {
    // Scenario P5 on the transport layer: each bad message is one InvalidResponse item.
    let ca = Ca::new();
    let agent = start_agent().await;
    let good = x509_response(vec![svid_message(&ca, "spiffe://example.org/a", "")]);
    let mut garbage_cert = svid_message(&ca, "spiffe://example.org/a", "");
    garbage_cert.x509_svid = b"not a certificate".to_vec();
    let mut empty_key = svid_message(&ca, "spiffe://example.org/a", "");
    empty_key.x509_svid_key.clear();
    let mut not_pkcs8 = svid_message(&ca, "spiffe://example.org/a", "");
    not_pkcs8.x509_svid_key = vec![0x30, 0x03, 0x02, 0x01, 0x00];
    let mut wrong_id = svid_message(&ca, "spiffe://example.org/a", "");
    wrong_id.spiffe_id = "spiffe://example.org/b".into();
    agent.script_x509(Script::Send(vec![
        Ok(good.clone()),
        Ok(x509_response(vec![garbage_cert])),
        Ok(x509_response(vec![empty_key])),
        Ok(x509_response(vec![not_pkcs8])),
        Ok(x509_response(vec![wrong_id])),
        Ok(good),
    ]));

    let mut watch = within(agent.client().watch_x509_context()).await.unwrap();

    assert_eq!(within(watch.next()).await.unwrap().unwrap().svids.len(), 1);
    for _ in 0..4 {
        let err = within(watch.next()).await.unwrap().unwrap_err();
        assert!(
            matches!(err, WorkloadApiError::InvalidResponse(_)),
            "{err:?}"
        );
        assert_eq!(err.retry(), RetryClass::Backoff);
    }
    assert_eq!(within(watch.next()).await.unwrap().unwrap().svids.len(), 1);
}

#[tokio::test]
async fn watch_ends_after_a_status_and_after_a_clean_end() {
    let ca = Ca::new();
    let agent = start_agent().await;
    let good = x509_response(vec![svid_message(&ca, "spiffe://example.org/a", "")]);
    agent.script_x509(Script::Send(vec![
        Ok(good.clone()),
        Err(Status::permission_denied("revoked")),
    ]));
    let client = agent.client();

    let mut watch = within(client.watch_x509_context()).await.unwrap();
    assert!(within(watch.next()).await.unwrap().is_ok());
    let err = within(watch.next()).await.unwrap().unwrap_err();
    assert!(
        matches!(err, WorkloadApiError::NoIdentityIssued { .. }),
        "{err:?}"
    );
    assert!(within(watch.next()).await.is_none());

    agent.script_x509(Script::SendAndEnd(vec![good]));
    let mut watch = within(client.watch_x509_context()).await.unwrap();
    assert!(within(watch.next()).await.unwrap().is_ok());
    assert!(within(watch.next()).await.is_none());
}

#[tokio::test]
async fn watch_x509_bundles_yields_every_update() {
    let (a, b) = (Ca::new(), Ca::new());
    let agent = start_agent().await;
    agent.script_bundles(Script::Send(vec![
        Ok(bundles_response(&[("a.org", &a)])),
        Ok(bundles_response(&[("a.org", &a), ("b.org", &b)])),
        Ok(bundles_response(&[("not a trust domain!", &a)])),
    ]));

    let mut watch = within(agent.client().watch_x509_bundles()).await.unwrap();

    assert_eq!(within(watch.next()).await.unwrap().unwrap().len(), 1);
    assert_eq!(within(watch.next()).await.unwrap().unwrap().len(), 2);
    let err = within(watch.next()).await.unwrap().unwrap_err();
    assert!(
        matches!(err, WorkloadApiError::InvalidResponse(_)),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Security header (scenario X2).

#[tokio::test]
async fn every_call_kind_carries_the_security_header() {
    let ca = Ca::new();
    let agent = start_agent().await;
    let x509 = x509_response(vec![svid_message(&ca, "spiffe://example.org/a", "")]);
    agent.script_x509(Script::Send(vec![Ok(x509)]));
    agent.script_bundles(Script::Send(vec![Ok(bundles_response(&[(
        "example.org",
        &ca,
    )]))]));

    let clients = [
        ("own channel", agent.client()),
        (
            "user channel",
            WorkloadApiClient::from_channel(user_channel(&agent.path)),
        ),
    ];

    for (name, client) in clients {
        within(client.fetch_x509_context())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        within(client.fetch_x509_bundles())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let mut watch = within(client.watch_x509_context()).await.unwrap();
        within(watch.next())
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let mut watch = within(client.watch_x509_bundles()).await.unwrap();
        within(watch.next())
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));

        let svid = within(client.fetch_jwt_svid(&["aud"], None))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(svid.audience(), ["aud"]);
        assert_eq!(svid.hint(), Some("h"));
        let bundles = within(client.fetch_jwt_bundles())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert!(bundles.get("example.org").unwrap().is_empty());
        let mut watch = within(client.watch_jwt_bundles()).await.unwrap();
        within(watch.next())
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let (id, claims) = within(client.validate_jwt_svid("aud", svid.token()))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(id.as_str(), "spiffe://example.org/a");
        assert_eq!(claims["sub"], "spiffe://example.org/a");
    }
}

#[tokio::test]
async fn the_fake_agent_rejects_calls_without_the_header() {
    // The check above is only meaningful if the agent really refuses a bare call.
    let agent = start_agent().await;
    let mut raw =
        spiffe_workload_api::proto::spiffe_workload_api_client::SpiffeWorkloadApiClient::new(
            user_channel(&agent.path),
        );

    let status = within(raw.fetch_x509svid(X509svidRequest {}))
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::InvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// Close (scenario L5).

#[tokio::test]
async fn closed_client_fails_every_call_at_once_and_never_dials() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let client = WorkloadApiClient::new(Address::unix(&path).unwrap()).unwrap();

    client.close();
    let started = Instant::now();
    let errors = [
        client.watch_x509_context().await.unwrap_err(),
        client.watch_x509_bundles().await.unwrap_err(),
        client.fetch_x509_context().await.unwrap_err(),
        client.fetch_x509_bundles().await.unwrap_err(),
    ];

    assert!(started.elapsed() < Duration::from_secs(1));
    for err in errors {
        assert!(matches!(err, WorkloadApiError::Closed), "{err:?}");
        assert_eq!(err.retry(), RetryClass::Stop);
    }
    let dialled = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
    assert!(dialled.is_err(), "the closed client dialled the socket");
}

#[tokio::test]
async fn close_ends_open_watches_and_cancels_them_on_the_agent() {
    let ca = Ca::new();
    let mut agent = start_agent().await;
    let x509 = x509_response(vec![svid_message(&ca, "spiffe://example.org/a", "")]);
    agent.script_x509(Script::Send(vec![Ok(x509)]));
    let client = agent.client();
    let mut watch = within(client.watch_x509_context()).await.unwrap();
    assert!(within(watch.next()).await.unwrap().is_ok());

    client.clone().close();

    let err = within(watch.next()).await.unwrap().unwrap_err();
    assert!(matches!(err, WorkloadApiError::Closed), "{err:?}");
    assert!(within(watch.next()).await.is_none());
    assert_eq!(agent.next_event().await, Event::Opened("FetchX509SVID"));
    assert_eq!(agent.next_event().await, Event::Cancelled("FetchX509SVID"));
}

#[tokio::test]
async fn close_interrupts_a_fetch_that_is_waiting_for_the_agent() {
    let agent = start_agent().await;
    agent.script_x509(Script::Hang);
    let client = agent.client();

    let fetch = tokio::spawn({
        let client = client.clone();
        async move { client.fetch_x509_context().await }
    });
    let mut agent = agent;
    assert_eq!(agent.next_event().await, Event::Opened("FetchX509SVID"));
    client.close();

    let err = within(fetch).await.unwrap().unwrap_err();
    assert!(matches!(err, WorkloadApiError::Closed), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// Deadlines (scenarios H1, H2 on the transport layer).

#[tokio::test]
async fn one_shot_fetch_fails_with_deadline_exceeded_when_the_agent_hangs() {
    // The proto's X.509 calls are server streams; a one-shot fetch is the client's unary
    // call, so it carries the configured deadline.
    let agent = start_agent().await;
    agent.script_bundles(Script::Hang);
    agent.script_x509(Script::Hang);
    let client = WorkloadApiClient::builder()
        .address(agent.address())
        .deadline(Duration::from_millis(200))
        .build()
        .unwrap();

    for result in [
        within(client.fetch_x509_bundles()).await.map(drop),
        within(client.fetch_x509_context()).await.map(drop),
    ] {
        let err = result.unwrap_err();
        assert!(matches!(err, WorkloadApiError::DeadlineExceeded), "{err:?}");
        assert_eq!(err.retry(), RetryClass::Backoff);
    }
}

#[tokio::test]
async fn watches_carry_no_deadline() {
    let ca = Ca::new();
    let agent = start_agent().await;
    agent.script_x509(Script::Hang);
    let client = WorkloadApiClient::builder()
        .address(agent.address())
        .deadline(Duration::from_millis(50))
        .build()
        .unwrap();

    let mut watch = within(client.watch_x509_context()).await.unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(500), watch.next()).await;
    assert!(
        waited.is_err(),
        "a watch ended while the agent was silent: {waited:?}"
    );

    // The watch is still usable afterwards: nothing cut it.
    drop(watch);
    agent.script_x509(Script::Send(vec![Ok(x509_response(vec![svid_message(
        &ca,
        "spiffe://example.org/a",
        "",
    )]))]));
    let mut watch = within(client.watch_x509_context()).await.unwrap();
    assert!(within(watch.next()).await.unwrap().is_ok());
}

// ---------------------------------------------------------------------------------------------
// Error classification.

#[tokio::test]
async fn grpc_status_codes_map_to_typed_errors_and_retry_classes() {
    // Scenario R3 on the transport layer.
    let agent = start_agent().await;
    let client = agent.client();

    type Expect = fn(&WorkloadApiError) -> bool;
    let rows: Vec<(Code, Expect, RetryClass)> = vec![
        (
            Code::PermissionDenied,
            |e| matches!(e, WorkloadApiError::NoIdentityIssued { message } if message == "m"),
            RetryClass::Slow,
        ),
        (
            Code::InvalidArgument,
            |e| matches!(e, WorkloadApiError::InvalidArgument { .. }),
            RetryClass::Never,
        ),
        (
            Code::Unauthenticated,
            |e| matches!(e, WorkloadApiError::Unauthenticated { .. }),
            RetryClass::Reconnect,
        ),
        (
            Code::Unimplemented,
            |e| matches!(e, WorkloadApiError::NotSupported { .. }),
            RetryClass::Never,
        ),
        (
            Code::Cancelled,
            |e| matches!(e, WorkloadApiError::Cancelled),
            RetryClass::Backoff,
        ),
        (
            Code::DeadlineExceeded,
            |e| matches!(e, WorkloadApiError::DeadlineExceeded),
            RetryClass::Backoff,
        ),
        (
            Code::Unavailable,
            |e| matches!(e, WorkloadApiError::Unavailable { message } if message == "m"),
            RetryClass::Backoff,
        ),
        (
            Code::ResourceExhausted,
            |e| {
                matches!(
                    e,
                    WorkloadApiError::Status {
                        code: StatusCode::ResourceExhausted,
                        ..
                    }
                )
            },
            RetryClass::Backoff,
        ),
        (
            Code::Internal,
            |e| {
                matches!(
                    e,
                    WorkloadApiError::Status {
                        code: StatusCode::Internal,
                        ..
                    }
                )
            },
            RetryClass::Backoff,
        ),
        (
            Code::Unknown,
            |e| {
                matches!(
                    e,
                    WorkloadApiError::Status {
                        code: StatusCode::Unknown,
                        ..
                    }
                )
            },
            RetryClass::Backoff,
        ),
    ];

    for (code, is_expected, retry) in rows {
        agent.script_x509(Script::Fail(Status::new(code, "m")));
        let err = within(client.watch_x509_context()).await.unwrap_err();
        assert!(is_expected(&err), "{code:?} became {err:?}");
        assert_eq!(err.retry(), retry, "{code:?}");
        assert!(!err.to_string().is_empty());
    }
}

#[tokio::test]
async fn missing_socket_is_reported_as_socket_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nobody-here.sock");
    let client = WorkloadApiClient::new(Address::unix(&path).unwrap()).unwrap();

    let err = within(client.fetch_x509_context()).await.unwrap_err();

    match &err {
        WorkloadApiError::SocketMissing { path: reported } => assert_eq!(reported, &path),
        other => panic!("expected SocketMissing, got {other:?}"),
    }
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert_eq!(err.retry(), RetryClass::Backoff);
}

#[tokio::test]
async fn socket_without_listener_is_reported_as_connection_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stale.sock");
    // Bind and drop: the socket file stays, nobody accepts.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let client = WorkloadApiClient::new(Address::unix(&path).unwrap()).unwrap();

    let err = within(client.watch_x509_bundles()).await.unwrap_err();

    assert!(
        matches!(err, WorkloadApiError::ConnectionRefused { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("refused"), "{err}");
}

#[tokio::test]
async fn tcp_endpoint_without_listener_is_reported_as_connection_refused() {
    // Find a free loopback port, then close it again.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = Address::parse(&format!("tcp://127.0.0.1:{port}")).unwrap();
    let client = WorkloadApiClient::new(address).unwrap();

    let err = within(client.fetch_x509_bundles()).await.unwrap_err();

    assert!(
        matches!(err, WorkloadApiError::ConnectionRefused { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn client_dials_the_socket_path_again_after_the_agent_restarts() {
    // Scenario R2 on the transport layer: a new listener on the same path is found.
    let ca = Ca::new();
    let x509 = x509_response(vec![svid_message(&ca, "spiffe://example.org/a", "")]);
    let agent = start_agent().await;
    agent.script_x509(Script::Send(vec![Ok(x509.clone())]));
    let client = agent.client();
    within(client.fetch_x509_context()).await.unwrap();

    // Stop the agent, remove its socket, start a new one at the same path.
    let path = agent.path.clone();
    let Running {
        _dir: dir,
        _stop: stop,
        ..
    } = agent;
    drop(stop);
    std::fs::remove_file(&path).unwrap();
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let (events, _events_rx) = mpsc::unbounded_channel();
    let agent = Arc::new(Agent {
        x509: Mutex::new(Script::Send(vec![Ok(x509)])),
        bundles: Mutex::new(Script::Hang),
        events,
    });
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(SpiffeWorkloadApiServer::from_arc(agent))
            .serve_with_incoming(tokio_stream::wrappers::UnixListenerStream::new(listener)),
    );

    // The old connection may still be noticed as broken first; a caller retries.
    let mut last = None;
    for _ in 0..20 {
        match within(client.fetch_x509_context()).await {
            Ok(context) => {
                assert_eq!(context.svids.len(), 1);
                drop(dir);
                return;
            }
            Err(err) => {
                last = Some(err);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    panic!("never reconnected: {last:?}");
}

#[tokio::test]
async fn watch_goes_on_after_every_client_handle_is_dropped() {
    // Dropping the client is not `close()`: a watch owns its connection.
    let ca = Ca::new();
    let agent = start_agent().await;
    let x509 = x509_response(vec![svid_message(&ca, "spiffe://example.org/a", "")]);
    agent.script_x509(Script::Send(vec![Ok(x509.clone()), Ok(x509)]));
    let client = agent.client();

    let mut watch = within(client.watch_x509_context()).await.unwrap();
    drop(client);

    assert!(within(watch.next()).await.unwrap().is_ok());
    assert!(within(watch.next()).await.unwrap().is_ok());
}
