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
    #[error("{0}")]
    Chain(#[from] confide_chain::ChainError),
    #[error("storage: {0}")]
    Storage(String),
    #[error("the SMS refused or failed: {0}")]
    Sms(String),
    #[error("the scheduler at {url} is unreachable: {reason}")]
    SchedulerUnreachable { url: String, reason: String },
    #[error("the scheduler refused ({code}): {message}")]
    Refused { code: String, message: String },
    #[error("the scheduler's answer is not signed by the workerpool owner {owner}")]
    ForgedAnswer { owner: confide_chain::Address },
    #[error("the assignment is not valid: {0}")]
    BadAssignment(String),
    #[error("the result store failed: {0}")]
    Store(String),
    #[error("the enclave runtime could not run: {0}")]
    Enclave(String),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
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
