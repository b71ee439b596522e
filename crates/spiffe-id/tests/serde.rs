//! Serde support: strings in, validated.
#![cfg(feature = "serde")]

use spiffe_id::{SpiffeId, TrustDomain};

#[test]
fn serde_round_trips_and_validates_on_the_way_in() {
    let id = SpiffeId::parse("spiffe://example.org/a").unwrap();
    let json = serde_json::to_string(&id).unwrap();
    assert_eq!(json, "\"spiffe://example.org/a\"");
    assert_eq!(serde_json::from_str::<SpiffeId>(&json).unwrap(), id);

    let err = serde_json::from_str::<SpiffeId>("\"spiffe://example.org/a/\"").unwrap_err();
    assert!(err.to_string().contains("trailing slash"), "{err}");

    let td: TrustDomain = serde_json::from_str("\"example.org\"").unwrap();
    assert_eq!(serde_json::to_string(&td).unwrap(), "\"example.org\"");
    assert!(serde_json::from_str::<TrustDomain>("\"Example.org\"").is_err());
}
