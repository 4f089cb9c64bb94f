//! What the scheduler, its workers and the result store sign to one another.
//!
//! Every worker request to its scheduler carries the worker's EIP-191 signature over
//! [`request_hash`] (method, path, the body's sha256 and a timestamp), so a scheduler knows
//! which wallet asks and that nothing was changed on the way; every scheduler answer
//! carries the workerpool owner's signature over [`response_hash`], bound to the request
//! it answers, so a worker knows its orders come from the pool it works for.
//! A result upload carries the enclave's signature over [`result_upload_hash`] with the
//! task's challenge key: only an enclave the SMS released that task's secrets to can make it.

use alloy_primitives::{Address, B256, keccak256};
use sha2::{Digest, Sha256};

/// Header with the signer's address of a worker or scheduler message.
pub const SIGNER_HEADER: &str = "x-confide-signer";
/// Header with the request's time, Unix milliseconds.
pub const TIMESTAMP_HEADER: &str = "x-confide-timestamp";
/// Header with the EIP-191 signature (`0x` + 65 bytes hex).
pub const SIGNATURE_HEADER: &str = "x-confide-signature";
/// How far a request's timestamp may be from the scheduler's clock, in milliseconds.
pub const MAX_CLOCK_SKEW_MS: u64 = 60_000;

/// sha256 of a message body.
pub fn body_sha256(body: &[u8]) -> B256 {
    B256::from_slice(&Sha256::digest(body))
}

/// `keccak256(keccak256("CONFIDE_WORKER_REQUEST") ‖ keccak256(method) ‖ keccak256(path) ‖ sha256(body) ‖ timestamp_ms as u64 big-endian)`.
pub fn request_hash(method: &str, path: &str, body: &[u8], timestamp_ms: u64) -> B256 {
    keccak256(
        [
            keccak256("CONFIDE_WORKER_REQUEST").as_slice(),
            keccak256(method.to_ascii_uppercase()).as_slice(),
            keccak256(path).as_slice(),
            body_sha256(body).as_slice(),
            &timestamp_ms.to_be_bytes(),
        ]
        .concat(),
    )
}

/// `keccak256(keccak256("CONFIDE_SCHEDULER_RESPONSE") ‖ request hash ‖ sha256(body))`: an
/// answer cannot be replayed to another request.
pub fn response_hash(request: B256, body: &[u8]) -> B256 {
    keccak256(
        [
            keccak256("CONFIDE_SCHEDULER_RESPONSE").as_slice(),
            request.as_slice(),
            body_sha256(body).as_slice(),
        ]
        .concat(),
    )
}

/// `keccak256(keccak256("CONFIDE_RESULT_UPLOAD") ‖ taskId ‖ worker ‖ sha256(content))`,
/// signed by the task's enclave challenge key.
pub fn result_upload_hash(task_id: B256, worker: Address, content_sha256: B256) -> B256 {
    keccak256(
        [
            keccak256("CONFIDE_RESULT_UPLOAD").as_slice(),
            task_id.as_slice(),
            worker.as_slice(),
            content_sha256.as_slice(),
        ]
        .concat(),
    )
}

/// Error codes of the scheduler's API that its workers act on (the others they report).
pub mod codes {
    /// This scheduler stands by: ask the next one.
    pub const STANDBY: &str = "STANDBY";
    /// The worker must register before asking for work.
    pub const NOT_REGISTERED: &str = "NOT_REGISTERED";
}

/// A task's step in a Confide scheduler, which anyone may read (`GET
/// /tasks/{task}/status`): `pending` (deal seen) → `ready` (initialized on chain, wants a
/// worker) → `running` (as many workers hold it as it wants) → `completed` (a standard
/// task passes through `revealed`: consensus reached, the scheduler finalizes), or
/// `failed` (given up, left for the claim) → `claimed`; `orphaned` when a reorg took its
/// deal away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStep {
    /// The deal is seen; the task is not yet initialized on chain.
    Pending,
    /// Initialized on chain, waiting for a worker.
    Ready,
    /// Held by as many workers as it wants.
    Running,
    /// A standard task whose consensus is reached: the scheduler finalizes it.
    Revealed,
    /// Finalized on chain, its result published. Final.
    Completed,
    /// Given up by the scheduler, left to be claimed on chain.
    Failed,
    /// Claimed on chain after its deadline, the requester refunded. Final.
    Claimed,
    /// A chain reorganization took its deal away.
    Orphaned,
}

impl TaskStep {
    /// Every step, in the order a task goes through them.
    pub const ALL: [TaskStep; 8] = [
        TaskStep::Pending,
        TaskStep::Ready,
        TaskStep::Running,
        TaskStep::Revealed,
        TaskStep::Completed,
        TaskStep::Failed,
        TaskStep::Claimed,
        TaskStep::Orphaned,
    ];

    /// Its word on the wire and in the scheduler's database.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStep::Pending => "pending",
            TaskStep::Ready => "ready",
            TaskStep::Running => "running",
            TaskStep::Revealed => "revealed",
            TaskStep::Completed => "completed",
            TaskStep::Failed => "failed",
            TaskStep::Claimed => "claimed",
            TaskStep::Orphaned => "orphaned",
        }
    }

    /// A step the task never leaves.
    pub fn is_final(self) -> bool {
        matches!(self, TaskStep::Completed | TaskStep::Claimed)
    }
}

impl std::fmt::Display for TaskStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that names no [`TaskStep`].
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a task step")]
pub struct UnknownTaskStep(pub String);

impl std::str::FromStr for TaskStep {
    type Err = UnknownTaskStep;

    fn from_str(word: &str) -> Result<TaskStep, UnknownTaskStep> {
        TaskStep::ALL
            .into_iter()
            .find(|step| step.as_str() == word)
            .ok_or_else(|| UnknownTaskStep(word.to_owned()))
    }
}

/// The link a worker writes on chain for a result, the way iExec's SDK downloads it: the
/// result's IPFS CID (`/ipfs/<CID>`), fetched through any gateway (chain.json's
/// `ipfsGateway`; a Confide store is one) and checked against the CID by the reader.
pub fn ipfs_result_link(cid: &crate::ipfs::Cid) -> String {
    serde_json::json!({ "storage": "ipfs", "location": format!("/ipfs/{cid}") }).to_string()
}

/// The link a worker writes on chain for a result in a Confide store, in iExec's
/// `results` shape (`{"storage": …, "location": …}`).
pub fn result_link(store_url: &str, task_id: B256, worker: Address) -> String {
    serde_json::json!({
        "storage": "confide",
        "location": format!("{}/results/{task_id}/{worker}", store_url.trim_end_matches('/')),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_hashes_bind_every_part() {
        let base = request_hash("POST", "/tasks/next", b"{}", 1);
        assert_ne!(base, request_hash("GET", "/tasks/next", b"{}", 1));
        assert_ne!(base, request_hash("POST", "/tasks/nexT", b"{}", 1));
        assert_ne!(base, request_hash("POST", "/tasks/next", b"{ }", 1));
        assert_ne!(base, request_hash("POST", "/tasks/next", b"{}", 2));
        assert_eq!(base, request_hash("post", "/tasks/next", b"{}", 1));
    }

    #[test]
    fn uploads_are_bound_to_task_worker_and_content() {
        let task = B256::repeat_byte(1);
        let base = result_upload_hash(task, Address::ZERO, B256::ZERO);
        assert_ne!(
            base,
            result_upload_hash(B256::repeat_byte(2), Address::ZERO, B256::ZERO)
        );
        assert_ne!(base, result_upload_hash(task, Address::repeat_byte(1), B256::ZERO));
        assert_ne!(base, result_upload_hash(task, Address::ZERO, B256::repeat_byte(1)));
    }

    #[test]
    fn ipfs_result_links_are_what_iexecs_sdk_downloads() {
        let cid = crate::ipfs::file_cid(crate::ipfs::CidVersion::V1, b"hello world");
        let link: serde_json::Value = serde_json::from_str(&ipfs_result_link(&cid)).unwrap();
        assert_eq!(
            link,
            serde_json::json!({
                "storage": "ipfs",
                "location": "/ipfs/bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
            })
        );
    }

    #[test]
    fn result_links_are_iexec_shaped() {
        let link: serde_json::Value =
            serde_json::from_str(&result_link("http://s/", B256::ZERO, Address::ZERO)).unwrap();
        assert_eq!(link["storage"], "confide");
        assert!(link["location"].as_str().unwrap().starts_with("http://s/results/0x"));
    }

    #[test]
    fn every_step_reads_back_from_its_word_and_serializes_as_it() {
        for step in TaskStep::ALL {
            assert_eq!(step.as_str().parse::<TaskStep>().unwrap(), step);
            assert_eq!(serde_json::to_value(step).unwrap(), step.as_str());
        }
        assert!("Running".parse::<TaskStep>().is_err());
        assert!("".parse::<TaskStep>().is_err());
    }
}
