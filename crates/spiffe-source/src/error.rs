use core::fmt;
use std::sync::Arc;
use std::time::Duration;

use spiffe_id::SpiffeId;
use spiffe_svid::JwtSvidError;
use spiffe_workload_api::WorkloadApiError;

use crate::Health;

/// Why a source could not be built, or cannot serve what was asked of it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum SourceError {
    /// No Workload API address: none was given and `SPIFFE_ENDPOINT_SOCKET` is not set
    /// (workspace policy, "Workload API client"). Reported at once, never after a timeout.
    NoEndpoint,

    /// The Workload API address is malformed, or the client could not be created; the cause
    /// (see [`source`](std::error::Error::source)) says which and how to fix it.
    Client(Arc<WorkloadApiError>),

    /// The source was built outside a Tokio runtime. A source follows the Workload API from a
    /// background task on the runtime it was built on (either flavour of runtime works).
    NoRuntime,

    /// No usable update arrived within the first-update timeout. `last_error` says why
    /// (socket missing, connection refused, no identity issued, ...).
    FirstUpdateTimeout {
        /// The stream that gave no usable update: `x509-svid`, `jwt-bundles` or
        /// `x509-bundles`.
        stream: &'static str,
        /// The timeout that passed.
        timeout: Duration,
        /// How many times the stream was opened.
        attempts: u32,
        /// The last failure since the last message, if any.
        last_error: Option<Arc<WorkloadApiError>>,
        /// What the messages that did arrive held: [`Health::Pending`] when none came,
        /// [`Health::NoMatchingSvid`] when no SVID matched the picker, and so on.
        held: Health,
    },

    /// The agent refused the request in a way that retrying cannot fix (InvalidArgument,
    /// Unimplemented); the source has stopped.
    Rejected(Arc<WorkloadApiError>),

    /// The agent revoked this workload's identity: PermissionDenied in the middle of a stream,
    /// or an update with no SVIDs (workspace policy, "Sources"). Bundles are still served and
    /// the source keeps watching for a new identity.
    Revoked,

    /// The SVID the source holds is past its NotAfter and no newer one has arrived
    /// (workspace policy, "X.509-SVIDs").
    Expired {
        /// The SVID's SPIFFE ID.
        id: SpiffeId,
    },

    /// The picker matches none of the SVIDs the agent sent.
    NoMatchingSvid {
        /// What the picker looks for.
        picker: String,
    },

    /// A JWT-SVID was asked for with no audience: the audience is what a token is for, and
    /// an empty one would let it be replayed anywhere (workspace policy, "JWT-SVIDs").
    EmptyAudience,

    /// The agent gave no JWT-SVID and no valid cached one was left.
    Fetch(Arc<WorkloadApiError>),

    /// A JWT-SVID failed validation; the inner error names the rule.
    InvalidToken(JwtSvidError),

    /// The source was closed, or its last handle dropped.
    Closed,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoEndpoint => f.write_str(
                "no Workload API endpoint: no address was given and \
                 SPIFFE_ENDPOINT_SOCKET is not set",
            ),
            Self::Client(_) => f.write_str("cannot create the Workload API client"),
            Self::NoRuntime => f.write_str(
                "a source must be built inside a Tokio runtime (#[tokio::main], or \
                 Runtime::block_on), where its background task runs",
            ),
            Self::FirstUpdateTimeout {
                stream,
                timeout,
                attempts,
                last_error,
                held,
            } => {
                write!(
                    f,
                    "no usable update on the {stream} stream within {timeout:?} after \
                     {attempts} attempt(s)"
                )?;
                match (last_error, held) {
                    // The whole chain: this error keeps no `source()` of its own, and the
                    // last error's top line alone ("invalid workload API response") would
                    // hide what was wrong and where.
                    (Some(e), _) => {
                        write!(f, "; last error: {e}")?;
                        let mut cause = std::error::Error::source(&**e);
                        while let Some(inner) = cause {
                            write!(f, ": {inner}")?;
                            cause = inner.source();
                        }
                        Ok(())
                    }
                    (None, Health::NoMatchingSvid(picker)) => {
                        write!(
                            f,
                            "; updates arrived but no SVID matches the picker ({picker})"
                        )
                    }
                    (None, Health::Revoked) => {
                        f.write_str("; the agent sent updates without SVIDs")
                    }
                    (None, Health::Expired) => f.write_str("; the agent sent an expired SVID"),
                    (None, _) => f.write_str("; the agent accepted the stream but sent nothing"),
                }
            }
            Self::Rejected(_) => f.write_str("the Workload API refused the request"),
            Self::Revoked => f.write_str("the agent revoked this workload's identity"),
            Self::Expired { id } => write!(f, "the X.509-SVID for {id} has expired"),
            Self::NoMatchingSvid { picker } => {
                write!(f, "no SVID from the agent matches the picker ({picker})")
            }
            Self::EmptyAudience => f.write_str("a JWT-SVID needs at least one audience"),
            Self::Fetch(_) => f.write_str("cannot fetch a JWT-SVID"),
            Self::InvalidToken(_) => f.write_str("invalid JWT-SVID"),
            Self::Closed => f.write_str("the source is closed"),
        }
    }
}

impl std::error::Error for SourceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Client(e) | Self::Rejected(e) | Self::Fetch(e) => Some(&**e),
            Self::InvalidToken(e) => Some(e),
            _ => None,
        }
    }
}
