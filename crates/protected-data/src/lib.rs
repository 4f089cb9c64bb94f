//! iExec DataProtector's protected-data format, for the `confide` CLI and for apps.
//!
//! A *protected data* is an object whose leaves are booleans, numbers (`f64`), big integers
//! (`i128`), strings or binary files. iExec's SDK (`@iexec/dataprotector`, `utils/data.ts`)
//! turns it into a zip whose tree mirrors the keys — `a.b.c` is the entry `a/b/c` — with each
//! scalar leaf borsh-encoded and each file stored raw, and registers its *schema* on chain: the
//! same shape with a type at each leaf (`bool`, `f64`, `i128`, `string`, or a MIME type sniffed
//! from the file's first bytes), as `JSON.stringify` writes it. iExec's subgraph lists that
//! schema as entries `"path.to.key:type"`. Inside an app, `@iexec/dataprotector-deserializer`
//! reads a leaf back by path and type.
//!
//! This crate does each step the same way, checked against zips and schemas the SDK itself
//! wrote (`tests/vectors`):
//!
//! - [`DataObject`] is a protected data the SDK would accept (keys `a-z A-Z 0-9 - _`, finite
//!   numbers, not empty), read from JSON ([`DataObject::from_json_str`]: numbers are `f64`,
//!   `{"$i128": "…"}` a bigint, `{"$base64": "…"}` a file) or built from files by path
//!   ([`DataObject::insert_file`]);
//! - [`DataObject::schema`] gives its [`Schema`] (with [`Schema::to_json_string`] equal to the
//!   SDK's string, key order included, and [`Schema::entries`]); [`Schema::parse_chain`] reads
//!   an on-chain schema as tolerantly as the subgraph does;
//! - [`DataObject::to_zip`] writes the zip (deterministically);
//! - [`ProtectedData`] reads one back, within [`ReadLimits`], by path and type;
//! - [`sniff_mime`] is the SDK's MIME sniffing.
//!
//! It is pure: no file, network or clock, only bytes in memory, so it builds for
//! `wasm32-wasip1` apps as well as for the CLI. It must never do I/O, and never put a value of
//! a protected data into an error message (errors name keys and paths only). It does not
//! encrypt: the zip it writes is clear text, for `confide-crypto` to encrypt.

#![forbid(unsafe_code)]

mod archive;
mod borsh;
mod error;
mod json;
mod key;
mod map;
mod mime;
#[cfg(test)]
mod proptests;
mod schema;
mod task;
mod value;

pub use archive::{ProtectedData, ReadLimits};
pub use error::{Error, Result, ZipFailure};
pub use key::is_valid_key;
pub use map::Object;
pub use mime::{MIME_TYPES, sniff_mime};
pub use schema::{Kind, Mime, Schema, SchemaEntry};
pub use task::{TaskInput, task_inputs, task_inputs_from};
pub use value::{DataObject, Value};

/// The most keys a path may have: objects nest at most this deep. (JSON text cannot nest
/// deeper anyway: `serde_json` stops at 128 levels.)
pub const MAX_DEPTH: usize = 128;
