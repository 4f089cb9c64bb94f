//! Property tests: every value survives the zip, the JSON form and the schema's round trips,
//! and hostile bytes never make the readers panic.

use proptest::prelude::*;

use crate::{DataObject, Kind, MIME_TYPES, Object, ProtectedData, Schema, Value, borsh, sniff_mime};

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_-]{1,8}",
        // Integer-like keys, which JavaScript orders first.
        (0u32..20).prop_map(|n| n.to_string()),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::F64),
        any::<i128>().prop_map(Value::I128),
        ".{0,12}".prop_map(Value::String),
        prop::collection::vec(any::<u8>(), 0..24).prop_map(Value::File),
        // Files that start like the types the SDK sniffs.
        (
            prop::sample::select(vec![
                &b"\x89PNG\r\n\x1a\n"[..],
                b"%PDF-",
                b"GIF89a",
                b"PK\x03\x04",
                b"\0\0\0\x18ftypisom"
            ]),
            prop::collection::vec(any::<u8>(), 0..8)
        )
            .prop_map(|(head, tail)| Value::File([head, &tail[..]].concat())),
    ]
}

fn object_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop::collection::vec((key(), inner), 0..6)
            .prop_map(|entries| Value::Object(entries.into_iter().collect::<Object>()))
    })
}

fn data_object() -> impl Strategy<Value = DataObject> {
    prop::collection::vec((key(), object_value()), 1..6).prop_map(|entries| {
        DataObject::from_value(Value::Object(entries.into_iter().collect())).expect("valid by construction")
    })
}

proptest! {
    #[test]
    fn every_leaf_survives_the_zip(data in data_object()) {
        let read = ProtectedData::from_zip(&data.to_zip()).unwrap();
        let entries = data.schema().entries();
        let paths: Vec<String> = entries.iter().map(|e| e.path.clone()).collect();
        prop_assert_eq!(read.paths(), paths);
        for entry in &entries {
            let got = read.get(&entry.path, entry.kind.as_str()).unwrap();
            prop_assert_eq!(Some(&got), data.get(&entry.path));
        }
        let object = read.to_object(&entries).unwrap();
        prop_assert_eq!(Schema::from_entries(&entries).unwrap().entries(), entries);
        prop_assert_eq!(object.len(), data.as_object().iter().filter(|(_, v)| !only_empty(v)).count());
    }

    #[test]
    fn the_json_form_round_trips(data in data_object()) {
        prop_assert_eq!(&DataObject::from_json(data.to_json()).unwrap(), &data);
        let text = serde_json::to_string(&data.to_json()).unwrap();
        prop_assert_eq!(&DataObject::from_json_str(&text).unwrap(), &data);
    }

    #[test]
    fn the_schema_string_reads_back_as_its_entries(data in data_object()) {
        let schema = data.schema();
        prop_assert_eq!(Schema::parse_chain(&schema.to_json_string()), schema.entries());
        let reparsed: serde_json::Value = serde_json::from_str(&schema.to_json_string()).unwrap();
        prop_assert!(reparsed.is_object());
        for entry in schema.entries() {
            prop_assert_eq!(schema.kind(&entry.path), Some(entry.kind));
            prop_assert_eq!(crate::SchemaEntry::parse(&entry.id()).unwrap(), entry);
        }
    }

    #[test]
    fn borsh_leaves_round_trip_bit_for_bit(b in any::<bool>(), bits in any::<u64>(), i in any::<i128>(), s in ".{0,40}") {
        prop_assert_eq!(borsh::decode_bool(&borsh::encode_bool(b), "p").unwrap(), b);
        prop_assert_eq!(borsh::decode_f64(&borsh::encode_f64(f64::from_bits(bits)), "p").unwrap().to_bits(), bits);
        prop_assert_eq!(borsh::decode_i128(&borsh::encode_i128(i), "p").unwrap(), i);
        prop_assert_eq!(borsh::decode_string(&borsh::encode_string(&s), "p").unwrap(), s);
    }

    #[test]
    fn sniffing_always_answers_a_supported_type(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        prop_assert!(MIME_TYPES.contains(&sniff_mime(&bytes)));
        prop_assert!(matches!(Value::File(bytes).kind(), Some(Kind::File(_))));
    }

    #[test]
    fn hostile_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = ProtectedData::from_zip(&bytes);
        let _ = Schema::parse_chain(&String::from_utf8_lossy(&bytes));
        let _ = DataObject::from_json_str(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn damaged_zips_never_panic(data in data_object(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut zip = data.to_zip();
        let i = at.index(zip.len());
        zip[i] = byte;
        if let Ok(read) = ProtectedData::from_zip(&zip) {
            for path in read.paths() {
                let _ = read.get(&path, "string");
            }
        }
    }
}

fn only_empty(value: &Value) -> bool {
    match value {
        Value::Object(object) => object.iter().all(|(_, v)| only_empty(v)),
        _ => false,
    }
}
