//! `confide app …`: the asset commands plus the app developer's secret.

use clap::Subcommand;
use confide_chain::{Address, AssetKind};
use serde_json::json;

use super::asset::{self, AssetCommand};
use super::secret::{self, Named};
use crate::context::Context;
use crate::output::CliResult;

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
