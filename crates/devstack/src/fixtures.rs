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

/// A TDX deal of one task on `dataset` (zero for none) for the dev `requester`, matched
/// at price 0 with orders signed by the dev app developer, dataset owner and workerpool
/// owner, and its task initialized: the returned task is ACTIVE.
///
/// # Panics
/// When PoCo refuses a step: this is for tests.
pub async fn active_tee_task(url: &str, hub: Address, app: Address, dataset: Address, workerpool: Address) -> B256 {
    let requester = client(url, "requester", hub).await;
    let me = requester.connection.sender.expect("the requester signs");
    let domain = requester.domain();
    let signer = |role: &str| DEV_ACCOUNTS.iter().find(|a| a.role == role).unwrap().signer();
    let mut app_order = AppOrder {
        app,
        volume: U256::from(1),
        tag: Tag::TEE_TDX,
        ..Default::default()
    };
    let mut dataset_order = DatasetOrder {
        dataset,
        volume: U256::from(1),
        tag: Tag::TEE,
        ..Default::default()
    };
    let mut pool_order = WorkerpoolOrder {
        workerpool,
        volume: U256::from(1),
        tag: Tag::TEE_TDX,
        trust: U256::from(1),
        ..Default::default()
    };
    let mut request = RequestOrder {
        app,
        dataset,
        requester: me,
        beneficiary: me,
        volume: U256::from(1),
        tag: Tag::TEE_TDX,
        trust: U256::from(1),
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
    let dataset_order = (!dataset.is_zero()).then_some(&dataset_order);
    let matched = requester
        .match_orders(&app_order, dataset_order, &pool_order, &request)
        .await
        .expect("the orders match");
    let deal = requester.deal(matched.deal_id).await.unwrap();
    requester.initialize_task(matched.deal_id, U256::ZERO).await.unwrap();
    task_id(matched.deal_id, deal.bot_first)
}
