//! Helpers shared by the dev agent's integration tests: a raw generated client over the
//! agent's Unix socket, and certificate inspection with x509-cert.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::PathBuf;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use spiffe_dev_agent::DevAgentHandle;
use spiffe_dev_agent::proto::spiffe_workload_api_client::SpiffeWorkloadApiClient;
use spiffe_dev_agent::proto::{X509BundlesRequest, X509svidRequest};
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic::{Request, Status, Streaming};
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};

pub(crate) const WAIT: Duration = Duration::from_secs(10);

pub(crate) type Client = SpiffeWorkloadApiClient<Channel>;

pub(crate) async fn connect(agent: &DevAgentHandle) -> Client {
    connect_path(agent.socket_path().to_owned()).await
}

pub(crate) async fn connect_path(path: PathBuf) -> Client {
    let channel = Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { UnixStream::connect(path).await.map(TokioIo::new) }
        }))
        .await
        .unwrap();
    SpiffeWorkloadApiClient::new(channel)
}

/// A request with the `workload.spiffe.io: true` header.
pub(crate) fn with_header<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("workload.spiffe.io", "true".parse().unwrap());
    request
}

pub(crate) async fn open_svids(
    client: &mut Client,
) -> Result<Streaming<spiffe_dev_agent::proto::X509svidResponse>, Status> {
    client
        .fetch_x509svid(with_header(X509svidRequest {}))
        .await
        .map(|r| r.into_inner())
}

pub(crate) async fn open_bundles(
    client: &mut Client,
) -> Result<Streaming<spiffe_dev_agent::proto::X509BundlesResponse>, Status> {
    client
        .fetch_x509_bundles(with_header(X509BundlesRequest {}))
        .await
        .map(|r| r.into_inner())
}

/// The next message, failing the test after `WAIT`.
pub(crate) async fn next<T>(stream: &mut Streaming<T>) -> Result<Option<T>, Status> {
    tokio::time::timeout(WAIT, stream.message())
        .await
        .expect("no message within the wait")
}

/// Splits DER certificates stored back to back.
pub(crate) fn split_certs(mut der: &[u8]) -> Vec<Certificate> {
    let mut certs = Vec::new();
    while !der.is_empty() {
        let cert = Certificate::from_der_partial(der);
        let len = cert.encoded_len().unwrap();
        let len = usize::try_from(u32::from(len)).unwrap();
        certs.push(cert);
        der = &der[len..];
    }
    certs
}

trait PartialDecode {
    fn from_der_partial(der: &[u8]) -> Self;
}

impl PartialDecode for Certificate {
    fn from_der_partial(der: &[u8]) -> Self {
        let mut reader = x509_cert::der::SliceReader::new(der).unwrap();
        <Certificate as Decode>::decode(&mut reader).unwrap()
    }
}

pub(crate) fn serial_hex(cert: &Certificate) -> String {
    cert.tbs_certificate
        .serial_number
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The uid of this test process, read from a file it creates (no libc needed).
pub(crate) fn own_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    let file = tempfile::NamedTempFile::new().unwrap();
    file.as_file().metadata().unwrap().uid()
}
