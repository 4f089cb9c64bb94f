//! Keeps order statuses in step with the chain. Every change re-reads the order's consumed
//! volume from PoCo, so replaying events (after a restart, or over blocks a reorg replaced)
//! is harmless; the cursor restarts a few blocks back for that reason. While running, the
//! cursor notices a reorg itself and hands back the replaced blocks' events as removed.
//! An asset that changes hands makes its former owner's orders `dead` (PoCo checks an
//! order's signer against the current owner) and brings the new owner's back, if any
//! were dead.

use std::sync::Arc;
use std::time::Duration;

use confide_chain::{Address, AssetKind, B256, PocoEvent, PocoLog, TaskStatus};

use crate::db::{DealRow, OrderStatus, TaskRow};
use crate::{MarketError, MarketState, lower};

/// Blocks re-read after a restart, so events of blocks replaced by a reorg are re-applied.
const REORG_DEPTH: u64 = 12;
const CURSOR_KEY: &str = "next_block";
/// A deal's tasks recorded as not started, at most (a deal may have millions).
pub(crate) const MAX_TASKS_RECORDED: usize = 1000;

/// Applies one event, or undoes it when a reorg removed its block. Matches and closings
/// need no undoing of their own: the refresh reads the volume left on the current chain.
async fn apply(state: &MarketState, log: &PocoLog) -> Result<(), MarketError> {
    match &log.event {
        PocoEvent::OrdersMatched {
            deal_id,
            app_hash,
            dataset_hash,
            workerpool_hash,
            request_hash,
            ..
        } => {
            for hash in [app_hash, dataset_hash, workerpool_hash, request_hash] {
                refresh(state, *hash, false).await?;
            }
            record_deal(state, *deal_id, [app_hash, dataset_hash, workerpool_hash, request_hash]).await?;
        }
        PocoEvent::OrderClosed { order_hash, .. } => refresh(state, *order_hash, !log.removed).await?,
        PocoEvent::AssetTransferred { kind, asset, from, to } => {
            let kind = match kind {
                AssetKind::App => "apporder",
                AssetKind::Dataset => "datasetorder",
                AssetKind::Workerpool => "workerpoolorder",
            };
            let (from, to) = if log.removed { (to, from) } else { (from, to) };
            mark(state, kind, *asset, *from, OrderStatus::Open, OrderStatus::Dead).await?;
            mark(state, kind, *asset, *to, OrderStatus::Dead, OrderStatus::Open).await?;
            if kind == "datasetorder" {
                crate::protected::refresh_owner(state, *asset).await?;
            }
        }
        PocoEvent::DatasetSchema { dataset, schema } => {
            crate::protected::apply_schema(state, log, *dataset, schema).await?;
        }
        event => {
            if let Some(task_id) = event.task_id() {
                record_task(state, task_id).await?;
            }
        }
    }
    Ok(())
}

/// Records, from the chain, the deals request `request_hash` produced that the follower
/// has not recorded yet (its `OrdersMatched` may still be on its way: iExec's SDK asks
/// `/deals?requestorderHash` right after its last match). PoCo names a request's deals by
/// the request's hash and the volume consumed before each, so they are found in order
/// up to the consumed volume, at most `MAX_CATCH_UP` deals a call. Their app and
/// workerpool order hashes are unknown here (zero) until the follower records the event.
pub(crate) async fn catch_up_request(
    state: &MarketState,
    request_hash: B256,
    recorded: &[DealRow],
) -> Result<(), MarketError> {
    const MAX_CATCH_UP: usize = 100;
    let consumed = state.poco.consumed(request_hash).await.map_err(MarketError::from)?;
    let covered: i64 = recorded.iter().map(|d| d.bot_size).sum();
    if confide_chain::U256::from(covered.max(0) as u64) >= consumed {
        return Ok(());
    }
    let known: std::collections::HashSet<&str> = recorded.iter().map(|d| d.deal_id.as_str()).collect();
    let mut first = confide_chain::U256::ZERO;
    for _ in 0..MAX_CATCH_UP {
        if first >= consumed {
            break;
        }
        let deal_id = confide_protocol::deal_id(request_hash, first);
        let Some(deal) = state.poco.find_deal(deal_id).await.map_err(MarketError::from)? else {
            break;
        };
        if deal.bot_size.is_zero() {
            break;
        }
        if !known.contains(deal_id.to_string().as_str()) {
            let zero = B256::ZERO;
            record_deal(state, deal_id, [&zero, &zero, &zero, &request_hash]).await?;
        }
        first += deal.bot_size;
    }
    Ok(())
}

/// Records the deal as the chain has it now, with the hashes of the app, dataset,
/// workerpool and request orders it consumed; forgets it when a reorg took it away.
async fn record_deal(state: &MarketState, deal_id: B256, orders: [&B256; 4]) -> Result<(), MarketError> {
    let Some(deal) = state.poco.find_deal(deal_id).await.map_err(MarketError::from)? else {
        return state.db.forget_deal(&deal_id.to_string()).await;
    };
    let small = |v: confide_chain::U256| i64::try_from(v).unwrap_or(i64::MAX);
    let row = DealRow {
        deal_id: deal_id.to_string(),
        app: lower(deal.app),
        dataset: lower(deal.dataset),
        workerpool: lower(deal.workerpool),
        requester: lower(deal.requester),
        beneficiary: lower(deal.beneficiary),
        tag_bits: crate::tag_bits(deal.tag()),
        category: small(deal.category),
        bot_size: small(deal.bot_size),
        start_time: small(deal.start_time),
        bot_first: small(deal.bot_first),
        apporder: orders[0].to_string(),
        datasetorder: orders[1].to_string(),
        workerpoolorder: orders[2].to_string(),
        requestorder: orders[3].to_string(),
    };
    state.db.put_deal(&row).await?;
    // Its tasks by id, so a task id typed before the scheduler starts it finds its deal.
    let unstarted: Vec<TaskRow> = crate::explore::first_task_ids(&deal, MAX_TASKS_RECORDED)
        .into_iter()
        .map(|task_id| TaskRow {
            task_id: task_id.to_string(),
            deal_id: row.deal_id.clone(),
            workerpool: row.workerpool.clone(),
            status: TaskStatus::Unset.as_str().to_owned(),
            final_deadline: 0,
        })
        .collect();
    state.db.put_unstarted_tasks(&unstarted).await?;
    state.notify_deal(&row.deal_id);
    Ok(())
}

/// Records the task's status as the chain has it now. A task whose initialization a
/// reorg removed reads `UNSET` on chain, with no deal: it goes back to not started.
async fn record_task(state: &MarketState, task_id: B256) -> Result<(), MarketError> {
    let task = state.poco.task(task_id).await.map_err(MarketError::from)?;
    let key = task_id.to_string();
    let deal = match task.status {
        TaskStatus::Unset => None,
        _ => state.poco.find_deal(task.deal_id).await.map_err(MarketError::from)?,
    };
    let Some(deal) = deal else {
        if let Some(mut known) = state.db.task(&key).await? {
            known.status = TaskStatus::Unset.as_str().to_owned();
            known.final_deadline = 0;
            state.db.put_task(&known).await?;
            state.notify_task(&known.task_id, &known.deal_id, &known.status);
        }
        return Ok(());
    };
    let status = task.status.as_str();
    let row = TaskRow {
        task_id: key,
        deal_id: task.deal_id.to_string(),
        workerpool: lower(deal.workerpool),
        status: status.to_owned(),
        final_deadline: i64::try_from(task.final_deadline).unwrap_or(i64::MAX),
    };
    state.db.put_task(&row).await?;
    state.notify_task(&row.task_id, &row.deal_id, status);
    Ok(())
}

/// Re-reads an order's remaining volume from the chain and sets its status.
async fn refresh(state: &MarketState, hash: B256, closed: bool) -> Result<(), MarketError> {
    let key = hash.to_string();
    let row = match find(state, &key).await? {
        Some(row) => row,
        None => return Ok(()),
    };
    let consumed = state.poco.consumed(hash).await.map_err(MarketError::from)?;
    let volume = confide_chain::U256::from(row.volume.max(0) as u64);
    let remaining = i64::try_from(volume.saturating_sub(consumed)).unwrap_or(i64::MAX);
    let status = status_after_refresh(remaining, closed, row.status);
    state.db.set_status(&key, status, remaining).await?;
    state.notify("updated", &row.kind, &key, status.as_str());
    Ok(())
}

/// An order's status once the chain says how much of it `remaining` is, and whether its
/// signer `closed` it: consumed orders are filled (or canceled), the others keep a status
/// the chain does not decide (unpublished, dead), or are open.
fn status_after_refresh(remaining: i64, closed: bool, current: OrderStatus) -> OrderStatus {
    match (remaining, closed, current) {
        (0, true, _) => OrderStatus::Canceled,
        (0, false, _) => OrderStatus::Filled,
        (_, _, OrderStatus::Unpublished) => OrderStatus::Unpublished,
        (_, _, OrderStatus::Dead) => OrderStatus::Dead,
        _ => OrderStatus::Open,
    }
}

/// Moves `signer`'s orders of `kind` on `asset` from one status to another.
async fn mark(
    state: &MarketState,
    kind: &str,
    asset: Address,
    signer: Address,
    from: OrderStatus,
    to: OrderStatus,
) -> Result<(), MarketError> {
    let asset = lower(asset);
    let signer = lower(signer);
    for hash in state.db.set_status_of_signer(kind, &asset, &signer, from, to).await? {
        state.notify("updated", kind, &hash, to.as_str());
    }
    Ok(())
}

async fn find(state: &MarketState, hash: &str) -> Result<Option<crate::db::StoredOrder>, MarketError> {
    for kind in ["apporder", "datasetorder", "workerpoolorder", "requestorder"] {
        if let Some(row) = state.db.get(kind, hash).await? {
            return Ok(Some(row));
        }
    }
    Ok(None)
}

/// The follower's lease: replicas sharing a database follow the chain one at a time.
const LEASE_NAME: &str = "follower";
/// How long a lease lasts unrenewed: a dead follower's replica is relieved within this.
pub const LEASE: Duration = Duration::from_secs(5);

/// Follows the chain until the task is dropped, polling every `interval`. Among replicas
/// on one database, only the holder of the follower lease applies events (each change is
/// then announced once); the others read the head it reached, and one of them takes over
/// from the shared cursor within [`LEASE`] when the holder stops renewing. Applying is
/// idempotent, so a holder that stalls past its lease and wakes up does no harm.
pub async fn follow(state: Arc<MarketState>, interval: Duration) {
    let me = confide_db::lease::holder_id();
    let mut cursor = None;
    loop {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        match state
            .db
            .take_lease(LEASE_NAME, &me, now_ms, LEASE.as_millis() as i64)
            .await
        {
            Ok(true) => {
                if cursor.is_none() {
                    cursor = Some(start(&state).await);
                }
                if let Some(cursor) = cursor.as_mut() {
                    follow_once(&state, cursor).await;
                }
            }
            Ok(false) => {
                // Another replica follows: start again from the shared cursor if this one
                // takes over, and meanwhile know the head it reached.
                cursor = None;
                if let Ok(Some(next)) = state.db.meta(CURSOR_KEY).await {
                    state.set_head((next as u64).saturating_sub(1));
                }
            }
            Err(error) => tracing::warn!(%error, "the follower lease cannot be read; retrying"),
        }
        tokio::time::sleep(interval).await;
    }
}

/// A cursor from the saved position (a few blocks back, for reorgs), or from the head.
async fn start(state: &MarketState) -> confide_chain::EventCursor {
    let start = match state.db.meta(CURSOR_KEY).await {
        Ok(Some(next)) => (next as u64).saturating_sub(REORG_DEPTH),
        _ => state.poco.connection.block_number().await.unwrap_or(0),
    };
    let cursor = state.poco.events_from(start);
    match state.data_protector {
        Some(address) => cursor.with_data_protector(address),
        None => cursor,
    }
}

/// Applies the next batch of events and saves the cursor.
async fn follow_once(state: &MarketState, cursor: &mut confide_chain::EventCursor) {
    match cursor.next_batch().await {
        Ok(batch) => {
            for log in &batch {
                if let Err(error) = apply(state, log).await {
                    tracing::warn!(%error, "order update failed; retried on the next change");
                }
            }
            let _ = state.db.set_meta(CURSOR_KEY, cursor.next_block() as i64).await;
            state.set_head(cursor.next_block().saturating_sub(1));
        }
        Err(error) => tracing::warn!(%error, "reading chain events failed; retrying"),
    }
}

#[cfg(test)]
mod tests {
    use super::{OrderStatus, status_after_refresh};

    #[test]
    fn an_orders_status_follows_what_the_chain_consumed_and_closed() {
        use OrderStatus::*;
        // (remaining, closed on chain, status now, status after)
        let table = [
            (0, true, Open, Canceled),
            (0, false, Open, Filled),
            (0, false, Dead, Filled),
            (0, true, Unpublished, Canceled),
            (5, false, Open, Open),
            (5, false, Unpublished, Unpublished),
            (5, false, Dead, Dead),
            (5, true, Open, Open),
            (5, false, Filled, Open),
        ];
        for (remaining, closed, now, after) in table {
            assert_eq!(
                status_after_refresh(remaining, closed, now),
                after,
                "{remaining} left, closed {closed}, {now:?}"
            );
        }
    }
}
