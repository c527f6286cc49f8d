//! JSON request bodies, parsed strictly.
//!
//! RFC 8259 §4 leaves duplicate member names to the implementation, and implementations differ:
//! serde_json keeps the last, others the first. A gateway in front of a server that reads
//! `{"phoneNumber": A, "phoneNumber": B}` differently than the server does would validate one
//! number and let the server act on the other (a parser differential). So a duplicated member at
//! any depth refuses the body. Errors never quote the body: its values may be phone numbers.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why a body is not an acceptable JSON document. No variant carries any of the body's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON (or trailing bytes after the document).
    Syntax,
    /// A member name appears twice in one object.
    DuplicateMember,
    /// Valid JSON, but not an object.
    NotAnObject,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JsonError::Syntax => "the body is not valid JSON",
            JsonError::DuplicateMember => "the body names a member twice in one object",
            JsonError::NotAnObject => "the body is not a JSON object",
        })
    }
}

impl std::error::Error for JsonError {}

/// Marks our own error inside serde_json's, which only carries a message.
const DUPLICATE: &str = "\u{0}duplicate member";

/// The body as a JSON document, refusing duplicate member names at any depth.
pub fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue.deserialize(&mut de).map_err(classify)?;
    de.end().map_err(|_| JsonError::Syntax)?;
    Ok(value)
}

/// The body as a JSON object, refusing duplicate member names at any depth.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonError> {
    match parse(bytes)? {
        Value::Object(map) => Ok(map),
        _ => Err(JsonError::NotAnObject),
    }
}

fn classify(e: serde_json::Error) -> JsonError {
    if e.to_string().starts_with(DUPLICATE) {
        JsonError::DuplicateMember
    } else {
        JsonError::Syntax
    }
}

/// Builds a [`Value`] like serde_json's own, but refuses an object whose member names repeat.
struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("not a finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                return Err(de::Error::custom(DUPLICATE));
            }
            let value = map.next_value_seed(StrictValue)?;
            members.insert(name, value);
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn duplicate_members_are_refused_at_any_depth() {
        for body in [
            r#"{"phoneNumber":"+99000000001","phoneNumber":"+99000000002"}"#,
            r#"{"a":{"b":1,"b":2}}"#,
            r#"{"a":[{"x":1},{"x":1,"x":1}]}"#,
            // The same name spelt with an escape is the same name.
            r#"{"a":1,"\u0061":2}"#,
        ] {
            assert_eq!(
                parse(body.as_bytes()),
                Err(JsonError::DuplicateMember),
                "{body}"
            );
        }
    }

    #[test]
    fn everything_else_parses_as_serde_json_does() {
        for body in [
            r#"{"phoneNumber":"+99000000001"}"#,
            r#"{"a":{"b":[1,-2,3.5,true,null,"x"]},"c":{"b":1}}"#,
            r#"  {"a":1}  "#,
            "[1,2]",
            "18446744073709551615",
        ] {
            let ours = parse(body.as_bytes()).unwrap();
            let theirs: Value = serde_json::from_str(body).unwrap();
            assert_eq!(ours, theirs, "{body}");
        }
        assert_eq!(parse(b"{} x"), Err(JsonError::Syntax));
        assert_eq!(parse(b"{"), Err(JsonError::Syntax));
        assert_eq!(parse_object(b"[1]"), Err(JsonError::NotAnObject));
    }

    #[test]
    fn errors_never_quote_the_body() {
        let e = parse(br#"{"phoneNumber":99012345678,"phoneNumber":1}"#).unwrap_err();
        assert!(!e.to_string().contains("99012345678"));
    }

    proptest! {
        /// Any document serde_json writes (no duplicates possible) parses back to itself.
        #[test]
        fn documents_without_duplicates_round_trip(
            keys in proptest::collection::btree_set("[a-z]{1,4}", 0..6),
            n in any::<i64>(),
            s in ".{0,8}",
        ) {
            let map: Map<String, Value> = keys
                .into_iter()
                .enumerate()
                .map(|(i, k)| (k, if i % 2 == 0 { Value::from(n) } else { Value::from(s.clone()) }))
                .collect();
            let doc = Value::Object(map);
            prop_assert_eq!(parse(doc.to_string().as_bytes()), Ok(doc));
        }
    }
}
