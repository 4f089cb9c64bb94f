//! The scheduler's store keeps the same promises on SQLite (the default) and on Postgres
//! (`--database-url`): a replica per worker, leases that a heartbeat extends and only an
//! expired one loses, dispatch that never gives a worker a task it already holds,
//! status changes guarded by the status they expect, and the tasks of a deal a reorg took
//! away set aside and brought back.

use confide_chain::{Address, B256};
use confide_protocol::tag::TeeFramework;
use confide_protocol::workerpool::TaskStep;
use confide_testkit::TempPostgres;
use confide_workerpool::api::ReplicaStatus;
use confide_workerpool::db::{SchedulerDb, TaskFramework, TaskRow};

fn task(index: u64, framework: TaskFramework, wanted: u64) -> TaskRow {
    TaskRow {
        task_id: B256::repeat_byte(index as u8 + 1),
        deal_id: B256::repeat_byte(0xd0),
        index,
        workerpool: Address::repeat_byte(0x77),
        framework,
        status: TaskStep::Ready,
        challenge: Address::ZERO,
        worker: Address::ZERO,
        wanted,
        attempts: 0,
        final_deadline: 1_000 + index,
        not_before_ms: 0,
        results: String::new(),
        readers: vec![Address::repeat_byte(0xaa), Address::repeat_byte(0xbb)],
    }
}

async fn replicas_and_leases(url: &str) {
    let db = SchedulerDb::open(url).await.unwrap();
    // Opening again (a restart) finds the schema, added columns included, in place.
    let db = {
        drop(db);
        SchedulerDb::open(url).await.unwrap()
    };
    let (alice, bob) = (Address::repeat_byte(0xa1), Address::repeat_byte(0xb0));
    let replicated = task(0, TaskFramework::Standard, 2);
    let tee = task(1, TaskFramework::Tee(TeeFramework::Tdx), 1);
    assert!(db.add_task(&replicated).await.unwrap());
    assert!(db.add_task(&tee).await.unwrap());
    assert!(!db.add_task(&replicated).await.unwrap(), "a task is recorded once");
    let stored = db.task(replicated.task_id).await.unwrap().unwrap();
    assert_eq!(
        stored.readers, replicated.readers,
        "the deal's parties are kept with the task"
    );
    assert_eq!(db.task(replicated.task_id).await.unwrap().unwrap().wanted, 2);

    // Earliest final deadline first, by framework.
    let next = db
        .dispatchable(&["standard", "tdx"], alice, 10, 5, false)
        .await
        .unwrap();
    assert_eq!(next.iter().map(|t| t.index).collect::<Vec<_>>(), [0, 1]);
    assert!(
        db.dispatchable(&["gramine"], alice, 10, 5, false)
            .await
            .unwrap()
            .is_empty()
    );

    // Alice holds a replica: the task is no longer offered to her, still to Bob.
    db.add_replica(replicated.task_id, alice, 1_000).await.unwrap();
    assert_eq!(db.live_replicas(replicated.task_id).await.unwrap(), 1);
    let for_alice = db.dispatchable(&["standard"], alice, 10, 5, false).await.unwrap();
    assert!(for_alice.is_empty(), "{for_alice:?}");
    assert_eq!(
        db.dispatchable(&["standard"], bob, 10, 5, false).await.unwrap().len(),
        1
    );

    // A heartbeat extends only a running replica of that worker.
    assert!(db.extend_lease(replicated.task_id, alice, 2_000).await.unwrap());
    assert!(!db.extend_lease(replicated.task_id, bob, 2_000).await.unwrap());
    // Expiry: nothing is expired before the lease ends; after, exactly once.
    assert!(db.expired_replicas(1_500).await.unwrap().is_empty());
    assert_eq!(db.expired_replicas(2_500).await.unwrap(), [(replicated.task_id, alice)]);
    assert!(!db.expire_replica(replicated.task_id, alice, 1_500).await.unwrap());
    assert!(db.expire_replica(replicated.task_id, alice, 2_500).await.unwrap());
    assert!(!db.expire_replica(replicated.task_id, alice, 2_500).await.unwrap());
    assert_eq!(db.live_replicas(replicated.task_id).await.unwrap(), 0);
    // A lost replica neither beats nor reports; its worker may be given the task again.
    assert!(!db.extend_lease(replicated.task_id, alice, 9_000).await.unwrap());
    assert!(
        !db.end_replica(replicated.task_id, alice, ReplicaStatus::Done, "")
            .await
            .unwrap()
    );
    assert_eq!(
        db.dispatchable(&["standard"], alice, 10, 5, false).await.unwrap().len(),
        1
    );

    // Two replicas end: their results are kept per worker.
    db.add_replica(replicated.task_id, alice, 5_000).await.unwrap();
    db.add_replica(replicated.task_id, bob, 5_000).await.unwrap();
    assert_eq!(db.live_replicas(replicated.task_id).await.unwrap(), 2);
    assert!(
        db.end_replica(replicated.task_id, alice, ReplicaStatus::Done, "link-a")
            .await
            .unwrap()
    );
    assert!(
        db.end_replica(replicated.task_id, bob, ReplicaStatus::Failed, "")
            .await
            .unwrap()
    );
    assert_eq!(db.live_replicas(replicated.task_id).await.unwrap(), 1);
    let replicas = db.replicas(replicated.task_id).await.unwrap();
    let statuses: Vec<_> = replicas
        .iter()
        .map(|r| (r.worker, r.status, r.results.as_str()))
        .collect();
    assert!(
        statuses.contains(&(alice, ReplicaStatus::Done, "link-a")),
        "{statuses:?}"
    );
    assert!(statuses.contains(&(bob, ReplicaStatus::Failed, "")), "{statuses:?}");

    // A status change names the status it expects: the second of two racing writers loses.
    let mut running = db.task(tee.task_id).await.unwrap().unwrap();
    running.status = TaskStep::Running;
    assert!(db.save_task(&running, Some(TaskStep::Ready)).await.unwrap());
    assert!(!db.save_task(&running, Some(TaskStep::Ready)).await.unwrap());
    assert!(db.dispatchable(&["tdx"], bob, 10, 5, false).await.unwrap().is_empty());

    // A reorg takes the deal away: its tasks are set aside, out of the open tasks, and their
    // replicas' places freed; the deal mined again brings them back from the start.
    let mut set_aside = db.orphan_deal(replicated.deal_id).await.unwrap();
    set_aside.sort();
    assert_eq!(set_aside, [replicated.task_id, tee.task_id]);
    assert!(
        db.orphan_deal(replicated.deal_id).await.unwrap().is_empty(),
        "set aside once"
    );
    assert!(db.open_tasks().await.unwrap().is_empty());
    assert_eq!(db.live_replicas(replicated.task_id).await.unwrap(), 0);
    let mut back = db
        .revive_deal(replicated.deal_id, TaskStep::Pending, 7_000)
        .await
        .unwrap();
    back.sort();
    assert_eq!(back, set_aside);
    let revived = db.task(tee.task_id).await.unwrap().unwrap();
    assert_eq!((revived.status.as_str(), revived.final_deadline), ("pending", 7_000));
    assert_eq!(db.open_tasks().await.unwrap().len(), 2);
    assert!(
        db.revive_deal(replicated.deal_id, TaskStep::Pending, 7_000)
            .await
            .unwrap()
            .is_empty()
    );

    // The chain cursor survives.
    db.set_meta("next_block", 42).await.unwrap();
    db.set_meta("next_block", 43).await.unwrap();
    assert_eq!(db.meta("next_block").await.unwrap(), Some(43));
}

#[tokio::test]
async fn the_store_keeps_its_promises_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("scheduler.db").display());
    replicas_and_leases(&url).await;
}

#[tokio::test]
async fn the_store_keeps_its_promises_on_postgres() {
    let postgres = TempPostgres::start("scheduler");
    replicas_and_leases(&postgres.url).await;
}
