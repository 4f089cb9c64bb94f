//! Two schedulers of one workerpool on one Postgres: one active, one standing by. Workers
//! name both; the active one answers them. When the active one dies, the standby takes
//! over within the scheduling lease, from the state they share: the task a worker holds
//! stays its own (its heartbeats are answered, even though the takeover took longer than a
//! worker's lease), the tasks not yet given out are given out once each, and none twice.
//! And a scheduler answers a worker's call only when the worker signed it, for that path,
//! that body, within the last minute.

mod common;

use std::time::Duration;

use common::*;
use confide_chain::Address;
use confide_devstack::DEV_ACCOUNTS;
use confide_testkit::TempPostgres;
use confide_testkit::chain::{self as fixtures, DealSpec};
use confide_workerpool::api::Heartbeat;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_standby_scheduler_takes_over_without_losing_or_doubling_a_task() {
    let postgres = TempPostgres::start("failover");
    let (node, deployment) = confide_testkit::ephemeral_chain().await.unwrap();
    let hub = deployment.hub;
    let (workerpool, app) = pool_and_app(&node.url, hub, "failover").await;

    let a = scheduler(&node.url, hub, &postgres.url, workerpool).await;
    until("the first scheduler to be active", 10, async || {
        health(&a.url).await == 200
    })
    .await;
    let b = scheduler(&node.url, hub, &postgres.url, workerpool).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(health(&b.url).await, 503, "the second stands by");
    assert!(a.scheduler.is_active() && !b.scheduler.is_active());

    // A standard deal of three tasks; workers name both schedulers, the standby first.
    let spec = DealSpec {
        app,
        dataset: Address::ZERO,
        workerpool,
        tag: confide_protocol::Tag::default(),
        volume: 3,
        trust: 1,
        params: String::new(),
    };
    fixtures::matched_deal(&node.url, hub, &spec).await;
    let both = format!("{},{}", b.url, a.url);
    let (first, second) = (worker("worker-1", &both), worker("worker-2", &both));
    for client in [&first, &second] {
        // These test workers hold tasks without running them: they take several.
        register(client, 3).await;
    }
    let mut held = None;
    until("a task for the first worker", 30, async || {
        held = next(&first).await;
        held.is_some()
    })
    .await;
    let held = held.unwrap();

    // The active scheduler dies; the standby takes over within the lease.
    a.kill();
    until("the standby to take over", 15, async || health(&b.url).await == 200).await;
    // Long enough for the new active scheduler to judge every lease (it polls every
    // 100 ms), short of the lease it grants on taking over.
    tokio::time::sleep(WORKER_LEASE / 2).await;

    // The first worker's task is still its own; the other tasks go out once each.
    let beat = async || {
        let path = format!("/tasks/{held}/heartbeat");
        let (beat, _): (Heartbeat, _) = first.post(&path, &serde_json::json!({})).await.unwrap();
        assert!(beat.keep, "the task stayed with its worker across the takeover");
    };
    beat().await;
    let mut given = vec![held];
    until("the other two tasks", 30, async || {
        beat().await;
        if let Some(task) = next(&second).await {
            given.push(task);
        }
        given.len() == 3
    })
    .await;
    for _ in 0..5 {
        beat().await;
        assert_eq!(next(&second).await, None, "nothing is given out twice");
        assert_eq!(next(&first).await, None);
    }
    given.sort();
    given.dedup();
    assert_eq!(given.len(), 3, "three distinct tasks: {given:?}");
    for task in &given {
        let live = b.scheduler.db.live_replicas(*task).await.unwrap();
        assert_eq!(live, 1, "task {task} has one worker");
    }
    b.kill();
}

/// `POST url` with these headers and body: the status and the error code, if any.
async fn post_raw(url: &str, headers: &[(&str, String)], body: &'static [u8]) -> (u16, String) {
    let mut request = reqwest::Client::new().post(url).body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    let json: serde_json::Value = answer.json().await.unwrap_or_default();
    (status, json["error"]["code"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workers_call_is_answered_once_and_only_when_signed_by_it_for_this_path_body_and_time() {
    use confide_protocol::messages::sign_personal;
    use confide_protocol::workerpool::request_hash;
    use confide_workerpool::auth::request_headers;

    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}?mode=rwc", dir.path().join("scheduler.db").display());
    let (node, deployment) = confide_testkit::ephemeral_chain().await.unwrap();
    let workerpool = fixtures::client(&node.url, "workerpool-owner", deployment.hub)
        .await
        .create_workerpool("signed calls")
        .await
        .unwrap();
    let running = scheduler(&node.url, deployment.hub, &database, workerpool).await;
    until("the scheduler to be active", 10, async || {
        health(&running.url).await == 200
    })
    .await;
    let worker = DEV_ACCOUNTS.iter().find(|a| a.role == "worker-1").unwrap().signer();
    let body: &'static [u8] = br#"{"frameworks":["standard"],"memoryMib":1024,"simulated":true}"#;
    let register = format!("{}/workers/register", running.url);

    let (signed, _) = request_headers(&worker, "POST", "/workers/register", body).unwrap();
    let headers: Vec<(&str, String)> = signed.to_vec();
    assert_eq!(post_raw(&register, &[], body).await, (401, "MISSING_SIGNER".into()));
    let without_signature = &headers[..2];
    assert_eq!(
        post_raw(&register, without_signature, body).await,
        (401, "MISSING_SIGNATURE".into())
    );
    // The same signature over another body, or sent to another path, is refused.
    let other_body: &'static [u8] = br#"{"frameworks":["tdx"],"memoryMib":1024,"simulated":true}"#;
    assert_eq!(
        post_raw(&register, &headers, other_body).await,
        (401, "WRONG_SIGNATURE".into())
    );
    let next = format!("{}/tasks/next", running.url);
    assert_eq!(post_raw(&next, &headers, body).await, (401, "WRONG_SIGNATURE".into()));
    // Signed by the worker, but two minutes ago.
    let old = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        - 120_000;
    let signature = sign_personal(&worker, request_hash("POST", "/workers/register", body, old)).unwrap();
    let stale = [
        (headers[0].0, headers[0].1.clone()),
        (headers[1].0, old.to_string()),
        (
            headers[2].0,
            format!("0x{}", confide_chain::hex::encode(signature.as_bytes())),
        ),
    ];
    assert_eq!(post_raw(&register, &stale, body).await, (401, "STALE_REQUEST".into()));
    // The genuine request is answered, once: played again, it is refused.
    assert_eq!(post_raw(&register, &headers, body).await, (200, String::new()));
    assert_eq!(
        post_raw(&register, &headers, body).await,
        (401, "REPLAYED_REQUEST".into())
    );
    running.kill();
}
