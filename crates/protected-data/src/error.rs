//! The one error type of this crate, with stable codes.

use std::fmt;

/// What can go wrong when building, writing or reading a protected data.
///
/// Every variant has a stable [`code`](Error::code); messages are one lowercase line that names
/// the key or path involved (debug-quoted, since they may come from someone else's zip). A
/// message never carries a value of the protected data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key that is empty or uses a character outside `a-z A-Z 0-9 - _` (the SDK's
    /// `/^[a-zA-Z0-9\-_]*$/`, empty refused), with the path it was found at.
    #[error("invalid key {key:?} at {path:?}: keys are non-empty and use only a-z, A-Z, 0-9, '-' and '_'")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// The dotted path of the object holding it, or the path being looked up.
        path: String,
    },
    /// The root object has no field: the SDK would register an empty zip and a schema `{}`.
    #[error("the protected data is empty: give it at least one field")]
    EmptyObject,
    /// A value the format cannot hold: JSON `null` or an array, a malformed `{"$i128": …}` or
    /// `{"$base64": …}`, or a root that is not an object.
    #[error("unsupported value at {path:?}: {reason}")]
    UnsupportedValue {
        /// The dotted path of the value (empty for the root).
        path: String,
        /// What is wrong, in a few words.
        reason: &'static str,
    },
    /// An `f64` leaf that is NaN or infinite (the SDK refuses them too).
    #[error("the number at {path:?} is not finite")]
    NotANumber {
        /// The dotted path of the number.
        path: String,
    },
    /// A `{"$i128": …}` decimal outside `-2^127 ..= 2^127-1`. (The SDK lets `2^127` through and
    /// writes it as `-2^127`; we refuse it.)
    #[error("the integer at {path:?} is outside the i128 range")]
    I128OutOfRange {
        /// The dotted path of the integer.
        path: String,
    },
    /// A path that is already taken: a leaf where an object is needed, an object or a leaf
    /// where a new leaf goes, a key given twice, or two schema entries for one path.
    #[error("path conflict at {path:?}: it already holds a value")]
    PathConflict {
        /// The dotted path in conflict.
        path: String,
    },
    /// Nesting deeper than [`MAX_DEPTH`](crate::MAX_DEPTH) objects.
    #[error("{path:?} is nested deeper than {max} objects", max = crate::MAX_DEPTH)]
    TooDeep {
        /// The dotted path (possibly cut) where the limit was passed.
        path: String,
    },
    /// A type name that is not one of the schema's types (`bool`, `f64`, `i128`, `string`, a
    /// supported MIME type, or the legacy `boolean` and `number`), or a legacy type where this
    /// crate cannot decode it (`@iexec/dataprotector-deserializer` refuses them in borsh mode too).
    #[error("unsupported type {kind:?} at {path:?}")]
    UnsupportedType {
        /// The dotted path.
        path: String,
        /// The type name as given.
        kind: String,
    },
    /// The bytes are not a zip archive this crate can read (not a zip, a corrupt entry, a CRC
    /// mismatch, an unsupported compression method or encryption, duplicate names, local and
    /// central headers that disagree).
    #[error("not a readable protected data zip: {reason}")]
    BadZip {
        /// What failed, naming the entry when there is one.
        reason: String,
        /// The zip reader's own error, when it gave one.
        #[source]
        source: Option<ZipFailure>,
    },
    /// A zip entry whose name could land outside the tree: absolute, with `..`, `.` or empty
    /// components, a backslash, a colon or a NUL.
    #[error("unsafe zip entry name {name:?}")]
    UnsafeEntry {
        /// The entry's name as stored.
        name: String,
    },
    /// No file entry at that path.
    #[error("no value at {path:?}")]
    EntryNotFound {
        /// The dotted path looked up.
        path: String,
    },
    /// A borsh leaf whose length is not the one its type has.
    #[error("the {kind} at {path:?} is {found} bytes long, expected {expected}")]
    WrongLength {
        /// The dotted path.
        path: String,
        /// The type it was read as.
        kind: &'static str,
        /// The length its type requires.
        expected: u64,
        /// The length found.
        found: u64,
    },
    /// A borsh `bool` byte other than 0 or 1 (borsh-js would read any non-zero byte as `true`;
    /// we refuse, as borsh's specification does).
    #[error("the bool at {path:?} is neither 0 nor 1")]
    InvalidBool {
        /// The dotted path.
        path: String,
    },
    /// A borsh `string` whose bytes are not UTF-8.
    #[error("the string at {path:?} is not valid UTF-8")]
    BadUtf8 {
        /// The dotted path.
        path: String,
    },
    /// A zip past the reader's [`ReadLimits`](crate::ReadLimits): too many entries, an entry or
    /// the whole too large once decompressed.
    #[error("the protected data is too large: {what} exceeds {limit}")]
    TooLarge {
        /// What was too large: `entry "a/b"`, `the total` or `the entry count`.
        what: String,
        /// The limit passed (bytes, or entries).
        limit: u64,
    },
    /// JSON text that does not parse.
    #[error("the protected data is not valid JSON")]
    BadJson(#[source] serde_json::Error),
    /// A task's protected data the app cannot read: not given to the task (refused), or
    /// its file missing or unreadable (file name and reason).
    #[error("cannot read the task's protected data: {0}")]
    Unreadable(String),
}

impl Error {
    /// The stable code of this error, for `--raw` outputs and tests.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidKey { .. } => "INVALID_KEY",
            Error::EmptyObject => "EMPTY_OBJECT",
            Error::UnsupportedValue { .. } => "UNSUPPORTED_VALUE",
            Error::NotANumber { .. } => "NOT_A_NUMBER",
            Error::I128OutOfRange { .. } => "I128_OUT_OF_RANGE",
            Error::PathConflict { .. } => "PATH_CONFLICT",
            Error::TooDeep { .. } => "TOO_DEEP",
            Error::UnsupportedType { .. } => "UNSUPPORTED_TYPE",
            Error::BadZip { .. } => "BAD_ZIP",
            Error::UnsafeEntry { .. } => "UNSAFE_ENTRY",
            Error::EntryNotFound { .. } => "ENTRY_NOT_FOUND",
            Error::WrongLength { .. } => "WRONG_LENGTH",
            Error::InvalidBool { .. } => "INVALID_BOOL",
            Error::BadUtf8 { .. } => "BAD_UTF8",
            Error::TooLarge { .. } => "TOO_LARGE",
            Error::BadJson(_) => "BAD_JSON",
            Error::Unreadable(_) => "UNREADABLE",
        }
    }

    pub(crate) fn bad_zip(reason: impl Into<String>, source: Option<ZipFailure>) -> Self {
        Error::BadZip {
            reason: reason.into(),
            source,
        }
    }
}

/// The zip reader's own error behind [`Error::BadZip`], kept opaque so the `zip` crate's types
/// stay out of this crate's API; read it through `Display` or [`std::error::Error::source`].
#[derive(Debug)]
pub struct ZipFailure(ZipFailureKind);

#[derive(Debug)]
enum ZipFailureKind {
    Zip(zip::result::ZipError),
    Io(std::io::Error),
}

impl From<zip::result::ZipError> for ZipFailure {
    fn from(e: zip::result::ZipError) -> Self {
        ZipFailure(ZipFailureKind::Zip(e))
    }
}

impl From<std::io::Error> for ZipFailure {
    fn from(e: std::io::Error) -> Self {
        ZipFailure(ZipFailureKind::Io(e))
    }
}

impl fmt::Display for ZipFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            ZipFailureKind::Zip(e) => e.fmt(f),
            ZipFailureKind::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ZipFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            ZipFailureKind::Zip(e) => e.source(),
            ZipFailureKind::Io(e) => e.source(),
        }
    }
}

/// This crate's `Result`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
