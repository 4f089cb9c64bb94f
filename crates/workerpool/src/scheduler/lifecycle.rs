//! Moving tasks along: initializing them and obtaining their enclave challenges, settling
//! them from their replicas (and a standard task's consensus), finalizing, claiming at the
//! final deadline, and taking a task back from a silent worker.

use super::*;
use confide_sms_client::{SmsClient, SmsClientError};

impl Scheduler {
    /// One pass over the tasks that still need something.
    pub async fn tick(&self) -> Result<(), WorkerpoolError> {
        let chain_now = self.poco.connection.block_timestamp().await?;
        let sweep = self.passes.fetch_add(1, Ordering::Relaxed).is_multiple_of(SWEEP_EVERY);
        if let Err(e) = self.page_deals().await {
            tracing::warn!(error = %e, "recording deals' next tasks failed; retried on the next pass");
        }
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
    pub(super) async fn step(&self, task: TaskRow, chain_now: u64, sweep: bool) -> Result<(), WorkerpoolError> {
        // A dev chain mines only on demand, so its latest block can lag the clock; the block
        // a claim lands in is stamped with the time it is mined.
        let chain_time = chain_now.max(now_ms() / 1000);
        if task.final_deadline > 0 && chain_time >= task.final_deadline {
            return self.claim(task).await;
        }
        match task.status {
            TaskStep::Pending if task.not_before_ms <= now_ms() => self.prepare(task).await,
            TaskStep::Revealed => self.finalize(task).await,
            TaskStep::Ready | TaskStep::Running => self.resettle(task, sweep).await,
            _ => Ok(()),
        }
    }

    /// Settles a ready or running task again and saves what changed.
    pub(super) async fn resettle(&self, mut task: TaskRow, read_chain: bool) -> Result<(), WorkerpoolError> {
        if !matches!(task.status, TaskStep::Ready | TaskStep::Running) {
            return Ok(());
        }
        let (previous, wanted) = (task.status, task.wanted);
        let why = self.settle(&mut task, read_chain).await?;
        let changed = task.status != previous || task.wanted != wanted;
        if changed && self.db.save_task(&task, Some(previous)).await? {
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
    pub(super) async fn replica_lost(&self, task_id: B256, worker: Address) -> Result<(), WorkerpoolError> {
        if !self.db.expire_replica(task_id, worker, now_ms()).await? {
            return Ok(());
        }
        self.redispatches.fetch_add(1, Ordering::Relaxed);
        let Some(mut task) = self.db.task(task_id).await? else {
            return Ok(());
        };
        let previous = task.status;
        let mut next = "the task no longer needed it";
        if matches!(previous, TaskStep::Ready | TaskStep::Running) {
            task.attempts = if self.among_strangers().await? {
                // As for failures: one attempt per distinct worker that went silent.
                task.attempts.max(self.db.workers_that_tried(task_id).await?)
            } else {
                task.attempts + 1
            };
            next = self.settle(&mut task, true).await?;
            self.db.save_task(&task, Some(previous)).await?;
        }
        self.db
            .log(task_id, "scheduler", &format!("worker {worker} went silent; {next}"))
            .await
    }

    /// Decides where a ready or running task stands from its live replicas and, for a
    /// standard task with `read_chain`, the chain's consensus; returns why, for the log.
    pub(super) async fn settle(&self, task: &mut TaskRow, read_chain: bool) -> Result<&'static str, WorkerpoolError> {
        if task.framework == TaskFramework::Standard && read_chain {
            let on_chain = self.poco.task(task.task_id).await?;
            match on_chain.status {
                TaskStatus::Revealing | TaskStatus::Completed => {
                    task.status = TaskStep::Revealed;
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
        let out_of_attempts = task.attempts >= self.config.max_attempts;
        let (step, why) = step_from_replicas(live, task.wanted, out_of_attempts);
        task.status = step;
        Ok(why)
    }

    /// Initializes the task on chain and, for a TEE task, obtains its enclave challenge.
    pub(super) async fn prepare(&self, mut task: TaskRow) -> Result<(), WorkerpoolError> {
        if !task.framework.runs_here() {
            task.status = TaskStep::Failed;
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
        task.final_deadline = on_chain.final_deadline.saturating_to::<u64>();
        if task.framework != TaskFramework::Standard && task.challenge.is_zero() {
            task.challenge = match self.enclave_challenge(task.task_id).await {
                Ok(challenge) => challenge,
                Err(e) => {
                    // Asked again with growing pauses (2 s, 4 s, … 64 s) while the SMS is away.
                    task.attempts += 1;
                    task.not_before_ms = now_ms() + 1_000 * (2 << task.attempts.min(5));
                    self.db.save_task(&task, Some(TaskStep::Pending)).await?;
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
        task.status = TaskStep::Ready;
        task.attempts = 0;
        self.db.save_task(&task, Some(TaskStep::Pending)).await?;
        Ok(())
    }

    /// A standard task past consensus: finalized once every winner revealed, or once the
    /// reveal deadline passed with at least one reveal (PoCo's rules), with the result link
    /// of a worker that revealed; reopened when nobody revealed in time.
    pub(super) async fn finalize(&self, mut task: TaskRow) -> Result<(), WorkerpoolError> {
        let on_chain = self.poco.task(task.task_id).await?;
        let past_reveal_deadline = || async {
            Ok::<_, WorkerpoolError>(
                self.poco.connection.block_timestamp().await? >= on_chain.reveal_deadline.saturating_to::<u64>(),
            )
        };
        match on_chain.status {
            TaskStatus::Completed => {
                task.status = TaskStep::Completed;
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
                        .find(|r| r.status == ReplicaStatus::Done && !r.results.is_empty())
                    {
                        Some(replica) => task.results = replica.results,
                        None => return Ok(()),
                    }
                }
                self.poco
                    .finalize(task.task_id, task.results.clone().into_bytes().into())
                    .await?;
                task.status = TaskStep::Completed;
                self.db.save_task(&task, None).await?;
                self.db.log(task.task_id, "scheduler", "finalized on chain").await?;
            }
            TaskStatus::Revealing if past_reveal_deadline().await? => {
                self.poco.reopen(task.task_id).await?;
                task.status = TaskStep::Ready;
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
    pub(super) async fn enclave_challenge(&self, task_id: B256) -> Result<Address, WorkerpoolError> {
        let sms = self
            .config
            .sms_url
            .as_deref()
            .ok_or_else(|| WorkerpoolError::Sms("no SMS configured (--sms) for a TEE task".into()))?;
        let signature = sign_personal(&self.owner, confide_protocol::tee::challenge_request_hash(task_id))
            .map_err(|e| WorkerpoolError::Sms(e.to_string()))?;
        SmsClient::new(sms, self.http.clone())
            .enclave_challenge(task_id, &signature)
            .await
            .map_err(|e| match e {
                SmsClientError::Refused(refusal) => WorkerpoolError::Sms(refusal.to_string()),
                other => WorkerpoolError::Sms(other.to_string()),
            })
    }

    /// Claims a task past its final deadline (initializing it first if it never started).
    pub(super) async fn claim(&self, mut task: TaskRow) -> Result<(), WorkerpoolError> {
        let on_chain = self.poco.task(task.task_id).await?;
        match on_chain.status {
            TaskStatus::Completed => {
                task.status = TaskStep::Completed;
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
        task.status = TaskStep::Claimed;
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
}

/// Where a ready or running task goes from its live replicas (running or done), how many
/// it wants, and whether it has failed as often as it may; and why, for its log.
fn step_from_replicas(live: u64, wanted: u64, out_of_attempts: bool) -> (TaskStep, &'static str) {
    match (out_of_attempts, live) {
        (true, 0) => (
            TaskStep::Failed,
            "out of attempts: left to be claimed at the final deadline",
        ),
        (true, _) => (
            TaskStep::Running,
            "out of attempts: waiting for the replicas still running",
        ),
        (false, live) if live >= wanted => (TaskStep::Running, "running on as many workers as it wants"),
        (false, _) => (TaskStep::Ready, "back in the queue for another worker"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_waits_for_as_many_workers_as_it_wants_until_it_runs_out_of_attempts() {
        // (live replicas, wanted, out of attempts) → step
        let table = [
            ((0, 1, false), TaskStep::Ready),
            ((1, 1, false), TaskStep::Running),
            ((1, 2, false), TaskStep::Ready),
            ((2, 2, false), TaskStep::Running),
            ((3, 2, false), TaskStep::Running),
            ((0, 1, true), TaskStep::Failed),
            ((0, 3, true), TaskStep::Failed),
            ((1, 3, true), TaskStep::Running),
        ];
        for ((live, wanted, out), expected) in table {
            assert_eq!(
                step_from_replicas(live, wanted, out).0,
                expected,
                "{live} live of {wanted} wanted, out of attempts: {out}"
            );
        }
    }
}
