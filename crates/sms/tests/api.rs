//! The SMS over real HTTP on loopback, with owners read from a real PoCo on anvil.

use std::sync::Arc;

use confide_chain::{Address, B256, Connection, Poco, PrivateKeySigner};
use confide_devstack::DEV_ACCOUNTS;
use confide_protocol::messages::sign_personal;
use confide_protocol::sms as challenge;
use confide_sms::store::{SecretId, SecretKind};
use confide_sms::{AppState, SecretStore, router};
use confide_testkit::{TempPostgres, TestChain};

fn signer(role: &str) -> PrivateKeySigner {
    DEV_ACCOUNTS.iter().find(|a| a.role == role).unwrap().signer()
}

fn auth(signer: &PrivateKeySigner, hash: B256) -> String {
    format!(
        "0x{}",
        confide_chain::hex::encode(sign_personal(signer, hash).unwrap().as_bytes())
    )
}

struct Sms {
    url: String,
    state: Arc<AppState>,
    dataset: Address,
    _node: confide_devstack::AnvilNode,
    _dir: tempfile::TempDir,
}

async fn start() -> Sms {
    start_on(None).await
}

/// Starts an SMS on SQLite, or on the given Postgres database.
async fn start_on(postgres: Option<String>) -> Sms {
    let chain = TestChain::start().await;
    let dataset = chain.dataset("d", 1).await;
    let (node, deployment) = (chain.node, chain.deployment);
    let dir = tempfile::tempdir().unwrap();
    let url = postgres.unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.path().join("sms.db").display()));
    let store = SecretStore::open(&url, &dir.path().join("master.key")).await.unwrap();
    let (url, state, _) = serve(&node.url, deployment.hub, store).await;
    Sms {
        url,
        state,
        dataset,
        _node: node,
        _dir: dir,
    }
}

/// An SMS on `store`, reading PoCo at `hub`, served on a loopback port until the returned
/// task is aborted (which drops its connections, as a killed replica does).
async fn serve(node: &str, hub: Address, store: SecretStore) -> (String, Arc<AppState>, tokio::task::JoinHandle<()>) {
    let poco = Poco::new(Connection::connect(node, None).await.unwrap(), hub)
        .await
        .unwrap();
    let state = Arc::new(AppState {
        store,
        poco,
        metrics: Default::default(),
        assets: Default::default(),
        gateways: confide_gateway::Gateways::new(Vec::new()),
        gate: confide_sms::Gate {
            verifier: confide_attest::verify::Verifier::new(
                confide_attest::verify::CollateralSource::pccs("http://127.0.0.1:9", Default::default()),
                Default::default(),
            ),
            now: None,
        },
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = {
        let state = state.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router(state)).await;
        })
    };
    (url, state, server)
}

async fn post(url: &str, authorization: Option<&str>, body: &str) -> (u16, String) {
    let client = reqwest::Client::new();
    let mut request = client.post(url).body(body.to_owned());
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let code = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (status, code)
}

async fn head(url: &str) -> u16 {
    reqwest::Client::new().head(url).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn dataset_keys_only_from_the_on_chain_owner_once_and_sealed() {
    dataset_keys_scenario(start().await).await;
}

/// The same scenario with Postgres as the store: a throwaway cluster made by the test.
#[tokio::test]
async fn the_same_guarantees_hold_on_postgres() {
    let postgres = TempPostgres::start("sms");
    dataset_keys_scenario(start_on(Some(postgres.url.clone())).await).await;
}

async fn dataset_keys_scenario(sms: Sms) {
    let here = sms.state.poco.sms_deployment();
    let path = format!("{}/secrets/web3?secretAddress={}", sms.url, sms.dataset);
    let key = "c2VjcmV0LWtleS1iYXNlNjQ=";
    assert_eq!(head(&path).await, 404);

    // Bad input, each refused with its code and nothing stored.
    assert_eq!(post(&path, None, key).await, (401, "MISSING_SIGNATURE".into()));
    let intruder = auth(
        &signer("requester"),
        challenge::web3_secret_challenge(sms.dataset, key.as_bytes()),
    );
    assert_eq!(post(&path, Some(&intruder), key).await, (401, "WRONG_SIGNER".into()));
    let other_value = auth(
        &signer("dataset-owner"),
        challenge::web3_secret_challenge(sms.dataset, b"other"),
    );
    assert_eq!(post(&path, Some(&other_value), key).await, (401, "WRONG_SIGNER".into()));
    let other_address = Address::repeat_byte(9);
    let for_other = auth(
        &signer("dataset-owner"),
        challenge::web3_secret_challenge(other_address, key.as_bytes()),
    );
    assert_eq!(post(&path, Some(&for_other), key).await, (401, "WRONG_SIGNER".into()));
    let big = "x".repeat(4097);
    let big_auth = auth(
        &signer("dataset-owner"),
        challenge::web3_secret_challenge(sms.dataset, big.as_bytes()),
    );
    assert_eq!(
        post(&path, Some(&big_auth), &big).await,
        (413, "SECRET_TOO_LARGE".into())
    );
    let unknown = format!("{}/secrets/web3?secretAddress={other_address}", sms.url);
    assert_eq!(
        post(&unknown, Some(&for_other), key).await,
        (404, "UNKNOWN_ADDRESS".into())
    );
    assert_eq!(
        post(&path, Some("0xnothex"), key).await,
        (401, "MISSING_SIGNATURE".into())
    );
    assert_eq!(head(&path).await, 404, "nothing was stored");

    // The owner's push, then write-once.
    let good = auth(
        &signer("dataset-owner"),
        challenge::web3_secret_challenge(sms.dataset, key.as_bytes()),
    );
    assert_eq!(post(&path, Some(&good), key).await.0, 204);
    assert_eq!(head(&path).await, 204);
    assert_eq!(post(&path, Some(&good), key).await, (409, "SECRET_EXISTS".into()));

    // Values are never served, and are sealed under the master key.
    let get = reqwest::get(&path).await.unwrap();
    assert_eq!(get.status().as_u16(), 405);
    let id = SecretId {
        kind: SecretKind::Web3,
        subject: sms.dataset,
        name: String::new(),
    };
    let (version, value) = sms.state.store.read_latest(&id).await.unwrap().unwrap();
    assert_eq!((version, value.as_slice()), (1, key.as_bytes()));

    // Rotation: signed for the next version; a replay of that signature is refused.
    let rotation = auth(
        &signer("dataset-owner"),
        challenge::rotation_challenge(here, sms.dataset, "", 2, b"new-key"),
    );
    let client = reqwest::Client::new();
    let put = |version: u64| {
        client
            .put(format!("{path}&version={version}"))
            .header("Authorization", rotation.clone())
            .body("new-key")
            .send()
    };
    assert_eq!(
        put(3).await.unwrap().status().as_u16(),
        409,
        "version must be the next one"
    );
    assert_eq!(put(2).await.unwrap().status().as_u16(), 200);
    let replay = put(3).await.unwrap();
    assert_eq!(
        replay.status().as_u16(),
        401,
        "a rotation signature is good for one version only"
    );
    let (version, value) = sms.state.store.read_latest(&id).await.unwrap().unwrap();
    assert_eq!((version, value.as_slice()), (2, &b"new-key"[..]));

    // The audit log names actions and actors, never values.
    let log = sms.state.store.audit_log().await.unwrap();
    assert!(log.iter().any(|e| e.action == "push" && e.outcome == "stored"));
    assert!(log.iter().any(|e| e.action == "rotate" && e.version == 2));
    assert!(
        !log.iter().any(|e| e.outcome == "WRONG_SIGNER"),
        "refusals are counted, not stored"
    );
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains(key) && !text.contains("new-key"));
}

#[tokio::test]
async fn web2_secrets_update_as_upstream_and_no_signature_rolls_them_back() {
    let sms = start().await;
    let here = sms.state.poco.sms_deployment();
    let requester = signer("requester");
    let me = requester.address();

    // web2: the beneficiary's result key, updatable with PUT as upstream.
    let name = "iexec-result-encryption-public-key";
    let web2 = format!("{}/secrets/web2?ownerAddress={me}&secretName={name}", sms.url);
    let first = auth(&requester, challenge::named_secret_challenge(me, name, b"pem-1"));
    assert_eq!(post(&web2, Some(&first), "pem-1").await.0, 204);
    assert_eq!(head(&web2).await, 204);
    let update = auth(&requester, challenge::named_secret_challenge(me, name, b"pem-2"));
    let put = reqwest::Client::new()
        .put(&web2)
        .header("Authorization", update.clone())
        .body("pem-2")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 204);
    // Replaying the first signature to roll the key back is refused.
    let replay = reqwest::Client::new()
        .put(&web2)
        .header("Authorization", first.clone())
        .body("pem-1")
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status().as_u16(), 401);
    // Nor in any other spelling of the same signature: no prefix, upper case, `v` as 0/1,
    // or its malleable twin (`n - s` with the other `v`), which recovers to the same key.
    let bytes = confide_chain::hex::decode(&first).unwrap();
    let mut v_as_bit = bytes.clone();
    v_as_bit[64] -= 27;
    let mut twin = bytes.clone();
    let order =
        confide_chain::U256::from_str_radix("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 16)
            .unwrap();
    let s = confide_chain::U256::from_be_slice(&bytes[32..64]);
    twin[32..64].copy_from_slice(&(order - s).to_be_bytes::<32>());
    twin[64] = if bytes[64] == 27 { 28 } else { 27 };
    assert_eq!(
        confide_protocol::messages::recover_personal(
            challenge::named_secret_challenge(me, name, b"pem-1"),
            &confide_chain::Signature::try_from(twin.as_slice()).unwrap()
        ),
        Some(me),
        "the twin is a valid signature of the same message"
    );
    for spelling in [
        first.trim_start_matches("0x").to_owned(),
        first.to_uppercase().replace("0X", "0x"),
        format!("0x{}", confide_chain::hex::encode(&v_as_bit)),
        format!("0x{}", confide_chain::hex::encode(&twin)),
    ] {
        let replay = reqwest::Client::new()
            .put(&web2)
            .header("Authorization", spelling.clone())
            .body("pem-1")
            .send()
            .await
            .unwrap();
        assert_eq!(replay.status().as_u16(), 401, "{spelling}");
    }
    let id = SecretId {
        kind: SecretKind::Web2,
        subject: me,
        name: name.into(),
    };
    let (_, key) = sms.state.store.read_latest(&id).await.unwrap().unwrap();
    assert_eq!(key.as_slice(), b"pem-2", "the key was not rolled back");

    // Confide's update names the version it writes: once the next one is written, its
    // signature is good for nothing, under any spelling and with a version to match.
    let put_version = |version: u64, signature: String, value: &'static str| {
        let url = format!("{web2}&version={version}");
        async move {
            let answer = reqwest::Client::new()
                .put(url)
                .header("Authorization", signature)
                .body(value)
                .send()
                .await
                .unwrap();
            let status = answer.status().as_u16();
            let body: serde_json::Value = answer.json().await.unwrap_or_default();
            (status, body["error"]["code"].as_str().unwrap_or_default().to_owned())
        }
    };
    let third = auth(&requester, challenge::rotation_challenge(here, me, name, 3, b"pem-3"));
    assert_eq!(put_version(3, third.clone(), "pem-3").await.0, 200);
    let fourth = auth(&requester, challenge::rotation_challenge(here, me, name, 4, b"pem-4"));
    assert_eq!(put_version(4, fourth, "pem-4").await.0, 200);
    assert_eq!(
        put_version(3, third.clone(), "pem-3").await,
        (409, "VERSION_MISMATCH".into()),
        "version 3's update cannot come back"
    );
    assert_eq!(put_version(5, third, "pem-3").await.0, 401, "nor pass for version 5");
    let for_five = auth(&requester, challenge::rotation_challenge(here, me, name, 5, b"pem-3"));
    assert_eq!(
        put_version(6, for_five, "pem-3").await,
        (409, "VERSION_MISMATCH".into())
    );
    // An update signed for another chain, or another hub on this one, is not this SMS's.
    for there in [
        challenge::Deployment {
            chain_id: here.chain_id + 1,
            ..here
        },
        challenge::Deployment {
            hub: Address::repeat_byte(0x42),
            ..here
        },
    ] {
        let elsewhere = auth(&requester, challenge::rotation_challenge(there, me, name, 5, b"pem-5"));
        assert_eq!(put_version(5, elsewhere, "pem-5").await, (401, "WRONG_SIGNER".into()));
    }
    let (version, key) = sms.state.store.read_latest(&id).await.unwrap().unwrap();
    assert_eq!((version, key.as_slice()), (4, &b"pem-4"[..]));
}

#[tokio::test]
async fn requester_secrets_have_checked_names_and_are_write_once() {
    let sms = start().await;
    let requester = signer("requester");
    let me = requester.address();

    // Requester secrets: names are checked, each is write-once.
    let path = format!("{}/requesters/{me}/secrets/api_token", sms.url);
    let signed = auth(&requester, challenge::named_secret_challenge(me, "api_token", b"t0ken"));
    assert_eq!(post(&path, Some(&signed), "t0ken").await.0, 204);
    assert_eq!(post(&path, Some(&signed), "t0ken").await, (409, "SECRET_EXISTS".into()));
    let bad_name = format!("{}/requesters/{me}/secrets/bad%20name", sms.url);
    assert_eq!(
        post(&bad_name, Some(&signed), "t0ken").await,
        (400, "BAD_REQUEST".into())
    );
}

#[tokio::test]
async fn only_an_apps_on_chain_owner_writes_its_developer_secret() {
    let sms = start().await;
    let requester = signer("requester");

    // App developer secret: only the app's on-chain owner.
    let hub = sms.state.poco.deployment.hub;
    let developer = Poco::new(
        Connection::connect(&sms.state.poco.connection.url, Some(signer("app-developer")))
            .await
            .unwrap(),
        hub,
    )
    .await
    .unwrap();
    let app = developer
        .create_app("a", "WASM", b"https://example.org/a.wasm", B256::repeat_byte(2), b"")
        .await
        .unwrap();
    let app_path = format!("{}/apps/{app}/secrets", sms.url);
    let by_requester = auth(&requester, challenge::named_secret_challenge(app, "1", b"dev-secret"));
    assert_eq!(
        post(&app_path, Some(&by_requester), "dev-secret").await,
        (401, "WRONG_SIGNER".into())
    );
    let by_owner = auth(
        &signer("app-developer"),
        challenge::named_secret_challenge(app, "1", b"dev-secret"),
    );
    assert_eq!(post(&app_path, Some(&by_owner), "dev-secret").await.0, 204);
}

#[path = "../../../tests/support/fuzz.rs"]
mod fuzz;

/// Bounded fuzzing of secret pushes: random owners, names, versions, signatures and
/// bodies on every push route. Each answer is a success or a JSON refusal with a code
/// (never a 5xx, never axum's plain text), and nothing is stored without a valid owner's
/// signature.
#[tokio::test]
async fn hostile_pushes_get_a_coded_refusal_and_store_nothing() {
    use proptest::prelude::*;
    let sms = start().await;
    let me = signer("requester").address().to_string();
    let address = prop_oneof![Just(me.clone()), "0x[0-9a-fA-F]{0,42}", ".{0,24}"];
    let name = prop_oneof!["[a-zA-Z0-9_-]{1,70}", ".{0,40}"];
    let version = proptest::option::of(prop_oneof![any::<u64>().prop_map(|v| v.to_string()), ".{0,8}"]);
    let route = (0..4usize, address, name, version).prop_map(|(route, address, name, version)| {
        let (address, name) = (fuzz::encoded(&address), fuzz::encoded(&name));
        let base = match route {
            0 => format!("/secrets/web2?ownerAddress={address}&secretName={name}"),
            1 => format!("/secrets/web3?secretAddress={address}"),
            2 => format!("/requesters/{address}/secrets/{name}"),
            _ => format!("/apps/{address}/secrets"),
        };
        match version {
            Some(v) if base.contains('?') => format!("{base}&version={}", fuzz::encoded(&v)),
            Some(v) => format!("{base}?version={}", fuzz::encoded(&v)),
            None => base,
        }
    });
    let authorization = proptest::option::of(prop_oneof!["0x[0-9a-f]{130}", "0x[0-9a-f]{0,140}", ".{0,80}"]);
    let body = proptest::collection::vec(any::<u8>(), 0..2048);
    let cases = fuzz::samples((route, any::<bool>(), authorization, body), 300);
    let client = reqwest::Client::new();
    for (path, put, authorization, body) in cases {
        let method = if put {
            reqwest::Method::PUT
        } else {
            reqwest::Method::POST
        };
        let mut request = client.request(method, format!("{}{path}", sms.url)).body(body);
        if let Some(value) = authorization.filter(|v| reqwest::header::HeaderValue::from_str(v).is_ok()) {
            request = request.header("Authorization", value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert!(status < 500, "{path}: {status} {text}");
        if status >= 400 && status != 404 && status != 405 {
            let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            assert!(answer["error"]["code"].is_string(), "{path}: {status} {text}");
        }
        assert!(status >= 400, "{path}: a push without the owner's signature was taken");
    }
    // Enclave sessions asked with nonces the SMS never gave: refused, and not stored.
    for i in 0..50u8 {
        let request = serde_json::json!({
            "taskId": B256::repeat_byte(i),
            "worker": me,
            "enclaveChallenge": me,
            "authorization": "0x",
            "nonce": B256::repeat_byte(i.wrapping_add(1)),
            "enclavePublicKey": "0x00",
            "appModuleSha256": B256::ZERO,
            "evidence": { "type": "simulated", "data": "0x" },
        });
        let answer = client
            .post(format!("{}/tee/enclave-sessions", sms.url))
            .header("content-type", "application/json")
            .body(request.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 401);
    }
    // Hundreds of refusals cost the SMS a counter, not an audit row each.
    assert_eq!(sms.state.store.audit_log().await.unwrap().len(), 0);
    // Names are bounded on every route, web2 included.
    let long = "n".repeat(65);
    let answer = client
        .post(format!("{}/secrets/web2?ownerAddress={me}&secretName={long}", sms.url))
        .body("value")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 400);
    assert_eq!(
        answer.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "BAD_REQUEST"
    );
    assert_eq!(
        reqwest::get(format!("{}/health", sms.url))
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
}

/// Several SMS replicas on one Postgres, as behind a load balancer: they serve the same
/// secrets under one master key (a replica with another key refuses to start), and what
/// must happen once happens once across all of them, however the requests are spread:
/// a nonce is consumed once, a task's challenge key is made once, a signature is burnt
/// for all. A replica killed mid-load loses nothing it acknowledged and doubles nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_on_one_postgres_do_once_what_must_happen_once() {
    use confide_sms::store::MasterKeySource;
    let postgres = TempPostgres::start("sms");
    let (node, deployment) = confide_testkit::ephemeral_chain().await.unwrap();
    let hub = deployment.hub;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("master.key");

    // The key: a file for one replica, the same bytes from the environment's form for the
    // other; any other key is refused before a request is served.
    let a = SecretStore::open_with(&postgres.url, MasterKeySource::File(&key_file))
        .await
        .unwrap();
    let hex = confide_chain::hex::encode(std::fs::read(&key_file).unwrap());
    let stranger = SecretStore::open_with(&postgres.url, MasterKeySource::File(&dir.path().join("other.key"))).await;
    assert_eq!(stranger.err().map(|e| e.code()), Some("MASTER_KEY_MISMATCH"));
    let b = SecretStore::open_with(&postgres.url, MasterKeySource::from_hex(&hex).unwrap())
        .await
        .unwrap();
    let (url_a, state_a, server_a) = serve(&node.url, hub, a).await;
    let (url_b, state_b, _server_b) = serve(&node.url, hub, b).await;
    let replicas = [url_a.clone(), url_b.clone()];

    // A secret pushed to one is there on the other, and opens under the shared key.
    let requester = signer("requester");
    let me = requester.address();
    let name = "iexec-result-encryption-public-key";
    let web2 = |base: &str| format!("{base}/secrets/web2?ownerAddress={me}&secretName={name}");
    let first = auth(&requester, challenge::named_secret_challenge(me, name, b"pem-1"));
    assert_eq!(post(&web2(&url_a), Some(&first), "pem-1").await.0, 204);
    assert_eq!(head(&web2(&url_b)).await, 204);
    let id = SecretId {
        kind: SecretKind::Web2,
        subject: me,
        name: name.into(),
    };
    assert_eq!(
        state_b.store.read_latest(&id).await.unwrap().unwrap().1.as_slice(),
        b"pem-1"
    );

    // One signed update sent to both at once: written once, refused on the other.
    let update = auth(&requester, challenge::named_secret_challenge(me, name, b"pem-2"));
    let put = |base: String, signature: String| async move {
        reqwest::Client::new()
            .put(web2(&base))
            .header("Authorization", signature)
            .body("pem-2")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let (left, right) = tokio::join!(put(url_a.clone(), update.clone()), put(url_b.clone(), update.clone()));
    let mut statuses = [left, right];
    statuses.sort();
    // The loser finds the version taken (409) or the signature burnt (401), by timing.
    assert!(
        statuses[0] == 204 && [401, 409].contains(&statuses[1]),
        "one update, the other refused: {statuses:?}"
    );
    assert_eq!(state_a.store.latest_version(&id).await.unwrap(), Some(2));
    assert_eq!(
        state_a.store.read_latest(&id).await.unwrap().unwrap().1.as_slice(),
        b"pem-2"
    );

    // Nonces issued by either replica, each consumed by both at once: one wins.
    let mut nonces = Vec::new();
    for index in 0..40 {
        let state = if index % 2 == 0 { &state_a } else { &state_b };
        nonces.push(
            state
                .store
                .issue_nonce(std::time::Duration::from_secs(60))
                .await
                .unwrap(),
        );
    }
    let mut races = Vec::new();
    for nonce in nonces {
        let (a, b) = (state_a.clone(), state_b.clone());
        races.push(tokio::spawn(async move {
            let (x, y) = tokio::join!(a.store.consume_nonce(nonce), b.store.consume_nonce(nonce));
            u8::from(x.unwrap()) + u8::from(y.unwrap())
        }));
    }
    for race in races {
        assert_eq!(race.await.unwrap(), 1, "a nonce is consumed exactly once");
    }

    // A task's challenge key asked of both replicas at once, sixteen times: one key.
    let app = confide_testkit::chain::client(&node.url, "app-developer", hub)
        .await
        .create_app(
            "replicas",
            "WASM",
            b"https://example.org/a.wasm",
            B256::repeat_byte(2),
            b"",
        )
        .await
        .unwrap();
    let workerpool = confide_testkit::chain::client(&node.url, "workerpool-owner", hub)
        .await
        .create_workerpool("replicas pool")
        .await
        .unwrap();
    let task = confide_testkit::chain::active_tee_task(&node.url, hub, app, Address::ZERO, workerpool).await;
    let owner = signer("workerpool-owner");
    let signature = auth(&owner, confide_protocol::tee::challenge_request_hash(task));
    let mut asks = Vec::new();
    for index in 0..16 {
        let url = format!("{}/tee/challenges/{task}", replicas[index % 2]);
        let signature = signature.clone();
        asks.push(tokio::spawn(async move {
            let answer = reqwest::Client::new()
                .post(url)
                .header("Authorization", signature)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status().as_u16(), 200);
            let body: serde_json::Value = answer.json().await.unwrap();
            body["address"].as_str().unwrap().to_owned()
        }));
    }
    let mut addresses = std::collections::BTreeSet::new();
    for ask in asks {
        addresses.insert(ask.await.unwrap());
    }
    assert_eq!(addresses.len(), 1, "one challenge key for the task: {addresses:?}");
    let (made, _) = state_b.store.existing_challenge(task).await.unwrap().unwrap();
    assert_eq!(
        made.to_string().to_lowercase(),
        addresses.first().unwrap().to_lowercase()
    );

    // Pushes spread over both while one replica is killed: every acknowledged push is
    // stored once; an interrupted one is stored once or not at all, and stored once when
    // sent again to the survivor.
    let mut pushes = Vec::new();
    for index in 0..60 {
        let base = replicas[index % 2].clone();
        let requester = requester.clone();
        pushes.push(tokio::spawn(async move {
            let name = format!("load-{index}");
            let value = format!("value-{index}");
            let signature = auth(
                &requester,
                challenge::named_secret_challenge(me, &name, value.as_bytes()),
            );
            let url = format!("{base}/secrets/web2?ownerAddress={me}&secretName={name}");
            let answer = reqwest::Client::new()
                .post(url)
                .header("Authorization", signature)
                .body(value)
                .send()
                .await;
            (index, answer.map(|a| a.status().as_u16()).ok())
        }));
        if index == 30 {
            server_a.abort();
        }
    }
    let mut acknowledged = 0;
    for push in pushes {
        let (index, status) = push.await.unwrap();
        let id = SecretId {
            kind: SecretKind::Web2,
            subject: me,
            name: format!("load-{index}"),
        };
        let versions = state_b.store.latest_version(&id).await.unwrap();
        if status == Some(204) {
            acknowledged += 1;
            assert_eq!(versions, Some(1), "acknowledged push {index} is stored once");
            continue;
        }
        assert!(versions.is_none() || versions == Some(1), "push {index}: {versions:?}");
        if versions.is_none() {
            let value = format!("value-{index}");
            let signature = auth(
                &requester,
                challenge::named_secret_challenge(me, &id.name, value.as_bytes()),
            );
            let url = format!("{url_b}/secrets/web2?ownerAddress={me}&secretName={}", id.name);
            assert_eq!(post(&url, Some(&signature), &value).await.0, 204);
        }
        assert_eq!(state_b.store.latest_version(&id).await.unwrap(), Some(1));
    }
    assert!(
        acknowledged >= 30,
        "the survivor kept answering: {acknowledged} acknowledged"
    );
}
