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
use confide_protocol::workerpool::{TaskStep, codes};
use serde_json::json;

use crate::api::{
    Assignment, Heartbeat, NextTask, Outcome, Registered, Registration, ReplicaStatus, Report, TaskDebug, is_transient,
};
use crate::auth::{ApiError, error, signed_answer, verify_request};
use crate::db::{DealPage, ReplicaRow, SchedulerDb, TaskFramework, TaskRow};
use crate::{WorkerpoolError, now_ms};

mod follow;
mod http;
mod lifecycle;
mod workers;

pub use http::router;

/// In a pool open to any wallet, how many distinct workers must report that a task
/// itself fails before it is given up.
const REFUSALS_TO_GIVE_UP: usize = 2;

/// Blocks re-read after a restart, so events of blocks a reorg replaced are applied again.
const REORG_DEPTH: u64 = 12;
const CURSOR_KEY: &str = "next_block";
/// PoCo's final deadline is `FINAL_DEADLINE_RATIO` time references after the deal started.
const FINAL_DEADLINE_RATIO: u64 = 10;
/// How many tasks of a deal the scheduler holds to run at once (pending, ready or
/// running); the next are recorded as these end.
pub const DEAL_PAGE: u64 = 16;
/// Past a deal's final deadline its tasks are recorded only to be claimed: more at once.
const CLAIM_PAGE: u64 = 256;
/// The most tasks a worker may say it runs at once.
const MAX_WORKER_CONCURRENCY: u32 = 64;
/// A standard task's contributions are read from the chain when one of its contribution or
/// consensus events arrives, and on every `SWEEP_EVERY`th pass in case one was missed.
const SWEEP_EVERY: u64 = 20;
/// How long the scheduling lease lasts unrenewed: a standby takes over within this.
pub const SCHEDULING_LEASE: Duration = Duration::from_secs(6);

/// How a scheduler runs, from `confide workerpool serve`'s options.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// The workerpools it schedules, all owned by its wallet.
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

/// A running scheduler: its chain client, the owner's key, its database and its options.
pub struct Scheduler {
    /// Signs as the workerpool owner.
    pub poco: confide_chain::Poco,
    owner: PrivateKeySigner,
    /// Where its tasks, replicas, workers, logs and cursor live.
    pub db: SchedulerDb,
    /// The options it was started with.
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
    /// Workers' signed requests already answered (see [`crate::auth::SeenRequests`]).
    seen: crate::auth::SeenRequests,
    /// In an open pool, workers' transient failures in a row (see `workers::count_strike`).
    strikes: std::sync::Mutex<std::collections::HashMap<Address, Strikes>>,
}

/// A worker's transient failures in a row, the last one's time, and until when it gets
/// no task.
#[derive(Default)]
struct Strikes {
    count: u32,
    last_ms: u64,
    until_ms: u64,
}

/// Failures further apart than this do not add up to a cooldown.
const STRIKES_FORGOTTEN: Duration = Duration::from_secs(600);

/// The longest a failing worker of an open pool waits for its next task.
const MAX_COOLDOWN: Duration = Duration::from_secs(300);
/// Workers whose failures are remembered at once (then the cooled-down ones are forgotten).
const MAX_STRIKES_KEPT: usize = 100_000;

/// Replicas a standard task wants at once. PoCo reaches consensus on a result when
/// `group·trust > total·(trust−1)`, where `total` starts at 1 and a worker weighs
/// `max(score/3, 3) − 1`, so 2 below a score of 12: `k` agreeing such workers suffice as
/// soon as `2k > trust − 1`. Workers with higher scores weigh more (fewer suffice), and
/// disagreeing contributions ask for more (see `settle`).
pub fn replicas_for(trust: u64) -> u64 {
    trust.max(1).div_ceil(2)
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
            holder: confide_db::lease::holder_id(),
            active: AtomicBool::new(false),
            head: AtomicU64::new(0),
            passes: AtomicU64::new(0),
            claims: AtomicU64::new(0),
            redispatches: AtomicU64::new(0),
            seen: crate::auth::SeenRequests::default(),
            strikes: std::sync::Mutex::new(std::collections::HashMap::new()),
        }))
    }

    /// The workerpool owner's address, which signs every answer and authorization.
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
        Err(standing_by())
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

/// The refusal of a scheduler that stands by: workers go to the active one.
fn standing_by() -> ApiError {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        codes::STANDBY,
        "this scheduler stands by: another one is active",
    )
}

/// A storage or chain failure, as the workers' API answers it.
/// A failure of the scheduler itself, as a worker is told it: a code and, for anything
/// but the chain, the message. A chain error's text can hold the node's URL (and an RPC
/// provider's API key in it): it goes to the log only.
fn internal(e: WorkerpoolError) -> ApiError {
    let message = match &e {
        WorkerpoolError::Chain(_) => {
            tracing::warn!(error = %e, "a chain read failed");
            "the chain could not be read: try again".to_owned()
        }
        _ => e.to_string(),
    };
    error(StatusCode::INTERNAL_SERVER_ERROR, e.code(), message)
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
