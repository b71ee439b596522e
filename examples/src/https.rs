//! HTTPS over mutual TLS with hyper: a server that authorises callers by SPIFFE ID and hands
//! the caller's ID to its handler in the request extensions, and a client that checks the
//! server's SPIFFE ID. Both sides get their SVIDs from long-lived `X509Source`s; the SVIDs
//! rotate while requests go on; an unauthorised client is refused.

use std::collections::HashSet;
use std::convert::Infallible;
use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use spiffe_id::SpiffeId;
use spiffe_tls::{Authorizer, ClientConfigBuilder, ServerConfigBuilder};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::demo;

const SERVER_ID: &str = "spiffe://example.org/web/server";
const CLIENT_ID: &str = "spiffe://example.org/web/client";
const ROGUE_ID: &str = "spiffe://example.org/rogue";

/// What a run saw.
pub type HttpsSummary = demo::CallSummary;

/// The verified SPIFFE ID of the caller, in each request's extensions.
#[derive(Clone, Debug)]
pub struct PeerId(pub SpiffeId);

/// Runs `requests` requests over fresh connections, rotating the SVIDs every few.
///
/// # Errors
///
/// When the agent, the sources or the listener cannot be set up.
pub async fn run(requests: u32) -> Result<HttpsSummary, Box<dyn Error>> {
    let workloads = demo::Workloads::start(SERVER_ID, CLIENT_ID, ROGUE_ID).await?;

    // The server accepts only the clients under /web.
    let web = Authorizer::path_prefix(SpiffeId::parse("spiffe://example.org/web")?);
    let server_config = ServerConfigBuilder::mtls(workloads.server.clone(), web).build()?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(serve(listener, TlsAcceptor::from(Arc::new(server_config))));

    let server_id = Authorizer::exact(SpiffeId::parse(SERVER_ID)?);
    let client = ClientConfigBuilder::mtls(workloads.client.clone(), server_id.clone()).build()?;
    let client = TlsConnector::from(Arc::new(client));
    let rogue = ClientConfigBuilder::mtls(workloads.rogue.clone(), server_id).build()?;
    let rogue = TlsConnector::from(Arc::new(rogue));

    let mut summary = HttpsSummary::default();
    let mut server_certs = HashSet::new();
    for i in 0..requests {
        workloads.rotate_before(i, &mut summary).await?;
        match get(&client, addr).await {
            Ok((body, server_cert)) if body == format!("hello {CLIENT_ID}") => {
                summary.ok += 1;
                server_certs.insert(server_cert);
            }
            Ok((body, _)) => {
                summary.failed += 1;
                log(format!("unexpected answer {body:?}"));
            }
            Err(e) => {
                summary.failed += 1;
                log(format!("request failed: {e}"));
            }
        }
    }
    summary.server_certs_seen = server_certs.len();
    summary.rogue_refused = get(&rogue, addr).await.is_err();

    server.abort();
    workloads.stop().await;
    Ok(summary)
}

async fn serve(listener: TcpListener, acceptor: TlsAcceptor) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            // A refused handshake ends here; the client sees the alert.
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let Some(peer) = spiffe_tls::peer_id(tls.get_ref().1) else {
                return;
            };
            let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(PeerId(peer.clone()));
                handle(request)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

/// The handler: answers with the caller's verified SPIFFE ID.
async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match request.extensions().get::<PeerId>() {
        Some(PeerId(id)) => Response::new(Full::new(Bytes::from(format!("hello {id}")))),
        None => {
            let mut response = Response::new(Full::new(Bytes::from_static(b"no peer")));
            *response.status_mut() = StatusCode::FORBIDDEN;
            response
        }
    };
    Ok(response)
}

/// One GET over a fresh mutual TLS connection; on success, the body and the server's leaf
/// certificate (DER).
async fn get(
    connector: &TlsConnector,
    addr: SocketAddr,
) -> Result<(String, Vec<u8>), Box<dyn Error>> {
    let tcp = TcpStream::connect(addr).await?;
    // The name is only sent as SNI: the server is identified by its SPIFFE ID.
    let name = ServerName::try_from("web.example.org")?;
    let tls = connector.connect(name, tcp).await?;
    let server_cert = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| leaf.to_vec())
        .unwrap_or_default();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    let driver = tokio::spawn(connection);

    let request = Request::get(format!("https://{addr}/"))
        .header(hyper::header::HOST, "web.example.org")
        .body(Full::new(Bytes::new()))?;
    let response =
        tokio::time::timeout(Duration::from_secs(5), sender.send_request(request)).await??;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    driver.abort();

    if status != StatusCode::OK {
        return Err(format!("status {status}").into());
    }
    Ok((String::from_utf8_lossy(&body).into_owned(), server_cert))
}

#[allow(clippy::print_stdout, reason = "the demo's output is its purpose")]
fn log(line: String) {
    println!("{line}");
}
