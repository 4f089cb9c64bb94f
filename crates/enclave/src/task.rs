//! One task, start to end: attest, receive the sealed session, pre-compute, run the app,
//! post-compute. Clear text (dataset, secrets, the app's output) exists only in this
//! process and in its private directory, which is overwritten and removed on the way out.

use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy_primitives::{Address, B256, Bytes};
use alloy_signer_local::PrivateKeySigner;
use confide_attest::provider::EvidenceProvider;
use confide_crypto::result::{self as results, ResultPublicKey};
use confide_crypto::sealed::EnclaveKeyPair;
use confide_protocol::bulk::{Refusal, RefusalCode, SliceReportEntry};
use confide_protocol::tee::{self, AppManifest, SessionRequest, StandardTask, TaskSession};
use confide_protocol::{messages, workerpool};
use confide_sms_client::{SmsClient, SmsClientError};
use serde_json::json;

use crate::EnclaveError;
use crate::fetch::{FetchError, Fetcher, InputFileError};
use crate::python;
use crate::wasm::{AppInvocation, Entry, Sandbox};

/// The largest app module the runtime downloads.
const MAX_MODULE_BYTES: u64 = 256 << 20;
/// The largest dataset.
const MAX_INPUT_BYTES: u64 = 16 << 30;
/// The largest input file (unchecked content from any public server).
const MAX_INPUT_FILE_BYTES: u64 = 1 << 30;
/// At most this many input files, and this many bytes of them together: a requester's
/// params must not turn one task into a terabyte of downloads.
const MAX_INPUT_FILES: usize = 32;
const MAX_INPUT_FILES_BYTES: u64 = 4 << 30;

/// What the worker starts the runtime with. None of it is trusted: the SMS checks every
/// claim against the chain before it releases anything.
pub struct TaskRequest {
    /// The task to run, as PoCo identifies it.
    pub task_id: B256,
    /// The worker's wallet, which the result's seal and upload name.
    pub worker: Address,
    /// The task's enclave challenge, which the SMS made and whose key it releases to the
    /// enclave; zero when none was given.
    pub enclave_challenge: Address,
    /// The workerpool owner's authorization of this worker, task and challenge.
    pub authorization: Bytes,
    /// The SMS's base URL.
    pub sms_url: String,
    /// Where the app module is served (the app's multiaddr).
    pub app_url: String,
    /// Where the runtime writes `computed.json` and the (encrypted) result.
    pub work_dir: PathBuf,
    /// The folder of the compiled-module cache, authenticated under the provider's
    /// sealing key; `None`: nothing is cached.
    pub module_cache: Option<PathBuf>,
    /// The folder holding the pinned Python runtime's files (see `python`); Python apps
    /// fail with `PYTHON_RUNTIME_MISSING` without it.
    pub python_runtime: Option<PathBuf>,
    /// The IPFS gateways (base URLs) `/ipfs/` locations are fetched through, in order.
    pub ipfs_gateways: Vec<String>,
    /// Where clear text lives during the task (`CONFIDE_PRIVATE_DIR`, fixed by the
    /// enclave's measured configuration: an in-enclave tmpfs under Gramine). Default:
    /// `<work_dir>/.enclave`.
    pub private_root: Option<PathBuf>,
}

pub use confide_protocol::tee::Computed;

/// Runs the task and writes `computed.json` into the work directory, on success and on
/// failure alike (then with `error-code` and `error-message`).
pub async fn run(request: &TaskRequest, provider: &dyn EvidenceProvider) -> Result<Computed, EnclaveError> {
    let private = PrivateDir::for_request(request)?;
    let mut simulated = false;
    let outcome = execute(request, provider, &private, &mut simulated).await;
    drop(private);
    write_computed(request, outcome, simulated)
}

/// A task that failed, and the encrypted archive of its logs for the beneficiary when
/// the session asked for result encryption (made after the SMS released the session).
pub(crate) struct Failure {
    error: EnclaveError,
    logs: Option<SealedResult>,
}

impl From<EnclaveError> for Failure {
    fn from(error: EnclaveError) -> Failure {
        Failure { error, logs: None }
    }
}

/// Runs a standard (non-TEE) task: the module must hash to the app's on-chain checksum,
/// the dataset (if any) to its checksum; no SMS, no secrets, a plain result archive.
/// `sealing_key` (the pinned provider's) authenticates the compiled-module cache, as in a
/// TEE task; without one nothing is cached.
pub async fn run_standard(
    request: &TaskRequest,
    task: &StandardTask,
    sealing_key: Option<[u8; 16]>,
) -> Result<Computed, EnclaveError> {
    let private = PrivateDir::for_request(request)?;
    let outcome = execute_standard(request, task, &private, sealing_key)
        .await
        .map_err(Failure::from);
    drop(private);
    write_computed(request, outcome, false)
}

/// The session a TEE task receives, for a standard task: the chain's description, with
/// nothing secret in it (no key, no secret, no challenge key, no beneficiary's key).
fn standard_session(
    task: &StandardTask,
    params: tee::DealParams,
    module_sha256: B256,
    memory_limit: u64,
) -> TaskSession {
    TaskSession {
        task_id: task.task_id,
        deal_id: task.deal_id,
        task_index: task.task_index,
        bot_first: task.bot_first,
        bot_size: task.bot_size,
        app: task.app,
        app_module_sha256: module_sha256,
        app_memory_limit: memory_limit,
        max_run_seconds: task.max_run_seconds,
        dataset: task.dataset.as_ref().map(|d| tee::SessionDataset {
            address: d.address,
            url: d.url.clone(),
            checksum: d.checksum,
            key: String::new(),
        }),
        bulk: Vec::new(),
        params,
        worker: task.worker,
        beneficiary: Address::ZERO,
        result_encryption_key: None,
        app_developer_secret: None,
        requester_secrets: Default::default(),
        challenge_private_key: B256::ZERO,
        simulated: false,
    }
}

async fn execute_standard(
    request: &TaskRequest,
    task: &StandardTask,
    private: &PrivateDir,
    sealing_key: Option<[u8; 16]>,
) -> Result<Computed, EnclaveError> {
    let params = tee::DealParams::parse(&task.params).map_err(|e| EnclaveError::InvalidParams(e.to_string()))?;
    if params.iexec_result_encryption {
        return Err(EnclaveError::EncryptionNeedsTee);
    }
    let fetcher = Fetcher::new(request.ipfs_gateways.clone());
    let downloaded = download_app(&fetcher, &request.app_url).await?;
    let (module, module_sha256) = (downloaded.module, downloaded.identity);
    // The chain's checksum names the module, or for a manifest app the manifest (which
    // named the module, checked on download) and the app's memory cap.
    let (registered, memory_limit) = match &downloaded.manifest {
        Some((bytes, manifest)) => (
            B256::from(<[u8; 32]>::from(<sha2::Sha256 as sha2::Digest>::digest(bytes))),
            task.app_memory_limit.min(manifest.enclave.heap_size),
        ),
        None => (module_sha256, task.app_memory_limit),
    };
    if registered != task.app_module_sha256 {
        return Err(EnclaveError::ModuleChecksum {
            expected: task.app_module_sha256,
            actual: registered,
        });
    }
    let (cache_dir, cache_key) = (request.module_cache.clone(), sealing_key);
    let session = standard_session(task, params, module_sha256, memory_limit);
    let dataset_filename = pre_compute(&session, &fetcher, private, false).await?;
    let input_names = fetch_input_files(&session, &fetcher, private).await?;
    let app = LoadedApp {
        module: &module,
        module_sha256,
        cache_dir,
        cache_key,
    };
    let inputs = AppInputs {
        dataset_filename,
        bulk: None,
        input_names,
    };
    let mut log = AppLog::default();
    run_app(request, &session, app, private, inputs, &mut log)?;
    let (output_path, digest) = check_output(private)?;
    let archive = archive_output(request, private, &output_path, digest, &log, None)?;
    let target = request.work_dir.join("result.zip");
    std::fs::copy(&archive, &target).map_err(|e| EnclaveError::io(&target, e))?;
    Ok(Computed {
        task_id: request.task_id,
        deterministic_output_path: Some(output_path),
        result_digest: Some(digest),
        result_hash: Some(messages::result_hash(request.task_id, digest)),
        result_seal: Some(messages::result_seal(request.worker, request.task_id, digest)),
        result_file: Some("result.zip".into()),
        result_encryption: Some("none".into()),
        ..Computed::default()
    })
}

/// An app's code as downloaded, with the identity the chain and the evidence name.
struct DownloadedApp {
    module: Vec<u8>,
    /// A module's sha256, or for a Python bundle the identity of the pinned runtime and
    /// the bundle together (`python::app_identity`).
    identity: B256,
    /// For a manifest app, the manifest's bytes as served (the SMS checks them against the
    /// chain) and what they say.
    manifest: Option<(Vec<u8>, AppManifest)>,
}

/// Downloads the app at its multiaddr: its code, or its manifest and then the code the
/// manifest names, which must have the identity the manifest's fingerprint says (checked
/// here, early; the SMS checks again what the chain binds).
async fn download_app(fetcher: &Fetcher, url: &str) -> Result<DownloadedApp, EnclaveError> {
    let (bytes, sha256) = download_code(fetcher, url).await?;
    let Some(manifest) = AppManifest::parse(&bytes) else {
        let identity = crate::python::app_identity(&bytes, sha256);
        return Ok(DownloadedApp {
            module: bytes,
            identity,
            manifest: None,
        });
    };
    let (module, module_sha256) = download_code(fetcher, &manifest.module).await?;
    let identity = crate::python::app_identity(&module, module_sha256);
    let expected = manifest.enclave.module_sha256().unwrap_or_default();
    if identity != expected {
        return Err(EnclaveError::ModuleChecksum {
            expected,
            actual: identity,
        });
    }
    Ok(DownloadedApp {
        module,
        identity,
        manifest: Some((bytes, manifest)),
    })
}

async fn download_code(fetcher: &Fetcher, url: &str) -> Result<(Vec<u8>, B256), EnclaveError> {
    let mut code = Vec::new();
    let sha256 = fetcher
        .fetch(url, MAX_MODULE_BYTES, &mut code, |m| {
            m.clear();
            Ok(())
        })
        .await
        .map_err(EnclaveError::ModuleDownload)?;
    Ok((code, sha256))
}

/// Writes `computed.json` for the worker: the result, or the failure's code and message.
fn write_computed(
    request: &TaskRequest,
    outcome: Result<Computed, Failure>,
    simulated: bool,
) -> Result<Computed, EnclaveError> {
    let computed = match &outcome {
        Ok(computed) => computed.clone(),
        Err(Failure { error, logs }) => Computed {
            task_id: request.task_id,
            enclave_challenge: request.enclave_challenge,
            simulated,
            error_code: Some(error.code().into()),
            error_message: Some(error.public_message()),
            result_file: logs.as_ref().map(|l| l.file.into()),
            result_encryption: logs.as_ref().map(|l| l.encryption.into()),
            upload_signature: logs.as_ref().map(|l| l.upload_signature.clone()),
            ..Computed::default()
        },
    };
    let path = request.work_dir.join("computed.json");
    let text = serde_json::to_vec_pretty(&computed).expect("computed.json serializes");
    std::fs::write(&path, text).map_err(|e| EnclaveError::io(&path, e))?;
    outcome.map_err(|failure| failure.error)
}

async fn execute(
    request: &TaskRequest,
    provider: &dyn EvidenceProvider,
    private: &PrivateDir,
    simulated: &mut bool,
) -> Result<Computed, Failure> {
    let fetcher = Fetcher::new(request.ipfs_gateways.clone());
    let keys = EnclaveKeyPair::generate();

    let downloaded = download_app(&fetcher, &request.app_url).await?;
    let (module, module_sha256) = (downloaded.module, downloaded.identity);
    let manifest = downloaded.manifest.map(|(bytes, _)| bytes);

    let session = attest(request, provider, &fetcher, &keys, module_sha256, manifest).await?;
    *simulated = session.simulated;
    if session.task_id != request.task_id || session.app_module_sha256 != module_sha256 {
        return Err(EnclaveError::SessionMismatch.into());
    }

    let app = LoadedApp {
        module: &module,
        module_sha256,
        cache_dir: request.module_cache.clone(),
        cache_key: crate::cache_key::for_provider(provider, request.module_cache.as_deref()),
    };
    let mut log = AppLog::default();
    match compute(request, &session, &fetcher, private, app, &mut log).await {
        Ok(computed) => Ok(computed),
        Err(error) => {
            log.runtime_note(&error);
            // The logs go to the beneficiary, encrypted, or nowhere: never to the host.
            let logs = session
                .params
                .iexec_result_encryption
                .then(|| seal_failure_logs(request, &session, private, &error, &log).ok())
                .flatten();
            Err(Failure { error, logs })
        }
    }
}

/// Everything after the session: dataset, input files, the app, the sealed result.
async fn compute(
    request: &TaskRequest,
    session: &TaskSession,
    fetcher: &Fetcher,
    private: &PrivateDir,
    app: LoadedApp<'_>,
    log: &mut AppLog,
) -> Result<Computed, EnclaveError> {
    let dataset_filename = pre_compute(session, fetcher, private, true).await?;
    let bulk = pre_compute_bulk(session, fetcher, private).await;
    let input_names = fetch_input_files(session, fetcher, private).await?;
    let inputs = AppInputs {
        dataset_filename,
        bulk,
        input_names,
    };
    let bulk_report = inputs.bulk.clone();
    run_app(request, session, app, private, inputs, log)?;
    post_compute(request, session, private, log, bulk_report.as_deref())
}

/// What the app printed, and the runtime's detailed reason when it failed. It may hold
/// anything the app read, so it only ever leaves the enclave inside the beneficiary's
/// encrypted archive (as [`results::APP_LOG_ENTRY`]).
#[derive(Default)]
struct AppLog {
    text: Vec<u8>,
}

impl AppLog {
    fn from_output(output: &crate::wasm::AppOutput) -> AppLog {
        let mut log = AppLog::default();
        log.section("stdout", &output.stdout);
        log.section("stderr", &output.stderr);
        log
    }

    fn section(&mut self, name: &str, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.text.extend_from_slice(format!("== {name} ==\n").as_bytes());
        self.text.extend_from_slice(bytes);
        if !bytes.ends_with(b"\n") {
            self.text.push(b'\n');
        }
    }

    /// The failure in full (a trap's backtrace, the offending file name): details the
    /// host must not see but the app's developer needs.
    fn runtime_note(&mut self, error: &EnclaveError) {
        let note = format!("{}: {error}\n", error.code());
        self.section("runtime", note.as_bytes());
    }
}

/// What pre-compute put in `/iexec_in` for the app.
struct AppInputs {
    dataset_filename: Option<String>,
    /// A bulk task's slice, each dataset processed (its file in `/iexec_in`) or refused.
    bulk: Option<Vec<SliceReportEntry>>,
    input_names: Vec<String>,
}

/// A downloaded module and how to cache its compiled form.
struct LoadedApp<'a> {
    module: &'a [u8],
    module_sha256: B256,
    /// Compiled modules are cached only under a key (see `Sandbox::load`).
    cache_dir: Option<PathBuf>,
    cache_key: Option<[u8; 16]>,
}

/// Compiles (or loads from the authenticated cache) and runs the app in the sandbox.
/// What it printed goes into `log`, whether it succeeds or fails.
fn run_app(
    request: &TaskRequest,
    session: &TaskSession,
    app: LoadedApp<'_>,
    private: &PrivateDir,
    inputs: AppInputs,
    log: &mut AppLog,
) -> Result<(), EnclaveError> {
    let sandbox = Sandbox::new()?;
    let env = app_env(session, &inputs);
    let mut invocation = AppInvocation {
        args: std::iter::once("app".to_owned()).chain(session.params.args()).collect(),
        env,
        input_dir: &private.input,
        output_dir: &private.output,
        memory_limit: session.app_memory_limit,
        max_run: Duration::from_secs(session.max_run_seconds.max(1)),
        entry: Entry::Command,
        mounts: Vec::new(),
    };
    if !python::is_bundle(app.module) {
        let module = sandbox.load(
            app.module,
            &app.module_sha256.0,
            app.cache_dir.as_deref(),
            app.cache_key,
        )?;
        let (output, outcome) = tokio::task::block_in_place(|| sandbox.run_keeping_output(&module, invocation));
        *log = AppLog::from_output(&output);
        return outcome.map_err(EnclaveError::App);
    }
    let runtime = request
        .python_runtime
        .as_deref()
        .ok_or_else(|| python::PythonError::RuntimeMissing("no --python-runtime was given".into()))?;
    invocation.args = session.params.args();
    let area = private.root.join("python");
    let (output, outcome) = tokio::task::block_in_place(|| {
        let interpreter = python::interpreter(&sandbox, runtime, app.cache_dir.as_deref(), app.cache_key)?;
        python::run_bundle(&sandbox, &interpreter, app.module, runtime, &area, invocation)
    })?;
    *log = AppLog::from_output(&output);
    outcome
}

/// Nonce, evidence, session: the only way to the task's secrets.
async fn attest(
    request: &TaskRequest,
    provider: &dyn EvidenceProvider,
    fetcher: &Fetcher,
    keys: &EnclaveKeyPair,
    module_sha256: B256,
    manifest: Option<Vec<u8>>,
) -> Result<TaskSession, EnclaveError> {
    let sms = SmsClient::new(&request.sms_url, fetcher.client().clone());
    let nonce = sms.nonce().await.map_err(sms_error)?;
    let public_key = keys.public_key();
    let report_data = tee::report_data(nonce, &public_key, module_sha256);
    let evidence = provider.evidence(&report_data).map_err(EnclaveError::Evidence)?;
    let body = SessionRequest {
        task_id: request.task_id,
        worker: request.worker,
        enclave_challenge: request.enclave_challenge,
        authorization: request.authorization.clone(),
        nonce,
        enclave_public_key: public_key.to_vec().into(),
        app_module_sha256: module_sha256,
        evidence,
        app_manifest: manifest.map(Into::into),
    };
    let response = sms.enclave_session(&body).await.map_err(sms_error)?;
    let plain = keys
        .open(
            &response.encapsulated_key,
            &response.sealed,
            &tee::session_info(request.task_id),
            nonce.as_slice(),
        )
        .map_err(|e| EnclaveError::Sms(e.to_string()))?;
    let session: TaskSession =
        serde_json::from_slice(&plain).map_err(|e| EnclaveError::Sms(format!("malformed session: {e}")))?;
    Ok(session)
}

fn sms_error(error: SmsClientError) -> EnclaveError {
    match error {
        SmsClientError::Refused(refusal) => EnclaveError::SessionRefused {
            code: refusal.code,
            message: refusal.message,
        },
        other => EnclaveError::Sms(other.to_string()),
    }
}

/// Downloads the dataset, checks it against the on-chain checksum, decrypts it into
/// `/iexec_in/<dataset address>` (iExec's name). Returns that file name.
async fn pre_compute(
    session: &TaskSession,
    fetcher: &Fetcher,
    private: &PrivateDir,
    decrypt: bool,
) -> Result<Option<String>, EnclaveError> {
    let Some(dataset) = &session.dataset else {
        return Ok(None);
    };
    fetch_dataset(dataset, fetcher, private, decrypt).await.map(Some)
}

/// One dataset downloaded into the scratch area, checked against its on-chain checksum,
/// and decrypted (or, for a standard task, moved) to `/iexec_in/<address>`.
async fn fetch_dataset(
    dataset: &tee::SessionDataset,
    fetcher: &Fetcher,
    private: &PrivateDir,
    decrypt: bool,
) -> Result<String, EnclaveError> {
    let filename = dataset.address.to_checksum(None);
    let encrypted_path = private.scratch.join(format!("{filename}.enc"));
    let mut encrypted = File::create(&encrypted_path).map_err(|e| EnclaveError::io(&encrypted_path, e))?;
    let checksum = fetcher
        .fetch(&dataset.url, MAX_INPUT_BYTES, &mut encrypted, |f| {
            f.set_len(0)?;
            f.rewind()
        })
        .await
        .map_err(EnclaveError::DatasetDownload)?;
    drop(encrypted);
    if checksum != dataset.checksum {
        let _ = std::fs::remove_file(&encrypted_path);
        return Err(EnclaveError::DatasetChecksum {
            expected: dataset.checksum,
            actual: checksum,
        });
    }
    let plain_path = private.input.join(&filename);
    if !decrypt {
        // A standard task's dataset is public: the checked bytes are the input.
        std::fs::rename(&encrypted_path, &plain_path).map_err(|e| EnclaveError::io(&plain_path, e))?;
        return Ok(filename);
    }
    let key = zeroize::Zeroizing::new(dataset.key.clone());
    let (from, to) = (encrypted_path.clone(), plain_path.clone());
    // On a blocking thread: the other downloads of a bulk slice go on meanwhile.
    let decrypted = tokio::task::spawn_blocking(move || decrypt_file(&key, &from, &to))
        .await
        .unwrap_or_else(|_| Err(EnclaveError::DatasetDecrypt("the decryption thread failed".into())));
    let _ = std::fs::remove_file(&encrypted_path);
    if decrypted.is_err() {
        // Nothing half-written reaches the app.
        let _ = std::fs::remove_file(&plain_path);
    }
    decrypted.map(|()| filename)
}

fn decrypt_file(key: &str, from: &Path, to: &Path) -> Result<(), EnclaveError> {
    let input = BufReader::new(File::open(from).map_err(|e| EnclaveError::io(from, e))?);
    let mut output = BufWriter::new(File::create(to).map_err(|e| EnclaveError::io(to, e))?);
    confide_crypto::dataset::decrypt(key, input, &mut output, |_| {})
        .map_err(|e| EnclaveError::DatasetDecrypt(e.to_string()))?;
    output.flush().map_err(|e| EnclaveError::io(to, e))
}

/// How many datasets of a bulk slice are downloaded and decrypted at once: enough to hide
/// the gateway's latency, few enough that a slice of 100 stays within the runtime's
/// memory (each download streams to disk).
const BULK_FETCHES: usize = 8;

/// A bulk task's slice: every dataset the SMS granted downloaded, checked and decrypted
/// into `/iexec_in/<address>`, [`BULK_FETCHES`] at a time. A dataset that fails is
/// refused alone (`DOWNLOAD_FAILED`, `DECRYPT_FAILED`): the others still reach the app.
/// `None` for a task that is not a bulk one.
async fn pre_compute_bulk(
    session: &TaskSession,
    fetcher: &Fetcher,
    private: &PrivateDir,
) -> Option<Vec<SliceReportEntry>> {
    use futures::StreamExt;
    session.params.bulk_cid.as_ref()?;
    let mut seen = std::collections::HashSet::new();
    // A dataset named twice would write one file twice: only its first entry is fetched.
    let duplicate: Vec<bool> = session
        .bulk
        .iter()
        .map(|entry| entry.granted.is_some() && !seen.insert(entry.address))
        .collect();
    let entries = futures::stream::iter(session.bulk.iter().zip(duplicate))
        .map(|(entry, duplicate)| async move {
            let refusal = match (&entry.granted, &entry.refusal) {
                _ if duplicate => Some(Refusal::new(RefusalCode::Duplicate, "named earlier in the slice")),
                (Some(dataset), _) => fetch_dataset(dataset, fetcher, private, true)
                    .await
                    .err()
                    .map(|error| bulk_fetch_refusal(&error)),
                (None, Some(refusal)) => Some(refusal.clone()),
                (None, None) => Some(Refusal::new(RefusalCode::KeyMissing, "the SMS gave no key")),
            };
            SliceReportEntry {
                index: entry.index,
                address: entry.address,
                processed: refusal.is_none(),
                refusal,
            }
        })
        .buffered(BULK_FETCHES)
        .collect()
        .await;
    Some(entries)
}

/// A bulk dataset that could not be fetched, in words that name no URL or key.
fn bulk_fetch_refusal(error: &EnclaveError) -> Refusal {
    match error {
        EnclaveError::DatasetDecrypt(_) => Refusal::new(RefusalCode::DecryptFailed, "its key does not open it"),
        EnclaveError::DatasetChecksum { .. } => Refusal::new(
            RefusalCode::DownloadFailed,
            "the downloaded bytes are not the ones registered on chain",
        ),
        _ => Refusal::new(RefusalCode::DownloadFailed, error.code()),
    }
}

/// Input files go to `/iexec_in/0x<sha256 of the URL>`, as iExec names them.
async fn fetch_input_files(
    session: &TaskSession,
    fetcher: &Fetcher,
    private: &PrivateDir,
) -> Result<Vec<String>, EnclaveError> {
    let urls = &session.params.iexec_input_files;
    if urls.len() > MAX_INPUT_FILES {
        return Err(EnclaveError::InputFileRefused(format!(
            "the task names {} input files; at most {MAX_INPUT_FILES} are fetched",
            urls.len()
        )));
    }
    let mut names = Vec::new();
    let mut budget = MAX_INPUT_FILES_BYTES;
    for url in urls {
        let name = format!(
            "{}",
            B256::from_slice(&<sha2::Sha256 as sha2::Digest>::digest(url.as_bytes()))
        );
        let path = private.input.join(&name);
        let mut file = File::create(&path).map_err(|e| EnclaveError::io(&path, e))?;
        fetcher
            .fetch_input(url, MAX_INPUT_FILE_BYTES.min(budget), &mut file, session.simulated)
            .await
            .map_err(|e| match e {
                InputFileError::Refused { .. } => EnclaveError::InputFileRefused(e.to_string()),
                InputFileError::Download { url, reason } => EnclaveError::InputFileDownload(FetchError { url, reason }),
            })?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
        budget = budget.saturating_sub(size);
        names.push(name);
    }
    Ok(names)
}

/// iExec's compute-stage environment (`IexecEnvUtils`, TEE secrets included).
fn app_env(session: &TaskSession, inputs: &AppInputs) -> Vec<(String, String)> {
    let input_names = &inputs.input_names;
    let mut env = vec![
        ("IEXEC_IN".to_owned(), "/iexec_in".to_owned()),
        ("IEXEC_OUT".into(), "/iexec_out".into()),
        ("IEXEC_DEAL_ID".into(), session.deal_id.to_string()),
        ("IEXEC_TASK_ID".into(), session.task_id.to_string()),
        ("IEXEC_TASK_INDEX".into(), session.task_index.to_string()),
        ("IEXEC_BOT_SIZE".into(), session.bot_size.to_string()),
        ("IEXEC_BOT_FIRST_INDEX".into(), session.bot_first.to_string()),
        (
            "IEXEC_BOT_TASK_INDEX".into(),
            session.task_index.saturating_sub(session.bot_first).to_string(),
        ),
        ("IEXEC_INPUT_FILES_FOLDER".into(), "/iexec_in".into()),
        ("IEXEC_INPUT_FILES_NUMBER".into(), input_names.len().to_string()),
    ];
    if let (Some(dataset), Some(filename)) = (&session.dataset, &inputs.dataset_filename) {
        env.push(("IEXEC_DATASET_ADDRESS".into(), dataset.address.to_checksum(None)));
        env.push(("IEXEC_DATASET_FILENAME".into(), filename.clone()));
    }
    if let Some(slice) = &inputs.bulk {
        // iExec's bulk variables; `_REFUSED` is Confide's: the code of a dataset the app
        // did not receive (its file is absent either way).
        env.push(("IEXEC_BULK_SLICE_SIZE".into(), slice.len().to_string()));
        for entry in slice {
            let i = entry.index;
            env.push((format!("IEXEC_DATASET_{i}_FILENAME"), entry.address.to_checksum(None)));
            if let Some(refusal) = &entry.refusal {
                env.push((format!("IEXEC_DATASET_{i}_REFUSED"), refusal.code.as_str().into()));
            }
        }
    }
    for (i, name) in input_names.iter().enumerate() {
        env.push((format!("IEXEC_INPUT_FILE_NAME_{}", i + 1), name.clone()));
    }
    if let Some(secret) = &session.app_developer_secret {
        env.push(("IEXEC_APP_DEVELOPER_SECRET".into(), secret.clone()));
        env.push(("IEXEC_APP_DEVELOPER_SECRET_1".into(), secret.clone()));
    }
    for (index, secret) in &session.requester_secrets {
        env.push((format!("IEXEC_REQUESTER_SECRET_{index}"), secret.clone()));
    }
    env
}

/// Archive, encrypt for the beneficiary, sign with the challenge key.
fn post_compute(
    request: &TaskRequest,
    session: &TaskSession,
    private: &PrivateDir,
    log: &AppLog,
    bulk: Option<&[SliceReportEntry]>,
) -> Result<Computed, EnclaveError> {
    let (output_path, digest) = check_output(private)?;
    let archive = archive_output(request, private, &output_path, digest, log, bulk)?;
    let sealed = seal_result(request, session, private, &archive)?;
    let signer = challenge_signer(session)?;
    let result_hash = messages::result_hash(request.task_id, digest);
    let result_seal = messages::result_seal(request.worker, request.task_id, digest);
    let signature = messages::sign_personal(&signer, messages::enclave_message(result_hash, result_seal))
        .map_err(|e| EnclaveError::Result(e.to_string()))?;
    Ok(Computed {
        task_id: request.task_id,
        deterministic_output_path: Some(output_path),
        result_digest: Some(digest),
        result_hash: Some(result_hash),
        result_seal: Some(result_seal),
        enclave_signature: Some(signature.as_bytes().to_vec().into()),
        enclave_challenge: signer.address(),
        upload_signature: Some(sealed.upload_signature),
        result_file: Some(sealed.file.into()),
        result_encryption: Some(sealed.encryption.into()),
        simulated: session.simulated,
        error_code: None,
        error_message: None,
    })
}

fn challenge_signer(session: &TaskSession) -> Result<PrivateKeySigner, EnclaveError> {
    PrivateKeySigner::from_bytes(&session.challenge_private_key)
        .map_err(|_| EnclaveError::Sms("the session's challenge key is invalid".into()))
}

/// A result file in the work directory, made and signed by the enclave for the store.
pub(crate) struct SealedResult {
    file: &'static str,
    encryption: &'static str,
    upload_signature: Bytes,
}

/// Encrypts `archive` for the beneficiary (if the deal asks), copies it to the work
/// directory, and signs its hash with the challenge key for the store.
fn seal_result(
    request: &TaskRequest,
    session: &TaskSession,
    private: &PrivateDir,
    archive: &Path,
) -> Result<SealedResult, EnclaveError> {
    // The result file is made and hashed in the private area, and only then copied out:
    // what the challenge key signs for the store is the enclave's file, not whatever the
    // host put in the work directory meanwhile.
    let (file, encryption, private_result) = if session.params.iexec_result_encryption {
        let key_text = session
            .result_encryption_key
            .as_deref()
            .ok_or(EnclaveError::ResultKeyMissing)?;
        let key = ResultPublicKey::parse(key_text).map_err(|e| EnclaveError::Result(e.to_string()))?;
        let name = if key.format() == "age" {
            "result.age"
        } else {
            "result.zip"
        };
        let encrypted = private.scratch.join(name);
        results::encrypt(archive, &key, &encrypted).map_err(|e| EnclaveError::Result(e.to_string()))?;
        (name, key.format(), encrypted)
    } else {
        ("result.zip", "none", archive.to_path_buf())
    };
    let result_sha256 = File::open(&private_result)
        .map_err(|e| EnclaveError::io(&private_result, e))
        .and_then(|f| {
            confide_crypto::dataset::checksum(BufReader::new(f)).map_err(|e| EnclaveError::Result(e.to_string()))
        })?;
    let result_path = request.work_dir.join(file);
    std::fs::copy(&private_result, &result_path).map_err(|e| EnclaveError::io(&result_path, e))?;
    let upload = workerpool::result_upload_hash(request.task_id, request.worker, result_sha256);
    let upload_signature = messages::sign_personal(&challenge_signer(session)?, upload)
        .map_err(|e| EnclaveError::Result(e.to_string()))?;
    Ok(SealedResult {
        file,
        encryption,
        upload_signature: upload_signature.as_bytes().to_vec().into(),
    })
}

/// The archive a failed task leaves its beneficiary: only the runtime's folder (the app's
/// log and the task), encrypted as a result would be. Nothing of `/iexec_out` is in it: a
/// failed task has no consensus to vouch for it.
fn seal_failure_logs(
    request: &TaskRequest,
    session: &TaskSession,
    private: &PrivateDir,
    error: &EnclaveError,
    log: &AppLog,
) -> Result<SealedResult, EnclaveError> {
    let tree = private.scratch.join("failure");
    let task = json!({ "task-id": request.task_id, "error-code": error.code() });
    write_runtime_dir(&tree, &task, log)?;
    let archive = private.scratch.join("failure.zip");
    let file = File::create(&archive).map_err(|e| EnclaveError::io(&archive, e))?;
    results::zip_dir(&tree, BufWriter::new(file)).map_err(|e| EnclaveError::Result(e.to_string()))?;
    seal_result(request, session, private, &archive)
}

/// Writes [`results::RUNTIME_DIR`] under `root`: the app's log and what the task was.
fn write_runtime_dir(root: &Path, task: &serde_json::Value, log: &AppLog) -> Result<(), EnclaveError> {
    let dir = root.join(results::RUNTIME_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| EnclaveError::io(&dir, e))?;
    let log_path = root.join(results::APP_LOG_ENTRY);
    std::fs::write(&log_path, &log.text).map_err(|e| EnclaveError::io(&log_path, e))?;
    let task_path = root.join(results::TASK_ENTRY);
    let text = serde_json::to_vec_pretty(task).expect("a JSON value serializes");
    std::fs::write(&task_path, text).map_err(|e| EnclaveError::io(&task_path, e))
}

/// The app's output checked: the tree holds only regular files and folders and not the
/// runtime's folder, `deterministic-output-path` is plain and names something. Returns
/// that path and its result digest.
fn check_output(private: &PrivateDir) -> Result<(String, B256), EnclaveError> {
    // Links and special files are refused before anything outside the sandbox reads the
    // tree: computed.json as a link to /dev/zero or a FIFO would exhaust or hang the runtime.
    results::check_tree(&private.output).map_err(|e| EnclaveError::Result(e.to_string()))?;
    // What a beneficiary finds in `.confide/` must come from the runtime, not the app.
    if std::fs::symlink_metadata(private.output.join(results::RUNTIME_DIR)).is_ok() {
        return Err(EnclaveError::ReservedOutput);
    }
    let app_computed = read_app_computed(&private.output.join("computed.json"))?;
    let output_path = app_computed["deterministic-output-path"]
        .as_str()
        .ok_or(EnclaveError::ComputedMissing)?
        .to_owned();
    // The path reaches the host in clear in computed.json: a short, plain path only, so
    // an app cannot smuggle data out through it (and it is never echoed in errors).
    let relative = results::deterministic_relative_path(&output_path).ok_or_else(|| {
        EnclaveError::ComputedInvalid(
            "deterministic-output-path must be a plain path (A-Z a-z 0-9 . _ - /) under /iexec_out".into(),
        )
    })?;
    let host_path = private.output.join(relative);
    if std::fs::symlink_metadata(&host_path).is_err() {
        return Err(EnclaveError::ComputedInvalid(
            "deterministic-output-path names nothing in /iexec_out".into(),
        ));
    }
    let digest = results::digest(&host_path).map_err(|e| EnclaveError::Result(e.to_string()))?;
    Ok((output_path, digest))
}

/// Adds the runtime's folder to `/iexec_out` (after the digest, which leaves it out) and
/// zips the whole into the scratch area.
fn archive_output(
    request: &TaskRequest,
    private: &PrivateDir,
    output_path: &str,
    digest: B256,
    log: &AppLog,
    bulk: Option<&[SliceReportEntry]>,
) -> Result<PathBuf, EnclaveError> {
    let mut task = json!({
        "task-id": request.task_id,
        "deterministic-output-path": output_path,
        "result-digest": digest,
    });
    if let Some(slice) = bulk {
        // Which protected data of its slice the app received, and why not the others:
        // for the beneficiary's eyes only (the archive is encrypted to them).
        task["bulk-slice"] = json!(slice);
    }
    write_runtime_dir(&private.output, &task, log)?;
    let archive = private.scratch.join("iexec_out.zip");
    let file = File::create(&archive).map_err(|e| EnclaveError::io(&archive, e))?;
    results::zip_dir(&private.output, BufWriter::new(file)).map_err(|e| EnclaveError::Result(e.to_string()))?;
    Ok(archive)
}

/// The largest `computed.json` read from the app (iExec's holds a path and a few fields).
const MAX_APP_COMPUTED_BYTES: u64 = 64 << 10;

/// Reads the app's `computed.json`: a regular file opened without following a link or
/// blocking on a FIFO (the tree was checked, but a check and an open are two moments),
/// at most 64 KiB.
fn read_app_computed(path: &Path) -> Result<serde_json::Value, EnclaveError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|_| EnclaveError::ComputedMissing)?;
    let regular = file.metadata().map(|m| m.is_file()).unwrap_or(false);
    if !regular {
        return Err(EnclaveError::ComputedInvalid("not a regular file".into()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_APP_COMPUTED_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| EnclaveError::io(path, e))?;
    if bytes.len() as u64 > MAX_APP_COMPUTED_BYTES {
        return Err(EnclaveError::ComputedInvalid("larger than 64 KiB".into()));
    }
    serde_json::from_slice(&bytes).map_err(|_| EnclaveError::ComputedMissing)
}

/// The task's clear-text area: `/iexec_in`, `/iexec_out` and scratch space. Under
/// Gramine these are in-enclave tmpfs mounts; elsewhere they are overwritten with zeros
/// and removed when dropped, on success and failure alike.
struct PrivateDir {
    root: PathBuf,
    input: PathBuf,
    output: PathBuf,
    scratch: PathBuf,
}

impl PrivateDir {
    /// The work directory, made if missing, and the task's private area under
    /// `private_root` (default `<work dir>/.enclave`).
    fn for_request(request: &TaskRequest) -> Result<PrivateDir, EnclaveError> {
        std::fs::create_dir_all(&request.work_dir).map_err(|e| EnclaveError::io(&request.work_dir, e))?;
        let private_root = request
            .private_root
            .clone()
            .unwrap_or_else(|| request.work_dir.join(".enclave"));
        PrivateDir::create(&private_root)
    }

    fn create(private_root: &Path) -> Result<PrivateDir, EnclaveError> {
        let root = private_root.join(std::process::id().to_string());
        let dir = PrivateDir {
            input: root.join("iexec_in"),
            output: root.join("iexec_out"),
            scratch: root.join("scratch"),
            root,
        };
        for path in [&dir.input, &dir.output, &dir.scratch] {
            std::fs::create_dir_all(path).map_err(|e| EnclaveError::io(path, e))?;
        }
        Ok(dir)
    }
}

fn wipe(path: &Path) {
    let Ok(metadata) = std::fs::symlink_metadata(path) else {
        return;
    };
    if metadata.is_dir() {
        if let Ok(entries) = std::fs::read_dir(path) {
            for entry in entries.flatten() {
                wipe(&entry.path());
            }
        }
        let _ = std::fs::remove_dir(path);
    } else {
        if metadata.is_file()
            && let Ok(mut file) = std::fs::OpenOptions::new().write(true).open(path)
        {
            let zeros = vec![0u8; 1 << 16];
            // No more than the blocks the file holds: a sparse file of a terabyte (one
            // seek and one byte from the app) must not become a terabyte of zeros.
            let allocated = std::os::unix::fs::MetadataExt::blocks(&metadata).saturating_mul(512);
            let mut left = metadata.len().min(allocated);
            while left > 0 {
                let n = left.min(zeros.len() as u64) as usize;
                if file.write_all(&zeros[..n]).is_err() {
                    break;
                }
                left -= n as u64;
            }
            let _ = file.sync_data();
        }
        let _ = std::fs::remove_file(path);
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        wipe(&self.root);
        if let Some(parent) = self.root.parent() {
            // Only when empty: another task's runtime may be using it.
            let _ = std::fs::remove_dir(parent);
        }
    }
}

/// The JSON body the worker reports when the runtime could not even start.
pub fn startup_failure(task_id: B256, code: &str, message: &str) -> Computed {
    Computed {
        task_id,
        error_code: Some(code.to_owned()),
        error_message: Some(message.to_owned()),
        ..Computed::default()
    }
}

/// An app run on the developer's machine (`confide app test`): no chain, no SMS, no TEE,
/// the same sandbox and conventions as a task.
pub struct LocalApp<'a> {
    /// A WebAssembly module or a Python bundle.
    pub code: &'a [u8],
    /// The folder holding the pinned Python runtime's files, needed for a Python bundle.
    pub python_runtime: Option<&'a Path>,
    /// Compiled modules are cached here, MAC'd under `cache_key`.
    pub module_cache: Option<&'a Path>,
    /// The key that authenticates the module cache; without one nothing is cached.
    pub cache_key: Option<[u8; 16]>,
    /// One file: copied into `/iexec_in` under its own name, as a task's dataset. Several:
    /// a bulk slice, each copied as `/iexec_in/<i as an address>` (`0x00…01`, `0x00…02`,
    /// …), with the bulk variables set.
    pub datasets: &'a [PathBuf],
    /// Copied into `/iexec_in` under their own names, as a task's input files.
    pub input_files: &'a [PathBuf],
    /// The arguments as one line, as a deal's `iexec_args` carries them.
    pub args: String,
    /// Given to the app as `IEXEC_APP_DEVELOPER_SECRET` (and `IEXEC_APP_DEVELOPER_SECRET_1`).
    pub app_developer_secret: Option<String>,
    /// Given to the app as `IEXEC_REQUESTER_SECRET_<index>`, by index.
    pub requester_secrets: std::collections::BTreeMap<u32, String>,
    /// The cap on the app's memory, in bytes.
    pub memory_limit: u64,
    /// The run's wall-time budget.
    pub max_run: Duration,
    /// Where the run's private area is made (removed afterwards).
    pub work_dir: &'a Path,
    /// Where `/iexec_out` is copied once the app ends, whatever its outcome.
    pub output: &'a Path,
}

/// What a local run printed, and its outcome: the deterministic output path and the
/// result digest, as a task would report them.
pub struct LocalRun {
    /// The app's stdout and stderr, and the runtime's note on a failure, as a task's
    /// `.confide/app.log` holds them.
    pub log: Vec<u8>,
    /// The deterministic output path and the result digest, or why the run failed.
    pub outcome: Result<(String, B256), EnclaveError>,
}

/// Runs `app` locally; errors before the app starts (an input that cannot be copied) are
/// the outer error, everything after is in [`LocalRun`].
pub fn run_local(app: LocalApp<'_>) -> Result<LocalRun, EnclaveError> {
    let private = PrivateDir::create(app.work_dir)?;
    let mut dataset_filename = None;
    let mut bulk = None;
    if let [dataset] = app.datasets {
        let name = file_name(dataset)?;
        copy_input(dataset, &private.input.join(&name))?;
        dataset_filename = Some(name);
    } else if !app.datasets.is_empty() {
        let mut slice = Vec::new();
        for (position, dataset) in app.datasets.iter().enumerate() {
            let address = Address::left_padding_from(&(position as u64 + 1).to_be_bytes());
            copy_input(dataset, &private.input.join(address.to_checksum(None)))?;
            slice.push(SliceReportEntry {
                index: position + 1,
                address,
                processed: true,
                refusal: None,
            });
        }
        bulk = Some(slice);
    }
    let mut input_names = Vec::new();
    for file in app.input_files {
        let name = file_name(file)?;
        copy_input(file, &private.input.join(&name))?;
        input_names.push(name);
    }
    let session = TaskSession {
        task_id: B256::ZERO,
        deal_id: B256::ZERO,
        task_index: 0,
        bot_first: 0,
        bot_size: 1,
        app: Address::ZERO,
        app_module_sha256: B256::ZERO,
        app_memory_limit: app.memory_limit,
        max_run_seconds: app.max_run.as_secs(),
        dataset: dataset_filename.as_ref().map(|_| tee::SessionDataset {
            address: Address::ZERO,
            url: String::new(),
            checksum: B256::ZERO,
            key: String::new(),
        }),
        bulk: Vec::new(),
        params: tee::DealParams {
            iexec_args: app.args,
            ..tee::DealParams::default()
        },
        worker: Address::ZERO,
        beneficiary: Address::ZERO,
        result_encryption_key: None,
        app_developer_secret: app.app_developer_secret,
        requester_secrets: app.requester_secrets,
        challenge_private_key: B256::ZERO,
        simulated: true,
    };
    let request = TaskRequest {
        task_id: B256::ZERO,
        worker: Address::ZERO,
        enclave_challenge: Address::ZERO,
        authorization: Bytes::new(),
        sms_url: String::new(),
        app_url: String::new(),
        work_dir: app.work_dir.to_path_buf(),
        module_cache: None,
        python_runtime: app.python_runtime.map(Path::to_path_buf),
        ipfs_gateways: Vec::new(),
        private_root: None,
    };
    let loaded = LoadedApp {
        module: app.code,
        module_sha256: B256::from_slice(&<sha2::Sha256 as sha2::Digest>::digest(app.code)),
        cache_dir: app.module_cache.map(Path::to_path_buf),
        cache_key: app.cache_key,
    };
    let inputs = AppInputs {
        dataset_filename,
        bulk,
        input_names,
    };
    let mut log = AppLog::default();
    let outcome = run_app(&request, &session, loaded, &private, inputs, &mut log).and_then(|()| check_output(&private));
    if let Err(error) = &outcome {
        log.runtime_note(error);
    }
    copy_tree(&private.output, app.output)?;
    Ok(LocalRun { log: log.text, outcome })
}

fn file_name(path: &Path) -> Result<String, EnclaveError> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| EnclaveError::InputFileRefused(format!("{} has no usable file name", path.display())))
}

fn copy_input(from: &Path, to: &Path) -> Result<(), EnclaveError> {
    std::fs::copy(from, to).map(drop).map_err(|e| EnclaveError::io(from, e))
}

/// Copies regular files and folders (links and anything else are left out).
fn copy_tree(from: &Path, to: &Path) -> Result<(), EnclaveError> {
    std::fs::create_dir_all(to).map_err(|e| EnclaveError::io(to, e))?;
    for entry in std::fs::read_dir(from)
        .map_err(|e| EnclaveError::io(from, e))?
        .flatten()
    {
        let Ok(kind) = entry.file_type() else { continue };
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).map_err(|e| EnclaveError::io(&target, e))?;
        }
    }
    Ok(())
}
