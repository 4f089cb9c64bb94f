//! Protected data on chain: Confide's two small contracts beside PoCo (`contracts/`), the
//! DataProtector (iExec's ABI: registers a dataset in PoCo's DatasetRegistry and announces
//! its schema) and app whitelists (ERC-734 key managers PoCo honours as an order's
//! `apprestrict`).

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::sol_types::SolCall;

use super::{AssetKind, Poco};
use crate::ChainError;
use crate::bindings::{AppWhitelist, DataProtector};

/// The compiled contracts (`contracts/build/*.json`, made by `scripts/compile-contracts.sh`
/// with a pinned solc; a test checks they are what the sources compile to).
const DATA_PROTECTOR_ARTIFACT: &str = include_str!("../../contracts/build/DataProtector.json");
const APP_WHITELIST_ARTIFACT: &str = include_str!("../../contracts/build/AppWhitelist.json");

/// The ERC-734 purpose PoCo asks a whitelist for when it stands as an order's restriction
/// (`keyHasPurpose(bytes32(address), 4)`).
pub const WHITELIST_PURPOSE: u64 = 4;

/// A protected data as `createDatasetWithSchema` takes it.
#[derive(Clone, Debug)]
pub struct NewProtectedData<'a> {
    /// Who owns the dataset.
    pub owner: Address,
    /// Its public name.
    pub name: &'a str,
    /// The schema as JSON text (what `DatasetSchema` announces).
    pub schema: &'a str,
    /// Where the encrypted zip is (multiaddr bytes, e.g. `/p2p/<CID>` in binary).
    pub multiaddr: &'a [u8],
    /// The sha256 of the encrypted zip.
    pub checksum: B256,
}

fn creation_code(artifact: &str, name: &str) -> Result<Vec<u8>, ChainError> {
    let parsed: serde_json::Value = serde_json::from_str(artifact).map_err(|e| ChainError::Deploy {
        step: format!("read the {name} artifact"),
        reason: e.to_string(),
    })?;
    let hex_code = parsed["bytecode"].as_str().unwrap_or_default();
    crate::hex::decode(hex_code).map_err(|e| ChainError::Deploy {
        step: format!("read the {name} artifact"),
        reason: e.to_string(),
    })
}

impl Poco {
    /// Deploys a DataProtector bound to this deployment's DatasetRegistry.
    pub async fn deploy_data_protector(&self) -> Result<Address, ChainError> {
        let mut code = creation_code(DATA_PROTECTOR_ARTIFACT, "DataProtector")?;
        code.extend_from_slice(self.deployment.dataset_registry.into_word().as_slice());
        self.connection.deploy_code("DataProtector", code.into()).await
    }

    /// Whether `address` is a DataProtector of this deployment (its registry is ours).
    pub async fn is_data_protector(&self, address: Address) -> Result<bool, ChainError> {
        if !self.connection.has_code(address).await? {
            return Ok(false);
        }
        match DataProtector::new(address, self.provider()).registry().call().await {
            Ok(registry) => Ok(registry == self.deployment.dataset_registry),
            Err(_) => Ok(false),
        }
    }

    /// Registers a protected data through the DataProtector at `data_protector` (the
    /// sender pays; the dataset belongs to `data.owner`) and returns its address.
    pub async fn create_protected_data(
        &self,
        data_protector: Address,
        data: &NewProtectedData<'_>,
    ) -> Result<Address, ChainError> {
        let multiaddr = Bytes::copy_from_slice(data.multiaddr);
        // The registry derives the address from owner, name, multiaddr and checksum alone,
        // whoever calls it: the same prediction as a direct registration.
        let predicted = self
            .registry(AssetKind::Dataset)
            .predictDataset(data.owner, data.name.into(), multiaddr.clone(), data.checksum)
            .call()
            .await
            .map_err(|e| ChainError::from_call("predict the dataset address", e))?;
        if self.connection.has_code(predicted).await? {
            return Err(ChainError::Reverted {
                action: "protect the data".into(),
                reason: "already registered".into(),
                explanation: format!(
                    "an identical dataset is already registered at {predicted}: change its name or content"
                ),
            });
        }
        let contract = DataProtector::new(data_protector, self.provider());
        let call = contract.createDatasetWithSchema(
            data.owner,
            data.name.into(),
            data.schema.into(),
            multiaddr,
            data.checksum,
        );
        self.connection.send("protect the data", call).await?;
        Ok(predicted)
    }

    /// Deploys an app whitelist owned by the sender.
    pub async fn deploy_app_whitelist(&self) -> Result<Address, ChainError> {
        let owner = self.sender("create an app whitelist")?;
        let mut code = creation_code(APP_WHITELIST_ARTIFACT, "AppWhitelist")?;
        code.extend_from_slice(owner.into_word().as_slice());
        self.connection.deploy_code("AppWhitelist", code.into()).await
    }

    /// Adds (`true`) or removes an app from a whitelist the sender owns; the app must be
    /// registered when added.
    pub async fn set_whitelisted(&self, whitelist: Address, app: Address, listed: bool) -> Result<B256, ChainError> {
        self.sender("change an app whitelist")?;
        if listed {
            self.ensure_registered(AssetKind::App, app).await?;
        }
        let contract = AppWhitelist::new(whitelist, self.provider());
        let receipt = if listed {
            self.connection
                .send("add the app to the whitelist", contract.addApp(app))
                .await?
        } else {
            self.connection
                .send("remove the app from the whitelist", contract.removeApp(app))
                .await?
        };
        Ok(receipt.transaction_hash)
    }

    /// Whether `address` holds a contract that answers ERC-734's `keyHasPurpose`, as
    /// iExec's DataProtector SDK recognises a whitelist: its code contains the selector.
    pub async fn is_whitelist(&self, address: Address) -> Result<bool, ChainError> {
        let code = self.connection.code(address).await?;
        let selector = AppWhitelist::keyHasPurposeCall::SELECTOR;
        Ok(code.windows(4).any(|window| window == selector))
    }

    /// Whether the whitelist lets `app` stand for it, as PoCo asks when matching.
    pub async fn whitelist_allows(&self, whitelist: Address, app: Address) -> Result<bool, ChainError> {
        AppWhitelist::new(whitelist, self.provider())
            .keyHasPurpose(app.into_word(), U256::from(WHITELIST_PURPOSE))
            .call()
            .await
            .map_err(|e| ChainError::from_call("read the whitelist", e))
    }

    /// The owner of a whitelist.
    pub async fn whitelist_owner(&self, whitelist: Address) -> Result<Address, ChainError> {
        AppWhitelist::new(whitelist, self.provider())
            .owner()
            .call()
            .await
            .map_err(|e| ChainError::from_call("read the whitelist's owner", e))
    }
}
