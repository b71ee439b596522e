//! Hostile input for the Workload API client: endpoint addresses (random, multi-byte, at the
//! port boundaries), and agent responses from the in-process dev agent that are malformed,
//! oversized or inconsistent. A client must answer each with a typed error, never a panic or a
//! hang, and an `X509Source` on top of it must keep its last good state and keep watching.
//!
//! Generation is deterministic (a fixed-seed xorshift) and bounded.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use spiffe_dev_agent::proto::{X509BundlesResponse, X509svid, X509svidResponse};
use spiffe_dev_agent::{DevAgent, DevAgentHandle, Fault, Garbage, Identity, StreamKind};
use spiffe_source::{Health, X509Source};
use spiffe_test_support::{Rng, assert_message};
use spiffe_workload_api::{
    Address, AddressError, MAX_MESSAGE_BYTES, ResponseError, RetryClass, StatusCode,
    WorkloadApiClient, WorkloadApiError, X509ContextStream,
};

const WAIT: Duration = Duration::from_secs(10);

// ---- addresses ----

const ADDRESS_PIECES: &[&str] = &[
    "unix:",
    "tcp:",
    "UNIX:",
    "npipe:",
    "http:",
    "//",
    "/",
    "///",
    "tmp",
    "a.sock",
    "127.0.0.1",
    "[::1]",
    "[",
    "]",
    ":",
    "8081",
    "0",
    "65535",
    "65536",
    "+80",
    "-1",
    "@",
    "user",
    "?",
    "#",
    "%2F",
    "localhost",
    ".",
    "..",
    " ",
    "\0",
    "é",
    "\u{1F600}",
    "\u{ff1a}",
    "１２",
    "\r\n",
];

#[test]
fn random_addresses_parse_or_fail_with_a_typed_error() {
    let mut rng = Rng(0xadd2_0000_0000_0001);
    for _ in 0..5000 {
        let mut input = String::new();
        for _ in 0..rng.below(8) {
            input.push_str(ADDRESS_PIECES[rng.below(ADDRESS_PIECES.len())]);
        }
        match Address::parse(&input) {
            Ok(address) => {
                // Display is a canonical form that parses back to the same address.
                let shown = address.to_string();
                assert_eq!(Address::parse(&shown).unwrap(), address, "{input:?}");
                assert!(!input.contains('?') && !input.contains('#'), "{input:?}");
                match (address.unix_path(), address.tcp_addr()) {
                    (Some(path), None) => assert!(path.is_absolute(), "{input:?}"),
                    (None, Some(addr)) => {
                        assert_ne!(addr.port(), 0);
                        let port = input.rsplit(':').next().unwrap();
                        assert!(port.bytes().all(|b| b.is_ascii_digit()), "{input:?}");
                    }
                    other => panic!("{input:?}: {other:?}"),
                }
            }
            Err(err) => assert_message(&err),
        }
    }
}

#[test]
fn tcp_ports_hold_at_and_past_their_boundaries() {
    let ok = |s: &str| Address::parse(s).unwrap().tcp_addr().unwrap().port();
    assert_eq!(ok("tcp://127.0.0.1:1"), 1);
    assert_eq!(ok("tcp://127.0.0.1:65535"), 65535);
    assert_eq!(ok("tcp://[::1]:65535"), 65535);

    for bad in [
        "tcp://127.0.0.1:0",
        "tcp://127.0.0.1:65536",
        "tcp://127.0.0.1:+80",
        "tcp://127.0.0.1:-80",
        "tcp://127.0.0.1: 80",
        "tcp://127.0.0.1:８０",
        "tcp://127.0.0.1:99999999999999999999",
        "tcp://[::1]:+1",
    ] {
        assert_eq!(
            Address::parse(bad),
            Err(AddressError::TcpInvalidPort),
            "{bad:?}"
        );
    }
}

#[test]
fn multi_byte_and_odd_addresses_are_refused_with_what_is_wrong() {
    let cases = [
        ("tcp://１２７.0.0.1:80", AddressError::TcpInvalidIp),
        ("tcp://exämple.org:80", AddressError::TcpInvalidIp),
        ("tcp://example.org:80", AddressError::TcpHostName),
        ("tcp://[fe80::1%eth0]:80", AddressError::TcpInvalidIp),
        ("tcp://127.000.0.1:80", AddressError::TcpInvalidIp),
        ("unix://é/tmp/a", AddressError::UnixAuthority),
        ("unix:é", AddressError::UnixRelativePath),
        (
            "ünix:///tmp/a",
            AddressError::UnsupportedScheme {
                scheme: "ünix".into(),
            },
        ),
        ("/tmp/agent.sock", AddressError::BarePath),
    ];
    for (input, expected) in cases {
        let err = Address::parse(input).unwrap_err();
        assert_eq!(err, expected, "{input:?}");
        assert_message(&err);
    }
    // A socket path may hold any bytes the file system allows, multi-byte ones too.
    let addr = Address::parse("unix:///tmp/agënt \u{1F600}.sock").unwrap();
    assert_eq!(Address::parse(&addr.to_string()).unwrap(), addr);
}

#[test]
fn huge_addresses_are_refused_fast() {
    let long = format!("unix://{}", "a".repeat(8 * 1024 * 1024));
    let started = Instant::now();
    assert_eq!(Address::parse(&long), Err(AddressError::UnixAuthority));
    let long_tcp = format!("tcp://{}", "1".repeat(8 * 1024 * 1024));
    assert!(Address::parse(&long_tcp).is_err());
    assert!(started.elapsed() < Duration::from_secs(1));
}

// ---- responses from the dev agent ----

async fn agent() -> DevAgentHandle {
    DevAgent::builder()
        .trust_domain("example.org")
        .identity(Identity::new("spiffe://example.org/web").with_hint("web"))
        .start()
        .await
        .unwrap()
}

fn client(agent: &DevAgentHandle) -> WorkloadApiClient {
    WorkloadApiClient::new(Address::parse(&agent.endpoint()).unwrap()).unwrap()
}

/// A response like the agent's own: its SVID entry with the real bundle.
fn real_entry(agent: &DevAgentHandle) -> X509svid {
    let svid = &agent.svids()[0];
    X509svid {
        spiffe_id: svid.spiffe_id().to_owned(),
        x509_svid: svid.chain_der(),
        x509_svid_key: svid.private_key_pkcs8().to_vec(),
        bundle: agent.bundle().concat(),
        hint: svid.hint().unwrap_or_default().to_owned(),
    }
}

fn response(svids: Vec<X509svid>, federated: &[(&str, Vec<u8>)]) -> X509svidResponse {
    X509svidResponse {
        svids,
        crl: Vec::new(),
        federated_bundles: federated
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<HashMap<_, _>>(),
    }
}

/// Opens a watch and reads the agent's first (good) message.
async fn open_watch(client: &WorkloadApiClient) -> X509ContextStream {
    let mut stream = client.watch_x509_context().await.unwrap();
    let first = tokio::time::timeout(WAIT, stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.svids.len(), 1);
    stream
}

fn invalid_response(err: &WorkloadApiError) -> &ResponseError {
    match err {
        WorkloadApiError::InvalidResponse(inner) => inner,
        other => panic!("expected an invalid response, got {other:?}"),
    }
}

async fn next_item(
    stream: &mut X509ContextStream,
) -> Result<spiffe_workload_api::X509Context, WorkloadApiError> {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("no item within the wait")
        .expect("stream ended")
}

#[tokio::test]
async fn bad_responses_are_typed_errors_and_the_watch_goes_on() {
    let agent = agent().await;
    let client = client(&agent);
    let mut stream = open_watch(&client).await;
    let good = real_entry(&agent);

    let mut broken_cert = good.clone();
    broken_cert
        .x509_svid
        .truncate(broken_cert.x509_svid.len() / 2);
    let mut wrong_id = good.clone();
    wrong_id.spiffe_id = "spiffe://example.org/someone-else".into();
    let mut multibyte_id = good.clone();
    multibyte_id.spiffe_id = "spiffe://exämple.org/web".into();
    let mut broken_bundle = good.clone();
    broken_bundle.bundle = vec![0x30, 0x84, 0x80, 0, 0, 0];
    let mut foreign_key = good.clone();
    foreign_key.x509_svid_key = agent.svids()[0].private_key_pkcs8()[..10].to_vec();

    let three_mib = vec![0x30; 3 * 1024 * 1024];
    let root = agent.bundle()[0].clone();
    let too_many_roots = root.repeat(1001);

    let cases: Vec<(X509svidResponse, &str)> = vec![
        (response(vec![broken_cert], &[]), "svid"),
        (response(vec![wrong_id], &[]), "mismatch"),
        (response(vec![multibyte_id], &[]), "mismatch"),
        (response(vec![broken_bundle], &[]), "svid bundle"),
        (response(vec![foreign_key], &[]), "svid"),
        (
            response(vec![good.clone()], &[("other.org", three_mib)]),
            "bundle",
        ),
        (
            response(vec![good.clone()], &[("other.org", too_many_roots)]),
            "bundle",
        ),
        (
            response(vec![good.clone()], &[("Other.org", root.clone())]),
            "key",
        ),
        (
            response(
                vec![good.clone()],
                &[("spiffe://other.org/p", root.clone())],
            ),
            "key",
        ),
        (
            response(vec![good.clone()], &[("exämple.org", root.clone())]),
            "key",
        ),
        (response(vec![good.clone()], &[("", root.clone())]), "key"),
        (
            response(
                vec![good.clone()],
                &[
                    ("other.org", root.clone()),
                    ("spiffe://other.org", root.clone()),
                ],
            ),
            "duplicate",
        ),
    ];

    for (message, what) in cases {
        assert_eq!(agent.inject_x509_svid_response(message), 1);
        let err = next_item(&mut stream).await.err().unwrap();
        let inner = invalid_response(&err);
        assert_message(&err);
        assert_message(inner);
        let matched = match what {
            "svid" => matches!(inner, ResponseError::Svid { index: 1, .. }),
            "mismatch" => matches!(inner, ResponseError::SpiffeIdMismatch { index: 1, .. }),
            "svid bundle" => matches!(inner, ResponseError::SvidBundle { index: 1, .. }),
            "bundle" => matches!(inner, ResponseError::Bundle { .. }),
            "key" => matches!(inner, ResponseError::TrustDomainKey { .. }),
            "duplicate" => matches!(inner, ResponseError::DuplicateTrustDomain { .. }),
            _ => unreachable!(),
        };
        assert!(matched, "{what}: {inner:?}");
    }

    // The stream is still open and serves the real state after all that.
    agent.rotate_svids().unwrap();
    let context = next_item(&mut stream).await.unwrap();
    assert_eq!(context.svids[0].serial_hex(), agent.svids()[0].serial_hex());
}

#[tokio::test]
async fn garbage_kinds_are_typed_errors_and_an_empty_update_is_not_an_error() {
    let agent = agent().await;
    let client = client(&agent);
    let mut stream = open_watch(&client).await;

    for garbage in [
        Garbage::UnparsableCertificate,
        Garbage::EmptyKey,
        Garbage::NonPkcs8Key,
        Garbage::UnparsableBundle,
    ] {
        assert_eq!(agent.inject_garbage(StreamKind::X509Svid, garbage), 1);
        let err = next_item(&mut stream).await.err().unwrap();
        invalid_response(&err);
        assert_message(&err);
    }
    agent.inject_garbage(StreamKind::X509Svid, Garbage::ZeroSvids);
    let revoked = next_item(&mut stream).await.unwrap();
    // No SVIDs: the message is valid (it is how revocation looks), not a parse failure.
    assert!(revoked.svids.is_empty());
}

#[tokio::test]
async fn a_thousand_svids_are_read_within_bounds_and_one_bad_one_refuses_the_message() {
    let agent = agent().await;
    let client = client(&agent);
    let mut stream = open_watch(&client).await;
    let good = real_entry(&agent);

    let mut many = vec![good.clone(); 1000];
    let started = Instant::now();
    agent.inject_x509_svid_response(response(many.clone(), &[]));
    let context = next_item(&mut stream).await.unwrap();
    assert_eq!(context.svids.len(), 1000);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    many[999].x509_svid_key.clear();
    agent.inject_x509_svid_response(response(many, &[]));
    let err = next_item(&mut stream).await.err().unwrap();
    assert!(matches!(
        invalid_response(&err),
        ResponseError::MissingPrivateKey { index: 1000 }
    ));
}

#[tokio::test]
async fn messages_at_and_over_the_size_cap() {
    let agent = agent().await;
    let client = client(&agent);
    let good = real_entry(&agent);

    // Just under the cap (with room for the framing of the rest): decoded, then refused for
    // its content.
    let mut stream = open_watch(&client).await;
    let padding = vec![0x30; MAX_MESSAGE_BYTES - 64 * 1024];
    agent.inject_x509_svid_response(response(vec![good.clone()], &[("big.org", padding)]));
    let err = next_item(&mut stream).await.err().unwrap();
    assert!(matches!(
        invalid_response(&err),
        ResponseError::Bundle { .. }
    ));

    // 5 MiB: refused by the decoder before any of it is parsed; the watch ends with a status.
    let five = vec![0x30; 5 * 1024 * 1024];
    agent.inject_x509_svid_response(response(vec![good.clone()], &[("big.org", five.clone())]));
    let err = next_item(&mut stream).await.err().unwrap();
    assert!(
        matches!(
            err,
            WorkloadApiError::Status {
                code: StatusCode::OutOfRange | StatusCode::ResourceExhausted,
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(&err);
    assert!(
        tokio::time::timeout(WAIT, stream.next())
            .await
            .unwrap()
            .is_none()
    );

    // A one-shot fetch of an oversized first message fails the same way, within its deadline.
    let raw = response(vec![good], &[("big.org", five)]);
    agent
        .script(StreamKind::X509Svid, Fault::RawX509Svid(raw), 1)
        .unwrap();
    let err = client.fetch_x509_context().await.unwrap_err();
    assert!(matches!(err, WorkloadApiError::Status { .. }), "{err:?}");

    // The bundles stream: a malformed key and an oversized message.
    let mut bundles = client.watch_x509_bundles().await.unwrap();
    tokio::time::timeout(WAIT, bundles.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let bad_key = X509BundlesResponse {
        crl: Vec::new(),
        bundles: [(
            "spiffe://example.org/x".to_owned(),
            agent.bundle()[0].clone(),
        )]
        .into(),
    };
    agent.inject_x509_bundles_response(bad_key);
    let err = tokio::time::timeout(WAIT, bundles.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(matches!(
        invalid_response(&err),
        ResponseError::TrustDomainKey { .. }
    ));
}

#[tokio::test]
async fn a_source_keeps_its_last_good_state_through_hostile_updates() {
    let agent = agent().await;
    let source = X509Source::builder()
        .endpoint(agent.endpoint())
        .first_update_timeout(WAIT)
        .build()
        .await
        .unwrap();
    let before = source.snapshot();
    let serial = before.svid().unwrap().serial_hex().to_owned();
    let generation = before.generation();
    drop(before);
    let good = real_entry(&agent);

    // Malformed messages on the open stream: all rejected whole.
    for garbage in [
        Garbage::UnparsableCertificate,
        Garbage::EmptyKey,
        Garbage::NonPkcs8Key,
        Garbage::UnparsableBundle,
    ] {
        agent.inject_garbage(StreamKind::X509Svid, garbage);
    }
    let mut wrong_id = good.clone();
    wrong_id.spiffe_id = "spiffe://example.org/other".into();
    agent.inject_x509_svid_response(response(vec![wrong_id], &[]));
    agent.inject_x509_svid_response(response(
        vec![good.clone()],
        &[("Bad Key", agent.bundle()[0].clone())],
    ));
    agent.inject_x509_svid_response(response(
        vec![good.clone()],
        &[("other.org", vec![0xff; 3 * 1024 * 1024])],
    ));

    // Then a message over the cap: the stream fails and the source reopens it.
    agent.inject_x509_svid_response(response(
        vec![good.clone()],
        &[("big.org", vec![0x30; 5 * 1024 * 1024])],
    ));
    agent
        .wait_for_stream_opens(StreamKind::X509Svid, 2, WAIT)
        .await
        .unwrap();

    let during = source.snapshot();
    assert_eq!(during.health(), &Health::Ready);
    assert_eq!(during.svid().unwrap().serial_hex(), serial);
    assert_eq!(
        during.generation(),
        generation,
        "a hostile update was applied"
    );
    drop(during);

    // Still watching: a real rotation arrives.
    let mut updates = source.updates();
    agent.rotate_svids().unwrap();
    tokio::time::timeout(WAIT, updates.changed())
        .await
        .unwrap()
        .unwrap();
    let after = source.snapshot();
    assert_eq!(
        after.svid().unwrap().serial_hex(),
        agent.svids()[0].serial_hex()
    );
    assert_ne!(after.svid().unwrap().serial_hex(), serial);
    drop(after);
    source.close().await;
}

#[tokio::test]
async fn every_svid_bundle_is_read_and_copies_for_one_trust_domain_must_agree() {
    let agent = agent().await;
    let client = client(&agent);
    let mut stream = open_watch(&client).await;
    let good = real_entry(&agent);

    // A second SVID of the same trust domain with an unreadable bundle.
    let mut garbage = good.clone();
    garbage.bundle = vec![0xff; 8];
    agent.inject_x509_svid_response(response(vec![good.clone(), garbage], &[]));
    let err = next_item(&mut stream).await.err().unwrap();
    let inner = invalid_response(&err);
    assert!(
        matches!(inner, ResponseError::SvidBundle { index: 2, .. }),
        "{inner:?}"
    );

    // A second SVID whose bundle is readable but names other authorities.
    let mut other = good.clone();
    other.bundle = agent.svids()[0].chain()[0].clone();
    agent.inject_x509_svid_response(response(vec![good.clone(), other], &[]));
    let err = next_item(&mut stream).await.err().unwrap();
    let inner = invalid_response(&err);
    assert!(
        matches!(inner, ResponseError::ConflictingBundles { index: 2, .. }),
        "{inner:?}"
    );
    assert_message(inner);

    // Identical copies are fine.
    agent.inject_x509_svid_response(response(vec![good.clone(), good.clone()], &[]));
    let context = next_item(&mut stream).await.unwrap();
    assert_eq!(context.svids.len(), 2);
    assert_eq!(context.bundles.len(), 1);
}

// ---- peers that are not a Workload API ----

/// A listener on a temporary socket that answers every connection with `reply` and closes it.
async fn not_a_grpc_peer(reply: &'static [u8]) -> (tempfile::TempDir, String) {
    use tokio::io::AsyncWriteExt;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-grpc.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let _ = conn.write_all(reply).await;
            // Hold the connection a moment, so the client reads the reply before the close.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let _ = conn.shutdown().await;
        }
    });
    (dir, format!("unix://{}", path.display()))
}

#[tokio::test]
async fn a_peer_that_is_not_a_grpc_server_gets_an_error_naming_its_address() {
    // Before, each of these read "status unknown: transport error", with no address.
    // (reply, whether it must be told apart as "not gRPC" from a lost connection)
    let peers: [(&'static [u8], bool); 3] = [
        (
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
            true,
        ),
        (&[0xff; 4096], true),
        // Closing at once reads like an agent going away: a lost connection is fine.
        (b"", false),
    ];
    for (reply, not_grpc) in peers {
        let (_dir, endpoint) = not_a_grpc_peer(reply).await;
        let client = WorkloadApiClient::new(Address::parse(&endpoint).unwrap()).unwrap();
        let err = tokio::time::timeout(WAIT, client.fetch_x509_context())
            .await
            .expect("the call ends")
            .unwrap_err();
        let expected = if not_grpc {
            matches!(err, WorkloadApiError::NotGrpc { .. })
        } else {
            matches!(
                err,
                WorkloadApiError::Connect { .. } | WorkloadApiError::NotGrpc { .. }
            )
        };
        assert!(expected, "{:?}: {err:?}", &reply[..reply.len().min(8)]);
        assert!(err.to_string().contains(&endpoint), "{err}");
        assert_eq!(err.retry(), RetryClass::Backoff);
        assert_message(&err);
    }
}
