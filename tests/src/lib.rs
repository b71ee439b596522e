//! Scenario tests across the workspace's crates. The tests live in `tests/*.rs`, one file per
//! theme (lifecycle, reconnect, hangs, parsing, TLS, leaks, environment); `README.md` maps
//! every scenario of the first milestone to the tests that hold it.
