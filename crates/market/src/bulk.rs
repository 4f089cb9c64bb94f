//! Which protected data each task of a bulk deal runs over, as the PoCo subgraph's
//! `Task.bulkSlice` tells iExec's SDK (`inspectBulkRequest({detailed: true})`).
//!
//! A bulk deal's params name the root of its request (`bulk_cid`); task `i` runs over
//! slice `i`. Deal params are read from the chain, roots and slices through the IPFS
//! gateways (CID-checked, size-bounded), each once: content under a CID never changes,
//! and neither do a deal's params. Failures are not remembered, so a gateway that was
//! down is asked again next time; every map is bounded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use confide_chain::{Address, B256, Poco};
use confide_gateway::Gateways;
use confide_protocol::bulk;
use confide_protocol::ipfs::Cid;

/// Entries kept per map before it is emptied: a bound on memory, not an eviction policy.
const LIMIT: usize = 10_000;

/// The bulk slices read so far.
pub(crate) struct BulkSlices {
    gateways: Gateways,
    /// Deal → its bulk root, or `None` when the deal is no bulk deal.
    deals: Mutex<HashMap<B256, Option<Cid>>>,
    roots: Mutex<HashMap<Cid, Arc<Vec<Cid>>>>,
    slices: Mutex<HashMap<Cid, Arc<Vec<Address>>>>,
}

impl BulkSlices {
    pub(crate) fn new(gateways: Gateways) -> BulkSlices {
        BulkSlices {
            gateways,
            deals: Mutex::default(),
            roots: Mutex::default(),
            slices: Mutex::default(),
        }
    }

    /// The slice task `task_index` of deal `deal_id` runs over: its CID and the datasets
    /// its orders name. `None` for a deal that is no bulk deal, or when the slice cannot
    /// be read now.
    pub(crate) async fn slice(&self, poco: &Poco, deal_id: B256, task_index: u64) -> Option<(Cid, Arc<Vec<Address>>)> {
        if self.gateways.is_empty() {
            return None;
        }
        let root = self.root_of(poco, deal_id).await?;
        let slices = match cached(&self.roots, &root) {
            Some(slices) => slices,
            None => {
                let bytes = self.gateways.read(&root, bulk::MAX_ROOT_BYTES).await.ok()?;
                keep(&self.roots, root, Arc::new(bulk::read_root(&bytes).ok()?))
            }
        };
        let slice = *slices.get(usize::try_from(task_index).ok()?)?;
        let datasets = match cached(&self.slices, &slice) {
            Some(datasets) => datasets,
            None => {
                let bytes = self.gateways.read(&slice, bulk::MAX_SLICE_BYTES).await.ok()?;
                let entries = bulk::read_slice(&bytes).ok()?;
                let named = entries
                    .into_iter()
                    .filter_map(|entry| entry.order.ok().map(|order| order.dataset))
                    .collect();
                keep(&self.slices, slice, Arc::new(named))
            }
        };
        Some((slice, datasets))
    }

    async fn root_of(&self, poco: &Poco, deal_id: B256) -> Option<Cid> {
        if let Some(root) = cached(&self.deals, &deal_id) {
            return root;
        }
        let deal = poco.deal(deal_id).await.ok()?;
        let root = confide_protocol::tee::DealParams::parse(&deal.params)
            .ok()
            .and_then(|params| params.bulk_cid)
            .and_then(|cid| cid.parse::<Cid>().ok());
        keep(&self.deals, deal_id, root)
    }
}

fn cached<K: std::hash::Hash + Eq, V: Clone>(map: &Mutex<HashMap<K, V>>, key: &K) -> Option<V> {
    map.lock().expect("bulk slices").get(key).cloned()
}

fn keep<K: std::hash::Hash + Eq, V: Clone>(map: &Mutex<HashMap<K, V>>, key: K, value: V) -> V {
    let mut map = map.lock().expect("bulk slices");
    if map.len() >= LIMIT {
        map.clear();
    }
    map.insert(key, value.clone());
    value
}
