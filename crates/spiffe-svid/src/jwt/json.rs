//! JSON of the JOSE header and the claims set, read once and strictly.
//!
//! serde_json keeps the last of two members with the same name without a word; RFC 7515
//! §5.2 (step 4) and RFC 7519 §7.2 (step 9) allow that only when the parser does it on
//! purpose. Here a repeated member name is an error, in the header and at every level of the
//! claims.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why a header or claims set could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum JsonError {
    /// Not JSON, or not a JSON object.
    Invalid,
    /// A member name appears twice in one object.
    Duplicate,
}

/// The JOSE header members a JWT-SVID validator acts on (JWT-SVID §2), borrowed from the
/// decoded header where no JSON escape forces a copy.
#[derive(Debug, Default)]
pub(crate) struct Header<'a> {
    pub(crate) alg: Option<Cow<'a, str>>,
    pub(crate) kid: Option<Cow<'a, str>>,
    pub(crate) typ: Option<Cow<'a, str>>,
    pub(crate) crit: bool,
}

/// Reads a JOSE header: a JSON object whose `alg`, `kid` and `typ` members are strings.
/// Other members are skipped after the duplicate check; `crit` is only noted.
pub(crate) fn parse_header(json: &[u8]) -> Result<Header<'_>, JsonError> {
    let flags = Flags::default();
    let mut de = serde_json::Deserializer::from_slice(json);
    let header = de
        .deserialize_map(HeaderVisitor { flags: &flags })
        .and_then(|header| de.end().map(|()| header));
    header.map_err(|_| flags.error())
}

/// Reads a claims set: a JSON object, at most `serde_json`'s nesting limit deep, with no
/// repeated member name at any level.
pub(crate) fn parse_claims(json: &[u8]) -> Result<Map<String, Value>, JsonError> {
    let flags = Flags::default();
    let mut de = serde_json::Deserializer::from_slice(json);
    let claims = de
        .deserialize_map(ObjectVisitor { flags: &flags })
        .and_then(|claims| de.end().map(|()| claims));
    claims.map_err(|_| flags.error())
}

/// What went wrong, noted by the visitors: serde's errors carry only text.
#[derive(Default)]
struct Flags {
    duplicate: Cell<bool>,
}

impl Flags {
    fn error(&self) -> JsonError {
        if self.duplicate.get() {
            JsonError::Duplicate
        } else {
            JsonError::Invalid
        }
    }

    fn duplicate<E: de::Error>(&self) -> E {
        self.duplicate.set(true);
        E::custom("duplicate member")
    }
}

struct HeaderVisitor<'f> {
    flags: &'f Flags,
}

impl<'de> Visitor<'de> for HeaderVisitor<'_> {
    type Value = Header<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header<'de>, A::Error> {
        let mut header = Header::default();
        // Allocated only when a member other than the registered ones shows up.
        let mut others = BTreeSet::new();

        while let Some(StrCow(name)) = map.next_key()? {
            let slot = match &*name {
                "alg" => &mut header.alg,
                "kid" => &mut header.kid,
                "typ" => &mut header.typ,
                "crit" => {
                    if header.crit {
                        return Err(self.flags.duplicate());
                    }
                    header.crit = true;
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                _ => {
                    if !others.insert(name) {
                        return Err(self.flags.duplicate());
                    }
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if slot.is_some() {
                return Err(self.flags.duplicate());
            }

            // RFC 7515 §4.1.1, §4.1.4, §4.1.9: each is a string.
            *slot = Some(map.next_value::<StrCow<'de>>()?.0);
        }
        Ok(header)
    }
}

/// A JSON string, borrowed when it holds no escape.
struct StrCow<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for StrCow<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;

        impl<'de> Visitor<'de> for StrVisitor {
            type Value = StrCow<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<StrCow<'de>, E> {
                Ok(StrCow(Cow::Borrowed(s)))
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<StrCow<'de>, E> {
                Ok(StrCow(Cow::Owned(s.to_owned())))
            }
        }

        deserializer.deserialize_str(StrVisitor)
    }
}

/// Builds a `serde_json::Value`, refusing repeated member names at every level.
#[derive(Clone, Copy)]
struct ValueSeed<'f> {
    flags: &'f Flags,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // JSON text cannot spell NaN or an infinity; serde_json reports overflow as an error.
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        ObjectVisitor { flags: self.flags }
            .visit_map(map)
            .map(Value::Object)
    }
}

/// A JSON object as a `serde_json::Map`, refusing repeated member names.
struct ObjectVisitor<'f> {
    flags: &'f Flags,
}

impl<'de> Visitor<'de> for ObjectVisitor<'_> {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut object = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if object.contains_key(&name) {
                return Err(self.flags.duplicate());
            }
            let value = map.next_value_seed(ValueSeed { flags: self.flags })?;
            object.insert(name, value);
        }
        Ok(object)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    #[test]
    fn header_members_are_borrowed_when_unescaped() {
        let header = parse_header(br#"{"alg":"ES256","kid":"k\u0031","typ":"JWT"}"#).unwrap();
        assert!(matches!(header.alg, Some(Cow::Borrowed("ES256"))));
        assert_eq!(header.kid.as_deref(), Some("k1"));
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert!(!header.crit);
    }

    #[test]
    fn header_with_a_repeated_member_is_refused() {
        assert_eq!(
            parse_header(br#"{"alg":"ES256","alg":"none"}"#).unwrap_err(),
            JsonError::Duplicate
        );
        assert_eq!(
            parse_header(br#"{"alg":"ES256","x":1,"x":2}"#).unwrap_err(),
            JsonError::Duplicate
        );
        // An escape spells the same name: still a repeat.
        assert_eq!(
            parse_header(br#"{"alg":"ES256","\u0061lg":"none"}"#).unwrap_err(),
            JsonError::Duplicate
        );
        assert_eq!(
            parse_header(br#"{"crit":[],"alg":"ES256","crit":[]}"#).unwrap_err(),
            JsonError::Duplicate
        );
    }

    #[test]
    fn header_member_of_the_wrong_type_is_refused() {
        assert_eq!(
            parse_header(br#"{"alg":1}"#).unwrap_err(),
            JsonError::Invalid
        );
        assert_eq!(
            parse_header(br#"{"alg":"ES256","kid":null}"#).unwrap_err(),
            JsonError::Invalid
        );
    }

    #[test]
    fn header_that_is_not_one_object_is_refused() {
        for json in [
            &b"[]"[..],
            b"\"x\"",
            b"{",
            b"{} {}",
            b"",
            b"{\"alg\":\"ES256\",}",
        ] {
            assert_eq!(parse_header(json).unwrap_err(), JsonError::Invalid);
        }
    }

    #[test]
    fn claims_keep_every_member_and_refuse_repeats_at_any_depth() {
        let claims = parse_claims(br#"{"sub":"s","n":[1,-2,3.5,null,true],"o":{"a":"b"}}"#);
        let claims = claims.unwrap();
        assert_eq!(claims.len(), 3);
        assert_eq!(claims["n"][2], Value::from(3.5));
        assert_eq!(claims["o"]["a"], "b");

        assert_eq!(
            parse_claims(br#"{"sub":"a","sub":"b"}"#).unwrap_err(),
            JsonError::Duplicate
        );
        assert_eq!(
            parse_claims(br#"{"o":[{"a":1,"a":2}]}"#).unwrap_err(),
            JsonError::Duplicate
        );
    }

    #[test]
    fn deeply_nested_claims_are_refused_without_overflowing_the_stack() {
        let json = format!("{{\"a\":{}{}}}", "[".repeat(5000), "]".repeat(5000));
        assert_eq!(
            parse_claims(json.as_bytes()).unwrap_err(),
            JsonError::Invalid
        );
    }
}
