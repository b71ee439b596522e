//! Key material for tests and benchmarks, made fresh with rcgen on each run.
//!
//! Shared by the integration tests, the crate's benchmark and the side-by-side benchmark in
//! `benches/` (which includes this file by path).
#![allow(
    dead_code,
    clippy::expect_used,
    clippy::panic,
    reason = "each includer uses a part; setup failures should abort"
)]

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, PKCS_ECDSA_P256_SHA256,
    PKCS_ECDSA_P384_SHA384, PKCS_RSA_SHA256, SignatureAlgorithm,
};
use spiffe_bundle::{EcCurve, JwtAuthority, JwtBundle, JwtPublicKey};
use spiffe_id::TrustDomain;

/// An EC authority with a fresh P-256 or P-384 key.
pub(crate) fn ec_authority(kid: &str, curve: EcCurve) -> JwtAuthority {
    let alg: &'static SignatureAlgorithm = match curve {
        EcCurve::P256 => &PKCS_ECDSA_P256_SHA256,
        EcCurve::P384 => &PKCS_ECDSA_P384_SHA384,
        _ => panic!("rcgen makes P-256 and P-384 keys only"),
    };
    let key = KeyPair::generate_for(alg).expect("EC key generation");

    // rcgen gives the uncompressed SEC1 point: 0x04 || x || y.
    let point = &key.public_key_raw()[1..];
    let (x, y) = point.split_at(point.len() / 2);
    let public = JwtPublicKey::ec(curve, x.to_vec(), y.to_vec()).expect("EC key shape");
    JwtAuthority::new(kid, public).expect("key ID")
}

/// An RSA-2048 authority with a fresh key.
pub(crate) fn rsa_authority(kid: &str) -> JwtAuthority {
    let key = KeyPair::generate_for(&PKCS_RSA_SHA256).expect("RSA key generation");
    let (n, e) = rsa_public_key(key.public_key_raw());
    let public = JwtPublicKey::rsa(n, e).expect("RSA key shape");
    JwtAuthority::new(kid, public).expect("key ID")
}

/// A JWKS with one P-256, one P-384 and one RSA-2048 key, as the Workload API would send it.
pub(crate) fn three_key_jwks() -> String {
    let mut bundle = JwtBundle::new(TrustDomain::new("example.org").expect("trust domain"));
    for authority in [
        ec_authority("ec-p256-2f9d1c", EcCurve::P256),
        ec_authority("ec-p384-81ab07", EcCurve::P384),
        rsa_authority("rsa-2048-c4e5a0"),
    ] {
        bundle.add_authority(authority).expect("distinct key IDs");
    }
    bundle.to_jwks()
}

/// A self-signed CA certificate (P-256), DER.
pub(crate) fn ca_der(name: &str) -> Vec<u8> {
    let key = KeyPair::generate().expect("key generation");
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params
        .self_signed(&key)
        .expect("self-signed CA")
        .der()
        .to_vec()
}

/// Modulus and exponent of a DER `RSAPublicKey` (RFC 8017 §A.1.1), leading zeros included.
fn rsa_public_key(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    fn element(input: &[u8], tag: u8) -> (&[u8], &[u8]) {
        assert_eq!(input[0], tag, "unexpected DER tag");
        let (len, header) = match input[1] {
            short @ 0..=0x7f => (usize::from(short), 2),
            long => {
                let octets = usize::from(long & 0x7f);
                let len = input[2..2 + octets]
                    .iter()
                    .fold(0, |acc, &b| acc << 8 | usize::from(b));
                (len, 2 + octets)
            }
        };
        input[header..].split_at(len)
    }

    let (body, _) = element(der, 0x30);
    let (n, rest) = element(body, 0x02);
    let (e, _) = element(rest, 0x02);
    (n.to_vec(), e.to_vec())
}
