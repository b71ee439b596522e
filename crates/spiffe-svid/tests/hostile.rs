//! Hostile input for X.509-SVIDs: random bytes, truncations and bit flips of rcgen-made
//! chains and keys, oversized DER lengths, odd PEM, every limit at and one past its boundary,
//! verification of tampered chains, and round trips.
//!
//! Generation is deterministic (a fixed-seed xorshift) and bounded; every call must return
//! `Ok` or a typed error whose message is non-empty and lowercase-first.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::time::{Duration, Instant, SystemTime};

use rcgen::SanType;
use rustls::SignatureScheme;
use rustls_pki_types::CertificateDer;
use spiffe_bundle::{X509Bundle, X509BundleSet};
use spiffe_id::TrustDomain;
use spiffe_svid::{
    MAX_CHAIN_BYTES, MAX_CHAIN_LEN, MAX_KEY_BYTES, PemInput, ProfileError, X509Svid, X509SvidError,
    X509VerifyError, inspect_leaf, verify_x509_svid_chain,
};

use common::{Ca, intermediate, leaf, leaf_params, leaf_with, root};
use spiffe_test_support::{Rng, assert_message_ending_in_name as assert_message};

struct Fixture {
    root: Ca,
    chain: Vec<u8>,
    leaf: Vec<u8>,
    inter: Vec<u8>,
    key: Vec<u8>,
    bundle: X509Bundle,
}

fn fixture() -> Fixture {
    let root = root("root");
    let inter_ca = intermediate("inter", &root);
    let (leaf, key) = leaf("spiffe://example.org/web", &inter_ca);
    let inter = inter_ca.der().to_vec();
    let bundle =
        X509Bundle::from_der(TrustDomain::new("example.org").unwrap(), root.der()).unwrap();
    Fixture {
        chain: [leaf.clone(), inter.clone()].concat(),
        root,
        leaf,
        inter,
        key,
        bundle,
    }
}

fn check_from_der(chain: &[u8], key: &[u8]) -> Result<X509Svid, X509SvidError> {
    let result = X509Svid::from_der(chain, key);
    match &result {
        Ok(svid) => {
            assert_eq!(joined(svid.chain()), chain);
            assert!(!svid.spiffe_id().is_trust_domain_id());
        }
        Err(err) => assert_message(err),
    }
    result
}

fn check_verify(chain: &[CertificateDer<'_>], bundles: &X509BundleSet) -> bool {
    match verify_x509_svid_chain(chain, bundles, SystemTime::now()) {
        Ok(verified) => {
            assert_eq!(verified.path()[0].as_ref(), chain[0].as_ref());
            true
        }
        Err(err) => {
            assert_message(&err);
            false
        }
    }
}

fn joined(chain: &[CertificateDer<'_>]) -> Vec<u8> {
    chain.iter().flat_map(|c| c.iter().copied()).collect()
}

fn certs(ders: &[&[u8]]) -> Vec<CertificateDer<'static>> {
    ders.iter()
        .map(|d| CertificateDer::from(d.to_vec()))
        .collect()
}

fn set_of(bundle: &X509Bundle) -> X509BundleSet {
    std::iter::once(bundle.clone()).collect()
}

/// The P-256 verification algorithm of whichever backend the crate is built with.
#[cfg(feature = "aws-lc-rs")]
const P256_SHA256: &dyn rustls_pki_types::SignatureVerificationAlgorithm =
    webpki::aws_lc_rs::ECDSA_P256_SHA256;
#[cfg(not(feature = "aws-lc-rs"))]
const P256_SHA256: &dyn rustls_pki_types::SignatureVerificationAlgorithm =
    webpki::ring::ECDSA_P256_SHA256;

#[test]
fn random_bytes_are_refused_without_panic() {
    let f = fixture();
    let mut rng = Rng(0x5b1d_0000_0000_0001);
    for _ in 0..2000 {
        let len = rng.below(400);
        let mut junk = rng.bytes(len);
        if !junk.is_empty() && rng.below(2) == 0 {
            junk[0] = 0x30;
        }
        assert!(check_from_der(&junk, &f.key).is_err());
        assert!(check_from_der(&f.chain, &junk).is_err());
        assert!(X509Svid::from_pem(&junk, &junk).is_err());
        assert!(inspect_leaf(&CertificateDer::from(junk.clone())).is_err());
        let chain = certs(&[&junk]);
        assert!(!check_verify(&chain, &set_of(&f.bundle)));
    }
}

#[test]
fn every_truncation_of_the_chain_is_refused_except_after_the_leaf() {
    let f = fixture();
    for len in 0..f.chain.len() {
        match check_from_der(&f.chain[..len], &f.key) {
            Ok(svid) => {
                // Only the leaf alone is a complete chain short of the whole.
                assert_eq!(len, f.leaf.len());
                assert_eq!(svid.chain().len(), 1);
            }
            Err(err) => assert!(
                matches!(
                    err,
                    X509SvidError::EmptyChain
                        | X509SvidError::MalformedDer { .. }
                        | X509SvidError::InvalidCertificate { .. }
                ),
                "{len}: {err:?}"
            ),
        }
    }
    for len in 0..f.key.len() {
        assert!(check_from_der(&f.chain, &f.key[..len]).is_err(), "{len}");
    }
}

#[test]
fn bit_flips_anywhere_in_the_chain_never_verify() {
    let f = fixture();
    let bundles = set_of(&f.bundle);
    let honest = certs(&[&f.leaf, &f.inter]);
    assert!(check_verify(&honest, &bundles));

    let mut rng = Rng(0x5b1d_0000_0000_0002);
    for _ in 0..1500 {
        let mut leaf = f.leaf.clone();
        let mut inter = f.inter.clone();
        let target = if rng.below(3) == 0 {
            &mut inter
        } else {
            &mut leaf
        };
        let at = rng.below(target.len());
        target[at] ^= 1 << rng.below(8);

        let chain = certs(&[&leaf, &inter]);
        assert!(!check_verify(&chain, &bundles), "flip at {at} verified");
        // Reading does not check signatures, but must never panic.
        let _ = check_from_der(&[leaf, inter].concat(), &f.key);
    }
}

#[test]
fn a_tampered_private_key_is_never_accepted_for_the_leaf() {
    let f = fixture();
    let info = inspect_leaf(&CertificateDer::from(f.leaf.clone())).unwrap();
    assert_eq!(info.spiffe_id.as_str(), "spiffe://example.org/web");

    let mut rng = Rng(0x5b1d_0000_0000_0003);
    for _ in 0..600 {
        let mut key = f.key.clone();
        let at = rng.below(key.len());
        key[at] ^= 1 << rng.below(8);

        let Ok(svid) = check_from_der(&f.chain, &key) else {
            continue;
        };
        // Accepted: the key must really be the leaf's. Sign and verify with the leaf.
        let signer = svid
            .signing_key()
            .choose_scheme(&[SignatureScheme::ECDSA_NISTP256_SHA256])
            .unwrap();
        let message = b"hostile key check";
        let signature = signer.sign(message).unwrap();
        let ee = webpki::EndEntityCert::try_from(&svid.chain()[0]).unwrap();
        ee.verify_signature(P256_SHA256, message, &signature)
            .unwrap_or_else(|e| panic!("flip at {at} accepted a key that is not the leaf's: {e}"));
    }

    // A valid key of another leaf is a mismatch.
    let other = root("other");
    let (_, other_key) = leaf("spiffe://example.org/web", &other);
    assert!(matches!(
        check_from_der(&f.chain, &other_key),
        Err(X509SvidError::KeyMismatch)
    ));
}

#[test]
fn huge_der_length_fields_are_refused_fast() {
    let f = fixture();
    let cases: &[&[u8]] = &[
        &[0x30, 0x84, 0x80, 0x00, 0x00, 0x00, 1, 2, 3],
        &[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff],
        &[0x30, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        &[0x30, 0x80, 0x00, 0x00],
        &[0x30, 0x81, 0x01, 0x00],
    ];
    for input in cases {
        let started = Instant::now();
        let err = check_from_der(input, &f.key).unwrap_err();
        assert!(
            matches!(err, X509SvidError::MalformedDer { index: 1 }),
            "{err:?}"
        );
        let chain = [f.leaf.as_slice(), input].concat();
        let err = check_from_der(&chain, &f.key).unwrap_err();
        assert!(
            matches!(err, X509SvidError::MalformedDer { index: 2 }),
            "{err:?}"
        );
        assert!(started.elapsed() < Duration::from_millis(50));

        // As a key: refused by the backend, not a panic.
        assert!(check_from_der(&f.chain, input).is_err());
    }
}

#[test]
fn size_limits_hold_at_and_one_past_the_boundary() {
    let f = fixture();

    // Chain bytes: at the limit the input is read (and refused for its content).
    let at = vec![0u8; MAX_CHAIN_BYTES];
    assert!(matches!(
        check_from_der(&at, &f.key),
        Err(X509SvidError::MalformedDer { index: 1 })
    ));
    let past = vec![0u8; MAX_CHAIN_BYTES + 1];
    let started = Instant::now();
    assert!(matches!(
        check_from_der(&past, &f.key),
        Err(X509SvidError::TooLarge { input: PemInput::Certificates, len, max })
            if len == MAX_CHAIN_BYTES + 1 && max == MAX_CHAIN_BYTES
    ));
    assert!(matches!(
        X509Svid::from_pem(&past, b""),
        Err(X509SvidError::TooLarge {
            input: PemInput::Certificates,
            ..
        })
    ));
    assert!(matches!(
        X509Svid::from_pem(b"", &past),
        Err(X509SvidError::TooLarge {
            input: PemInput::PrivateKey,
            ..
        })
    ));
    assert!(started.elapsed() < Duration::from_millis(100));

    // Key bytes.
    let key_at = vec![0u8; MAX_KEY_BYTES];
    assert!(matches!(
        check_from_der(&f.chain, &key_at),
        Err(X509SvidError::InvalidPrivateKey { .. })
    ));
    let key_past = vec![0u8; MAX_KEY_BYTES + 1];
    assert!(matches!(
        check_from_der(&f.chain, &key_past),
        Err(X509SvidError::TooLarge {
            input: PemInput::PrivateKey,
            ..
        })
    ));

    // A PEM key block whose DER is at and past the key limit.
    let pem_key = |der: &[u8]| {
        let mut bundle_pem = pem_block("PRIVATE KEY", der);
        bundle_pem.insert_str(0, "\r\n");
        bundle_pem
    };
    let certs_pem = pem_chain(&[&f.leaf, &f.inter]);
    let err = X509Svid::from_pem(certs_pem.as_bytes(), pem_key(&key_at).as_bytes()).unwrap_err();
    assert!(
        matches!(err, X509SvidError::InvalidPrivateKey { .. }),
        "{err:?}"
    );
    let err = X509Svid::from_pem(certs_pem.as_bytes(), pem_key(&key_past).as_bytes()).unwrap_err();
    assert!(
        matches!(err, X509SvidError::TooLarge { input: PemInput::PrivateKey, len, max }
            if len == MAX_KEY_BYTES + 1 && max == MAX_KEY_BYTES),
        "{err:?}"
    );
}

#[test]
fn chain_length_limit_holds_at_and_one_past_the_boundary() {
    let f = fixture();
    let mut at: Vec<&[u8]> = vec![&f.leaf];
    at.extend(std::iter::repeat_n(f.inter.as_slice(), MAX_CHAIN_LEN - 1));
    let svid = check_from_der(&at.concat(), &f.key).unwrap();
    assert_eq!(svid.chain().len(), MAX_CHAIN_LEN);
    let pem_at = pem_chain(&at);
    let key_pem = pem_block("PRIVATE KEY", &f.key);
    assert_eq!(
        X509Svid::from_pem(pem_at.as_bytes(), key_pem.as_bytes())
            .unwrap()
            .chain()
            .len(),
        MAX_CHAIN_LEN
    );
    // Verification accepts the repeated intermediate and uses it once.
    let chain_at = certs(&at);
    assert!(check_verify(&chain_at, &set_of(&f.bundle)));

    let mut past = at.clone();
    past.push(&f.inter);
    assert!(matches!(
        check_from_der(&past.concat(), &f.key),
        Err(X509SvidError::TooManyCertificates { max: MAX_CHAIN_LEN })
    ));
    let pem_past = pem_chain(&past);
    assert!(matches!(
        X509Svid::from_pem(pem_past.as_bytes(), key_pem.as_bytes()),
        Err(X509SvidError::TooManyCertificates { .. })
    ));
    let err = verify_x509_svid_chain(&certs(&past), &f.bundle, SystemTime::now()).unwrap_err();
    assert!(
        matches!(err, X509VerifyError::TooManyCertificates { .. }),
        "{err:?}"
    );
    assert!(matches!(
        verify_x509_svid_chain(&[], &f.bundle, SystemTime::now()),
        Err(X509VerifyError::EmptyChain)
    ));

    // Many empty SEQUENCEs: counted before any is decoded.
    let many = [0x30u8, 0x00].repeat(100_000);
    assert!(matches!(
        check_from_der(&many, &f.key),
        Err(X509SvidError::TooManyCertificates { .. })
    ));
}

#[test]
fn spiffe_id_length_in_the_uri_san_is_checked_at_the_boundary() {
    let ca = root("long");
    let prefix = "spiffe://example.org/";
    let at = format!(
        "{prefix}{}",
        "a".repeat(spiffe_id::MAX_ID_LEN - prefix.len())
    );
    let past = format!("{at}b");

    let (leaf_at, key_at) = leaf(&at, &ca);
    assert_eq!(
        check_from_der(&leaf_at, &key_at)
            .unwrap()
            .spiffe_id()
            .as_str(),
        at
    );

    let (leaf_past, key_past) = leaf(&past, &ca);
    let err = check_from_der(&leaf_past, &key_past).unwrap_err();
    assert!(
        matches!(
            &err,
            X509SvidError::Profile(ProfileError::InvalidSpiffeId { .. })
        ),
        "{err:?}"
    );
}

#[test]
fn leaf_uri_sans_that_are_not_exactly_one_spiffe_id_are_refused() {
    let ca = root("sans");
    let cases: &[&[&str]] = &[
        &[],
        &["spiffe://example.org/a", "spiffe://example.org/b"],
        &["spiffe://example.org/a", "https://example.org/a"],
        &["SPIFFE://example.org/a"],
        &["spiffe://Example.org/a"],
        &["spiffe://example.org/a/../b"],
        &["spiffe://example.org/a%2Fb"],
        &["spiffe://example.org"],
        &["spiffe://example.org/"],
        &["spiffe://example.org/a?x"],
        &["spiffe://user@example.org/a"],
        &["spiffe://example.org:443/a"],
    ];
    for uris in cases {
        let mut params = leaf_params("spiffe://example.org/placeholder");
        params.subject_alt_names = uris
            .iter()
            .map(|u| SanType::URI((*u).try_into().unwrap()))
            .collect();
        params
            .subject_alt_names
            .push(SanType::DnsName("example.org".try_into().unwrap()));
        let (leaf_der, key) = leaf_with(params, &ca);
        let err = check_from_der(&leaf_der, &key).unwrap_err();
        assert!(
            matches!(err, X509SvidError::Profile(_)),
            "{uris:?}: {err:?}"
        );
        let err = inspect_leaf(&CertificateDer::from(leaf_der)).unwrap_err();
        assert!(
            matches!(err, X509VerifyError::Profile(_)),
            "{uris:?}: {err:?}"
        );
        assert_message(&err);
    }
}

fn pem_block(label: &str, der: &[u8]) -> String {
    let body = base64(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn pem_chain(ders: &[&[u8]]) -> String {
    ders.iter().map(|d| pem_block("CERTIFICATE", d)).collect()
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 0x3f) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn pem_with_crlf_mixed_order_and_surrounding_text_is_read() {
    let f = fixture();
    let certs_pem = pem_chain(&[&f.leaf, &f.inter]);
    let key_pem = pem_block("PRIVATE KEY", &f.key);

    let combined_key_first = format!("text before\n{key_pem}between\n{certs_pem}after");
    let crlf = combined_key_first.replace('\n', "\r\n");
    for input in [combined_key_first.as_str(), crlf.as_str()] {
        let svid = X509Svid::from_pem(input.as_bytes(), input.as_bytes()).unwrap();
        assert_eq!(joined(svid.chain()), f.chain);
        assert_eq!(svid.private_key().secret_der(), f.key.as_slice());
    }
}

#[test]
fn malformed_pem_is_refused_with_a_typed_error() {
    let f = fixture();
    let certs_pem = pem_chain(&[&f.leaf, &f.inter]);
    let key_pem = pem_block("PRIVATE KEY", &f.key);
    let sec1 = key_pem.replace("PRIVATE KEY", "EC PRIVATE KEY");

    let cases: Vec<(String, String, &str)> = vec![
        (certs_pem.clone(), format!("{key_pem}{key_pem}"), "two keys"),
        (certs_pem.clone(), sec1, "sec1 key"),
        (certs_pem.clone(), String::new(), "no key"),
        (certs_pem.clone(), "words only".into(), "no blocks"),
        (String::new(), key_pem.clone(), "no certificates"),
        (
            "words only".into(),
            key_pem.clone(),
            "no certificate blocks",
        ),
        (
            certs_pem.replacen("-----END CERTIFICATE-----\n", "", 1),
            key_pem.clone(),
            "missing end line",
        ),
        (
            certs_pem.replacen("MII", "MI!", 1),
            key_pem.clone(),
            "bad base64",
        ),
        (
            certs_pem.clone(),
            key_pem.replacen("MI", "M", 1),
            "shifted key body",
        ),
        (pem_chain(&[&f.inter, &f.leaf]), key_pem.clone(), "CA first"),
    ];
    for (certs_input, key_input, what) in cases {
        let err = X509Svid::from_pem(certs_input.as_bytes(), key_input.as_bytes())
            .map(|_| ())
            .unwrap_err();
        assert_message(&err);
        assert!(!format!("{err:?}").is_empty(), "{what}");
    }

    // Non-UTF-8 bytes sprinkled into the PEM text.
    let mut rng = Rng(0x5b1d_0000_0000_0004);
    for _ in 0..300 {
        let mut input = certs_pem.clone().into_bytes();
        let at = rng.below(input.len());
        input.insert(at, 0x80 | rng.next_u64() as u8);
        if let Err(err) = X509Svid::from_pem(&input, key_pem.as_bytes()) {
            assert_message(&err);
        }
    }
}

#[test]
fn verification_uses_only_the_leaf_trust_domain_bundle() {
    let f = fixture();
    let chain = certs(&[&f.leaf, &f.inter]);

    // The right root under another trust domain's name anchors nothing.
    let elsewhere =
        X509Bundle::from_der(TrustDomain::new("other.org").unwrap(), f.root.der()).unwrap();
    let err = verify_x509_svid_chain(&chain, &set_of(&elsewhere), SystemTime::now()).unwrap_err();
    assert!(matches!(err, X509VerifyError::NoBundle { .. }), "{err:?}");
    assert_message(&err);

    let empty = X509Bundle::new(TrustDomain::new("example.org").unwrap());
    let err = verify_x509_svid_chain(&chain, &empty, SystemTime::now()).unwrap_err();
    assert!(
        matches!(err, X509VerifyError::NoAuthorities { .. }),
        "{err:?}"
    );

    // Far past and far future.
    for at in [
        SystemTime::UNIX_EPOCH,
        SystemTime::now() + Duration::from_secs(1 << 40),
    ] {
        let err = verify_x509_svid_chain(&chain, &f.bundle, at).unwrap_err();
        assert!(
            matches!(err, X509VerifyError::PathValidation { .. }),
            "{err:?}"
        );
    }
}

#[test]
fn valid_svids_round_trip() {
    let f = fixture();
    let svid = check_from_der(&f.chain, &f.key).unwrap();
    let again = check_from_der(&joined(svid.chain()), svid.private_key().secret_der()).unwrap();
    assert_eq!(again.spiffe_id(), svid.spiffe_id());
    assert_eq!(again.serial_hex(), svid.serial_hex());
    assert_eq!(again.not_after(), svid.not_after());

    let certs_pem = pem_chain(&[&f.leaf, &f.inter]);
    let key_pem = pem_block("PRIVATE KEY", &f.key);
    let from_pem = X509Svid::from_pem(certs_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    assert_eq!(from_pem.chain(), svid.chain());

    let info = inspect_leaf(svid.leaf()).unwrap();
    assert_eq!(&info.spiffe_id, svid.spiffe_id());
    assert_eq!(info.serial_hex, svid.serial_hex());
    assert_eq!(info.not_after, svid.not_after());

    let verified = verify_x509_svid_chain(svid.chain(), &f.bundle, SystemTime::now()).unwrap();
    assert_eq!(verified.spiffe_id(), svid.spiffe_id());
}
