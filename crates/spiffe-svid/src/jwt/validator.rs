//! A cache of validated JWT-SVIDs for servers that see the same token many times.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use spiffe_bundle::JwtBundleSource;

use super::{JwtSvid, JwtSvidError, JwtValidation, check_audience, check_time, split};

/// Validates JWT-SVIDs and remembers the ones that passed, so that a token presented again
/// costs a hash and a comparison instead of a signature verification.
///
/// A cache entry is tied to three things:
///
/// - **the bundles**: the validator remembers the `Arc` of the bundles it validated with.
///   Passing a different `Arc` (a bundle update hands out a new one) drops every entry
///   before the new bundles are used. Entries can never outlive the keys that verified them;
///   the price is that a caller who wraps the same bundles in a fresh `Arc` on every call
///   gets no caching at all.
/// - **the token's lifetime**: an entry is used only while the token's `exp` is in the
///   future and is dropped after it; a token already past `exp` (accepted within the
///   leeway) is not cached.
/// - **the exact token**: entries are found by a keyed hash of the token and compared in full
///   before use.
///
/// On a hit, the checks that depend on the call are repeated: the expected audience, `exp`,
/// `nbf` and `iat` against the time and leeway of `options`, and the `kid` requirement.
/// Only the signature and the format are taken from the cache.
///
/// The cache holds at most [`capacity`](Self::capacity) entries
/// ([`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) unless built with
/// [`with_capacity`](Self::with_capacity)). When full, expired entries are dropped first,
/// then the entry that expires soonest. Tokens are at most 16 KiB, so the default bounds the
/// cache to about 16 MiB of tokens in the worst case. A capacity of zero validates every
/// call in full.
pub struct JwtValidator<B: ?Sized> {
    capacity: usize,
    hasher: RandomState,
    state: RwLock<State<B>>,
}

struct State<B: ?Sized> {
    /// The bundles every entry was validated with.
    bundles: Option<Arc<B>>,
    entries: HashMap<u64, Arc<JwtSvid>, BuildHasherDefault<PassThrough>>,
}

impl<B: JwtBundleSource + ?Sized> JwtValidator<B> {
    /// The number of entries a validator holds unless told otherwise: 1024.
    pub const DEFAULT_CAPACITY: usize = 1024;

    /// A validator with an empty cache of [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY)
    /// entries.
    pub fn new() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// A validator whose cache holds at most `capacity` tokens; zero disables caching.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity,
            hasher: RandomState::new(),
            state: RwLock::new(State {
                bundles: None,
                entries: HashMap::default(),
            }),
        }
    }

    /// Validates `token` for the expected `audience` at the current time with the default
    /// leeway, as [`JwtSvid::validate`] does, answering from the cache when it can.
    ///
    /// # Errors
    ///
    /// As [`JwtSvid::validate_with`].
    pub fn validate(
        &self,
        token: &str,
        bundles: &Arc<B>,
        audience: &[&str],
    ) -> Result<Arc<JwtSvid>, JwtSvidError> {
        self.validate_with(token, bundles, &JwtValidation::new(audience))
    }

    /// Validates `token` as [`JwtSvid::validate_with`] does, answering from the cache when
    /// the same token was validated with the same `bundles` and has not expired.
    ///
    /// # Errors
    ///
    /// As [`JwtSvid::validate_with`]. A cached token can still fail the checks of this call:
    /// [`JwtSvidError::AudienceMismatch`], [`JwtSvidError::Expired`],
    /// [`JwtSvidError::NotYetValid`], [`JwtSvidError::IssuedInFuture`] or
    /// [`JwtSvidError::MissingKeyId`].
    pub fn validate_with(
        &self,
        token: &str,
        bundles: &Arc<B>,
        options: &JwtValidation<'_>,
    ) -> Result<Arc<JwtSvid>, JwtSvidError> {
        split(token)?;
        if options.audience.is_empty() {
            return Err(JwtSvidError::NoExpectedAudience);
        }

        let now = options.now_since_epoch();
        let hash = self.hasher.hash_one(token);
        if let Some(svid) = self.lookup(hash, token, bundles, now) {
            if svid.key_id.is_none() && !options.allow_missing_kid {
                return Err(JwtSvidError::MissingKeyId);
            }
            check_audience(&svid.audience, options.audience)?;
            check_time(&svid.times(), options)?;
            return Ok(svid);
        }

        self.adopt(bundles);
        let svid = Arc::new(JwtSvid::validate_with(token, &**bundles, options)?);
        if self.capacity > 0 && now < Duration::from_secs(svid.expiry) {
            self.insert(hash, &svid, bundles, now);
        }
        Ok(svid)
    }

    /// The number of tokens cached now, expired ones not yet dropped included.
    pub fn len(&self) -> usize {
        self.state.read().entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most tokens the cache holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Drops every cached token.
    pub fn clear(&self) {
        self.state.write().entries.clear();
    }

    fn lookup(
        &self,
        hash: u64,
        token: &str,
        bundles: &Arc<B>,
        now: Duration,
    ) -> Option<Arc<JwtSvid>> {
        let state = self.state.read();
        if !state.holds(bundles) {
            return None;
        }

        let svid = state.entries.get(&hash)?;
        let live = now < Duration::from_secs(svid.expiry);
        (live && svid.token == token).then(|| Arc::clone(svid))
    }

    /// Switches to `bundles` if they are not the ones the entries were validated with:
    /// nothing validated with the old ones may be answered any more, and they are released.
    fn adopt(&self, bundles: &Arc<B>) {
        if !self.state.read().holds(bundles) {
            self.state.write().adopt(bundles);
        }
    }

    fn insert(&self, hash: u64, svid: &Arc<JwtSvid>, bundles: &Arc<B>, now: Duration) {
        let mut state = self.state.write();
        // Another call may have switched bundles since this token was validated.
        state.adopt(bundles);

        if state.entries.len() >= self.capacity && !state.entries.contains_key(&hash) {
            state
                .entries
                .retain(|_, svid| now < Duration::from_secs(svid.expiry));
        }
        if state.entries.len() >= self.capacity && !state.entries.contains_key(&hash) {
            let soonest = state
                .entries
                .iter()
                .min_by_key(|(_, svid)| svid.expiry)
                .map(|(&hash, _)| hash);
            if let Some(soonest) = soonest {
                state.entries.remove(&soonest);
            }
        }
        // A different token with the same hash is replaced; lookups compare the whole token.
        state.entries.insert(hash, Arc::clone(svid));
    }
}

impl<B: ?Sized> State<B> {
    fn holds(&self, bundles: &Arc<B>) -> bool {
        self.bundles
            .as_ref()
            .is_some_and(|held| Arc::ptr_eq(held, bundles))
    }

    fn adopt(&mut self, bundles: &Arc<B>) {
        if !self.holds(bundles) {
            self.entries.clear();
            self.bundles = Some(Arc::clone(bundles));
        }
    }
}

impl<B: JwtBundleSource + ?Sized> Default for JwtValidator<B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<B: ?Sized> fmt::Debug for JwtValidator<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtValidator")
            .field("capacity", &self.capacity)
            .field("entries", &self.state.read().entries.len())
            .finish_non_exhaustive()
    }
}

/// The map's keys are already keyed hashes of the tokens: hashing them again is wasted work.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used for `u64` keys; fold anything else in all the same.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
