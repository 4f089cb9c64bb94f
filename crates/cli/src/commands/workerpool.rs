//! `confide workerpool …`: the asset commands plus `serve`, the pool owner's scheduler.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use confide_chain::{Address, AssetKind};
use confide_workerpool::scheduler::{Scheduler, SchedulerConfig};

use super::asset::{self, AssetCommand};
use crate::context::Context;
use crate::output::{CliError, CliResult};
use crate::serve;

#[derive(Subcommand, Debug)]
pub(crate) enum WorkerpoolCommand {
    #[command(flatten)]
    Asset(AssetCommand),
    /// Run the scheduler of the wallet's workerpool(s) until interrupted.
    Serve(SchedulerArgs),
}

#[derive(Args, Debug)]
pub(crate) struct SchedulerArgs {
    #[arg(long, env = "CONFIDE_SCHEDULER_LISTEN", default_value = "127.0.0.1:13600")]
    listen: String,
    /// The workerpool(s) to schedule (default: deployed.json's).
    #[arg(long = "workerpool")]
    workerpools: Vec<Address>,
    #[arg(long, env = "CONFIDE_SCHEDULER_DATA_DIR", default_value = ".confide-scheduler")]
    data_dir: PathBuf,
    /// `postgres://…` to keep the scheduler's state in Postgres instead of SQLite.
    #[arg(long, env = "CONFIDE_SCHEDULER_DATABASE_URL")]
    database_url: Option<String>,
    /// The SMS that issues enclave challenges (default: chain.json's `sms`).
    #[arg(long, env = "CONFIDE_SMS_URL")]
    sms: Option<String>,
    /// A task goes to another worker when its worker is silent this long.
    #[arg(long, default_value_t = 30)]
    lease_seconds: u64,
    /// Attempts of a task before it is left to be claimed at its deadline.
    #[arg(long, default_value_t = 3)]
    max_attempts: u64,
    /// How often to read the chain, in milliseconds.
    #[arg(long, default_value_t = 500)]
    poll_ms: u64,
    /// The block to start following from the first time (default: the current one).
    #[arg(long)]
    from_block: Option<u64>,
    /// Only these workers may join (any wallet when none is given).
    #[arg(long = "allow-worker")]
    allowed_workers: Vec<Address>,
}

pub(crate) async fn run(command: WorkerpoolCommand, ctx: &Context) -> CliResult {
    match command {
        WorkerpoolCommand::Asset(command) => asset::run(AssetKind::Workerpool, command, ctx).await,
        WorkerpoolCommand::Serve(args) => serve_scheduler(args, ctx).await,
    }
}

pub(crate) fn service_error(e: confide_workerpool::WorkerpoolError) -> CliError {
    CliError::new(e.code(), e.to_string())
}

async fn serve_scheduler(args: SchedulerArgs, ctx: &Context) -> CliResult {
    serve::init_logging();
    let owner = ctx.wallet.signer()?;
    let poco = ctx.chain.resolve()?.connect(Some(owner.clone())).await?;
    let workerpools = if args.workerpools.is_empty() {
        vec![ctx.asset(AssetKind::Workerpool, None).await?]
    } else {
        args.workerpools
    };
    let sms_url = match args.sms {
        Some(url) => Some(url),
        None => super::secret::sms_url(ctx).ok(),
    };
    let url = serve::database_url(&args.data_dir, args.database_url, "scheduler.db")?;
    let db = confide_workerpool::db::SchedulerDb::open(&url)
        .await
        .map_err(service_error)?;
    let config = SchedulerConfig {
        workerpools: workerpools.clone(),
        sms_url,
        lease: Duration::from_secs(args.lease_seconds.max(1)),
        poll: Duration::from_millis(args.poll_ms),
        max_attempts: args.max_attempts.max(1),
        from_block: args.from_block,
        allowed_workers: args.allowed_workers,
    };
    let scheduler = Scheduler::new(poco, owner, db, config).await.map_err(service_error)?;
    let names: Vec<String> = workerpools.iter().map(|w| w.to_string()).collect();
    let follower = tokio::spawn(scheduler.clone().run());
    let served = serve::serve(
        ctx,
        &format!("scheduler of workerpool {}", names.join(", ")),
        &args.listen,
        confide_workerpool::scheduler::router(scheduler.clone()),
    )
    .await;
    follower.abort();
    scheduler.step_down().await;
    served
}
