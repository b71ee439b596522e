//! What the agent has seen, for tests to assert on and wait for.

/// Counters of what the agent has seen since it was built (they survive `stop`/`restart`).
///
/// Read a snapshot with [`DevAgentHandle::stats`](crate::DevAgentHandle::stats), wait for a
/// condition with [`DevAgentHandle::wait_for`](crate::DevAgentHandle::wait_for), or follow
/// every change with [`DevAgentHandle::watch_stats`](crate::DevAgentHandle::watch_stats).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentStats {
    /// Connections accepted on the socket.
    pub connections: u64,
    /// `FetchX509SVID` calls that passed the header check, including those answered with a
    /// scripted status or PermissionDenied.
    pub x509_svid_opens: u64,
    /// `FetchX509Bundles` calls that passed the header check, including refused ones.
    pub x509_bundles_opens: u64,
    /// `FetchX509SVID` response streams currently open.
    pub open_x509_svid_streams: u64,
    /// `FetchX509Bundles` response streams currently open.
    pub open_x509_bundles_streams: u64,
    /// Response streams the client dropped (cancelled) before the agent ended them.
    pub cancelled_streams: u64,
    /// Messages sent on `FetchX509SVID` streams, garbage and raw ones included.
    pub x509_svid_messages: u64,
    /// Messages sent on `FetchX509Bundles` streams, garbage and raw ones included.
    pub x509_bundles_messages: u64,
    /// Calls refused because the `workload.spiffe.io: true` header was missing or repeated.
    pub header_rejections: u64,
    /// Calls and streams answered with PermissionDenied "no identity issued".
    pub permission_denials: u64,
    /// Scripted faults consumed by stream opens.
    pub faults_applied: u64,
    /// WIT-SVID calls answered with Unimplemented.
    pub unimplemented_calls: u64,
    /// `FetchJWTSVID` calls that passed the header check, including refused ones and those
    /// answered by a scripted fault (scenarios J6, J7: "one agent call").
    pub jwt_svid_calls: u64,
    /// JWT-SVIDs signed for `FetchJWTSVID` answers (not counting raw or frozen ones).
    pub jwt_svids_issued: u64,
    /// `ValidateJWTSVID` calls that passed the header check.
    pub validate_jwt_svid_calls: u64,
    /// `FetchJWTBundles` calls that passed the header check, including refused ones.
    pub jwt_bundles_opens: u64,
    /// `FetchJWTBundles` response streams currently open.
    pub open_jwt_bundles_streams: u64,
    /// Messages sent on `FetchJWTBundles` streams, garbage and raw ones included.
    pub jwt_bundles_messages: u64,
    /// JWT signing key rotations.
    pub jwt_key_rotations: u64,
    /// X.509-SVIDs issued after the initial ones (rotations and re-issues).
    pub svid_renewals: u64,
    /// CA rotations.
    pub ca_rotations: u64,
}

impl AgentStats {
    /// Open response streams of every kind.
    pub fn open_streams(&self) -> u64 {
        self.open_x509_svid_streams + self.open_x509_bundles_streams + self.open_jwt_bundles_streams
    }
}
