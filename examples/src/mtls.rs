//! The mutual TLS demo: a server and a client, each with its own long-lived `X509Source`,
//! talking over tokio-rustls across SVID and CA rotations, plus an unauthorised client that
//! must be refused.

use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use spiffe_dev_agent::{DevAgent, DevAgentHandle, Identity};
use spiffe_id::SpiffeId;
use spiffe_source::X509Source;
use spiffe_svid::LeafInfo;
use spiffe_tls::{Authorizer, ClientConfigBuilder, ServerConfigBuilder};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::demo::{self, Log, seconds_left, source_by_hint};

/// Settings of one demo run.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// How long the client keeps sending requests.
    pub duration: Duration,
    /// Pause between two requests.
    pub interval: Duration,
    /// Lifetime of the server's and client's SVIDs from the embedded agent (rotated at half).
    pub svid_ttl: Duration,
    /// Print a line per request and per rotation.
    pub verbose: bool,
    /// Use `SPIFFE_ENDPOINT_SOCKET` when it is set, rather than the embedded dev agent.
    pub use_env: bool,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(30),
            interval: Duration::from_millis(250),
            svid_ttl: Duration::from_secs(10),
            verbose: true,
            use_env: true,
        }
    }
}

/// What a run saw.
#[derive(Debug, Default)]
pub struct Summary {
    /// Requests answered over mutual TLS.
    pub ok: u32,
    /// Requests that failed.
    pub failed: u32,
    /// SVID rotations the server's source saw.
    pub server_svid_rotations: u32,
    /// SVID rotations the client's source saw.
    pub client_svid_rotations: u32,
    /// New CA roots the server's source saw in its bundle.
    pub server_ca_rotations: u32,
    /// New CA roots the client's source saw in its bundle.
    pub client_ca_rotations: u32,
    /// Whether the unauthorised client was refused every time it tried.
    pub rogue_refused: bool,
    /// Whether the run used the embedded dev agent (rotations are then under our control).
    pub embedded_agent: bool,
}

impl Summary {
    /// The problems that make the run a failure; empty when it passed.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.failed > 0 || self.ok == 0 {
            problems.push(format!("{} request(s) failed, {} ok", self.failed, self.ok));
        }
        if !self.rogue_refused {
            problems.push("the unauthorised client was not refused".to_owned());
        }
        if self.embedded_agent {
            let rotations = self.server_svid_rotations.min(self.client_svid_rotations);
            if rotations < 2 {
                problems.push(format!(
                    "only {rotations} SVID rotation(s) seen by both sources"
                ));
            }
            if self.server_ca_rotations.min(self.client_ca_rotations) < 1 {
                problems.push("the CA rotation was not seen by both sources".to_owned());
            }
        }
        problems
    }
}

const TRUST_DOMAIN: &str = "example.org";
const SERVER_ID: &str = "spiffe://example.org/demo/server";
const CLIENT_ID: &str = "spiffe://example.org/demo/client";
const ROGUE_ID: &str = "spiffe://example.org/demo/rogue";
/// How often a progress line is shown while nothing changes.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Runs the demo: against `SPIFFE_ENDPOINT_SOCKET` when it is set (a real SPIRE agent with
/// entries for the three hints), else against a dev agent started in this process.
///
/// # Errors
///
/// When the agent, the sources or the listener cannot be set up.
pub async fn run(config: DemoConfig) -> Result<Summary, Box<dyn std::error::Error>> {
    let log = Log::new(config.verbose);
    let started = log.started();

    let (agent, endpoint) = demo::endpoint(config.use_env, &log, async || {
        start_agent(config.svid_ttl).await
    })
    .await?;

    // One long-lived source per workload, picked by hint.
    let server_source = source_by_hint(&endpoint, "server").await?;
    let client_source = source_by_hint(&endpoint, "client").await?;
    let rogue_source = source_by_hint(&endpoint, "rogue").await?;
    let server_id = SpiffeId::parse(SERVER_ID)?;
    let client_id = SpiffeId::parse(CLIENT_ID)?;

    let server_rotations = watch_rotations("server", server_source.clone(), log.clone());
    let client_rotations = watch_rotations("client", client_source.clone(), log.clone());

    // Built once: every handshake reads the sources' current SVIDs and bundles.
    let server_config =
        ServerConfigBuilder::mtls(server_source.clone(), Authorizer::exact(client_id)).build()?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(serve(listener, TlsAcceptor::from(Arc::new(server_config))));
    log.line(format!("server {SERVER_ID} listening on {addr}"));

    let client = TlsConnector::from(Arc::new(
        ClientConfigBuilder::mtls(client_source.clone(), Authorizer::exact(server_id.clone()))
            .build()?,
    ));
    let rogue = TlsConnector::from(Arc::new(
        ClientConfigBuilder::mtls(rogue_source.clone(), Authorizer::exact(server_id)).build()?,
    ));

    let mut summary = Summary {
        rogue_refused: true,
        embedded_agent: agent.is_some(),
        ..Summary::default()
    };
    let ca_prepare_at = config.duration.mul_f64(0.4);
    let ca_rotate_at = config.duration.mul_f64(0.5);
    let (mut prepared, mut rotated) = (false, false);
    let mut rogue_tries = 0;
    // A request line when either side's certificate changed, else one every few seconds.
    let mut last_shown: Option<(String, String, Instant)> = None;

    while started.elapsed() < config.duration {
        if let Some(agent) = &agent {
            // Announce the next root first, so every peer trusts it before any SVID uses it.
            if !prepared && started.elapsed() >= ca_prepare_at {
                agent.prepare_ca_rotation()?;
                log.line("agent: next CA announced".to_owned());
                prepared = true;
            }
            if !rotated && started.elapsed() >= ca_rotate_at {
                agent.rotate_ca()?;
                log.line("agent: CA rotated, SVIDs re-issued from the new CA".to_owned());
                rotated = true;
            }
        }

        match request(&client, addr).await {
            Ok(reply) => {
                summary.ok += 1;
                let snapshot = client_source.snapshot();
                let (serial, left) = match snapshot.svid() {
                    Ok(svid) => (svid.serial_hex().to_owned(), seconds_left(svid.not_after())),
                    Err(_) => (String::from("-"), 0.0),
                };
                let changed = last_shown.as_ref().is_none_or(|(peer, mine, at)| {
                    *peer != reply.peer_serial || *mine != serial || at.elapsed() >= PROGRESS_EVERY
                });
                if changed {
                    log.line(format!(
                        "{} requests ok so far; server {} (serial {}), client serial {}, \
                         client SVID expires in {left:.1}s",
                        summary.ok,
                        reply.peer,
                        short(&reply.peer_serial),
                        short(&serial)
                    ));
                    last_shown = Some((reply.peer_serial.clone(), serial, Instant::now()));
                }
            }
            Err(e) => {
                summary.failed += 1;
                log.always(format!("request FAILED: {e}"));
            }
        }

        // The rogue tries at the start, in the middle and near the end.
        let due = rogue_tries * config.duration.as_millis() / 3;
        if started.elapsed().as_millis() >= due && rogue_tries < 3 {
            rogue_tries += 1;
            match request(&rogue, addr).await {
                Ok(_) => {
                    summary.rogue_refused = false;
                    log.always(format!("unauthorised client {ROGUE_ID} was ACCEPTED"));
                }
                Err(e) => log.line(format!("unauthorised client {ROGUE_ID} refused: {e}")),
            }
        }

        tokio::time::sleep(config.interval).await;
    }

    server.abort();
    summary.server_svid_rotations = server_rotations.svids.load(Ordering::Relaxed);
    summary.server_ca_rotations = server_rotations.roots.load(Ordering::Relaxed);
    summary.client_svid_rotations = client_rotations.svids.load(Ordering::Relaxed);
    summary.client_ca_rotations = client_rotations.roots.load(Ordering::Relaxed);

    server_source.close().await;
    client_source.close().await;
    rogue_source.close().await;
    if let Some(agent) = agent {
        agent.stop().await;
    }
    Ok(summary)
}

async fn start_agent(ttl: Duration) -> Result<DevAgentHandle, Box<dyn std::error::Error>> {
    let agent = DevAgent::builder()
        .trust_domain(TRUST_DOMAIN)
        .intermediate(true)
        .identity(Identity::new(SERVER_ID).with_hint("server").with_ttl(ttl))
        .identity(Identity::new(CLIENT_ID).with_hint("client").with_ttl(ttl))
        .identity(Identity::new(ROGUE_ID).with_hint("rogue").with_ttl(ttl))
        .start()
        .await?;
    Ok(agent)
}

/// Counts what one source saw.
#[derive(Default)]
struct Rotations {
    svids: AtomicU32,
    roots: AtomicU32,
}

fn watch_rotations(name: &'static str, source: X509Source, log: Log) -> Arc<Rotations> {
    let counts = Arc::new(Rotations::default());
    let seen = Arc::clone(&counts);
    tokio::spawn(async move {
        let mut updates = source.updates();
        let (mut serial, mut roots) = state_of(&source);
        while updates.changed().await.is_ok() {
            let (new_serial, new_roots) = state_of(&source);
            if new_serial != serial {
                seen.svids.fetch_add(1, Ordering::Relaxed);
                log.line(format!(
                    "{name}: SVID rotated, serial {} -> {}",
                    short(&serial),
                    short(&new_serial)
                ));
            }
            let added = new_roots.difference(&roots).count();
            if added > 0 {
                seen.roots.fetch_add(1, Ordering::Relaxed);
                log.line(format!(
                    "{name}: bundle gained {added} new root(s), {} in all",
                    new_roots.len()
                ));
            }
            (serial, roots) = (new_serial, new_roots);
        }
    });
    counts
}

/// The default SVID's serial and the authorities of its trust domain.
fn state_of(source: &X509Source) -> (String, HashSet<CertificateDer<'static>>) {
    let snapshot = source.snapshot();
    let Ok(svid) = snapshot.svid() else {
        return (String::new(), HashSet::new());
    };
    let roots = snapshot
        .bundle(svid.spiffe_id().trust_domain_name())
        .map(|b| b.authorities().iter().cloned().collect())
        .unwrap_or_default();
    (svid.serial_hex().to_owned(), roots)
}

/// The server: answers each request line with the caller's ID.
async fn serve(listener: TcpListener, acceptor: TlsAcceptor) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            // A refused handshake ends here; the client reports it.
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let caller = peer_info(tls.get_ref().1.peer_certificates());
            let mut stream = BufReader::new(tls);
            let mut line = String::new();
            if stream.read_line(&mut line).await.is_ok() {
                let caller = caller
                    .map(|info| info.spiffe_id.to_string())
                    .unwrap_or_default();
                let _ = stream
                    .get_mut()
                    .write_all(format!("hello {caller}\n").as_bytes())
                    .await;
                let _ = stream.get_mut().shutdown().await;
            }
        });
    }
}

struct Reply {
    peer: String,
    peer_serial: String,
}

/// One request over a fresh mutual TLS connection.
async fn request(connector: &TlsConnector, addr: SocketAddr) -> io::Result<Reply> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("spiffe-demo").map_err(io::Error::other)?;
    let tls = tokio::time::timeout(Duration::from_secs(5), connector.connect(name, tcp))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "handshake timed out"))??;

    let info = peer_info(tls.get_ref().1.peer_certificates())
        .ok_or_else(|| io::Error::other("the server presented no SPIFFE certificate"))?;
    let (peer, peer_serial) = (info.spiffe_id.to_string(), info.serial_hex);

    let mut stream = BufReader::new(tls);
    stream.get_mut().write_all(b"ping\n").await?;
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_line(&mut line))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no reply"))??;
    // TLS 1.3 reports a refused client certificate only when the client reads.
    if !line.starts_with("hello ") {
        return Err(io::Error::other(format!("unexpected reply {line:?}")));
    }
    Ok(Reply { peer, peer_serial })
}

/// The SPIFFE ID, serial and expiry of a peer that the handshake verified.
fn peer_info(certs: Option<&[CertificateDer<'_>]>) -> Option<LeafInfo> {
    spiffe_svid::inspect_leaf(certs?.first()?).ok()
}

fn short(serial: &str) -> &str {
    serial.get(..12).unwrap_or(serial)
}
