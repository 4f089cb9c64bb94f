//! Following the chain: deals of the pool's workerpools become tasks; finalizations and
//! claims are recorded; what a reorg removed is undone from the chain as it is now.

use super::*;

impl Scheduler {
    /// A cursor from the saved position (a few blocks back, for reorgs), or from where the
    /// configuration says to start.
    pub(super) async fn start_cursor(&self) -> confide_chain::EventCursor {
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
    pub(super) async fn follow_once(&self, cursor: &mut confide_chain::EventCursor) {
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

    pub(super) async fn apply(&self, event: &PocoEvent) -> Result<(), WorkerpoolError> {
        match event {
            PocoEvent::SchedulerNotice { workerpool, deal_id } if self.config.workerpools.contains(workerpool) => {
                self.add_deal(*deal_id).await
            }
            PocoEvent::TaskFinalize { task_id, .. } => {
                self.chain_outcome(*task_id, TaskStep::Completed, "finalized on chain")
                    .await
            }
            PocoEvent::TaskClaimed { task_id } => {
                self.chain_outcome(
                    *task_id,
                    TaskStep::Claimed,
                    "claimed on chain: the requester is refunded",
                )
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
    pub(super) async fn undo(&self, event: &PocoEvent) -> Result<(), WorkerpoolError> {
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
    pub(super) async fn deal_gone(&self, deal_id: B256) -> Result<(), WorkerpoolError> {
        for task_id in self.db.orphan_deal(deal_id).await? {
            let why = format!("a reorg took deal {deal_id} off the chain: set aside unless it comes back");
            self.db.log(task_id, "chain", &why).await?;
        }
        Ok(())
    }

    /// Brings a task's status in line with the chain after a reorg replaced a block with
    /// one of its events: an outcome the chain no longer has is forgotten (and the work
    /// of its replicas with it), an initialization the chain lost is done again.
    pub(super) async fn follow_chain(&self, task_id: B256) -> Result<(), WorkerpoolError> {
        let Some(mut task) = self.db.task(task_id).await? else {
            return Ok(());
        };
        let on_chain = self.poco.task(task_id).await?.status;
        let Some(status) = step_after_reorg(on_chain, task.status) else {
            return Ok(());
        };
        if matches!(status, TaskStep::Pending | TaskStep::Ready) {
            self.db.forget_replicas(task_id).await?;
            task.attempts = 0;
        }
        task.status = status;
        self.db.save_task(&task, None).await?;
        let why = format!("a reorg replaced blocks with its events: {status}, as the chain now says");
        self.db.log(task_id, "chain", &why).await
    }

    pub(super) async fn chain_outcome(
        &self,
        task_id: B256,
        status: TaskStep,
        message: &str,
    ) -> Result<(), WorkerpoolError> {
        let Some(mut task) = self.db.task(task_id).await? else {
            return Ok(());
        };
        if task.status != status {
            task.status = status;
            self.db.save_task(&task, None).await?;
            self.db.log(task_id, "chain", message).await?;
        }
        Ok(())
    }

    /// Records a deal of ours, whose tasks are then recorded a page at a time as they run
    /// ([`Scheduler::page_deals`]): however many tasks a requester asks for, the
    /// scheduler holds a page of each deal, initializes tasks on chain only as it
    /// dispatches them, and a small deal arriving after a huge one runs within a page.
    pub(super) async fn add_deal(&self, deal_id: B256) -> Result<(), WorkerpoolError> {
        let deal = self.poco.deal(deal_id).await?;
        // Numbers a requester chose: out of range, the deal is not scheduled (its
        // requester claims it back at the deadline), and nothing panics.
        let numbers = (
            u64::try_from(deal.bot_first),
            u64::try_from(deal.bot_size),
            u64::try_from(deal.trust),
            usize::try_from(deal.category),
            u64::try_from(deal.start_time),
        );
        let (Ok(bot_first), Ok(bot_size), Ok(trust), Ok(category), Ok(start)) = numbers else {
            tracing::warn!(%deal_id, "a deal's numbers are out of range: not scheduled");
            return Ok(());
        };
        let categories = self.poco.categories().await?;
        let timeref = categories
            .get(category)
            .map(|(_, t)| u64::try_from(*t).unwrap_or(u64::MAX))
            .unwrap_or(0);
        let final_deadline = start.saturating_add(FINAL_DEADLINE_RATIO.saturating_mul(timeref));
        let framework = TaskFramework::of(deal.tag());
        // contributeAndFinalize, the TEE path, is for trust 1 only; a TEE task asking for
        // several enclaves' agreement is not run here (and is claimed at its deadline).
        let tee_with_consensus = framework != TaskFramework::Standard && trust > 1;
        let wanted = if framework == TaskFramework::Standard {
            replicas_for(trust)
        } else {
            1
        };
        let initial = if tee_with_consensus {
            TaskStep::Failed
        } else {
            TaskStep::Pending
        };
        // Its transaction mined again in a new block after a reorg: the deal starts anew.
        for task_id in self.db.revive_deal(deal_id, initial, final_deadline).await? {
            let why = format!("deal {deal_id} is on the chain again: scheduled from the start");
            self.db.log(task_id, "chain", &why).await?;
        }
        let page = DealPage {
            deal_id,
            workerpool: deal.workerpool,
            framework,
            bot_first,
            bot_size,
            next_offset: 0,
            wanted,
            initial_status: initial,
            final_deadline,
            readers: vec![deal.requester, deal.beneficiary, deal.app_owner, deal.workerpool_owner],
        };
        self.db.put_deal_page(&page).await?;
        tracing::info!(%deal_id, tasks = bot_size, "deal scheduled");
        self.page_deals().await
    }

    /// Records the next tasks of every deal that has fewer than a page of them left to
    /// run ([`DEAL_PAGE`]; past the deal's final deadline, a larger page, to be claimed).
    pub(super) async fn page_deals(&self) -> Result<(), WorkerpoolError> {
        let now = now_ms() / 1000;
        for (deal, open) in self.db.deals_to_page().await? {
            let page = if deal.final_deadline > 0 && now >= deal.final_deadline {
                CLAIM_PAGE
            } else {
                DEAL_PAGE
            };
            if open >= page {
                continue;
            }
            let (from, to) = (
                deal.next_offset,
                deal.next_offset.saturating_add(page - open).min(deal.bot_size),
            );
            // Rows first, cursor after: a pass that stops half-way records the same
            // tasks again next time (ignored), never skips any.
            for offset in from..to {
                self.record_task(&deal, offset).await?;
            }
            self.db.advance_deal_page(deal.deal_id, from, to).await?;
        }
        Ok(())
    }

    async fn record_task(&self, deal: &DealPage, offset: u64) -> Result<(), WorkerpoolError> {
        let index = deal.bot_first.saturating_add(offset);
        let task_id = confide_protocol::task_id(deal.deal_id, U256::from(index));
        let row = TaskRow {
            task_id,
            deal_id: deal.deal_id,
            index,
            workerpool: deal.workerpool,
            framework: deal.framework,
            status: deal.initial_status,
            challenge: Address::ZERO,
            worker: Address::ZERO,
            wanted: deal.wanted,
            attempts: 0,
            final_deadline: deal.final_deadline,
            not_before_ms: 0,
            results: String::new(),
            readers: deal.readers.clone(),
        };
        if !self.db.add_task(&row).await? {
            return Ok(());
        }
        let seen = match deal.wanted {
            1 => format!("seen in deal {} ({})", deal.deal_id, deal.framework),
            n => format!(
                "seen in deal {} ({}, {n} agreeing workers wanted)",
                deal.deal_id, deal.framework
            ),
        };
        self.db.log(task_id, "scheduler", &seen).await?;
        if deal.initial_status == TaskStep::Failed {
            let why = "TEE tasks run with trust 1 only (this deal asks for more): left to be claimed";
            self.db.log(task_id, "scheduler", why).await?;
        }
        Ok(())
    }
}

/// Where a task stands after a reorg replaced a block with one of its events, from the
/// chain's status now and its step here; `None` when the two agree.
pub(super) fn step_after_reorg(on_chain: TaskStatus, local: TaskStep) -> Option<TaskStep> {
    use TaskStep::*;
    match on_chain {
        TaskStatus::Unset if !matches!(local, Pending | Orphaned) => Some(Pending),
        TaskStatus::Active if matches!(local, Completed | Claimed | Revealed) => Some(Ready),
        TaskStatus::Revealing if matches!(local, Completed | Claimed) => Some(Revealed),
        TaskStatus::Completed if local != Completed => Some(Completed),
        TaskStatus::Failed if local != Claimed => Some(Claimed),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_a_reorg_a_task_goes_where_the_chain_now_says() {
        use TaskStep::*;
        // (chain now, step here, step after); `None`: they agree, nothing changes.
        let table = [
            (TaskStatus::Unset, Running, Some(Pending)),
            (TaskStatus::Unset, Completed, Some(Pending)),
            (TaskStatus::Unset, Pending, None),
            (TaskStatus::Unset, Orphaned, None),
            (TaskStatus::Active, Completed, Some(Ready)),
            (TaskStatus::Active, Claimed, Some(Ready)),
            (TaskStatus::Active, Revealed, Some(Ready)),
            (TaskStatus::Active, Running, None),
            (TaskStatus::Active, Failed, None),
            (TaskStatus::Revealing, Completed, Some(Revealed)),
            (TaskStatus::Revealing, Claimed, Some(Revealed)),
            (TaskStatus::Revealing, Running, None),
            (TaskStatus::Completed, Running, Some(Completed)),
            (TaskStatus::Completed, Revealed, Some(Completed)),
            (TaskStatus::Completed, Completed, None),
            (TaskStatus::Failed, Failed, Some(Claimed)),
            (TaskStatus::Failed, Running, Some(Claimed)),
            (TaskStatus::Failed, Claimed, None),
        ];
        for (on_chain, here, after) in table {
            assert_eq!(
                step_after_reorg(on_chain, here),
                after,
                "{on_chain:?} on chain, {here} here"
            );
        }
    }
}
