//! PoCo events, decoded, and a cursor that follows them block by block. Polling
//! `eth_getLogs` works with every JSON-RPC node; no subscription support is needed.

use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEventInterface;
use futures::Stream;
use serde::Serialize;

use confide_protocol::OrderKind;

use crate::bindings::IexecHub::IexecHubEvents;
use crate::bindings::{DataProtector, Registry};
use crate::{AssetKind, ChainError, Connection, Deployment};

/// Blocks asked for in one `eth_getLogs` call: public nodes cap ranges.
const MAX_RANGE: u64 = 2_000;

/// The events Confide's services act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum PocoEvent {
    /// A deal was made for a workerpool: its scheduler has tasks to initialize.
    SchedulerNotice {
        /// The workerpool that runs the deal.
        workerpool: Address,
        /// The new deal.
        deal_id: B256,
    },
    /// Four orders were matched into a deal (`matchOrders`).
    OrdersMatched {
        /// The new deal.
        deal_id: B256,
        /// The EIP-712 hash of the app order consumed.
        app_hash: B256,
        /// The EIP-712 hash of the dataset order consumed; zero when the deal has no dataset.
        dataset_hash: B256,
        /// The EIP-712 hash of the workerpool order consumed.
        workerpool_hash: B256,
        /// The EIP-712 hash of the request order consumed.
        request_hash: B256,
        /// The number of tasks in the deal, consumed from each order's volume.
        volume: U256,
    },
    /// A task was initialized: it is active and takes contributions.
    TaskInitialize {
        /// The task now active.
        task_id: B256,
        /// The workerpool that runs it.
        workerpool: Address,
    },
    /// A worker contributed to a task: its result hash is on chain, its digest still hidden.
    TaskContribute {
        /// The task contributed to.
        task_id: B256,
        /// The worker that contributed.
        worker: Address,
        /// Its result hash, `keccak256(task_id ‖ result_digest)`.
        result_hash: B256,
    },
    /// Enough contributions agree: the task moves to revealing.
    TaskConsensus {
        /// The task now revealing.
        task_id: B256,
        /// The result hash agreed on.
        consensus: B256,
    },
    /// A worker revealed the digest behind its contribution.
    TaskReveal {
        /// The task whose contribution is revealed.
        task_id: B256,
        /// The worker that revealed.
        worker: Address,
        /// The result digest revealed.
        digest: B256,
    },
    /// The reveal deadline passed without a reveal: the task is active again, open to new
    /// contributions until its contribution deadline.
    TaskReopen {
        /// The task now active again.
        task_id: B256,
    },
    /// A task completed: its result link is on chain and everyone was paid.
    TaskFinalize {
        /// The task now completed.
        task_id: B256,
        /// The result link, JSON such as `{"storage":"ipfs","location":"/ipfs/<CID>"}`.
        results: Bytes,
    },
    /// A task was claimed past its final deadline: it failed and the requester was refunded.
    TaskClaimed {
        /// The task now failed.
        task_id: B256,
    },
    /// An order was closed on chain (`manage*Order` with CLOSE): nothing of it can be
    /// matched any more.
    OrderClosed {
        /// Which of the four kinds of order it is.
        kind: OrderKind,
        /// The order's EIP-712 hash.
        order_hash: B256,
    },
    /// An order was presigned on chain (`manage*Order` with SIGN): PoCo accepts it without a
    /// signature.
    OrderPresigned {
        /// Which of the four kinds of order it is.
        kind: OrderKind,
        /// The order's EIP-712 hash.
        order_hash: B256,
    },
    /// An app, dataset or workerpool changed hands (a registry's ERC-721 `Transfer`; the
    /// mint of a new asset is not reported).
    AssetTransferred {
        /// The registry the asset is in.
        kind: AssetKind,
        /// The asset's contract (its token id).
        asset: Address,
        /// The previous owner.
        from: Address,
        /// The new owner.
        to: Address,
    },
    /// A protected data was created through the DataProtector contract (iExec's
    /// `DatasetSchema(address indexed dataset, string schema)`): a PoCo dataset, registered
    /// in the same transaction, whose data has this schema. Reported only by a cursor told
    /// the DataProtector's address ([`EventCursor::with_data_protector`]).
    DatasetSchema {
        /// The dataset the schema describes.
        dataset: Address,
        /// The schema as its creator wrote it: JSON text, unchecked.
        schema: String,
    },
}

impl PocoEvent {
    /// The task the event is about, for the task events.
    pub fn task_id(&self) -> Option<B256> {
        match self {
            PocoEvent::TaskInitialize { task_id, .. }
            | PocoEvent::TaskContribute { task_id, .. }
            | PocoEvent::TaskConsensus { task_id, .. }
            | PocoEvent::TaskReveal { task_id, .. }
            | PocoEvent::TaskReopen { task_id }
            | PocoEvent::TaskFinalize { task_id, .. }
            | PocoEvent::TaskClaimed { task_id } => Some(*task_id),
            _ => None,
        }
    }
}

/// An event with where it happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PocoLog {
    /// The block that holds the event.
    pub block_number: u64,
    /// That block's hash, which tells a reorg's replacement apart.
    pub block_hash: B256,
    /// The transaction that emitted the event.
    pub transaction_hash: B256,
    /// The event's position among the block's logs.
    pub log_index: u64,
    /// The block that held this event left the chain (a reorg): undo what it did. The
    /// cursor reports removed events newest first, before the events of the new blocks.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
    /// The block's timestamp (seconds since the Unix epoch) when the node sends it with
    /// the log; a cursor reads it from the block for the events that record it
    /// ([`PocoEvent::DatasetSchema`]) when the node does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_timestamp: Option<u64>,
    /// What happened; serialized flat, its `event` field naming the kind.
    #[serde(flatten)]
    pub event: PocoEvent,
}

/// Decodes a hub log into a [`PocoEvent`]; `None` for events Confide does not follow.
pub fn decode(log: &Log) -> Option<PocoEvent> {
    use IexecHubEvents as E;
    let decoded = IexecHubEvents::decode_raw_log(log.topics(), &log.data().data).ok()?;
    let event = match decoded {
        E::SchedulerNotice(e) => PocoEvent::SchedulerNotice {
            workerpool: e.workerpool,
            deal_id: e.dealid,
        },
        E::OrdersMatched(e) => PocoEvent::OrdersMatched {
            deal_id: e.dealid,
            app_hash: e.appHash,
            dataset_hash: e.datasetHash,
            workerpool_hash: e.workerpoolHash,
            request_hash: e.requestHash,
            volume: e.volume,
        },
        E::TaskInitialize(e) => PocoEvent::TaskInitialize {
            task_id: e.taskid,
            workerpool: e.workerpool,
        },
        E::TaskContribute(e) => PocoEvent::TaskContribute {
            task_id: e.taskid,
            worker: e.worker,
            result_hash: e.hash,
        },
        E::TaskConsensus(e) => PocoEvent::TaskConsensus {
            task_id: e.taskid,
            consensus: e.consensus,
        },
        E::TaskReveal(e) => PocoEvent::TaskReveal {
            task_id: e.taskid,
            worker: e.worker,
            digest: e.digest,
        },
        E::TaskReopen(e) => PocoEvent::TaskReopen { task_id: e.taskid },
        E::TaskFinalize(e) => PocoEvent::TaskFinalize {
            task_id: e.taskid,
            results: e.results,
        },
        E::TaskClaimed(e) => PocoEvent::TaskClaimed { task_id: e.taskid },
        E::ClosedAppOrder(e) => PocoEvent::OrderClosed {
            kind: OrderKind::App,
            order_hash: e.appHash,
        },
        E::ClosedDatasetOrder(e) => PocoEvent::OrderClosed {
            kind: OrderKind::Dataset,
            order_hash: e.datasetHash,
        },
        E::ClosedWorkerpoolOrder(e) => PocoEvent::OrderClosed {
            kind: OrderKind::Workerpool,
            order_hash: e.workerpoolHash,
        },
        E::ClosedRequestOrder(e) => PocoEvent::OrderClosed {
            kind: OrderKind::Request,
            order_hash: e.requestHash,
        },
        E::SignedAppOrder(e) => PocoEvent::OrderPresigned {
            kind: OrderKind::App,
            order_hash: e.appHash,
        },
        E::SignedDatasetOrder(e) => PocoEvent::OrderPresigned {
            kind: OrderKind::Dataset,
            order_hash: e.datasetHash,
        },
        E::SignedWorkerpoolOrder(e) => PocoEvent::OrderPresigned {
            kind: OrderKind::Workerpool,
            order_hash: e.workerpoolHash,
        },
        E::SignedRequestOrder(e) => PocoEvent::OrderPresigned {
            kind: OrderKind::Request,
            order_hash: e.requestHash,
        },
        _ => return None,
    };
    Some(event)
}

/// Decodes a registry's log: an asset's transfer, `None` for a mint or another event.
fn decode_transfer(log: &Log, kind: AssetKind) -> Option<PocoEvent> {
    let transfer = log.log_decode::<Registry::Transfer>().ok()?.inner.data;
    if transfer.from.is_zero() {
        return None;
    }
    Some(PocoEvent::AssetTransferred {
        kind,
        asset: Address::from_word(B256::from(transfer.tokenId.to_be_bytes::<32>())),
        from: transfer.from,
        to: transfer.to,
    })
}

/// Decodes a DataProtector's log: a protected data's schema, `None` for another event.
fn decode_schema(log: &Log) -> Option<PocoEvent> {
    let event = log.log_decode::<DataProtector::DatasetSchema>().ok()?.inner.data;
    Some(PocoEvent::DatasetSchema {
        dataset: event.dataset,
        schema: event.schema,
    })
}

/// Every followed event of the hub and the three asset registries in
/// `[from_block, to_block]`, in chain order.
pub async fn fetch(
    connection: &Connection,
    deployment: &Deployment,
    from_block: u64,
    to_block: u64,
) -> Result<Vec<PocoLog>, ChainError> {
    fetch_from(connection, deployment, None, from_block, to_block).await
}

/// [`fetch`], with the `DatasetSchema` events of the DataProtector at `data_protector`
/// too when there is one; those carry their block's timestamp.
pub async fn fetch_from(
    connection: &Connection,
    deployment: &Deployment,
    data_protector: Option<Address>,
    from_block: u64,
    to_block: u64,
) -> Result<Vec<PocoLog>, ChainError> {
    let registries = [
        (deployment.app_registry, AssetKind::App),
        (deployment.dataset_registry, AssetKind::Dataset),
        (deployment.workerpool_registry, AssetKind::Workerpool),
    ];
    let mut sources = vec![deployment.hub];
    sources.extend(registries.iter().map(|(address, _)| *address));
    sources.extend(data_protector);
    let decode_any = |log: &Log| {
        if Some(log.address()) == data_protector {
            return decode_schema(log);
        }
        match registries.iter().find(|(address, _)| *address == log.address()) {
            Some((_, kind)) => decode_transfer(log, *kind),
            None => decode(log),
        }
    };
    let mut out = Vec::new();
    let mut start = from_block;
    while start <= to_block {
        let end = to_block.min(start + MAX_RANGE - 1);
        let filter = Filter::new().address(sources.clone()).from_block(start).to_block(end);
        let logs = connection
            .provider
            .get_logs(&filter)
            .await
            .map_err(|e| ChainError::from_rpc("read PoCo events", &e))?;
        out.extend(logs.iter().filter_map(|log| {
            Some(PocoLog {
                block_number: log.block_number?,
                block_hash: log.block_hash?,
                transaction_hash: log.transaction_hash?,
                log_index: log.log_index?,
                removed: false,
                block_timestamp: log.block_timestamp,
                event: decode_any(log)?,
            })
        }));
        start = end + 1;
    }
    add_timestamps(connection, &mut out).await?;
    Ok(out)
}

/// Reads the timestamp of each block holding a `DatasetSchema` event the node sent
/// without one (once a block), by the block's hash: a block that replaced it meanwhile
/// has no say.
async fn add_timestamps(connection: &Connection, logs: &mut [PocoLog]) -> Result<(), ChainError> {
    let mut known: Option<(B256, u64)> = None;
    for log in logs.iter_mut() {
        if log.block_timestamp.is_some() || !matches!(log.event, PocoEvent::DatasetSchema { .. }) {
            continue;
        }
        let timestamp = match known {
            Some((hash, timestamp)) if hash == log.block_hash => timestamp,
            _ => {
                let block = connection
                    .provider
                    .get_block_by_hash(log.block_hash)
                    .await
                    .map_err(|e| ChainError::from_rpc("read a block", &e))?
                    .ok_or_else(|| ChainError::Rpc {
                        action: "read a block".into(),
                        reason: format!("the node no longer has block {}", log.block_hash),
                    })?;
                block.header.timestamp
            }
        };
        known = Some((log.block_hash, timestamp));
        log.block_timestamp = Some(timestamp);
    }
    Ok(())
}

/// Blocks a cursor remembers, to notice a reorg that replaces any of them and report the
/// events they held as removed. Deeper reorgs are undone only back to this depth.
pub const REORG_WINDOW: u64 = 64;

/// A block the cursor has reported, with the events it held.
struct SeenBlock {
    number: u64,
    hash: B256,
    logs: Vec<PocoLog>,
}

/// Follows PoCo's events: each call to [`EventCursor::next_batch`] returns the events of
/// the blocks mined since the previous call, `confirmations` blocks behind the head.
///
/// Reorgs: the cursor remembers the hashes of the blocks it reported (the last
/// [`REORG_WINDOW`] of them). When the newest no longer is on the node's chain, it walks
/// back to the newest one that is, reports every event of the blocks after it again with
/// `removed` set, and reads on from there, so consumers see the new chain's events too.
pub struct EventCursor {
    connection: Connection,
    deployment: Deployment,
    /// A DataProtector whose `DatasetSchema` events are followed too.
    data_protector: Option<Address>,
    next_block: u64,
    confirmations: u64,
    seen: std::collections::VecDeque<SeenBlock>,
}

impl EventCursor {
    /// A cursor that reads from `from_block` on and reports events as soon as they are
    /// mined (see [`EventCursor::with_confirmations`]).
    pub fn new(connection: Connection, deployment: Deployment, from_block: u64) -> EventCursor {
        EventCursor {
            connection,
            deployment,
            data_protector: None,
            next_block: from_block,
            confirmations: 0,
            seen: std::collections::VecDeque::new(),
        }
    }

    /// Waits for this many blocks on top of an event before reporting it (reorg safety).
    pub fn with_confirmations(mut self, confirmations: u64) -> EventCursor {
        self.confirmations = confirmations;
        self
    }

    /// Follows the `DatasetSchema` events of the DataProtector at `address` too
    /// ([`PocoEvent::DatasetSchema`]).
    pub fn with_data_protector(mut self, address: Address) -> EventCursor {
        self.data_protector = Some(address);
        self
    }

    /// The first block the next batch will read.
    pub fn next_block(&self) -> u64 {
        self.next_block
    }

    /// The events since the last batch: first those of blocks a reorg removed (newest
    /// first, `removed` set), then those of new blocks in chain order.
    pub async fn next_batch(&mut self) -> Result<Vec<PocoLog>, ChainError> {
        let mut batch = self.unwind_reorg().await?;
        let head = self.connection.block_number().await?;
        let Some(safe_head) = head.checked_sub(self.confirmations) else {
            return Ok(batch);
        };
        if safe_head < self.next_block {
            return Ok(batch);
        }
        // The tip's hash is read before its logs: if a reorg lands in between, the next
        // batch finds the remembered hash gone and reports these logs as removed.
        let Some(tip) = self.connection.block_hash(safe_head).await? else {
            return Ok(batch);
        };
        let logs = fetch_from(
            &self.connection,
            &self.deployment,
            self.data_protector,
            self.next_block,
            safe_head,
        )
        .await?;
        if logs.iter().any(|l| l.block_number == safe_head && l.block_hash != tip) {
            // Logs of a block that replaced the tip just now: read the range again next time.
            return Ok(batch);
        }
        self.remember(&logs, safe_head, tip);
        self.next_block = safe_head + 1;
        batch.extend(logs);
        Ok(batch)
    }

    fn remember(&mut self, logs: &[PocoLog], tip_number: u64, tip_hash: B256) {
        for log in logs {
            match self.seen.back_mut() {
                Some(block) if block.number == log.block_number => block.logs.push(log.clone()),
                _ => self.seen.push_back(SeenBlock {
                    number: log.block_number,
                    hash: log.block_hash,
                    logs: vec![log.clone()],
                }),
            }
        }
        if self.seen.back().is_none_or(|block| block.number != tip_number) {
            self.seen.push_back(SeenBlock {
                number: tip_number,
                hash: tip_hash,
                logs: Vec::new(),
            });
        }
        let oldest = tip_number.saturating_sub(REORG_WINDOW);
        while self.seen.front().is_some_and(|block| block.number < oldest) {
            self.seen.pop_front();
        }
    }

    /// When the newest reported block left the chain: the events of every reported block
    /// that left it, marked removed, and the cursor moved back to the fork.
    async fn unwind_reorg(&mut self) -> Result<Vec<PocoLog>, ChainError> {
        let Some(newest) = self.seen.back() else {
            return Ok(Vec::new());
        };
        if self.connection.block_hash(newest.number).await? == Some(newest.hash) {
            return Ok(Vec::new());
        }
        let mut removed = Vec::new();
        let mut resume = self.next_block;
        while let Some(block) = self.seen.pop_back() {
            if self.connection.block_hash(block.number).await? == Some(block.hash) {
                self.seen.push_back(block);
                break;
            }
            resume = block.number;
            removed.extend(block.logs.into_iter().rev().map(|mut log| {
                log.removed = true;
                log
            }));
        }
        // Re-read from just after the newest block still on the chain; when the reorg went
        // deeper than the window, from the oldest block remembered.
        self.next_block = self.seen.back().map_or(resume, |block| block.number + 1);
        Ok(removed)
    }

    /// An endless stream of events, polling every `interval`.
    pub fn into_stream(self, interval: Duration) -> impl Stream<Item = Result<PocoLog, ChainError>> {
        futures::stream::unfold(
            (self, std::collections::VecDeque::new()),
            move |(mut cursor, mut queue)| async move {
                loop {
                    if let Some(log) = queue.pop_front() {
                        return Some((Ok(log), (cursor, queue)));
                    }
                    match cursor.next_batch().await {
                        Ok(batch) if batch.is_empty() => tokio::time::sleep(interval).await,
                        Ok(batch) => queue.extend(batch),
                        Err(error) => {
                            tokio::time::sleep(interval).await;
                            return Some((Err(error), (cursor, queue)));
                        }
                    }
                }
            },
        )
    }
}
