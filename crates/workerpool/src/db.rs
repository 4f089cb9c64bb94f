//! The scheduler's state at rest: SQLite by default, Postgres through sqlx's `Any` driver.
//! One row per task it knows, one per replica (a task leased to one worker), one per
//! worker, a log of what each party reported, and the chain cursor.
//!
//! Task rows move `pending` (seen, not initialized) -> `ready` (initialized, challenge
//! obtained, wants another replica) -> `running` (as many live replicas as it wants) ->
//! `completed` (a standard task passes through `revealed`: consensus reached, finalized by
//! the scheduler), or `failed` (given up: left for the claim) -> `claimed`. Replica rows
//! move `running` (leased, heartbeats extend it) -> `done` | `failed` | `lost` (silent
//! past its lease) | `released`.

use confide_chain::{Address, B256};
use sqlx::{AnyPool, Row};

use confide_protocol::workerpool::TaskStep;
use confide_protocol::{Tag, tag::TeeFramework};

use crate::api::{LogEntry, ReplicaStatus};
use crate::{WorkerpoolError, now_ms};

/// The scheduler's schema, `migrations/` applied in order.
const MIGRATIONS: &[confide_db::Migration] = &[
    confide_db::Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    confide_db::Migration {
        version: 2,
        name: "trust",
        sql: include_str!("../migrations/0002_trust.sql"),
    },
    confide_db::Migration {
        version: 3,
        name: "deal_pages",
        sql: include_str!("../migrations/0003_deal_pages.sql"),
    },
    confide_db::Migration {
        version: 4,
        name: "worker_concurrency",
        sql: include_str!("../migrations/0004_worker_concurrency.sql"),
    },
];

/// Replica statuses that hold a worker's place in a task.
const LIVE: &str = "('running', 'done')";
/// Replica statuses after which a task is not given to the same worker again: its place,
/// or its word that the task itself fails (`refused`, in a pool open to any wallet).
const NOT_AGAIN: &str = "('running', 'done', 'refused')";
/// In a pool open to any wallet, a worker that failed or lost a task does not get it
/// again either: one wallet must not spend a task's attempts by failing it over and over.
const NOT_AGAIN_FOR_STRANGERS: &str = "('running', 'done', 'refused', 'failed', 'lost')";
/// Replica statuses of a worker whose try of the task counts as an attempt.
const TRIED: &str = "('failed', 'lost', 'refused')";

fn storage(error: sqlx::Error) -> WorkerpoolError {
    WorkerpoolError::Storage(error.to_string())
}

fn parse_step(word: &str) -> Result<TaskStep, WorkerpoolError> {
    word.parse()
        .map_err(|e: confide_protocol::workerpool::UnknownTaskStep| WorkerpoolError::Storage(e.to_string()))
}

/// What runs a task, read from its deal's tag; kept by [`name`](TaskFramework::name) in
/// `tasks.framework`, which is also what workers register for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskFramework {
    /// No TEE bit: the app runs in the plain sandbox and PoCo's consensus vouches for it.
    Standard,
    /// A TEE framework: `tdx` and `gramine` run here, `scone` does not.
    Tee(TeeFramework),
    /// The TEE bit without a framework: nothing can run it.
    Unspecified,
}

impl TaskFramework {
    /// The framework a deal's tag asks for.
    pub fn of(tag: Tag) -> TaskFramework {
        match (tag.is_tee(), tag.tee_framework()) {
            (false, _) => TaskFramework::Standard,
            (true, Some(framework)) => TaskFramework::Tee(framework),
            (true, None) => TaskFramework::Unspecified,
        }
    }

    /// `standard`, `tdx`, `gramine`, `scone` or `unspecified`.
    pub fn name(self) -> &'static str {
        match self {
            TaskFramework::Standard => "standard",
            TaskFramework::Tee(framework) => framework.name(),
            TaskFramework::Unspecified => "unspecified",
        }
    }

    /// Whether Confide's workers can run it: not SCONE (proprietary), and not a TEE tag
    /// that names no framework.
    pub fn runs_here(self) -> bool {
        !matches!(
            self,
            TaskFramework::Tee(TeeFramework::Scone) | TaskFramework::Unspecified
        )
    }

    fn parse(name: &str) -> Option<TaskFramework> {
        match name {
            "standard" => Some(TaskFramework::Standard),
            "unspecified" => Some(TaskFramework::Unspecified),
            "scone" => Some(TaskFramework::Tee(TeeFramework::Scone)),
            "gramine" => Some(TaskFramework::Tee(TeeFramework::Gramine)),
            "tdx" => Some(TaskFramework::Tee(TeeFramework::Tdx)),
            _ => None,
        }
    }
}

impl std::fmt::Display for TaskFramework {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One task the scheduler knows, as its `tasks` row holds it.
#[derive(Clone, Debug)]
pub struct TaskRow {
    /// The task's id on chain.
    pub task_id: B256,
    /// The deal the task belongs to.
    pub deal_id: B256,
    /// The task's index within its deal, from 0.
    pub index: u64,
    /// The workerpool the deal was made with, one of those this scheduler serves.
    pub workerpool: Address,
    /// What runs it.
    pub framework: TaskFramework,
    /// Where the task stands (see the module's docs for the moves).
    pub status: TaskStep,
    /// The task's enclave challenge from the SMS (zero until obtained, and for a standard task).
    pub challenge: Address,
    /// The worker last given a replica (for display; replicas say who holds it).
    pub worker: Address,
    /// Replicas wanted at once: 1, or more for a standard task whose trust asks for
    /// several workers' agreement.
    pub wanted: u64,
    /// Failed attempts so far; at `--max-attempts` the task is given up.
    pub attempts: u64,
    /// The task's final deadline in chain time (0 until known).
    pub final_deadline: u64,
    /// Not dispatched before this time (backoff after a transient failure).
    pub not_before_ms: u64,
    /// A standard task's result link, once revealed (for `finalize`).
    pub results: String,
    /// Who may read the task's details: its deal's requester, beneficiary, app owner and
    /// workerpool owner, recorded from the chain when the deal was seen (so they still can
    /// after a reorg took the deal away). Empty for rows made before this was kept.
    pub readers: Vec<Address>,
}

fn read_task_id(row: &sqlx::any::AnyRow) -> Result<B256, WorkerpoolError> {
    let text: String = row.try_get("task_id").map_err(storage)?;
    text.parse()
        .map_err(|_| WorkerpoolError::Storage("invalid task id in the tasks table".into()))
}

fn read_task(row: &sqlx::any::AnyRow) -> Result<TaskRow, WorkerpoolError> {
    let text = |name: &str| row.try_get::<String, _>(name).map_err(storage);
    let number = |name: &str| row.try_get::<i64, _>(name).map(|n| n.max(0) as u64).map_err(storage);
    let parse_error = |what: &str| WorkerpoolError::Storage(format!("invalid {what} in the tasks table"));
    Ok(TaskRow {
        task_id: text("task_id")?.parse().map_err(|_| parse_error("task id"))?,
        deal_id: text("deal_id")?.parse().map_err(|_| parse_error("deal id"))?,
        index: number("idx")?,
        workerpool: text("workerpool")?.parse().map_err(|_| parse_error("workerpool"))?,
        framework: TaskFramework::parse(&text("framework")?).ok_or_else(|| parse_error("framework"))?,
        status: parse_step(&text("status")?)?,
        challenge: text("challenge")?.parse().map_err(|_| parse_error("challenge"))?,
        worker: text("worker")?.parse().map_err(|_| parse_error("worker"))?,
        wanted: number("wanted")?.max(1),
        attempts: number("attempts")?,
        final_deadline: number("final_deadline")?,
        not_before_ms: number("not_before_ms")?,
        results: text("results")?,
        readers: text("readers")?
            .split(',')
            .filter_map(|reader| reader.parse().ok())
            .collect(),
    })
}

/// A deal whose tasks are recorded a page at a time, as they run: what every task of it
/// starts with, and how far the recording has gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DealPage {
    /// The deal's id on chain.
    pub deal_id: B256,
    /// The workerpool the deal was made with.
    pub workerpool: Address,
    /// What runs its tasks.
    pub framework: TaskFramework,
    /// The index of its first task.
    pub bot_first: u64,
    /// How many tasks it holds.
    pub bot_size: u64,
    /// The offset of the first task not recorded yet (`bot_size` when all are).
    pub next_offset: u64,
    /// Replicas each task wants.
    pub wanted: u64,
    /// The status a recorded task starts in.
    pub initial_status: TaskStep,
    /// The deal's final deadline in chain time.
    pub final_deadline: u64,
    /// Who may read its tasks' details (see [`TaskRow::readers`]).
    pub readers: Vec<Address>,
}

fn join_addresses(addresses: &[Address]) -> String {
    addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(",")
}

fn read_deal_page(row: &sqlx::any::AnyRow) -> Result<(DealPage, u64), WorkerpoolError> {
    let text = |name: &str| row.try_get::<String, _>(name).map_err(storage);
    let number = |name: &str| row.try_get::<i64, _>(name).map(|n| n.max(0) as u64).map_err(storage);
    let parse_error = |what: &str| WorkerpoolError::Storage(format!("invalid {what} in the deal_pages table"));
    let page = DealPage {
        deal_id: text("deal_id")?.parse().map_err(|_| parse_error("deal id"))?,
        workerpool: text("workerpool")?.parse().map_err(|_| parse_error("workerpool"))?,
        framework: TaskFramework::parse(&text("framework")?).ok_or_else(|| parse_error("framework"))?,
        bot_first: number("bot_first")?,
        bot_size: number("bot_size")?,
        next_offset: number("next_offset")?,
        wanted: number("wanted")?.max(1),
        initial_status: parse_step(&text("initial_status")?)?,
        final_deadline: number("final_deadline")?,
        readers: text("readers")?.split(',').filter_map(|r| r.parse().ok()).collect(),
    };
    Ok((page, number("open_tasks")?))
}

const TASK_COLUMNS: &str = "task_id, deal_id, idx, workerpool, framework, status, challenge, worker, wanted, attempts, final_deadline, not_before_ms, results, readers";

/// One worker's lease of a task.
#[derive(Clone, Debug)]
pub struct ReplicaRow {
    /// The wallet address of the worker holding the replica.
    pub worker: Address,
    /// Where the replica stands.
    pub status: ReplicaStatus,
    /// The result link the worker reported (standard tasks).
    pub results: String,
}

/// The scheduler's database: tasks, replicas, workers, task logs, leases and the cursor.
pub struct SchedulerDb {
    pool: AnyPool,
}

impl SchedulerDb {
    /// Opens the database at `url` (`sqlite:…` or `postgres://…`) and applies the
    /// scheduler's migrations.
    pub async fn open(url: &str) -> Result<SchedulerDb, WorkerpoolError> {
        let pool = confide_db::open(url, "scheduler", MIGRATIONS).await.map_err(storage)?;
        Ok(SchedulerDb { pool })
    }

    /// Records a task seen in a deal; nothing changes if it is already known.
    pub async fn add_task(&self, task: &TaskRow) -> Result<bool, WorkerpoolError> {
        let result = sqlx::query(
            "INSERT INTO tasks (task_id, deal_id, idx, workerpool, framework, status, challenge, worker,
                lease_until_ms, attempts, final_deadline, not_before_ms, updated_ms, results, wanted, readers)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, 0, $9, 0, $10, '', $11, $12) ON CONFLICT DO NOTHING",
        )
        .bind(task.task_id.to_string())
        .bind(task.deal_id.to_string())
        .bind(task.index as i64)
        .bind(task.workerpool.to_string())
        .bind(task.framework.name())
        .bind(task.status.as_str())
        .bind(task.challenge.to_string())
        .bind(task.worker.to_string())
        .bind(task.final_deadline as i64)
        .bind(now_ms() as i64)
        .bind(task.wanted as i64)
        .bind(
            task.readers
                .iter()
                .map(|reader| reader.to_string())
                .collect::<Vec<_>>()
                .join(","),
        )
        .execute(&self.pool)
        .await
        .map_err(storage)?;
        Ok(result.rows_affected() == 1)
    }

    /// The task with this id, if the scheduler knows it.
    pub async fn task(&self, task_id: B256) -> Result<Option<TaskRow>, WorkerpoolError> {
        let row = sqlx::query(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE task_id = $1"))
            .bind(task_id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(storage)?;
        row.as_ref().map(read_task).transpose()
    }

    /// Tasks in one status, oldest change first.
    pub async fn tasks_in(&self, status: TaskStep, limit: i64) -> Result<Vec<TaskRow>, WorkerpoolError> {
        let rows = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE status = $1 ORDER BY updated_ms, idx LIMIT $2"
        ))
        .bind(status.as_str())
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(storage)?;
        rows.iter().map(read_task).collect()
    }

    /// Ready tasks `worker` (of these frameworks) may take now and holds no live replica
    /// of: first those that already have replicas (so the replicas of one task gather
    /// before the next task starts), then those of the deals with the fewest tasks
    /// running (so no deal, however large, holds every worker), then by final deadline.
    pub async fn dispatchable(
        &self,
        frameworks: &[&str],
        worker: Address,
        now_ms: u64,
        limit: i64,
        strangers: bool,
    ) -> Result<Vec<TaskRow>, WorkerpoolError> {
        if frameworks.is_empty() {
            return Ok(Vec::new());
        }
        let not_again = if strangers { NOT_AGAIN_FOR_STRANGERS } else { NOT_AGAIN };
        let placeholders: Vec<String> = (0..frameworks.len()).map(|i| format!("${}", i + 4)).collect();
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE status = 'ready' AND not_before_ms <= $1
             AND framework IN ({})
             AND NOT EXISTS (SELECT 1 FROM replicas r WHERE r.task_id = tasks.task_id AND r.worker = $3
                 AND r.status IN {not_again})
             ORDER BY (SELECT COUNT(*) FROM replicas g WHERE g.task_id = tasks.task_id AND g.status IN {LIVE}) DESC,
                 (SELECT COUNT(*) FROM tasks d WHERE d.deal_id = tasks.deal_id AND d.status = 'running'),
                 final_deadline, idx LIMIT $2",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql)
            .bind(now_ms as i64)
            .bind(limit)
            .bind(worker.to_string());
        for framework in frameworks {
            query = query.bind(*framework);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(storage)?;
        rows.iter().map(read_task).collect()
    }

    /// Leases `task_id` to `worker` (again, if it held it before).
    pub async fn add_replica(&self, task_id: B256, worker: Address, until_ms: u64) -> Result<(), WorkerpoolError> {
        sqlx::query(
            "INSERT INTO replicas (task_id, worker, status, lease_until_ms, results, updated_ms)
             VALUES ($1, $2, 'running', $3, '', $4)
             ON CONFLICT (task_id, worker) DO UPDATE SET status = 'running', lease_until_ms = $3, updated_ms = $4",
        )
        .bind(task_id.to_string())
        .bind(worker.to_string())
        .bind(until_ms as i64)
        .bind(now_ms() as i64)
        .execute(&self.pool)
        .await
        .map_err(storage)?;
        Ok(())
    }

    /// Whether at least two workers ever registered (counted no further).
    pub async fn has_several_workers(&self) -> Result<bool, WorkerpoolError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM (SELECT 1 FROM workers LIMIT 2) AS registered")
            .fetch_one(&self.pool)
            .await
            .map_err(storage)?;
        Ok(count >= 2)
    }

    /// How many distinct workers tried `task_id` and failed, went silent or refused it.
    pub async fn workers_that_tried(&self, task_id: B256) -> Result<u64, WorkerpoolError> {
        let sql = format!("SELECT COUNT(*) FROM replicas WHERE task_id = $1 AND status IN {TRIED}");
        let count: i64 = sqlx::query_scalar(&sql)
            .bind(task_id.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(storage)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Extends `worker`'s lease of a running replica; false when it is no longer theirs.
    pub async fn extend_lease(&self, task_id: B256, worker: Address, until_ms: u64) -> Result<bool, WorkerpoolError> {
        let result = sqlx::query(
            "UPDATE replicas SET lease_until_ms = $3 WHERE task_id = $1 AND worker = $2 AND status = 'running'",
        )
        .bind(task_id.to_string())
        .bind(worker.to_string())
        .bind(until_ms as i64)
        .execute(&self.pool)
        .await
        .map_err(storage)?;
        Ok(result.rows_affected() == 1)
    }

    /// Extends every running replica's lease to at least `until_ms`: what a scheduler that
    /// takes over grants, since no worker could report in while no scheduler was active.
    /// Returns how many leases it extended.
    pub async fn extend_running_leases(&self, until_ms: u64) -> Result<u64, WorkerpoolError> {
        let result =
            sqlx::query("UPDATE replicas SET lease_until_ms = $1 WHERE status = 'running' AND lease_until_ms < $1")
                .bind(until_ms as i64)
                .execute(&self.pool)
                .await
                .map_err(storage)?;
        Ok(result.rows_affected())
    }

    /// Running replicas whose lease ran out before `now_ms`: (task, worker).
    pub async fn expired_replicas(&self, now_ms: u64) -> Result<Vec<(B256, Address)>, WorkerpoolError> {
        let rows = sqlx::query("SELECT task_id, worker FROM replicas WHERE status = 'running' AND lease_until_ms < $1")
            .bind(now_ms as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(storage)?;
        rows.iter()
            .map(|row| {
                let text = |name: &str| row.try_get::<String, _>(name).map_err(storage);
                let bad = || WorkerpoolError::Storage("invalid row in the replicas table".into());
                Ok((
                    text("task_id")?.parse().map_err(|_| bad())?,
                    text("worker")?.parse().map_err(|_| bad())?,
                ))
            })
            .collect()
    }

    /// Marks `worker`'s replica lost if its lease is still expired now (re-checked in the
    /// same statement: a heartbeat meanwhile wins).
    pub async fn expire_replica(&self, task_id: B256, worker: Address, now_ms: u64) -> Result<bool, WorkerpoolError> {
        let result = sqlx::query(
            "UPDATE replicas SET status = 'lost', updated_ms = $3
             WHERE task_id = $1 AND worker = $2 AND status = 'running' AND lease_until_ms < $3",
        )
        .bind(task_id.to_string())
        .bind(worker.to_string())
        .bind(now_ms as i64)
        .execute(&self.pool)
        .await
        .map_err(storage)?;
        Ok(result.rows_affected() == 1)
    }

    /// Ends `worker`'s running replica with `status`; false when it was not running.
    pub async fn end_replica(
        &self,
        task_id: B256,
        worker: Address,
        status: ReplicaStatus,
        results: &str,
    ) -> Result<bool, WorkerpoolError> {
        let result = sqlx::query(
            "UPDATE replicas SET status = $3, results = $4, updated_ms = $5
             WHERE task_id = $1 AND worker = $2 AND status = 'running'",
        )
        .bind(task_id.to_string())
        .bind(worker.to_string())
        .bind(status.as_str())
        .bind(results)
        .bind(now_ms() as i64)
        .execute(&self.pool)
        .await
        .map_err(storage)?;
        Ok(result.rows_affected() == 1)
    }

    /// Sets aside the tasks of a deal the chain no longer has (a reorg took it away), and
    /// their replicas; returns the tasks set aside.
    pub async fn orphan_deal(&self, deal_id: B256) -> Result<Vec<B256>, WorkerpoolError> {
        sqlx::query(&format!(
            "UPDATE replicas SET status = 'replaced', updated_ms = $2 WHERE status IN {LIVE}
             AND task_id IN (SELECT task_id FROM tasks WHERE deal_id = $1 AND status <> 'orphaned')"
        ))
        .bind(deal_id.to_string())
        .bind(now_ms() as i64)
        .execute(&self.pool)
        .await
        .map_err(storage)?;
        let rows = sqlx::query(
            "UPDATE tasks SET status = 'orphaned', updated_ms = $2 WHERE deal_id = $1 AND status <> 'orphaned'
             RETURNING task_id",
        )
        .bind(deal_id.to_string())
        .bind(now_ms() as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(storage)?;
        rows.iter().map(read_task_id).collect()
    }

    /// Records a deal to be paged in (again, after a reorg: its progress is kept, its
    /// deadline and start status renewed).
    pub async fn put_deal_page(&self, deal: &DealPage) -> Result<(), WorkerpoolError> {
        sqlx::query(
            "INSERT INTO deal_pages (deal_id, workerpool, framework, bot_first, bot_size, next_offset, wanted,
                initial_status, final_deadline, readers, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (deal_id) DO UPDATE SET initial_status = $8, final_deadline = $9",
        )
        .bind(deal.deal_id.to_string())
        .bind(deal.workerpool.to_string())
        .bind(deal.framework.name())
        .bind(deal.bot_first as i64)
        .bind(deal.bot_size as i64)
        .bind(deal.next_offset as i64)
        .bind(deal.wanted as i64)
        .bind(deal.initial_status.as_str())
        .bind(deal.final_deadline as i64)
        .bind(join_addresses(&deal.readers))
        .bind(now_ms() as i64)
        .execute(&self.pool)
        .await
        .map_err(storage)?;
        Ok(())
    }

    /// Deals with tasks not recorded yet, each with how many of its recorded tasks are
    /// still to run (pending, ready or running), oldest deal first. A deal a reorg took
    /// away (its tasks orphaned) waits until it is back.
    pub async fn deals_to_page(&self) -> Result<Vec<(DealPage, u64)>, WorkerpoolError> {
        let rows = sqlx::query(
            "SELECT d.deal_id, d.workerpool, d.framework, d.bot_first, d.bot_size, d.next_offset, d.wanted,
                d.initial_status, d.final_deadline, d.readers,
                (SELECT COUNT(*) FROM tasks t WHERE t.deal_id = d.deal_id
                    AND t.status IN ('pending', 'ready', 'running')) AS open_tasks
             FROM deal_pages d WHERE d.next_offset < d.bot_size
             AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.deal_id = d.deal_id AND t.status = 'orphaned')
             ORDER BY d.created_ms",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(storage)?;
        rows.iter().map(read_deal_page).collect()
    }

    /// Moves a deal's page cursor from `from` to `to`; false when another pass moved it.
    pub async fn advance_deal_page(&self, deal_id: B256, from: u64, to: u64) -> Result<bool, WorkerpoolError> {
        let result = sqlx::query("UPDATE deal_pages SET next_offset = $3 WHERE deal_id = $1 AND next_offset = $2")
            .bind(deal_id.to_string())
            .bind(from as i64)
            .bind(to as i64)
            .execute(&self.pool)
            .await
            .map_err(storage)?;
        Ok(result.rows_affected() == 1)
    }

    /// Schedules again, from `status`, the orphaned tasks of a deal that is back on chain
    /// (with the final deadline of its new start); returns them.
    pub async fn revive_deal(
        &self,
        deal_id: B256,
        status: TaskStep,
        final_deadline: u64,
    ) -> Result<Vec<B256>, WorkerpoolError> {
        let rows = sqlx::query(
            "UPDATE tasks SET status = $3, final_deadline = $4, attempts = 0, not_before_ms = 0, results = '',
                updated_ms = $2
             WHERE deal_id = $1 AND status = 'orphaned' RETURNING task_id",
        )
        .bind(deal_id.to_string())
        .bind(now_ms() as i64)
        .bind(status.as_str())
        .bind(final_deadline as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(storage)?;
        rows.iter().map(read_task_id).collect()
    }

    /// Frees the places of a task's replicas: what they did is void (a reorg replaced it).
    pub async fn forget_replicas(&self, task_id: B256) -> Result<(), WorkerpoolError> {
        sqlx::query(&format!(
            "UPDATE replicas SET status = 'replaced', updated_ms = $2 WHERE task_id = $1 AND status IN {LIVE}"
        ))
        .bind(task_id.to_string())
        .bind(now_ms() as i64)
        .execute(&self.pool)
        .await
        .map_err(storage)?;
        Ok(())
    }

    /// How many replicas of a task hold a worker's place (running or done).
    pub async fn live_replicas(&self, task_id: B256) -> Result<u64, WorkerpoolError> {
        let row = sqlx::query(&format!(
            "SELECT COUNT(*) AS n FROM replicas WHERE task_id = $1 AND status IN {LIVE}"
        ))
        .bind(task_id.to_string())
        .fetch_one(&self.pool)
        .await
        .map_err(storage)?;
        Ok(row.try_get::<i64, _>("n").map_err(storage)?.max(0) as u64)
    }

    /// The replicas of a task, in the order they were last changed.
    pub async fn replicas(&self, task_id: B256) -> Result<Vec<ReplicaRow>, WorkerpoolError> {
        let rows = sqlx::query("SELECT worker, status, results FROM replicas WHERE task_id = $1 ORDER BY updated_ms")
            .bind(task_id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(storage)?;
        rows.iter()
            .map(|row| {
                Ok(ReplicaRow {
                    worker: row
                        .try_get::<String, _>("worker")
                        .map_err(storage)?
                        .parse()
                        .map_err(|_| WorkerpoolError::Storage("invalid worker in the replicas table".into()))?,
                    status: ReplicaStatus::parse(&row.try_get::<String, _>("status").map_err(storage)?)?,
                    results: row.try_get("results").map_err(storage)?,
                })
            })
            .collect()
    }

    /// Every task that may still need the scheduler (not completed or claimed).
    pub async fn open_tasks(&self) -> Result<Vec<TaskRow>, WorkerpoolError> {
        let rows = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE status NOT IN ('completed', 'claimed', 'orphaned') ORDER BY updated_ms"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(storage)?;
        rows.iter().map(read_task).collect()
    }

    /// Saves every field of `task`; with `expected_status`, only if the row is still in it
    /// (returns whether it was written), so two workers never take the same task.
    pub async fn save_task(&self, task: &TaskRow, expected_status: Option<TaskStep>) -> Result<bool, WorkerpoolError> {
        let guard = if expected_status.is_some() {
            " AND status = $12"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE tasks SET status = $2, challenge = $3, worker = $4, wanted = $5, attempts = $6,
                final_deadline = $7, not_before_ms = $8, updated_ms = $9, framework = $10, results = $11
             WHERE task_id = $1{guard}"
        );
        let mut query = sqlx::query(&sql)
            .bind(task.task_id.to_string())
            .bind(task.status.as_str())
            .bind(task.challenge.to_string())
            .bind(task.worker.to_string())
            .bind(task.wanted as i64)
            .bind(task.attempts as i64)
            .bind(task.final_deadline as i64)
            .bind(task.not_before_ms as i64)
            .bind(now_ms() as i64)
            .bind(task.framework.name())
            .bind(&task.results);
        if let Some(status) = expected_status {
            query = query.bind(status.as_str());
        }
        let result = query.execute(&self.pool).await.map_err(storage)?;
        Ok(result.rows_affected() == 1)
    }

    /// Adds a line to a task's log, stamped with the current time; `party` is `scheduler`,
    /// `chain` or a worker's address.
    pub async fn log(&self, task_id: B256, party: &str, message: &str) -> Result<(), WorkerpoolError> {
        sqlx::query("INSERT INTO task_log (task_id, at_ms, party, message) VALUES ($1, $2, $3, $4)")
            .bind(task_id.to_string())
            .bind(now_ms() as i64)
            .bind(party)
            .bind(message)
            .execute(&self.pool)
            .await
            .map_err(storage)?;
        Ok(())
    }

    /// A task's log, oldest line first.
    pub async fn task_log(&self, task_id: B256) -> Result<Vec<LogEntry>, WorkerpoolError> {
        let rows = sqlx::query("SELECT at_ms, party, message FROM task_log WHERE task_id = $1 ORDER BY at_ms")
            .bind(task_id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(storage)?;
        rows.iter()
            .map(|row| {
                Ok(LogEntry {
                    at_ms: row.try_get::<i64, _>("at_ms").map_err(storage)?.max(0) as u64,
                    party: row.try_get("party").map_err(storage)?,
                    message: row.try_get("message").map_err(storage)?,
                })
            })
            .collect()
    }

    /// Records a worker's registration (frameworks comma-separated, memory in MiB, tasks
    /// at once), or updates it when the worker registers again.
    pub async fn upsert_worker(
        &self,
        worker: Address,
        frameworks: &str,
        memory_mib: u64,
        concurrency: u64,
    ) -> Result<(), WorkerpoolError> {
        sqlx::query(
            "INSERT INTO workers (address, frameworks, memory_mib, last_seen_ms, concurrency) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (address) DO UPDATE SET frameworks = $2, memory_mib = $3, last_seen_ms = $4, concurrency = $5",
        )
        .bind(worker.to_string())
        .bind(frameworks)
        .bind(memory_mib as i64)
        .bind(now_ms() as i64)
        .bind(concurrency as i64)
        .execute(&self.pool)
        .await
        .map_err(storage)?;
        Ok(())
    }

    /// A registered worker's frameworks (comma-separated), if it registered.
    pub async fn worker_frameworks(&self, worker: Address) -> Result<Option<String>, WorkerpoolError> {
        let row = sqlx::query("SELECT frameworks FROM workers WHERE address = $1")
            .bind(worker.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(storage)?;
        row.map(|r| r.try_get("frameworks").map_err(storage)).transpose()
    }

    /// Whether `worker` already runs as many tasks as it said it runs at once.
    pub async fn worker_is_full(&self, worker: Address) -> Result<bool, WorkerpoolError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM replicas r WHERE r.worker = w.address AND r.status = 'running')
                 >= w.concurrency AS full
             FROM workers w WHERE w.address = $1",
        )
        .bind(worker.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(storage)?;
        Ok(match row {
            Some(row) => row
                .try_get::<bool, _>("full")
                .or_else(|_| row.try_get::<i64, _>("full").map(|n| n != 0))
                .map_err(storage)?,
            None => false,
        })
    }

    /// How many tasks are in each status, for `/metrics`.
    pub async fn count_by_status(&self) -> Result<Vec<(String, i64)>, WorkerpoolError> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM tasks GROUP BY status")
            .fetch_all(&self.pool)
            .await
            .map_err(storage)?;
        rows.iter()
            .map(|r| Ok((r.try_get("status").map_err(storage)?, r.try_get("n").map_err(storage)?)))
            .collect()
    }

    /// Takes or renews lease `name` for `holder` (see `confide_db::lease::take`).
    pub async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        duration: std::time::Duration,
    ) -> Result<bool, WorkerpoolError> {
        confide_db::lease::take(&self.pool, name, holder, now_ms() as i64, duration.as_millis() as i64)
            .await
            .map_err(storage)
    }

    /// Gives lease `name` up if `holder` holds it.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), WorkerpoolError> {
        confide_db::lease::release(&self.pool, name, holder)
            .await
            .map_err(storage)
    }

    /// Whether `holder` holds lease `name` now.
    pub async fn holds_lease(&self, name: &str, holder: &str) -> Result<bool, WorkerpoolError> {
        confide_db::lease::held(&self.pool, name, holder, now_ms() as i64)
            .await
            .map_err(storage)
    }

    /// The number saved under `key` (such as the chain cursor's next block), if any.
    pub async fn meta(&self, key: &str) -> Result<Option<i64>, WorkerpoolError> {
        confide_db::meta::get(&self.pool, key).await.map_err(storage)
    }

    /// Saves `value` under `key`, replacing what was there.
    pub async fn set_meta(&self, key: &str, value: i64) -> Result<(), WorkerpoolError> {
        confide_db::meta::set(&self.pool, key, value).await.map_err(storage)
    }
}
