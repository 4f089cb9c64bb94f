//! A protected data's schema as iExec's DataProtector writes it in `DatasetSchema`: a JSON
//! object mirroring the data's keys, whose leaves name each value's type, for example
//! `{"email":"string","photo":"image/png","address":{"zip":"i128"}}`. Its entries are
//! flattened to `path:type` ids (`address.zip:i128`), as iExec's DataProtector subgraph
//! does (`packages/subgraph/src/DataProtector.ts`, `recursiveParse`):
//!
//! - a key must be non-empty (after trimming) and match `^[a-zA-Z0-9\-_]*$`; an entry whose
//!   key does not is skipped, with everything under it;
//! - an object recurses, its keys joined with `.`;
//! - a string leaf is kept when it is one of the types below (the SDK's `bool`, `i128`,
//!   `f64`, `string`, the MIME types it recognises, and the legacy `boolean` and `number`
//!   of DataProtector v0); any other type, and any other JSON value, is skipped;
//! - text that is not a JSON object has no entries.
//!
//! One difference: the subgraph repeats a nested object's entries once per key of that
//! object (it loops over the entries and parses the whole object each time); here each
//! entry appears once.
//!
//! This is the market's own small copy of the flattening; the `confide-protected-data`
//! crate holds the full schema parser.

use serde_json::Value;

/// The types a schema entry may have, as iExec's DataProtector subgraph lists them.
pub(crate) const ENTRY_TYPES: &[&str] = &[
    "boolean",
    "number",
    "string",
    "bool",
    "i128",
    "f64",
    "application/octet-stream",
    "application/pdf",
    "application/xml",
    "application/zip",
    "audio/midi",
    "audio/mpeg",
    "audio/x-wav",
    "image/bmp",
    "image/gif",
    "image/jpeg",
    "image/png",
    "image/webp",
    "video/mp4",
    "video/mpeg",
    "video/x-msvideo",
];

/// Nesting followed at most: deeper objects are skipped (a schema is the data's own
/// shape; iExec's SDK builds none this deep).
const MAX_DEPTH: usize = 32;

/// One `path:type` entry of a schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The keys from the root, joined with `.`.
    pub(crate) path: String,
    /// The type named at the leaf, one of [`ENTRY_TYPES`].
    pub(crate) kind: String,
}

impl Entry {
    /// Its id, `path:type`, as the subgraph names a `SchemaEntry`.
    pub(crate) fn id(&self) -> String {
        format!("{}:{}", self.path, self.kind)
    }

    /// The entry of an id `path:type` (the type is after the first `:`: a path has none).
    pub(crate) fn parse(id: &str) -> Option<Entry> {
        let (path, kind) = id.split_once(':')?;
        Some(Entry {
            path: path.to_owned(),
            kind: kind.to_owned(),
        })
    }
}

fn valid_key(key: &str) -> bool {
    !key.trim().is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The entries of a schema, each once, sorted by id (the order they are stored and
/// shown in; iExec's SDK rebuilds the tree from them, so order carries nothing).
pub(crate) fn entries(schema: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    if let Ok(Value::Object(root)) = serde_json::from_str::<Value>(schema) {
        walk(&root, "", 0, &mut out);
    }
    out.sort_by_key(Entry::id);
    out.dedup();
    out
}

fn walk(object: &serde_json::Map<String, Value>, parent: &str, depth: usize, out: &mut Vec<Entry>) {
    if depth >= MAX_DEPTH {
        return;
    }
    for (key, value) in object {
        if !valid_key(key) {
            continue;
        }
        let path = if parent.is_empty() {
            key.clone()
        } else {
            format!("{parent}.{key}")
        };
        match value {
            Value::Object(inner) => walk(inner, &path, depth + 1, out),
            Value::String(kind) if ENTRY_TYPES.contains(&kind.as_str()) => out.push(Entry {
                path,
                kind: kind.clone(),
            }),
            _ => {}
        }
    }
}

/// The schema as a tree again (`{"address":{"zip":"i128"}}`) from its entries, as iExec's
/// SDK rebuilds it (`reverseSafeSchema`): for the explorer's page.
pub(crate) fn tree(entries: &[Entry]) -> Value {
    let mut root = serde_json::Map::new();
    for entry in entries {
        let keys: Vec<&str> = entry.path.split('.').collect();
        let (last, parents) = keys.split_last().expect("split yields at least one key");
        let mut node = &mut root;
        for key in parents {
            let next = node
                .entry((*key).to_owned())
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            if !next.is_object() {
                *next = Value::Object(serde_json::Map::new());
            }
            node = next.as_object_mut().expect("made an object just above");
        }
        node.insert((*last).to_owned(), Value::String(entry.kind.clone()));
    }
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(schema: &str) -> Vec<String> {
        entries(schema).iter().map(Entry::id).collect()
    }

    #[test]
    fn a_schema_flattens_to_path_type_ids_skipping_what_the_subgraph_skips() {
        let table: &[(&str, &[&str])] = &[
            (r#"{"email":"string"}"#, &["email:string"]),
            (r#"{"a":{"b":{"c":"bool"}},"z":"f64"}"#, &["a.b.c:bool", "z:f64"]),
            (r#"{"photo":"image/png","n":"i128"}"#, &["n:i128", "photo:image/png"]),
            // Legacy types of DataProtector v0.
            (
                r#"{"old":"boolean","count":"number"}"#,
                &["count:number", "old:boolean"],
            ),
            // Unknown types, other JSON values and bad keys are skipped.
            (
                r#"{"x":"uint256","y":3,"z":["string"],"ok-key_1":"string","bad key":"string","dot.ted":"string"}"#,
                &["ok-key_1:string"],
            ),
            (r#"{" ":"string","":"string"}"#, &[]),
            (r#"{"bad!":{"inner":"string"}}"#, &[]),
            // Not an object, not JSON.
            (r#"["string"]"#, &[]),
            ("string", &[]),
            ("", &[]),
            (r#"{"a":{}}"#, &[]),
        ];
        for (schema, want) in table {
            assert_eq!(ids(schema), *want, "{schema}");
        }
    }

    #[test]
    fn the_tree_comes_back_from_the_entries() {
        let schema = r#"{"address":{"zip":"i128","city":"string"},"email":"string"}"#;
        assert_eq!(tree(&entries(schema)), serde_json::from_str::<Value>(schema).unwrap());
        assert_eq!(Entry::parse("a.b:image/png").unwrap().id(), "a.b:image/png");
        assert_eq!(Entry::parse("nocolon"), None);
    }

    #[test]
    fn deep_nesting_stops() {
        let mut schema = String::new();
        for _ in 0..100 {
            schema.push_str(r#"{"k":"#);
        }
        schema.push_str(r#""string""#);
        for _ in 0..100 {
            schema.push('}');
        }
        assert_eq!(entries(&schema), vec![]);
    }
}
