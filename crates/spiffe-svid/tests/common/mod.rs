//! rcgen-made CAs and SVIDs for the tests.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    reason = "test helpers; not every test file uses every helper"
)]

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// A CA certificate with its key.
pub struct Ca {
    pub cert: Certificate,
    pub issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    pub fn der(&self) -> &[u8] {
        self.cert.der()
    }
}

pub fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

pub fn root(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let params = ca_params(name);
    let cert = params.self_signed(&key).unwrap();
    Ca {
        cert,
        issuer: Issuer::new(params, key),
    }
}

pub fn intermediate(name: &str, parent: &Ca) -> Ca {
    intermediate_with(ca_params(name), parent)
}

pub fn intermediate_with(params: CertificateParams, parent: &Ca) -> Ca {
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &parent.issuer).unwrap();
    Ca {
        cert,
        issuer: Issuer::new(params, key),
    }
}

/// Leaf parameters as an SVID should have them: one SPIFFE URI SAN, digitalSignature.
pub fn leaf_params(uri: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.subject_alt_names = vec![SanType::URI(uri.try_into().unwrap())];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params
}

/// A leaf signed by `ca` from `params`, returned as (leaf DER, PKCS#8 key DER).
pub fn leaf_with(params: CertificateParams, ca: &Ca) -> (Vec<u8>, Vec<u8>) {
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (cert.der().to_vec(), key.serialize_der())
}

pub fn leaf(uri: &str, ca: &Ca) -> (Vec<u8>, Vec<u8>) {
    leaf_with(leaf_params(uri), ca)
}
