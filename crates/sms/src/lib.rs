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
pub mod store;

pub use api::{AppState, router};
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
        }
    }
}

/// The most a secret may hold, as upstream.
pub const MAX_SECRET_BYTES: usize = 4096;
