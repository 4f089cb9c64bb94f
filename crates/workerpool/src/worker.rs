//! The worker: registers with its scheduler, pulls tasks, runs each TEE task in the
//! enclave runtime (a child process), uploads the encrypted result and submits the
//! enclave's signed contribution on chain.
//!
//! Security: the worker host is untrusted. It checks every assignment against the chain
//! (the deal is its pool's, the owner signed the authorization) before it spends gas,
//! and it only ever handles what the enclave wrote for the host: `computed.json` (digest,
//! signatures) and the encrypted result.

use confide_protocol::refusal::Refusal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use alloy_signer_local::PrivateKeySigner;
use axum::Router;
use axum::routing::get;
use confide_chain::{Address, B256, Bytes, Poco, TaskStatus};
use confide_protocol::ipfs::{Cid, CidVersion};
use confide_protocol::messages::{authorization_hash, recover_personal, sign_personal};
use confide_protocol::tee::{AppEnclaveConfig, Computed, PublicDataset, StandardTask};
use confide_protocol::workerpool::{codes, ipfs_result_link};
use serde_json::{Value, json};

use crate::WorkerpoolError;
use crate::api::{Assignment, Heartbeat, NextTask, Outcome, Registered, Registration, Report};
use crate::auth::SchedulerClient;

/// How a worker runs, from `confide worker`'s options.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// The pool's scheduler: one URL, or several separated by commas (the active one and
    /// its standbys).
    pub scheduler_url: String,
    /// Only work for this workerpool (any pool the scheduler names, when absent).
    pub workerpool: Option<Address>,
    /// The enclave runtime binary (`confide-enclave`).
    pub enclave_binary: PathBuf,
    /// Where each task's work directory (ciphertext only) is made.
    pub work_dir: PathBuf,
    /// The SMS the enclave runtime attests to, passed to it as `--sms`.
    pub sms_url: String,
    /// The result store the encrypted results are uploaded to.
    pub store_url: String,
    /// `sgx`, `tdx` or `simulation`.
    pub evidence: String,
    /// TEE frameworks to take tasks for.
    pub frameworks: Vec<String>,
    /// Memory this host can give one app, in MiB, told to the scheduler on registration.
    pub memory_mib: u64,
    /// The enclave's compiled-module cache, which workers of one host may share.
    pub module_cache: Option<PathBuf>,
    /// The pinned Python runtime's folder, passed to the enclave runtime.
    pub python_runtime: Option<PathBuf>,
    /// IPFS gateways for `/ipfs/<CID>` datasets and app code, tried in order.
    pub ipfs_gateways: Vec<String>,
    /// How long to wait when the scheduler has nothing to do.
    pub poll: Duration,
}

/// Counts of how the worker's tasks ended since it started, served on `/metrics`.
#[derive(Default)]
pub struct WorkerStats {
    /// Tasks completed on chain by this worker.
    pub completed: AtomicU64,
    /// Tasks reported failed.
    pub failed: AtomicU64,
    /// Tasks stopped because the scheduler took them back.
    pub abandoned: AtomicU64,
}

/// A worker registered with its scheduler, ready to pull and run tasks.
pub struct Worker {
    /// Signs as the worker.
    poco: Poco,
    signer: PrivateKeySigner,
    client: SchedulerClient,
    config: WorkerConfig,
    registered: Registered,
    http: reqwest::Client,
    /// How its tasks ended so far.
    pub stats: WorkerStats,
}

/// How a task ended here, before it is reported.
struct Ended {
    outcome: Outcome,
    code: Option<String>,
    message: Option<String>,
    transaction: Option<B256>,
    results: Option<String>,
    /// A standard task's contribution, on chain and waiting for the consensus.
    contribution: Option<Contribution>,
}

#[derive(Clone, Copy)]
struct Contribution {
    digest: B256,
    hash: B256,
    /// The uploaded result's CID: its link once revealed.
    cid: Cid,
}

/// What the chain says of an assignment the worker accepted.
struct Verified {
    deal: confide_chain::DealInfo,
    app: confide_chain::AppInfo,
    /// How long the enclave runtime may take, every phase together (see [`ENCLAVE_OVERHEAD`]).
    enclave_budget: Duration,
}

/// A result file's sha256 and IPFS CID (v1, raw leaves), read a chunk at a time: a result
/// may be as large as the app's write quota, and the worker runs several tasks at once.
fn digest_file(path: &std::path::Path) -> Result<(B256, Cid), WorkerpoolError> {
    use sha2::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| WorkerpoolError::io(path, e))?;
    let (mut sha256, mut cid) = (
        sha2::Sha256::new(),
        confide_protocol::ipfs::FileCid::new(CidVersion::V1),
    );
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut chunk).map_err(|e| WorkerpoolError::io(path, e))?;
        if read == 0 {
            break;
        }
        sha256.update(&chunk[..read]);
        cid.update(&chunk[..read]);
    }
    Ok((B256::from_slice(&sha256.finalize()), cid.finish()))
}

/// Time the enclave runtime may take besides the app's own run (the category's time):
/// downloads (a 16 GiB dataset and 4 GiB of input files at the worst), attestation,
/// compiling, archiving and encrypting. Past its budget it is killed: a module that takes
/// hours to compile must not hold a worker for hours.
const ENCLAVE_OVERHEAD: Duration = Duration::from_secs(45 * 60);

impl Ended {
    fn failed(code: &str, message: impl Into<String>) -> Ended {
        Ended {
            outcome: Outcome::Failed,
            code: Some(code.into()),
            message: Some(message.into()),
            transaction: None,
            results: None,
            contribution: None,
        }
    }

    /// A failure of the worker's own step, as the task's log (which the deal's parties
    /// read) will say it: a chain error by its code only, since its text can hold the
    /// node's URL and an RPC provider's key in it (the whole error goes to this log).
    fn failed_with(error: &WorkerpoolError) -> Ended {
        match error {
            WorkerpoolError::Chain(_) => {
                tracing::warn!(%error, "a chain call failed");
                Ended::failed(
                    error.code(),
                    "the chain call failed (its details are in the worker's log)",
                )
            }
            _ => Ended::failed(error.code(), error.to_string()),
        }
    }

    fn completed(transaction: B256, results: Option<String>) -> Ended {
        Ended {
            outcome: Outcome::Completed,
            code: None,
            message: None,
            transaction: Some(transaction),
            results,
            contribution: None,
        }
    }

    fn contributed(transaction: B256, contribution: Contribution) -> Ended {
        Ended {
            contribution: Some(contribution),
            ..Ended::completed(transaction, None)
        }
    }
}

impl Worker {
    /// Registers with the scheduler, retrying until it answers; checks that the answer is
    /// signed by the on-chain owner of the pool(s) it names.
    pub async fn connect(
        poco: Poco,
        signer: PrivateKeySigner,
        config: WorkerConfig,
    ) -> Result<Worker, WorkerpoolError> {
        let mut client = SchedulerClient::new(&config.scheduler_url, signer.clone());
        let mut pause = Duration::from_millis(250);
        let registered = loop {
            match register(&poco, &client, &config).await {
                Ok(registered) => break registered,
                Err(e) if e.scheduler_may_answer_later() || matches!(e, WorkerpoolError::Chain(_)) => {
                    tracing::warn!(error = %e, "registration failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(10));
                }
                Err(e) => return Err(e),
            }
        };
        client.owner = Some(registered.owner);
        tracing::info!(scheduler = %config.scheduler_url, owner = %registered.owner, "registered");
        Ok(Worker {
            poco,
            signer,
            client,
            config,
            registered,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(300))
                .build()
                .expect("an HTTP client"),
            stats: WorkerStats::default(),
        })
    }

    /// The worker's wallet address, which signs its requests and transactions.
    pub fn address(&self) -> Address {
        self.client.address()
    }

    /// Pulls and runs tasks until the process stops.
    pub async fn run(self: Arc<Self>) {
        let mut pause = self.config.poll;
        loop {
            match self.client.post::<_, NextTask>("/tasks/next", &json!({})).await {
                Ok((
                    NextTask {
                        assignment: Some(assignment),
                    },
                    _,
                )) => {
                    pause = self.config.poll;
                    self.execute(assignment).await;
                    continue;
                }
                Ok(_) => pause = self.config.poll,
                Err(WorkerpoolError::Refused { code, .. }) if code == codes::NOT_REGISTERED => {
                    if let Err(e) = register(&self.poco, &self.client, &self.config).await {
                        tracing::warn!(error = %e, "registering again failed");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "asking for a task failed; retrying");
                    pause = (pause * 2).min(Duration::from_secs(10));
                }
            }
            tokio::time::sleep(pause).await;
        }
    }

    async fn execute(self: &Arc<Self>, assignment: Assignment) {
        let task_id = assignment.task_id;
        tracing::info!(%task_id, "task assigned");
        // Heartbeats run for the whole task (enclave, upload, contribution); when the
        // scheduler takes the task back, the work is dropped, which kills the enclave.
        let work = async {
            match self.verify(&assignment).await {
                Ok(verified) => self.run_task(&assignment, &verified).await,
                Err(e) => Ended::failed_with(&e),
            }
        };
        let ended = tokio::select! {
            ended = work => Some(ended),
            _ = self.heartbeats(&assignment) => None,
        };
        let _ = std::fs::remove_dir_all(self.config.work_dir.join(task_id.to_string()));
        let Some(ended) = ended else {
            self.stats.abandoned.fetch_add(1, Ordering::Relaxed);
            tracing::info!(%task_id, "the scheduler took the task back; stopped it");
            return;
        };
        if let Some(contribution) = ended.contribution {
            // The consensus may need other workers' contributions: this one waits for it
            // (still beating) while the worker takes other tasks, so that workers waiting
            // on each other's tasks never block one another.
            let worker = self.clone();
            tokio::spawn(async move {
                let ended = tokio::select! {
                    ended = worker.reveal_after_consensus(&assignment, contribution) => Some(ended),
                    _ = worker.heartbeats(&assignment) => None,
                };
                match ended {
                    Some(ended) => worker.finish(&assignment, ended).await,
                    None => {
                        worker.stats.abandoned.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(%task_id, "the scheduler took the task back before the reveal");
                    }
                }
            });
            return;
        }
        self.finish(&assignment, ended).await;
    }

    /// Counts and reports how a task ended.
    async fn finish(&self, assignment: &Assignment, ended: Ended) {
        let task_id = assignment.task_id;
        match ended.outcome {
            Outcome::Completed => self.stats.completed.fetch_add(1, Ordering::Relaxed),
            Outcome::Failed => self.stats.failed.fetch_add(1, Ordering::Relaxed),
        };
        tracing::info!(%task_id, outcome = ?ended.outcome, code = ?ended.code, "task ended");
        let report = Report {
            outcome: ended.outcome,
            code: ended.code,
            message: ended.message,
            transaction: ended.transaction,
            results: ended.results,
        };
        // The report is how the scheduler learns the outcome: retried while it is
        // unreachable or standing by (a standby takes over within seconds).
        for attempt in 0..6u32 {
            match self
                .client
                .post::<_, Value>(&format!("/tasks/{task_id}/report"), &report)
                .await
            {
                Err(e) if e.scheduler_may_answer_later() => {
                    tracing::warn!(%task_id, error = %e, "reporting failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
                }
                Err(e) => {
                    tracing::warn!(%task_id, error = %e, "the scheduler refused the report");
                    break;
                }
                Ok(_) => break,
            }
        }
    }

    /// Sends heartbeats until the scheduler says the task is no longer ours.
    async fn heartbeats(&self, a: &Assignment) {
        let beat = Duration::from_millis((a.lease_seconds * 1000 / 3).max(200));
        let path = format!("/tasks/{}/heartbeat", a.task_id);
        loop {
            tokio::time::sleep(beat).await;
            match self.client.post::<_, Heartbeat>(&path, &json!({})).await {
                Ok((Heartbeat { keep: false }, _)) => return,
                Ok(_) => {}
                Err(e) => tracing::warn!(task_id = %a.task_id, error = %e, "heartbeat failed"),
            }
        }
    }

    /// Checks the assignment against the chain.
    async fn verify(&self, a: &Assignment) -> Result<Verified, WorkerpoolError> {
        let bad = |why: String| WorkerpoolError::BadAssignment(why);
        let deal = self.poco.deal(a.deal_id).await?;
        if confide_protocol::task_id(a.deal_id, confide_chain::U256::from(a.index)) != a.task_id {
            return Err(bad("the task id is not the deal's task at that index".into()));
        }
        let ours = match self.config.workerpool {
            Some(pinned) => deal.workerpool == pinned,
            None => self.registered.workerpools.contains(&deal.workerpool),
        };
        if !ours {
            return Err(bad(format!("the deal is for workerpool {}, not ours", deal.workerpool)));
        }
        let signature = confide_protocol::messages::canonical_signature(&a.authorization)
            .ok_or_else(|| bad("the authorization is not a canonical signature".into()))?;
        let signer = recover_personal(
            authorization_hash(self.address(), a.task_id, a.enclave_challenge),
            &signature,
        );
        if signer != Some(deal.workerpool_owner) {
            return Err(bad("the authorization is not signed by the workerpool's owner".into()));
        }
        if deal.trust.saturating_to::<u64>() > 1 && deal.tag().is_tee() {
            return Err(bad("TEE tasks run with trust 1 only (contributeAndFinalize)".into()));
        }
        let task = self.poco.task(a.task_id).await?;
        if task.status != TaskStatus::Active {
            return Err(bad(format!("the task is {:?} on chain, not ACTIVE", task.status)));
        }
        let app = self.poco.app(deal.app).await?;
        let enclave_budget = Duration::from_secs(task.timeref.saturating_to::<u64>()).saturating_add(ENCLAVE_OVERHEAD);
        Ok(Verified {
            deal,
            app,
            enclave_budget,
        })
    }

    /// The runtime's description of a standard task, from the chain.
    async fn standard_task(&self, a: &Assignment, v: &Verified) -> Result<StandardTask, WorkerpoolError> {
        let deal = &v.deal;
        let dataset = if deal.dataset.is_zero() {
            None
        } else {
            let info = self.poco.dataset(deal.dataset).await?;
            Some(PublicDataset {
                address: deal.dataset,
                url: confide_protocol::ipfs::multiaddr_location(&info.multiaddr),
                checksum: info.checksum,
            })
        };
        let categories = self.poco.categories().await?;
        let max_run_seconds = categories
            .get(deal.category.saturating_to::<usize>())
            .map(|(_, t)| t.saturating_to::<u64>())
            .unwrap_or(300);
        // An app without an mrenclave names its cap in its manifest, which the runtime
        // reads (and lowers this to); a bare module gets the pool's cap.
        let heap = if v.app.mrenclave.is_empty() {
            u64::MAX
        } else {
            AppEnclaveConfig::parse(&v.app.mrenclave)
                .map(|c| c.heap_size)
                .unwrap_or(AppEnclaveConfig::DEFAULT_HEAP)
        };
        Ok(StandardTask {
            task_id: a.task_id,
            deal_id: a.deal_id,
            task_index: a.index,
            bot_first: deal.bot_first.saturating_to::<u64>(),
            bot_size: deal.bot_size.saturating_to::<u64>(),
            app: deal.app,
            app_module_sha256: v.app.checksum,
            app_memory_limit: heap.min(self.config.memory_mib << 20),
            max_run_seconds,
            dataset,
            params: deal.params.clone(),
            worker: self.address(),
        })
    }

    /// Runs the enclave, then publishes what it computed.
    async fn run_task(&self, a: &Assignment, v: &Verified) -> Ended {
        let standard = !v.deal.tag().is_tee();
        let work = self.config.work_dir.join(a.task_id.to_string());
        let _ = std::fs::remove_dir_all(&work);
        if let Err(e) = std::fs::create_dir_all(&work) {
            return Ended::failed("IO_ERROR", format!("{}: {e}", work.display()));
        }
        let mut command = match self.enclave_command(a, v, &work, standard).await {
            Ok(command) => command,
            Err(ended) => return ended,
        };
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                let binary = self.config.enclave_binary.display();
                return Ended::failed("ENCLAVE_START_FAILED", format!("{binary}: {e}"));
            }
        };
        let tail = drain_stderr(child.stderr.take());
        let status = match tokio::time::timeout(v.enclave_budget, child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => return Ended::failed("ENCLAVE_START_FAILED", e.to_string()),
            Err(_) => {
                let _ = child.kill().await;
                let why = format!(
                    "the enclave runtime ran past its {} s budget",
                    v.enclave_budget.as_secs()
                );
                return Ended::failed("ENCLAVE_TIMEOUT", why);
            }
        };
        let tail = tail.await.unwrap_or_default();
        let computed: Computed = match std::fs::read(work.join("computed.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        {
            Some(computed) => computed,
            None => {
                let why = format!("the enclave runtime ended ({status}) without computed.json: {tail}");
                return Ended::failed("ENCLAVE_START_FAILED", why);
            }
        };
        if let Some(code) = &computed.error_code {
            let message = computed.error_message.as_deref().unwrap_or_default();
            return self.failed_with_logs(a, &work, &computed, code, message).await;
        }
        if standard {
            self.contribute_and_reveal(a, &work, &computed).await
        } else {
            self.publish(a, &work, &computed).await
        }
    }

    /// The enclave runtime's command for this task: a TEE task's challenge, authorization
    /// and SMS, or a standard task's description written beside its work directory.
    async fn enclave_command(
        &self,
        a: &Assignment,
        v: &Verified,
        work: &Path,
        standard: bool,
    ) -> Result<tokio::process::Command, Ended> {
        let app_url = String::from_utf8_lossy(&v.app.multiaddr).into_owned();
        let mut command = tokio::process::Command::new(&self.config.enclave_binary);
        command
            .args(["--task-id", &a.task_id.to_string()])
            .args(["--worker", &self.address().to_string()])
            .args(["--app-url", &app_url])
            .arg("--work-dir")
            .arg(work);
        if standard {
            let description = self.standard_task(a, v).await.map_err(|e| Ended::failed_with(&e))?;
            let path = self.config.work_dir.join(format!("{}.standard.json", a.task_id));
            let text = serde_json::to_vec(&description).expect("the task serializes");
            std::fs::write(&path, text).map_err(|e| Ended::failed("IO_ERROR", format!("{}: {e}", path.display())))?;
            command.arg("--standard").arg(&path);
        } else {
            command
                .args(["--enclave-challenge", &a.enclave_challenge.to_string()])
                .args(["--authorization", &a.authorization.to_string()])
                .args(["--sms", &self.config.sms_url]);
        }
        // A standard task too: its compiled-module cache is keyed by the enclave's sealing key.
        command.args(["--evidence", &self.config.evidence]);
        command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        if let Some(cache) = &self.config.module_cache {
            command.arg("--module-cache").arg(cache);
        }
        if let Some(runtime) = &self.config.python_runtime {
            command.arg("--python-runtime").arg(runtime);
        }
        if !self.config.ipfs_gateways.is_empty() {
            command.args(["--ipfs-gateway", &self.config.ipfs_gateways.join(",")]);
        }
        die_with_parent(&mut command);
        Ok(command)
    }

    /// A standard task: upload the (plain) result signed by the worker, contribute its
    /// hash and seal (then [`Worker::reveal_after_consensus`]).
    async fn contribute_and_reveal(&self, a: &Assignment, work: &std::path::Path, computed: &Computed) -> Ended {
        let (Some(digest), Some(hash), Some(seal)) =
            (computed.result_digest, computed.result_hash, computed.result_seal)
        else {
            return Ended::failed("COMPUTED_FILE_INVALID", "computed.json lacks the digest");
        };
        let file = work.join(computed.result_file.as_deref().unwrap_or_default());
        let signature = match digest_file(&file) {
            Ok((sha256, _)) => {
                let upload = confide_protocol::workerpool::result_upload_hash(a.task_id, self.address(), sha256);
                match sign_personal(&self.signer, upload) {
                    Ok(signature) => Bytes::from(signature.as_bytes().to_vec()),
                    Err(e) => return Ended::failed("SIGNING_FAILED", e.to_string()),
                }
            }
            Err(e) => return Ended::failed_with(&e),
        };
        let cid = match self.upload(a, &file, &signature).await {
            Ok(cid) => cid,
            Err(e) => return Ended::failed_with(&e),
        };
        let contributed = self
            .poco
            .contribute(
                a.task_id,
                hash,
                seal,
                Address::ZERO,
                Bytes::new(),
                a.authorization.clone(),
            )
            .await;
        match contributed {
            Ok(transaction) => Ended::contributed(transaction, Contribution { digest, hash, cid }),
            Err(e) => Ended::failed_with(&e.into()),
        }
    }

    /// Waits until PoCo reaches a consensus (at once with trust 1; with more, once enough
    /// workers agree), then reveals the digest if this worker's contribution is the one
    /// agreed on; the scheduler finalizes.
    async fn reveal_after_consensus(&self, a: &Assignment, contribution: Contribution) -> Ended {
        loop {
            let task = match self.poco.task(a.task_id).await {
                Ok(task) => task,
                Err(e) => {
                    tracing::warn!(task_id = %a.task_id, error = %e, "reading the task failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            match task.status {
                TaskStatus::Revealing if task.consensus_value != contribution.hash => {
                    return Ended::failed(
                        "CONTRIBUTION_REJECTED",
                        "the workers agreed on another result than this worker's",
                    );
                }
                TaskStatus::Revealing => break,
                TaskStatus::Active => {
                    let chain_time = self
                        .poco
                        .connection
                        .block_timestamp()
                        .await
                        .unwrap_or(0)
                        .max(crate::now_ms() / 1000);
                    if chain_time >= task.contribution_deadline.saturating_to::<u64>() {
                        return Ended::failed("NO_CONSENSUS", "no consensus by the contribution deadline");
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                status => {
                    return Ended::failed("NO_CONSENSUS", format!("the task became {status:?} before consensus"));
                }
            }
        }
        match self.poco.reveal(a.task_id, contribution.digest).await {
            Ok(transaction) => Ended::completed(transaction, Some(ipfs_result_link(&contribution.cid))),
            Err(e) => Ended::failed_with(&e.into()),
        }
    }

    /// A failed TEE task: the enclave may have left the app's logs encrypted for the
    /// beneficiary (never in clear: the host sees only the runtime's fixed reason). They
    /// are uploaded where the beneficiary's `confide task debug --logs` looks.
    async fn failed_with_logs(
        &self,
        a: &Assignment,
        work: &std::path::Path,
        computed: &Computed,
        code: &str,
        message: &str,
    ) -> Ended {
        let file = computed
            .result_file
            .as_deref()
            .filter(|f| matches!(*f, "result.age" | "result.zip"));
        let (Some(file), Some(signature)) = (file, &computed.upload_signature) else {
            return Ended::failed(code, message);
        };
        match self.upload(a, &work.join(file), signature).await {
            Ok(_) => Ended::failed(
                code,
                format!(
                    "{message} (the app's logs are encrypted for the beneficiary: `confide task debug {} --logs`)",
                    a.task_id
                ),
            ),
            Err(e) => {
                tracing::warn!(task_id = %a.task_id, error = %e, "the encrypted logs could not be uploaded");
                Ended::failed(code, message)
            }
        }
    }

    /// Uploads the encrypted result and submits the contribution.
    async fn publish(&self, a: &Assignment, work: &std::path::Path, computed: &Computed) -> Ended {
        let (Some(digest), Some(enclave_signature), Some(upload_signature)) = (
            computed.result_digest,
            computed.enclave_signature.clone(),
            &computed.upload_signature,
        ) else {
            return Ended::failed("COMPUTED_FILE_INVALID", "computed.json lacks the digest or signatures");
        };
        let file = work.join(computed.result_file.as_deref().unwrap_or_default());
        let link = match self.upload(a, &file, upload_signature).await {
            Ok(cid) => ipfs_result_link(&cid),
            Err(e) => return Ended::failed_with(&e),
        };
        let mut pause = Duration::from_millis(250);
        for attempt in 0..5 {
            let sent = self
                .poco
                .contribute_and_finalize(
                    a.task_id,
                    digest,
                    link.clone().into_bytes().into(),
                    a.enclave_challenge,
                    enclave_signature.clone(),
                    a.authorization.clone(),
                )
                .await;
            match sent {
                Ok(transaction) => return Ended::completed(transaction, None),
                Err(e @ confide_chain::ChainError::Unreachable { .. }) if attempt < 4 => {
                    tracing::warn!(task_id = %a.task_id, error = %e, "the chain is unreachable; retrying");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                Err(e) => return Ended::failed_with(&e.into()),
            }
        }
        Ended::failed("CHAIN_UNREACHABLE", "the chain stayed unreachable")
    }

    /// `PUT {store}/results/{task}/{worker}`, retried with backoff; returns the result's
    /// IPFS CID, computed here and confirmed by the store.
    async fn upload(&self, a: &Assignment, file: &std::path::Path, signature: &Bytes) -> Result<Cid, WorkerpoolError> {
        let (sha256, cid) = digest_file(file)?;
        let url = format!(
            "{}/results/{}/{}",
            self.config.store_url.trim_end_matches('/'),
            a.task_id,
            self.address()
        );
        let mut pause = Duration::from_millis(500);
        let mut last = String::new();
        for _ in 0..5 {
            let body = match tokio::fs::File::open(file).await {
                Ok(handle) => reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(handle)),
                Err(e) => return Err(WorkerpoolError::io(file, e)),
            };
            let response = self
                .http
                .put(&url)
                .header("x-content-sha256", sha256.to_string())
                .header("x-confide-enclave-challenge", a.enclave_challenge.to_string())
                .header("x-confide-authorization", a.authorization.to_string())
                .header("authorization", signature.to_string())
                .body(body)
                .send()
                .await;
            match response {
                Ok(r) if r.status().is_success() => {
                    let body: Value = r.json().await.unwrap_or_default();
                    if body["cid"].as_str() != Some(cid.to_string().as_str()) {
                        return Err(WorkerpoolError::Store(format!(
                            "the store stored the result as {}, not as its CID {cid}",
                            body["cid"]
                        )));
                    }
                    return Ok(cid);
                }
                Ok(r) if r.status().is_client_error() => {
                    let status = r.status().as_u16();
                    let body = r.bytes().await.unwrap_or_default();
                    let refusal = Refusal::from_answer(status, &body, "HTTP_ERROR");
                    return Err(WorkerpoolError::Store(format!("refused: {refusal}")));
                }
                Ok(r) => last = format!("status {}", r.status()),
                Err(e) => last = e.to_string(),
            }
            tracing::warn!(task_id = %a.task_id, reason = %last, "result upload failed; retrying");
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
        Err(WorkerpoolError::Store(format!("{url} kept failing: {last}")))
    }

    /// `/health` and `/metrics` of the worker.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route(
                "/health",
                get(|axum::extract::State(w): axum::extract::State<Arc<Worker>>| async move {
                    axum::Json(json!({ "status": "ok", "worker": w.address(), "scheduler": w.config.scheduler_url }))
                }),
            )
            .route(
                "/metrics",
                get(|axum::extract::State(w): axum::extract::State<Arc<Worker>>| async move {
                    format!(
                        "# TYPE worker_tasks_total counter\nworker_tasks_total{{outcome=\"completed\"}} {}\nworker_tasks_total{{outcome=\"failed\"}} {}\nworker_tasks_total{{outcome=\"abandoned\"}} {}\n",
                        w.stats.completed.load(Ordering::Relaxed),
                        w.stats.failed.load(Ordering::Relaxed),
                        w.stats.abandoned.load(Ordering::Relaxed)
                    )
                }),
            )
            .with_state(self)
    }
}

async fn register(poco: &Poco, client: &SchedulerClient, config: &WorkerConfig) -> Result<Registered, WorkerpoolError> {
    let registration = Registration {
        frameworks: config.frameworks.clone(),
        memory_mib: config.memory_mib,
        simulated: config.evidence == "simulation",
        // `run` executes one assignment at a time.
        concurrency: 1,
    };
    let (registered, signer): (Registered, Address) = client.post("/workers/register", &registration).await?;
    if signer != registered.owner {
        return Err(WorkerpoolError::ForgedAnswer {
            owner: registered.owner,
        });
    }
    if let Some(pinned) = config.workerpool
        && !registered.workerpools.contains(&pinned)
    {
        return Err(WorkerpoolError::BadAssignment(format!(
            "the scheduler at {} does not schedule workerpool {pinned}",
            config.scheduler_url
        )));
    }
    for workerpool in &registered.workerpools {
        if poco.workerpool(*workerpool).await?.owner != registered.owner {
            return Err(WorkerpoolError::ForgedAnswer {
                owner: registered.owner,
            });
        }
    }
    Ok(registered)
}

/// The enclave runtime's last 2 KiB of stderr, drained as it comes so the pipe never
/// fills. It carries only the runtime's own one-line reasons (never the app's output or
/// a secret).
fn drain_stderr(stderr: Option<tokio::process::ChildStderr>) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut kept = Vec::new();
        if let Some(mut stderr) = stderr {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = tokio::io::AsyncReadExt::read(&mut stderr, &mut chunk).await {
                if n == 0 {
                    break;
                }
                kept.extend_from_slice(&chunk[..n]);
                let excess = kept.len().saturating_sub(2048);
                kept.drain(..excess);
            }
        }
        String::from_utf8_lossy(&kept).trim().to_owned()
    })
}

/// The enclave runtime must not outlive a worker killed mid-task.
fn die_with_parent(command: &mut tokio::process::Command) {
    // SAFETY: the closure runs in the forked child before exec and only calls prctl(2),
    // which is async-signal-safe, touches no memory of the parent and takes no locks.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
