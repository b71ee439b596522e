//! Sources made and thrown away by the hundred: scenario L8.
//!
//! Open file descriptors are counted for the whole process, so this file is a test binary of
//! its own with a single test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::time::{Duration, Instant};

use common::{WAIT, WEB, agent_with, source_on};
use spiffe_dev_agent::{DevAgentHandle, StreamKind};

/// What a leak would show up in: open descriptors and live tasks of the test runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Usage {
    descriptors: usize,
    tasks: usize,
}

impl Usage {
    fn now() -> Self {
        Self {
            descriptors: std::fs::read_dir("/proc/self/fd").unwrap().count(),
            tasks: tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks(),
        }
    }

    fn within(self, baseline: Usage, slack: usize) -> bool {
        self.descriptors <= baseline.descriptors + slack && self.tasks <= baseline.tasks + slack
    }
}

/// Polls every 20 ms (at most [`WAIT`]) until `condition` holds for the usage, which it
/// returns; the last reading when time runs out.
async fn usage_until(condition: impl Fn(Usage) -> bool) -> Usage {
    let deadline = Instant::now() + WAIT;
    loop {
        let usage = Usage::now();
        if condition(usage) || Instant::now() >= deadline {
            return usage;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The usage once it has stopped moving: the same reading twice, 100 ms apart.
async fn settled_usage() -> Usage {
    let mut last = Usage::now();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = Usage::now();
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

/// Builds `n` sources one after the other, reads each once, and drops (or closes) it.
async fn churn(agent: &DevAgentHandle, n: usize, close: bool) {
    for _ in 0..n {
        let source = source_on(agent).build().await.unwrap();
        assert!(source.snapshot().svid().is_ok());
        if close {
            source.close().await;
        }
        drop(source);
    }
}

/// L8: creating and dropping a source a few hundred times, then closing another hundred,
/// leaves open descriptors and live tasks where they were (a few of slack for stragglers;
/// a leak would be one or more per source). The agent sees every stream go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_created_and_dropped_by_the_hundred_leave_nothing_behind() {
    const SLACK: usize = 4;
    let agent = agent_with(&[WEB]).await;
    // The first sources load what a process loads once (crypto provider, timers, ...).
    churn(&agent, 5, false).await;
    agent
        .wait_for_open_streams(StreamKind::X509Svid, 0, WAIT)
        .await
        .unwrap();
    let baseline = settled_usage().await;

    for (rounds, close) in [(300, false), (100, true)] {
        churn(&agent, rounds, close).await;

        agent
            .wait_for_open_streams(StreamKind::X509Svid, 0, WAIT)
            .await
            .unwrap();
        let usage = usage_until(|u| u.within(baseline, SLACK)).await;
        assert!(
            usage.within(baseline, SLACK),
            "after {rounds} sources (close: {close}): {usage:?}, baseline {baseline:?}"
        );
    }

    let stats = agent.stats();
    assert_eq!(stats.x509_svid_opens, 405);
    assert_eq!(stats.cancelled_streams, 405);
}
