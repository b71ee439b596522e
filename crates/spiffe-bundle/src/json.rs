//! Reading JWKS and SPIFFE bundle documents into a raw, borrowed form, and the base64 forms
//! their members use.
//!
//! The reader walks the document once. It borrows every string that has no escapes, keeps
//! only the members this crate uses, and records (rather than rejects) what the checks in
//! `jwt.rs` and `spiffe.rs` judge later: wrong JSON types, private key members, members that
//! appear twice. Only syntax errors and a top level that is not an object stop it early.
//!
//! Its own recursion has a fixed depth (document, `keys`, key, member). Everything below a
//! member it reads, and every member it does not read, goes to `IgnoredAny`, which serde_json
//! skips with a loop rather than recursion; so nesting costs no stack however deep it is,
//! and serde_json's recursion limit of 128 is never reached.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::{JsonError, MemberProblem};
use crate::{BundleError, MAX_AUTHORITIES};

/// JWK members that hold private or symmetric key material (RFC 7518 §6.2.2, §6.3.2, §6.4).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// One member value, as far as the checks need to know it.
#[derive(Debug)]
pub(crate) enum Value<'a> {
    Str(Cow<'a, str>),
    Uint(u64),
    Null,
    /// Anything else: a negative or fractional number, a boolean, an array or an object.
    Other,
}

impl<'a> Value<'a> {
    /// The string, or the problem to report for member `member` of key `key`.
    pub(crate) fn text(
        &self,
        key: Option<usize>,
        member: &'static str,
    ) -> Result<&str, BundleError> {
        match self {
            Self::Str(text) => Ok(text),
            _ => Err(wrong_type(key, member, "a string")),
        }
    }
}

/// A member that must be a string: missing, or present and a string.
pub(crate) fn required_text<'v>(
    value: &'v Option<Value<'_>>,
    key: Option<usize>,
    member: &'static str,
) -> Result<&'v str, BundleError> {
    match value {
        Some(value) => value.text(key, member),
        None => Err(BundleError::InvalidMember {
            key,
            member,
            problem: MemberProblem::Missing,
        }),
    }
}

/// A member that may be absent but, when present, must be a string.
pub(crate) fn optional_text<'v>(
    value: &'v Option<Value<'_>>,
    key: Option<usize>,
    member: &'static str,
) -> Result<Option<&'v str>, BundleError> {
    value.as_ref().map(|v| v.text(key, member)).transpose()
}

pub(crate) fn wrong_type(
    key: Option<usize>,
    member: &'static str,
    expected: &'static str,
) -> BundleError {
    BundleError::InvalidMember {
        key,
        member,
        problem: MemberProblem::WrongType { expected },
    }
}

/// Base64url without padding (RFC 7515 §2), as JWK members carry binary values. Padding and
/// stray bits in the last symbol are refused, so each value has one encoding.
pub(crate) fn decode_base64url(
    text: &str,
    key: usize,
    member: &'static str,
) -> Result<Vec<u8>, BundleError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| BundleError::InvalidMember {
            key: Some(key),
            member,
            problem: MemberProblem::NotBase64Url,
        })
}

/// Standard base64 with padding (RFC 4648 §4), as `x5c` carries certificates
/// (RFC 7517 §4.7).
pub(crate) fn decode_base64(text: &str, key: usize) -> Result<Vec<u8>, BundleError> {
    STANDARD
        .decode(text)
        .map_err(|_| BundleError::InvalidMember {
            key: Some(key),
            member: "x5c",
            problem: MemberProblem::NotBase64,
        })
}

pub(crate) fn encode_base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// A whole document: the top-level members this crate reads.
#[derive(Debug, Default)]
pub(crate) struct RawDocument<'a> {
    pub(crate) keys: Option<RawKeys<'a>>,
    pub(crate) sequence: Option<Value<'a>>,
    pub(crate) refresh_hint: Option<Value<'a>>,
    /// The first known top-level member seen twice.
    pub(crate) duplicate: Option<&'static str>,
}

/// The `keys` member.
#[derive(Debug)]
pub(crate) enum RawKeys<'a> {
    Null,
    NotArray,
    /// The first [`MAX_AUTHORITIES`] entries, and how many there are in all.
    List {
        keys: Vec<RawJwk<'a>>,
        total: usize,
    },
}

/// One entry of `keys`.
#[derive(Debug, Default)]
pub(crate) struct RawJwk<'a> {
    pub(crate) not_object: bool,
    pub(crate) kty: Option<Value<'a>>,
    pub(crate) key_use: Option<Value<'a>>,
    pub(crate) kid: Option<Value<'a>>,
    pub(crate) crv: Option<Value<'a>>,
    pub(crate) x: Option<Value<'a>>,
    pub(crate) y: Option<Value<'a>>,
    pub(crate) n: Option<Value<'a>>,
    pub(crate) e: Option<Value<'a>>,
    pub(crate) x5c: Option<RawX5c<'a>>,
    /// The first private member seen.
    pub(crate) private: Option<&'static str>,
    /// The first known member seen twice.
    pub(crate) duplicate: Option<&'static str>,
}

/// The `x5c` member: its first entry and how many entries there are.
#[derive(Debug)]
pub(crate) enum RawX5c<'a> {
    NotArray,
    List {
        first: Option<Value<'a>>,
        count: usize,
    },
}

/// Reads a document. `spiffe_members` selects whether `spiffe_sequence` and
/// `spiffe_refresh_hint` are read (SPIFFE bundle) or ignored like any unknown member (JWKS).
pub(crate) fn read_document(
    json: &[u8],
    spiffe_members: bool,
) -> Result<RawDocument<'_>, BundleError> {
    let invalid = |source| BundleError::InvalidJson {
        source: JsonError(source),
    };

    // RFC 8259 §8.1: JSON text is UTF-8. Checked for the whole input at once, because
    // serde_json's byte reader does not check the strings it skips.
    let text = std::str::from_utf8(json).map_err(|err| BundleError::NotUtf8 {
        offset: err.valid_up_to(),
    })?;

    let mut deserializer = serde_json::Deserializer::from_str(text);
    let document = DocumentSeed { spiffe_members }
        .deserialize(&mut deserializer)
        .map_err(invalid)?;
    deserializer.end().map_err(invalid)?;
    Ok(document)
}

struct DocumentSeed {
    spiffe_members: bool,
}

impl<'de> DeserializeSeed<'de> for DocumentSeed {
    type Value = RawDocument<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed {
    type Value = RawDocument<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object with a `keys` member")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut document = RawDocument::default();

        while let Some(name) = map.next_key::<Name<'de>>()? {
            let (member, slot) = match &*name.0 {
                "keys" => {
                    let keys = map.next_value::<RawKeys<'de>>()?;
                    if document.keys.replace(keys).is_some() {
                        document.duplicate.get_or_insert("keys");
                    }
                    continue;
                }
                "spiffe_sequence" if self.spiffe_members => {
                    ("spiffe_sequence", &mut document.sequence)
                }
                "spiffe_refresh_hint" if self.spiffe_members => {
                    ("spiffe_refresh_hint", &mut document.refresh_hint)
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };

            let seen = slot.replace(map.next_value::<Value<'de>>()?).is_some();
            if seen {
                document.duplicate.get_or_insert(member);
            }
        }

        Ok(document)
    }
}

impl<'de> de::Deserialize<'de> for RawKeys<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KeysVisitor)
    }
}

struct KeysVisitor;

impl<'de> Visitor<'de> for KeysVisitor {
    type Value = RawKeys<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of keys")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // Real bundles have a handful of keys: reserve for those, not for what the input
        // claims.
        let mut keys = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(8));
        let mut total = 0;

        loop {
            // Entries past the limit are skipped unread; the checks refuse the document.
            if keys.len() < MAX_AUTHORITIES {
                match seq.next_element::<RawJwk<'de>>()? {
                    Some(key) => keys.push(key),
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            total += 1;
        }

        Ok(RawKeys::List { keys, total })
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(RawKeys::Null)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        skip_map(map)?;
        Ok(RawKeys::NotArray)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(RawKeys::NotArray)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(RawKeys::NotArray)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(RawKeys::NotArray)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(RawKeys::NotArray)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(RawKeys::NotArray)
    }
}

impl<'de> de::Deserialize<'de> for RawJwk<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JwkVisitor)
    }
}

struct JwkVisitor;

impl<'de> Visitor<'de> for JwkVisitor {
    type Value = RawJwk<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWK object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut jwk = RawJwk::default();

        while let Some(name) = map.next_key::<Name<'de>>()? {
            let (member, slot) = match &*name.0 {
                "kty" => ("kty", &mut jwk.kty),
                "use" => ("use", &mut jwk.key_use),
                "kid" => ("kid", &mut jwk.kid),
                "crv" => ("crv", &mut jwk.crv),
                "x" => ("x", &mut jwk.x),
                "y" => ("y", &mut jwk.y),
                "n" => ("n", &mut jwk.n),
                "e" => ("e", &mut jwk.e),
                "x5c" => {
                    let x5c = map.next_value::<RawX5c<'de>>()?;
                    if jwk.x5c.replace(x5c).is_some() {
                        jwk.duplicate.get_or_insert("x5c");
                    }
                    continue;
                }
                other => {
                    // Present at all, even as `null`, counts: the name alone says that the
                    // producer put private material where public material belongs.
                    if let Some(private) = PRIVATE_MEMBERS.iter().find(|p| **p == other) {
                        jwk.private.get_or_insert(private);
                    }
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };

            let seen = slot.replace(map.next_value::<Value<'de>>()?).is_some();
            if seen {
                jwk.duplicate.get_or_insert(member);
            }
        }

        Ok(jwk)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq)?;
        Ok(not_object())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(not_object())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(not_object())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(not_object())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(not_object())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(not_object())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(not_object())
    }
}

fn not_object<'a>() -> RawJwk<'a> {
    RawJwk {
        not_object: true,
        ..RawJwk::default()
    }
}

impl<'de> de::Deserialize<'de> for RawX5c<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(X5cVisitor)
    }
}

struct X5cVisitor;

impl<'de> Visitor<'de> for X5cVisitor {
    type Value = RawX5c<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of certificates")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // Only the first entry is kept: an `x509-svid` key must have exactly one, and the
        // others are counted without being stored.
        let first = seq.next_element::<Value<'de>>()?;
        let mut count = usize::from(first.is_some());
        while seq.next_element::<IgnoredAny>()?.is_some() {
            count += 1;
        }
        Ok(RawX5c::List { first, count })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        skip_map(map)?;
        Ok(RawX5c::NotArray)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(RawX5c::NotArray)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(RawX5c::NotArray)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(RawX5c::NotArray)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(RawX5c::NotArray)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(RawX5c::NotArray)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(RawX5c::NotArray)
    }
}

impl<'de> de::Deserialize<'de> for Value<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Value::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Value::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Value::Str(Cow::Owned(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Value::Uint(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        // serde_json hands out non-negative integers as u64; this is a negative one.
        Ok(u64::try_from(v).map_or(Value::Other, Value::Uint))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Value::Other)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Value::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq)?;
        Ok(Value::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        skip_map(map)?;
        Ok(Value::Other)
    }
}

/// A member name, borrowed from the input unless it has escapes (`"k\u0065ys"` is `keys`).
struct Name<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(NameVisitor)
    }
}

struct NameVisitor;

impl<'de> Visitor<'de> for NameVisitor {
    type Value = Name<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Name(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Name(Cow::Owned(v.to_owned())))
    }
}

fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_member_names_are_the_members_they_spell() {
        let doc = read_document(br#"{"k\u0065ys": [{"kid": "a"}]}"#, false).unwrap();
        let Some(RawKeys::List { keys, total }) = doc.keys else {
            panic!("keys not read: {doc:?}");
        };
        assert_eq!(total, 1);
        assert!(matches!(&keys[0].kid, Some(Value::Str(kid)) if kid == "a"));
    }

    #[test]
    fn unescaped_strings_are_borrowed_from_the_input() {
        let doc = read_document(br#"{"keys": [{"kid": "a", "x": "b\"c"}]}"#, false).unwrap();
        let Some(RawKeys::List { keys, .. }) = doc.keys else {
            panic!("keys not read");
        };
        assert!(matches!(&keys[0].kid, Some(Value::Str(Cow::Borrowed("a")))));
        assert!(matches!(&keys[0].x, Some(Value::Str(Cow::Owned(x))) if x == "b\"c"));
    }

    #[test]
    fn spiffe_members_are_ignored_when_reading_a_jwks() {
        let doc = read_document(br#"{"keys": [], "spiffe_sequence": 1}"#, false).unwrap();
        assert!(doc.sequence.is_none());
        let doc = read_document(br#"{"keys": [], "spiffe_sequence": 1}"#, true).unwrap();
        assert!(matches!(doc.sequence, Some(Value::Uint(1))));
    }

    #[test]
    fn base64url_refuses_padding_and_stray_bits() {
        assert_eq!(decode_base64url("AQAB", 1, "e").unwrap(), [1, 0, 1]);
        assert!(decode_base64url("AQ==", 1, "e").is_err());
        // "AR" carries bits past the single byte it encodes.
        assert!(decode_base64url("AR", 1, "e").is_err());
        assert!(decode_base64url("A+B/", 1, "e").is_err());
    }
}
