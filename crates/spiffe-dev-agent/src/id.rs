//! SPIFFE ID checks before the CA mints anything, on top of the `spiffe-id` parser.

use spiffe_id::{SpiffeId, TrustDomain};

use crate::DevAgentError;

/// Checks a bare trust domain name such as `example.org`.
pub(crate) fn check_trust_domain(name: &str) -> Result<(), DevAgentError> {
    TrustDomain::new(name)
        .map(drop)
        .map_err(|err| DevAgentError::InvalidTrustDomain {
            input: name.to_owned(),
            reason: err.to_string(),
        })
}

/// Checks that `id` is a SPIFFE ID with a non-empty path in `trust_domain`.
pub(crate) fn check_workload_id(id: &str, trust_domain: &str) -> Result<(), DevAgentError> {
    let parsed = SpiffeId::parse(id).map_err(|err| DevAgentError::identity(id, err.to_string()))?;

    if parsed.trust_domain_name() != trust_domain {
        let reason = format!("not in the agent's trust domain {trust_domain}");
        return Err(DevAgentError::identity(id, reason));
    }
    // X509-SVID §2: a workload SVID names a workload, so the path is not empty.
    if parsed.is_trust_domain_id() {
        return Err(DevAgentError::identity(id, "the path is empty"));
    }
    Ok(())
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
