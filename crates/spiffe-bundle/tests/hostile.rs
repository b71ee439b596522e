//! Hostile input for X.509 bundles: random bytes, truncations and bit flips of rcgen-made
//! certificates, oversized and non-canonical DER lengths, deep nesting, odd PEM, every limit
//! at and one past its boundary, and round trips.
//!
//! Generation is deterministic (a fixed-seed xorshift) and bounded; every call must return
//! `Ok` or a typed error whose message is non-empty and lowercase-first.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::error::Error as _;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls_pki_types::CertificateDer;
use spiffe_bundle::der::{SplitError, split_certificates};
use spiffe_bundle::{BundleError, MAX_AUTHORITIES, MAX_BUNDLE_BYTES, X509Bundle};
use spiffe_id::TrustDomain;
use spiffe_test_support::{Rng, assert_message};

fn td() -> TrustDomain {
    TrustDomain::new("example.org").unwrap()
}

fn ca_cert(name: &str) -> Vec<u8> {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.self_signed(&key).unwrap().der().to_vec()
}

fn pem_of(der: &[u8]) -> String {
    let mut bundle = X509Bundle::new(td());
    bundle.add_authority(CertificateDer::from(der)).unwrap();
    bundle.to_pem()
}

/// Both parsers; an accepted bundle must give its bytes back unchanged.
fn check_der(input: &[u8]) -> Result<X509Bundle, BundleError> {
    let result = X509Bundle::from_der(td(), input);
    match &result {
        Ok(bundle) => assert_eq!(bundle.to_der(), input),
        Err(err) => assert_message(err),
    }
    result
}

fn check_pem(input: &[u8]) -> Result<X509Bundle, BundleError> {
    let result = X509Bundle::from_pem(td(), input);
    match &result {
        Ok(bundle) => {
            let again = X509Bundle::from_pem(td(), bundle.to_pem().as_bytes()).unwrap();
            assert_eq!(&again, bundle);
        }
        Err(err) => assert_message(err),
    }
    result
}

#[test]
fn random_bytes_are_refused_without_panic() {
    let mut rng = Rng(0xb0_0d1e_0000_0001);
    for _ in 0..3000 {
        let len = rng.below(300);
        let mut input = rng.bytes(len);
        // Half the cases start like a DER SEQUENCE, to get past the first byte.
        if len > 0 && rng.below(2) == 0 {
            input[0] = 0x30;
        }
        assert!(check_der(&input).is_err() || input.is_empty());
        assert!(check_pem(&input).is_err() || input.is_empty());
    }
}

#[test]
fn every_truncation_of_a_two_certificate_bundle_is_refused_except_at_boundaries() {
    let a = ca_cert("a");
    let b = ca_cert("b");
    let both = [a.clone(), b.clone()].concat();

    for len in 0..=both.len() {
        let result = check_der(&both[..len]);
        let boundary = len == 0 || len == a.len() || len == both.len();
        match result {
            Ok(bundle) => {
                assert!(boundary, "truncation at {len} accepted");
                let expected = usize::from(len > 0) + usize::from(len == both.len());
                assert_eq!(bundle.authorities().len(), expected);
            }
            Err(err) => {
                assert!(!boundary, "boundary {len} refused: {err}");
                let index = if len < a.len() { 1 } else { 2 };
                assert!(
                    matches!(
                        err,
                        BundleError::MalformedDer { index: i }
                            | BundleError::InvalidCertificate { index: i, .. }
                            if i == index
                    ),
                    "{len}: {err:?}"
                );
            }
        }
    }

    // PEM: cutting the text anywhere inside the block is never a certificate.
    let pem = pem_of(&a);
    let end = pem.find("-----END").unwrap();
    for len in (1..end).step_by(7) {
        assert!(check_pem(&pem.as_bytes()[..len]).is_err(), "{len}");
    }
}

#[test]
fn bit_flips_give_an_error_or_the_flipped_bytes_back() {
    let cert = ca_cert("flip");
    let mut rng = Rng(0xb0_0d1e_0000_0002);
    let mut refused = 0;
    for _ in 0..1500 {
        let mut input = cert.clone();
        let at = rng.below(input.len());
        input[at] ^= 1 << rng.below(8);
        // check_der asserts that an accepted bundle holds exactly the flipped bytes.
        if check_der(&input).is_err() {
            refused += 1;
        }
    }
    // The structure bytes are a good share of a certificate: flips there must be noticed.
    assert!(refused > 50, "only {refused} of 1500 flips refused");
}

#[test]
fn huge_der_length_fields_are_refused_without_allocating() {
    let cases: &[&[u8]] = &[
        // 2^31 bytes claimed, 4 given.
        &[0x30, 0x84, 0x80, 0x00, 0x00, 0x00, 1, 2, 3, 4],
        // 2^31 - 1 bytes claimed.
        &[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0],
        // Eight length bytes: beyond any length DER allows here.
        &[0x30, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        // 127 length bytes claimed.
        &[0x30, 0xff, 0x01],
        // Indefinite length (BER only).
        &[0x30, 0x80, 0x02, 0x01, 0x00, 0x00, 0x00],
        // Non-minimal length: 0x81 0x05 must be written as 0x05.
        &[0x30, 0x81, 0x05, 0, 0, 0, 0, 0],
        // Long form with a leading zero byte.
        &[0x30, 0x82, 0x00, 0x03, 0, 0, 0],
        // Length byte missing.
        &[0x30],
        // High tag number form.
        &[0x3f, 0x81, 0x00, 0x00],
    ];
    for (i, input) in cases.iter().enumerate() {
        let started = Instant::now();
        let err = check_der(input).unwrap_err();
        assert!(
            matches!(err, BundleError::MalformedDer { index: 1 }),
            "case {i}: {err:?}"
        );
        assert!(started.elapsed() < Duration::from_millis(50), "case {i}");
    }
}

#[test]
fn a_certificate_re_encoded_with_a_non_minimal_length_is_refused() {
    // A real certificate whose outer length is written in one byte more than needed: BER,
    // not DER. Accepting it would let two byte strings stand for one certificate.
    let cert = ca_cert("ber");
    assert_eq!(cert[1], 0x82, "test assumes a two-byte long-form length");
    let mut ber = vec![0x30, 0x83, 0x00];
    ber.extend_from_slice(&cert[2..]);
    assert!(check_der(&ber).is_err());

    // The same inside the PEM body.
    let mut bundle = X509Bundle::new(td());
    let err = bundle.add_authority(CertificateDer::from(ber)).unwrap_err();
    assert!(matches!(
        err,
        BundleError::InvalidCertificate { index: 1, .. }
    ));
    assert!(bundle.is_empty());
}

#[test]
fn trailing_bytes_after_a_certificate_are_refused() {
    let cert = ca_cert("tail");
    for tail in [&[0x00][..], &[0x30][..], &[0x30, 0x00][..], b"\n"] {
        let input = [cert.as_slice(), tail].concat();
        let err = check_der(&input).unwrap_err();
        assert!(
            matches!(
                err,
                BundleError::MalformedDer { index: 2 }
                    | BundleError::InvalidCertificate { index: 2, .. }
            ),
            "{tail:?}: {err:?}"
        );
    }
}

#[test]
fn deeply_nested_sequences_are_refused_without_stack_overflow() {
    // 100 000 nested SEQUENCE headers, each with a four-byte length: about 600 KiB.
    let depth = 100_000;
    let mut input = Vec::with_capacity(depth * 6);
    for level in 0..depth {
        let inner = u32::try_from((depth - level - 1) * 6).unwrap();
        input.push(0x30);
        input.push(0x84);
        input.extend_from_slice(&inner.to_be_bytes());
    }
    assert!(input.len() < MAX_BUNDLE_BYTES);
    let started = Instant::now();
    assert!(check_der(&input).is_err());
    assert!(started.elapsed() < Duration::from_secs(2));

    // The same shape with minimal lengths, as the outer element of a PEM block.
    let mut bundle = X509Bundle::new(td());
    assert!(bundle.add_authority(CertificateDer::from(input)).is_err());
}

#[test]
fn size_cap_holds_at_and_one_past_the_boundary() {
    // At the cap the input is parsed (and refused for what it is); past it, refused unread.
    let zeros = vec![0u8; MAX_BUNDLE_BYTES];
    assert!(matches!(
        check_der(&zeros),
        Err(BundleError::MalformedDer { index: 1 })
    ));

    let started = Instant::now();
    let past = vec![0x30u8; MAX_BUNDLE_BYTES + 1];
    let err = check_der(&past).unwrap_err();
    assert!(
        matches!(err, BundleError::TooLarge { len, max } if len == MAX_BUNDLE_BYTES + 1 && max == MAX_BUNDLE_BYTES),
        "{err:?}"
    );
    let err = check_pem(&past).unwrap_err();
    assert!(matches!(err, BundleError::TooLarge { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(100));

    // PEM at the cap: whitespace and text only, read to the end and found empty.
    let mut text = vec![b'\n'; MAX_BUNDLE_BYTES];
    text[..5].copy_from_slice(b"hello");
    let started = Instant::now();
    assert!(matches!(check_pem(&text), Err(BundleError::NoPemBlocks)));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn authority_count_limit_holds_at_and_one_past_the_boundary() {
    let cert = ca_cert("many");

    // DER: the count is bounded before anything is decoded.
    let empty_sequences = [0x30u8, 0x00].repeat(MAX_AUTHORITIES + 1);
    assert!(matches!(
        split_certificates(&empty_sequences, MAX_AUTHORITIES),
        Err(SplitError::TooMany {
            max: MAX_AUTHORITIES
        })
    ));
    assert!(matches!(
        check_der(&empty_sequences),
        Err(BundleError::TooManyAuthorities {
            max: MAX_AUTHORITIES
        })
    ));
    let at_limit = &empty_sequences[..2 * MAX_AUTHORITIES];
    assert!(matches!(
        check_der(at_limit),
        Err(BundleError::InvalidCertificate { index: 1, .. })
    ));

    // Real certificates: exactly the limit is fine, one more is refused.
    let der_at = cert.repeat(MAX_AUTHORITIES);
    assert!(der_at.len() <= MAX_BUNDLE_BYTES);
    let bundle = check_der(&der_at).unwrap();
    assert_eq!(bundle.authorities().len(), MAX_AUTHORITIES);
    let der_past = cert.repeat(MAX_AUTHORITIES + 1);
    assert!(matches!(
        check_der(&der_past),
        Err(BundleError::TooManyAuthorities { .. })
    ));

    let pem = pem_of(&cert);
    let pem_at = pem.repeat(MAX_AUTHORITIES);
    assert_eq!(
        X509Bundle::from_pem(td(), pem_at.as_bytes())
            .unwrap()
            .authorities()
            .len(),
        MAX_AUTHORITIES
    );
    let pem_past = pem.repeat(MAX_AUTHORITIES + 1);
    assert!(matches!(
        X509Bundle::from_pem(td(), pem_past.as_bytes()),
        Err(BundleError::TooManyAuthorities { .. })
    ));

    let mut full = bundle;
    let err = full
        .add_authority(CertificateDer::from(cert.as_slice()))
        .unwrap_err();
    assert!(matches!(err, BundleError::TooManyAuthorities { .. }));
    assert_eq!(full.authorities().len(), MAX_AUTHORITIES);
}

#[test]
fn pem_with_crlf_indentation_and_surrounding_text_is_read() {
    let cert = ca_cert("pem");
    let pem = pem_of(&cert);

    let crlf = pem.replace('\n', "\r\n");
    let with_text = format!("subject=CN=pem\nissuer=CN=pem\n{pem}\ntrailing words\n");
    for input in [crlf.as_str(), with_text.as_str()] {
        let bundle = check_pem(input.as_bytes()).unwrap();
        assert_eq!(bundle.to_der(), cert, "{input:?}");
    }
}

#[test]
fn malformed_pem_is_refused_with_a_typed_error() {
    let cert = ca_cert("pem");
    let pem = pem_of(&cert);
    let body_start = pem.find('\n').unwrap() + 1;

    let cases = [
        (
            "no end line",
            pem.replace("-----END CERTIFICATE-----\n", ""),
        ),
        (
            "mismatched end label",
            pem.replace("END CERTIFICATE", "END PRIVATE KEY"),
        ),
        (
            "bad base64 character",
            format!("{}!{}", &pem[..body_start], &pem[body_start + 1..]),
        ),
        (
            "body is not a certificate",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_owned(),
        ),
        (
            "empty body",
            "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".to_owned(),
        ),
        (
            "private key block",
            pem.replace("CERTIFICATE", "PRIVATE KEY"),
        ),
        (
            "encapsulated header",
            pem.replacen('\n', "\nProc-Type: 4,ENCRYPTED\n\n", 1),
        ),
        ("text only", "just some words\n".to_owned()),
        ("whitespace only", " \r\n\t\n".to_owned()),
    ];
    for (what, input) in cases {
        let err = check_pem(input.as_bytes()).unwrap_err();
        assert_message(&err);
        let _ = err.source();
        assert!(!format!("{err:?}").is_empty(), "{what}");
    }

    // Non-UTF-8 bytes around and inside blocks.
    let mut rng = Rng(0xb0_0d1e_0000_0003);
    for _ in 0..500 {
        let mut input = pem.clone().into_bytes();
        let at = rng.below(input.len());
        input.insert(at, 0x80 | (rng.next_u64() as u8));
        let _ = check_pem(&input);
    }
}

#[test]
fn pem_blocks_other_than_certificates_are_not_skipped_silently() {
    // lib.rs: "PEM blocks other than CERTIFICATE are refused in a bundle file, rather than
    // skipped". That must hold for labels the PEM reader does not know, too.
    let cert = ca_cert("pem");
    let pem = pem_of(&cert);
    for label in [
        "TRUSTED CERTIFICATE",
        "X509 CRL",
        "PUBLIC KEY",
        "FOO",
        "certificate",
    ] {
        let other = pem.replace("CERTIFICATE", label);
        let input = format!("{pem}{other}");
        let result = X509Bundle::from_pem(td(), input.as_bytes());
        assert!(result.is_err(), "a {label:?} block was skipped: {result:?}");
    }
}

#[test]
fn valid_bundles_round_trip_through_der_and_pem() {
    let certs: Vec<Vec<u8>> = (0..4).map(|i| ca_cert(&format!("root {i}"))).collect();
    for n in 0..=certs.len() {
        let der = certs[..n].concat();
        let from_der = check_der(&der).unwrap();
        assert_eq!(from_der.authorities().len(), n);

        let pem = from_der.to_pem();
        let from_pem = check_pem(pem.as_bytes()).unwrap();
        assert_eq!(from_pem, from_der);
        assert_eq!(from_pem.to_der(), der);
        assert!(from_pem.same_authorities(&from_der));

        let mut reversed = certs[..n].to_vec();
        reversed.reverse();
        let other = X509Bundle::from_der(td(), &reversed.concat()).unwrap();
        assert!(other.same_authorities(&from_der));
    }
}
