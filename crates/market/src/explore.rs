//! The explorer's read API, for the web page and for scripts: the chain's reachability,
//! assets, deals and tasks as the chain says them, with the market's own knowledge
//! (orders, deals and task outcomes the follower recorded) beside them.
//!
//! Read-only: nothing here signs, spends, or stores what a request carries. Every path
//! segment is parsed into an address or a 32-byte id before any use, and everything an
//! asset owner, a requester or a worker wrote on chain (names, params, result links) is
//! returned as data for the page to show as text, never as markup.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use confide_chain::{Address, AssetKind, B256, Bytes, DealInfo, TaskInfo, TaskStatus, U256};
use confide_protocol::Tag;
use confide_protocol::amount::format_rlc;
use confide_protocol::tee::{AppEnclaveConfig, DealParams};
use serde_json::{Value, json};

use crate::{MarketError, MarketState, lower};

/// A deal's tasks listed on its page, at most.
const TASKS_SHOWN: usize = 100;
/// Tasks of a deal the market has no record of, read from the chain per request, at most.
const CHAIN_READS_PER_PAGE: usize = 10;
/// Deals listed on an asset's page, newest first.
const DEALS_SHOWN: i64 = 50;
/// A chain read that takes longer says the chain is unreachable rather than hang the page.
const CHAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// The scheduler is asked for a task's step for at most this long.
const SCHEDULER_TIMEOUT: Duration = Duration::from_millis(800);
/// Registered assets whose immutable details are kept in memory, at most.
pub(crate) const MAX_CACHED_ASSETS: usize = 10_000;

pub(crate) fn routes() -> Router<Arc<MarketState>> {
    Router::new()
        .route("/info", get(info))
        .route("/assets/{address}", get(asset))
        .route("/deals/{deal}", get(deal))
        .route("/tasks/{task}", get(task))
}

/// What an asset's registry entry says, apart from its owner (PoCo's apps and datasets are
/// immutable contracts at CREATE2 addresses, their NFTs transferable; a workerpool's
/// ratios change, so workerpools are never cached).
#[derive(Clone, Debug)]
pub(crate) struct AssetDetails {
    kind: AssetKind,
    fields: Value,
}

async fn chain<T>(
    read: impl std::future::Future<Output = Result<T, confide_chain::ChainError>>,
) -> Result<T, MarketError> {
    match tokio::time::timeout(CHAIN_TIMEOUT, read).await {
        Ok(result) => result.map_err(MarketError::from),
        Err(_) => Err(MarketError::Chain("no answer in time".into())),
    }
}

/// Bytes that are text (a URL, a name) as text, anything else as hex.
fn text_or_hex(bytes: &Bytes) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.chars().any(char::is_control) => text.to_owned(),
        _ => bytes.to_string(),
    }
}

fn parse_id(text: &str, what: &str) -> Result<B256, MarketError> {
    text.parse()
        .map_err(|_| MarketError::BadRequest(format!("{what} must be 0x followed by 64 hex digits")))
}

fn ok(mut body: Value) -> Response {
    body["ok"] = json!(true);
    axum::Json(body).into_response()
}

/// `GET /info`: the chain the market serves, and whether it answers now.
async fn info(State(state): State<Arc<MarketState>>) -> Response {
    let block = chain(state.poco.connection.block_number()).await;
    ok(json!({
        "chainId": state.chain_id(),
        "hub": lower(state.poco.deployment.hub),
        "followedBlock": state.head(),
        "chain": match block {
            Ok(number) => json!({ "reachable": true, "block": number }),
            Err(error) => json!({ "reachable": false, "error": error.to_string() }),
        },
    }))
}

/// The tag's bit names (`tee`, `tdx`, …), as the page shows them.
fn tag_words(tag: B256) -> Vec<&'static str> {
    Tag(tag).names()
}

fn tag_words_of_bits(bits: i64) -> Vec<&'static str> {
    let mut tag = [0u8; 32];
    tag[24..].copy_from_slice(&bits.to_be_bytes());
    tag_words(B256::from(tag))
}

/// Which registry holds `address`, and its immutable details (cached once read).
async fn asset_details(state: &MarketState, address: Address) -> Result<AssetDetails, MarketError> {
    if let Some(details) = state.assets.lock().await.get(&address) {
        return Ok(details.clone());
    }
    let mut kind = None;
    for candidate in [AssetKind::App, AssetKind::Dataset, AssetKind::Workerpool] {
        if chain(state.poco.is_registered(candidate, address)).await? {
            kind = Some(candidate);
            break;
        }
    }
    let kind = kind.ok_or_else(|| MarketError::NotOnChain(format!("no app, dataset or workerpool at {address}")))?;
    let fields = match kind {
        AssetKind::App => {
            let app = chain(state.poco.app(address)).await?;
            let enclave = AppEnclaveConfig::parse(&app.mrenclave);
            json!({
                "name": app.name,
                "type": app.app_type,
                "multiaddr": text_or_hex(&app.multiaddr),
                "checksum": app.checksum,
                "mrenclave": text_or_hex(&app.mrenclave),
                "enclave": enclave.map(|c| json!({
                    "framework": c.framework,
                    "fingerprint": c.fingerprint,
                    "heapSize": c.heap_size,
                    "python": c.python,
                })),
            })
        }
        AssetKind::Dataset => {
            let dataset = chain(state.poco.dataset(address)).await?;
            json!({
                "name": dataset.name,
                "multiaddr": text_or_hex(&dataset.multiaddr),
                "checksum": dataset.checksum,
            })
        }
        AssetKind::Workerpool => {
            let pool = chain(state.poco.workerpool(address)).await?;
            json!({
                "name": pool.description,
                "workerStakeRatio": pool.worker_stake_ratio.to_string(),
                "schedulerRewardRatio": pool.scheduler_reward_ratio.to_string(),
            })
        }
    };
    let details = AssetDetails { kind, fields };
    // A workerpool's ratios change with its owner's `changePolicy`: read each time.
    if kind == AssetKind::Workerpool {
        return Ok(details);
    }
    let mut cache = state.assets.lock().await;
    if cache.len() >= MAX_CACHED_ASSETS {
        cache.clear();
    }
    cache.insert(address, details.clone());
    Ok(details)
}

/// `GET /assets/{address}`: an app, dataset or workerpool as the chain registers it, its
/// deals, and for a workerpool its TEE frameworks and how its tasks ended.
async fn asset(State(state): State<Arc<MarketState>>, Path(address): Path<String>) -> Result<Response, MarketError> {
    let address: Address = address
        .parse()
        .map_err(|_| MarketError::BadRequest("not an address: 0x followed by 40 hex digits".into()))?;
    let details = asset_details(&state, address).await?;
    let owner = chain(state.poco.contract_owner(address))
        .await?
        .unwrap_or(Address::ZERO);
    let mut asset = details.fields.clone();
    asset["kind"] = json!(details.kind.name());
    asset["address"] = json!(lower(address));
    asset["owner"] = json!(lower(owner));
    let deals = state.db.deals_of(&lower(address), DEALS_SHOWN).await?;
    let deals: Vec<Value> = deals
        .iter()
        .map(|d| {
            let mut value = json!(d);
            value["tag"] = json!(tag_words_of_bits(d.tag_bits));
            value
        })
        .collect();
    let mut body = json!({ "asset": asset, "deals": deals });
    if details.kind == AssetKind::Workerpool {
        let mut frameworks: Vec<&str> = Vec::new();
        for bits in state.db.tags_of("workerpoolorder", &lower(address)).await? {
            for word in tag_words_of_bits(bits) {
                if matches!(word, "tdx" | "gramine" | "scone") && !frameworks.contains(&word) {
                    frameworks.push(word);
                }
            }
        }
        frameworks.sort_unstable();
        let now = chain_time(&state).await?;
        body["workerpool"] = json!({
            "frameworks": frameworks,
            "tasks": state.db.task_outcomes(&lower(address), now).await?,
        });
    }
    Ok(ok(body))
}

/// The chain's clock (the latest block's timestamp): deadlines are judged by it.
async fn chain_time(state: &MarketState) -> Result<i64, MarketError> {
    let time = chain(state.poco.connection.block_timestamp()).await?;
    Ok(i64::try_from(time).unwrap_or(i64::MAX))
}

/// What a deal pays per task, and to whom: PoCo pays each asset owner its price when a
/// task completes; of the workerpool's price the scheduler keeps its reward ratio and the
/// workers share the rest.
fn payment(deal: &DealInfo) -> Value {
    let per_task = deal.app_price + deal.dataset_price + deal.workerpool_price;
    let ratio = deal.scheduler_reward_ratio.min(U256::from(100));
    let scheduler = deal.workerpool_price * ratio / U256::from(100);
    json!({
        "perTask": format_rlc(per_task),
        "total": format_rlc(per_task * deal.bot_size),
        "app": format_rlc(deal.app_price),
        "dataset": format_rlc(deal.dataset_price),
        "workerpool": format_rlc(deal.workerpool_price),
        "scheduler": format_rlc(scheduler),
        "workers": format_rlc(deal.workerpool_price - scheduler),
        "schedulerRewardRatio": ratio.to_string(),
        "workerStake": format_rlc(deal.worker_stake),
    })
}

fn deal_json(deal: &DealInfo) -> Value {
    let params = DealParams::parse(&deal.params).ok();
    json!({
        "dealId": deal.deal_id,
        "app": { "address": lower(deal.app), "owner": lower(deal.app_owner), "price": format_rlc(deal.app_price) },
        "dataset": { "address": lower(deal.dataset), "owner": lower(deal.dataset_owner), "price": format_rlc(deal.dataset_price) },
        "workerpool": { "address": lower(deal.workerpool), "owner": lower(deal.workerpool_owner), "price": format_rlc(deal.workerpool_price) },
        "requester": lower(deal.requester),
        "beneficiary": lower(deal.beneficiary),
        "callback": lower(deal.callback),
        "sponsor": lower(deal.sponsor),
        "trust": deal.trust.to_string(),
        "category": deal.category.to_string(),
        "tag": deal.tag,
        "tagWords": tag_words(deal.tag),
        "params": deal.params,
        "resultEncrypted": params.as_ref().is_some_and(|p| p.iexec_result_encryption),
        "startTime": deal.start_time.to_string(),
        "botFirst": deal.bot_first.to_string(),
        "botSize": deal.bot_size.to_string(),
        "payment": payment(deal),
    })
}

/// The link a worker wrote on chain, read as iExec's `{"storage", "location"}` when it is.
fn result_link(results: &Bytes) -> Value {
    if results.is_empty() {
        return Value::Null;
    }
    match serde_json::from_slice::<Value>(results) {
        Ok(link) if link["location"].is_string() => json!({
            "storage": link["storage"].as_str().unwrap_or_default(),
            "location": link["location"],
        }),
        _ => json!({ "raw": text_or_hex(results) }),
    }
}

fn task_json(task: &TaskInfo) -> Value {
    json!({
        "taskId": task.task_id,
        "dealId": task.deal_id,
        "index": task.index.to_string(),
        "status": task.status.as_str(),
        "contributionDeadline": task.contribution_deadline.to_string(),
        "revealDeadline": task.reveal_deadline.to_string(),
        "finalDeadline": task.final_deadline.to_string(),
        "contributors": task.contributors.iter().map(|a| lower(*a)).collect::<Vec<_>>(),
        "resultDigest": task.result_digest,
        "result": result_link(&task.results),
        "completedAt": task.results_timestamp.to_string(),
    })
}

/// The ids of a deal's first `n` tasks, computed for those only: a deal's size is the
/// requester's choice, and may be millions.
pub(crate) fn first_task_ids(deal: &DealInfo, n: usize) -> Vec<B256> {
    let size = usize::try_from(deal.bot_size).unwrap_or(usize::MAX).min(n);
    (0..size)
        .map(|i| confide_protocol::task_id(deal.deal_id, deal.bot_first + U256::from(i)))
        .collect()
}

/// `GET /deals/{deal}`: the deal, how it pays, and each task's status on chain.
async fn deal(State(state): State<Arc<MarketState>>, Path(deal_id): Path<String>) -> Result<Response, MarketError> {
    let deal_id = parse_id(&deal_id, "a deal id")?;
    let deal = chain(state.poco.find_deal(deal_id))
        .await?
        .ok_or_else(|| MarketError::NotOnChain(format!("no deal {deal_id} on this chain")))?;
    // Statuses as the follower recorded them from the chain's events: one query, where
    // reading each task from the node would let one request cost a hundred chain reads.
    // A deal from before the market followed the chain is read from it, a few tasks only.
    let ids = first_task_ids(&deal, TASKS_SHOWN);
    let keys: Vec<String> = ids.iter().map(B256::to_string).collect();
    let recorded = state.db.task_statuses(&keys).await?;
    let mut chain_reads = 0;
    let mut tasks = Vec::new();
    for (index, (task_id, key)) in ids.iter().zip(&keys).enumerate() {
        let status = match recorded.get(key) {
            Some(status) => status.clone(),
            None if chain_reads < CHAIN_READS_PER_PAGE => {
                chain_reads += 1;
                chain(state.poco.task(*task_id)).await?.status.as_str().to_owned()
            }
            None => "UNKNOWN".to_owned(),
        };
        tasks.push(json!({
            "taskId": task_id,
            "index": (deal.bot_first + U256::from(index)).to_string(),
            "status": status,
        }));
    }
    Ok(ok(json!({ "deal": deal_json(&deal), "tasks": tasks })))
}

/// `GET /tasks/{task}`: the task as the chain says it, its deal, and the scheduler's
/// last public step when the market knows the workerpool's scheduler.
async fn task(State(state): State<Arc<MarketState>>, Path(task_id): Path<String>) -> Result<Response, MarketError> {
    let task_id = parse_id(&task_id, "a task id")?;
    let info = chain(state.poco.task(task_id)).await?;
    // An uninitialized task reads as all zeros on chain, its deal too: the follower's
    // record of the deals' task ids says which deal it belongs to.
    let deal_id = match info.status {
        TaskStatus::Unset => state
            .db
            .task(&task_id.to_string())
            .await?
            .and_then(|known| known.deal_id.parse().ok())
            .ok_or_else(|| MarketError::NotOnChain(format!("no task {task_id} on this chain")))?,
        _ => info.deal_id,
    };
    let deal = chain(state.poco.find_deal(deal_id))
        .await?
        .ok_or_else(|| MarketError::NotOnChain(format!("no deal {deal_id} on this chain")))?;
    let mut task = task_json(&info);
    task["dealId"] = json!(deal_id);
    if info.status == TaskStatus::Unset
        && let Some(i) = first_task_ids(&deal, crate::follow::MAX_TASKS_RECORDED)
            .iter()
            .position(|t| *t == task_id)
    {
        task["index"] = json!((deal.bot_first + U256::from(i)).to_string());
    }
    let step = scheduler_step(&state, deal.workerpool, task_id).await;
    Ok(ok(json!({
        "task": task,
        "deal": deal_json(&deal),
        "schedulerStep": step,
    })))
}

/// The scheduler's public step for a task (`running`, `completed`, …), when the market was
/// told where the workerpool's schedulers are and one answers in time (any of an active
/// scheduler and its standbys does). Only a known word is passed on: a scheduler is
/// another party, and the page shows its answer.
async fn scheduler_step(state: &MarketState, workerpool: Address, task_id: B256) -> Option<String> {
    for base in state.schedulers.get(&workerpool)? {
        if let Some(step) = ask_scheduler_step(state, base, task_id).await {
            return Some(step);
        }
    }
    None
}

async fn ask_scheduler_step(state: &MarketState, base: &str, task_id: B256) -> Option<String> {
    let url = format!("{}/tasks/{task_id}/status", base.trim_end_matches('/'));
    let mut response = state.http.get(url).timeout(SCHEDULER_TIMEOUT).send().await.ok()?;
    // The answer is one word: a few hundred bytes at most are read.
    let mut text = Vec::new();
    while let Some(chunk) = response.chunk().await.ok()? {
        text.extend_from_slice(&chunk);
        if text.len() > 1024 {
            return None;
        }
    }
    let body: Value = serde_json::from_slice(&text).ok()?;
    let step: confide_protocol::workerpool::TaskStep = body["state"].as_str()?.parse().ok()?;
    Some(step.as_str().to_owned())
}

/// Schedulers by workerpool, from `--scheduler WORKERPOOL=URL[,URL…]` flags (an active
/// scheduler and its standbys, asked in order).
pub fn parse_schedulers(flags: &[String]) -> Result<HashMap<Address, Vec<String>>, String> {
    flags
        .iter()
        .map(|flag| {
            let (pool, urls) = flag
                .split_once('=')
                .ok_or_else(|| format!("`{flag}`: expected WORKERPOOL=URL"))?;
            let pool: Address = pool
                .parse()
                .map_err(|_| format!("`{pool}` is not a workerpool address"))?;
            let urls: Vec<String> = urls.split(',').map(|url| url.trim().to_owned()).collect();
            if let Some(url) = urls
                .iter()
                .find(|url| !(url.starts_with("http://") || url.starts_with("https://")))
            {
                return Err(format!("`{url}` is not an http(s) URL"));
            }
            Ok((pool, urls))
        })
        .collect()
}
