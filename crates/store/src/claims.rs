//! Claims of added content: which CIDs the datasets registered on chain name.
//!
//! PoCo's DatasetRegistry is an ERC-721 whose token id is the dataset's address: every new
//! dataset is a `Transfer(0, owner, dataset)` mint of the registry, whichever way it was
//! made (iExec's SDK, the DataProtector, Confide's CLI). The follower reads those mints
//! with `eth_getLogs` (the chain crate's cursor leaves mints out), reads each new
//! dataset's multiaddr, and records a claim of the CID it names
//! ([`confide_protocol::ipfs::multiaddr_cid`]), so the content is kept past its grace
//! period ([`crate::added`]).
//!
//! Claims are never undone: a reorg that drops a dataset at worst keeps its content. To
//! see a mint that a reorg moves to another block, each pass reads the last
//! [`OVERLAP`] blocks again (a mint already handled is not read twice while remembered).
//! Where the follower stands is kept in the backend (`ipfs-follow/next-block`); a store
//! that never followed starts at the head. Work per pass is bounded by the blocks read
//! ([`MAX_RANGE`]) and the datasets minted in them (each costs its creator gas).

use std::collections::HashSet;
use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Duration;

use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use confide_chain::bindings::Registry;
use confide_chain::{Address, B256};
use object_store::ObjectStoreExt;
use object_store::path::Path as StorePath;

use crate::StoreState;

/// Blocks read again on every pass, for mints a reorg moved.
const OVERLAP: u64 = 12;
/// Blocks read in one `eth_getLogs` call (public nodes cap ranges).
const MAX_RANGE: u64 = 2_000;
/// Between passes that reached the head.
const INTERVAL: Duration = Duration::from_secs(2);
/// Datasets remembered as handled, at most (then forgotten all at once).
const REMEMBERED: usize = 4096;

fn cursor_path() -> StorePath {
    StorePath::from("ipfs-follow/next-block")
}

/// Why a pass stopped; the next one starts where this one began.
#[derive(Debug, thiserror::Error)]
enum FollowError {
    #[error("chain: {0}")]
    Chain(String),
    #[error("backend: {0}")]
    Backend(#[from] object_store::Error),
}

/// Where the follower is: the first block not read yet.
struct Cursor {
    next_block: u64,
    handled: HashSet<Address>,
}

/// Follows the dataset registry for as long as the store lives.
pub(crate) async fn follow(state: Weak<StoreState>) {
    let mut cursor: Option<Cursor> = None;
    loop {
        let Some(store) = state.upgrade() else {
            return;
        };
        let caught_up = match pass(&store, &mut cursor).await {
            Ok(caught_up) => caught_up,
            Err(error) => {
                tracing::warn!(%error, "following datasets for claims failed; trying again");
                false
            }
        };
        if caught_up {
            store.added.synced_at.store(crate::added::now_secs(), Ordering::SeqCst);
        }
        drop(store);
        if caught_up {
            tokio::time::sleep(INTERVAL).await;
        } else {
            tokio::time::sleep(INTERVAL / 4).await;
        }
    }
}

/// Reads the mints of one range of blocks; `true` when it reached the head.
async fn pass(state: &StoreState, cursor: &mut Option<Cursor>) -> Result<bool, FollowError> {
    let Some(poco) = &state.poco else {
        return Ok(true);
    };
    let chain = |e: confide_chain::ChainError| FollowError::Chain(e.to_string());
    let head = poco.connection.block_number().await.map_err(chain)?;
    if cursor.is_none() {
        let saved = match state.backend.get(&cursor_path()).await {
            Ok(result) => std::str::from_utf8(&result.bytes().await?)
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        *cursor = Some(Cursor {
            next_block: saved.unwrap_or(head.saturating_sub(OVERLAP)),
            handled: HashSet::new(),
        });
    }
    let cursor = cursor.as_mut().expect("set just above");
    let from = cursor.next_block.saturating_sub(OVERLAP);
    let to = head.min(from + MAX_RANGE - 1);
    if to < from {
        return Ok(true);
    }
    let filter = Filter::new()
        .address(poco.deployment.dataset_registry)
        .event_signature(Registry::Transfer::SIGNATURE_HASH)
        .topic1(B256::ZERO)
        .from_block(from)
        .to_block(to);
    let logs = poco
        .connection
        .provider
        .get_logs(&filter)
        .await
        .map_err(|e| FollowError::Chain(format!("read the dataset registry's mints: {e}")))?;
    for log in logs {
        let Ok(mint) = log.log_decode::<Registry::Transfer>() else {
            continue;
        };
        let dataset = Address::from_word(B256::from(mint.inner.data.tokenId.to_be_bytes::<32>()));
        if cursor.handled.contains(&dataset) {
            continue;
        }
        let info = match poco.dataset(dataset).await {
            Ok(info) => Some(info),
            // A reorg took it away since its mint was read: nothing to claim.
            Err(confide_chain::ChainError::UnknownAsset { .. }) => None,
            Err(e) => return Err(chain(e)),
        };
        if let Some(cid) = info.and_then(|info| confide_protocol::ipfs::multiaddr_cid(&info.multiaddr)) {
            crate::added::claim(state, &cid, dataset).await?;
        }
        if cursor.handled.len() >= REMEMBERED {
            cursor.handled.clear();
        }
        cursor.handled.insert(dataset);
    }
    let next = (to + 1).max(cursor.next_block);
    if next != cursor.next_block {
        state
            .backend
            .put(&cursor_path(), next.to_string().into_bytes().into())
            .await?;
        cursor.next_block = next;
    }
    Ok(to == head)
}
