//! Confide's Secret Management Service.
//!
//! It speaks iExec's SMS HTTP API and signature scheme (so iExec's SDK pushes to it) for
//! web3 secrets (dataset keys, owner = the dataset contract's on-chain owner), web2 secrets
//! (named, per address), app-developer secrets and requester secrets. Secrets are
//! write-once as upstream, plus an owner-signed rotation that keeps every version.
//! Every value is encrypted at rest with AES-256-GCM under a master key file; an
//! append-only audit log records who pushed, rotated or checked what, never a value.
//!
//! It must never log, return or store in clear a secret value, and never accept a push
//! whose signature does not recover to the owner the chain names.

pub mod api;
pub mod gate;
mod sealing;
pub mod store;

pub use api::{AppState, router};
pub use gate::Gate;
pub use store::{SecretKind, SecretStore};

/// What the SMS can refuse or fail at; each maps to an HTTP status and a stable code.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("missing or malformed Authorization header: expected a 65-byte hex signature")]
    MissingSignature,
    #[error("the signature is not the owner's ({owner}) for this address, name and value")]
    WrongSigner { owner: confide_chain::Address },
    #[error("this signature was already used: sign the new request again")]
    ReplayedSignature,
    #[error("the secret is {size} bytes; the limit is 4096")]
    TooLarge { size: usize },
    #[error("the secret is empty")]
    Empty,
    #[error("a secret already exists here and secrets are write-once: rotate it with a signed PUT")]
    AlreadyExists,
    #[error("no secret here")]
    NotFound,
    #[error("{0} is not a contract with an owner on this chain (unknown dataset or app)")]
    UnknownAddress(confide_chain::Address),
    #[error("invalid request: {0}")]
    BadRequest(String),
    #[error("rotation to version {asked} refused: the next version is {next}")]
    VersionMismatch { asked: u64, next: u64 },
    #[error("the chain is unreachable: {0}")]
    Chain(String),
    #[error("storage failed: {0}")]
    Storage(String),
    #[error(
        "this database's secrets are sealed under master key {database}, not this one ({ours}): give every replica the same key"
    )]
    MasterKeyMismatch { database: String, ours: String },
    #[error("the session nonce is unknown, expired or already used: ask for a new one")]
    NonceInvalid,
    #[error("attestation refused: {0}")]
    Attestation(confide_attest::AttestError),
    #[error("the task is {0}, not ACTIVE: no secrets are released for it")]
    TaskNotActive(String),
    #[error("{evidence} evidence does not prove the TEE framework the deal's tag {tag} asks for")]
    FrameworkMismatch { evidence: &'static str, tag: String },
    #[error("the worker's authorization is not signed by the deal's workerpool owner {0}")]
    WrongAuthorization(confide_chain::Address),
    #[error("no enclave challenge of this task has that address: ask the SMS for the task's challenge first")]
    UnknownChallenge,
    #[error("the deal's app {0} has no Confide enclave configuration (in its mrenclave or its manifest)")]
    NotConfideApp(confide_chain::Address),
    #[error("the deal's app {0} is registered by its manifest, and the enclave sent none")]
    ManifestMissing(confide_chain::Address),
    #[error("the module the enclave runs is not the app's registered module ({registered})")]
    AppMismatch { registered: String },
    #[error("the dataset {0} has no key in this SMS")]
    DatasetKeyMissing(confide_chain::Address),
    #[error("the requester has no secret named `{0}`, which the deal's params ask for")]
    RequesterSecretMissing(String),
    #[error("the request asks for an encrypted result, but the beneficiary {0} pushed no result encryption key")]
    ResultKeyMissing(confide_chain::Address),
}

impl SmsError {
    pub fn code(&self) -> &'static str {
        match self {
            SmsError::MissingSignature => "MISSING_SIGNATURE",
            SmsError::WrongSigner { .. } => "WRONG_SIGNER",
            SmsError::ReplayedSignature => "REPLAYED_SIGNATURE",
            SmsError::TooLarge { .. } => "SECRET_TOO_LARGE",
            SmsError::Empty => "EMPTY_SECRET",
            SmsError::AlreadyExists => "SECRET_EXISTS",
            SmsError::NotFound => "SECRET_NOT_FOUND",
            SmsError::UnknownAddress(_) => "UNKNOWN_ADDRESS",
            SmsError::BadRequest(_) => "BAD_REQUEST",
            SmsError::VersionMismatch { .. } => "VERSION_MISMATCH",
            SmsError::Chain(_) => "CHAIN_UNREACHABLE",
            SmsError::Storage(_) => "STORAGE_ERROR",
            SmsError::MasterKeyMismatch { .. } => "MASTER_KEY_MISMATCH",
            SmsError::NonceInvalid => "NONCE_INVALID",
            SmsError::Attestation(e) => e.code(),
            SmsError::TaskNotActive(_) => "TASK_NOT_ACTIVE",
            SmsError::FrameworkMismatch { .. } => "FRAMEWORK_MISMATCH",
            SmsError::WrongAuthorization(_) => "WRONG_AUTHORIZATION",
            SmsError::UnknownChallenge => "UNKNOWN_CHALLENGE",
            SmsError::NotConfideApp(_) => "NOT_A_CONFIDE_APP",
            SmsError::ManifestMissing(_) => "APP_MANIFEST_MISSING",
            SmsError::AppMismatch { .. } => "APP_MISMATCH",
            SmsError::DatasetKeyMissing(_) => "DATASET_KEY_MISSING",
            SmsError::RequesterSecretMissing(_) => "REQUESTER_SECRET_MISSING",
            SmsError::ResultKeyMissing(_) => "RESULT_KEY_MISSING",
        }
    }
}

/// The most a secret may hold, as upstream.
pub const MAX_SECRET_BYTES: usize = 4096;
