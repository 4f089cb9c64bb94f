//! Bulk requests: one request order over many protected data, a slice of them per task
//! (iExec's bulk processing, PoCo 6.1.0).
//!
//! A requester cuts signed dataset orders into slices of at most [`MAX_SLICE_ORDERS`],
//! stores each slice on IPFS as a JSON array, then a root JSON array of the slices' CIDs,
//! and signs one request order with `dataset` zero, `params.bulk_cid` = the root's CID and
//! `volume` = the number of slices. Task `i` of the request (its index in the deal) runs
//! over slice `i`. Everything read back from a root or a slice is hostile: it is
//! size-bounded here, and each order is judged on its own ([`read_slice`]) so that one bad
//! order never spoils the others.

use alloy_primitives::{Address, U256};
use serde::{Deserialize, Serialize};

use crate::DatasetOrder;
use crate::ipfs::Cid;

/// The most dataset orders a slice (one task) may hold: iExec's limit.
pub const MAX_SLICE_ORDERS: usize = 100;
/// The volume DataProtector gives a bulk grant (`DATASET_INFINITE_VOLUME`, 2^53 − 1).
pub const INFINITE_VOLUME: u64 = (1 << 53) - 1;
/// The least volume an order must have to serve bulk requests (2^53 − 2, as iExec's SMS
/// checks it): an "infinite" grant.
pub const MIN_BULK_VOLUME: u64 = (1 << 53) - 2;
/// The largest slice read: 100 signed orders are about 60 KB of JSON.
pub const MAX_SLICE_BYTES: u64 = 512 * 1024;
/// The largest root read: about 60 bytes a slice, so well over 100,000 slices.
pub const MAX_ROOT_BYTES: u64 = 8 * 1024 * 1024;

/// Whether `order` is a bulk grant: free, and with a volume no request will exhaust. An
/// order with a price is never one, whatever its volume: bulk tasks pay no dataset price,
/// so serving a priced order in bulk would give away what its owner sells.
pub fn is_bulk_grant(order: &DatasetOrder) -> bool {
    order.datasetprice.is_zero() && order.volume >= U256::from(MIN_BULK_VOLUME)
}

/// Why a root or a slice cannot be read at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BulkError {
    /// Not a JSON array (serde's message).
    #[error("not a JSON array: {0}")]
    NotAnArray(String),
    /// A root entry that is not a CID (its position, from 0).
    #[error("root entry {0} is not a CID")]
    NotACid(usize),
    /// More bytes than the format allows (the limit).
    #[error("larger than {0} bytes")]
    TooLarge(u64),
}

/// The slices' CIDs a root lists, in task order.
pub fn read_root(bytes: &[u8]) -> Result<Vec<Cid>, BulkError> {
    if bytes.len() as u64 > MAX_ROOT_BYTES {
        return Err(BulkError::TooLarge(MAX_ROOT_BYTES));
    }
    let entries: Vec<String> = serde_json::from_slice(bytes).map_err(|e| BulkError::NotAnArray(e.to_string()))?;
    entries
        .iter()
        .enumerate()
        .map(|(index, text)| text.parse::<Cid>().map_err(|_| BulkError::NotACid(index)))
        .collect()
}

/// The root a requester stores: the slices' CIDs as a JSON array of strings.
pub fn write_root(slices: &[Cid]) -> Vec<u8> {
    let texts: Vec<String> = slices.iter().map(ToString::to_string).collect();
    serde_json::to_vec(&texts).expect("strings serialize")
}

/// A slice as a requester stores it: its orders as a JSON array.
pub fn write_slice(orders: &[DatasetOrder]) -> Vec<u8> {
    serde_json::to_vec(orders).expect("orders serialize")
}

/// One entry of a slice: the order, or why it cannot be used, by its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SliceEntry {
    /// 1-based position in the slice: the `i` of `IEXEC_DATASET_{i}_FILENAME`.
    pub index: usize,
    /// The order, or the refusal that rules it out before any chain read.
    pub order: Result<DatasetOrder, Refusal>,
}

/// A slice's entries, each parsed on its own. Entries past [`MAX_SLICE_ORDERS`] are
/// refused (`SLICE_TOO_LARGE`) rather than read; an entry that is not a dataset order,
/// or not a bulk grant, is refused alone.
pub fn read_slice(bytes: &[u8]) -> Result<Vec<SliceEntry>, BulkError> {
    if bytes.len() as u64 > MAX_SLICE_BYTES {
        return Err(BulkError::TooLarge(MAX_SLICE_BYTES));
    }
    let values: Vec<serde_json::Value> =
        serde_json::from_slice(bytes).map_err(|e| BulkError::NotAnArray(e.to_string()))?;
    Ok(values
        .into_iter()
        .enumerate()
        .map(|(position, value)| SliceEntry {
            index: position + 1,
            order: judge_entry(position, value),
        })
        .collect())
}

fn judge_entry(position: usize, value: serde_json::Value) -> Result<DatasetOrder, Refusal> {
    if position >= MAX_SLICE_ORDERS {
        return Err(Refusal::new(
            RefusalCode::SliceTooLarge,
            format!("a slice holds at most {MAX_SLICE_ORDERS} orders"),
        ));
    }
    let order: DatasetOrder = serde_json::from_value(value)
        .map_err(|e| Refusal::new(RefusalCode::MalformedOrder, format!("not a dataset order: {e}")))?;
    if !is_bulk_grant(&order) {
        return Err(Refusal::new(
            RefusalCode::NotBulkGrant,
            format!(
                "the order is not a bulk grant (price {} nRLC, volume {}; bulk needs price 0 and volume ≥ {MIN_BULK_VOLUME})",
                order.datasetprice, order.volume
            ),
        ));
    }
    Ok(order)
}

/// Cuts orders into slices of at most `per_task` (1..=[`MAX_SLICE_ORDERS`]) each.
pub fn cut(orders: &[DatasetOrder], per_task: usize) -> Vec<&[DatasetOrder]> {
    orders.chunks(per_task.clamp(1, MAX_SLICE_ORDERS)).collect()
}

/// Why a dataset of a slice gets no key. Stable codes: apps, the requester's report and
/// the SMS audit all use them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefusalCode {
    /// Past the 100th order of its slice.
    SliceTooLarge,
    /// Not a dataset order as PoCo's JSON writes one.
    MalformedOrder,
    /// Priced, or with a volume below [`MIN_BULK_VOLUME`].
    NotBulkGrant,
    /// Not a dataset of PoCo's dataset registry.
    NotRegistered,
    /// PoCo's `assertDatasetDealCompatibility` refused it for this deal: revoked,
    /// consumed, not signed by the owner, restricted to another app, pool or requester,
    /// or a tag the deal lacks.
    Incompatible,
    /// Its owner never pushed its key to this SMS.
    KeyMissing,
    /// The same dataset appears earlier in the slice.
    Duplicate,
    /// The enclave could not download it, or the bytes are not the registered ones.
    DownloadFailed,
    /// The key does not open it.
    DecryptFailed,
}

impl RefusalCode {
    /// The code as text (`NOT_BULK_GRANT`).
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalCode::SliceTooLarge => "SLICE_TOO_LARGE",
            RefusalCode::MalformedOrder => "MALFORMED_ORDER",
            RefusalCode::NotBulkGrant => "NOT_BULK_GRANT",
            RefusalCode::NotRegistered => "NOT_REGISTERED",
            RefusalCode::Incompatible => "INCOMPATIBLE",
            RefusalCode::KeyMissing => "KEY_MISSING",
            RefusalCode::Duplicate => "DUPLICATE",
            RefusalCode::DownloadFailed => "DOWNLOAD_FAILED",
            RefusalCode::DecryptFailed => "DECRYPT_FAILED",
        }
    }
}

/// A dataset of a slice that got no key (or no file), and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The stable code.
    pub code: RefusalCode,
    /// One line for people.
    pub message: String,
}

impl Refusal {
    /// A refusal with its code and words.
    pub fn new(code: RefusalCode, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

/// What a task's enclave learns of each entry of its slice: the dataset it names (zero
/// when the entry did not parse) and either its key or the refusal.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkDataset {
    /// 1-based position in the slice.
    pub index: usize,
    /// The dataset the order names (zero when it could not be read).
    pub address: Address,
    /// The dataset with its key, when every check passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted: Option<crate::tee::SessionDataset>,
    /// Why it got no key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
}

/// What an enclave reports of its slice in the result archive (`bulk.json`): which
/// datasets the app received, which it did not and why. Encrypted with the result, so
/// only the beneficiary reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SliceReport {
    /// The slice's entries in order.
    pub datasets: Vec<SliceReportEntry>,
}

/// One dataset of a [`SliceReport`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SliceReportEntry {
    /// 1-based position in the slice.
    pub index: usize,
    /// The dataset (zero when its order could not be read).
    pub address: Address,
    /// True when the app found its file in `/iexec_in`.
    pub processed: bool,
    /// Why not, when not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tag;

    fn grant(price: u64, volume: u64) -> DatasetOrder {
        DatasetOrder {
            dataset: Address::repeat_byte(7),
            datasetprice: U256::from(price),
            volume: U256::from(volume),
            tag: Tag::TEE,
            ..Default::default()
        }
    }

    #[test]
    fn a_bulk_grant_is_free_and_infinite() {
        assert!(is_bulk_grant(&grant(0, INFINITE_VOLUME)));
        assert!(is_bulk_grant(&grant(0, MIN_BULK_VOLUME)));
        assert!(!is_bulk_grant(&grant(0, MIN_BULK_VOLUME - 1)));
        assert!(!is_bulk_grant(&grant(1, INFINITE_VOLUME)));
    }

    #[test]
    fn each_entry_of_a_slice_is_judged_alone() {
        let mut values: Vec<serde_json::Value> = vec![
            serde_json::to_value(grant(0, INFINITE_VOLUME)).unwrap(),
            serde_json::json!({"dataset": "not an address"}),
            serde_json::to_value(grant(5, INFINITE_VOLUME)).unwrap(),
        ];
        values.extend((0..100).map(|_| serde_json::to_value(grant(0, INFINITE_VOLUME)).unwrap()));
        let entries = read_slice(&serde_json::to_vec(&values).unwrap()).unwrap();
        assert_eq!(entries.len(), 103);
        assert!(entries[0].order.is_ok());
        let code = |i: usize| entries[i].order.as_ref().unwrap_err().code;
        assert_eq!(code(1), RefusalCode::MalformedOrder);
        assert_eq!(code(2), RefusalCode::NotBulkGrant);
        assert!(entries[99].order.is_ok());
        assert_eq!(code(100), RefusalCode::SliceTooLarge);
        assert_eq!(entries[100].index, 101);
    }

    #[test]
    fn roots_and_slices_are_bounded_and_typed() {
        assert_eq!(
            read_slice(&vec![b' '; MAX_SLICE_BYTES as usize + 1]),
            Err(BulkError::TooLarge(MAX_SLICE_BYTES))
        );
        assert!(matches!(read_slice(b"{}"), Err(BulkError::NotAnArray(_))));
        assert_eq!(read_root(br#"["not a cid"]"#), Err(BulkError::NotACid(0)));
        let cid = crate::ipfs::file_cid(crate::ipfs::CidVersion::V0, b"slice");
        assert_eq!(read_root(&write_root(&[cid])).unwrap(), vec![cid]);
    }

    #[test]
    fn slices_hold_at_most_a_hundred() {
        let orders = vec![grant(0, INFINITE_VOLUME); 250];
        let sizes: Vec<usize> = cut(&orders, 1000).iter().map(|s| s.len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
        assert_eq!(cut(&orders[..5], 2).len(), 3);
    }
}
