//! The scheduler: the workerpool owner's service.
//!
//! It follows the chain for deals of its workerpools, initializes their tasks, obtains a
//! TEE task's enclave challenge from the SMS, leases tasks to registered workers with the
//! owner's authorization, takes a task back from a worker that stopped sending heartbeats,
//! and claims a task that did not complete by its final deadline (chain time), which
//! refunds the requester. Replaying chain events is harmless: every step re-reads the chain.
//! Events a reorg removed are undone from the chain as it is then: a task whose deal is
//! gone is set aside (and scheduled anew if the deal's transaction is mined again), a task
//! whose outcome or initialization is gone goes back to where the chain says it is.
//!
//! Several schedulers of the same workerpools may share one database: the holder of the
//! scheduling lease is active (follows the chain, moves tasks along, answers workers), the
//! others stand by (`/health` answers 503 `standby`, workers' calls `STANDBY`) and one of
//! them takes over within [`SCHEDULING_LEASE`] when the active one stops renewing. Tasks,
//! replicas and the cursor are in the database, so a takeover loses none; a dispatch checks
//! the lease in the database first, so a scheduler that stalled past its lease gives no
//! task out again.
//!
//! A task is leased as replicas, one per worker. A TEE task wants one; a standard task
//! whose trust asks for several workers' agreement wants as many as PoCo's consensus
//! needs ([`replicas_for`]), and one more each time the contributions disagree.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use alloy_signer_local::PrivateKeySigner;
use axum::Router;
use axum::body::Bytes as BodyBytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use confide_chain::{Address, B256, PocoEvent, TaskStatus, U256};
use confide_protocol::messages::{authorization_hash, sign_personal};
use serde_json::json;

use crate::api::{Assignment, Heartbeat, NextTask, Outcome, Registered, Registration, Report, TaskDebug, is_transient};
use crate::auth::{ApiError, error, signed_answer, verify_request};
use crate::db::{SchedulerDb, TaskRow};
use crate::{WorkerpoolError, now_ms};

/// In a pool open to any wallet, how many distinct workers must report that a task
/// itself fails before it is given up.
const REFUSALS_TO_GIVE_UP: usize = 2;

/// Blocks re-read after a restart, so events of blocks a reorg replaced are applied again.
const REORG_DEPTH: u64 = 12;
const CURSOR_KEY: &str = "next_block";
/// PoCo's final deadline is `FINAL_DEADLINE_RATIO` time references after the deal started.
const FINAL_DEADLINE_RATIO: u64 = 10;
/// A standard task's contributions are read from the chain when one of its contribution or
/// consensus events arrives, and on every `SWEEP_EVERY`th pass in case one was missed.
const SWEEP_EVERY: u64 = 20;
/// How long the scheduling lease lasts unrenewed: a standby takes over within this.
pub const SCHEDULING_LEASE: Duration = Duration::from_secs(6);

#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    pub workerpools: Vec<Address>,
    /// The SMS that issues enclave challenges (TEE tasks need one).
    pub sms_url: Option<String>,
    /// A running task goes back to the queue when its worker is silent this long.
    pub lease: Duration,
    /// How often the chain is read and tasks are moved along.
    pub poll: Duration,
    /// Attempts of a task before it is left to be claimed.
    pub max_attempts: u64,
    /// Where to start following the chain the first time (default: the current block).
    pub from_block: Option<u64>,
    /// Only these workers may register (any wallet when empty).
    pub allowed_workers: Vec<Address>,
}

pub struct Scheduler {
    /// Signs as the workerpool owner.
    pub poco: confide_chain::Poco,
    owner: PrivateKeySigner,
    pub db: SchedulerDb,
    pub config: SchedulerConfig,
    http: reqwest::Client,
    /// Serializes dispatch, so one task goes to one worker.
    dispatch: tokio::sync::Mutex<()>,
    /// This scheduler's name as a lease holder, and whether it holds the lease.
    holder: String,
    active: AtomicBool,
    head: AtomicU64,
    passes: AtomicU64,
    claims: AtomicU64,
    redispatches: AtomicU64,
}

/// Replicas a standard task wants at once. PoCo reaches consensus on a result when
/// `group·trust > total·(trust−1)`, where `total` starts at 1 and a worker weighs
/// `max(score/3, 3) − 1`, so 2 below a score of 12: `k` agreeing such workers suffice as
/// soon as `2k > trust − 1`. Workers with higher scores weigh more (fewer suffice), and
/// disagreeing contributions ask for more (see `settle`).
pub fn replicas_for(trust: u64) -> u64 {
    trust.max(1).div_ceil(2)
}

fn framework_of(tag: confide_protocol::Tag) -> String {
    match (tag.is_tee(), tag.tee_framework()) {
        (false, _) => "standard".into(),
        (true, Some(framework)) => framework.name().into(),
        (true, None) => "unspecified".into(),
    }
}

impl Scheduler {
    /// Checks that the signer owns every workerpool it is to schedule.
    pub async fn new(
        poco: confide_chain::Poco,
        owner: PrivateKeySigner,
        db: SchedulerDb,
        config: SchedulerConfig,
    ) -> Result<Arc<Scheduler>, WorkerpoolError> {
        for workerpool in &config.workerpools {
            let info = poco.workerpool(*workerpool).await?;
            if info.owner != owner.address() {
                return Err(WorkerpoolError::BadAssignment(format!(
                    "workerpool {workerpool} is owned by {}, not by the scheduler's wallet {}",
                    info.owner,
                    owner.address()
                )));
            }
        }
        Ok(Arc::new(Scheduler {
            poco,
            owner,
            db,
            config,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .expect("an HTTP client"),
            dispatch: tokio::sync::Mutex::new(()),
            holder: confide_lease::holder_id(),
            active: AtomicBool::new(false),
            head: AtomicU64::new(0),
            passes: AtomicU64::new(0),
            claims: AtomicU64::new(0),
            redispatches: AtomicU64::new(0),
        }))
    }

    pub fn owner(&self) -> Address {
        self.owner.address()
    }

    /// The lease the schedulers of these workerpools share.
    fn lease_name(&self) -> String {
        let mut pools: Vec<String> = self
            .config
            .workerpools
            .iter()
            .map(|p| p.to_string().to_lowercase())
            .collect();
        pools.sort();
        format!("scheduler:{}", pools.join(","))
    }

    /// Whether this scheduler is the active one (it held the lease when last renewed).
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::SeqCst)
    }

    /// Renews (or takes) the scheduling lease every third of its length, for as long as
    /// the process runs; says when this scheduler becomes active or stands by.
    async fn keep_lease(self: Arc<Self>) {
        let name = self.lease_name();
        loop {
            let held = match self.db.take_lease(&name, &self.holder, SCHEDULING_LEASE).await {
                Ok(held) => held,
                Err(e) => {
                    tracing::warn!(error = %e, "the scheduling lease cannot be renewed; standing by");
                    false
                }
            };
            if held && !self.is_active() {
                self.grant_grace().await;
            }
            if self.active.swap(held, Ordering::SeqCst) != held {
                if held {
                    tracing::info!("active: this scheduler holds the scheduling lease");
                } else {
                    tracing::warn!("standing by: another scheduler holds the scheduling lease");
                }
            }
            tokio::time::sleep(SCHEDULING_LEASE / 3).await;
        }
    }

    /// Keeps the scheduling lease and, while active, follows the chain and moves tasks
    /// along, until the process stops (or this future is dropped: both stop together).
    pub async fn run(self: Arc<Self>) {
        tokio::join!(Arc::clone(&self).keep_lease(), self.move_tasks());
    }

    async fn move_tasks(self: Arc<Self>) {
        let mut cursor = None;
        loop {
            if self.is_active() {
                let cursor = match cursor.as_mut() {
                    Some(cursor) => cursor,
                    None => cursor.insert(self.start_cursor().await),
                };
                self.follow_once(cursor).await;
                if let Err(e) = self.tick().await {
                    tracing::warn!(error = %e, "moving tasks along failed; retrying");
                }
            } else {
                // Taking over starts again from the cursor the active one saved.
                cursor = None;
            }
            tokio::time::sleep(self.config.poll).await;
        }
    }

    /// A cursor from the saved position (a few blocks back, for reorgs), or from where the
    /// configuration says to start.
    async fn start_cursor(&self) -> confide_chain::EventCursor {
        let start = match self.db.meta(CURSOR_KEY).await {
            Ok(Some(next)) => (next as u64).saturating_sub(REORG_DEPTH),
            _ => match self.config.from_block {
                Some(block) => block,
                None => self.poco.connection.block_number().await.unwrap_or(0),
            },
        };
        self.poco.events_from(start)
    }

    /// Applies the next batch of chain events and saves the cursor.
    async fn follow_once(&self, cursor: &mut confide_chain::EventCursor) {
        let batch = match cursor.next_batch().await {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(error = %e, "reading chain events failed; retrying");
                return;
            }
        };
        for log in &batch {
            if log.removed {
                tracing::warn!(block = log.block_number, event = ?log.event, "a reorg removed a chain event");
                // Not retried (the cursor reports a removal once): what an undo that
                // failed leaves, the steps find when they read the chain.
                if let Err(e) = self.undo(&log.event).await {
                    tracing::warn!(error = %e, "undoing a removed chain event failed");
                }
                continue;
            }
            if let Err(e) = self.apply(&log.event).await {
                tracing::warn!(error = %e, block = log.block_number, "applying a chain event failed; read again from its block");
                // Events are idempotent: the batch is read again from the failed one.
                *cursor = self.poco.events_from(log.block_number);
                return;
            }
        }
        let _ = self.db.set_meta(CURSOR_KEY, cursor.next_block() as i64).await;
        self.head
            .store(cursor.next_block().saturating_sub(1), Ordering::Relaxed);
    }

    /// On becoming active, before any lease is judged: while no scheduler was active
    /// (the previous one died, or this one restarted), workers could not send heartbeats,
    /// so their silence says nothing. Each running task's worker gets a full lease to
    /// report in; taking a task from a worker that is still at it would run it twice.
    async fn grant_grace(&self) {
        let until = now_ms() + self.config.lease.as_millis() as u64;
        match self.db.extend_running_leases(until).await {
            Ok(0) => {}
            Ok(extended) => tracing::info!(
                extended,
                "taking over: running tasks' workers get a full lease to report in"
            ),
            Err(e) => tracing::warn!(error = %e, "extending running leases on taking over failed"),
        }
    }

    /// Stops being active and gives the scheduling lease up (a clean shutdown): a standby,
    /// or this scheduler restarted, takes over at once.
    pub async fn step_down(&self) {
        self.active.store(false, Ordering::SeqCst);
        if let Err(e) = self.db.release_lease(&self.lease_name(), &self.holder).await {
            tracing::warn!(error = %e, "the scheduling lease could not be given up; it expires by itself");
        }
    }

    /// Refuses workers' calls while another scheduler is active.
    fn active_or_standby(&self) -> Result<(), ApiError> {
        if self.is_active() {
            return Ok(());
        }
        Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "STANDBY",
            "this scheduler stands by: another one is active",
        ))
    }

    async fn apply(&self, event: &PocoEvent) -> Result<(), WorkerpoolError> {
        match event {
            PocoEvent::SchedulerNotice { workerpool, deal_id } if self.config.workerpools.contains(workerpool) => {
                self.add_deal(*deal_id).await
            }
            PocoEvent::TaskFinalize { task_id, .. } => {
                self.chain_outcome(*task_id, "completed", "finalized on chain").await
            }
            PocoEvent::TaskClaimed { task_id } => {
                self.chain_outcome(*task_id, "claimed", "claimed on chain: the requester is refunded")
                    .await
            }
            PocoEvent::TaskContribute { task_id, worker, .. } => {
                let Some(task) = self.db.task(*task_id).await? else {
                    return Ok(());
                };
                self.db
                    .log(*task_id, "chain", &format!("contribution by {worker}"))
                    .await?;
                self.resettle(task, true).await
            }
            PocoEvent::TaskConsensus { task_id, .. } => match self.db.task(*task_id).await? {
                Some(task) => self.resettle(task, true).await,
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// Undoes what an event of a block a reorg replaced did, from the chain as it is now
    /// (the new blocks' own events come after the removals).
    async fn undo(&self, event: &PocoEvent) -> Result<(), WorkerpoolError> {
        match event {
            PocoEvent::SchedulerNotice { workerpool, deal_id } if self.config.workerpools.contains(workerpool) => {
                if self.poco.find_deal(*deal_id).await?.is_none() {
                    self.deal_gone(*deal_id).await?;
                }
                Ok(())
            }
            event => match event.task_id() {
                Some(task_id) => self.follow_chain(task_id).await,
                None => Ok(()),
            },
        }
    }

    /// Sets aside the tasks of a deal the chain no longer has; they are scheduled again if
    /// the deal comes back (its transaction mined in a new block).
    async fn deal_gone(&self, deal_id: B256) -> Result<(), WorkerpoolError> {
        for task_id in self.db.orphan_deal(deal_id).await? {
            let why = format!("a reorg took deal {deal_id} off the chain: set aside unless it comes back");
            self.db.log(task_id, "chain", &why).await?;
        }
        Ok(())
    }

    /// Brings a task's status in line with the chain after a reorg replaced a block with
    /// one of its events: an outcome the chain no longer has is forgotten (and the work
    /// of its replicas with it), an initialization the chain lost is done again.
    async fn follow_chain(&self, task_id: B256) -> Result<(), WorkerpoolError> {
        let Some(mut task) = self.db.task(task_id).await? else {
            return Ok(());
        };
        let on_chain = self.poco.task(task_id).await?.status;
        let local = task.status.as_str();
        let status = match on_chain {
            TaskStatus::Unset if !matches!(local, "pending" | "orphaned") => "pending",
            TaskStatus::Active if matches!(local, "completed" | "claimed" | "revealed") => "ready",
            TaskStatus::Revealing if matches!(local, "completed" | "claimed") => "revealed",
            TaskStatus::Completed if local != "completed" => "completed",
            TaskStatus::Failed if local != "claimed" => "claimed",
            _ => return Ok(()),
        };
        if matches!(status, "pending" | "ready") {
            self.db.forget_replicas(task_id).await?;
            task.attempts = 0;
        }
        task.status = status.into();
        self.db.save_task(&task, None).await?;
        let why = format!("a reorg replaced blocks with its events: {status}, as the chain now says");
        self.db.log(task_id, "chain", &why).await
    }

    async fn chain_outcome(&self, task_id: B256, status: &str, message: &str) -> Result<(), WorkerpoolError> {
        let Some(mut task) = self.db.task(task_id).await? else {
            return Ok(());
        };
        if task.status != status {
            task.status = status.into();
            self.db.save_task(&task, None).await?;
            self.db.log(task_id, "chain", message).await?;
        }
        Ok(())
    }

    /// Records the tasks of a deal of ours.
    async fn add_deal(&self, deal_id: B256) -> Result<(), WorkerpoolError> {
        let deal = self.poco.deal(deal_id).await?;
        let categories = self.poco.categories().await?;
        let timeref = categories
            .get(deal.category.to::<usize>())
            .map(|(_, t)| t.to::<u64>())
            .unwrap_or(0);
        let final_deadline = deal.start_time.to::<u64>() + FINAL_DEADLINE_RATIO * timeref;
        let framework = framework_of(deal.tag());
        let trust = deal.trust.to::<u64>();
        // contributeAndFinalize, the TEE path, is for trust 1 only; a TEE task asking for
        // several enclaves' agreement is not run here (and is claimed at its deadline).
        let tee_with_consensus = framework != "standard" && trust > 1;
        let wanted = if framework == "standard" {
            replicas_for(trust)
        } else {
            1
        };
        let initial = if tee_with_consensus { "failed" } else { "pending" };
        // Its transaction mined again in a new block after a reorg: the deal starts anew.
        for task_id in self.db.revive_deal(deal_id, initial, final_deadline).await? {
            let why = format!("deal {deal_id} is on the chain again: scheduled from the start");
            self.db.log(task_id, "chain", &why).await?;
        }
        let first = deal.bot_first.to::<u64>();
        for (offset, task_id) in deal.task_ids().into_iter().enumerate() {
            let row = TaskRow {
                task_id,
                deal_id,
                index: first + offset as u64,
                workerpool: deal.workerpool,
                framework: framework.clone(),
                status: initial.into(),
                challenge: Address::ZERO,
                worker: Address::ZERO,
                wanted,
                attempts: 0,
                final_deadline,
                not_before_ms: 0,
                results: String::new(),
                readers: vec![deal.requester, deal.beneficiary, deal.app_owner, deal.workerpool_owner],
            };
            if self.db.add_task(&row).await? {
                let seen = match wanted {
                    1 => format!("seen in deal {deal_id} ({framework})"),
                    n => format!("seen in deal {deal_id} ({framework}, trust {trust}: {n} agreeing workers wanted)"),
                };
                self.db.log(task_id, "scheduler", &seen).await?;
                if tee_with_consensus {
                    let why =
                        format!("TEE tasks run with trust 1 only (this deal asks for {trust}): left to be claimed");
                    self.db.log(task_id, "scheduler", &why).await?;
                }
            }
        }
        tracing::info!(%deal_id, tasks = deal.bot_size.to::<u64>(), "deal scheduled");
        Ok(())
    }

    /// One pass over the tasks that still need something.
    pub async fn tick(&self) -> Result<(), WorkerpoolError> {
        let chain_now = self.poco.connection.block_timestamp().await?;
        let sweep = self.passes.fetch_add(1, Ordering::Relaxed).is_multiple_of(SWEEP_EVERY);
        for (task_id, worker) in self.db.expired_replicas(now_ms()).await? {
            if let Err(e) = self.replica_lost(task_id, worker).await {
                tracing::warn!(%task_id, %worker, error = %e, "taking a replica back failed; retried on the next pass");
            }
        }
        for task in self.db.open_tasks().await? {
            let task_id = task.task_id;
            if let Err(e) = self.step(task, chain_now, sweep).await {
                tracing::warn!(%task_id, error = %e, "task step failed; retried on the next pass");
                let _ = self
                    .db
                    .log(task_id, "scheduler", &format!("{} ({})", e, e.code()))
                    .await;
            }
        }
        Ok(())
    }

    /// Moves one task along; `sweep` reads a standard task's contributions from the chain.
    async fn step(&self, task: TaskRow, chain_now: u64, sweep: bool) -> Result<(), WorkerpoolError> {
        // A dev chain mines only on demand, so its latest block can lag the clock; the block
        // a claim lands in is stamped with the time it is mined.
        let chain_time = chain_now.max(now_ms() / 1000);
        if task.final_deadline > 0 && chain_time >= task.final_deadline {
            return self.claim(task).await;
        }
        match task.status.as_str() {
            "pending" if task.not_before_ms <= now_ms() => self.prepare(task).await,
            "revealed" => self.finalize(task).await,
            "ready" | "running" => self.resettle(task, sweep).await,
            _ => Ok(()),
        }
    }

    /// Settles a ready or running task again and saves what changed.
    async fn resettle(&self, mut task: TaskRow, read_chain: bool) -> Result<(), WorkerpoolError> {
        if !matches!(task.status.as_str(), "ready" | "running") {
            return Ok(());
        }
        let (previous, wanted) = (task.status.clone(), task.wanted);
        let why = self.settle(&mut task, read_chain).await?;
        let changed = task.status != previous || task.wanted != wanted;
        if changed && self.db.save_task(&task, Some(&previous)).await? {
            let line = if task.wanted != wanted {
                format!("contributions disagree: {} agreeing workers wanted now", task.wanted)
            } else {
                why.to_owned()
            };
            self.db.log(task.task_id, "scheduler", &line).await?;
        }
        Ok(())
    }

    /// A replica whose worker went silent past its lease: its place is given up.
    async fn replica_lost(&self, task_id: B256, worker: Address) -> Result<(), WorkerpoolError> {
        if !self.db.expire_replica(task_id, worker, now_ms()).await? {
            return Ok(());
        }
        self.redispatches.fetch_add(1, Ordering::Relaxed);
        let Some(mut task) = self.db.task(task_id).await? else {
            return Ok(());
        };
        let previous = task.status.clone();
        let mut next = "the task no longer needed it";
        if matches!(previous.as_str(), "ready" | "running") {
            task.attempts += 1;
            next = self.settle(&mut task, true).await?;
            self.db.save_task(&task, Some(&previous)).await?;
        }
        self.db
            .log(task_id, "scheduler", &format!("worker {worker} went silent; {next}"))
            .await
    }

    /// Decides where a ready or running task stands from its live replicas and, for a
    /// standard task with `read_chain`, the chain's consensus; returns why, for the log.
    async fn settle(&self, task: &mut TaskRow, read_chain: bool) -> Result<&'static str, WorkerpoolError> {
        if task.framework == "standard" && read_chain {
            let on_chain = self.poco.task(task.task_id).await?;
            match on_chain.status {
                TaskStatus::Revealing | TaskStatus::Completed => {
                    task.status = "revealed".into();
                    return Ok("consensus reached: finalized once revealed, reopened if nobody reveals in time");
                }
                TaskStatus::Active if on_chain.contributors.len() as u64 >= task.wanted => {
                    // As many contributions as should agree, and no consensus: they differ.
                    task.wanted = on_chain.contributors.len() as u64 + 1;
                }
                _ => {}
            }
        }
        let live = self.db.live_replicas(task.task_id).await?;
        if task.attempts >= self.config.max_attempts {
            if live == 0 {
                task.status = "failed".into();
                return Ok("out of attempts: left to be claimed at the final deadline");
            }
            task.status = "running".into();
            return Ok("out of attempts: waiting for the replicas still running");
        }
        if live >= task.wanted {
            task.status = "running".into();
            Ok("running on as many workers as it wants")
        } else {
            task.status = "ready".into();
            Ok("back in the queue for another worker")
        }
    }

    /// Whether `worker` may work for this pool: any wallet when no worker is listed.
    fn allowed(&self, worker: Address) -> Result<(), ApiError> {
        if self.config.allowed_workers.is_empty() || self.config.allowed_workers.contains(&worker) {
            return Ok(());
        }
        Err(error(
            StatusCode::FORBIDDEN,
            "WORKER_NOT_ALLOWED",
            format!("{worker} is not one of this pool's workers"),
        ))
    }

    /// Initializes the task on chain and, for a TEE task, obtains its enclave challenge.
    async fn prepare(&self, mut task: TaskRow) -> Result<(), WorkerpoolError> {
        if task.framework == "unspecified" || task.framework == "scone" {
            task.status = "failed".into();
            self.db.save_task(&task, None).await?;
            let why =
                "the deal asks for a TEE framework Confide does not run (tag names none, or SCONE): left to be claimed";
            return self.db.log(task.task_id, "scheduler", why).await;
        }
        let on_chain = self.poco.task(task.task_id).await?;
        if on_chain.status == TaskStatus::Unset {
            if let Err(e) = self.poco.initialize_task(task.deal_id, U256::from(task.index)).await {
                // A reorg took the deal away, and its removal was not seen (a restart).
                if self.poco.find_deal(task.deal_id).await?.is_none() {
                    return self.deal_gone(task.deal_id).await;
                }
                return Err(e.into());
            }
            self.db.log(task.task_id, "scheduler", "initialized on chain").await?;
        }
        let on_chain = self.poco.task(task.task_id).await?;
        task.final_deadline = on_chain.final_deadline.to::<u64>();
        if task.framework != "standard" && task.challenge.is_zero() {
            task.challenge = match self.enclave_challenge(task.task_id).await {
                Ok(challenge) => challenge,
                Err(e) => {
                    // Asked again with growing pauses (2 s, 4 s, … 64 s) while the SMS is away.
                    task.attempts += 1;
                    task.not_before_ms = now_ms() + 1_000 * (2 << task.attempts.min(5));
                    self.db.save_task(&task, Some("pending")).await?;
                    return Err(e);
                }
            };
            self.db
                .log(
                    task.task_id,
                    "scheduler",
                    &format!("enclave challenge {} from the SMS", task.challenge),
                )
                .await?;
        }
        task.status = "ready".into();
        task.attempts = 0;
        self.db.save_task(&task, Some("pending")).await?;
        Ok(())
    }

    /// A standard task past consensus: finalized once every winner revealed, or once the
    /// reveal deadline passed with at least one reveal (PoCo's rules), with the result link
    /// of a worker that revealed; reopened when nobody revealed in time.
    async fn finalize(&self, mut task: TaskRow) -> Result<(), WorkerpoolError> {
        let on_chain = self.poco.task(task.task_id).await?;
        let past_reveal_deadline = || async {
            Ok::<_, WorkerpoolError>(
                self.poco.connection.block_timestamp().await? >= on_chain.reveal_deadline.to::<u64>(),
            )
        };
        match on_chain.status {
            TaskStatus::Completed => {
                task.status = "completed".into();
                self.db.save_task(&task, None).await?;
            }
            TaskStatus::Revealing if !on_chain.reveal_counter.is_zero() => {
                let all_revealed = on_chain.reveal_counter >= on_chain.winner_counter;
                if !all_revealed && !past_reveal_deadline().await? {
                    return Ok(());
                }
                if task.results.is_empty() {
                    // A revealing worker's report carries the link; wait for one.
                    let replicas = self.db.replicas(task.task_id).await?;
                    match replicas
                        .into_iter()
                        .find(|r| r.status == "done" && !r.results.is_empty())
                    {
                        Some(replica) => task.results = replica.results,
                        None => return Ok(()),
                    }
                }
                self.poco
                    .finalize(task.task_id, task.results.clone().into_bytes().into())
                    .await?;
                task.status = "completed".into();
                self.db.save_task(&task, None).await?;
                self.db.log(task.task_id, "scheduler", "finalized on chain").await?;
            }
            TaskStatus::Revealing if past_reveal_deadline().await? => {
                self.poco.reopen(task.task_id).await?;
                task.status = "ready".into();
                task.worker = Address::ZERO;
                self.db.save_task(&task, None).await?;
                self.db
                    .log(task.task_id, "scheduler", "nobody revealed in time: reopened")
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// `POST /tee/challenges/{taskId}` at the SMS, signed by the owner.
    async fn enclave_challenge(&self, task_id: B256) -> Result<Address, WorkerpoolError> {
        let sms = self
            .config
            .sms_url
            .as_deref()
            .ok_or_else(|| WorkerpoolError::Sms("no SMS configured (--sms) for a TEE task".into()))?;
        let signature = sign_personal(&self.owner, confide_protocol::tee::challenge_request_hash(task_id))
            .map_err(|e| WorkerpoolError::Sms(e.to_string()))?;
        let response = self
            .http
            .post(format!("{}/tee/challenges/{task_id}", sms.trim_end_matches('/')))
            .header(
                "Authorization",
                format!("0x{}", confide_chain::hex::encode(signature.as_bytes())),
            )
            .send()
            .await
            .map_err(|e| WorkerpoolError::Sms(format!("{sms} is unreachable: {e}")))?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        if !status.is_success() {
            return Err(WorkerpoolError::Sms(format!(
                "{} ({})",
                body["error"]["message"].as_str().unwrap_or("refused"),
                body["error"]["code"].as_str().unwrap_or("HTTP_ERROR")
            )));
        }
        body["address"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| WorkerpoolError::Sms("the SMS answered no challenge address".into()))
    }

    /// Claims a task past its final deadline (initializing it first if it never started).
    async fn claim(&self, mut task: TaskRow) -> Result<(), WorkerpoolError> {
        let on_chain = self.poco.task(task.task_id).await?;
        match on_chain.status {
            TaskStatus::Completed => {
                task.status = "completed".into();
                return self.db.save_task(&task, None).await.map(|_| ());
            }
            TaskStatus::Failed => {}
            TaskStatus::Unset | TaskStatus::Active | TaskStatus::Revealing => {
                // The deal narrowed to this one task: claim_deal initializes it if needed.
                let Some(mut single) = self.poco.find_deal(task.deal_id).await? else {
                    return self.deal_gone(task.deal_id).await;
                };
                single.bot_first = U256::from(task.index);
                single.bot_size = U256::from(1);
                self.poco.claim_deal(&single).await?;
                self.claims.fetch_add(1, Ordering::Relaxed);
            }
        }
        task.status = "claimed".into();
        task.worker = Address::ZERO;
        self.db.save_task(&task, None).await?;
        self.db
            .log(
                task.task_id,
                "scheduler",
                "past its final deadline: claimed, the requester is refunded",
            )
            .await
    }

    // ---- the workers' API ----

    async fn register(&self, worker: Address, registration: Registration) -> Result<Registered, ApiError> {
        self.active_or_standby()?;
        self.allowed(worker)?;
        let frameworks: Vec<String> = registration.frameworks.iter().map(|f| f.to_ascii_lowercase()).collect();
        self.db
            .upsert_worker(worker, &frameworks.join(","), registration.memory_mib)
            .await
            .map_err(internal)?;
        tracing::info!(%worker, frameworks = %frameworks.join(","), simulated = registration.simulated, "worker registered");
        Ok(Registered {
            workerpools: self.config.workerpools.clone(),
            owner: self.owner(),
            lease_seconds: self.config.lease.as_secs().max(1),
        })
    }

    async fn next(&self, worker: Address) -> Result<NextTask, ApiError> {
        self.active_or_standby()?;
        self.allowed(worker)?;
        let frameworks = self
            .db
            .worker_frameworks(worker)
            .await
            .map_err(internal)?
            .ok_or_else(|| {
                error(
                    StatusCode::FORBIDDEN,
                    "NOT_REGISTERED",
                    "register first (POST /workers/register)",
                )
            })?;
        let frameworks: Vec<&str> = frameworks.split(',').collect();
        let _one_at_a_time = self.dispatch.lock().await;
        // Checked in the database, not the flag: a scheduler that stalled past its lease
        // while another took over must not give a task out.
        if !self
            .db
            .holds_lease(&self.lease_name(), &self.holder)
            .await
            .map_err(internal)?
        {
            return Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "STANDBY",
                "this scheduler stands by: another one is active",
            ));
        }
        let now = now_ms();
        let candidates = self
            .db
            .dispatchable(&frameworks, worker, now, 1)
            .await
            .map_err(internal)?;
        let Some(mut task) = candidates.into_iter().next() else {
            return Ok(NextTask { assignment: None });
        };
        let authorization = sign_personal(&self.owner, authorization_hash(worker, task.task_id, task.challenge))
            .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, "SIGNING_FAILED", e.to_string()))?;
        let lease_until = now + self.config.lease.as_millis() as u64;
        self.db
            .add_replica(task.task_id, worker, lease_until)
            .await
            .map_err(internal)?;
        let live = self.db.live_replicas(task.task_id).await.map_err(internal)?;
        task.worker = worker;
        task.status = if live >= task.wanted { "running" } else { "ready" }.into();
        if !self.db.save_task(&task, Some("ready")).await.map_err(internal)? {
            let _ = self.db.end_replica(task.task_id, worker, "released", "").await;
            return Ok(NextTask { assignment: None });
        }
        let assigned = match task.wanted {
            1 => format!("assigned to worker {worker}"),
            wanted => format!("assigned to worker {worker} (replica {live} of {wanted})"),
        };
        let _ = self.db.log(task.task_id, "scheduler", &assigned).await;
        Ok(NextTask {
            assignment: Some(Assignment {
                task_id: task.task_id,
                deal_id: task.deal_id,
                index: task.index,
                workerpool: task.workerpool,
                enclave_challenge: task.challenge,
                authorization: authorization.as_bytes().to_vec().into(),
                lease_seconds: self.config.lease.as_secs().max(1),
            }),
        })
    }

    async fn heartbeat(&self, worker: Address, task_id: B256) -> Result<Heartbeat, ApiError> {
        self.active_or_standby()?;
        if self.allowed(worker).is_err() {
            return Ok(Heartbeat { keep: false });
        }
        let until = now_ms() + self.config.lease.as_millis() as u64;
        let keep = self.db.extend_lease(task_id, worker, until).await.map_err(internal)?;
        Ok(Heartbeat { keep })
    }

    async fn report(&self, worker: Address, task_id: B256, report: Report) -> Result<serde_json::Value, ApiError> {
        self.active_or_standby()?;
        self.allowed(worker)?;
        let Some(mut task) = self.db.task(task_id).await.map_err(internal)? else {
            return Err(error(
                StatusCode::NOT_FOUND,
                "UNKNOWN_TASK",
                format!("no task {task_id} here"),
            ));
        };
        let replicas = self.db.replicas(task_id).await.map_err(internal)?;
        if !replicas.iter().any(|r| r.worker == worker && r.status == "running") {
            return Err(error(
                StatusCode::CONFLICT,
                "NOT_YOUR_TASK",
                format!("task {task_id} is not running on {worker}"),
            ));
        }
        let transaction = report
            .transaction
            .map(|t| format!(" (transaction {t})"))
            .unwrap_or_default();
        let results = report.results.clone().unwrap_or_default();
        if task.status == "completed" && report.outcome == Outcome::Completed {
            // The chain's TaskFinalize arrived first: the report only adds its transaction.
            let _ = self.db.end_replica(task_id, worker, "done", &results).await;
            let _ = self
                .db
                .log(task_id, &worker.to_string(), &format!("completed{transaction}"))
                .await;
            return Ok(json!({ "status": task.status }));
        }
        // A worker's word is not the chain's: "completed" is believed only once PoCo says
        // so (until then the replica stays leased, and goes elsewhere if the lease runs out).
        let on_chain = self.poco.task(task_id).await.map_err(|e| internal(e.into()))?.status;
        let past_consensus =
            task.framework == "standard" && matches!(on_chain, TaskStatus::Revealing | TaskStatus::Completed);
        let code = report.code.clone().unwrap_or_default();
        let message = report.message.clone().unwrap_or_default();
        let previous = task.status.clone();
        let (replica_status, line) = match report.outcome {
            Outcome::Completed if past_consensus => {
                if task.results.is_empty() {
                    task.results = results.clone();
                }
                if task.status != "completed" {
                    task.status = "revealed".into();
                }
                ("done", "contributed and revealed; the scheduler finalizes".to_owned())
            }
            Outcome::Completed if on_chain != TaskStatus::Completed || task.framework == "standard" => {
                let _ = self
                    .db
                    .log(
                        task_id,
                        &worker.to_string(),
                        "reported completed; the chain does not say so yet",
                    )
                    .await;
                return Ok(json!({ "status": task.status }));
            }
            Outcome::Completed => {
                task.status = "completed".into();
                ("done", format!("completed{transaction}"))
            }
            Outcome::Failed if past_consensus => {
                if task.status != "completed" {
                    task.status = "revealed".into();
                }
                ("failed", format!("failed after the consensus ({code}: {message})"))
            }
            Outcome::Failed => {
                task.attempts += 1;
                if is_transient(&code) {
                    task.not_before_ms = now_ms() + 1_000 * (1 << task.attempts.min(6));
                    ("failed", format!("failed ({code}: {message})"))
                } else if !self.config.allowed_workers.is_empty() {
                    // The task itself fails (an app that traps, a bad dataset), says a worker
                    // the pool chose: no more tries.
                    task.attempts = task.attempts.max(self.config.max_attempts);
                    ("failed", format!("failed ({code}: {message})"))
                } else {
                    // Any wallet may work for this pool, so one worker's word is not enough to
                    // give the task up (a rogue worker would fail every task it takes): it
                    // goes to another worker, never again to this one, and is given up once
                    // that many distinct workers agree.
                    let refusals = 1 + replicas
                        .iter()
                        .filter(|r| r.status == "refused" && r.worker != worker)
                        .count();
                    if refusals >= REFUSALS_TO_GIVE_UP {
                        task.attempts = task.attempts.max(self.config.max_attempts);
                    }
                    (
                        "refused",
                        format!(
                            "failed ({code}: {message}); {refusals} of {REFUSALS_TO_GIVE_UP} distinct workers say the task itself fails"
                        ),
                    )
                }
            }
        };
        if !self
            .db
            .end_replica(task_id, worker, replica_status, &results)
            .await
            .map_err(internal)?
        {
            return Err(error(
                StatusCode::CONFLICT,
                "NOT_YOUR_TASK",
                format!("task {task_id} changed meanwhile"),
            ));
        }
        let mut line = line;
        if report.outcome == Outcome::Failed && !past_consensus {
            let next = self.settle(&mut task, true).await.map_err(internal)?;
            line = match task.status.as_str() {
                "ready" => format!("{line}; retried on another attempt"),
                _ => format!("{line}; {next}"),
            };
        }
        // The reason is logged before the status changes: whoever sees a task failed or
        // completed also sees why.
        let _ = self.db.log(task_id, &worker.to_string(), &line).await;
        if task.status != previous || replica_status == "done" {
            self.db.save_task(&task, Some(&previous)).await.map_err(internal)?;
        }
        Ok(json!({ "status": task.status }))
    }

    /// [`Scheduler::debug`] for a signed reader, who must be a party to the task's deal:
    /// its requester or beneficiary, the app's owner or the pool's. Who ran what, when and
    /// why it failed is theirs to read, not anyone's.
    pub async fn debug_for(&self, reader: Address, task_id: B256) -> Result<TaskDebug, ApiError> {
        let unknown = || {
            error(
                StatusCode::NOT_FOUND,
                "UNKNOWN_TASK",
                format!("this scheduler has no task {task_id}"),
            )
        };
        let task = self.db.task(task_id).await.map_err(internal)?.ok_or_else(unknown)?;
        let readers = if task.readers.is_empty() {
            // A row from before the parties were recorded: ask the chain.
            let deal = self.poco.deal(task.deal_id).await.map_err(|e| {
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "CHAIN_UNREACHABLE",
                    format!("cannot read the task's deal on chain: {}", e.code()),
                )
            })?;
            vec![deal.requester, deal.beneficiary, deal.app_owner, deal.workerpool_owner]
        } else {
            task.readers.clone()
        };
        if reader.is_zero() || !readers.contains(&reader) {
            return Err(error(
                StatusCode::FORBIDDEN,
                "NOT_A_PARTY",
                "only the deal's requester, beneficiary, app owner and workerpool owner read a task's details",
            ));
        }
        self.debug(task).await.map_err(internal)
    }

    /// What the scheduler knows of a task: its row, its replicas and its log.
    async fn debug(&self, task: TaskRow) -> Result<TaskDebug, WorkerpoolError> {
        let task_id = task.task_id;
        Ok(TaskDebug {
            task_id,
            deal_id: task.deal_id,
            index: task.index,
            status: task.status,
            worker: (!task.worker.is_zero()).then_some(task.worker),
            enclave_challenge: (!task.challenge.is_zero()).then_some(task.challenge),
            attempts: task.attempts,
            replicas: self
                .db
                .replicas(task_id)
                .await?
                .into_iter()
                .map(|r| crate::api::ReplicaView {
                    worker: r.worker,
                    status: r.status,
                })
                .collect(),
            log: self.db.task_log(task_id).await?,
        })
    }

    async fn metrics(&self) -> String {
        let mut text = String::new();
        text.push_str("# TYPE scheduler_tasks gauge\n");
        for (status, n) in self.db.count_by_status().await.unwrap_or_default() {
            text.push_str(&format!("scheduler_tasks{{status=\"{status}\"}} {n}\n"));
        }
        text.push_str(&format!(
            "# TYPE scheduler_head_block gauge\nscheduler_head_block {}\n# TYPE scheduler_claims_total counter\nscheduler_claims_total {}\n# TYPE scheduler_redispatches_total counter\nscheduler_redispatches_total {}\n",
            self.head.load(Ordering::Relaxed),
            self.claims.load(Ordering::Relaxed),
            self.redispatches.load(Ordering::Relaxed)
        ));
        text
    }
}

fn internal(e: WorkerpoolError) -> ApiError {
    error(StatusCode::INTERNAL_SERVER_ERROR, e.code(), e.to_string())
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| error(StatusCode::BAD_REQUEST, "BAD_REQUEST", e.to_string()))
}

fn parse_task(text: &str) -> Result<B256, ApiError> {
    text.parse()
        .map_err(|_| error(StatusCode::BAD_REQUEST, "BAD_REQUEST", "not a task id"))
}

/// The scheduler's HTTP API.
pub fn router(scheduler: Arc<Scheduler>) -> Router {
    Router::new()
        .route("/health", get(health_route))
        .route(
            "/metrics",
            get(|State(s): State<Arc<Scheduler>>| async move { s.metrics().await }),
        )
        .route("/workers/register", post(register_route))
        .route("/tasks/next", post(next_route))
        .route("/tasks/{task}/heartbeat", post(heartbeat_route))
        .route("/tasks/{task}/report", post(report_route))
        .route("/tasks/{task}", get(debug_route))
        .route("/tasks/{task}/status", get(status_route))
        .with_state(scheduler)
}

/// Checks a worker's request; the worker and the request hash the answer is bound to.
fn verified(headers: &HeaderMap, uri: &Uri, body: &[u8]) -> Result<(Address, B256), ApiError> {
    verify_request(headers, "POST", uri.path(), body)
}

/// Signs a successful answer; passes refusals through.
fn respond<T: serde::Serialize>(scheduler: &Scheduler, request: B256, answer: Result<T, ApiError>) -> Response {
    match answer {
        Ok(value) => signed_answer(&scheduler.owner, request, &value),
        Err(refusal) => refusal.into_response(),
    }
}

/// `200 {"status":"ok"}` while active, `503 {"status":"standby"}` while another scheduler
/// is: a load balancer sends workers to the active one.
async fn health_route(State(s): State<Arc<Scheduler>>) -> Response {
    if s.is_active() {
        axum::Json(json!({ "status": "ok", "role": "active" })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "status": "standby", "role": "standby" })),
        )
            .into_response()
    }
}

async fn register_route(State(s): State<Arc<Scheduler>>, headers: HeaderMap, uri: Uri, body: BodyBytes) -> Response {
    let (worker, request) = match verified(&headers, &uri, &body) {
        Ok(v) => v,
        Err(refusal) => return refusal.into_response(),
    };
    let answer = match parse_body::<Registration>(&body) {
        Ok(registration) => s.register(worker, registration).await,
        Err(refusal) => Err(refusal),
    };
    respond(&s, request, answer)
}

async fn next_route(State(s): State<Arc<Scheduler>>, headers: HeaderMap, uri: Uri, body: BodyBytes) -> Response {
    let (worker, request) = match verified(&headers, &uri, &body) {
        Ok(v) => v,
        Err(refusal) => return refusal.into_response(),
    };
    let answer = s.next(worker).await;
    respond(&s, request, answer)
}

async fn heartbeat_route(
    State(s): State<Arc<Scheduler>>,
    UrlPath(task): UrlPath<String>,
    headers: HeaderMap,
    uri: Uri,
    body: BodyBytes,
) -> Response {
    let (worker, request) = match verified(&headers, &uri, &body) {
        Ok(v) => v,
        Err(refusal) => return refusal.into_response(),
    };
    let answer = match parse_task(&task) {
        Ok(task) => s.heartbeat(worker, task).await,
        Err(refusal) => Err(refusal),
    };
    respond(&s, request, answer)
}

async fn report_route(
    State(s): State<Arc<Scheduler>>,
    UrlPath(task): UrlPath<String>,
    headers: HeaderMap,
    uri: Uri,
    body: BodyBytes,
) -> Response {
    let (worker, request) = match verified(&headers, &uri, &body) {
        Ok(v) => v,
        Err(refusal) => return refusal.into_response(),
    };
    let answer = match (parse_task(&task), parse_body::<Report>(&body)) {
        (Ok(task), Ok(report)) => s.report(worker, task, report).await,
        (Err(refusal), _) | (_, Err(refusal)) => Err(refusal),
    };
    respond(&s, request, answer)
}

/// `GET /tasks/{task}/status`: the task's step in this scheduler, one word and nothing
/// else, for anyone (explorers show it): the log, workers and reasons stay behind the
/// signed `GET /tasks/{task}`. The word set is `PUBLIC_TASK_STEPS`; anything else reads as
/// `unknown` rather than leak a new internal state.
async fn status_route(State(s): State<Arc<Scheduler>>, UrlPath(task): UrlPath<String>) -> Response {
    let task = match parse_task(&task) {
        Ok(task) => task,
        Err(refusal) => return refusal.into_response(),
    };
    match s.db.task(task).await {
        Ok(Some(row)) => {
            let step = confide_protocol::workerpool::PUBLIC_TASK_STEPS
                .iter()
                .find(|step| **step == row.status)
                .copied()
                .unwrap_or("unknown");
            axum::Json(json!({ "task": task, "state": step })).into_response()
        }
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "UNKNOWN_TASK",
            format!("this scheduler has no task {task}"),
        )
        .into_response(),
        Err(e) => internal(e).into_response(),
    }
}

async fn debug_route(
    State(s): State<Arc<Scheduler>>,
    headers: HeaderMap,
    uri: Uri,
    UrlPath(task): UrlPath<String>,
) -> Response {
    let answer = match (verify_request(&headers, "GET", uri.path(), b""), parse_task(&task)) {
        (Ok((reader, _)), Ok(task)) => s.debug_for(reader, task).await,
        (Err(refusal), _) | (_, Err(refusal)) => Err(refusal),
    };
    match answer {
        Ok(debug) => axum::Json(debug).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::replicas_for;

    /// PoCo's consensus check for `k` agreeing workers of score 0 (weight 2 each), with
    /// the total weight starting at 1 as `initialize` sets it.
    fn consensus(trust: u64, k: u64) -> bool {
        let (group, total) = (2 * k, 1 + 2 * k);
        group * trust > total * (trust - 1)
    }

    #[test]
    fn replicas_are_the_fewest_fresh_workers_that_reach_poco_consensus() {
        for trust in 1..=50 {
            let k = replicas_for(trust);
            assert!(consensus(trust, k), "trust {trust}: {k} workers do not reach consensus");
            assert!(!consensus(trust, k - 1), "trust {trust}: {} workers would do", k - 1);
        }
        assert_eq!(replicas_for(0), 1, "trust 0 is treated as 1, as PoCo does");
    }
}
