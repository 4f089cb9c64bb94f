//! Apps, datasets and workerpools: registering them, reading them, counting and handing them over.

use super::*;

/// The three kinds of registered assets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AssetKind {
    /// An app: the code a task runs (PoCo's `AppRegistry`).
    App,
    /// A dataset an app reads, usually encrypted (PoCo's `DatasetRegistry`).
    Dataset,
    /// A pool of workers, run by its owner's scheduler (PoCo's `WorkerpoolRegistry`).
    Workerpool,
}

impl AssetKind {
    /// The kind in lowercase, as it serializes and as messages name it.
    pub fn name(self) -> &'static str {
        match self {
            AssetKind::App => "app",
            AssetKind::Dataset => "dataset",
            AssetKind::Workerpool => "workerpool",
        }
    }
}

/// A registered app, as its contract describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AppInfo {
    /// The app's contract, which is also its token id in the app registry.
    pub address: Address,
    /// The account holding the app's token: it signs the app's orders and is paid its price.
    pub owner: Address,
    /// The name given at registration; free text, not unique.
    pub name: String,
    /// How the app is packaged and run (`WASM` for Confide's, `DOCKER` for iExec's);
    /// serialized as `type`.
    #[serde(rename = "type")]
    pub app_type: String,
    /// Where the app's code is fetched from (an image name, a URL or `/ipfs/<CID>`), as
    /// registered.
    pub multiaddr: Bytes,
    /// The sha256 the code found at `multiaddr` must have.
    pub checksum: B256,
    /// The app's enclave configuration (JSON naming framework and fingerprint); empty for an
    /// app that declares none.
    pub mrenclave: Bytes,
}

/// A registered dataset, as its contract describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DatasetInfo {
    /// The dataset's contract, which is also its token id in the dataset registry.
    pub address: Address,
    /// The account holding the dataset's token: it signs the dataset's orders and is paid
    /// its price.
    pub owner: Address,
    /// The name given at registration; free text, not unique.
    pub name: String,
    /// Where the dataset file is downloaded from (a URL or `/ipfs/<CID>`), as registered.
    pub multiaddr: Bytes,
    /// The sha256 of the dataset file (of the encrypted file, for an encrypted dataset).
    pub checksum: B256,
}

/// A registered workerpool, as its contract describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WorkerpoolInfo {
    /// The workerpool's contract, which is also its token id in the workerpool registry.
    pub address: Address,
    /// The account holding the workerpool's token: its scheduler, which signs the pool's
    /// orders and finalizes its tasks.
    pub owner: Address,
    /// The description given at registration; free text.
    pub description: String,
    /// The percentage of the workerpool price each worker stakes to contribute (30 unless
    /// the owner changed it).
    pub worker_stake_ratio: U256,
    /// The percentage of the workerpool price the scheduler keeps; the workers share the rest
    /// (1 unless the owner changed it).
    pub scheduler_reward_ratio: U256,
}

impl Poco {
    /// Registers an app owned by the sender; fails if the same app is already registered.
    pub async fn create_app(
        &self,
        name: &str,
        app_type: &str,
        multiaddr: &[u8],
        checksum: B256,
        mrenclave: &[u8],
    ) -> Result<Address, ChainError> {
        let owner = self.sender("deploy an app")?;
        let registry = self.registry(AssetKind::App);
        let (multiaddr, mrenclave) = (Bytes::copy_from_slice(multiaddr), Bytes::copy_from_slice(mrenclave));
        let predicted = registry
            .predictApp(
                owner,
                name.into(),
                app_type.into(),
                multiaddr.clone(),
                checksum,
                mrenclave.clone(),
            )
            .call()
            .await
            .map_err(|e| ChainError::from_call("predict the app address", e))?;
        let create = registry.createApp(owner, name.into(), app_type.into(), multiaddr, checksum, mrenclave);
        self.create_asset(AssetKind::App, predicted, create).await
    }

    /// Registers a dataset owned by the sender.
    pub async fn create_dataset(&self, name: &str, multiaddr: &[u8], checksum: B256) -> Result<Address, ChainError> {
        let owner = self.sender("deploy a dataset")?;
        let registry = self.registry(AssetKind::Dataset);
        let multiaddr = Bytes::copy_from_slice(multiaddr);
        let predicted = registry
            .predictDataset(owner, name.into(), multiaddr.clone(), checksum)
            .call()
            .await
            .map_err(|e| ChainError::from_call("predict the dataset address", e))?;
        let create = registry.createDataset(owner, name.into(), multiaddr, checksum);
        self.create_asset(AssetKind::Dataset, predicted, create).await
    }

    /// The address `create_workerpool` gives a pool of `owner` with this description.
    pub async fn predict_workerpool(&self, owner: Address, description: &str) -> Result<Address, ChainError> {
        self.registry(AssetKind::Workerpool)
            .predictWorkerpool(owner, description.into())
            .call()
            .await
            .map_err(|e| ChainError::from_call("predict the workerpool address", e))
    }

    /// Registers a workerpool owned by the sender.
    pub async fn create_workerpool(&self, description: &str) -> Result<Address, ChainError> {
        let owner = self.sender("deploy a workerpool")?;
        let registry = self.registry(AssetKind::Workerpool);
        let predicted = registry
            .predictWorkerpool(owner, description.into())
            .call()
            .await
            .map_err(|e| ChainError::from_call("predict the workerpool address", e))?;
        let create = registry.createWorkerpool(owner, description.into());
        self.create_asset(AssetKind::Workerpool, predicted, create).await
    }

    async fn create_asset<P: alloy::providers::Provider, D: alloy::contract::CallDecoder>(
        &self,
        kind: AssetKind,
        predicted: Address,
        create: alloy::contract::CallBuilder<P, D>,
    ) -> Result<Address, ChainError> {
        let action = format!("deploy the {}", kind.name());
        if self.connection.has_code(predicted).await? {
            return Err(ChainError::Reverted {
                action,
                reason: "already registered".into(),
                explanation: format!(
                    "an identical {} is already registered at {predicted}: change its name or content",
                    kind.name()
                ),
            });
        }
        self.connection.send(&action, create).await?;
        Ok(predicted)
    }

    /// Whether the registry of `kind` knows `asset` (false for any other address).
    pub async fn is_registered(&self, kind: AssetKind, asset: Address) -> Result<bool, ChainError> {
        self.registry(kind)
            .isRegistered(asset)
            .call()
            .await
            .map_err(|e| ChainError::from_call("check registration", e))
    }

    pub(super) async fn ensure_registered(&self, kind: AssetKind, asset: Address) -> Result<(), ChainError> {
        if !self.is_registered(kind, asset).await? {
            return Err(ChainError::UnknownAsset {
                what: kind.name(),
                address: asset,
            });
        }
        Ok(())
    }

    /// The app at `address`; [`ChainError::UnknownAsset`] when the app registry does not
    /// know it.
    pub async fn app(&self, address: Address) -> Result<AppInfo, ChainError> {
        self.ensure_registered(AssetKind::App, address).await?;
        let app = self
            .hub()
            .viewApp(address)
            .call()
            .await
            .map_err(|e| ChainError::from_call("read app", e))?;
        Ok(AppInfo {
            address,
            owner: app.owner,
            name: app.m_appName,
            app_type: app.m_appType,
            multiaddr: app.m_appMultiaddr,
            checksum: app.m_appChecksum,
            mrenclave: app.m_appMREnclave,
        })
    }

    /// The dataset at `address`; [`ChainError::UnknownAsset`] when the dataset registry does
    /// not know it.
    pub async fn dataset(&self, address: Address) -> Result<DatasetInfo, ChainError> {
        self.ensure_registered(AssetKind::Dataset, address).await?;
        let dataset = self
            .hub()
            .viewDataset(address)
            .call()
            .await
            .map_err(|e| ChainError::from_call("read dataset", e))?;
        Ok(DatasetInfo {
            address,
            owner: dataset.owner,
            name: dataset.m_datasetName,
            multiaddr: dataset.m_datasetMultiaddr,
            checksum: dataset.m_datasetChecksum,
        })
    }

    /// The workerpool at `address`; [`ChainError::UnknownAsset`] when the workerpool
    /// registry does not know it.
    pub async fn workerpool(&self, address: Address) -> Result<WorkerpoolInfo, ChainError> {
        self.ensure_registered(AssetKind::Workerpool, address).await?;
        let pool = self
            .hub()
            .viewWorkerpool(address)
            .call()
            .await
            .map_err(|e| ChainError::from_call("read workerpool", e))?;
        Ok(WorkerpoolInfo {
            address,
            owner: pool.owner,
            description: pool.m_workerpoolDescription,
            worker_stake_ratio: pool.m_workerStakeRatioPolicy,
            scheduler_reward_ratio: pool.m_schedulerRewardRatioPolicy,
        })
    }

    /// The owner of an Ownable contract (an app, dataset or workerpool); `None` when the
    /// address holds no contract or the contract has no `owner()`.
    pub async fn contract_owner(&self, address: Address) -> Result<Option<Address>, ChainError> {
        if !self.connection.has_code(address).await? {
            return Ok(None);
        }
        match bindings::IOwnable::new(address, self.provider()).owner().call().await {
            Ok(owner) => Ok(Some(owner)),
            Err(error) if error.as_revert_data().is_some() => Ok(None),
            Err(alloy::contract::Error::AbiError(_)) | Err(alloy::contract::Error::ZeroData(..)) => Ok(None),
            Err(error) => Err(ChainError::from_call("read the owner", error)),
        }
    }

    /// How many assets of `kind` `owner` holds.
    pub async fn count_assets(&self, kind: AssetKind, owner: Address) -> Result<U256, ChainError> {
        self.registry(kind)
            .balanceOf(owner)
            .call()
            .await
            .map_err(|e| ChainError::from_call("count assets", e))
    }

    /// The `index`-th asset of `kind` held by `owner`.
    pub async fn asset_of_owner(&self, kind: AssetKind, owner: Address, index: U256) -> Result<Address, ChainError> {
        let token = self
            .registry(kind)
            .tokenOfOwnerByIndex(owner, index)
            .call()
            .await
            .map_err(|e| ChainError::from_call("read asset by index", e))?;
        Ok(Address::from_word(token.into()))
    }

    /// Hands an asset to another owner (an ERC-721 transfer in its registry).
    pub async fn transfer_asset(&self, kind: AssetKind, asset: Address, to: Address) -> Result<B256, ChainError> {
        let from = self.sender("transfer an asset")?;
        self.ensure_registered(kind, asset).await?;
        let token = U256::from_be_slice(asset.into_word().as_slice());
        let receipt = self
            .connection
            .send(
                &format!("transfer the {}", kind.name()),
                self.registry(kind).transferFrom(from, to, token),
            )
            .await?;
        Ok(receipt.transaction_hash)
    }
}
