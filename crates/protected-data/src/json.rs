//! JSON read in document order.
//!
//! `serde_json::Value` sorts object keys (unless some crate in the build turns on its
//! `preserve_order` feature), but key order decides the SDK's schema string. This reader keeps
//! objects as lists of pairs in the order of the text, duplicates included; callers decide what
//! a duplicate means. Numbers are read as `f64`, as `JSON.parse` reads them.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, MapAccess, SeqAccess, Visitor};

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// Parses JSON text (serde_json's grammar and its nesting limit of 128).
pub(crate) fn parse(text: &str) -> Result<Json, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let json = deserializer.deserialize_any(JsonVisitor)?;
    deserializer.end()?;
    Ok(json)
}

/// Converts a `serde_json::Value`, objects in the order its map iterates.
pub(crate) fn from_value(value: serde_json::Value) -> Json {
    match value {
        serde_json::Value::Null => Json::Null,
        serde_json::Value::Bool(b) => Json::Bool(b),
        serde_json::Value::Number(n) => Json::Number(number_to_f64(&n)),
        serde_json::Value::String(s) => Json::String(s),
        serde_json::Value::Array(items) => Json::Array(items.into_iter().map(from_value).collect()),
        serde_json::Value::Object(map) => Json::Object(map.into_iter().map(|(k, v)| (k, from_value(v))).collect()),
    }
}

/// A JSON number as `JSON.parse` reads it: the nearest f64 (integers beyond 2^53 round, as
/// they do in JavaScript).
fn number_to_f64(n: &serde_json::Number) -> f64 {
    if let Some(u) = n.as_u64() {
        u as f64
    } else if let Some(i) = n.as_i64() {
        i as f64
    } else {
        n.as_f64().expect("invariant: a serde_json number is u64, i64 or f64")
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v as f64))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v as f64))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Number(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Seed)? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            entries.push((key, map.next_value_seed(Seed)?));
        }
        Ok(Json::Object(entries))
    }
}

struct Seed;

impl<'de> de::DeserializeSeed<'de> for Seed {
    type Value = Json;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_keep_document_order_and_duplicates() {
        let json = parse(r#"{"z":1,"10":true,"a":{"y":null,"x":[1,"s"]},"z":2}"#).unwrap();
        let Json::Object(entries) = json else {
            panic!("an object")
        };
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["z", "10", "a", "z"]);
        assert_eq!(entries[1].1, Json::Bool(true));
        assert_eq!(
            entries[2].1,
            Json::Object(vec![
                ("y".into(), Json::Null),
                (
                    "x".into(),
                    Json::Array(vec![Json::Number(1.0), Json::String("s".into())])
                )
            ])
        );
    }

    #[test]
    fn numbers_read_as_javascript_reads_them() {
        let n = |text: &str| match parse(text).unwrap() {
            Json::Number(n) => n,
            other => panic!("{other:?}"),
        };
        assert_eq!(n("42"), 42.0);
        assert!(n("-0").is_sign_negative());
        assert!(n("-0.0").is_sign_negative());
        assert_eq!(n("9007199254740993"), 9007199254740992.0);
        assert_eq!(n("18446744073709551616"), 18446744073709551616.0);
        assert_eq!(n("5e-324"), 5e-324);
        assert_eq!(n("1e300"), 1e300);
        // Hard cases that need correct rounding (serde_json's float_roundtrip); Rust's own
        // parser rounds correctly.
        for hard in [
            "2.2250738585072011e-308",
            "0.30000000000000004",
            "7.3177701707893310e+15",
            "9007199254740993.0",
        ] {
            assert_eq!(n(hard).to_bits(), hard.parse::<f64>().unwrap().to_bits(), "{hard}");
        }
        assert!(parse("1e400").is_err());
    }

    #[test]
    fn text_after_the_value_or_too_deep_is_an_error() {
        assert!(parse("{} x").is_err());
        assert!(parse(&format!("{}{}", "[".repeat(200), "]".repeat(200))).is_err());
    }
}
