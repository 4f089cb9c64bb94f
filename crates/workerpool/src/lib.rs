//! The workerpool: a scheduler run by the pool's owner and workers that join it over HTTP.
//!
//! The scheduler follows `SchedulerNotice` for its workerpools, initializes tasks, obtains
//! each TEE task's enclave challenge from the SMS, hands tasks to workers with the owner's
//! authorization, re-dispatches a task whose worker went silent and claims what failed
//! once its final deadline passed, so requesters are refunded. Its state lives in SQLite
//! (default) or Postgres and survives a restart.
//!
//! A worker is an untrusted host: it starts the enclave runtime, moves ciphertext to the
//! result store and submits what the enclave signed. It must never see, ask for or keep a
//! dataset key, a secret or a clear-text result; nothing here handles one.
//!
//! Every worker request is signed by the worker's wallet and every answer by the pool
//! owner's (`confide_protocol::workerpool`).

pub mod api;
pub mod auth;
pub mod db;
pub mod scheduler;
pub mod worker;

/// Why a workerpool operation failed; each has a stable code.
#[derive(Debug, thiserror::Error)]
pub enum WorkerpoolError {
    /// A chain read or transaction failed; the chain error's own code says why.
    #[error("{0}")]
    Chain(#[from] confide_chain::ChainError),
    /// The scheduler's database failed or holds a row it cannot read; check the database
    /// URL and that the database is up.
    #[error("storage: {0}")]
    Storage(String),
    /// A TEE task's enclave challenge could not be had: no `--sms` was given, or the SMS
    /// was unreachable or refused the owner-signed request.
    #[error("the SMS refused or failed: {0}")]
    Sms(String),
    /// No scheduler answered the worker's request; the worker asks again later.
    #[error("the scheduler at {url} is unreachable: {reason}")]
    SchedulerUnreachable {
        /// The scheduler's base URL, empty when the worker was given none.
        url: String,
        /// What the HTTP client reported.
        reason: String,
    },
    /// The scheduler answered with a refusal (`STANDBY` while it stands by), or with a body
    /// the worker could not read (`BAD_ANSWER`).
    #[error("the scheduler refused ({code}): {message}")]
    Refused {
        /// The refusal's stable code, as the scheduler sent it.
        code: String,
        /// The scheduler's explanation, for people.
        message: String,
    },
    /// An answer was not signed by the workerpool's owner, or the pools the scheduler
    /// names are not that owner's on chain; the worker does not act on the answer.
    #[error("the scheduler's answer is not signed by the workerpool owner {owner}")]
    ForgedAnswer {
        /// The owner the answer should have been signed by.
        owner: confide_chain::Address,
    },
    /// The chain does not back an assignment (another pool's deal, a wrong task id, no
    /// owner's authorization, a task not ACTIVE) and nothing is spent on it; or the
    /// scheduler does not serve the workerpool the worker was pinned to, or was started
    /// for a workerpool its wallet does not own.
    #[error("the assignment is not valid: {0}")]
    BadAssignment(String),
    /// The result store refused the upload, named a CID other than the worker's own, or
    /// kept failing through every attempt.
    #[error("the result store failed: {0}")]
    Store(String),
    /// The enclave runtime could not be started, or the worker's wallet could not sign a
    /// request.
    #[error("the enclave runtime could not run: {0}")]
    Enclave(String),
    /// A local file, such as the enclave's sealed result, could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file's path.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl WorkerpoolError {
    /// Whether the scheduler may answer if asked again: it was unreachable, or it stands
    /// by (restarted, or taking over from another).
    pub fn scheduler_may_answer_later(&self) -> bool {
        match self {
            WorkerpoolError::SchedulerUnreachable { .. } => true,
            WorkerpoolError::Refused { code, .. } => code == confide_protocol::workerpool::codes::STANDBY,
            _ => false,
        }
    }

    /// The error's stable code (such as `SCHEDULER_UNREACHABLE`), for `--raw` output and logs.
    pub fn code(&self) -> &'static str {
        match self {
            WorkerpoolError::Chain(e) => e.code(),
            WorkerpoolError::Storage(_) => "STORAGE_ERROR",
            WorkerpoolError::Sms(_) => "SMS_ERROR",
            WorkerpoolError::SchedulerUnreachable { .. } => "SCHEDULER_UNREACHABLE",
            WorkerpoolError::Refused { .. } => "SCHEDULER_REFUSED",
            WorkerpoolError::ForgedAnswer { .. } => "FORGED_ANSWER",
            WorkerpoolError::BadAssignment(_) => "BAD_ASSIGNMENT",
            WorkerpoolError::Store(_) => "STORE_ERROR",
            WorkerpoolError::Enclave(_) => "ENCLAVE_START_FAILED",
            WorkerpoolError::Io { .. } => "IO_ERROR",
        }
    }

    /// An [`WorkerpoolError::Io`] for `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> WorkerpoolError {
        WorkerpoolError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
