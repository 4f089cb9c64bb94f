//! `confide-enclave`: runs one task in the enclave. Started by a worker; writes
//! `computed.json` and the result file into `--work-dir`; exits 0 on success, 1 when the
//! task failed (the reason is in `computed.json`), 2 when it could not start.

use std::path::PathBuf;
use std::process::ExitCode;

use alloy_primitives::{Address, B256, Bytes};
use clap::Parser;
use confide_enclave::task::{self, TaskRequest};
use confide_protocol::tee::StandardTask;

#[derive(Parser, Debug)]
#[command(
    name = "confide-enclave",
    version,
    about = "Confide's enclave runtime: runs one TEE task"
)]
struct Args {
    #[arg(long, env = "IEXEC_TASK_ID")]
    task_id: B256,
    #[arg(long, env = "SIGN_WORKER_ADDRESS")]
    worker: Address,
    #[arg(long, required_unless_present = "standard")]
    enclave_challenge: Option<Address>,
    /// The workerpool owner's signature authorizing this worker, task and challenge.
    #[arg(long, required_unless_present = "standard")]
    authorization: Option<Bytes>,
    #[arg(long, env = "CONFIDE_SMS_URL", default_value = "")]
    sms: String,
    /// Run a standard (non-TEE) task described by this JSON file (`StandardTask`): no
    /// attestation, no secrets, a plain result.
    #[arg(long, conflicts_with_all = ["enclave_challenge", "authorization"])]
    standard: Option<PathBuf>,
    /// Where the app module is served (the app's multiaddr).
    #[arg(long)]
    app_url: String,
    #[arg(long)]
    work_dir: PathBuf,
    /// Where compiled modules are kept (authenticated with the enclave's sealing key).
    #[arg(long, env = "CONFIDE_MODULE_CACHE")]
    module_cache: Option<PathBuf>,
    /// The folder of the pinned Python runtime (python.wasm, python-stdlib.zip).
    #[arg(long, env = "CONFIDE_PYTHON_RUNTIME")]
    python_runtime: Option<PathBuf>,
    /// sgx (Gramine), tdx (configfs-tsm) or simulation.
    #[arg(long, env = "CONFIDE_EVIDENCE", default_value = "simulation")]
    evidence: String,
    /// IPFS gateways for /ipfs/ locations, tried in order.
    #[arg(long = "ipfs-gateway", env = "CONFIDE_IPFS_GATEWAYS", value_delimiter = ',')]
    ipfs_gateways: Vec<String>,
}

/// Under Gramine the manifest sets these variables (measured); arguments from the
/// untrusted host must not override them.
fn pinned_conflict(args: &Args) -> Option<String> {
    let module_cache = args
        .module_cache
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    for (name, given) in [
        ("CONFIDE_SMS_URL", &args.sms),
        ("CONFIDE_EVIDENCE", &args.evidence),
        // Compiled code is loaded from there: only the enclave's own (encrypted) folder.
        ("CONFIDE_MODULE_CACHE", &module_cache),
    ] {
        if let Ok(pinned) = std::env::var(name)
            && &pinned != given
        {
            return Some(format!(
                "{name} is pinned to `{pinned}` by the enclave's configuration; the command line says `{given}`"
            ));
        }
    }
    None
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Before anything, standard tasks included: a standard task's module cache is keyed by
    // the pinned provider's sealing key, so the host must not choose the provider.
    if let Some(conflict) = pinned_conflict(&args) {
        eprintln!("confide-enclave: {conflict}");
        return ExitCode::from(2);
    }
    if let Some(path) = &args.standard {
        return standard(&args, path);
    }
    let provider = match confide_attest::provider::by_name(&args.evidence) {
        Ok(provider) => provider,
        Err(error) => {
            let report = task::startup_failure(args.task_id, error.code(), &error.to_string());
            let _ = std::fs::create_dir_all(&args.work_dir);
            let report = serde_json::to_vec(&report).expect("computed.json serializes");
            let _ = std::fs::write(args.work_dir.join("computed.json"), report);
            eprintln!("confide-enclave: {error}");
            return ExitCode::from(2);
        }
    };
    let request = task_request(&args);
    exit_with(runtime().block_on(task::run(&request, provider.as_ref())))
}

fn task_request(args: &Args) -> TaskRequest {
    TaskRequest {
        task_id: args.task_id,
        worker: args.worker,
        enclave_challenge: args.enclave_challenge.unwrap_or_default(),
        authorization: args.authorization.clone().unwrap_or_default(),
        sms_url: args.sms.clone(),
        app_url: args.app_url.clone(),
        work_dir: args.work_dir.clone(),
        module_cache: args.module_cache.clone(),
        python_runtime: args.python_runtime.clone(),
        ipfs_gateways: args.ipfs_gateways.clone(),
        private_root: std::env::var_os("CONFIDE_PRIVATE_DIR").map(PathBuf::from),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// `--standard FILE`: a standard task, same sandbox, nothing secret.
fn standard(args: &Args, path: &std::path::Path) -> ExitCode {
    let task: Result<StandardTask, String> = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()));
    let task = match task {
        Ok(task) if task.task_id == args.task_id && task.worker == args.worker => task,
        Ok(_) => {
            eprintln!("confide-enclave: {} is for another task or worker", path.display());
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("confide-enclave: {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let request = task_request(args);
    // No attestation in a standard task; the platform's sealing key, where there is one,
    // still authenticates the compiled-module cache it shares with TEE tasks. The provider
    // is the pinned one (checked above): a host naming `simulation` inside an enclave would
    // otherwise make the key a public constant and plant compiled code. Without a key there
    // is no cache.
    let sealing_key = confide_attest::provider::by_name(&args.evidence)
        .ok()
        .and_then(|provider| confide_enclave::cache_key::for_provider(provider.as_ref(), args.module_cache.as_deref()));
    exit_with(runtime().block_on(task::run_standard(&request, &task, sealing_key)))
}

/// Prints what the task computed (0) or why it failed (1; the reason is in computed.json).
fn exit_with(outcome: Result<task::Computed, confide_enclave::EnclaveError>) -> ExitCode {
    match outcome {
        Ok(computed) => {
            println!("{}", serde_json::to_string(&computed).expect("computed serializes"));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("confide-enclave: {} ({})", error.public_message(), error.code());
            ExitCode::from(1)
        }
    }
}
