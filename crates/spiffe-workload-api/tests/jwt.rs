//! The JWT calls of the client against the in-process dev agent: fetching and validating
//! JWT-SVIDs, JWT bundles and their rotation, deadlines (H1), bad answers (P5, P7).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use serde_json::json;
use spiffe_dev_agent::proto::{JwtBundlesResponse, Jwtsvid, JwtsvidResponse};
use spiffe_dev_agent::{
    CallKind, DevAgent, DevAgentHandle, Fault, Garbage, Identity, JwsAlgorithm, Revocation,
    StreamKind,
};
use spiffe_id::SpiffeId;
use spiffe_svid::{JwtSvid, JwtSvidError};
use spiffe_workload_api::{
    Address, JwtBundlesStream, ResponseError, RetryClass, WorkloadApiClient, WorkloadApiError,
};

/// Upper bound for anything a test waits for; reaching it is a failure, not a pass.
const PATIENCE: Duration = Duration::from_secs(10);
const WEB: &str = "spiffe://example.org/web";
const DB: &str = "spiffe://example.org/db";

async fn agent_with(builder: spiffe_dev_agent::DevAgentBuilder) -> DevAgentHandle {
    builder.start().await.unwrap()
}

async fn agent() -> DevAgentHandle {
    agent_with(DevAgent::builder().identity(Identity::new(WEB).with_hint("internal"))).await
}

fn client(agent: &DevAgentHandle) -> WorkloadApiClient {
    WorkloadApiClient::new(Address::parse(&agent.endpoint()).unwrap()).unwrap()
}

fn client_with_deadline(agent: &DevAgentHandle, deadline: Duration) -> WorkloadApiClient {
    WorkloadApiClient::builder()
        .address(Address::parse(&agent.endpoint()).unwrap())
        .deadline(deadline)
        .build()
        .unwrap()
}

async fn within<F: std::future::Future>(fut: F) -> F::Output {
    tokio::time::timeout(PATIENCE, fut)
        .await
        .expect("timed out")
}

async fn next_bundles(watch: &mut JwtBundlesStream) -> spiffe_bundle::JwtBundleSet {
    within(watch.next()).await.unwrap().unwrap()
}

fn key_ids(set: &spiffe_bundle::JwtBundleSet, td: &str) -> Vec<String> {
    let bundle = set.get(td).unwrap();
    bundle
        .authorities()
        .map(|a| a.key_id().to_owned())
        .collect()
}

fn invalid_response(err: WorkloadApiError) -> ResponseError {
    match err {
        WorkloadApiError::InvalidResponse(inner) => inner,
        other => panic!("expected an invalid response, got {other:?}"),
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ---------------------------------------------------------------------------------------------
// Fetching and validating.

#[tokio::test]
async fn a_fetched_jwt_svid_validates_locally_and_through_the_agent() {
    let agent = agent().await;
    let client = client(&agent);

    let svids = within(client.fetch_jwt_svids(&["spiffe://example.org/api"], None))
        .await
        .unwrap();
    assert_eq!(svids.len(), 1);
    let svid = &svids[0];
    assert_eq!(svid.spiffe_id().as_str(), WEB);
    assert_eq!(svid.hint(), Some("internal"));
    assert_eq!(svid.audience(), ["spiffe://example.org/api"]);
    assert_eq!(svid.key_id(), Some(agent.jwt_key_id().as_str()));
    assert_eq!(svid.algorithm(), JwsAlgorithm::Es256);
    let lifetime = svid.expiry().duration_since(svid.issued_at().unwrap());
    assert_eq!(lifetime.unwrap(), spiffe_dev_agent::DEFAULT_JWT_TTL);

    let bundles = within(client.fetch_jwt_bundles()).await.unwrap();
    let local = JwtSvid::validate(svid.token(), &bundles, &["spiffe://example.org/api"]).unwrap();
    assert_eq!(local.spiffe_id(), svid.spiffe_id());

    let (id, claims) = within(client.validate_jwt_svid("spiffe://example.org/api", svid.token()))
        .await
        .unwrap();
    assert_eq!(id.as_str(), WEB);
    assert_eq!(claims["sub"], WEB);
    assert_eq!(claims["aud"], "spiffe://example.org/api");
    // Numbers travel as doubles in the Struct and come back as integers.
    let exp = claims["exp"].as_u64().unwrap();
    assert_eq!(UNIX_EPOCH + Duration::from_secs(exp), svid.expiry());

    let stats = agent.stats();
    assert_eq!(stats.jwt_svid_calls, 1);
    assert_eq!(stats.validate_jwt_svid_calls, 1);
    assert_eq!(stats.jwt_bundles_opens, 1);
}

#[tokio::test]
async fn several_audiences_are_all_in_the_token() {
    let agent = agent().await;
    let svid = within(client(&agent).fetch_jwt_svid(&["b", "a"], None))
        .await
        .unwrap();

    assert_eq!(svid.audience(), ["b", "a"]);
    let bundle = agent.jwt_bundle();
    assert!(JwtSvid::validate(svid.token(), &bundle, &["a"]).is_ok());
    assert!(JwtSvid::validate(svid.token(), &bundle, &["c"]).is_err());
}

#[tokio::test]
async fn a_requested_spiffe_id_picks_one_svid_and_an_unknown_one_is_no_identity_issued() {
    let agent = agent_with(DevAgent::builder().identity(WEB).identity(DB)).await;
    let client = client(&agent);

    let all = within(client.fetch_jwt_svids(&["aud"], None))
        .await
        .unwrap();
    let ids: Vec<_> = all.iter().map(|s| s.spiffe_id().as_str()).collect();
    assert_eq!(ids, [WEB, DB]);

    let db = SpiffeId::parse(DB).unwrap();
    let picked = within(client.fetch_jwt_svids(&["aud"], Some(&db)))
        .await
        .unwrap();
    assert_eq!(picked.len(), 1);
    assert_eq!(picked[0].spiffe_id(), &db);

    let other = SpiffeId::parse("spiffe://example.org/nobody").unwrap();
    let err = within(client.fetch_jwt_svid(&["aud"], Some(&other)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, WorkloadApiError::NoIdentityIssued { .. }),
        "{err:?}"
    );
    assert_eq!(err.retry(), RetryClass::Slow);
}

#[tokio::test]
async fn a_revoked_identity_gets_no_jwt_svid() {
    let agent = agent().await;
    let client = client(&agent);
    agent.revoke(WEB, Revocation::EmptyUpdate).unwrap();

    let err = within(client.fetch_jwt_svids(&["aud"], None))
        .await
        .unwrap_err();

    assert!(
        matches!(err, WorkloadApiError::NoIdentityIssued { .. }),
        "{err:?}"
    );
    assert_eq!(agent.stats().permission_denials, 1);
}

#[tokio::test]
async fn an_empty_audience_or_token_is_refused_before_any_call() {
    let agent = agent().await;
    let client = client(&agent);

    let errors = [
        client
            .fetch_jwt_svids(&[], None)
            .await
            .map(drop)
            .unwrap_err(),
        client
            .fetch_jwt_svid(&["a", ""], None)
            .await
            .map(drop)
            .unwrap_err(),
        client
            .validate_jwt_svid("", "a.b.c")
            .await
            .map(drop)
            .unwrap_err(),
        client
            .validate_jwt_svid("aud", "")
            .await
            .map(drop)
            .unwrap_err(),
    ];

    assert!(matches!(errors[0], WorkloadApiError::EmptyAudience));
    assert!(matches!(errors[1], WorkloadApiError::EmptyAudience));
    assert!(matches!(errors[2], WorkloadApiError::EmptyAudience));
    assert!(matches!(errors[3], WorkloadApiError::EmptyToken));
    for err in &errors {
        assert_eq!(err.retry(), RetryClass::Never);
    }
    let stats = agent.stats();
    assert_eq!(stats.connections, 0, "a refused call dialled the agent");
    assert_eq!(stats.jwt_svid_calls + stats.validate_jwt_svid_calls, 0);
}

#[tokio::test]
async fn the_agent_refuses_to_validate_a_token_from_another_signer() {
    let agent = agent().await;
    let stranger = agent_with(DevAgent::builder().identity(WEB)).await;
    let forged = within(client(&stranger).fetch_jwt_svid(&["aud"], None))
        .await
        .unwrap();

    let err = within(client(&agent).validate_jwt_svid("aud", forged.token()))
        .await
        .unwrap_err();

    match &err {
        WorkloadApiError::InvalidArgument { message } => {
            assert!(message.contains("invalid jwt-svid"), "{message}");
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
    // And locally: the kid is unknown to this agent's bundle.
    let local = JwtSvid::validate(forged.token(), &agent.jwt_bundle(), &["aud"]).unwrap_err();
    assert!(
        matches!(local, JwtSvidError::UnknownKeyId { .. }),
        "{local:?}"
    );
}

#[tokio::test]
async fn tokens_of_every_rsa_and_ec_algorithm_validate_locally_and_through_the_agent() {
    for alg in [
        JwsAlgorithm::Rs256,
        JwsAlgorithm::Ps384,
        JwsAlgorithm::Es384,
    ] {
        let builder = DevAgent::builder().identity(WEB).jwt_algorithm(alg);
        let agent = agent_with(builder).await;
        let client = client(&agent);

        let svid = within(client.fetch_jwt_svid(&["aud"], None)).await.unwrap();
        assert_eq!(svid.algorithm(), alg);
        let bundles = within(client.fetch_jwt_bundles()).await.unwrap();

        assert!(
            JwtSvid::validate(svid.token(), &bundles, &["aud"]).is_ok(),
            "{alg}"
        );
        let (id, _) = within(client.validate_jwt_svid("aud", svid.token()))
            .await
            .unwrap();
        assert_eq!(id.as_str(), WEB, "{alg}");
    }
}

#[tokio::test]
async fn a_frozen_agent_returns_the_same_token_on_every_call() {
    // Support for scenario J7: the agent hands out one token again and again.
    let agent = agent().await;
    let client = client(&agent);
    agent.freeze_jwt_svids(true);

    let first = within(client.fetch_jwt_svid(&["a", "b"], None))
        .await
        .unwrap();
    let again = within(client.fetch_jwt_svid(&["b", "a"], None))
        .await
        .unwrap();
    let other = within(client.fetch_jwt_svid(&["c"], None)).await.unwrap();

    assert_eq!(first.token(), again.token());
    assert_ne!(first.token(), other.token());
    let stats = agent.stats();
    assert_eq!(stats.jwt_svid_calls, 3);
    assert_eq!(stats.jwt_svids_issued, 2);

    agent.freeze_jwt_svids(false);
    let fresh = within(client.fetch_jwt_svid(&["a", "b"], None))
        .await
        .unwrap();
    assert_eq!(agent.stats().jwt_svids_issued, 3);
    assert_eq!(fresh.audience(), ["a", "b"]);
}

#[tokio::test]
async fn a_scripted_raw_answer_serves_a_half_consumed_token_on_every_call() {
    // Scenario J7's agent: the same token, 52 % of its lifetime gone, on every call.
    let agent = agent().await;
    let now = now_secs();
    let token = agent
        .sign_jwt_claims(&json!({ "sub": WEB, "aud": "aud", "iat": now - 52, "exp": now + 48 }))
        .unwrap();
    let answer = JwtsvidResponse {
        svids: vec![Jwtsvid {
            spiffe_id: WEB.to_owned(),
            svid: token.clone(),
            hint: String::new(),
        }],
    };
    agent
        .script(CallKind::JwtSvid, Fault::RawJwtSvid(answer), 3)
        .unwrap();
    let client = client(&agent);

    for _ in 0..3 {
        let svid = within(client.fetch_jwt_svid(&["aud"], None)).await.unwrap();
        assert_eq!(svid.token(), token);
    }
    assert_eq!(agent.stats().jwt_svid_calls, 3);
    assert_eq!(agent.pending_faults(CallKind::JwtSvid), 0);
    let fresh = within(client.fetch_jwt_svid(&["aud"], None)).await.unwrap();
    assert_ne!(fresh.token(), token);
}

/// The agent answers the next JWT-SVID call with a token of these claims.
async fn answer_with_claims(agent: &DevAgentHandle, claims: serde_json::Value) {
    let answer = JwtsvidResponse {
        svids: vec![Jwtsvid {
            spiffe_id: WEB.to_owned(),
            svid: agent.sign_jwt_claims(&claims).unwrap(),
            hint: String::new(),
        }],
    };
    agent
        .script(CallKind::JwtSvid, Fault::RawJwtSvid(answer), 1)
        .unwrap();
}

#[tokio::test]
async fn a_token_without_a_requested_audience_is_refused_not_handed_out() {
    let agent = agent().await;
    let client = client(&agent);
    let now = now_secs();
    answer_with_claims(
        &agent,
        json!({ "sub": WEB, "aud": ["someone-else"], "iat": now, "exp": now + 300 }),
    )
    .await;

    let err = within(client.fetch_jwt_svid(&["aud"], None))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            WorkloadApiError::InvalidResponse(e)
                if matches!(e, ResponseError::UnrequestedAudience { index: 1, missing } if missing == "aud")
        ),
        "{err:?}"
    );
    let chain = format!("{err} | {}", std::error::Error::source(&err).unwrap());
    assert!(
        chain.contains("not for the requested audience \"aud\""),
        "{chain}"
    );
}

#[tokio::test]
async fn an_expired_or_not_yet_valid_token_is_refused_beyond_the_clock_skew() {
    let agent = agent().await;
    let client = client(&agent);
    let now = now_secs();

    // Expired an hour ago.
    answer_with_claims(
        &agent,
        json!({ "sub": WEB, "aud": "aud", "iat": now - 7200, "exp": now - 3600 }),
    )
    .await;
    let err = within(client.fetch_jwt_svid(&["aud"], None))
        .await
        .unwrap_err();
    let inner = std::error::Error::source(&err).unwrap().to_string();
    assert!(
        inner.contains("expired 3600 s ago") || inner.contains("expired 3601 s ago"),
        "{inner}"
    );

    // Not valid for another hour.
    answer_with_claims(
        &agent,
        json!({ "sub": WEB, "aud": "aud", "nbf": now + 3600, "iat": now, "exp": now + 7200 }),
    )
    .await;
    let err = within(client.fetch_jwt_svid(&["aud"], None))
        .await
        .unwrap_err();
    let inner = std::error::Error::source(&err).unwrap().to_string();
    assert!(inner.contains("(nbf)"), "{inner}");

    // Expired 10 s ago: within the allowed skew, handed out.
    answer_with_claims(
        &agent,
        json!({ "sub": WEB, "aud": "aud", "iat": now - 300, "exp": now - 10 }),
    )
    .await;
    within(client.fetch_jwt_svid(&["aud"], None)).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Rotation.

#[tokio::test]
async fn after_a_jwt_key_rotation_old_tokens_validate_during_grace_and_new_ones_carry_the_new_kid()
{
    let agent = agent().await;
    let client = client(&agent);
    let old_kid = agent.jwt_key_id();
    let old = within(client.fetch_jwt_svid(&["aud"], None)).await.unwrap();
    let mut watch = within(client.watch_jwt_bundles()).await.unwrap();
    assert_eq!(
        key_ids(&next_bundles(&mut watch).await, "example.org"),
        [old_kid.as_str()]
    );

    agent.rotate_jwt_key().unwrap();

    // The stream pushes the bundle with both keys.
    let rotated = next_bundles(&mut watch).await;
    let new_kid = agent.jwt_key_id();
    assert_ne!(new_kid, old_kid);
    let mut expected = vec![old_kid.clone(), new_kid.clone()];
    expected.sort();
    assert_eq!(key_ids(&rotated, "example.org"), expected);

    let new = within(client.fetch_jwt_svid(&["aud"], None)).await.unwrap();
    assert_eq!(new.key_id(), Some(new_kid.as_str()));
    for token in [old.token(), new.token()] {
        assert!(JwtSvid::validate(token, &rotated, &["aud"]).is_ok());
        assert!(within(client.validate_jwt_svid("aud", token)).await.is_ok());
    }

    agent.end_jwt_grace();

    let after = next_bundles(&mut watch).await;
    assert_eq!(key_ids(&after, "example.org"), [new_kid]);
    let err = JwtSvid::validate(old.token(), &after, &["aud"]).unwrap_err();
    assert!(matches!(err, JwtSvidError::UnknownKeyId { .. }), "{err:?}");
    let err = within(client.validate_jwt_svid("aud", old.token()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, WorkloadApiError::InvalidArgument { .. }),
        "{err:?}"
    );
    assert_eq!(agent.stats().jwt_key_rotations, 1);
}

#[tokio::test]
async fn an_old_jwt_key_leaves_the_bundle_by_itself_when_its_grace_ends() {
    let builder = DevAgent::builder()
        .identity(WEB)
        .jwt_grace(Duration::from_millis(300));
    let agent = agent_with(builder).await;
    let mut watch = within(client(&agent).watch_jwt_bundles()).await.unwrap();
    next_bundles(&mut watch).await;

    agent.rotate_jwt_key().unwrap();
    let started = Instant::now();

    assert_eq!(
        next_bundles(&mut watch)
            .await
            .get("example.org")
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        next_bundles(&mut watch)
            .await
            .get("example.org")
            .unwrap()
            .len(),
        1
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
}

// ---------------------------------------------------------------------------------------------
// Deadlines (scenario H1).

#[tokio::test]
async fn jwt_calls_fail_with_deadline_exceeded_when_the_agent_accepts_and_never_answers() {
    let agent = agent().await;
    agent.script(CallKind::JwtSvid, Fault::Hang, 1).unwrap();
    agent
        .script(CallKind::ValidateJwtSvid, Fault::Hang, 1)
        .unwrap();
    agent
        .script(StreamKind::JwtBundles, Fault::Hang, 1)
        .unwrap();
    let deadline = Duration::from_millis(300);
    let client = client_with_deadline(&agent, deadline);
    let token = agent
        .sign_jwt_claims(&json!({ "sub": WEB, "aud": "aud", "exp": now_secs() + 60 }))
        .unwrap();

    let started = Instant::now();
    let fetch = within(client.fetch_jwt_svid(&["aud"], None))
        .await
        .map(drop);
    let fetch_took = started.elapsed();
    let started = Instant::now();
    let validate = within(client.validate_jwt_svid("aud", &token))
        .await
        .map(drop);
    let validate_took = started.elapsed();
    let bundles = within(client.fetch_jwt_bundles()).await.map(drop);

    for (result, took) in [(fetch, fetch_took), (validate, validate_took)] {
        let err = result.unwrap_err();
        assert!(matches!(err, WorkloadApiError::DeadlineExceeded), "{err:?}");
        assert_eq!(err.retry(), RetryClass::Backoff);
        assert!(
            took >= deadline && took < Duration::from_secs(5),
            "{took:?}"
        );
    }
    let err = bundles.unwrap_err();
    assert!(matches!(err, WorkloadApiError::DeadlineExceeded), "{err:?}");
    let stats = agent.stats();
    assert_eq!(
        (stats.jwt_svid_calls, stats.validate_jwt_svid_calls),
        (1, 1)
    );
    assert_eq!(stats.faults_applied, 3);

    // The hang was one call each: the next ones are answered.
    assert!(within(client.fetch_jwt_svid(&["aud"], None)).await.is_ok());
    assert!(
        within(client.validate_jwt_svid("aud", &token))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_jwt_bundles_watch_carries_no_deadline() {
    let agent = agent().await;
    agent
        .script(
            StreamKind::JwtBundles,
            Fault::HoldFirst(Duration::from_millis(600)),
            1,
        )
        .unwrap();
    let client = client_with_deadline(&agent, Duration::from_millis(100));

    let mut watch = within(client.watch_jwt_bundles()).await.unwrap();

    let bundles = next_bundles(&mut watch).await;
    assert_eq!(bundles.get("example.org").unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Bad answers (scenarios P5, P7).

#[tokio::test]
async fn zero_jwt_svids_and_a_garbage_token_are_typed_invalid_responses() {
    let agent = agent().await;
    let client = client(&agent);
    agent
        .script(CallKind::JwtSvid, Fault::Garbage(Garbage::ZeroSvids), 1)
        .unwrap();
    agent
        .script(
            CallKind::JwtSvid,
            Fault::Garbage(Garbage::UnparsableToken),
            1,
        )
        .unwrap();

    let zero = within(client.fetch_jwt_svids(&["aud"], None))
        .await
        .unwrap_err();
    assert!(matches!(zero.retry(), RetryClass::Backoff));
    assert!(matches!(invalid_response(zero), ResponseError::NoJwtSvids));

    let garbage = within(client.fetch_jwt_svids(&["aud"], None))
        .await
        .unwrap_err();
    match invalid_response(garbage) {
        ResponseError::JwtSvid { index: 1, source } => {
            // Three dot-separated parts, none of them a JWT part.
            assert!(
                !matches!(source, JwtSvidError::Malformed { .. }),
                "{source:?}"
            );
        }
        other => panic!("expected a JwtSvid error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_jwt_svid_for_another_id_than_declared_or_requested_is_refused() {
    let agent = agent_with(DevAgent::builder().identity(WEB).identity(DB)).await;
    let client = client(&agent);
    let token = agent
        .sign_jwt_claims(&json!({ "sub": DB, "aud": "aud", "exp": now_secs() + 60 }))
        .unwrap();
    let entry = |declared: &str| JwtsvidResponse {
        svids: vec![Jwtsvid {
            spiffe_id: declared.to_owned(),
            svid: token.clone(),
            hint: String::new(),
        }],
    };
    agent
        .script(CallKind::JwtSvid, Fault::RawJwtSvid(entry(WEB)), 1)
        .unwrap();
    agent
        .script(CallKind::JwtSvid, Fault::RawJwtSvid(entry(DB)), 1)
        .unwrap();

    let mismatch = within(client.fetch_jwt_svids(&["aud"], None))
        .await
        .unwrap_err();
    assert!(matches!(
        invalid_response(mismatch),
        ResponseError::JwtSpiffeIdMismatch { index: 1, .. }
    ));

    let web = SpiffeId::parse(WEB).unwrap();
    let unrequested = within(client.fetch_jwt_svids(&["aud"], Some(&web)))
        .await
        .unwrap_err();
    match invalid_response(unrequested) {
        ResponseError::UnrequestedJwtSvid { index: 1, received } => {
            assert_eq!(received.as_str(), DB);
        }
        other => panic!("expected UnrequestedJwtSvid, got {other:?}"),
    }
}

#[tokio::test]
async fn empty_keys_and_empty_bytes_are_empty_bundles_whose_tokens_are_refused_with_no_keys() {
    // Scenario P7, through the agent's own federated bundles and through a raw answer.
    let agent = agent().await;
    agent
        .set_federated_jwt_bundle("keys.org", br#"{"keys":[]}"#)
        .unwrap();
    agent.set_federated_jwt_bundle("bytes.org", b"").unwrap();
    let client = client(&agent);

    let served = within(client.fetch_jwt_bundles()).await.unwrap();
    let raw = JwtBundlesResponse {
        bundles: HashMap::from([
            ("keys.org".to_owned(), br#"{"keys":[]}"#.to_vec()),
            ("spiffe://bytes.org".to_owned(), Vec::new()),
        ]),
    };
    agent
        .script(StreamKind::JwtBundles, Fault::RawJwtBundles(raw), 1)
        .unwrap();
    let scripted = within(client.fetch_jwt_bundles()).await.unwrap();

    for set in [&served, &scripted] {
        for td in ["keys.org", "bytes.org"] {
            assert!(set.get(td).unwrap().is_empty(), "{td}");
            let token = agent
                .sign_jwt_claims(&json!({
                    "sub": format!("spiffe://{td}/w"), "aud": "aud", "exp": now_secs() + 60
                }))
                .unwrap();
            let err = JwtSvid::validate(&token, set, &["aud"]).unwrap_err();
            assert!(matches!(err, JwtSvidError::NoKeys { .. }), "{td}: {err:?}");
            assert!(err.to_string().contains("no keys"), "{err}");
        }
    }
    assert_eq!(served.len(), 3, "own trust domain plus two federated ones");
}

#[tokio::test]
async fn a_jwt_bundles_watch_reports_an_unreadable_message_and_keeps_going() {
    let agent = agent().await;
    let client = client(&agent);
    let mut watch = within(client.watch_jwt_bundles()).await.unwrap();
    next_bundles(&mut watch).await;

    assert_eq!(
        agent.inject_garbage(StreamKind::JwtBundles, Garbage::UnparsableBundle),
        1
    );
    let err = within(watch.next()).await.unwrap().unwrap_err();
    match invalid_response(err) {
        ResponseError::Bundle { trust_domain, .. } => {
            assert_eq!(trust_domain.as_str(), "example.org")
        }
        other => panic!("expected a bundle error, got {other:?}"),
    }

    agent.rotate_jwt_key().unwrap();
    assert_eq!(
        next_bundles(&mut watch)
            .await
            .get("example.org")
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn a_scripted_status_on_a_jwt_call_is_classified_like_any_other() {
    let agent = agent().await;
    let client = client(&agent);
    let unavailable = Fault::status(spiffe_dev_agent::Code::Unavailable, "busy");
    agent
        .script(CallKind::ValidateJwtSvid, unavailable, 1)
        .unwrap();

    let err = within(client.validate_jwt_svid("aud", "a.b.c"))
        .await
        .unwrap_err();

    assert!(
        matches!(&err, WorkloadApiError::Unavailable { message } if message == "busy"),
        "{err:?}"
    );
    assert_eq!(err.retry(), RetryClass::Backoff);
}
