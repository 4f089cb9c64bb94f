//! A typed client of one PoCo deployment, one file per area: `assets` (apps, datasets,
//! workerpools and their registries), `accounts` (RLC and the escrow), `orders`
//! (consumption, matching, cancelling) and `deals` (deals, tasks, contributions); what
//! is not of one area (the deployment's domain, categories, events) is here.

mod accounts;
mod assets;
mod deals;
mod orders;
mod protected;

pub use accounts::EscrowAccount;
pub use assets::{AppInfo, AssetKind, DatasetInfo, WorkerpoolInfo};
pub use deals::{ContributionInfo, DealInfo, TaskInfo, TaskStatus};
pub use orders::{CancelOrder, MatchedDeal};
pub use protected::{NewProtectedData, WHITELIST_PURPOSE};

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::DynProvider;
use serde::Serialize;

use confide_protocol::order::{AppOrder, DatasetOrder, Order, RequestOrder, WorkerpoolOrder};
use confide_protocol::{Domain, Tag};

use crate::bindings::{self, IexecHub, Registry, Rlc};
use crate::{ChainError, Connection, Deployment, EventCursor, PocoEvent};

/// A client of one PoCo deployment, signing with the connection's wallet when it has one.
#[derive(Clone)]
pub struct Poco {
    /// The node, and the wallet that signs this client's transactions.
    pub connection: Connection,
    /// The addresses of the deployment's contracts: the hub, RLC and the registries.
    pub deployment: Deployment,
}

impl Poco {
    /// Connects to the deployment at `hub`, checking contracts are there and configured.
    pub async fn new(connection: Connection, hub: Address) -> Result<Poco, ChainError> {
        let deployment = Deployment::read(&connection, hub).await?;
        Ok(Poco { connection, deployment })
    }

    /// The EIP-712 domain orders for this deployment are signed under: this chain and the hub.
    pub fn domain(&self) -> Domain {
        Domain::new(self.connection.chain_id, self.deployment.hub)
    }

    /// What Confide's SMS challenges bind a signature to: this chain and the hub.
    pub fn sms_deployment(&self) -> confide_protocol::sms::Deployment {
        confide_protocol::sms::Deployment {
            chain_id: self.connection.chain_id,
            hub: self.deployment.hub,
        }
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
