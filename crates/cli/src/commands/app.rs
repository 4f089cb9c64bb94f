//! `confide app …`: the asset commands plus the app developer's secret.

use clap::Subcommand;
use confide_chain::{Address, AssetKind};
use serde_json::json;

use super::asset::{self, AssetCommand};
use super::secret::{self, Named};
use crate::context::Context;
use crate::output::{CliError, CliResult};
use crate::project::Project;

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
}

async fn app_address(ctx: &Context, given: Option<Address>) -> Result<Address, CliError> {
    if let Some(app) = given {
        return Ok(app);
    }
    let chain_id = ctx.poco().await?.connection.chain_id;
    Project::current().deployed(AssetKind::App, chain_id).ok_or_else(|| {
        CliError::new(
            "UNKNOWN_ASSET",
            "no app address given and none in deployed.json for this chain",
        )
    })
}

pub async fn run(command: AppCommand, ctx: &Context) -> CliResult {
    match command {
        AppCommand::Asset(command) => asset::run(AssetKind::App, command, ctx).await,
        AppCommand::PushSecret {
            app,
            secret_value,
            secret_path,
        } => {
            let app = app_address(ctx, app).await?;
            let value = secret::secret_value(secret_value, secret_path)?;
            secret::push_named(ctx, Named::App { app }, &value, false).await?;
            ctx.out.done(
                &format!("✔ pushed the developer secret of app {app}"),
                json!({ "isPushed": true }),
            );
            Ok(())
        }
        AppCommand::CheckSecret { app } => {
            let app = app_address(ctx, app).await?;
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
