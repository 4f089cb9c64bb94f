//! The protected data's zip: written as the SDK's JSZip writes it (same tree, same order), and
//! read within bounds, as `@iexec/dataprotector-deserializer` reads it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{Cursor, Read, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, System, ZipArchive, ZipReadOptions, ZipWriter};

use crate::key::{child_path, is_valid_key, split_path};
use crate::schema::{Kind, Node, Schema, SchemaEntry};
use crate::{Error, Object, Result, Value, borsh};

pub(crate) fn write_zip(root: &Object) -> Vec<u8> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    write_object(&mut writer, root, "");
    writer
        .finish()
        .expect("invariant: finishing a zip in memory cannot fail")
        .into_inner()
}

fn options(unix_permissions: u32) -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(DateTime::DEFAULT)
        .system(System::Unix)
        .unix_permissions(unix_permissions)
}

fn write_object(writer: &mut ZipWriter<Cursor<Vec<u8>>>, object: &Object, prefix: &str) {
    for (key, value) in object.iter_js_order() {
        let name = format!("{prefix}{key}");
        let bytes: Cow<'_, [u8]> = match value {
            Value::Object(inner) => {
                let folder = format!("{name}/");
                writer
                    .add_directory(folder.as_str(), options(0o755))
                    .expect("invariant: checked keys make valid names");
                write_object(writer, inner, &folder);
                continue;
            }
            Value::Bool(b) => borsh::encode_bool(*b).into(),
            Value::F64(f) => borsh::encode_f64(*f).into(),
            Value::I128(i) => borsh::encode_i128(*i).into(),
            Value::String(s) => borsh::encode_string(s).into(),
            Value::File(bytes) => bytes.as_slice().into(),
        };
        let large = bytes.len() as u64 >= u64::from(u32::MAX);
        writer
            .start_file(name, options(0o644).large_file(large))
            .expect("invariant: checked keys make valid names");
        writer
            .write_all(&bytes)
            .expect("invariant: writing to memory cannot fail");
    }
}

/// Bounds on what [`ProtectedData::from_zip_with_limits`] reads: a protected data is the
/// dataset owner's zip, and an app must not be made to run out of memory by it.
///
/// Sizes are counted as decompressed, whatever the headers claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadLimits {
    /// At most this many entries, folders included. Default 65 536.
    pub max_entries: usize,
    /// At most this many bytes in one entry. Default 1 GiB.
    pub max_entry_size: u64,
    /// At most this many bytes in all entries together. Default 1 GiB.
    pub max_total_size: u64,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_entries: 65_536,
            max_entry_size: 1 << 30,
            max_total_size: 1 << 30,
        }
    }
}

impl ReadLimits {
    /// These limits with another entry count.
    #[must_use]
    pub const fn with_max_entries(mut self, entries: usize) -> Self {
        self.max_entries = entries;
        self
    }

    /// These limits with another size for one entry, in bytes.
    #[must_use]
    pub const fn with_max_entry_size(mut self, bytes: u64) -> Self {
        self.max_entry_size = bytes;
        self
    }

    /// These limits with another size for all entries together, in bytes.
    #[must_use]
    pub const fn with_max_total_size(mut self, bytes: u64) -> Self {
        self.max_total_size = bytes;
        self
    }
}

/// A protected data read from its (decrypted) zip, for an app to take values from, as
/// `@iexec/dataprotector-deserializer`'s `getValue` does in `borsh` mode.
///
/// Every file entry is read and checked when the zip is opened: names must stay inside the
/// tree (no absolute path, no `..`, `.` or empty component, no backslash, colon or NUL), local
/// and central headers must agree, names must be unique, CRCs must match, and sizes stay
/// within [`ReadLimits`]. Entries whose names are not valid key paths are kept but cannot be
/// asked for (the SDK never writes them).
#[derive(Clone)]
pub struct ProtectedData {
    /// File entries by name (`a/b/c`); folders are not kept.
    files: BTreeMap<String, Vec<u8>>,
    /// File entry names in the zip's order.
    order: Vec<String>,
}

impl ProtectedData {
    /// Reads a zip within the default [`ReadLimits`].
    pub fn from_zip(bytes: &[u8]) -> Result<ProtectedData> {
        ProtectedData::from_zip_with_limits(bytes, ReadLimits::default())
    }

    /// Reads a zip within the given limits.
    pub fn from_zip_with_limits(bytes: &[u8], limits: ReadLimits) -> Result<ProtectedData> {
        let mut archive = ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| Error::bad_zip("cannot read its central directory", Some(e.into())))?;
        if archive.len() > limits.max_entries {
            return Err(Error::TooLarge {
                what: "the entry count".into(),
                limit: limits.max_entries as u64,
            });
        }
        let mut files = BTreeMap::new();
        let mut order = Vec::new();
        let mut total: u64 = 0;
        for index in 0..archive.len() {
            let name = match archive.name_for_index(index) {
                Some(Ok(name)) => name.into_owned(),
                Some(Err(e)) => {
                    return Err(Error::bad_zip(
                        format!("entry {index} has an unreadable name"),
                        Some(e.into()),
                    ));
                }
                None => return Err(Error::bad_zip(format!("entry {index} is missing"), None)),
            };
            check_entry_name(&name)?;
            let options = ZipReadOptions::new().enforce_header_consistency(true);
            let mut file = archive
                .by_index_with_options(index, options)
                .map_err(|e| Error::bad_zip(format!("cannot open entry {name:?}"), Some(e.into())))?;
            if name.ends_with('/') {
                continue;
            }
            let too_large = |what: String, limit: u64| Error::TooLarge { what, limit };
            if file.size() > limits.max_entry_size {
                return Err(too_large(format!("entry {name:?}"), limits.max_entry_size));
            }
            let room = limits.max_total_size.saturating_sub(total);
            if file.size() > room {
                return Err(too_large("the total".into(), limits.max_total_size));
            }
            // Headers may lie about sizes: read one byte past what is allowed to find out.
            let cap = limits.max_entry_size.min(room);
            let mut content = Vec::with_capacity(file.size().min(1 << 24) as usize);
            (&mut file)
                .take(cap.saturating_add(1))
                .read_to_end(&mut content)
                .map_err(|e| Error::bad_zip(format!("cannot read entry {name:?}"), Some(e.into())))?;
            let read = content.len() as u64;
            if read > limits.max_entry_size {
                return Err(too_large(format!("entry {name:?}"), limits.max_entry_size));
            }
            if read > room {
                return Err(too_large("the total".into(), limits.max_total_size));
            }
            total += read;
            drop(file);
            order.push(name.clone());
            if files.insert(name.clone(), content).is_some() {
                return Err(Error::bad_zip(format!("entry {name:?} appears twice"), None));
            }
        }
        Ok(ProtectedData { files, order })
    }

    /// The value at a dotted path read as a type name, as the deserializer's
    /// `getValue(path, type)` does in `borsh` mode: `bool`, `f64`, `i128` and `string` are
    /// decoded from borsh (exact length), `boolean` and `number` (legacy) are refused with
    /// [`UnsupportedType`](Error::UnsupportedType), and any other name gives the raw bytes as
    /// a [`Value::File`].
    pub fn get(&self, path: &str, kind: &str) -> Result<Value> {
        match Kind::from_name(kind) {
            Some(kind) => self.get_as(path, kind),
            None => self.get_file(path).map(|bytes| Value::File(bytes.to_vec())),
        }
    }

    /// The value at a dotted path decoded as `kind`; legacy kinds are refused.
    pub fn get_as(&self, path: &str, kind: Kind) -> Result<Value> {
        Ok(match kind {
            Kind::Bool => Value::Bool(self.get_bool(path)?),
            Kind::F64 => Value::F64(self.get_f64(path)?),
            Kind::I128 => Value::I128(self.get_i128(path)?),
            Kind::String => Value::String(self.get_string(path)?),
            Kind::File(_) => Value::File(self.get_file(path)?.to_vec()),
            Kind::LegacyBoolean | Kind::LegacyNumber => {
                return Err(Error::UnsupportedType {
                    path: path.to_owned(),
                    kind: kind.as_str().to_owned(),
                });
            }
        })
    }

    /// The `bool` at a dotted path.
    pub fn get_bool(&self, path: &str) -> Result<bool> {
        borsh::decode_bool(self.get_file(path)?, path)
    }

    /// The `f64` at a dotted path (any bit pattern, NaN included).
    pub fn get_f64(&self, path: &str) -> Result<f64> {
        borsh::decode_f64(self.get_file(path)?, path)
    }

    /// The `i128` at a dotted path.
    pub fn get_i128(&self, path: &str) -> Result<i128> {
        borsh::decode_i128(self.get_file(path)?, path)
    }

    /// The `string` at a dotted path.
    pub fn get_string(&self, path: &str) -> Result<String> {
        borsh::decode_string(self.get_file(path)?, path)
    }

    /// The raw bytes of the file entry at a dotted path (`a.b` is the entry `a/b`).
    pub fn get_file(&self, path: &str) -> Result<&[u8]> {
        let name = split_path(path)?.join("/");
        self.files
            .get(&name)
            .map(Vec::as_slice)
            .ok_or_else(|| Error::EntryNotFound { path: path.to_owned() })
    }

    /// The dotted paths of the file entries, in the zip's order (entries whose names are not
    /// valid key paths left out).
    pub fn paths(&self) -> Vec<String> {
        self.order
            .iter()
            .filter(|name| name.split('/').all(is_valid_key))
            .map(|name| name.replace('/', "."))
            .collect()
    }

    /// Every leaf the schema entries name, decoded by its type, as an object (in the entries'
    /// order). Entries that conflict, or a legacy type, are errors; entries of the zip that no
    /// schema entry names are left out.
    pub fn to_object(&self, entries: &[SchemaEntry]) -> Result<Object> {
        let schema = Schema::from_entries(entries)?;
        self.decode_object(&schema.root, "")
    }

    fn decode_object(&self, object: &crate::map::OrderedMap<Node>, parent: &str) -> Result<Object> {
        let mut out = Object::new();
        for (key, node) in object.iter() {
            let path = child_path(parent, key);
            let value = match node {
                Node::Leaf(kind) => self.get_as(&path, *kind)?,
                Node::Object(inner) => Value::Object(self.decode_object(inner, &path)?),
            };
            out.insert(key, value);
        }
        Ok(out)
    }
}

/// Shows entry names and sizes, never contents: they are the owner's confidential values.
impl fmt::Debug for ProtectedData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sizes = self
            .order
            .iter()
            .map(|name| (name, self.files.get(name).map_or(0, Vec::len)));
        f.debug_struct("ProtectedData")
            .field("entry_sizes", &DebugMap(sizes))
            .finish()
    }
}

struct DebugMap<I>(I);

impl<'a, I: Iterator<Item = (&'a String, usize)> + Clone> fmt::Debug for DebugMap<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.clone()).finish()
    }
}

/// Refuses entry names that could point outside the tree: a reader that writes entries to disk
/// would follow them (zip-slip), and they can never be a protected data's path anyway.
fn check_entry_name(name: &str) -> Result<()> {
    let unsafe_name = || Error::UnsafeEntry { name: name.to_owned() };
    if name.is_empty() || name.starts_with('/') || name.contains(['\\', ':', '\0']) {
        return Err(unsafe_name());
    }
    let path = name.strip_suffix('/').unwrap_or(name);
    if path
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(unsafe_name());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DataObject;

    fn sample() -> DataObject {
        DataObject::from_json_str(
            r#"{"email":"alice@example.com","profile":{"age":42.5,"score":{"$i128":"-7"},"ok":true,"e":{}},
                "doc":{"pdf":{"$base64":"JVBERi0xLjQK"}},"10":false,"2":"two"}"#,
        )
        .unwrap()
    }

    /// Writes a zip entry by entry, with whatever names and methods a test needs.
    fn raw_zip(entries: &[(&str, &[u8], CompressionMethod)]) -> Vec<u8> {
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes, method) in entries {
            let options = SimpleFileOptions::default().compression_method(*method);
            if name.ends_with('/') {
                writer.add_directory(*name, options).unwrap();
            } else {
                writer.start_file(*name, options).unwrap();
                writer.write_all(bytes).unwrap();
            }
        }
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn entries_mirror_the_tree_in_javascript_order() {
        let zip = sample().to_zip();
        let archive = ZipArchive::new(Cursor::new(&zip)).unwrap();
        let names: Vec<&str> = archive
            .file_names_raw()
            .map(|n| std::str::from_utf8(n).unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "2",
                "10",
                "email",
                "profile/",
                "profile/age",
                "profile/score",
                "profile/ok",
                "profile/e/",
                "doc/",
                "doc/pdf"
            ]
        );
    }

    #[test]
    fn zips_are_deterministic_and_stored() {
        let zip = sample().to_zip();
        assert_eq!(zip, sample().to_zip());
        let mut archive = ZipArchive::new(Cursor::new(&zip)).unwrap();
        for i in 0..archive.len() {
            let file = archive.by_index(i).unwrap();
            assert_eq!(file.compression(), CompressionMethod::Stored);
            assert_eq!(file.last_modified(), Some(DateTime::DEFAULT));
        }
    }

    #[test]
    fn values_round_trip_through_the_zip() {
        let data = sample();
        let read = ProtectedData::from_zip(&data.to_zip()).unwrap();
        assert_eq!(read.get_string("email").unwrap(), "alice@example.com");
        assert_eq!(read.get_f64("profile.age").unwrap(), 42.5);
        assert_eq!(read.get_i128("profile.score").unwrap(), -7);
        assert!(read.get_bool("profile.ok").unwrap());
        assert_eq!(read.get_file("doc.pdf").unwrap(), b"%PDF-1.4\n");
        assert_eq!(
            read.get("doc.pdf", "application/pdf").unwrap(),
            Value::File(b"%PDF-1.4\n".to_vec())
        );
        assert_eq!(
            read.get("doc.pdf", "anything/else").unwrap(),
            Value::File(b"%PDF-1.4\n".to_vec())
        );
        assert_eq!(read.get("2", "string").unwrap(), Value::String("two".into()));
        assert_eq!(
            read.paths(),
            [
                "2",
                "10",
                "email",
                "profile.age",
                "profile.score",
                "profile.ok",
                "doc.pdf"
            ]
        );
        let object = read.to_object(&data.schema().entries()).unwrap();
        let mut expected = data.as_object().clone();
        let Some(Value::Object(profile)) = expected.get("profile").cloned() else {
            panic!()
        };
        let profile: Object = profile.into_iter().filter(|(k, _)| k != "e").collect();
        expected.insert("profile", Value::Object(profile));
        assert_eq!(object, expected, "every leaf, empty objects aside");
    }

    #[test]
    fn reading_checks_types_like_the_deserializer() {
        let read = ProtectedData::from_zip(&sample().to_zip()).unwrap();
        assert_eq!(read.get("email", "f64").unwrap_err().code(), "WRONG_LENGTH");
        assert_eq!(read.get("profile.ok", "string").unwrap_err().code(), "WRONG_LENGTH");
        assert_eq!(
            read.get("profile.age", "number").unwrap_err().code(),
            "UNSUPPORTED_TYPE"
        );
        assert_eq!(
            read.get("profile.ok", "boolean").unwrap_err().code(),
            "UNSUPPORTED_TYPE"
        );
        let missing = read.get("profile.nope", "bool").unwrap_err();
        assert_eq!(missing.code(), "ENTRY_NOT_FOUND");
        assert_eq!(missing.to_string(), "no value at \"profile.nope\"");
        assert_eq!(
            read.get("profile", "bool").unwrap_err().code(),
            "ENTRY_NOT_FOUND",
            "a folder is no value"
        );
        assert_eq!(read.get("profile/age", "f64").unwrap_err().code(), "INVALID_KEY");
        let legacy = SchemaEntry {
            path: "email".into(),
            kind: Kind::LegacyBoolean,
        };
        assert_eq!(read.to_object(&[legacy]).unwrap_err().code(), "UNSUPPORTED_TYPE");
    }

    #[test]
    fn deflated_entries_and_extra_entries_are_read() {
        let zip = raw_zip(&[
            ("a/", b"", CompressionMethod::Stored),
            ("a/b", &borsh::encode_string("deflated"), CompressionMethod::Deflated),
            (".DS_Store", b"junk", CompressionMethod::Stored),
        ]);
        let read = ProtectedData::from_zip(&zip).unwrap();
        assert_eq!(read.get_string("a.b").unwrap(), "deflated");
        assert_eq!(read.paths(), ["a.b"]);
    }

    #[test]
    fn zip_slip_names_are_refused() {
        for name in [
            "../evil",
            "a/../../evil",
            "/etc/passwd",
            "a//b",
            "./a",
            "a/./b",
            "a\\..\\b",
            "C:/x",
            "a\0b",
            "a/..",
        ] {
            let zip = raw_zip(&[(name, b"x", CompressionMethod::Stored)]);
            let e = ProtectedData::from_zip(&zip).unwrap_err();
            assert_eq!(e.code(), "UNSAFE_ENTRY", "{name:?}: {e}");
        }
        let e = ProtectedData::from_zip(&raw_zip(&[("../x/", b"", CompressionMethod::Stored)])).unwrap_err();
        assert_eq!(e.code(), "UNSAFE_ENTRY");
        assert_eq!(e.to_string(), "unsafe zip entry name \"../x/\"");
    }

    #[test]
    fn bombs_are_refused() {
        let zeros = vec![0u8; 10 << 20];
        let bomb = raw_zip(&[("a", &zeros, CompressionMethod::Deflated)]);
        assert!(bomb.len() < 64 << 10, "10 MiB of zeros deflate to {} bytes", bomb.len());
        let limits = ReadLimits::default().with_max_entry_size(1 << 20);
        let e = ProtectedData::from_zip_with_limits(&bomb, limits).unwrap_err();
        assert_eq!(e.code(), "TOO_LARGE");
        assert_eq!(
            e.to_string(),
            "the protected data is too large: entry \"a\" exceeds 1048576"
        );

        let two = raw_zip(&[
            ("a", &zeros[..600 << 10], CompressionMethod::Deflated),
            ("b", &zeros[..600 << 10], CompressionMethod::Deflated),
        ]);
        let limits = ReadLimits::default().with_max_total_size(1 << 20);
        let e = ProtectedData::from_zip_with_limits(&two, limits).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the protected data is too large: the total exceeds 1048576"
        );

        let limits = ReadLimits::default().with_max_entries(1);
        assert_eq!(
            ProtectedData::from_zip_with_limits(&two, limits).unwrap_err().code(),
            "TOO_LARGE"
        );
        assert!(ProtectedData::from_zip(&two).is_ok());
    }

    #[test]
    fn lying_sizes_are_caught() {
        // Patch the declared uncompressed size of a deflated entry down to 1 byte, in both the
        // local and the central header: the reader must not trust it.
        let zeros = vec![0u8; 2 << 20];
        let mut zip = raw_zip(&[("a", &zeros, CompressionMethod::Deflated)]);
        let size = (zeros.len() as u32).to_le_bytes();
        let at: Vec<usize> = zip
            .windows(4)
            .enumerate()
            .filter(|(_, w)| *w == size)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(at.len(), 2, "the size appears in the local and the central header");
        for i in at {
            zip[i..i + 4].copy_from_slice(&1u32.to_le_bytes());
        }
        let limits = ReadLimits::default().with_max_entry_size(1 << 20);
        let e = ProtectedData::from_zip_with_limits(&zip, limits).unwrap_err();
        assert!(matches!(e.code(), "TOO_LARGE" | "BAD_ZIP"), "{e}");
        assert!(
            ProtectedData::from_zip(&zip).is_err(),
            "a wrong size is a corrupt entry anyway"
        );
    }

    #[test]
    fn broken_zips_are_refused() {
        assert_eq!(ProtectedData::from_zip(b"not a zip").unwrap_err().code(), "BAD_ZIP");
        assert_eq!(ProtectedData::from_zip(b"").unwrap_err().code(), "BAD_ZIP");
        let mut zip = sample().to_zip();
        // Flip a byte of the first entry's content ("2": a borsh string): the CRC no longer matches.
        let at = zip.windows(7).position(|w| w == b"\x03\0\0\0two").unwrap();
        zip[at + 4] ^= 1;
        let e = ProtectedData::from_zip(&zip).unwrap_err();
        assert_eq!(e.code(), "BAD_ZIP");
        assert!(
            std::error::Error::source(&e).is_some(),
            "the zip reader's error is chained"
        );
    }

    #[test]
    fn debug_output_shows_no_value() {
        let read = ProtectedData::from_zip(&sample().to_zip()).unwrap();
        let debug = format!("{read:?}");
        assert!(debug.contains("\"email\": 21"), "{debug}");
        assert!(!debug.contains("alice"), "{debug}");
    }

    #[test]
    fn the_empty_zip_reads_as_nothing() {
        // What JSZip writes for `{}`: an end-of-central-directory record alone.
        let mut empty = vec![0x50, 0x4b, 0x05, 0x06];
        empty.extend([0; 18]);
        let read = ProtectedData::from_zip(&empty).unwrap();
        assert!(read.paths().is_empty());
        assert!(read.to_object(&[]).unwrap().is_empty());
    }
}
