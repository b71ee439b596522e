//! Agents that take their time: scenario H2, scaled down (see tests/README.md).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::time::{Duration, Instant};

use common::{WEB, agent_with, source_on};
use spiffe_dev_agent::{Fault, StreamKind};
use spiffe_source::Health;
use spiffe_workload_api::{Address, WorkloadApiClient};

/// H2: the agent holds the first X.509 message for 2.5 s (SVIDs still being minted): a source
/// with a 3 s first-update timeout becomes ready. Its stream then stays open, uncut, for six
/// times the client's call deadline: watches carry no deadline.
#[tokio::test]
async fn source_waits_out_a_held_first_message_and_its_stream_has_no_deadline() {
    let agent = agent_with(&[WEB]).await;
    let hold = Duration::from_millis(2500);
    agent
        .script(StreamKind::X509Svid, Fault::HoldFirst(hold), 1)
        .unwrap();
    // The deadline of one-shot calls, scaled down from 30 s; a watch that wrongly carried it
    // would be cut during the hold already.
    let deadline = Duration::from_millis(500);
    let client = WorkloadApiClient::builder()
        .address(Address::parse(&agent.endpoint()).unwrap())
        .deadline(deadline)
        .build()
        .unwrap();

    let started = Instant::now();
    let source = source_on(&agent)
        .client(client)
        .first_update_timeout(Duration::from_secs(3))
        .build()
        .await
        .unwrap();
    assert!(started.elapsed() >= hold, "{:?}", started.elapsed());
    let generation = source.snapshot().generation();

    // The long quiet stretch is what is under test, so it is a plain wait.
    tokio::time::sleep(6 * deadline).await;

    let snapshot = source.snapshot();
    assert_eq!(snapshot.health(), &Health::Ready);
    assert_eq!(snapshot.generation(), generation);
    let stats = agent.stats();
    assert_eq!(stats.x509_svid_opens, 1, "the stream was reopened");
    assert_eq!(stats.open_x509_svid_streams, 1);
    assert_eq!(stats.cancelled_streams, 0);
    assert!(source.stopped().is_none());
}
