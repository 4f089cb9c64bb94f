//! `confide market serve`, publishing orders to a market, and browsing order books.

use confide_protocol::refusal::{Refusal, codes};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use confide_chain::Address;
use confide_protocol::OrderKind;
use serde_json::{Value, json};

use crate::context::Context;
use crate::output::{CliError, CliResult};
use crate::serve;

#[derive(Subcommand, Debug)]
pub(crate) enum MarketCommand {
    /// Serve the order book until interrupted.
    Serve(ServeArgs),
}

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    #[arg(long, env = "CONFIDE_MARKET_LISTEN", default_value = "127.0.0.1:13500")]
    listen: String,
    /// Where the SQLite database lives.
    #[arg(long, env = "CONFIDE_MARKET_DATA_DIR", default_value = ".confide-market")]
    data_dir: PathBuf,
    /// `postgres://…` to keep orders in Postgres instead of SQLite.
    #[arg(long, env = "CONFIDE_MARKET_DATABASE_URL")]
    database_url: Option<String>,
    /// How often to read new chain events, in milliseconds.
    #[arg(long, default_value_t = 500)]
    poll_ms: u64,
    /// `WORKERPOOL=URL[,URL…]`: where a workerpool's scheduler (and its standbys) answer,
    /// so the web page's task pages show each task's step there (repeatable).
    #[arg(long = "scheduler", value_name = "WORKERPOOL=URL")]
    schedulers: Vec<String>,
    /// The DataProtector contract whose protected data the market records and serves
    /// (GraphQL at /graphql/dataprotector, like iExec's subgraph; /protected-data).
    #[arg(long, env = "CONFIDE_MARKET_DATAPROTECTOR")]
    dataprotector: Option<Address>,
    /// IPFS gateways (base URLs, comma-separated) bulk requests' slices are read from, for
    /// the PoCo subgraph's `bulkSlice` at /graphql/poco; each answer is checked against its CID.
    #[arg(long = "ipfs-gateway", env = "CONFIDE_IPFS_GATEWAYS", value_delimiter = ',')]
    ipfs_gateways: Vec<String>,
    /// Reads (GET) one client (an IPv4 address, an IPv6 /64) may make a second; past its
    /// rate and burst it is answered 429 RATE_LIMITED.
    #[arg(long, env = "CONFIDE_MARKET_CLIENT_READS_PER_SECOND", default_value = "20")]
    client_reads_per_second: NonZeroU32,
    /// Reads one client may make at once after a pause.
    #[arg(long, env = "CONFIDE_MARKET_CLIENT_READS_BURST", default_value = "200")]
    client_reads_burst: NonZeroU32,
    /// Writes (publishing, unpublishing, GraphQL queries) one client may make a second.
    #[arg(long, env = "CONFIDE_MARKET_CLIENT_WRITES_PER_SECOND", default_value = "5")]
    client_writes_per_second: NonZeroU32,
    /// Writes one client may make at once after a pause.
    #[arg(long, env = "CONFIDE_MARKET_CLIENT_WRITES_BURST", default_value = "100")]
    client_writes_burst: NonZeroU32,
    /// /events streams open at once, every client together.
    #[arg(long, env = "CONFIDE_MARKET_EVENT_STREAMS", default_value_t = 512)]
    event_streams: usize,
    /// /events streams one client may hold open.
    #[arg(long, env = "CONFIDE_MARKET_EVENT_STREAMS_PER_CLIENT", default_value_t = 8)]
    event_streams_per_client: usize,
    /// Addresses no rate applies to (comma-separated IPs: your own front or tools).
    #[arg(long, env = "CONFIDE_MARKET_RATE_LIMIT_EXEMPT", value_delimiter = ',')]
    rate_limit_exempt: Vec<std::net::IpAddr>,
}

pub(crate) async fn run(command: MarketCommand, ctx: &Context) -> CliResult {
    let MarketCommand::Serve(args) = command;
    // Warnings and errors (an audit write that failed, the SMS's insecure mode) go to
    // stderr, as docs/DEPLOYMENT.md says.
    serve::init_logging();
    let poco = ctx.poco().await?;
    let url = serve::database_url(&args.data_dir, args.database_url, "market.db")?;
    let db = confide_market::db::MarketDb::open(&url)
        .await
        .map_err(|e| CliError::new(e.code(), e.to_string()))?;
    let schedulers = confide_market::explore::parse_schedulers(&args.schedulers)
        .map_err(|e| CliError::new("BAD_ARGUMENT", format!("--scheduler {e}")))?;
    let mut state =
        confide_market::MarketState::with_schedulers(confide_market::MarketState::new(db, poco), schedulers);
    state = confide_market::MarketState::with_ipfs_gateways(state, args.ipfs_gateways.clone());
    let limits = confide_market::limits::ClientLimits {
        reads_per_second: args.client_reads_per_second,
        reads_burst: args.client_reads_burst,
        writes_per_second: args.client_writes_per_second,
        writes_burst: args.client_writes_burst,
        event_streams: args.event_streams,
        event_streams_per_client: args.event_streams_per_client,
        exempt: args.rate_limit_exempt.clone(),
    };
    state = confide_market::MarketState::with_client_limits(state, limits);
    if let Some(address) = args.dataprotector {
        state = confide_market::MarketState::with_data_protector(state, address);
    }
    let follower = tokio::spawn(confide_market::follow::follow(
        state.clone(),
        Duration::from_millis(args.poll_ms),
    ));
    tracing::info!("marketplace page at http://{}/", args.listen);
    let served = serve::serve(ctx, "market", &args.listen, confide_market::router(state)).await;
    follower.abort();
    served
}

/// The market of the configured chain: `CONFIDE_MARKET_URL`, or chain.json's `iexecGateway`.
pub(crate) fn market_url(ctx: &Context) -> Result<String, CliError> {
    if let Ok(url) = std::env::var("CONFIDE_MARKET_URL") {
        return Ok(url);
    }
    ctx.chain.resolve()?.iexec_gateway.ok_or_else(|| {
        CliError::new(
            "NO_MARKET",
            "no market configured: set `iexecGateway` in chain.json (confide dev up does), or CONFIDE_MARKET_URL",
        )
    })
}

pub(crate) fn endpoint(kind: OrderKind) -> &'static str {
    match kind {
        OrderKind::App => "/apporders",
        OrderKind::Dataset => "/datasetorders",
        OrderKind::Workerpool => "/workerpoolorders",
        OrderKind::Request => "/requestorders",
    }
}

pub(crate) fn unreachable(url: &str, e: reqwest::Error) -> CliError {
    CliError::new("MARKET_UNREACHABLE", format!("the market at {url} is unreachable: {e}"))
}

pub(crate) async fn answer(response: reqwest::Response) -> Result<Value, CliError> {
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    if body["ok"] == true {
        return Ok(body);
    }
    let refusal = Refusal::from_answer(status, &bytes, "MARKET_REFUSED");
    // The codes a script acts on pass through; any other is the market's business.
    let code = [
        codes::DUPLICATE_ORDER,
        codes::NO_VOLUME_LEFT,
        codes::INVALID_SIGNATURE,
        codes::UNKNOWN_ASSET,
        codes::ORDER_NOT_FOUND,
    ]
    .into_iter()
    .find(|code| *code == refusal.code)
    .unwrap_or("MARKET_REFUSED");
    Err(CliError::new(code, format!("the market refused: {}", refusal.message)))
}

/// Logs into the market: signs its EIP-712 challenge; returns the Authorization header.
pub(crate) async fn login(ctx: &Context, url: &str, chain_id: u64) -> Result<String, CliError> {
    let signer = ctx.wallet.signer()?;
    let address = signer.address();
    let client = reqwest::Client::new();
    let response = client
        .get(format!("{url}/challenge?chainId={chain_id}&address={address}"))
        .send()
        .await
        .map_err(|e| unreachable(url, e))?;
    let body = answer(response).await?;
    let text = body["data"]["message"]["challenge"]
        .as_str()
        .ok_or_else(|| CliError::new("MARKET_REFUSED", "the market sent no challenge"))?;
    let digest = confide_protocol::market::challenge_digest(chain_id, text);
    let signature = confide_protocol::messages::sign_digest(&signer, digest)
        .map_err(|e| CliError::new("SIGNING_FAILED", e.to_string()))?;
    Ok(confide_protocol::market::authorization(digest, &signature, address))
}

/// Publishes one signed order; returns its hash.
pub(crate) async fn publish(ctx: &Context, kind: OrderKind, order: &Value, chain_id: u64) -> Result<String, CliError> {
    let url = market_url(ctx)?;
    let authorization = login(ctx, &url, chain_id).await?;
    let response = reqwest::Client::new()
        .post(format!("{url}{}?chainId={chain_id}", endpoint(kind)))
        .header("authorization", authorization)
        .json(&json!({ "order": order }))
        .send()
        .await
        .map_err(|e| unreachable(&url, e))?;
    let body = answer(response).await?;
    Ok(body["published"]["orderHash"].as_str().unwrap_or_default().to_owned())
}

/// Unpublishes by hash, or the last or all of an asset's (requester's) orders.
pub(crate) async fn unpublish(
    ctx: &Context,
    kind: OrderKind,
    target: Value,
    chain_id: u64,
) -> Result<Vec<String>, CliError> {
    let url = market_url(ctx)?;
    let authorization = login(ctx, &url, chain_id).await?;
    let response = reqwest::Client::new()
        .put(format!("{url}{}?chainId={chain_id}", endpoint(kind)))
        .header("authorization", authorization)
        .json(&target)
        .send()
        .await
        .map_err(|e| unreachable(&url, e))?;
    let body = answer(response).await?;
    Ok(body["unpublished"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h.as_str().map(str::to_owned))
        .collect())
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum BookKind {
    App,
    Dataset,
    Workerpool,
    Requester,
}

#[derive(Args, Debug)]
pub(crate) struct OrderbookArgs {
    #[arg(value_enum)]
    kind: BookKind,
    /// The asset (or requester) whose orders to list; all when absent.
    address: Option<Address>,
    /// Only orders whose tag has these bits (e.g. `tee`, `tee,tdx`, or hex).
    #[arg(long)]
    tag: Option<String>,
    /// Only orders whose tag has no other bits than these.
    #[arg(long)]
    max_tag: Option<String>,
    #[arg(long)]
    category: Option<u64>,
    #[arg(long)]
    min_volume: Option<u64>,
    #[arg(long, default_value_t = 20)]
    page_size: u64,
    #[arg(long, default_value_t = 0)]
    page: u64,
}

pub(crate) async fn orderbook(args: OrderbookArgs, ctx: &Context) -> CliResult {
    let url = market_url(ctx)?;
    let chain_id = ctx.poco().await?.connection.chain_id;
    let (kind, subject) = match args.kind {
        BookKind::App => (OrderKind::App, "app"),
        BookKind::Dataset => (OrderKind::Dataset, "dataset"),
        BookKind::Workerpool => (OrderKind::Workerpool, "workerpool"),
        BookKind::Requester => (OrderKind::Request, "requester"),
    };
    let mut query = vec![("chainId".to_owned(), chain_id.to_string())];
    if let Some(address) = args.address {
        query.push((subject.to_owned(), address.to_string()));
    }
    let tags = [("minTag", &args.tag), ("maxTag", &args.max_tag)];
    for (name, tag) in tags {
        if let Some(tag) = tag {
            let parsed: confide_protocol::Tag = tag
                .parse()
                .map_err(|e: confide_protocol::Error| CliError::new("INVALID_TAG", e.to_string()))?;
            query.push((name.to_owned(), parsed.to_string()));
        }
    }
    if let Some(category) = args.category {
        query.push(("category".into(), category.to_string()));
    }
    if let Some(volume) = args.min_volume {
        query.push(("minVolume".into(), volume.to_string()));
    }
    query.push(("pageSize".into(), args.page_size.to_string()));
    query.push(("pageIndex".into(), args.page.to_string()));
    let query_string: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let response = reqwest::Client::new()
        .get(format!("{url}{}?{}", endpoint(kind), query_string.join("&")))
        .send()
        .await
        .map_err(|e| unreachable(&url, e))?;
    let body = answer(response).await?;
    let orders = body["orders"].as_array().cloned().unwrap_or_default();
    let price_field = match kind {
        OrderKind::App => "appprice",
        OrderKind::Dataset => "datasetprice",
        OrderKind::Workerpool => "workerpoolprice",
        OrderKind::Request => "workerpoolmaxprice",
    };
    let mut lines = vec![format!("{} open {} order(s)", body["count"], subject)];
    lines.extend(orders.iter().map(|o| {
        format!(
            "  {}  {} {}  price {} nRLC  remaining {}  tag {}",
            o["orderHash"].as_str().unwrap_or_default(),
            subject,
            o["order"][if kind == OrderKind::Request {
                "requester"
            } else {
                subject
            }]
            .as_str()
            .unwrap_or_default(),
            o["order"][price_field].as_str().unwrap_or_default(),
            o["remaining"],
            o["order"]["tag"].as_str().unwrap_or_default(),
        )
    }));
    ctx.out
        .done(&lines.join("\n"), json!({ "count": body["count"], "orders": orders }));
    Ok(())
}
