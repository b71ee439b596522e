//! Shared by the tests and the bench: rcgen-made CAs and SVIDs, and a full TLS handshake in
//! memory (rustls connections pumping bytes through buffers).

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers; not every test file uses every helper"
)]

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};
use spiffe_bundle::{X509Bundle, X509BundleSet};
use spiffe_id::TrustDomain;
use spiffe_svid::X509Svid;

/// A CA certificate with its key.
pub struct Ca {
    pub der: Vec<u8>,
    pub issuer: Issuer<'static, KeyPair>,
}

pub fn root(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).unwrap();
    Ca {
        der: cert.der().to_vec(),
        issuer: Issuer::new(params, key),
    }
}

/// SVID leaf parameters: one SPIFFE URI SAN (plus DNS SANs), digitalSignature.
pub fn leaf_params(uri: &str, dns: &[&str]) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.subject_alt_names = vec![SanType::URI(uri.try_into().unwrap())];
    for name in dns {
        params
            .subject_alt_names
            .push(SanType::DnsName((*name).try_into().unwrap()));
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params
}

/// A certificate signed by `ca` from `params`: (DER, PKCS#8 key DER).
pub fn issue(params: CertificateParams, ca: &Ca) -> (Vec<u8>, Vec<u8>) {
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (cert.der().to_vec(), key.serialize_der())
}

/// An SVID signed by `ca`; it also names `server.test`, so that plain rustls clients accept
/// it as a server.
pub fn svid(uri: &str, ca: &Ca) -> X509Svid {
    let (cert, key) = issue(leaf_params(uri, &["server.test"]), ca);
    X509Svid::from_der(&cert, &key).unwrap()
}

pub fn bundles(entries: &[(&str, &Ca)]) -> X509BundleSet {
    entries
        .iter()
        .map(|(td, ca)| X509Bundle::from_der(TrustDomain::new(td).unwrap(), &ca.der).unwrap())
        .collect()
}

/// The certificate and key as plain rustls wants them.
pub fn rustls_pair(
    cert: &[u8],
    key: &[u8],
) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    (
        vec![CertificateDer::from(cert.to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec())),
    )
}

/// Which side of a handshake failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// A completed handshake: both connections, ready for application data.
pub struct Connected {
    pub client: ClientConnection,
    pub server: ServerConnection,
}

/// A full handshake in memory; the error is the first one a side reported.
pub fn handshake(
    client: &Arc<ClientConfig>,
    server: &Arc<ServerConfig>,
) -> Result<Connected, (Side, rustls::Error)> {
    let name = ServerName::try_from("server.test").unwrap();
    let mut client = ClientConnection::new(Arc::clone(client), name).unwrap();
    let mut server = ServerConnection::new(Arc::clone(server)).unwrap();

    // A few rounds cover the handshake and the tickets a server sends right after it.
    for _ in 0..8 {
        pump(&mut client, &mut server);
        server
            .process_new_packets()
            .map_err(|e| (Side::Server, e))?;
        pump(&mut server, &mut client);
        client
            .process_new_packets()
            .map_err(|e| (Side::Client, e))?;
        if !client.is_handshaking()
            && !server.is_handshaking()
            && !client.wants_write()
            && !server.wants_write()
        {
            return Ok(Connected { client, server });
        }
    }
    panic!("handshake did not finish in 8 rounds");
}

fn pump<A, B, DA, DB>(from: &mut A, to: &mut B)
where
    A: std::ops::DerefMut<Target = rustls::ConnectionCommon<DA>>,
    B: std::ops::DerefMut<Target = rustls::ConnectionCommon<DB>>,
    DA: rustls::SideData,
    DB: rustls::SideData,
{
    let mut buffer = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut buffer).unwrap();
    }
    let mut input = &buffer[..];
    while !input.is_empty() {
        to.read_tls(&mut input).unwrap();
    }
}
