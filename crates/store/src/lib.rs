//! Confide's content store: where data owners host encrypted datasets, as the tutorial's
//! "public server". Downloads are public (the content is ciphertext); uploads are signed by
//! the uploader's wallet over owner, name and the content's sha256, and land under the
//! owner's own prefix (`/files/<owner>/<name>`), so nobody overwrites another's file.
//! Backed by `object_store`: a local directory by default, S3-compatible storage with
//! `s3://bucket/prefix` (credentials from the usual AWS environment variables).
//!
//! It must never decrypt, inspect or log content, and never keep a file whose bytes do not
//! match the hash its uploader signed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use confide_chain::{Address, B256};
use futures::StreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::json;
use sha2::{Digest, Sha256};

mod results;

/// Largest upload accepted in one request by default: 4 GiB.
pub const DEFAULT_MAX_UPLOAD: usize = 4 << 30;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid store location `{0}`: use a directory path or s3://bucket/prefix")]
    InvalidLocation(String),
    #[error("storage backend: {0}")]
    Backend(String),
}

/// Opens the backend named by `location`: `s3://bucket/prefix` or a local directory.
pub fn open_backend(location: &str) -> Result<Arc<dyn ObjectStore>, StoreError> {
    if let Some(rest) = location.strip_prefix("s3://") {
        let bucket = rest
            .split('/')
            .next()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| StoreError::InvalidLocation(location.into()))?;
        let store = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let prefix = rest.trim_start_matches(bucket).trim_matches('/');
        if prefix.is_empty() {
            return Ok(Arc::new(store));
        }
        return Ok(Arc::new(object_store::prefix::PrefixStore::new(store, prefix)));
    }
    std::fs::create_dir_all(location).map_err(|e| StoreError::Backend(format!("{location}: {e}")))?;
    let local = object_store::local::LocalFileSystem::new_with_prefix(location)
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok(Arc::new(local))
}

pub struct StoreState {
    pub backend: Arc<dyn ObjectStore>,
    /// The chain results are checked against; without it result uploads are refused.
    pub poco: Option<confide_chain::Poco>,
    /// Largest upload accepted, in bytes.
    pub max_upload: usize,
    pub uploads: AtomicU64,
    pub downloads: AtomicU64,
    pub refused: AtomicU64,
}

impl StoreState {
    pub fn new(backend: Arc<dyn ObjectStore>, max_upload: usize, poco: Option<confide_chain::Poco>) -> Arc<StoreState> {
        Arc::new(StoreState {
            backend,
            poco,
            max_upload,
            uploads: AtomicU64::new(0),
            downloads: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        })
    }
}

pub(crate) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({ "error": { "code": code, "message": message.into() } })),
    )
        .into_response()
}

pub fn router(state: Arc<StoreState>) -> Router {
    Router::new()
        .route("/health", get(|| async { axum::Json(json!({ "status": "ok" })) }))
        .route("/metrics", get(metrics))
        .route("/files/{owner}/{name}", get(download).head(download).put(upload))
        .route("/results/{task}", get(results::download_task))
        .route("/results/{task}/{worker}", get(results::download).put(results::upload))
        // Uploads stream and are measured as they arrive (see `upload`).
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

async fn metrics(State(state): State<Arc<StoreState>>) -> String {
    format!(
        "# TYPE store_uploads_total counter\nstore_uploads_total {}\n# TYPE store_downloads_total counter\nstore_downloads_total {}\n# TYPE store_refused_total counter\nstore_refused_total {}\n",
        state.uploads.load(Ordering::Relaxed),
        state.downloads.load(Ordering::Relaxed),
        state.refused.load(Ordering::Relaxed)
    )
}

/// File names: 1 to 128 of A-Z a-z 0-9 . _ - (no slashes, no leading dot).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn object_path(owner: Address, name: &str) -> StorePath {
    StorePath::from(format!("{}/{name}", owner.to_string().to_lowercase()))
}

async fn download(State(state): State<Arc<StoreState>>, UrlPath((owner, name)): UrlPath<(String, String)>) -> Response {
    let (Ok(owner), true) = (owner.parse::<Address>(), valid_name(&name)) else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such file");
    };
    serve_object(&state, &object_path(owner, &name)).await
}

/// `PUT /files/<owner>/<name>` with `X-Content-Sha256: 0x…` and `Authorization`: the
/// owner's EIP-191 signature of [`confide_protocol::store::upload_challenge`] over that
/// hash. The signature is checked before any byte is stored; the body then streams to the
/// backend (constant memory) and is kept only if its bytes hash to what was signed.
async fn upload(
    State(state): State<Arc<StoreState>>,
    UrlPath((owner, name)): UrlPath<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let refuse = |status, code, message: String| {
        state.refused.fetch_add(1, Ordering::Relaxed);
        error(status, code, message)
    };
    let Ok(owner) = owner.parse::<Address>() else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            format!("`{owner}` is not an address"),
        );
    };
    if !valid_name(&name) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "file names are 1 to 128 of A-Z a-z 0-9 . _ -".into(),
        );
    }
    let declared: Option<B256> = headers
        .get(CONTENT_SHA256)
        .and_then(|v| v.to_str().ok())
        .and_then(|text| text.trim().parse().ok());
    let Some(declared) = declared else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "MISSING_HASH",
            format!("the {CONTENT_SHA256} header must give the content's sha256"),
        );
    };
    let signature = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(confide_protocol::messages::canonical_signature_hex);
    let Some(signature) = signature else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "MISSING_SIGNATURE",
            "missing or malformed Authorization signature".into(),
        );
    };
    let challenge = confide_protocol::store::upload_challenge(owner, &name, declared);
    if confide_protocol::messages::recover_personal(challenge, &signature) != Some(owner) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "WRONG_SIGNER",
            format!("the signature is not {owner}'s for this name and hash"),
        );
    }

    match stream_into(&state, &object_path(owner, &name), declared, body).await {
        Ok(size) => {
            state.uploads.fetch_add(1, Ordering::Relaxed);
            let path = format!("/files/{owner}/{name}");
            (
                StatusCode::CREATED,
                axum::Json(json!({ "path": path, "checksum": declared, "size": size })),
            )
                .into_response()
        }
        Err(refusal) => refusal,
    }
}

/// Streams `body` to `path` (constant memory), keeping it only if its bytes hash to
/// `declared`; returns its size, or the refusal to answer with.
pub(crate) async fn stream_into(
    state: &StoreState,
    path: &StorePath,
    declared: B256,
    body: Body,
) -> Result<usize, Response> {
    let refuse = |status, code, message: String| {
        state.refused.fetch_add(1, Ordering::Relaxed);
        error(status, code, message)
    };
    let backend_error =
        |e: object_store::Error| error(StatusCode::INTERNAL_SERVER_ERROR, "BACKEND_ERROR", e.to_string());
    // Written to a staging name and renamed once checked: a reader never sees half a file,
    // and a refused upload never replaces a good one. Invariant: staging names are random
    // and under `staging/`, where no download route reaches (those serve `0x…/` and
    // `results/`), so unchecked bytes are never served and two uploads to one path never
    // write into one staging object.
    let staging = StorePath::from(format!(
        "staging/{}",
        confide_chain::hex::encode(rand::random::<[u8; 16]>())
    ));
    let multipart = state.backend.put_multipart(&staging).await.map_err(backend_error)?;
    let mut writer = object_store::WriteMultipart::new(multipart);
    let mut hasher = Sha256::new();
    let mut size = 0usize;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(refuse(
                    StatusCode::BAD_REQUEST,
                    "UPLOAD_INTERRUPTED",
                    format!("the upload broke off: {e}"),
                ));
            }
        };
        hasher.update(&chunk);
        size += chunk.len();
        if size > state.max_upload {
            let _ = writer.abort().await;
            let limit = state.max_upload;
            return Err(refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "TOO_LARGE",
                format!("uploads are limited to {limit} bytes"),
            ));
        }
        writer.wait_for_capacity(4).await.map_err(backend_error)?;
        writer.write(&chunk);
    }
    let actual = B256::from_slice(&hasher.finalize());
    if size == 0 || actual != declared {
        let _ = writer.abort().await;
        let message = if size == 0 {
            "the file is empty".to_owned()
        } else {
            format!("the content hashes to {actual}, not to the signed {declared}")
        };
        return Err(refuse(StatusCode::BAD_REQUEST, "CHECKSUM_MISMATCH", message));
    }
    writer.finish().await.map_err(backend_error)?;
    state.backend.rename(&staging, path).await.map_err(backend_error)?;
    Ok(size)
}

/// Streams a stored object, or answers 404.
pub(crate) async fn serve_object(state: &StoreState, path: &StorePath) -> Response {
    match state.backend.get(path).await {
        Ok(result) => {
            state.downloads.fetch_add(1, Ordering::Relaxed);
            let size = result.meta.size;
            let stream = result.into_stream().map(|chunk| chunk.map_err(std::io::Error::other));
            (
                [
                    (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                    (header::CONTENT_LENGTH, size.to_string()),
                ],
                Body::from_stream(stream),
            )
                .into_response()
        }
        Err(object_store::Error::NotFound { .. }) => error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such file"),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "BACKEND_ERROR", e.to_string()),
    }
}

/// The header carrying the upload's sha256 (`0x…`).
pub const CONTENT_SHA256: &str = "x-content-sha256";
