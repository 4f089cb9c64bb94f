//! Content added through kubo's RPC `add` ([`crate::kubo`]), which anyone may call, as
//! iExec's SDKs do before they register a dataset: kept, served at `/ipfs/<CID>`, and
//! bounded so that it never becomes a free disk.
//!
//! Layout in the backend, one folder per CID as the answer named it:
//! - `ipfs-added/<CID>/data`: the file's bytes, landed from a staging object once whole;
//! - `ipfs-added/<CID>/cid`: its CID record and `ipfs/<CID>/added` its marker (see
//!   [`crate::ipfs`]), so the gateway serves it, hashing it again as it streams;
//! - `ipfs-added/<CID>/added-at`: when it was last added (Unix seconds);
//! - `ipfs-claims/<CID>`: a dataset registered on chain names the CID (its address inside).
//!
//! Content no dataset names is **unclaimed**: together it stays under
//! `StoreState::ipfs_unclaimed_quota` (each addition counting 4 KiB more than its size, so
//! a flood of empty files fills it too), and a background sweep deletes what has been
//! unclaimed for `StoreState::ipfs_grace`, a bounded number per sweep, checking for a
//! claim first. Content becomes **claimed** when the chain follower ([`crate::claims`])
//! sees a dataset minted whose multiaddr names its CID; claimed content stays (it still
//! counts in the store's total quota). With a chain, the sweep deletes nothing while the
//! follower is behind: a claim it has not read yet must not be lost.
//!
//! Each client (an IPv4 address, an IPv6 /64) adds at most
//! `StoreState::ipfs_client_bytes_per_hour` (a token bucket that refills over an hour) and
//! has at most `StoreState::ipfs_client_uploads` additions under way. Adding content that
//! is stored already keeps one copy, counted once, and restarts its grace period.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use confide_protocol::ipfs::Cid;
use futures::StreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path as StorePath;

use crate::ipfs::CidRecord;
use crate::{StoreState, backend_error};

/// What each addition counts beyond its bytes, in the unclaimed quota and a client's
/// hourly bytes: its records, and the work of one request.
pub(crate) const OBJECT_CHARGE: u64 = 4096;
/// Unclaimed objects a sweep looks at, at most.
const SWEEP_BATCH: usize = 256;
/// Clients remembered at once, at most; past it new clients are refused until some idle
/// ones are forgotten.
const MAX_CLIENTS: usize = 65_536;
/// How recently the claims follower must have reached the chain's head for a sweep to
/// delete anything.
const FOLLOWER_FRESH: Duration = Duration::from_secs(60);

/// The codes an addition is refused with, each counted on `/metrics`.
pub(crate) const REFUSAL_CODES: [&str; 7] = [
    "TOO_LARGE",
    "IPFS_QUOTA_EXCEEDED",
    "RATE_LIMITED",
    "UNSUPPORTED_OPTION",
    "BAD_MULTIPART",
    "STORE_FULL",
    "UPLOAD_INTERRUPTED",
];

/// The state of added content shared by a store's requests and its background tasks.
#[derive(Default)]
pub(crate) struct Added {
    index: Mutex<Index>,
    loaded: tokio::sync::OnceCell<()>,
    clients: Mutex<HashMap<IpAddr, Client>>,
    refusals: Mutex<BTreeMap<&'static str, u64>>,
    /// Set once the sweep (and the follower) run.
    started: AtomicBool,
    /// Unix seconds when the claims follower last reached the chain's head (0: never).
    pub(crate) synced_at: AtomicU64,
    /// Set once a request came without its peer's address (logged once).
    warned_no_peer: AtomicBool,
    /// Additions under way, all clients together.
    pub(crate) in_progress: AtomicU64,
}

/// Unclaimed added content.
#[derive(Default)]
struct Index {
    /// Invariant: the CIDs stored under `ipfs-added/` with no claim recorded, once
    /// loaded; `unclaimed` is the sum of their charges.
    entries: HashMap<Cid, Entry>,
    unclaimed: u64,
    /// Charges of additions under way.
    reserved: u64,
}

/// What one `ipfs-added/<CID>/` folder holds, as listed.
#[derive(Default)]
struct Folder {
    /// The data's size and time (Unix seconds).
    data: Option<(u64, u64)>,
    added_at: Option<StorePath>,
    others: Vec<StorePath>,
}

#[derive(Clone, Copy)]
struct Entry {
    size: u64,
    added_at: u64,
}

fn charge(size: u64) -> u64 {
    size.saturating_add(OBJECT_CHARGE)
}

/// One client's hourly budget (a token bucket) and additions under way.
struct Client {
    /// Invariant: at most the hourly budget, as of `at`.
    tokens: f64,
    at: Instant,
    active: usize,
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn data_path(cid: &Cid) -> StorePath {
    StorePath::from(format!("ipfs-added/{cid}/data"))
}

fn added_at_path(cid: &Cid) -> StorePath {
    StorePath::from(format!("ipfs-added/{cid}/added-at"))
}

fn claim_path(cid: &Cid) -> StorePath {
    StorePath::from(format!("ipfs-claims/{cid}"))
}

/// Added content and where its CID is recorded (marker `ipfs/<CID>/added`).
pub(crate) fn located(cid: &Cid) -> (StorePath, CidRecord) {
    let record = CidRecord {
        record: StorePath::from(format!("ipfs-added/{cid}/cid")),
        marker_suffix: "added".into(),
    };
    (data_path(cid), record)
}

/// Whether `path` exists (`Err` only for the backend's own failures).
async fn exists(state: &StoreState, path: &StorePath) -> Result<bool, object_store::Error> {
    match state.backend.head(path).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

async fn delete_if_there(state: &StoreState, path: &StorePath) -> Result<(), object_store::Error> {
    match state.backend.delete(path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

impl Added {
    /// Reads what is unclaimed from the backend, once: the added folders with data and no
    /// claim (when each was added: its `added-at`, else its data's time). Folders a crash
    /// left without data are removed.
    async fn load(&self, state: &StoreState) -> Result<(), object_store::Error> {
        self.loaded
            .get_or_try_init(|| async {
                let mut claims = std::collections::HashSet::new();
                let mut listing = state.backend.list(Some(&StorePath::from("ipfs-claims")));
                while let Some(meta) = listing.next().await {
                    if let Some(name) = meta?.location.filename() {
                        claims.insert(name.to_owned());
                    }
                }
                let mut folders: HashMap<String, Folder> = HashMap::new();
                let mut listing = state.backend.list(Some(&StorePath::from("ipfs-added")));
                while let Some(meta) = listing.next().await {
                    let meta = meta?;
                    let parts: Vec<_> = meta.location.parts().map(|p| p.as_ref().to_owned()).collect();
                    let [_, cid, name] = parts.as_slice() else {
                        continue;
                    };
                    let folder = folders.entry(cid.clone()).or_default();
                    match name.as_str() {
                        "data" => {
                            let time = u64::try_from(meta.last_modified.timestamp()).unwrap_or(0);
                            folder.data = Some((meta.size, time));
                        }
                        "added-at" => folder.added_at = Some(meta.location.clone()),
                        _ => folder.others.push(meta.location.clone()),
                    }
                }
                let mut entries = HashMap::new();
                for (
                    text,
                    Folder {
                        data,
                        added_at: added_at_object,
                        others,
                    },
                ) in folders
                {
                    let Ok(cid) = text.parse::<Cid>() else {
                        continue;
                    };
                    let Some((size, time)) = data else {
                        for path in others.iter().chain(&added_at_object) {
                            delete_if_there(state, path).await?;
                        }
                        let (_, record) = located(&cid);
                        delete_if_there(state, &StorePath::from(format!("ipfs/{cid}/{}", record.marker_suffix)))
                            .await?;
                        continue;
                    };
                    if claims.contains(&text) {
                        continue;
                    }
                    let mut added_at = time;
                    if let Some(path) = added_at_object
                        && let Ok(result) = state.backend.get(&path).await
                        && let Ok(bytes) = result.bytes().await
                        && let Some(secs) = std::str::from_utf8(&bytes).ok().and_then(|t| t.trim().parse().ok())
                    {
                        added_at = secs;
                    }
                    entries.insert(cid, Entry { size, added_at });
                }
                let mut index = self.index.lock().expect("never poisoned");
                index.unclaimed = entries.values().map(|e| charge(e.size)).sum();
                index.entries = entries;
                Ok::<(), object_store::Error>(())
            })
            .await?;
        Ok(())
    }

    /// Bytes of unclaimed content, and of additions under way.
    pub(crate) fn unclaimed_bytes(&self) -> (u64, u64) {
        let index = self.index.lock().expect("never poisoned");
        (index.unclaimed, index.reserved)
    }

    /// Counts a refusal of `code` (one of [`REFUSAL_CODES`]).
    fn count_refusal(&self, code: &'static str) {
        *self.refusals.lock().expect("never poisoned").entry(code).or_default() += 1;
    }

    /// Refusals by code, every code listed.
    pub(crate) fn refusals(&self) -> Vec<(&'static str, u64)> {
        let refusals = self.refusals.lock().expect("never poisoned");
        REFUSAL_CODES
            .iter()
            .map(|code| (*code, refusals.get(code).copied().unwrap_or(0)))
            .collect()
    }

    /// The client an address counts as: IPv4 (and IPv4-mapped) addresses alone, IPv6
    /// addresses by /64 (one subscriber's usual share).
    pub(crate) fn client_key(&self, peer: Option<IpAddr>) -> IpAddr {
        let Some(peer) = peer else {
            if !self.warned_no_peer.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "requests to /api/v0/add come without their peer's address (serve the router with \
                     into_make_service_with_connect_info): all clients share one limit"
                );
            }
            return IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
        };
        match peer {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let mut segments = v6.segments();
                    segments[4..].fill(0);
                    IpAddr::V6(segments.into())
                }
            },
            v4 => v4,
        }
    }
}

/// Counts and answers a refusal of an addition: kubo's error body (`Message`, `Code`,
/// `Type`, which kubo's clients show) with Confide's (`error.code`, `error.message`).
pub(crate) fn refuse(state: &StoreState, status: StatusCode, code: &'static str, message: String) -> Response {
    state.refused.fetch_add(1, Ordering::Relaxed);
    state.added.count_refusal(code);
    // go-ipfs-cmds' ErrorType: 1 (ErrClient) for what the request got wrong, else 0.
    let kubo_code = u8::from(status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS);
    let body = serde_json::json!({
        "Message": message,
        "Code": kubo_code,
        "Type": "error",
        "error": { "code": code, "message": message },
    });
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
}

/// A client's addition under way; dropping it ends it.
pub(crate) struct ClientSlot<'a> {
    added: &'a Added,
    key: IpAddr,
    budget: u64,
}

impl Added {
    /// Starts an addition for `key`, charging [`OBJECT_CHARGE`]: refused when the client
    /// has `max_active` under way, its hourly `budget` is spent, or too many clients are
    /// remembered.
    pub(crate) fn start_client(&self, key: IpAddr, max_active: usize, budget: u64) -> Result<ClientSlot<'_>, String> {
        let mut clients = self.clients.lock().expect("never poisoned");
        let now = Instant::now();
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(&key) {
            clients.retain(|_, client| client.active > 0 || refilled(client, budget, now) < budget as f64);
            if clients.len() >= MAX_CLIENTS {
                return Err("the store is busy with too many clients: try again later".into());
            }
        }
        let client = clients.entry(key).or_insert(Client {
            tokens: budget as f64,
            at: now,
            active: 0,
        });
        if client.active >= max_active {
            return Err(format!(
                "at most {max_active} additions at once from one address: wait for yours to finish"
            ));
        }
        client.tokens = refilled(client, budget, now);
        client.at = now;
        if client.tokens < OBJECT_CHARGE as f64 {
            return Err(format!(
                "an address adds at most {budget} bytes an hour: try again later"
            ));
        }
        client.tokens -= OBJECT_CHARGE as f64;
        client.active += 1;
        self.in_progress.fetch_add(1, Ordering::SeqCst);
        Ok(ClientSlot {
            added: self,
            key,
            budget,
        })
    }
}

fn refilled(client: &Client, budget: u64, now: Instant) -> f64 {
    let per_second = budget as f64 / 3600.0;
    (client.tokens + now.duration_since(client.at).as_secs_f64() * per_second).min(budget as f64)
}

impl ClientSlot<'_> {
    /// Takes `bytes` from the client's hourly budget; `false` (nothing taken) when it is
    /// spent.
    pub(crate) fn take(&mut self, bytes: u64) -> bool {
        let mut clients = self.added.clients.lock().expect("never poisoned");
        let client = clients
            .get_mut(&self.key)
            .expect("a client with an addition under way is remembered");
        let now = Instant::now();
        client.tokens = refilled(client, self.budget, now);
        client.at = now;
        if client.tokens < bytes as f64 {
            return false;
        }
        client.tokens -= bytes as f64;
        true
    }
}

impl Drop for ClientSlot<'_> {
    fn drop(&mut self) {
        let mut clients = self.added.clients.lock().expect("never poisoned");
        if let Some(client) = clients.get_mut(&self.key) {
            client.active -= 1;
        }
        self.added.in_progress.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Room reserved in the unclaimed quota for an addition under way; given back on drop.
pub(crate) struct QuotaReservation<'a> {
    added: &'a Added,
    /// Invariant: what this reservation added to `Index::reserved`.
    bytes: u64,
}

impl Added {
    /// An empty reservation (reads the unclaimed content from the backend first, once).
    pub(crate) async fn reservation<'a>(
        &'a self,
        state: &StoreState,
    ) -> Result<QuotaReservation<'a>, object_store::Error> {
        self.load(state).await?;
        Ok(QuotaReservation { added: self, bytes: 0 })
    }
}

impl QuotaReservation<'_> {
    /// Reserves `more` bytes if unclaimed content, additions under way and them fit in
    /// `quota`.
    pub(crate) fn grow(&mut self, more: u64, quota: u64) -> bool {
        let mut index = self.added.index.lock().expect("never poisoned");
        if index.unclaimed.saturating_add(index.reserved).saturating_add(more) > quota {
            return false;
        }
        index.reserved += more;
        self.bytes += more;
        true
    }
}

impl Drop for QuotaReservation<'_> {
    fn drop(&mut self) {
        self.added.index.lock().expect("never poisoned").reserved -= self.bytes;
    }
}

/// Lands an added file: moves its checked staging object to `ipfs-added/<CID>/data` (or,
/// when that CID is stored already, drops it: one copy, counted once), records its CID
/// for the gateway, restarts its grace period, and counts it as unclaimed unless a
/// dataset already names it. Under the store's landing lock, as every landing.
pub(crate) async fn land(state: &StoreState, staging: &StorePath, cid: &Cid, size: u64) -> Result<(), Response> {
    let _landing = state.landing.lock().await;
    let (data, record) = located(cid);
    let stored_already = exists(state, &data).await.map_err(backend_error)?;
    if stored_already {
        let _ = state.backend.delete(staging).await;
    } else {
        state.backend.rename(staging, &data).await.map_err(backend_error)?;
        state.stored.fetch_add(size, Ordering::SeqCst);
        state.ipfs_added.fetch_add(1, Ordering::Relaxed);
    }
    // Recorded again when stored already: a crash may have left it unrecorded.
    crate::ipfs::record_cid(state, &data, cid, &record)
        .await
        .map_err(backend_error)?;
    let now = now_secs();
    state
        .backend
        .put(&added_at_path(cid), now.to_string().into_bytes().into())
        .await
        .map_err(backend_error)?;
    let claimed = exists(state, &claim_path(cid)).await.map_err(backend_error)?;
    let mut index = state.added.index.lock().expect("never poisoned");
    match index.entries.get_mut(cid) {
        Some(entry) => entry.added_at = now,
        None if !claimed => {
            index.entries.insert(*cid, Entry { size, added_at: now });
            index.unclaimed += charge(size);
        }
        None => {}
    }
    Ok(())
}

/// Records that a dataset (`dataset`) names `cid`, whether the store holds it yet or
/// not, and keeps the content if it does.
pub(crate) async fn claim(
    state: &StoreState,
    cid: &Cid,
    dataset: confide_chain::Address,
) -> Result<(), object_store::Error> {
    let _landing = state.landing.lock().await;
    let text = dataset.to_string();
    state.backend.put(&claim_path(cid), text.into_bytes().into()).await?;
    let mut index = state.added.index.lock().expect("never poisoned");
    if let Some(entry) = index.entries.remove(cid) {
        index.unclaimed -= charge(entry.size);
        state.ipfs_claimed.fetch_add(1, Ordering::Relaxed);
        tracing::info!(%cid, %dataset, "added content claimed by a dataset");
    }
    Ok(())
}

/// One sweep: deletes up to [`SWEEP_BATCH`] unclaimed objects whose grace period is
/// over, each after checking (under the landing lock) that no claim was recorded and
/// that it was not added again meanwhile. With a chain, nothing while the claims
/// follower is behind. Returns how many were deleted.
pub(crate) async fn sweep(state: &StoreState) -> Result<usize, object_store::Error> {
    state.added.load(state).await?;
    // Counted from the backend before anything is taken off the count.
    state.stored_bytes().await?;
    let now = now_secs();
    if state.poco.is_some()
        && now.saturating_sub(state.added.synced_at.load(Ordering::SeqCst)) > FOLLOWER_FRESH.as_secs()
    {
        tracing::debug!("sweep skipped: the claims follower has not reached the chain's head lately");
        return Ok(0);
    }
    let grace = state.ipfs_grace.as_secs();
    let expired: Vec<Cid> = {
        let index = state.added.index.lock().expect("never poisoned");
        index
            .entries
            .iter()
            .filter(|(_, entry)| entry.added_at.saturating_add(grace) <= now)
            .map(|(cid, _)| *cid)
            .take(SWEEP_BATCH)
            .collect()
    };
    let mut deleted = 0;
    for cid in expired {
        let _landing = state.landing.lock().await;
        let still_expired = {
            let index = state.added.index.lock().expect("never poisoned");
            index.entries.get(&cid).copied()
        }
        .filter(|entry| entry.added_at.saturating_add(grace) <= now_secs());
        let Some(entry) = still_expired else {
            continue;
        };
        if exists(state, &claim_path(&cid)).await? {
            let mut index = state.added.index.lock().expect("never poisoned");
            if index.entries.remove(&cid).is_some() {
                index.unclaimed -= charge(entry.size);
                state.ipfs_claimed.fetch_add(1, Ordering::Relaxed);
            }
            continue;
        }
        let (data, record) = located(&cid);
        // The marker first: from then on the gateway no longer finds it.
        delete_if_there(state, &StorePath::from(format!("ipfs/{cid}/{}", record.marker_suffix))).await?;
        delete_if_there(state, &data).await?;
        delete_if_there(state, &record.record).await?;
        delete_if_there(state, &added_at_path(&cid)).await?;
        {
            let mut index = state.added.index.lock().expect("never poisoned");
            if index.entries.remove(&cid).is_some() {
                index.unclaimed -= charge(entry.size);
            }
        }
        let stored = state.stored.load(Ordering::SeqCst);
        state.stored.fetch_sub(entry.size.min(stored), Ordering::SeqCst);
        state.ipfs_collected.fetch_add(1, Ordering::Relaxed);
        deleted += 1;
        tracing::info!(%cid, "unclaimed added content collected");
    }
    Ok(deleted)
}

/// How often the sweep runs: a quarter of the grace period, between 100 ms and a minute.
fn sweep_interval(grace: Duration) -> Duration {
    (grace / 4).clamp(Duration::from_millis(100), Duration::from_secs(60))
}

/// Starts the sweep, and with a chain the claims follower, once per store, each holding
/// the store weakly (they end when it is dropped). Needs a Tokio runtime.
pub(crate) fn start_housekeeping(state: &Arc<StoreState>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no Tokio runtime: added content is not swept");
        return;
    };
    if state.added.started.swap(true, Ordering::SeqCst) {
        return;
    }
    let weak: Weak<StoreState> = Arc::downgrade(state);
    let interval = sweep_interval(state.ipfs_grace);
    runtime.spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            let Some(state) = weak.upgrade() else {
                return;
            };
            if let Err(error) = sweep(&state).await {
                tracing::warn!(%error, "sweeping added content failed; trying again later");
            }
        }
    });
    if state.poco.is_some() {
        runtime.spawn(crate::claims::follow(Arc::downgrade(state)));
    }
}
