//! The messages between a scheduler and its workers (JSON bodies of its HTTP API).

use confide_chain::{Address, B256, Bytes};
use serde::{Deserialize, Serialize};

/// What a worker can run, sent when it registers.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Registration {
    /// TEE frameworks its enclave runtime can prove: `tdx`, `gramine`.
    pub frameworks: Vec<String>,
    /// Memory it can give one app, in MiB.
    pub memory_mib: u64,
    /// Whether the evidence it produces is simulated (development hosts).
    #[serde(default)]
    pub simulated: bool,
}

/// The scheduler's answer to a registration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    pub workerpools: Vec<Address>,
    pub owner: Address,
    pub lease_seconds: u64,
}

/// One task given to one worker, with the owner's authorization to contribute to it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    pub task_id: B256,
    pub deal_id: B256,
    pub index: u64,
    pub workerpool: Address,
    /// The task's enclave challenge (zero for a standard task).
    pub enclave_challenge: Address,
    /// EIP-191 signature by the workerpool owner over `keccak256(worker ‖ task ‖ challenge)`.
    pub authorization: Bytes,
    /// Send a heartbeat at least this often or the task goes to another worker.
    pub lease_seconds: u64,
}

/// `POST /tasks/next`'s answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NextTask {
    pub assignment: Option<Assignment>,
}

/// `POST /tasks/{id}/heartbeat`'s answer: `keep` is false when the task is no longer this
/// worker's (re-dispatched, completed or claimed), and the worker then stops it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Heartbeat {
    pub keep: bool,
}

/// How a task ended on a worker.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Contributed and finalized; `transaction` says where.
    Completed,
    /// Failed on the worker; `code` says why. Transient codes are retried elsewhere.
    Failed,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Report {
    pub outcome: Outcome,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub transaction: Option<B256>,
    /// A standard task's result link, for the scheduler's `finalize`.
    #[serde(default)]
    pub results: Option<String>,
}

/// What the scheduler knows of a task, for `confide task debug` (no secret is in it).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDebug {
    pub task_id: B256,
    pub deal_id: B256,
    pub index: u64,
    pub status: confide_protocol::workerpool::TaskStep,
    pub worker: Option<Address>,
    pub enclave_challenge: Option<Address>,
    pub attempts: u64,
    /// Each worker's lease of the task.
    #[serde(default)]
    pub replicas: Vec<ReplicaView>,
    pub log: Vec<LogEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaView {
    pub worker: Address,
    pub status: ReplicaStatus,
}

/// One worker's hold on a task: `running` (leased, heartbeats extend it) → `done` |
/// `failed` | `refused` (its worker says the task fails in itself) | `lost` (silent past
/// its lease) | `released` (given back), or `replaced` (a reorg voided its work).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplicaStatus {
    Running,
    Done,
    Failed,
    Refused,
    Lost,
    Released,
    Replaced,
}

impl ReplicaStatus {
    const ALL: [ReplicaStatus; 7] = [
        ReplicaStatus::Running,
        ReplicaStatus::Done,
        ReplicaStatus::Failed,
        ReplicaStatus::Refused,
        ReplicaStatus::Lost,
        ReplicaStatus::Released,
        ReplicaStatus::Replaced,
    ];

    /// Its word in the database and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicaStatus::Running => "running",
            ReplicaStatus::Done => "done",
            ReplicaStatus::Failed => "failed",
            ReplicaStatus::Refused => "refused",
            ReplicaStatus::Lost => "lost",
            ReplicaStatus::Released => "released",
            ReplicaStatus::Replaced => "replaced",
        }
    }

    pub(crate) fn parse(word: &str) -> Result<ReplicaStatus, crate::WorkerpoolError> {
        ReplicaStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == word)
            .ok_or_else(|| crate::WorkerpoolError::Storage(format!("invalid replica status `{word}`")))
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub at_ms: u64,
    /// `scheduler`, `chain` or a worker's address.
    pub party: String,
    pub message: String,
}

/// Failure codes worth another attempt on another worker: the network or a host, not the
/// task itself.
pub fn is_transient(code: &str) -> bool {
    matches!(
        code,
        "SMS_ERROR"
            | "MODULE_DOWNLOAD_FAILED"
            | "DATASET_DOWNLOAD_FAILED"
            | "INPUT_FILE_DOWNLOAD_FAILED"
            | "IO_ERROR"
            | "STORE_ERROR"
            | "ENCLAVE_START_FAILED"
            | "CHAIN_UNREACHABLE"
            | "WORKER_STOPPED"
    )
}
