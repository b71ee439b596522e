//! The builder, the running agent's handle and the listener lifecycle.

use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use spiffe_bundle::JwtBundle;
use spiffe_svid::JwsAlgorithm;
use spiffe_workload_api::proto::spiffe_workload_api_server::SpiffeWorkloadApiServer;
use spiffe_workload_api::proto::{JwtBundlesResponse, X509BundlesResponse, X509svidResponse};
use tempfile::TempDir;
use tokio::net::UnixListener;
use tokio::sync::{Mutex, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::UnixListenerStream;

use crate::jwt::{DEFAULT_JWT_ALGORITHM, DEFAULT_JWT_GRACE};
use crate::service::AgentService;
use crate::state::{Command, Settings, Shared};
use crate::{
    AgentStats, CallKind, DevAgentError, Fault, Garbage, Identity, IssuedSvid, Revocation,
    StreamEnd, StreamKind,
};

/// The trust domain of an agent whose builder does not set one.
pub const DEFAULT_TRUST_DOMAIN: &str = "example.org";
/// How long a CA certificate is valid.
pub const DEFAULT_CA_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long the root of a rotated CA stays in the bundle.
pub const DEFAULT_CA_GRACE: Duration = Duration::from_secs(3600);
/// How long `stop` waits for connections to close before cutting them.
const STOP_GRACE: Duration = Duration::from_secs(2);
const SOCKET_FILE_NAME: &str = "agent.sock";

/// Entry point: `DevAgent::builder()`.
#[derive(Debug)]
#[non_exhaustive]
pub struct DevAgent;

impl DevAgent {
    /// A builder for trust domain `example.org`, no identities, no intermediate CA, ES256
    /// JWT-SVIDs and a socket in a fresh temporary directory.
    pub fn builder() -> DevAgentBuilder {
        DevAgentBuilder {
            trust_domain: DEFAULT_TRUST_DOMAIN.to_owned(),
            identities: Vec::new(),
            intermediate: false,
            socket_path: None,
            ca_lifetime: DEFAULT_CA_LIFETIME,
            ca_grace: DEFAULT_CA_GRACE,
            jwt_algorithm: DEFAULT_JWT_ALGORITHM,
            jwt_grace: DEFAULT_JWT_GRACE,
        }
    }
}

/// Configures and starts a [`DevAgent`].
#[derive(Clone, Debug)]
#[must_use]
pub struct DevAgentBuilder {
    trust_domain: String,
    identities: Vec<Identity>,
    intermediate: bool,
    socket_path: Option<PathBuf>,
    ca_lifetime: Duration,
    ca_grace: Duration,
    jwt_algorithm: JwsAlgorithm,
    jwt_grace: Duration,
}

impl DevAgentBuilder {
    /// Sets the trust domain, a bare name such as `prod.acme.io` (default:
    /// [`DEFAULT_TRUST_DOMAIN`], `example.org`).
    pub fn trust_domain(mut self, name: impl Into<String>) -> Self {
        self.trust_domain = name.into();
        self
    }

    /// Adds an identity; a `&str` is a SPIFFE ID with default options.
    pub fn identity(mut self, identity: impl Into<Identity>) -> Self {
        self.identities.push(identity.into());
        self
    }

    /// Adds several identities.
    pub fn identities(mut self, identities: impl IntoIterator<Item = Identity>) -> Self {
        self.identities.extend(identities);
        self
    }

    /// Signs SVIDs with an intermediate CA, so that chains have two certificates.
    pub fn intermediate(mut self, on: bool) -> Self {
        self.intermediate = on;
        self
    }

    /// Listens on this path instead of a socket in a temporary directory. A stale socket
    /// file at the path is replaced; any other file is an error.
    pub fn socket_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.socket_path = Some(path.into());
        self
    }

    /// How long CA certificates are valid.
    pub fn ca_lifetime(mut self, lifetime: Duration) -> Self {
        self.ca_lifetime = lifetime;
        self
    }

    /// How long the root of a rotated CA stays in the bundle.
    pub fn ca_grace(mut self, grace: Duration) -> Self {
        self.ca_grace = grace;
        self
    }

    /// The algorithm JWT-SVIDs are signed with (default ES256). Every algorithm of the
    /// JWT-SVID allow-list works; RSA keys are 2048 bits.
    pub fn jwt_algorithm(mut self, alg: JwsAlgorithm) -> Self {
        self.jwt_algorithm = alg;
        self
    }

    /// How long the JWT key replaced by [`DevAgentHandle::rotate_jwt_key`] stays in the
    /// JWT bundle (default one hour).
    pub fn jwt_grace(mut self, grace: Duration) -> Self {
        self.jwt_grace = grace;
        self
    }

    /// Creates the CA and the JWT key, issues the SVIDs, starts the rotation task and
    /// listens.
    ///
    /// Must run inside a Tokio runtime.
    ///
    /// # Errors
    ///
    /// An invalid trust domain or identity, a CA failure, a socket path that is taken by
    /// something else than a socket, or a failure to create the directory or bind the socket.
    pub async fn start(self) -> Result<DevAgentHandle, DevAgentError> {
        let settings = Settings {
            trust_domain: self.trust_domain,
            intermediate: self.intermediate,
            ca_lifetime: self.ca_lifetime,
            ca_grace: self.ca_grace,
            jwt_algorithm: self.jwt_algorithm,
            jwt_grace: self.jwt_grace,
        };
        let shared = Shared::new(settings, self.identities)?;

        let (temp_dir, socket_path) = match self.socket_path {
            Some(path) => (None, path),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("spiffe-dev-agent-")
                    .tempdir()
                    .map_err(|source| DevAgentError::Io {
                        context: "cannot create a temporary directory in",
                        path: std::env::temp_dir(),
                        source,
                    })?;
                let path = dir.path().join(SOCKET_FILE_NAME);
                (Some(dir), path)
            }
        };

        let server = listen(&shared, &socket_path)?;
        let rotation = tokio::spawn(rotate(Arc::clone(&shared)));
        Ok(DevAgentHandle {
            shared,
            socket_path,
            server: Mutex::new(Some(server)),
            rotation,
            _temp_dir: temp_dir,
        })
    }
}

/// A running agent. Dropping it stops the agent (without waiting) and removes its socket.
///
/// All methods take `&self`, so the handle can be shared in an `Arc` between a test and the
/// tasks it spawns.
pub struct DevAgentHandle {
    shared: Arc<Shared>,
    socket_path: PathBuf,
    server: Mutex<Option<Server>>,
    rotation: JoinHandle<()>,
    // Declared last: the directory goes after the socket in it.
    _temp_dir: Option<TempDir>,
}

struct Server {
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl DevAgentHandle {
    // ---- where ----

    /// The Unix socket path.
    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    /// The Workload API address, `unix:///...`, as `SPIFFE_ENDPOINT_SOCKET` expects it.
    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.socket_path.display())
    }

    /// The trust domain name.
    pub fn trust_domain(&self) -> &str {
        &self.shared.settings.trust_domain
    }

    // ---- material ----

    /// The SVIDs currently issued, one per identity (revoked ones included).
    pub fn svids(&self) -> Vec<IssuedSvid> {
        self.shared.svids()
    }

    /// The authorities served for the agent's trust domain, DER: the current root, then an
    /// announced next root, then old roots still in their grace period.
    pub fn bundle(&self) -> Vec<Vec<u8>> {
        self.shared.authorities()
    }

    /// Adds an identity at run time; open streams of callers it applies to get an update.
    ///
    /// # Errors
    ///
    /// An invalid SPIFFE ID or TTL, or a CA failure.
    pub fn add_identity(&self, identity: impl Into<Identity>) -> Result<(), DevAgentError> {
        self.shared.add_identity(identity.into())
    }

    /// Revokes every identity with this SPIFFE ID; see [`Revocation`] for what callers see.
    ///
    /// # Errors
    ///
    /// No identity with this SPIFFE ID is configured.
    pub fn revoke(&self, spiffe_id: &str, how: Revocation) -> Result<(), DevAgentError> {
        self.shared.set_revocation(spiffe_id, Some(how))
    }

    /// Serves a revoked identity again.
    ///
    /// # Errors
    ///
    /// No identity with this SPIFFE ID is configured.
    pub fn reinstate(&self, spiffe_id: &str) -> Result<(), DevAgentError> {
        self.shared.set_revocation(spiffe_id, None)
    }

    /// Serves `authorities` (DER certificates) as the bundle of a foreign trust domain, in
    /// `federated_bundles` and in `FetchX509Bundles`.
    ///
    /// # Errors
    ///
    /// An invalid trust domain name.
    pub fn set_federated_bundle(
        &self,
        trust_domain: &str,
        authorities: &[Vec<u8>],
    ) -> Result<(), DevAgentError> {
        crate::id::check_trust_domain(trust_domain)?;
        self.shared
            .set_federated(trust_domain, Some(authorities.concat()));
        Ok(())
    }

    /// Stops serving a foreign trust domain's bundle.
    pub fn remove_federated_bundle(&self, trust_domain: &str) {
        self.shared.set_federated(trust_domain, None);
    }

    // ---- rotation ----

    /// Re-issues every SVID now and pushes the new state on every open stream.
    ///
    /// # Errors
    ///
    /// A CA failure.
    pub fn rotate_svids(&self) -> Result<(), DevAgentError> {
        self.shared.renew(None)
    }

    /// Re-issues the SVID of one identity now.
    ///
    /// # Errors
    ///
    /// No identity with this SPIFFE ID, or a CA failure.
    pub fn rotate_svid(&self, spiffe_id: &str) -> Result<(), DevAgentError> {
        self.shared.renew(Some(spiffe_id))
    }

    /// Announces the next CA: its root joins the bundle while SVIDs still come from the
    /// current CA. [`rotate_ca`](Self::rotate_ca) then switches to it.
    ///
    /// # Errors
    ///
    /// A CA failure.
    pub fn prepare_ca_rotation(&self) -> Result<(), DevAgentError> {
        self.shared.prepare_ca_rotation()
    }

    /// Switches to a new CA (the announced one, if any) and re-issues every SVID from it, in
    /// one update. The old root stays in the bundle for the grace period (see
    /// [`DevAgentBuilder::ca_grace`]) so peers holding old SVIDs keep verifying.
    ///
    /// # Errors
    ///
    /// A CA failure.
    pub fn rotate_ca(&self) -> Result<(), DevAgentError> {
        self.shared.rotate_ca()
    }

    /// Ends the grace period now: old roots leave the bundle.
    pub fn end_ca_grace(&self) {
        self.shared.end_ca_grace();
    }

    // ---- JWT-SVIDs ----

    /// The algorithm JWT-SVIDs are signed with.
    pub fn jwt_algorithm(&self) -> JwsAlgorithm {
        self.shared.jwt_key_info().0
    }

    /// The `kid` of the key JWT-SVIDs are signed with now.
    pub fn jwt_key_id(&self) -> String {
        self.shared.jwt_key_info().1
    }

    /// The JWT bundle of the agent's trust domain: the current key and the keys still in
    /// their grace period, public parts only.
    pub fn jwt_bundle(&self) -> JwtBundle {
        self.shared.own_jwt_bundle()
    }

    /// Switches to a new JWT signing key (same algorithm, new random `kid`): tokens are
    /// signed with it from now on; the old public key stays in the JWT bundle for the grace
    /// period (see [`DevAgentBuilder::jwt_grace`]) so that its tokens keep validating.
    /// Open `FetchJWTBundles` streams get the new bundle.
    ///
    /// # Errors
    ///
    /// The key cannot be generated.
    pub fn rotate_jwt_key(&self) -> Result<(), DevAgentError> {
        self.shared.rotate_jwt_key()
    }

    /// Ends the JWT grace period now: old keys leave the JWT bundle.
    pub fn end_jwt_grace(&self) {
        self.shared.end_jwt_grace();
    }

    /// Serves `jwks` (a JWK Set as is, empty bytes included) as the JWT bundle of a foreign
    /// trust domain in `FetchJWTBundles`; ValidateJWTSVID trusts it too.
    ///
    /// # Errors
    ///
    /// An invalid trust domain name, or a document `JwtBundle::from_jwks` refuses.
    pub fn set_federated_jwt_bundle(
        &self,
        trust_domain: &str,
        jwks: &[u8],
    ) -> Result<(), DevAgentError> {
        crate::id::check_trust_domain(trust_domain)?;
        let td = spiffe_id::TrustDomain::new(trust_domain).map_err(|err| {
            DevAgentError::InvalidTrustDomain {
                input: trust_domain.to_owned(),
                reason: err.to_string(),
            }
        })?;
        JwtBundle::from_jwks(td, jwks).map_err(|source| DevAgentError::InvalidJwtBundle {
            trust_domain: trust_domain.to_owned(),
            source,
        })?;
        self.shared
            .set_federated_jwt(trust_domain, Some(jwks.to_vec()));
        Ok(())
    }

    /// Stops serving a foreign trust domain's JWT bundle.
    pub fn remove_federated_jwt_bundle(&self, trust_domain: &str) {
        self.shared.set_federated_jwt(trust_domain, None);
    }

    /// While on, `FetchJWTSVID` hands out the token it signed the first time for the same
    /// SPIFFE ID and audience set, again and again (scenario J7: an agent that returns the
    /// same token on every call). Turning it off forgets those tokens.
    pub fn freeze_jwt_svids(&self, on: bool) {
        self.shared.freeze_jwt_svids(on);
    }

    /// Signs `claims` (a JSON object, taken as is) with the current JWT key and header
    /// `{alg, kid, typ: JWT}`: tokens with chosen times, a `jti`, odd audiences, ... for
    /// [`Fault::RawJwtSvid`] or for local validation.
    ///
    /// # Errors
    ///
    /// `claims` is not a JSON object, or signing fails.
    pub fn sign_jwt_claims(&self, claims: &serde_json::Value) -> Result<String, DevAgentError> {
        let Some(map) = claims.as_object() else {
            return Err(DevAgentError::InvalidClaims(
                "claims must be a json object".to_owned(),
            ));
        };
        self.shared.sign_jwt_claims(map)
    }

    // ---- faults ----

    /// Queues `fault` for the next `calls` calls (stream opens or unary calls) of `kind`;
    /// after them (and after faults queued earlier) calls behave normally again. `kind` is a
    /// [`CallKind`] or a [`StreamKind`].
    ///
    /// # Errors
    ///
    /// The fault does not apply to this call kind (e.g. a raw bundles response on
    /// `FetchX509SVID`, or [`Fault::EndAfterFirst`] on a unary call).
    pub fn script(
        &self,
        kind: impl Into<CallKind>,
        fault: Fault,
        calls: usize,
    ) -> Result<(), DevAgentError> {
        let kind = kind.into();
        self.shared
            .with_faults(|faults| faults.push(kind, fault, calls))
    }

    /// Scripted faults not yet consumed by calls of `kind`.
    pub fn pending_faults(&self, kind: impl Into<CallKind>) -> usize {
        let kind = kind.into();
        self.shared.with_faults(|faults| faults.pending(kind))
    }

    /// Drops every scripted fault not yet consumed.
    pub fn clear_faults(&self) {
        self.shared.with_faults(|faults| faults.clear());
    }

    /// Sends a malformed message (built from each caller's current state) on every open
    /// stream of `kind`; the streams stay open. Returns how many streams it reached.
    pub fn inject_garbage(&self, kind: StreamKind, garbage: Garbage) -> usize {
        self.broadcast(Command::Garbage(kind, garbage))
    }

    /// Sends `response` as is on every open `FetchX509SVID` stream. Returns how many streams
    /// it reached.
    pub fn inject_x509_svid_response(&self, response: X509svidResponse) -> usize {
        self.broadcast(Command::RawX509Svid(response))
    }

    /// Sends `response` as is on every open `FetchX509Bundles` stream. Returns how many
    /// streams it reached.
    pub fn inject_x509_bundles_response(&self, response: X509BundlesResponse) -> usize {
        self.broadcast(Command::RawX509Bundles(response))
    }

    /// Sends `response` as is on every open `FetchJWTBundles` stream. Returns how many
    /// streams it reached.
    pub fn inject_jwt_bundles_response(&self, response: JwtBundlesResponse) -> usize {
        self.broadcast(Command::RawJwtBundles(response))
    }

    /// Ends every open stream of `kind`, with OK or a status. Returns how many streams it
    /// reached.
    pub fn end_streams(&self, kind: StreamKind, end: StreamEnd) -> usize {
        self.broadcast(Command::End(kind, end))
    }

    fn broadcast(&self, command: Command) -> usize {
        self.shared.commands.send(command).unwrap_or(0)
    }

    // ---- observations ----

    /// A snapshot of the counters.
    pub fn stats(&self) -> AgentStats {
        self.shared.stats.borrow().clone()
    }

    /// When each stream of `kind` was opened (as the agent saw the call, header checked),
    /// oldest first: the first 10,000 opens are remembered. Tests of retry schedules read the
    /// intervals from here rather than racing a watcher against the opens.
    pub fn open_times(&self, kind: StreamKind) -> Vec<tokio::time::Instant> {
        let log = self.shared.open_log.lock();
        log.iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, at)| *at)
            .collect()
    }

    /// A receiver that sees every change of the counters.
    pub fn watch_stats(&self) -> watch::Receiver<AgentStats> {
        self.shared.stats.subscribe()
    }

    /// Waits until `condition` holds for the counters, and returns them.
    ///
    /// # Errors
    ///
    /// [`DevAgentError::WaitTimedOut`] with the last counters when `timeout` passes first.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        mut condition: impl FnMut(&AgentStats) -> bool,
    ) -> Result<AgentStats, DevAgentError> {
        let mut stats = self.shared.stats.subscribe();
        let waited = tokio::time::timeout(timeout, async {
            stats.wait_for(|s| condition(s)).await.map(|s| s.clone())
        })
        .await;

        match waited {
            Ok(Ok(reached)) => Ok(reached),
            _ => Err(DevAgentError::WaitTimedOut {
                waited: timeout,
                last: Box::new(self.stats()),
            }),
        }
    }

    /// Waits until at least `n` streams of `kind` were opened (refused opens included).
    ///
    /// # Errors
    ///
    /// [`DevAgentError::WaitTimedOut`] when `timeout` passes first.
    pub async fn wait_for_stream_opens(
        &self,
        kind: StreamKind,
        n: u64,
        timeout: Duration,
    ) -> Result<AgentStats, DevAgentError> {
        self.wait_for(timeout, |s| match kind {
            StreamKind::X509Svid => s.x509_svid_opens >= n,
            StreamKind::X509Bundles => s.x509_bundles_opens >= n,
            StreamKind::JwtBundles => s.jwt_bundles_opens >= n,
        })
        .await
    }

    /// Waits until exactly `n` streams of `kind` are open.
    ///
    /// # Errors
    ///
    /// [`DevAgentError::WaitTimedOut`] when `timeout` passes first.
    pub async fn wait_for_open_streams(
        &self,
        kind: StreamKind,
        n: u64,
        timeout: Duration,
    ) -> Result<AgentStats, DevAgentError> {
        self.wait_for(timeout, |s| match kind {
            StreamKind::X509Svid => s.open_x509_svid_streams == n,
            StreamKind::X509Bundles => s.open_x509_bundles_streams == n,
            StreamKind::JwtBundles => s.open_jwt_bundles_streams == n,
        })
        .await
    }

    /// Waits until clients have cancelled at least `n` streams in total.
    ///
    /// # Errors
    ///
    /// [`DevAgentError::WaitTimedOut`] when `timeout` passes first.
    pub async fn wait_for_cancelled_streams(
        &self,
        n: u64,
        timeout: Duration,
    ) -> Result<AgentStats, DevAgentError> {
        self.wait_for(timeout, |s| s.cancelled_streams >= n).await
    }

    // ---- lifecycle ----

    /// Whether the agent is listening.
    pub fn is_running(&self) -> bool {
        self.shared.serving.load(Ordering::Acquire)
    }

    /// Stops listening: open streams end with Unavailable, connections are closed (cut after
    /// two seconds if the client holds them), and the socket file is removed. SVIDs, bundles,
    /// scripted faults and counters are kept for [`restart`](Self::restart). Stopping a
    /// stopped agent does nothing.
    pub async fn stop(&self) {
        let Some(server) = self.server.lock().await.take() else {
            return;
        };
        tracing::trace!(path = %self.socket_path.display(), "stopping");
        self.shared.serving.store(false, Ordering::Release);
        self.shared.epoch.send_modify(|epoch| *epoch += 1);

        let _ = server.shutdown.send(());
        let mut task = server.task;
        if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
            tracing::debug!("connections still open after the stop grace period; cutting them");
            task.abort();
        }
        remove_socket(&self.socket_path);
    }

    /// Listens again on the same path, stopping first if needed: the socket file is unlinked
    /// and a new listener creates it again, like an agent process that restarted.
    ///
    /// # Errors
    ///
    /// The socket cannot be bound.
    pub async fn restart(&self) -> Result<(), DevAgentError> {
        self.stop().await;
        let mut server = self.server.lock().await;
        if server.is_some() {
            return Err(DevAgentError::AlreadyRunning);
        }
        *server = Some(listen(&self.shared, &self.socket_path)?);
        tracing::trace!(path = %self.socket_path.display(), "restarted");
        Ok(())
    }
}

impl std::fmt::Debug for DevAgentHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevAgentHandle")
            .field("socket_path", &self.socket_path)
            .field("trust_domain", &self.trust_domain())
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

impl Drop for DevAgentHandle {
    fn drop(&mut self) {
        self.rotation.abort();
        self.shared.serving.store(false, Ordering::Release);
        self.shared.epoch.send_modify(|epoch| *epoch += 1);
        if let Some(server) = self.server.get_mut().take() {
            let _ = server.shutdown.send(());
            server.task.abort();
            remove_socket(&self.socket_path);
        }
    }
}

/// Binds the socket and spawns the gRPC server on it.
fn listen(shared: &Arc<Shared>, path: &Path) -> Result<Server, DevAgentError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            // A socket that accepts a connection belongs to a live server: never take it over.
            // A stale one (refused) is replaced.
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(DevAgentError::SocketInUse(path.to_owned()));
            }
            remove_socket(path);
        }
        Ok(_) => return Err(DevAgentError::SocketPathOccupied(path.to_owned())),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            let context = "cannot inspect the socket path";
            return Err(DevAgentError::Io {
                context,
                path: path.to_owned(),
                source,
            });
        }
    }
    let listener = UnixListener::bind(path).map_err(|source| DevAgentError::Io {
        context: "cannot listen on",
        path: path.to_owned(),
        source,
    })?;

    let counter = Arc::clone(shared);
    let incoming = UnixListenerStream::new(listener).map(move |connection| {
        if connection.is_ok() {
            counter.count(|s| s.connections += 1);
        }
        connection
    });
    let service = SpiffeWorkloadApiServer::new(AgentService::new(Arc::clone(shared)));
    let (shutdown, stopped) = oneshot::channel::<()>();

    shared.serving.store(true, Ordering::Release);
    let task = tokio::spawn(async move {
        let served = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stopped.await;
            })
            .await;
        if let Err(err) = served {
            tracing::warn!(error = %err, "workload api server failed");
        }
    });
    tracing::trace!(path = %path.display(), "listening");
    Ok(Server { shutdown, task })
}

fn remove_socket(path: &Path) {
    if let Err(err) = std::fs::remove_file(path)
        && err.kind() != io::ErrorKind::NotFound
    {
        tracing::debug!(path = %path.display(), error = %err, "cannot remove socket file");
    }
}

/// Re-issues SVIDs at half their TTL and retires old roots and JWT keys, until the handle is
/// dropped.
async fn rotate(shared: Arc<Shared>) {
    loop {
        let woken = shared.rotation.notified();
        let next = match shared.renew_due() {
            Ok(next) => next,
            Err(err) => {
                tracing::warn!(error = %err, "svid rotation failed; retrying in a second");
                Some(tokio::time::Instant::now() + Duration::from_secs(1))
            }
        };
        match next {
            Some(deadline) => {
                tokio::select! {
                    () = tokio::time::sleep_until(deadline) => {}
                    () = woken => {}
                }
            }
            None => woken.await,
        }
    }
}
