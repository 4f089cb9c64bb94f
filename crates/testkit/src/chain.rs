//! Chains for tests and benchmarks: a throwaway anvil with PoCo deployed and the dev
//! accounts funded, and states of PoCo that take a dozen calls to reach, made by the dev
//! accounts.

use std::path::Path;
use std::time::{Duration, Instant};

use confide_chain::{Address, B256, Connection, Deployment, Poco, PrivateKeySigner, U256, deploy_or_find};
use confide_devstack::anvil::{AnvilNode, AnvilOptions, DEV_CHAIN_ID, free_port};
use confide_devstack::{DEV_ACCOUNTS, DevError, deps};
use confide_protocol::order::{AppOrder, DatasetOrder, Order, RequestOrder, WorkerpoolOrder};
use confide_protocol::{Tag, task_id};

/// A throwaway chain: its node (stopped when this is dropped) and PoCo on it.
pub struct TestChain {
    /// The anvil serving the chain, on a free loopback port.
    pub node: AnvilNode,
    /// Where PoCo lives on it.
    pub deployment: Deployment,
}

impl TestChain {
    /// Starts one; see [`ephemeral_chain`].
    ///
    /// # Panics
    /// When anvil or PoCo's package cannot be had: this is for tests.
    pub async fn start() -> TestChain {
        let (node, deployment) = ephemeral_chain().await.unwrap_or_else(|e| panic!("{e}"));
        TestChain { node, deployment }
    }

    /// The node's JSON-RPC URL.
    pub fn url(&self) -> &str {
        &self.node.url
    }

    /// The PoCo hub's (the diamond's) address.
    pub fn hub(&self) -> Address {
        self.deployment.hub
    }

    /// PoCo signed by the dev account playing `role`.
    pub async fn client(&self, role: &str) -> Poco {
        client(&self.node.url, role, self.deployment.hub).await
    }

    /// The key of the dev account playing `role`, to sign as it off chain.
    ///
    /// # Panics
    /// When `role` is no dev account: this is for tests.
    pub fn signer(&self, role: &str) -> PrivateKeySigner {
        DEV_ACCOUNTS
            .iter()
            .find(|a| a.role == role)
            .unwrap_or_else(|| panic!("no dev account plays {role}"))
            .signer()
    }

    /// A dataset of the dev dataset owner, its checksum `checksum_byte` repeated.
    pub async fn dataset(&self, name: &str, checksum_byte: u8) -> Address {
        self.client("dataset-owner")
            .await
            .create_dataset(name, b"https://example.org/d.enc", B256::repeat_byte(checksum_byte))
            .await
            .expect("the dataset registers")
    }
}

/// A throwaway chain for tests: anvil on a free port without persisted state, PoCo
/// deployed, dev accounts funded. The node stops when the returned value is dropped.
pub async fn ephemeral_chain() -> Result<(AnvilNode, Deployment), DevError> {
    let cache = deps::cache_dir();
    let binary = deps::anvil_binary(&cache)?;
    let node = start_ephemeral_anvil(&binary).await?;
    let connection = Connection::connect(&node.url, Some(DEV_ACCOUNTS[0].signer())).await?;
    connection.expect_chain_id(DEV_CHAIN_ID)?;
    let (deployment, _) = deploy_or_find(&connection, &deps::poco_package(&cache)?, None).await?;
    confide_devstack::stack::fund_dev_accounts(&Poco::new(connection, deployment.hub).await?).await?;
    Ok((node, deployment))
}

/// Anvil on a free port, tried again on another port when the one picked was taken in
/// the meantime (by a process of another test binary, say): a test never fails for it.
async fn start_ephemeral_anvil(binary: &Path) -> Result<AnvilNode, DevError> {
    let mut attempt = 0;
    loop {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("confide-anvil-{}-{port}.log", std::process::id()));
        let options = AnvilOptions {
            binary,
            port,
            state: None,
            log: &log,
            chain_id: DEV_CHAIN_ID,
        };
        match AnvilNode::start(options).await {
            Err(DevError::PortBusy { .. } | DevError::AnvilExited { .. }) if attempt < 4 => attempt += 1,
            started => return started,
        }
    }
}

/// Reverts the node at `url` to an `evm_snapshot`, once anvil has pruned its pool; true
/// when the snapshot existed.
///
/// Anvil serves a block's receipts before its node task prunes the block's transactions
/// from the pool, and `evm_revert` leaves the pool as it is. A revert in that window keeps
/// a transaction of the replaced blocks in the pool: the node's pending nonce of its
/// sender counts it, and the sender's next transaction waits forever behind the gap
/// (mined-then-reverted transactions are not re-injected as a real node's reorg does).
pub async fn revert(url: &str, snapshot: confide_chain::U256) -> Result<bool, DevError> {
    use alloy::providers::Provider;
    use confide_chain::ChainError;
    let node = confide_chain::Connection::connect(url, None).await?;
    let rpc_error = |action: &str, e: alloy::transports::TransportError| ChainError::Rpc {
        action: action.to_owned(),
        reason: e.to_string(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status: serde_json::Value = node
            .provider
            .raw_request("txpool_status".into(), ())
            .await
            .map_err(|e| rpc_error("read the node's pool", e))?;
        if status["pending"] == "0x0" && status["queued"] == "0x0" {
            break;
        }
        if Instant::now() > deadline {
            return Err(ChainError::Rpc {
                action: "revert the chain".into(),
                reason: format!("the node's pool still holds transactions after 20 s: {status}"),
            }
            .into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    node.provider
        .raw_request("evm_revert".into(), (snapshot,))
        .await
        .map_err(|e| rpc_error("revert the chain", e).into())
}

/// A client of PoCo at `hub` signing as the dev account playing `role`.
///
/// # Panics
/// When the node does not answer or `role` is no dev account: this is for tests.
pub async fn client(url: &str, role: &str, hub: Address) -> Poco {
    let signer = DEV_ACCOUNTS
        .iter()
        .find(|a| a.role == role)
        .unwrap_or_else(|| panic!("no dev account plays {role}"))
        .signer();
    let connection = Connection::connect(url, Some(signer)).await.expect("the node answers");
    Poco::new(connection, hub).await.expect("PoCo at the hub")
}

/// A deal as [`matched_deal`] makes it.
pub struct DealSpec {
    /// An app of the dev `app-developer`, who signs its order.
    pub app: Address,
    /// Zero for none.
    pub dataset: Address,
    /// A workerpool of the dev `workerpool-owner`, who signs its order.
    pub workerpool: Address,
    /// The tag the app, workerpool and request orders carry (the dataset order takes
    /// `tee` alone from a TEE tag).
    pub tag: Tag,
    /// Tasks in the deal: the volume of every order.
    pub volume: u64,
    /// The trust the request asks for and the workerpool order offers.
    pub trust: u64,
    /// The request's params (empty: `{}`).
    pub params: String,
}

/// A deal for the dev `requester`, matched at price 0 with orders signed by the dev app
/// developer, dataset owner and workerpool owner; its tasks are not initialized. Returns
/// the deal id.
///
/// # Panics
/// When PoCo refuses a step: this is for tests.
pub async fn matched_deal(url: &str, hub: Address, spec: &DealSpec) -> B256 {
    let requester = client(url, "requester", hub).await;
    let me = requester.connection.sender.expect("the requester signs");
    let domain = requester.domain();
    let signer = |role: &str| DEV_ACCOUNTS.iter().find(|a| a.role == role).unwrap().signer();
    let volume = U256::from(spec.volume);
    let mut app_order = AppOrder {
        app: spec.app,
        volume,
        tag: spec.tag,
        ..Default::default()
    };
    let mut dataset_order = DatasetOrder {
        dataset: spec.dataset,
        volume,
        tag: if spec.tag.is_tee() { Tag::TEE } else { spec.tag },
        ..Default::default()
    };
    let mut pool_order = WorkerpoolOrder {
        workerpool: spec.workerpool,
        volume,
        tag: spec.tag,
        trust: U256::from(spec.trust),
        ..Default::default()
    };
    let mut request = RequestOrder {
        app: spec.app,
        dataset: spec.dataset,
        requester: me,
        beneficiary: me,
        volume,
        tag: spec.tag,
        trust: U256::from(spec.trust),
        params: if spec.params.is_empty() {
            "{}".into()
        } else {
            spec.params.clone()
        },
        ..Default::default()
    };
    app_order.refresh_salt();
    dataset_order.refresh_salt();
    pool_order.refresh_salt();
    request.refresh_salt();
    app_order.sign(&signer("app-developer"), &domain).unwrap();
    dataset_order.sign(&signer("dataset-owner"), &domain).unwrap();
    pool_order.sign(&signer("workerpool-owner"), &domain).unwrap();
    request.sign(&signer("requester"), &domain).unwrap();
    let dataset_order = (!spec.dataset.is_zero()).then_some(&dataset_order);
    requester
        .match_orders(&app_order, dataset_order, &pool_order, &request)
        .await
        .expect("the orders match")
        .deal_id
}

/// A TDX deal of one task on `dataset` (zero for none), its task initialized: the
/// returned task is ACTIVE.
///
/// # Panics
/// When PoCo refuses a step: this is for tests.
pub async fn active_tee_task(url: &str, hub: Address, app: Address, dataset: Address, workerpool: Address) -> B256 {
    let spec = DealSpec {
        app,
        dataset,
        workerpool,
        tag: Tag::TEE_TDX,
        volume: 1,
        trust: 1,
        params: String::new(),
    };
    let deal_id = matched_deal(url, hub, &spec).await;
    let requester = client(url, "requester", hub).await;
    let deal = requester.deal(deal_id).await.unwrap();
    requester.initialize_task(deal_id, U256::ZERO).await.unwrap();
    task_id(deal_id, deal.bot_first)
}
