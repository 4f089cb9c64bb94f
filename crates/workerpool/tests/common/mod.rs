//! A scheduler in process over a real PoCo, and workers asking it for tasks as the
//! worker does: shared by the scheduler's tests.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use confide_chain::{Address, B256, Connection, Poco};
use confide_devstack::DEV_ACCOUNTS;
use confide_workerpool::api::{NextTask, Registered, Registration};
use confide_workerpool::auth::SchedulerClient;
use confide_workerpool::db::SchedulerDb;
use confide_workerpool::scheduler::{Scheduler, SchedulerConfig, router};

pub(crate) struct Running {
    pub(crate) url: String,
    pub(crate) scheduler: Arc<Scheduler>,
    run: tokio::task::JoinHandle<()>,
    server: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops it as a killed process stops: no more lease renewals, steps or answers.
    pub(crate) fn kill(&self) {
        self.run.abort();
        self.server.abort();
    }
}

pub(crate) async fn scheduler(node: &str, hub: Address, database: &str, workerpool: Address) -> Running {
    let owner = DEV_ACCOUNTS
        .iter()
        .find(|a| a.role == "workerpool-owner")
        .unwrap()
        .signer();
    let poco = Poco::new(Connection::connect(node, Some(owner.clone())).await.unwrap(), hub)
        .await
        .unwrap();
    let db = SchedulerDb::open(database).await.unwrap();
    let config = SchedulerConfig {
        workerpools: vec![workerpool],
        sms_url: None,
        // Shorter than a takeover (4 to 6 s): the worker's lease runs out while no
        // scheduler is active, and the one taking over must not take its task away.
        lease: WORKER_LEASE,
        poll: Duration::from_millis(100),
        max_attempts: 3,
        from_block: Some(0),
        allowed_workers: Vec::new(),
    };
    let scheduler = Scheduler::new(poco, owner, db, config).await.unwrap();
    let run = tokio::spawn(Arc::clone(&scheduler).run());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = router(Arc::clone(&scheduler));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Running {
        url,
        scheduler,
        run,
        server,
    }
}

pub(crate) const WORKER_LEASE: Duration = Duration::from_secs(3);

/// A fresh chain with a pool and an app, and an active scheduler of that pool open to any
/// wallet: where each scheduling test starts.
pub(crate) struct OpenPool {
    pub(crate) node: confide_devstack::AnvilNode,
    pub(crate) hub: Address,
    pub(crate) workerpool: Address,
    pub(crate) app: Address,
    pub(crate) s: Running,
    _dir: tempfile::TempDir,
}

impl OpenPool {
    pub(crate) async fn start(name: &str) -> OpenPool {
        let (node, deployment) = confide_testkit::ephemeral_chain().await.unwrap();
        let hub = deployment.hub;
        let (workerpool, app) = pool_and_app(&node.url, hub, name).await;
        let dir = tempfile::tempdir().unwrap();
        let database = format!("sqlite://{}?mode=rwc", dir.path().join("scheduler.db").display());
        let s = scheduler(&node.url, hub, &database, workerpool).await;
        until("the scheduler to be active", 10, async || health(&s.url).await == 200).await;
        OpenPool {
            node,
            hub,
            workerpool,
            app,
            s,
            _dir: dir,
        }
    }

    /// A standard deal of `volume` tasks of the pool's app, matched on chain.
    pub(crate) async fn deal(&self, volume: u64) -> B256 {
        let spec = confide_testkit::chain::DealSpec {
            app: self.app,
            dataset: Address::ZERO,
            workerpool: self.workerpool,
            tag: confide_protocol::Tag::default(),
            volume,
            trust: 1,
            params: String::new(),
        };
        confide_testkit::chain::matched_deal(&self.node.url, self.hub, &spec).await
    }

    /// Whether the scheduler holds `task` ready to be given out.
    pub(crate) async fn is_ready(&self, task: B256) -> bool {
        self.s
            .scheduler
            .db
            .task(task)
            .await
            .unwrap()
            .is_some_and(|t| t.status == confide_protocol::workerpool::TaskStep::Ready)
    }
}

/// What a worker reports when a task failed, it says, for a passing cause.
pub(crate) fn transient_failure() -> confide_workerpool::api::Report {
    confide_workerpool::api::Report {
        outcome: confide_workerpool::api::Outcome::Failed,
        code: Some("IO_ERROR".into()),
        message: Some("a transient failure, it says".into()),
        transaction: None,
        results: None,
    }
}

/// A workerpool of the dev pool owner named `name`, and an app of the dev app developer
/// (a module nobody downloads: the scheduler never runs it).
pub(crate) async fn pool_and_app(node: &str, hub: Address, name: &str) -> (Address, Address) {
    let workerpool = confide_testkit::chain::client(node, "workerpool-owner", hub)
        .await
        .create_workerpool(&format!("{name} pool"))
        .await
        .unwrap();
    let app = confide_testkit::chain::client(node, "app-developer", hub)
        .await
        .create_app(name, "WASM", b"https://example.org/a.wasm", B256::repeat_byte(1), b"")
        .await
        .unwrap();
    (workerpool, app)
}

pub(crate) async fn health(url: &str) -> u16 {
    match reqwest::get(format!("{url}/health")).await {
        Ok(answer) => answer.status().as_u16(),
        Err(_) => 0,
    }
}

pub(crate) async fn until(what: &str, seconds: u64, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..seconds * 10 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

pub(crate) fn worker(role: &str, schedulers: &str) -> SchedulerClient {
    let signer = DEV_ACCOUNTS.iter().find(|a| a.role == role).unwrap().signer();
    SchedulerClient::new(schedulers, signer)
}

pub(crate) async fn next(client: &SchedulerClient) -> Option<B256> {
    let (answer, _): (NextTask, _) = client.post("/tasks/next", &serde_json::json!({})).await.unwrap();
    answer.assignment.map(|a| a.task_id)
}

/// Registers a standard-task worker that says it runs `concurrency` tasks at once.
pub(crate) async fn register(client: &SchedulerClient, concurrency: u32) {
    let registration = Registration {
        frameworks: vec!["standard".into()],
        memory_mib: 1024,
        simulated: true,
        concurrency,
    };
    let _: (Registered, _) = client.post("/workers/register", &registration).await.unwrap();
}
