//! The keys of a bulk task's slice: which protected data of the slice the task's
//! enclave may open.
//!
//! The deal's params name the root of a bulk request (`bulk_cid`); task `i` of the request
//! runs over slice `i`. Root and slice are read through the configured IPFS gateways,
//! size-bounded and CID-checked. Each order of the slice is then judged on its own: a bulk
//! grant (free, "infinite"), a registered dataset, PoCo's own
//! `assertDatasetDealCompatibility` for this deal (signature, still open, restrictions,
//! tag), and a key pushed here. A dataset that fails any check gets no key and a reason;
//! it never fails the others. A failure that is no judgement of the order (the chain or
//! every gateway unreachable) fails the whole session instead, so the worker retries
//! rather than run the app without data it may have.

use confide_chain::{Address, DealInfo};
use confide_protocol::bulk::{self, BulkDataset, MAX_ROOT_BYTES, MAX_SLICE_BYTES, Refusal, RefusalCode, SliceEntry};
use confide_protocol::ipfs::Cid;
use futures::StreamExt;

use crate::SmsError;
use crate::api::AppState;
use crate::store::{SecretId, SecretKind};

/// How many orders of a slice are judged at once (each is a few chain reads).
const CONCURRENT_CHECKS: usize = 16;

/// An entry judged: what the enclave learns of it, and the key version released, if any.
type Judged = (BulkDataset, Option<(SecretId, u64)>);

/// Each entry of the task's slice with its key or its refusal; the released keys are
/// added to `released` for the audit and the owners' ledgers.
pub(crate) async fn slice_keys(
    state: &AppState,
    deal: &DealInfo,
    task_index: u64,
    bulk_cid: &str,
    released: &mut Vec<(SecretId, u64)>,
) -> Result<Vec<BulkDataset>, SmsError> {
    if !deal.dataset.is_zero() {
        return Err(SmsError::BulkRequest(
            "a bulk request's deal names no dataset of its own".into(),
        ));
    }
    let entries = read_slice(state, bulk_cid, task_index).await?;
    let judged: Vec<Result<Judged, SmsError>> = futures::stream::iter(entries)
        .map(|entry| judge(state, deal, entry))
        .buffered(CONCURRENT_CHECKS)
        .collect()
        .await;
    let mut seen = std::collections::HashSet::new();
    let mut datasets = Vec::with_capacity(judged.len());
    for outcome in judged {
        let (mut dataset, release) = outcome?;
        // One key per dataset per task: a dataset named twice is served once.
        if dataset.granted.is_some() && !seen.insert(dataset.address) {
            dataset.granted = None;
            dataset.refusal = Some(Refusal::new(RefusalCode::Duplicate, "named earlier in the slice"));
        } else if let Some(release) = release {
            released.push(release);
        }
        datasets.push(dataset);
    }
    Ok(datasets)
}

/// The task's slice, read from the root the deal names.
async fn read_slice(state: &AppState, bulk_cid: &str, task_index: u64) -> Result<Vec<SliceEntry>, SmsError> {
    let root_cid: Cid = bulk_cid
        .parse()
        .map_err(|_| SmsError::BulkRequest(format!("bulk_cid `{bulk_cid}` is not a CID")))?;
    let root = state
        .gateways
        .read(&root_cid, MAX_ROOT_BYTES)
        .await
        .map_err(SmsError::Gateway)?;
    let slices = bulk::read_root(&root).map_err(|e| SmsError::BulkRequest(format!("the bulk root: {e}")))?;
    let slice_cid = usize::try_from(task_index)
        .ok()
        .and_then(|index| slices.get(index))
        .ok_or_else(|| {
            SmsError::BulkRequest(format!(
                "the bulk root lists {} slice(s): task index {task_index} has none",
                slices.len()
            ))
        })?;
    let slice = state
        .gateways
        .read(slice_cid, MAX_SLICE_BYTES)
        .await
        .map_err(SmsError::Gateway)?;
    bulk::read_slice(&slice).map_err(|e| SmsError::BulkRequest(format!("slice {task_index}: {e}")))
}

/// One entry judged: its key (and the version released), or why none.
async fn judge(state: &AppState, deal: &DealInfo, entry: SliceEntry) -> Result<Judged, SmsError> {
    let refused = |address: Address, refusal: Refusal| {
        Ok((
            BulkDataset {
                index: entry.index,
                address,
                granted: None,
                refusal: Some(refusal),
            },
            None,
        ))
    };
    let order = match entry.order {
        Ok(order) => order,
        Err(refusal) => return refused(Address::ZERO, refusal),
    };
    let address = order.dataset;
    let (url, checksum) = match state.assets.dataset_location(&state.poco, address).await {
        Ok(location) => location,
        Err(error) => {
            if is_registered(state, address).await? {
                return Err(error);
            }
            let refusal = Refusal::new(RefusalCode::NotRegistered, "not a dataset of PoCo's registry");
            return refused(address, refusal);
        }
    };
    let incompatibility = state
        .poco
        .dataset_order_incompatibility(&order, deal.deal_id)
        .await
        .map_err(SmsError::from)?;
    if let Some(reason) = incompatibility {
        return refused(address, Refusal::new(RefusalCode::Incompatible, reason));
    }
    let id = SecretId {
        kind: SecretKind::Web3,
        subject: address,
        name: String::new(),
    };
    let Some((version, value)) = state.store.read_latest(&id).await? else {
        return refused(
            address,
            Refusal::new(RefusalCode::KeyMissing, "its owner pushed no key to this SMS"),
        );
    };
    let key = crate::gate::utf8(&value)?;
    Ok((
        BulkDataset {
            index: entry.index,
            address,
            granted: Some(confide_protocol::tee::SessionDataset {
                address,
                url,
                checksum,
                key,
            }),
            refusal: None,
        },
        Some((id, version)),
    ))
}

async fn is_registered(state: &AppState, address: Address) -> Result<bool, SmsError> {
    state
        .poco
        .is_registered(confide_chain::AssetKind::Dataset, address)
        .await
        .map_err(SmsError::from)
}
