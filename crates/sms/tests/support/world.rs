//! An SMS on loopback over a real PoCo (anvil), asked for enclave sessions as the runtime
//! asks; bulk deals whose roots and slices an IPFS gateway on loopback serves. Shared by
//! the SMS's bulk test and its benches (`#[path]`-included by each).
//!
//! The gateway is the stranger a bulk request is read through: it serves what it was
//! given, and can be told to answer a CID with other bytes.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use confide_attest::EvidenceKind;
use confide_attest::verify::{CollateralSource, Verifier};
use confide_chain::{Address, B256, Bytes, Connection, Poco, PrivateKeySigner, U256};
use confide_devstack::DEV_ACCOUNTS;
use confide_protocol::bulk::INFINITE_VOLUME;
use confide_protocol::ipfs::{Cid, CidVersion, file_cid};
use confide_protocol::messages::{authorization_hash, sign_personal};
use confide_protocol::order::Order;
use confide_protocol::tee::{self, AppEnclaveConfig, AppManifest, Evidence, SessionRequest, TaskSession};
use confide_protocol::{DatasetOrder, Tag};
use confide_sms::store::{SecretId, SecretKind};
use confide_sms::{AppState, SecretStore, router};
use sha2::Digest;

pub(crate) fn signer(role: &str) -> PrivateKeySigner {
    DEV_ACCOUNTS.iter().find(|a| a.role == role).unwrap().signer()
}

/// An IPFS gateway on loopback: `GET /ipfs/{cid}` answers what [`Gateway::put`] stored.
pub(crate) struct Gateway {
    pub(crate) url: String,
    content: Content,
}

impl Gateway {
    pub(crate) async fn start() -> Gateway {
        let content: Content = Arc::default();
        let app = axum::Router::new()
            .route("/ipfs/{cid}", axum::routing::get(serve_cid))
            .with_state(content.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(axum::serve(listener, app).into_future());
        Gateway { url, content }
    }

    /// Stores `bytes` under their CIDv0 (as Kubo's add names small files); the CID.
    pub(crate) fn put(&self, bytes: Vec<u8>) -> Cid {
        let cid = file_cid(CidVersion::V0, &bytes);
        self.content.lock().unwrap().insert(cid.to_string(), bytes);
        cid
    }

    /// From now on answers `cid` with `bytes` (a lying gateway).
    pub(crate) fn lie(&self, cid: &Cid, bytes: Vec<u8>) {
        self.content.lock().unwrap().insert(cid.to_string(), bytes);
    }
}

/// What the gateway serves, by CID text.
type Content = Arc<Mutex<HashMap<String, Vec<u8>>>>;

async fn serve_cid(State(content): State<Content>, Path(cid): Path<String>) -> axum::response::Response {
    match content.lock().unwrap().get(&cid) {
        Some(bytes) => bytes.clone().into_response(),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

/// An app registered as `app module` registers one: by its manifest (no mrenclave).
pub(crate) struct ManifestApp {
    pub(crate) address: Address,
    pub(crate) module_sha256: B256,
    pub(crate) manifest: Bytes,
}

pub(crate) async fn manifest_app(node: &str, hub: Address) -> ManifestApp {
    let module_sha256 = B256::repeat_byte(0x5a);
    let manifest = AppManifest {
        enclave: AppEnclaveConfig::for_module(module_sha256),
        module: "https://example.org/app.wasm".into(),
    }
    .to_bytes();
    let manifest_sha256 = B256::from_slice(&sha2::Sha256::digest(&manifest));
    let address = confide_testkit::chain::client(node, "app-developer", hub)
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
    ManifestApp {
        address,
        module_sha256,
        manifest: manifest.into(),
    }
}

/// An SMS on `store` that accepts simulated evidence and reads bulk requests through
/// `gateways`, served on loopback; its URL.
pub(crate) async fn serve_sms(store: SecretStore, node: &str, hub: Address, gateways: Vec<String>) -> String {
    let reader = Poco::new(Connection::connect(node, None).await.unwrap(), hub)
        .await
        .unwrap();
    let state = Arc::new(AppState {
        store,
        poco: reader,
        metrics: Default::default(),
        assets: Default::default(),
        gateways: confide_gateway::Gateways::new(gateways),
        gate: confide_sms::Gate {
            verifier: Verifier::new(
                CollateralSource::pccs("http://127.0.0.1:9", Default::default()),
                Default::default(),
            )
            .dangerously_accept_simulation(),
            now: None,
        },
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, router(state)).into_future());
    url
}

/// The chain, an app registered by its manifest, a workerpool, and an SMS reading bulk
/// requests through `gateway`.
pub(crate) struct World {
    pub(crate) node: confide_devstack::anvil::AnvilNode,
    pub(crate) hub: Address,
    pub(crate) app: Address,
    pub(crate) workerpool: Address,
    pub(crate) module_sha256: B256,
    pub(crate) manifest: Bytes,
    pub(crate) store: SecretStore,
    pub(crate) sms: String,
    _dir: tempfile::TempDir,
}

impl World {
    pub(crate) async fn start(gateway: &Gateway) -> World {
        let (node, deployment) = confide_testkit::ephemeral_chain().await.unwrap();
        let hub = deployment.hub;
        let app = manifest_app(&node.url, hub).await;
        let workerpool = confide_testkit::chain::client(&node.url, "workerpool-owner", hub)
            .await
            .create_workerpool("bulk pool")
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("sms.db").display());
        let master = dir.path().join("master.key");
        let store = SecretStore::open(&url, &master).await.unwrap();
        let served = SecretStore::open(&url, &master).await.unwrap();
        let sms = serve_sms(served, &node.url, hub, vec![gateway.url.clone()]).await;
        let (app, module_sha256, manifest) = (app.address, app.module_sha256, app.manifest);
        World {
            node,
            hub,
            app,
            workerpool,
            module_sha256,
            manifest,
            store,
            sms,
            _dir: dir,
        }
    }

    pub(crate) async fn client(&self, role: &str) -> Poco {
        confide_testkit::chain::client(&self.node.url, role, self.hub).await
    }

    /// A dataset of `owner` (a dev role), its key pushed to the SMS when `with_key`.
    pub(crate) async fn dataset(&self, owner: &str, name: &str, with_key: bool) -> Address {
        let checksum = B256::from_slice(&sha2::Sha256::digest(name.as_bytes()));
        let dataset = self
            .client(owner)
            .await
            .create_dataset(name, format!("https://example.org/{name}.enc").as_bytes(), checksum)
            .await
            .unwrap();
        if with_key {
            let id = SecretId {
                kind: SecretKind::Web3,
                subject: dataset,
                name: String::new(),
            };
            self.store
                .insert(
                    &id,
                    1,
                    b"yPkNkPnLQiGmRD0mkc2eoKcG+5nPK7p2k2BzdkWDfD8=",
                    &format!("fixture-{dataset}"),
                    false,
                )
                .await
                .unwrap();
        }
        dataset
    }

    /// A dataset order for `app`, signed by `signer_role`: a bulk grant unless `volume` says
    /// otherwise.
    pub(crate) async fn grant(&self, dataset: Address, app: Address, signer_role: &str, volume: u64) -> DatasetOrder {
        let domain = self.client("requester").await.domain();
        let mut order = DatasetOrder {
            dataset,
            volume: U256::from(volume),
            tag: Tag::TEE,
            apprestrict: app,
            ..Default::default()
        };
        order.refresh_salt();
        order.sign(&signer(signer_role), &domain).unwrap();
        order
    }

    pub(crate) async fn bulk_grant(&self, dataset: Address) -> DatasetOrder {
        self.grant(dataset, self.app, "dataset-owner", INFINITE_VOLUME).await
    }

    /// A TDX bulk deal of `volume` tasks over the request rooted at `root`; its tasks
    /// initialized, in index order.
    pub(crate) async fn bulk_deal(&self, root: &Cid, volume: u64) -> Vec<B256> {
        let spec = confide_testkit::chain::DealSpec {
            app: self.app,
            dataset: Address::ZERO,
            workerpool: self.workerpool,
            tag: Tag::TEE_TDX,
            volume,
            trust: 1,
            params: format!(r#"{{"bulk_cid":"{root}"}}"#),
        };
        let deal_id = confide_testkit::chain::matched_deal(&self.node.url, self.hub, &spec).await;
        let requester = self.client("requester").await;
        let deal = requester.deal(deal_id).await.unwrap();
        let mut tasks = Vec::new();
        for offset in 0..volume {
            let index = deal.bot_first + U256::from(offset);
            requester.initialize_task(deal_id, index).await.unwrap();
            tasks.push(confide_protocol::task_id(deal_id, index));
        }
        tasks
    }

    /// What the worker brings a session: its challenge (asked by the pool owner) and the
    /// owner's authorization.
    pub(crate) async fn sent_worker(&self, task: B256) -> SentWorker {
        let worker = signer("worker-1").address();
        let owner = signer("workerpool-owner");
        let signature = sign_personal(&owner, tee::challenge_request_hash(task)).unwrap();
        let sms = confide_sms_client::SmsClient::new(&self.sms, reqwest::Client::new());
        let challenge = sms.enclave_challenge(task, &signature).await.unwrap();
        let authorization = sign_personal(&owner, authorization_hash(worker, task, challenge)).unwrap();
        SentWorker {
            task,
            worker,
            challenge,
            authorization: authorization.as_bytes().to_vec().into(),
        }
    }

    /// One session as the runtime asks for it (simulated evidence): the opened session, or
    /// the SMS's status and body.
    pub(crate) async fn session(
        &self,
        http: &reqwest::Client,
        sent: &SentWorker,
    ) -> Result<TaskSession, (u16, String)> {
        ask_session(http, &self.sms, sent, self.module_sha256, &self.manifest).await
    }
}

/// One session from the SMS at `sms` for a worker the pool sent, as the runtime asks for
/// it (simulated evidence, the app's manifest sent along): the opened session, or the
/// SMS's status and body.
pub(crate) async fn ask_session(
    http: &reqwest::Client,
    sms: &str,
    sent: &SentWorker,
    module_sha256: B256,
    manifest: &Bytes,
) -> Result<TaskSession, (u16, String)> {
    let nonce = http.get(format!("{sms}/tee/nonce")).send().await.unwrap();
    let nonce: serde_json::Value = serde_json::from_slice(&nonce.bytes().await.unwrap()).unwrap();
    let nonce: B256 = nonce["nonce"].as_str().unwrap().parse().unwrap();
    let keys = confide_crypto::sealed::EnclaveKeyPair::generate();
    let report_data = tee::report_data(nonce, &keys.public_key(), module_sha256);
    let request = SessionRequest {
        task_id: sent.task,
        worker: sent.worker,
        enclave_challenge: sent.challenge,
        authorization: sent.authorization.clone(),
        nonce,
        enclave_public_key: keys.public_key().to_vec().into(),
        app_module_sha256: module_sha256,
        evidence: Evidence {
            kind: EvidenceKind::Simulated,
            data: report_data.to_vec().into(),
        },
        app_manifest: Some(manifest.clone()),
    };
    let response = http
        .post(format!("{sms}/tee/enclave-sessions"))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&request).unwrap())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap();
    if status != 200 {
        return Err((status, String::from_utf8_lossy(&body).into_owned()));
    }
    let answer: tee::SessionResponse = serde_json::from_slice(&body).unwrap();
    let plain = keys
        .open(
            &answer.encapsulated_key,
            &answer.sealed,
            &tee::session_info(sent.task),
            nonce.as_slice(),
        )
        .unwrap();
    Ok(serde_json::from_slice(&plain).unwrap())
}

/// A worker the pool owner sent to a task, with the task's challenge.
pub(crate) struct SentWorker {
    pub(crate) task: B256,
    pub(crate) worker: Address,
    pub(crate) challenge: Address,
    pub(crate) authorization: Bytes,
}
