//! `confide bulk`: one app over many protected data, a slice of them per task (iExec's
//! bulk processing). `prepare` cuts the bulk grants into slices, stores them and signs one
//! request order into a file; `process` matches it until every slice has its task, waits,
//! and downloads every result; `inspect` says where it stands and what each task
//! processed or refused.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use confide_chain::{Address, B256, Poco, PrivateKeySigner, TaskStatus, U256};
use confide_protocol::bulk::{self, MAX_SLICE_ORDERS};
use confide_protocol::order::Order;
use confide_protocol::tee::DealParams;
use confide_protocol::{DatasetOrder, OrderKind, RequestOrder, Tag};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::context::Context;
use crate::output::{CliError, CliResult};

#[derive(Subcommand, Debug)]
pub(crate) enum BulkCommand {
    /// List the bulk grants open to an app (and to you).
    Grants(GrantsArgs),
    /// Cut the bulk grants into slices, store them, and sign one request order: a bulk
    /// request file for `bulk process`.
    Prepare(PrepareArgs),
    /// Match a bulk request until every slice has its task, wait, download every result.
    Process(ProcessArgs),
    /// Where a bulk request stands: its deals and tasks, and what each task processed.
    Inspect(InspectArgs),
}

/// Which bulk grants: those of an app, narrowed by owner and schema.
#[derive(Args, Debug)]
pub(crate) struct GrantFilter {
    /// The app the grants are for.
    #[arg(long)]
    app: Address,
    /// Only protected data of this owner.
    #[arg(long)]
    owner: Option<Address>,
    /// Only protected data whose schema has these fields (`path:type`, repeatable).
    #[arg(long)]
    schema: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct GrantsArgs {
    #[command(flatten)]
    filter: GrantFilter,
}

#[derive(Args, Debug)]
pub(crate) struct PrepareArgs {
    #[command(flatten)]
    filter: GrantFilter,
    /// Protected data per task (1 to 100).
    #[arg(long, default_value_t = MAX_SLICE_ORDERS)]
    per_task: usize,
    /// Only this workerpool.
    #[arg(long)]
    workerpool: Option<Address>,
    /// The app's arguments.
    #[arg(long, allow_hyphen_values = true)]
    args: Option<String>,
    /// Encrypt each result for your key in the SMS.
    #[arg(long)]
    encrypt_result: bool,
    /// The TEE framework's tag.
    #[arg(long, default_value = "tee,tdx")]
    tag: String,
    /// Most you pay the app per task (default: the cheapest app order's price).
    #[arg(long)]
    app_max_price: Option<String>,
    /// Most you pay the workerpool per task (default: the cheapest pool order's price).
    #[arg(long)]
    workerpool_max_price: Option<String>,
    /// Where the bulk request is written.
    #[arg(long, default_value = "bulk-request.json")]
    output: PathBuf,
}

#[derive(Args, Debug)]
pub(crate) struct ProcessArgs {
    /// The bulk request file `bulk prepare` wrote.
    #[arg(default_value = "bulk-request.json")]
    request: PathBuf,
    /// Where each task's result is unpacked (`<folder>/<task index>/`).
    #[arg(long, default_value = "results/bulk")]
    output: PathBuf,
    /// Match only: do not wait for the tasks.
    #[arg(long)]
    no_wait: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 1800)]
    timeout: u64,
    /// With an encrypted result: the folder of your result key pair.
    #[arg(long, default_value = ".secrets/beneficiary")]
    beneficiary_keystoredir: PathBuf,
    /// With an encrypted result: your private result key (default: in the keystore folder).
    #[arg(long)]
    key: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct InspectArgs {
    /// The bulk request file `bulk prepare` wrote.
    #[arg(default_value = "bulk-request.json")]
    request: PathBuf,
    /// Where `bulk process` unpacked the results: each task's report of what it
    /// processed and refused is read from there.
    #[arg(long, default_value = "results/bulk")]
    results: PathBuf,
}

/// A prepared bulk request, as `bulk prepare` writes it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkRequestFile {
    /// The signed request order (dataset zero, `params.bulk_cid`, volume = slices).
    requestorder: RequestOrder,
    /// Its EIP-712 hash, which PoCo's `viewConsumed` and the market's `/deals` key on.
    requestorder_hash: B256,
    /// The root's CID.
    bulk_cid: String,
    /// The slices in task order: each one's CID and protected data.
    slices: Vec<SliceFile>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SliceFile {
    cid: String,
    protected_data: Vec<Address>,
}

fn refuse(code: &'static str, message: impl Into<String>) -> CliError {
    CliError::new(code, message)
}

pub(crate) async fn run(command: BulkCommand, ctx: &Context) -> CliResult {
    match command {
        BulkCommand::Grants(args) => grants(ctx, args).await,
        BulkCommand::Prepare(args) => prepare(ctx, args).await,
        BulkCommand::Process(args) => process(ctx, args).await,
        BulkCommand::Inspect(args) => inspect(ctx, args).await,
    }
}

async fn grants(ctx: &Context, args: GrantsArgs) -> CliResult {
    let poco = ctx.poco().await?;
    let requester = ctx.wallet.address().ok();
    let found = bulk_grants(ctx, &poco, &args.filter, requester).await?;
    let text = if found.is_empty() {
        format!("no bulk grant is open to app {}", args.filter.app)
    } else {
        let mut lines = vec![format!("{} bulk grant(s) for app {}:", found.len(), args.filter.app)];
        lines.extend(found.iter().map(|o| format!("  {}", o.dataset)));
        lines.join("\n")
    };
    ctx.out
        .done(&text, json!({ "count": found.len(), "grantedAccess": found }));
    Ok(())
}

/// Every open bulk grant of the market for the filter's app (and open to `requester`),
/// page by page, narrowed by owner and schema through the protected-data index.
async fn bulk_grants(
    ctx: &Context,
    poco: &Poco,
    filter: &GrantFilter,
    requester: Option<Address>,
) -> Result<Vec<DatasetOrder>, CliError> {
    const PAGE: usize = 1000;
    let url = super::market::market_url(ctx)?;
    let chain_id = poco.connection.chain_id;
    let requester = requester.map(|r| r.to_string()).unwrap_or_else(|| "any".into());
    let mut orders = Vec::new();
    for page in 0.. {
        let query = format!(
            "chainId={chain_id}&dataset=any&app={}&requester={requester}&isAppStrict=true&bulkOnly=true&pageSize={PAGE}&pageIndex={page}",
            filter.app
        );
        let response = reqwest::Client::new()
            .get(format!("{url}{}?{query}", super::market::endpoint(OrderKind::Dataset)))
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| super::market::unreachable(&url, e))?;
        let body = super::market::answer(response).await?;
        let entries = body["orders"].as_array().cloned().unwrap_or_default();
        let count = entries.len();
        orders.extend(entries.into_iter().filter_map(|entry| {
            let order: DatasetOrder = serde_json::from_value(entry["order"].clone()).ok()?;
            let open = entry["remaining"].as_u64().unwrap_or(0) > 0;
            (open && bulk::is_bulk_grant(&order)).then_some(order)
        }));
        if count < PAGE {
            break;
        }
    }
    if filter.owner.is_none() && filter.schema.is_empty() {
        return Ok(orders);
    }
    let wanted = protected_data_matching(ctx, filter).await?;
    orders.retain(|o| wanted.contains(&o.dataset));
    Ok(orders)
}

/// The protected data of the owner and schema asked for, from the market's index.
async fn protected_data_matching(ctx: &Context, filter: &GrantFilter) -> Result<HashSet<Address>, CliError> {
    const QUERY: &str = "query($where: ProtectedData_filter, $skip: Int, $first: Int) { protectedDatas(where: $where, skip: $skip, first: $first) { id } }";
    let mut filter_json = serde_json::Map::new();
    if let Some(owner) = filter.owner {
        filter_json.insert("owner".into(), json!(owner.to_string().to_lowercase()));
    }
    if !filter.schema.is_empty() {
        filter_json.insert("schema_contains".into(), json!(filter.schema));
    }
    let mut found = HashSet::new();
    for page in 0u32.. {
        let variables = json!({ "where": Value::Object(filter_json.clone()), "skip": page * 1000, "first": 1000 });
        let data = super::protected::graphql(ctx, QUERY, variables).await?;
        let entries = data["protectedDatas"].as_array().cloned().unwrap_or_default();
        found.extend(entries.iter().filter_map(|e| e["id"].as_str()?.parse::<Address>().ok()));
        if entries.len() < 1000 {
            break;
        }
    }
    Ok(found)
}

async fn prepare(ctx: &Context, args: PrepareArgs) -> CliResult {
    if !(1..=MAX_SLICE_ORDERS).contains(&args.per_task) {
        return Err(refuse(
            "INVALID_SLICE_SIZE",
            format!("--per-task must be 1 to {MAX_SLICE_ORDERS}"),
        ));
    }
    let signer = ctx.wallet.signer()?;
    let poco = ctx.chain.resolve()?.connect(Some(signer.clone())).await?;
    let tag: Tag = args
        .tag
        .parse()
        .map_err(|e: confide_protocol::Error| refuse("INVALID_TAG", e.to_string()))?;
    // What the enclave will need, checked before anything is stored or signed.
    let mut needs = run_args(args.filter.app, args.workerpool, tag, 1);
    needs.encrypt_result = args.encrypt_result;
    let requester = RequestOrder {
        requester: signer.address(),
        beneficiary: signer.address(),
        ..Default::default()
    };
    super::run::check_secrets_are_pushed(ctx, &needs, &requester, tag).await?;
    let grants = bulk_grants(ctx, &poco, &args.filter, Some(signer.address())).await?;
    if grants.is_empty() {
        return Err(refuse(
            "NO_BULK_GRANT",
            format!(
                "no bulk grant is open to app {} for you: owners grant with `confide protected grant ADDRESS --app APP --bulk`",
                args.filter.app
            ),
        ));
    }
    ctx.out.step(&format!("{} bulk grant(s) found", grants.len()));
    let (appmaxprice, workerpoolmaxprice) = max_prices(ctx, &poco, &args, signer.address(), tag).await?;
    let cut = bulk::cut(&grants, args.per_task);
    let mut slices = Vec::with_capacity(cut.len());
    let mut slice_cids = Vec::with_capacity(cut.len());
    for (index, slice) in cut.iter().enumerate() {
        let cid = store_json(ctx, &bulk::write_slice(slice), &format!("bulk-slice-{index}.json")).await?;
        ctx.out
            .step(&format!("slice {}/{} stored: {cid}", index + 1, cut.len()));
        slice_cids.push(
            cid.parse()
                .map_err(|_| refuse("STORE_ERROR", "the store answered a CID that does not parse"))?,
        );
        slices.push(SliceFile {
            cid,
            protected_data: slice.iter().map(|o| o.dataset).collect(),
        });
    }
    let bulk_cid = store_json(ctx, &bulk::write_root(&slice_cids), "bulk-root.json").await?;
    let params = DealParams {
        iexec_args: args.args.clone().unwrap_or_default(),
        iexec_result_encryption: args.encrypt_result,
        iexec_result_storage_provider: Some("ipfs".into()),
        bulk_cid: Some(bulk_cid.clone()),
        ..DealParams::default()
    };
    let mut request = RequestOrder {
        app: args.filter.app,
        appmaxprice,
        workerpool: args.workerpool.unwrap_or(Address::ZERO),
        workerpoolmaxprice,
        requester: signer.address(),
        volume: U256::from(slices.len()),
        tag,
        beneficiary: signer.address(),
        params: serde_json::to_string(&params).expect("params serialize"),
        salt: B256::random(),
        ..Default::default()
    };
    let domain = poco.domain();
    request
        .sign(&signer, &domain)
        .map_err(|e| refuse("SIGNING_FAILED", e.to_string()))?;
    let file = BulkRequestFile {
        requestorder_hash: request.hash(&domain),
        requestorder: request,
        bulk_cid,
        slices,
    };
    let text = serde_json::to_vec_pretty(&file).expect("the request serializes");
    std::fs::write(&args.output, text).map_err(|e| CliError::io(&args.output, e))?;
    ctx.out.done(
        &format!(
            "✔ bulk request for {} protected data in {} task(s): {}\n  run it with `confide bulk process {}`",
            grants.len(),
            file.slices.len(),
            args.output.display(),
            args.output.display()
        ),
        json!({ "path": args.output, "bulkRequest": file.requestorder, "requestorderHash": file.requestorder_hash, "bulkCid": file.bulk_cid, "volume": file.slices.len() }),
    );
    Ok(())
}

/// The request's max prices: those given, or what the cheapest open orders ask now.
async fn max_prices(
    ctx: &Context,
    poco: &Poco,
    args: &PrepareArgs,
    requester: Address,
    tag: Tag,
) -> Result<(U256, U256), CliError> {
    let parse = |text: &Option<String>| {
        text.as_deref()
            .map(confide_protocol::amount::parse_nrlc)
            .transpose()
            .map_err(|e| refuse("INVALID_AMOUNT", e.to_string()))
    };
    let (app_limit, pool_limit) = (parse(&args.app_max_price)?, parse(&args.workerpool_max_price)?);
    if let (Some(app), Some(pool)) = (app_limit, pool_limit) {
        return Ok((app, pool));
    }
    let run_args = run_args(args.filter.app, args.workerpool, tag, 1);
    let chosen = super::run::choose(ctx, poco, &run_args, args.filter.app, requester, tag).await?;
    Ok((
        app_limit.unwrap_or(chosen.app.appprice),
        pool_limit.unwrap_or(chosen.workerpool.workerpoolprice),
    ))
}

/// What `run`'s order choice needs to find orders for a bulk request.
fn run_args(app: Address, workerpool: Option<Address>, tag: Tag, volume: u64) -> super::run::RunArgs {
    super::run::RunArgs {
        app: Some(app),
        dataset: None,
        workerpool,
        args: None,
        input_files: Vec::new(),
        secrets: Vec::new(),
        tag: Some(tag.to_string()),
        category: 0,
        trust: 0,
        beneficiary: None,
        encrypt_result: false,
        volume,
        watch: false,
        download: None,
        timeout: 0,
        skip_preflight_check: true,
        max_prices: Default::default(),
    }
}

/// Stores JSON bytes in the content store; returns their CID.
async fn store_json(ctx: &Context, bytes: &[u8], name: &str) -> Result<String, CliError> {
    let file = tempfile::NamedTempFile::new().map_err(|e| CliError::new("IO_ERROR", e.to_string()))?;
    std::fs::write(file.path(), bytes).map_err(|e| CliError::io(file.path(), e))?;
    Ok(super::store::upload(ctx, file.path(), name).await?.cid)
}

fn read_request(path: &Path) -> Result<BulkRequestFile, CliError> {
    let text = std::fs::read(path).map_err(|e| {
        refuse(
            "UNREADABLE_FILE",
            format!(
                "cannot read {}: {e} (write one with `confide bulk prepare`)",
                path.display()
            ),
        )
    })?;
    serde_json::from_slice(&text).map_err(|e| {
        refuse(
            "INVALID_BULK_REQUEST",
            format!("{} is not a bulk request file: {e}", path.display()),
        )
    })
}

/// How long to wait for a workerpool order before looking again.
const POOL_RETRY: Duration = Duration::from_secs(5);

async fn process(ctx: &Context, args: ProcessArgs) -> CliResult {
    let file = read_request(&args.request)?;
    let signer = ctx.wallet.signer()?;
    let poco = ctx.chain.resolve()?.connect(Some(signer.clone())).await?;
    let request = &file.requestorder;
    if request.requester != signer.address() {
        return Err(refuse(
            "NOT_YOUR_REQUEST",
            format!(
                "the bulk request is {}'s; this wallet is {}",
                request.requester,
                signer.address()
            ),
        ));
    }
    let volume = u64::try_from(request.volume).map_err(|_| refuse("INVALID_BULK_REQUEST", "volume too large"))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(args.timeout);
    loop {
        let consumed = u64::try_from(poco.consumed(file.requestorder_hash).await?).unwrap_or(u64::MAX);
        if consumed >= volume {
            break;
        }
        let remaining = volume - consumed;
        let run_args = run_args(request.app, nonzero(request.workerpool), request.tag, remaining);
        let chosen = match super::run::choose(ctx, &poco, &run_args, request.app, signer.address(), request.tag).await {
            Err(error) if error.code == "NO_WORKERPOOL_ORDER" && std::time::Instant::now() < deadline => {
                ctx.out.step("no workerpool order free yet: looking again in 5 s");
                tokio::time::sleep(POOL_RETRY).await;
                continue;
            }
            other => other?,
        };
        if chosen.app.appprice > request.appmaxprice || chosen.workerpool.workerpoolprice > request.workerpoolmaxprice {
            return Err(refuse(
                "PRICE_ABOVE_MAX",
                "the cheapest app or workerpool order now costs more than the bulk request's max prices: prepare it again",
            ));
        }
        let matched = poco
            .match_orders(&chosen.app, None, &chosen.workerpool, request)
            .await?;
        let deal = poco.deal(matched.deal_id).await?;
        ctx.out.step(&format!(
            "deal {}: slices {}..{} of {volume}",
            matched.deal_id,
            deal.bot_first,
            deal.bot_first + deal.bot_size
        ));
    }
    let tasks = request_tasks(&poco, &file).await?;
    if args.no_wait {
        ctx.out.done(
            &format!("✔ {} task(s) created for {} slice(s)", tasks.len(), volume),
            json!({ "requestorderHash": file.requestorder_hash, "tasks": tasks.iter().map(|(i, t)| json!({"index": i, "taskId": t})).collect::<Vec<_>>() }),
        );
        return Ok(());
    }
    let mut results = Vec::new();
    for (done, (index, task)) in tasks.iter().enumerate() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let entry = match fetch_result(ctx, &poco, &signer, &args, *index, *task, left).await {
            Ok(entry) => entry,
            Err(e) => json!({ "index": index, "taskId": task, "error": { "code": e.code, "message": e.message } }),
        };
        ctx.out.step(&format!(
            "slices done {}/{}: task {index} {}",
            done + 1,
            tasks.len(),
            entry["status"]
                .as_str()
                .or(entry["error"]["message"].as_str())
                .unwrap_or_default()
        ));
        results.push(entry);
    }
    let completed = results.iter().filter(|r| r["status"] == "COMPLETED").count();
    let text = format!(
        "✔ bulk request {}: {completed}/{} task(s) completed, results in {}",
        file.requestorder_hash,
        tasks.len(),
        args.output.display()
    );
    ctx.out.done(
        &text,
        json!({ "requestorderHash": file.requestorder_hash, "tasks": results }),
    );
    if completed < tasks.len() {
        return Err(refuse(
            "TASK_FAILED",
            format!("{} task(s) did not complete", tasks.len() - completed),
        ));
    }
    Ok(())
}

fn nonzero(address: Address) -> Option<Address> {
    (!address.is_zero()).then_some(address)
}

/// Every task the request produced so far, by index (its slice), from the chain alone:
/// PoCo names each deal of a request by the request's hash and the volume consumed
/// before it, so the deals are found one after the other up to the consumed volume.
async fn request_tasks(poco: &Poco, file: &BulkRequestFile) -> Result<Vec<(u64, B256)>, CliError> {
    let consumed = poco.consumed(file.requestorder_hash).await?;
    let mut tasks = Vec::new();
    let mut first = U256::ZERO;
    while first < consumed {
        let deal_id = confide_protocol::deal_id(file.requestorder_hash, first);
        let deal = poco.deal(deal_id).await?;
        if deal.bot_size.is_zero() {
            break;
        }
        for (offset, task) in deal.task_ids().into_iter().enumerate() {
            let index = u64::try_from(first).unwrap_or(u64::MAX).saturating_add(offset as u64);
            tasks.push((index, task));
        }
        first += deal.bot_size;
    }
    Ok(tasks)
}

/// Waits for one task, then downloads, checks, decrypts and unpacks its result into
/// `<output>/<index>/`.
async fn fetch_result(
    ctx: &Context,
    poco: &Poco,
    signer: &PrivateKeySigner,
    args: &ProcessArgs,
    index: u64,
    task: B256,
    timeout: Duration,
) -> Result<Value, CliError> {
    let info = super::task::watch_task(ctx, poco, Some(signer), task, timeout).await?;
    let status = format!("{:?}", info.status).to_uppercase();
    let mut entry = json!({ "index": index, "taskId": task, "status": status });
    if info.status != TaskStatus::Completed {
        return Ok(entry);
    }
    let dir = args.output.join(index.to_string());
    std::fs::create_dir_all(&dir).map_err(|e| CliError::io(&dir, e))?;
    let downloaded = super::task::download_result(ctx, &info, Some(dir.join("result.download"))).await?;
    super::task::check_download(ctx, poco, &downloaded, &info).await?;
    let archive = dir.join("result.zip");
    if super::task::is_plain_archive(&downloaded) {
        std::fs::rename(&downloaded, &archive).map_err(|e| CliError::io(&archive, e))?;
    } else {
        let key_path = super::result::key_path(ctx, args.key.clone(), &args.beneficiary_keystoredir)?;
        let mut plain = super::result::decrypt_to_temporary(&downloaded, &key_path)?;
        let mut out = std::fs::File::create(&archive).map_err(|e| CliError::io(&archive, e))?;
        std::io::copy(&mut plain, &mut out).map_err(|e| CliError::io(&archive, e))?;
        let _ = std::fs::remove_file(&downloaded);
    }
    super::result::unpack(&archive, &dir)?;
    entry["resultDir"] = json!(dir);
    entry["slice"] = slice_report(&dir);
    Ok(entry)
}

/// What a task's enclave reported of its slice (`.confide/task.json`), if its result is here.
fn slice_report(dir: &Path) -> Value {
    std::fs::read(dir.join(confide_crypto::result::TASK_ENTRY))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .map(|task| task["bulk-slice"].clone())
        .unwrap_or(Value::Null)
}

async fn inspect(ctx: &Context, args: InspectArgs) -> CliResult {
    let file = read_request(&args.request)?;
    let poco = ctx.poco().await?;
    let volume = u64::try_from(file.requestorder.volume).unwrap_or(u64::MAX);
    let consumed = u64::try_from(poco.consumed(file.requestorder_hash).await?).unwrap_or(u64::MAX);
    let tasks = request_tasks(&poco, &file).await?;
    let mut entries = Vec::new();
    let (mut finished, mut lines) = (0, Vec::new());
    for (index, task) in &tasks {
        let status = match poco.task(*task).await {
            Ok(info) => format!("{:?}", info.status).to_uppercase(),
            Err(_) => "UNSET".to_owned(),
        };
        if matches!(status.as_str(), "COMPLETED" | "FAILED") {
            finished += 1;
        }
        let slice = usize::try_from(*index).ok().and_then(|i| file.slices.get(i));
        let report = slice_report(&args.results.join(index.to_string()));
        lines.push(format!("  task {index} {task}: {status}"));
        lines.extend(report_lines(slice, &report));
        entries.push(json!({
            "index": index,
            "taskId": task,
            "status": status,
            "protectedData": slice.map(|s| s.protected_data.clone()).unwrap_or_default(),
            "slice": report,
        }));
    }
    let status = if finished as u64 == volume {
        "FINISHED"
    } else if consumed < volume {
        "INITIALIZING"
    } else {
        "IN_PROGRESS"
    };
    let text = format!(
        "bulk request {}: {status}, {finished}/{volume} task(s) finished, {} created\n{}",
        file.requestorder_hash,
        tasks.len(),
        lines.join("\n")
    );
    ctx.out.done(
        &text,
        json!({
            "requestorderHash": file.requestorder_hash,
            "bulkStatus": status,
            "tasksTotalCount": volume,
            "tasksToCreateCount": volume.saturating_sub(consumed),
            "tasksCompletedCount": finished,
            "tasks": entries,
        }),
    );
    Ok(())
}

/// Lines saying what a task did with each protected data of its slice: as its enclave
/// reported it when the result is here, otherwise the slice's list.
fn report_lines(slice: Option<&SliceFile>, report: &Value) -> Vec<String> {
    if let Some(entries) = report.as_array() {
        return entries
            .iter()
            .map(|e| {
                let address = e["address"].as_str().unwrap_or_default();
                match e["refusal"]["code"].as_str() {
                    None => format!("    ✔ {address}"),
                    Some(code) => format!(
                        "    ✘ {address}: {code} ({})",
                        e["refusal"]["message"].as_str().unwrap_or_default()
                    ),
                }
            })
            .collect();
    }
    slice
        .map(|s| s.protected_data.iter().map(|a| format!("    · {a}")).collect())
        .unwrap_or_default()
}
