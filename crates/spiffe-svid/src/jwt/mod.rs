//! JWT-SVIDs: reading and validating JWS compact tokens against JWT bundles.

pub(crate) mod alg;
mod base64url;
mod error;
mod json;
mod validator;

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use spiffe_bundle::{EcCurve, JwtBundle, JwtBundleSource, JwtPublicKey};
use spiffe_id::SpiffeId;

use crate::backend::{self, JwsKey};
pub use alg::JwsAlgorithm;
use alg::{Curve, KeyKind};
pub use error::{JwtClaim, JwtPart, JwtSvidError};
use json::JsonError;
pub use validator::JwtValidator;

/// The longest token accepted, in bytes: 16 KiB (workspace policy). Longer input is refused
/// before it is split or decoded.
pub const MAX_JWT_BYTES: usize = 16 * 1024;

/// The most characters of a token value (`alg`, `typ`, `kid`) an error repeats.
pub const MAX_ECHO_CHARS: usize = 32;

/// The latest NumericDate accepted: 9999-12-31T23:59:59Z, in seconds since the epoch.
const MAX_NUMERIC_DATE: u64 = 253_402_300_799;

/// Decoded headers and claims up to these sizes stay on the stack.
const HEADER_STACK: usize = 256;
const CLAIMS_STACK: usize = 1024;

/// The longest signature any allowed key makes: RSA with an 8192-bit modulus.
const MAX_SIGNATURE_BYTES: usize = 1024;

/// How many characters of the token `Debug` shows.
const DEBUG_PREFIX_CHARS: usize = 12;

/// A JWT-SVID: a JWS-signed JWT whose `sub` is a SPIFFE ID (the SPIFFE JWT-SVID standard).
///
/// Obtained from [`JwtSvid::validate`] or [`JwtSvid::validate_with`], its signature has been
/// verified with a key of the subject's trust domain, and its audience and validity period
/// checked. Obtained from [`JwtSvid::parse_insecure`], only its format has been checked.
///
/// `Debug` shows the subject, audience, expiry and the first few characters of the token,
/// never the whole token: it is a bearer credential.
#[derive(Clone, PartialEq, Eq)]
pub struct JwtSvid {
    token: String,
    spiffe_id: SpiffeId,
    audience: Vec<String>,
    expiry: u64,
    not_before: Option<u64>,
    issued_at: Option<u64>,
    jwt_id: Option<String>,
    algorithm: JwsAlgorithm,
    key_id: Option<String>,
    hint: Option<String>,
    claims: Map<String, Value>,
}

/// What [`JwtSvid::validate_with`] checks a token against.
///
/// Built with [`JwtValidation::new`] and adjusted through its fields or the `with_`
/// methods:
///
/// ```
/// use std::time::Duration;
/// use spiffe_svid::JwtValidation;
///
/// let strict = JwtValidation::new(&["spiffe://example.org/api"]).with_leeway(Duration::ZERO);
/// assert_eq!(strict.leeway, Duration::ZERO);
/// assert!(!strict.allow_missing_kid);
/// ```
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct JwtValidation<'a> {
    /// The audiences this validator answers to; the token's `aud` must name at least one.
    /// Empty is a caller error ([`JwtSvidError::NoExpectedAudience`]).
    pub audience: &'a [&'a str],

    /// Allowed clock skew for `exp`, `nbf` and `iat`: [`JwtValidation::DEFAULT_LEEWAY`]
    /// unless changed; zero for none.
    pub leeway: Duration,

    /// The time to validate at; `None` (the default) reads the system clock at each
    /// validation, so a long-lived value never goes stale.
    pub now: Option<SystemTime>,

    /// Accept a token without `kid`, trying every key of the trust domain whose type and
    /// curve fit the algorithm. Off by default (SPIRE always sets `kid`).
    pub allow_missing_kid: bool,
}

impl<'a> JwtValidation<'a> {
    /// The default clock leeway: 60 s, as SPIRE's ValidateJWTSVID and go-spiffe use.
    pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

    /// Validation for these expected audiences at the current time, with the default leeway,
    /// requiring `kid`.
    pub fn new(audience: &'a [&'a str]) -> Self {
        Self {
            audience,
            leeway: Self::DEFAULT_LEEWAY,
            now: None,
            allow_missing_kid: false,
        }
    }

    /// The same with another clock leeway.
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The same, validating at a fixed time instead of the system clock.
    pub fn at(mut self, now: SystemTime) -> Self {
        self.now = Some(now);
        self
    }

    /// The same, accepting tokens without `kid` (see
    /// [`allow_missing_kid`](Self::allow_missing_kid)).
    pub fn with_missing_kid_allowed(mut self, allow: bool) -> Self {
        self.allow_missing_kid = allow;
        self
    }

    /// The validation time as a duration since the epoch; a clock before 1970 reads as 0.
    fn now_since_epoch(&self) -> Duration {
        let now = self.now.unwrap_or_else(SystemTime::now);
        now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO)
    }
}

impl JwtSvid {
    /// Reads a JWT-SVID **without verifying its signature**, for a workload that inspects a
    /// token it fetched itself. Never use it to authenticate a peer: anyone can forge such a
    /// token. Use [`JwtSvid::validate`] for that.
    ///
    /// The token's format is still checked: size, three base64url parts, the header rules
    /// (allowed `alg`, `typ`, no `crit`; `kid` may be absent) and the claims (`sub` a SPIFFE
    /// ID, `aud` and `exp` present and well-typed). Time and audience are not checked, and
    /// the signature part is not decoded.
    ///
    /// # Errors
    ///
    /// Every [`JwtSvidError`] of the format checks: [`JwtSvidError::TooLarge`],
    /// [`JwtSvidError::Malformed`], [`JwtSvidError::InvalidBase64`],
    /// [`JwtSvidError::InvalidJson`], [`JwtSvidError::DuplicateMember`], the header errors
    /// ([`JwtSvidError::UnsupportedAlgorithm`] and its neighbours) and the claim errors
    /// ([`JwtSvidError::MissingClaim`], [`JwtSvidError::InvalidClaim`],
    /// [`JwtSvidError::InvalidSubject`]).
    pub fn parse_insecure(token: &str) -> Result<Self, JwtSvidError> {
        let parts = split(token)?;
        let (mut stack, mut heap) = ([0; HEADER_STACK], Vec::new());
        let header = read_header(parts.header, &mut stack, &mut heap)?;
        let claims = read_claims(parts.claims)?;
        Ok(Self::from_parts(token, header, claims))
    }

    /// Validates a JWT-SVID for the expected `audience` at the current time, with the
    /// default leeway of 60 s and a required `kid`.
    ///
    /// Same as [`validate_with`](Self::validate_with) with [`JwtValidation::new`].
    ///
    /// # Errors
    ///
    /// As [`validate_with`](Self::validate_with).
    pub fn validate(
        token: &str,
        bundles: &(impl JwtBundleSource + ?Sized),
        audience: &[&str],
    ) -> Result<Self, JwtSvidError> {
        Self::validate_with(token, bundles, &JwtValidation::new(audience))
    }

    /// Validates a JWT-SVID: its format, its signature with a key from the JWT bundle of the
    /// trust domain of its `sub`, its audience and its validity period.
    ///
    /// The checks run cheapest first and stop at the first failure: size; shape and base64url;
    /// header (`alg` in the allow-list, before any key is looked up; `typ`; `crit`; `kid`);
    /// claims (`sub`, `aud`, `exp`, and `nbf`, `iat`, `jti` when present); the bundle and the
    /// key, whose type and curve must fit `alg`; audience; time; and last the signature.
    ///
    /// # Errors
    ///
    /// [`JwtSvidError::NoExpectedAudience`] for an empty `options.audience`; the format errors
    /// of [`parse_insecure`](Self::parse_insecure) plus [`JwtSvidError::MissingKeyId`];
    /// [`JwtSvidError::NoBundle`], [`JwtSvidError::NoKeys`], [`JwtSvidError::UnknownKeyId`],
    /// [`JwtSvidError::KeyMismatch`] and [`JwtSvidError::NoMatchingKey`] for the key;
    /// [`JwtSvidError::AlgorithmNotSupportedByBackend`] for ES512 under *ring*;
    /// [`JwtSvidError::AudienceMismatch`], [`JwtSvidError::Expired`],
    /// [`JwtSvidError::NotYetValid`], [`JwtSvidError::IssuedInFuture`]; and
    /// [`JwtSvidError::InvalidSignature`].
    pub fn validate_with(
        token: &str,
        bundles: &(impl JwtBundleSource + ?Sized),
        options: &JwtValidation<'_>,
    ) -> Result<Self, JwtSvidError> {
        let parts = split(token)?;
        if options.audience.is_empty() {
            return Err(JwtSvidError::NoExpectedAudience);
        }

        let (mut stack, mut heap) = ([0; HEADER_STACK], Vec::new());
        let header = read_header(parts.header, &mut stack, &mut heap)?;
        if !backend::supports_jws(header.alg) {
            return Err(JwtSvidError::AlgorithmNotSupportedByBackend { alg: header.alg });
        }
        if header.kid.is_none() && !options.allow_missing_kid {
            return Err(JwtSvidError::MissingKeyId);
        }

        let claims = read_claims(parts.claims)?;
        let trust_domain = claims.spiffe_id.trust_domain_name();
        let bundle = bundles
            .jwt_bundle(trust_domain)
            .ok_or_else(|| JwtSvidError::NoBundle {
                trust_domain: trust_domain.to_owned(),
            })?;
        let keys = select_keys(bundle, header.alg, header.kid.as_deref())?;

        check_audience(&claims.audience, options.audience)?;
        check_time(&claims.times, options)?;

        let mut signature = [0; MAX_SIGNATURE_BYTES];
        let signature = decode_signature(parts.signature, &mut signature)?;
        let signing_input = &token.as_bytes()[..parts.signing_input_len];
        if !keys.verify(header.alg, signing_input, signature) {
            return Err(JwtSvidError::InvalidSignature);
        }

        Ok(Self::from_parts(token, header, claims))
    }

    fn from_parts(token: &str, header: Header<'_>, claims: Claims) -> Self {
        Self {
            token: token.to_owned(),
            spiffe_id: claims.spiffe_id,
            audience: claims.audience,
            expiry: claims.times.expiry,
            not_before: claims.times.not_before,
            issued_at: claims.times.issued_at,
            jwt_id: claims.jwt_id,
            algorithm: header.alg,
            key_id: header.kid.map(Cow::into_owned),
            hint: None,
            claims: claims.map,
        }
    }

    /// The same SVID with a hint, the Workload API's label that tells SVIDs apart.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The token as it was received, for sending on (JWT-SVID §5).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The SPIFFE ID of the subject, from `sub` (JWT-SVID §3.1).
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.spiffe_id
    }

    /// The audience values, from `aud` (JWT-SVID §3.2); a single string reads as one value.
    pub fn audience(&self) -> &[String] {
        &self.audience
    }

    /// The expiration time, from `exp` (JWT-SVID §3.3); a fractional value is rounded down.
    pub fn expiry(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.expiry)
    }

    /// The issue time, from `iat` when present; a fractional value is rounded up.
    pub fn issued_at(&self) -> Option<SystemTime> {
        self.issued_at
            .map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
    }

    /// The start of validity, from `nbf` when present; a fractional value is rounded up.
    pub fn not_before(&self) -> Option<SystemTime> {
        self.not_before
            .map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
    }

    /// The JWT ID, from `jti` when present.
    pub fn jwt_id(&self) -> Option<&str> {
        self.jwt_id.as_deref()
    }

    /// The signature algorithm, from the header's `alg`.
    pub fn algorithm(&self) -> JwsAlgorithm {
        self.algorithm
    }

    /// The signing key's ID, from the header's `kid` when present.
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    /// The hint set with [`with_hint`](Self::with_hint), if any.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// Every claim of the token, registered and private, as JSON values.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The claims the validator re-checks on each cache hit.
    fn times(&self) -> Times {
        Times {
            expiry: self.expiry,
            not_before: self.not_before,
            issued_at: self.issued_at,
        }
    }
}

impl fmt::Debug for JwtSvid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix: String = self.token.chars().take(DEBUG_PREFIX_CHARS).collect();
        f.debug_struct("JwtSvid")
            .field("spiffe_id", &self.spiffe_id.as_str())
            .field("audience", &self.audience)
            .field("expiry", &self.expiry)
            .field("hint", &self.hint)
            .field("token", &format_args!("\"{prefix}…\""))
            .finish_non_exhaustive()
    }
}

/// The three parts of a compact JWS, still encoded.
struct Parts<'t> {
    header: &'t [u8],
    claims: &'t [u8],
    signature: &'t [u8],
    /// `header.claims`, the JWS signing input (RFC 7515 §5.1 step 6).
    signing_input_len: usize,
}

/// Splits a token into its three parts, after the size check.
fn split(token: &str) -> Result<Parts<'_>, JwtSvidError> {
    if token.len() > MAX_JWT_BYTES {
        return Err(JwtSvidError::TooLarge {
            len: token.len(),
            max: MAX_JWT_BYTES,
        });
    }

    let bytes = token.as_bytes();
    let mut dots = bytes
        .iter()
        .enumerate()
        .filter_map(|(i, &b)| (b == b'.').then_some(i));
    let (Some(first), Some(second), None) = (dots.next(), dots.next(), dots.next()) else {
        let parts = bytes.iter().filter(|&&b| b == b'.').count() + 1;
        return Err(JwtSvidError::Malformed { parts });
    };

    Ok(Parts {
        header: &bytes[..first],
        claims: &bytes[first + 1..second],
        signature: &bytes[second + 1..],
        signing_input_len: second,
    })
}

/// The header members that decide validation.
struct Header<'h> {
    alg: JwsAlgorithm,
    kid: Option<Cow<'h, str>>,
}

/// Decodes and checks the JOSE header (JWT-SVID §2).
fn read_header<'b>(
    encoded: &[u8],
    stack: &'b mut [u8],
    heap: &'b mut Vec<u8>,
) -> Result<Header<'b>, JwtSvidError> {
    let part = JwtPart::Header;
    let json = base64url::decode(encoded, stack, heap)
        .map_err(|_| JwtSvidError::InvalidBase64 { part })?;
    let header = json::parse_header(json).map_err(|err| json_error(part, err))?;

    // JWT-SVID §2.1: the algorithm is settled before anything else is read or looked up.
    let name = header.alg.ok_or(JwtSvidError::MissingAlgorithm)?;
    let alg = JwsAlgorithm::from_name(&name)
        .ok_or_else(|| JwtSvidError::UnsupportedAlgorithm { alg: echo(&name) })?;

    // JWT-SVID §2.3.
    if let Some(typ) = header.typ
        && typ != "JWT"
        && typ != "JOSE"
    {
        return Err(JwtSvidError::UnsupportedType { typ: echo(&typ) });
    }

    // RFC 7515 §4.1.11: no extension is understood, so none may be critical.
    if header.crit {
        return Err(JwtSvidError::CriticalHeader);
    }

    Ok(Header {
        alg,
        kid: header.kid,
    })
}

/// The registered claims, read from the claims set.
struct Claims {
    spiffe_id: SpiffeId,
    audience: Vec<String>,
    times: Times,
    jwt_id: Option<String>,
    map: Map<String, Value>,
}

/// The time claims, in whole seconds since the epoch.
#[derive(Clone, Copy)]
struct Times {
    expiry: u64,
    not_before: Option<u64>,
    issued_at: Option<u64>,
}

/// Decodes the claims set and reads the registered claims (JWT-SVID §3, RFC 7519 §4.1).
fn read_claims(encoded: &[u8]) -> Result<Claims, JwtSvidError> {
    let part = JwtPart::Claims;
    let (mut stack, mut heap) = ([0; CLAIMS_STACK], Vec::new());
    let json = base64url::decode(encoded, &mut stack, &mut heap)
        .map_err(|_| JwtSvidError::InvalidBase64 { part })?;
    let map = json::parse_claims(json).map_err(|err| json_error(part, err))?;

    // JWT-SVID §3.1: the subject is the workload's SPIFFE ID.
    let subject = match map.get("sub") {
        None => return Err(missing(JwtClaim::Subject)),
        Some(Value::String(sub)) => sub,
        Some(_) => return Err(invalid(JwtClaim::Subject)),
    };
    let spiffe_id = SpiffeId::parse(subject).map_err(JwtSvidError::InvalidSubject)?;

    // JWT-SVID §3.2: one or more values; RFC 7519 §4.1.3: a string or an array of them.
    let audience = match map.get("aud") {
        None => return Err(missing(JwtClaim::Audience)),
        Some(Value::String(aud)) => vec![aud.clone()],
        Some(Value::Array(values)) if !values.is_empty() => values
            .iter()
            .map(|value| value.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(invalid(JwtClaim::Audience))?,
        Some(_) => return Err(invalid(JwtClaim::Audience)),
    };

    // JWT-SVID §3.3: exp is required. A fractional exp is rounded down and nbf and iat up,
    // so that rounding never widens the validity period.
    let expiry =
        numeric_date(&map, JwtClaim::Expiry, f64::floor)?.ok_or(missing(JwtClaim::Expiry))?;
    let times = Times {
        expiry,
        not_before: numeric_date(&map, JwtClaim::NotBefore, f64::ceil)?,
        issued_at: numeric_date(&map, JwtClaim::IssuedAt, f64::ceil)?,
    };

    let jwt_id = match map.get("jti") {
        None => None,
        Some(Value::String(jti)) => Some(jti.clone()),
        Some(_) => return Err(invalid(JwtClaim::JwtId)),
    };

    Ok(Claims {
        spiffe_id,
        audience,
        times,
        jwt_id,
        map,
    })
}

/// A NumericDate claim (RFC 7519 §2): a JSON number of seconds since the epoch, here between
/// 0 and [`MAX_NUMERIC_DATE`]. Strings, negative numbers and later dates are refused.
fn numeric_date(
    map: &Map<String, Value>,
    claim: JwtClaim,
    round: fn(f64) -> f64,
) -> Result<Option<u64>, JwtSvidError> {
    let Some(value) = map.get(claim.name()) else {
        return Ok(None);
    };
    let Value::Number(number) = value else {
        return Err(invalid(claim));
    };

    let secs = if let Some(secs) = number.as_u64() {
        secs
    } else {
        let secs = number.as_f64().map(round).unwrap_or(-1.0);
        if !(0.0..=MAX_NUMERIC_DATE as f64).contains(&secs) {
            return Err(invalid(claim));
        }
        // In range and integral after rounding, so the conversion is exact.
        secs as u64
    };
    if secs > MAX_NUMERIC_DATE {
        return Err(invalid(claim));
    }
    Ok(Some(secs))
}

/// The keys that may verify the token: the one named by `kid`, or every key of the bundle
/// that fits the algorithm.
enum Keys<'b> {
    One(JwsKey<'b>),
    AllFitting(&'b JwtBundle),
}

impl Keys<'_> {
    fn verify(&self, alg: JwsAlgorithm, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::One(key) => backend::verify_jws(alg, *key, message, signature).is_ok(),
            Self::AllFitting(bundle) => bundle
                .authorities()
                .filter_map(|authority| fitting_key(alg, authority.public_key()))
                .any(|key| backend::verify_jws(alg, key, message, signature).is_ok()),
        }
    }
}

/// Finds the key for the token in its trust domain's bundle, without signature work.
fn select_keys<'b>(
    bundle: &'b JwtBundle,
    alg: JwsAlgorithm,
    kid: Option<&str>,
) -> Result<Keys<'b>, JwtSvidError> {
    let trust_domain = || bundle.trust_domain().as_str().to_owned();
    if bundle.is_empty() {
        return Err(JwtSvidError::NoKeys {
            trust_domain: trust_domain(),
        });
    }

    let Some(kid) = kid else {
        let any = bundle
            .authorities()
            .any(|authority| fitting_key(alg, authority.public_key()).is_some());
        return if any {
            Ok(Keys::AllFitting(bundle))
        } else {
            Err(JwtSvidError::NoMatchingKey {
                alg,
                trust_domain: trust_domain(),
            })
        };
    };

    let authority = bundle
        .authority(kid)
        .ok_or_else(|| JwtSvidError::UnknownKeyId {
            kid: echo(kid),
            trust_domain: trust_domain(),
        })?;
    let key =
        fitting_key(alg, authority.public_key()).ok_or_else(|| JwtSvidError::KeyMismatch {
            alg,
            kid: echo(kid),
        })?;
    Ok(Keys::One(key))
}

/// The key material when the key's type and curve fit the algorithm (RFC 7518 §3.3 to §3.5)
/// and its size is one the backend verifies.
fn fitting_key(alg: JwsAlgorithm, key: &JwtPublicKey) -> Option<JwsKey<'_>> {
    match (alg.key_kind(), key) {
        (KeyKind::Rsa, JwtPublicKey::Rsa { n, e, .. }) => {
            let bits = rsa_modulus_bits(n);
            ((2048..=8192).contains(&bits) && !e.is_empty()).then_some(JwsKey::Rsa { n, e })
        }
        (
            KeyKind::Ec(curve),
            JwtPublicKey::Ec {
                curve: key_curve,
                x,
                y,
                ..
            },
        ) => {
            let same_curve = matches!(
                (curve, key_curve),
                (Curve::P256, EcCurve::P256)
                    | (Curve::P384, EcCurve::P384)
                    | (Curve::P521, EcCurve::P521)
            );
            let field = curve.field_len();
            (same_curve && x.len() == field && y.len() == field).then_some(JwsKey::Ec {
                curve,
                x,
                y,
            })
        }
        _ => None,
    }
}

/// The size of a big-endian RSA modulus in bits, ignoring leading zero bytes.
fn rsa_modulus_bits(n: &[u8]) -> usize {
    let start = n.iter().position(|&b| b != 0).unwrap_or(n.len());
    match n.get(start) {
        Some(first) => (n.len() - start - 1) * 8 + (8 - first.leading_zeros() as usize),
        None => 0,
    }
}

/// Decodes the signature into `out`; longer than any allowed key makes is a bad signature.
fn decode_signature<'o>(encoded: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], JwtSvidError> {
    let len = base64url::decoded_len(encoded.len()).ok_or(JwtSvidError::InvalidBase64 {
        part: JwtPart::Signature,
    })?;
    if len > out.len() {
        return Err(JwtSvidError::InvalidSignature);
    }
    base64url::decode_into(encoded, out).map_err(|_| JwtSvidError::InvalidBase64 {
        part: JwtPart::Signature,
    })
}

/// JWT-SVID §3.2: at least one `aud` value is an expected audience.
fn check_audience(audience: &[String], expected: &[&str]) -> Result<(), JwtSvidError> {
    if expected.is_empty() {
        return Err(JwtSvidError::NoExpectedAudience);
    }
    if audience.iter().any(|aud| expected.contains(&aud.as_str())) {
        Ok(())
    } else {
        Err(JwtSvidError::AudienceMismatch)
    }
}

/// RFC 7519 §4.1.4 to §4.1.6, each within the leeway.
fn check_time(times: &Times, options: &JwtValidation<'_>) -> Result<(), JwtSvidError> {
    let now = options.now_since_epoch();
    let latest = now.saturating_add(options.leeway);

    // The current time must be before exp; the leeway extends exp.
    if now >= Duration::from_secs(times.expiry).saturating_add(options.leeway) {
        return Err(JwtSvidError::Expired);
    }
    if times
        .not_before
        .is_some_and(|nbf| Duration::from_secs(nbf) > latest)
    {
        return Err(JwtSvidError::NotYetValid);
    }
    if times
        .issued_at
        .is_some_and(|iat| Duration::from_secs(iat) > latest)
    {
        return Err(JwtSvidError::IssuedInFuture);
    }
    Ok(())
}

fn json_error(part: JwtPart, err: JsonError) -> JwtSvidError {
    match err {
        JsonError::Duplicate => JwtSvidError::DuplicateMember { part },
        JsonError::Invalid => JwtSvidError::InvalidJson { part },
    }
}

fn missing(claim: JwtClaim) -> JwtSvidError {
    JwtSvidError::MissingClaim { claim }
}

fn invalid(claim: JwtClaim) -> JwtSvidError {
    JwtSvidError::InvalidClaim { claim }
}

/// A token value cut to [`MAX_ECHO_CHARS`] characters for an error message.
fn echo(value: &str) -> String {
    match value.char_indices().nth(MAX_ECHO_CHARS) {
        Some((end, _)) => format!("{}…", &value[..end]),
        None => value.to_owned(),
    }
}
