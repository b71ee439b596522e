//! The JWT-SVID demo: an HTTP service that accepts JWT-SVIDs as bearer tokens for its audience
//! and authorises callers by SPIFFE ID, and a client that gets its tokens from a long-lived
//! `JwtSource`, across a rotation of the agent's JWT signing key.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use spiffe_dev_agent::{DevAgent, DevAgentHandle, Identity};
use spiffe_id::{IdMatcher, SpiffeId};
use spiffe_source::{JwtSource, SourceError};
use tokio::net::{TcpListener, TcpStream};

use crate::demo::{self, Log, seconds_left};

/// Settings of one demo run.
#[derive(Clone, Debug)]
pub struct JwtDemoConfig {
    /// How long the client keeps sending requests.
    pub duration: Duration,
    /// Pause between two requests.
    pub interval: Duration,
    /// Lifetime of the JWT-SVIDs the embedded agent issues.
    pub jwt_ttl: Duration,
    /// Print a line per request.
    pub verbose: bool,
    /// Use `SPIFFE_ENDPOINT_SOCKET` when it is set, rather than the embedded dev agent.
    pub use_env: bool,
}

impl Default for JwtDemoConfig {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(20),
            interval: Duration::from_millis(250),
            jwt_ttl: Duration::from_secs(8),
            verbose: true,
            use_env: true,
        }
    }
}

/// What a run saw.
#[derive(Debug, Default)]
pub struct JwtSummary {
    /// Requests the service accepted.
    pub ok: u32,
    /// Requests that should have been accepted and were not.
    pub failed: u32,
    /// Requests served with a token from the client's cache.
    pub cached: u32,
    /// Requests for which the client asked the agent for a new token.
    pub fetched: u32,
    /// Requests with a token for another audience that were refused (401).
    pub wrong_audience_refused: u32,
    /// Requests from an unauthorised caller that were refused (403).
    pub unknown_caller_refused: u32,
    /// Refusals that did not happen.
    pub not_refused: u32,
    /// Whether the service saw the new JWT key after the rotation.
    pub rotation_seen: bool,
    /// Whether the run used the embedded dev agent.
    pub embedded_agent: bool,
}

impl JwtSummary {
    /// The problems that make the run a failure; empty when it passed.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.failed > 0 || self.ok == 0 {
            problems.push(format!("{} request(s) failed, {} ok", self.failed, self.ok));
        }
        if self.not_refused > 0 {
            problems.push(format!(
                "{} request(s) that must be refused were not",
                self.not_refused
            ));
        }
        if self.wrong_audience_refused == 0 || self.unknown_caller_refused == 0 {
            problems.push("the refusal checks did not run".to_owned());
        }
        if self.cached == 0 {
            problems.push("no request was served from the token cache".to_owned());
        }
        if self.embedded_agent && !self.rotation_seen {
            problems.push("the JWT key rotation was not seen by the service".to_owned());
        }
        problems
    }
}

const TRUST_DOMAIN: &str = "example.org";
const API_AUDIENCE: &str = "spiffe://example.org/demo/api";
const CLIENT_ID: &str = "spiffe://example.org/demo/client";
const INTRUDER_ID: &str = "spiffe://example.org/demo/intruder";

/// Runs the demo against `SPIFFE_ENDPOINT_SOCKET` when set (entries for the client and
/// intruder IDs), else against a dev agent started in this process.
///
/// # Errors
///
/// When the agent, the sources or the listener cannot be set up.
pub async fn run(config: JwtDemoConfig) -> Result<JwtSummary, Box<dyn std::error::Error>> {
    let log = Log::new(config.verbose);
    let started = log.started();

    let (agent, endpoint) = demo::endpoint(config.use_env, &log, async || {
        start_agent(config.jwt_ttl).await
    })
    .await?;

    // One long-lived source per workload: the service validates, the client fetches.
    let service_source = JwtSource::builder()
        .endpoint(endpoint.clone())
        .build()
        .await?;
    let client_source = JwtSource::builder()
        .endpoint(endpoint.clone())
        .build()
        .await?;
    let client_id = SpiffeId::parse(CLIENT_ID)?;
    let intruder_id = SpiffeId::parse(INTRUDER_ID)?;

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let service = Service {
        source: service_source.clone(),
        authorize: IdMatcher::exact(client_id.clone()),
    };
    let server = tokio::spawn(serve(listener, Arc::new(service)));
    log.line(format!(
        "service for audience {API_AUDIENCE} on http://{addr}"
    ));

    let key_before = current_kids(&service_source);
    let rotate_at = config.duration.mul_f64(0.5);
    let mut rotated = false;
    let mut summary = JwtSummary {
        embedded_agent: agent.is_some(),
        ..JwtSummary::default()
    };
    let mut last_token = String::new();
    let mut round = 0u32;

    while started.elapsed() < config.duration {
        round += 1;
        if let Some(agent) = &agent
            && !rotated
            && started.elapsed() >= rotate_at
        {
            agent.rotate_jwt_key()?;
            log.line("agent: JWT signing key rotated (the old key stays in the bundle)".to_owned());
            rotated = true;
        }

        // The caller's token for the API, from the source's cache when it is not yet due.
        match client_source
            .fetch_jwt_svid_for(&client_id, &[API_AUDIENCE])
            .await
        {
            Ok(svid) => {
                let cached = svid.token() == last_token;
                if cached {
                    summary.cached += 1;
                } else {
                    summary.fetched += 1;
                    last_token = svid.token().to_owned();
                }
                match call(addr, svid.token()).await {
                    Ok((StatusCode::OK, body)) => {
                        summary.ok += 1;
                        log.line(format!(
                            "request ok: {body}, token {:.1}s left, {}",
                            seconds_left(svid.expiry()),
                            if cached {
                                "from the cache"
                            } else {
                                "fetched from the agent"
                            }
                        ));
                    }
                    Ok((status, body)) => {
                        summary.failed += 1;
                        log.always(format!("request FAILED: {status} {body}"));
                    }
                    Err(e) => {
                        summary.failed += 1;
                        log.always(format!("request FAILED: {e}"));
                    }
                }
            }
            Err(e) => {
                summary.failed += 1;
                log.always(format!("no token: {e}"));
            }
        }

        // Every fifth round: a token for another audience, and one of an unknown caller.
        if round % 5 == 1 {
            let other = client_source
                .fetch_jwt_svid_for(&client_id, &["spiffe://example.org/demo/other"])
                .await?;
            expect_refused(
                addr,
                other.token(),
                StatusCode::UNAUTHORIZED,
                "wrong audience",
                &log,
            )
            .await
            .map_or_else(
                || summary.not_refused += 1,
                |()| summary.wrong_audience_refused += 1,
            );

            let intruder = client_source
                .fetch_jwt_svid_for(&intruder_id, &[API_AUDIENCE])
                .await?;
            expect_refused(
                addr,
                intruder.token(),
                StatusCode::FORBIDDEN,
                "unknown caller",
                &log,
            )
            .await
            .map_or_else(
                || summary.not_refused += 1,
                |()| summary.unknown_caller_refused += 1,
            );
        }

        tokio::time::sleep(config.interval).await;
    }

    summary.rotation_seen = current_kids(&service_source)
        .iter()
        .any(|kid| !key_before.contains(kid));
    if summary.rotation_seen {
        log.line("service: the JWT bundle holds the new key".to_owned());
    }

    server.abort();
    service_source.close().await;
    client_source.close().await;
    if let Some(agent) = agent {
        agent.stop().await;
    }
    Ok(summary)
}

async fn start_agent(jwt_ttl: Duration) -> Result<DevAgentHandle, Box<dyn std::error::Error>> {
    let agent = DevAgent::builder()
        .trust_domain(TRUST_DOMAIN)
        .identity(
            Identity::new(CLIENT_ID)
                .with_hint("client")
                .with_jwt_ttl(jwt_ttl),
        )
        .identity(
            Identity::new(INTRUDER_ID)
                .with_hint("intruder")
                .with_jwt_ttl(jwt_ttl),
        )
        .start()
        .await?;
    Ok(agent)
}

/// The key IDs of the demo trust domain's JWT bundle.
fn current_kids(source: &JwtSource) -> Vec<String> {
    let bundles = source.jwt_bundles();
    bundles
        .get(TRUST_DOMAIN)
        .map(|b| b.authorities().map(|a| a.key_id().to_owned()).collect())
        .unwrap_or_default()
}

/// Sends a request that must be refused with `expected`; `None` when it was not.
async fn expect_refused(
    addr: SocketAddr,
    token: &str,
    expected: StatusCode,
    what: &str,
    log: &Log,
) -> Option<()> {
    match call(addr, token).await {
        Ok((status, body)) if status == expected => {
            log.line(format!("{what} refused: {status} {body}"));
            Some(())
        }
        other => {
            log.always(format!("{what} was NOT refused as {expected}: {other:?}"));
            None
        }
    }
}

/// The HTTP service: validates the bearer token for its audience, then authorises the caller.
struct Service {
    source: JwtSource,
    authorize: IdMatcher,
}

impl Service {
    fn handle(&self, request: &Request<Incoming>) -> (StatusCode, String) {
        let token = request
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let Some(token) = token else {
            return (StatusCode::UNAUTHORIZED, "no bearer token".to_owned());
        };

        match self.source.validate(token, &[API_AUDIENCE]) {
            Ok(svid) if self.authorize.matches(svid.spiffe_id()) => {
                (StatusCode::OK, format!("hello {}", svid.spiffe_id()))
            }
            Ok(svid) => (
                StatusCode::FORBIDDEN,
                format!("{} is not authorised", svid.spiffe_id()),
            ),
            Err(SourceError::InvalidToken(e)) => (StatusCode::UNAUTHORIZED, e.to_string()),
            Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        }
    }
}

async fn serve(listener: TcpListener, service: Arc<Service>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let service = Arc::clone(&service);
        tokio::spawn(async move {
            let handler = hyper::service::service_fn(move |request: Request<Incoming>| {
                let (status, body) = service.handle(&request);
                async move {
                    let mut response = Response::new(Full::new(Bytes::from(body)));
                    *response.status_mut() = status;
                    Ok::<_, Infallible>(response)
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), handler);
            // A broken connection ends here; the client reports it.
            let _ = connection.await;
        });
    }
}

/// One GET with the token as bearer; the status and body.
async fn call(
    addr: SocketAddr,
    token: &str,
) -> Result<(StatusCode, String), Box<dyn std::error::Error>> {
    let tcp = TcpStream::connect(addr).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(connection);

    let request = Request::get("/")
        .header(hyper::header::HOST, addr.to_string())
        .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Empty::<Bytes>::new())?;
    let response =
        tokio::time::timeout(Duration::from_secs(5), sender.send_request(request)).await??;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}
