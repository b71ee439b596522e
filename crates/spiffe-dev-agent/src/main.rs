//! `spiffe-dev-agent`: a Workload API server with an in-memory CA, for development.

fn main() {}
