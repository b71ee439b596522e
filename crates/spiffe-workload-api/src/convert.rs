//! Turning Workload API messages into SVIDs and bundles.
//!
//! SPEC-POLICY: certificate fields (`x509_svid`, `bundle`, `federated_bundles`, `bundles`)
//! hold DER certificates back to back; the hint is kept; federated bundles join the bundle set.
//! CRLs are ignored.

use std::fmt;

use spiffe_bundle::{BundleError, X509Bundle, X509BundleSet};
use spiffe_id::{SpiffeId, SpiffeIdError, TrustDomain};
use spiffe_svid::{X509Svid, X509SvidError};

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
    /// The bundle of a trust domain cannot be read.
    Bundle {
        /// The trust domain.
        trust_domain: TrustDomain,
        /// Why it was refused.
        source: BundleError,
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
                "svid {index} declares spiffe id {declared:?} but its certificate holds {certificate}"
            ),
            Self::SvidBundle { index, .. } => write!(f, "bundle of svid {index} cannot be read"),
            Self::ConflictingBundles {
                index,
                trust_domain,
            } => write!(
                f,
                "svid {index} carries a bundle for {trust_domain} that differs from an earlier svid's"
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
        }
    }
}

impl std::error::Error for ResponseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Svid { source, .. } => Some(source),
            Self::SvidBundle { source, .. } | Self::Bundle { source, .. } => Some(source),
            Self::TrustDomainKey { source, .. } => Some(source),
            Self::MissingPrivateKey { .. }
            | Self::SpiffeIdMismatch { .. }
            | Self::ConflictingBundles { .. }
            | Self::DuplicateTrustDomain { .. } => None,
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
            declared: entry.spiffe_id.clone(),
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

/// Reads a map from trust domain (name or `spiffe://` ID) to DER certificates.
///
/// SPEC-POLICY, "Bundles": a map with the same trust domain twice is an error. The proto map
/// cannot repeat a key, but `example.org` and `spiffe://example.org` are two keys for one
/// trust domain.
fn bundle_map<'a>(
    map: impl IntoIterator<Item = (&'a String, &'a Vec<u8>)>,
) -> Result<Vec<X509Bundle>, ResponseError> {
    let mut bundles = X509BundleSet::new();
    for (key, der) in map {
        let trust_domain =
            TrustDomain::from_name_or_id(key).map_err(|source| ResponseError::TrustDomainKey {
                key: key.clone(),
                source,
            })?;
        if bundles.contains(&trust_domain) {
            return Err(ResponseError::DuplicateTrustDomain { trust_domain });
        }

        let bundle = X509Bundle::from_der(trust_domain.clone(), der).map_err(|source| {
            ResponseError::Bundle {
                trust_domain,
                source,
            }
        })?;
        bundles.insert(bundle);
    }
    Ok(bundles.into_iter().collect())
}
