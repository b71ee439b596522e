//! The dev agent's JWT calls on the wire: token shape, arguments, identities, validation and
//! faults, through the raw generated client.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use serde_json::Value;
use spiffe_dev_agent::proto::{JwtsvidRequest, ValidateJwtsvidRequest};
use spiffe_dev_agent::{CallKind, DevAgent, DevAgentError, Fault, Garbage, Identity, StreamKind};
use tonic::Code;

const WEB: &str = "spiffe://example.org/web";

fn request(audience: &[&str], spiffe_id: &str) -> tonic::Request<JwtsvidRequest> {
    with_header(JwtsvidRequest {
        audience: audience.iter().map(|a| (*a).to_owned()).collect(),
        spiffe_id: spiffe_id.to_owned(),
    })
}

/// The decoded JSON of a token's header and claims.
fn decode(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut next = || {
        let bytes = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
        serde_json::from_slice::<Value>(&bytes).unwrap()
    };
    (next(), next())
}

#[tokio::test]
async fn tokens_carry_alg_kid_typ_and_sub_aud_exp_iat_with_the_identity_jwt_ttl() {
    let agent = DevAgent::builder()
        .identity(Identity::new(WEB).with_jwt_ttl(Duration::from_secs(42)))
        .start()
        .await
        .unwrap();
    let mut client = connect(&agent).await;

    let one = client
        .fetch_jwtsvid(request(&["a"], ""))
        .await
        .unwrap()
        .into_inner();
    let two = client
        .fetch_jwtsvid(request(&["a", "b"], ""))
        .await
        .unwrap()
        .into_inner();

    let (header, claims) = decode(&one.svids[0].svid);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["kid"], agent.jwt_key_id().as_str());
    assert_eq!(claims["sub"], WEB);
    assert_eq!(claims["aud"], "a", "one audience is a string");
    let (exp, iat) = (
        claims["exp"].as_u64().unwrap(),
        claims["iat"].as_u64().unwrap(),
    );
    assert_eq!(exp - iat, 42);
    let (_, claims) = decode(&two.svids[0].svid);
    assert_eq!(
        claims["aud"],
        serde_json::json!(["a", "b"]),
        "several are an array"
    );
    assert_eq!(one.svids[0].spiffe_id, WEB);
    assert_eq!(agent.stats().jwt_svids_issued, 2);
}

#[tokio::test]
async fn bad_arguments_are_invalid_argument_and_a_caller_without_identity_is_denied() {
    let agent = DevAgent::builder()
        .identity(Identity::new(WEB).with_uid(own_uid().wrapping_add(1)))
        .start()
        .await
        .unwrap();
    let mut client = connect(&agent).await;

    for (audience, id) in [
        (&[][..], ""),
        (&[""][..], ""),
        (&["a"][..], "not a spiffe id"),
    ] {
        let status = client
            .fetch_jwtsvid(request(audience, id))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{audience:?} {id:?}");
    }
    let denied = client.fetch_jwtsvid(request(&["a"], "")).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(denied.message(), "no identity issued");

    for (audience, svid) in [("", "a.b.c"), ("a", "")] {
        let message = ValidateJwtsvidRequest {
            audience: audience.to_owned(),
            svid: svid.to_owned(),
        };
        let status = client
            .validate_jwtsvid(with_header(message))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
    }
    let stats = agent.stats();
    assert_eq!(
        (stats.jwt_svid_calls, stats.validate_jwt_svid_calls),
        (4, 2)
    );
    assert_eq!(stats.permission_denials, 1);
}

#[tokio::test]
async fn validation_answers_the_spiffe_id_and_the_claims_as_a_struct() {
    let agent = DevAgent::builder().identity(WEB).start().await.unwrap();
    let mut client = connect(&agent).await;
    let token = client
        .fetch_jwtsvid(request(&["a"], ""))
        .await
        .unwrap()
        .into_inner()
        .svids[0]
        .svid
        .clone();

    let message = ValidateJwtsvidRequest {
        audience: "a".to_owned(),
        svid: token.clone(),
    };
    let answer = client
        .validate_jwtsvid(with_header(message))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(answer.spiffe_id, WEB);
    let fields = answer.claims.unwrap().fields;
    let kind = |name: &str| fields[name].kind.clone().unwrap();
    use prost_types::value::Kind;
    assert_eq!(kind("sub"), Kind::StringValue(WEB.to_owned()));
    assert!(matches!(kind("exp"), Kind::NumberValue(n) if n > 1.0e9));

    let wrong = ValidateJwtsvidRequest {
        audience: "b".to_owned(),
        svid: token,
    };
    let status = client
        .validate_jwtsvid(with_header(wrong))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("audience"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn jwt_faults_are_consumed_one_per_call_and_refused_where_they_do_not_fit() {
    let agent = DevAgent::builder().identity(WEB).start().await.unwrap();
    let mut client = connect(&agent).await;
    let denied = Fault::status(Code::Unavailable, "later");
    agent.script(CallKind::JwtSvid, denied, 2).unwrap();
    agent
        .script(CallKind::JwtSvid, Fault::Garbage(Garbage::ZeroSvids), 1)
        .unwrap();

    for _ in 0..2 {
        let status = client.fetch_jwtsvid(request(&["a"], "")).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable);
    }
    let zero = client
        .fetch_jwtsvid(request(&["a"], ""))
        .await
        .unwrap()
        .into_inner();
    assert!(zero.svids.is_empty());
    let normal = client
        .fetch_jwtsvid(request(&["a"], ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(normal.svids.len(), 1);
    assert_eq!(agent.stats().faults_applied, 3);

    let err = agent
        .script(CallKind::ValidateJwtSvid, Fault::EndAfterFirst, 1)
        .unwrap_err();
    assert!(
        matches!(err, DevAgentError::FaultNotApplicable(_)),
        "{err:?}"
    );
    let err = agent
        .script(
            StreamKind::X509Svid,
            Fault::Garbage(Garbage::UnparsableToken),
            1,
        )
        .unwrap_err();
    assert!(
        matches!(err, DevAgentError::FaultNotApplicable(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_federated_jwt_bundle_must_be_a_jwk_set_and_private_keys_are_refused() {
    let agent = DevAgent::builder().identity(WEB).start().await.unwrap();

    assert!(
        agent
            .set_federated_jwt_bundle("other.org", br#"{"keys":[]}"#)
            .is_ok()
    );
    for bad in [
        &b"not json"[..],
        br#"{"nokeys":1}"#,
        br#"{"keys":[{"kty":"EC","kid":"k","d":"x"}]}"#,
    ] {
        let err = agent
            .set_federated_jwt_bundle("other.org", bad)
            .unwrap_err();
        assert!(
            matches!(err, DevAgentError::InvalidJwtBundle { .. }),
            "{err:?}"
        );
    }
    let err = agent.set_federated_jwt_bundle("Bad TD", b"").unwrap_err();
    assert!(
        matches!(err, DevAgentError::InvalidTrustDomain { .. }),
        "{err:?}"
    );
    let err = agent
        .sign_jwt_claims(&serde_json::json!(["not", "an", "object"]))
        .unwrap_err();
    assert!(matches!(err, DevAgentError::InvalidClaims(_)), "{err:?}");
}
