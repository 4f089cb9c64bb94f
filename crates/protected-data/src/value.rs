//! Values of a protected data, and the validated root object the SDK would accept.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::json::Json;
use crate::key::{child_path, is_valid_key, split_path};
use crate::map::OrderedMap;
use crate::schema::{Kind, Mime, Node, Schema};
use crate::{Error, MAX_DEPTH, Object, Result};

/// A value in a protected data: a leaf, or an object of more values.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A JavaScript boolean; schema type `bool`.
    Bool(bool),
    /// A JavaScript number; schema type `f64`.
    F64(f64),
    /// A JavaScript bigint; schema type `i128`.
    I128(i128),
    /// A string; schema type `string`.
    String(String),
    /// A binary file; schema type the MIME type sniffed from its first bytes.
    File(Vec<u8>),
    /// A nested object.
    Object(Object),
}

impl Value {
    /// The schema type of a leaf (for a file, the sniffed MIME type); `None` for an object.
    pub fn kind(&self) -> Option<Kind> {
        Some(match self {
            Value::Bool(_) => Kind::Bool,
            Value::F64(_) => Kind::F64,
            Value::I128(_) => Kind::I128,
            Value::String(_) => Kind::String,
            Value::File(bytes) => Kind::File(Mime::sniff(bytes)),
            Value::Object(_) => return None,
        })
    }

    /// The value in this crate's JSON form (what [`DataObject::from_json`] reads): numbers,
    /// strings, booleans and objects as they are, `{"$i128": "<decimal>"}` for an `i128`,
    /// `{"$base64": "…"}` for a file. A NaN or infinite `f64` (which only a decoded zip can
    /// hold) becomes `null`. Objects come out in the order `serde_json`'s map keeps.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Bool(b) => J::Bool(*b),
            Value::F64(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::I128(i) => serde_json::json!({ "$i128": i.to_string() }),
            Value::String(s) => J::String(s.clone()),
            Value::File(bytes) => serde_json::json!({ "$base64": BASE64.encode(bytes) }),
            Value::Object(object) => J::Object(object.iter().map(|(k, v)| (k.to_owned(), v.to_json())).collect()),
        }
    }
}

/// A protected data's content, valid for the SDK's format: a non-empty root object whose keys
/// (at every depth) are valid, whose numbers are finite, nested at most [`MAX_DEPTH`] deep.
///
/// Nested objects may be empty, as the SDK allows: they become a folder entry in the zip and
/// `{}` in the schema, and no schema entry.
#[derive(Clone, Debug, PartialEq)]
pub struct DataObject {
    /// Invariant: non-empty once built; every key valid, every f64 finite, every string
    /// shorter than 4 GiB, at most `MAX_DEPTH` keys in any path.
    root: Object,
}

impl DataObject {
    /// Reads this crate's JSON form of a protected data from a `serde_json::Value`: a JSON
    /// number is an `f64`, strings and booleans are themselves, objects nest, and two one-key
    /// objects are leaves: `{"$i128": "<decimal>"}` an `i128` (the decimal may start with `-`)
    /// and `{"$base64": "<standard base64, padded>"}` a file. (No real key starts with `$`, so
    /// these cannot be mistaken.) `null` and arrays are refused.
    ///
    /// Key order is the order `serde_json`'s map gives (sorted, unless its `preserve_order`
    /// feature is on in the build); read the text with [`from_json_str`](Self::from_json_str)
    /// to keep the order it was written in, as the SDK would.
    pub fn from_json(json: serde_json::Value) -> Result<DataObject> {
        DataObject::from_parsed(crate::json::from_value(json))
    }

    /// Reads this crate's JSON form of a protected data (see [`from_json`](Self::from_json))
    /// from text, keeping keys in the order they are written. A key given twice in one object
    /// is a [`PathConflict`](Error::PathConflict).
    pub fn from_json_str(text: &str) -> Result<DataObject> {
        DataObject::from_parsed(crate::json::parse(text).map_err(Error::BadJson)?)
    }

    fn from_parsed(json: Json) -> Result<DataObject> {
        let Json::Object(entries) = json else {
            return Err(Error::UnsupportedValue {
                path: String::new(),
                reason: "the protected data must be an object",
            });
        };
        match convert_object(entries, "", 1)? {
            Value::Object(root) => DataObject::from_root(root),
            _ => Err(Error::UnsupportedValue {
                path: String::new(),
                reason: "the protected data must be an object",
            }),
        }
    }

    /// Checks a value built in code: it must be a non-empty object, valid throughout.
    pub fn from_value(value: Value) -> Result<DataObject> {
        let Value::Object(root) = value else {
            return Err(Error::UnsupportedValue {
                path: String::new(),
                reason: "the protected data must be an object",
            });
        };
        check_object(&root, "", 0)?;
        DataObject::from_root(root)
    }

    /// Builds a protected data from values at dotted paths (see [`insert`](Self::insert)),
    /// such as files named on a command line.
    pub fn from_entries<P: AsRef<str>>(entries: impl IntoIterator<Item = (P, Value)>) -> Result<DataObject> {
        let mut data = DataObject { root: Object::new() };
        for (path, value) in entries {
            data.insert(path.as_ref(), value)?;
        }
        DataObject::from_root(data.root)
    }

    fn from_root(root: Object) -> Result<DataObject> {
        if root.is_empty() {
            return Err(Error::EmptyObject);
        }
        Ok(DataObject { root })
    }

    /// Puts a value at a dotted path (`a.b` is field `b` of object `a`), creating the objects
    /// on the way. A path through a leaf, or a path that already holds a value (leaf or object),
    /// is a [`PathConflict`](Error::PathConflict); nothing changes on error.
    pub fn insert(&mut self, path: &str, value: Value) -> Result<()> {
        let keys = split_path(path)?;
        if let Value::Object(object) = &value {
            check_object(object, path, keys.len())?;
        } else {
            check_leaf(&value, path)?;
        }
        let (last, parents) = keys.split_last().expect("invariant: a split path has at least one key");
        // First find any conflict without changing anything, then insert.
        let mut object = &self.root;
        for (depth, key) in parents.iter().enumerate() {
            match object.get(key) {
                None => break,
                Some(Value::Object(inner)) => object = inner,
                Some(_) => {
                    return Err(Error::PathConflict {
                        path: keys[..=depth].join("."),
                    });
                }
            }
        }
        if self.get(path).is_some() {
            return Err(Error::PathConflict { path: path.to_owned() });
        }
        let mut object = &mut self.root;
        for key in parents {
            if object.get(key).is_none() {
                object.insert(*key, Value::Object(Object::new()));
            }
            object = match object.0.get_mut(key) {
                Some(Value::Object(inner)) => inner,
                _ => unreachable!("invariant: conflicts on the path were found above"),
            };
        }
        object.insert(*last, value);
        Ok(())
    }

    /// Puts a file at a dotted path, like [`insert`](Self::insert).
    pub fn insert_file(&mut self, path: &str, bytes: Vec<u8>) -> Result<()> {
        self.insert(path, Value::File(bytes))
    }

    /// The value at a dotted path, leaf or object.
    pub fn get(&self, path: &str) -> Option<&Value> {
        let keys = split_path(path).ok()?;
        let (last, parents) = keys.split_last()?;
        let mut object = &self.root;
        for key in parents {
            match object.get(key)? {
                Value::Object(inner) => object = inner,
                _ => return None,
            }
        }
        object.get(last)
    }

    /// The root object.
    pub fn as_object(&self) -> &Object {
        &self.root
    }

    /// The root object, as a value.
    pub fn into_value(self) -> Value {
        Value::Object(self.root)
    }

    /// This crate's JSON form of the data (see [`Value::to_json`]).
    pub fn to_json(&self) -> serde_json::Value {
        Value::Object(self.root.clone()).to_json()
    }

    /// The schema the SDK's `extractDataSchema` computes for this data: the same shape, with
    /// each leaf's type (a file's sniffed MIME type).
    pub fn schema(&self) -> Schema {
        Schema {
            root: schema_of(&self.root),
        }
    }

    /// The protected data's zip, before encryption, laid out as the SDK's
    /// `createZipFromObject` lays it out: one entry per leaf, named by its path with `/`
    /// (`a.b.c` is `a/b/c`), holding the borsh encoding of a `bool`, `f64`, `i128` or `string`
    /// and a file's raw bytes; a folder entry `a/` for each object, before its children (an
    /// empty object is a folder alone); keys in JavaScript's order.
    ///
    /// Unlike JSZip's, the output is deterministic: every entry is dated 1980-01-01 00:00:00
    /// and marked as made on Unix (files `0644`, folders `0755`). Entries are stored, not
    /// compressed, as JSZip stores them by default (the zip is encrypted next, and most files
    /// worth protecting are compressed already). JSZip, the deserializer, Python's `zipfile`
    /// and this crate read it.
    pub fn to_zip(&self) -> Vec<u8> {
        crate::archive::write_zip(&self.root)
    }
}

fn schema_of(object: &Object) -> OrderedMap<Node> {
    let mut out = OrderedMap::default();
    for (key, value) in object.iter() {
        let node = match value {
            Value::Object(inner) => Node::Object(schema_of(inner)),
            leaf => Node::Leaf(leaf.kind().expect("invariant: only objects have no kind")),
        };
        out.insert(key.to_owned(), node);
    }
    out
}

fn check_leaf(value: &Value, path: &str) -> Result<()> {
    match value {
        Value::F64(f) if !f.is_finite() => Err(Error::NotANumber { path: path.to_owned() }),
        Value::String(s) if u32::try_from(s.len()).is_err() => Err(Error::UnsupportedValue {
            path: path.to_owned(),
            reason: "strings are limited to 4 GiB",
        }),
        _ => Ok(()),
    }
}

/// Checks an object whose path has `depth` keys.
fn check_object(object: &Object, path: &str, depth: usize) -> Result<()> {
    if depth >= MAX_DEPTH && !object.is_empty() {
        return Err(Error::TooDeep { path: path.to_owned() });
    }
    for (key, value) in object.iter() {
        if !is_valid_key(key) {
            return Err(Error::InvalidKey {
                key: key.to_owned(),
                path: path.to_owned(),
            });
        }
        let child = child_path(path, key);
        match value {
            Value::Object(inner) => check_object(inner, &child, depth + 1)?,
            leaf => check_leaf(leaf, &child)?,
        }
    }
    Ok(())
}

/// Converts a parsed JSON object whose keys go at depth `depth` (the root's at 1).
fn convert_object(entries: Vec<(String, Json)>, path: &str, depth: usize) -> Result<Value> {
    if let [(key, value)] = entries.as_slice() {
        match key.as_str() {
            "$i128" => return parse_i128(value, path).map(Value::I128),
            "$base64" => return parse_base64(value, path).map(Value::File),
            _ => {}
        }
    }
    let mut object = Object::new();
    for (key, value) in entries {
        if !is_valid_key(&key) {
            return Err(Error::InvalidKey {
                key,
                path: path.to_owned(),
            });
        }
        if depth > MAX_DEPTH {
            return Err(Error::TooDeep { path: path.to_owned() });
        }
        let child = child_path(path, &key);
        let value = match value {
            Json::Null => {
                return Err(Error::UnsupportedValue {
                    path: child,
                    reason: "null is not a value",
                });
            }
            Json::Array(_) => {
                return Err(Error::UnsupportedValue {
                    path: child,
                    reason: "arrays are not supported",
                });
            }
            Json::Bool(b) => Value::Bool(b),
            Json::Number(n) if n.is_finite() => Value::F64(n),
            Json::Number(_) => return Err(Error::NotANumber { path: child }),
            Json::String(s) => Value::String(s),
            Json::Object(inner) => convert_object(inner, &child, depth + 1)?,
        };
        check_leaf(&value, &child)?;
        if object.insert(key, value).is_some() {
            return Err(Error::PathConflict { path: child });
        }
    }
    Ok(Value::Object(object))
}

fn parse_i128(value: &Json, path: &str) -> Result<i128> {
    let bad = || Error::UnsupportedValue {
        path: path.to_owned(),
        reason: "$i128 takes a decimal integer string",
    };
    let Json::String(text) = value else { return Err(bad()) };
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    text.parse()
        .map_err(|_| Error::I128OutOfRange { path: path.to_owned() })
}

fn parse_base64(value: &Json, path: &str) -> Result<Vec<u8>> {
    let bad = || Error::UnsupportedValue {
        path: path.to_owned(),
        reason: "$base64 takes a standard padded base64 string",
    };
    let Json::String(text) = value else { return Err(bad()) };
    BASE64.decode(text).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn code(result: Result<DataObject>) -> &'static str {
        result.unwrap_err().code()
    }

    #[test]
    fn json_forms() {
        let data = DataObject::from_json(json!({
            "s": "text", "n": 42, "f": -0.5, "b": true,
            "big": {"$i128": "-170141183460469231731687303715884105728"},
            "file": {"$base64": "AAEC"},
            "o": {"inner": {"$i128": "7"}, "empty": {}}
        }))
        .unwrap();
        assert_eq!(data.get("s"), Some(&Value::String("text".into())));
        assert_eq!(data.get("n"), Some(&Value::F64(42.0)));
        assert_eq!(data.get("f"), Some(&Value::F64(-0.5)));
        assert_eq!(data.get("b"), Some(&Value::Bool(true)));
        assert_eq!(data.get("big"), Some(&Value::I128(i128::MIN)));
        assert_eq!(data.get("file"), Some(&Value::File(vec![0, 1, 2])));
        assert_eq!(data.get("o.inner"), Some(&Value::I128(7)));
        assert_eq!(data.get("o.empty"), Some(&Value::Object(Object::new())));
        assert_eq!(data.get("o.nope"), None);
        assert_eq!(data.get("s.x"), None);
        assert_eq!(DataObject::from_json(data.to_json()).unwrap(), data);
    }

    #[test]
    fn refused_json() {
        assert_eq!(code(DataObject::from_json(json!({}))), "EMPTY_OBJECT");
        assert_eq!(code(DataObject::from_json(json!([1]))), "UNSUPPORTED_VALUE");
        assert_eq!(code(DataObject::from_json(json!("s"))), "UNSUPPORTED_VALUE");
        assert_eq!(code(DataObject::from_json(json!(null))), "UNSUPPORTED_VALUE");
        assert_eq!(code(DataObject::from_json(json!({"$i128": "1"}))), "UNSUPPORTED_VALUE");
        assert_eq!(code(DataObject::from_json(json!({"a": null}))), "UNSUPPORTED_VALUE");
        assert_eq!(code(DataObject::from_json(json!({"a": [1, 2]}))), "UNSUPPORTED_VALUE");
        assert_eq!(
            code(DataObject::from_json(json!({"a": {"b": []}}))),
            "UNSUPPORTED_VALUE"
        );
        assert_eq!(code(DataObject::from_json(json!({"a.b": 1}))), "INVALID_KEY");
        assert_eq!(code(DataObject::from_json(json!({"": 1}))), "INVALID_KEY");
        assert_eq!(code(DataObject::from_json(json!({"a": {"é": 1}}))), "INVALID_KEY");
        assert_eq!(
            code(DataObject::from_json(json!({"a": {"$i128": "1", "x": 2}}))),
            "INVALID_KEY"
        );
        assert_eq!(
            code(DataObject::from_json(json!({"a": {"$i128": 1}}))),
            "UNSUPPORTED_VALUE"
        );
        assert_eq!(
            code(DataObject::from_json(json!({"a": {"$i128": "1.5"}}))),
            "UNSUPPORTED_VALUE"
        );
        assert_eq!(
            code(DataObject::from_json(json!({"a": {"$i128": "+1"}}))),
            "UNSUPPORTED_VALUE"
        );
        assert_eq!(
            code(DataObject::from_json(json!({"a": {"$i128": " 1"}}))),
            "UNSUPPORTED_VALUE"
        );
        assert_eq!(
            code(DataObject::from_json(json!({"a": {"$i128": "-"}}))),
            "UNSUPPORTED_VALUE"
        );
        assert_eq!(
            code(DataObject::from_json(json!({"a": {"$base64": "!!"}}))),
            "UNSUPPORTED_VALUE"
        );
        assert_eq!(
            code(DataObject::from_json(json!({"a": {"$base64": "AAE"}}))),
            "UNSUPPORTED_VALUE"
        );
        assert_eq!(
            code(DataObject::from_json(json!({"a": {"$base64": 1}}))),
            "UNSUPPORTED_VALUE"
        );
    }

    #[test]
    fn i128_range_is_exact() {
        let max = "170141183460469231731687303715884105727";
        assert_eq!(
            DataObject::from_json(json!({"a": {"$i128": max}})).unwrap().get("a"),
            Some(&Value::I128(i128::MAX))
        );
        // 2^127: the SDK lets it through and writes i128::MIN; we refuse it.
        let e = DataObject::from_json(json!({"a": {"b": {"$i128": "170141183460469231731687303715884105728"}}}));
        let e = e.unwrap_err();
        assert_eq!(e.code(), "I128_OUT_OF_RANGE");
        assert_eq!(e.to_string(), "the integer at \"a.b\" is outside the i128 range");
        let below = "-170141183460469231731687303715884105729";
        assert_eq!(
            code(DataObject::from_json(json!({"a": {"$i128": below}}))),
            "I128_OUT_OF_RANGE"
        );
    }

    #[test]
    fn messages_name_the_path() {
        let e = DataObject::from_json(json!({"o": {"bad key": 1}})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid key \"bad key\" at \"o\": keys are non-empty and use only a-z, A-Z, 0-9, '-' and '_'"
        );
        let e = DataObject::from_json(json!({"o": {"l": [1]}})).unwrap_err();
        assert_eq!(e.to_string(), "unsupported value at \"o.l\": arrays are not supported");
        assert_eq!(
            DataObject::from_json(json!({})).unwrap_err().to_string(),
            "the protected data is empty: give it at least one field"
        );
    }

    #[test]
    fn from_json_str_keeps_order_and_refuses_duplicates() {
        let data = DataObject::from_json_str(r#"{"zeta":1,"10":true,"alpha":{"b":"x","a":"y"},"2":false}"#).unwrap();
        assert_eq!(
            data.schema().to_json_string(),
            r#"{"2":"bool","10":"bool","zeta":"f64","alpha":{"b":"string","a":"string"}}"#
        );
        let e = DataObject::from_json_str(r#"{"a":{"x":1,"x":2}}"#).unwrap_err();
        assert_eq!(e.code(), "PATH_CONFLICT");
        assert_eq!(e.to_string(), "path conflict at \"a.x\": it already holds a value");
        assert_eq!(DataObject::from_json_str("{").unwrap_err().code(), "BAD_JSON");
        assert_eq!(DataObject::from_json_str("{} {}").unwrap_err().code(), "BAD_JSON");
    }

    #[test]
    fn values_built_in_code_are_checked() {
        let nan: Object = [("x", Value::F64(f64::NAN))].into_iter().collect();
        assert_eq!(code(DataObject::from_value(Value::Object(nan))), "NOT_A_NUMBER");
        let inf: Object = [(
            "o",
            Value::Object([("x", Value::F64(f64::INFINITY))].into_iter().collect()),
        )]
        .into_iter()
        .collect();
        let e = DataObject::from_value(Value::Object(inf)).unwrap_err();
        assert_eq!(e.to_string(), "the number at \"o.x\" is not finite");
        let bad: Object = [("a b", Value::Bool(true))].into_iter().collect();
        assert_eq!(code(DataObject::from_value(Value::Object(bad))), "INVALID_KEY");
        assert_eq!(
            code(DataObject::from_value(Value::Object(Object::new()))),
            "EMPTY_OBJECT"
        );
        assert_eq!(code(DataObject::from_value(Value::Bool(true))), "UNSUPPORTED_VALUE");
        let mut deep = Value::Bool(true);
        for _ in 0..MAX_DEPTH {
            deep = Value::Object([("a", deep)].into_iter().collect());
        }
        assert!(DataObject::from_value(deep.clone()).is_ok());
        let deeper = Value::Object([("a", deep)].into_iter().collect());
        assert_eq!(code(DataObject::from_value(deeper)), "TOO_DEEP");
    }

    #[test]
    fn insert_file_creates_objects_and_refuses_conflicts() {
        let mut data = DataObject::from_json(json!({"a": {"b": "x"}, "leaf": 1})).unwrap();
        data.insert_file("a.c.photo", vec![0x89, b'P', b'N', b'G']).unwrap();
        assert_eq!(data.get("a.c.photo"), Some(&Value::File(vec![0x89, b'P', b'N', b'G'])));
        data.insert_file("new", vec![]).unwrap();

        let before = data.clone();
        let through_leaf = data.insert_file("leaf.x", vec![1]).unwrap_err();
        assert_eq!(
            through_leaf.to_string(),
            "path conflict at \"leaf\": it already holds a value"
        );
        let deep_through_leaf = data.insert_file("a.b.x.y", vec![1]).unwrap_err();
        assert_eq!(
            deep_through_leaf.to_string(),
            "path conflict at \"a.b\": it already holds a value"
        );
        assert_eq!(data.insert_file("a", vec![1]).unwrap_err().code(), "PATH_CONFLICT");
        assert_eq!(data.insert_file("a.b", vec![1]).unwrap_err().code(), "PATH_CONFLICT");
        assert_eq!(data.insert_file("a..b", vec![1]).unwrap_err().code(), "INVALID_KEY");
        assert_eq!(
            data.insert("z.x", Value::F64(f64::NAN)).unwrap_err().code(),
            "NOT_A_NUMBER"
        );
        assert_eq!(data, before, "a refused insert changes nothing");

        let files = DataObject::from_entries([
            ("doc.pdf", Value::File(b"%PDF-1.4".to_vec())),
            ("doc.n", Value::F64(1.0)),
        ])
        .unwrap();
        assert_eq!(
            files.schema().to_json_string(),
            r#"{"doc":{"pdf":"application/pdf","n":"f64"}}"#
        );
        assert_eq!(
            code(DataObject::from_entries(Vec::<(&str, Value)>::new())),
            "EMPTY_OBJECT"
        );
        assert_eq!(
            code(DataObject::from_entries([
                ("a", Value::Bool(true)),
                ("a", Value::Bool(true))
            ])),
            "PATH_CONFLICT"
        );
    }

    #[test]
    fn schema_of_every_leaf_kind() {
        let data = DataObject::from_json_str(
            r#"{"email":"a@b.c","profile":{"age":42.5,"score":{"$i128":"1"},"verified":true},
                "photo":{"$base64":"iVBORw0KGgo="},"raw":{"$base64":""},"e":{}}"#,
        )
        .unwrap();
        let schema = data.schema();
        assert_eq!(
            schema.to_json_string(),
            r#"{"email":"string","profile":{"age":"f64","score":"i128","verified":"bool"},"photo":"image/png","raw":"application/octet-stream","e":{}}"#
        );
        let ids: Vec<String> = schema.entries().iter().map(|e| e.id()).collect();
        assert_eq!(
            ids,
            [
                "email:string",
                "profile.age:f64",
                "profile.score:i128",
                "profile.verified:bool",
                "photo:image/png",
                "raw:application/octet-stream"
            ]
        );
    }
}
