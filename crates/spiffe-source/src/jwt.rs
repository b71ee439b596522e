use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use spiffe_bundle::JwtBundleSet;
use spiffe_id::SpiffeId;
use spiffe_svid::{JwtSvid, JwtValidation, JwtValidator};
use spiffe_workload_api::{Backoff, BackoffPolicy, WorkloadApiClient};
use tokio::time::Instant;

use crate::SourceError;
use crate::bundles::{BundleGuard, Current, JwtKind, first_update, follow};
use crate::follow::{Connection, Lifecycle, instant_at};

/// How many (SPIFFE ID, audience) pairs a [`JwtSource`] keeps a token for.
pub const MAX_CACHED_TOKENS: usize = 1024;

/// The slowest a [`JwtSource`] asks the agent again for a token that is due for refresh but
/// still valid, when the agent keeps handing out the same one (from 1 s, doubling).
const REFRESH_RETRY: BackoffPolicy = BackoffPolicy {
    initial: Duration::from_secs(1),
    max: Duration::from_secs(30),
    multiplier: 2,
};

/// A long-lived source of JWT-SVIDs and JWT bundles.
///
/// The JWT bundles of every trust domain are kept current by one `FetchJWTBundles` stream and
/// serve local validation ([`JwtSource::validate`]) with a cache of validated tokens. JWT-SVIDs
/// are fetched from the agent when asked for and cached per SPIFFE ID and audience set: a
/// cached token is served until less than half of its lifetime is left (with jitter), then
/// fetched again; a token with a `jti` claim is never cached (it is meant to be used once).
/// While the agent cannot give a fresher token, the cached one is served as long as it is
/// valid, and the agent is asked again at most once per retry period.
///
/// ```no_run
/// # async fn demo() -> Result<(), spiffe_source::SourceError> {
/// use spiffe_source::JwtSource;
///
/// let source = JwtSource::builder().endpoint("unix:///run/spire/agent.sock").build().await?;
///
/// // Caller side: a token for the service we call (cached; the agent is asked only when due).
/// let svid = source.fetch_jwt_svid(&["spiffe://example.org/payments"]).await?;
/// let header = format!("Bearer {}", svid.token());
///
/// // Service side: validate a caller's token against the current JWT bundles.
/// let caller = source.validate(svid.token(), &["spiffe://example.org/payments"])?;
/// println!("{} calls us", caller.spiffe_id());
/// # let _ = header;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct JwtSource {
    inner: Arc<JwtInner>,
}

struct JwtInner {
    bundles: Arc<Current<JwtKind>>,
    lifecycle: Lifecycle,
    client: WorkloadApiClient,
    tokens: Mutex<HashMap<TokenKey, Arc<Slot>>>,
    validator: JwtValidator<JwtBundleSet>,
}

/// A cache key: the requested SPIFFE ID (none = the agent's default) and the sorted,
/// deduplicated audiences.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct TokenKey {
    spiffe_id: Option<SpiffeId>,
    audience: Vec<String>,
}

impl TokenKey {
    fn new(spiffe_id: Option<&SpiffeId>, audience: &[&str]) -> Self {
        let mut audience: Vec<String> = audience.iter().map(|a| (*a).to_owned()).collect();
        audience.sort_unstable();
        audience.dedup();
        Self {
            spiffe_id: spiffe_id.cloned(),
            audience,
        }
    }
}

/// The cached token of one key, and the lock that makes concurrent callers share one fetch.
struct Slot {
    state: Mutex<SlotState>,
    fetching: tokio::sync::Mutex<()>,
}

struct SlotState {
    svid: Option<Arc<JwtSvid>>,
    /// When the token expires.
    expires: Instant,
    /// When the token is due for refresh (half its life, less jitter).
    refresh: Instant,
    /// Before this, a due token is served without asking the agent again.
    next_try: Instant,
    retry: Backoff,
}

impl SlotState {
    fn usable(&self, now: Instant) -> Option<Arc<JwtSvid>> {
        let svid = self.svid.as_ref()?;
        let fresh = now < self.refresh || now < self.next_try;
        (now < self.expires && fresh).then(|| Arc::clone(svid))
    }

    /// The token still within its lifetime, whether due or not.
    fn valid(&self, now: Instant) -> Option<Arc<JwtSvid>> {
        let svid = self.svid.as_ref()?;
        (now < self.expires).then(|| Arc::clone(svid))
    }
}

impl JwtSource {
    /// Builds a JWT source with default settings: `SPIFFE_ENDPOINT_SOCKET`, 30 s for the
    /// first JWT bundles.
    ///
    /// # Errors
    ///
    /// As [`JwtSourceBuilder::build`].
    pub async fn new() -> Result<Self, SourceError> {
        Self::builder().build().await
    }

    /// Starts configuring a JWT source.
    pub fn builder() -> JwtSourceBuilder {
        JwtSourceBuilder::default()
    }

    /// The JWT bundles of every trust domain (lock-free, no allocation).
    pub fn jwt_bundles(&self) -> BundleGuard<JwtBundleSet> {
        self.inner.bundles.set.load()
    }

    /// A JWT-SVID of the agent's default identity for `audience`, from the cache when it is
    /// not yet due for refresh.
    ///
    /// # Errors
    ///
    /// As [`fetch_jwt_svid_for`](Self::fetch_jwt_svid_for).
    pub async fn fetch_jwt_svid(&self, audience: &[&str]) -> Result<Arc<JwtSvid>, SourceError> {
        self.fetch(None, audience).await
    }

    /// A JWT-SVID of `spiffe_id` for `audience`, from the cache when it is not yet due for
    /// refresh. The audience set is a set: `[a, b]` and `[b, a]` share one token.
    ///
    /// # Errors
    ///
    /// [`SourceError::EmptyAudience`] for an empty audience; [`SourceError::Fetch`] when the
    /// agent gives no token and no valid cached one is left; [`SourceError::Closed`] after
    /// [`close`](Self::close).
    pub async fn fetch_jwt_svid_for(
        &self,
        spiffe_id: &SpiffeId,
        audience: &[&str],
    ) -> Result<Arc<JwtSvid>, SourceError> {
        self.fetch(Some(spiffe_id), audience).await
    }

    /// Validates a caller's JWT-SVID against the current JWT bundles for `audience` (60 s
    /// clock leeway), caching validated tokens until they expire or the bundles change.
    ///
    /// # Errors
    ///
    /// [`SourceError::InvalidToken`] saying which rule the token breaks.
    pub fn validate(&self, token: &str, audience: &[&str]) -> Result<Arc<JwtSvid>, SourceError> {
        self.validate_with(token, &JwtValidation::new(audience))
    }

    /// As [`validate`](Self::validate), with explicit options (leeway, time, missing `kid`).
    ///
    /// # Errors
    ///
    /// [`SourceError::InvalidToken`] saying which rule the token breaks.
    pub fn validate_with(
        &self,
        token: &str,
        options: &JwtValidation<'_>,
    ) -> Result<Arc<JwtSvid>, SourceError> {
        let bundles = self.inner.bundles.set.load_full();
        self.inner
            .validator
            .validate_with(token, &bundles, options)
            .map_err(SourceError::InvalidToken)
    }

    /// Notifications of new JWT bundles.
    pub fn updates(&self) -> crate::Updates {
        crate::Updates {
            rx: self.inner.lifecycle.updates(),
        }
    }

    /// Why the bundle stream stopped for good, if it did (see
    /// [`X509Source::stopped`](crate::X509Source::stopped)).
    pub fn stopped(&self) -> Option<SourceError> {
        self.inner.lifecycle.stopped()
    }

    /// Ends the bundle stream and its task, and closes the client used for fetches.
    pub async fn close(&self) {
        self.inner.lifecycle.close().await;
        self.inner.client.close();
    }

    async fn fetch(
        &self,
        spiffe_id: Option<&SpiffeId>,
        audience: &[&str],
    ) -> Result<Arc<JwtSvid>, SourceError> {
        if audience.is_empty() {
            return Err(SourceError::EmptyAudience);
        }
        if self.inner.client.is_closed() {
            return Err(SourceError::Closed);
        }

        let key = TokenKey::new(spiffe_id, audience);
        let slot = self.slot(&key);
        if let Some(svid) = slot.state.lock().usable(Instant::now()) {
            return Ok(svid);
        }

        // One fetch per key at a time; callers that waited find the fresh token.
        let _fetching = slot.fetching.lock().await;
        if let Some(svid) = slot.state.lock().usable(Instant::now()) {
            return Ok(svid);
        }

        let fetched = self.inner.client.fetch_jwt_svid(audience, spiffe_id).await;
        let now = Instant::now();
        let mut state = slot.state.lock();
        match fetched {
            Ok(svid) => {
                let svid = Arc::new(svid);
                if svid.jwt_id().is_some() {
                    // A token with a jti is meant to be used once: never cached.
                    drop(state);
                    self.inner.tokens.lock().remove(&key);
                    return Ok(svid);
                }
                store(&mut state, Arc::clone(&svid), now);
                Ok(svid)
            }
            Err(error) => {
                if let Some(svid) = state.valid(now) {
                    let delay = state.retry.next_delay();
                    state.next_try = now + delay;
                    tracing::debug!(
                        %error,
                        ?delay,
                        "JWT-SVID refresh failed; serving the cached token"
                    );
                    return Ok(svid);
                }
                drop(state);
                self.inner.tokens.lock().remove(&key);
                Err(SourceError::Fetch(Arc::new(error)))
            }
        }
    }

    /// The slot of `key`, made if needed. When the cache is full, expired tokens are dropped
    /// first; if it is still full, the slot is not kept (the token is fetched but not cached).
    fn slot(&self, key: &TokenKey) -> Arc<Slot> {
        let mut tokens = self.inner.tokens.lock();
        if let Some(slot) = tokens.get(key) {
            return Arc::clone(slot);
        }

        let slot = Arc::new(Slot {
            state: Mutex::new(SlotState {
                svid: None,
                expires: Instant::now(),
                refresh: Instant::now(),
                next_try: Instant::now(),
                retry: Backoff::new(REFRESH_RETRY),
            }),
            fetching: tokio::sync::Mutex::new(()),
        });
        if tokens.len() >= MAX_CACHED_TOKENS {
            let now = Instant::now();
            tokens.retain(|_, slot| slot.state.lock().valid(now).is_some());
        }
        if tokens.len() < MAX_CACHED_TOKENS {
            tokens.insert(key.clone(), Arc::clone(&slot));
        }
        slot
    }
}

/// Caches a freshly fetched token: due at half its lifetime, less up to a tenth of it at
/// random so that many workloads do not refresh in step. A token without `iat` has no known
/// lifetime and is due at once (SCENARIOS J5); a token already past its half-life (an agent
/// that keeps handing out the same token, J7) is served and asked for again only after the
/// retry delay.
fn store(state: &mut SlotState, svid: Arc<JwtSvid>, now: Instant) {
    let expires = instant_at(svid.expiry());
    let refresh = match svid.issued_at() {
        Some(iat) => {
            let lifetime = svid.expiry().duration_since(iat).unwrap_or(Duration::ZERO);
            let jitter = lifetime.mul_f64(fastrand::f64() / 10.0);
            instant_at(iat + lifetime / 2)
                .checked_sub(jitter)
                .unwrap_or(now)
        }
        None => now,
    };

    state.next_try = if refresh <= now {
        now + state.retry.next_delay()
    } else {
        state.retry.reset();
        refresh
    };
    state.svid = Some(svid);
    state.expires = expires;
    state.refresh = refresh;
}

impl core::fmt::Debug for JwtSource {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("JwtSource")
            .field("jwt_trust_domains", &self.jwt_bundles().len())
            .field("cached_tokens", &self.inner.tokens.lock().len())
            .field("stopped", &self.stopped())
            .finish()
    }
}

/// Configures a [`JwtSource`].
#[derive(Clone, Debug, Default)]
pub struct JwtSourceBuilder {
    connection: Connection,
}

impl JwtSourceBuilder {
    crate::follow::connection_setters!();

    /// Starts the JWT bundle stream and waits for its first message.
    ///
    /// # Errors
    ///
    /// As [`X509SourceBuilder::build`](crate::X509SourceBuilder::build).
    pub async fn build(self) -> Result<JwtSource, SourceError> {
        let client = self.connection.client()?;
        let (bundles, lifecycle) = follow::<JwtKind>(&self.connection, client.clone());
        let source = JwtSource {
            inner: Arc::new(JwtInner {
                bundles,
                lifecycle,
                client,
                tokens: Mutex::new(HashMap::new()),
                validator: JwtValidator::new(),
            }),
        };
        let inner = &source.inner;
        first_update(&inner.bundles, &inner.lifecycle, &self.connection).await?;
        Ok(source)
    }
}
