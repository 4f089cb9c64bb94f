//! A bulk task's keys, against a real PoCo on anvil, an SMS on loopback and a gateway the
//! requester's slices are read through: each hostile order of a slice is refused alone
//! (revoked, for another app, forged, not a bulk grant, unregistered, keyless, named
//! twice, past the hundredth, not an order), the good ones get their keys, a task gets
//! only its own slice, and a gateway that lies about a CID gets no session at all.

#[path = "support/world.rs"]
mod support;

use confide_protocol::bulk::{self, RefusalCode};
use confide_protocol::{DatasetOrder, order::Order};
use support::{Gateway, World};

fn refusal_of(session: &confide_protocol::tee::TaskSession, index: usize) -> Option<RefusalCode> {
    let entry = session.bulk.iter().find(|e| e.index == index).unwrap();
    assert_eq!(
        entry.granted.is_some(),
        entry.refusal.is_none(),
        "a key or a reason, never both"
    );
    entry.refusal.as_ref().map(|r| r.code)
}

#[tokio::test]
async fn each_order_of_a_slice_is_judged_alone_and_a_task_gets_only_its_slice() {
    let gateway = Gateway::start().await;
    let world = World::start(&gateway).await;
    let good = world.dataset("dataset-owner", "good", true).await;
    let revoked = world.dataset("dataset-owner", "revoked", true).await;
    let other_app = world.dataset("dataset-owner", "other-app", true).await;
    let forged = world.dataset("dataset-owner", "forged", true).await;
    let limited = world.dataset("dataset-owner", "limited", true).await;
    let keyless = world.dataset("dataset-owner", "keyless", false).await;
    let second = world.dataset("dataset-owner", "second", true).await;

    let revoked_grant = world.bulk_grant(revoked).await;
    let another_app = world
        .client("app-developer")
        .await
        .create_app(
            "another",
            "WASM",
            b"https://example.org/x",
            confide_chain::B256::repeat_byte(9),
            b"",
        )
        .await
        .unwrap();
    let mut slice_one: Vec<serde_json::Value> = vec![
        serde_json::to_value(world.bulk_grant(good).await).unwrap(),
        serde_json::to_value(&revoked_grant).unwrap(),
        serde_json::to_value(
            world
                .grant(other_app, another_app, "dataset-owner", bulk::INFINITE_VOLUME)
                .await,
        )
        .unwrap(),
        // Signed by the requester, not the dataset's owner.
        serde_json::to_value(world.grant(forged, world.app, "requester", bulk::INFINITE_VOLUME).await).unwrap(),
        // A grant of one access is no bulk grant.
        serde_json::to_value(world.grant(limited, world.app, "dataset-owner", 1).await).unwrap(),
        serde_json::to_value(world.bulk_grant(keyless).await).unwrap(),
        serde_json::to_value(world.bulk_grant(good).await).unwrap(),
        serde_json::json!({ "dataset": "0x12", "volume": "nonsense" }),
    ];
    // An order naming an address no registry knows, signed by "its owner".
    let mut unregistered = world.bulk_grant(good).await;
    unregistered.dataset = confide_chain::Address::repeat_byte(0x42);
    slice_one.push(serde_json::to_value(&unregistered).unwrap());
    let slice_two = vec![world.bulk_grant(second).await];
    let one = gateway.put(serde_json::to_vec(&slice_one).unwrap());
    let two = gateway.put(bulk::write_slice(&slice_two));
    let root = gateway.put(bulk::write_root(&[one, two]));
    let tasks = world.bulk_deal(&root, 2).await;
    // Revoked after the deal was made, before the session.
    world
        .client("dataset-owner")
        .await
        .cancel_order(&revoked_grant)
        .await
        .unwrap();

    let http = reqwest::Client::new();
    let sent = world.sent_worker(tasks[0]).await;
    let session = world.session(&http, &sent).await.unwrap();
    assert_eq!(session.bulk.len(), 9);
    assert_eq!(refusal_of(&session, 1), None);
    let granted = session.bulk[0].granted.as_ref().unwrap();
    assert_eq!(granted.address, good);
    assert_eq!(granted.key, "yPkNkPnLQiGmRD0mkc2eoKcG+5nPK7p2k2BzdkWDfD8=");
    assert_eq!(refusal_of(&session, 2), Some(RefusalCode::Incompatible), "revoked");
    assert_eq!(
        refusal_of(&session, 3),
        Some(RefusalCode::Incompatible),
        "another app's"
    );
    assert_eq!(refusal_of(&session, 4), Some(RefusalCode::Incompatible), "forged");
    assert_eq!(refusal_of(&session, 5), Some(RefusalCode::NotBulkGrant));
    assert_eq!(refusal_of(&session, 6), Some(RefusalCode::KeyMissing));
    assert_eq!(refusal_of(&session, 7), Some(RefusalCode::Duplicate));
    assert_eq!(refusal_of(&session, 8), Some(RefusalCode::MalformedOrder));
    assert_eq!(refusal_of(&session, 9), Some(RefusalCode::NotRegistered));
    assert!(session.dataset.is_none());

    // The second task gets the second slice's key, and nothing of the first.
    let sent = world.sent_worker(tasks[1]).await;
    let session = world.session(&http, &sent).await.unwrap();
    let keys: Vec<_> = session
        .bulk
        .iter()
        .filter_map(|e| e.granted.as_ref())
        .map(|d| d.address)
        .collect();
    assert_eq!(keys, vec![second]);

    // Each release is in its owner's ledger, once.
    let releases = world.store.key_releases(good).await.unwrap();
    assert_eq!(releases.len(), 1);
    assert_eq!(releases[0].task_id, tasks[0]);
}

#[tokio::test]
async fn a_slice_past_a_hundred_orders_and_a_lying_gateway() {
    let gateway = Gateway::start().await;
    let world = World::start(&gateway).await;
    let good = world.dataset("dataset-owner", "good", true).await;
    let grant: DatasetOrder = world.bulk_grant(good).await;
    // 101 entries: the 101st is not read, the 100 before it are (one key: the rest
    // name the same dataset again).
    let slice: Vec<DatasetOrder> = (0..101).map(|_| grant.clone()).collect();
    let big = gateway.put(bulk::write_slice(&slice));
    let root = gateway.put(bulk::write_root(&[big]));
    let tasks = world.bulk_deal(&root, 1).await;
    let http = reqwest::Client::new();
    let sent = world.sent_worker(tasks[0]).await;
    let session = world.session(&http, &sent).await.unwrap();
    assert_eq!(session.bulk.len(), 101);
    assert_eq!(refusal_of(&session, 1), None);
    assert_eq!(refusal_of(&session, 2), Some(RefusalCode::Duplicate));
    assert_eq!(refusal_of(&session, 101), Some(RefusalCode::SliceTooLarge));

    // The gateway now answers the root's CID with a root of its own choosing: no session.
    let mut other = grant.clone();
    other.refresh_salt();
    let forged_slice = gateway.put(bulk::write_slice(&[other]));
    gateway.lie(&root, bulk::write_root(&[forged_slice]));
    let tasks = world.bulk_deal(&root, 1).await;
    let sent = world.sent_worker(tasks[0]).await;
    let (status, body) = world.session(&http, &sent).await.err().expect("refused");
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("IPFS_WRONG_CONTENT"), "{body}");
}
