//! Protected data: PoCo datasets created through a DataProtector contract (iExec's ABI),
//! which announces each one's schema in `DatasetSchema(dataset, schema)`. When the market
//! is given the DataProtector's address, the follower records each protected data as
//! iExec's DataProtector subgraph does (the dataset's name, owner, multiaddr and checksum
//! read from PoCo, the schema flattened into `path:type` entries, the creating block and
//! transaction), keeps its owner in step with the dataset registry's transfers, and
//! undoes both when a reorg takes their blocks away. They are served to iExec's SDK at
//! `/graphql/dataprotector` (`graphql`) and to people at `/protected-data` (here).
//!
//! Bounds: a protected data whose schema text passes [`MAX_SCHEMA_BYTES`] or
//! [`MAX_ENTRIES`] entries, or whose name or multiaddr passes [`MAX_FIELD_BYTES`], is not
//! recorded (logged): every answer that lists it would carry it, up to a thousand times.
//! No real schema comes near (iExec's SDK writes one entry per key of the data).

pub(crate) mod query;
pub(crate) mod schema;
pub(crate) mod store;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use confide_chain::{Address, PocoLog};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{MarketError, MarketState, lower};
use store::ProtectedDataRow;

/// The longest schema text recorded.
pub(crate) const MAX_SCHEMA_BYTES: usize = 16 * 1024;
/// The most schema entries recorded for one protected data.
pub(crate) const MAX_ENTRIES: usize = 128;
/// The longest name or multiaddr recorded.
pub(crate) const MAX_FIELD_BYTES: usize = 4096;
/// Chain reads tried this many times before the follower gives an event up.
const CHAIN_TRIES: u32 = 3;
/// Deals and tasks listed on a protected data's page.
const DEALS_SHOWN: i64 = 50;
const TASKS_SHOWN: usize = 100;
/// Protected data listed by `GET /protected-data` per page, by default and at most.
const LIST_DEFAULT: i32 = 20;
const LIST_MAX: i32 = 100;

/// Retries a chain read a few times: an event given up is not seen again (the cursor
/// moves on), so a passing failure of the node must not lose a protected data.
async fn with_retries<T, F>(what: &str, read: impl Fn() -> F) -> Result<T, MarketError>
where
    F: std::future::Future<Output = Result<T, confide_chain::ChainError>>,
{
    let mut attempt = 0;
    loop {
        match read().await {
            Ok(value) => return Ok(value),
            Err(error) if attempt + 1 < CHAIN_TRIES && error.code() == "CHAIN_UNREACHABLE" => {
                attempt += 1;
                tracing::debug!(%error, what, attempt, "retrying a chain read");
                tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
            }
            Err(error) => return Err(MarketError::from(error)),
        }
    }
}

/// Records the protected data a `DatasetSchema` event announces, or forgets it when a
/// reorg removed the event's block.
pub(crate) async fn apply_schema(
    state: &MarketState,
    log: &PocoLog,
    dataset: Address,
    json_schema: &str,
) -> Result<(), MarketError> {
    let id = lower(dataset);
    if log.removed {
        if store::forget(state.db.pool(), &id).await? {
            state.notify_protected_data(&id);
        }
        return Ok(());
    }
    let entries = schema::entries(json_schema);
    if json_schema.len() > MAX_SCHEMA_BYTES || entries.len() > MAX_ENTRIES {
        tracing::warn!(%dataset, bytes = json_schema.len(), entries = entries.len(), "a protected data's schema is too large to record");
        return Ok(());
    }
    // Each read owns its client: a future borrowing `state` would not be `Send` for every
    // lifetime, and the follower runs in a spawned task.
    let registered = with_retries("check a dataset", || {
        let poco = state.poco.clone();
        async move { poco.is_registered(confide_chain::AssetKind::Dataset, dataset).await }
    })
    .await?;
    if !registered {
        tracing::warn!(%dataset, "a DatasetSchema event names no registered dataset");
        return Ok(());
    }
    let info = with_retries("read a dataset", || {
        let poco = state.poco.clone();
        async move { poco.dataset(dataset).await }
    })
    .await?;
    if info.name.len() > MAX_FIELD_BYTES || info.multiaddr.len() > MAX_FIELD_BYTES {
        tracing::warn!(%dataset, "a protected data's name or multiaddr is too large to record");
        return Ok(());
    }
    let row = ProtectedDataRow {
        id: id.clone(),
        name: info.name,
        owner: lower(info.owner),
        json_schema: json_schema.to_owned(),
        entries: entries.iter().map(schema::Entry::id).collect(),
        multiaddr: info.multiaddr.to_string(),
        checksum: info.checksum.to_string(),
        creation_timestamp: log
            .block_timestamp
            .and_then(|t| i64::try_from(t).ok())
            .unwrap_or_default(),
        transaction_hash: log.transaction_hash.to_string(),
        block_number: i64::try_from(log.block_number).unwrap_or(i64::MAX),
    };
    store::put(state.db.pool(), &row).await?;
    state.notify_protected_data(&id);
    Ok(())
}

/// A dataset changed hands (or a reorg took a transfer away): if it is a recorded
/// protected data, its owner is read again from the chain.
pub(crate) async fn refresh_owner(state: &MarketState, dataset: Address) -> Result<(), MarketError> {
    let id = lower(dataset);
    if !store::known(state.db.pool(), &id).await? {
        return Ok(());
    }
    let info = with_retries("read a dataset's owner", || {
        let poco = state.poco.clone();
        async move { poco.dataset(dataset).await }
    })
    .await?;
    store::set_owner(state.db.pool(), &id, &lower(info.owner)).await?;
    state.notify_protected_data(&id);
    Ok(())
}

pub(crate) fn routes() -> Router<Arc<MarketState>> {
    Router::new()
        .route("/protected-data", get(list))
        .route("/protected-data/{address}", get(one))
}

/// Bytes that are text (a URL) as text, anything else (a binary multiaddr) as hex.
fn readable(hex: &str) -> String {
    let bytes = confide_chain::hex::decode(hex).unwrap_or_default();
    match std::str::from_utf8(&bytes) {
        Ok(text) if !text.is_empty() && !text.chars().any(char::is_control) => text.to_owned(),
        _ => hex.to_owned(),
    }
}

/// A protected data as the explorer's API shows it.
fn summary(row: &ProtectedDataRow) -> Value {
    let entries: Vec<Value> = row
        .entries
        .iter()
        .filter_map(|id| schema::Entry::parse(id))
        .map(|e| json!({ "path": e.path, "type": e.kind }))
        .collect();
    json!({
        "address": row.id,
        "name": row.name,
        "owner": row.owner,
        "schema": entries,
        "multiaddr": readable(&row.multiaddr),
        "checksum": row.checksum,
        "creationTimestamp": row.creation_timestamp,
        "transactionHash": row.transaction_hash,
        "blockNumber": row.block_number,
    })
}

#[derive(Deserialize)]
struct ListQuery {
    owner: Option<String>,
    /// `path:type` entries, comma-separated: every one must be in the schema.
    schema: Option<String>,
    skip: Option<i32>,
    first: Option<i32>,
}

/// The columns the explorer's list shows: all but the schema's text.
fn explorer_fields() -> query::Fields {
    query::Fields {
        json_schema: false,
        ..query::Fields::ALL
    }
}

/// `GET /protected-data?owner=&schema=path:type,…&skip=&first=`: the newest protected data
/// first, filtered by owner and schema entries.
async fn list(State(state): State<Arc<MarketState>>, Query(q): Query<ListQuery>) -> Result<Response, MarketError> {
    let owner = crate::book::parse_address(&q.owner, "owner")?;
    let entries: Vec<String> = q
        .schema
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(bad) = entries.iter().find(|e| schema::Entry::parse(e).is_none()) {
        return Err(MarketError::BadRequest(format!(
            "`{bad}` is not a schema entry: write path:type, such as email:string"
        )));
    }
    let first = q.first.unwrap_or(LIST_DEFAULT);
    if !(1..=LIST_MAX).contains(&first) {
        return Err(MarketError::BadRequest(format!(
            "first must be between 1 and {LIST_MAX}"
        )));
    }
    let filter = query::Filter {
        owner,
        schema_contains: (!entries.is_empty()).then_some(entries),
        ..Default::default()
    };
    let query = query::Query::new(
        Some(filter),
        Some(query::OrderBy::CreationTimestamp),
        Some(query::Direction::Desc),
        // One more than shown: whether a next page exists.
        Some(first + 1),
        q.skip,
    )
    .map_err(MarketError::BadRequest)?;
    let mut rows = match store::find(state.db.pool(), state.db.is_postgres(), &query, explorer_fields()).await {
        Ok(rows) => rows,
        Err(store::FindError::Refused(message)) => return Err(MarketError::BadRequest(message)),
        Err(store::FindError::Storage(error)) => return Err(error),
    };
    let more = rows.len() > first as usize;
    rows.truncate(first as usize);
    let mut body = json!({
        "ok": true,
        "followed": state.data_protector.map(lower),
        "protectedData": rows.iter().map(summary).collect::<Vec<_>>(),
    });
    if more {
        body["nextSkip"] = json!(query.skip + i64::from(first));
    }
    Ok(axum::Json(body).into_response())
}

/// `GET /protected-data/{address}`: one protected data with its schema as a tree, its
/// grants (the dataset's open orders: who may use it, how often more), and the deals and
/// tasks that used it.
async fn one(State(state): State<Arc<MarketState>>, Path(address): Path<String>) -> Result<Response, MarketError> {
    let address: Address = address
        .parse()
        .map_err(|_| MarketError::BadRequest("not an address: 0x followed by 40 hex digits".into()))?;
    let id = lower(address);
    let row = store::get(state.db.pool(), &id)
        .await?
        .ok_or_else(|| MarketError::NotOnChain(format!("no protected data {id} recorded by this market")))?;
    let entries: Vec<schema::Entry> = row.entries.iter().filter_map(|e| schema::Entry::parse(e)).collect();
    let mut data = summary(&row);
    data["schemaTree"] = schema::tree(&entries);
    data["jsonSchema"] = json!(row.json_schema);
    let grants: Vec<Value> = state
        .db
        .open_of("datasetorder", &id)
        .await?
        .iter()
        .map(|order| {
            let signed: Value = serde_json::from_str(&order.order_json).unwrap_or(Value::Null);
            json!({
                "orderHash": order.hash,
                "app": signed["apprestrict"],
                "workerpool": signed["workerpoolrestrict"],
                "requester": signed["requesterrestrict"],
                "price": signed["datasetprice"],
                "volume": signed["volume"],
                "remaining": order.remaining,
                "tag": signed["tag"],
                "bulk": order.volume >= crate::db::BULK_VOLUME && order.price == 0,
                "publicationTimestamp": order.published_ms,
            })
        })
        .collect();
    let deals = state.db.deals_of(&id, DEALS_SHOWN).await?;
    let deal_ids: Vec<String> = deals.iter().map(|d| d.deal_id.clone()).collect();
    let tasks: Vec<Value> = state
        .db
        .tasks_of_deals(&deal_ids, TASKS_SHOWN)
        .await?
        .iter()
        .map(|t| json!({ "taskId": t.task_id, "dealId": t.deal_id, "status": t.status }))
        .collect();
    Ok(axum::Json(json!({
        "ok": true,
        "protectedData": data,
        "grants": grants,
        "deals": deals,
        "tasks": tasks,
    }))
    .into_response())
}
