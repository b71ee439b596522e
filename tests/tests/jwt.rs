//! JwtSource and BundleSource against the dev agent: the token cache (J5-J7), deadlines (H1),
//! validation across a JWT key rotation, and bundles of every kind.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{WAIT, within};
use serde_json::json;
use spiffe_dev_agent::proto::{Jwtsvid, JwtsvidResponse};
use spiffe_dev_agent::{CallKind, DevAgent, DevAgentHandle, Fault, Identity};
use spiffe_id::SpiffeId;
use spiffe_source::{BundleSource, JwtSource, SourceError};
use spiffe_workload_api::{Address, WorkloadApiClient, WorkloadApiError};

const WEB: &str = "spiffe://example.org/web";
const DB: &str = "spiffe://example.org/db";

async fn agent() -> DevAgentHandle {
    DevAgent::builder()
        .identity(Identity::new(WEB).with_jwt_ttl(Duration::from_secs(60)))
        .identity(Identity::new(DB).with_jwt_ttl(Duration::from_secs(60)))
        .start()
        .await
        .unwrap()
}

async fn source(agent: &DevAgentHandle) -> JwtSource {
    JwtSource::builder()
        .endpoint(agent.endpoint())
        .first_update_timeout(WAIT)
        .build()
        .await
        .unwrap()
}

fn web() -> SpiffeId {
    SpiffeId::parse(WEB).unwrap()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A response carrying one token the agent signs with its own key, with the given claims.
fn response_with(agent: &DevAgentHandle, claims: serde_json::Value) -> JwtsvidResponse {
    let token = agent.sign_jwt_claims(&claims).unwrap();
    JwtsvidResponse {
        svids: vec![Jwtsvid {
            spiffe_id: WEB.to_owned(),
            svid: token,
            hint: String::new(),
        }],
    }
}

fn calls(agent: &DevAgentHandle) -> u64 {
    agent.stats().jwt_svid_calls
}

/// J6: the audience is a set, so `[a, b]` and `[b, a]` share one token; another SPIFFE ID
/// is another token.
#[tokio::test]
async fn audience_order_shares_a_cached_token_and_another_id_does_not() {
    let agent = agent().await;
    let source = source(&agent).await;

    let first = source
        .fetch_jwt_svid_for(&web(), &["a", "b"])
        .await
        .unwrap();
    let again = source
        .fetch_jwt_svid_for(&web(), &["b", "a", "b"])
        .await
        .unwrap();
    assert_eq!(first.token(), again.token());
    assert_eq!(calls(&agent), 1);

    let db = SpiffeId::parse(DB).unwrap();
    let other = source.fetch_jwt_svid_for(&db, &["a", "b"]).await.unwrap();
    assert_eq!(other.spiffe_id(), &db);
    assert_eq!(calls(&agent), 2);
}

/// J7: the agent hands out the same token, already 52% consumed, on every call. The source
/// serves it and asks again at most once per retry period, not on every request.
#[tokio::test]
async fn a_token_past_half_life_is_served_and_asked_for_again_only_after_a_pause() {
    let agent = agent().await;
    let now = unix_now();
    let stale = response_with(
        &agent,
        json!({"sub": WEB, "aud": ["api"], "iat": now - 52, "exp": now + 48}),
    );
    agent
        .script(CallKind::JwtSvid, Fault::RawJwtSvid(stale.clone()), 100)
        .unwrap();
    let source = source(&agent).await;

    for _ in 0..50 {
        let svid = source.fetch_jwt_svid_for(&web(), &["api"]).await.unwrap();
        assert_eq!(svid.token(), stale.svids[0].svid);
    }
    assert_eq!(calls(&agent), 1, "asked on every request");

    // The first retry comes after half a second at the earliest (1 s step, jitter to half).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    source.fetch_jwt_svid_for(&web(), &["api"]).await.unwrap();
    assert_eq!(calls(&agent), 2);
    for _ in 0..20 {
        source.fetch_jwt_svid_for(&web(), &["api"]).await.unwrap();
    }
    assert_eq!(calls(&agent), 2, "the retry pause grows, it does not reset");
}

/// J7: a token carrying `jti` is meant to be used once: never cached.
#[tokio::test]
async fn a_token_with_a_jwt_id_is_never_cached() {
    let agent = agent().await;
    let now = unix_now();
    let once = response_with(
        &agent,
        json!({"sub": WEB, "aud": ["api"], "iat": now, "exp": now + 60, "jti": "once"}),
    );
    agent
        .script(CallKind::JwtSvid, Fault::RawJwtSvid(once), 3)
        .unwrap();
    let source = source(&agent).await;

    for expected in 1..=3 {
        source.fetch_jwt_svid_for(&web(), &["api"]).await.unwrap();
        assert_eq!(calls(&agent), expected);
    }
}

/// J5: a token without `iat` has no known lifetime: it is due for refresh at once, served
/// meanwhile, and nothing panics.
#[tokio::test]
async fn a_cached_token_without_issued_at_is_due_for_refresh_and_still_served() {
    let agent = agent().await;
    let now = unix_now();
    let no_iat = response_with(&agent, json!({"sub": WEB, "aud": ["api"], "exp": now + 60}));
    agent
        .script(CallKind::JwtSvid, Fault::RawJwtSvid(no_iat.clone()), 1)
        .unwrap();
    let source = source(&agent).await;

    let first = source.fetch_jwt_svid_for(&web(), &["api"]).await.unwrap();
    assert_eq!(first.token(), no_iat.svids[0].svid);
    assert!(first.issued_at().is_none());
    let second = source.fetch_jwt_svid_for(&web(), &["api"]).await.unwrap();
    assert_eq!(
        second.token(),
        first.token(),
        "served from the cache within the pause"
    );
    assert_eq!(calls(&agent), 1);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let refreshed = source.fetch_jwt_svid_for(&web(), &["api"]).await.unwrap();
    assert_eq!(calls(&agent), 2);
    assert!(
        refreshed.issued_at().is_some(),
        "the agent's own token has iat"
    );
}

/// A fresh token is served from the cache until half its life has passed, then refreshed.
#[tokio::test]
async fn a_fresh_token_is_cached_until_half_life_then_refreshed() {
    let agent = DevAgent::builder()
        .identity(Identity::new(WEB).with_jwt_ttl(Duration::from_secs(2)))
        .start()
        .await
        .unwrap();
    let source = source(&agent).await;

    let first = source.fetch_jwt_svid(&["api"]).await.unwrap();
    for _ in 0..10 {
        let again = source.fetch_jwt_svid(&["api"]).await.unwrap();
        assert_eq!(again.token(), first.token());
    }
    assert_eq!(calls(&agent), 1);

    // Half of a 2 s lifetime, and up to a tenth of it earlier: due after 1 s at the latest.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    source.fetch_jwt_svid(&["api"]).await.unwrap();
    assert_eq!(calls(&agent), 2);
}

/// Concurrent callers of one key share one agent call.
#[tokio::test]
async fn concurrent_callers_share_one_fetch() {
    let agent = agent().await;
    let source = source(&agent).await;

    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let source = source.clone();
            tokio::spawn(async move { source.fetch_jwt_svid_for(&web(), &["api"]).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(calls(&agent), 1);
}

/// J1 at the source: no audience is a caller error, and the agent is not asked.
#[tokio::test]
async fn an_empty_audience_is_refused_without_asking_the_agent() {
    let agent = agent().await;
    let source = source(&agent).await;
    let err = source.fetch_jwt_svid(&[]).await.unwrap_err();
    assert!(matches!(err, SourceError::EmptyAudience), "{err:?}");
    assert_eq!(calls(&agent), 0);
}

/// H1: the agent accepts FetchJWTSVID and never answers: the fetch fails with a deadline
/// error after the client's deadline, and no token is invented.
#[tokio::test]
async fn a_hung_fetch_fails_with_the_deadline_error() {
    let agent = agent().await;
    agent.script(CallKind::JwtSvid, Fault::Hang, 1).unwrap();
    let client = WorkloadApiClient::builder()
        .address(Address::parse(&agent.endpoint()).unwrap())
        .deadline(Duration::from_millis(300))
        .build()
        .unwrap();
    let source = JwtSource::builder().client(client).build().await.unwrap();

    let err = within("the deadline", source.fetch_jwt_svid(&["api"]))
        .await
        .unwrap_err();
    let SourceError::Fetch(cause) = &err else {
        panic!("expected a fetch error, got {err:?}");
    };
    assert!(
        matches!(**cause, WorkloadApiError::DeadlineExceeded),
        "{cause:?}"
    );

    // The next call is answered.
    source.fetch_jwt_svid(&["api"]).await.unwrap();
}

/// Tokens the agent issues validate against the source's bundles, before and after a JWT
/// key rotation (the old key stays in the bundle during its grace period).
#[tokio::test]
async fn tokens_validate_across_a_jwt_key_rotation() {
    let agent = agent().await;
    let caller = source(&agent).await;
    let service = source(&agent).await;
    let mut updates = service.updates();

    let old = caller.fetch_jwt_svid_for(&web(), &["api"]).await.unwrap();
    assert_eq!(
        service.validate(old.token(), &["api"]).unwrap().spiffe_id(),
        &web()
    );

    agent.rotate_jwt_key().unwrap();
    within("the new JWT bundle", updates.changed())
        .await
        .unwrap();
    let new_kid = agent.jwt_key_id();
    let bundles = service.jwt_bundles();
    let bundle = bundles.get("example.org").unwrap();
    assert!(bundle.authority(&new_kid).is_some());
    assert_eq!(bundle.len(), 2, "the old key stays for its grace period");
    drop(bundles);

    // The old token still validates; a token for a new audience is signed with the new key.
    assert!(service.validate(old.token(), &["api"]).is_ok());
    let new = caller.fetch_jwt_svid_for(&web(), &["other"]).await.unwrap();
    assert_eq!(new.key_id(), Some(new_kid.as_str()));
    assert!(service.validate(new.token(), &["other"]).is_ok());

    // Wrong audience: refused with the rule that failed.
    let err = service.validate(new.token(), &["api"]).unwrap_err();
    assert!(matches!(err, SourceError::InvalidToken(_)), "{err:?}");
}

/// A bundle source serves X.509 and JWT bundles, federated ones included, and notifies on
/// a JWT key rotation.
#[tokio::test]
async fn bundle_source_serves_every_kind_and_follows_changes() {
    let agent = agent().await;
    let foreign = DevAgent::builder()
        .trust_domain("other.org")
        .identity(Identity::new("spiffe://other.org/x"))
        .start()
        .await
        .unwrap();
    agent
        .set_federated_bundle("other.org", &foreign.bundle())
        .unwrap();
    let foreign_jwks = foreign.jwt_bundle().to_jwks();
    agent
        .set_federated_jwt_bundle("other.org", foreign_jwks.as_bytes())
        .unwrap();

    let source = BundleSource::builder()
        .endpoint(agent.endpoint())
        .first_update_timeout(WAIT)
        .build()
        .await
        .unwrap();
    assert!(source.x509_bundles().get("example.org").is_some());
    assert!(source.x509_bundles().get("other.org").is_some());
    assert!(source.jwt_bundles().get("example.org").is_some());
    assert!(source.jwt_bundles().get("other.org").is_some());

    let mut updates = source.updates();
    agent.rotate_jwt_key().unwrap();
    within("the rotated JWT bundle", updates.changed())
        .await
        .unwrap();
    let kid = agent.jwt_key_id();
    assert!(
        source
            .jwt_bundles()
            .get("example.org")
            .unwrap()
            .authority(&kid)
            .is_some()
    );

    source.close().await;
    assert!(matches!(updates.changed().await, Err(SourceError::Closed)));
}
