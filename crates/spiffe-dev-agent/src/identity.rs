//! Identities the agent issues SVIDs for.

use std::str::FromStr;
use std::time::Duration;

use crate::DevAgentError;

/// The TTL of an identity that does not set one.
pub const DEFAULT_SVID_TTL: Duration = Duration::from_secs(3600);

/// The lifetime of the JWT-SVIDs of an identity that does not set one.
pub const DEFAULT_JWT_TTL: Duration = Duration::from_secs(300);

/// The shortest TTL the agent accepts. Certificate times have one-second resolution, and the
/// SVID is re-issued at half its TTL.
pub const MIN_SVID_TTL: Duration = Duration::from_secs(1);

/// One workload identity: a SPIFFE ID, an optional hint, a TTL for its X.509-SVID and one
/// for its JWT-SVIDs, and an optional Unix uid.
///
/// Without a uid every caller gets the identity; with one, only callers whose peer
/// credentials carry that uid do.
///
/// ```
/// use std::time::Duration;
/// use spiffe_dev_agent::Identity;
///
/// let web = Identity::new("spiffe://example.org/web")
///     .with_hint("internal")
///     .with_ttl(Duration::from_secs(30))
///     .with_jwt_ttl(Duration::from_secs(60))
///     .with_uid(1000);
/// let same: Identity =
///     "spiffe://example.org/web,hint=internal,ttl=30s,jwt_ttl=1m,uid=1000".parse()?;
/// assert_eq!(web, same);
/// # Ok::<(), spiffe_dev_agent::DevAgentError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    spiffe_id: String,
    hint: Option<String>,
    ttl: Duration,
    jwt_ttl: Duration,
    uid: Option<u32>,
}

impl Identity {
    /// An identity for `spiffe_id` with the default TTL, no hint and no uid restriction.
    ///
    /// The ID is checked when the agent starts (or when the identity is added).
    pub fn new(spiffe_id: impl Into<String>) -> Self {
        Self {
            spiffe_id: spiffe_id.into(),
            hint: None,
            ttl: DEFAULT_SVID_TTL,
            jwt_ttl: DEFAULT_JWT_TTL,
            uid: None,
        }
    }

    /// Sets the hint served with the SVID.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Sets the SVID lifetime; the SVID is re-issued at half of it.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets the lifetime of the JWT-SVIDs issued for this identity: `exp` is `iat` plus it.
    pub fn with_jwt_ttl(mut self, ttl: Duration) -> Self {
        self.jwt_ttl = ttl;
        self
    }

    /// Serves the identity only to callers whose peer uid is `uid`.
    pub fn with_uid(mut self, uid: u32) -> Self {
        self.uid = Some(uid);
        self
    }

    /// The SPIFFE ID.
    pub fn spiffe_id(&self) -> &str {
        &self.spiffe_id
    }

    /// The hint, if any.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The SVID lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The JWT-SVID lifetime.
    pub fn jwt_ttl(&self) -> Duration {
        self.jwt_ttl
    }

    /// The uid a caller must have, if any.
    pub fn uid(&self) -> Option<u32> {
        self.uid
    }

    pub(crate) fn visible_to(&self, caller_uid: Option<u32>) -> bool {
        match self.uid {
            None => true,
            Some(uid) => caller_uid == Some(uid),
        }
    }

    pub(crate) fn check(&self, trust_domain: &str) -> Result<(), DevAgentError> {
        crate::id::check_workload_id(&self.spiffe_id, trust_domain)?;
        if self.ttl < MIN_SVID_TTL {
            return Err(DevAgentError::identity(
                &self.spiffe_id,
                "ttl is shorter than 1s",
            ));
        }
        if self.jwt_ttl < MIN_SVID_TTL {
            return Err(DevAgentError::identity(
                &self.spiffe_id,
                "jwt_ttl is shorter than 1s",
            ));
        }
        if crate::jwt::expiry(std::time::SystemTime::now(), self.jwt_ttl).is_none() {
            return Err(DevAgentError::identity(
                &self.spiffe_id,
                "jwt_ttl is too long for a token's exp",
            ));
        }
        Ok(())
    }
}

impl From<&str> for Identity {
    fn from(spiffe_id: &str) -> Self {
        Self::new(spiffe_id)
    }
}

impl From<String> for Identity {
    fn from(spiffe_id: String) -> Self {
        Self::new(spiffe_id)
    }
}

/// Parses the `--identity` syntax:
/// `spiffe://td/path[,hint=h][,ttl=30s][,jwt_ttl=5m][,uid=1000]`.
///
/// The SPIFFE ID itself is checked against the trust domain when the agent starts.
impl FromStr for Identity {
    type Err = DevAgentError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let mut parts = input.split(',');
        let spiffe_id = parts.next().unwrap_or_default().trim();
        if spiffe_id.is_empty() {
            return Err(DevAgentError::identity(input, "the SPIFFE ID is missing"));
        }
        let mut identity = Identity::new(spiffe_id);
        let mut seen: Vec<&str> = Vec::new();

        for option in parts {
            let Some((key, value)) = option.split_once('=') else {
                let reason = format!("expected key=value, got {option:?}");
                return Err(DevAgentError::identity(input, reason));
            };
            let key = key.trim();
            if seen.contains(&key) {
                let reason = format!("option {key:?} is given twice");
                return Err(DevAgentError::identity(input, reason));
            }
            seen.push(key);
            match key {
                "hint" => identity.hint = Some(value.to_owned()),
                "ttl" => {
                    identity.ttl =
                        parse_duration(value).map_err(|r| DevAgentError::identity(input, r))?;
                }
                "jwt_ttl" => {
                    identity.jwt_ttl =
                        parse_duration(value).map_err(|r| DevAgentError::identity(input, r))?;
                }
                "uid" => {
                    let digits = value.trim();
                    let not_a_number =
                        || DevAgentError::identity(input, format!("uid {value:?} is not a number"));
                    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(not_a_number());
                    }
                    let uid = digits.parse().map_err(|_| not_a_number())?;
                    identity.uid = Some(uid);
                }
                other => {
                    let reason =
                        format!("unknown option {other:?} (expected hint, ttl, jwt_ttl or uid)");
                    return Err(DevAgentError::identity(input, reason));
                }
            }
        }
        Ok(identity)
    }
}

/// Parses `500ms`, `30s`, `5m`, `2h` or `1d`.
pub(crate) fn parse_duration(input: &str) -> Result<Duration, String> {
    let input = input.trim();
    let split = input
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(input.len());
    let (number, unit) = input.split_at(split);

    let Ok(number) = number.parse::<u64>() else {
        return Err(format!("duration {input:?} does not start with a number"));
    };
    let millis_per_unit = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("duration {input:?} needs a unit: ms, s, m, h or d")),
    };
    number
        .checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("duration {input:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_flag_refuses_signed_uids_and_repeated_options() {
        for bad in [
            "spiffe://example.org/a,uid=+7",
            "spiffe://example.org/a,uid=-1",
            "spiffe://example.org/a,uid=",
            "spiffe://example.org/a,hint=x,hint=y",
            "spiffe://example.org/a,ttl=1s, ttl=2s",
        ] {
            assert!(bad.parse::<Identity>().is_err(), "{bad}");
        }
    }

    #[test]
    fn identity_flag_with_all_options_parses() {
        let id: Identity = "spiffe://example.org/a,hint=h,ttl=2m,jwt_ttl=90s,uid=7"
            .parse()
            .unwrap();
        assert_eq!(id.jwt_ttl(), Duration::from_secs(90));
        assert_eq!(id.spiffe_id(), "spiffe://example.org/a");
        assert_eq!(id.hint(), Some("h"));
        assert_eq!(id.ttl(), Duration::from_secs(120));
        assert_eq!(id.uid(), Some(7));
    }

    #[test]
    fn identity_flag_errors_say_what_is_wrong() {
        let cases = [
            ("", "missing"),
            ("spiffe://example.org/a,ttl=5", "needs a unit"),
            (
                "spiffe://example.org/a,ttl=xs",
                "does not start with a number",
            ),
            ("spiffe://example.org/a,uid=me", "not a number"),
            ("spiffe://example.org/a,colour=red", "unknown option"),
            ("spiffe://example.org/a,hint", "key=value"),
        ];
        for (input, expected) in cases {
            let err = input.parse::<Identity>().unwrap_err().to_string();
            assert!(err.contains(expected), "{input:?}: {err}");
        }
    }

    #[test]
    fn short_ttl_and_foreign_trust_domain_are_rejected_on_check() {
        let short = Identity::new("spiffe://example.org/a").with_ttl(Duration::from_millis(10));
        assert!(short.check("example.org").is_err());
        let jwt = Identity::new("spiffe://example.org/a").with_jwt_ttl(Duration::from_millis(10));
        assert!(jwt.check("example.org").is_err());
        let huge = Identity::new("spiffe://example.org/a").with_jwt_ttl(Duration::MAX);
        assert!(huge.check("example.org").is_err());
        assert!(
            Identity::new("spiffe://other.org/a")
                .check("example.org")
                .is_err()
        );
        assert!(
            Identity::new("spiffe://example.org/a")
                .check("example.org")
                .is_ok()
        );
    }

    #[test]
    fn uid_restriction_hides_identity_from_other_callers() {
        let id = Identity::new("spiffe://example.org/a").with_uid(1000);
        assert!(id.visible_to(Some(1000)));
        assert!(!id.visible_to(Some(0)));
        assert!(!id.visible_to(None));
        assert!(Identity::new("spiffe://example.org/a").visible_to(None));
    }
}
