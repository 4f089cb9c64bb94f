//! Protected data, as iExec's DataProtector users work: `confide protect` turns an object
//! (JSON plus files) into an encrypted zip registered through the DataProtector contract
//! with its key in the SMS; `confide protected …` lists, shows, grants, revokes and
//! transfers; `confide whitelist …` manages app whitelists; `confide process` runs an app
//! on a protected data and hands back the decrypted result.
//!
//! A grant is an ordinary dataset order (tag `tee`) signed by the owner and published to
//! the market; revoking cancels it on chain. Everything the market says is re-checked:
//! orders carry their own signatures, and the chain has the last word on volume.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use confide_chain::{Address, AssetKind, B256, NewProtectedData, Poco, U256};
use confide_protected_data::{DataObject, ProtectedData, Schema, Value as Field};
use confide_protocol::Tag;
use confide_protocol::order::{DatasetOrder, Order, OrderKind};
use serde_json::{Value, json};

use super::secret::{self, Secret};
use crate::context::Context;
use crate::output::{CliError, CliResult};

/// Where `protect` keeps each protected data's key (0600), named by the encrypted zip's
/// checksum: the owner's copy, and what `protected finish` pushes when the SMS push of a
/// registered protected data did not happen.
const KEY_DIR: &str = ".secrets/protected-data";

#[derive(Args, Debug)]
pub(crate) struct ProtectArgs {
    /// The protected data's public name (on chain, visible to anyone).
    #[arg(long, default_value = "")]
    name: String,
    /// The object to protect, as JSON: strings, numbers (f64), booleans, nested objects;
    /// `{"$i128": "123"}` for a big integer, `{"$base64": "…"}` for bytes.
    #[arg(long)]
    json: Option<PathBuf>,
    /// A file to add at a path of the object: `photo=me.png`, `docs.id=id.pdf` (repeatable).
    #[arg(long = "file")]
    files: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum ProtectedCommand {
    /// Find protected data, newest first: by owner and by schema.
    List(ListArgs),
    /// One protected data: schema, owner, key in the SMS, grants with accesses left, deals.
    Show {
        /// The protected data's address.
        address: Address,
    },
    /// Let an app (or every app of a whitelist) use a protected data, for one user or anyone.
    Grant(GrantArgs),
    /// The grants (open dataset orders) of a protected data, or of every protected data
    /// for an app or a user.
    Grants(GrantsArgs),
    /// Cancel grants on chain: one by its order hash, or all that match.
    Revoke(RevokeArgs),
    /// Hand a protected data to another owner.
    Transfer {
        /// The protected data's address.
        address: Address,
        /// The new owner.
        #[arg(long)]
        to: Address,
    },
    /// Which attested enclaves received the key, for which tasks, apps and requesters (the
    /// SMS's usage ledger; for the owner only).
    Ledger {
        /// The protected data (or any dataset you own).
        address: Address,
    },
    /// Push the key of a protected data registered without it (an interrupted `protect`):
    /// the key `protect` kept in `.secrets/protected-data/` for its checksum.
    Finish {
        /// The protected data's address.
        address: Address,
    },
    /// Read a protected data's zip (decrypted, or a mock): every field, decoded with its
    /// schema.
    Read {
        /// The zip.
        zip: PathBuf,
        /// Its schema, as registered (`{"email":"string",…}`).
        #[arg(long)]
        schema: String,
    },
}

#[derive(Args, Debug)]
pub(crate) struct ListArgs {
    /// Only this owner's.
    #[arg(long)]
    owner: Option<Address>,
    /// Only those whose schema has every one of these `path:type` entries (repeatable,
    /// or comma-separated): `--schema email:string`.
    #[arg(long, value_delimiter = ',')]
    schema: Vec<String>,
    /// How many to show (at most 1000).
    #[arg(long, default_value_t = 100)]
    first: u32,
    /// How many to skip.
    #[arg(long, default_value_t = 0)]
    skip: u32,
}

#[derive(Args, Debug)]
pub(crate) struct GrantArgs {
    /// The protected data.
    address: Address,
    /// The app allowed, or an app whitelist (every app it lists).
    #[arg(long)]
    app: Address,
    /// The only user allowed (default: anyone).
    #[arg(long)]
    user: Option<Address>,
    /// Price per access (`0`, `1 RLC`, `500000000` nRLC).
    #[arg(long, default_value = "0")]
    price: String,
    /// How many accesses.
    #[arg(long, default_value_t = 1)]
    access: u64,
    /// A bulk grant: free and unlimited, so the app may process this protected data
    /// among many in one task (`confide bulk`). Not with --price or --access.
    #[arg(long, conflicts_with_all = ["price", "access"])]
    bulk: bool,
}

#[derive(Args, Debug)]
pub(crate) struct GrantsArgs {
    /// The protected data (default: any).
    address: Option<Address>,
    /// Only grants to this app (or whitelist).
    #[arg(long)]
    app: Option<Address>,
    /// Only grants to this user (grants to anyone included).
    #[arg(long)]
    user: Option<Address>,
}

#[derive(Args, Debug)]
pub(crate) struct RevokeArgs {
    /// The protected data.
    address: Address,
    /// The grant's order hash.
    #[arg(long, conflicts_with = "all")]
    order: Option<B256>,
    /// Every grant (narrowed by --app and --user).
    #[arg(long)]
    all: bool,
    /// With --all: only grants to this app.
    #[arg(long)]
    app: Option<Address>,
    /// With --all: only grants to this user.
    #[arg(long)]
    user: Option<Address>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum WhitelistCommand {
    /// Deploy an app whitelist owned by your wallet.
    Create,
    /// Add an app to a whitelist you own.
    Add {
        /// The whitelist.
        whitelist: Address,
        /// The app.
        app: Address,
    },
    /// Remove an app from a whitelist you own.
    Remove {
        /// The whitelist.
        whitelist: Address,
        /// The app.
        app: Address,
    },
    /// Whether a whitelist lists an app, and who owns it.
    Show {
        /// The whitelist.
        whitelist: Address,
        /// The app to ask about.
        #[arg(long)]
        app: Option<Address>,
    },
}

fn refuse(code: &'static str, message: impl Into<String>) -> CliError {
    CliError::new(code, message)
}

fn format_error(error: confide_protected_data::Error) -> CliError {
    CliError::new(error.code(), error.to_string())
}

/// The DataProtector contract: `CONFIDE_DATAPROTECTOR`, else the dev stack's.
fn data_protector_address() -> Result<Address, CliError> {
    if let Ok(text) = std::env::var("CONFIDE_DATAPROTECTOR") {
        return text.parse().map_err(|_| {
            refuse(
                "INVALID_ADDRESS",
                format!("CONFIDE_DATAPROTECTOR={text} is not an address"),
            )
        });
    }
    confide_devstack::DevStack::new(confide_devstack::DevStack::default_dir())
        .read_state()
        .ok()
        .and_then(|state| state.data_protector)
        .ok_or_else(|| {
            refuse(
                "NO_DATAPROTECTOR",
                "no DataProtector contract: run `confide dev up`, or set CONFIDE_DATAPROTECTOR",
            )
        })
}

/// Reads the object to protect from `--json` and `--file`.
fn data_object(args: &ProtectArgs) -> Result<DataObject, CliError> {
    let mut files = Vec::new();
    for pair in &args.files {
        let (path, file) = pair
            .split_once('=')
            .ok_or_else(|| refuse("INVALID_FILE_ARG", format!("--file {pair}: expected PATH=FILE")))?;
        let bytes = std::fs::read(file).map_err(|e| refuse("UNREADABLE_FILE", format!("cannot read {file}: {e}")))?;
        files.push((path.to_owned(), bytes));
    }
    let Some(path) = &args.json else {
        let entries = files.into_iter().map(|(path, bytes)| (path, Field::File(bytes)));
        return DataObject::from_entries(entries).map_err(format_error);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| refuse("UNREADABLE_FILE", format!("cannot read {}: {e}", path.display())))?;
    let mut object = DataObject::from_json_str(&text).map_err(format_error)?;
    for (path, bytes) in files {
        object.insert_file(&path, bytes).map_err(format_error)?;
    }
    Ok(object)
}

/// `confide protect`: schema, zip, key, encryption, upload, registration, key to the SMS.
pub(crate) async fn protect(ctx: &Context, args: ProtectArgs) -> CliResult {
    let object = data_object(&args)?;
    let signer = ctx.wallet.signer()?;
    let poco = ctx.chain.resolve()?.connect(Some(signer.clone())).await?;
    let data_protector = data_protector_address()?;
    let out = &ctx.out;
    let schema = object.schema();
    out.step(&format!("schema: {}", schema.to_json_string()));
    let zip = object.to_zip();
    out.step(&format!("zip: {} bytes", zip.len()));
    let key = confide_crypto::dataset::DatasetKey::generate();
    let encrypted_file = tempfile::NamedTempFile::new().map_err(|e| CliError::new("IO_ERROR", e.to_string()))?;
    let encrypted = confide_crypto::dataset::encrypt(
        &key,
        std::io::Cursor::new(&zip),
        std::io::BufWriter::new(encrypted_file.as_file()),
        |_| {},
    )
    .map_err(|e| refuse("ENCRYPTION_FAILED", e.to_string()))?;
    drop(zip);
    out.step(&format!("encrypted: checksum {}", encrypted.checksum));
    // The owner's copy of the key, before anything is registered: if the SMS push fails
    // afterwards, `protected finish` pushes it from here.
    let key_path = key_file(encrypted.checksum);
    std::fs::create_dir_all(KEY_DIR).map_err(|e| CliError::io(KEY_DIR, e))?;
    super::dataset::write_private(&key_path, key.to_base64().as_bytes())?;
    let upload_name = format!("protected-{}.zip.enc", &encrypted.checksum.to_string()[2..18]);
    let uploaded = super::store::upload(ctx, encrypted_file.path(), &upload_name).await?;
    let multiaddr = format!("/ipfs/{}", uploaded.cid);
    out.step(&format!("uploaded: {multiaddr}"));
    let schema_text = schema.to_json_string();
    let new = NewProtectedData {
        owner: signer.address(),
        name: &args.name,
        schema: &schema_text,
        multiaddr: multiaddr.as_bytes(),
        checksum: encrypted.checksum,
    };
    let address = poco.create_protected_data(data_protector, &new).await?;
    out.step(&format!("registered: {address}"));
    push_key(ctx, address, &key_path).await.map_err(|e| {
        CliError::new(
            e.code,
            format!(
                "{address} is registered but its key is not in the SMS ({}): run `confide protected finish {address}`",
                e.message
            ),
        )
    })?;
    out.step("key pushed to the SMS");
    ctx.out.done(
        &format!(
            "✔ protected data {address}\n  schema {schema_text}\n  key    {}",
            key_path.display()
        ),
        json!({
            "address": address,
            "name": args.name,
            "owner": signer.address(),
            "schema": serde_json::from_str::<Value>(&schema_text).unwrap_or(Value::Null),
            "multiaddr": multiaddr,
            "checksum": encrypted.checksum,
            "keyPath": key_path,
        }),
    );
    Ok(())
}

fn key_file(checksum: B256) -> PathBuf {
    Path::new(KEY_DIR).join(format!("{checksum}.key"))
}

async fn push_key(ctx: &Context, dataset: Address, key_path: &Path) -> Result<(), CliError> {
    let value = secret::read_secret_file(key_path)?;
    secret::push_dataset_key(ctx, dataset, &value).await
}

pub(crate) async fn run(command: ProtectedCommand, ctx: &Context) -> CliResult {
    match command {
        ProtectedCommand::List(args) => list(ctx, args).await,
        ProtectedCommand::Show { address } => show(ctx, address).await,
        ProtectedCommand::Grant(args) => grant(ctx, args).await,
        ProtectedCommand::Grants(args) => grants(ctx, args).await,
        ProtectedCommand::Revoke(args) => revoke(ctx, args).await,
        ProtectedCommand::Transfer { address, to } => transfer(ctx, address, to).await,
        ProtectedCommand::Finish { address } => finish(ctx, address).await,
        ProtectedCommand::Ledger { address } => ledger(ctx, address).await,
        ProtectedCommand::Read { zip, schema } => read(ctx, &zip, &schema),
    }
}

/// The market's GraphQL endpoint shaped like iExec's DataProtector subgraph.
fn subgraph_url(ctx: &Context) -> Result<String, CliError> {
    if let Ok(url) = std::env::var("CONFIDE_SUBGRAPH_URL") {
        return Ok(url);
    }
    let market = super::market::market_url(ctx)?;
    Ok(format!(
        "{market}{}",
        confide_devstack::stack::DATAPROTECTOR_SUBGRAPH_PATH
    ))
}

pub(crate) async fn graphql(ctx: &Context, query: &str, variables: Value) -> Result<Value, CliError> {
    let url = subgraph_url(ctx)?;
    let response = reqwest::Client::new()
        .post(&url)
        .json(&json!({ "query": query, "variables": variables }))
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .map_err(|e| super::market::unreachable(&url, e))?;
    let body: Value = response
        .json()
        .await
        .map_err(|e| refuse("MARKET_ERROR", format!("the subgraph at {url} answered no JSON: {e}")))?;
    if let Some(message) = body["errors"][0]["message"].as_str() {
        return Err(refuse(
            "QUERY_REFUSED",
            format!("the subgraph refused the query: {message}"),
        ));
    }
    Ok(body["data"].clone())
}

const LIST_QUERY: &str = "query($where: ProtectedData_filter, $skip: Int, $first: Int) { protectedDatas(where: $where, skip: $skip, first: $first, orderBy: creationTimestamp, orderDirection: desc) { id name owner { id } schema { id } creationTimestamp multiaddr } }";

async fn list(ctx: &Context, args: ListArgs) -> CliResult {
    if args.first > 1000 {
        return Err(refuse("BAD_REQUEST", "--first is at most 1000"));
    }
    let mut filter = serde_json::Map::new();
    if let Some(owner) = args.owner {
        filter.insert("owner".into(), json!(owner.to_string().to_lowercase()));
    }
    if !args.schema.is_empty() {
        filter.insert("schema_contains".into(), json!(args.schema));
    }
    let variables = json!({ "where": Value::Object(filter), "skip": args.skip, "first": args.first });
    let data = graphql(ctx, LIST_QUERY, variables).await?;
    let found = data["protectedDatas"].as_array().cloned().unwrap_or_default();
    let lines: Vec<String> = found
        .iter()
        .map(|p| {
            let schema: Vec<&str> = p["schema"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["id"].as_str())
                .collect();
            format!(
                "{}  {}  owner {}  [{}]",
                p["id"].as_str().unwrap_or_default(),
                p["name"].as_str().unwrap_or_default(),
                p["owner"]["id"].as_str().unwrap_or_default(),
                schema.join(", ")
            )
        })
        .collect();
    let text = if lines.is_empty() {
        "no protected data found".to_owned()
    } else {
        lines.join("\n")
    };
    ctx.out
        .done(&text, json!({ "count": found.len(), "protectedData": found }));
    Ok(())
}

const ONE_QUERY: &str = "query($id: ID!) { protectedData(id: $id) { id name owner { id } schema { id path type } jsonSchema multiaddr checksum creationTimestamp transactionHash blockNumber } }";

/// The open dataset orders of the market for these filters, each with its remaining volume.
async fn dataset_orders(ctx: &Context, chain_id: u64, filters: &[(&str, String)]) -> Result<Vec<Value>, CliError> {
    let url = super::market::market_url(ctx)?;
    let mut query = vec![format!("chainId={chain_id}"), "pageSize=1000".to_owned()];
    query.extend(filters.iter().map(|(k, v)| format!("{k}={v}")));
    let response = reqwest::Client::new()
        .get(format!(
            "{url}{}?{}",
            super::market::endpoint(OrderKind::Dataset),
            query.join("&")
        ))
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .map_err(|e| super::market::unreachable(&url, e))?;
    let body = super::market::answer(response).await?;
    Ok(body["orders"].as_array().cloned().unwrap_or_default())
}

/// One grant as people read it.
fn grant_line(entry: &Value) -> String {
    let order = &entry["order"];
    let user = order["requesterrestrict"].as_str().unwrap_or_default();
    let user = if user.trim_start_matches("0x").trim_start_matches('0').is_empty() {
        "anyone"
    } else {
        user
    };
    let bulk =
        serde_json::from_value::<DatasetOrder>(order.clone()).is_ok_and(|o| confide_protocol::bulk::is_bulk_grant(&o));
    let accesses = if bulk {
        "bulk (unlimited, free)".to_owned()
    } else {
        format!(
            "price {} nRLC  accesses left {}",
            order["datasetprice"], entry["remaining"]
        )
    };
    format!(
        "{}  app {}  user {user}  {accesses}",
        entry["orderHash"].as_str().unwrap_or_default(),
        order["apprestrict"].as_str().unwrap_or_default(),
    )
}

async fn show(ctx: &Context, address: Address) -> CliResult {
    let poco = ctx.poco().await?;
    let data = graphql(ctx, ONE_QUERY, json!({ "id": address.to_string().to_lowercase() })).await?;
    let entity = data["protectedData"].clone();
    if entity.is_null() {
        return Err(refuse(
            "NOT_PROTECTED_DATA",
            format!("{address} is not a protected data the market knows (a dataset registered without a schema?)"),
        ));
    }
    // The chain's word on the owner, the indexer's on the rest.
    let owner = poco.dataset(address).await?.owner;
    let key_in_sms = secret::exists(ctx, &Secret::Dataset(address)).await?;
    let grants = dataset_orders(
        ctx,
        poco.connection.chain_id,
        &[
            ("dataset", address.to_string()),
            ("app", "any".into()),
            ("requester", "any".into()),
        ],
    )
    .await?;
    let mut text = format!(
        "protected data {address}\n  name   {}\n  owner  {owner}\n  schema {}\n  key    {}\n",
        entity["name"].as_str().unwrap_or_default(),
        entity["jsonSchema"].as_str().unwrap_or_default(),
        if key_in_sms {
            "in the SMS"
        } else {
            "NOT in the SMS: `confide protected finish` pushes it"
        }
    );
    text.push_str(&format!("  grants ({})\n", grants.len()));
    for grant in &grants {
        text.push_str(&format!("    {}\n", grant_line(grant)));
    }
    ctx.out.done(
        text.trim_end(),
        json!({ "protectedData": entity, "owner": owner, "keyInSms": key_in_sms, "grants": grants }),
    );
    Ok(())
}

/// Refuses unless the wallet owns `dataset` on chain.
async fn check_owned(poco: &Poco, dataset: Address, wallet: Address) -> Result<(), CliError> {
    let owner = poco.dataset(dataset).await?.owner;
    if owner != wallet {
        return Err(refuse(
            "NOT_OWNER",
            format!("protected data {dataset} belongs to {owner}, not to your wallet {wallet}"),
        ));
    }
    Ok(())
}

fn same_address(value: &Value, address: Address) -> bool {
    value
        .as_str()
        .and_then(|text| text.parse::<Address>().ok())
        .is_some_and(|parsed| parsed == address)
}

async fn grant(ctx: &Context, args: GrantArgs) -> CliResult {
    let signer = ctx.wallet.signer()?;
    let poco = ctx.chain.resolve()?.connect(Some(signer.clone())).await?;
    check_owned(&poco, args.address, signer.address()).await?;
    if args.app.is_zero() {
        return Err(refuse("INVALID_APP", "--app must name an app or a whitelist, not 0x0"));
    }
    let is_app = poco.is_registered(AssetKind::App, args.app).await?;
    if !is_app && !poco.is_whitelist(args.app).await? {
        return Err(refuse(
            "NOT_AN_APP",
            format!(
                "{} is neither a registered app nor an app whitelist (ERC-734)",
                args.app
            ),
        ));
    }
    if args.access == 0 {
        return Err(refuse("INVALID_VOLUME", "--access must be at least 1"));
    }
    // A bulk grant is what iExec's DataProtector writes for `allowBulk`: price 0 and
    // its "infinite" volume, which the SMS requires before it serves a key in bulk.
    let (price_text, access) = if args.bulk {
        ("0", confide_protocol::bulk::INFINITE_VOLUME)
    } else {
        (args.price.as_str(), args.access)
    };
    let user = args.user.unwrap_or(Address::ZERO);
    let chain_id = poco.connection.chain_id;
    let existing = dataset_orders(
        ctx,
        chain_id,
        &[
            ("dataset", args.address.to_string()),
            ("app", args.app.to_string()),
            ("requester", "any".into()),
            ("isAppStrict", "true".into()),
        ],
    )
    .await?;
    if let Some(duplicate) = existing.iter().find(|o| {
        same_address(&o["order"]["apprestrict"], args.app) && same_address(&o["order"]["requesterrestrict"], user)
    }) {
        return Err(refuse(
            "DUPLICATE_GRANT",
            format!(
                "{} already has a grant for this app and user ({}): revoke it first to change it",
                args.address,
                duplicate["orderHash"].as_str().unwrap_or_default()
            ),
        ));
    }
    let price =
        confide_protocol::amount::parse_nrlc(price_text).map_err(|e| refuse("INVALID_AMOUNT", e.to_string()))?;
    let mut order = DatasetOrder {
        dataset: args.address,
        datasetprice: price,
        volume: U256::from(access),
        tag: Tag::TEE,
        apprestrict: args.app,
        requesterrestrict: user,
        salt: B256::random(),
        ..Default::default()
    };
    order
        .sign(&signer, &poco.domain())
        .map_err(|e| refuse("SIGNING_FAILED", e.to_string()))?;
    let value = serde_json::to_value(&order).expect("orders serialize");
    let hash = super::market::publish(ctx, OrderKind::Dataset, &value, chain_id).await?;
    let whom = if user.is_zero() {
        "anyone".to_owned()
    } else {
        user.to_string()
    };
    let accesses = if args.bulk {
        "bulk (unlimited, free)".to_owned()
    } else {
        format!("{access} access(es)")
    };
    ctx.out.done(
        &format!(
            "✔ granted {} to {} ({}) for {whom}: {accesses} at {}\n  order {hash}",
            args.address,
            args.app,
            if is_app { "app" } else { "whitelist" },
            confide_protocol::amount::format_rlc(price)
        ),
        json!({ "orderHash": hash, "order": value, "remainingAccess": access, "bulk": args.bulk }),
    );
    Ok(())
}

async fn grants(ctx: &Context, args: GrantsArgs) -> CliResult {
    let poco = ctx.poco().await?;
    let any = |a: Option<Address>| a.map(|a| a.to_string()).unwrap_or_else(|| "any".into());
    let mut filters = vec![
        ("dataset", any(args.address)),
        ("app", any(args.app)),
        ("requester", any(args.user)),
    ];
    if args.app.is_some() {
        filters.push(("isAppStrict", "true".into()));
    }
    let found = dataset_orders(ctx, poco.connection.chain_id, &filters).await?;
    let text = if found.is_empty() {
        "no grants found".to_owned()
    } else {
        found.iter().map(grant_line).collect::<Vec<_>>().join("\n")
    };
    ctx.out
        .done(&text, json!({ "count": found.len(), "grantedAccess": found }));
    Ok(())
}

async fn revoke(ctx: &Context, args: RevokeArgs) -> CliResult {
    if args.order.is_none() && !args.all {
        return Err(refuse(
            "NOTHING_TO_REVOKE",
            "name a grant with --order HASH, or pass --all",
        ));
    }
    let signer = ctx.wallet.signer()?;
    let poco = ctx.chain.resolve()?.connect(Some(signer.clone())).await?;
    check_owned(&poco, args.address, signer.address()).await?;
    let any = |a: Option<Address>| a.map(|a| a.to_string()).unwrap_or_else(|| "any".into());
    let found = dataset_orders(
        ctx,
        poco.connection.chain_id,
        &[
            ("dataset", args.address.to_string()),
            ("app", any(args.app)),
            ("requester", any(args.user)),
        ],
    )
    .await?;
    let chosen: Vec<&Value> = found
        .iter()
        .filter(|o| match args.order {
            Some(hash) => o["orderHash"].as_str().and_then(|h| h.parse::<B256>().ok()) == Some(hash),
            None => true,
        })
        .filter(|o| args.app.is_none_or(|app| same_address(&o["order"]["apprestrict"], app)))
        .filter(|o| {
            args.user
                .is_none_or(|user| same_address(&o["order"]["requesterrestrict"], user))
        })
        .collect();
    if chosen.is_empty() {
        return Err(refuse(
            "GRANT_NOT_FOUND",
            format!("no open grant of {} matches", args.address),
        ));
    }
    let mut revoked = Vec::new();
    for entry in chosen {
        let order: DatasetOrder = serde_json::from_value(entry["order"].clone()).map_err(|e| {
            refuse(
                "INVALID_ORDER",
                format!("the market served an order that does not parse: {e}"),
            )
        })?;
        let transaction = poco.cancel_order(&order).await?;
        ctx.out
            .step(&format!("revoked {}", entry["orderHash"].as_str().unwrap_or_default()));
        revoked.push(json!({ "access": entry, "txHash": transaction }));
    }
    ctx.out.done(
        &format!("✔ {} grant(s) of {} revoked", revoked.len(), args.address),
        json!({ "revoked": revoked }),
    );
    Ok(())
}

async fn transfer(ctx: &Context, address: Address, to: Address) -> CliResult {
    let poco = ctx.signed_poco().await?;
    let transaction = poco.transfer_asset(AssetKind::Dataset, address, to).await?;
    ctx.out.done(
        &format!("✔ protected data {address} now belongs to {to}"),
        json!({ "address": address, "to": to, "txHash": transaction }),
    );
    Ok(())
}

async fn finish(ctx: &Context, address: Address) -> CliResult {
    let poco = ctx.poco().await?;
    let dataset = poco.dataset(address).await?;
    if secret::exists(ctx, &Secret::Dataset(address)).await? {
        ctx.out.done(
            &format!("✔ the SMS already holds the key of {address}: nothing to finish"),
            json!({ "isPushed": true }),
        );
        return Ok(());
    }
    let key_path = key_file(dataset.checksum);
    if !key_path.exists() {
        return Err(refuse(
            "NO_DATASET_KEY",
            format!(
                "no key for checksum {} in {KEY_DIR} here: run this where `confide protect` ran",
                dataset.checksum
            ),
        ));
    }
    push_key(ctx, address, &key_path).await?;
    ctx.out.done(
        &format!("✔ pushed the key of {address} to the SMS"),
        json!({ "isPushed": true }),
    );
    Ok(())
}

async fn ledger(ctx: &Context, address: Address) -> CliResult {
    let signer = ctx.wallet.signer()?;
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let deployment = ctx.poco().await?.sms_deployment();
    let challenge = confide_protocol::sms::key_releases_challenge(deployment, address, at);
    let signature = confide_protocol::messages::sign_personal(&signer, challenge)
        .map_err(|e| refuse("SIGNING_FAILED", e.to_string()))?;
    let releases = secret::key_releases(ctx, address, at, &signature).await?;
    let lines: Vec<String> = releases
        .iter()
        .map(|r| {
            format!(
                "{}  task {}  app {}  requester {}  {} enclave{}",
                r.at_ms / 1000,
                r.task_id,
                r.app,
                r.requester,
                r.evidence,
                if r.evidence == "simulated" {
                    " (SIMULATED: nothing proven)"
                } else {
                    ""
                }
            )
        })
        .collect();
    let text = if lines.is_empty() {
        format!("the SMS never released the key of {address}")
    } else {
        format!(
            "the key of {address} went to {} enclave(s):\n{}",
            lines.len(),
            lines.join("\n")
        )
    };
    ctx.out.done(&text, json!({ "releases": releases }));
    Ok(())
}

fn read(ctx: &Context, zip: &Path, schema: &str) -> CliResult {
    let bytes =
        std::fs::read(zip).map_err(|e| refuse("UNREADABLE_FILE", format!("cannot read {}: {e}", zip.display())))?;
    let data = ProtectedData::from_zip(&bytes).map_err(format_error)?;
    let entries = Schema::parse_chain(schema);
    let fields = Field::Object(data.to_object(&entries).map_err(format_error)?).to_json();
    ctx.out.done(
        &serde_json::to_string_pretty(&fields).expect("JSON prints"),
        json!({ "data": fields }),
    );
    Ok(())
}

pub(crate) async fn whitelist(command: WhitelistCommand, ctx: &Context) -> CliResult {
    match command {
        WhitelistCommand::Create => {
            let poco = ctx.signed_poco().await?;
            let address = poco.deploy_app_whitelist().await?;
            ctx.out.done(
                &format!("✔ app whitelist deployed at {address}: add apps with `confide whitelist add {address} APP`"),
                json!({ "address": address }),
            );
        }
        WhitelistCommand::Add { whitelist, app } | WhitelistCommand::Remove { whitelist, app } => {
            let listed = matches!(command, WhitelistCommand::Add { .. });
            let poco = ctx.signed_poco().await?;
            if !poco.is_whitelist(whitelist).await? {
                return Err(refuse(
                    "NOT_A_WHITELIST",
                    format!("{whitelist} is not an app whitelist"),
                ));
            }
            let owner = poco.whitelist_owner(whitelist).await?;
            let wallet = ctx.wallet.address()?;
            if owner != wallet {
                return Err(refuse(
                    "NOT_OWNER",
                    format!("whitelist {whitelist} belongs to {owner}, not to your wallet {wallet}"),
                ));
            }
            let transaction = poco.set_whitelisted(whitelist, app, listed).await?;
            let verb = if listed { "added to" } else { "removed from" };
            ctx.out.done(
                &format!("✔ app {app} {verb} whitelist {whitelist}"),
                json!({ "whitelist": whitelist, "app": app, "listed": listed, "txHash": transaction }),
            );
        }
        WhitelistCommand::Show { whitelist, app } => {
            let poco = ctx.poco().await?;
            if !poco.is_whitelist(whitelist).await? {
                return Err(refuse(
                    "NOT_A_WHITELIST",
                    format!("{whitelist} is not an app whitelist"),
                ));
            }
            let owner = poco.whitelist_owner(whitelist).await.ok();
            let listed = match app {
                Some(app) => Some(poco.whitelist_allows(whitelist, app).await?),
                None => None,
            };
            let mut text = format!(
                "app whitelist {whitelist}\n  owner {}",
                owner.map(|o| o.to_string()).unwrap_or_default()
            );
            if let (Some(app), Some(listed)) = (app, listed) {
                text.push_str(&format!(
                    "\n  app {app}: {}",
                    if listed { "listed" } else { "not listed" }
                ));
            }
            ctx.out.done(
                &text,
                json!({ "whitelist": whitelist, "owner": owner, "listed": listed }),
            );
        }
    }
    Ok(())
}

#[derive(Args, Debug)]
pub(crate) struct ProcessArgs {
    /// The protected data.
    pub protected_data: Address,
    /// The app to run on it.
    #[arg(long)]
    pub app: Address,
    /// Only this workerpool.
    #[arg(long)]
    pub workerpool: Option<Address>,
    /// The app's arguments.
    #[arg(long, allow_hyphen_values = true)]
    pub args: Option<String>,
    /// Input files the enclave downloads (URLs, comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub input_files: Vec<String>,
    /// Requester secrets: INDEX=NAME (pushed with `confide requester push-secret NAME`).
    #[arg(long = "secret")]
    pub secrets: Vec<String>,
    /// The TEE framework's tag.
    #[arg(long, default_value = "tee,tdx")]
    pub tag: String,
    /// Encrypt the result for your key in the SMS (decrypted here with your key).
    #[arg(long)]
    pub encrypt_result: bool,
    /// Most you pay per access to the protected data, e.g. `1 RLC`.
    #[arg(long)]
    pub data_max_price: Option<String>,
    /// Most you pay the app.
    #[arg(long)]
    pub app_max_price: Option<String>,
    /// Most you pay the workerpool.
    #[arg(long)]
    pub workerpool_max_price: Option<String>,
    /// Where the result goes (default `results/<task>`).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// A file of the result to print (e.g. `result.txt`).
    #[arg(long)]
    pub path: Option<String>,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// With --encrypt-result: the folder of your result key pair.
    #[arg(long, default_value = ".secrets/beneficiary")]
    pub beneficiary_keystoredir: PathBuf,
    /// With --encrypt-result: your private result key (default: in the keystore folder).
    #[arg(long)]
    pub key: Option<PathBuf>,
}

/// `confide process`: `app run` on the protected data, waiting for the task, then the
/// result downloaded, checked against the chain, decrypted and unpacked.
pub(crate) async fn process(ctx: &Context, args: ProcessArgs) -> CliResult {
    let download = std::env::temp_dir().join(format!("confide-process-{}", B256::random()));
    let run_args = super::run::RunArgs {
        app: Some(args.app),
        dataset: Some(args.protected_data),
        workerpool: args.workerpool,
        args: args.args.clone(),
        input_files: args.input_files.clone(),
        secrets: args.secrets.clone(),
        tag: Some(args.tag.clone()),
        category: 0,
        trust: 0,
        beneficiary: None,
        encrypt_result: args.encrypt_result,
        volume: 1,
        watch: true,
        download: Some(download.clone()),
        timeout: args.timeout,
        skip_preflight_check: false,
        max_prices: super::run::MaxPrices {
            app_max_price: args.app_max_price.clone(),
            dataset_max_price: args.data_max_price.clone(),
            workerpool_max_price: args.workerpool_max_price.clone(),
        },
    };
    let outcome = super::run::run_deal(ctx, run_args).await;
    let (_, outcome) = outcome.inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&download);
    })?;
    let finished = finish_result(ctx, &args, &outcome);
    let _ = std::fs::remove_dir_all(&download);
    finished
}

/// The downloaded result of the task: decrypted when encrypted, unpacked into the output
/// folder, and the asked file printed.
fn finish_result(ctx: &Context, args: &ProcessArgs, outcome: &Value) -> CliResult {
    let deal = outcome["dealid"].clone();
    let entry = &outcome["results"][0];
    let task = entry["taskId"].as_str().unwrap_or_default().to_owned();
    if let Some(message) = entry["error"]["message"].as_str() {
        return Err(refuse("TASK_FAILED", format!("task {task} of deal {deal}: {message}")));
    }
    let status = entry["status"].as_str().unwrap_or_default();
    if status != "COMPLETED" {
        return Err(refuse(
            "TASK_FAILED",
            format!("task {task} of deal {deal} ended {status}: `confide task debug {task} --logs` says why"),
        ));
    }
    let downloaded = PathBuf::from(entry["resultPath"].as_str().unwrap_or_default());
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("results").join(&task));
    std::fs::create_dir_all(&output).map_err(|e| CliError::io(&output, e))?;
    let archive = if args.encrypt_result {
        let key_path = super::result::key_path(ctx, args.key.clone(), &args.beneficiary_keystoredir)?;
        let mut plain = super::result::decrypt_to_temporary(&downloaded, &key_path)?;
        let target = output.join("result.zip");
        let mut file = std::fs::File::create(&target).map_err(|e| CliError::io(&target, e))?;
        std::io::copy(&mut plain, &mut file).map_err(|e| CliError::io(&target, e))?;
        target
    } else {
        let target = output.join("result.zip");
        std::fs::copy(&downloaded, &target).map_err(|e| CliError::io(&target, e))?;
        target
    };
    let files = super::result::unpack(&archive, &output)?;
    let mut text = format!("✔ task {task} completed: result in {}", output.display());
    let mut printed = Value::Null;
    if let Some(path) = &args.path {
        let file = output.join(path);
        let bytes = std::fs::read(&file).map_err(|_| {
            refuse(
                "NOT_IN_RESULT",
                format!("the result has no file {path} (see {})", output.display()),
            )
        })?;
        match String::from_utf8(bytes) {
            Ok(content) => {
                text.push_str(&format!("\n{path}:\n{content}"));
                printed = json!(content);
            }
            Err(_) => text.push_str(&format!("\n{path}: binary, in {}", file.display())),
        }
    }
    ctx.out.done(
        &text,
        json!({ "dealid": deal, "taskId": task, "resultDir": output, "files": files, "path": args.path, "content": printed }),
    );
    Ok(())
}
