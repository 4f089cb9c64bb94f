//! `confide app …`: the asset commands plus the app developer's secret.

use clap::Subcommand;
use confide_chain::{Address, AssetKind};
use serde_json::json;

use super::asset::{self, AssetCommand};
use super::secret::{self, Named};
use crate::context::Context;
use crate::output::{CliError, CliResult};
use crate::project::Project;
use confide_protocol::tee::AppEnclaveConfig;

#[derive(Subcommand, Debug)]
pub enum AppCommand {
    #[command(flatten)]
    Asset(AssetCommand),
    /// Push the app developer's secret to the SMS (write-once).
    PushSecret {
        /// The app (default: deployed.json's).
        app: Option<Address>,
        #[arg(long)]
        secret_value: Option<String>,
        #[arg(long)]
        secret_path: Option<std::path::PathBuf>,
    },
    /// Check whether the app has a developer secret.
    CheckSecret { app: Option<Address> },
    /// Run the app at market price: match the cheapest compatible orders and create a deal.
    Run(super::run::RunArgs),
    /// Sign a request order at limit prices and publish it to the market.
    RequestExecution {
        #[command(flatten)]
        args: super::run::RunArgs,
        /// The most you pay each of app, dataset and workerpool per task (nRLC or `1 RLC`).
        #[arg(long, default_value = "0")]
        max_price: String,
    },
    /// Describe a WebAssembly (WASI) module as the app in iexec.json: type WASM, checksum =
    /// its sha256, and the enclave configuration (mrenclave) that pins it for attestation.
    Module {
        /// The compiled module (`.wasm`, target wasm32-wasip1).
        file: std::path::PathBuf,
        /// Upload the module to the content store and use its URL as multiaddr.
        #[arg(long, conflicts_with = "multiaddr")]
        upload: bool,
        /// Where the module is served, if it is already online.
        #[arg(long)]
        multiaddr: Option<String>,
        /// The most memory the app may use, in MiB.
        #[arg(long, default_value_t = 512)]
        memory_mib: u64,
    },
}

pub async fn run(command: AppCommand, ctx: &Context) -> CliResult {
    match command {
        AppCommand::Asset(command) => asset::run(AssetKind::App, command, ctx).await,
        AppCommand::PushSecret {
            app,
            secret_value,
            secret_path,
        } => {
            let app = ctx.asset(AssetKind::App, app).await?;
            let value = secret::secret_value(secret_value, secret_path)?;
            secret::push_named(ctx, Named::App { app }, &value, false).await?;
            ctx.out.done(
                &format!("✔ pushed the developer secret of app {app}"),
                json!({ "isPushed": true }),
            );
            Ok(())
        }
        AppCommand::Run(args) => super::run::run(ctx, args).await,
        AppCommand::RequestExecution { args, max_price } => super::run::request_execution(ctx, args, max_price).await,
        AppCommand::Module {
            file,
            upload,
            multiaddr,
            memory_mib,
        } => module(ctx, &file, upload, multiaddr, memory_mib).await,
        AppCommand::CheckSecret { app } => {
            let app = ctx.asset(AssetKind::App, app).await?;
            let present = secret::check_named(ctx, &Named::App { app }, app).await?;
            let text = if present {
                format!("✔ app {app} has a developer secret")
            } else {
                format!("✖ no developer secret for app {app}")
            };
            ctx.out.done(&text, json!({ "isSecretSet": present }));
            Ok(())
        }
    }
}

async fn module(
    ctx: &Context,
    file: &std::path::Path,
    upload: bool,
    multiaddr: Option<String>,
    memory_mib: u64,
) -> CliResult {
    let bytes = std::fs::read(file).map_err(|e| CliError::new("IO_ERROR", format!("{}: {e}", file.display())))?;
    if !bytes.starts_with(b"\0asm") {
        return Err(CliError::new(
            "NOT_WASM",
            format!(
                "{} is not a WebAssembly module (build it with --target wasm32-wasip1)",
                file.display()
            ),
        ));
    }
    let checksum =
        confide_crypto::dataset::checksum(bytes.as_slice()).map_err(|e| CliError::new("IO_ERROR", e.to_string()))?;
    let multiaddr = if upload {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "app.wasm".into());
        ctx.out
            .step(&format!("uploading {} to the content store", file.display()));
        Some(super::store::upload(ctx, file, &name).await?.0)
    } else {
        multiaddr
    };
    let mut config = AppEnclaveConfig::for_module(checksum);
    config.heap_size = memory_mib << 20;
    let project = Project::current();
    project.update_iexec_json(|json| {
        let app = json.entry("app").or_insert_with(|| json!({}));
        app["type"] = json!("WASM");
        app["checksum"] = json!(checksum);
        app["mrenclave"] = serde_json::to_value(&config).expect("config serializes");
        if let Some(url) = &multiaddr {
            app["multiaddr"] = json!(url);
        }
    })?;
    ctx.out.done(
        &format!(
            "✔ iexec.json: app is the WASM module {} (sha256 {checksum}){}",
            file.display(),
            multiaddr
                .as_deref()
                .map(|m| format!("\n  multiaddr {m}"))
                .unwrap_or_default()
        ),
        json!({ "checksum": checksum, "multiaddr": multiaddr, "mrenclave": config }),
    );
    Ok(())
}
