//! Errors of the Workload API client and how a caller should retry them.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::address::{Address, AddressError};
use crate::convert::ResponseError;

/// Why a Workload API call failed.
///
/// Messages are lowercase and leave the underlying cause to [`source`](StdError::source).
/// [`retry`](Self::retry) says how a long-lived caller should react (SPEC-POLICY, "Workload
/// API client").
#[derive(Debug)]
#[non_exhaustive]
pub enum WorkloadApiError {
    /// Neither an explicit address nor `SPIFFE_ENDPOINT_SOCKET` was given.
    NoEndpoint,
    /// The endpoint address is malformed.
    InvalidAddress(AddressError),
    /// The Unix socket file does not exist: the agent is not running or the path is wrong.
    SocketMissing {
        /// The socket path that was dialled.
        path: PathBuf,
    },
    /// Nothing accepts connections at the endpoint.
    ConnectionRefused {
        /// The endpoint that was dialled.
        address: String,
    },
    /// Connecting to the endpoint failed for another reason (permissions, timeout, ...).
    Connect {
        /// The endpoint, when known.
        address: Option<String>,
        /// The underlying transport error.
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The peer at the endpoint does not answer as a gRPC server over HTTP/2 (it speaks
    /// another protocol, closes the connection at once, or breaks HTTP/2's rules): not a
    /// Workload API, or a proxy in the way.
    NotGrpc {
        /// The endpoint, when known.
        address: Option<String>,
        /// The underlying transport error.
        source: Box<dyn StdError + Send + Sync>,
    },
    /// gRPC `PermissionDenied`: the agent has no identity for this workload (yet).
    NoIdentityIssued {
        /// The agent's message.
        message: String,
    },
    /// gRPC `InvalidArgument`: the agent refused the request, e.g. a missing security header.
    InvalidArgument {
        /// The agent's message.
        message: String,
    },
    /// gRPC `Unauthenticated`.
    Unauthenticated {
        /// The agent's message.
        message: String,
    },
    /// gRPC `Unimplemented`: this agent does not support the call.
    NotSupported {
        /// The agent's message.
        message: String,
    },
    /// gRPC `Cancelled`, as the agent sent it. A call cut short by a broken connection is
    /// reported as [`Connect`](Self::Connect) instead, and the caller's own cancellation as
    /// [`Closed`](Self::Closed). Retried with backoff: an agent that cancels its side (for
    /// example while shutting down) must not silently end a long-lived watch.
    Cancelled,
    /// The call's deadline passed before the agent answered.
    DeadlineExceeded,
    /// gRPC `Unavailable` reported by the agent (not a failure to connect).
    Unavailable {
        /// The agent's message.
        message: String,
    },
    /// Any other gRPC status.
    Status {
        /// The status code.
        code: StatusCode,
        /// The agent's message.
        message: String,
    },
    /// The agent sent a message that could not be turned into SVIDs or bundles.
    InvalidResponse(ResponseError),
    /// The client was closed with [`WorkloadApiClient::close`](crate::WorkloadApiClient::close).
    Closed,
    /// The caller asked for a JWT-SVID or a validation without an audience, or with an empty
    /// one. Refused before any call: an empty audience is a caller error, never "any
    /// audience" (SPEC-POLICY, "JWT-SVIDs").
    EmptyAudience,
    /// The caller asked to validate an empty token. Refused before any call.
    EmptyToken,
}

/// How a long-lived caller (a source) should react to an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryClass {
    /// Stop quietly: the caller cancelled or closed the client.
    Stop,
    /// Do not retry: the error is permanent (configuration, `InvalidArgument`, `Unimplemented`,
    /// a caller's empty audience or token).
    Never,
    /// Retry on a slow schedule ([`BackoffPolicy::SLOW`](crate::BackoffPolicy::SLOW)):
    /// no identity issued yet.
    Slow,
    /// Retry on a new connection (`Unauthenticated`).
    Reconnect,
    /// Retry with exponential backoff and jitter.
    Backoff,
}

impl WorkloadApiError {
    /// How to retry after this error, per SPEC-POLICY "Workload API client".
    pub fn retry(&self) -> RetryClass {
        match self {
            Self::Closed => RetryClass::Stop,
            Self::NoEndpoint
            | Self::InvalidAddress(_)
            | Self::InvalidArgument { .. }
            | Self::NotSupported { .. }
            | Self::EmptyAudience
            | Self::EmptyToken => RetryClass::Never,
            Self::NoIdentityIssued { .. } => RetryClass::Slow,
            Self::Unauthenticated { .. } => RetryClass::Reconnect,
            Self::SocketMissing { .. }
            | Self::ConnectionRefused { .. }
            | Self::Connect { .. }
            | Self::NotGrpc { .. }
            | Self::Cancelled
            | Self::DeadlineExceeded
            | Self::Unavailable { .. }
            | Self::Status { .. }
            | Self::InvalidResponse(_) => RetryClass::Backoff,
        }
    }

    /// Classifies a gRPC status from a call to `address`.
    ///
    /// Connection failures arrive as `Unavailable` carrying the transport error; the I/O error
    /// in its source chain tells a missing socket from a refused connection.
    pub(crate) fn from_status(status: &tonic::Status, address: Option<&Address>) -> Self {
        use tonic::Code;

        // tonic's channel enforces the request's `grpc-timeout` itself; its timeout arrives as
        // a Cancelled status carrying `TimeoutExpired`, and is the deadline of the call.
        if find_source::<tonic::TimeoutExpired>(status).is_some() {
            return Self::DeadlineExceeded;
        }

        let message = status.message().to_string();
        match status.code() {
            Code::Unavailable => match StdError::source(status) {
                Some(_) => connect_error(status, address),
                None => Self::Unavailable { message },
            },
            Code::PermissionDenied => Self::NoIdentityIssued { message },
            Code::InvalidArgument => Self::InvalidArgument { message },
            Code::Unauthenticated => Self::Unauthenticated { message },
            Code::Unimplemented => Self::NotSupported { message },
            // A Cancelled status with a source was made on our side from a transport failure
            // (hyper cancels the calls in flight when the connection dies, h2 reports a
            // RST_STREAM); the agent's own statuses carry none. Only the latter means the call
            // was cancelled on purpose; the former must be retried like any lost connection.
            Code::Cancelled => match StdError::source(status) {
                Some(_) => connect_error(status, address),
                None => Self::Cancelled,
            },
            Code::DeadlineExceeded => Self::DeadlineExceeded,
            // As with Cancelled: an agent's own Unknown or Internal status carries no source;
            // one with a source was made here from a transport failure. An I/O error in it is
            // a lost connection (an agent going away, or a peer closing at once); anything
            // else is a peer breaking gRPC or HTTP/2.
            Code::Unknown | Code::Internal if StdError::source(status).is_some() => {
                if find_io_error(status).is_some() {
                    connect_error(status, address)
                } else {
                    Self::NotGrpc {
                        address: address.map(ToString::to_string),
                        source: Box::new(status.clone()),
                    }
                }
            }
            other => Self::Status {
                code: StatusCode::from_tonic(other),
                message,
            },
        }
    }
}

fn connect_error(status: &tonic::Status, address: Option<&Address>) -> WorkloadApiError {
    let io_kind = find_io_error(status).map(io::Error::kind);
    let described = address.map(ToString::to_string);

    match (io_kind, address.and_then(Address::unix_path)) {
        (Some(io::ErrorKind::NotFound), Some(path)) => WorkloadApiError::SocketMissing {
            path: path.to_path_buf(),
        },
        (Some(io::ErrorKind::ConnectionRefused), _) => WorkloadApiError::ConnectionRefused {
            address: described.unwrap_or_else(|| "the endpoint".to_string()),
        },
        _ => WorkloadApiError::Connect {
            address: described,
            source: Box::new(status.clone()),
        },
    }
}

/// Walks the source chain of `err` to the first I/O error.
fn find_io_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a io::Error> {
    find_source::<io::Error>(err)
}

/// Walks the source chain of `err` to the first error of type `E`.
fn find_source<'a, E: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

impl fmt::Display for WorkloadApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoEndpoint => write!(
                f,
                "no workload API endpoint address: none given and {} is not set",
                crate::ENDPOINT_SOCKET_ENV
            ),
            Self::InvalidAddress(_) => f.write_str("invalid workload API endpoint address"),
            Self::SocketMissing { path } => {
                write!(f, "workload API socket {} does not exist", path.display())
            }
            Self::ConnectionRefused { address } => {
                write!(f, "connection to the workload API at {address} refused")
            }
            Self::Connect {
                address: Some(address),
                ..
            } => {
                write!(f, "cannot connect to the workload API at {address}")
            }
            Self::Connect { address: None, .. } => {
                f.write_str("cannot connect to the workload API")
            }
            Self::NotGrpc {
                address: Some(address),
                ..
            } => write!(
                f,
                "the peer at {address} does not answer as a workload API (gRPC over HTTP/2)"
            ),
            Self::NotGrpc { address: None, .. } => {
                f.write_str("the peer does not answer as a workload API (gRPC over HTTP/2)")
            }
            Self::NoIdentityIssued { message } => write!(
                f,
                "the agent has no identity for this workload (PermissionDenied: {message}); \
                 check that a registration entry matches it"
            ),
            Self::InvalidArgument { message } => {
                write!(f, "workload API refused the request as invalid: {message}")
            }
            Self::Unauthenticated { message } => {
                write!(
                    f,
                    "workload API refused the caller as unauthenticated: {message}"
                )
            }
            Self::NotSupported { message } => {
                write!(
                    f,
                    "call not supported by this workload API agent: {message}"
                )
            }
            Self::Cancelled => f.write_str("workload API call cancelled"),
            Self::DeadlineExceeded => f.write_str("workload API call deadline exceeded"),
            Self::Unavailable { message } => write!(f, "workload API unavailable: {message}"),
            Self::Status { code, message } => {
                write!(f, "workload API call failed with status {code}: {message}")
            }
            Self::InvalidResponse(_) => f.write_str("invalid workload API response"),
            Self::Closed => f.write_str("workload API client is closed"),
            Self::EmptyAudience => f.write_str("no audience given, or an empty one"),
            Self::EmptyToken => f.write_str("no token given to validate"),
        }
    }
}

impl StdError for WorkloadApiError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::InvalidAddress(e) => Some(e),
            Self::Connect { source, .. } | Self::NotGrpc { source, .. } => Some(source.as_ref()),
            Self::InvalidResponse(e) => Some(e),
            _ => None,
        }
    }
}

impl From<AddressError> for WorkloadApiError {
    fn from(e: AddressError) -> Self {
        Self::InvalidAddress(e)
    }
}

/// A gRPC status code that has no variant of its own in [`WorkloadApiError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatusCode {
    /// `OK` (a status with this code is not expected as an error).
    Ok,
    /// `UNKNOWN`.
    Unknown,
    /// `NOT_FOUND`.
    NotFound,
    /// `ALREADY_EXISTS`.
    AlreadyExists,
    /// `RESOURCE_EXHAUSTED`.
    ResourceExhausted,
    /// `FAILED_PRECONDITION`.
    FailedPrecondition,
    /// `ABORTED`.
    Aborted,
    /// `OUT_OF_RANGE`.
    OutOfRange,
    /// `INTERNAL`.
    Internal,
    /// `DATA_LOSS`.
    DataLoss,
    /// A code this crate has no name for; the number is kept.
    Other(u8),
}

impl StatusCode {
    fn from_tonic(code: tonic::Code) -> Self {
        use tonic::Code;

        match code {
            Code::Ok => Self::Ok,
            Code::Unknown => Self::Unknown,
            Code::NotFound => Self::NotFound,
            Code::AlreadyExists => Self::AlreadyExists,
            Code::ResourceExhausted => Self::ResourceExhausted,
            Code::FailedPrecondition => Self::FailedPrecondition,
            Code::Aborted => Self::Aborted,
            Code::OutOfRange => Self::OutOfRange,
            Code::Internal => Self::Internal,
            Code::DataLoss => Self::DataLoss,
            other => Self::Other(u8::try_from(other as i32).unwrap_or(u8::MAX)),
        }
    }

    /// The numeric gRPC code.
    pub fn as_u8(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Unknown => 2,
            Self::NotFound => 5,
            Self::AlreadyExists => 6,
            Self::ResourceExhausted => 8,
            Self::FailedPrecondition => 9,
            Self::Aborted => 10,
            Self::OutOfRange => 11,
            Self::Internal => 13,
            Self::DataLoss => 15,
            Self::Other(n) => n,
        }
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Ok => "ok",
            Self::Unknown => "unknown",
            Self::NotFound => "not found",
            Self::AlreadyExists => "already exists",
            Self::ResourceExhausted => "resource exhausted",
            Self::FailedPrecondition => "failed precondition",
            Self::Aborted => "aborted",
            Self::OutOfRange => "out of range",
            Self::Internal => "internal",
            Self::DataLoss => "data loss",
            Self::Other(n) => return write!(f, "code {n}"),
        };
        f.write_str(name)
    }
}
