//! Runnable demos of the workspace. `cargo run --example mtls-demo` runs the mutual TLS demo
//! against an embedded dev agent (or `SPIFFE_ENDPOINT_SOCKET` when set).

pub mod demo;
pub mod grpc;
pub mod https;
pub mod jwt;
pub mod mtls;
