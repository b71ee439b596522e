//! Differential vectors: the same inputs through go-spiffe and through our crates.
//!
//! `cargo xtask interop` runs the Go program `tests/interop/go/vectors` and points
//! `SPIFFE_INTEROP_GO_VERDICTS` at its output. Every input whose accept/reject differs must be
//! listed in `tests/interop/divergences.json` with a reason, and every listed divergence must
//! still occur: the file is the exact set of differences.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use spiffe_bundle::{JwtBundle, JwtBundleSet};
use spiffe_id::{SpiffeId, TrustDomain};
use spiffe_svid::{JwtSvid, X509Svid};

const VERDICTS_ENV: &str = "SPIFFE_INTEROP_GO_VERDICTS";

#[derive(Deserialize)]
struct Verdicts {
    generated_at: u64,
    spiffe_id: Vec<IdCase>,
    x509_svid: Vec<X509Case>,
    jwt_svid: Vec<JwtCase>,
}

#[derive(Deserialize)]
struct IdCase {
    input: String,
    accept: bool,
}

#[derive(Deserialize)]
struct X509Case {
    name: String,
    certs: String,
    key: String,
    accept: bool,
}

#[derive(Deserialize)]
struct JwtCase {
    name: String,
    token: String,
    jwks: String,
    audience: Vec<String>,
    accept: bool,
}

/// One entry of `divergences.json`.
#[derive(Deserialize)]
struct Divergence {
    kind: String,
    case: String,
    go_spiffe: String,
    ours: String,
    resolution: String,
    reason: String,
}

fn verdict(accept: bool) -> &'static str {
    if accept { "accept" } else { "reject" }
}

/// How a case is named in `divergences.json`: long inputs by their start and length.
fn describe(input: &str) -> String {
    if input.len() > 100 {
        format!("{}... ({} bytes)", &input[..32], input.len())
    } else {
        input.to_owned()
    }
}

/// The workspace's own copies of the shared vectors (with their licence), so the comparison
/// runs from any checkout.
fn workspace_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn ours_x509(case: &X509Case) -> Result<(), String> {
    let dir = workspace_dir().join("crates/spiffe-svid/tests/data/go-spiffe/x509svid");
    let certs = std::fs::read(dir.join(&case.certs)).unwrap();
    let key = std::fs::read(dir.join(&case.key)).unwrap();
    X509Svid::from_pem(&certs, &key)
        .map(drop)
        .map_err(|e| e.to_string())
}

fn ours_jwt(case: &JwtCase) -> Result<(), String> {
    let td = TrustDomain::new("example.org").unwrap();
    let bundle = JwtBundle::from_jwks(td, case.jwks.as_bytes()).map_err(|e| e.to_string())?;
    let mut bundles = JwtBundleSet::new();
    bundles.insert(bundle);
    let audience: Vec<&str> = case.audience.iter().map(String::as_str).collect();
    JwtSvid::validate(&case.token, &bundles, &audience)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[test]
#[ignore = "needs the go-spiffe verdicts: cargo xtask interop"]
fn go_spiffe_and_our_crates_agree_except_for_the_recorded_divergences() {
    let path = std::env::var(VERDICTS_ENV)
        .unwrap_or_else(|_| panic!("{VERDICTS_ENV} is not set: run `cargo xtask interop`"));
    let verdicts: Verdicts = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let recorded: Vec<Divergence> = serde_json::from_slice(
        &std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/divergences.json")).unwrap(),
    )
    .unwrap();

    // The JWT cases carry times relative to their signing (an `exp` 30 s ago is inside the
    // 60 s leeway): they must be judged within seconds of being made.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now.saturating_sub(verdicts.generated_at) < 20,
        "{path} is {} s old: run the Go program again right before this test",
        now.saturating_sub(verdicts.generated_at)
    );

    // The Go program saw every vector: the counts match the sources.
    let tsv =
        std::fs::read_to_string(workspace_dir().join("crates/spiffe-id/tests/data/spiffe-id.tsv"))
            .unwrap();
    let id_lines = tsv
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count();
    assert_eq!(verdicts.spiffe_id.len(), id_lines);
    assert!(verdicts.x509_svid.len() >= 10);
    assert!(verdicts.jwt_svid.len() >= 30);

    // (kind, case) -> (go-spiffe, ours, our error)
    let mut found: BTreeMap<(String, String), (&str, &str, String)> = BTreeMap::new();
    let mut record = |kind: &str, case: String, go: bool, ours: Result<(), String>| {
        if go != ours.is_ok() {
            let error = ours.err().unwrap_or_default();
            let entry = (verdict(go), verdict(!go), error);
            found.insert((kind.to_owned(), case), entry);
        }
    };
    for case in &verdicts.spiffe_id {
        let ours = SpiffeId::parse(&case.input)
            .map(drop)
            .map_err(|e| e.to_string());
        record("spiffe_id", describe(&case.input), case.accept, ours);
    }
    for case in &verdicts.x509_svid {
        record("x509_svid", case.name.clone(), case.accept, ours_x509(case));
    }
    for case in &verdicts.jwt_svid {
        record("jwt_svid", case.name.clone(), case.accept, ours_jwt(case));
    }

    let mut problems = Vec::new();
    let vector_kinds = ["spiffe_id", "x509_svid", "jwt_svid"];
    for d in &recorded {
        assert!(
            !d.reason.trim().is_empty(),
            "{}/{}: no reason",
            d.kind,
            d.case
        );
        assert!(
            ["justified", "fixed", "open"].contains(&d.resolution.as_str()),
            "{}/{}: resolution must be justified, fixed or open",
            d.kind,
            d.case
        );
        if !vector_kinds.contains(&d.kind.as_str()) || d.resolution == "fixed" {
            continue;
        }
        match found.remove(&(d.kind.clone(), d.case.clone())) {
            Some((go, ours, _)) if go == d.go_spiffe && ours == d.ours => {}
            Some((go, ours, _)) => problems.push(format!(
                "{}/{}: recorded go-spiffe {} / ours {}, now go-spiffe {go} / ours {ours}",
                d.kind, d.case, d.go_spiffe, d.ours
            )),
            None => problems.push(format!(
                "{}/{}: recorded as a divergence but both now agree; remove or mark it fixed",
                d.kind, d.case
            )),
        }
    }
    for ((kind, case), (go, ours, error)) in &found {
        problems.push(format!(
            "{kind}/{case}: go-spiffe {go}s, we {ours} ({error}); fix it or record it with a reason"
        ));
    }
    assert!(
        problems.is_empty(),
        "divergences.json is out of date:\n{}",
        problems.join("\n")
    );
}
