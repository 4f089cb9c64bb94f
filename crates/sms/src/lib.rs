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
mod bulk;
pub mod gate;
mod sealing;
pub mod store;

pub use api::{AppState, router};
pub use gate::Gate;
pub use store::{SecretKind, SecretStore};

/// What the SMS can refuse or fail at; each maps to an HTTP status and a stable code.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The request has no `Authorization` header, or not one canonical 65-byte hex
    /// signature (`v` other than 27 or 28, or `s` above n/2, is refused too): sign it.
    #[error("missing or malformed Authorization header: expected a 65-byte hex signature")]
    MissingSignature,
    /// The signature does not recover to the owner: the on-chain owner of a dataset or
    /// app, the address itself for web2 and requester secrets, the deal's workerpool owner
    /// for an enclave challenge. Sign with that wallet, over this exact value.
    #[error("the signature is not the owner's ({owner}) for this address, name and value")]
    WrongSigner {
        /// The address the signature had to recover to.
        owner: confide_chain::Address,
    },
    /// The signature was already used for an earlier write; every signature is single-use.
    #[error("this signature was already used: sign the new request again")]
    ReplayedSignature,
    /// The value is over [`MAX_SECRET_BYTES`].
    #[error("the secret is {size} bytes; the limit is 4096")]
    TooLarge {
        /// The value's size, in bytes.
        size: usize,
    },
    /// The pushed value is empty.
    #[error("the secret is empty")]
    Empty,
    /// A create (`POST`) found a secret already stored at this path; change it with a
    /// versioned `PUT` instead.
    #[error("a secret already exists here and secrets are write-once: rotate it with a signed PUT")]
    AlreadyExists,
    /// No secret is stored at this path (a presence check, or a rotation of nothing).
    #[error("no secret here")]
    NotFound,
    /// The dataset or app address has no contract with an `owner()` on this chain.
    #[error("{0} is not a contract with an owner on this chain (unknown dataset or app)")]
    UnknownAddress(confide_chain::Address),
    /// A path, query or body could not be read (a bad address, task id or version, a
    /// malformed session request); the message names it.
    #[error("invalid request: {0}")]
    BadRequest(String),
    /// A rotation asked for a version other than the next one: read the current version
    /// and sign for the next.
    #[error("rotation to version {asked} refused: the next version is {next}")]
    VersionMismatch {
        /// The version the request signed for.
        asked: u64,
        /// The only version the SMS would accept now (the latest plus one).
        next: u64,
    },
    /// A chain read (owner, deal, task, app or dataset) failed; try again once the node answers.
    #[error("the chain is unreachable: {0}")]
    Chain(String),
    /// The database or the master key file failed, or a sealed value did not open under
    /// the master key.
    #[error("storage failed: {0}")]
    Storage(String),
    /// At start-up: the database was sealed under another master key than this replica's.
    #[error(
        "this database's secrets are sealed under master key {database}, not this one ({ours}): give every replica the same key"
    )]
    MasterKeyMismatch {
        /// The 8-byte id (hex) of the key the database records in `sms_meta`.
        database: String,
        /// The 8-byte id (hex) of the key this replica was given.
        ours: String,
    },
    /// An enclave session named a nonce this SMS did not issue, that expired
    /// ([`gate::NONCE_TTL`]) or was used already: ask `GET /tee/nonce` again.
    #[error("the session nonce is unknown, expired or already used: ask for a new one")]
    NonceInvalid,
    /// The enclave's evidence did not verify, the policy refused it, or its report data
    /// is not over this nonce, key and module; the attestation error's code says which.
    #[error("attestation refused: {0}")]
    Attestation(confide_attest::AttestError),
    /// The task is not ACTIVE on chain (its status is carried), or is past its final
    /// deadline: no challenge is made and no secret released for it.
    #[error("the task is {0}, not ACTIVE: no secrets are released for it")]
    TaskNotActive(String),
    /// The evidence's kind does not prove the TEE framework of the deal's tag (such as
    /// SGX evidence for a TDX deal).
    #[error("{evidence} evidence does not prove the TEE framework the deal's tag {tag} asks for")]
    FrameworkMismatch {
        /// The evidence's kind: `sgx`, `tdx` or `simulated`.
        evidence: &'static str,
        /// The deal's tag.
        tag: String,
    },
    /// The worker's authorization is not the deal's workerpool owner's signature over this
    /// worker, task and enclave challenge; the owner's address is carried.
    #[error("the worker's authorization is not signed by the deal's workerpool owner {0}")]
    WrongAuthorization(confide_chain::Address),
    /// The session names an enclave challenge the SMS did not make for this task (or none
    /// was made yet).
    #[error("no enclave challenge of this task has that address: ask the SMS for the task's challenge first")]
    UnknownChallenge,
    /// The deal's app (address carried) is not a Confide app: neither its mrenclave nor
    /// a valid manifest gives an enclave configuration.
    #[error("the deal's app {0} has no Confide enclave configuration (in its mrenclave or its manifest)")]
    NotConfideApp(confide_chain::Address),
    /// The deal's app (address carried) is registered by its manifest's checksum, and the
    /// session did not include the manifest.
    #[error("the deal's app {0} is registered by its manifest, and the enclave sent none")]
    ManifestMissing(confide_chain::Address),
    /// The manifest or module the enclave presented is not the one the app registered on
    /// chain.
    #[error("the module the enclave runs is not the app's registered module ({registered})")]
    AppMismatch {
        /// What the app registered: its manifest's sha256 or its module's fingerprint.
        registered: String,
    },
    /// The deal's dataset (address carried) has no key pushed to this SMS: its owner
    /// must push it first.
    #[error("the dataset {0} has no key in this SMS")]
    DatasetKeyMissing(confide_chain::Address),
    /// The deal's params name a requester secret (name carried) the requester never pushed.
    #[error("the requester has no secret named `{0}`, which the deal's params ask for")]
    RequesterSecretMissing(String),
    /// The deal asks for result encryption and its beneficiary (address carried) pushed
    /// no `iexec-result-encryption-public-key`.
    #[error("the request asks for an encrypted result, but the beneficiary {0} pushed no result encryption key")]
    ResultKeyMissing(confide_chain::Address),
    /// A usage-ledger request signed for a time (Unix seconds carried) too far from the
    /// SMS's clock: a signature read off the wire cannot be replayed later.
    #[error("the request is signed for time {0}, more than 5 minutes from now: sign it again")]
    StaleRequest(u64),
    /// The deal's bulk request cannot be read: its root or slice is not what the format
    /// says, or the task has no slice.
    #[error("bulk request: {0}")]
    BulkRequest(String),
    /// No IPFS gateway gave the bulk request's root or slice (retry later).
    #[error("{0}")]
    Gateway(confide_gateway::GatewayError),
}

impl SmsError {
    /// The stable code sent in the JSON error body (such as `SECRET_EXISTS`), which
    /// clients match on.
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
            SmsError::StaleRequest(_) => "STALE_REQUEST",
            SmsError::BulkRequest(_) => "BULK_REQUEST_INVALID",
            SmsError::Gateway(e) => e.code(),
        }
    }
}

impl From<confide_chain::ChainError> for SmsError {
    /// Callers get the chain error's code only: its text can hold the node's URL, and with
    /// it an RPC provider's API key. The whole error goes to the log.
    fn from(error: confide_chain::ChainError) -> SmsError {
        tracing::warn!(%error, "a chain read failed");
        SmsError::Chain(error.code().to_owned())
    }
}

/// The most a secret may hold, as upstream.
pub const MAX_SECRET_BYTES: usize = 4096;
