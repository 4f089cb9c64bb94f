//! `confide order init | sign | show | cancel | fill`: order templates in iexec.json,
//! signed orders in orders.json (keyed by chain id, as iExec's SDK writes them), and the
//! on-chain operations on them.

use clap::{Args, Subcommand};
use confide_chain::{Address, AssetKind, Poco};
use confide_protocol::order::{AppOrder, DatasetOrder, Order, OrderKind, RequestOrder, WorkerpoolOrder};
use serde_json::{Map, Value, json};

use crate::context::Context;
use crate::output::{CliError, CliResult};
use crate::project::{Project, write_json};

pub(crate) const ORDERS_JSON: &str = "orders.json";

/// Which orders a command applies to; none named means all four.
#[derive(Args, Debug, Clone, Copy)]
pub(crate) struct Kinds {
    #[arg(long)]
    app: bool,
    #[arg(long)]
    dataset: bool,
    #[arg(long)]
    workerpool: bool,
    #[arg(long)]
    request: bool,
}

impl Kinds {
    fn selected(self) -> Vec<OrderKind> {
        let chosen: Vec<OrderKind> = [
            (self.app, OrderKind::App),
            (self.dataset, OrderKind::Dataset),
            (self.workerpool, OrderKind::Workerpool),
            (self.request, OrderKind::Request),
        ]
        .into_iter()
        .filter_map(|(on, kind)| on.then_some(kind))
        .collect();
        if chosen.is_empty() {
            OrderKind::ALL.to_vec()
        } else {
            chosen
        }
    }
}

#[derive(Subcommand, Debug)]
pub(crate) enum OrderCommand {
    /// Write order templates into iexec.json (the tutorial's fields).
    Init(Kinds),
    /// Sign the templates with a fresh salt (EIP-712) into orders.json.
    Sign(Kinds),
    /// Show signed orders: hash, remaining volume and status on chain.
    Show(Kinds),
    /// Close signed orders on chain: their remaining volume drops to zero.
    Cancel(Kinds),
    /// Match the signed orders of orders.json on chain (the requester pays); prints the deal.
    Fill,
    /// Publish signed orders of orders.json to the market.
    Publish(Kinds),
    /// Remove orders from the market: by hash, or the last or all of the asset's.
    Unpublish {
        #[command(flatten)]
        kinds: Kinds,
        /// The order's hash (default: the signed order of orders.json).
        #[arg(long)]
        order_hash: Option<confide_chain::B256>,
        /// The last order published for the asset (or requester).
        #[arg(long)]
        last: bool,
        /// Every order published for the asset (or requester).
        #[arg(long)]
        all: bool,
    },
}

pub(crate) async fn run(command: OrderCommand, ctx: &Context) -> CliResult {
    match command {
        OrderCommand::Init(kinds) => init(ctx, kinds).await,
        OrderCommand::Sign(kinds) => sign(ctx, kinds).await,
        OrderCommand::Show(kinds) => show(ctx, kinds).await,
        OrderCommand::Cancel(kinds) => cancel(ctx, kinds).await,
        OrderCommand::Fill => fill(ctx).await,
        OrderCommand::Publish(kinds) => publish(ctx, kinds).await,
        OrderCommand::Unpublish {
            kinds,
            order_hash,
            last,
            all,
        } => unpublish(ctx, kinds, order_hash, last, all).await,
    }
}

const ZERO: &str = "0x0000000000000000000000000000000000000000";

/// iExec's templates, with this project's deployed assets filled in.
fn template(kind: OrderKind, project: &Project, chain_id: u64, wallet: Option<Address>) -> Value {
    let deployed = |asset| {
        project
            .deployed(asset, chain_id)
            .map(|a| a.to_checksum(None))
            .unwrap_or_else(|| ZERO.into())
    };
    match kind {
        OrderKind::App => json!({
            "app": deployed(AssetKind::App), "appprice": "0", "volume": "1000000", "tag": ["tee", "tdx"],
            "datasetrestrict": ZERO, "workerpoolrestrict": ZERO, "requesterrestrict": ZERO,
        }),
        OrderKind::Dataset => json!({
            "dataset": deployed(AssetKind::Dataset), "datasetprice": "0", "volume": "1000000", "tag": ["tee", "tdx"],
            "apprestrict": ZERO, "workerpoolrestrict": ZERO, "requesterrestrict": ZERO,
        }),
        OrderKind::Workerpool => json!({
            "workerpool": deployed(AssetKind::Workerpool), "workerpoolprice": "0", "volume": "1", "category": "0",
            "trust": "0", "tag": ["tee", "tdx"], "apprestrict": ZERO, "datasetrestrict": ZERO, "requesterrestrict": ZERO,
        }),
        OrderKind::Request => json!({
            "app": deployed(AssetKind::App), "appmaxprice": "0", "dataset": deployed(AssetKind::Dataset),
            "datasetmaxprice": "0", "workerpool": ZERO, "workerpoolmaxprice": "0",
            "requester": wallet.map(|w| w.to_checksum(None)).unwrap_or_else(|| ZERO.into()),
            "volume": "1", "category": "0", "trust": "0", "tag": ["tee", "tdx"], "beneficiary": ZERO, "callback": ZERO,
            "params": { "iexec_args": "", "iexec_input_files": [], "iexec_result_encryption": false },
        }),
    }
}

async fn init(ctx: &Context, kinds: Kinds) -> CliResult {
    let project = Project::current();
    let chain_id = ctx.poco().await?.connection.chain_id;
    let wallet = ctx.wallet.address().ok();
    let mut written = Map::new();
    for kind in kinds.selected() {
        written.insert(kind.json_key().into(), template(kind, &project, chain_id, wallet));
    }
    project.update_iexec_json(|json| {
        let orders = json.entry("order").or_insert_with(|| json!({}));
        if let Some(orders) = orders.as_object_mut() {
            orders.extend(written.clone());
        }
    })?;
    let names: Vec<&String> = written.keys().collect();
    ctx.out.done(
        &format!(
            "✔ saved {} template(s) in iexec.json: edit them, then run `confide order sign`",
            names.len()
        ),
        json!({ "order": written }),
    );
    Ok(())
}

fn parse<T: serde::de::DeserializeOwned>(kind: OrderKind, value: &Value) -> Result<T, CliError> {
    let mut value = value.clone();
    // iExec's templates give request params as an object; the order signs its JSON text.
    if let Some(params) = value.get_mut("params").filter(|p| p.is_object()) {
        *params = Value::String(params.to_string());
    }
    serde_json::from_value(value)
        .map_err(|e| CliError::new("INVALID_ORDER", format!("iexec.json: order.{}: {e}", kind.json_key())))
}

fn orders_file(project: &Project) -> Result<Value, CliError> {
    let path = project.path(ORDERS_JSON);
    if !path.exists() {
        return Ok(json!({}));
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CliError::new("PROJECT_FILE", format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| CliError::new("PROJECT_FILE", format!("{} is not valid JSON: {e}", path.display())))
}

/// The signed order of `kind` for this chain, from orders.json.
fn signed<T: serde::de::DeserializeOwned>(project: &Project, chain_id: u64, kind: OrderKind) -> Result<T, CliError> {
    let file = orders_file(project)?;
    let value = file
        .get(chain_id.to_string())
        .and_then(|c| c.get(kind.json_key()))
        .ok_or_else(|| {
            CliError::new(
                "NO_SIGNED_ORDER",
                format!(
                    "no signed {} for chain {chain_id} in orders.json: run `confide order sign`",
                    kind.json_key()
                ),
            )
        })?;
    parse(kind, value)
}

/// Signs `order` after checking the wallet may: it must own the asset (or be the requester).
async fn sign_one<O: Order + serde::Serialize>(
    poco: &Poco,
    mut order: O,
    signer: &confide_chain::PrivateKeySigner,
) -> Result<Value, CliError> {
    let me = signer.address();
    let subject = order.subject();
    if O::KIND != OrderKind::Request {
        let owner = poco.contract_owner(subject).await?;
        match owner {
            None => {
                return Err(CliError::new(
                    "UNKNOWN_ASSET",
                    format!("{subject} is not a deployed asset: set it in iexec.json"),
                ));
            }
            Some(owner) if owner != me => {
                return Err(CliError::new(
                    "NOT_OWNER",
                    format!("{subject} belongs to {owner}, not to your wallet {me}"),
                ));
            }
            Some(_) => {}
        }
    } else if subject != me {
        return Err(CliError::new(
            "NOT_OWNER",
            format!("the request order names requester {subject}, not your wallet {me}"),
        ));
    }
    if order.volume().is_zero() {
        return Err(CliError::new(
            "INVALID_ORDER",
            format!("the {} has volume 0", O::KIND.json_key()),
        ));
    }
    order.refresh_salt();
    order
        .sign(signer, &poco.domain())
        .map_err(|e| CliError::new("SIGNING_FAILED", e.to_string()))?;
    Ok(serde_json::to_value(&order).expect("orders serialize"))
}

async fn sign(ctx: &Context, kinds: Kinds) -> CliResult {
    let project = Project::current();
    let templates = project.section("order")?;
    let signer = ctx.wallet.signer()?;
    let poco = ctx.chain.resolve()?.connect(Some(signer.clone())).await?;
    let mut file = orders_file(&project)?;
    let chain_key = poco.connection.chain_id.to_string();
    let mut signed_now = Map::new();
    for kind in kinds.selected() {
        let Some(template) = templates.get(kind.json_key()) else {
            if kinds.selected().len() == 4 {
                continue; // signing all: only the templates present
            }
            return Err(CliError::new(
                "NO_TEMPLATE",
                format!("iexec.json has no order.{}: run `confide order init`", kind.json_key()),
            ));
        };
        let value = match kind {
            OrderKind::App => sign_one(&poco, parse::<AppOrder>(kind, template)?, &signer).await?,
            OrderKind::Dataset => sign_one(&poco, parse::<DatasetOrder>(kind, template)?, &signer).await?,
            OrderKind::Workerpool => sign_one(&poco, parse::<WorkerpoolOrder>(kind, template)?, &signer).await?,
            OrderKind::Request => sign_one(&poco, parse::<RequestOrder>(kind, template)?, &signer).await?,
        };
        ctx.out.step(&format!("{} signed", kind.json_key()));
        signed_now.insert(kind.json_key().into(), value);
    }
    if signed_now.is_empty() {
        return Err(CliError::new(
            "NO_TEMPLATE",
            "iexec.json has no order templates: run `confide order init`",
        ));
    }
    let entry = file
        .as_object_mut()
        .expect("orders.json is an object")
        .entry(chain_key)
        .or_insert_with(|| json!({}));
    entry
        .as_object_mut()
        .expect("a chain entry is an object")
        .extend(signed_now.clone());
    write_json(&project.path(ORDERS_JSON), &file)?;
    ctx.out.done(
        &format!("✔ {} order(s) signed and saved in orders.json", signed_now.len()),
        Value::Object(signed_now),
    );
    Ok(())
}

/// Hash, consumed volume and status of one signed order.
async fn describe<O: Order + serde::Serialize>(poco: &Poco, order: &O) -> Result<Value, CliError> {
    let domain = poco.domain();
    let hash = order.hash(&domain);
    let consumed = poco.consumed(hash).await?;
    let remaining = order.volume().saturating_sub(consumed);
    let valid_signature = order.recover_signer(&domain).is_some();
    let status = if remaining.is_zero() { "dead" } else { "open" };
    Ok(
        json!({ "orderHash": hash, "remaining": remaining.to_string(), "status": status, "signed": valid_signature, "order": order }),
    )
}

async fn show(ctx: &Context, kinds: Kinds) -> CliResult {
    let project = Project::current();
    let poco = ctx.poco().await?;
    let chain_id = poco.connection.chain_id;
    let all = kinds.selected().len() == 4;
    let mut out = Map::new();
    let mut lines = Vec::new();
    for kind in kinds.selected() {
        // With no kind named, orders not signed yet are skipped rather than an error.
        macro_rules! describe_signed {
            ($order:ty) => {
                match signed::<$order>(&project, chain_id, kind) {
                    Ok(order) => describe(&poco, &order).await?,
                    Err(_) if all => continue,
                    Err(error) => return Err(error),
                }
            };
        }
        let value = match kind {
            OrderKind::App => describe_signed!(AppOrder),
            OrderKind::Dataset => describe_signed!(DatasetOrder),
            OrderKind::Workerpool => describe_signed!(WorkerpoolOrder),
            OrderKind::Request => describe_signed!(RequestOrder),
        };
        lines.push(format!(
            "{:<16} {}  remaining {}  {}",
            kind.json_key(),
            value["orderHash"].as_str().unwrap_or_default(),
            value["remaining"].as_str().unwrap_or_default(),
            value["status"].as_str().unwrap_or_default()
        ));
        out.insert(kind.json_key().into(), value);
    }
    if out.is_empty() {
        return Err(CliError::new(
            "NO_SIGNED_ORDER",
            "orders.json has no signed order for this chain: run `confide order sign`",
        ));
    }
    ctx.out.done(&lines.join("\n"), Value::Object(out));
    Ok(())
}

async fn cancel(ctx: &Context, kinds: Kinds) -> CliResult {
    let project = Project::current();
    let poco = ctx.signed_poco().await?;
    let chain_id = poco.connection.chain_id;
    let mut cancelled = Map::new();
    for kind in kinds.selected() {
        let tx = match kind {
            OrderKind::App => {
                poco.cancel_order(&signed::<AppOrder>(&project, chain_id, kind)?)
                    .await?
            }
            OrderKind::Dataset => {
                poco.cancel_order(&signed::<DatasetOrder>(&project, chain_id, kind)?)
                    .await?
            }
            OrderKind::Workerpool => {
                poco.cancel_order(&signed::<WorkerpoolOrder>(&project, chain_id, kind)?)
                    .await?
            }
            OrderKind::Request => {
                poco.cancel_order(&signed::<RequestOrder>(&project, chain_id, kind)?)
                    .await?
            }
        };
        ctx.out.step(&format!("{} cancelled", kind.json_key()));
        cancelled.insert(kind.json_key().into(), json!({ "txHash": tx }));
    }
    ctx.out.done(
        &format!("✔ {} order(s) cancelled on chain", cancelled.len()),
        Value::Object(cancelled),
    );
    Ok(())
}

async fn fill(ctx: &Context) -> CliResult {
    let project = Project::current();
    let poco = ctx.signed_poco().await?;
    let chain_id = poco.connection.chain_id;
    let app: AppOrder = signed(&project, chain_id, OrderKind::App)?;
    let workerpool: WorkerpoolOrder = signed(&project, chain_id, OrderKind::Workerpool)?;
    let request: RequestOrder = signed(&project, chain_id, OrderKind::Request)?;
    let dataset: Option<DatasetOrder> = if request.dataset.is_zero() {
        None
    } else {
        Some(signed(&project, chain_id, OrderKind::Dataset)?)
    };
    let deal = poco.match_orders(&app, dataset.as_ref(), &workerpool, &request).await?;
    ctx.out.done(
        &format!("✔ deal {} created with volume {}", deal.deal_id, deal.volume),
        json!({ "dealid": deal.deal_id, "volume": deal.volume.to_string(), "txHash": deal.transaction }),
    );
    Ok(())
}

/// The signed order of `kind` for this chain as JSON, from orders.json.
fn signed_json(project: &Project, chain_id: u64, kind: OrderKind) -> Result<Value, CliError> {
    let file = orders_file(project)?;
    file.get(chain_id.to_string())
        .and_then(|c| c.get(kind.json_key()))
        .cloned()
        .ok_or_else(|| {
            CliError::new(
                "NO_SIGNED_ORDER",
                format!(
                    "no signed {} for chain {chain_id} in orders.json: run `confide order sign`",
                    kind.json_key()
                ),
            )
        })
}

pub(crate) async fn publish(ctx: &Context, kinds: Kinds) -> CliResult {
    let project = Project::current();
    let chain_id = ctx.poco().await?.connection.chain_id;
    let all = kinds.selected().len() == 4;
    let mut published = Map::new();
    for kind in kinds.selected() {
        let order = match signed_json(&project, chain_id, kind) {
            Ok(order) => order,
            Err(_) if all => continue,
            Err(error) => return Err(error),
        };
        let hash = super::market::publish(ctx, kind, &order, chain_id).await?;
        ctx.out.step(&format!("{} published: {hash}", kind.json_key()));
        published.insert(kind.json_key().into(), json!(hash));
    }
    if published.is_empty() {
        return Err(CliError::new(
            "NO_SIGNED_ORDER",
            "orders.json has no signed order for this chain: run `confide order sign`",
        ));
    }
    ctx.out.done(
        &format!("✔ {} order(s) published", published.len()),
        json!({ "published": published }),
    );
    Ok(())
}

async fn unpublish(
    ctx: &Context,
    kinds: Kinds,
    order_hash: Option<confide_chain::B256>,
    last: bool,
    all: bool,
) -> CliResult {
    let project = Project::current();
    let poco = ctx.poco().await?;
    let chain_id = poco.connection.chain_id;
    let selected = kinds.selected();
    let [kind] = selected.as_slice() else {
        return Err(CliError::new(
            "BAD_ARGUMENTS",
            "name one kind: --app, --dataset, --workerpool or --request",
        ));
    };
    let signed_value = signed_json(&project, chain_id, *kind);
    let subject_field = match kind {
        OrderKind::App => "app",
        OrderKind::Dataset => "dataset",
        OrderKind::Workerpool => "workerpool",
        OrderKind::Request => "requester",
    };
    let target = if last || all {
        let subject = signed_value?.get(subject_field).cloned().unwrap_or(Value::Null);
        json!({ "target": if all { "unpublish_all" } else { "unpublish_last" }, subject_field: subject })
    } else {
        let hash = match order_hash {
            Some(hash) => hash,
            None => match *kind {
                OrderKind::App => signed::<AppOrder>(&project, chain_id, *kind)?.hash(&poco.domain()),
                OrderKind::Dataset => signed::<DatasetOrder>(&project, chain_id, *kind)?.hash(&poco.domain()),
                OrderKind::Workerpool => signed::<WorkerpoolOrder>(&project, chain_id, *kind)?.hash(&poco.domain()),
                OrderKind::Request => signed::<RequestOrder>(&project, chain_id, *kind)?.hash(&poco.domain()),
            },
        };
        json!({ "target": "unpublish_orderHash", "orderHash": hash })
    };
    let removed = super::market::unpublish(ctx, *kind, target, chain_id).await?;
    ctx.out.done(
        &format!("✔ {} order(s) unpublished", removed.len()),
        json!({ "unpublished": removed }),
    );
    Ok(())
}

/// Options of the `app | dataset | workerpool publish` shortcuts.
#[derive(Args, Debug, Clone)]
pub(crate) struct QuickOrder {
    /// The asset (default: deployed.json's).
    pub address: Option<Address>,
    /// Price per task, in nRLC or with a unit (`1.5 RLC`).
    #[arg(long, default_value = "0")]
    pub price: String,
    #[arg(long, default_value = "1000000")]
    pub volume: u64,
    /// Tag names or hex (default: `tee,tdx`, as iExec's SDK 9).
    #[arg(long, default_value = "tee,tdx")]
    pub tag: String,
    /// Workerpool orders only: the category.
    #[arg(long, default_value_t = 0)]
    pub category: u64,
    /// Workerpool orders only: the highest trust the pool offers (requests ask for at most this).
    #[arg(long, default_value_t = 0)]
    pub trust: u64,
}

/// The asset shortcuts: an order signed from options (not iexec.json) and published.
pub(crate) async fn quick_publish(ctx: &Context, kind: AssetKind, options: QuickOrder) -> CliResult {
    let signer = ctx.wallet.signer()?;
    let poco = ctx.chain.resolve()?.connect(Some(signer.clone())).await?;
    let chain_id = poco.connection.chain_id;
    let address = Project::current().asset_or_deployed(kind, chain_id, options.address)?;
    let price = confide_protocol::amount::parse_nrlc(&options.price)
        .map_err(|e| CliError::new("INVALID_AMOUNT", e.to_string()))?;
    let tag: confide_protocol::Tag = options
        .tag
        .parse()
        .map_err(|e: confide_protocol::Error| CliError::new("INVALID_TAG", e.to_string()))?;
    let volume = confide_chain::U256::from(options.volume);
    let (order_kind, value) = match kind {
        AssetKind::App => {
            let order = AppOrder {
                app: address,
                appprice: price,
                volume,
                tag,
                ..Default::default()
            };
            (OrderKind::App, sign_one(&poco, order, &signer).await?)
        }
        AssetKind::Dataset => {
            let order = DatasetOrder {
                dataset: address,
                datasetprice: price,
                volume,
                tag,
                ..Default::default()
            };
            (OrderKind::Dataset, sign_one(&poco, order, &signer).await?)
        }
        AssetKind::Workerpool => {
            let order = WorkerpoolOrder {
                workerpool: address,
                workerpoolprice: price,
                volume,
                tag,
                category: confide_chain::U256::from(options.category),
                trust: confide_chain::U256::from(options.trust),
                ..Default::default()
            };
            (OrderKind::Workerpool, sign_one(&poco, order, &signer).await?)
        }
    };
    let hash = super::market::publish(ctx, order_kind, &value, chain_id).await?;
    ctx.out.done(
        &format!("✔ {} published: {hash}", order_kind.json_key()),
        json!({ "orderHash": hash, "order": value }),
    );
    Ok(())
}

/// `app | dataset | workerpool unpublish`: the last (or all) of the asset's orders.
pub(crate) async fn quick_unpublish(ctx: &Context, kind: AssetKind, address: Option<Address>, all: bool) -> CliResult {
    let chain_id = ctx.poco().await?.connection.chain_id;
    let address = Project::current().asset_or_deployed(kind, chain_id, address)?;
    let order_kind = match kind {
        AssetKind::App => OrderKind::App,
        AssetKind::Dataset => OrderKind::Dataset,
        AssetKind::Workerpool => OrderKind::Workerpool,
    };
    let target = json!({ "target": if all { "unpublish_all" } else { "unpublish_last" }, kind.name(): address });
    let removed = super::market::unpublish(ctx, order_kind, target, chain_id).await?;
    ctx.out.done(
        &format!("✔ {} order(s) unpublished", removed.len()),
        json!({ "unpublished": removed }),
    );
    Ok(())
}
