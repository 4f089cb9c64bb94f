//! A deal of ten thousand tasks costs the scheduler a page of them: it records (and
//! initializes on chain) only as many as it runs, and a one-task deal that arrives after
//! it runs beside it, not after its ten thousand tasks. A worker is given no more tasks
//! than it said it runs at once. In a pool open to any wallet, one wallet cannot spend a
//! task's attempts nor grab task after task only to fail them.

mod common;

use std::time::Duration;

use common::*;
use confide_chain::{TaskStatus, U256};
use confide_workerpool::scheduler::DEAL_PAGE;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_deal_is_recorded_a_page_at_a_time_and_a_small_one_runs_beside_it() {
    let pool = OpenPool::start("paged").await;
    let s = &pool.s;
    let pool_owner = confide_testkit::chain::client(&pool.node.url, "workerpool-owner", pool.hub).await;
    let huge = pool.deal(10_000).await;
    until("a page of the huge deal", 20, async || {
        s.scheduler.db.open_tasks().await.unwrap().len() == DEAL_PAGE as usize
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        s.scheduler.db.open_tasks().await.unwrap().len(),
        DEAL_PAGE as usize,
        "no more than a page is held"
    );
    // Tasks past the page are not initialized on chain: no gas spent on them yet.
    let beyond = confide_protocol::task_id(huge, U256::from(DEAL_PAGE + 1));
    assert_eq!(pool_owner.task(beyond).await.unwrap().status, TaskStatus::Unset);

    let small = pool.deal(1).await;
    let small_task = confide_protocol::task_id(small, U256::ZERO);
    // Seen by the scheduler before any worker asks (else the first answers predate it).
    until("the small deal's task to be ready", 30, async || {
        pool.is_ready(small_task).await
    })
    .await;
    let client = worker("worker-1", &s.url);
    register(&client, 2).await;
    let mut given = Vec::new();
    until("the small deal's task", 30, async || {
        if let Some(task) = next(&client).await {
            given.push(task);
        }
        given.contains(&small_task) || given.len() > 3
    })
    .await;
    assert!(
        given.contains(&small_task) && given.len() <= 2,
        "the small deal's task came within two assignments: {given:?}"
    );
    // It said it runs two at once: a third is not given while both run.
    assert_eq!(
        next(&client).await,
        None,
        "no more than the worker's declared concurrency"
    );
    s.kill();
}

/// In a pool open to any wallet, a worker that fails a task (however often it says so)
/// or goes silent with it never gets it back, and spends one attempt of it, not all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_an_open_pool_one_wallet_spends_one_attempt_of_a_task() {
    let pool = OpenPool::start("tried").await;
    let s = &pool.s;
    let task = confide_protocol::task_id(pool.deal(1).await, U256::ZERO);
    let attempts = async || s.scheduler.db.task(task).await.unwrap().map_or(0, |t| t.attempts);

    let rogue = worker("worker-1", &s.url);
    register(&rogue, 1).await;
    // Another worker is there (a lone worker of an open pool retries its own tasks).
    let silent = worker("worker-2", &s.url);
    register(&silent, 1).await;
    until("the task to reach the rogue", 30, async || {
        next(&rogue).await == Some(task)
    })
    .await;
    let _: (serde_json::Value, _) = rogue
        .post(&format!("/tasks/{task}/report"), &transient_failure())
        .await
        .unwrap();
    assert_eq!(attempts().await, 1);
    // Ready again at once, for others only.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for _ in 0..3 {
        assert_eq!(next(&rogue).await, None, "never back to the worker that failed it");
    }

    until("the task to reach another worker", 30, async || {
        next(&silent).await == Some(task)
    })
    .await;
    until("the silent worker's lease to run out", 30, async || {
        attempts().await == 2
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(next(&silent).await, None, "never back to the worker that lost it");
    assert_eq!(next(&rogue).await, None);

    let honest = worker("worker-3", &s.url);
    register(&honest, 1).await;
    until("the task to reach a third worker", 30, async || {
        next(&honest).await == Some(task)
    })
    .await;
    assert_eq!(attempts().await, 2, "two wallets spent two attempts of three");
    s.kill();
}

/// In an open pool, a worker that fails task after task (with a transient code, which
/// costs the task nothing) cools down: from its second failure in a row it is given no
/// task for a while, and the honest workers run them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_an_open_pool_a_worker_that_keeps_failing_cools_down() {
    let pool = OpenPool::start("cooled").await;
    let s = &pool.s;
    let deal = pool.deal(3).await;
    let tasks: Vec<_> = (0..3u64)
        .map(|i| confide_protocol::task_id(deal, U256::from(i)))
        .collect();
    for task in &tasks {
        until("the deal's tasks to be ready", 30, async || pool.is_ready(*task).await).await;
    }
    let rogue = worker("worker-1", &s.url);
    register(&rogue, 1).await;
    let honest = worker("worker-2", &s.url);
    register(&honest, 3).await;
    for _ in 0..2 {
        let task = next(&rogue).await.expect("a ready task for the rogue");
        let _: (serde_json::Value, _) = rogue
            .post(&format!("/tasks/{task}/report"), &transient_failure())
            .await
            .unwrap();
    }
    // Every task is ready, and none goes to the worker that just failed two in a row.
    for task in &tasks {
        assert!(pool.is_ready(*task).await);
    }
    assert_eq!(next(&rogue).await, None, "cooling down");
    let mut given = Vec::new();
    for _ in 0..3 {
        given.extend(next(&honest).await);
    }
    given.sort();
    let mut all = tasks.clone();
    all.sort();
    assert_eq!(given, all, "the honest worker runs them all");
    s.kill();
}
