//! The agent's state shared by the handle, the gRPC service and the rotation task.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use parking_lot::Mutex;
use spiffe_workload_api::proto::{X509BundlesResponse, X509svid, X509svidResponse};
use tokio::sync::{Notify, broadcast, watch};
use tokio::time::Instant;

use crate::ca::{Authority, IssuedSvid, sec1_from_pkcs8};
use crate::fault::{FaultQueues, Garbage, Revocation, StreamEnd, StreamKind};
use crate::{AgentStats, DevAgentError, Identity};

/// Bytes that are not DER, for the "unparsable" garbage kinds.
const NOT_DER: &[u8] = b"\xffthis is not a DER certificate";

/// A message pushed to every open stream of a kind.
#[derive(Clone, Debug)]
pub(crate) enum Command {
    Garbage(StreamKind, Garbage),
    RawX509Svid(X509svidResponse),
    RawX509Bundles(X509BundlesResponse),
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
}

pub(crate) struct Shared {
    pub(crate) settings: Settings,
    inner: Mutex<Inner>,
    /// Bumped on every change of SVIDs or bundles; streams send the full state on change.
    pub(crate) changes: watch::Sender<u64>,
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

        let inner = Inner {
            ca,
            staged: None,
            retired: Vec::new(),
            entries,
            federated: BTreeMap::new(),
            faults: FaultQueues::default(),
        };
        Ok(Arc::new(Self {
            settings,
            inner: Mutex::new(inner),
            changes: watch::Sender::new(0),
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

    fn publish(&self) {
        self.changes.send_modify(|generation| *generation += 1);
        self.rotation.notify_one();
    }

    // ---- identities ----

    pub(crate) fn add_identity(&self, identity: Identity) -> Result<(), DevAgentError> {
        identity.check(&self.settings.trust_domain)?;
        {
            let mut inner = self.inner.lock();
            let entry = issue(&inner.ca, identity)?;
            inner.entries.push(entry);
        }
        self.publish();
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
        self.publish();
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
        let next = {
            let mut inner = self.inner.lock();
            let Inner {
                ca,
                entries,
                retired,
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

            let renewals = entries.iter().map(|e| e.renew_at);
            renewals
                .chain(retired.iter().map(|(_, until)| *until))
                .min()
        };

        if changed > 0 || dropped_roots {
            self.count(|s| s.svid_renewals += changed);
            self.changes.send_modify(|generation| *generation += 1);
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
            let now = Instant::now();
            let until = now
                .checked_add(self.settings.ca_grace)
                .unwrap_or_else(|| now + Duration::from_secs(30 * 365 * 86_400));
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
        let key = format!("spiffe://{trust_domain}");
        {
            let mut inner = self.inner.lock();
            match der {
                Some(der) => inner.federated.insert(key, der),
                None => inner.federated.remove(&key),
            };
        }
        self.publish();
    }

    // ---- faults ----

    pub(crate) fn with_faults<R>(&self, f: impl FnOnce(&mut FaultQueues) -> R) -> R {
        f(&mut self.inner.lock().faults)
    }

    // ---- views ----

    pub(crate) fn x509_svid_view(&self, caller_uid: Option<u32>) -> View<X509svidResponse> {
        let inner = self.inner.lock();
        let visible: Vec<&Entry> = inner
            .entries
            .iter()
            .filter(|e| e.identity.visible_to(caller_uid))
            .collect();
        if denied(&visible) {
            return View::Denied;
        }

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
        let visible: Vec<&Entry> = inner
            .entries
            .iter()
            .filter(|e| e.identity.visible_to(caller_uid))
            .collect();
        if denied(&visible) {
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
}

/// A caller is denied when it has no identity at all, or when all of its identities were
/// revoked and at least one of them with PermissionDenied.
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
