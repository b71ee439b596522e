//! Streams that end, agents that go away, and how the source retries: scenarios R1 to R4.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{
    FAST, WAIT, WEB, agent_with, floors, issued_serial, next_update, open_intervals, serial,
    source_on, within,
};
use spiffe_dev_agent::{Code, DevAgentHandle, Fault, StreamKind};
use spiffe_source::SourceError;
use spiffe_workload_api::{BackoffPolicy, WorkloadApiError};
use tokio::net::UnixListener;
use tokio::task::JoinHandle;

/// Waits until the agent has seen at least `opens` FetchX509SVID opens and exactly one stream
/// of that kind is open.
async fn wait_for_one_stream_after(agent: &DevAgentHandle, opens: u64) {
    agent
        .wait_for(WAIT, |s| {
            s.x509_svid_opens >= opens && s.open_x509_svid_streams == 1
        })
        .await
        .unwrap();
}

/// R1: the agent sends one response and ends the stream with OK. The source opens a new
/// stream at once and picks up the SVID rotated on it.
#[tokio::test]
async fn source_reopens_a_cleanly_ended_stream_and_follows_rotation_on_the_new_one() {
    let agent = agent_with(&[WEB]).await;
    agent
        .script(StreamKind::X509Svid, Fault::EndAfterFirst, 1)
        .unwrap();
    let source = source_on(&agent).build().await.unwrap();
    let first = serial(&source);
    let mut updates = source.updates();

    wait_for_one_stream_after(&agent, 2).await;
    agent.rotate_svids().unwrap();
    let generation = next_update(&mut updates).await;

    assert_ne!(serial(&source), first);
    assert_eq!(serial(&source), issued_serial(&agent, WEB));
    assert_eq!(generation, 2);
    let stats = agent.stats();
    assert_eq!(stats.x509_svid_opens, 2);
    assert_eq!(stats.faults_applied, 1);
}

/// R1, hostile: an agent that ends every stream right after its first message. The first
/// clean end is followed at once, as policy says; from the second short stream in a row the
/// source backs off instead of reopening thousands of times a second.
#[tokio::test]
async fn source_backs_off_when_the_agent_keeps_ending_streams_right_after_opening_them() {
    let agent = agent_with(&[WEB]).await;
    let short_streams = 5;
    agent
        .script(StreamKind::X509Svid, Fault::EndAfterFirst, short_streams)
        .unwrap();
    let source = source_on(&agent).build().await.unwrap();
    wait_for_one_stream_after(&agent, short_streams as u64 + 1).await;
    assert!(source.snapshot().svid().is_ok());

    let intervals = open_intervals(&agent, 0);
    assert_eq!(intervals.len(), short_streams, "{intervals:?}");
    // Opens 1 and 2 back to back; then the FAST schedule's steps.
    for (interval, floor) in intervals[1..].iter().zip(floors(FAST, short_streams - 1)) {
        assert!(
            *interval + TOLERANCE >= floor,
            "reopened after {interval:?}, the schedule allows {floor:?} at the least: \
             {intervals:?}"
        );
    }
    assert_eq!(agent.stats().x509_svid_opens, short_streams as u64 + 1);
}

/// R2: the agent stops (its socket file is removed) and comes back on the same path. The
/// source serves its last SVID all along, dials the path again, does not notify for the
/// unchanged state the new stream starts with, and follows the next rotation.
#[tokio::test]
async fn source_serves_its_last_svid_while_the_agent_restarts_and_resumes_after() {
    let agent = agent_with(&[WEB]).await;
    let source = source_on(&agent).build().await.unwrap();
    let before = serial(&source);
    let generation = source.snapshot().generation();
    let mut updates = source.updates();

    agent.stop().await;
    assert!(!agent.socket_path().exists());
    // The outage: several retries of the FAST schedule fail meanwhile.
    for _ in 0..5 {
        tokio::time::sleep(FAST.max).await;
        assert_eq!(serial(&source), before);
    }

    agent.restart().await.unwrap();
    wait_for_one_stream_after(&agent, 2).await;
    agent.rotate_svids().unwrap();
    let after = next_update(&mut updates).await;

    assert_eq!(after, generation + 1, "the restart alone must not notify");
    assert_eq!(serial(&source), issued_serial(&agent, WEB));
    assert_ne!(serial(&source), before);
    assert!(agent.stats().connections >= 2);
}

/// What a source does with one gRPC status at stream open.
enum Expect {
    /// `build` fails fast with `Rejected`, after a single open.
    Rejected(fn(&WorkloadApiError) -> bool),
    /// The source retries on `schedule` (the other one is made near-instant, so that using
    /// the wrong schedule shows) and becomes ready.
    Retries { slow: bool },
    /// The source retries on a new connection and becomes ready.
    NewConnection,
}

/// R3: one row per status at stream open. InvalidArgument and Unimplemented stop at once;
/// PermissionDenied retries on the slow schedule; Unavailable retries on the jittered
/// exponential one; Unauthenticated retries on a new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_status_at_stream_open_gets_its_own_retry_treatment() {
    let rows: [(Code, Expect); 6] = [
        (
            Code::InvalidArgument,
            Expect::Rejected(|e| matches!(e, WorkloadApiError::InvalidArgument { .. })),
        ),
        (
            Code::Unimplemented,
            Expect::Rejected(|e| matches!(e, WorkloadApiError::NotSupported { .. })),
        ),
        (Code::PermissionDenied, Expect::Retries { slow: true }),
        (Code::Unavailable, Expect::Retries { slow: false }),
        // Sent by the agent, Cancelled is not the caller's cancellation: retried.
        (Code::Cancelled, Expect::Retries { slow: false }),
        (Code::Unauthenticated, Expect::NewConnection),
    ];
    let measured = BackoffPolicy {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(10),
        multiplier: 2,
    };
    let instant = BackoffPolicy {
        initial: Duration::from_millis(1),
        max: Duration::from_millis(1),
        multiplier: 1,
    };

    for (code, expect) in rows {
        let agent = agent_with(&[WEB]).await;
        let refusals = 3;
        let fault = Fault::status(code, format!("scripted {code:?}"));
        agent.script(StreamKind::X509Svid, fault, refusals).unwrap();
        let builder = source_on(&agent);

        match expect {
            Expect::Rejected(is_expected) => {
                let started = Instant::now();
                let error = builder.build().await.unwrap_err();
                let SourceError::Rejected(cause) = &error else {
                    panic!("{code:?}: expected Rejected, got {error:?}");
                };
                assert!(is_expected(cause), "{code:?}: {cause:?}");
                assert!(started.elapsed() < WAIT / 2, "{code:?}: not fast");
                assert_eq!(agent.stats().x509_svid_opens, 1, "{code:?} was retried");
            }
            Expect::Retries { slow } => {
                let (backoff, slow_backoff) = if slow {
                    (instant, measured)
                } else {
                    (measured, instant)
                };
                let source = builder
                    .backoff(backoff)
                    .slow_backoff(slow_backoff)
                    .build()
                    .await
                    .unwrap();
                assert!(source.snapshot().svid().is_ok());

                let intervals = open_intervals(&agent, 0);
                assert_eq!(intervals.len(), refusals, "{code:?}: {intervals:?}");
                let floors = floors(measured, refusals);
                for (interval, floor) in intervals.iter().zip(&floors) {
                    assert!(
                        *interval + TOLERANCE >= *floor,
                        "{code:?}: retried after {interval:?}, the schedule allows {floor:?} \
                         at the least: {intervals:?}"
                    );
                }
            }
            Expect::NewConnection => {
                let source = builder.build().await.unwrap();
                assert!(source.snapshot().svid().is_ok());
                let stats = agent.stats();
                assert_eq!(stats.x509_svid_opens, refusals as u64 + 1);
                assert_eq!(stats.connections, refusals as u64 + 1, "{code:?}");
            }
        }
    }
}

/// Slack for timer granularity when intervals are compared with the schedule.
const TOLERANCE: Duration = Duration::from_millis(20);

/// R3: a caller's close ends the source quietly: no error is recorded, update receivers see
/// the end, the agent sees the stream cancelled and no reopen follows.
#[tokio::test]
async fn closing_a_source_ends_it_without_an_error() {
    let agent = agent_with(&[WEB]).await;
    let source = source_on(&agent).build().await.unwrap();
    let mut updates = source.updates();

    source.close().await;

    // The caller's own close is the reason it stopped; nothing came from the agent.
    let stopped = source.stopped();
    assert!(matches!(stopped, Some(SourceError::Closed)), "{stopped:?}");
    let ended = within("the update channel to close", updates.changed()).await;
    assert!(matches!(ended, Err(SourceError::Closed)), "{ended:?}");
    agent.wait_for_cancelled_streams(1, WAIT).await.unwrap();
    assert_eq!(agent.stats().x509_svid_opens, 1);
    // Reads keep serving the last state.
    assert!(source.snapshot().svid().is_ok());
}

/// A stand-in for an agent that is down: it accepts each dial on the agent's socket path,
/// counts it and hangs up at once.
struct DownAgent {
    dials: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl DownAgent {
    fn listen(path: &Path) -> Self {
        let listener = UnixListener::bind(path).unwrap();
        let dials = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&dials);
        let task = tokio::spawn(async move {
            for _ in 0..10_000 {
                let Ok((connection, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                drop(connection);
            }
        });
        Self { dials, task }
    }

    /// Stops listening and returns how many dials it saw.
    async fn stop(self, path: &Path) -> u64 {
        self.task.abort();
        let _ = self.task.await;
        std::fs::remove_file(path).unwrap();
        self.dials.load(Ordering::SeqCst)
    }
}

/// The most dials a jittered exponential schedule allows in `window`: one at the start,
/// then one after each delay, every delay at least half its step.
fn most_dials(policy: BackoffPolicy, window: Duration) -> u64 {
    let mut elapsed = Duration::ZERO;
    let mut dials = 1;
    for floor in floors(policy, 64) {
        elapsed += floor;
        if elapsed > window {
            break;
        }
        dials += 1;
    }
    dials
}

/// R4: while the agent is down, the source dials on an exponential schedule with jitter:
/// a handful of dials in the outage, not hundreds. When the agent is back, it resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_dials_a_down_agent_on_an_exponential_schedule() {
    let policy = BackoffPolicy {
        initial: Duration::from_millis(20),
        max: Duration::from_secs(10),
        multiplier: 2,
    };
    let agent = agent_with(&[WEB]).await;
    let source = source_on(&agent).backoff(policy).build().await.unwrap();
    let before = serial(&source);

    agent.stop().await;
    let down = DownAgent::listen(agent.socket_path());
    let started = Instant::now();
    // The outage: 100 times the first delay of the schedule.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let dials = down.stop(agent.socket_path()).await;
    let window = started.elapsed();

    let bound = most_dials(policy, window);
    assert!(
        dials <= bound,
        "{dials} dials in {window:?}; the schedule allows {bound}"
    );
    assert!(
        dials >= 3,
        "only {dials} dials in {window:?}: the source gave up"
    );

    agent.restart().await.unwrap();
    wait_for_one_stream_after(&agent, 2).await;
    assert_eq!(serial(&source), before);
    assert!(source.stopped().is_none());
}

/// R4: the agent answers the first five opens with Unavailable "rate limit exceeded". The
/// source keeps backing off: every interval between opens is at least as long as the schedule
/// demands, which is never shorter than the longest the previous one could have been.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_source_backs_off_without_bursting() {
    let policy = BackoffPolicy {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(10),
        multiplier: 2,
    };
    let refusals = 5;
    let agent = agent_with(&[WEB]).await;
    let limited = Fault::status(Code::Unavailable, "rate limit exceeded");
    agent
        .script(StreamKind::X509Svid, limited, refusals)
        .unwrap();

    let source = source_on(&agent).backoff(policy).build().await.unwrap();
    let intervals = open_intervals(&agent, 0);

    assert!(source.snapshot().svid().is_ok());
    assert_eq!(agent.stats().x509_svid_opens, refusals as u64 + 1);
    assert_eq!(intervals.len(), refusals, "{intervals:?}");
    let floors = floors(policy, refusals);
    for (i, (interval, floor)) in intervals.iter().zip(&floors).enumerate() {
        assert!(
            *interval + TOLERANCE >= *floor,
            "interval {i} was {interval:?}, below the schedule's {floor:?}: {intervals:?}"
        );
        // With a doubling schedule the floor of one step is the ceiling of the one before.
        if i > 0 {
            assert!(*floor >= 2 * floors[i - 1]);
        }
    }
}
