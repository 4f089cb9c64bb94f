//! Confide's DataProtector and app whitelists on a real anvil beside the real PoCo: the
//! protected data lands in PoCo's DatasetRegistry with its schema announced, and PoCo
//! itself (not our expectations) decides that a grant to a whitelist serves exactly the
//! apps the whitelist lists.

mod common;

use alloy::sol_types::SolEvent;
use common::{World, address_of};
use confide_chain::bindings::DataProtector;
use confide_chain::{Address, AssetKind, B256, NewProtectedData, U256};
use confide_devstack::DEV_ACCOUNTS;
use confide_protocol::Tag;
use confide_protocol::order::{AppOrder, DatasetOrder, Order, RequestOrder, WorkerpoolOrder};

fn signer(role: &str) -> confide_chain::PrivateKeySigner {
    DEV_ACCOUNTS
        .iter()
        .find(|a| a.role == role)
        .expect("known role")
        .signer()
}

#[tokio::test]
async fn a_protected_data_is_a_dataset_of_its_owner_with_its_schema_announced() {
    let world = World::new().await;
    // Anyone may pay for the registration; the dataset belongs to the owner named.
    let payer = world.client("requester").await;
    let data_protector = payer.deploy_data_protector().await.expect("deployed");
    assert!(payer.is_data_protector(data_protector).await.unwrap());
    assert!(!payer.is_data_protector(world.app).await.unwrap());
    let owner = address_of("dataset-owner");
    let schema = r#"{"email":"string","age":"f64"}"#;
    let data = NewProtectedData {
        owner,
        name: "alice",
        schema,
        multiaddr: b"/ipfs/bafkreid",
        checksum: B256::repeat_byte(0x42),
    };
    let from = payer.connection.block_number().await.unwrap();
    let address = payer
        .create_protected_data(data_protector, &data)
        .await
        .expect("protected");
    let dataset = payer.dataset(address).await.expect("a dataset of PoCo's registry");
    assert_eq!(dataset.owner, owner);
    assert_eq!(dataset.name, "alice");
    assert_eq!(dataset.checksum, B256::repeat_byte(0x42));
    assert_eq!(dataset.multiaddr.as_ref(), b"/ipfs/bafkreid");

    let filter = alloy::rpc::types::Filter::new()
        .address(data_protector)
        .from_block(from)
        .event_signature(DataProtector::DatasetSchema::SIGNATURE_HASH);
    let logs = alloy::providers::Provider::get_logs(&payer.connection.provider, &filter)
        .await
        .unwrap();
    assert_eq!(logs.len(), 1);
    let event = logs[0].log_decode::<DataProtector::DatasetSchema>().unwrap().inner.data;
    assert_eq!((event.dataset, event.schema.as_str()), (address, schema));

    // The same content again is refused before any transaction.
    let again = payer.create_protected_data(data_protector, &data).await.unwrap_err();
    assert!(again.to_string().contains("already registered"), "{again}");
}

/// Whether PoCo matches orders where the world's dataset is granted to `whitelist` and the
/// request asks for `app` (simulated: nothing is spent).
async fn matches(world: &World, whitelist: Address, app: Address) -> bool {
    let requester = world.client("requester").await;
    let domain = requester.domain();
    let mut app_order = AppOrder {
        app,
        volume: U256::from(1),
        tag: Tag::TEE_TDX,
        ..Default::default()
    };
    let mut dataset_order = DatasetOrder {
        dataset: world.dataset,
        volume: U256::from(1),
        tag: Tag::TEE,
        apprestrict: whitelist,
        ..Default::default()
    };
    let mut pool_order = WorkerpoolOrder {
        workerpool: world.workerpool,
        volume: U256::from(1),
        tag: Tag::TEE_TDX,
        ..Default::default()
    };
    let mut request = RequestOrder {
        app,
        dataset: world.dataset,
        requester: address_of("requester"),
        beneficiary: address_of("requester"),
        volume: U256::from(1),
        tag: Tag::TEE_TDX,
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
    requester
        .simulate_match(&app_order, Some(&dataset_order), &pool_order, &request)
        .await
        .is_ok()
}

#[tokio::test]
async fn poco_lets_a_grant_to_a_whitelist_serve_the_apps_it_lists_only() {
    let world = World::new().await;
    let developer = world.client("app-developer").await;
    let other_app = developer
        .create_app(
            "other",
            "DOCKER",
            b"https://example.org/other.wasm",
            B256::repeat_byte(0x22),
            b"",
        )
        .await
        .unwrap();
    let owner = world.client("dataset-owner").await;
    let whitelist = owner.deploy_app_whitelist().await.expect("deployed");
    assert!(owner.is_whitelist(whitelist).await.unwrap());
    assert!(!owner.is_whitelist(world.app).await.unwrap(), "an app is no whitelist");
    assert!(
        !owner.is_whitelist(address_of("requester")).await.unwrap(),
        "a wallet is no whitelist"
    );
    assert_eq!(
        owner.whitelist_owner(whitelist).await.unwrap(),
        address_of("dataset-owner")
    );
    owner.set_whitelisted(whitelist, world.app, true).await.expect("listed");
    assert!(owner.whitelist_allows(whitelist, world.app).await.unwrap());
    assert!(!owner.whitelist_allows(whitelist, other_app).await.unwrap());

    // Only the whitelist's owner changes it; an unregistered app is refused before.
    let stranger = world.client("requester").await;
    assert!(stranger.set_whitelisted(whitelist, other_app, true).await.is_err());
    assert!(matches!(
        owner.set_whitelisted(whitelist, Address::repeat_byte(9), true).await,
        Err(confide_chain::ChainError::UnknownAsset { .. })
    ));

    assert!(
        matches(&world, whitelist, world.app).await,
        "a listed app matches a grant to its whitelist"
    );
    assert!(
        !matches(&world, whitelist, other_app).await,
        "an app the whitelist does not list is refused by PoCo"
    );
    owner
        .set_whitelisted(whitelist, world.app, false)
        .await
        .expect("removed");
    assert!(!matches(&world, whitelist, world.app).await, "a removed app is refused");
    assert!(owner.is_registered(AssetKind::App, world.app).await.unwrap());
}
