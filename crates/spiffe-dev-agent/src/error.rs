//! The error type of the dev agent.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while configuring, starting or driving a [`DevAgent`].
///
/// Messages are lowercase and do not repeat what [`source()`](StdError::source) carries.
///
/// [`DevAgent`]: crate::DevAgent
#[derive(Debug)]
#[non_exhaustive]
pub enum DevAgentError {
    /// The trust domain name is not a valid SPIFFE trust domain (lowercase `a-z 0-9 . - _`,
    /// at most 255 bytes).
    InvalidTrustDomain {
        /// The rejected input.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An identity cannot be served: bad SPIFFE ID, foreign trust domain, TTL too short,
    /// malformed `--identity` value.
    InvalidIdentity {
        /// The rejected input.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The configuration (flags or TOML file) is inconsistent or malformed.
    InvalidConfig(String),
    /// No identity with this SPIFFE ID is configured.
    UnknownIdentity(String),
    /// The fault cannot be scripted on this stream kind (e.g. a raw bundles response on the
    /// X.509-SVID stream).
    FaultNotApplicable(&'static str),
    /// The certificate authority failed to generate a key or sign a certificate.
    Certificate(Box<dyn StdError + Send + Sync>),
    /// A JWT signing key could not be generated, or a token could not be signed.
    JwtSigning(Box<dyn StdError + Send + Sync>),
    /// A federated JWT bundle is not a JWK Set the client libraries would accept.
    InvalidJwtBundle {
        /// The trust domain it was meant for.
        trust_domain: String,
        /// Why it was refused.
        source: spiffe_bundle::BundleError,
    },
    /// Claims to sign are not a JSON object.
    InvalidClaims(String),
    /// A file system or socket operation failed.
    Io {
        /// What the agent was doing.
        context: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The socket path exists and is not a Unix socket; the agent does not delete it.
    SocketPathOccupied(PathBuf),
    /// Another server accepts connections on the socket path; the agent does not take over
    /// a live socket.
    SocketInUse(PathBuf),
    /// The agent is already listening (from [`DevAgentHandle::restart`]).
    ///
    /// [`DevAgentHandle::restart`]: crate::DevAgentHandle::restart
    AlreadyRunning,
    /// A wait on the agent's statistics ran out of time.
    WaitTimedOut {
        /// How long the caller waited.
        waited: Duration,
        /// The statistics when the wait gave up, for the test failure message.
        last: Box<crate::AgentStats>,
    },
}

impl DevAgentError {
    pub(crate) fn certificate(err: rcgen::Error) -> Self {
        Self::Certificate(Box::new(err))
    }

    pub(crate) fn identity(input: &str, reason: impl Into<String>) -> Self {
        Self::InvalidIdentity {
            input: input.to_owned(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for DevAgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidTrustDomain { input, reason } => {
                write!(f, "invalid trust domain {input:?}: {reason}")
            }
            Self::InvalidIdentity { input, reason } => {
                write!(f, "invalid identity {input:?}: {reason}")
            }
            Self::InvalidConfig(msg) => write!(f, "invalid configuration: {msg}"),
            Self::UnknownIdentity(id) => write!(f, "no identity {id} is configured"),
            Self::FaultNotApplicable(msg) => write!(f, "fault not applicable: {msg}"),
            Self::Certificate(_) => f.write_str("certificate authority failed"),
            Self::JwtSigning(_) => f.write_str("jwt signing failed"),
            Self::InvalidJwtBundle { trust_domain, .. } => {
                write!(f, "invalid jwt bundle for trust domain {trust_domain}")
            }
            Self::InvalidClaims(msg) => write!(f, "invalid jwt claims: {msg}"),
            Self::Io { context, path, .. } => write!(f, "{context} {}", path.display()),
            Self::SocketPathOccupied(path) => {
                write!(f, "{} exists and is not a unix socket", path.display())
            }
            Self::SocketInUse(path) => {
                write!(f, "another server is listening on {}", path.display())
            }
            Self::AlreadyRunning => f.write_str("the agent is already listening"),
            Self::WaitTimedOut { waited, last } => {
                write!(
                    f,
                    "condition not reached within {waited:?}; last stats: {last:?}"
                )
            }
        }
    }
}

impl StdError for DevAgentError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Certificate(err) | Self::JwtSigning(err) => Some(err.as_ref()),
            Self::InvalidJwtBundle { source, .. } => Some(source),
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
