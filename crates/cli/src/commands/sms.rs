//! `confide sms serve`: the Secret Management Service.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use confide_sms::{AppState, SecretStore, router};

use crate::context::Context;
use crate::output::{CliError, CliResult};

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
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| CliError::new("IO_ERROR", format!("cannot create {}: {e}", args.data_dir.display())))?;
    let database_url = args
        .database_url
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", args.data_dir.join("sms.db").display()));
    let store = SecretStore::open(&database_url, &args.data_dir.join("master.key"))
        .await
        .map_err(|e| CliError::new(e.code(), e.to_string()))?;
    let listener = tokio::net::TcpListener::bind(&args.listen).await.map_err(|e| {
        CliError::new(
            "PORT_BUSY",
            format!(
                "cannot listen on {}: {e} (pass --listen with a free address)",
                args.listen
            ),
        )
    })?;
    let address = listener
        .local_addr()
        .map_err(|e| CliError::new("IO_ERROR", e.to_string()))?;
    let state = Arc::new(AppState {
        store,
        poco,
        metrics: Default::default(),
    });
    ctx.out.step(&format!("SMS listening on http://{address}"));
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| CliError::new("IO_ERROR", e.to_string()))?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM, so in-flight requests finish before exit.
pub async fn shutdown_signal() {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
