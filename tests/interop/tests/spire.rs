//! Our client and sources against a real SPIRE agent (`cargo xtask interop`).
//!
//! Each test starts its own deployment (see `spiffe_interop::Deployment`): the tests that
//! restart the agent or delete entries cannot disturb the others.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::future::Future;
use std::process::Command;
use std::time::{Duration, SystemTime};

use futures::StreamExt as _;
use spiffe_bundle::{JwtBundleSource as _, SpiffeBundle, X509BundleSource as _};
use spiffe_id::TrustDomain;
use spiffe_interop::{Deployment, Entry, FEDERATED_TRUST_DOMAIN, TRUST_DOMAIN, run_bounded};
use spiffe_source::{BundleSource, Health, JwtSource, SourceError, X509Source};
use spiffe_svid::{JwtSvid, verify_x509_svid_chain};
use spiffe_workload_api::{Address, WorkloadApiClient, WorkloadApiError};

/// Bound on every wait for the agent to push something.
const WAIT: Duration = Duration::from_secs(60);

fn id(path: &str) -> String {
    format!("spiffe://{TRUST_DOMAIN}{path}")
}

fn deploy(entries: &[Entry]) -> Deployment {
    tokio::task::block_in_place(|| Deployment::start(entries)).unwrap()
}

fn client(d: &Deployment) -> WorkloadApiClient {
    WorkloadApiClient::new(Address::parse(&d.endpoint()).unwrap()).unwrap()
}

async fn source(d: &Deployment, hint: Option<&str>) -> X509Source {
    let mut builder = X509Source::builder()
        .endpoint(d.endpoint())
        .first_update_timeout(WAIT);
    if let Some(hint) = hint {
        builder = builder.pick_hint(hint);
    }
    builder.build().await.unwrap()
}

async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?} waiting for {what}"))
}

fn serial(source: &X509Source) -> String {
    source.snapshot().svid().unwrap().serial_hex().to_owned()
}

/// Waits until the source serves a default SVID with another serial than `old`.
async fn rotated(source: &X509Source, old: &str) -> String {
    let mut updates = source.updates();
    bounded("a rotated SVID", async {
        loop {
            if let Ok(svid) = source.snapshot().svid()
                && svid.serial_hex() != old
            {
                return svid.serial_hex().to_owned();
            }
            updates.changed().await.unwrap();
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SPIRE: cargo xtask interop"]
async fn x509_source_first_update_is_a_spire_svid_that_verifies_against_its_bundle() {
    let d = deploy(&[Entry::new("/workload")]);
    let source = source(&d, None).await;

    let snapshot = source.snapshot();
    let svid = snapshot.svid().unwrap();
    assert_eq!(svid.spiffe_id().as_str(), id("/workload"));
    assert_eq!(snapshot.health(), &Health::Ready);
    let verified =
        verify_x509_svid_chain(svid.chain(), snapshot.bundles(), SystemTime::now()).unwrap();
    assert_eq!(verified.spiffe_id().as_str(), id("/workload"));
    assert!(svid.not_after() <= SystemTime::now() + Duration::from_secs(61));
    source.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SPIRE: cargo xtask interop"]
async fn rotation_arrives_on_the_open_stream_and_the_source_follows_it() {
    let d = deploy(&[Entry::new("/rotating").x509_ttl(20)]);
    let source = source(&d, None).await;
    let first = serial(&source);

    // One watch: the first message, then a rotated SVID on the same stream, no reopening.
    let mut stream = client(&d).watch_x509_context().await.unwrap();
    let initial = bounded("the first message", stream.next())
        .await
        .unwrap()
        .unwrap();
    let initial_serial = initial.svids[0].serial_hex().to_owned();
    let next = bounded("a rotation on the same stream", async {
        loop {
            let context = stream.next().await.expect("stream ended").unwrap();
            if context.svids[0].serial_hex() != initial_serial {
                return context;
            }
        }
    })
    .await;
    assert_eq!(next.svids[0].spiffe_id().as_str(), id("/rotating"));

    let second = rotated(&source, &first).await;
    assert_ne!(first, second);
    assert_eq!(source.snapshot().health(), &Health::Ready);
    assert!(source.stopped().is_none());
    source.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SPIRE: cargo xtask interop"]
async fn two_svids_are_picked_by_their_hints() {
    let d = deploy(&[
        Entry::new("/front").hint("front"),
        Entry::new("/back").hint("back"),
    ]);

    let context = client(&d).fetch_x509_context().await.unwrap();
    let mut hints: Vec<_> = context
        .svids
        .iter()
        .map(|s| {
            (
                s.hint().unwrap_or_default().to_owned(),
                s.spiffe_id().to_string(),
            )
        })
        .collect();
    hints.sort();
    assert_eq!(
        hints,
        [
            ("back".to_owned(), id("/back")),
            ("front".to_owned(), id("/front"))
        ]
    );

    for (hint, path) in [("front", "/front"), ("back", "/back")] {
        let source = source(&d, Some(hint)).await;
        let id_served = source.snapshot().svid().unwrap().spiffe_id().to_string();
        assert_eq!(id_served, id(path), "hint {hint}");
        source.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SPIRE: cargo xtask interop"]
async fn jwt_svid_from_spire_validates_locally_and_the_agent_agrees() {
    let d = deploy(&[Entry::new("/jwt")]);
    let client = client(&d);
    let want = spiffe_id::SpiffeId::parse(&id("/jwt")).unwrap();

    let svid = client
        .fetch_jwt_svid(&["interop"], Some(&want))
        .await
        .unwrap();
    assert_eq!(svid.spiffe_id(), &want);
    assert_eq!(svid.audience(), ["interop"]);
    assert!(svid.key_id().is_some(), "SPIRE tokens carry a kid");

    let bundles = client.fetch_jwt_bundles().await.unwrap();
    let local = JwtSvid::validate(svid.token(), &bundles, &["interop"]).unwrap();
    assert_eq!(local.spiffe_id(), &want);

    // The agent's ValidateJWTSVID and our validation agree on the same token ...
    let (remote_id, claims) = client
        .validate_jwt_svid("interop", svid.token())
        .await
        .unwrap();
    assert_eq!(remote_id, want);
    assert_eq!(
        claims.get("sub").and_then(|s| s.as_str()),
        Some(want.as_str())
    );
    assert_eq!(
        claims.get("exp").and_then(serde_json::Value::as_u64),
        local
            .claims()
            .get("exp")
            .and_then(serde_json::Value::as_u64)
    );

    // ... and on what they refuse: another audience, a signature that does not verify.
    let local_err = JwtSvid::validate(svid.token(), &bundles, &["elsewhere"]);
    let remote_err = client.validate_jwt_svid("elsewhere", svid.token()).await;
    assert!(local_err.is_err());
    assert!(
        matches!(remote_err, Err(WorkloadApiError::InvalidArgument { .. })),
        "{remote_err:?}"
    );

    let tampered = tamper_signature(svid.token());
    assert!(JwtSvid::validate(&tampered, &bundles, &["interop"]).is_err());
    let remote = client.validate_jwt_svid("interop", &tampered).await;
    assert!(
        matches!(remote, Err(WorkloadApiError::InvalidArgument { .. })),
        "{remote:?}"
    );

    // The source serves and validates the same way.
    let jwt = JwtSource::builder()
        .endpoint(d.endpoint())
        .first_update_timeout(WAIT)
        .build()
        .await
        .unwrap();
    let fetched = jwt.fetch_jwt_svid(&["interop"]).await.unwrap();
    assert_eq!(fetched.spiffe_id(), &want);
    jwt.validate(fetched.token(), &["interop"]).unwrap();
    assert!(matches!(
        jwt.validate(fetched.token(), &["elsewhere"]),
        Err(SourceError::InvalidToken(_))
    ));
    jwt.close().await;
}

/// The same token with the first character of its signature changed.
fn tamper_signature(token: &str) -> String {
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut chars: Vec<char> = signature.chars().collect();
    chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
    format!("{signed}.{}", chars.into_iter().collect::<String>())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SPIRE: cargo xtask interop"]
async fn x509_and_jwt_bundles_include_the_federated_trust_domain() {
    let d = deploy(&[Entry::new("/federating")]);
    let client = client(&d);
    let federated = SpiffeBundle::parse(
        TrustDomain::new(FEDERATED_TRUST_DOMAIN).unwrap(),
        d.federated_bundle_json().as_bytes(),
    )
    .unwrap();

    let context = client.fetch_x509_context().await.unwrap();
    let x509 = context.bundles.x509_bundle(FEDERATED_TRUST_DOMAIN).unwrap();
    assert!(x509.same_authorities(federated.x509_bundle()));
    assert!(context.bundles.x509_bundle(TRUST_DOMAIN).is_some());

    let bundles = client.fetch_x509_bundles().await.unwrap();
    assert_eq!(bundles.len(), 2);
    let fetched = bundles.x509_bundle(FEDERATED_TRUST_DOMAIN).unwrap();
    assert!(fetched.same_authorities(federated.x509_bundle()));

    let jwt_bundles = client.fetch_jwt_bundles().await.unwrap();
    let jwt = jwt_bundles.jwt_bundle(FEDERATED_TRUST_DOMAIN).unwrap();
    assert_eq!(jwt, federated.jwt_bundle());
    assert!(!jwt.is_empty());
    assert!(!jwt_bundles.jwt_bundle(TRUST_DOMAIN).unwrap().is_empty());

    let source = BundleSource::builder()
        .endpoint(d.endpoint())
        .first_update_timeout(WAIT)
        .build()
        .await
        .unwrap();
    assert!(
        source
            .x509_bundles()
            .x509_bundle(FEDERATED_TRUST_DOMAIN)
            .is_some()
    );
    assert!(
        source
            .jwt_bundles()
            .jwt_bundle(FEDERATED_TRUST_DOMAIN)
            .is_some()
    );
    source.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SPIRE: cargo xtask interop"]
async fn source_keeps_serving_while_the_agent_restarts_and_resumes_after() {
    let mut d = deploy(&[Entry::new("/steady").x509_ttl(30)]);
    let source = source(&d, None).await;
    let before = serial(&source);

    tokio::task::block_in_place(|| d.restart_agent(Duration::from_secs(3))).unwrap();
    // While the agent was away and right after: the last good SVID, still healthy.
    assert_eq!(source.snapshot().health(), &Health::Ready);
    assert!(source.snapshot().svid().is_ok());

    // After the restart the source is on a new stream and follows the next rotation.
    let after = rotated(&source, &before).await;
    assert_ne!(before, after);
    assert!(d.agent_running());
    assert!(source.stopped().is_none());
    source.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SPIRE: cargo xtask interop"]
async fn deleted_entry_makes_the_source_report_the_identity_revoked() {
    let d = deploy(&[Entry::new("/doomed")]);
    let source = source(&d, None).await;
    assert!(source.snapshot().svid().is_ok());

    tokio::task::block_in_place(|| d.delete_entries_of(&id("/doomed"))).unwrap();
    let mut updates = source.updates();
    bounded("the source to report revocation", async {
        while source.snapshot().health() != &Health::Revoked {
            updates.changed().await.unwrap();
        }
    })
    .await;
    assert!(matches!(
        source.snapshot().svid(),
        Err(SourceError::Revoked)
    ));
    // Bundles stay available after revocation.
    assert!(source.snapshot().bundle(TRUST_DOMAIN).is_some());
    source.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SPIRE: cargo xtask interop"]
async fn mtls_demo_runs_against_the_spire_agent() {
    let d = deploy(&[
        Entry::new("/demo/server").hint("server"),
        Entry::new("/demo/client").hint("client"),
        Entry::new("/demo/rogue").hint("rogue"),
    ]);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = tokio::task::block_in_place(|| {
        run_bounded(
            Command::new(cargo)
                .args([
                    "run",
                    "-q",
                    "-p",
                    "spiffe-examples",
                    "--example",
                    "mtls-demo",
                ])
                .args(["--", "--seconds", "10"])
                .env("SPIFFE_ENDPOINT_SOCKET", d.endpoint()),
            Duration::from_secs(600),
        )
    });
    let out = out.unwrap_or_else(|e| panic!("mtls-demo failed against SPIRE: {e}"));
    assert!(!out.trim().is_empty(), "the demo printed no summary");
}
