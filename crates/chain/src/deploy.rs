//! Deploys PoCo v6 from `@iexec/poco` the way iExec's own `deploy/0_deploy.ts` does, in
//! token mode, and finds an existing deployment instead of deploying twice.

use std::collections::{HashMap, HashSet};

use alloy::primitives::{Address, FixedBytes, U256};
use alloy::sol_types::{SolCall, SolValue};
use serde::{Deserialize, Serialize};

use crate::bindings::{DiamondArgs, FacetCut, IDiamond, IexecHub, Registry, initCall};
use crate::{ChainError, Connection, PocoPackage};

/// PoCo facets in the order iExec adds them, token mode (EscrowToken, not EscrowNative).
/// Boost facets are included: iExec's SDK v9 calls them.
const FACETS: [&str; 13] = [
    "IexecAccessorsABILegacyFacet",
    "IexecCategoryManagerFacet",
    "IexecConfigurationExtraFacet",
    "IexecConfigurationFacet",
    "IexecEscrowTokenFacet",
    "IexecOrderManagementFacet",
    "IexecPoco1Facet",
    "IexecPoco2Facet",
    "IexecPocoAccessorsFacet",
    "IexecPocoBoostFacet",
    "IexecPocoBoostAccessorsFacet",
    "IexecRelayFacet",
    "IexecERC20Facet",
];

/// The standard categories: name and `workClockTimeRef` in seconds.
pub struct Categories;
impl Categories {
    /// XS to XL as in PoCo's `config/config.json`, created in this order, so their ids are
    /// 0 to 4.
    pub const STANDARD: [(&'static str, u64); 5] = [("XS", 300), ("S", 1200), ("M", 3600), ("L", 10800), ("XL", 36000)];
}

/// The diamond is the sixth contract a fresh deployment creates (after RLC, the cut,
/// loupe and ownership facets and DiamondInit), so its address follows from the
/// deployer's starting nonce.
const HUB_NONCE_OFFSET: u64 = 5;

/// Where PoCo lives on one chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// The chain the contracts are on.
    pub chain_id: u64,
    /// The PoCo diamond (the "hub"): every PoCo call goes there, and it verifies the orders'
    /// signatures.
    pub hub: Address,
    /// The RLC token contract, whose tokens the escrow holds (token mode).
    pub token: Address,
    /// The app registry: an ERC-721 contract, one token per app.
    pub app_registry: Address,
    /// The dataset registry: an ERC-721 contract, one token per dataset.
    pub dataset_registry: Address,
    /// The workerpool registry: an ERC-721 contract, one token per workerpool.
    pub workerpool_registry: Address,
    /// The diamond's owner, the one allowed to change PoCo's configuration and create
    /// categories.
    pub owner: Address,
}

/// What [`deploy_or_find`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeployOutcome {
    /// The contracts were deployed by this call.
    Deployed,
    /// A configured deployment was already there; nothing was sent.
    Found,
}

impl Deployment {
    /// Reads a deployment from its hub, failing clearly when there is none.
    pub async fn read(connection: &Connection, hub: Address) -> Result<Deployment, ChainError> {
        if !connection.has_code(hub).await? {
            return Err(ChainError::NoContracts {
                hub,
                chain_id: connection.chain_id,
            });
        }
        let poco = IexecHub::new(hub, &connection.provider);
        let read = |e| ChainError::from_call("read the PoCo configuration", e);
        let separator = poco.eip712domain_separator().call().await.map_err(read)?;
        if separator.is_zero() {
            return Err(ChainError::NotConfigured { hub });
        }
        Ok(Deployment {
            chain_id: connection.chain_id,
            hub,
            token: poco.token().call().await.map_err(read)?,
            app_registry: poco.appregistry().call().await.map_err(read)?,
            dataset_registry: poco.datasetregistry().call().await.map_err(read)?,
            workerpool_registry: poco.workerpoolregistry().call().await.map_err(read)?,
            owner: poco.owner().call().await.map_err(read)?,
        })
    }
}

/// Returns the deployment at `known_hub`, or the one this deployer made earlier, or
/// deploys a new one. Re-running it against a deployed chain sends nothing.
pub async fn deploy_or_find(
    connection: &Connection,
    package: &PocoPackage,
    known_hub: Option<Address>,
) -> Result<(Deployment, DeployOutcome), ChainError> {
    let deployer = connection.require_sender("deploy PoCo")?;
    if let Some(hub) = known_hub
        && let Ok(found) = Deployment::read(connection, hub).await
    {
        return Ok((found, DeployOutcome::Found));
    }
    let nonce = connection.nonce(deployer).await?;
    if nonce > HUB_NONCE_OFFSET {
        let predicted = deployer.create(HUB_NONCE_OFFSET);
        if let Ok(found) = Deployment::read(connection, predicted).await {
            return Ok((found, DeployOutcome::Found));
        }
    }
    let deployment = deploy(connection, package, deployer).await?;
    Ok((deployment, DeployOutcome::Deployed))
}

async fn deploy(connection: &Connection, package: &PocoPackage, deployer: Address) -> Result<Deployment, ChainError> {
    let mut routed: HashSet<FixedBytes<4>> = HashSet::new();
    let token = deploy_artifact(connection, package.deployed("RLC")?, &HashMap::new()).await?;
    let hub = deploy_diamond(connection, package, deployer, &mut routed).await?;
    cut_poco_facets(connection, package, hub, &mut routed).await?;
    let registries = deploy_registries(connection, package).await?;
    configure(connection, hub, token, registries).await?;
    Deployment::read(connection, hub).await
}

async fn deploy_artifact(
    connection: &Connection,
    artifact: crate::artifacts::Artifact,
    libraries: &HashMap<&str, Address>,
) -> Result<Address, ChainError> {
    let code = artifact.linked_bytecode(libraries)?;
    connection.deploy_code(&artifact.name, code).await
}

/// The diamond with its cut, loupe and ownership facets (their selectors marked routed).
async fn deploy_diamond(
    connection: &Connection,
    package: &PocoPackage,
    deployer: Address,
    routed: &mut HashSet<FixedBytes<4>>,
) -> Result<Address, ChainError> {
    let no_libraries = HashMap::new();
    let mut initial_cuts = Vec::new();
    for name in ["DiamondCutFacet", "DiamondLoupeFacet", "OwnershipFacet"] {
        let artifact = package.deployed(name)?;
        let selectors = new_selectors(&artifact.selectors(), routed);
        let facet = deploy_artifact(connection, artifact, &no_libraries).await?;
        initial_cuts.push(FacetCut {
            facetAddress: facet,
            action: 0,
            functionSelectors: selectors,
        });
    }
    let init = deploy_artifact(connection, package.deployed("DiamondInit")?, &no_libraries).await?;
    let args = DiamondArgs {
        owner: deployer,
        init,
        initCalldata: initCall {}.abi_encode().into(),
    };
    let mut diamond_code = package
        .compiled("Diamond.sol", "Diamond")?
        .linked_bytecode(&no_libraries)?
        .to_vec();
    diamond_code.extend((initial_cuts, args).abi_encode_params());
    connection.deploy_code("Diamond", diamond_code.into()).await
}

/// The orders library, then every PoCo facet linked to it and cut into the diamond.
async fn cut_poco_facets(
    connection: &Connection,
    package: &PocoPackage,
    hub: Address,
    routed: &mut HashSet<FixedBytes<4>>,
) -> Result<(), ChainError> {
    let library = package.compiled("libs/IexecLibOrders_v5.sol", "IexecLibOrders_v5")?;
    let library = deploy_artifact(connection, library, &HashMap::new()).await?;
    let libraries = HashMap::from([("IexecLibOrders_v5", library)]);
    let diamond = IDiamond::new(hub, &connection.provider);
    for name in FACETS {
        let artifact = package.compiled(&format!("facets/{name}.sol"), name)?;
        let selectors = new_selectors(&artifact.selectors(), routed);
        let facet = deploy_artifact(connection, artifact, &libraries).await?;
        if selectors.is_empty() {
            continue;
        }
        let cut = FacetCut {
            facetAddress: facet,
            action: 0,
            functionSelectors: selectors,
        };
        connection
            .send(
                &format!("add {name} to the diamond"),
                diamond.diamondCut(vec![cut], Address::ZERO, Default::default()),
            )
            .await?;
    }
    Ok(())
}

/// The app, dataset and workerpool registries, initialized with no predecessor, with
/// iExec's metadata base URIs.
async fn deploy_registries(connection: &Connection, package: &PocoPackage) -> Result<[Address; 3], ChainError> {
    let mut registries = [Address::ZERO; 3];
    let sources = [
        ("registries/apps/AppRegistry.sol", "AppRegistry", "app"),
        ("registries/datasets/DatasetRegistry.sol", "DatasetRegistry", "dataset"),
        (
            "registries/workerpools/WorkerpoolRegistry.sol",
            "WorkerpoolRegistry",
            "workerpool",
        ),
    ];
    for (slot, (dir, name, kind)) in registries.iter_mut().zip(sources) {
        let address = deploy_artifact(connection, package.compiled(dir, name)?, &HashMap::new()).await?;
        let registry = Registry::new(address, &connection.provider);
        connection
            .send(&format!("initialize {name}"), registry.initialize(Address::ZERO))
            .await?;
        let base_uri = format!("https://nfts-metadata.iex.ec/{kind}/");
        connection
            .send(&format!("set {name} base URI"), registry.setBaseURI(base_uri))
            .await?;
        *slot = address;
    }
    Ok(registries)
}

/// PoCo's configuration (token, registries, EIP-712 domain), then the categories.
async fn configure(
    connection: &Connection,
    hub: Address,
    token: Address,
    [apps, datasets, workerpools]: [Address; 3],
) -> Result<(), ChainError> {
    let poco = IexecHub::new(hub, &connection.provider);
    let configure = poco.configure(
        token,
        "Staked RLC".into(),
        "SRLC".into(),
        9,
        apps,
        datasets,
        workerpools,
        Address::ZERO,
    );
    connection.send("configure PoCo", configure).await?;
    for (name, seconds) in Categories::STANDARD {
        let create = poco.createCategory(name.into(), "{}".into(), U256::from(seconds));
        connection.send(&format!("create category {name}"), create).await?;
    }
    Ok(())
}

/// The selectors of `all` the diamond does not route yet, marking them as routed. Some
/// facets repeat selectors (`owner()`), and adding one twice reverts.
fn new_selectors(all: &[FixedBytes<4>], present: &mut HashSet<FixedBytes<4>>) -> Vec<FixedBytes<4>> {
    all.iter()
        .copied()
        .filter(|selector| present.insert(*selector))
        .collect()
}
