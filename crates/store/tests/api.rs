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
        "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD",
        "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5f",
        "..%2F..%2Fetc%2Fpasswd",
        "staging",
    ] {
        assert_eq!(get(format!("/ipfs/{bad}")).await, (400, "INVALID_CID".into()), "{bad}");
    }
    // A well-formed CID of content nobody stored.
    let nobody = confide_protocol::ipfs::file_cid(confide_protocol::ipfs::CidVersion::V1, b"never stored");
    assert_eq!(get(format!("/ipfs/{nobody}")).await, (404, "NOT_FOUND".into()));

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
