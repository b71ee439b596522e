//! What the scenario tests share: agents, sources on scaled-down schedules, bounded waits, and
//! the intervals between stream opens.

#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::future::Future;
use std::time::Duration;

use spiffe_dev_agent::{DevAgent, DevAgentHandle, Identity, StreamKind};
use spiffe_source::{Updates, X509Snapshot, X509Source, X509SourceBuilder};
use spiffe_workload_api::BackoffPolicy;

/// How long a test waits for something that should happen in milliseconds. Generous on
/// purpose: a wait ends as soon as its condition holds, so only a failing test pays for it.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// A retry schedule a hundred times faster than the default, for tests that need retries but
/// do not measure them.
pub(crate) const FAST: BackoffPolicy = BackoffPolicy {
    initial: Duration::from_millis(20),
    max: Duration::from_millis(200),
    multiplier: 2,
};

pub(crate) const WEB: &str = "spiffe://example.org/web";
pub(crate) const DB: &str = "spiffe://example.org/db";

/// An agent for `example.org` that issues an SVID for each of `ids`, in that order.
pub(crate) async fn agent_with(ids: &[&str]) -> DevAgentHandle {
    DevAgent::builder()
        .identities(ids.iter().map(|id| Identity::new(*id)))
        .start()
        .await
        .unwrap()
}

/// A source builder aimed at `agent`, retrying on the fast schedule for every failure.
pub(crate) fn source_on(agent: &DevAgentHandle) -> X509SourceBuilder {
    X509Source::builder()
        .endpoint(agent.endpoint())
        .first_update_timeout(WAIT)
        .backoff(FAST)
        .slow_backoff(FAST)
}

/// Runs `fut` for at most [`WAIT`], failing the test with `what` when it takes longer.
pub(crate) async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// Waits (at most [`WAIT`]) until the source's snapshot satisfies `condition`, checking the
/// current one first and then each update.
pub(crate) async fn until(
    source: &X509Source,
    what: &str,
    mut condition: impl FnMut(&X509Snapshot) -> bool,
) {
    let mut updates = source.updates();
    within(what, async {
        while !condition(&source.snapshot()) {
            updates.changed().await.unwrap();
        }
    })
    .await;
}

/// The next update notification; fails the test if none comes within [`WAIT`].
pub(crate) async fn next_update(updates: &mut Updates) -> u64 {
    within("a source update", updates.changed()).await.unwrap()
}

/// The serial number of the source's default SVID.
pub(crate) fn serial(source: &X509Source) -> String {
    source.snapshot().svid().unwrap().serial_hex().to_owned()
}

/// The serial number of the SVID the agent currently issues for `id`.
pub(crate) fn issued_serial(agent: &DevAgentHandle, id: &str) -> String {
    let svids = agent.svids();
    let svid = svids.iter().find(|s| s.spiffe_id() == id).unwrap();
    svid.serial_hex().to_owned()
}

/// The intervals between the `FetchX509SVID` opens the agent saw after `baseline` opens,
/// read from the agent's own log of open times (no watcher racing the opens).
pub(crate) fn open_intervals(agent: &DevAgentHandle, baseline: usize) -> Vec<Duration> {
    let times = agent.open_times(StreamKind::X509Svid);
    let times = times.get(baseline..).unwrap_or_default();
    times.windows(2).map(|pair| pair[1] - pair[0]).collect()
}

/// The shortest wait a jittered schedule allows before each of its first `n` retries: half of
/// each step (`Backoff` draws from `[step / 2, step]`).
pub(crate) fn floors(policy: BackoffPolicy, n: usize) -> Vec<Duration> {
    let mut step = policy.initial.min(policy.max);
    let mut floors = Vec::with_capacity(n);
    for _ in 0..n {
        floors.push(step / 2);
        step = (step * policy.multiplier.max(1)).min(policy.max);
    }
    floors
}
