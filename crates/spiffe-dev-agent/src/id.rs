//! Just enough SPIFFE ID checking to refuse to mint certificates for malformed IDs.
//!
//! The rules follow docs/SPEC-POLICY (byte-exact, lowercase scheme and trust domain, no
//! empty, `.` or `..` segments). The full parser lives in the `spiffe-id` crate; this module
//! keeps the dev agent free of it in non-test code.

use crate::DevAgentError;

const SCHEME: &str = "spiffe://";
/// SPIFFE ID §2.1: a trust domain is at most 255 bytes.
const MAX_TRUST_DOMAIN_LEN: usize = 255;
/// SPIFFE ID §2.3: a whole ID is at most 2048 bytes.
const MAX_ID_LEN: usize = 2048;

/// Checks a bare trust domain name such as `example.org`.
pub(crate) fn check_trust_domain(name: &str) -> Result<(), DevAgentError> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() > MAX_TRUST_DOMAIN_LEN {
        Some("longer than 255 bytes")
    } else if name.contains(':') || name.contains('/') {
        Some("expected a bare name such as example.org, not a URI")
    } else if !name.bytes().all(is_trust_domain_char) {
        Some("only lowercase letters, digits, '.', '-' and '_' are allowed")
    } else {
        None
    };

    match reason {
        Some(reason) => Err(DevAgentError::InvalidTrustDomain {
            input: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Checks that `id` is a SPIFFE ID with a non-empty path in `trust_domain`.
pub(crate) fn check_workload_id(id: &str, trust_domain: &str) -> Result<(), DevAgentError> {
    if id.len() > MAX_ID_LEN {
        return Err(DevAgentError::identity(id, "longer than 2048 bytes"));
    }
    let Some(rest) = id.strip_prefix(SCHEME) else {
        return Err(DevAgentError::identity(id, "must start with spiffe://"));
    };
    let (td, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));

    if td != trust_domain {
        let reason = format!("not in the agent's trust domain {trust_domain}");
        return Err(DevAgentError::identity(id, reason));
    }
    // X509-SVID §2: a workload SVID names a workload, so the path is not empty.
    if path.is_empty() {
        return Err(DevAgentError::identity(id, "the path is empty"));
    }
    for segment in path[1..].split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            let reason = "empty, '.' and '..' path segments are not allowed";
            return Err(DevAgentError::identity(id, reason));
        }
        if !segment.bytes().all(is_path_char) {
            let reason = "path segments allow only letters, digits, '.', '-' and '_'";
            return Err(DevAgentError::identity(id, reason));
        }
    }
    Ok(())
}

fn is_trust_domain_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')
}

fn is_path_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_workload_ids_and_trust_domains() {
        assert!(check_trust_domain("example.org").is_ok());
        assert!(check_workload_id("spiffe://example.org/a/B-1_.x", "example.org").is_ok());
    }

    #[test]
    fn rejects_malformed_ids() {
        for bad in [
            "spiffe://example.org",
            "spiffe://example.org/",
            "spiffe://example.org/a//b",
            "spiffe://example.org/a/..",
            "spiffe://example.org/a%41",
            "SPIFFE://example.org/a",
            "spiffe://other.org/a",
            "https://example.org/a",
        ] {
            assert!(
                check_workload_id(bad, "example.org").is_err(),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn rejects_malformed_trust_domains() {
        for bad in [
            "",
            "Example.org",
            "spiffe://example.org",
            "a b",
            &"a".repeat(256),
        ] {
            assert!(check_trust_domain(bad).is_err(), "{bad:?} accepted");
        }
    }
}
