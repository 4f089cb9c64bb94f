//! The schema: the shape of a protected data with a type at each leaf, as the SDK registers it
//! on chain (`JSON.stringify(schema)` in `createDatasetWithSchema`) and as iExec's subgraph
//! lists it (entries `"path.to.key:type"`).

use std::fmt;
use std::str::FromStr;

use crate::json::Json;
use crate::key::{child_path, is_valid_key, split_path};
use crate::map::OrderedMap;
use crate::mime::MIME_TYPES;
use crate::{Error, MAX_DEPTH, Result};

/// A supported MIME type, one of [`MIME_TYPES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mime(
    /// Invariant: one of `MIME_TYPES`.
    &'static str,
);

impl Mime {
    /// `application/octet-stream`, the SDK's fallback.
    pub const OCTET_STREAM: Mime = Mime(MIME_TYPES[0]);

    /// The supported MIME type with this name, if it is one.
    pub fn from_name(name: &str) -> Option<Mime> {
        MIME_TYPES.iter().find(|m| **m == name).map(|m| Mime(m))
    }

    /// The MIME type the SDK records for a file with these bytes (see [`crate::sniff_mime`]).
    pub fn sniff(bytes: &[u8]) -> Mime {
        Mime(crate::sniff_mime(bytes))
    }

    /// The name, such as `image/png`.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for Mime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The type of a schema leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// `bool`: a borsh bool.
    Bool,
    /// `f64`: a borsh f64 (a JavaScript number).
    F64,
    /// `i128`: a borsh i128 (a JavaScript bigint).
    I128,
    /// `string`: a borsh string.
    String,
    /// A MIME type: a file, stored as its raw bytes.
    File(Mime),
    /// `boolean`: dataprotector v0's boolean. Searchable, never written.
    LegacyBoolean,
    /// `number`: dataprotector v0's number (decimal text). Searchable, never written.
    LegacyNumber,
}

impl Kind {
    /// The type's name in a schema: `bool`, `f64`, `i128`, `string`, a MIME type, `boolean`
    /// or `number`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Bool => "bool",
            Kind::F64 => "f64",
            Kind::I128 => "i128",
            Kind::String => "string",
            Kind::File(mime) => mime.as_str(),
            Kind::LegacyBoolean => "boolean",
            Kind::LegacyNumber => "number",
        }
    }

    /// The type with this name, among every name the subgraph accepts (legacy ones included).
    pub fn from_name(name: &str) -> Option<Kind> {
        Some(match name {
            "bool" => Kind::Bool,
            "f64" => Kind::F64,
            "i128" => Kind::I128,
            "string" => Kind::String,
            "boolean" => Kind::LegacyBoolean,
            "number" => Kind::LegacyNumber,
            mime => Kind::File(Mime::from_name(mime)?),
        })
    }

    /// Whether this is a legacy (dataprotector v0) type.
    pub fn is_legacy(self) -> bool {
        matches!(self, Kind::LegacyBoolean | Kind::LegacyNumber)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = Error;

    fn from_str(name: &str) -> Result<Kind> {
        Kind::from_name(name).ok_or_else(|| Error::UnsupportedType {
            path: String::new(),
            kind: name.to_owned(),
        })
    }
}

/// One leaf of a schema: its dotted path and its type, as iExec's subgraph lists them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SchemaEntry {
    /// The dotted path, such as `profile.email`. Entries this crate makes have valid keys;
    /// every function taking an entry checks its path again.
    pub path: String,
    /// The leaf's type.
    pub kind: Kind,
}

impl SchemaEntry {
    /// The entry's id in the subgraph: `"path:type"`, such as `profile.email:string`.
    pub fn id(&self) -> String {
        format!("{}:{}", self.path, self.kind)
    }

    /// Reads an id `"path:type"` (strictly: every key valid, a known type).
    pub fn parse(id: &str) -> Result<SchemaEntry> {
        let (path, kind) = id.split_once(':').unwrap_or((id, ""));
        split_path(path)?;
        let kind = Kind::from_name(kind).ok_or_else(|| Error::UnsupportedType {
            path: path.to_owned(),
            kind: kind.to_owned(),
        })?;
        Ok(SchemaEntry {
            path: path.to_owned(),
            kind,
        })
    }
}

impl fmt::Display for SchemaEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path, self.kind)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    Leaf(Kind),
    Object(OrderedMap<Node>),
}

/// A schema: objects mirroring a protected data, with a [`Kind`] at each leaf.
///
/// Keys keep their insertion order; [`to_json_string`](Schema::to_json_string) writes them in
/// JavaScript's order, so it equals the SDK's `JSON.stringify(schema)` for the same data.
/// Empty nested objects are kept (the SDK writes `{}` for them) but have no entries.
#[derive(Clone, Debug, PartialEq)]
pub struct Schema {
    pub(crate) root: OrderedMap<Node>,
}

impl Schema {
    /// The schema as the SDK registers it on chain: `JSON.stringify(schema)`, no spaces.
    pub fn to_json_string(&self) -> String {
        let mut out = String::new();
        write_object(&self.root, &mut out);
        out
    }

    /// The leaves, depth first, in JavaScript's key order.
    pub fn entries(&self) -> Vec<SchemaEntry> {
        let mut out = Vec::new();
        collect_entries(&self.root, "", &mut out);
        out
    }

    /// Reads a schema from its on-chain JSON string as iExec's subgraph does
    /// (`handleDatasetSchema`): tolerantly. Not JSON, or not an object: no entry. Keys that
    /// are blank or use other characters than `a-z A-Z 0-9 - _` are skipped with whatever is
    /// under them; objects recurse; strings that are a known type (legacy `boolean` and
    /// `number` included) are entries; anything else is skipped.
    ///
    /// Entries come in the JSON text's order. The subgraph lists an entry of a nested object
    /// once per key of that object (its loop recurses once per key); here each `path:type`
    /// comes once, at its first place. Deeper than [`MAX_DEPTH`]: no entry (JSON nested more
    /// than 128 levels does not parse).
    pub fn parse_chain(schema: &str) -> Vec<SchemaEntry> {
        let Ok(Json::Object(root)) = crate::json::parse(schema) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        chain_entries(&root, "", 1, &mut out);
        let mut seen = std::collections::HashSet::new();
        out.retain(|entry: &SchemaEntry| seen.insert(entry.id()));
        out
    }

    /// Builds the schema those entries describe (as the SDK's `reverseSafeSchema` does), in
    /// their order. Two entries for one path, or a path through another's leaf, conflict.
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = &'a SchemaEntry>) -> Result<Schema> {
        let mut root = OrderedMap::default();
        for entry in entries {
            let keys = split_path(&entry.path)?;
            let (last, parents) = keys.split_last().expect("invariant: split returns at least one key");
            let mut object = &mut root;
            for (depth, key) in parents.iter().enumerate() {
                if object.get(key).is_none() {
                    object.insert((*key).to_owned(), Node::Object(OrderedMap::default()));
                }
                object = match object.get_mut(key) {
                    Some(Node::Object(inner)) => inner,
                    _ => {
                        return Err(Error::PathConflict {
                            path: keys[..=depth].join("."),
                        });
                    }
                };
            }
            if object.insert((*last).to_owned(), Node::Leaf(entry.kind)).is_some() {
                return Err(Error::PathConflict {
                    path: entry.path.clone(),
                });
            }
        }
        Ok(Schema { root })
    }

    /// The type at a dotted path, if the schema has a leaf there.
    pub fn kind(&self, path: &str) -> Option<Kind> {
        let keys = split_path(path).ok()?;
        let (last, parents) = keys.split_last()?;
        let mut object = &self.root;
        for key in parents {
            object = match object.get(key)? {
                Node::Object(inner) => inner,
                Node::Leaf(_) => return None,
            };
        }
        match object.get(last)? {
            Node::Leaf(kind) => Some(*kind),
            Node::Object(_) => None,
        }
    }
}

fn write_object(object: &OrderedMap<Node>, out: &mut String) {
    out.push('{');
    for (i, (key, node)) in object.js_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_string(key, out);
        out.push(':');
        match node {
            Node::Leaf(kind) => write_json_string(kind.as_str(), out),
            Node::Object(inner) => write_object(inner, out),
        }
    }
    out.push('}');
}

/// Keys and type names never need escaping (checked keys, fixed names); serde_json writes the
/// quotes all the same, as `JSON.stringify` would for these characters.
fn write_json_string(s: &str, out: &mut String) {
    out.push_str(&serde_json::to_string(s).expect("invariant: serializing a str cannot fail"));
}

fn collect_entries(object: &OrderedMap<Node>, parent: &str, out: &mut Vec<SchemaEntry>) {
    for (key, node) in object.js_iter() {
        let path = child_path(parent, key);
        match node {
            Node::Leaf(kind) => out.push(SchemaEntry { path, kind: *kind }),
            Node::Object(inner) => collect_entries(inner, &path, out),
        }
    }
}

fn chain_entries(object: &[(String, Json)], parent: &str, depth: usize, out: &mut Vec<SchemaEntry>) {
    for (key, value) in object {
        if !is_valid_key(key) {
            continue;
        }
        let path = child_path(parent, key);
        match value {
            Json::Object(inner) if depth < MAX_DEPTH => chain_entries(inner, &path, depth + 1, out),
            Json::String(name) => {
                if let Some(kind) = Kind::from_name(name) {
                    out.push(SchemaEntry { path, kind });
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, kind: Kind) -> SchemaEntry {
        SchemaEntry {
            path: path.to_owned(),
            kind,
        }
    }

    #[test]
    fn kinds_round_trip_their_names() {
        for name in ["bool", "f64", "i128", "string", "boolean", "number"]
            .into_iter()
            .chain(MIME_TYPES)
        {
            assert_eq!(Kind::from_name(name).unwrap().as_str(), name);
        }
        for not in ["", "Bool", "int", "image/svg+xml", "audio/ogg", "text/plain"] {
            assert_eq!(Kind::from_name(not), None, "{not}");
        }
        assert!(Kind::LegacyNumber.is_legacy() && !Kind::F64.is_legacy());
        assert_eq!(
            "image/png".parse::<Kind>().unwrap(),
            Kind::File(Mime::from_name("image/png").unwrap())
        );
        assert_eq!("png".parse::<Kind>().unwrap_err().code(), "UNSUPPORTED_TYPE");
    }

    #[test]
    fn entry_ids() {
        let e = entry("profile.email", Kind::String);
        assert_eq!(e.id(), "profile.email:string");
        assert_eq!(SchemaEntry::parse("profile.email:string").unwrap(), e);
        assert_eq!(
            SchemaEntry::parse("a:image/png").unwrap().kind,
            Kind::File(Mime::from_name("image/png").unwrap())
        );
        assert_eq!(SchemaEntry::parse("a:png").unwrap_err().code(), "UNSUPPORTED_TYPE");
        assert_eq!(SchemaEntry::parse("a").unwrap_err().code(), "UNSUPPORTED_TYPE");
        assert_eq!(SchemaEntry::parse("a b:bool").unwrap_err().code(), "INVALID_KEY");
        assert_eq!(SchemaEntry::parse(":bool").unwrap_err().code(), "INVALID_KEY");
    }

    #[test]
    fn from_entries_builds_the_tree_and_finds_conflicts() {
        let entries = [
            entry("b.x", Kind::F64),
            entry("a", Kind::Bool),
            entry("b.y.z", Kind::I128),
        ];
        let schema = Schema::from_entries(&entries).unwrap();
        assert_eq!(
            schema.to_json_string(),
            r#"{"b":{"x":"f64","y":{"z":"i128"}},"a":"bool"}"#
        );
        assert_eq!(schema.kind("b.y.z"), Some(Kind::I128));
        assert_eq!(schema.kind("b.y"), None);
        assert_eq!(schema.kind("b.x.q"), None);
        // Depth first: the object `b` keeps its place, ahead of `a`.
        assert_eq!(
            schema.entries(),
            [entries[0].clone(), entries[2].clone(), entries[1].clone()]
        );

        let twice = Schema::from_entries(&[entry("a", Kind::Bool), entry("a", Kind::F64)]).unwrap_err();
        assert_eq!(twice.to_string(), "path conflict at \"a\": it already holds a value");
        let through = Schema::from_entries(&[entry("a", Kind::Bool), entry("a.b", Kind::F64)]).unwrap_err();
        assert_eq!(through.code(), "PATH_CONFLICT");
        let over = Schema::from_entries(&[entry("a.b", Kind::Bool), entry("a", Kind::F64)]).unwrap_err();
        assert_eq!(over.code(), "PATH_CONFLICT");
    }

    #[test]
    fn json_string_puts_integer_like_keys_first() {
        let entries = [
            entry("z", Kind::Bool),
            entry("10", Kind::Bool),
            entry("2", Kind::Bool),
            entry("-1", Kind::Bool),
        ];
        let schema = Schema::from_entries(&entries).unwrap();
        assert_eq!(
            schema.to_json_string(),
            r#"{"2":"bool","10":"bool","z":"bool","-1":"bool"}"#
        );
        let ids: Vec<String> = schema.entries().iter().map(SchemaEntry::id).collect();
        assert_eq!(ids, ["2:bool", "10:bool", "z:bool", "-1:bool"]);
    }

    #[test]
    fn parse_chain_is_tolerant_like_the_subgraph() {
        let schema = r#"{"email":"string","bad key":"string","":"bool","x":"unknown","n":3,"l":["bool"],
            "profile":{"age":"f64","pic":"image/png","a.b":"bool","deep":{"v":"number"}},"old":"boolean","e":{}}"#;
        let ids: Vec<String> = Schema::parse_chain(schema).iter().map(SchemaEntry::id).collect();
        assert_eq!(
            ids,
            [
                "email:string",
                "profile.age:f64",
                "profile.pic:image/png",
                "profile.deep.v:number",
                "old:boolean"
            ]
        );
        assert!(Schema::parse_chain("not json").is_empty());
        assert!(Schema::parse_chain(r#"["a:string"]"#).is_empty());
        assert!(Schema::parse_chain(r#""string""#).is_empty());
        assert!(Schema::parse_chain("{}").is_empty());
    }

    #[test]
    fn parse_chain_keeps_document_order_and_lists_each_entry_once() {
        let ids: Vec<String> =
            Schema::parse_chain(r#"{"b":"bool","a":"f64","b":"bool","c":{"x":"i128"},"c":{"x":"i128"}}"#)
                .iter()
                .map(SchemaEntry::id)
                .collect();
        assert_eq!(ids, ["b:bool", "a:f64", "c.x:i128"]);
    }

    #[test]
    fn parse_chain_reads_what_to_json_string_writes() {
        let entries = [entry("a.b", Kind::String), entry("c", Kind::File(Mime::OCTET_STREAM))];
        let schema = Schema::from_entries(&entries).unwrap();
        assert_eq!(Schema::parse_chain(&schema.to_json_string()), entries);
    }
}
