//! Interop with iExec's SDK: the zips and schemas in `tests/vectors/`, written by
//! `@iexec/dataprotector` itself (see the README there), read by this crate, and this crate's
//! output for the same inputs compared with them.
//!
//! For every vector listed in `vectors.json`:
//! - the SDK's zip opens, and every leaf decodes, by its schema type, to the recorded input;
//! - the schema this crate computes for the recorded input is the SDK's, as the on-chain string
//!   (byte for byte: key order included) and as the pretty-printed file;
//! - `parse_chain` of the SDK's string gives this crate's entries;
//! - this crate's zip has the SDK's entries, in the SDK's order, with the same bytes in each.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use confide_protected_data::{DataObject, ProtectedData, Schema, Value};
use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct Vectors {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    name: String,
    zip: String,
    schema: String,
    schema_onchain: String,
    entry_names: Vec<String>,
    /// The input object, kept as text: its key order is the order the SDK walked it in.
    input: Box<RawValue>,
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn read(name: &str) -> Vec<u8> {
    let path = vectors_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The vectors mark an `ArrayBuffer` input as `{"$base64": "…", "$arrayBuffer": true}`; to
/// this crate it is a file like any other. Removes each `, "$arrayBuffer": true`.
fn without_array_buffer_markers(text: &str) -> String {
    let mut out = text.to_owned();
    while let Some(at) = out.find("\"$arrayBuffer\"") {
        let start = out[..at].rfind(',').expect("the marker follows $base64");
        let rest = &out[at..];
        let value_end = rest.find("true").expect("the marker is true") + "true".len();
        out.replace_range(start..at + value_end, "");
    }
    out
}

fn load() -> Vec<Vector> {
    let vectors: Vectors = serde_json::from_slice(&read("vectors.json")).expect("vectors.json parses");
    assert!(!vectors.vectors.is_empty(), "vectors.json lists no vector");
    vectors.vectors
}

#[test]
fn sdk_zips_decode_to_the_recorded_inputs() {
    for vector in load() {
        let name = &vector.name;
        let sdk = ProtectedData::from_zip(&read(&vector.zip)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let input = without_array_buffer_markers(vector.input.get());
        let data = match DataObject::from_json_str(&input) {
            Ok(data) => data,
            Err(e) if e.code() == "EMPTY_OBJECT" => {
                // `{}`: the SDK writes an empty zip and schema; we refuse to make one, but read it.
                assert!(sdk.paths().is_empty(), "{name}");
                assert_eq!(vector.schema_onchain, "{}", "{name}");
                assert!(Schema::parse_chain(&vector.schema_onchain).is_empty(), "{name}");
                continue;
            }
            Err(e) => panic!("{name}: the recorded input is refused: {e}"),
        };
        let entries = data.schema().entries();
        assert!(!entries.is_empty(), "{name}");
        for entry in &entries {
            let expected = data
                .get(&entry.path)
                .expect("an entry of the data's schema is in the data");
            let got = sdk
                .get(&entry.path, entry.kind.as_str())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&got, expected, "{name}: {}", entry.id());
        }
        let object = sdk.to_object(&entries).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            object.len(),
            data.as_object().iter().filter(|(_, v)| !is_empty_object(v)).count(),
            "{name}"
        );

        let sdk_paths: BTreeSet<String> = sdk.paths().into_iter().collect();
        let our_paths: BTreeSet<String> = entries.iter().map(|e| e.path.clone()).collect();
        assert_eq!(
            sdk_paths, our_paths,
            "{name}: the SDK's zip holds exactly the schema's leaves"
        );
    }
}

fn is_empty_object(value: &Value) -> bool {
    match value {
        Value::Object(object) => object.iter().all(|(_, v)| is_empty_object(v)),
        _ => false,
    }
}

#[test]
fn our_schema_is_the_sdks() {
    for vector in load() {
        let name = &vector.name;
        let Ok(data) = DataObject::from_json_str(&without_array_buffer_markers(vector.input.get())) else {
            assert_eq!(vector.schema_onchain, "{}", "{name}: only the empty input is refused");
            continue;
        };
        let schema = data.schema();
        assert_eq!(
            schema.to_json_string(),
            vector.schema_onchain,
            "{name}: the on-chain string"
        );
        let file: serde_json::Value = serde_json::from_slice(&read(&vector.schema)).unwrap();
        let ours: serde_json::Value = serde_json::from_str(&schema.to_json_string()).unwrap();
        assert_eq!(ours, file, "{name}: {}", vector.schema);
        assert_eq!(
            Schema::parse_chain(&vector.schema_onchain),
            schema.entries(),
            "{name}: parse_chain"
        );
    }
}

#[test]
fn our_zip_has_the_sdks_entries_and_bytes() {
    for vector in load() {
        let name = &vector.name;
        let Ok(data) = DataObject::from_json_str(&without_array_buffer_markers(vector.input.get())) else {
            continue;
        };
        let zip = data.to_zip();
        let ours = ProtectedData::from_zip(&zip).unwrap();
        let sdk = ProtectedData::from_zip(&read(&vector.zip)).unwrap();

        assert_eq!(
            entry_names(&zip),
            vector.entry_names,
            "{name}: entry names and order, folders included"
        );
        assert_eq!(
            entry_names(&read(&vector.zip)),
            vector.entry_names,
            "{name}: vectors.json describes the zip"
        );
        for path in sdk.paths() {
            assert_eq!(
                ours.get_file(&path).unwrap(),
                sdk.get_file(&path).unwrap(),
                "{name}: bytes of {path}"
            );
        }
    }
}

/// The names in a zip's central directory, in order, read without this crate.
fn entry_names(zip: &[u8]) -> Vec<String> {
    let archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    archive
        .file_names_raw()
        .map(|n| String::from_utf8(n.to_vec()).unwrap())
        .collect()
}

#[test]
fn the_marker_helper_removes_only_markers() {
    let text = r#"{"a": {"$base64": "AA==", "$arrayBuffer": true}, "b": {"$base64": "AQ=="}}"#;
    assert_eq!(
        without_array_buffer_markers(text),
        r#"{"a": {"$base64": "AA=="}, "b": {"$base64": "AQ=="}}"#
    );
}
