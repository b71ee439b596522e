//! Every row of the shared SPIFFE ID vector table.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use spiffe_id::{SpiffeId, SpiffeIdError};

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            other => panic!("unknown escape \\{other:?} in vector {s:?}"),
        }
    }
    out
}

fn error_kind(err: &SpiffeIdError) -> &'static str {
    match err {
        SpiffeIdError::Empty => "empty",
        SpiffeIdError::WrongScheme => "scheme",
        SpiffeIdError::MissingTrustDomain => "missing trust domain",
        SpiffeIdError::TrustDomainChar { .. } => "trust domain character",
        SpiffeIdError::PathChar { .. } => "path character",
        SpiffeIdError::EmptySegment { .. } => "empty segment",
        SpiffeIdError::DotSegment { .. } => "dot segment",
        SpiffeIdError::TrailingSlash => "trailing slash",
        SpiffeIdError::TooLong { .. } => "too long",
        SpiffeIdError::TrustDomainTooLong { .. } => "trust domain too long",
        other => panic!("unexpected error kind {other:?}"),
    }
}

#[test]
fn every_row_of_the_shared_vector_table_gives_its_expected_outcome() {
    let table = include_str!("data/spiffe-id.tsv");
    let mut rows = 0;

    for line in table.lines().filter(|l| !l.starts_with('#')) {
        let mut cols = line.split('\t');
        let input = unescape(cols.next().unwrap());
        let expected = cols.next().expect("expected column");
        let result = SpiffeId::parse(&input);
        rows += 1;

        if let Some(parts) = expected.strip_prefix("ok") {
            let id = result.unwrap_or_else(|e| panic!("{input:?} should parse: {e}"));
            assert_eq!(id.as_str(), input);
            for part in parts.split_whitespace() {
                match part.split_once('=') {
                    Some(("td", td)) => assert_eq!(id.trust_domain_name(), td, "{input:?}"),
                    Some(("path", path)) => assert_eq!(id.path(), path, "{input:?}"),
                    _ => panic!("unknown expectation {part:?}"),
                }
            }
            continue;
        }

        let kind = expected.strip_prefix("err ").expect("ok or err");
        let err = result.expect_err(&format!("{input:?} should be rejected"));
        assert_eq!(error_kind(&err), kind, "{input:?}: {err}");
        assert!(!err.to_string().is_empty());
    }

    assert!(rows >= 37, "only {rows} rows read");
}
