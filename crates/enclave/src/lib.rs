//! Confide's enclave runtime, the trusted computing base of a TEE task.
//!
//! For one task it makes an ephemeral key, attests to the SMS with evidence binding the
//! SMS's nonce, that key and the app module's hash, receives the task's secrets sealed
//! to that key, downloads and checks and decrypts the dataset, runs the WASM app in a
//! sandbox (or a Python app's bundle under the pinned CPython runtime), then digests, encrypts (for the beneficiary) and signs the result with the
//! task's enclave-challenge key.
//!
//! It also runs standard (non-TEE) tasks (`--standard`): the same sandbox and conventions
//! with no attestation, no secrets and a plain result.
//!
//! It must never write a secret or clear-text data outside its private directory, send
//! either anywhere but into the sandbox, or run a module whose hash it did not attest.

pub mod clocks;
pub mod fetch;
pub mod python;
pub mod task;
pub mod wasm;

use std::path::Path;

use alloy_primitives::B256;

/// Why a task failed in the enclave; each has a stable code the worker reports.
#[derive(Debug, thiserror::Error)]
pub enum EnclaveError {
    #[error("cannot download the app module: {0}")]
    ModuleDownload(fetch::FetchError),
    #[error("cannot produce attestation evidence: {0}")]
    Evidence(confide_attest::AttestError),
    #[error("the SMS refused the session ({code}): {message}")]
    SessionRefused { code: String, message: String },
    #[error("talking to the SMS failed: {0}")]
    Sms(String),
    #[error("the SMS's session is for another task or module")]
    SessionMismatch,
    #[error("the app module hashes to {actual}, the chain says {expected}: refusing to run it")]
    ModuleChecksum { expected: B256, actual: B256 },
    #[error("the deal's params are invalid: {0}")]
    InvalidParams(String),
    #[error("a standard (non-TEE) task cannot encrypt its result: ask for a TEE tag")]
    EncryptionNeedsTee,
    #[error("cannot download the dataset: {0}")]
    DatasetDownload(fetch::FetchError),
    #[error("the dataset's checksum is {actual}, the chain says {expected}: refusing to use it")]
    DatasetChecksum { expected: B256, actual: B256 },
    #[error("the dataset does not decrypt with the key in the SMS: {0}")]
    DatasetDecrypt(String),
    #[error("cannot download an input file: {0}")]
    InputFileDownload(fetch::FetchError),
    #[error("an input file is refused: {0}")]
    InputFileRefused(String),
    #[error("{0}")]
    App(#[from] wasm::WasmError),
    #[error("{0}")]
    Python(#[from] python::PythonError),
    #[error("the app wrote no valid /iexec_out/computed.json with a deterministic-output-path")]
    ComputedMissing,
    #[error("the app's computed.json is invalid: {0}")]
    ComputedInvalid(String),
    #[error("the app wrote /iexec_out/.confide, which is reserved for the runtime's logs")]
    ReservedOutput,
    #[error("the request asks for an encrypted result but the beneficiary has no result encryption key")]
    ResultKeyMissing,
    #[error("preparing the result failed: {0}")]
    Result(String),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

impl EnclaveError {
    pub fn io(path: &Path, source: std::io::Error) -> EnclaveError {
        EnclaveError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// The message that leaves the enclave in clear: `computed.json`'s `error-message`, the
    /// runtime's stderr, and from there the worker's report and the scheduler's log.
    ///
    /// Invariant: it holds no byte an app controls. Errors about what the app did or wrote
    /// (its trap, its exit status, names and contents in `/iexec_out`, its computed.json)
    /// are a fixed sentence chosen here; the others carry only what the runtime, the chain
    /// or the SMS said. Nothing from the dataset either: its decryption error is fixed too.
    pub fn public_message(&self) -> String {
        match self {
            EnclaveError::App(e) => e.public_message(),
            EnclaveError::ComputedInvalid(_) => {
                "the app's computed.json is invalid: it must be a JSON object whose deterministic-output-path is a plain path under /iexec_out naming what it wrote".into()
            }
            EnclaveError::Result(_) => {
                "the app's output could not be archived, encrypted or signed (/iexec_out may hold only regular files and folders with UTF-8 names)".into()
            }
            EnclaveError::DatasetDecrypt(_) => "the dataset does not decrypt with the key in the SMS".into(),
            EnclaveError::Io { .. } => "an input/output error in the enclave's private area".into(),
            _ => self.to_string(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            EnclaveError::ModuleDownload(_) => "MODULE_DOWNLOAD_FAILED",
            EnclaveError::Evidence(e) => e.code(),
            EnclaveError::SessionRefused { .. } => "SESSION_REFUSED",
            EnclaveError::Sms(_) => "SMS_ERROR",
            EnclaveError::SessionMismatch => "SESSION_MISMATCH",
            EnclaveError::ModuleChecksum { .. } => "MODULE_CHECKSUM_MISMATCH",
            EnclaveError::InvalidParams(_) => "INVALID_PARAMS",
            EnclaveError::EncryptionNeedsTee => "RESULT_ENCRYPTION_NEEDS_TEE",
            EnclaveError::DatasetDownload(_) => "DATASET_DOWNLOAD_FAILED",
            EnclaveError::DatasetChecksum { .. } => "DATASET_CHECKSUM_MISMATCH",
            EnclaveError::DatasetDecrypt(_) => "DATASET_DECRYPTION_FAILED",
            EnclaveError::InputFileDownload(_) => "INPUT_FILE_DOWNLOAD_FAILED",
            EnclaveError::InputFileRefused(_) => "INPUT_FILE_REFUSED",
            EnclaveError::App(e) => e.code(),
            EnclaveError::Python(e) => e.code(),
            EnclaveError::ComputedMissing => "COMPUTED_FILE_MISSING",
            EnclaveError::ComputedInvalid(_) => "COMPUTED_FILE_INVALID",
            EnclaveError::ReservedOutput => "APP_OUTPUT_RESERVED",
            EnclaveError::ResultKeyMissing => "RESULT_KEY_MISSING",
            EnclaveError::Result(_) => "RESULT_FAILED",
            EnclaveError::Io { .. } => "IO_ERROR",
        }
    }
}
