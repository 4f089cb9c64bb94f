//! Deals and their tasks: reading them, initializing, contributing, revealing, finalizing, reopening and claiming.

use super::*;

/// Where a task is in its life, as PoCo's `IexecLibCore_v5.TaskStatusEnum` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    /// Not initialized yet (PoCo answers this for any unknown task id too).
    Unset,
    /// Initialized: workers contribute until the contribution deadline.
    Active,
    /// Consensus reached: the winning workers reveal their digest until the reveal deadline.
    Revealing,
    /// Finalized: the result link is on chain and everyone was paid.
    Completed,
    /// Claimed after its final deadline: the requester was refunded.
    Failed,
}

impl TaskStatus {
    /// The status as PoCo names it (and as it serializes).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Unset => "UNSET",
            TaskStatus::Active => "ACTIVE",
            TaskStatus::Revealing => "REVEALING",
            TaskStatus::Completed => "COMPLETED",
            TaskStatus::Failed => "FAILED",
        }
    }

    fn from_code(code: u8) -> TaskStatus {
        match code {
            1 => TaskStatus::Active,
            2 => TaskStatus::Revealing,
            3 => TaskStatus::Completed,
            4 => TaskStatus::Failed,
            _ => TaskStatus::Unset,
        }
    }
}

/// A worker's contribution: status 0 unset, 1 contributed, 2 proved, 3 rejected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContributionInfo {
    /// 0 unset, 1 contributed, 2 proved (in the consensus, revealed), 3 rejected.
    pub status: u8,
    /// `keccak256(task_id ‖ result_digest)`: commits to the result without showing it.
    pub result_hash: B256,
    /// `keccak256(worker ‖ task_id ‖ result_digest)`: ties the commitment to this worker.
    pub result_seal: B256,
    /// The address of the enclave's signing key; zero for a contribution made outside a TEE.
    pub enclave_challenge: Address,
}

/// A deal as PoCo recorded it at the match (`IexecLibCore_v5.Deal`), with its id. Prices
/// are nRLC per task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DealInfo {
    /// The deal's id: `keccak256(request order hash ‖ its volume consumed before the match)`.
    pub deal_id: B256,
    /// The app the tasks run.
    pub app: Address,
    /// The app's owner at the match, paid `app_price` for each completed task.
    pub app_owner: Address,
    /// What the app's owner earns per completed task, in nRLC.
    pub app_price: U256,
    /// The dataset the app reads; zero when the deal has none.
    pub dataset: Address,
    /// The dataset's owner at the match, paid `dataset_price` for each completed task; zero
    /// without a dataset.
    pub dataset_owner: Address,
    /// What the dataset's owner earns per completed task, in nRLC.
    pub dataset_price: U256,
    /// The workerpool whose workers run the tasks.
    pub workerpool: Address,
    /// The workerpool's owner at the match: the scheduler that initializes and finalizes
    /// the tasks.
    pub workerpool_owner: Address,
    /// What the workerpool earns per completed task, in nRLC, shared between its workers and
    /// its scheduler.
    pub workerpool_price: U256,
    /// The consensus level, at least 1: with 1, the first contribution is the consensus.
    pub trust: U256,
    /// The category's index, which sets the tasks' `timeref` and so their deadlines.
    pub category: U256,
    /// The requirements the workers meet: the app's, dataset's and request's tags together
    /// (bit 0 = TEE); the `tag()` method reads it as a [`Tag`].
    pub tag: B256,
    /// The account that signed the request order.
    pub requester: Address,
    /// The account the results are for (whose key encrypts them, when they are encrypted).
    pub beneficiary: Address,
    /// The contract PoCo calls with each task's result at finalize; zero for none.
    pub callback: Address,
    /// The request's parameters: a JSON object (`iexec_args`, `iexec_input_files`,
    /// `iexec_secrets`...), or a bare string read as the arguments.
    pub params: String,
    /// The block timestamp of the match, in seconds since the epoch; the tasks' deadlines
    /// count from it.
    pub start_time: U256,
    /// The index of the deal's first task: the request order's volume consumed before the
    /// match.
    pub bot_first: U256,
    /// The number of tasks in the deal: the volume matched.
    pub bot_size: U256,
    /// The nRLC each worker locks to contribute to one task: the pool's stake ratio, a
    /// percentage, of the workerpool price.
    pub worker_stake: U256,
    /// The percentage of the workerpool price the scheduler keeps on each task.
    pub scheduler_reward_ratio: U256,
    /// The account that pays for the tasks: the requester, or whoever called
    /// `sponsorMatchOrders`.
    pub sponsor: Address,
}

impl DealInfo {
    /// The ids of the deal's tasks, in order.
    pub fn task_ids(&self) -> Vec<B256> {
        let first = self.bot_first;
        (0..self.bot_size.saturating_to::<u64>())
            .map(|i| confide_protocol::task_id(self.deal_id, first + U256::from(i)))
            .collect()
    }

    /// The deal's tag as a [`Tag`], to read its TEE and framework bits.
    pub fn tag(&self) -> Tag {
        Tag(self.tag)
    }
}

/// A task as PoCo records it (`IexecLibCore_v5.Task`), with its id. Deadlines and
/// timestamps are block timestamps, in seconds since the epoch; zero until set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskInfo {
    /// The task's id: `keccak256(deal_id ‖ index)`.
    pub task_id: B256,
    /// Where the task is in its life.
    pub status: TaskStatus,
    /// The deal the task belongs to.
    pub deal_id: B256,
    /// The task's index, from the deal's `bot_first` to `bot_first + bot_size - 1`.
    pub index: U256,
    /// The category's time reference, in seconds: the deadlines are multiples of it.
    pub timeref: U256,
    /// The last moment to contribute: the deal's start time plus 7 `timeref`.
    pub contribution_deadline: U256,
    /// The last moment to reveal: 2 `timeref` after the consensus was reached.
    pub reveal_deadline: U256,
    /// The deal's start time plus 10 `timeref`: past it, anyone may claim the task.
    pub final_deadline: U256,
    /// The result hash the consensus settled on; zero before the consensus.
    pub consensus_value: B256,
    /// How many workers of the consensus have revealed.
    pub reveal_counter: U256,
    /// How many workers contributed the consensus value, and so must reveal.
    pub winner_counter: U256,
    /// The workers that contributed, in order.
    pub contributors: Vec<Address>,
    /// The result's digest as revealed (a sha256 of the result, or `keccak256` of the
    /// callback data); zero until revealed.
    pub result_digest: B256,
    /// The result link written at finalize, JSON such as
    /// `{"storage":"ipfs","location":"/ipfs/<CID>"}`; empty until then.
    pub results: Bytes,
    /// The block timestamp of the finalize, in seconds since the epoch; zero until then.
    pub results_timestamp: U256,
    /// The data handed to the deal's callback at finalize; empty without a callback.
    pub results_callback: Bytes,
}

impl Poco {
    /// The deal of that id; [`ChainError::Rpc`] when the chain has none (see
    /// [`Poco::find_deal`]).
    pub async fn deal(&self, deal_id: B256) -> Result<DealInfo, ChainError> {
        self.find_deal(deal_id).await?.ok_or_else(|| ChainError::Rpc {
            action: "read deal".into(),
            reason: format!("no deal {deal_id}"),
        })
    }

    /// The deal, or `None` when the chain has none of that id.
    pub async fn find_deal(&self, deal_id: B256) -> Result<Option<DealInfo>, ChainError> {
        let deal = self
            .hub()
            .viewDeal(deal_id)
            .call()
            .await
            .map_err(|e| ChainError::from_call("read deal", e))?;
        if deal.app.pointer.is_zero() {
            return Ok(None);
        }
        Ok(Some(DealInfo {
            deal_id,
            app: deal.app.pointer,
            app_owner: deal.app.owner,
            app_price: deal.app.price,
            dataset: deal.dataset.pointer,
            dataset_owner: deal.dataset.owner,
            dataset_price: deal.dataset.price,
            workerpool: deal.workerpool.pointer,
            workerpool_owner: deal.workerpool.owner,
            workerpool_price: deal.workerpool.price,
            trust: deal.trust,
            category: deal.category,
            tag: deal.tag,
            requester: deal.requester,
            beneficiary: deal.beneficiary,
            callback: deal.callback,
            params: deal.params,
            start_time: deal.startTime,
            bot_first: deal.botFirst,
            bot_size: deal.botSize,
            worker_stake: deal.workerStake,
            scheduler_reward_ratio: deal.schedulerRewardRatio,
            sponsor: deal.sponsor,
        }))
    }

    /// The task of that id. PoCo has no "no such task": an id never initialized reads as
    /// [`TaskStatus::Unset`], its other fields zero.
    pub async fn task(&self, task_id: B256) -> Result<TaskInfo, ChainError> {
        let task = self
            .hub()
            .viewTask(task_id)
            .call()
            .await
            .map_err(|e| ChainError::from_call("read task", e))?;
        Ok(TaskInfo {
            task_id,
            status: TaskStatus::from_code(task.status),
            deal_id: task.dealid,
            index: task.idx,
            timeref: task.timeref,
            contribution_deadline: task.contributionDeadline,
            reveal_deadline: task.revealDeadline,
            final_deadline: task.finalDeadline,
            consensus_value: task.consensusValue,
            reveal_counter: task.revealCounter,
            winner_counter: task.winnerCounter,
            contributors: task.contributors,
            result_digest: task.resultDigest,
            results: task.results,
            results_timestamp: task.resultsTimestamp,
            results_callback: task.resultsCallback,
        })
    }

    /// Initializes task `index` of a deal; returns its task id.
    pub async fn initialize_task(&self, deal_id: B256, index: U256) -> Result<B256, ChainError> {
        self.connection
            .send("initialize the task", self.hub().initialize(deal_id, index))
            .await?;
        Ok(confide_protocol::task_id(deal_id, index))
    }

    /// Claims a task past its final deadline, refunding the requester.
    pub async fn claim_task(&self, task_id: B256) -> Result<B256, ChainError> {
        let receipt = self
            .connection
            .send("claim the task", self.hub().claim(task_id))
            .await?;
        Ok(receipt.transaction_hash)
    }

    /// Claims every task of a deal that has not completed, initializing those never
    /// started (PoCo's `initializeAndClaimArray` and `claimArray`); returns the claimed ids.
    pub async fn claim_deal(&self, deal: &DealInfo) -> Result<Vec<B256>, ChainError> {
        let mut unset = (Vec::new(), Vec::new());
        let mut active = Vec::new();
        for (offset, task_id) in deal.task_ids().into_iter().enumerate() {
            match self.task(task_id).await?.status {
                TaskStatus::Unset => {
                    unset.0.push(deal.deal_id);
                    unset.1.push(deal.bot_first + U256::from(offset));
                }
                TaskStatus::Active | TaskStatus::Revealing => active.push(task_id),
                TaskStatus::Completed | TaskStatus::Failed => {}
            }
        }
        let mut claimed: Vec<B256> = unset
            .0
            .iter()
            .zip(&unset.1)
            .map(|(deal_id, index)| confide_protocol::task_id(*deal_id, *index))
            .collect();
        if !unset.0.is_empty() {
            let hub = self.hub();
            let call = hub.initializeAndClaimArray(unset.0, unset.1);
            self.connection.send("claim the deal's tasks", call).await?;
        }
        if !active.is_empty() {
            let hub = self.hub();
            let call = hub.claimArray(active.clone());
            self.connection.send("claim the deal's tasks", call).await?;
        }
        claimed.extend(active);
        Ok(claimed)
    }

    /// A worker's contribution to a task.
    pub async fn contribution(&self, task_id: B256, worker: Address) -> Result<ContributionInfo, ChainError> {
        let c = self
            .hub()
            .viewContribution(task_id, worker)
            .call()
            .await
            .map_err(|e| ChainError::from_call("read contribution", e))?;
        Ok(ContributionInfo {
            status: c.status,
            result_hash: c.resultHash,
            result_seal: c.resultSeal,
            enclave_challenge: c.enclaveChallenge,
        })
    }

    /// The trust-1 fast path (TEE tasks): contribute and finalize at once, writing the
    /// result link on chain.
    #[allow(clippy::too_many_arguments)]
    pub async fn contribute_and_finalize(
        &self,
        task_id: B256,
        result_digest: B256,
        results: Bytes,
        enclave_challenge: Address,
        enclave_signature: Bytes,
        authorization: Bytes,
    ) -> Result<B256, ChainError> {
        let hub = self.hub();
        let call = hub.contributeAndFinalize(
            task_id,
            result_digest,
            results,
            Bytes::new(),
            enclave_challenge,
            enclave_signature,
            authorization,
        );
        let receipt = self.connection.send("contribute and finalize", call).await?;
        Ok(receipt.transaction_hash)
    }

    /// A contribution (hash and seal only: the digest stays secret until `reveal`).
    pub async fn contribute(
        &self,
        task_id: B256,
        result_hash: B256,
        result_seal: B256,
        enclave_challenge: Address,
        enclave_signature: Bytes,
        authorization: Bytes,
    ) -> Result<B256, ChainError> {
        let hub = self.hub();
        let call = hub.contribute(
            task_id,
            result_hash,
            result_seal,
            enclave_challenge,
            enclave_signature,
            authorization,
        );
        Ok(self.connection.send("contribute", call).await?.transaction_hash)
    }

    /// Reveals the digest behind the worker's contribution (before the reveal deadline);
    /// PoCo checks it against the result hash and seal.
    pub async fn reveal(&self, task_id: B256, result_digest: B256) -> Result<B256, ChainError> {
        let hub = self.hub();
        let call = hub.reveal(task_id, result_digest);
        Ok(self.connection.send("reveal", call).await?.transaction_hash)
    }

    /// Finalizes a revealed task (the workerpool owner), writing the result link.
    pub async fn finalize(&self, task_id: B256, results: Bytes) -> Result<B256, ChainError> {
        let hub = self.hub();
        let call = hub.finalize(task_id, results, Bytes::new());
        Ok(self.connection.send("finalize", call).await?.transaction_hash)
    }

    /// Reopens a task whose reveal deadline passed without reveals (the workerpool owner).
    pub async fn reopen(&self, task_id: B256) -> Result<B256, ChainError> {
        let hub = self.hub();
        let call = hub.reopen(task_id);
        Ok(self.connection.send("reopen", call).await?.transaction_hash)
    }
}
