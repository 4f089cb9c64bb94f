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

use std::sync::Arc;
use std::time::Instant;

use confide_attest::EvidenceKind;
use confide_attest::verify::{CollateralSource, Verifier};
use confide_chain::{Address, B256, Bytes, Connection, Poco, PrivateKeySigner};
use confide_devstack::DEV_ACCOUNTS;
use confide_protocol::messages::{authorization_hash, sign_personal};
use confide_protocol::tee::{self, AppEnclaveConfig, AppManifest, Evidence, SessionRequest};
use confide_sms::store::{SecretId, SecretKind};
use confide_sms::{AppState, SecretStore, router};
use sha2::Digest;

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
    sms: String,
    task: B256,
    worker: Address,
    challenge: Address,
    authorization: Bytes,
    module_sha256: B256,
    /// The app's manifest, sent with every session as the runtime does.
    manifest: Bytes,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let releases: usize = std::env::var("CONFIDE_BENCH_RELEASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RELEASES_DEFAULT);
    let (node, deployment) = confide_devstack::stack::ephemeral_chain().await.unwrap();
    let hub = deployment.hub;
    // Registered as `app module` does: by its manifest (no mrenclave).
    let module_sha256 = B256::repeat_byte(0x5a);
    let manifest = AppManifest {
        enclave: AppEnclaveConfig::for_module(module_sha256),
        module: "https://example.org/app.wasm".into(),
    }
    .to_bytes();
    let manifest_sha256 = B256::from_slice(&sha2::Sha256::digest(&manifest));
    let app = confide_devstack::fixtures::client(&node.url, "app-developer", hub)
        .await
        .create_app(
            "bench",
            "WASM",
            b"https://example.org/app.wasm.manifest.json",
            manifest_sha256,
            b"",
        )
        .await
        .unwrap();
    let dataset = confide_devstack::fixtures::client(&node.url, "dataset-owner", hub)
        .await
        .create_dataset("bench", b"https://example.org/d.enc", B256::repeat_byte(1))
        .await
        .unwrap();
    let pool_owner = confide_devstack::fixtures::client(&node.url, "workerpool-owner", hub).await;
    let workerpool = pool_owner.create_workerpool("bench pool").await.unwrap();
    let task = confide_devstack::fixtures::active_tee_task(&node.url, hub, app, dataset, workerpool).await;

    let dir = tempfile::tempdir().unwrap();
    let store = SecretStore::open(
        &format!("sqlite://{}?mode=rwc", dir.path().join("sms.db").display()),
        &dir.path().join("master.key"),
    )
    .await
    .unwrap();
    let key_id = SecretId {
        kind: SecretKind::Web3,
        subject: dataset,
        name: String::new(),
    };
    store
        .insert(&key_id, 1, b"yPkNkPnLQiGmRD0mkc2eoKcG+5nPK7p2k2BzdkWDfD8=", "bench")
        .await
        .unwrap();
    let reader = Poco::new(Connection::connect(&node.url, None).await.unwrap(), hub)
        .await
        .unwrap();
    let state = Arc::new(AppState {
        store,
        poco: reader,
        metrics: Default::default(),
        assets: Default::default(),
        gate: confide_sms::Gate {
            verifier: Verifier {
                collateral: CollateralSource::pccs("http://127.0.0.1:9", Default::default()),
                policy: Default::default(),
                allow_simulation: true,
            },
            now: None,
        },
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sms = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, router(state)).into_future());

    let worker = signer("worker-1").address();
    let owner = signer("workerpool-owner");
    let challenge = enclave_challenge(&sms, &owner, task).await;
    let authorization = sign_personal(&owner, authorization_hash(worker, task, challenge)).unwrap();
    let task = Arc::new(Task {
        sms,
        task,
        worker,
        challenge,
        authorization: authorization.as_bytes().to_vec().into(),
        module_sha256,
        manifest: manifest.into(),
    });

    let sgx = Arc::new(Verifier {
        collateral: CollateralSource::offline_file(std::path::Path::new(&fixture("sgx_quote_collateral.json")))
            .unwrap(),
        policy: Default::default(),
        allow_simulation: false,
    });
    let quote = Evidence {
        kind: EvidenceKind::Sgx,
        data: std::fs::read(fixture("sgx_quote")).unwrap().into(),
    };
    let quote = Arc::new(quote);
    for with_quote in [false, true] {
        let started = Instant::now();
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            let (task, sgx, quote) = (Arc::clone(&task), Arc::clone(&sgx), Arc::clone(&quote));
            clients.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                for _ in 0..releases.div_ceil(CLIENTS) {
                    if with_quote {
                        sgx.verify_evidence(&quote, PINNED).await.unwrap();
                    }
                    release(&http, &task).await;
                }
            }));
        }
        for client in clients {
            client.await.unwrap();
        }
        let seconds = started.elapsed().as_secs_f64();
        let released = releases.div_ceil(CLIENTS) * CLIENTS;
        println!(
            "{released} releases ({CLIENTS} clients){}: {:.0} releases/s",
            if with_quote {
                ", each with an SGX quote verified"
            } else {
                ", simulated evidence"
            },
            released as f64 / seconds
        );
    }
    drop(node);
}

/// The task's enclave challenge, asked for by the pool owner as the scheduler does.
async fn enclave_challenge(sms: &str, owner: &PrivateKeySigner, task: B256) -> Address {
    let signature = sign_personal(owner, tee::challenge_request_hash(task)).unwrap();
    let response = reqwest::Client::new()
        .post(format!("{sms}/tee/challenges/{task}"))
        .header(
            "Authorization",
            format!("0x{}", confide_chain::hex::encode(signature.as_bytes())),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    body["address"].as_str().unwrap().parse().unwrap()
}

/// One release as the runtime asks for it: a nonce, then the session.
async fn release(http: &reqwest::Client, task: &Task) {
    let nonce = http.get(format!("{}/tee/nonce", task.sms)).send().await.unwrap();
    let nonce: serde_json::Value = serde_json::from_slice(&nonce.bytes().await.unwrap()).unwrap();
    let nonce: B256 = nonce["nonce"].as_str().unwrap().parse().unwrap();
    let keys = confide_crypto::sealed::EnclaveKeyPair::generate();
    let report_data = tee::report_data(nonce, &keys.public_key(), task.module_sha256);
    let request = SessionRequest {
        task_id: task.task,
        worker: task.worker,
        enclave_challenge: task.challenge,
        authorization: task.authorization.clone(),
        nonce,
        enclave_public_key: keys.public_key().to_vec().into(),
        app_module_sha256: task.module_sha256,
        evidence: Evidence {
            kind: EvidenceKind::Simulated,
            data: report_data.to_vec().into(),
        },
        app_manifest: Some(task.manifest.clone()),
    };
    let response = http
        .post(format!("{}/tee/enclave-sessions", task.sms))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&request).unwrap())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}
