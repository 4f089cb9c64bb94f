//! The content store over real HTTP on loopback, on a local directory.

use confide_chain::{B256, PrivateKeySigner};
use confide_protocol::messages::sign_personal;
use sha2::{Digest, Sha256};

struct Store {
    url: String,
    dir: tempfile::TempDir,
}

async fn start() -> Store {
    let dir = tempfile::tempdir().unwrap();
    let backend = confide_store::open_backend(dir.path().to_str().unwrap()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = confide_store::router(confide_store::StoreState::new(backend, 1 << 20, None));
    tokio::spawn(axum::serve(listener, router).into_future());
    Store { url, dir }
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

#[tokio::test]
async fn signed_uploads_are_served_publicly_and_bad_ones_leave_nothing() {
    let store = start().await;
    let owner = PrivateKeySigner::random();
    let me = owner.address().to_string();
    let content = b"IV and ciphertext...".to_vec();

    // The owner's signed upload, then anyone downloads it byte for byte.
    assert_eq!(
        put(&store, &me, "data.enc", &owner, sha256(&content), content.clone())
            .await
            .0,
        201
    );
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
    let files: Vec<_> = walk(store.dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
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
