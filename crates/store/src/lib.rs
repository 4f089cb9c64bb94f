//! Confide's content store: where data owners host encrypted datasets, as the tutorial's
//! "public server". Downloads are public (the content is ciphertext); uploads are signed by
//! the uploader's wallet over owner, name and the content's sha256, and land under the
//! owner's own prefix (`/files/<owner>/<name>`), so nobody overwrites another's file.
//! Backed by `object_store`: a local directory by default, S3-compatible storage with
//! `s3://bucket/prefix` (credentials from the usual AWS environment variables).
//!
//! It also answers kubo's RPC `add` (`POST /api/v0/add`, module `kubo`),
//! unauthenticated, as iExec's SDKs upload a protected data to an IPFS node: what is added
//! is served at `/ipfs/<CID>`, kept while a dataset registered on chain names it, and
//! otherwise bounded (size, quota, per-client rate) and collected after a grace period.
//!
//! It must never decrypt, inspect or log content, and never keep a file whose bytes do not
//! match the hash its uploader signed (or, when added, the CID it was answered with).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use confide_chain::{Address, AssetKind, B256};
use confide_protocol::ipfs::{Cid, CidVersion, FileCid, FileDag, Layout};
use futures::StreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::json;
use sha2::{Digest, Sha256};

mod added;
mod claims;
mod ipfs;
mod kubo;
pub mod pin;
mod results;

/// Largest upload accepted in one request by default: 4 GiB.
pub const DEFAULT_MAX_UPLOAD: usize = 4 << 30;
/// What one wallet may keep in `/files` by default: 16 GiB.
pub const DEFAULT_OWNER_QUOTA: u64 = 16 << 30;
/// What the whole store may hold by default: 1 TiB.
pub const DEFAULT_TOTAL_QUOTA: u64 = 1 << 40;
/// What of the total only task results may take by default: 64 GiB. Files and added
/// content stop short of it, so wallets that cost nothing cannot block every result.
pub const DEFAULT_RESULTS_RESERVE: u64 = 64 << 30;
/// What a wallet that owns no app, dataset or workerpool on chain may keep in `/files` by
/// default: 256 MiB (enough for a first dataset; registering anything lifts it to the
/// owner quota).
pub const DEFAULT_NEWCOMER_QUOTA: u64 = 256 << 20;
/// How long a wallet's counted usage (and whether it owns an asset) is trusted before it
/// is read again: replicas share the backend, not these counters.
const OWNER_RECOUNT: Duration = Duration::from_secs(60);
/// Wallets whose usage is kept at once; past it the stale ones are forgotten.
const MAX_OWNERS_COUNTED: usize = 100_000;
/// Largest file `POST /api/v0/add` takes by default: 64 MiB.
pub const DEFAULT_IPFS_ADD_MAX: u64 = 64 << 20;
/// What added files no dataset names may take in all by default: 1 GiB.
pub const DEFAULT_IPFS_UNCLAIMED_QUOTA: u64 = 1 << 30;
/// How long an added file no dataset names is kept by default: a day.
pub const DEFAULT_IPFS_GRACE: Duration = Duration::from_secs(86_400);
/// What one client may add per hour by default: 256 MiB.
pub const DEFAULT_IPFS_CLIENT_BYTES_PER_HOUR: u64 = 256 << 20;
/// Additions one client may have under way at once by default.
pub const DEFAULT_IPFS_CLIENT_UPLOADS: usize = 2;

/// What can stop the store from opening its backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An `s3://` location names no bucket.
    #[error("invalid store location `{0}`: use a directory path or s3://bucket/prefix")]
    InvalidLocation(String),
    /// The S3 client could not be built from the environment, or the local directory could
    /// not be made or opened.
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

/// What every request of one store shares: its backend, its chain, its quotas and counters.
pub struct StoreState {
    /// Where files and results are kept, as [`open_backend`] opens it.
    pub backend: Arc<dyn ObjectStore>,
    /// The chain results are checked against and registered datasets claim added IPFS
    /// content on; without it result uploads are refused and added content is never claimed.
    pub poco: Option<confide_chain::Poco>,
    /// Whether task results are taken (`--results`); they need `poco` too. Set by
    /// [`StoreState::configure`] to whether a chain is given.
    pub accept_results: bool,
    /// Largest upload accepted, in bytes.
    pub max_upload: usize,
    /// What one owner may keep under `/files/<owner>/`, in bytes: any wallet can sign
    /// uploads, so without it anyone fills the disk.
    pub owner_quota: u64,
    /// What the store may hold in all (files, results, uploads under way), in bytes.
    pub total_quota: u64,
    /// What of `total_quota` only results may use ([`DEFAULT_RESULTS_RESERVE`]).
    pub results_reserve: u64,
    /// The quota of a wallet that owns no asset on chain ([`DEFAULT_NEWCOMER_QUOTA`]);
    /// without a chain every wallet has `owner_quota`.
    pub newcomer_quota: u64,
    /// Wallets given `owner_quota` whatever they own (`--upload-allow`).
    pub upload_allow: std::collections::HashSet<Address>,
    /// Bytes stored, counted from the backend on first use, then kept up to date.
    /// Invariant: once `counted` is set, `stored` is the sum of the stored objects' sizes
    /// (as far as this process wrote them).
    stored: AtomicU64,
    counted: tokio::sync::OnceCell<()>,
    /// Bytes of uploads under way, reserved as they arrive: in all, and by owner (so two
    /// uploads of one wallet cannot both fit the same room).
    reserved: AtomicU64,
    owner_reserved: std::sync::Mutex<std::collections::HashMap<Address, u64>>,
    /// What each wallet stores in `/files`, counted from the backend at most every
    /// [`OWNER_RECOUNT`] and kept up to date by this process's landings in between.
    owners: std::sync::Mutex<std::collections::HashMap<Address, OwnerUsage>>,
    /// Held while an upload (or added content) lands: the size of the file it replaces,
    /// the rename and its CID record, so two landings on one name never both count the
    /// file they replace, and the sweep of added content never sees an object without its
    /// record. No listing is done under it.
    landing: tokio::sync::Mutex<()>,
    /// Uploads kept, files and results (`store_uploads_total` on `/metrics`).
    pub uploads: AtomicU64,
    /// Objects served, by path or by CID (`store_downloads_total`).
    pub downloads: AtomicU64,
    /// Uploads refused, before or while they streamed (`store_refused_total`).
    pub refused: AtomicU64,
    /// An IPFS node that pins every result and file stored (`--ipfs-node`).
    pub ipfs_node: Option<Arc<pin::IpfsNode>>,
    /// Largest file `POST /api/v0/add` takes, in bytes ([`DEFAULT_IPFS_ADD_MAX`]).
    pub ipfs_add_max: u64,
    /// What added files that no registered dataset names may take in all, in bytes, each
    /// counting 4 KiB more than its size ([`DEFAULT_IPFS_UNCLAIMED_QUOTA`]).
    pub ipfs_unclaimed_quota: u64,
    /// How long an added file no registered dataset names is kept ([`DEFAULT_IPFS_GRACE`]);
    /// the sweep runs every quarter of it, at most a minute apart.
    pub ipfs_grace: Duration,
    /// Bytes one client (an IPv4 address, an IPv6 /64) may add per hour
    /// ([`DEFAULT_IPFS_CLIENT_BYTES_PER_HOUR`]); each addition counts 4 KiB more.
    pub ipfs_client_bytes_per_hour: u64,
    /// Additions one client may have under way at once ([`DEFAULT_IPFS_CLIENT_UPLOADS`]).
    pub ipfs_client_uploads: usize,
    /// Files added and stored, each CID once (`store_ipfs_added_total`).
    pub ipfs_added: AtomicU64,
    /// Added files collected once their grace period was over (`store_ipfs_collected_total`).
    pub ipfs_collected: AtomicU64,
    /// Added files a registered dataset came to name (`store_ipfs_claimed_total`).
    pub ipfs_claimed: AtomicU64,
    /// Added content, its quota, its clients and its background tasks.
    added: added::Added,
}

impl StoreState {
    /// A store with the default quotas and no IPFS node: set the public fields to change
    /// them, then share it with `Arc::new`.
    pub fn configure(
        backend: Arc<dyn ObjectStore>,
        max_upload: usize,
        poco: Option<confide_chain::Poco>,
    ) -> StoreState {
        StoreState {
            backend,
            accept_results: poco.is_some(),
            poco,
            max_upload,
            owner_quota: DEFAULT_OWNER_QUOTA,
            total_quota: DEFAULT_TOTAL_QUOTA,
            results_reserve: DEFAULT_RESULTS_RESERVE,
            newcomer_quota: DEFAULT_NEWCOMER_QUOTA,
            upload_allow: std::collections::HashSet::new(),
            owners: std::sync::Mutex::new(std::collections::HashMap::new()),
            stored: AtomicU64::new(0),
            counted: tokio::sync::OnceCell::new(),
            reserved: AtomicU64::new(0),
            owner_reserved: std::sync::Mutex::new(std::collections::HashMap::new()),
            landing: tokio::sync::Mutex::new(()),
            uploads: AtomicU64::new(0),
            downloads: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            ipfs_node: None,
            ipfs_add_max: DEFAULT_IPFS_ADD_MAX,
            ipfs_unclaimed_quota: DEFAULT_IPFS_UNCLAIMED_QUOTA,
            ipfs_grace: DEFAULT_IPFS_GRACE,
            ipfs_client_bytes_per_hour: DEFAULT_IPFS_CLIENT_BYTES_PER_HOUR,
            ipfs_client_uploads: DEFAULT_IPFS_CLIENT_UPLOADS,
            ipfs_added: AtomicU64::new(0),
            ipfs_collected: AtomicU64::new(0),
            ipfs_claimed: AtomicU64::new(0),
            added: added::Added::default(),
        }
    }

    /// Pins `cid` (stored just now) on the IPFS node in its lane, if a node is configured.
    pub(crate) fn pin(self: &Arc<Self>, cid: &Cid, lane: pin::PinLane) {
        if let Some(node) = &self.ipfs_node {
            node.pin_in_background(self.clone(), *cid, lane);
        }
    }

    /// Bytes stored now (counted from the backend the first time).
    async fn stored_bytes(&self) -> Result<u64, object_store::Error> {
        self.counted
            .get_or_try_init(|| async {
                let total = size_under(self.backend.as_ref(), None).await?;
                self.stored.fetch_add(total, Ordering::SeqCst);
                Ok::<(), object_store::Error>(())
            })
            .await?;
        Ok(self.stored.load(Ordering::SeqCst))
    }

    /// What files and added content may fill, leaving the results' reserve.
    pub(crate) fn files_ceiling(&self) -> u64 {
        self.total_quota.saturating_sub(self.results_reserve)
    }

    /// `owner`'s usage and quota, from the counters when fresh, else from the backend
    /// and the chain.
    async fn owner_usage(&self, owner: Address) -> Result<OwnerUsage, Response> {
        let cached = self.owners.lock().expect("never poisoned").get(&owner).copied();
        if let Some(usage) = cached.filter(|u| u.counted_at.elapsed() < OWNER_RECOUNT) {
            return Ok(usage);
        }
        let landings_before = cached.map_or(0, |u| u.landings);
        let listed = size_under(self.backend.as_ref(), Some(&owner_prefix(owner)))
            .await
            .map_err(backend_error)?;
        let quota = self.quota_of(owner).await?;
        let mut owners = self.owners.lock().expect("never poisoned");
        if owners.len() >= MAX_OWNERS_COUNTED {
            owners.retain(|_, u| u.counted_at.elapsed() < OWNER_RECOUNT);
        }
        let current = owners.get(&owner).copied();
        // A landing while the listing ran may be in it or not: never count less than the
        // counters say then (counting more only makes the quota stricter until the next
        // recount).
        let raced = current.is_some_and(|u| u.landings != landings_before);
        let bytes = match current {
            Some(u) if raced => listed.max(u.bytes),
            _ => listed,
        };
        let usage = OwnerUsage {
            bytes,
            quota,
            counted_at: std::time::Instant::now(),
            landings: current.map_or(0, |u| u.landings),
        };
        owners.insert(owner, usage);
        Ok(usage)
    }

    /// The owner quota for a wallet that owns an app, a dataset or a workerpool (or is
    /// allowed), the newcomer quota for any other: a wallet is free to make, an asset is not.
    async fn quota_of(&self, owner: Address) -> Result<u64, Response> {
        let Some(poco) = &self.poco else {
            return Ok(self.owner_quota);
        };
        if self.upload_allow.contains(&owner) {
            return Ok(self.owner_quota);
        }
        for kind in [AssetKind::Dataset, AssetKind::App, AssetKind::Workerpool] {
            let count = poco.count_assets(kind, owner).await.map_err(|e| {
                // The node's URL (and any key in it) stays in the log, not in the answer.
                tracing::warn!(error = %e, "counting a wallet's assets failed");
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "CHAIN_UNAVAILABLE",
                    "the chain could not be read: try again later",
                )
            })?;
            if !count.is_zero() {
                return Ok(self.owner_quota);
            }
        }
        Ok(self.newcomer_quota.min(self.owner_quota))
    }

    /// Counts a landing of `size` bytes that replaced `replaced` into `owner`'s usage.
    fn landed(&self, owner: Address, size: u64, replaced: u64) {
        if let Some(usage) = self.owners.lock().expect("never poisoned").get_mut(&owner) {
            usage.bytes = usage.bytes.saturating_sub(replaced).saturating_add(size);
            usage.landings += 1;
        }
    }
}

/// What one wallet stores in `/files` and may store.
#[derive(Clone, Copy, Debug)]
struct OwnerUsage {
    bytes: u64,
    quota: u64,
    counted_at: std::time::Instant,
    /// Landings counted in since this process first counted the wallet.
    landings: u64,
}

/// The total size of the objects under `prefix` (all of them when `None`).
async fn size_under(backend: &dyn ObjectStore, prefix: Option<&StorePath>) -> Result<u64, object_store::Error> {
    let mut listing = backend.list(prefix);
    let mut total = 0u64;
    while let Some(meta) = listing.next().await {
        total += meta?.size;
    }
    Ok(total)
}

/// An upload's room under its owner's quota (results have none: only an attested
/// enclave's signature admits them).
pub(crate) struct Room {
    owner: Address,
    /// The quota less what the owner stores (the file replaced aside) when it started.
    bytes: u64,
    quota: u64,
}

pub(crate) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let refusal = confide_protocol::refusal::Refusal::new(code, message);
    (status, axum::Json(refusal.to_json())).into_response()
}

/// The store's HTTP API over `state`: `/health`, `/metrics`, `/files/<owner>/<name>`,
/// `/results/<task>[/<worker>]`, `/ipfs/<CID>` and `/api/v0/add`.
///
/// Also starts, once per store and in the current Tokio runtime, the background sweep of
/// added files and, when the store has a chain, the follower that marks the files
/// registered datasets name; both end when the store is dropped. `/api/v0/add` limits
/// clients by their address: serve the router with
/// `into_make_service_with_connect_info::<SocketAddr>()`, else all clients share one limit.
pub fn router(state: Arc<StoreState>) -> Router {
    added::start_housekeeping(&state);
    Router::new()
        .route("/health", get(|| async { axum::Json(json!({ "status": "ok" })) }))
        .route("/metrics", get(metrics))
        .route("/files/{owner}/{name}", get(download).head(download).put(upload))
        .route("/results/{task}", get(results::download_task))
        .route("/ipfs/{cid}", get(ipfs::download).head(ipfs::download))
        .route("/api/v0/add", post(kubo::add).options(kubo::preflight))
        .route("/results/{task}/{worker}", get(results::download).put(results::upload))
        // Uploads stream and are measured as they arrive (see `upload`).
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

async fn metrics(State(state): State<Arc<StoreState>>) -> String {
    let mut text = format!(
        "# TYPE store_uploads_total counter\nstore_uploads_total {}\n# TYPE store_downloads_total counter\nstore_downloads_total {}\n# TYPE store_refused_total counter\nstore_refused_total {}\n",
        state.uploads.load(Ordering::Relaxed),
        state.downloads.load(Ordering::Relaxed),
        state.refused.load(Ordering::Relaxed)
    );
    let (unclaimed, reserved) = state.added.unclaimed_bytes();
    text.push_str(&format!(
        "# TYPE store_ipfs_added_total counter\nstore_ipfs_added_total {}\n# TYPE store_ipfs_collected_total counter\nstore_ipfs_collected_total {}\n# TYPE store_ipfs_claimed_total counter\nstore_ipfs_claimed_total {}\n# TYPE store_ipfs_unclaimed_bytes gauge\nstore_ipfs_unclaimed_bytes {}\n# TYPE store_ipfs_adds_in_progress gauge\nstore_ipfs_adds_in_progress {}\n# TYPE store_ipfs_add_refused_total counter\n",
        state.ipfs_added.load(Ordering::Relaxed),
        state.ipfs_collected.load(Ordering::Relaxed),
        state.ipfs_claimed.load(Ordering::Relaxed),
        unclaimed + reserved,
        state.added.in_progress.load(Ordering::SeqCst),
    ));
    for (code, count) in state.added.refusals() {
        text.push_str(&format!("store_ipfs_add_refused_total{{code=\"{code}\"}} {count}\n"));
    }
    if let Some(node) = &state.ipfs_node {
        text.push_str(&format!(
            "# TYPE store_ipfs_pinned_total counter\nstore_ipfs_pinned_total {}\n# TYPE store_ipfs_pin_failed_total counter\nstore_ipfs_pin_failed_total {}\n",
            node.pinned.load(Ordering::Relaxed),
            node.failed.load(Ordering::Relaxed)
        ));
    }
    text
}

/// File names: 1 to 128 of A-Z a-z 0-9 . _ - (no slashes, no leading dot).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Where an owner's files are: `0x<owner, lower case>/`.
fn owner_prefix(owner: Address) -> StorePath {
    StorePath::from(owner.to_string().to_lowercase())
}

fn object_path(owner: Address, name: &str) -> StorePath {
    StorePath::from(format!("{}/{name}", owner_prefix(owner)))
}

/// An owner's file and where its CID is recorded (outside the owner's folder, so no file
/// name can collide with the record).
pub(crate) fn file_located(owner: Address, name: &str) -> (StorePath, ipfs::CidRecord) {
    let owner_text = owner.to_string().to_lowercase();
    let record = ipfs::CidRecord {
        record: StorePath::from(format!("file-cids/{owner_text}/{name}")),
        marker_suffix: format!("files/{owner_text}/{name}"),
    };
    (object_path(owner, name), record)
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

    let path = object_path(owner, &name);
    let room = match owner_room(&state, owner, &path).await {
        Ok(room) => room,
        Err(refusal) => return refusal,
    };
    let (_, record) = file_located(owner, &name);
    match stream_into(&state, &path, declared, body, Some(room), &record).await {
        Ok(stored) => {
            state.pin(&stored.cid, pin::PinLane::File);
            state.uploads.fetch_add(1, Ordering::Relaxed);
            let path = format!("/files/{owner}/{name}");
            let (size, cid) = (stored.size, stored.cid.to_string());
            (
                StatusCode::CREATED,
                axum::Json(json!({ "path": path, "checksum": declared, "size": size, "cid": cid })),
            )
                .into_response()
        }
        Err(refusal) => refusal,
    }
}

/// `owner`'s room under its quota: what it stores, less the file `path` an upload would
/// replace.
async fn owner_room(state: &StoreState, owner: Address, path: &StorePath) -> Result<Room, Response> {
    let usage = state.owner_usage(owner).await?;
    let replaced = replaced_size(state, path).await.map_err(backend_error)?;
    Ok(Room {
        owner,
        bytes: usage.quota.saturating_sub(usage.bytes.saturating_sub(replaced)),
        quota: usage.quota,
    })
}

/// The size of the object at `path`, 0 when there is none.
async fn replaced_size(state: &StoreState, path: &StorePath) -> Result<u64, object_store::Error> {
    match state.backend.head(path).await {
        Ok(meta) => Ok(meta.size),
        Err(object_store::Error::NotFound { .. }) => Ok(0),
        Err(e) => Err(e),
    }
}

/// Bytes of an upload under way, held in `StoreState::reserved` (and its owner's share)
/// until dropped.
struct Reservation<'a> {
    state: &'a StoreState,
    owner: Option<Address>,
    bytes: u64,
}

/// Why a reservation cannot grow.
enum Full {
    /// The owner's files and uploads under way would pass the owner's quota.
    Owner,
    /// The store would hold more than its total.
    Store,
}

impl Reservation<'_> {
    /// Reserves `more` bytes, against the owner's `room` and `ceiling` (the store's quota,
    /// or what files may fill of it) given that it stores `stored` bytes.
    fn grow(&mut self, more: u64, stored: u64, room: Option<&Room>, ceiling: u64) -> Result<(), Full> {
        // Invariant: `bytes` is what this reservation added to both counters it holds, so
        // dropping it gives back exactly that, whatever the outcome.
        self.bytes += more;
        let reserved = self.state.reserved.fetch_add(more, Ordering::SeqCst) + more;
        let owner_full = room.is_some_and(|room| {
            let mut owners = self.state.owner_reserved.lock().expect("never poisoned");
            let owner_reserved = owners.entry(room.owner).or_default();
            *owner_reserved += more;
            self.owner = Some(room.owner);
            *owner_reserved > room.bytes
        });
        if owner_full {
            return Err(Full::Owner);
        }
        if stored.saturating_add(reserved) > ceiling {
            return Err(Full::Store);
        }
        Ok(())
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.state.reserved.fetch_sub(self.bytes, Ordering::SeqCst);
        if let Some(owner) = self.owner {
            let mut owners = self.state.owner_reserved.lock().expect("never poisoned");
            if let Some(reserved) = owners.get_mut(&owner) {
                *reserved -= self.bytes;
                if *reserved == 0 {
                    owners.remove(&owner);
                }
            }
        }
    }
}

/// What an upload left in the store.
pub(crate) struct Stored {
    pub size: usize,
    /// Its IPFS CID (v1, raw leaves: what `ipfs add --cid-version=1` derives).
    pub cid: Cid,
}

/// An upload written to a staging object (or only hashed), not yet checked against what
/// it must be.
pub(crate) struct Staged {
    /// The staging object and its writer, unfinished; `None` when only hashing.
    pub object: Option<(StorePath, object_store::WriteMultipart)>,
    pub size: usize,
    pub sha256: B256,
    /// Its IPFS DAG under the layout asked for.
    pub dag: FileDag,
}

fn backend_error(e: object_store::Error) -> Response {
    error(StatusCode::INTERNAL_SERVER_ERROR, "BACKEND_ERROR", e.to_string())
}

/// Counts a refusal and makes its answer.
fn refuse(state: &StoreState, status: StatusCode, code: &str, message: String) -> Response {
    state.refused.fetch_add(1, Ordering::Relaxed);
    error(status, code, message)
}

fn over_quota(state: &StoreState, quota: u64) -> Response {
    refuse(
        state,
        StatusCode::PAYLOAD_TOO_LARGE,
        "QUOTA_EXCEEDED",
        format!(
            "this upload would take the wallet's files past its quota of {quota} bytes \
             (a wallet that owns no app, dataset or workerpool has a smaller one)"
        ),
    )
}

/// Streams an upload to `path` (constant memory), keeping it only if its bytes hash to
/// `declared` and fit the owner's `room` and the store's quota; computes its CID on the
/// way and records it (`record`) in the same landing. Returns what was stored, or the
/// refusal to answer with.
pub(crate) async fn stream_into(
    state: &StoreState,
    path: &StorePath,
    declared: B256,
    body: Body,
    room: Option<Room>,
    record: &ipfs::CidRecord,
) -> Result<Stored, Response> {
    let Staged {
        object,
        size,
        sha256,
        dag,
    } = stage(state, body, room.as_ref()).await?;
    let (staging, writer) = object.expect("uploads are written, not only hashed");
    let cid = dag.cid;
    if size == 0 || sha256 != declared {
        let _ = writer.abort().await;
        let message = if size == 0 {
            "the file is empty".to_owned()
        } else {
            format!("the content hashes to {sha256}, not to the signed {declared}")
        };
        return Err(refuse(state, StatusCode::BAD_REQUEST, "CHECKSUM_MISMATCH", message));
    }
    writer.finish().await.map_err(backend_error)?;
    let landing = Landing {
        staging: &staging,
        size,
        cid: &cid,
        record,
    };
    land(state, landing, path, room.as_ref()).await?;
    Ok(Stored { size, cid })
}

/// Writes `body` to a new staging object, hashing it and deriving its CID (v1, raw
/// leaves), and stops at the upload limit or a quota.
async fn stage(state: &StoreState, body: Body, room: Option<&Room>) -> Result<Staged, Response> {
    let stored = state.stored_bytes().await.map_err(backend_error)?;
    let mut reservation = Reservation {
        state,
        owner: None,
        bytes: 0,
    };
    let admit = |size: usize, chunk: usize| past_a_limit(state, &mut reservation, size, chunk, stored, room);
    let interrupted = |e: axum::Error| {
        refuse(
            state,
            StatusCode::BAD_REQUEST,
            "UPLOAD_INTERRUPTED",
            format!("the upload broke off: {e}"),
        )
    };
    let layout = Layout::kubo(CidVersion::V1);
    stage_stream(state, body.into_data_stream(), layout, true, admit, interrupted).await
}

/// Streams `chunks` (constant memory) to a new staging object when `write`, hashing them
/// (sha256, and the IPFS DAG under `layout`) as they pass; `admit` sees each chunk's size
/// (and the bytes before it) first and may refuse it. A refused or broken-off upload
/// leaves nothing. Invariant: staging names are random and under `staging/`, where no
/// download route reaches (those serve `0x…/`, `results/` and what CID markers name), so
/// unchecked bytes are never served and two uploads never write into one staging
/// object; a refused upload never replaces a good one.
pub(crate) async fn stage_stream<E>(
    state: &StoreState,
    chunks: impl futures::Stream<Item = Result<Bytes, E>>,
    layout: Layout,
    write: bool,
    mut admit: impl FnMut(usize, usize) -> Option<Response>,
    interrupted: impl Fn(E) -> Response,
) -> Result<Staged, Response> {
    let mut object = None;
    if write {
        let staging = StorePath::from(format!(
            "staging/{}",
            confide_chain::hex::encode(rand::random::<[u8; 16]>())
        ));
        let multipart = state.backend.put_multipart(&staging).await.map_err(backend_error)?;
        object = Some((staging, object_store::WriteMultipart::new(multipart)));
    }
    let mut hasher = Sha256::new();
    let mut cid = FileCid::with_layout(layout);
    let mut size = 0usize;
    let mut chunks = std::pin::pin!(chunks);
    while let Some(chunk) = chunks.next().await {
        let admitted = match chunk {
            Err(e) => Err(interrupted(e)),
            Ok(chunk) => match admit(size, chunk.len()) {
                Some(refusal) => Err(refusal),
                None => Ok(chunk),
            },
        };
        let written = match (admitted, object.as_mut()) {
            (Ok(chunk), Some((_, writer))) => match writer.wait_for_capacity(4).await {
                Ok(()) => {
                    writer.write(&chunk);
                    Ok(chunk)
                }
                Err(e) => Err(backend_error(e)),
            },
            (admitted, _) => admitted,
        };
        let chunk = match written {
            Ok(chunk) => chunk,
            Err(refusal) => {
                if let Some((_, writer)) = object {
                    let _ = writer.abort().await;
                }
                return Err(refusal);
            }
        };
        hasher.update(&chunk);
        cid.update(&chunk);
        size += chunk.len();
    }
    Ok(Staged {
        object,
        size,
        sha256: B256::from_slice(&hasher.finalize()),
        dag: cid.finish_dag(),
    })
}

/// The refusal of a chunk that would take the upload past its size limit, the owner's
/// room or the store's quota (reserving its room otherwise).
fn past_a_limit(
    state: &StoreState,
    reservation: &mut Reservation<'_>,
    size: usize,
    chunk: usize,
    stored: u64,
    room: Option<&Room>,
) -> Option<Response> {
    if size + chunk > state.max_upload {
        let limit = state.max_upload;
        let message = format!("uploads are limited to {limit} bytes");
        return Some(refuse(state, StatusCode::PAYLOAD_TOO_LARGE, "TOO_LARGE", message));
    }
    // A room is a wallet's file; a result has none and may use the results' reserve.
    let ceiling = if room.is_some() {
        state.files_ceiling()
    } else {
        state.total_quota
    };
    match reservation.grow(chunk as u64, stored, room, ceiling) {
        Ok(()) => None,
        Err(Full::Owner) => Some(over_quota(state, room.map_or(0, |r| r.quota))),
        Err(Full::Store) => Some(refuse(
            state,
            StatusCode::INSUFFICIENT_STORAGE,
            "STORE_FULL",
            "the store is full: try again later or another store".into(),
        )),
    }
}

/// A checked staging object and what to record of it.
struct Landing<'a> {
    staging: &'a StorePath,
    size: usize,
    cid: &'a Cid,
    record: &'a ipfs::CidRecord,
}

/// Renames a checked staging object to `path` and records its CID, one landing at a
/// time. The owner's files are counted again as the upload lands: an upload of the same
/// wallet that landed meanwhile is not in the room measured at the start.
async fn land(state: &StoreState, landing: Landing<'_>, path: &StorePath, room: Option<&Room>) -> Result<(), Response> {
    // Counted (when stale) before the lock; read again under it, from memory, so an
    // upload of the same wallet that landed meanwhile counts.
    let counted = match room {
        Some(room) => Some(state.owner_usage(room.owner).await?),
        None => None,
    };
    let _landing = state.landing.lock().await;
    // Under the lock: two uploads to one name must not both subtract the file they replace.
    let replaced = replaced_size(state, path).await.map_err(backend_error)?;
    if let (Some(room), Some(counted)) = (room, counted) {
        let used = state
            .owners
            .lock()
            .expect("never poisoned")
            .get(&room.owner)
            .map_or(counted.bytes, |usage| usage.bytes);
        if used.saturating_sub(replaced) + landing.size as u64 > room.quota {
            drop(_landing);
            let _ = state.backend.delete(landing.staging).await;
            return Err(over_quota(state, room.quota));
        }
    }
    state
        .backend
        .rename(landing.staging, path)
        .await
        .map_err(backend_error)?;
    ipfs::record_cid(state, path, landing.cid, landing.record)
        .await
        .map_err(backend_error)?;
    state.stored.fetch_add(landing.size as u64, Ordering::SeqCst);
    state
        .stored
        .fetch_sub(replaced.min(state.stored.load(Ordering::SeqCst)), Ordering::SeqCst);
    if let Some(room) = room {
        state.landed(room.owner, landing.size as u64, replaced);
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::{Address, Reservation, Room, StoreState, past_a_limit};
    use std::sync::Arc;

    #[test]
    fn a_result_may_use_the_reserve_that_files_may_not() {
        let mut state = StoreState::configure(Arc::new(object_store::memory::InMemory::new()), 1 << 20, None);
        state.total_quota = 2500;
        state.results_reserve = 1000;
        let room = Room {
            owner: Address::ZERO,
            bytes: 10_000,
            quota: 10_000,
        };
        let stored = 1400;
        let mut file = Reservation {
            state: &state,
            owner: None,
            bytes: 0,
        };
        assert!(
            past_a_limit(&state, &mut file, 0, 200, stored, Some(&room)).is_some(),
            "a file stops at 1500"
        );
        drop(file);
        let mut result = Reservation {
            state: &state,
            owner: None,
            bytes: 0,
        };
        assert!(
            past_a_limit(&state, &mut result, 0, 200, stored, None).is_none(),
            "a result goes on into the reserve"
        );
        assert!(
            past_a_limit(&state, &mut result, 200, 1000, stored, None).is_some(),
            "but not past the total"
        );
    }
}
