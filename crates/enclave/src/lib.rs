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

pub mod cache_key;
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
    /// The app's code (its module, bundle or manifest, or the module a manifest names)
    /// could not be downloaded.
    #[error("cannot download the app module: {0}")]
    ModuleDownload(fetch::FetchError),
    /// The evidence provider failed (no TEE hardware, or its device failed); the code is
    /// the provider's.
    #[error("cannot produce attestation evidence: {0}")]
    Evidence(confide_attest::AttestError),
    /// The SMS refused the enclave session: the evidence, nonce, authorization, challenge
    /// or module did not pass its checks.
    #[error("the SMS refused the session ({code}): {message}")]
    SessionRefused {
        /// The SMS's stable refusal code.
        code: String,
        /// The SMS's explanation, for people.
        message: String,
    },
    /// The SMS could not be reached or answered badly, or its sealed session did not open
    /// or parse here.
    #[error("talking to the SMS failed: {0}")]
    Sms(String),
    /// The session the SMS sealed names another task or app module than this run's;
    /// nothing of it is used.
    #[error("the SMS's session is for another task or module")]
    SessionMismatch,
    /// The app's code is not what it must be: a manifest's module does not have the
    /// identity the manifest pins, or a standard task's app is not the chain's checksum.
    #[error("the app module hashes to {actual}, the chain says {expected}: refusing to run it")]
    ModuleChecksum {
        /// What the manifest or the chain says: a sha256, or a Python app's identity.
        expected: B256,
        /// The same for what was downloaded.
        actual: B256,
    },
    /// A standard task's deal params, read from the chain, are not iExec's params JSON.
    #[error("the deal's params are invalid: {0}")]
    InvalidParams(String),
    /// A standard task's params ask for result encryption, which needs the beneficiary's
    /// key from the SMS, so a TEE task.
    #[error("a standard (non-TEE) task cannot encrypt its result: ask for a TEE tag")]
    EncryptionNeedsTee,
    /// The dataset could not be downloaded from its URL or `/ipfs/` location.
    #[error("cannot download the dataset: {0}")]
    DatasetDownload(fetch::FetchError),
    /// The downloaded dataset does not hash to the checksum the chain records for it.
    #[error("the dataset's checksum is {actual}, the chain says {expected}: refusing to use it")]
    DatasetChecksum {
        /// The dataset's on-chain checksum: sha256 of the encrypted file.
        expected: B256,
        /// The sha256 of what was downloaded.
        actual: B256,
    },
    /// The dataset does not decrypt with the key from the SMS (a wrong key, or a corrupt
    /// file); its detail is kept out of the public message.
    #[error("the dataset does not decrypt with the key in the SMS: {0}")]
    DatasetDecrypt(String),
    /// An input file (the deal's `iexec_input_files`) could not be downloaded.
    #[error("cannot download an input file: {0}")]
    InputFileDownload(fetch::FetchError),
    /// An input file's URL, or a redirect, points where input files may not come from, or
    /// a local input has no usable file name; retrying cannot help.
    #[error("an input file is refused: {0}")]
    InputFileRefused(String),
    /// The sandbox could not run the app, or the app failed in it; the code is the
    /// sandbox's (`APP_…`).
    #[error("{0}")]
    App(#[from] wasm::WasmError),
    /// A Python app could not run: its runtime is missing or not the pinned one, its
    /// bundle is invalid, or it imports a module the runtime does not ship.
    #[error("{0}")]
    Python(#[from] python::PythonError),
    /// The app wrote no `/iexec_out/computed.json`, or one that is not JSON or has no
    /// `deterministic-output-path`.
    #[error("the app wrote no valid /iexec_out/computed.json with a deterministic-output-path")]
    ComputedMissing,
    /// The app's computed.json is not a regular file or is over 64 KiB, or its
    /// `deterministic-output-path` is not a plain path under `/iexec_out` naming something
    /// there.
    #[error("the app's computed.json is invalid: {0}")]
    ComputedInvalid(String),
    /// The app wrote `/iexec_out/.confide`, where the runtime puts its own logs for the
    /// beneficiary.
    #[error("the app wrote /iexec_out/.confide, which is reserved for the runtime's logs")]
    ReservedOutput,
    /// The deal asks for an encrypted result, but the session from the SMS holds no
    /// result encryption key for the beneficiary.
    #[error("the request asks for an encrypted result but the beneficiary has no result encryption key")]
    ResultKeyMissing,
    /// The app's output could not be checked, archived, digested, encrypted or signed
    /// (`/iexec_out` holding a link or a special file, for one).
    #[error("preparing the result failed: {0}")]
    Result(String),
    /// A file in the private area or the work directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file's path.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl EnclaveError {
    /// The error for an input/output failure on `path`.
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

    /// The stable code the worker reports (`computed.json`'s `error-code`): the runtime's
    /// own, or the evidence provider's, the sandbox's or the Python runtime's.
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
