//! Fault scripting: what the agent does instead of (or before) behaving normally.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use spiffe_workload_api::proto::{
    JwtBundlesResponse, JwtsvidResponse, ValidateJwtsvidResponse, X509BundlesResponse,
    X509svidResponse,
};

use crate::DevAgentError;

pub use tonic::Code;

/// Which streaming RPC a fault or an injection is aimed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StreamKind {
    /// `FetchX509SVID`.
    X509Svid,
    /// `FetchX509Bundles`.
    X509Bundles,
    /// `FetchJWTBundles`.
    JwtBundles,
}

/// Which RPC a scripted fault is aimed at: one of the streams, or one of the unary JWT calls.
///
/// [`DevAgentHandle::script`](crate::DevAgentHandle::script) takes anything that converts
/// into it, so a [`StreamKind`] works as well.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallKind {
    /// `FetchX509SVID` (stream).
    X509Svid,
    /// `FetchX509Bundles` (stream).
    X509Bundles,
    /// `FetchJWTBundles` (stream).
    JwtBundles,
    /// `FetchJWTSVID` (unary).
    JwtSvid,
    /// `ValidateJWTSVID` (unary).
    ValidateJwtSvid,
}

impl From<StreamKind> for CallKind {
    fn from(kind: StreamKind) -> Self {
        match kind {
            StreamKind::X509Svid => Self::X509Svid,
            StreamKind::X509Bundles => Self::X509Bundles,
            StreamKind::JwtBundles => Self::JwtBundles,
        }
    }
}

impl CallKind {
    fn is_unary(self) -> bool {
        matches!(self, Self::JwtSvid | Self::ValidateJwtSvid)
    }
}

/// What one stream open or unary call does instead of behaving normally.
///
/// Faults are queued per [`CallKind`] with
/// [`DevAgentHandle::script`](crate::DevAgentHandle::script); every stream open or unary call
/// consumes one (counting down its repetitions), and calls that find the queue empty behave
/// normally. On the unary JWT calls the request is still checked first (header, then
/// arguments); the fault replaces what comes after.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer the open with this gRPC status; no stream is opened.
    Status {
        /// The status code, e.g. [`Code::PermissionDenied`] or [`Code::Unavailable`].
        code: Code,
        /// The status message.
        message: String,
    },
    /// Open the stream, but send the first message only after this long (SVIDs still being
    /// minted). Later messages follow as usual. On a unary call: answer after this long.
    HoldFirst(Duration),
    /// Open the stream (accept the unary call) and never send anything until the client goes
    /// away or the agent stops (scenario H1 for the unary calls).
    Hang,
    /// Send a malformed message first, then the real state right after it. On `FetchJWTSVID`
    /// the malformed message is the whole answer.
    Garbage(Garbage),
    /// Send the real state once, then end the stream with status OK. Streams only.
    EndAfterFirst,
    /// Send this message instead of the first real one; later changes are sent as usual.
    /// Only for [`StreamKind::X509Svid`].
    RawX509Svid(X509svidResponse),
    /// Send this message instead of the first real one; later changes are sent as usual.
    /// Only for [`StreamKind::X509Bundles`].
    RawX509Bundles(X509BundlesResponse),
    /// Answer `FetchJWTSVID` with this message as is. Scripted for several calls, the same
    /// token comes back every time (scenario J7). Only for [`CallKind::JwtSvid`].
    RawJwtSvid(JwtsvidResponse),
    /// Send this message instead of the first real one; later changes are sent as usual.
    /// Only for [`StreamKind::JwtBundles`].
    RawJwtBundles(JwtBundlesResponse),
    /// Answer `ValidateJWTSVID` with this message as is, whatever the token. Only for
    /// [`CallKind::ValidateJwtSvid`].
    RawValidateJwtSvid(ValidateJwtsvidResponse),
}

impl Fault {
    /// A [`Fault::Status`] with a message.
    pub fn status(code: Code, message: impl Into<String>) -> Self {
        Self::Status {
            code,
            message: message.into(),
        }
    }

    fn check(&self, kind: CallKind) -> Result<(), DevAgentError> {
        let refuse = |what| Err(DevAgentError::FaultNotApplicable(what));
        match (self, kind) {
            (Self::Status { .. } | Self::HoldFirst(_) | Self::Hang, _) => Ok(()),
            (Self::EndAfterFirst, kind) if kind.is_unary() => {
                refuse("EndAfterFirst on a unary call")
            }
            (Self::EndAfterFirst, _) => Ok(()),
            (Self::Garbage(garbage), kind) if !garbage.fits(kind) => refuse(garbage.applies_to()),
            (Self::Garbage(_), _)
            | (Self::RawX509Svid(_), CallKind::X509Svid)
            | (Self::RawX509Bundles(_), CallKind::X509Bundles)
            | (Self::RawJwtSvid(_), CallKind::JwtSvid)
            | (Self::RawJwtBundles(_), CallKind::JwtBundles)
            | (Self::RawValidateJwtSvid(_), CallKind::ValidateJwtSvid) => Ok(()),
            (Self::RawX509Svid(_), _) => refuse("a raw X509SVIDResponse outside FetchX509SVID"),
            (Self::RawX509Bundles(_), _) => {
                refuse("a raw X509BundlesResponse outside FetchX509Bundles")
            }
            (Self::RawJwtSvid(_), _) => refuse("a raw JWTSVIDResponse outside FetchJWTSVID"),
            (Self::RawJwtBundles(_), _) => {
                refuse("a raw JWTBundlesResponse outside FetchJWTBundles")
            }
            (Self::RawValidateJwtSvid(_), _) => {
                refuse("a raw ValidateJWTSVIDResponse outside ValidateJWTSVID")
            }
        }
    }
}

/// A malformed message, built from the agent's current state with one thing broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Garbage {
    /// The `x509_svid` field of every SVID holds bytes that are not DER.
    UnparsableCertificate,
    /// The `x509_svid_key` field of every SVID is empty.
    EmptyKey,
    /// The key is a valid P-256 key in SEC1 form instead of PKCS#8.
    NonPkcs8Key,
    /// The response has no SVIDs at all (bundles kept). `FetchX509SVID` and `FetchJWTSVID`.
    ZeroSvids,
    /// The trust domain bundle holds bytes that are not DER (both X.509 streams), or not a
    /// JWK Set (`FetchJWTBundles`).
    UnparsableBundle,
    /// Every JWT-SVID's token is not a JWT at all. `FetchJWTSVID` only.
    UnparsableToken,
}

impl Garbage {
    fn fits(self, kind: CallKind) -> bool {
        match kind {
            CallKind::X509Svid => !matches!(self, Self::UnparsableToken),
            CallKind::X509Bundles | CallKind::JwtBundles => matches!(self, Self::UnparsableBundle),
            CallKind::JwtSvid => matches!(self, Self::ZeroSvids | Self::UnparsableToken),
            CallKind::ValidateJwtSvid => false,
        }
    }

    fn applies_to(self) -> &'static str {
        match self {
            Self::UnparsableCertificate | Self::EmptyKey | Self::NonPkcs8Key => {
                "this garbage applies to FetchX509SVID only"
            }
            Self::ZeroSvids => "ZeroSvids applies to FetchX509SVID and FetchJWTSVID only",
            Self::UnparsableBundle => {
                "UnparsableBundle applies to FetchX509SVID and the bundle streams only"
            }
            Self::UnparsableToken => "UnparsableToken applies to FetchJWTSVID only",
        }
    }
}

/// Ends every open stream of a kind, from
/// [`DevAgentHandle::end_streams`](crate::DevAgentHandle::end_streams).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum StreamEnd {
    /// End with status OK.
    Ok,
    /// End with this status.
    Status {
        /// The status code.
        code: Code,
        /// The status message.
        message: String,
    },
}

impl StreamEnd {
    /// A [`StreamEnd::Status`] with a message.
    pub fn status(code: Code, message: impl Into<String>) -> Self {
        Self::Status {
            code,
            message: message.into(),
        }
    }
}

/// How a revoked identity disappears, for
/// [`DevAgentHandle::revoke`](crate::DevAgentHandle::revoke).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Revocation {
    /// Open streams get an update without the SVID (zero SVIDs if it was the caller's only
    /// identity); new opens get such a response too.
    EmptyUpdate,
    /// Callers left without identity get PermissionDenied "no identity issued": open streams
    /// end with it and new opens are refused with it.
    PermissionDenied,
}

/// The fault queues, one per call kind.
#[derive(Debug, Default)]
pub(crate) struct FaultQueues {
    queues: HashMap<CallKind, VecDeque<(Fault, usize)>>,
}

impl FaultQueues {
    pub(crate) fn push(
        &mut self,
        kind: CallKind,
        fault: Fault,
        opens: usize,
    ) -> Result<(), DevAgentError> {
        fault.check(kind)?;
        if opens > 0 {
            self.queues
                .entry(kind)
                .or_default()
                .push_back((fault, opens));
        }
        Ok(())
    }

    /// The fault for the next call of `kind`, if any.
    pub(crate) fn next(&mut self, kind: CallKind) -> Option<Fault> {
        let queue = self.queues.get_mut(&kind)?;
        let (fault, remaining) = queue.front_mut()?;
        let fault = fault.clone();
        *remaining -= 1;
        if *remaining == 0 {
            queue.pop_front();
        }
        Some(fault)
    }

    pub(crate) fn clear(&mut self) {
        self.queues.clear();
    }

    pub(crate) fn pending(&self, kind: CallKind) -> usize {
        self.queues
            .get(&kind)
            .map_or(0, |queue| queue.iter().map(|(_, n)| n).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_consumed_in_order_and_counted_down() {
        let mut queues = FaultQueues::default();
        let denied = Fault::status(Code::PermissionDenied, "no identity issued");
        queues.push(CallKind::X509Svid, denied.clone(), 2).unwrap();
        queues
            .push(CallKind::X509Svid, Fault::EndAfterFirst, 1)
            .unwrap();

        assert_eq!(queues.pending(CallKind::X509Svid), 3);
        assert_eq!(queues.next(CallKind::X509Bundles), None);
        assert_eq!(queues.next(CallKind::X509Svid), Some(denied.clone()));
        assert_eq!(queues.next(CallKind::X509Svid), Some(denied));
        assert_eq!(queues.next(CallKind::X509Svid), Some(Fault::EndAfterFirst));
        assert_eq!(queues.next(CallKind::X509Svid), None);
    }

    #[test]
    fn faults_for_the_other_stream_kind_are_refused() {
        let mut queues = FaultQueues::default();
        let raw = Fault::RawX509Svid(X509svidResponse::default());
        assert!(queues.push(CallKind::X509Bundles, raw, 1).is_err());
        let key = Fault::Garbage(Garbage::EmptyKey);
        assert!(queues.push(CallKind::X509Bundles, key, 1).is_err());
        let bundle = Fault::Garbage(Garbage::UnparsableBundle);
        assert!(
            queues
                .push(CallKind::X509Bundles, bundle.clone(), 1)
                .is_ok()
        );
        assert!(queues.push(CallKind::JwtBundles, bundle, 1).is_ok());
    }

    #[test]
    fn jwt_faults_fit_only_their_calls() {
        let mut queues = FaultQueues::default();
        let raw = Fault::RawJwtSvid(JwtsvidResponse::default());
        assert!(queues.push(CallKind::JwtSvid, raw.clone(), 1).is_ok());
        assert!(queues.push(CallKind::ValidateJwtSvid, raw, 1).is_err());
        let end = Fault::EndAfterFirst;
        assert!(queues.push(CallKind::JwtSvid, end.clone(), 1).is_err());
        assert!(queues.push(CallKind::JwtBundles, end, 1).is_ok());
        let token = Fault::Garbage(Garbage::UnparsableToken);
        assert!(queues.push(CallKind::X509Svid, token.clone(), 1).is_err());
        assert!(queues.push(CallKind::JwtSvid, token, 1).is_ok());
        assert!(
            queues
                .push(CallKind::ValidateJwtSvid, Fault::Hang, 1)
                .is_ok()
        );
        let bundles = Fault::RawJwtBundles(JwtBundlesResponse::default());
        assert!(queues.push(CallKind::X509Bundles, bundles, 1).is_err());
        assert_eq!(queues.pending(CallKind::JwtSvid), 2);
        assert_eq!(queues.pending(CallKind::ValidateJwtSvid), 1);
    }
}
