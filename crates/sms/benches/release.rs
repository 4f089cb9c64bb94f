//! Enclave session releases per second, end to end: a real SMS over HTTP on loopback, a
//! TEE task ACTIVE on a real PoCo on anvil, and for each release a fresh nonce, a session
//! request (evidence, the pool owner's authorization, the enclave key) and the sealed
//! secrets back. Run: `cargo bench -p confide-sms --bench release`. Target (issue 5):
//! at least 500 releases/s with SGX quote verification, collateral cached.
//!
//! A recorded quote cannot bind a fresh nonce, so the sessions present simulated evidence
//! (the whole release path runs: nonce, evidence, report data, task, authorization,
//! challenge, app fingerprint, dataset key, audit, HPKE seal), and the second run adds, to
//! each release, the DCAP verification of dcap-qvl's real SGX sample quote with its
//! collateral in memory, on the same two cores: the work a real quote adds.

#[path = "../tests/support/world.rs"]
mod support;

use std::sync::Arc;
use std::time::Instant;

use confide_attest::EvidenceKind;
use confide_attest::verify::{CollateralSource, Verifier};
use confide_chain::{Address, B256, Bytes, PrivateKeySigner};
use confide_devstack::DEV_ACCOUNTS;
use confide_protocol::messages::{authorization_hash, sign_personal};
use confide_protocol::tee::{self, Evidence};
use confide_sms::SecretStore;
use confide_sms::store::{SecretId, SecretKind};

const CLIENTS: usize = 8;
/// Releases per run; `CONFIDE_BENCH_RELEASES` changes it.
const RELEASES_DEFAULT: usize = 2_000;
/// Inside the validity window of the sample quote's collateral.
const PINNED: u64 = 1_751_328_000;

fn signer(role: &str) -> PrivateKeySigner {
    DEV_ACCOUNTS.iter().find(|a| a.role == role).unwrap().signer()
}

fn fixture(name: &str) -> String {
    format!("{}/../attest/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// What every session request of the run shares.
struct Task {
    /// The SMS replicas; client `i` asks replica `i % len`.
    sms: Vec<String>,
    /// The worker the pool sent, with the task's challenge and the owner's authorization.
    sent: support::SentWorker,
    module_sha256: B256,
    /// The app's manifest, sent with every session as the runtime does.
    manifest: Bytes,
}

fn main() {
    confide_testkit::bench::block_on(run());
}

async fn run() {
    let releases: usize = confide_testkit::bench::env_usize("CONFIDE_BENCH_RELEASES", RELEASES_DEFAULT);
    let (node, deployment) = confide_testkit::ephemeral_chain().await.unwrap();
    let hub = deployment.hub;
    let app = support::manifest_app(&node.url, hub).await;
    let (module_sha256, manifest, app) = (app.module_sha256, app.manifest, app.address);
    let dataset = confide_testkit::chain::client(&node.url, "dataset-owner", hub)
        .await
        .create_dataset("bench", b"https://example.org/d.enc", B256::repeat_byte(1))
        .await
        .unwrap();
    let pool_owner = confide_testkit::chain::client(&node.url, "workerpool-owner", hub).await;
    let workerpool = pool_owner.create_workerpool("bench pool").await.unwrap();
    let task = confide_testkit::chain::active_tee_task(&node.url, hub, app, dataset, workerpool).await;

    let dir = tempfile::tempdir().unwrap();
    let store = SecretStore::open(
        &format!("sqlite://{}?mode=rwc", dir.path().join("sms.db").display()),
        &dir.path().join("master.key"),
    )
    .await
    .unwrap();
    let sms = serve(store, &node.url, hub, dataset).await;
    let setup = Setup {
        task,
        module_sha256,
        manifest,
    };
    let task = setup.task_for(vec![sms]).await;

    let sgx = Arc::new(Verifier::new(
        CollateralSource::offline_file(std::path::Path::new(&fixture("sgx_quote_collateral.json"))).unwrap(),
        Default::default(),
    ));
    let quote = Evidence {
        kind: EvidenceKind::Sgx,
        data: std::fs::read(fixture("sgx_quote")).unwrap().into(),
    };
    let quote = Arc::new((sgx, quote));
    for with_quote in [false, true] {
        let quote = with_quote.then(|| Arc::clone(&quote));
        let (rate, p99) = measure(&task, releases, quote).await;
        println!(
            "{} releases ({CLIENTS} clients){}: {rate:.0} releases/s, p99 {p99:.1} ms",
            releases.div_ceil(CLIENTS) * CLIENTS,
            if with_quote {
                ", each with an SGX quote verified"
            } else {
                ", simulated evidence"
            },
        );
    }

    // Replicas on one Postgres (`CONFIDE_BENCH_REPLICAS=1,2`): the same releases spread
    // over them, and afterwards each one counted once in the audit log.
    let counts: Vec<usize> = confide_testkit::bench::env_counts("CONFIDE_BENCH_REPLICAS");
    if !counts.is_empty() {
        let postgres = confide_testkit::TempPostgres::start("bench");
        let key = dir.path().join("shared.key");
        for count in counts {
            let mut urls = Vec::new();
            let mut audit = None;
            for _ in 0..count {
                let store = SecretStore::open(&postgres.url, &key).await.unwrap();
                let log = SecretStore::open(&postgres.url, &key).await.unwrap();
                audit.get_or_insert(log);
                urls.push(serve(store, &node.url, hub, dataset).await);
            }
            let audit = audit.unwrap();
            let before = released_count(&audit).await;
            let task = setup.task_for(urls).await;
            let (rate, p99) = measure(&task, releases, None).await;
            let counted = released_count(&audit).await - before;
            let released = releases.div_ceil(CLIENTS) * CLIENTS;
            assert_eq!(counted, released, "every release audited once");
            println!(
                "postgres, {count} replica(s): {released} releases ({CLIENTS} clients, simulated evidence): {rate:.0} releases/s, p99 {p99:.1} ms; audited {counted}, none lost or doubled"
            );
        }
    }
    drop(node);
}

/// What every replica setting shares: the ACTIVE task and the app it runs.
struct Setup {
    task: B256,
    module_sha256: B256,
    manifest: Bytes,
}

impl Setup {
    /// The task as the SMS at `sms` knows it: its challenge asked for (once per database),
    /// the owner's authorization of the worker.
    async fn task_for(&self, sms: Vec<String>) -> Arc<Task> {
        let worker = signer("worker-1").address();
        let owner = signer("workerpool-owner");
        let challenge = enclave_challenge(&sms[0], &owner, self.task).await;
        let authorization = sign_personal(&owner, authorization_hash(worker, self.task, challenge)).unwrap();
        Arc::new(Task {
            sms,
            sent: support::SentWorker {
                task: self.task,
                worker,
                challenge,
                authorization: authorization.as_bytes().to_vec().into(),
            },
            module_sha256: self.module_sha256,
            manifest: self.manifest.clone(),
        })
    }
}

/// An SMS on `store` (the dataset's key put in once), served on loopback; its URL.
async fn serve(store: SecretStore, node: &str, hub: Address, dataset: Address) -> String {
    let key_id = SecretId {
        kind: SecretKind::Web3,
        subject: dataset,
        name: String::new(),
    };
    // Already there when another replica of the same database put it.
    let _ = store
        .insert(
            &key_id,
            1,
            b"yPkNkPnLQiGmRD0mkc2eoKcG+5nPK7p2k2BzdkWDfD8=",
            "bench",
            false,
        )
        .await;
    support::serve_sms(store, node, hub, Vec::new()).await
}

/// Releases `releases` sessions from [`CLIENTS`] clients (client `i` on replica
/// `i % replicas`), each verifying the sample quote first when given; the rate and the
/// p99 latency of one release (nonce and session), in ms.
async fn measure(task: &Arc<Task>, releases: usize, quote: Option<Arc<(Arc<Verifier>, Evidence)>>) -> (f64, f64) {
    let started = Instant::now();
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let (task, quote) = (Arc::clone(task), quote.clone());
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut latencies = Vec::new();
            for _ in 0..releases.div_ceil(CLIENTS) {
                let began = Instant::now();
                if let Some(quote) = &quote {
                    quote.0.verify_evidence(&quote.1, PINNED).await.unwrap();
                }
                release(&http, &task, client).await;
                latencies.push(began.elapsed().as_secs_f64() * 1000.0);
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.await.unwrap());
    }
    let seconds = started.elapsed().as_secs_f64();
    let rate = latencies.len() as f64 / seconds;
    (rate, confide_testkit::bench::quantile(&mut latencies, 0.99))
}

/// Sessions the audit log records as released.
async fn released_count(store: &SecretStore) -> usize {
    let log = store.audit_log().await.unwrap();
    log.iter()
        .filter(|e| e.action == "session" && e.outcome.starts_with("released"))
        .count()
}

/// The task's enclave challenge, asked for by the pool owner as the scheduler does.
async fn enclave_challenge(sms: &str, owner: &PrivateKeySigner, task: B256) -> Address {
    let signature = sign_personal(owner, tee::challenge_request_hash(task)).unwrap();
    let sms = confide_sms_client::SmsClient::new(sms, reqwest::Client::new());
    sms.enclave_challenge(task, &signature).await.unwrap()
}

/// One release as the runtime asks for it: a nonce, then the session, from `replica`.
async fn release(http: &reqwest::Client, task: &Task, replica: usize) {
    let sms = &task.sms[replica % task.sms.len()];
    if let Err((status, body)) = support::ask_session(http, sms, &task.sent, task.module_sha256, &task.manifest).await {
        panic!("session refused: {status} {body}");
    }
}
