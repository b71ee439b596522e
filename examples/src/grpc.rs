//! gRPC over mutual TLS with tonic: the server authorises callers by SPIFFE ID at the TLS
//! layer, and its handlers read the caller's verified ID from the request extensions; the
//! client checks the server's SPIFFE ID. SVIDs come from long-lived `X509Source`s and rotate
//! while calls go on; an unauthorised client is refused.

use std::collections::HashSet;
use std::error::Error;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use spiffe_id::SpiffeId;
use spiffe_source::X509Source;
use spiffe_tls::{Authorizer, ClientConfigBuilder, ServerConfigBuilder};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tonic::transport::server::Connected;
use tonic::transport::{Endpoint, Server};
use tonic::{Request, Response, Status};

/// Code generated from `examples/proto/greeter.proto` by the build script.
#[allow(missing_docs, unreachable_pub, clippy::all, reason = "generated code")]
pub mod proto {
    tonic::include_proto!("greeter");
}

use proto::greeter_client::GreeterClient;
use proto::greeter_server::{Greeter, GreeterServer};
use proto::{HelloReply, HelloRequest};

use crate::demo;

const SERVER_ID: &str = "spiffe://example.org/grpc/server";
const CLIENT_ID: &str = "spiffe://example.org/ns/prod/sa/frontend";
const ROGUE_ID: &str = "spiffe://example.org/ns/prod/sa/batch";

/// What a run saw.
pub type GrpcSummary = demo::CallSummary;

/// The server leaf certificates (DER) a client saw in its handshakes.
type SeenCerts = Arc<Mutex<HashSet<Vec<u8>>>>;

/// The caller's verified SPIFFE ID: tonic puts it in every request's extensions.
#[derive(Clone, Debug)]
pub struct PeerId(pub SpiffeId);

/// A server-side TLS connection that knows its peer's SPIFFE ID.
struct SpiffeStream {
    tls: TlsStream<TcpStream>,
    peer: SpiffeId,
}

impl Connected for SpiffeStream {
    type ConnectInfo = PeerId;

    fn connect_info(&self) -> PeerId {
        PeerId(self.peer.clone())
    }
}

impl AsyncRead for SpiffeStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_read(cx, buf)
    }
}

impl AsyncWrite for SpiffeStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tls).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_shutdown(cx)
    }
}

/// The service: greets the caller by its verified SPIFFE ID.
struct Greetings;

#[tonic::async_trait]
impl Greeter for Greetings {
    async fn hello(&self, request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        let Some(PeerId(caller)) = request.extensions().get::<PeerId>().cloned() else {
            return Err(Status::unauthenticated("no verified SPIFFE ID"));
        };
        let message = format!("hello {}", request.into_inner().name);
        Ok(Response::new(HelloReply {
            caller: caller.to_string(),
            message,
        }))
    }
}

/// Makes `calls` calls, each on a fresh channel, rotating the SVIDs every few.
///
/// # Errors
///
/// When the agent, the sources or the listener cannot be set up.
pub async fn run(calls: u32) -> Result<GrpcSummary, Box<dyn Error>> {
    let workloads = demo::Workloads::start(SERVER_ID, CLIENT_ID, ROGUE_ID).await?;

    // Frontends of any namespace may call; nobody else.
    let frontends = Authorizer::pattern("spiffe://example.org/ns/*/sa/frontend")?;
    let mut server_config =
        ServerConfigBuilder::mtls(workloads.server.clone(), frontends).build()?;
    server_config.alpn_protocols = vec![b"h2".to_vec()];
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(serve(listener, TlsAcceptor::from(Arc::new(server_config))));

    let server_id = Authorizer::exact(SpiffeId::parse(SERVER_ID)?);
    let client = connector(workloads.client.clone(), server_id.clone())?;
    let rogue = connector(workloads.rogue.clone(), server_id)?;
    let seen = SeenCerts::default();

    let mut summary = GrpcSummary::default();
    for i in 0..calls {
        workloads.rotate_before(i, &mut summary).await?;
        match hello(&client, addr, &seen).await {
            Ok(reply) if reply.caller == CLIENT_ID => summary.ok += 1,
            Ok(reply) => {
                summary.failed += 1;
                log(format!("unexpected caller {:?}", reply.caller));
            }
            Err(e) => {
                summary.failed += 1;
                log(format!("call failed: {e}"));
            }
        }
    }
    summary.server_certs_seen = seen.lock().map_or(0, |certs| certs.len());
    summary.rogue_refused = hello(&rogue, addr, &SeenCerts::default()).await.is_err();

    server.abort();
    workloads.stop().await;
    Ok(summary)
}

fn connector(source: X509Source, server: Authorizer) -> Result<TlsConnector, rustls::Error> {
    let mut config = ClientConfigBuilder::mtls(source, server).build()?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Accepts connections, handshakes each in its own task, and feeds the verified ones to
/// tonic with their peer's SPIFFE ID.
async fn serve(listener: TcpListener, acceptor: TlsAcceptor) {
    let (tx, rx) = mpsc::channel::<Result<SpiffeStream, std::io::Error>>(16);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                // A refused handshake ends here; the client sees the alert.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if let Some(peer) = spiffe_tls::peer_id(tls.get_ref().1) {
                    let _ = tx.send(Ok(SpiffeStream { tls, peer })).await;
                }
            });
        }
    });

    let incoming = tokio_stream::wrappers::ReceiverStream::new(rx);
    let _ = Server::builder()
        .add_service(GreeterServer::new(Greetings))
        .serve_with_incoming(incoming)
        .await;
}

/// One call over a fresh mutual TLS channel; the server's leaf certificate goes into `seen`.
async fn hello(
    connector: &TlsConnector,
    addr: SocketAddr,
    seen: &SeenCerts,
) -> Result<HelloReply, Box<dyn Error>> {
    let connector = connector.clone();
    let seen = Arc::clone(seen);
    let channel = Endpoint::try_from(format!("http://{addr}"))?
        .timeout(Duration::from_secs(5))
        .connect_with_connector(tower::service_fn(move |_| {
            let connector = connector.clone();
            let seen = Arc::clone(&seen);
            async move {
                let tcp = TcpStream::connect(addr).await?;
                // Only sent as SNI: the server is identified by its SPIFFE ID.
                let name =
                    ServerName::try_from("grpc.example.org").map_err(std::io::Error::other)?;
                let tls = connector.connect(name, tcp).await?;
                let leaf = tls.get_ref().1.peer_certificates().and_then(|c| c.first());
                if let (Some(leaf), Ok(mut seen)) = (leaf, seen.lock()) {
                    seen.insert(leaf.to_vec());
                }
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        }))
        .await?;

    let request = HelloRequest {
        name: "spiffe".to_owned(),
    };
    let reply = GreeterClient::new(channel).hello(request).await?;
    Ok(reply.into_inner())
}

#[allow(clippy::print_stdout, reason = "the demo's output is its purpose")]
fn log(line: String) {
    println!("{line}");
}
