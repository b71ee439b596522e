//! What the agent serves when nothing is scripted: SVIDs, bundles, rotation, access rules.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests and their helpers: a failed unwrap is a failed test"
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use spiffe_dev_agent::proto::{JwtsvidRequest, WitBundlesRequest, WitsvidRequest, X509svidRequest};
use spiffe_dev_agent::{DevAgent, DevAgentError, Identity, StreamKind};
use tonic::{Code, Request};
use x509_cert::der::Decode;
use x509_cert::der::Encode;
use x509_cert::der::oid::AssociatedOid;
use x509_cert::der::oid::db::rfc5280::{ID_KP_CLIENT_AUTH, ID_KP_SERVER_AUTH};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName};

fn extension<T: AssociatedOid + for<'a> Decode<'a>>(cert: &x509_cert::Certificate) -> Option<T> {
    let extensions = cert.tbs_certificate.extensions.as_ref()?;
    let ext = extensions.iter().find(|e| e.extn_id == T::OID)?;
    Some(T::from_der(ext.extn_value.as_bytes()).unwrap())
}

#[tokio::test]
async fn issues_an_svid_with_the_configured_id_hint_and_x509_svid_profile() {
    let agent = DevAgent::builder()
        .identity(Identity::new("spiffe://example.org/web").with_hint("internal"))
        .intermediate(true)
        .start()
        .await
        .unwrap();
    let mut client = connect(&agent).await;

    let response = next(&mut open_svids(&mut client).await.unwrap())
        .await
        .unwrap()
        .unwrap();

    assert_eq!(response.svids.len(), 1);
    let svid = &response.svids[0];
    assert_eq!(svid.spiffe_id, "spiffe://example.org/web");
    assert_eq!(svid.hint, "internal");

    let chain = split_certs(&svid.x509_svid);
    assert_eq!(chain.len(), 2, "leaf then intermediate");
    let leaf = &chain[0];
    let san: SubjectAltName = extension(leaf).unwrap();
    let uris: Vec<String> = san
        .0
        .iter()
        .filter_map(|name| match name {
            GeneralName::UniformResourceIdentifier(uri) => Some(uri.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(uris, ["spiffe://example.org/web"]);
    let constraints: BasicConstraints = extension(leaf).unwrap();
    assert!(!constraints.ca);
    let usage: KeyUsage = extension(leaf).unwrap();
    assert!(usage.digital_signature() && !usage.key_cert_sign() && !usage.crl_sign());
    let eku: ExtendedKeyUsage = extension(leaf).unwrap();
    assert!(eku.0.contains(&ID_KP_SERVER_AUTH) && eku.0.contains(&ID_KP_CLIENT_AUTH));

    // The key is PKCS#8 and belongs to the leaf.
    let key = rcgen::KeyPair::try_from(svid.x509_svid_key.as_slice()).unwrap();
    let leaf_key = leaf
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    assert_eq!(key.public_key_raw(), leaf_key);

    // The bundle is the root, which signed the intermediate.
    let roots = split_certs(&svid.bundle);
    assert_eq!(roots.len(), 1);
    assert_eq!(
        chain[1].tbs_certificate.issuer,
        roots[0].tbs_certificate.subject
    );
    assert_eq!(roots[0].to_der().unwrap(), agent.bundle()[0]);
    assert_eq!(serial_hex(leaf), agent.svids()[0].serial_hex());
}

#[tokio::test]
async fn leaf_validity_starts_in_the_past_and_ends_after_the_ttl() {
    let ttl = Duration::from_secs(120);
    let agent = DevAgent::builder()
        .identity(Identity::new("spiffe://example.org/a").with_ttl(ttl))
        .start()
        .await
        .unwrap();

    let svid = &agent.svids()[0];
    let leaf = &split_certs(&svid.chain_der())[0];
    let validity = &leaf.tbs_certificate.validity;
    let now = std::time::SystemTime::now();

    assert!(validity.not_before.to_system_time() < now - Duration::from_secs(10));
    let not_after = validity.not_after.to_system_time();
    assert!(not_after > now + ttl - Duration::from_secs(5) && not_after <= now + ttl);
}

#[tokio::test]
async fn rotation_at_half_ttl_pushes_a_new_svid_on_the_open_stream() {
    let agent = DevAgent::builder()
        .identity(Identity::new("spiffe://example.org/a").with_ttl(Duration::from_secs(3)))
        .start()
        .await
        .unwrap();
    let mut client = connect(&agent).await;
    let mut stream = open_svids(&mut client).await.unwrap();
    let opened = Instant::now();

    let first = next(&mut stream).await.unwrap().unwrap();
    let second = next(&mut stream).await.unwrap().unwrap();

    let elapsed = opened.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1200),
        "rotated after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(2800),
        "rotated after {elapsed:?}"
    );
    assert_ne!(first.svids[0].x509_svid, second.svids[0].x509_svid);
    assert_eq!(agent.stats().svid_renewals, 1);
}

#[tokio::test]
async fn rotate_svids_pushes_new_certificates_with_new_serials() {
    let agent = DevAgent::builder()
        .identity("spiffe://example.org/a")
        .start()
        .await
        .unwrap();
    let mut client = connect(&agent).await;
    let mut stream = open_svids(&mut client).await.unwrap();
    let first = next(&mut stream).await.unwrap().unwrap();

    agent.rotate_svids().unwrap();
    let second = next(&mut stream).await.unwrap().unwrap();

    let serial = |r: &spiffe_dev_agent::proto::X509svidResponse| {
        serial_hex(&split_certs(&r.svids[0].x509_svid)[0])
    };
    assert_ne!(serial(&first), serial(&second));
    assert_eq!(serial(&second), agent.svids()[0].serial_hex());
}

#[tokio::test]
async fn rotate_ca_serves_both_roots_and_reissues_from_the_new_ca() {
    let agent = DevAgent::builder()
        .identity("spiffe://example.org/a")
        .start()
        .await
        .unwrap();
    let mut client = connect(&agent).await;
    let mut stream = open_svids(&mut client).await.unwrap();
    let before = next(&mut stream).await.unwrap().unwrap();
    let old_root = split_certs(&before.svids[0].bundle).remove(0);

    agent.rotate_ca().unwrap();
    let after = next(&mut stream).await.unwrap().unwrap();

    let roots = split_certs(&after.svids[0].bundle);
    assert_eq!(roots.len(), 2, "new and old root during the grace period");
    assert_eq!(roots[1], old_root);
    let leaf = &split_certs(&after.svids[0].x509_svid)[0];
    assert_eq!(
        leaf.tbs_certificate.issuer,
        roots[0].tbs_certificate.subject
    );
    assert_ne!(
        leaf.tbs_certificate.issuer,
        old_root.tbs_certificate.subject
    );

    agent.end_ca_grace();
    let settled = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(split_certs(&settled.svids[0].bundle), roots[..1]);
    assert_eq!(agent.stats().ca_rotations, 1);
}

#[tokio::test]
async fn old_root_leaves_the_bundle_when_the_grace_period_ends() {
    let agent = DevAgent::builder()
        .identity("spiffe://example.org/a")
        .ca_grace(Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    let mut client = connect(&agent).await;
    let mut stream = open_svids(&mut client).await.unwrap();
    next(&mut stream).await.unwrap().unwrap();

    agent.rotate_ca().unwrap();
    let during = next(&mut stream).await.unwrap().unwrap();
    let after = next(&mut stream).await.unwrap().unwrap();

    assert_eq!(split_certs(&during.svids[0].bundle).len(), 2);
    assert_eq!(split_certs(&after.svids[0].bundle).len(), 1);
    assert_eq!(
        during.svids[0].x509_svid, after.svids[0].x509_svid,
        "svid unchanged"
    );
}

#[tokio::test]
async fn prepared_ca_rotation_adds_the_next_root_before_any_svid_changes() {
    let agent = DevAgent::builder()
        .identity("spiffe://example.org/a")
        .start()
        .await
        .unwrap();
    let mut client = connect(&agent).await;
    let mut stream = open_svids(&mut client).await.unwrap();
    let before = next(&mut stream).await.unwrap().unwrap();

    agent.prepare_ca_rotation().unwrap();
    let announced = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(announced.svids[0].x509_svid, before.svids[0].x509_svid);
    let roots = split_certs(&announced.svids[0].bundle);
    assert_eq!(roots.len(), 2);

    agent.rotate_ca().unwrap();
    let rotated = next(&mut stream).await.unwrap().unwrap();
    let leaf = &split_certs(&rotated.svids[0].x509_svid)[0];
    assert_eq!(
        leaf.tbs_certificate.issuer, roots[1].tbs_certificate.subject,
        "announced ca signs"
    );
}

#[tokio::test]
async fn bundles_stream_serves_own_and_federated_bundles_and_follows_changes() {
    let other = DevAgent::builder()
        .trust_domain("other.org")
        .start()
        .await
        .unwrap();
    let agent = DevAgent::builder()
        .identity("spiffe://example.org/a")
        .start()
        .await
        .unwrap();
    let mut client = connect(&agent).await;
    let mut stream = open_bundles(&mut client).await.unwrap();

    let first = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(first.bundles.len(), 1);
    assert_eq!(
        first.bundles["spiffe://example.org"],
        agent.bundle().concat()
    );

    agent
        .set_federated_bundle("other.org", &other.bundle())
        .unwrap();
    let second = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(
        second.bundles["spiffe://other.org"],
        other.bundle().concat()
    );

    let mut svids = open_svids(&mut client).await.unwrap();
    let response = next(&mut svids).await.unwrap().unwrap();
    assert_eq!(
        response.federated_bundles["spiffe://other.org"],
        other.bundle().concat()
    );
    assert_eq!(agent.stats().x509_bundles_opens, 1);
}

#[tokio::test]
async fn call_without_exactly_one_security_header_is_rejected_and_counted() {
    let agent = DevAgent::builder()
        .identity("spiffe://example.org/a")
        .start()
        .await
        .unwrap();
    let mut client = connect(&agent).await;

    let missing = client
        .fetch_x509svid(Request::new(X509svidRequest {}))
        .await
        .unwrap_err();
    let mut twice = with_header(X509svidRequest {});
    twice
        .metadata_mut()
        .append("workload.spiffe.io", "true".parse().unwrap());
    let doubled = client.fetch_x509svid(twice).await.unwrap_err();
    let mut wrong = Request::new(X509svidRequest {});
    wrong
        .metadata_mut()
        .insert("workload.spiffe.io", "yes".parse().unwrap());
    let wrong = client.fetch_x509svid(wrong).await.unwrap_err();
    let jwt = client
        .fetch_jwtsvid(Request::new(JwtsvidRequest::default()))
        .await
        .unwrap_err();

    for status in [&missing, &doubled, &wrong, &jwt] {
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "security header missing from request");
    }
    let stats = agent.stats();
    assert_eq!(stats.header_rejections, 4);
    assert_eq!(
        stats.x509_svid_opens, 0,
        "rejected calls are not stream opens"
    );
}

#[tokio::test]
async fn wit_calls_are_unimplemented_and_jwt_calls_are_served() {
    let agent = DevAgent::builder()
        .identity("spiffe://example.org/a")
        .start()
        .await
        .unwrap();
    let mut client = connect(&agent).await;

    let jwt = client
        .fetch_jwtsvid(with_header(JwtsvidRequest::default()))
        .await
        .unwrap_err();
    let wit = client
        .fetch_witsvid(with_header(WitsvidRequest::default()))
        .await
        .unwrap_err();
    let wit_bundles = client
        .fetch_wit_bundles(with_header(WitBundlesRequest::default()))
        .await
        .unwrap_err();

    // No audience: refused as an argument error, not as an unknown call.
    assert_eq!(jwt.code(), Code::InvalidArgument);
    assert_eq!(wit.code(), Code::Unimplemented);
    assert_eq!(wit_bundles.code(), Code::Unimplemented);
    let stats = agent.stats();
    assert_eq!(stats.unimplemented_calls, 2);
    assert_eq!(stats.jwt_svid_calls, 1);
}

#[tokio::test]
async fn caller_with_another_uid_gets_permission_denied() {
    let uid = own_uid();
    let agent = DevAgent::builder()
        .identity(Identity::new("spiffe://example.org/other").with_uid(uid.wrapping_add(1)))
        .start()
        .await
        .unwrap();
    let mut client = connect(&agent).await;

    let status = open_svids(&mut client).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(status.message(), "no identity issued");
    let status = open_bundles(&mut client).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(agent.stats().permission_denials, 2);
}

#[tokio::test]
async fn caller_gets_only_the_identities_for_its_uid() {
    let uid = own_uid();
    let agent = DevAgent::builder()
        .identity(Identity::new("spiffe://example.org/mine").with_uid(uid))
        .identity(Identity::new("spiffe://example.org/theirs").with_uid(uid.wrapping_add(1)))
        .identity("spiffe://example.org/everyone")
        .start()
        .await
        .unwrap();
    let mut client = connect(&agent).await;

    let response = next(&mut open_svids(&mut client).await.unwrap())
        .await
        .unwrap()
        .unwrap();

    let ids: Vec<_> = response
        .svids
        .iter()
        .map(|s| s.spiffe_id.as_str())
        .collect();
    assert_eq!(
        ids,
        ["spiffe://example.org/mine", "spiffe://example.org/everyone"]
    );
}

#[tokio::test]
async fn agent_without_identities_denies_every_caller() {
    let agent = DevAgent::builder().start().await.unwrap();
    let mut client = connect(&agent).await;

    let status = open_svids(&mut client).await.unwrap_err();

    assert_eq!(status.code(), Code::PermissionDenied);
    let stats = agent
        .wait_for_stream_opens(StreamKind::X509Svid, 1, WAIT)
        .await
        .unwrap();
    assert_eq!(stats.open_x509_svid_streams, 0);
}

#[tokio::test]
async fn identity_added_at_run_time_reaches_open_streams() {
    let agent = DevAgent::builder()
        .identity("spiffe://example.org/a")
        .start()
        .await
        .unwrap();
    let mut client = connect(&agent).await;
    let mut stream = open_svids(&mut client).await.unwrap();
    next(&mut stream).await.unwrap().unwrap();

    agent.add_identity("spiffe://example.org/b").unwrap();
    let update = next(&mut stream).await.unwrap().unwrap();

    assert_eq!(update.svids.len(), 2);
    assert!(agent.add_identity("spiffe://example.org/").is_err());
}

#[tokio::test]
async fn start_rejects_bad_configuration_with_clear_errors() {
    let bad_td = DevAgent::builder()
        .trust_domain("Example.org")
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(bad_td, DevAgentError::InvalidTrustDomain { .. }),
        "{bad_td}"
    );

    let bad_id = DevAgent::builder()
        .identity("spiffe://example.org")
        .start()
        .await
        .unwrap_err();
    assert!(bad_id.to_string().contains("path is empty"), "{bad_id}");

    let short = Identity::new("spiffe://example.org/a").with_ttl(Duration::from_millis(10));
    let short = DevAgent::builder()
        .identity(short)
        .start()
        .await
        .unwrap_err();
    assert!(short.to_string().contains("ttl"), "{short}");

    let file = tempfile::NamedTempFile::new().unwrap();
    let occupied = DevAgent::builder()
        .socket_path(file.path())
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(occupied, DevAgentError::SocketPathOccupied(_)),
        "{occupied}"
    );
    assert!(file.path().exists(), "a regular file is never deleted");
}
