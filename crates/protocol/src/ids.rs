//! Deal and task identifiers, as `IexecPoco1Facet._matchOrders` and
//! `IexecPoco2Facet.initialize` derive them.

use alloy_primitives::{B256, U256, keccak256};

/// `keccak256(requestOrderHash ‖ consumedBefore)`: `consumed_before` is the request
/// order's consumed volume before the match, which is also the deal's first task index.
pub fn deal_id(request_order_hash: B256, consumed_before: U256) -> B256 {
    let mut packed = [0u8; 64];
    packed[..32].copy_from_slice(request_order_hash.as_slice());
    packed[32..].copy_from_slice(&consumed_before.to_be_bytes::<32>());
    keccak256(packed)
}

/// `keccak256(dealId ‖ index)` with the index as a 32-byte big-endian integer.
///
/// ```
/// use alloy_primitives::{B256, U256};
///
/// let deal = B256::repeat_byte(7);
/// // Every task of a deal has its own id, the same wherever it is computed.
/// assert_ne!(confide_protocol::task_id(deal, U256::ZERO), confide_protocol::task_id(deal, U256::from(1)));
/// ```
pub fn task_id(deal_id: B256, index: U256) -> B256 {
    let mut packed = [0u8; 64];
    packed[..32].copy_from_slice(deal_id.as_slice());
    packed[32..].copy_from_slice(&index.to_be_bytes::<32>());
    keccak256(packed)
}
