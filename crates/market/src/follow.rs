//! Keeps order statuses in step with the chain. Every change re-reads the order's consumed
//! volume from PoCo, so replaying events (after a restart, or over blocks a reorg replaced)
//! is harmless; the cursor restarts a few blocks back for that reason. While running, the
//! cursor notices a reorg itself and hands back the replaced blocks' events as removed.
//! An asset that changes hands makes its former owner's orders `dead` (PoCo checks an
//! order's signer against the current owner) and brings the new owner's back, if any
//! were dead.

use std::sync::Arc;
use std::time::Duration;

use confide_chain::{Address, AssetKind, B256, PocoEvent, PocoLog};

use crate::{MarketError, MarketState};

/// Blocks re-read after a restart, so events of blocks replaced by a reorg are re-applied.
const REORG_DEPTH: u64 = 12;
const CURSOR_KEY: &str = "next_block";

/// Applies one event, or undoes it when a reorg removed its block. Matches and closings
/// need no undoing of their own: the refresh reads the volume left on the current chain.
async fn apply(state: &MarketState, log: &PocoLog) -> Result<(), MarketError> {
    match &log.event {
        PocoEvent::OrdersMatched {
            app_hash,
            dataset_hash,
            workerpool_hash,
            request_hash,
            ..
        } => {
            for hash in [app_hash, dataset_hash, workerpool_hash, request_hash] {
                refresh(state, *hash, false).await?;
            }
        }
        PocoEvent::OrderClosed { order_hash, .. } => refresh(state, *order_hash, !log.removed).await?,
        PocoEvent::AssetTransferred { kind, asset, from, to } => {
            let kind = match kind {
                AssetKind::App => "apporder",
                AssetKind::Dataset => "datasetorder",
                AssetKind::Workerpool => "workerpoolorder",
            };
            let (from, to) = if log.removed { (to, from) } else { (from, to) };
            mark(state, kind, *asset, *from, "open", "dead").await?;
            mark(state, kind, *asset, *to, "dead", "open").await?;
        }
        _ => {}
    }
    Ok(())
}

/// Re-reads an order's remaining volume from the chain and sets its status.
async fn refresh(state: &MarketState, hash: B256, closed: bool) -> Result<(), MarketError> {
    let key = hash.to_string();
    let row = match find(state, &key).await? {
        Some(row) => row,
        None => return Ok(()),
    };
    let consumed = state
        .poco
        .consumed(hash)
        .await
        .map_err(|e| MarketError::Chain(e.to_string()))?;
    let volume = confide_chain::U256::from(row.volume.max(0) as u64);
    let remaining = i64::try_from(volume.saturating_sub(consumed)).unwrap_or(i64::MAX);
    let status = match (remaining, closed, row.status.as_str()) {
        (0, true, _) => "canceled",
        (0, false, _) => "filled",
        (_, _, "unpublished") => "unpublished",
        (_, _, "dead") => "dead",
        _ => "open",
    };
    state.db.set_status(&key, status, remaining).await?;
    state.notify("updated", &row.kind, &key, status);
    Ok(())
}

/// Moves `signer`'s orders of `kind` on `asset` from one status to another.
async fn mark(
    state: &MarketState,
    kind: &str,
    asset: Address,
    signer: Address,
    from: &str,
    to: &str,
) -> Result<(), MarketError> {
    let asset = asset.to_string().to_lowercase();
    let signer = signer.to_string().to_lowercase();
    for hash in state.db.set_status_of_signer(kind, &asset, &signer, from, to).await? {
        state.notify("updated", kind, &hash, to);
    }
    Ok(())
}

async fn find(state: &MarketState, hash: &str) -> Result<Option<crate::db::Row_>, MarketError> {
    for kind in ["apporder", "datasetorder", "workerpoolorder", "requestorder"] {
        if let Some(row) = state.db.get(kind, hash).await? {
            return Ok(Some(row));
        }
    }
    Ok(None)
}

/// Follows the chain until the task is dropped, polling every `interval`.
pub async fn follow(state: Arc<MarketState>, interval: Duration) {
    let start = match state.db.meta(CURSOR_KEY).await {
        Ok(Some(next)) => (next as u64).saturating_sub(REORG_DEPTH),
        _ => state.poco.connection.block_number().await.unwrap_or(0),
    };
    let mut cursor = state.poco.events_from(start);
    loop {
        match cursor.next_batch().await {
            Ok(batch) => {
                for log in &batch {
                    if let Err(error) = apply(&state, log).await {
                        tracing::warn!(%error, "order update failed; retried on the next change");
                    }
                }
                let _ = state.db.set_meta(CURSOR_KEY, cursor.next_block() as i64).await;
                state.set_head(cursor.next_block().saturating_sub(1));
            }
            Err(error) => tracing::warn!(%error, "reading chain events failed; retrying"),
        }
        tokio::time::sleep(interval).await;
    }
}
