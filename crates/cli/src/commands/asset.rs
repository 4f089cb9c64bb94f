//! `confide app | dataset | workerpool  init | deploy | show | count | transfer`.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use confide_chain::{Address, AssetKind, B256, Poco, U256};
use serde_json::{Map, Value, json};

use crate::context::Context;
use crate::output::{CliError, CliResult};
use crate::project::{Project, asset_template};
use confide_protocol::tee::AppManifest;

#[derive(Subcommand, Debug)]
pub(crate) enum AssetCommand {
    /// Add this asset's template to iexec.json.
    Init {
        /// (apps) A Python app: also writes app/main.py, app/requirements and a sample
        /// dataset to try it on with `confide app test`.
        #[arg(long)]
        python: bool,
    },
    /// Register the asset of iexec.json on chain.
    Deploy,
    /// Show an asset: by address, by index among the user's, or the one in deployed.json.
    Show {
        address_or_index: Option<String>,
        /// Owner whose assets an index counts (default: the wallet's address).
        #[arg(long)]
        user: Option<Address>,
    },
    /// Count the assets a user owns.
    Count {
        #[arg(long)]
        user: Option<Address>,
    },
    /// Hand an asset to another owner.
    Transfer {
        address: Address,
        #[arg(long)]
        to: Address,
    },
    /// Sign an order for the asset from options and publish it to the market.
    Publish(super::order::QuickOrder),
    /// Remove the asset's last order (or all of them) from the market.
    Unpublish {
        address: Option<Address>,
        #[arg(long)]
        all: bool,
    },
}

pub(crate) async fn run(kind: AssetKind, command: AssetCommand, ctx: &Context) -> CliResult {
    match command {
        AssetCommand::Init { python: false } => init(kind, ctx, None),
        AssetCommand::Init { python: true } if kind == AssetKind::App => {
            init(
                kind,
                ctx,
                Some(&|| super::python::init_project(&std::env::current_dir().unwrap_or_default())),
            )?;
            ctx.out
                .step("wrote app/main.py, app/protected_data.py, app/requirements and sample/dataset.csv");
            ctx.out.step("try it: confide app test --dataset sample/dataset.csv");
            Ok(())
        }
        AssetCommand::Init { python: true } => Err(CliError::new(
            "INVALID_OPTION",
            format!("--python makes an app; a {} has no code", kind.name()),
        )),
        AssetCommand::Deploy => deploy(kind, ctx).await,
        AssetCommand::Show { address_or_index, user } => show(kind, ctx, address_or_index, user).await,
        AssetCommand::Count { user } => {
            let user = user_or_wallet(ctx, user)?;
            let count = ctx.poco().await?.count_assets(kind, user).await?;
            ctx.out.done(
                &format!("{user} has {count} {}(s)", kind.name()),
                json!({ "count": count.to_string() }),
            );
            Ok(())
        }
        AssetCommand::Publish(options) => super::order::quick_publish(ctx, kind, options).await,
        AssetCommand::Unpublish { address, all } => super::order::quick_unpublish(ctx, kind, address, all).await,
        AssetCommand::Transfer { address, to } => {
            let poco = ctx.signed_poco().await?;
            let tx = poco.transfer_asset(kind, address, to).await?;
            ctx.out.done(
                &format!("✔ {} {address} transferred to {to}", kind.name()),
                json!({ "address": address, "to": to, "txHash": tx }),
            );
            Ok(())
        }
    }
}

fn user_or_wallet(ctx: &Context, user: Option<Address>) -> Result<Address, CliError> {
    match user {
        Some(user) => Ok(user),
        None => ctx.wallet.address(),
    }
}

/// Writes the asset's template into iexec.json, with the wallet as owner when known, and
/// applies `extra` (for `dataset init --encrypted`, the folders).
pub(crate) fn init(kind: AssetKind, ctx: &Context, extra: Option<&dyn Fn() -> Result<(), CliError>>) -> CliResult {
    let owner = ctx.wallet.address().unwrap_or(Address::ZERO);
    let template = asset_template(kind, owner);
    // The extra files first: when one cannot be written, iexec.json is left as it was.
    if let Some(extra) = extra {
        extra()?;
    }
    Project::current().update_iexec_json(|json| {
        json.insert(kind.name().to_owned(), template.clone());
    })?;
    ctx.out.done(
        &format!(
            "✔ saved default {} in iexec.json; edit it, then run `confide {} deploy`",
            kind.name(),
            kind.name()
        ),
        json!({ kind.name(): template }),
    );
    Ok(())
}

fn text_field(section: &Map<String, Value>, kind: AssetKind, key: &str) -> Result<String, CliError> {
    section
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            CliError::new(
                "INVALID_TEMPLATE",
                format!("iexec.json: {}.{key} must be a string", kind.name()),
            )
        })
}

fn checksum_field(section: &Map<String, Value>, kind: AssetKind) -> Result<B256, CliError> {
    let text = text_field(section, kind, "checksum")?;
    text.parse().map_err(|_| {
        CliError::new(
            "INVALID_TEMPLATE",
            format!("iexec.json: {}.checksum must be 0x and 64 hex digits", kind.name()),
        )
    })
}

fn multiaddr_field(section: &Map<String, Value>, kind: AssetKind) -> Result<String, CliError> {
    let multiaddr = text_field(section, kind, "multiaddr")?;
    if multiaddr.trim().is_empty() {
        return Err(CliError::new(
            "INVALID_TEMPLATE",
            format!(
                "iexec.json: {}.multiaddr is empty: set where the {} can be downloaded (https://… or /ipfs/…)",
                kind.name(),
                kind.name()
            ),
        ));
    }
    let valid =
        multiaddr.starts_with("https://") || multiaddr.starts_with("http://") || multiaddr.starts_with("/ipfs/");
    if !valid && kind == AssetKind::Dataset {
        return Err(CliError::new(
            "INVALID_TEMPLATE",
            format!("dataset multiaddr `{multiaddr}` must be an https:// URL or an /ipfs/ path"),
        ));
    }
    Ok(multiaddr)
}

async fn deploy(kind: AssetKind, ctx: &Context) -> CliResult {
    let project = Project::current();
    let section = project.section(kind.name())?;
    let poco = ctx.signed_poco().await?;
    let sender = poco.connection.sender.expect("signed client");
    let owner: Address = section
        .get("owner")
        .and_then(Value::as_str)
        .and_then(|o| o.parse().ok())
        .unwrap_or(Address::ZERO);
    if !owner.is_zero() && owner != sender {
        return Err(CliError::new(
            "OWNER_MISMATCH",
            format!(
                "iexec.json names {owner} as {} owner but the wallet is {sender}: fix the owner or pick that wallet",
                kind.name()
            ),
        ));
    }
    let address = match kind {
        AssetKind::App => {
            let name = text_field(&section, kind, "name")?;
            let app_type = section.get("type").and_then(Value::as_str).unwrap_or("WASM").to_owned();
            let multiaddr = multiaddr_field(&section, kind)?;
            let checksum = checksum_field(&section, kind)?;
            let mrenclave = match section.get("mrenclave") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
            };
            poco.create_app(&name, &app_type, multiaddr.as_bytes(), checksum, mrenclave.as_bytes())
                .await?
        }
        AssetKind::Dataset => {
            let name = text_field(&section, kind, "name")?;
            let multiaddr = multiaddr_field(&section, kind)?;
            let checksum = checksum_field(&section, kind)?;
            check_local_checksum(&multiaddr, checksum)?;
            poco.create_dataset(&name, multiaddr.as_bytes(), checksum).await?
        }
        AssetKind::Workerpool => {
            let description = text_field(&section, kind, "description")?;
            poco.create_workerpool(&description).await?
        }
    };
    project.record_deployed(kind, poco.connection.chain_id, address)?;
    ctx.out.done(
        &format!("✔ Deployed new {} at address {address}", kind.name()),
        json!({ "address": address }),
    );
    Ok(())
}

/// The folders where `dataset encrypt` and `tee encrypt-dataset` put ciphertext.
pub(crate) const ENCRYPTED_DIRS: [&str; 2] = ["datasets/encrypted", "tee/encrypted-dataset"];

/// When the file the multiaddr names is at hand, its sha256 must be the checksum: a
/// dataset registered with a wrong checksum can never be used.
fn check_local_checksum(multiaddr: &str, checksum: B256) -> Result<(), CliError> {
    let Some(name) = multiaddr
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
    else {
        return Ok(());
    };
    let local: Option<PathBuf> = ENCRYPTED_DIRS
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file());
    let Some(path) = local else { return Ok(()) };
    let file = std::fs::File::open(&path)
        .map_err(|e| CliError::new("UNREADABLE_FILE", format!("cannot read {}: {e}", path.display())))?;
    let actual = confide_crypto::dataset::checksum(std::io::BufReader::new(file))
        .map_err(|e| CliError::new("UNREADABLE_FILE", format!("{}: {e}", path.display())))?;
    if actual != checksum {
        return Err(CliError::new(
            "CHECKSUM_MISMATCH",
            format!(
                "iexec.json's dataset checksum {checksum} is not the sha256 of {} ({actual}): fix it before deploying",
                path.display()
            ),
        ));
    }
    Ok(())
}

async fn resolve_address(
    kind: AssetKind,
    ctx: &Context,
    poco: &Poco,
    address_or_index: Option<String>,
    user: Option<Address>,
) -> Result<Address, CliError> {
    match address_or_index {
        Some(text) if text.starts_with("0x") => text
            .parse()
            .map_err(|_| CliError::new("INVALID_ADDRESS", format!("`{text}` is not an address"))),
        Some(text) => {
            let index: u64 = text.parse().map_err(|_| {
                CliError::new(
                    "INVALID_ADDRESS",
                    format!("`{text}` is neither an address nor an index"),
                )
            })?;
            let user = user_or_wallet(ctx, user)?;
            let count = poco.count_assets(kind, user).await?;
            if U256::from(index) >= count {
                return Err(CliError::new(
                    "UNKNOWN_ASSET",
                    format!("{user} has {count} {}(s): index {index} is out of range", kind.name()),
                ));
            }
            Ok(poco.asset_of_owner(kind, user, U256::from(index)).await?)
        }
        None => Project::current().asset_or_deployed(kind, poco.connection.chain_id, None),
    }
}

/// The manifest a manifest app's multiaddr serves, if it is the one the chain's checksum
/// binds; otherwise why not, in a few words.
async fn registered_manifest(multiaddr: &str, checksum: B256) -> Result<AppManifest, String> {
    use confide_protocol::tee::{MAX_MANIFEST_BYTES, registered_enclave_config};
    if !(multiaddr.starts_with("https://") || multiaddr.starts_with("http://")) {
        return Err("not fetched (the multiaddr is not an http(s) URL)".into());
    }
    // Read to one byte past the limit at most: the server is the app developer's.
    let fetch = async {
        let mut response = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()?
            .get(multiaddr)
            .send()
            .await?
            .error_for_status()?;
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > MAX_MANIFEST_BYTES {
                break;
            }
        }
        Ok::<_, reqwest::Error>(bytes)
    };
    let bytes = fetch.await.map_err(|e| format!("unreachable: {e}"))?;
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err("the multiaddr serves no manifest (too large)".into());
    }
    registered_enclave_config(b"", checksum, Some(&bytes)).map_err(|e| e.to_string())?;
    AppManifest::parse(&bytes).ok_or_else(|| "the multiaddr serves no manifest".into())
}

async fn show(kind: AssetKind, ctx: &Context, address_or_index: Option<String>, user: Option<Address>) -> CliResult {
    let poco = ctx.poco().await?;
    let address = resolve_address(kind, ctx, &poco, address_or_index, user).await?;
    let bytes_text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let (text, value) = match kind {
        AssetKind::App => {
            let app = poco.app(address).await?;
            let multiaddr = bytes_text(&app.multiaddr);
            let manifest = if app.mrenclave.is_empty() {
                Some(registered_manifest(&multiaddr, app.checksum).await)
            } else {
                None
            };
            let manifest_text = match &manifest {
                None => String::new(),
                Some(Ok(m)) => format!(
                    "\n  manifest  matches the checksum: code {}, fingerprint {}, {} MiB{}",
                    m.module,
                    m.enclave.fingerprint,
                    m.enclave.heap_size >> 20,
                    m.enclave
                        .python
                        .as_ref()
                        .map(|p| format!(", {}", p.runtime))
                        .unwrap_or_default()
                ),
                Some(Err(why)) => format!("\n  manifest  {why}"),
            };
            let manifest_json = match &manifest {
                None => serde_json::Value::Null,
                Some(Ok(m)) => json!(m),
                Some(Err(why)) => json!({ "error": why }),
            };
            (
                format!(
                    "app {address}\n  owner     {}\n  name      {}\n  type      {}\n  multiaddr {}\n  checksum  {}\n  mrenclave {}{manifest_text}",
                    app.owner,
                    app.name,
                    app.app_type,
                    multiaddr,
                    app.checksum,
                    bytes_text(&app.mrenclave)
                ),
                json!({ "app": { "address": address, "owner": app.owner, "name": app.name, "type": app.app_type,
                    "multiaddr": multiaddr, "checksum": app.checksum, "mrenclave": bytes_text(&app.mrenclave),
                    "manifest": manifest_json } }),
            )
        }
        AssetKind::Dataset => {
            let dataset = poco.dataset(address).await?;
            (
                format!(
                    "dataset {address}\n  owner     {}\n  name      {}\n  multiaddr {}\n  checksum  {}",
                    dataset.owner,
                    dataset.name,
                    bytes_text(&dataset.multiaddr),
                    dataset.checksum
                ),
                json!({ "dataset": { "address": address, "owner": dataset.owner, "name": dataset.name,
                    "multiaddr": bytes_text(&dataset.multiaddr), "checksum": dataset.checksum } }),
            )
        }
        AssetKind::Workerpool => {
            let pool = poco.workerpool(address).await?;
            (
                format!(
                    "workerpool {address}\n  owner       {}\n  description {}",
                    pool.owner, pool.description
                ),
                json!({ "workerpool": { "address": address, "owner": pool.owner, "description": pool.description,
                    "workerStakeRatio": pool.worker_stake_ratio.to_string(),
                    "schedulerRewardRatio": pool.scheduler_reward_ratio.to_string() } }),
            )
        }
    };
    ctx.out.done(&text, value);
    Ok(())
}
