//! GraphQL endpoints shaped like the two subgraphs iExec's DataProtector SDK queries, so it
//! works against the market without a graph-node:
//!
//! - `POST /graphql/dataprotector` (and `GET ?query=`): iExec's DataProtector subgraph's
//!   `protectedDatas(where, skip, first, orderBy, orderDirection)`, `protectedData(id)`
//!   and `_meta`, over the protected data the follower records (`protected`);
//! - `POST /graphql/poco`: the part of iExec's PoCo subgraph the SDK reads,
//!   `deals(where: {requestorder}) { id tasks { id bulkSlice { datasets { id } } } }`,
//!   over the deals the follower records (`bulkSlice` read from the bulk request's
//!   slices through the IPFS gateways, see `bulk`).
//!
//! The wire follows graph-node: the body is `{query, variables, operationName}`; the
//! answer is `{data, errors}` with HTTP 200 whenever the body was GraphQL at all (a query
//! refused for its shape, its cost or its arguments is a GraphQL error); The Graph's
//! scalars (`Bytes` as `0x` hex, `BigInt` as decimal strings). Answers carry
//! `Access-Control-Allow-Origin: *`, as graph-node's do, for dapps in browsers.
//!
//! Bounds: the body (the router's 64 KiB), the query's depth ([`MAX_DEPTH`]) and
//! complexity (each field costs 1, a list costs its `first` times its fields:
//! [`MAX_COMPLEXITY`] allows one full page of a thousand protected data), `first` ≤ 1000
//! and `skip` ≤ 5000 (The Graph's), the filter's size (`protected::query`), and
//! [`TIMEOUT`] per request.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_graphql::{
    Context, EmptyMutation, EmptySubscription, ID, InputObject, Object, Schema, SimpleObject, Variables,
};
use axum::Router;
use axum::body::Bytes as Body;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::MarketState;
use crate::protected::query::{self as pq, BigInt, Bytes};
use crate::protected::schema::Entry;
use crate::protected::store::{self, FindError, ProtectedDataRow};

/// The deepest selection a query may nest (iExec's queries nest 3 to 5 deep).
pub(crate) const MAX_DEPTH: usize = 10;
/// The most a query may cost; see the module's notes.
pub(crate) const MAX_COMPLEXITY: usize = 20_000;
/// The PoCo endpoint's bound: iExec's SDK asks for deals and their tasks without `first`,
/// so 100 × 100 tasks × a few fields.
pub(crate) const MAX_POCO_COMPLEXITY: usize = 60_000;
/// How long one request may run.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

type DataProtectorSchema = Schema<DataProtectorQuery, EmptyMutation, EmptySubscription>;
type PocoSchema = Schema<PocoQuery, EmptyMutation, EmptySubscription>;

static DATA_PROTECTOR: LazyLock<DataProtectorSchema> = LazyLock::new(|| {
    Schema::build(DataProtectorQuery, EmptyMutation, EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .finish()
});

static POCO: LazyLock<PocoSchema> = LazyLock::new(|| {
    Schema::build(PocoQuery, EmptyMutation, EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_POCO_COMPLEXITY)
        .finish()
});

pub(crate) fn routes() -> Router<Arc<MarketState>> {
    Router::new()
        .route(
            "/graphql/dataprotector",
            get(|state, query| over_get(&*DATA_PROTECTOR, state, query))
                .post(|state, body| over_post(&*DATA_PROTECTOR, state, body))
                .options(preflight),
        )
        .route(
            "/graphql/poco",
            get(|state, query| over_get(&*POCO, state, query))
                .post(|state, body| over_post(&*POCO, state, body))
                .options(preflight),
        )
}

fn state<'a>(ctx: &Context<'a>) -> &'a Arc<MarketState> {
    ctx.data_unchecked::<Arc<MarketState>>()
}

/// A storage failure, as clients see it: no detail (it goes to the log).
fn storage_error(error: crate::MarketError) -> async_graphql::Error {
    tracing::warn!(%error, "a GraphQL query failed in the database");
    async_graphql::Error::new("the market's storage failed; try again later")
}

// ---- the DataProtector subgraph ------------------------------------------------------

/// The DataProtector subgraph's queries.
pub(crate) struct DataProtectorQuery;

#[Object]
impl DataProtectorQuery {
    /// Protected data matching `where`, `first` (default 100, at most 1000) after `skip`
    /// (at most 5000), by `orderBy` (default `id`) and `orderDirection` (default `asc`).
    #[graphql(
        name = "protectedDatas",
        complexity = "first.unwrap_or(pq::DEFAULT_FIRST).clamp(0, pq::MAX_FIRST) as usize * child_complexity"
    )]
    async fn protected_datas(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "where")] filter: Option<pq::Filter>,
        skip: Option<i32>,
        first: Option<i32>,
        order_by: Option<pq::OrderBy>,
        order_direction: Option<pq::Direction>,
    ) -> async_graphql::Result<Vec<ProtectedData>> {
        let query = pq::Query::new(filter, order_by, order_direction, first, skip)?;
        // Only the columns the selection asks for are read (iExec's SDK asks for none of
        // these).
        let wanted = ctx.look_ahead();
        let fields = pq::Fields {
            json_schema: wanted.field("jsonSchema").exists(),
            checksum: wanted.field("checksum").exists(),
            transaction_hash: wanted.field("transactionHash").exists(),
            block_number: wanted.field("blockNumber").exists(),
        };
        let state = state(ctx);
        match store::find(state.db.pool(), state.db.is_postgres(), &query, fields).await {
            Ok(rows) => Ok(rows.into_iter().map(ProtectedData).collect()),
            Err(FindError::Refused(message)) => Err(async_graphql::Error::new(message)),
            Err(FindError::Storage(error)) => Err(storage_error(error)),
        }
    }

    /// The protected data at this address, if recorded.
    #[graphql(name = "protectedData")]
    async fn protected_data(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<ProtectedData>> {
        let Some(id) = Bytes::parse(&id) else {
            return Err(async_graphql::Error::new(format!(
                "`{}` is not 0x-prefixed hex bytes",
                id.as_str()
            )));
        };
        let state = state(ctx);
        let row = store::get(state.db.pool(), &id.0).await.map_err(storage_error)?;
        Ok(row.map(ProtectedData))
    }

    /// Where indexing stands, as graph-node's `_meta` says it.
    #[graphql(name = "_meta")]
    async fn meta(&self, ctx: &Context<'_>) -> Meta {
        Meta {
            block: MetaBlock {
                number: i32::try_from(state(ctx).head()).unwrap_or(i32::MAX),
            },
            deployment: "confide-market".to_owned(),
            has_indexing_errors: false,
        }
    }
}

/// `_Meta_`: the block the follower reached.
#[derive(SimpleObject)]
#[graphql(name = "_Meta_")]
struct Meta {
    block: MetaBlock,
    deployment: String,
    has_indexing_errors: bool,
}

/// `_Block_`.
#[derive(SimpleObject)]
#[graphql(name = "_Block_")]
struct MetaBlock {
    number: i32,
}

/// A protected data as the subgraph's `ProtectedData` entity.
pub(crate) struct ProtectedData(ProtectedDataRow);

#[Object(name = "ProtectedData")]
impl ProtectedData {
    /// The dataset's address.
    async fn id(&self) -> Bytes {
        Bytes(self.0.id.clone())
    }

    /// The dataset's name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The dataset's owner now.
    async fn owner(&self) -> Account {
        Account {
            id: ID(self.0.owner.clone()),
        }
    }

    /// The schema's valid entries.
    async fn schema(&self) -> Vec<SchemaEntry> {
        self.0.entries.iter().cloned().map(SchemaEntry).collect()
    }

    /// The schema as announced.
    async fn json_schema(&self) -> &str {
        &self.0.json_schema
    }

    /// The dataset's multiaddr bytes.
    async fn multiaddr(&self) -> Bytes {
        Bytes(self.0.multiaddr.clone())
    }

    /// The dataset's checksum.
    async fn checksum(&self) -> Bytes {
        Bytes(self.0.checksum.clone())
    }

    /// When its block was made (seconds).
    async fn creation_timestamp(&self) -> BigInt {
        BigInt(self.0.creation_timestamp)
    }

    /// The transaction that created it.
    async fn transaction_hash(&self) -> Bytes {
        Bytes(self.0.transaction_hash.clone())
    }

    /// The block that created it.
    async fn block_number(&self) -> BigInt {
        BigInt(self.0.block_number)
    }
}

/// The subgraph's `Account`: an address.
#[derive(SimpleObject)]
#[graphql(name = "Account")]
struct Account {
    id: ID,
}

/// The subgraph's `SchemaEntry`: `path:type`, its id (path and type read from it only
/// when asked).
struct SchemaEntry(String);

#[Object(name = "SchemaEntry")]
impl SchemaEntry {
    async fn id(&self) -> &str {
        &self.0
    }

    async fn path(&self) -> Option<String> {
        Entry::parse(&self.0).map(|e| e.path)
    }

    #[graphql(name = "type")]
    async fn kind(&self) -> Option<String> {
        Entry::parse(&self.0).map(|e| e.kind)
    }
}

// ---- the PoCo subgraph ---------------------------------------------------------------

/// The PoCo subgraph's queries Confide answers.
pub(crate) struct PocoQuery;

/// `where:` of `deals`.
#[derive(Clone, Debug, Default, InputObject)]
#[graphql(name = "Deal_filter")]
struct DealFilter {
    /// The deal with this id.
    id: Option<ID>,
    /// Deals that consumed this request order (its EIP-712 hash).
    requestorder: Option<String>,
    /// Deals that consumed this app order.
    apporder: Option<String>,
    /// Deals that consumed this dataset order.
    datasetorder: Option<String>,
    /// Deals that consumed this workerpool order.
    workerpoolorder: Option<String>,
    /// Deals of this requester.
    requester: Option<String>,
}

#[Object]
impl PocoQuery {
    /// Deals matching `where`, newest first, `first` (default 100, at most 1000) after
    /// `skip` (at most 5000).
    #[graphql(complexity = "first.unwrap_or(pq::DEFAULT_FIRST).clamp(0, pq::MAX_FIRST) as usize * child_complexity")]
    async fn deals(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "where")] filter: Option<DealFilter>,
        skip: Option<i32>,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<Deal>> {
        let bounds = pq::Query::new(None, None, None, first, skip)?;
        let filter = filter.unwrap_or_default();
        let mut equal = Vec::new();
        for (column, value) in [
            ("deal_id", filter.id.map(|id| id.0)),
            ("requestorder", filter.requestorder),
            ("apporder", filter.apporder),
            ("datasetorder", filter.datasetorder),
            ("workerpoolorder", filter.workerpoolorder),
            ("requester", filter.requester),
        ] {
            if let Some(value) = value {
                equal.push((column, value.to_ascii_lowercase()));
            }
        }
        let query = crate::db::DealFilter {
            equal,
            category: None,
            limit: bounds.first,
            offset: bounds.skip,
        };
        let (rows, _) = state(ctx).db.deals(&query).await.map_err(storage_error)?;
        Ok(rows.into_iter().map(Deal).collect())
    }

    /// The deal with this id, if recorded.
    async fn deal(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Deal>> {
        let query = crate::db::DealFilter {
            equal: vec![("deal_id", id.0.to_ascii_lowercase())],
            category: None,
            limit: 1,
            offset: 0,
        };
        let (rows, _) = state(ctx).db.deals(&query).await.map_err(storage_error)?;
        Ok(rows.into_iter().next().map(Deal))
    }
}

/// A recorded deal as the PoCo subgraph's `Deal`.
struct Deal(crate::db::DealRow);

/// An entity known by its id alone here (`Account`, `App`, `Dataset`, orders…).
#[derive(SimpleObject)]
#[graphql(name = "Ref")]
struct Ref {
    id: ID,
}

fn reference(id: &str) -> Ref {
    Ref { id: ID(id.to_owned()) }
}

#[Object]
impl Deal {
    /// The deal's id.
    async fn id(&self) -> ID {
        ID(self.0.deal_id.clone())
    }

    /// The request order it consumed.
    async fn requestorder(&self) -> Ref {
        reference(&self.0.requestorder)
    }

    /// Its app.
    async fn app(&self) -> Ref {
        reference(&self.0.app)
    }

    /// Its dataset (the zero address when none).
    async fn dataset(&self) -> Ref {
        reference(&self.0.dataset)
    }

    /// Its workerpool.
    async fn workerpool(&self) -> Ref {
        reference(&self.0.workerpool)
    }

    /// Its requester.
    async fn requester(&self) -> Ref {
        reference(&self.0.requester)
    }

    /// Its beneficiary.
    async fn beneficiary(&self) -> Ref {
        reference(&self.0.beneficiary)
    }

    /// The index of its first task.
    async fn bot_first(&self) -> BigInt {
        BigInt(self.0.bot_first)
    }

    /// How many tasks it holds.
    async fn bot_size(&self) -> BigInt {
        BigInt(self.0.bot_size)
    }

    /// When it was made (seconds).
    async fn start_time(&self) -> BigInt {
        BigInt(self.0.start_time)
    }

    /// Its tasks in index order, `first` (default 100, at most 1000) after `skip`, with
    /// their recorded statuses (`UNSET` when not started).
    #[graphql(complexity = "first.unwrap_or(pq::DEFAULT_FIRST).clamp(0, pq::MAX_FIRST) as usize * child_complexity")]
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        skip: Option<i32>,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<Task>> {
        let bounds = pq::Query::new(None, None, None, first, skip)?;
        let deal_id: confide_chain::B256 = self
            .0
            .deal_id
            .parse()
            .map_err(|_| async_graphql::Error::new("a recorded deal id is not 32 bytes"))?;
        let start = bounds.skip.min(self.0.bot_size);
        let end = (bounds.skip + bounds.first).min(self.0.bot_size);
        let ids: Vec<(i64, String)> = (start..end)
            .map(|offset| {
                let index = self.0.bot_first + offset;
                let id = confide_protocol::task_id(deal_id, confide_chain::U256::from(index.max(0) as u64));
                (index, id.to_string())
            })
            .collect();
        let keys: Vec<String> = ids.iter().map(|(_, id)| id.clone()).collect();
        let market = state(ctx);
        let statuses = market.db.task_statuses(&keys).await.map_err(storage_error)?;
        // Only a deal without a dataset of its own can be a bulk deal.
        let maybe_bulk = self
            .0
            .dataset
            .parse::<confide_chain::Address>()
            .is_ok_and(|d| d.is_zero());
        let mut tasks = Vec::with_capacity(ids.len());
        for (index, id) in ids {
            let bulk_slice = match maybe_bulk {
                true => market
                    .bulk
                    .slice(&market.poco, deal_id, index.max(0) as u64)
                    .await
                    .map(|(cid, datasets)| BulkSlice {
                        id: ID(format!("{cid}-{index}")),
                        index: BigInt(index),
                        datasets: datasets
                            .iter()
                            .map(|d| reference(&d.to_string().to_lowercase()))
                            .collect(),
                    }),
                false => None,
            };
            tasks.push(Task {
                status: statuses.get(&id).cloned().unwrap_or_else(|| "UNSET".to_owned()),
                id: ID(id),
                index: BigInt(index),
                bulk_slice,
            });
        }
        Ok(tasks)
    }
}

/// A task of a recorded deal, as the PoCo subgraph's `Task`.
#[derive(SimpleObject)]
#[graphql(name = "Task")]
struct Task {
    id: ID,
    index: BigInt,
    status: String,
    /// For a bulk deal's task: its slice and the protected data it names.
    bulk_slice: Option<BulkSlice>,
}

/// The PoCo subgraph's `BulkSlice`.
#[derive(SimpleObject)]
#[graphql(name = "BulkSlice")]
struct BulkSlice {
    /// `<slice CID>-<task index>`.
    id: ID,
    /// The task index (the slice's position in the root).
    index: BigInt,
    /// The datasets its orders name, in order.
    datasets: Vec<Ref>,
}

// ---- HTTP ----------------------------------------------------------------------------

/// A GraphQL request over HTTP: `{query, variables, operationName}`.
#[derive(Debug, Deserialize)]
struct GraphqlRequest {
    query: Option<String>,
    #[serde(default)]
    variables: Option<Value>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
}

/// A refusal before GraphQL: the body is not a GraphQL request (graph-node answers 400).
fn refuse(message: &str) -> Response {
    with_cors(
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "errors": [{ "message": message }] })),
        )
            .into_response(),
    )
}

fn with_cors(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
}

async fn preflight() -> Response {
    let mut response = with_cors(StatusCode::NO_CONTENT.into_response());
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type"),
    );
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    response
}

async fn execute<Q>(
    schema: &Schema<Q, EmptyMutation, EmptySubscription>,
    state: Arc<MarketState>,
    body: GraphqlRequest,
) -> Response
where
    Q: async_graphql::ObjectType + 'static,
{
    let Some(query) = body.query.filter(|q| !q.trim().is_empty()) else {
        return refuse("The \"query\" field is missing in request data");
    };
    let mut request = async_graphql::Request::new(query)
        .variables(Variables::from_json(body.variables.unwrap_or(Value::Null)))
        .data(state);
    if let Some(name) = body.operation_name {
        request = request.operation_name(name);
    }
    let response = match tokio::time::timeout(TIMEOUT, schema.execute(request)).await {
        Ok(response) => axum::Json(response).into_response(),
        Err(_) => axum::Json(json!({
            "data": null,
            "errors": [{ "message": format!("the query ran past {} s and was stopped", TIMEOUT.as_secs()) }],
        }))
        .into_response(),
    };
    with_cors(response)
}

async fn over_post<Q>(
    schema: &Schema<Q, EmptyMutation, EmptySubscription>,
    State(state): State<Arc<MarketState>>,
    body: Body,
) -> Response
where
    Q: async_graphql::ObjectType + 'static,
{
    match serde_json::from_slice::<GraphqlRequest>(&body) {
        Ok(request) => execute(schema, state, request).await,
        Err(error) => refuse(&format!(
            "the body is not a GraphQL request (JSON with a \"query\"): {error}"
        )),
    }
}

async fn over_get<Q>(
    schema: &Schema<Q, EmptyMutation, EmptySubscription>,
    State(state): State<Arc<MarketState>>,
    Query(params): Query<std::collections::HashMap<String, String>>,
) -> Response
where
    Q: async_graphql::ObjectType + 'static,
{
    let variables = match params.get("variables").map(|v| serde_json::from_str::<Value>(v)) {
        None => None,
        Some(Ok(value)) => Some(value),
        Some(Err(_)) => return refuse("`variables` is not JSON"),
    };
    let body = GraphqlRequest {
        query: params.get("query").cloned(),
        variables,
        operation_name: params.get("operationName").cloned(),
    };
    execute(schema, state, body).await
}
