//! A typed client of one PoCo deployment.

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::DynProvider;
use serde::Serialize;

use confide_protocol::order::{AppOrder, DatasetOrder, Order, RequestOrder, WorkerpoolOrder};
use confide_protocol::{Domain, Tag};

use crate::bindings::{self, IexecHub, Registry, Rlc};
use crate::{ChainError, Connection, Deployment, EventCursor, PocoEvent};

/// The three kinds of registered assets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AssetKind {
    App,
    Dataset,
    Workerpool,
}

impl AssetKind {
    pub fn name(self) -> &'static str {
        match self {
            AssetKind::App => "app",
            AssetKind::Dataset => "dataset",
            AssetKind::Workerpool => "workerpool",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AppInfo {
    pub address: Address,
    pub owner: Address,
    pub name: String,
    #[serde(rename = "type")]
    pub app_type: String,
    pub multiaddr: Bytes,
    pub checksum: B256,
    pub mrenclave: Bytes,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DatasetInfo {
    pub address: Address,
    pub owner: Address,
    pub name: String,
    pub multiaddr: Bytes,
    pub checksum: B256,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WorkerpoolInfo {
    pub address: Address,
    pub owner: Address,
    pub description: String,
    pub worker_stake_ratio: U256,
    pub scheduler_reward_ratio: U256,
}

/// An account in PoCo's escrow: spendable balance and the part locked in deals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct EscrowAccount {
    pub stake: U256,
    pub locked: U256,
}

/// What `matchOrders` produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchedDeal {
    pub deal_id: B256,
    pub volume: U256,
    pub transaction: B256,
    pub block_number: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    Unset,
    Active,
    Revealing,
    Completed,
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
    pub status: u8,
    pub result_hash: B256,
    pub result_seal: B256,
    pub enclave_challenge: Address,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DealInfo {
    pub deal_id: B256,
    pub app: Address,
    pub app_owner: Address,
    pub app_price: U256,
    pub dataset: Address,
    pub dataset_owner: Address,
    pub dataset_price: U256,
    pub workerpool: Address,
    pub workerpool_owner: Address,
    pub workerpool_price: U256,
    pub trust: U256,
    pub category: U256,
    pub tag: B256,
    pub requester: Address,
    pub beneficiary: Address,
    pub callback: Address,
    pub params: String,
    pub start_time: U256,
    pub bot_first: U256,
    pub bot_size: U256,
    pub worker_stake: U256,
    pub scheduler_reward_ratio: U256,
    pub sponsor: Address,
}

impl DealInfo {
    /// The ids of the deal's tasks, in order.
    pub fn task_ids(&self) -> Vec<B256> {
        let first = self.bot_first;
        (0..self.bot_size.to::<u64>())
            .map(|i| confide_protocol::task_id(self.deal_id, first + U256::from(i)))
            .collect()
    }

    pub fn tag(&self) -> Tag {
        Tag(self.tag)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskInfo {
    pub task_id: B256,
    pub status: TaskStatus,
    pub deal_id: B256,
    pub index: U256,
    pub timeref: U256,
    pub contribution_deadline: U256,
    pub reveal_deadline: U256,
    pub final_deadline: U256,
    pub consensus_value: B256,
    pub reveal_counter: U256,
    pub winner_counter: U256,
    pub contributors: Vec<Address>,
    pub result_digest: B256,
    pub results: Bytes,
    pub results_timestamp: U256,
    pub results_callback: Bytes,
}

/// A client of one PoCo deployment, signing with the connection's wallet when it has one.
#[derive(Clone)]
pub struct Poco {
    pub connection: Connection,
    pub deployment: Deployment,
}

impl Poco {
    /// Connects to the deployment at `hub`, checking contracts are there and configured.
    pub async fn new(connection: Connection, hub: Address) -> Result<Poco, ChainError> {
        let deployment = Deployment::read(&connection, hub).await?;
        Ok(Poco { connection, deployment })
    }

    pub fn domain(&self) -> Domain {
        Domain::new(self.connection.chain_id, self.deployment.hub)
    }

    fn provider(&self) -> &DynProvider {
        &self.connection.provider
    }

    fn hub(&self) -> IexecHub::IexecHubInstance<&DynProvider> {
        IexecHub::new(self.deployment.hub, self.provider())
    }

    fn rlc(&self) -> Rlc::RlcInstance<&DynProvider> {
        Rlc::new(self.deployment.token, self.provider())
    }

    fn registry(&self, kind: AssetKind) -> Registry::RegistryInstance<&DynProvider> {
        let address = match kind {
            AssetKind::App => self.deployment.app_registry,
            AssetKind::Dataset => self.deployment.dataset_registry,
            AssetKind::Workerpool => self.deployment.workerpool_registry,
        };
        Registry::new(address, self.provider())
    }

    fn sender(&self, action: &str) -> Result<Address, ChainError> {
        self.connection.require_sender(action)
    }

    // ---- assets ----

    /// Registers an app owned by the sender; fails if the same app is already registered.
    pub async fn create_app(
        &self,
        name: &str,
        app_type: &str,
        multiaddr: &[u8],
        checksum: B256,
        mrenclave: &[u8],
    ) -> Result<Address, ChainError> {
        let owner = self.sender("deploy an app")?;
        let registry = self.registry(AssetKind::App);
        let (multiaddr, mrenclave) = (Bytes::copy_from_slice(multiaddr), Bytes::copy_from_slice(mrenclave));
        let predicted = registry
            .predictApp(
                owner,
                name.into(),
                app_type.into(),
                multiaddr.clone(),
                checksum,
                mrenclave.clone(),
            )
            .call()
            .await
            .map_err(|e| ChainError::from_call("predict the app address", e))?;
        let create = registry.createApp(owner, name.into(), app_type.into(), multiaddr, checksum, mrenclave);
        self.create_asset(AssetKind::App, predicted, create).await
    }

    /// Registers a dataset owned by the sender.
    pub async fn create_dataset(&self, name: &str, multiaddr: &[u8], checksum: B256) -> Result<Address, ChainError> {
        let owner = self.sender("deploy a dataset")?;
        let registry = self.registry(AssetKind::Dataset);
        let multiaddr = Bytes::copy_from_slice(multiaddr);
        let predicted = registry
            .predictDataset(owner, name.into(), multiaddr.clone(), checksum)
            .call()
            .await
            .map_err(|e| ChainError::from_call("predict the dataset address", e))?;
        let create = registry.createDataset(owner, name.into(), multiaddr, checksum);
        self.create_asset(AssetKind::Dataset, predicted, create).await
    }

    /// The address `create_workerpool` gives a pool of `owner` with this description.
    pub async fn predict_workerpool(&self, owner: Address, description: &str) -> Result<Address, ChainError> {
        self.registry(AssetKind::Workerpool)
            .predictWorkerpool(owner, description.into())
            .call()
            .await
            .map_err(|e| ChainError::from_call("predict the workerpool address", e))
    }

    /// Registers a workerpool owned by the sender.
    pub async fn create_workerpool(&self, description: &str) -> Result<Address, ChainError> {
        let owner = self.sender("deploy a workerpool")?;
        let registry = self.registry(AssetKind::Workerpool);
        let predicted = registry
            .predictWorkerpool(owner, description.into())
            .call()
            .await
            .map_err(|e| ChainError::from_call("predict the workerpool address", e))?;
        let create = registry.createWorkerpool(owner, description.into());
        self.create_asset(AssetKind::Workerpool, predicted, create).await
    }

    async fn create_asset<P: alloy::providers::Provider, D: alloy::contract::CallDecoder>(
        &self,
        kind: AssetKind,
        predicted: Address,
        create: alloy::contract::CallBuilder<P, D>,
    ) -> Result<Address, ChainError> {
        let action = format!("deploy the {}", kind.name());
        if self.connection.has_code(predicted).await? {
            return Err(ChainError::Reverted {
                action,
                reason: "already registered".into(),
                explanation: format!(
                    "an identical {} is already registered at {predicted}: change its name or content",
                    kind.name()
                ),
            });
        }
        self.connection.send(&action, create).await?;
        Ok(predicted)
    }

    pub async fn is_registered(&self, kind: AssetKind, asset: Address) -> Result<bool, ChainError> {
        self.registry(kind)
            .isRegistered(asset)
            .call()
            .await
            .map_err(|e| ChainError::from_call("check registration", e))
    }

    async fn ensure_registered(&self, kind: AssetKind, asset: Address) -> Result<(), ChainError> {
        if !self.is_registered(kind, asset).await? {
            return Err(ChainError::UnknownAsset {
                what: kind.name(),
                address: asset,
            });
        }
        Ok(())
    }

    pub async fn app(&self, address: Address) -> Result<AppInfo, ChainError> {
        self.ensure_registered(AssetKind::App, address).await?;
        let app = self
            .hub()
            .viewApp(address)
            .call()
            .await
            .map_err(|e| ChainError::from_call("read app", e))?;
        Ok(AppInfo {
            address,
            owner: app.owner,
            name: app.m_appName,
            app_type: app.m_appType,
            multiaddr: app.m_appMultiaddr,
            checksum: app.m_appChecksum,
            mrenclave: app.m_appMREnclave,
        })
    }

    pub async fn dataset(&self, address: Address) -> Result<DatasetInfo, ChainError> {
        self.ensure_registered(AssetKind::Dataset, address).await?;
        let dataset = self
            .hub()
            .viewDataset(address)
            .call()
            .await
            .map_err(|e| ChainError::from_call("read dataset", e))?;
        Ok(DatasetInfo {
            address,
            owner: dataset.owner,
            name: dataset.m_datasetName,
            multiaddr: dataset.m_datasetMultiaddr,
            checksum: dataset.m_datasetChecksum,
        })
    }

    pub async fn workerpool(&self, address: Address) -> Result<WorkerpoolInfo, ChainError> {
        self.ensure_registered(AssetKind::Workerpool, address).await?;
        let pool = self
            .hub()
            .viewWorkerpool(address)
            .call()
            .await
            .map_err(|e| ChainError::from_call("read workerpool", e))?;
        Ok(WorkerpoolInfo {
            address,
            owner: pool.owner,
            description: pool.m_workerpoolDescription,
            worker_stake_ratio: pool.m_workerStakeRatioPolicy,
            scheduler_reward_ratio: pool.m_schedulerRewardRatioPolicy,
        })
    }

    /// The owner of an Ownable contract (an app, dataset or workerpool); `None` when the
    /// address holds no contract or the contract has no `owner()`.
    pub async fn contract_owner(&self, address: Address) -> Result<Option<Address>, ChainError> {
        if !self.connection.has_code(address).await? {
            return Ok(None);
        }
        match bindings::IOwnable::new(address, self.provider()).owner().call().await {
            Ok(owner) => Ok(Some(owner)),
            Err(error) if error.as_revert_data().is_some() => Ok(None),
            Err(alloy::contract::Error::AbiError(_)) | Err(alloy::contract::Error::ZeroData(..)) => Ok(None),
            Err(error) => Err(ChainError::from_call("read the owner", error)),
        }
    }

    /// How many assets of `kind` `owner` holds.
    pub async fn count_assets(&self, kind: AssetKind, owner: Address) -> Result<U256, ChainError> {
        self.registry(kind)
            .balanceOf(owner)
            .call()
            .await
            .map_err(|e| ChainError::from_call("count assets", e))
    }

    /// The `index`-th asset of `kind` held by `owner`.
    pub async fn asset_of_owner(&self, kind: AssetKind, owner: Address, index: U256) -> Result<Address, ChainError> {
        let token = self
            .registry(kind)
            .tokenOfOwnerByIndex(owner, index)
            .call()
            .await
            .map_err(|e| ChainError::from_call("read asset by index", e))?;
        Ok(Address::from_word(token.into()))
    }

    /// Hands an asset to another owner (an ERC-721 transfer in its registry).
    pub async fn transfer_asset(&self, kind: AssetKind, asset: Address, to: Address) -> Result<B256, ChainError> {
        let from = self.sender("transfer an asset")?;
        self.ensure_registered(kind, asset).await?;
        let token = U256::from_be_slice(asset.into_word().as_slice());
        let receipt = self
            .connection
            .send(
                &format!("transfer the {}", kind.name()),
                self.registry(kind).transferFrom(from, to, token),
            )
            .await?;
        Ok(receipt.transaction_hash)
    }

    // ---- money ----

    pub async fn rlc_balance(&self, owner: Address) -> Result<U256, ChainError> {
        self.rlc()
            .balanceOf(owner)
            .call()
            .await
            .map_err(|e| ChainError::from_call("read RLC balance", e))
    }

    pub async fn account(&self, owner: Address) -> Result<EscrowAccount, ChainError> {
        let account = self
            .hub()
            .viewAccount(owner)
            .call()
            .await
            .map_err(|e| ChainError::from_call("read account", e))?;
        Ok(EscrowAccount {
            stake: account.stake,
            locked: account.locked,
        })
    }

    pub async fn transfer_rlc(&self, to: Address, amount: U256) -> Result<B256, ChainError> {
        let receipt = self
            .connection
            .send("send RLC", self.rlc().transfer(to, amount))
            .await?;
        Ok(receipt.transaction_hash)
    }

    /// Moves `amount` nRLC from the wallet into the PoCo escrow (approve, then deposit).
    pub async fn deposit(&self, amount: U256) -> Result<B256, ChainError> {
        let owner = self.sender("deposit")?;
        let balance = self.rlc_balance(owner).await?;
        if balance < amount {
            return Err(ChainError::InsufficientFunds {
                action: "deposit".into(),
                reason: format!("the wallet holds {balance} nRLC, {amount} nRLC asked"),
            });
        }
        self.connection
            .send("approve the deposit", self.rlc().approve(self.deployment.hub, amount))
            .await?;
        let receipt = self.connection.send("deposit", self.hub().deposit(amount)).await?;
        Ok(receipt.transaction_hash)
    }

    /// Moves `amount` nRLC from the escrow back to the wallet.
    pub async fn withdraw(&self, amount: U256) -> Result<B256, ChainError> {
        let owner = self.sender("withdraw")?;
        let account = self.account(owner).await?;
        if account.stake < amount {
            return Err(ChainError::InsufficientFunds {
                action: "withdraw".into(),
                reason: format!("the account holds {} nRLC unlocked, {amount} nRLC asked", account.stake),
            });
        }
        let receipt = self.connection.send("withdraw", self.hub().withdraw(amount)).await?;
        Ok(receipt.transaction_hash)
    }

    // ---- orders and deals ----

    /// How much of an order (by hash) has been consumed or closed.
    pub async fn consumed(&self, order_hash: B256) -> Result<U256, ChainError> {
        self.hub()
            .viewConsumed(order_hash)
            .call()
            .await
            .map_err(|e| ChainError::from_call("read consumed volume", e))
    }

    /// Checks with PoCo itself whether `signature` by `signer` over `hash` is valid.
    pub async fn verify_signature(&self, signer: Address, hash: B256, signature: &Bytes) -> Result<bool, ChainError> {
        self.hub()
            .verifySignature(signer, hash, signature.clone())
            .call()
            .await
            .map_err(|e| ChainError::from_call("verify a signature", e))
    }

    /// Runs `matchOrders` without sending it: the deal id it would create, or PoCo's reason
    /// for refusing, in plain words.
    pub async fn simulate_match(
        &self,
        app: &AppOrder,
        dataset: Option<&DatasetOrder>,
        workerpool: &WorkerpoolOrder,
        request: &RequestOrder,
    ) -> Result<B256, ChainError> {
        let dataset = dataset.cloned().unwrap_or_default();
        self.hub()
            .matchOrders(app.into(), (&dataset).into(), workerpool.into(), request.into())
            .call()
            .await
            .map_err(|e| ChainError::from_call("matching orders", e))
    }

    /// Matches the four orders on chain (the sender pays as the requester's sponsor only
    /// when it is the requester); returns the deal.
    pub async fn match_orders(
        &self,
        app: &AppOrder,
        dataset: Option<&DatasetOrder>,
        workerpool: &WorkerpoolOrder,
        request: &RequestOrder,
    ) -> Result<MatchedDeal, ChainError> {
        let dataset = dataset.cloned().unwrap_or_default();
        let hub = self.hub();
        let call = hub.matchOrders(app.into(), (&dataset).into(), workerpool.into(), request.into());
        let receipt = self.connection.send("matching orders", call).await?;
        let matched = receipt
            .inner
            .logs()
            .iter()
            .find_map(|log| log.log_decode::<IexecHub::OrdersMatched>().ok())
            .ok_or_else(|| ChainError::Rpc {
                action: "matching orders".into(),
                reason: "the transaction emitted no OrdersMatched event".into(),
            })?;
        Ok(MatchedDeal {
            deal_id: matched.inner.data.dealid,
            volume: matched.inner.data.volume,
            transaction: receipt.transaction_hash,
            block_number: receipt.block_number.unwrap_or_default(),
        })
    }

    /// Closes an order on chain (`manage*Order` with CLOSE): its remaining volume drops to
    /// zero. The sender must own the order.
    pub async fn cancel_order<O: Order + CancelOrder>(&self, order: &O) -> Result<B256, ChainError> {
        self.sender("cancel an order")?;
        let receipt = order.send_close(self).await?;
        Ok(receipt)
    }

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

    /// The number of categories and each category's name and time reference.
    pub async fn categories(&self) -> Result<Vec<(String, U256)>, ChainError> {
        let count = self
            .hub()
            .countCategory()
            .call()
            .await
            .map_err(|e| ChainError::from_call("count categories", e))?;
        let mut categories = Vec::new();
        for index in 0..count.to::<u64>() {
            let category = self
                .hub()
                .viewCategory(U256::from(index))
                .call()
                .await
                .map_err(|e| ChainError::from_call("read category", e))?;
            categories.push((category.name, category.workClockTimeRef));
        }
        Ok(categories)
    }

    /// A cursor over PoCo's events from `from_block` on.
    pub fn events_from(&self, from_block: u64) -> EventCursor {
        EventCursor::new(self.connection.clone(), self.deployment.clone(), from_block)
    }

    /// Every PoCo event in a block range, decoded.
    pub async fn events(&self, from_block: u64, to_block: u64) -> Result<Vec<crate::PocoLog>, ChainError> {
        crate::events::fetch(&self.connection, &self.deployment, from_block, to_block).await
    }

    /// Decodes one event (helper for callers that fetched logs themselves).
    pub fn decode(log: &alloy::rpc::types::Log) -> Option<PocoEvent> {
        crate::events::decode(log)
    }
}

/// Sends `manage*Order(CLOSE)` for one order type.
pub trait CancelOrder {
    #[allow(async_fn_in_trait)]
    async fn send_close(&self, poco: &Poco) -> Result<B256, ChainError>;
}

macro_rules! impl_cancel {
    ($order:ty, $operation:ident, $method:ident) => {
        impl CancelOrder for $order {
            async fn send_close(&self, poco: &Poco) -> Result<B256, ChainError> {
                let operation = bindings::$operation {
                    order: self.into(),
                    operation: 1,
                    sign: Bytes::new(),
                };
                let receipt = poco
                    .connection
                    .send("cancel the order", poco.hub().$method(operation))
                    .await?;
                Ok(receipt.transaction_hash)
            }
        }
    };
}

impl_cancel!(AppOrder, AppOrderOperation, manageAppOrder);
impl_cancel!(DatasetOrder, DatasetOrderOperation, manageDatasetOrder);
impl_cancel!(WorkerpoolOrder, WorkerpoolOrderOperation, manageWorkerpoolOrder);
impl_cancel!(RequestOrder, RequestOrderOperation, manageRequestOrder);
