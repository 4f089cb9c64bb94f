//! One TEE task's enclave side, end to end on the dev stack in simulation: the dataset
//! owner's encrypted CSV, the CSV app as a WASM module, deals on the real PoCo, the
//! scheduler's part (challenge, authorization), the enclave runtime, and the
//! beneficiaries decrypting with `confide result decrypt`. Then everything the SMS and
//! the runtime must refuse.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use confide_chain::{Address, B256, Bytes, Connection, Poco, PrivateKeySigner, U256};
use confide_devstack::DEV_ACCOUNTS;
use confide_protocol::messages::{authorization_hash, enclave_message, recover_personal, result_hash, sign_personal};
use confide_protocol::order::{AppOrder, DatasetOrder, Order, RequestOrder, WorkerpoolOrder};
use confide_protocol::{Tag, task_id};
use serde_json::{Value, json};

const CSV: &str = "name,age,score\nann,30,1.5\nbob,50,2.5\ncid,,3.5\n";

fn account(role: &str) -> &'static confide_devstack::DevAccount {
    DEV_ACCOUNTS.iter().find(|a| a.role == role).unwrap()
}

struct World {
    stack: Stack,
    poco: Poco,
    app: Address,
    dataset: Address,
    workerpool: Address,
    worker: PrivateKeySigner,
}

async fn client(stack: &Stack, role: &str) -> Poco {
    let connection = Connection::connect(&stack.rpc_url(), Some(account(role).signer()))
        .await
        .unwrap();
    Poco::new(connection, stack.hub()).await.unwrap()
}

/// A deal of `volume` on `dataset` for `beneficiary`, with its first task initialized.
async fn deal(w: &World, dataset: Address, beneficiary: Address, params: Value, volume: u64) -> (B256, Vec<B256>) {
    let domain = w.poco.domain();
    let mut app = AppOrder {
        app: w.app,
        volume: U256::from(1000),
        tag: Tag::TEE_TDX,
        salt: B256::random(),
        ..Default::default()
    };
    let mut dataset_order = DatasetOrder {
        dataset,
        volume: U256::from(1000),
        tag: Tag::TEE,
        salt: B256::random(),
        ..Default::default()
    };
    let mut pool = WorkerpoolOrder {
        workerpool: w.workerpool,
        volume: U256::from(1000),
        tag: Tag::TEE_TDX,
        category: U256::ZERO,
        trust: U256::from(1),
        salt: B256::random(),
        ..Default::default()
    };
    let mut request = RequestOrder {
        app: w.app,
        dataset,
        requester: account("requester").signer().address(),
        beneficiary,
        volume: U256::from(volume),
        tag: Tag::TEE_TDX,
        category: U256::ZERO,
        trust: U256::from(1),
        params: params.to_string(),
        salt: B256::random(),
        ..Default::default()
    };
    app.sign(&account("app-developer").signer(), &domain).unwrap();
    dataset_order.sign(&account("dataset-owner").signer(), &domain).unwrap();
    pool.sign(&account("workerpool-owner").signer(), &domain).unwrap();
    request.sign(&account("requester").signer(), &domain).unwrap();
    let requester = client(&w.stack, "requester").await;
    let matched = requester
        .match_orders(&app, Some(&dataset_order), &pool, &request)
        .await
        .unwrap();
    let deal = requester.deal(matched.deal_id).await.unwrap();
    requester.initialize_task(matched.deal_id, U256::ZERO).await.unwrap();
    let tasks = (0..volume)
        .map(|i| task_id(matched.deal_id, deal.bot_first + U256::from(i)))
        .collect();
    (matched.deal_id, tasks)
}

/// The scheduler's part: the task's enclave challenge from the SMS, and the owner's
/// authorization of the worker with it.
async fn authorize(w: &World, task: B256) -> (Address, Bytes) {
    let owner = account("workerpool-owner").signer();
    let signature = sign_personal(&owner, confide_protocol::tee::challenge_request_hash(task)).unwrap();
    let sms = confide_sms_client::SmsClient::new(&w.stack.service_url("sms"), reqwest::Client::new());
    let challenge = sms.enclave_challenge(task, &signature).await.unwrap();
    let authorization = sign_personal(&owner, authorization_hash(w.worker.address(), task, challenge)).unwrap();
    (challenge, authorization.as_bytes().to_vec().into())
}

/// Runs the enclave runtime for `task`; returns its computed.json and work directory.
fn run_enclave(w: &World, task: B256, challenge: Address, authorization: &Bytes, app_url: &str) -> (Value, PathBuf) {
    let work = w.stack.project(&format!("work-{task}"));
    let output = Command::new(enclave_binary())
        .args(["--task-id", &task.to_string()])
        .args(["--worker", &w.worker.address().to_string()])
        .args(["--enclave-challenge", &challenge.to_string()])
        .args(["--authorization", &authorization.to_string()])
        .args(["--sms", &w.stack.service_url("sms")])
        .args(["--app-url", app_url])
        .arg("--work-dir")
        .arg(&work)
        .args(["--evidence", "simulation"])
        .output()
        .unwrap();
    let computed: Value = serde_json::from_slice(&std::fs::read(work.join("computed.json")).unwrap()).unwrap();
    assert_eq!(
        output.status.success(),
        computed.get("error-code").is_none(),
        "{computed} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (computed, work)
}

/// `PUT` of a result file to the store as the worker would, with the enclave's upload
/// signature from computed.json; the status and the error code.
async fn put_result(
    w: &World,
    task: B256,
    computed: &Value,
    proof: (Address, &Bytes),
    body: Vec<u8>,
    declared: B256,
) -> (u16, String) {
    let url = format!("{}/results/{task}/{}", w.stack.service_url("store"), w.worker.address());
    let response = reqwest::Client::new()
        .put(url)
        .header("x-content-sha256", declared.to_string())
        .header("x-confide-enclave-challenge", proof.0.to_string())
        .header("x-confide-authorization", proof.1.to_string())
        .header("authorization", computed["upload-signature"].as_str().unwrap())
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap_or_default();
    (status, answer["error"]["code"].as_str().unwrap_or_default().to_owned())
}

/// The host holds the work directory: it may swap the enclave's result for a file of its
/// own (one it encrypted to the beneficiary's public key, say) before uploading. The
/// challenge key signed the hash of the enclave's file, made in the private area, so the
/// store takes nothing else.
async fn host_swaps_are_refused(w: &World, task: B256, computed: &Value, proof: (Address, &Bytes), genuine: &Path) {
    let genuine = std::fs::read(genuine).unwrap();
    let forged = b"age-encryption.org/v1\n-> a file the host made".to_vec();
    let sha256 = confide_protocol::workerpool::body_sha256;
    let swapped = put_result(w, task, computed, proof, forged.clone(), sha256(&forged)).await;
    assert_eq!(swapped, (401, "WRONG_ENCLAVE_SIGNATURE".into()));
    let mislabelled = put_result(w, task, computed, proof, forged, sha256(&genuine)).await;
    assert_eq!(mislabelled, (400, "CHECKSUM_MISMATCH".into()));
    let url = format!("{}/results/{task}/{}", w.stack.service_url("store"), w.worker.address());
    let stored = reqwest::get(&url).await.unwrap();
    assert_eq!(stored.status().as_u16(), 404, "nothing of the host's was stored");
    let taken = put_result(w, task, computed, proof, genuine.clone(), sha256(&genuine)).await;
    assert_eq!(taken.0, 201, "{taken:?}");
    assert_eq!(reqwest::get(&url).await.unwrap().bytes().await.unwrap(), genuine);
}

fn unzip_result_json(archive: &Path) -> Value {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(archive).unwrap()).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("result.json").unwrap(), &mut text).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn check_signature(w: &World, task: B256, computed: &Value, challenge: Address) {
    let digest: B256 = computed["result-digest"].as_str().unwrap().parse().unwrap();
    let hash: B256 = computed["result-hash"].as_str().unwrap().parse().unwrap();
    let seal: B256 = computed["result-seal"].as_str().unwrap().parse().unwrap();
    assert_eq!(hash, result_hash(task, digest));
    assert_eq!(
        seal,
        confide_protocol::messages::result_seal(w.worker.address(), task, digest)
    );
    let signature: confide_chain::Signature = computed["enclave-signature"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        recover_personal(enclave_message(hash, seal), &signature),
        Some(challenge),
        "the result is signed by the task's enclave challenge"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tee_task_runs_in_the_enclave_and_only_beneficiaries_read_its_result() {
    let stack = Stack::start();

    // The app developer registers the CSV app as a WASM module served by the store.
    stack.ok(APP_DEVELOPER, "app", &["init"]);
    stack.ok(APP_DEVELOPER, "app", &["app", "init"]);
    let module = stack.ok(
        APP_DEVELOPER,
        "app",
        &["app", "module", example_app("csv-stats").to_str().unwrap(), "--upload"],
    );
    let app_url = module["multiaddr"].as_str().unwrap().to_owned();
    let app: Address = stack.ok(APP_DEVELOPER, "app", &["app", "deploy"])["address"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // The dataset owner follows the seed: encrypt, upload, deploy, push the key.
    stack.ok(DATASET_OWNER, "owner", &["init"]);
    stack.ok(DATASET_OWNER, "owner", &["tee", "init"]);
    std::fs::write(stack.project("owner").join("tee/original-dataset/people.csv"), CSV).unwrap();
    stack.ok(DATASET_OWNER, "owner", &["tee", "encrypt-dataset"]);
    stack.ok(DATASET_OWNER, "owner", &["dataset", "init"]);
    stack.ok(
        DATASET_OWNER,
        "owner",
        &["dataset", "upload", "tee/encrypted-dataset/people.csv.enc"],
    );
    let dataset_text = stack.ok(DATASET_OWNER, "owner", &["dataset", "deploy"])["address"]
        .as_str()
        .unwrap()
        .to_owned();
    stack.ok(
        DATASET_OWNER,
        "owner",
        &[
            "tee",
            "push-secret",
            "--dataset",
            &dataset_text,
            "--secret-path",
            ".tee-secrets/dataset/people.csv.key",
        ],
    );
    let dataset: Address = dataset_text.parse().unwrap();

    // Two beneficiaries: the requester with an age key (the default), another with RSA.
    stack.ok(REQUESTER, "requester", &["result", "generate-encryption-keypair"]);
    stack.ok(REQUESTER, "requester", &["result", "push-encryption-key"]);
    let rsa_beneficiary = account("spare").signer().address().to_checksum(None);
    stack.ok(
        &rsa_beneficiary,
        "rsa",
        &["result", "generate-encryption-keypair", "--rsa"],
    );
    stack.ok(&rsa_beneficiary, "rsa", &["result", "push-encryption-key"]);

    let pool_owner = client(&stack, "workerpool-owner").await;
    let workerpool = pool_owner.create_workerpool("confide test pool").await.unwrap();
    let world = World {
        poco: pool_owner,
        app,
        dataset,
        workerpool,
        worker: account("worker-1").signer(),
        stack,
    };
    let w = &world;
    let encrypted = json!({ "iexec_result_encryption": true });

    // 1. For the age beneficiary.
    let (_, tasks) = deal(
        w,
        dataset,
        account("requester").signer().address(),
        encrypted.clone(),
        2,
    )
    .await;
    let (challenge, authorization) = authorize(w, tasks[0]).await;
    let (computed, work) = run_enclave(w, tasks[0], challenge, &authorization, &app_url);
    assert_eq!(computed["result-encryption"], "age");
    assert_eq!(
        computed["simulated"], true,
        "the dev stack's enclave proves nothing, and says so"
    );
    assert_eq!(computed["deterministic-output-path"], "/iexec_out/result.json");
    check_signature(w, tasks[0], &computed, challenge);
    let encrypted_result = work.join(computed["result-file"].as_str().unwrap());
    assert!(!String::from_utf8_lossy(&std::fs::read(&encrypted_result).unwrap()).contains("ann"));
    host_swaps_are_refused(w, tasks[0], &computed, (challenge, &authorization), &encrypted_result).await;
    let leftovers: Vec<_> = std::fs::read_dir(&work)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        2,
        "only computed.json and the encrypted result remain: {leftovers:?}"
    );
    let decrypted = w.stack.ok(
        REQUESTER,
        "requester",
        &[
            "result",
            "decrypt",
            encrypted_result.to_str().unwrap(),
            "--output",
            "results.zip",
            "--unchecked",
        ],
    );
    // Nothing is on chain yet (this test plays the worker and has not contributed): kept
    // only when asked (`--unchecked`), and a task the caller names is a refusal.
    assert_eq!(decrypted["digestCheck"]["matches"], Value::Null, "{decrypted}");
    let unasked = ["result", "decrypt", encrypted_result.to_str().unwrap(), "-o", "y.zip"];
    assert_eq!(
        w.stack.fails(REQUESTER, "requester", &unasked)["code"],
        "RESULT_UNCHECKED"
    );
    let task = tasks[0].to_string();
    let args = [
        "result",
        "decrypt",
        encrypted_result.to_str().unwrap(),
        "-o",
        "x.zip",
        "--task",
        &task,
    ];
    assert_eq!(
        w.stack.fails(REQUESTER, "requester", &args)["code"],
        "TASK_NOT_COMPLETED"
    );
    let stats = unzip_result_json(&w.stack.project("requester").join("results.zip"));
    assert_eq!(stats["rows"], 3);
    assert_eq!(stats["columns"][1]["name"], "age");
    assert_eq!(stats["columns"][1]["mean"], 40.0);
    assert_eq!(stats["columns"][2]["sum"], 7.5);
    // Someone else's key does not open it.
    let other = w.stack.fails(
        &rsa_beneficiary,
        "rsa",
        &[
            "result",
            "decrypt",
            encrypted_result.to_str().unwrap(),
            "--output",
            "stolen.zip",
        ],
    );
    assert_eq!(other["code"], "KEY_MISMATCH");

    // 2. For the RSA beneficiary: iExec's layout.
    let (_, rsa_tasks) = deal(w, dataset, account("spare").signer().address(), encrypted.clone(), 1).await;
    let (challenge, authorization) = authorize(w, rsa_tasks[0]).await;
    let (computed, work) = run_enclave(w, rsa_tasks[0], challenge, &authorization, &app_url);
    assert_eq!(computed["result-encryption"], "rsa");
    check_signature(w, rsa_tasks[0], &computed, challenge);
    let rsa_result = work.join(computed["result-file"].as_str().unwrap());
    w.stack.ok(
        &rsa_beneficiary,
        "rsa",
        &[
            "result",
            "decrypt",
            rsa_result.to_str().unwrap(),
            "--output",
            "results.zip",
            "--unchecked",
        ],
    );
    assert_eq!(
        unzip_result_json(&w.stack.project("rsa").join("results.zip"))["rows"],
        3
    );

    refusals(w, &tasks, &app_url).await;
}

/// A session request as the runtime would send it, with parts to spoil.
struct Attempt {
    task: B256,
    worker: Address,
    challenge: Address,
    authorization: Bytes,
    module_sha256: B256,
    /// The key the report data binds; `None`: the key the session is asked for.
    bound_key: Option<[u8; 32]>,
    bound_module: B256,
    /// The app's manifest, as the runtime sends it.
    manifest: Option<Bytes>,
}

async fn session(w: &World, attempt: &Attempt, nonce: Option<B256>) -> (u16, Value) {
    let sms = w.stack.service_url("sms");
    let client = reqwest::Client::new();
    let nonce = match nonce {
        Some(nonce) => nonce,
        None => {
            let sms = confide_sms_client::SmsClient::new(&sms, client.clone());
            sms.nonce().await.unwrap()
        }
    };
    let keys = confide_crypto::sealed::EnclaveKeyPair::generate();
    let bound_key = attempt.bound_key.unwrap_or(keys.public_key());
    let report_data = confide_protocol::tee::report_data(nonce, &bound_key, attempt.bound_module);
    let request = confide_protocol::tee::SessionRequest {
        task_id: attempt.task,
        worker: attempt.worker,
        enclave_challenge: attempt.challenge,
        authorization: attempt.authorization.clone(),
        nonce,
        enclave_public_key: keys.public_key().to_vec().into(),
        app_module_sha256: attempt.module_sha256,
        evidence: confide_protocol::tee::Evidence {
            kind: confide_protocol::tee::EvidenceKind::Simulated,
            data: report_data.to_vec().into(),
        },
        app_manifest: attempt.manifest.clone(),
    };
    let response = client
        .post(format!("{sms}/tee/enclave-sessions"))
        .json(&request)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn code(answer: &(u16, Value)) -> &str {
    answer.1["error"]["code"].as_str().unwrap_or("none")
}

async fn refusals(w: &World, tasks: &[B256], app_url: &str) {
    let module_sha256: B256 =
        confide_crypto::dataset::checksum(std::fs::read(example_app("csv-stats")).unwrap().as_slice()).unwrap();
    // The app is registered by its manifest (served at its multiaddr).
    let manifest: Bytes = reqwest::get(app_url)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
        .into();
    let (challenge, authorization) = authorize(w, tasks[0]).await;
    let good = |key: Option<[u8; 32]>| Attempt {
        task: tasks[0],
        worker: w.worker.address(),
        challenge,
        authorization: authorization.clone(),
        module_sha256,
        bound_key: key,
        bound_module: module_sha256,
        manifest: Some(manifest.clone()),
    };

    // Evidence bound to another key than the one the session would be sealed to.
    assert_eq!(
        code(&session(w, &good(Some([9; 32])), None).await),
        "REPORT_DATA_MISMATCH"
    );
    // A nonce the SMS never issued, or one already used (even by a refused attempt).
    let unknown = session(w, &good(Some([9; 32])), Some(B256::repeat_byte(5))).await;
    assert_eq!((unknown.0, code(&unknown)), (401, "NONCE_INVALID"));
    let sms = w.stack.service_url("sms");
    let issued: Value = reqwest::get(format!("{sms}/tee/nonce"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let nonce: B256 = issued["nonce"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        code(&session(w, &good(Some([9; 32])), Some(nonce)).await),
        "REPORT_DATA_MISMATCH"
    );
    assert_eq!(code(&session(w, &good(None), Some(nonce)).await), "NONCE_INVALID");
    // An authorization signed by someone else than the workerpool owner.
    let mut forged = good(None);
    forged.authorization = sign_personal(
        &account("requester").signer(),
        authorization_hash(w.worker.address(), tasks[0], challenge),
    )
    .unwrap()
    .as_bytes()
    .to_vec()
    .into();
    assert_eq!(code(&session(w, &forged, None).await), "WRONG_AUTHORIZATION");
    // A challenge the SMS did not make for this task.
    let mut other_challenge = good(None);
    other_challenge.challenge = Address::repeat_byte(1);
    other_challenge.authorization = sign_personal(
        &account("workerpool-owner").signer(),
        authorization_hash(w.worker.address(), tasks[0], Address::repeat_byte(1)),
    )
    .unwrap()
    .as_bytes()
    .to_vec()
    .into();
    assert_eq!(code(&session(w, &other_challenge, None).await), "UNKNOWN_CHALLENGE");
    // A module that is not the app's registered one.
    let mut other_module = good(None);
    other_module.module_sha256 = B256::repeat_byte(3);
    other_module.bound_module = B256::repeat_byte(3);
    assert_eq!(code(&session(w, &other_module, None).await), "APP_MISMATCH");
    // A manifest app's session without its manifest, or with another one naming the
    // module the enclave runs (one byte added: still valid JSON, another sha256).
    let mut no_manifest = good(None);
    no_manifest.manifest = None;
    assert_eq!(code(&session(w, &no_manifest, None).await), "APP_MANIFEST_MISSING");
    let mut padded = good(None);
    padded.manifest = Some([manifest.as_ref(), b" "].concat().into());
    let refused = session(w, &padded, None).await;
    assert_eq!((refused.0, code(&refused)), (403, "APP_MISMATCH"), "{refused:?}");
    // A task that is not ACTIVE (the deal's second task was never initialized).
    let mut inactive = good(None);
    inactive.task = tasks[1];
    assert_eq!(code(&session(w, &inactive, None).await), "TASK_NOT_ACTIVE");

    // The runtime given another module than the app's: the SMS releases nothing to it.
    w.stack.ok(APP_DEVELOPER, "other-app", &["init"]);
    let other = w.stack.ok(
        APP_DEVELOPER,
        "other-app",
        &["app", "module", example_app("echo").to_str().unwrap(), "--upload"],
    );
    let (computed, _) = run_enclave(
        w,
        tasks[0],
        challenge,
        &authorization,
        other["multiaddr"].as_str().unwrap(),
    );
    assert_eq!(computed["error-code"], "SESSION_REFUSED");
    assert!(
        computed["error-message"].as_str().unwrap().contains("APP_MISMATCH"),
        "{computed}"
    );
    // The app's own module handed over bare (the manifest, and the settings it pins, left
    // out): the SMS asks for the manifest the chain binds.
    let registered = confide_protocol::tee::AppManifest::parse(&manifest).unwrap();
    let (computed, _) = run_enclave(w, tasks[0], challenge, &authorization, &registered.module);
    assert_eq!(computed["error-code"], "SESSION_REFUSED");
    assert!(
        computed["error-message"]
            .as_str()
            .unwrap()
            .contains("APP_MANIFEST_MISSING"),
        "{computed}"
    );
    // A manifest naming the app's fingerprint over another module: the runtime refuses the
    // code before it asks the SMS for anything.
    let mut forged = registered.clone();
    forged.module = other["module"].as_str().unwrap().to_owned();
    std::fs::write(w.stack.project("forger").join("forged.json"), forged.to_bytes()).unwrap();
    let forged_url = w
        .stack
        .ok(APP_DEVELOPER, "forger", &["dataset", "upload", "forged.json"])["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let (computed, _) = run_enclave(w, tasks[0], challenge, &authorization, &forged_url);
    assert_eq!(computed["error-code"], "MODULE_CHECKSUM_MISMATCH", "{computed}");
    let (computed, _) = run_enclave(w, tasks[0], challenge, &authorization, &format!("{app_url}.missing"));
    assert_eq!(computed["error-code"], "MODULE_DOWNLOAD_FAILED");

    // Encryption asked for, but the beneficiary pushed no key: nothing released.
    let nobody = account("worker-4").signer().address();
    let (_, keyless) = deal(w, w.dataset, nobody, json!({ "iexec_result_encryption": true }), 1).await;
    let (challenge, authorization) = authorize(w, keyless[0]).await;
    let (computed, _) = run_enclave(w, keyless[0], challenge, &authorization, app_url);
    assert_eq!(computed["error-code"], "SESSION_REFUSED");
    assert!(
        computed["error-message"]
            .as_str()
            .unwrap()
            .contains("RESULT_KEY_MISSING"),
        "{computed}"
    );

    // A dataset whose file is not what the chain registered, and one with a wrong key.
    let owner = client(&w.stack, "dataset-owner").await;
    let registered = owner.dataset(w.dataset).await.unwrap();
    let tampered = owner
        .create_dataset("tampered", &registered.multiaddr, B256::repeat_byte(0xee))
        .await
        .unwrap();
    push_key(w, tampered, ".tee-secrets/dataset/people.csv.key");
    let (_, t) = deal(w, tampered, account("requester").signer().address(), json!({}), 1).await;
    let (challenge, authorization) = authorize(w, t[0]).await;
    let (computed, _) = run_enclave(w, t[0], challenge, &authorization, app_url);
    assert_eq!(computed["error-code"], "DATASET_CHECKSUM_MISMATCH");

    let wrong_key = owner
        .create_dataset("wrong key", &registered.multiaddr, registered.checksum)
        .await
        .unwrap();
    let key_file = w.stack.project("owner").join("other.key");
    std::fs::write(
        &key_file,
        confide_crypto::dataset::DatasetKey::generate().to_base64().as_str(),
    )
    .unwrap();
    push_key(w, wrong_key, "other.key");
    let (_, t) = deal(w, wrong_key, account("requester").signer().address(), json!({}), 1).await;
    let (challenge, authorization) = authorize(w, t[0]).await;
    let (computed, _) = run_enclave(w, t[0], challenge, &authorization, app_url);
    assert_eq!(computed["error-code"], "DATASET_DECRYPTION_FAILED");
}

fn push_key(w: &World, dataset: Address, key_path: &str) {
    w.stack.ok(
        DATASET_OWNER,
        "owner",
        &[
            "tee",
            "push-secret",
            "--dataset",
            &dataset.to_string(),
            "--secret-path",
            key_path,
        ],
    );
}
