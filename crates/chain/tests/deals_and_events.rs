//! Deals matched through our client on the real PoCo: ids, tasks, events, cancellation,
//! revert reasons in words, and the deployer's idempotence.

mod common;

use common::{World, address_of};
use confide_chain::{
    Address, B256, ChainError, Connection, DeployOutcome, Deployment, PocoEvent, TaskStatus, U256, deploy_or_find,
};
use confide_devstack::DEV_ACCOUNTS;
use confide_protocol::order::{AppOrder, DatasetOrder, Order, RequestOrder, WorkerpoolOrder};
use confide_protocol::{OrderKind, Tag, deal_id, task_id};

fn signer(role: &str) -> confide_chain::PrivateKeySigner {
    DEV_ACCOUNTS.iter().find(|a| a.role == role).unwrap().signer()
}

struct Orders {
    app: AppOrder,
    dataset: DatasetOrder,
    workerpool: WorkerpoolOrder,
    request: RequestOrder,
}

fn orders(world: &World, domain: &confide_protocol::Domain, volume: u64) -> Orders {
    let mut app = AppOrder {
        app: world.app,
        appprice: U256::from(3),
        volume: U256::from(100),
        tag: Tag::TEE_TDX,
        ..Default::default()
    };
    let mut dataset = DatasetOrder {
        dataset: world.dataset,
        datasetprice: U256::from(5),
        volume: U256::from(100),
        tag: Tag::TEE,
        ..Default::default()
    };
    let mut workerpool = WorkerpoolOrder {
        workerpool: world.workerpool,
        workerpoolprice: U256::from(7),
        volume: U256::from(100),
        tag: Tag::TEE_TDX,
        category: U256::from(0),
        trust: U256::from(1),
        ..Default::default()
    };
    let mut request = RequestOrder {
        app: world.app,
        appmaxprice: U256::from(3),
        dataset: world.dataset,
        datasetmaxprice: U256::from(5),
        workerpoolmaxprice: U256::from(7),
        requester: address_of("requester"),
        volume: U256::from(volume),
        tag: Tag::TEE_TDX,
        category: U256::from(0),
        trust: U256::from(1),
        params: r#"{"iexec_args":"--stats"}"#.into(),
        ..Default::default()
    };
    for order in [
        &mut app.salt,
        &mut dataset.salt,
        &mut workerpool.salt,
        &mut request.salt,
    ] {
        *order = B256::random();
    }
    app.sign(&signer("app-developer"), domain).unwrap();
    dataset.sign(&signer("dataset-owner"), domain).unwrap();
    workerpool.sign(&signer("workerpool-owner"), domain).unwrap();
    request.sign(&signer("requester"), domain).unwrap();
    Orders {
        app,
        dataset,
        workerpool,
        request,
    }
}

#[tokio::test]
async fn deals_and_tasks_have_the_ids_rust_computes_and_events_report_them() {
    let world = World::new().await;
    let requester = world.client("requester").await;
    let domain = requester.domain();
    let start_block = requester.connection.block_number().await.unwrap() + 1;
    let o = orders(&world, &domain, 10);

    // The same request order matched twice, partially: the second deal starts where the
    // first one stopped, and its id says so.
    let mut small_pool = o.workerpool.clone();
    small_pool.volume = U256::from(4);
    small_pool.salt = B256::random();
    small_pool.sign(&signer("workerpool-owner"), &domain).unwrap();
    let first = requester
        .match_orders(&o.app, Some(&o.dataset), &small_pool, &o.request)
        .await
        .unwrap();
    assert_eq!(first.volume, U256::from(4));
    assert_eq!(first.deal_id, deal_id(o.request.hash(&domain), U256::ZERO));
    let second = requester
        .match_orders(&o.app, Some(&o.dataset), &o.workerpool, &o.request)
        .await
        .unwrap();
    assert_eq!(second.volume, U256::from(6));
    assert_eq!(second.deal_id, deal_id(o.request.hash(&domain), U256::from(4)));
    assert_eq!(
        requester.consumed(o.request.hash(&domain)).await.unwrap(),
        U256::from(10)
    );

    let deal = requester.deal(second.deal_id).await.unwrap();
    assert_eq!(deal.bot_first, U256::from(4));
    assert_eq!(deal.bot_size, U256::from(6));
    assert_eq!(deal.tag(), Tag::TEE_TDX, "deal tag = app | dataset | request");
    assert_eq!(deal.requester, address_of("requester"));
    assert_eq!(deal.workerpool_owner, address_of("workerpool-owner"));
    assert_eq!(deal.params, o.request.params);

    // Initialize every task of the second deal: PoCo's task ids are ours.
    let scheduler = world.client("workerpool-owner").await;
    for (offset, expected) in deal.task_ids().into_iter().enumerate() {
        let index = deal.bot_first + U256::from(offset);
        assert_eq!(expected, task_id(second.deal_id, index));
        scheduler.initialize_task(second.deal_id, index).await.unwrap();
        let task = scheduler.task(expected).await.unwrap();
        assert_eq!(task.status, TaskStatus::Active);
        assert_eq!(task.deal_id, second.deal_id);
        assert_eq!(
            task.final_deadline - task.contribution_deadline,
            U256::from(3 * 300),
            "10x vs 7x XS timeref"
        );
    }

    // The event cursor sees the matches and initializations in chain order.
    let mut cursor = requester.events_from(start_block);
    let events: Vec<PocoEvent> = cursor
        .next_batch()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.event)
        .collect();
    let notices: Vec<B256> = events
        .iter()
        .filter_map(|e| match e {
            PocoEvent::SchedulerNotice { workerpool, deal_id } if *workerpool == world.workerpool => Some(*deal_id),
            _ => None,
        })
        .collect();
    assert_eq!(notices, vec![first.deal_id, second.deal_id]);
    assert!(events.iter().any(
        |e| matches!(e, PocoEvent::OrdersMatched { deal_id, request_hash, volume, .. }
        if *deal_id == second.deal_id && *request_hash == o.request.hash(&domain) && *volume == U256::from(6))
    ));
    let initialized: Vec<B256> = events
        .iter()
        .filter_map(|e| match e {
            PocoEvent::TaskInitialize { task_id, .. } => Some(*task_id),
            _ => None,
        })
        .collect();
    assert_eq!(initialized, deal.task_ids());
    assert!(
        cursor.next_batch().await.unwrap().is_empty(),
        "a cursor does not report twice"
    );
}

#[tokio::test]
async fn cancelled_orders_are_closed_on_chain_and_refused_in_words() {
    let world = World::new().await;
    let app_developer = world.client("app-developer").await;
    let domain = app_developer.domain();
    let o = orders(&world, &domain, 1);
    let start_block = app_developer.connection.block_number().await.unwrap() + 1;

    app_developer.cancel_order(&o.app).await.unwrap();
    assert_eq!(app_developer.consumed(o.app.hash(&domain)).await.unwrap(), o.app.volume);
    let events = app_developer
        .events(start_block, app_developer.connection.block_number().await.unwrap())
        .await
        .unwrap();
    assert!(events.iter().any(|l| l.event
        == PocoEvent::OrderClosed {
            kind: OrderKind::App,
            order_hash: o.app.hash(&domain)
        }));

    let requester = world.client("requester").await;
    let error = requester
        .match_orders(&o.app, Some(&o.dataset), &o.workerpool, &o.request)
        .await
        .unwrap_err();
    assert_eq!(error.revert_reason(), Some("iExecV5-matchOrders-0x60"));
    assert!(error.to_string().contains("no volume left"), "{error}");

    // Someone else cannot cancel the dataset order.
    let error = requester.cancel_order(&o.dataset).await.unwrap_err();
    assert_eq!(error.code(), "TX_REVERTED");
}

#[tokio::test]
async fn mismatched_orders_are_explained() {
    let world = World::new().await;
    let requester = world.client("requester").await;
    let domain = requester.domain();
    let mut o = orders(&world, &domain, 1);
    o.request.category = U256::from(1);
    o.request.sign(&signer("requester"), &domain).unwrap();
    let error = requester
        .simulate_match(&o.app, Some(&o.dataset), &o.workerpool, &o.request)
        .await
        .unwrap_err();
    assert_eq!(error.revert_reason(), Some("iExecV5-matchOrders-0x00"));
    assert!(error.to_string().contains("different categories"), "{error}");
}

#[tokio::test]
async fn assets_and_accounts_read_back_from_chain() {
    let world = World::new().await;
    let owner = world.client("dataset-owner").await;
    let info = owner.dataset(world.dataset).await.unwrap();
    assert_eq!(info.owner, address_of("dataset-owner"));
    assert_eq!(info.multiaddr.as_ref(), b"https://example.org/data.enc");
    assert_eq!(
        owner
            .count_assets(confide_chain::AssetKind::Dataset, info.owner)
            .await
            .unwrap(),
        U256::from(1)
    );
    assert_eq!(
        owner
            .asset_of_owner(confide_chain::AssetKind::Dataset, info.owner, U256::ZERO)
            .await
            .unwrap(),
        world.dataset
    );

    // The same dataset twice is refused before any transaction is sent.
    let error = owner
        .create_dataset("data", b"https://example.org/data.enc", B256::repeat_byte(0x11))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("already registered"), "{error}");

    // A random address is not an app.
    let error = owner.app(Address::repeat_byte(0x42)).await.unwrap_err();
    assert!(matches!(error, ChainError::UnknownAsset { what: "app", .. }), "{error}");

    // Deposit and withdraw move RLC between wallet and escrow.
    let before = owner.account(info.owner).await.unwrap();
    let wallet_before = owner.rlc_balance(info.owner).await.unwrap();
    owner.deposit(U256::from(1_000)).await.unwrap();
    owner.withdraw(U256::from(400)).await.unwrap();
    assert_eq!(
        owner.account(info.owner).await.unwrap().stake,
        before.stake + U256::from(600)
    );
    assert_eq!(
        owner.rlc_balance(info.owner).await.unwrap(),
        wallet_before - U256::from(600)
    );
    let error = owner.withdraw(U256::from(10).pow(U256::from(30))).await.unwrap_err();
    assert_eq!(error.code(), "INSUFFICIENT_FUNDS");

    // Transfer the dataset to the requester.
    owner
        .transfer_asset(
            confide_chain::AssetKind::Dataset,
            world.dataset,
            address_of("requester"),
        )
        .await
        .unwrap();
    assert_eq!(
        owner.dataset(world.dataset).await.unwrap().owner,
        address_of("requester")
    );
}

#[tokio::test]
async fn deploying_again_finds_the_deployment_and_sends_nothing() {
    let world = World::new().await;
    let deployer = DEV_ACCOUNTS[0].signer();
    let connection = Connection::connect(&world.node.url, Some(deployer.clone()))
        .await
        .unwrap();
    let nonce = connection.nonce(deployer.address()).await.unwrap();
    let package = confide_devstack::deps::poco_package(&confide_devstack::deps::cache_dir()).unwrap();
    for known in [Some(world.deployment.hub), None] {
        let (found, outcome) = deploy_or_find(&connection, &package, known).await.unwrap();
        assert_eq!(outcome, DeployOutcome::Found);
        assert_eq!(found, world.deployment);
    }
    assert_eq!(
        connection.nonce(deployer.address()).await.unwrap(),
        nonce,
        "no transaction was sent"
    );
}

#[tokio::test]
async fn connection_problems_are_reported_with_the_fix() {
    let world = World::new().await;
    let connection = Connection::connect(&world.node.url, None).await.unwrap();
    let error = connection.expect_chain_id(134).unwrap_err();
    assert_eq!(error.code(), "WRONG_CHAIN_ID");
    assert!(error.to_string().contains("31337"), "{error}");

    let error = Deployment::read(&connection, Address::repeat_byte(7))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "NO_POCO_CONTRACTS");
    assert!(error.to_string().contains("confide dev up"), "{error}");

    let closed = format!("http://127.0.0.1:{}", confide_devstack::anvil::free_port());
    let error = Connection::connect(&closed, None).await.err().unwrap();
    assert_eq!(error.code(), "CHAIN_UNREACHABLE");
    assert!(error.to_string().contains("confide dev up"), "{error}");

    let error = Connection::connect("not a url", None).await.err().unwrap();
    assert_eq!(error.code(), "INVALID_RPC_URL");
}

#[tokio::test]
async fn a_transaction_the_node_refuses_leaves_no_gap_in_the_senders_nonces() {
    let world = World::new().await;
    let owner = world.client("workerpool-owner").await;
    // No such deal: the node refuses the transaction when it estimates its gas.
    let refused = owner
        .initialize_task(B256::repeat_byte(0x42), U256::ZERO)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "TX_REVERTED", "{refused}");
    // The next transaction of the same client is mined: a skipped nonce would leave it
    // queued behind the gap until the receipt wait gives up.
    tokio::time::timeout(std::time::Duration::from_secs(20), owner.deposit(U256::from(1)))
        .await
        .expect("mined, not queued behind a nonce gap")
        .expect("deposit");
}

#[tokio::test]
async fn two_clients_of_one_account_take_turns_without_a_failed_transaction() {
    let world = World::new().await;
    let first = world.client("requester").await;
    let second = world.client("requester").await;
    // Each keeps the nonce it expects next; the other's transactions take it from under it.
    for _ in 0..2 {
        first.deposit(U256::from(1)).await.expect("first client's deposit");
        second.deposit(U256::from(1)).await.expect("second client's deposit");
    }
}

#[tokio::test]
async fn after_a_reorg_takes_its_transactions_away_the_client_sends_again() {
    use alloy::providers::Provider;
    let world = World::new().await;
    let requester = world.client("requester").await;
    let provider = &requester.connection.provider;
    let snapshot: U256 = provider.raw_request("evm_snapshot".into(), ()).await.unwrap();
    requester
        .deposit(U256::from(1))
        .await
        .expect("deposit in the replaced blocks");
    let reverted = confide_testkit::chain::revert(&world.node.url, snapshot).await.unwrap();
    assert!(reverted);
    // The nonce the client kept belongs to a transaction the chain no longer has.
    tokio::time::timeout(std::time::Duration::from_secs(20), requester.deposit(U256::from(1)))
        .await
        .expect("mined, not queued behind a nonce gap")
        .expect("deposit on the new chain");
}

#[tokio::test]
async fn a_transaction_the_node_forgets_fails_its_wait_and_the_next_one_is_mined() {
    use alloy::providers::Provider;
    let world = World::new().await;
    let requester = world.client("requester").await;
    let provider = &requester.connection.provider;
    let _: () = provider.raw_request("evm_setAutomine".into(), (false,)).await.unwrap();
    let forget = async {
        // The approval sits in the pool, unmined, until the node forgets it.
        loop {
            let status: serde_json::Value = provider.raw_request("txpool_status".into(), ()).await.unwrap();
            if status["pending"] == "0x1" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let _: serde_json::Value = provider
            .raw_request("anvil_dropAllTransactions".into(), ())
            .await
            .unwrap();
        let _: () = provider.raw_request("evm_setAutomine".into(), (true,)).await.unwrap();
    };
    let wait = tokio::time::timeout(std::time::Duration::from_secs(20), requester.deposit(U256::from(1)));
    let (dropped, ()) = tokio::join!(wait, forget);
    let dropped = dropped
        .expect("the wait fails within seconds, not after the two-minute receipt timeout")
        .expect_err("no receipt for a forgotten transaction");
    assert_eq!(dropped.code(), "TX_DROPPED", "{dropped}");
    assert!(dropped.to_string().contains("send it again"), "{dropped}");
    // The client takes its next nonce from the node: no gap where the forgotten one was.
    tokio::time::timeout(std::time::Duration::from_secs(20), requester.deposit(U256::from(1)))
        .await
        .expect("mined, not queued behind a nonce gap")
        .expect("deposit after the forgotten one");
}
