//! `confide app run` and `confide app request-execution`: the requester's side. `run`
//! finds the cheapest compatible orders on the market (re-checking each, since the market
//! is untrusted), explains what is missing before anything is spent, simulates the match,
//! then matches on chain. A match either creates a deal, whose every task completes or
//! becomes claimable at its final deadline, or reverts and locks nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use confide_chain::{Address, B256, Poco, PrivateKeySigner, TaskStatus, U256};
use confide_protocol::Tag;
use confide_protocol::order::{AppOrder, DatasetOrder, Order, OrderKind, RequestOrder, WorkerpoolOrder};
use confide_protocol::tag::TeeFramework;
use confide_protocol::tee::DealParams;
use serde_json::{Value, json};

use super::secret::{self, Secret};
use crate::context::Context;
use crate::output::{CliError, CliResult};

#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// The app to run (default: deployed.json's).
    pub app: Option<Address>,
    /// The dataset to run it on.
    #[arg(long)]
    pub dataset: Option<Address>,
    /// Only this workerpool.
    #[arg(long)]
    pub workerpool: Option<Address>,
    /// The app's arguments (one string, split as a shell would; it may start with `-`).
    #[arg(long, allow_hyphen_values = true)]
    pub args: Option<String>,
    /// Input files the enclave downloads into /iexec_in (URLs, comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub input_files: Vec<String>,
    /// Requester secrets for the app: INDEX=NAME (pushed with `confide requester push-secret NAME`).
    #[arg(long = "secret")]
    pub secrets: Vec<String>,
    /// Requirements (names such as `tee,tdx`, or hex); TEE apps need a framework.
    #[arg(long)]
    pub tag: Option<String>,
    #[arg(long, default_value_t = 0)]
    pub category: u64,
    #[arg(long, default_value_t = 0)]
    pub trust: u64,
    /// Who may read the result (default: the requester).
    #[arg(long)]
    pub beneficiary: Option<Address>,
    /// Encrypt the result for the beneficiary's key in the SMS.
    #[arg(long)]
    pub encrypt_result: bool,
    /// Tasks in the deal (a bag of tasks).
    #[arg(long, default_value_t = 1)]
    pub volume: u64,
    /// Follow the tasks until they complete.
    #[arg(long)]
    pub watch: bool,
    /// With --watch: download each completed task's result into this folder.
    #[arg(long)]
    pub download: Option<PathBuf>,
    /// Give up watching after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// Skip the checks of secrets and balance (the match still refuses what PoCo refuses).
    #[arg(long)]
    pub skip_preflight_check: bool,
    #[command(flatten)]
    pub max_prices: MaxPrices,
}

/// The most the requester pays each party (default: whatever the cheapest order asks).
#[derive(Args, Debug, Default)]
pub(crate) struct MaxPrices {
    /// Most you pay the app per task, e.g. `1 RLC`.
    #[arg(long)]
    pub app_max_price: Option<String>,
    /// Most you pay the dataset per task.
    #[arg(long)]
    pub dataset_max_price: Option<String>,
    /// Most you pay the workerpool per task.
    #[arg(long)]
    pub workerpool_max_price: Option<String>,
}

impl MaxPrices {
    /// Refuses the chosen orders when one costs more than its limit: nothing is spent.
    fn check(&self, chosen: &Chosen) -> Result<(), CliError> {
        let dataset_price = chosen.dataset.as_ref().map(|d| d.datasetprice);
        let limits = [
            ("app", &self.app_max_price, Some(chosen.app.appprice)),
            ("dataset", &self.dataset_max_price, dataset_price),
            (
                "workerpool",
                &self.workerpool_max_price,
                Some(chosen.workerpool.workerpoolprice),
            ),
        ];
        for (party, limit, price) in limits {
            let (Some(limit), Some(price)) = (limit, price) else {
                continue;
            };
            let limit =
                confide_protocol::amount::parse_nrlc(limit).map_err(|e| refuse("INVALID_AMOUNT", e.to_string()))?;
            if price > limit {
                return Err(refuse(
                    "PRICE_ABOVE_MAX",
                    format!(
                        "the cheapest {party} order costs {}, above your --{party}-max-price of {}",
                        confide_protocol::amount::format_rlc(price),
                        confide_protocol::amount::format_rlc(limit)
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn refuse(code: &'static str, message: impl Into<String>) -> CliError {
    CliError::new(code, message)
}

/// The open orders of one kind the market lists for these filters, parsed and re-checked.
async fn book<O: serde::de::DeserializeOwned>(
    ctx: &Context,
    kind: OrderKind,
    chain_id: u64,
    filters: &[(&str, String)],
) -> Result<Vec<(O, u64)>, CliError> {
    let url = super::market::market_url(ctx)?;
    let mut query = vec![format!("chainId={chain_id}"), "pageSize=100".to_owned()];
    query.extend(filters.iter().map(|(k, v)| format!("{k}={v}")));
    let response = reqwest::Client::new()
        .get(format!("{url}{}?{}", super::market::endpoint(kind), query.join("&")))
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .map_err(|e| super::market::unreachable(&url, e))?;
    let body = super::market::answer(response).await?;
    Ok(body["orders"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| {
            let remaining = o["remaining"].as_u64().unwrap_or(0);
            let order = serde_json::from_value(o["order"].clone()).ok()?;
            (remaining > 0).then_some((order, remaining))
        })
        .collect())
}

fn allows(restriction: Address, who: Address) -> bool {
    restriction.is_zero() || restriction == who
}

/// The orders `run` matches.
pub(crate) struct Chosen {
    pub app: AppOrder,
    pub dataset: Option<DatasetOrder>,
    pub workerpool: WorkerpoolOrder,
    pub volume: u64,
}

impl Chosen {
    /// One line of what the orders cost.
    fn summary(&self) -> String {
        let dataset = self
            .dataset
            .as_ref()
            .map(|d| format!("{} nRLC", d.datasetprice))
            .unwrap_or_else(|| "none".into());
        format!(
            "orders found: app {} nRLC, dataset {dataset}, workerpool {} ({} nRLC)",
            self.app.appprice, self.workerpool.workerpool, self.workerpool.workerpoolprice
        )
    }
}

/// Who asks for what: the parts of a request the orders must be open to.
struct Asker<'a> {
    args: &'a RunArgs,
    chain_id: u64,
    app: Address,
    requester: Address,
}

pub(crate) async fn choose(
    ctx: &Context,
    poco: &Poco,
    args: &RunArgs,
    app: Address,
    requester: Address,
    tag: Tag,
) -> Result<Chosen, CliError> {
    let asker = Asker {
        args,
        chain_id: poco.connection.chain_id,
        app,
        requester,
    };
    let (app_order, app_left) = choose_app_order(ctx, &asker, tag).await?;
    let mut needed = tag.union(app_order.tag);
    let mut left = app_left;
    let dataset_order = match args.dataset {
        None => None,
        Some(dataset) => {
            let (order, dataset_left) = choose_dataset_order(ctx, poco, &asker, dataset).await?;
            needed = needed.union(order.tag);
            left = left.min(dataset_left);
            Some(order)
        }
    };
    let (workerpool_order, pool_left) =
        choose_workerpool_order(ctx, &asker, needed, &app_order, dataset_order.as_ref()).await?;
    let volume = args.volume.min(left).min(pool_left);
    Ok(Chosen {
        app: app_order,
        dataset: dataset_order,
        workerpool: workerpool_order,
        volume,
    })
}

/// The cheapest app order open to the requester (and the dataset and pool asked for);
/// at equal price, one that adds no requirement to the request's tag.
async fn choose_app_order(ctx: &Context, asker: &Asker<'_>, tag: Tag) -> Result<(AppOrder, u64), CliError> {
    let (args, app, requester) = (asker.args, asker.app, asker.requester);
    let apps: Vec<(AppOrder, u64)> = book(ctx, OrderKind::App, asker.chain_id, &[("app", app.to_string())]).await?;
    apps.into_iter()
        .filter(|(o, _)| o.app == app && allows(o.requesterrestrict, requester))
        .filter(|(o, _)| args.dataset.is_none_or(|d| allows(o.datasetrestrict, d)))
        .filter(|(o, _)| args.workerpool.is_none_or(|w| allows(o.workerpoolrestrict, w)))
        .min_by_key(|(o, _)| (o.appprice, !o.tag.is_subset_of(tag)))
        .ok_or_else(|| {
            refuse(
                "NO_APP_ORDER",
                format!(
                    "no app order for {app} open to you is on the market: its developer publishes one with `confide app publish`"
                ),
            )
        })
}

/// The cheapest order of `dataset` open to the app (by name, or through an app whitelist
/// that lists it, as PoCo checks), the requester and the pool asked for.
async fn choose_dataset_order(
    ctx: &Context,
    poco: &Poco,
    asker: &Asker<'_>,
    dataset: Address,
) -> Result<(DatasetOrder, u64), CliError> {
    let (app, requester) = (asker.app, asker.requester);
    let orders: Vec<(DatasetOrder, u64)> = book(
        ctx,
        OrderKind::Dataset,
        asker.chain_id,
        &[
            ("dataset", dataset.to_string()),
            ("app", "any".into()),
            ("requester", "any".into()),
        ],
    )
    .await?;
    let mut candidates: Vec<(DatasetOrder, u64)> = orders
        .into_iter()
        .filter(|(order, _)| {
            order.dataset == dataset
                && allows(order.requesterrestrict, requester)
                && asker
                    .args
                    .workerpool
                    .is_none_or(|w| allows(order.workerpoolrestrict, w))
        })
        .collect();
    candidates.sort_by_key(|(order, _)| order.datasetprice);
    // The cheapest the app may use and the chain says is still open: a grant revoked a
    // moment ago may still be on the market, which follows the chain a little behind.
    let mut chosen = None;
    for (order, left) in candidates {
        if app_allowed(poco, order.apprestrict, app).await? && still_open(poco, &order).await? {
            chosen = Some((order, left));
            break;
        }
    }
    chosen
        .ok_or_else(|| {
            refuse(
                "NO_DATASET_ORDER",
                format!(
                    "no dataset order for {dataset} open to app {app} and to you is on the market: its owner publishes one with `confide dataset publish`"
                ),
            )
        })
}

/// Whether the chain has volume left on a dataset order (not consumed, not cancelled).
async fn still_open(poco: &Poco, order: &DatasetOrder) -> Result<bool, CliError> {
    let consumed = poco.consumed(order.hash(&poco.domain())).await?;
    Ok(consumed < order.volume)
}

/// Whether an order's app restriction lets `app` in: none, the app itself, or an app
/// whitelist (ERC-734) that lists it.
async fn app_allowed(poco: &Poco, restriction: Address, app: Address) -> Result<bool, CliError> {
    if allows(restriction, app) {
        return Ok(true);
    }
    Ok(poco.is_whitelist(restriction).await? && poco.whitelist_allows(restriction, app).await?)
}

/// The cheapest workerpool order offering the category, trust and every tag `needed`,
/// open to the app, dataset and requester, and that their orders allow.
async fn choose_workerpool_order(
    ctx: &Context,
    asker: &Asker<'_>,
    needed: Tag,
    app_order: &AppOrder,
    dataset_order: Option<&DatasetOrder>,
) -> Result<(WorkerpoolOrder, u64), CliError> {
    let (args, app, requester) = (asker.args, asker.app, asker.requester);
    let mut filters = vec![("category", args.category.to_string()), ("minTag", needed.to_string())];
    if let Some(workerpool) = args.workerpool {
        filters.push(("workerpool", workerpool.to_string()));
    }
    let pools: Vec<(WorkerpoolOrder, u64)> = book(ctx, OrderKind::Workerpool, asker.chain_id, &filters).await?;
    let dataset = args.dataset.unwrap_or(Address::ZERO);
    let offered = pools.len();
    pools
        .into_iter()
        .filter(|(o, _)| needed.is_subset_of(o.tag) && o.category == U256::from(args.category))
        .filter(|(o, _)| o.trust >= U256::from(args.trust))
        .filter(|(o, _)| {
            allows(o.apprestrict, app) && allows(o.datasetrestrict, dataset) && allows(o.requesterrestrict, requester)
        })
        .filter(|(o, _)| allows(app_order.workerpoolrestrict, o.workerpool))
        .filter(|(o, _)| dataset_order.is_none_or(|d| allows(d.workerpoolrestrict, o.workerpool)))
        .min_by_key(|(o, _)| o.workerpoolprice)
        .ok_or_else(|| {
            refuse(
                "NO_WORKERPOOL_ORDER",
                format!(
                    "no workerpool order on the market offers category {}, trust {} and tag {} ({} looked at): start `confide dev up`, or wait for a pool to publish one",
                    args.category,
                    args.trust,
                    needed.names().join(","),
                    offered
                ),
            )
        })
}

fn params(args: &RunArgs) -> Result<String, CliError> {
    let mut secrets = BTreeMap::new();
    for pair in &args.secrets {
        let (index, name) = pair
            .split_once('=')
            .filter(|(i, n)| matches!(i.parse::<u32>(), Ok(k) if k > 0) && !n.is_empty())
            .ok_or_else(|| {
                refuse(
                    "INVALID_SECRET",
                    format!("--secret {pair}: expected INDEX=NAME with INDEX ≥ 1"),
                )
            })?;
        secrets.insert(index.to_owned(), name.to_owned());
    }
    let params = DealParams {
        iexec_args: args.args.clone().unwrap_or_default(),
        iexec_input_files: args.input_files.clone(),
        iexec_result_encryption: args.encrypt_result,
        iexec_secrets: secrets,
        ..DealParams::default()
    };
    Ok(serde_json::to_string(&params).expect("params serialize"))
}

/// The checks iExec's SDK calls its preflight: every refusal here costs nothing.
async fn preflight(
    ctx: &Context,
    poco: &Poco,
    args: &RunArgs,
    chosen: &Chosen,
    request: &RequestOrder,
) -> Result<(), CliError> {
    let deal_tag = chosen
        .app
        .tag
        .union(request.tag)
        .union(chosen.dataset.as_ref().map(|d| d.tag).unwrap_or_default());
    check_tag(args, deal_tag)?;
    check_secrets_are_pushed(ctx, args, request, deal_tag).await?;
    check_balance(poco, chosen, request).await
}

/// A TEE deal names a framework Confide runs; secrets and result encryption need a TEE.
fn check_tag(args: &RunArgs, deal_tag: Tag) -> Result<(), CliError> {
    if deal_tag.is_tee()
        && !matches!(
            deal_tag.tee_framework(),
            Some(TeeFramework::Tdx | TeeFramework::Gramine)
        )
    {
        return Err(refuse(
            "NO_TEE_FRAMEWORK",
            format!(
                "the deal's tag {} asks for a TEE without a framework Confide runs: pass --tag tee,tdx or --tag tee,gramine",
                deal_tag
            ),
        ));
    }
    if !args.secrets.is_empty() && !deal_tag.is_tee() {
        return Err(refuse(
            "SECRETS_NEED_TEE",
            "requester secrets reach only an attested enclave: add --tag tee,tdx (or tee,gramine)",
        ));
    }
    if args.encrypt_result && !deal_tag.is_tee() {
        return Err(refuse(
            "RESULT_ENCRYPTION_NEEDS_TEE",
            "only a TEE task can encrypt its result: add --tag tee,tdx (or tee,gramine)",
        ));
    }
    Ok(())
}

/// The SMS holds every secret the task will ask for: the dataset's key, the
/// beneficiary's result key, the requester's named secrets.
pub(crate) async fn check_secrets_are_pushed(
    ctx: &Context,
    args: &RunArgs,
    request: &RequestOrder,
    deal_tag: Tag,
) -> Result<(), CliError> {
    if let Some(dataset) = args.dataset
        && deal_tag.is_tee()
        && !secret::exists(ctx, &Secret::Dataset(dataset)).await?
    {
        return Err(refuse(
            "DATASET_SECRET_MISSING",
            format!(
                "the SMS holds no key for dataset {dataset}: its owner pushes it with `confide dataset push-secret`"
            ),
        ));
    }
    if args.encrypt_result {
        let name = super::result::RESULT_KEY_NAME.to_owned();
        let key = Secret::Web2 {
            owner: request.beneficiary,
            name,
        };
        if !secret::exists(ctx, &key).await? {
            return Err(refuse(
                "RESULT_KEY_MISSING",
                format!(
                    "the beneficiary {} has pushed no result encryption key: `confide result generate-encryption-keypair` then `confide result push-encryption-key`",
                    request.beneficiary
                ),
            ));
        }
    }
    for name in DealParams::parse(&request.params)
        .map(|p| p.iexec_secrets.into_values().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        let named = Secret::Requester {
            requester: request.requester,
            name: name.clone(),
        };
        if !secret::exists(ctx, &named).await? {
            return Err(refuse(
                "REQUESTER_SECRET_MISSING",
                format!("you have no requester secret `{name}`: push it with `confide requester push-secret {name}`"),
            ));
        }
    }
    Ok(())
}

/// The requester's iExec account holds what the deal costs.
async fn check_balance(poco: &Poco, chosen: &Chosen, request: &RequestOrder) -> Result<(), CliError> {
    let price = chosen.app.appprice
        + chosen.dataset.as_ref().map(|d| d.datasetprice).unwrap_or_default()
        + chosen.workerpool.workerpoolprice;
    let cost = price * U256::from(chosen.volume);
    let stake = poco.account(request.requester).await?.stake;
    if stake < cost {
        return Err(refuse(
            "INSUFFICIENT_BALANCE",
            format!(
                "the deal costs {} and your iExec account holds {}: `confide account deposit \"{}\"`",
                confide_protocol::amount::format_rlc(cost),
                confide_protocol::amount::format_rlc(stake),
                confide_protocol::amount::format_rlc(cost - stake)
            ),
        ));
    }
    Ok(())
}

/// Each task followed to its end and its result downloaded. The deal exists whatever
/// happens next: a failure is reported per task, and the deal id is always printed.
async fn watch_all(
    ctx: &Context,
    poco: &Poco,
    signer: &PrivateKeySigner,
    tasks: &[B256],
    args: &RunArgs,
) -> Vec<Value> {
    let mut results = Vec::new();
    for task in tasks {
        let entry = match watch_and_download(ctx, poco, signer, *task, args).await {
            Ok(entry) => entry,
            Err(e) => json!({ "taskId": task, "error": { "code": e.code, "message": e.message } }),
        };
        ctx.out.step(&format!(
            "task {task}: {}",
            entry["status"]
                .as_str()
                .or(entry["error"]["message"].as_str())
                .unwrap_or_default()
        ));
        results.push(entry);
    }
    results
}

pub(crate) async fn run(ctx: &Context, args: RunArgs) -> CliResult {
    let (text, fields) = run_deal(ctx, args).await?;
    ctx.out.done(&text, fields);
    Ok(())
}

/// Matches a deal for `args` (and follows it with `--watch`): what `run` prints, for
/// people and for scripts. Progress goes out as steps.
pub(crate) async fn run_deal(ctx: &Context, args: RunArgs) -> Result<(String, Value), CliError> {
    let signer = ctx.wallet.signer()?;
    let poco = ctx.chain.resolve()?.connect(Some(signer.clone())).await?;
    let app = ctx.asset(confide_chain::AssetKind::App, args.app).await?;
    let requester = signer.address();
    let tag: Tag = match &args.tag {
        Some(text) => text
            .parse()
            .map_err(|e: confide_protocol::Error| refuse("INVALID_TAG", e.to_string()))?,
        None => Tag::NONE,
    };
    let params = params(&args)?;
    let chosen = choose(ctx, &poco, &args, app, requester, tag).await?;
    ctx.out.step(&chosen.summary());
    args.max_prices.check(&chosen)?;
    let domain = poco.domain();
    let mut request = RequestOrder {
        app,
        appmaxprice: chosen.app.appprice,
        dataset: args.dataset.unwrap_or(Address::ZERO),
        datasetmaxprice: chosen.dataset.as_ref().map(|d| d.datasetprice).unwrap_or_default(),
        workerpool: args.workerpool.unwrap_or(Address::ZERO),
        workerpoolmaxprice: chosen.workerpool.workerpoolprice,
        requester,
        volume: U256::from(chosen.volume),
        tag,
        category: U256::from(args.category),
        trust: U256::from(args.trust),
        beneficiary: args.beneficiary.unwrap_or(requester),
        params,
        salt: B256::random(),
        ..Default::default()
    };
    if !args.skip_preflight_check {
        preflight(ctx, &poco, &args, &chosen, &request).await?;
    }
    request
        .sign(&signer, &domain)
        .map_err(|e| refuse("SIGNING_FAILED", e.to_string()))?;
    // A dry run first: an order consumed or cancelled since the market listed it is
    // reported in plain words, and nothing is sent.
    poco.simulate_match(&chosen.app, chosen.dataset.as_ref(), &chosen.workerpool, &request)
        .await
        .map_err(|e| {
            CliError::new(
                "ORDERS_NO_LONGER_MATCH",
                format!("the orders no longer match, nothing was spent: {e}"),
            )
        })?;
    let matched = poco
        .match_orders(&chosen.app, chosen.dataset.as_ref(), &chosen.workerpool, &request)
        .await?;
    let deal = poco.deal(matched.deal_id).await?;
    let tasks = deal.task_ids();
    ctx.out.step(&format!(
        "deal {} created: {} task(s) on workerpool {}",
        matched.deal_id,
        tasks.len(),
        deal.workerpool
    ));
    let results = if args.watch {
        watch_all(ctx, &poco, &signer, &tasks, &args).await
    } else {
        Vec::new()
    };
    let text = format!(
        "✔ deal {}\n{}",
        matched.deal_id,
        tasks
            .iter()
            .map(|t| format!("  task {t}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let fields = json!({ "dealid": matched.deal_id, "volume": chosen.volume, "tasks": tasks, "txHash": matched.transaction, "results": results });
    Ok((text, fields))
}

/// Follows one task of the new deal and, with `--download`, saves its result.
async fn watch_and_download(
    ctx: &Context,
    poco: &Poco,
    requester: &PrivateKeySigner,
    task: B256,
    args: &RunArgs,
) -> Result<Value, CliError> {
    let timeout = Duration::from_secs(args.timeout);
    let info = super::task::watch_task(ctx, poco, Some(requester), task, timeout).await?;
    let mut entry = json!({ "taskId": task, "status": format!("{:?}", info.status).to_uppercase() });
    if info.status == TaskStatus::Completed
        && let Some(dir) = &args.download
    {
        std::fs::create_dir_all(dir).map_err(|e| CliError::io(dir, e))?;
        let target = dir.join(format!("{task}.result"));
        let path = super::task::download_result(ctx, &info, Some(target)).await?;
        entry["resultPath"] = json!(path);
        entry["digestCheck"] = super::task::check_download(ctx, poco, &path, &info).await?.fields();
    }
    Ok(entry)
}

/// `app request-execution`: signs a request order at the given limit prices and
/// publishes it to the market, for a workerpool to match.
pub(crate) async fn request_execution(ctx: &Context, args: RunArgs, max_price: String) -> CliResult {
    let signer = ctx.wallet.signer()?;
    let poco = ctx.chain.resolve()?.connect(Some(signer.clone())).await?;
    let app = ctx.asset(confide_chain::AssetKind::App, args.app).await?;
    let price =
        confide_protocol::amount::parse_nrlc(&max_price).map_err(|e| refuse("INVALID_AMOUNT", e.to_string()))?;
    let tag: Tag = match &args.tag {
        Some(text) => text
            .parse()
            .map_err(|e: confide_protocol::Error| refuse("INVALID_TAG", e.to_string()))?,
        None => Tag::NONE,
    };
    let mut request = RequestOrder {
        app,
        appmaxprice: price,
        dataset: args.dataset.unwrap_or(Address::ZERO),
        datasetmaxprice: price,
        workerpool: args.workerpool.unwrap_or(Address::ZERO),
        workerpoolmaxprice: price,
        requester: signer.address(),
        volume: U256::from(args.volume),
        tag,
        category: U256::from(args.category),
        trust: U256::from(args.trust),
        beneficiary: args.beneficiary.unwrap_or(signer.address()),
        params: params(&args)?,
        salt: B256::random(),
        ..Default::default()
    };
    request
        .sign(&signer, &poco.domain())
        .map_err(|e| refuse("SIGNING_FAILED", e.to_string()))?;
    let value: Value = serde_json::to_value(&request).expect("orders serialize");
    let hash = super::market::publish(ctx, OrderKind::Request, &value, poco.connection.chain_id).await?;
    ctx.out.done(
        &format!("✔ request order published: {hash}"),
        json!({ "orderHash": hash, "order": value }),
    );
    Ok(())
}
