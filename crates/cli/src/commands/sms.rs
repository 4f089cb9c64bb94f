//! `confide sms serve`: the Secret Management Service.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use confide_sms::{AppState, SecretStore, router};

use crate::context::Context;
use crate::output::{CliError, CliResult};
use crate::serve;

#[derive(Subcommand, Debug)]
pub enum SmsCommand {
    /// Serve the SMS API until interrupted (SIGINT or SIGTERM).
    Serve(ServeArgs),
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CONFIDE_SMS_LISTEN", default_value = "127.0.0.1:13300")]
    listen: String,
    /// Where the master key and the SQLite database live.
    #[arg(long, env = "CONFIDE_SMS_DATA_DIR", default_value = ".confide-sms")]
    data_dir: PathBuf,
    /// `postgres://…` to store secrets in Postgres instead of SQLite.
    #[arg(long, env = "CONFIDE_SMS_DATABASE_URL")]
    database_url: Option<String>,
}

pub async fn run(command: SmsCommand, ctx: &Context) -> CliResult {
    let SmsCommand::Serve(args) = command;
    let poco = ctx.poco().await?;
    let database_url = serve::database_url(&args.data_dir, args.database_url, "sms.db")?;
    let store = SecretStore::open(&database_url, &args.data_dir.join("master.key"))
        .await
        .map_err(|e| CliError::new(e.code(), e.to_string()))?;
    let state = Arc::new(AppState {
        store,
        poco,
        metrics: Default::default(),
    });
    serve::serve(ctx, "SMS", &args.listen, router(state)).await
}
