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
    /// How many tasks it runs at once (1 when it does not say): the scheduler never gives
    /// it more, so no wallet hoards a pool's tasks.
    #[serde(default = "one_task")]
    pub concurrency: u32,
}

fn one_task() -> u32 {
    1
}

/// The scheduler's answer to a registration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    /// The workerpools this scheduler schedules, which the worker checks are the owner's on chain.
    pub workerpools: Vec<Address>,
    /// The workerpool owner's address, which signs every answer and authorization.
    pub owner: Address,
    /// How long a lease lasts without a heartbeat, in seconds.
    pub lease_seconds: u64,
}

/// One task given to one worker, with the owner's authorization to contribute to it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    /// The task's id on chain, which the worker checks against the deal and index.
    pub task_id: B256,
    /// The deal the task belongs to.
    pub deal_id: B256,
    /// The task's index within its deal, from 0.
    pub index: u64,
    /// The workerpool the deal was made with.
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
    /// The task to run now, or none when nothing is ready for this worker.
    pub assignment: Option<Assignment>,
}

/// `POST /tasks/{id}/heartbeat`'s answer: `keep` is false when the task is no longer this
/// worker's (re-dispatched, completed or claimed), and the worker then stops it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Heartbeat {
    /// Whether the worker still holds the task and should carry on.
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

/// `POST /tasks/{id}/report`'s body: how the task ended on the worker that sends it.
/// The scheduler believes the chain, not the report, about a contribution.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Report {
    /// Whether the task completed or failed on this worker.
    pub outcome: Outcome,
    /// The failure's stable code (such as `DATASET_DOWNLOAD_FAILED`); [`is_transient`]
    /// says whether the task is tried again.
    #[serde(default)]
    pub code: Option<String>,
    /// The failure's explanation, for the task's log.
    #[serde(default)]
    pub message: Option<String>,
    /// The hash of the worker's last transaction for the task (`contributeAndFinalize`,
    /// or a standard task's `reveal`).
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
    /// The task's id on chain.
    pub task_id: B256,
    /// The deal the task belongs to.
    pub deal_id: B256,
    /// The task's index within its deal, from 0.
    pub index: u64,
    /// Where the task stands in the scheduler (`pending`, `running`, `completed`, …).
    pub status: confide_protocol::workerpool::TaskStep,
    /// The worker last given the task, if any.
    pub worker: Option<Address>,
    /// The task's enclave challenge from the SMS, once obtained (none for a standard task).
    pub enclave_challenge: Option<Address>,
    /// Failed attempts so far; the task is given up after `--max-attempts`.
    pub attempts: u64,
    /// Each worker's lease of the task.
    #[serde(default)]
    pub replicas: Vec<ReplicaView>,
    /// What the scheduler, the chain and the workers reported about the task, oldest first.
    pub log: Vec<LogEntry>,
}

/// One worker's lease of a task, as `confide task debug` shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaView {
    /// The wallet address of the worker holding the replica.
    pub worker: Address,
    /// Where the replica stands.
    pub status: ReplicaStatus,
}

/// One worker's hold on a task: `running` (leased, heartbeats extend it) → `done` |
/// `failed` | `refused` (its worker says the task fails in itself) | `lost` (silent past
/// its lease) | `released` (given back), or `replaced` (a reorg voided its work).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplicaStatus {
    /// Leased to the worker; its heartbeats extend the lease.
    Running,
    /// The worker's part is done, as the chain shows (finalized, or a standard task revealed).
    Done,
    /// The worker reported a failure; the task may go to another worker.
    Failed,
    /// The worker reported that the task fails in itself; it is never given to that worker again.
    Refused,
    /// The worker went silent past its lease; the task goes to another worker.
    Lost,
    /// Withdrawn as it was handed out, because the task changed meanwhile; the worker never got it.
    Released,
    /// A reorg voided the worker's work on chain.
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

/// One line of a task's log.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// When it was recorded, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// `scheduler`, `chain` or a worker's address.
    pub party: String,
    /// What happened, in words (never a secret).
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
            | "ENCLAVE_TIMEOUT"
    )
}
