//! What the scheduler answers its workers (register, next task, heartbeat, report) and
//! the deal's parties (a task's log).

use super::*;

impl Scheduler {
    pub(super) async fn register(&self, worker: Address, registration: Registration) -> Result<Registered, ApiError> {
        self.active_or_standby()?;
        self.allowed(worker)?;
        let frameworks: Vec<String> = registration.frameworks.iter().map(|f| f.to_ascii_lowercase()).collect();
        // Declared by the worker, within reason: a wallet may run several tasks, not a pool's.
        let concurrency = u64::from(registration.concurrency.clamp(1, MAX_WORKER_CONCURRENCY));
        self.db
            .upsert_worker(worker, &frameworks.join(","), registration.memory_mib, concurrency)
            .await
            .map_err(internal)?;
        tracing::info!(%worker, frameworks = %frameworks.join(","), simulated = registration.simulated, "worker registered");
        Ok(Registered {
            workerpools: self.config.workerpools.clone(),
            owner: self.owner(),
            lease_seconds: self.config.lease.as_secs().max(1),
        })
    }

    pub(super) async fn next(&self, worker: Address) -> Result<NextTask, ApiError> {
        self.active_or_standby()?;
        self.allowed(worker)?;
        let frameworks = self.registered_frameworks(worker).await?;
        let frameworks: Vec<&str> = frameworks.split(',').collect();
        let _one_at_a_time = self.dispatch.lock().await;
        self.still_holding_the_lease().await?;
        // A worker gets no more tasks than it said it runs at once, and in an open pool
        // none while it cools down from failing tasks over and over.
        if self.cooling_down(worker) || self.db.worker_is_full(worker).await.map_err(internal)? {
            return Ok(NextTask { assignment: None });
        }
        let now = now_ms();
        let candidates = self
            .db
            .dispatchable(
                &frameworks,
                worker,
                now,
                1,
                self.among_strangers().await.map_err(internal)?,
            )
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
        task.status = if live >= task.wanted {
            TaskStep::Running
        } else {
            TaskStep::Ready
        };
        if !self
            .db
            .save_task(&task, Some(TaskStep::Ready))
            .await
            .map_err(internal)?
        {
            let _ = self
                .db
                .end_replica(task.task_id, worker, ReplicaStatus::Released, "")
                .await;
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

    /// The frameworks `worker` registered with; a worker must register first.
    async fn registered_frameworks(&self, worker: Address) -> Result<String, ApiError> {
        self.db
            .worker_frameworks(worker)
            .await
            .map_err(internal)?
            .ok_or_else(|| {
                error(
                    StatusCode::FORBIDDEN,
                    codes::NOT_REGISTERED,
                    "register first (POST /workers/register)",
                )
            })
    }

    /// Checked in the database, not the flag: a scheduler that stalled past its lease
    /// while another took over must not give a task out.
    async fn still_holding_the_lease(&self) -> Result<(), ApiError> {
        let held = self
            .db
            .holds_lease(&self.lease_name(), &self.holder)
            .await
            .map_err(internal)?;
        if held { Ok(()) } else { Err(standing_by()) }
    }

    pub(super) async fn heartbeat(&self, worker: Address, task_id: B256) -> Result<Heartbeat, ApiError> {
        self.active_or_standby()?;
        if self.allowed(worker).is_err() {
            return Ok(Heartbeat { keep: false });
        }
        let until = now_ms() + self.config.lease.as_millis() as u64;
        let keep = self.db.extend_lease(task_id, worker, until).await.map_err(internal)?;
        Ok(Heartbeat { keep })
    }

    pub(super) async fn report(
        &self,
        worker: Address,
        task_id: B256,
        report: Report,
    ) -> Result<serde_json::Value, ApiError> {
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
        if !replicas
            .iter()
            .any(|r| r.worker == worker && r.status == ReplicaStatus::Running)
        {
            return Err(error(
                StatusCode::CONFLICT,
                "NOT_YOUR_TASK",
                format!("task {task_id} is not running on {worker}"),
            ));
        }
        let results = report.results.clone().unwrap_or_default();
        if task.status == TaskStep::Completed && report.outcome == Outcome::Completed {
            // The chain's TaskFinalize arrived first: the report only adds its transaction.
            let _ = self
                .db
                .end_replica(task_id, worker, ReplicaStatus::Done, &results)
                .await;
            let line = format!("completed{}", transaction_note(&report));
            let _ = self.db.log(task_id, &worker.to_string(), &line).await;
            return Ok(json!({ "status": task.status }));
        }
        // A worker's word is not the chain's: "completed" is believed only once PoCo says
        // so (until then the replica stays leased, and goes elsewhere if the lease runs out).
        let on_chain = self.poco.task(task_id).await.map_err(|e| internal(e.into()))?.status;
        let past_consensus = task.framework == TaskFramework::Standard
            && matches!(on_chain, TaskStatus::Revealing | TaskStatus::Completed);
        let previous = task.status;
        let strangers = self.among_strangers().await.map_err(internal)?;
        let judged = self.judge(
            &mut task,
            &report,
            &replicas,
            worker,
            on_chain,
            past_consensus,
            strangers,
        );
        let Some((replica_status, line)) = judged else {
            let line = "reported completed; the chain does not say so yet";
            let _ = self.db.log(task_id, &worker.to_string(), line).await;
            return Ok(json!({ "status": task.status }));
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
        self.count_strike(worker, &report);
        let mut line = line;
        if report.outcome == Outcome::Failed && !past_consensus {
            let next = self.settle(&mut task, true).await.map_err(internal)?;
            line = match task.status {
                TaskStep::Ready => format!("{line}; retried on another attempt"),
                _ => format!("{line}; {next}"),
            };
        }
        // The reason is logged before the status changes: whoever sees a task failed or
        // completed also sees why.
        let _ = self.db.log(task_id, &worker.to_string(), &line).await;
        if task.status != previous || replica_status == ReplicaStatus::Done {
            self.db.save_task(&task, Some(previous)).await.map_err(internal)?;
        }
        Ok(json!({ "status": task.status }))
    }

    /// What a worker's report makes of its replica and the task: the replica's end and the
    /// log line, or `None` when it claims a completion the chain does not show yet.
    #[allow(clippy::too_many_arguments)] // each is one fact of the report being judged
    pub(super) fn judge(
        &self,
        task: &mut TaskRow,
        report: &Report,
        replicas: &[ReplicaRow],
        worker: Address,
        on_chain: TaskStatus,
        past_consensus: bool,
        strangers: bool,
    ) -> Option<(ReplicaStatus, String)> {
        let code = report.code.as_deref().unwrap_or_default();
        let message = report.message.as_deref().unwrap_or_default();
        let after_consensus = |task: &mut TaskRow| {
            if task.status != TaskStep::Completed {
                task.status = TaskStep::Revealed;
            }
        };
        Some(match report.outcome {
            Outcome::Completed if past_consensus => {
                if task.results.is_empty() {
                    task.results = report.results.clone().unwrap_or_default();
                }
                after_consensus(task);
                (
                    ReplicaStatus::Done,
                    "contributed and revealed; the scheduler finalizes".to_owned(),
                )
            }
            Outcome::Completed if on_chain != TaskStatus::Completed || task.framework == TaskFramework::Standard => {
                return None;
            }
            Outcome::Completed => {
                task.status = TaskStep::Completed;
                (ReplicaStatus::Done, format!("completed{}", transaction_note(report)))
            }
            Outcome::Failed if past_consensus => {
                after_consensus(task);
                (
                    ReplicaStatus::Failed,
                    format!("failed after the consensus ({code}: {message})"),
                )
            }
            Outcome::Failed => self.failure(task, code, message, replicas, worker, strangers),
        })
    }

    /// A worker says the task failed before any consensus: retried after a pause when
    /// the cause is transient; given up when a worker the pool chose says the task itself
    /// fails; in a pool open to any wallet, given up only once enough distinct workers say
    /// so (a rogue worker would fail every task it takes), never given to this one again.
    pub(super) fn failure(
        &self,
        task: &mut TaskRow,
        code: &str,
        message: &str,
        replicas: &[ReplicaRow],
        worker: Address,
        strangers: bool,
    ) -> (ReplicaStatus, String) {
        if strangers {
            // One attempt per distinct worker: a wallet that fails a task again and again
            // (it never gets it back) spends one of its attempts, not all.
            let others = replicas
                .iter()
                .filter(|r| r.worker != worker)
                .filter(|r| {
                    matches!(
                        r.status,
                        ReplicaStatus::Failed | ReplicaStatus::Lost | ReplicaStatus::Refused
                    )
                })
                .count() as u64;
            task.attempts = task.attempts.max(others + 1);
        } else {
            task.attempts += 1;
        }
        let failed = format!("failed ({code}: {message})");
        if is_transient(code) {
            // The pause lets a cause on the pool's side pass before the task's own worker
            // tries again. In an open pool that worker never gets it back, so another takes
            // it at once: a rogue that fails every task it grabs costs others no pause.
            if !strangers {
                task.not_before_ms = now_ms() + 1_000 * (1 << task.attempts.min(6));
            }
            return (ReplicaStatus::Failed, failed);
        }
        if !self.config.allowed_workers.is_empty() {
            task.attempts = task.attempts.max(self.config.max_attempts);
            return (ReplicaStatus::Failed, failed);
        }
        let refusals = 1 + replicas
            .iter()
            .filter(|r| r.status == ReplicaStatus::Refused && r.worker != worker)
            .count();
        if refusals >= REFUSALS_TO_GIVE_UP {
            task.attempts = task.attempts.max(self.config.max_attempts);
        }
        (
            ReplicaStatus::Refused,
            format!("{failed}; {refusals} of {REFUSALS_TO_GIVE_UP} distinct workers say the task itself fails"),
        )
    }

    /// The task's debug view (see `debug`) for a signed reader, who must be a party to the task's deal:
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
    pub(super) async fn debug(&self, task: TaskRow) -> Result<TaskDebug, WorkerpoolError> {
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

    /// Whether `worker` may work for this pool: any wallet when no worker is listed.
    /// In an open pool, a worker's transient failures of its own in a row (not a download
    /// the task's owner or requester controls, not its own restart): from the second on, it
    /// is given no task for a while, doubling each time (at most [`MAX_COOLDOWN`]); a
    /// completion clears them, and so do [`STRIKES_FORGOTTEN`] without one. A rogue that grabs tasks only to fail them then takes a few,
    /// not every task honest workers would have run.
    fn count_strike(&self, worker: Address, report: &Report) {
        if !self.open_pool() {
            return;
        }
        let mut strikes = self.strikes.lock().expect("never poisoned");
        match report.outcome {
            Outcome::Completed => {
                strikes.remove(&worker);
            }
            Outcome::Failed if report.code.as_deref().is_some_and(is_the_workers_own) => {
                let now = now_ms();
                if strikes.len() >= MAX_STRIKES_KEPT {
                    strikes.retain(|_, s| s.until_ms > now);
                }
                let strike = strikes.entry(worker).or_default();
                // Failures far apart are not a pattern: the count starts again.
                if now.saturating_sub(strike.last_ms) > STRIKES_FORGOTTEN.as_millis() as u64 {
                    strike.count = 0;
                }
                strike.last_ms = now;
                strike.count = strike.count.saturating_add(1);
                if strike.count >= 2 {
                    let cooldown = (1_000u64 << (strike.count - 2).min(20)).min(MAX_COOLDOWN.as_millis() as u64);
                    strike.until_ms = now_ms() + cooldown;
                }
            }
            Outcome::Failed => {}
        }
    }

    fn cooling_down(&self, worker: Address) -> bool {
        self.open_pool()
            && self
                .strikes
                .lock()
                .expect("never poisoned")
                .get(&worker)
                .is_some_and(|s| s.until_ms > now_ms())
    }

    /// Whether the pool weighs its workers against each other: open to any wallet, with
    /// another worker to turn to. A lone worker of an open pool retries its own tasks after
    /// a pause, as in a pool of known workers (else its tasks would wait for a second
    /// worker that may never come).
    pub(super) async fn among_strangers(&self) -> Result<bool, WorkerpoolError> {
        Ok(self.open_pool() && self.db.has_several_workers().await?)
    }

    /// Whether any wallet may work for this pool: its workers are strangers, and what one
    /// of them says or does is weighed against the others'.
    pub(super) fn open_pool(&self) -> bool {
        self.config.allowed_workers.is_empty()
    }

    pub(super) fn allowed(&self, worker: Address) -> Result<(), ApiError> {
        if self.config.allowed_workers.is_empty() || self.config.allowed_workers.contains(&worker) {
            return Ok(());
        }
        Err(error(
            StatusCode::FORBIDDEN,
            "WORKER_NOT_ALLOWED",
            format!("{worker} is not one of this pool's workers"),
        ))
    }
}

/// ` (transaction 0x…)` when a report names its transaction.
pub(super) fn transaction_note(report: &Report) -> String {
    report
        .transaction
        .map(|t| format!(" (transaction {t})"))
        .unwrap_or_default()
}

/// Whether a transient failure is the worker's own doing rather than the task's (a
/// download from a server the app's owner or the requester chose) or a restart.
fn is_the_workers_own(code: &str) -> bool {
    is_transient(code)
        && !matches!(
            code,
            "MODULE_DOWNLOAD_FAILED"
                | "DATASET_DOWNLOAD_FAILED"
                | "INPUT_FILE_DOWNLOAD_FAILED"
                | "WORKER_STOPPED"
                | "ENCLAVE_TIMEOUT"
        )
}
