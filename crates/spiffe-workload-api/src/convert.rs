//! Turning Workload API messages into SVIDs and bundles.
//!
//! SPEC-POLICY: certificate fields (`x509_svid`, `bundle`, `federated_bundles`, `bundles`)
//! hold DER certificates back to back; the hint is kept; federated bundles join the bundle set.
//! CRLs are ignored. JWT bundles are plain JWK Sets; empty bytes are an empty bundle.

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Number, Value};
use spiffe_bundle::{BundleError, JwtBundle, JwtBundleSet, X509Bundle, X509BundleSet};
use spiffe_id::{MAX_ID_LEN, SpiffeId, SpiffeIdError, TrustDomain};
use spiffe_svid::{JwtSvid, JwtSvidError, X509Svid, X509SvidError};

use crate::proto;

/// The SVIDs the agent issued to this workload and the bundles to verify peers with.
///
/// `svids` may be empty: an agent sends a response without SVIDs when it revokes the
/// workload's identity. That is a valid message, not a parse failure; long-lived callers treat
/// it as "stop serving an SVID, keep the bundles".
#[derive(Debug)]
#[non_exhaustive]
pub struct X509Context {
    /// The SVIDs in the agent's order; the first is the default one.
    pub svids: Vec<X509Svid>,
    /// The bundle of each SVID's trust domain plus the federated bundles.
    pub bundles: X509BundleSet,
}

/// Why a Workload API message could not be turned into SVIDs or bundles.
///
/// Positions (`index`) are 1-based in message order.
#[derive(Debug)]
#[non_exhaustive]
pub enum ResponseError {
    /// SVID `index` has an empty private key (Workload API §5.2: the key is required).
    MissingPrivateKey {
        /// Position of the SVID.
        index: usize,
    },
    /// SVID `index` is not a valid X.509-SVID with its PKCS#8 key.
    Svid {
        /// Position of the SVID.
        index: usize,
        /// Why it was refused.
        source: X509SvidError,
    },
    /// SVID `index` declares a SPIFFE ID that differs from the one in its certificate.
    SpiffeIdMismatch {
        /// Position of the SVID.
        index: usize,
        /// The `spiffe_id` field of the message.
        declared: String,
        /// The ID in the leaf certificate.
        certificate: SpiffeId,
    },
    /// The bundle of SVID `index` cannot be read.
    SvidBundle {
        /// Position of the SVID.
        index: usize,
        /// Why it was refused.
        source: BundleError,
    },
    /// SVID `index` carries a bundle for its trust domain that differs from the one an
    /// earlier SVID of the same trust domain carried: which one to trust is unknowable, so
    /// the message is refused.
    ConflictingBundles {
        /// Position of the SVID.
        index: usize,
        /// The trust domain.
        trust_domain: TrustDomain,
    },
    /// A bundle map key is not a trust domain or its SPIFFE ID.
    TrustDomainKey {
        /// The key as sent.
        key: String,
        /// Why it was refused.
        source: SpiffeIdError,
    },
    /// A bundle map names the same trust domain twice, once by its name and once by its
    /// SPIFFE ID (`example.org` and `spiffe://example.org`). Which one to keep would depend on
    /// map order, so the message is refused (SPEC-POLICY, "Bundles").
    DuplicateTrustDomain {
        /// The trust domain.
        trust_domain: TrustDomain,
    },
    /// The bundle of a trust domain cannot be read (DER certificates for X.509 bundles, a
    /// JWK Set for JWT bundles).
    Bundle {
        /// The trust domain.
        trust_domain: TrustDomain,
        /// Why it was refused.
        source: BundleError,
    },
    /// A `FetchJWTSVID` answer holds no JWT-SVID (Workload API §6.1: the list is required;
    /// an agent with nothing to issue answers PermissionDenied instead).
    NoJwtSvids,
    /// The token of JWT-SVID `index` is not a well-formed JWT-SVID.
    JwtSvid {
        /// Position of the SVID.
        index: usize,
        /// Why it was refused.
        source: JwtSvidError,
    },
    /// JWT-SVID `index` declares a SPIFFE ID that differs from the `sub` of its token.
    JwtSpiffeIdMismatch {
        /// Position of the SVID.
        index: usize,
        /// The `spiffe_id` field of the message.
        declared: String,
        /// The token's subject.
        subject: SpiffeId,
    },
    /// A JWT-SVID was requested for one SPIFFE ID and the agent answered with another.
    UnrequestedJwtSvid {
        /// Position of the SVID.
        index: usize,
        /// The SPIFFE ID received (the caller knows the one it asked for).
        received: SpiffeId,
    },
    /// A JWT-SVID's `aud` lacks an audience the caller asked for: peers expecting that
    /// audience would refuse it.
    UnrequestedAudience {
        /// Position of the SVID.
        index: usize,
        /// The first requested audience the token does not name, cut to 256 characters.
        missing: String,
    },
    /// A JWT-SVID is already expired, or not valid yet, by more than the allowed clock skew
    /// ([`JWT_CLOCK_SKEW`]).
    JwtSvidOutsideValidity {
        /// Position of the SVID.
        index: usize,
        /// Seconds past its `exp` (positive) or before its `nbf` (negative).
        seconds: i64,
    },
    /// The `spiffe_id` of a `ValidateJWTSVID` answer is not a SPIFFE ID.
    ValidatedSpiffeId {
        /// The value as sent, cut to 64 characters.
        value: String,
        /// Why it was refused.
        source: SpiffeIdError,
    },
    /// A `ValidateJWTSVID` answer has no claims (the field is required).
    MissingClaims,
    /// A claim of a `ValidateJWTSVID` answer has no JSON form (a number that is not finite).
    UnrepresentableClaim {
        /// The top-level claim it sits in.
        name: String,
    },
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingPrivateKey { index } => write!(f, "svid {index} has no private key"),
            Self::Svid { index, .. } => write!(f, "svid {index} is not a valid x509-svid"),
            Self::SpiffeIdMismatch {
                index,
                declared,
                certificate,
            } => write!(
                f,
                "svid {index} declares spiffe id {declared:?} \
                 but its certificate holds {certificate}"
            ),
            Self::SvidBundle { index, .. } => write!(f, "bundle of svid {index} cannot be read"),
            Self::ConflictingBundles {
                index,
                trust_domain,
            } => write!(
                f,
                "svid {index} carries a bundle for {trust_domain} \
                 that differs from an earlier svid's"
            ),
            Self::TrustDomainKey { key, .. } => {
                write!(f, "bundle key {key:?} is not a trust domain")
            }
            Self::DuplicateTrustDomain { trust_domain } => {
                write!(f, "bundle map names trust domain {trust_domain} twice")
            }
            Self::Bundle { trust_domain, .. } => {
                write!(f, "bundle of trust domain {trust_domain} cannot be read")
            }
            Self::NoJwtSvids => f.write_str("response holds no jwt-svid"),
            Self::JwtSvid { index, .. } => write!(f, "jwt-svid {index} is not a valid jwt-svid"),
            Self::JwtSpiffeIdMismatch {
                index,
                declared,
                subject,
            } => write!(
                f,
                "jwt-svid {index} declares spiffe id {declared:?} \
                 but its token's subject is {subject}"
            ),
            Self::UnrequestedJwtSvid { index, received } => write!(
                f,
                "jwt-svid {index} is for {received}, not for the requested spiffe id"
            ),
            Self::UnrequestedAudience { index, missing } => write!(
                f,
                "jwt-svid {index} is not for the requested audience {missing:?}"
            ),
            Self::JwtSvidOutsideValidity { index, seconds } if *seconds >= 0 => {
                write!(f, "jwt-svid {index} expired {seconds} s ago")
            }
            Self::JwtSvidOutsideValidity { index, seconds } => write!(
                f,
                "jwt-svid {index} is not valid for another {} s (nbf)",
                seconds.unsigned_abs()
            ),
            Self::ValidatedSpiffeId { value, .. } => {
                write!(f, "validated spiffe id {value:?} is not a spiffe id")
            }
            Self::MissingClaims => f.write_str("validation response has no claims"),
            Self::UnrepresentableClaim { name } => {
                write!(f, "claim {name:?} has no json form")
            }
        }
    }
}

impl std::error::Error for ResponseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Svid { source, .. } => Some(source),
            Self::SvidBundle { source, .. } | Self::Bundle { source, .. } => Some(source),
            Self::TrustDomainKey { source, .. } | Self::ValidatedSpiffeId { source, .. } => {
                Some(source)
            }
            Self::JwtSvid { source, .. } => Some(source),
            Self::MissingPrivateKey { .. }
            | Self::SpiffeIdMismatch { .. }
            | Self::ConflictingBundles { .. }
            | Self::DuplicateTrustDomain { .. }
            | Self::NoJwtSvids
            | Self::JwtSpiffeIdMismatch { .. }
            | Self::UnrequestedJwtSvid { .. }
            | Self::UnrequestedAudience { .. }
            | Self::JwtSvidOutsideValidity { .. }
            | Self::MissingClaims
            | Self::UnrepresentableClaim { .. } => None,
        }
    }
}

/// Reads an `X509SVIDResponse`. The whole message is refused when any part is invalid.
pub(crate) fn x509_context(msg: &proto::X509svidResponse) -> Result<X509Context, ResponseError> {
    let mut svids = Vec::with_capacity(msg.svids.len());
    let mut bundles = X509BundleSet::new();
    // The raw bundle bytes already read, per trust domain, to skip re-parsing copies.
    let mut seen: Vec<(TrustDomain, &[u8])> = Vec::new();

    for (i, entry) in msg.svids.iter().enumerate() {
        let index = i + 1;
        let svid = svid(index, entry)?;

        // Each SVID carries the bundle of its own trust domain. Every copy is read; copies
        // for one trust domain must agree.
        let name = svid.spiffe_id().trust_domain_name();
        let known = seen
            .iter()
            .find(|(td, _)| td.as_str() == name)
            .map(|(_, der)| *der);
        if known != Some(entry.bundle.as_slice()) {
            let bundle = X509Bundle::from_der(svid.spiffe_id().trust_domain(), &entry.bundle)
                .map_err(|source| ResponseError::SvidBundle { index, source })?;
            match bundles.get(bundle.trust_domain()) {
                Some(first) if !first.same_authorities(&bundle) => {
                    return Err(ResponseError::ConflictingBundles {
                        index,
                        trust_domain: bundle.trust_domain().clone(),
                    });
                }
                Some(_) => {}
                None => {
                    seen.push((bundle.trust_domain().clone(), &entry.bundle));
                    bundles.insert(bundle);
                }
            }
        }
        svids.push(svid);
    }

    for bundle in bundle_map(&msg.federated_bundles)? {
        if bundles.contains(bundle.trust_domain()) {
            tracing::debug!(
                trust_domain = %bundle.trust_domain(),
                "federated bundle for an svid's own trust domain ignored"
            );
            continue;
        }
        bundles.insert(bundle);
    }

    Ok(X509Context { svids, bundles })
}

/// Reads an `X509BundlesResponse`.
pub(crate) fn x509_bundles(
    msg: &proto::X509BundlesResponse,
) -> Result<X509BundleSet, ResponseError> {
    Ok(bundle_map(&msg.bundles)?.into_iter().collect())
}

fn svid(index: usize, entry: &proto::X509svid) -> Result<X509Svid, ResponseError> {
    if entry.x509_svid_key.is_empty() {
        return Err(ResponseError::MissingPrivateKey { index });
    }

    let svid = X509Svid::from_der(&entry.x509_svid, &entry.x509_svid_key)
        .map_err(|source| ResponseError::Svid { index, source })?;

    if svid.spiffe_id().as_str() != entry.spiffe_id {
        return Err(ResponseError::SpiffeIdMismatch {
            index,
            declared: capped(&entry.spiffe_id),
            certificate: svid.spiffe_id().clone(),
        });
    }

    // proto3 has no "absent": an empty hint means none.
    Ok(if entry.hint.is_empty() {
        svid
    } else {
        svid.with_hint(entry.hint.clone())
    })
}

/// A string from the agent as it goes into an error: at most [`MAX_ID_LEN`] characters, so
/// that a hostile message cannot blow up error texts and logs.
fn capped(s: &str) -> String {
    if s.len() <= MAX_ID_LEN {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(MAX_ID_LEN).collect();
    out.push_str("...");
    out
}

/// Reads a map from trust domain (name or `spiffe://` ID) to DER certificates.
fn bundle_map<'a>(
    map: impl IntoIterator<Item = (&'a String, &'a Vec<u8>)>,
) -> Result<Vec<X509Bundle>, ResponseError> {
    read_bundle_map(map, X509Bundle::from_der)
}

/// Reads a map from trust domain (name or `spiffe://` ID) to bundle bytes with `parse`.
///
/// SPEC-POLICY, "Bundles": a map with the same trust domain twice is an error. The proto map
/// cannot repeat a key, but `example.org` and `spiffe://example.org` are two keys for one
/// trust domain.
fn read_bundle_map<'a, B>(
    map: impl IntoIterator<Item = (&'a String, &'a Vec<u8>)>,
    parse: impl Fn(TrustDomain, &[u8]) -> Result<B, BundleError>,
) -> Result<Vec<B>, ResponseError> {
    // A set, not a list: a hostile message can hold hundreds of thousands of keys.
    let mut seen: BTreeSet<TrustDomain> = BTreeSet::new();
    let mut bundles = Vec::new();
    for (key, bytes) in map {
        let trust_domain =
            TrustDomain::from_name_or_id(key).map_err(|source| ResponseError::TrustDomainKey {
                key: capped(key),
                source,
            })?;
        if !seen.insert(trust_domain.clone()) {
            return Err(ResponseError::DuplicateTrustDomain { trust_domain });
        }

        let bundle =
            parse(trust_domain.clone(), bytes).map_err(|source| ResponseError::Bundle {
                trust_domain,
                source,
            })?;
        bundles.push(bundle);
    }
    Ok(bundles)
}

/// Clock skew allowed between the agent and this process when checking a fetched JWT-SVID's
/// times (the same as the validation default).
pub const JWT_CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Reads a `JWTSVIDResponse`: every token is read without checking its signature (the agent
/// is the trusted source), and must name the declared (and, if one was asked for, the
/// requested) SPIFFE ID, carry every requested audience, and be valid now (within
/// [`JWT_CLOCK_SKEW`]): a token its peers would refuse is not handed out. The whole message
/// is refused when any part is invalid.
pub(crate) fn jwt_svids(
    msg: &proto::JwtsvidResponse,
    requested: Option<&SpiffeId>,
    audience: &[&str],
    now: SystemTime,
) -> Result<Vec<JwtSvid>, ResponseError> {
    if msg.svids.is_empty() {
        return Err(ResponseError::NoJwtSvids);
    }

    let mut svids = Vec::with_capacity(msg.svids.len());
    for (i, entry) in msg.svids.iter().enumerate() {
        let index = i + 1;
        let svid = JwtSvid::parse_insecure(&entry.svid)
            .map_err(|source| ResponseError::JwtSvid { index, source })?;

        if svid.spiffe_id().as_str() != entry.spiffe_id {
            return Err(ResponseError::JwtSpiffeIdMismatch {
                index,
                declared: capped(&entry.spiffe_id),
                subject: svid.spiffe_id().clone(),
            });
        }
        if let Some(requested) = requested
            && requested != svid.spiffe_id()
        {
            return Err(ResponseError::UnrequestedJwtSvid {
                index,
                received: svid.spiffe_id().clone(),
            });
        }
        if let Some(missing) = audience
            .iter()
            .find(|wanted| !svid.audience().iter().any(|aud| aud == *wanted))
        {
            return Err(ResponseError::UnrequestedAudience {
                index,
                missing: missing.chars().take(256).collect(),
            });
        }
        if let Ok(past) = now.duration_since(svid.expiry())
            && past >= JWT_CLOCK_SKEW
        {
            return Err(ResponseError::JwtSvidOutsideValidity {
                index,
                seconds: i64::try_from(past.as_secs()).unwrap_or(i64::MAX),
            });
        }
        if let Some(not_before) = svid.not_before()
            && let Ok(ahead) = not_before.duration_since(now)
            && ahead > JWT_CLOCK_SKEW
        {
            return Err(ResponseError::JwtSvidOutsideValidity {
                index,
                seconds: -i64::try_from(ahead.as_secs()).unwrap_or(i64::MAX),
            });
        }

        // proto3 has no "absent": an empty hint means none.
        svids.push(if entry.hint.is_empty() {
            svid
        } else {
            svid.with_hint(entry.hint.clone())
        });
    }
    Ok(svids)
}

/// Reads a `JWTBundlesResponse`. Scenario P7: `{"keys":[]}` and empty bytes are both empty
/// bundles (`JwtBundle::from_jwks` reads them so).
pub(crate) fn jwt_bundles(msg: &proto::JwtBundlesResponse) -> Result<JwtBundleSet, ResponseError> {
    Ok(read_bundle_map(&msg.bundles, JwtBundle::from_jwks)?
        .into_iter()
        .collect())
}

/// Reads a `ValidateJWTSVIDResponse`: the SPIFFE ID and the claims as JSON.
///
/// A `google.protobuf.Struct` has only doubles for numbers; integral ones that a double holds
/// exactly (such as `exp` and `iat`) come back as JSON integers.
pub(crate) fn validated(
    msg: &proto::ValidateJwtsvidResponse,
) -> Result<(SpiffeId, Map<String, Value>), ResponseError> {
    let spiffe_id =
        SpiffeId::parse(&msg.spiffe_id).map_err(|source| ResponseError::ValidatedSpiffeId {
            value: msg.spiffe_id.chars().take(64).collect(),
            source,
        })?;
    let claims = msg.claims.as_ref().ok_or(ResponseError::MissingClaims)?;

    let mut map = Map::new();
    for (name, value) in &claims.fields {
        let json = json_value(value)
            .ok_or_else(|| ResponseError::UnrepresentableClaim { name: name.clone() })?;
        map.insert(name.clone(), json);
    }
    Ok((spiffe_id, map))
}

/// A protobuf `Value` as JSON; `None` for a number without a JSON form. Nesting is bounded by
/// prost's decoding recursion limit.
fn json_value(value: &prost_types::Value) -> Option<Value> {
    use prost_types::value::Kind;

    Some(match &value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::NumberValue(n)) => json_number(*n)?,
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::ListValue(list)) => Value::Array(
            list.values
                .iter()
                .map(json_value)
                .collect::<Option<Vec<_>>>()?,
        ),
        Some(Kind::StructValue(object)) => Value::Object(
            object
                .fields
                .iter()
                .map(|(k, v)| json_value(v).map(|v| (k.clone(), v)))
                .collect::<Option<Map<_, _>>>()?,
        ),
    })
}

/// Integral doubles within 2^53 (exact in a double) become JSON integers, others floats.
fn json_number(n: f64) -> Option<Value> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if n.fract() == 0.0 && n.abs() <= EXACT {
        // Integral and within 2^53: the conversion is exact.
        return Some(Value::from(n as i64));
    }
    Number::from_f64(n).map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_from_the_agent_are_capped_before_they_reach_an_error() {
        assert_eq!(capped("example.org"), "example.org");
        let hostile = "a".repeat(3 * 1024 * 1024);
        let cut = capped(&hostile);
        assert_eq!(cut.len(), MAX_ID_LEN + 3);
        assert!(cut.ends_with("..."));
    }

    #[test]
    fn a_bundle_map_with_many_trust_domains_is_read_and_a_repeat_found() {
        // Once a quadratic duplicate check: 50 000 keys took seconds.
        let keys: Vec<String> = (0..50_000).map(|i| format!("td{i}.org")).collect();
        let empty = Vec::new();
        let bundles = read_bundle_map(keys.iter().map(|k| (k, &empty)), |td, _| Ok(td)).unwrap();
        assert_eq!(bundles.len(), 50_000);

        let mut repeated = keys.clone();
        repeated.push("spiffe://td7.org".to_owned());
        let err = read_bundle_map(repeated.iter().map(|k| (k, &empty)), |td, _| Ok(td));
        assert!(matches!(
            err,
            Err(ResponseError::DuplicateTrustDomain { .. })
        ));
    }

    #[test]
    fn integral_claims_read_as_integers_and_others_as_floats() {
        assert_eq!(
            json_number(1_700_000_000.0),
            Some(Value::from(1_700_000_000i64))
        );
        assert_eq!(json_number(-3.0), Some(Value::from(-3i64)));
        assert_eq!(json_number(0.5), Some(serde_json::json!(0.5)));
        assert_eq!(json_number(f64::NAN), None);
        assert_eq!(json_number(f64::INFINITY), None);
    }
}
