//! The agent's state shared by the handle, the gRPC service and the rotation task.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use serde_json::{Map, Value};
use spiffe_bundle::{JwtAuthority, JwtBundle, JwtBundleSet};
use spiffe_id::TrustDomain;
use spiffe_svid::{JwsAlgorithm, JwtSvid, JwtSvidError};
use spiffe_workload_api::proto::{
    JwtBundlesResponse, Jwtsvid, JwtsvidResponse, X509BundlesResponse, X509svid, X509svidResponse,
};
use tokio::sync::{Notify, broadcast, watch};
use tokio::time::Instant;

use crate::ca::{Authority, IssuedSvid, sec1_from_pkcs8};
use crate::fault::{FaultQueues, Garbage, Revocation, StreamEnd, StreamKind};
use crate::jwt::{SigningKey, svid_claims};
use crate::{AgentStats, DevAgentError, Identity};

/// Bytes that are not DER, for the "unparsable" garbage kinds.
const NOT_DER: &[u8] = b"\xffthis is not a DER certificate";
/// Bytes that are not a JWK Set, for `Garbage::UnparsableBundle` on `FetchJWTBundles`.
const NOT_JWKS: &[u8] = b"{\"keys\": this is not a JWK Set";
/// A token that is not a JWT, for `Garbage::UnparsableToken`.
const NOT_A_JWT: &str = "this-is.not-a.jwt!";
/// How far a grace period may reach when the configured one overflows the clock.
const LONGEST_GRACE: Duration = Duration::from_secs(30 * 365 * 86_400);

/// A message pushed to every open stream of a kind.
#[derive(Clone, Debug)]
pub(crate) enum Command {
    Garbage(StreamKind, Garbage),
    RawX509Svid(X509svidResponse),
    RawX509Bundles(X509BundlesResponse),
    RawJwtBundles(JwtBundlesResponse),
    End(StreamKind, StreamEnd),
}

/// What a caller gets right now.
pub(crate) enum View<T> {
    Serve(T),
    Denied,
}

pub(crate) struct Settings {
    pub(crate) trust_domain: String,
    pub(crate) intermediate: bool,
    pub(crate) ca_lifetime: Duration,
    pub(crate) ca_grace: Duration,
    pub(crate) jwt_algorithm: JwsAlgorithm,
    pub(crate) jwt_grace: Duration,
}

pub(crate) struct Shared {
    pub(crate) settings: Settings,
    trust_domain: TrustDomain,
    inner: Mutex<Inner>,
    /// Bumped on every change of X.509-SVIDs, X.509 bundles or identities; X.509 streams
    /// send the full state on change.
    pub(crate) changes: watch::Sender<u64>,
    /// Bumped on every change of JWT bundles or identities; `FetchJWTBundles` streams send
    /// the full state on change.
    pub(crate) jwt_changes: watch::Sender<u64>,
    pub(crate) stats: watch::Sender<AgentStats>,
    pub(crate) commands: broadcast::Sender<Command>,
    /// Bumped when the server stops; streams opened before end with Unavailable.
    pub(crate) epoch: watch::Sender<u64>,
    /// Wakes the rotation task when deadlines changed.
    pub(crate) rotation: Notify,
    /// False while the agent is stopped or stopping: late stream opens get Unavailable.
    pub(crate) serving: AtomicBool,
    /// When each stream was opened, oldest first, at most [`MAX_OPEN_LOG`] entries.
    pub(crate) open_log: Mutex<Vec<(StreamKind, Instant)>>,
}

/// How many stream opens the agent remembers the time of.
pub(crate) const MAX_OPEN_LOG: usize = 10_000;

struct Inner {
    ca: Authority,
    /// The CA announced by `prepare_ca_rotation` and not yet signing.
    staged: Option<Authority>,
    /// Roots of earlier CAs, served until their grace period ends.
    retired: Vec<(Vec<u8>, Instant)>,
    entries: Vec<Entry>,
    /// Keyed by the trust domain's SPIFFE ID, DER certificates back to back.
    federated: BTreeMap<String, Vec<u8>>,
    faults: FaultQueues,
    /// The key JWT-SVIDs are signed with now.
    jwt_key: SigningKey,
    /// Public keys of earlier JWT keys, served until their grace period ends.
    retired_jwt: Vec<(JwtAuthority, Instant)>,
    /// Keyed by the trust domain's SPIFFE ID, JWK Sets as given.
    federated_jwt: BTreeMap<String, Vec<u8>>,
    /// While frozen: the token handed out per (SPIFFE ID, sorted audience), reused.
    frozen_jwt: Option<HashMap<(String, Vec<String>), String>>,
}

struct Entry {
    identity: Identity,
    svid: IssuedSvid,
    renew_at: Instant,
    revoked: Option<Revocation>,
}

impl Shared {
    pub(crate) fn new(
        settings: Settings,
        identities: Vec<Identity>,
    ) -> Result<Arc<Self>, DevAgentError> {
        crate::id::check_trust_domain(&settings.trust_domain)?;
        let trust_domain = TrustDomain::new(&settings.trust_domain).map_err(|err| {
            DevAgentError::InvalidTrustDomain {
                input: settings.trust_domain.clone(),
                reason: err.to_string(),
            }
        })?;
        for identity in &identities {
            identity.check(&settings.trust_domain)?;
        }

        let ca = Authority::new(
            &settings.trust_domain,
            settings.intermediate,
            settings.ca_lifetime,
        )?;
        let entries = identities
            .into_iter()
            .map(|id| issue(&ca, id))
            .collect::<Result<Vec<_>, _>>()?;
        let jwt_key = SigningKey::generate(settings.jwt_algorithm)?;

        let inner = Inner {
            ca,
            staged: None,
            retired: Vec::new(),
            entries,
            federated: BTreeMap::new(),
            faults: FaultQueues::default(),
            jwt_key,
            retired_jwt: Vec::new(),
            federated_jwt: BTreeMap::new(),
            frozen_jwt: None,
        };
        Ok(Arc::new(Self {
            settings,
            trust_domain,
            inner: Mutex::new(inner),
            changes: watch::Sender::new(0),
            jwt_changes: watch::Sender::new(0),
            stats: watch::Sender::new(AgentStats::default()),
            commands: broadcast::Sender::new(64),
            epoch: watch::Sender::new(0),
            rotation: Notify::new(),
            serving: AtomicBool::new(false),
            open_log: Mutex::new(Vec::new()),
        }))
    }

    /// Notes the time of a stream open; the log keeps the first [`MAX_OPEN_LOG`] opens.
    pub(crate) fn log_open(&self, kind: StreamKind) {
        let mut log = self.open_log.lock();
        if log.len() < MAX_OPEN_LOG {
            log.push((kind, Instant::now()));
        }
    }

    pub(crate) fn count(&self, update: impl FnOnce(&mut AgentStats)) {
        self.stats.send_modify(update);
    }

    /// X.509 material changed.
    fn publish(&self) {
        self.changes.send_modify(|generation| *generation += 1);
        self.rotation.notify_one();
    }

    /// JWT bundles changed.
    fn publish_jwt(&self) {
        self.jwt_changes.send_modify(|generation| *generation += 1);
        self.rotation.notify_one();
    }

    /// Identities changed: every stream kind may serve something else (or deny).
    fn publish_identities(&self) {
        self.jwt_changes.send_modify(|generation| *generation += 1);
        self.publish();
    }

    // ---- identities ----

    pub(crate) fn add_identity(&self, identity: Identity) -> Result<(), DevAgentError> {
        identity.check(&self.settings.trust_domain)?;
        {
            let mut inner = self.inner.lock();
            let entry = issue(&inner.ca, identity)?;
            inner.entries.push(entry);
        }
        self.publish_identities();
        Ok(())
    }

    pub(crate) fn set_revocation(
        &self,
        spiffe_id: &str,
        revocation: Option<Revocation>,
    ) -> Result<(), DevAgentError> {
        {
            let mut inner = self.inner.lock();
            let mut found = false;
            for entry in inner
                .entries
                .iter_mut()
                .filter(|e| e.identity.spiffe_id() == spiffe_id)
            {
                entry.revoked = revocation;
                found = true;
            }
            if !found {
                return Err(DevAgentError::UnknownIdentity(spiffe_id.to_owned()));
            }
        }
        tracing::debug!(spiffe_id, ?revocation, "changed revocation");
        self.publish_identities();
        Ok(())
    }

    pub(crate) fn svids(&self) -> Vec<IssuedSvid> {
        self.inner
            .lock()
            .entries
            .iter()
            .map(|e| e.svid.clone())
            .collect()
    }

    // ---- rotation ----

    /// Re-issues the SVIDs of `spiffe_id` (all when `None`) now.
    pub(crate) fn renew(&self, spiffe_id: Option<&str>) -> Result<(), DevAgentError> {
        let renewed = {
            let mut inner = self.inner.lock();
            let Inner { ca, entries, .. } = &mut *inner;
            let mut renewed = 0;
            for entry in entries.iter_mut() {
                if spiffe_id.is_none_or(|id| id == entry.identity.spiffe_id()) {
                    *entry = Entry {
                        revoked: entry.revoked,
                        ..issue(ca, entry.identity.clone())?
                    };
                    renewed += 1;
                }
            }
            renewed
        };
        if renewed == 0
            && let Some(id) = spiffe_id
        {
            return Err(DevAgentError::UnknownIdentity(id.to_owned()));
        }
        self.count(|s| s.svid_renewals += renewed);
        self.publish();
        Ok(())
    }

    /// Re-issues SVIDs that reached half their TTL and drops retired roots whose grace period
    /// ended; returns when to look again.
    pub(crate) fn renew_due(&self) -> Result<Option<Instant>, DevAgentError> {
        let now = Instant::now();
        let mut changed = 0u64;
        let dropped_roots;
        let dropped_jwt_keys;
        let next = {
            let mut inner = self.inner.lock();
            let Inner {
                ca,
                entries,
                retired,
                retired_jwt,
                ..
            } = &mut *inner;

            for entry in entries.iter_mut().filter(|e| e.renew_at <= now) {
                tracing::trace!(
                    spiffe_id = entry.identity.spiffe_id(),
                    "rotating svid at half ttl"
                );
                *entry = Entry {
                    revoked: entry.revoked,
                    ..issue(ca, entry.identity.clone())?
                };
                changed += 1;
            }
            let before = retired.len();
            retired.retain(|(_, until)| *until > now);
            dropped_roots = retired.len() != before;
            let before = retired_jwt.len();
            retired_jwt.retain(|(_, until)| *until > now);
            dropped_jwt_keys = retired_jwt.len() != before;

            let renewals = entries.iter().map(|e| e.renew_at);
            renewals
                .chain(retired.iter().map(|(_, until)| *until))
                .chain(retired_jwt.iter().map(|(_, until)| *until))
                .min()
        };

        if changed > 0 || dropped_roots {
            self.count(|s| s.svid_renewals += changed);
            self.changes.send_modify(|generation| *generation += 1);
        }
        if dropped_jwt_keys {
            tracing::trace!("jwt keys left the bundle at the end of their grace period");
            self.jwt_changes.send_modify(|generation| *generation += 1);
        }
        Ok(next)
    }

    /// Announces the next CA: its root joins the bundle, SVIDs stay as they are.
    pub(crate) fn prepare_ca_rotation(&self) -> Result<(), DevAgentError> {
        let next = self.new_authority()?;
        self.inner.lock().staged = Some(next);
        tracing::trace!("announced the next ca in the bundle");
        self.publish();
        Ok(())
    }

    /// Switches to the staged (or a new) CA, keeps the old root for the grace period and
    /// re-issues every SVID from the new CA, in one update.
    pub(crate) fn rotate_ca(&self) -> Result<(), DevAgentError> {
        let staged = self.inner.lock().staged.take();
        let fresh = match staged {
            Some(staged) => staged,
            None => self.new_authority()?,
        };
        let renewed = {
            let mut inner = self.inner.lock();
            let old = std::mem::replace(&mut inner.ca, fresh);
            // A grace period too long for the clock (`Duration::MAX` from the builder) keeps
            // the old root for 30 years instead of panicking on the addition.
            let until = grace_end(self.settings.ca_grace);
            inner.retired.push((old.root_der(), until));

            let Inner { ca, entries, .. } = &mut *inner;
            for entry in entries.iter_mut() {
                *entry = Entry {
                    revoked: entry.revoked,
                    ..issue(ca, entry.identity.clone())?
                };
            }
            entries.len() as u64
        };
        tracing::trace!(renewed, "rotated the ca");
        self.count(|s| {
            s.ca_rotations += 1;
            s.svid_renewals += renewed;
        });
        self.publish();
        Ok(())
    }

    pub(crate) fn end_ca_grace(&self) {
        self.inner.lock().retired.clear();
        self.publish();
    }

    fn new_authority(&self) -> Result<Authority, DevAgentError> {
        let s = &self.settings;
        Authority::new(&s.trust_domain, s.intermediate, s.ca_lifetime)
    }

    // ---- bundles ----

    /// The authorities of the agent's own trust domain: current root, staged root, retired
    /// roots in their grace period.
    pub(crate) fn authorities(&self) -> Vec<Vec<u8>> {
        let inner = self.inner.lock();
        authorities(&inner)
    }

    pub(crate) fn set_federated(&self, trust_domain: &str, der: Option<Vec<u8>>) {
        set_entry(&mut self.inner.lock().federated, trust_domain, der);
        self.publish();
    }

    // ---- faults ----

    pub(crate) fn with_faults<R>(&self, f: impl FnOnce(&mut FaultQueues) -> R) -> R {
        f(&mut self.inner.lock().faults)
    }

    // ---- views ----

    pub(crate) fn x509_svid_view(&self, caller_uid: Option<u32>) -> View<X509svidResponse> {
        let inner = self.inner.lock();
        let Some(visible) = visible_entries(&inner, caller_uid) else {
            return View::Denied;
        };

        let bundle = authorities(&inner).concat();
        let svids = visible
            .iter()
            .filter(|e| e.revoked.is_none())
            .map(|e| X509svid {
                spiffe_id: e.svid.spiffe_id.clone(),
                x509_svid: e.svid.chain_der(),
                x509_svid_key: e.svid.key_pkcs8.clone(),
                bundle: bundle.clone(),
                hint: e.svid.hint.clone().unwrap_or_default(),
            })
            .collect();
        let federated_bundles = inner.federated.clone().into_iter().collect();
        View::Serve(X509svidResponse {
            svids,
            crl: Vec::new(),
            federated_bundles,
        })
    }

    pub(crate) fn x509_bundles_view(&self, caller_uid: Option<u32>) -> View<X509BundlesResponse> {
        let inner = self.inner.lock();
        if visible_entries(&inner, caller_uid).is_none() {
            return View::Denied;
        }

        let mut bundles: std::collections::HashMap<_, _> =
            inner.federated.clone().into_iter().collect();
        let own = format!("spiffe://{}", self.settings.trust_domain);
        bundles.insert(own, authorities(&inner).concat());
        View::Serve(X509BundlesResponse {
            crl: Vec::new(),
            bundles,
        })
    }

    /// The caller's current state with one thing broken.
    pub(crate) fn x509_svid_garbage(
        &self,
        caller_uid: Option<u32>,
        garbage: Garbage,
    ) -> X509svidResponse {
        let mut response = match self.x509_svid_view(caller_uid) {
            View::Serve(response) => response,
            View::Denied => X509svidResponse::default(),
        };
        match garbage {
            Garbage::ZeroSvids => response.svids.clear(),
            Garbage::UnparsableCertificate => {
                response
                    .svids
                    .iter_mut()
                    .for_each(|s| s.x509_svid = NOT_DER.to_vec());
            }
            Garbage::EmptyKey => response
                .svids
                .iter_mut()
                .for_each(|s| s.x509_svid_key.clear()),
            Garbage::NonPkcs8Key => {
                for svid in &mut response.svids {
                    svid.x509_svid_key = sec1_from_pkcs8(&svid.x509_svid_key).unwrap_or_default();
                }
            }
            Garbage::UnparsableBundle => {
                response
                    .svids
                    .iter_mut()
                    .for_each(|s| s.bundle = NOT_DER.to_vec());
            }
            // Refused by `Fault::check` for this stream; nothing to break.
            Garbage::UnparsableToken => {}
        }
        response
    }

    pub(crate) fn x509_bundles_garbage(&self, caller_uid: Option<u32>) -> X509BundlesResponse {
        let mut response = match self.x509_bundles_view(caller_uid) {
            View::Serve(response) => response,
            View::Denied => X509BundlesResponse::default(),
        };
        response
            .bundles
            .values_mut()
            .for_each(|b| *b = NOT_DER.to_vec());
        response
    }

    // ---- JWT-SVIDs ----

    /// Signs a JWT-SVID per identity the caller may have, filtered by `spiffe_id`.
    ///
    /// Denied when no live identity of the caller matches. While frozen, the token made
    /// for the same SPIFFE ID and audience set the first time is handed out again.
    pub(crate) fn issue_jwt_svids(
        &self,
        caller_uid: Option<u32>,
        audience: &[String],
        spiffe_id: Option<&str>,
    ) -> Result<View<JwtsvidResponse>, DevAgentError> {
        let mut inner = self.inner.lock();
        let Inner {
            entries,
            jwt_key,
            frozen_jwt,
            ..
        } = &mut *inner;
        let chosen: Vec<&Entry> = entries
            .iter()
            .filter(|e| e.identity.visible_to(caller_uid) && e.revoked.is_none())
            .filter(|e| spiffe_id.is_none_or(|id| id == e.identity.spiffe_id()))
            .collect();
        if chosen.is_empty() {
            return Ok(View::Denied);
        }

        let mut sorted_audience = audience.to_vec();
        sorted_audience.sort();
        sorted_audience.dedup();
        let now = SystemTime::now();
        let mut svids = Vec::with_capacity(chosen.len());
        let mut signed = 0;
        for entry in chosen {
            let id = entry.identity.spiffe_id();
            let key = (id.to_owned(), sorted_audience.clone());
            let frozen = frozen_jwt.as_ref().and_then(|tokens| tokens.get(&key));
            let token = match frozen {
                Some(token) => token.clone(),
                None => {
                    let claims = svid_claims(id, audience, now, entry.identity.jwt_ttl())?;
                    let token = jwt_key.sign(&claims)?;
                    signed += 1;
                    if let Some(tokens) = frozen_jwt.as_mut() {
                        tokens.insert(key, token.clone());
                    }
                    token
                }
            };
            svids.push(Jwtsvid {
                spiffe_id: id.to_owned(),
                svid: token,
                hint: entry.identity.hint().unwrap_or_default().to_owned(),
            });
        }
        drop(inner);

        self.count(|s| s.jwt_svids_issued += signed);
        Ok(View::Serve(JwtsvidResponse { svids }))
    }

    /// A `FetchJWTSVID` answer with one thing broken.
    pub(crate) fn jwt_svid_garbage(
        &self,
        caller_uid: Option<u32>,
        audience: &[String],
        spiffe_id: Option<&str>,
        garbage: Garbage,
    ) -> Result<JwtsvidResponse, DevAgentError> {
        let mut response = match self.issue_jwt_svids(caller_uid, audience, spiffe_id)? {
            View::Serve(response) => response,
            View::Denied => JwtsvidResponse {
                svids: vec![Jwtsvid {
                    spiffe_id: format!("spiffe://{}/garbage", self.settings.trust_domain),
                    ..Jwtsvid::default()
                }],
            },
        };
        match garbage {
            Garbage::ZeroSvids => response.svids.clear(),
            _ => response
                .svids
                .iter_mut()
                .for_each(|s| s.svid = NOT_A_JWT.to_owned()),
        }
        Ok(response)
    }

    /// Signs arbitrary claims with the current JWT key.
    pub(crate) fn sign_jwt_claims(
        &self,
        claims: &Map<String, Value>,
    ) -> Result<String, DevAgentError> {
        self.inner.lock().jwt_key.sign(claims)
    }

    pub(crate) fn freeze_jwt_svids(&self, on: bool) {
        let mut inner = self.inner.lock();
        match (on, inner.frozen_jwt.is_some()) {
            (true, false) => inner.frozen_jwt = Some(HashMap::new()),
            (false, _) => inner.frozen_jwt = None,
            (true, true) => {}
        }
    }

    pub(crate) fn jwt_key_info(&self) -> (JwsAlgorithm, String) {
        let inner = self.inner.lock();
        (inner.jwt_key.algorithm(), inner.jwt_key.key_id().to_owned())
    }

    /// A new JWT key signs from now on; the old public key stays for the grace period.
    pub(crate) fn rotate_jwt_key(&self) -> Result<(), DevAgentError> {
        let fresh = SigningKey::generate(self.settings.jwt_algorithm)?;
        {
            let mut inner = self.inner.lock();
            let old = std::mem::replace(&mut inner.jwt_key, fresh);
            inner
                .retired_jwt
                .push((old.authority().clone(), grace_end(self.settings.jwt_grace)));
            tracing::trace!(
                old = old.key_id(),
                new = inner.jwt_key.key_id(),
                "rotated the jwt key"
            );
        }
        self.count(|s| s.jwt_key_rotations += 1);
        self.publish_jwt();
        Ok(())
    }

    pub(crate) fn end_jwt_grace(&self) {
        self.inner.lock().retired_jwt.clear();
        self.publish_jwt();
    }

    pub(crate) fn set_federated_jwt(&self, trust_domain: &str, jwks: Option<Vec<u8>>) {
        set_entry(&mut self.inner.lock().federated_jwt, trust_domain, jwks);
        self.publish_jwt();
    }

    /// The JWT bundle of the agent's own trust domain: the current key, then keys in their
    /// grace period.
    pub(crate) fn own_jwt_bundle(&self) -> JwtBundle {
        let inner = self.inner.lock();
        self.own_jwt_bundle_of(&inner)
    }

    fn own_jwt_bundle_of(&self, inner: &Inner) -> JwtBundle {
        let mut bundle = JwtBundle::new(self.trust_domain.clone());
        let keys = std::iter::once(inner.jwt_key.authority())
            .chain(inner.retired_jwt.iter().map(|(authority, _)| authority));
        for authority in keys {
            // Key IDs are 128 random bits; a repeat would only hide the older key.
            if let Err(err) = bundle.add_authority(authority.clone()) {
                tracing::debug!(error = %err, "jwt key left out of the bundle");
            }
        }
        bundle
    }

    /// Every JWT bundle the agent serves, for ValidateJWTSVID.
    fn jwt_bundle_set(&self) -> JwtBundleSet {
        let inner = self.inner.lock();
        let mut set = JwtBundleSet::new();
        set.insert(self.own_jwt_bundle_of(&inner));
        for (key, jwks) in &inner.federated_jwt {
            // Checked when set; a key that fails now is left out.
            let parsed = TrustDomain::from_name_or_id(key)
                .ok()
                .and_then(|td| JwtBundle::from_jwks(td, jwks).ok());
            if let Some(bundle) = parsed {
                set.insert(bundle);
            }
        }
        set
    }

    /// Validates a token with the agent's own JWT bundles (ValidateJWTSVID).
    pub(crate) fn validate_jwt_svid(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<JwtSvid, JwtSvidError> {
        JwtSvid::validate(token, &self.jwt_bundle_set(), &[audience])
    }

    pub(crate) fn jwt_bundles_view(&self, caller_uid: Option<u32>) -> View<JwtBundlesResponse> {
        let inner = self.inner.lock();
        if visible_entries(&inner, caller_uid).is_none() {
            return View::Denied;
        }

        let mut bundles: HashMap<_, _> = inner.federated_jwt.clone().into_iter().collect();
        let own = self.own_jwt_bundle_of(&inner).to_jwks().into_bytes();
        bundles.insert(self.trust_domain.id().to_string(), own);
        View::Serve(JwtBundlesResponse { bundles })
    }

    pub(crate) fn jwt_bundles_garbage(&self, caller_uid: Option<u32>) -> JwtBundlesResponse {
        let mut response = match self.jwt_bundles_view(caller_uid) {
            View::Serve(response) => response,
            View::Denied => JwtBundlesResponse::default(),
        };
        response
            .bundles
            .insert(self.trust_domain.id().to_string(), NOT_JWKS.to_vec());
        response
    }
}

/// When a grace period that starts now ends; one too long for the clock (`Duration::MAX`
/// from a builder) ends in 30 years instead of panicking on the addition.
fn grace_end(grace: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(grace)
        .unwrap_or_else(|| now + LONGEST_GRACE)
}

/// A caller is denied when it has no identity at all, or when all of its identities were
/// revoked and at least one of them with PermissionDenied.
/// The entries `caller_uid` may see, or `None` when the caller is to be denied: it sees no
/// identity, or only identities revoked with PermissionDenied.
fn visible_entries(inner: &Inner, caller_uid: Option<u32>) -> Option<Vec<&Entry>> {
    let visible: Vec<&Entry> = inner
        .entries
        .iter()
        .filter(|e| e.identity.visible_to(caller_uid))
        .collect();
    (!denied(&visible)).then_some(visible)
}

fn denied(visible: &[&Entry]) -> bool {
    let live = visible.iter().any(|e| e.revoked.is_none());
    let denial = visible
        .iter()
        .any(|e| e.revoked == Some(Revocation::PermissionDenied));
    visible.is_empty() || (!live && denial)
}

fn authorities(inner: &Inner) -> Vec<Vec<u8>> {
    let mut roots = vec![inner.ca.root_der()];
    roots.extend(inner.staged.as_ref().map(Authority::root_der));
    roots.extend(inner.retired.iter().map(|(der, _)| der.clone()));
    roots
}

fn issue(ca: &Authority, identity: Identity) -> Result<Entry, DevAgentError> {
    let svid = ca.issue(identity.spiffe_id(), identity.hint(), identity.ttl())?;
    let renew_at = Instant::now() + identity.ttl() / 2;
    tracing::trace!(
        spiffe_id = identity.spiffe_id(),
        serial = svid.serial_hex(),
        "issued svid"
    );
    Ok(Entry {
        identity,
        svid,
        renew_at,
        revoked: None,
    })
}

/// Sets (or with `None` removes) the entry of `trust_domain` in a federated bundle map, which
/// is keyed by trust domain ID as the Workload API sends it.
fn set_entry(map: &mut BTreeMap<String, Vec<u8>>, trust_domain: &str, value: Option<Vec<u8>>) {
    let key = format!("spiffe://{trust_domain}");
    match value {
        Some(value) => {
            map.insert(key, value);
        }
        None => {
            map.remove(&key);
        }
    }
}
