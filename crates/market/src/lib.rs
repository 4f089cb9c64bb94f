//! Confide's marketplace: an order book with iExec's market API (so iExec's SDK publishes
//! to it and browses it), in step with the chain.
//!
//! Orders authenticate themselves: on publish the market recovers the EIP-712 signer under
//! the configured chain's domain, checks it owns the asset on chain (or is the requester),
//! that the order has volume left on chain, and refuses duplicates. A follower applies
//! `OrdersMatched` and order-closing events, so statuses move `open` → `filled` | `canceled`
//! without a client asking. Clients must still re-check orders: the market is untrusted
//! storage. It must never accept an order the chain would reject for its signature.

pub mod db;
pub mod explore;
pub mod follow;
pub mod login;
mod page;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use confide_chain::{Address, AssetKind, B256, Poco, U256};
use confide_protocol::order::{AppOrder, DatasetOrder, Order, OrderKind, RequestOrder, WorkerpoolOrder};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Mutex, broadcast};

use crate::db::{Filter, MarketDb, Row_};

/// Largest `params` of a request order, as iExec's market limits it.
pub const MAX_PARAMS_BYTES: usize = 4096;
/// Verified login headers each replica remembers (beyond, they are verified again).
pub const MAX_SESSIONS: usize = 100_000;
/// The last page a book query may ask for (with 1000 orders a page, a billion rows in).
const MAX_PAGE_INDEX: i64 = 1_000_000;

#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or invalid authorization: get a challenge from /challenge and sign it")]
    Unauthorized,
    #[error("wrong chain: this market serves chain {0}")]
    WrongChain(u64),
    #[error("the order's signature is not its owner's ({0})")]
    BadSignature(String),
    #[error("{0} is not a registered asset on this chain")]
    UnknownAsset(Address),
    #[error("the order has no volume left on chain (consumed or cancelled)")]
    NoVolume,
    #[error("this order is already published")]
    Duplicate,
    #[error("no such order")]
    NotFound,
    #[error("{0}")]
    NotOnChain(String),
    #[error("only the order's signer can unpublish it")]
    NotYours,
    #[error("the chain is unreachable: {0}")]
    Chain(String),
    #[error("storage failed: {0}")]
    Storage(String),
}

impl MarketError {
    pub fn code(&self) -> &'static str {
        match self {
            MarketError::BadRequest(_) => "BAD_REQUEST",
            MarketError::Unauthorized => "UNAUTHORIZED",
            MarketError::WrongChain(_) => "WRONG_CHAIN_ID",
            MarketError::BadSignature(_) => "INVALID_SIGNATURE",
            MarketError::UnknownAsset(_) => "UNKNOWN_ASSET",
            MarketError::NoVolume => "NO_VOLUME_LEFT",
            MarketError::Duplicate => "DUPLICATE_ORDER",
            MarketError::NotFound => "ORDER_NOT_FOUND",
            MarketError::NotOnChain(_) => "NOT_ON_CHAIN",
            MarketError::NotYours => "NOT_YOURS",
            MarketError::Chain(_) => "CHAIN_UNREACHABLE",
            MarketError::Storage(_) => "STORAGE_ERROR",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            MarketError::BadRequest(_) | MarketError::WrongChain(_) | MarketError::NoVolume => StatusCode::BAD_REQUEST,
            MarketError::BadSignature(_) | MarketError::UnknownAsset(_) => StatusCode::BAD_REQUEST,
            MarketError::Unauthorized => StatusCode::UNAUTHORIZED,
            MarketError::NotYours => StatusCode::FORBIDDEN,
            MarketError::Duplicate => StatusCode::CONFLICT,
            MarketError::NotFound | MarketError::NotOnChain(_) => StatusCode::NOT_FOUND,
            MarketError::Chain(_) => StatusCode::SERVICE_UNAVAILABLE,
            MarketError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<confide_chain::ChainError> for MarketError {
    /// Clients get the error's code only: its text can hold the node's URL, and with it
    /// an RPC provider's API key. The whole error goes to the log.
    fn from(error: confide_chain::ChainError) -> MarketError {
        tracing::warn!(%error, "a chain read failed");
        MarketError::Chain(error.code().to_owned())
    }
}

impl IntoResponse for MarketError {
    fn into_response(self) -> Response {
        let body = json!({ "ok": false, "error": self.to_string(), "code": self.code() });
        (self.status(), axum::Json(body)).into_response()
    }
}

pub struct MarketState {
    pub db: MarketDb,
    pub poco: Poco,
    /// The newest block the follower has seen; 0 until it runs.
    head: AtomicU64,
    /// Asset owners read at a block: trusted for that block only, so never beyond the
    /// chain's state.
    /// Keyed by kind too: an app's address is no dataset.
    owners: Mutex<HashMap<(AssetKind, Address), (Address, u64)>>,
    /// Login challenges (derived under the database's login key) and the headers verified
    /// here: a client that publishes many orders with one login costs one signature
    /// recovery per replica, not one per request.
    logins: Mutex<login::Logins>,
    pub events: broadcast::Sender<Value>,
    published: AtomicU64,
    refused: AtomicU64,
    /// Registered assets' immutable details, for the explorer (see `explore`).
    assets: Mutex<HashMap<Address, explore::AssetDetails>>,
    /// Where each known workerpool's scheduler answers, for a task's public step.
    schedulers: HashMap<Address, Vec<String>>,
    http: reqwest::Client,
}

impl MarketState {
    pub fn new(db: MarketDb, poco: Poco) -> Arc<MarketState> {
        let logins = login::Logins::new(db.login_key(), poco.connection.chain_id, MAX_SESSIONS);
        let events = broadcast::channel(1024).0;
        if let Some(url) = db.shared_url() {
            tokio::spawn(db::relay_announcements(url.to_owned(), events.clone()));
        }
        Arc::new(MarketState {
            db,
            poco,
            head: AtomicU64::new(0),
            owners: Mutex::new(HashMap::new()),
            logins: Mutex::new(logins),
            events,
            published: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            assets: Mutex::new(HashMap::new()),
            schedulers: HashMap::new(),
            // A scheduler is another party: its redirects are not followed.
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client"),
        })
    }

    /// The same market, told where workerpools' schedulers answer (their task pages then
    /// show each task's step in the scheduler). Call before sharing the state.
    pub fn with_schedulers(mut state: Arc<MarketState>, schedulers: HashMap<Address, Vec<String>>) -> Arc<MarketState> {
        Arc::get_mut(&mut state)
            .expect("schedulers are set before the market state is shared")
            .schedulers = schedulers;
        state
    }

    /// The newest block the follower has applied.
    pub fn head(&self) -> u64 {
        self.head.load(Ordering::Relaxed)
    }

    /// Records the chain head the follower reached; owner look-ups of older blocks expire.
    pub fn set_head(&self, block: u64) {
        self.head.store(block, Ordering::Relaxed);
    }

    fn chain_id(&self) -> u64 {
        self.poco.connection.chain_id
    }

    /// Tells the event streams of a change: this replica's directly, or, on a shared
    /// database, every replica's (this one's too) through Postgres, so each stream sees
    /// each change once, whichever replica made it.
    fn announce(&self, change: Value) {
        if !self.db.announce_to_replicas(change.to_string()) {
            let _ = self.events.send(change);
        }
    }

    fn notify(&self, change: &str, kind: &str, hash: &str, status: &str) {
        self.announce(json!({ "change": change, "kind": kind, "orderHash": hash, "status": status }));
    }

    fn notify_deal(&self, deal_id: &str) {
        self.announce(json!({ "change": "deal", "dealId": deal_id }));
    }

    fn notify_task(&self, task_id: &str, deal_id: &str, status: &str) {
        self.announce(json!({ "change": "task", "taskId": task_id, "dealId": deal_id, "status": status }));
    }
}

pub fn router(state: Arc<MarketState>) -> Router {
    Router::new()
        .route(
            "/health",
            get(|| async { axum::Json(json!({ "ok": true, "status": "ok" })) }),
        )
        .route("/metrics", get(metrics))
        .route("/challenge", get(challenge))
        .route("/events", get(events))
        .route("/{kind}", get(list).post(publish).put(unpublish))
        .route("/{kind}/{hash}", get(one))
        .merge(explore::routes())
        .merge(page::routes())
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
}

async fn metrics(State(state): State<Arc<MarketState>>) -> String {
    format!(
        "# TYPE market_orders_published_total counter\nmarket_orders_published_total {}\n# TYPE market_requests_refused_total counter\nmarket_requests_refused_total {}\n",
        state.published.load(Ordering::Relaxed),
        state.refused.load(Ordering::Relaxed)
    )
}

fn kind_of(path: &str) -> Result<OrderKind, MarketError> {
    match path {
        "apporders" => Ok(OrderKind::App),
        "datasetorders" => Ok(OrderKind::Dataset),
        "workerpoolorders" => Ok(OrderKind::Workerpool),
        "requestorders" => Ok(OrderKind::Request),
        _ => Err(MarketError::NotFound),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChainQuery {
    chain_id: Option<String>,
    address: Option<String>,
}

fn check_chain(state: &MarketState, chain_id: &Option<String>) -> Result<(), MarketError> {
    match chain_id.as_deref().map(str::parse::<u64>) {
        Some(Ok(id)) if id == state.chain_id() => Ok(()),
        None => Err(MarketError::BadRequest("chainId is required".into())),
        _ => Err(MarketError::WrongChain(state.chain_id())),
    }
}

/// `GET /challenge?chainId&address`: the address's login challenge as EIP-712 typed data.
async fn challenge(
    State(state): State<Arc<MarketState>>,
    Query(q): Query<ChainQuery>,
) -> Result<Response, MarketError> {
    check_chain(&state, &q.chain_id)?;
    let address: Address = q
        .address
        .as_deref()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| MarketError::BadRequest("address is required".into()))?;
    let text = state.logins.lock().await.challenge(address, unix_now());
    Ok(axum::Json(
        json!({ "ok": true, "data": confide_protocol::market::challenge_typed_data(state.chain_id(), &text) }),
    )
    .into_response())
}

/// Checks `Authorization: <digest>_<signature>_<address>` against the address's challenges.
async fn authenticate(state: &MarketState, headers: &HeaderMap) -> Result<Address, MarketError> {
    let header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or(MarketError::Unauthorized)?;
    state
        .logins
        .lock()
        .await
        .authenticate(header, unix_now())
        .map_err(|_| MarketError::Unauthorized)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishBody {
    order: Value,
}

/// Addresses as the market stores and compares them.
pub(crate) fn lower(address: Address) -> String {
    address.to_string().to_lowercase()
}

fn small(value: U256, what: &str) -> Result<i64, MarketError> {
    i64::try_from(value).map_err(|_| MarketError::BadRequest(format!("{what} is too large")))
}

pub(crate) fn tag_bits(tag: confide_protocol::Tag) -> i64 {
    i64::from_be_bytes(tag.0[24..].try_into().expect("8 bytes")) & i64::MAX
}

/// The row for an order, after the checks every order kind shares.
async fn checked_row<O: Order + serde::Serialize>(
    state: &MarketState,
    order: &O,
    owner: Address,
    price: U256,
    tag: confide_protocol::Tag,
    category: U256,
    parties: [Address; 4],
) -> Result<Row_, MarketError> {
    let domain = state.poco.domain();
    let hash = order.hash(&domain);
    if order.volume().is_zero() {
        return Err(MarketError::BadRequest("volume must be more than zero".into()));
    }
    if order.recover_signer(&domain) != Some(owner) {
        return Err(MarketError::BadSignature(owner.to_string()));
    }
    let consumed = state.poco.consumed(hash).await.map_err(MarketError::from)?;
    let remaining = order.volume().saturating_sub(consumed);
    if remaining.is_zero() {
        return Err(MarketError::NoVolume);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    Ok(Row_ {
        hash: hash.to_string(),
        kind: O::KIND.json_key().to_owned(),
        subject: lower(order.subject()),
        signer: lower(owner),
        price: small(price, "the price")?,
        tag_bits: tag_bits(tag),
        category: small(category, "the category")?,
        volume: small(order.volume(), "the volume").unwrap_or(i64::MAX),
        remaining: i64::try_from(remaining).unwrap_or(i64::MAX),
        status: "open".into(),
        app: lower(parties[0]),
        dataset: lower(parties[1]),
        workerpool: lower(parties[2]),
        requester: lower(parties[3]),
        order_json: serde_json::to_string(order).expect("orders serialize"),
        published_ms: now,
    })
}

/// The asset's owner on chain, from the cache when it was read at the current head.
async fn asset_owner(state: &MarketState, kind: AssetKind, asset: Address) -> Result<Address, MarketError> {
    let head = state.head.load(Ordering::Relaxed);
    if head != 0
        && let Some((owner, at)) = state.owners.lock().await.get(&(kind, asset)).copied()
        && at == head
    {
        return Ok(owner);
    }
    // Only an asset of PoCo's registry for its kind: any other contract can have an
    // `owner()` its deployer answers for (the hub itself, a token, a look-alike).
    let chain_error = MarketError::from;
    if !state.poco.is_registered(kind, asset).await.map_err(chain_error)? {
        return Err(MarketError::UnknownAsset(asset));
    }
    let owner = state
        .poco
        .contract_owner(asset)
        .await
        .map_err(MarketError::from)?
        .ok_or(MarketError::UnknownAsset(asset))?;
    if head != 0 {
        let mut owners = state.owners.lock().await;
        owners.retain(|_, (_, at)| *at == head);
        owners.insert((kind, asset), (owner, head));
    }
    Ok(owner)
}

fn parse_order<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, MarketError> {
    serde_json::from_value(value).map_err(|e| MarketError::BadRequest(format!("invalid order: {e}")))
}

/// Builds the row for any order kind; app, dataset and workerpool orders are owned by the
/// asset's on-chain owner, request orders by their requester.
async fn row_for(state: &MarketState, kind: OrderKind, value: Value) -> Result<Row_, MarketError> {
    match kind {
        OrderKind::App => {
            let o: AppOrder = parse_order(value)?;
            let owner = asset_owner(state, AssetKind::App, o.app).await?;
            checked_row(
                state,
                &o,
                owner,
                o.appprice,
                o.tag,
                U256::ZERO,
                [o.app, o.datasetrestrict, o.workerpoolrestrict, o.requesterrestrict],
            )
            .await
        }
        OrderKind::Dataset => {
            let o: DatasetOrder = parse_order(value)?;
            let owner = asset_owner(state, AssetKind::Dataset, o.dataset).await?;
            checked_row(
                state,
                &o,
                owner,
                o.datasetprice,
                o.tag,
                U256::ZERO,
                [o.apprestrict, o.dataset, o.workerpoolrestrict, o.requesterrestrict],
            )
            .await
        }
        OrderKind::Workerpool => {
            let o: WorkerpoolOrder = parse_order(value)?;
            let owner = asset_owner(state, AssetKind::Workerpool, o.workerpool).await?;
            checked_row(
                state,
                &o,
                owner,
                o.workerpoolprice,
                o.tag,
                o.category,
                [o.apprestrict, o.datasetrestrict, o.workerpool, o.requesterrestrict],
            )
            .await
        }
        OrderKind::Request => {
            let o: RequestOrder = parse_order(value)?;
            if o.params.len() > MAX_PARAMS_BYTES {
                return Err(MarketError::BadRequest(format!(
                    "params exceed {MAX_PARAMS_BYTES} bytes"
                )));
            }
            let price = o.appmaxprice + o.datasetmaxprice + o.workerpoolmaxprice;
            checked_row(
                state,
                &o,
                o.requester,
                price,
                o.tag,
                o.category,
                [o.app, o.dataset, o.workerpool, o.requester],
            )
            .await
        }
    }
}

fn published_json(row: &Row_) -> Value {
    let order: Value = serde_json::from_str(&row.order_json).unwrap_or(Value::Null);
    json!({
        "orderHash": row.hash,
        "chainId": Value::Null,
        "order": order,
        "remaining": row.remaining,
        "status": row.status,
        "signer": row.signer,
        "publicationTimestamp": row.published_ms,
    })
}

async fn publish(
    State(state): State<Arc<MarketState>>,
    Path(kind): Path<String>,
    Query(q): Query<ChainQuery>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, MarketError> {
    let result = async {
        let kind = kind_of(&kind)?;
        check_chain(&state, &q.chain_id)?;
        authenticate(&state, &headers).await?;
        let body: PublishBody =
            serde_json::from_slice(&body).map_err(|e| MarketError::BadRequest(format!("invalid body: {e}")))?;
        let row = row_for(&state, kind, body.order).await?;
        if !state.db.insert(&row, state.chain_id()).await? {
            return Err(MarketError::Duplicate);
        }
        state.published.fetch_add(1, Ordering::Relaxed);
        state.notify("published", &row.kind, &row.hash, "open");
        Ok(axum::Json(json!({ "ok": true, "published": published_json(&row) })).into_response())
    }
    .await;
    if result.is_err() {
        state.refused.fetch_add(1, Ordering::Relaxed);
    }
    result
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UnpublishBody {
    target: String,
    order_hash: Option<B256>,
    app: Option<Address>,
    dataset: Option<Address>,
    workerpool: Option<Address>,
    requester: Option<Address>,
}

async fn unpublish(
    State(state): State<Arc<MarketState>>,
    Path(kind): Path<String>,
    Query(q): Query<ChainQuery>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<UnpublishBody>,
) -> Result<Response, MarketError> {
    let kind = kind_of(&kind)?;
    check_chain(&state, &q.chain_id)?;
    let caller = lower(authenticate(&state, &headers).await?);
    let key = kind.json_key();
    let rows: Vec<Row_> = match body.target.as_str() {
        "unpublish_orderHash" => {
            let hash = body
                .order_hash
                .ok_or_else(|| MarketError::BadRequest("orderHash is required".into()))?;
            let row = state
                .db
                .get(key, &hash.to_string())
                .await?
                .filter(|r| r.status == "open")
                .ok_or(MarketError::NotFound)?;
            vec![row]
        }
        "unpublish_last" | "unpublish_all" => {
            let subject = [body.app, body.dataset, body.workerpool, body.requester]
                .into_iter()
                .flatten()
                .next()
                .ok_or_else(|| MarketError::BadRequest("the asset (or requester) address is required".into()))?;
            let mut rows = state.db.open_of(key, &lower(subject)).await?;
            rows.retain(|r| r.signer == caller);
            if body.target == "unpublish_last" {
                rows.truncate(1);
            }
            if rows.is_empty() {
                return Err(MarketError::NotFound);
            }
            rows
        }
        other => return Err(MarketError::BadRequest(format!("unknown target `{other}`"))),
    };
    if rows.iter().any(|r| r.signer != caller) {
        return Err(MarketError::NotYours);
    }
    for row in &rows {
        state.db.set_status(&row.hash, "unpublished", row.remaining).await?;
        state.notify("unpublished", key, &row.hash, "unpublished");
    }
    let hashes: Vec<&str> = rows.iter().map(|r| r.hash.as_str()).collect();
    Ok(axum::Json(json!({ "ok": true, "unpublished": hashes })).into_response())
}

async fn one(
    State(state): State<Arc<MarketState>>,
    Path((kind, hash)): Path<(String, String)>,
    Query(q): Query<ChainQuery>,
) -> Result<Response, MarketError> {
    let kind = kind_of(&kind)?;
    check_chain(&state, &q.chain_id)?;
    let row = state
        .db
        .get(kind.json_key(), &hash.to_lowercase())
        .await?
        .ok_or(MarketError::NotFound)?;
    let mut value = published_json(&row);
    value["ok"] = json!(true);
    Ok(axum::Json(value).into_response())
}

fn parse_address(value: &Option<String>, name: &str) -> Result<Option<String>, MarketError> {
    match value.as_deref() {
        None | Some("") | Some("any") => Ok(None),
        Some(text) => text
            .parse::<Address>()
            .map(|a| Some(lower(a)))
            .map_err(|_| MarketError::BadRequest(format!("{name} is not an address"))),
    }
}

fn parse_tag(value: &Option<String>) -> Result<Option<i64>, MarketError> {
    value
        .as_deref()
        .map(|t| {
            t.parse::<confide_protocol::Tag>()
                .map(tag_bits)
                .map_err(|e| MarketError::BadRequest(e.to_string()))
        })
        .transpose()
}

async fn list(
    State(state): State<Arc<MarketState>>,
    Path(kind): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, MarketError> {
    let kind = kind_of(&kind)?;
    check_chain(&state, &q.get("chainId").cloned())?;
    let get = |name: &str| q.get(name).cloned();
    let strict = |name: &str| get(name).as_deref() == Some("true");
    let number = |name: &str, default: i64| -> Result<i64, MarketError> {
        get(name)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| MarketError::BadRequest(format!("{name} must be a number")))
            })
            .transpose()
            .map(|v| v.unwrap_or(default))
    };
    let subject_name = match kind {
        OrderKind::App => "app",
        OrderKind::Dataset => "dataset",
        OrderKind::Workerpool => "workerpool",
        OrderKind::Request => "requester",
    };
    let mut filter = Filter {
        kind: kind.json_key().to_owned(),
        subject: parse_address(&get(subject_name), subject_name)?,
        min_tag: parse_tag(&get("minTag"))?.unwrap_or(0),
        max_tag: parse_tag(&get("maxTag"))?,
        category: get("category")
            .map(|c| {
                c.parse()
                    .map_err(|_| MarketError::BadRequest("category must be a number".into()))
            })
            .transpose()?,
        min_volume: number("minVolume", 0)?,
        page_size: number("pageSize", 20)?.clamp(1, 1000),
        // Bounded so that the row offset (size × index) and the next page's end cannot
        // overflow: a request controls both.
        page_index: match number("pageIndex", 0)? {
            index @ 0..=MAX_PAGE_INDEX => index,
            _ => {
                return Err(MarketError::BadRequest(format!(
                    "pageIndex must be between 0 and {MAX_PAGE_INDEX}"
                )));
            }
        },
        parties: Vec::new(),
    };
    for (name, column, strict_flag) in [
        ("app", "app", "isAppStrict"),
        ("dataset", "dataset", "isDatasetStrict"),
        ("workerpool", "workerpool", "isWorkerpoolStrict"),
        ("requester", "requester", "isRequesterStrict"),
    ] {
        if name == subject_name {
            continue;
        }
        if let Some(address) = parse_address(&get(name), name)? {
            filter.parties.push((column, address, strict(strict_flag)));
        }
    }
    let (rows, count) = state.db.list(&filter).await?;
    let orders: Vec<Value> = rows.iter().map(published_json).collect();
    let capped = count >= db::COUNT_CAP;
    let mut body = json!({ "ok": true, "count": count, "countIsCapped": capped, "orders": orders });
    // Past the cap the count says "at least": a full page may have more behind it.
    let full_page = rows.len() as i64 == filter.page_size;
    if (filter.page_index + 1) * filter.page_size < count || (capped && full_page) {
        body["nextPage"] = json!(filter.page_index + 1);
    }
    Ok(axum::Json(body).into_response())
}

/// Server-sent events: one JSON message per order book change.
async fn events(State(state): State<Arc<MarketState>>) -> impl IntoResponse {
    use futures::StreamExt;
    let stream = tokio_stream::wrappers::BroadcastStream::new(state.events.subscribe())
        .filter_map(|message| async move { message.ok() })
        .map(|value| Ok::<_, std::convert::Infallible>(Event::default().data(value.to_string())));
    Sse::new(stream).keep_alive(KeepAlive::default())
}
