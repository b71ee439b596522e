//! `X509Svid::from_der` must return, never panic, on any input. The input is split into a
//! chain and a key at a position taken from its first two bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spiffe_svid::X509Svid;

fuzz_target!(|data: &[u8]| {
    let [hi, lo, rest @ ..] = data else { return };
    let split = usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len());
    let (chain, key) = rest.split_at(split);
    let _ = X509Svid::from_der(chain, key);
});
