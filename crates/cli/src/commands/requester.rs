//! `confide requester push-secret | check-secret`: named secrets of the requester.

use clap::Subcommand;
use confide_chain::Address;
use serde_json::json;

use super::secret::{self, Secret};
use crate::context::Context;
use crate::output::CliResult;

#[derive(Subcommand, Debug)]
pub(crate) enum RequesterCommand {
    /// Push a named secret (write-once), for apps the requester runs.
    PushSecret {
        /// The secret's name: 1 to 64 of A-Z a-z 0-9 _ -.
        name: String,
        #[arg(long)]
        secret_value: Option<String>,
        #[arg(long)]
        secret_path: Option<std::path::PathBuf>,
    },
    /// Check whether a requester has a secret of this name.
    CheckSecret {
        name: String,
        /// The requester (default: the wallet's address).
        #[arg(long)]
        requester: Option<Address>,
    },
}

pub(crate) async fn run(command: RequesterCommand, ctx: &Context) -> CliResult {
    match command {
        RequesterCommand::PushSecret {
            name,
            secret_value,
            secret_path,
        } => {
            let value = secret::secret_value(secret_value, secret_path)?;
            let requester = ctx.wallet.address()?;
            let named = Secret::Requester {
                requester,
                name: name.clone(),
            };
            secret::push_named(ctx, named, &value, false).await?;
            ctx.out.done(
                &format!("✔ pushed requester secret `{name}`"),
                json!({ "isPushed": true }),
            );
        }
        RequesterCommand::CheckSecret { name, requester } => {
            let owner = match requester {
                Some(owner) => owner,
                None => ctx.wallet.address()?,
            };
            let named = Secret::Requester {
                requester: owner,
                name: name.clone(),
            };
            secret::report_presence(
                ctx,
                &named,
                "isSecretSet",
                &format!("{owner} has secret `{name}`"),
                &format!("{owner} has no secret `{name}`"),
            )
            .await?;
        }
    }
    Ok(())
}
