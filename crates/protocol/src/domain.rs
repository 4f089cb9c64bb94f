//! The EIP-712 domain PoCo signs orders under.

use alloy_primitives::{Address, B256};
use alloy_sol_types::Eip712Domain;

/// The EIP-712 domain `name` PoCo signs orders under.
pub const DOMAIN_NAME: &str = "iExecODB";
/// The EIP-712 domain `version` PoCo signs orders under.
pub const DOMAIN_VERSION: &str = "5.0.0";

/// PoCo's domain on one deployment: the chain it runs on and its diamond (the "hub").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Domain {
    /// The chain's EIP-155 id (134 on iExec's Bellecour sidechain).
    pub chain_id: u64,
    /// The address of PoCo's diamond (the hub), which checks the signatures.
    pub verifying_contract: Address,
}

impl Domain {
    /// The domain of the diamond at `hub` on the chain `chain_id`.
    pub fn new(chain_id: u64, hub: Address) -> Domain {
        Domain {
            chain_id,
            verifying_contract: hub,
        }
    }

    /// The domain as alloy's [`Eip712Domain`] (no salt), to hash typed data under.
    pub fn eip712(&self) -> Eip712Domain {
        Eip712Domain::new(
            Some(DOMAIN_NAME.into()),
            Some(DOMAIN_VERSION.into()),
            Some(alloy_primitives::U256::from(self.chain_id)),
            Some(self.verifying_contract),
            None,
        )
    }

    /// The value PoCo stores at `configure()` and returns from `eip712domain_separator()`.
    pub fn separator(&self) -> B256 {
        self.eip712().separator()
    }
}
