//! Fault scripting: what the agent does instead of (or before) behaving normally.

use std::collections::VecDeque;
use std::time::Duration;

use spiffe_workload_api::proto::{X509BundlesResponse, X509svidResponse};

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
}

/// What one stream open does instead of behaving normally.
///
/// Faults are queued per [`StreamKind`] with
/// [`DevAgentHandle::script`](crate::DevAgentHandle::script); every stream open consumes one
/// (counting down its repetitions), and opens find the queue empty behave normally.
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
    /// minted). Later messages follow as usual.
    HoldFirst(Duration),
    /// Open the stream and never send anything until the client goes away or the agent stops.
    Hang,
    /// Send a malformed message first, then the real state right after it.
    Garbage(Garbage),
    /// Send the real state once, then end the stream with status OK.
    EndAfterFirst,
    /// Send this message instead of the first real one; later changes are sent as usual.
    /// Only for [`StreamKind::X509Svid`].
    RawX509Svid(X509svidResponse),
    /// Send this message instead of the first real one; later changes are sent as usual.
    /// Only for [`StreamKind::X509Bundles`].
    RawX509Bundles(X509BundlesResponse),
}

impl Fault {
    /// A [`Fault::Status`] with a message.
    pub fn status(code: Code, message: impl Into<String>) -> Self {
        Self::Status {
            code,
            message: message.into(),
        }
    }

    fn check(&self, kind: StreamKind) -> Result<(), DevAgentError> {
        match (self, kind) {
            (Self::RawX509Svid(_), StreamKind::X509Bundles) => Err(
                DevAgentError::FaultNotApplicable("a raw X509SVIDResponse on FetchX509Bundles"),
            ),
            (Self::RawX509Bundles(_), StreamKind::X509Svid) => Err(
                DevAgentError::FaultNotApplicable("a raw X509BundlesResponse on FetchX509SVID"),
            ),
            (Self::Garbage(garbage), StreamKind::X509Bundles) if !garbage.fits_bundles() => {
                Err(DevAgentError::FaultNotApplicable(
                    "only Garbage::UnparsableBundle applies to FetchX509Bundles",
                ))
            }
            _ => Ok(()),
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
    /// The response has no SVIDs at all (bundles kept).
    ZeroSvids,
    /// The trust domain bundle holds bytes that are not DER (both streams).
    UnparsableBundle,
}

impl Garbage {
    fn fits_bundles(self) -> bool {
        matches!(self, Self::UnparsableBundle)
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

/// The fault queues, one per stream kind.
#[derive(Debug, Default)]
pub(crate) struct FaultQueues {
    x509_svid: VecDeque<(Fault, usize)>,
    x509_bundles: VecDeque<(Fault, usize)>,
}

impl FaultQueues {
    pub(crate) fn push(
        &mut self,
        kind: StreamKind,
        fault: Fault,
        opens: usize,
    ) -> Result<(), DevAgentError> {
        fault.check(kind)?;
        if opens > 0 {
            self.queue(kind).push_back((fault, opens));
        }
        Ok(())
    }

    /// The fault for the next stream open, if any.
    pub(crate) fn next(&mut self, kind: StreamKind) -> Option<Fault> {
        let queue = self.queue(kind);
        let (fault, remaining) = queue.front_mut()?;
        let fault = fault.clone();
        *remaining -= 1;
        if *remaining == 0 {
            queue.pop_front();
        }
        Some(fault)
    }

    pub(crate) fn clear(&mut self) {
        self.x509_svid.clear();
        self.x509_bundles.clear();
    }

    pub(crate) fn pending(&self, kind: StreamKind) -> usize {
        match kind {
            StreamKind::X509Svid => self.x509_svid.iter().map(|(_, n)| n).sum(),
            StreamKind::X509Bundles => self.x509_bundles.iter().map(|(_, n)| n).sum(),
        }
    }

    fn queue(&mut self, kind: StreamKind) -> &mut VecDeque<(Fault, usize)> {
        match kind {
            StreamKind::X509Svid => &mut self.x509_svid,
            StreamKind::X509Bundles => &mut self.x509_bundles,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_consumed_in_order_and_counted_down() {
        let mut queues = FaultQueues::default();
        let denied = Fault::status(Code::PermissionDenied, "no identity issued");
        queues
            .push(StreamKind::X509Svid, denied.clone(), 2)
            .unwrap();
        queues
            .push(StreamKind::X509Svid, Fault::EndAfterFirst, 1)
            .unwrap();

        assert_eq!(queues.pending(StreamKind::X509Svid), 3);
        assert_eq!(queues.next(StreamKind::X509Bundles), None);
        assert_eq!(queues.next(StreamKind::X509Svid), Some(denied.clone()));
        assert_eq!(queues.next(StreamKind::X509Svid), Some(denied));
        assert_eq!(
            queues.next(StreamKind::X509Svid),
            Some(Fault::EndAfterFirst)
        );
        assert_eq!(queues.next(StreamKind::X509Svid), None);
    }

    #[test]
    fn faults_for_the_other_stream_kind_are_refused() {
        let mut queues = FaultQueues::default();
        let raw = Fault::RawX509Svid(X509svidResponse::default());
        assert!(queues.push(StreamKind::X509Bundles, raw, 1).is_err());
        let key = Fault::Garbage(Garbage::EmptyKey);
        assert!(queues.push(StreamKind::X509Bundles, key, 1).is_err());
        let bundle = Fault::Garbage(Garbage::UnparsableBundle);
        assert!(queues.push(StreamKind::X509Bundles, bundle, 1).is_ok());
    }
}
