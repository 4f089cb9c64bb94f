//! Confide's marketplace: an order book with iExec's market API (so iExec's SDK publishes
//! to it and browses it), in step with the chain.
//!
//! Orders authenticate themselves: on publish the market recovers the EIP-712 signer under
//! the configured chain's domain, checks it owns the asset on chain (or is the requester),
//! that the order has volume left on chain, and refuses duplicates. A follower applies
//! `OrdersMatched` and order-closing events, so statuses move `open` → `filled` | `canceled`
//! without a client asking. Clients must still re-check orders: the market is untrusted
//! storage. It must never accept an order the chain would reject for its signature.
//!
//! Given a DataProtector contract's address ([`MarketState::with_data_protector`]), the
//! follower also records the protected data it creates, served to iExec's DataProtector
//! SDK at `/graphql/dataprotector` in the shape of iExec's subgraph (with the few PoCo
//! subgraph queries the SDK makes at `/graphql/poco`) and to people at `/protected-data`.

mod auth;
mod book;
mod bulk;
pub mod db;
mod error;
pub mod explore;
pub mod follow;
mod graphql;
pub mod limits;
pub mod login;
mod page;
mod protected;
mod publish;

pub use error::MarketError;

use auth::{authenticate, challenge};
use book::{list, one};
use publish::{publish, unpublish};

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

use crate::db::{Filter, MarketDb, OrderStatus, StoredOrder};

/// Largest `params` of a request order, as iExec's market limits it.
pub const MAX_PARAMS_BYTES: usize = 4096;
/// Verified login headers each replica remembers (beyond, they are verified again).
pub const MAX_SESSIONS: usize = 100_000;
/// Open orders of one kind one signer may have in the book: more than a bulk of ten
/// thousand protected data needs, few enough that no wallet fills the book.
pub const MAX_OPEN_ORDERS_PER_SIGNER: i64 = 10_000;
/// The last page a book query may ask for (with 1000 orders a page, a billion rows in).
const MAX_PAGE_INDEX: i64 = 1_000_000;

/// What every request handler and the follower share: the book, the chain, the logins and
/// the event stream.
pub struct MarketState {
    /// The order book and the follower's records, in SQLite or Postgres.
    pub db: MarketDb,
    /// The chain the market checks orders against and follows (reads only).
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
    /// Changes to orders, deals and tasks as JSON (`{"change":…}`), relayed to `/events` subscribers.
    pub events: broadcast::Sender<Value>,
    published: AtomicU64,
    refused: AtomicU64,
    /// Registered assets' immutable details, for the explorer (see `explore`).
    assets: Mutex<HashMap<Address, explore::AssetDetails>>,
    /// Where each known workerpool's scheduler answers, for a task's public step.
    schedulers: HashMap<Address, Vec<String>>,
    /// The DataProtector contract whose `DatasetSchema` events the follower records as
    /// protected data (`--dataprotector`); none: no protected data are recorded.
    data_protector: Option<Address>,
    /// Bulk deals' slices, read through the IPFS gateways (`--ipfs-gateway`).
    bulk: bulk::BulkSlices,
    http: reqwest::Client,
    /// Each client's rates and event streams (`with_client_limits`); none: unlimited.
    limiter: Option<Arc<limits::Limiter>>,
    /// The explorer's answers of the last few seconds.
    explorer_cache: limits::ExplorerCache,
    /// Open orders of one kind a signer may have ([`MAX_OPEN_ORDERS_PER_SIGNER`]).
    max_open_orders: i64,
}

impl MarketState {
    /// The state of a market on `db` checking orders against `poco`; on a shared Postgres
    /// it also starts relaying the other replicas' announcements to `events`.
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
            data_protector: None,
            bulk: bulk::BulkSlices::new(confide_gateway::Gateways::new(Vec::new())),
            // A scheduler is another party: its redirects are not followed.
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client"),
            limiter: None,
            explorer_cache: limits::ExplorerCache::default(),
            max_open_orders: MAX_OPEN_ORDERS_PER_SIGNER,
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

    /// The same market, limiting what each client may spend (`market serve` does, with
    /// [`limits::ClientLimits::default`] unless told otherwise). Call before sharing the state.
    pub fn with_client_limits(mut state: Arc<MarketState>, client_limits: limits::ClientLimits) -> Arc<MarketState> {
        Arc::get_mut(&mut state)
            .expect("limits are set before the market state is shared")
            .limiter = Some(Arc::new(limits::Limiter::new(client_limits)));
        state
    }

    /// The same market, with another cap on a signer's open orders of one kind. Call
    /// before sharing the state.
    pub fn with_max_open_orders(mut state: Arc<MarketState>, max: i64) -> Arc<MarketState> {
        Arc::get_mut(&mut state)
            .expect("the cap is set before the market state is shared")
            .max_open_orders = max;
        state
    }

    /// The same market, told the IPFS gateways it reads bulk requests' slices through
    /// (for `/graphql/poco`'s `bulkSlice`). Call before sharing the state.
    pub fn with_ipfs_gateways(mut state: Arc<MarketState>, gateways: Vec<String>) -> Arc<MarketState> {
        Arc::get_mut(&mut state)
            .expect("gateways are set before the market state is shared")
            .bulk = bulk::BulkSlices::new(confide_gateway::Gateways::new(gateways));
        state
    }

    /// The same market, told the DataProtector contract whose protected data it records
    /// and serves (at `/graphql/dataprotector` and `/protected-data`). Call before sharing
    /// the state and starting the follower.
    pub fn with_data_protector(mut state: Arc<MarketState>, address: Address) -> Arc<MarketState> {
        Arc::get_mut(&mut state)
            .expect("the DataProtector is set before the market state is shared")
            .data_protector = Some(address);
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

    fn notify_protected_data(&self, address: &str) {
        self.announce(json!({ "change": "protectedData", "address": address }));
    }
}

/// The market's HTTP API: iExec's order-book routes, `/challenge`, `/events`, the
/// explorer's read API, the web page, `/health` and `/metrics`.
pub fn router(state: Arc<MarketState>) -> Router {
    Router::new()
        .route(
            "/health",
            get(|| async { axum::Json(json!({ "ok": true, "status": "ok" })) }),
        )
        .route("/metrics", get(metrics))
        .route("/challenge", get(challenge))
        .route("/events", get(events))
        .route("/deals", get(book::deals))
        .route("/{kind}", get(list).post(publish).put(unpublish))
        .route("/{kind}/{hash}", get(one))
        .merge(explore::routes().route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::cache_explorer,
        )))
        .merge(protected::routes())
        .merge(graphql::routes())
        .merge(page::routes())
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::limit_clients,
        ))
        .with_state(state)
}

async fn metrics(State(state): State<Arc<MarketState>>) -> String {
    format!(
        "# TYPE market_orders_published_total counter\nmarket_orders_published_total {}\n# TYPE market_requests_refused_total counter\nmarket_requests_refused_total {}\n# TYPE market_rate_limited_total counter\nmarket_rate_limited_total {}\n",
        state.published.load(Ordering::Relaxed),
        state.refused.load(Ordering::Relaxed),
        state.limiter.as_ref().map_or(0, |l| l.refused.load(Ordering::Relaxed))
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

/// Addresses as the market stores and compares them.
pub(crate) fn lower(address: Address) -> String {
    address.to_string().to_lowercase()
}

pub(crate) fn tag_bits(tag: confide_protocol::Tag) -> i64 {
    i64::from_be_bytes(tag.0[24..].try_into().expect("8 bytes")) & i64::MAX
}

/// A stored order as the API shows it (iExec's shape).
fn published_json(row: &StoredOrder) -> Value {
    let order: Value = serde_json::from_str(&row.order_json).unwrap_or(Value::Null);
    let mut value = json!({
        "orderHash": row.hash,
        "chainId": Value::Null,
        "order": order,
        "remaining": row.remaining,
        "status": row.status.as_str(),
        "signer": row.signer,
        "publicationTimestamp": row.published_ms,
    });
    // iExec's market marks the dataset orders meant for bulk processing.
    if row.kind == "datasetorder" {
        value["bulk"] = json!(row.volume >= db::BULK_VOLUME && row.price == 0);
    }
    value
}

/// Server-sent events: one JSON message per order book change. Streams are held open,
/// so each client has a few and the market a bounded number (see `limits`).
async fn events(State(state): State<Arc<MarketState>>, request: axum::extract::Request) -> Response {
    use futures::StreamExt;
    let guard = match &state.limiter {
        Some(limiter) => match limiter.open_stream(limits::client_of(&request)) {
            Some(guard) => Some(guard),
            None => return limits::rate_limited("event streams"),
        },
        None => None,
    };
    let stream = tokio_stream::wrappers::BroadcastStream::new(state.events.subscribe())
        .filter_map(|message| async move { message.ok() })
        .map(move |value| {
            // The stream owns its place: it is given back when the client goes.
            let _held = &guard;
            Ok::<_, std::convert::Infallible>(Event::default().data(value.to_string()))
        });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}
