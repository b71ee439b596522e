//! `SpiffeId::parse` and `parse_lenient` must return, never panic, on any input; an accepted
//! ID prints back as its input, and its parts rebuild the same ID.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spiffe_id::SpiffeId;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = SpiffeId::parse_lenient(s);
    let Ok(id) = SpiffeId::parse(s) else { return };

    assert_eq!(id.as_str(), s);
    let segments: Vec<&str> = id.segments().collect();
    let rebuilt = SpiffeId::from_segments(&id.trust_domain(), &segments);
    assert_eq!(rebuilt.as_ref(), Ok(&id));
});
