//! The content store over real HTTP on loopback, on a local directory.

use confide_chain::{B256, PrivateKeySigner};
use confide_protocol::messages::sign_personal;
use sha2::{Digest, Sha256};

struct Store {
    url: String,
    dir: tempfile::TempDir,
}

async fn start() -> Store {
    start_configured(|_| {}).await.0
}

/// A store on a fresh directory (1 MiB uploads), configured by `configure` before it serves.
async fn start_configured(
    configure: impl FnOnce(&mut confide_store::StoreState),
) -> (Store, std::sync::Arc<confide_store::StoreState>) {
    let dir = tempfile::tempdir().unwrap();
    let backend = confide_store::open_backend(dir.path().to_str().unwrap()).unwrap();
    let mut state = confide_store::StoreState::configure(backend, 1 << 20, None);
    configure(&mut state);
    let state = std::sync::Arc::new(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, confide_store::router(state.clone())).into_future());
    (Store { url, dir }, state)
}

fn sha256(content: &[u8]) -> B256 {
    B256::from_slice(&Sha256::digest(content))
}

async fn put(
    store: &Store,
    path_owner: &str,
    name: &str,
    signer: &PrivateKeySigner,
    signed_hash: B256,
    body: Vec<u8>,
) -> (u16, String) {
    let owner = signer.address();
    let signature = sign_personal(
        signer,
        confide_protocol::store::upload_challenge(owner, name, signed_hash),
    )
    .unwrap();
    let response = reqwest::Client::new()
        .put(format!("{}/files/{path_owner}/{name}", store.url))
        .header(
            "Authorization",
            format!("0x{}", confide_chain::hex::encode(signature.as_bytes())),
        )
        .header(confide_store::CONTENT_SHA256, signed_hash.to_string())
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let json: serde_json::Value = response.json().await.unwrap_or_default();
    (status, json["error"]["code"].as_str().unwrap_or_default().to_owned())
}

/// The owner's signed upload of `content`, which the store must accept.
async fn upload(store: &Store, owner_address: &str, name: &str, owner: &PrivateKeySigner, content: &[u8]) {
    let (status, code) = put(store, owner_address, name, owner, sha256(content), content.to_vec()).await;
    assert_eq!(status, 201, "upload of {name} refused: {code}");
}

#[tokio::test]
async fn signed_uploads_are_served_publicly_and_bad_ones_leave_nothing() {
    let store = start().await;
    let owner = PrivateKeySigner::random();
    let me = owner.address().to_string();
    let content = b"IV and ciphertext...".to_vec();

    // The owner's signed upload, then anyone downloads it byte for byte.
    upload(&store, &me, "data.enc", &owner, &content).await;
    let got = reqwest::get(format!("{}/files/{me}/data.enc", store.url))
        .await
        .unwrap();
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), content.as_slice());

    // Someone else cannot write under the owner's prefix.
    let intruder = PrivateKeySigner::random();
    assert_eq!(
        put(&store, &me, "data.enc", &intruder, sha256(b"evil"), b"evil".to_vec()).await,
        (401, "WRONG_SIGNER".into())
    );

    // Content that does not match the signed hash is not kept.
    let signed = sha256(b"what was signed");
    assert_eq!(
        put(&store, &me, "other.enc", &owner, signed, b"something else".to_vec()).await,
        (400, "CHECKSUM_MISMATCH".into())
    );
    let missing = reqwest::get(format!("{}/files/{me}/other.enc", store.url))
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);

    // Bad names and oversized bodies are refused.
    assert_eq!(
        put(&store, &me, ".hidden", &owner, sha256(b"x"), b"x".to_vec()).await.0,
        400
    );
    let big = vec![7u8; (1 << 20) + 1];
    assert_eq!(put(&store, &me, "big.enc", &owner, sha256(&big), big).await.0, 413);

    // Only the one good file is on disk.
    let files: Vec<_> = stored_files(store.dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
}

/// The files under `dir` but the CID records the store keeps beside them (`ipfs/`
/// markers, `file-cids/`).
fn stored_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let records = [dir.join("ipfs"), dir.join("file-cids")];
    walk(dir)
        .into_iter()
        .filter(|path| !records.iter().any(|r| path.starts_with(r)))
        .collect()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// An upload sent by hand over TCP, so the test can hold it half-way.
struct HeldUpload {
    stream: tokio::net::TcpStream,
    rest: Vec<u8>,
}

impl HeldUpload {
    /// Sends the headers and the first half of `content`, and holds the rest back.
    async fn start(store: &Store, owner: &PrivateKeySigner, name: &str, content: &[u8]) -> HeldUpload {
        use tokio::io::AsyncWriteExt;
        let signature = sign_personal(
            owner,
            confide_protocol::store::upload_challenge(owner.address(), name, sha256(content)),
        )
        .unwrap();
        let host = store.url.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
        let head = format!(
            "PUT /files/{}/{name} HTTP/1.1\r\nhost: {host}\r\nauthorization: 0x{}\r\n{}: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            owner.address(),
            confide_chain::hex::encode(signature.as_bytes()),
            confide_store::CONTENT_SHA256,
            sha256(content),
            content.len()
        );
        let (first, rest) = content.split_at(content.len() / 2);
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(first).await.unwrap();
        stream.flush().await.unwrap();
        HeldUpload {
            stream,
            rest: rest.to_vec(),
        }
    }

    /// Sends the rest; the answer's status line.
    async fn finish(mut self) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.stream.write_all(&self.rest).await.unwrap();
        let mut answer = String::new();
        self.stream.read_to_string(&mut answer).await.unwrap();
        answer.lines().next().unwrap_or_default().to_owned()
    }
}

#[tokio::test]
async fn an_upload_in_progress_is_never_served_and_two_at_once_do_not_mix() {
    let store = start().await;
    let owner = PrivateKeySigner::random();
    let me = owner.address().to_string();
    let first: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let second: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();

    let a = HeldUpload::start(&store, &owner, "data.enc", &first).await;
    let b = HeldUpload::start(&store, &owner, "data.enc", &second).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // Half-written, unchecked bytes exist somewhere in the store: no name serves them.
    for name in ["data.enc", "data.enc.partial", "data.enc.tmp", ".data.enc"] {
        let got = reqwest::get(format!("{}/files/{me}/{name}", store.url)).await.unwrap();
        assert_eq!(
            got.status().as_u16(),
            404,
            "{name} served while uploads are in progress"
        );
    }
    for path in walk(store.dir.path()) {
        let relative = path
            .strip_prefix(store.dir.path())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let got = reqwest::get(format!("{}/files/{relative}", store.url)).await.unwrap();
        assert_eq!(got.status().as_u16(), 404, "the staging object {relative} is served");
    }

    // Both finish: each is checked against its own signed hash, and what is served is one
    // of them whole, never a mix.
    assert!(b.finish().await.contains("201"));
    assert!(a.finish().await.contains("201"));
    let served = reqwest::get(format!("{}/files/{me}/data.enc", store.url))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(served.as_ref(), first.as_slice(), "the last one finished is served");
    assert_eq!(
        stored_files(store.dir.path()).len(),
        1,
        "no staging object is left behind"
    );
}

#[tokio::test]
async fn each_wallet_has_a_quota_and_the_store_a_total() {
    // 1000 bytes a wallet, 2500 in all.
    let (store, _) = start_configured(|state| {
        state.owner_quota = 1000;
        state.total_quota = 2500;
        state.results_reserve = 0;
    })
    .await;
    let filler = PrivateKeySigner::random();
    let me = filler.address().to_string();
    let bytes = |n: usize, b: u8| vec![b; n];

    assert_eq!(
        put(&store, &me, "a", &filler, sha256(&bytes(600, 1)), bytes(600, 1))
            .await
            .0,
        201
    );
    // A second file past the wallet's quota is refused, and nothing of it is kept.
    assert_eq!(
        put(&store, &me, "b", &filler, sha256(&bytes(600, 2)), bytes(600, 2)).await,
        (413, "QUOTA_EXCEEDED".into())
    );
    let missing = reqwest::get(format!("{}/files/{me}/b", store.url)).await.unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    // Replacing a file counts its new size only.
    assert_eq!(
        put(&store, &me, "a", &filler, sha256(&bytes(900, 3)), bytes(900, 3))
            .await
            .0,
        201
    );

    // Other wallets fill the store up to its total, then uploads are refused.
    let mut codes = Vec::new();
    for _ in 0..3 {
        let other = PrivateKeySigner::random();
        let (status, code) = put(
            &store,
            &other.address().to_string(),
            "x",
            &other,
            sha256(&bytes(700, 4)),
            bytes(700, 4),
        )
        .await;
        codes.push((status, code));
    }
    assert_eq!(
        codes,
        [(201, String::new()), (201, String::new()), (507, "STORE_FULL".into())],
        "900 + 700 + 700 fit in 2500, a third 700 does not"
    );
    assert_eq!(
        stored_files(store.dir.path()).len(),
        3,
        "the refused uploads left nothing"
    );
}

#[tokio::test]
async fn files_stop_short_of_the_results_reserve() {
    // 2500 bytes in all, 1000 of them for results only: files fill 1500 at most.
    let (store, _) = start_configured(|state| {
        state.total_quota = 2500;
        state.results_reserve = 1000;
    })
    .await;
    let mut codes = Vec::new();
    for _ in 0..3 {
        let wallet = PrivateKeySigner::random();
        let body = vec![9u8; 700];
        let (status, code) = put(&store, &wallet.address().to_string(), "x", &wallet, sha256(&body), body).await;
        codes.push((status, code));
    }
    assert_eq!(
        codes,
        [(201, String::new()), (201, String::new()), (507, "STORE_FULL".into())],
        "700 + 700 fit in 1500, a third 700 would eat into the results' reserve"
    );
}

#[tokio::test]
async fn a_wallet_that_owns_nothing_on_chain_has_the_newcomer_quota() {
    let chain = confide_testkit::TestChain::start().await;
    let owner = chain.client("dataset-owner").await;
    let allowed = PrivateKeySigner::random();
    let (store, _) = start_configured(|state| {
        state.poco = Some(owner.clone());
        state.owner_quota = 1000;
        state.newcomer_quota = 200;
        state.upload_allow = [allowed.address()].into_iter().collect();
    })
    .await;
    let body = vec![5u8; 300];
    let fresh = PrivateKeySigner::random();
    assert_eq!(
        put(
            &store,
            &fresh.address().to_string(),
            "x",
            &fresh,
            sha256(&body),
            body.clone()
        )
        .await,
        (413, "QUOTA_EXCEEDED".into()),
        "a free wallet keeps 200 bytes"
    );
    let small = vec![5u8; 150];
    upload(&store, &fresh.address().to_string(), "small", &fresh, &small).await;

    owner
        .create_dataset("owned", b"https://example.org/owned.enc", B256::repeat_byte(7))
        .await
        .expect("the dataset registers");
    let signer = chain.signer("dataset-owner");
    upload(&store, &signer.address().to_string(), "x", &signer, &body).await;
    upload(&store, &allowed.address().to_string(), "x", &allowed, &body).await;
}

#[tokio::test]
async fn a_tee_tasks_result_is_refused_without_its_enclaves_signature() {
    let chain = confide_testkit::TestChain::start().await;
    let pool_owner = chain.client("workerpool-owner").await;
    let workerpool = pool_owner.create_workerpool("results pool").await.unwrap();
    let app = chain
        .client("app-developer")
        .await
        .create_app("tee", "WASM", b"https://example.org/a.wasm", B256::repeat_byte(1), b"")
        .await
        .unwrap();
    let task = confide_testkit::chain::active_tee_task(
        chain.url(),
        chain.hub(),
        app,
        confide_chain::Address::ZERO,
        workerpool,
    )
    .await;
    let (store, _) = start_configured(|state| {
        state.poco = Some(pool_owner.clone());
        state.accept_results = true;
    })
    .await;
    // The pool's owner authorized this worker with no enclave challenge, and the worker
    // signs the result itself, as for a standard task.
    let worker = chain.signer("worker-1");
    let body = b"not the enclave's result".to_vec();
    let digest = sha256(&body);
    let zero = confide_chain::Address::ZERO;
    let authorization = sign_personal(
        &chain.signer("workerpool-owner"),
        confide_protocol::messages::authorization_hash(worker.address(), task, zero),
    )
    .unwrap();
    let upload = sign_personal(
        &worker,
        confide_protocol::workerpool::result_upload_hash(task, worker.address(), digest),
    )
    .unwrap();
    let hex = |s: confide_chain::Signature| format!("0x{}", confide_chain::hex::encode(s.as_bytes()));
    let answer = reqwest::Client::new()
        .put(format!("{}/results/{task}/{}", store.url, worker.address()))
        .header(confide_store::CONTENT_SHA256, digest.to_string())
        .header("x-confide-enclave-challenge", zero.to_string())
        .header("x-confide-authorization", hex(authorization))
        .header("Authorization", hex(upload))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 401);
    let refusal: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(refusal["error"]["code"], "WRONG_ENCLAVE_SIGNATURE", "{refusal}");
    assert!(
        !store.dir.path().join("results").exists(),
        "nothing kept: {:?}",
        stored_files(store.dir.path())
    );
}

#[path = "../../../tests/support/fuzz.rs"]
mod fuzz;

/// Bounded fuzzing of uploads: random owners, names, hash headers and signatures (some
/// made by the owner, over the declared hash or another), random bodies. A file is stored
/// exactly when its name is valid, the owner signed that name and hash, and the body
/// hashes to it; everything else is a JSON refusal with a code, and never a 5xx.
#[tokio::test]
async fn hostile_uploads_are_refused_with_a_code_and_store_nothing() {
    use proptest::prelude::*;
    let store = start().await;
    let owner = PrivateKeySigner::random();
    let owner_text = owner.address().to_string();
    let path_owner = prop_oneof![Just(owner_text.clone()), "0x[0-9a-fA-F]{0,42}", ".{0,20}"];
    let name = prop_oneof![
        "[a-zA-Z0-9._-]{1,130}",
        ".{0,40}",
        Just(".hidden".to_owned()),
        Just("..".to_owned())
    ];
    let body = proptest::collection::vec(any::<u8>(), 0..1024);
    // 0: no header, 1: a random one, 2: the body's hash, 3: another hash.
    let hash_header = 0..4u8;
    // 0: none, 1: random hex, 2: the owner's over the declared hash, 3: over another.
    let signature = 0..4u8;
    let cases = fuzz::samples((path_owner, name, body, hash_header, signature, "[ -~]{0,80}"), 300);
    let client = reqwest::Client::new();
    let mut stored = 0;
    for (path_owner, name, body, hash_header, signature, junk) in cases {
        let body_hash = sha256(&body);
        let declared = match hash_header {
            0 => None,
            1 => Some(junk.clone()),
            2 => Some(body_hash.to_string()),
            _ => Some(B256::repeat_byte(9).to_string()),
        };
        let signed_hash = declared
            .as_deref()
            .and_then(|d| d.parse::<B256>().ok())
            .unwrap_or(body_hash);
        let owners_signature = |hash: B256| {
            let challenge = confide_protocol::store::upload_challenge(owner.address(), &name, hash);
            format!(
                "0x{}",
                confide_chain::hex::encode(sign_personal(&owner, challenge).unwrap().as_bytes())
            )
        };
        let authorization = match signature {
            0 => None,
            1 => Some(format!("0x{}", "ab".repeat(65))),
            2 => Some(owners_signature(signed_hash)),
            _ => Some(owners_signature(B256::ZERO)),
        };
        let url = format!(
            "{}/files/{}/{}",
            store.url,
            fuzz::encoded(&path_owner),
            fuzz::encoded(&name)
        );
        let mut request = client.put(&url).body(body);
        if let Some(value) = declared.filter(|v| reqwest::header::HeaderValue::from_str(v).is_ok()) {
            request = request.header("x-content-sha256", value);
        }
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert!(status < 500, "{url}: {status} {text}");
        let valid_name = !name.is_empty()
            && name.len() <= 128
            && !name.starts_with('.')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        let should_store = path_owner == owner_text && valid_name && hash_header == 2 && signature == 2;
        if should_store {
            assert_eq!(status, 201, "{url}: {text}");
            stored += 1;
        } else {
            assert!(status >= 400, "{url} was stored: {text}");
            if status != 404 && status != 405 {
                let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                assert!(answer["error"]["code"].is_string(), "{url}: {status} {text}");
            }
        }
    }
    assert!(stored > 0, "the valid uploads among the cases were stored");
    // Nothing but the owner's valid files (and their CID records) is on disk.
    let owner_dir = owner_text.to_lowercase();
    for entry in std::fs::read_dir(store.dir.path()).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            [owner_dir.as_str(), "staging", "file-cids", "ipfs"].contains(&name.as_str()),
            "{name} is in the store"
        );
    }
    for entry in std::fs::read_dir(store.dir.path().join("file-cids")).unwrap().flatten() {
        assert_eq!(
            entry.file_name().to_string_lossy(),
            owner_dir,
            "CIDs recorded for the owner only"
        );
    }
}

#[tokio::test]
async fn the_ipfs_gateway_path_refuses_what_is_not_a_cid_and_serves_nothing_unchecked() {
    let store = start().await;
    let base = store.url.clone();
    let get = |path: String| {
        let url = format!("{base}{path}");
        async move {
            let response = reqwest::get(url).await.unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            (status, body["error"]["code"].as_str().unwrap_or_default().to_owned())
        }
    };
    for bad in [
        "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyf0",
        "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5f",
        "..%2F..%2Fetc%2Fpasswd",
        "staging",
    ] {
        assert_eq!(get(format!("/ipfs/{bad}")).await, (400, "INVALID_CID".into()), "{bad}");
    }
    // A well-formed CID of content nobody stored.
    let nobody = confide_protocol::ipfs::file_cid(confide_protocol::ipfs::CidVersion::V1, b"never stored");
    assert_eq!(get(format!("/ipfs/{nobody}")).await, (404, "NOT_FOUND".into()));
    let nobody_v0 = confide_protocol::ipfs::file_cid(confide_protocol::ipfs::CidVersion::V0, b"never stored");
    assert_eq!(get(format!("/ipfs/{nobody_v0}")).await, (404, "NOT_FOUND".into()));

    // An owner's signed upload is served under its CID too (as `dataset upload --ipfs`
    // registers it), with a gateway's headers; replaced, it is served under the new CID
    // only, never under the old one.
    let owner = PrivateKeySigner::random();
    let me = owner.address().to_string();
    let content = b"hello world".to_vec();
    upload(&store, &me, "hello", &owner, &content).await;
    let cid = confide_protocol::ipfs::file_cid(confide_protocol::ipfs::CidVersion::V1, &content);
    assert_eq!(
        cid.to_string(),
        "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e",
        "kubo's CID of \"hello world\""
    );
    let served = reqwest::get(format!("{base}/ipfs/{cid}")).await.unwrap();
    assert_eq!(served.status().as_u16(), 200);
    assert_eq!(
        served.headers()["x-ipfs-path"].to_str().unwrap(),
        format!("/ipfs/{cid}")
    );
    assert_eq!(served.bytes().await.unwrap().as_ref(), content.as_slice());
    let replaced = b"hello mars".to_vec();
    assert_eq!(
        put(&store, &me, "hello", &owner, sha256(&replaced), replaced.clone())
            .await
            .0,
        201
    );
    assert_eq!(get(format!("/ipfs/{cid}")).await, (404, "NOT_FOUND".into()));
    let stale = store.dir.path().join("ipfs").join(cid.to_string());
    assert!(
        !stale.exists() || walk(&stale).is_empty(),
        "the old CID's marker is gone: {:?}",
        walk(&stale)
    );
    let new_cid = confide_protocol::ipfs::file_cid(confide_protocol::ipfs::CidVersion::V1, &replaced);
    let served = reqwest::get(format!("{base}/ipfs/{new_cid}")).await.unwrap();
    assert_eq!(served.bytes().await.unwrap().as_ref(), replaced.as_slice());
}

/// What an IPFS node (kubo's RPC API) was sent, and how it answers.
#[derive(Default)]
struct KuboRecording {
    /// (path, query, content type, body) of each request.
    requests: Vec<(String, String, String, Vec<u8>)>,
    /// Answers to `add` in turn (status, body); the last one repeats.
    add_answers: Vec<(u16, String)>,
}

impl KuboRecording {
    fn calls(&self, path: &str) -> Vec<&(String, String, String, Vec<u8>)> {
        self.requests.iter().filter(|r| r.0 == path).collect()
    }
}

/// A loopback server answering kubo's RPC `add`, `pin/add` and `pin/rm` as kubo does
/// (`add`: one JSON line per added file, `{"Name","Hash","Size"}`; `pin/*`:
/// `{"Pins":[CID]}`; errors as `{"Message","Code","Type"}`), from recorded answers. No kubo
/// binary installs on this machine (npm's `kubo` and dist.ipfs.tech download from outside
/// the registries), so the exchange is replayed, not live.
async fn kubo(add_answers: Vec<(u16, String)>) -> (String, std::sync::Arc<std::sync::Mutex<KuboRecording>>) {
    use axum::extract::State;
    let recording = std::sync::Arc::new(std::sync::Mutex::new(KuboRecording {
        add_answers,
        ..KuboRecording::default()
    }));
    let answer = |State(recording): State<std::sync::Arc<std::sync::Mutex<KuboRecording>>>,
                  uri: axum::http::Uri,
                  headers: axum::http::HeaderMap,
                  body: axum::body::Bytes| async move {
        let mut recording = recording.lock().unwrap();
        let content_type = headers
            .get(axum::http::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let (path, query) = (uri.path().to_owned(), uri.query().unwrap_or_default().to_owned());
        recording
            .requests
            .push((path.clone(), query.clone(), content_type, body.to_vec()));
        let (status, body) = if path == "/api/v0/add" {
            let index = (recording.calls("/api/v0/add").len() - 1).min(recording.add_answers.len() - 1);
            recording.add_answers[index].clone()
        } else {
            let cid = query.trim_start_matches("arg=").to_owned();
            (200, format!("{{\"Pins\":[\"{cid}\"]}}\n"))
        };
        (axum::http::StatusCode::from_u16(status).unwrap(), body)
    };
    let router = axum::Router::new()
        .route("/api/v0/add", axum::routing::post(answer))
        .route("/api/v0/pin/add", axum::routing::post(answer))
        .route("/api/v0/pin/rm", axum::routing::post(answer))
        .with_state(recording.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, router).into_future());
    (url, recording)
}

async fn store_pinning_to(node: &str) -> (Store, std::sync::Arc<confide_store::StoreState>) {
    let node = confide_store::pin::IpfsNode::new(node).unwrap();
    start_configured(|state| state.ipfs_node = Some(std::sync::Arc::new(node))).await
}

/// Waits until the node's counters reach `until` (pinned, failed).
async fn settled(state: &confide_store::StoreState, until: (u64, u64)) {
    let node = state.ipfs_node.as_ref().unwrap();
    let mut counts = (0, 0);
    for _ in 0..200 {
        counts = (
            node.pinned.load(std::sync::atomic::Ordering::Relaxed),
            node.failed.load(std::sync::atomic::Ordering::Relaxed),
        );
        if counts == until {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("pins (pinned, failed) stayed at {counts:?}, not {until:?}");
}

const HELLO_CID: &str = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e";

#[tokio::test]
async fn an_ipfs_node_pins_what_the_store_keeps_and_must_derive_the_same_cid() {
    let content = b"hello world".to_vec();
    let owner = PrivateKeySigner::random();
    let me = owner.address().to_string();

    // A node that fails once (kubo's error body), then adds: the store tries again, and
    // pins only once the node's CID is its own.
    let (node, recording) = kubo(vec![
        (
            500,
            r#"{"Message":"blockstore: too many open files","Code":0,"Type":"error"}"#.into(),
        ),
        (
            200,
            format!("{{\"Name\":\"{HELLO_CID}\",\"Hash\":\"{HELLO_CID}\",\"Size\":\"11\"}}\n"),
        ),
    ])
    .await;
    let (store, state) = store_pinning_to(&node).await;
    upload(&store, &me, "hello", &owner, &content).await;
    settled(&state, (1, 0)).await;
    {
        let recording = recording.lock().unwrap();
        let adds = recording.calls("/api/v0/add");
        assert_eq!(adds.len(), 2, "added on the second try");
        let (_, query, content_type, body) = adds[1];
        for option in ["cid-version=1", "raw-leaves=true", "pin=false"] {
            assert!(query.split('&').any(|q| q == option), "{option} in {query}");
        }
        assert!(
            content_type.starts_with("multipart/form-data; boundary="),
            "{content_type}"
        );
        let body = String::from_utf8_lossy(body);
        assert!(body.contains("name=\"file\""), "kubo reads the part named file: {body}");
        assert!(
            body.contains("\r\n\r\nhello world\r\n"),
            "the file's bytes, whole: {body}"
        );
        let pins = recording.calls("/api/v0/pin/add");
        assert_eq!(pins.len(), 1);
        assert_eq!(pins[0].1, format!("arg={HELLO_CID}"));
    }
    let metrics = reqwest::get(format!("{}/metrics", store.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("store_ipfs_pinned_total 1"), "{metrics}");

    // Replaced, the old content is held by nothing: unpinned.
    let replaced = b"hello mars".to_vec();
    assert_eq!(
        put(&store, &me, "hello", &owner, sha256(&replaced), replaced).await.0,
        201
    );
    for _ in 0..100 {
        if !recording.lock().unwrap().calls("/api/v0/pin/rm").is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let removed: Vec<String> = recording
        .lock()
        .unwrap()
        .calls("/api/v0/pin/rm")
        .iter()
        .map(|r| r.1.clone())
        .collect();
    assert_eq!(removed, vec![format!("arg={HELLO_CID}")]);

    // A node importing otherwise (CIDv0 here) is reported, not retried, not pinned, not
    // believed; the store still serves the file under the CID it computed itself.
    let (node, recording) = kubo(vec![(
        200,
        "{\"Name\":\"hello\",\"Hash\":\"Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD\",\"Size\":\"19\"}\n".into(),
    )])
    .await;
    let (store, state) = store_pinning_to(&node).await;
    upload(&store, &me, "hello", &owner, &content).await;
    settled(&state, (0, 1)).await;
    assert_eq!(recording.lock().unwrap().calls("/api/v0/add").len(), 1);
    assert!(recording.lock().unwrap().calls("/api/v0/pin/add").is_empty());
    let served = reqwest::get(format!("{}/ipfs/{HELLO_CID}", store.url)).await.unwrap();
    assert_eq!(served.bytes().await.unwrap().as_ref(), content.as_slice());

    assert!(confide_store::pin::IpfsNode::new("ftp://127.0.0.1:5001").is_err());
    assert!(confide_store::pin::IpfsNode::new("http://127.0.0.1:5001#x").is_err());
}

/// A CID record that no longer matches its file (a replacement racing a reader, or a
/// backend changed behind the store's back) never yields a complete response of other
/// bytes under the CID.
#[tokio::test]
async fn bytes_that_are_not_the_cids_are_never_served_whole_under_it() {
    let store = start().await;
    let owner = PrivateKeySigner::random();
    let me = owner.address().to_string();
    let content = b"hello world".to_vec();
    upload(&store, &me, "hello", &owner, &content).await;
    let file = store.dir.path().join(me.to_lowercase()).join("hello");
    let record = store.dir.path().join("file-cids").join(me.to_lowercase()).join("hello");
    assert!(
        std::fs::read_to_string(&record).unwrap().starts_with(HELLO_CID),
        "the record names the CID"
    );

    // Other bytes of the same length in the file: its e-tag is no longer the recorded one.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&file, b"hello mars!").unwrap();
    let answer = reqwest::get(format!("{}/ipfs/{HELLO_CID}", store.url)).await.unwrap();
    assert_eq!(answer.status().as_u16(), 404);

    // A record without an e-tag (as written before e-tags were): the bytes are hashed as
    // they stream, and the last chunk is withheld, so the response never completes.
    std::fs::write(&record, HELLO_CID).unwrap();
    // (Whether the headers got out first depends on the chunking: either way, no body.)
    let body = match reqwest::get(format!("{}/ipfs/{HELLO_CID}", store.url)).await {
        Ok(answer) => answer.bytes().await.ok(),
        Err(_) => None,
    };
    assert!(
        body.as_deref().is_none_or(|b| b != b"hello mars!"),
        "served whole: {body:?}"
    );
}

// --- kubo's RPC `add` (`POST /api/v0/add`) and the files it adds ---------------------

/// A store configured by `configure`, served with its clients' addresses (as `/api/v0/add`
/// limits them by address).
async fn start_adding(
    configure: impl FnOnce(&mut confide_store::StoreState),
) -> (Store, std::sync::Arc<confide_store::StoreState>) {
    let dir = tempfile::tempdir().unwrap();
    let backend = confide_store::open_backend(dir.path().to_str().unwrap()).unwrap();
    let mut state = confide_store::StoreState::configure(backend, 1 << 20, None);
    configure(&mut state);
    let state = std::sync::Arc::new(state);
    serve_with_peers(dir, state).await
}

async fn serve_with_peers(
    dir: tempfile::TempDir,
    state: std::sync::Arc<confide_store::StoreState>,
) -> (Store, std::sync::Arc<confide_store::StoreState>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let service = confide_store::router(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(axum::serve(listener, service).into_future());
    (Store { url, dir }, state)
}

/// What kubo-rpc-client 5 sends for `add(bytes)`: its boundary shape, one part named
/// `file` with an empty file name, and its default query.
fn sdk_multipart(content: &[u8], file_name: &str) -> (String, Vec<u8>) {
    let boundary = "-----------------------------Zx3kV9aQp0bT7sLm2cRwE";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// An answer: status, content type, headers, body.
struct Answer {
    status: u16,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    /// The last JSON line (kubo's answer for the file itself).
    fn line(&self) -> serde_json::Value {
        serde_json::from_str(self.body.lines().last().unwrap_or_default()).unwrap_or_default()
    }

    fn code(&self) -> String {
        let json: serde_json::Value = serde_json::from_str(&self.body).unwrap_or_default();
        json["error"]["code"].as_str().unwrap_or_default().to_owned()
    }
}

async fn add_with(store: &Store, query: &str, content: &[u8], file_name: &str) -> Answer {
    let (content_type, body) = sdk_multipart(content, file_name);
    let response = reqwest::Client::new()
        .post(format!("{}/api/v0/add?{query}", store.url))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    Answer {
        status,
        content_type,
        headers: response.headers().clone(),
        body: response.text().await.unwrap(),
    }
}

/// `add` as iExec's SDKs call it (kubo-rpc-client's default query, no file name).
async fn add(store: &Store, content: &[u8]) -> Answer {
    add_with(store, "stream-channels=true&progress=false", content, "").await
}

async fn metric(store: &Store, name: &str) -> u64 {
    let text = reqwest::get(format!("{}/metrics", store.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} is not on /metrics: {text}"))
}

/// Waits (up to two minutes: a deadline for a hung test, not a timing assertion) until
/// `metric` reaches `value`.
async fn metric_reaches(store: &Store, name: &str, value: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let now = metric(store, name).await;
        if now == value {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} stayed at {now}, not {value}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Debian's `ipfs_cid` (installed by scripts/test.sh), an importer independent of ours:
/// its CIDv0 of `bytes`.
fn ipfs_cid_v0(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("file");
    std::fs::write(&path, bytes).unwrap();
    let output = std::process::Command::new("ipfs_cid")
        .arg(&path)
        .output()
        .expect("Debian's ipfs-cid is missing: run scripts/test.sh (it installs it)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let line = String::from_utf8(output.stdout).unwrap();
    let json: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    json["CIDv0"].as_str().unwrap().to_owned()
}

/// The files under `ipfs-added/` and `staging/` of a store's directory.
fn added_files(store: &Store) -> Vec<String> {
    let mut files = Vec::new();
    for folder in ["ipfs-added", "staging"] {
        let dir = store.dir.path().join(folder);
        if dir.exists() {
            for path in walk(&dir) {
                files.push(path.strip_prefix(store.dir.path()).unwrap().display().to_string());
            }
        }
    }
    files.sort();
    files
}

#[tokio::test]
async fn added_files_get_kubos_cids_and_sizes_and_are_served_by_cid() {
    let (store, _) = start_adding(|_| {}).await;
    const CHUNK: usize = 256 << 10;
    // 0 bytes, 1 byte, one chunk, one byte more, and 174 chunks and a byte: a tree two
    // levels deep. Sizes: kubo's (the empty file's 6, a 256 KiB file's 262158).
    let cases: [(usize, Option<u64>); 5] = [
        (0, Some(6)),
        (1, Some(9)),
        (CHUNK, Some(262_158)),
        (CHUNK + 1, Some(262_267)),
        (174 * CHUNK + 1, None),
    ];
    for (index, (len, size)) in cases.into_iter().enumerate() {
        let content = confide_testkit::bench::pseudo_random(len, index as u64);
        let answer = add(&store, &content).await;
        assert_eq!(answer.status, 200, "{len} bytes: {}", answer.body);
        assert_eq!(answer.content_type, "application/json");
        let line = answer.line();
        let cid = line["Hash"].as_str().unwrap().to_owned();
        assert_eq!(
            cid,
            ipfs_cid_v0(&content),
            "{len} bytes: the independent importer's CID"
        );
        assert_eq!(line["Name"], cid, "no file name: kubo names the file by its CID");
        let dag = confide_protocol::ipfs::file_dag(
            confide_protocol::ipfs::Layout::kubo(confide_protocol::ipfs::CidVersion::V0),
            &content,
        );
        assert_eq!(line["Size"], dag.dag_size.to_string(), "{len} bytes");
        if let Some(size) = size {
            assert_eq!(line["Size"], size.to_string(), "{len} bytes: kubo's size");
        }
        // Exactly kubo's line, key order and all.
        assert_eq!(
            answer.body,
            format!(
                "{{\"Name\":\"{cid}\",\"Hash\":\"{cid}\",\"Size\":\"{}\"}}\n",
                dag.dag_size
            )
        );
        let served = reqwest::get(format!("{}/ipfs/{cid}", store.url)).await.unwrap();
        assert_eq!(served.status().as_u16(), 200, "{len} bytes");
        assert_eq!(served.headers()["etag"].to_str().unwrap(), format!("\"{cid}\""));
        assert_eq!(
            served.bytes().await.unwrap().as_ref(),
            content.as_slice(),
            "{len} bytes"
        );
    }
    assert_eq!(metric(&store, "store_ipfs_added_total").await, 5);
}

#[tokio::test]
async fn adding_answers_as_kubo_for_every_option_it_takes() {
    let (store, state) = start_adding(|_| {}).await;
    let content = b"hello world\n";
    // A named file, CIDv1 (raw leaves), progress lines.
    let answer = add_with(
        &store,
        "cid-version=1&progress=true&pin=true&quieter=true",
        b"hello world",
        "my%20file.txt",
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body,
        "{\"Name\":\"my file.txt\",\"Bytes\":11}\n{\"Name\":\"my file.txt\",\"Hash\":\"bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e\",\"Size\":\"11\"}\n"
    );
    // CIDv0 with raw leaves: one chunk is a raw block, a CIDv1.
    let raw = add_with(&store, "raw-leaves=true", b"hello world", "").await;
    assert_eq!(
        raw.line()["Hash"],
        "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
    );
    // Only hashing stores nothing.
    let hashed = add_with(&store, "only-hash=true", b"never stored", "").await;
    let hashed_cid = hashed.line()["Hash"].as_str().unwrap().to_owned();
    let nothing = reqwest::get(format!("{}/ipfs/{hashed_cid}", store.url)).await.unwrap();
    assert_eq!(nothing.status().as_u16(), 404);
    // Adding the same bytes again: the same answer, one copy, counted once.
    let first = add(&store, content).await;
    // go-ipfs-cmds' headers for a stream of values, sent chunked.
    for (name, value) in [
        ("content-type", "application/json"),
        ("x-chunked-output", "1"),
        ("trailer", "X-Stream-Error"),
        ("transfer-encoding", "chunked"),
        ("access-control-allow-origin", "*"),
    ] {
        assert_eq!(first.headers[name], value, "{name}");
    }
    let unclaimed = metric(&store, "store_ipfs_unclaimed_bytes").await;
    let again = add(&store, content).await;
    assert_eq!(first.body, again.body);
    assert_eq!(first.line()["Hash"], "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o");
    assert_eq!(first.line()["Size"], "20", "kubo's size of \"hello world\\n\"");
    assert_eq!(metric(&store, "store_ipfs_unclaimed_bytes").await, unclaimed);
    assert_eq!(
        metric(&store, "store_ipfs_added_total").await,
        2,
        "hello world (v1) and hello world\\n"
    );
    // GET and HEAD by CIDv0, as iExec's SDKs check the upload.
    let url = format!("{}/ipfs/QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o", store.url);
    let head = reqwest::Client::new().head(&url).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(head.headers()["content-length"], "12");
    assert_eq!(head.headers()["access-control-allow-origin"], "*");
    let got = reqwest::get(&url).await.unwrap();
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(
        got.headers()["x-ipfs-path"],
        "/ipfs/QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    );
    assert_eq!(got.bytes().await.unwrap().as_ref(), content);
    // Added files are unclaimed: without a chain nothing claims them.
    assert_eq!(state.ipfs_claimed.load(std::sync::atomic::Ordering::Relaxed), 0);
}

#[tokio::test]
async fn what_kubo_would_not_add_as_one_file_is_refused_with_a_code_and_kept_nowhere() {
    let (store, _) = start_adding(|_| {}).await;
    for (query, code) in [
        ("wrap-with-directory=true", "UNSUPPORTED_OPTION"),
        ("chunker=size-1024", "UNSUPPORTED_OPTION"),
        ("hash=blake2b-256", "UNSUPPORTED_OPTION"),
        ("cid-version=7", "UNSUPPORTED_OPTION"),
        ("recursive=true", "UNSUPPORTED_OPTION"),
        ("nonsense=1", "UNSUPPORTED_OPTION"),
    ] {
        let answer = add_with(&store, query, b"data", "").await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, code.to_owned()),
            "{query}: {}",
            answer.body
        );
        let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(json["Type"], "error", "kubo's error shape too: {}", answer.body);
        assert!(json["Message"].is_string());
    }
    // A path inside a directory, a directory part, two files, no multipart at all.
    assert_eq!(add_with(&store, "", b"data", "dir/file").await.code(), "BAD_MULTIPART");
    let client = reqwest::Client::new();
    let boundary = "b0undary";
    let two = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\none\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file-1\"; filename=\"b\"\r\n\r\ntwo\r\n--{boundary}--\r\n"
    );
    let directory = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"d\"\r\nContent-Type: application/x-directory\r\n\r\n\r\n--{boundary}--\r\n"
    );
    let truncated =
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nno end");
    for (content_type, body) in [
        (format!("multipart/form-data; boundary={boundary}"), two),
        (format!("multipart/form-data; boundary={boundary}"), directory),
        (format!("multipart/form-data; boundary={boundary}"), truncated),
        (format!("multipart/form-data; boundary={boundary}"), String::new()),
        ("application/octet-stream".to_owned(), "raw bytes".to_owned()),
    ] {
        let response = client
            .post(format!("{}/api/v0/add", store.url))
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let json: serde_json::Value = response.json().await.unwrap_or_default();
        assert_eq!(
            (status, json["error"]["code"].as_str().unwrap_or_default()),
            (400, "BAD_MULTIPART"),
            "{body:?}"
        );
    }
    assert_eq!(added_files(&store), Vec::<String>::new(), "nothing refused is kept");
    assert!(metric(&store, "store_ipfs_add_refused_total{code=\"BAD_MULTIPART\"}").await >= 5);
}

#[tokio::test]
async fn an_oversized_upload_is_refused_early_or_as_it_streams_and_kept_nowhere() {
    let (store, _) = start_adding(|state| state.ipfs_add_max = 1 << 20).await;
    let at_limit = confide_testkit::bench::pseudo_random(1 << 20, 1);
    assert_eq!(add(&store, &at_limit).await.status, 200, "exactly the limit is taken");
    let over = confide_testkit::bench::pseudo_random((1 << 20) + 100_000, 2);
    // With a Content-Length: refused before a byte is read. Streamed (chunked, no
    // length): refused once past the limit. The client, still sending, may read the
    // answer or find the connection closed; either way the refusal is counted.
    let (content_type, body) = sdk_multipart(&over, "");
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> = body.chunks(64 << 10).map(|c| Ok(c.to_vec())).collect();
    let client = reqwest::Client::new();
    let url = format!("{}/api/v0/add", store.url);
    let requests = [
        client
            .post(&url)
            .header("content-type", &content_type)
            .body(body.clone()),
        client
            .post(&url)
            .header("content-type", &content_type)
            .body(reqwest::Body::wrap_stream(futures::stream::iter(pieces))),
    ];
    for request in requests {
        if let Ok(response) = request.send().await {
            assert_eq!(response.status().as_u16(), 413);
            let json: serde_json::Value = response.json().await.unwrap_or_default();
            assert!(json.is_null() || json["error"]["code"] == "TOO_LARGE", "{json}");
        }
    }
    metric_reaches(&store, "store_ipfs_add_refused_total{code=\"TOO_LARGE\"}", 2).await;
    let kept = added_files(&store);
    assert_eq!(
        kept.len(),
        3,
        "the file at the limit alone (data, CID record, time): {kept:?}"
    );
}

#[tokio::test]
async fn unclaimed_files_have_a_quota_and_each_client_a_rate() {
    // Room for three 100 kB files (each counts 4 KiB more).
    let (store, _) = start_adding(|state| state.ipfs_unclaimed_quota = 3 * (100_000 + 4096)).await;
    for seed in 0..3 {
        let answer = add(&store, &confide_testkit::bench::pseudo_random(100_000, seed)).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let answer = add(&store, &confide_testkit::bench::pseudo_random(100_000, 3)).await;
    assert_eq!((answer.status, answer.code()), (507, "IPFS_QUOTA_EXCEEDED".to_owned()));
    assert_eq!(added_files(&store).len(), 9, "three files, nothing of the fourth");

    // 300 kB an hour for one address: one 200 kB file, not two.
    let (store, _) = start_adding(|state| state.ipfs_client_bytes_per_hour = 300_000).await;
    assert_eq!(
        add(&store, &confide_testkit::bench::pseudo_random(200_000, 1))
            .await
            .status,
        200
    );
    let answer = add(&store, &confide_testkit::bench::pseudo_random(200_000, 2)).await;
    assert_eq!((answer.status, answer.code()), (429, "RATE_LIMITED".to_owned()));
    assert_eq!(added_files(&store).len(), 3, "one file, nothing of the second");
}

/// An addition sent by hand over TCP, its body held back after the first bytes.
struct HeldAdd {
    stream: tokio::net::TcpStream,
    rest: Vec<u8>,
}

impl HeldAdd {
    async fn start(store: &Store, content: &[u8]) -> HeldAdd {
        use tokio::io::AsyncWriteExt;
        let (content_type, body) = sdk_multipart(content, "");
        let host = store.url.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
        let head = format!(
            "POST /api/v0/add?stream-channels=true HTTP/1.1\r\nhost: {host}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body[..100]).await.unwrap();
        stream.flush().await.unwrap();
        HeldAdd {
            stream,
            rest: body[100..].to_vec(),
        }
    }

    /// Sends the rest; the answer's status line.
    async fn finish(mut self) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.stream.write_all(&self.rest).await.unwrap();
        let mut answer = String::new();
        self.stream.read_to_string(&mut answer).await.unwrap();
        answer.lines().next().unwrap_or_default().to_owned()
    }
}

#[tokio::test]
async fn one_address_has_at_most_two_additions_under_way() {
    let (store, _) = start_adding(|_| {}).await;
    let a = HeldAdd::start(&store, &confide_testkit::bench::pseudo_random(50_000, 1)).await;
    let b = HeldAdd::start(&store, &confide_testkit::bench::pseudo_random(50_000, 2)).await;
    metric_reaches(&store, "store_ipfs_adds_in_progress", 2).await;
    let third = add(&store, b"a third one").await;
    assert_eq!((third.status, third.code()), (429, "RATE_LIMITED".to_owned()));
    assert!(a.finish().await.contains("200"));
    assert!(b.finish().await.contains("200"));
    metric_reaches(&store, "store_ipfs_adds_in_progress", 0).await;
    assert_eq!(
        add(&store, b"a third one").await.status,
        200,
        "once the others are done"
    );
}

#[tokio::test]
async fn unclaimed_files_are_collected_after_the_grace_period() {
    let (store, _) = start_adding(|state| state.ipfs_grace = std::time::Duration::from_secs(1)).await;
    let answer = add(&store, b"here for a second").await;
    let cid = answer.line()["Hash"].as_str().unwrap().to_owned();
    metric_reaches(&store, "store_ipfs_collected_total", 1).await;
    let gone = reqwest::get(format!("{}/ipfs/{cid}", store.url)).await.unwrap();
    assert_eq!(gone.status().as_u16(), 404);
    assert_eq!(added_files(&store), Vec::<String>::new());
    assert!(
        !store.dir.path().join("ipfs").join(&cid).exists()
            || walk(&store.dir.path().join("ipfs").join(&cid)).is_empty(),
        "its marker is gone"
    );
    assert_eq!(metric(&store, "store_ipfs_unclaimed_bytes").await, 0);
}

/// The store follows a real chain: a dataset registered with the binary multiaddr
/// `/p2p/<CID>` (iExec's SDK's way) claims the file it names, whether it names it before
/// or after the file is added; what no dataset names is collected.
#[tokio::test]
async fn files_a_registered_dataset_names_outlive_the_grace_period() {
    let chain = confide_testkit::TestChain::start().await;
    let owner = chain.client("dataset-owner").await;
    let dir = tempfile::tempdir().unwrap();
    let backend = confide_store::open_backend(dir.path().to_str().unwrap()).unwrap();
    let mut state = confide_store::StoreState::configure(backend, 1 << 20, Some(owner.clone()));
    // Long enough for a dataset to be registered and seen within it.
    state.ipfs_grace = std::time::Duration::from_secs(30);
    let (store, _) = serve_with_peers(dir, std::sync::Arc::new(state)).await;

    let register = |name: &'static str, cid: String| {
        let owner = owner.clone();
        async move {
            let cid: confide_protocol::ipfs::Cid = cid.parse().unwrap();
            let multiaddr = confide_protocol::ipfs::p2p_multiaddr(&cid).unwrap();
            owner
                .create_dataset(name, &multiaddr, B256::repeat_byte(7))
                .await
                .expect("the dataset registers")
        }
    };
    let named_after = add(&store, b"a protected data, registered after").await;
    let named_after = named_after.line()["Hash"].as_str().unwrap().to_owned();
    let unnamed = add(&store, b"nobody registers this").await;
    let unnamed = unnamed.line()["Hash"].as_str().unwrap().to_owned();
    register("after", named_after.clone()).await;
    metric_reaches(&store, "store_ipfs_claimed_total", 1).await;
    // Registered first (its CID computed by the SDK's own rules), added afterwards.
    let before_content = b"a protected data, registered before";
    let before = confide_protocol::ipfs::file_cid(confide_protocol::ipfs::CidVersion::V0, before_content).to_string();
    register("before", before.clone()).await;
    // The follower has seen it once the claim is recorded.
    let claim = store.dir.path().join("ipfs-claims").join(&before);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !claim.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the dataset's claim was never recorded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(add(&store, before_content).await.line()["Hash"], before);

    metric_reaches(&store, "store_ipfs_collected_total", 1).await;
    let status = |cid: String| {
        let url = format!("{}/ipfs/{cid}", store.url);
        async move { reqwest::get(url).await.unwrap().status().as_u16() }
    };
    assert_eq!(status(unnamed).await, 404, "no dataset names it: collected");
    assert_eq!(status(named_after).await, 200, "claimed after it was added");
    assert_eq!(status(before).await, 200, "claimed before it was added");
    assert_eq!(metric(&store, "store_ipfs_unclaimed_bytes").await, 0);
}

/// iExec's own code against the store: DataProtector 2.0.0-beta.27's `ipfs.add` (kubo-rpc-
/// client 5's `add`, then `GET` on the gateway) and the iexec SDK 9's (`HEAD`), and the
/// multiaddr bytes the DataProtector registers (@multiformats/multiaddr), run with node
/// from `interop/` (installed by scripts/test.sh).
#[tokio::test]
async fn iexecs_sdks_upload_to_the_store_as_to_their_ipfs_node() {
    let interop = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/node_modules");
    assert!(
        interop.join("kubo-rpc-client").exists(),
        "iExec's SDKs are missing: run scripts/test.sh (it runs `npm ci --prefix interop`)"
    );
    let (store, _) = start_adding(|_| {}).await;
    let modules = interop.canonicalize().unwrap();
    let script = format!(
        r#"
import {{ add as dataProtectorAdd }} from '{m}/@iexec/dataprotector/dist/src/services/ipfs.js';
import {{ add as iexecAdd }} from '{m}/iexec/dist/esm/common/utils/ipfs.js';
import {{ multiaddr }} from '{m}/@iexec/dataprotector/node_modules/@multiformats/multiaddr/dist/src/index.js';
const url = process.argv[2];
const content = Uint8Array.from({{ length: 300000 }}, (_, i) => (i * 31 + 7) & 255);
const cid = await dataProtectorAdd(content, {{ ipfsNode: url, ipfsGateway: url }});
const again = await iexecAdd({{ content, ipfsNode: url, ipfsGateway: url }});
const bytes = Buffer.from(multiaddr(`/p2p/${{cid}}`).bytes).toString('hex');
console.log(JSON.stringify({{ cid, again, bytes }}));
"#,
        m = modules.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upload.mjs");
    std::fs::write(&path, script).unwrap();
    let output = tokio::process::Command::new("node")
        .arg(&path)
        .arg(&store.url)
        .output()
        .await
        .expect("node runs");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let content: Vec<u8> = (0..300_000u32).map(|i| ((i * 31 + 7) & 255) as u8).collect();
    let cid = confide_protocol::ipfs::file_cid(confide_protocol::ipfs::CidVersion::V0, &content);
    assert_eq!(printed["cid"], cid.to_string(), "kubo's default: CIDv0");
    assert_eq!(printed["again"], cid.to_string());
    assert_eq!(cid.to_string(), ipfs_cid_v0(&content));
    let multiaddr = confide_protocol::ipfs::p2p_multiaddr(&cid).unwrap();
    assert_eq!(
        printed["bytes"],
        confide_chain::hex::encode(&multiaddr),
        "the SDK's multiaddr bytes"
    );
    assert_eq!(confide_protocol::ipfs::multiaddr_cid(&multiaddr), Some(cid));
    assert_eq!(
        metric(&store, "store_ipfs_added_total").await,
        1,
        "added twice, kept once"
    );
}
