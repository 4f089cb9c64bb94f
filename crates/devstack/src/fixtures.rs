//! Chain fixtures for tests and benchmarks: states of PoCo that take a dozen calls to
//! reach, made by the dev accounts. Test support only; no service uses this.

use confide_chain::{Address, B256, Connection, Poco, U256};
use confide_protocol::order::{AppOrder, DatasetOrder, Order, RequestOrder, WorkerpoolOrder};
use confide_protocol::{Tag, task_id};

use crate::DEV_ACCOUNTS;

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
    pub app: Address,
    /// Zero for none.
    pub dataset: Address,
    pub workerpool: Address,
    pub tag: Tag,
    pub volume: u64,
    pub trust: u64,
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
        params: "{}".into(),
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
    };
    let deal_id = matched_deal(url, hub, &spec).await;
    let requester = client(url, "requester", hub).await;
    let deal = requester.deal(deal_id).await.unwrap();
    requester.initialize_task(deal_id, U256::ZERO).await.unwrap();
    task_id(deal_id, deal.bot_first)
}
