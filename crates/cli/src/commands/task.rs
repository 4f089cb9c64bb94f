//! `confide task show | claim | debug`: the requester's view of an execution, from the
//! chain (the truth) and the scheduler (the details).

use confide_protocol::refusal::Refusal;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Subcommand;
use confide_chain::{B256, Poco, PrivateKeySigner, TaskInfo, TaskStatus};
use confide_protocol::ipfs::{CidVersion, file_cid};
use confide_workerpool::api::TaskDebug;
use serde_json::{Value, json};

use super::result::DigestCheck;
use crate::context::Context;
use crate::output::{CliError, CliResult};

#[derive(Subcommand, Debug)]
pub(crate) enum TaskCommand {
    /// A task's status on chain and, with --download, its result.
    Show {
        task: B256,
        /// Follow the task with a live status line until it completes or fails.
        #[arg(long)]
        watch: bool,
        /// Download the result once completed.
        #[arg(long)]
        download: bool,
        /// Where to save the result (default: <task id>.age or <task id>.zip).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Keep a downloaded result that cannot be checked against the chain here (no
        /// beneficiary key in .secrets/beneficiary); without it such a result is deleted.
        #[arg(long)]
        unchecked: bool,
        /// Give up watching after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Claim a task past its final deadline: the requester is refunded.
    Claim { task: B256 },
    /// What the scheduler and workers reported about a task (no secret is ever in it).
    Debug {
        task: B256,
        /// Also show the app's logs (stdout, stderr, why it failed): they are only in the
        /// result encrypted for the beneficiary, so this downloads and decrypts it with
        /// the beneficiary's key, in memory.
        #[arg(long)]
        logs: bool,
        /// The beneficiary's private key (default: <keystoredir>/<address>_key).
        #[arg(long)]
        key: Option<PathBuf>,
        #[arg(long, default_value = ".secrets/beneficiary")]
        beneficiary_keystoredir: PathBuf,
    },
}

pub(crate) async fn task(command: TaskCommand, ctx: &Context) -> CliResult {
    match command {
        TaskCommand::Show {
            task,
            watch,
            download,
            output,
            unchecked,
            timeout,
        } => {
            let download = download.then_some(Download { output, unchecked });
            show(ctx, task, watch, download, timeout).await
        }
        TaskCommand::Claim { task } => claim(ctx, task).await,
        TaskCommand::Debug {
            task,
            logs,
            key,
            beneficiary_keystoredir,
        } => debug(ctx, task, logs, key, &beneficiary_keystoredir).await,
    }
}

/// `task show --download`'s options.
struct Download {
    output: Option<PathBuf>,
    /// Keep a result that cannot be checked here.
    unchecked: bool,
}

/// `task show`: the task on chain (`--watch`: until it ends), and its result downloaded
/// and checked with `--download`.
async fn show(ctx: &Context, task: B256, watch: bool, download: Option<Download>, timeout: u64) -> CliResult {
    let poco = ctx.poco().await?;
    let info = if watch {
        // The scheduler's details are for the deal's parties: signed when the
        // wallet opens without a prompt, else the chain's status alone.
        let reader = ctx.wallet.signer_without_prompt();
        watch_task(ctx, &poco, reader.as_ref(), task, Duration::from_secs(timeout)).await?
    } else {
        poco.task(task).await?
    };
    let mut fields = describe(&info);
    let mut text = text_of(&info);
    if let Some(Download { output, unchecked }) = download {
        if info.status != TaskStatus::Completed {
            return Err(CliError::new(
                "TASK_NOT_COMPLETED",
                format!("task {task} is {}: no result to download yet", status_name(info.status)),
            ));
        }
        let path = download_result(ctx, &info, output).await?;
        text.push_str(&format!("\n✔ result saved to {}", path.display()));
        fields["resultPath"] = json!(path);
        let check = check_download(ctx, &poco, &path, &info).await?;
        if let DigestCheck::NotChecked(why) = &check
            && !unchecked
        {
            // Anyone can encrypt a file for the beneficiary's key: what cannot be checked
            // is not left beside checked results.
            let _ = std::fs::remove_file(&path);
            return Err(CliError::new(
                "RESULT_UNCHECKED",
                format!(
                    "the result cannot be checked against the chain here ({why}), so it was deleted: \
                     put the beneficiary key in .secrets/beneficiary, or pass --unchecked to keep it"
                ),
            ));
        }
        text.push_str(&format!("\n{}", check.line()));
        fields["digestCheck"] = check.fields();
    }
    ctx.out.done(&text, json!({ "task": fields }));
    Ok(())
}

/// `task claim`: a task past its final deadline, refunding the requester.
async fn claim(ctx: &Context, task: B256) -> CliResult {
    let poco = ctx.signed_poco().await?;
    if poco.task(task).await?.status == TaskStatus::Unset {
        return Err(CliError::new(
            "TASK_NOT_INITIALIZED",
            format!("task {task} never started: claim it with its deal, `confide deal claim DEAL`"),
        ));
    }
    let transaction = poco.claim_task(task).await?;
    ctx.out.done(
        &format!("✔ task {task} claimed: the requester is refunded (transaction {transaction})"),
        json!({ "txHash": transaction }),
    );
    Ok(())
}

/// `task debug`: the chain's view, the scheduler's (for the deal's parties) and, with
/// `--logs`, the app's encrypted logs decrypted with the beneficiary's key.
async fn debug(
    ctx: &Context,
    task: B256,
    logs: bool,
    key: Option<PathBuf>,
    beneficiary_keystoredir: &Path,
) -> CliResult {
    let poco = ctx.poco().await?;
    let info = poco.task(task).await?;
    let reader = ctx.wallet.signer()?;
    let scheduler = scheduler_debug(task, Some(&reader)).await;
    let app_logs = if logs {
        let key_path = super::result::key_path(ctx, key, beneficiary_keystoredir)?;
        Some(app_logs(&info, scheduler.as_ref().ok(), &key_path).await?)
    } else {
        None
    };
    let mut lines = vec![text_of(&info)];
    lines.extend(scheduler_lines(&scheduler));
    for log in app_logs.iter().flatten() {
        lines.push(format!("── app log of the replica on {} ──", log.worker));
        lines.push(log.text.trim_end().to_owned());
    }
    if app_logs.as_ref().is_some_and(|logs| logs.is_empty()) {
        lines.push("no encrypted logs are stored for this task".into());
    }
    let logs_json: Option<Vec<Value>> = app_logs.map(|logs| {
        logs.iter()
            .map(|log| json!({ "worker": log.worker, "log": log.text }))
            .collect()
    });
    ctx.out.done(
        &lines.join("\n"),
        json!({ "task": describe(&info), "scheduler": scheduler.ok(), "appLogs": logs_json }),
    );
    Ok(())
}

/// The scheduler's view of a task, a line per replica and per log entry.
fn scheduler_lines(scheduler: &Result<TaskDebug, String>) -> Vec<String> {
    let debug = match scheduler {
        Ok(debug) => debug,
        Err(reason) => return vec![format!("scheduler: {reason}")],
    };
    let mut lines = vec![format!("scheduler: {} (attempts {})", debug.status, debug.attempts)];
    for replica in &debug.replicas {
        lines.push(format!("  replica on {}: {}", replica.worker, replica.status.as_str()));
    }
    for entry in &debug.log {
        lines.push(format!("  {}  {:<42}  {}", entry.at_ms, entry.party, entry.message));
    }
    lines
}

pub(crate) fn status_name(status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Unset => "UNSET",
        TaskStatus::Active => "ACTIVE",
        TaskStatus::Revealing => "REVEALING",
        TaskStatus::Completed => "COMPLETED",
        TaskStatus::Failed => "FAILED",
    }
}

fn describe(info: &TaskInfo) -> Value {
    let mut value = serde_json::to_value(info).expect("task serializes");
    value["statusName"] = json!(status_name(info.status));
    if let Ok(results) = serde_json::from_slice::<Value>(&info.results) {
        value["resultsJson"] = results;
    }
    value
}

fn text_of(info: &TaskInfo) -> String {
    let mut lines = vec![format!("task {}: {}", info.task_id, status_name(info.status))];
    lines.push(format!("  deal {}  index {}", info.deal_id, info.index));
    if info.final_deadline > confide_chain::U256::ZERO {
        lines.push(format!("  final deadline {} (unix)", info.final_deadline));
    }
    if let Ok(results) = serde_json::from_slice::<Value>(&info.results) {
        lines.push(format!("  result {}", results["location"].as_str().unwrap_or_default()));
    }
    lines.join("\n")
}

/// The schedulers that know the task: `CONFIDE_SCHEDULER_URL` (several separated by
/// commas), else the dev stack's. Any of a pool's schedulers answers for a task, standbys
/// too (they read the shared database).
pub(crate) fn scheduler_urls() -> Vec<String> {
    if let Ok(urls) = std::env::var("CONFIDE_SCHEDULER_URL") {
        return urls
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect();
    }
    let stack = confide_devstack::DevStack::new(confide_devstack::DevStack::default_dir());
    let Ok(state) = stack.read_state() else {
        return Vec::new();
    };
    state.schedulers().into_iter().map(|s| s.url).collect()
}

/// The scheduler's view of a task, which it gives only to the deal's parties: the
/// request is signed by `reader` (without one, there is nothing to ask). The first
/// scheduler that can be reached answers.
async fn scheduler_debug(task: B256, reader: Option<&PrivateKeySigner>) -> Result<TaskDebug, String> {
    let urls = scheduler_urls();
    if urls.is_empty() {
        return Err("no scheduler known (set CONFIDE_SCHEDULER_URL)".to_owned());
    }
    let reader = reader.ok_or("the scheduler answers the deal's parties only: unlock the wallet")?;
    let path = format!("/tasks/{task}");
    let (headers, _) =
        confide_workerpool::auth::request_headers(reader, "GET", &path, b"").map_err(|e| e.to_string())?;
    let client = reqwest::Client::new();
    let mut unreachable = Vec::new();
    for url in &urls {
        let mut request = client
            .get(format!("{}{path}", url.trim_end_matches('/')))
            .timeout(Duration::from_secs(5));
        for (name, value) in &headers {
            request = request.header(*name, value.as_str());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                unreachable.push(format!("{url} is unreachable: {}", e.without_url()));
                continue;
            }
        };
        let status = response.status();
        let body = response.bytes().await.unwrap_or_default();
        if !status.is_success() {
            let why = Refusal::from_json(&body)
                .map(|r| r.message)
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "no reason given".into());
            return Err(format!("{url} answered {status}: {why}"));
        }
        // The scheduler is another party: an answer not of the contract's shape is refused.
        return serde_json::from_slice(&body).map_err(|e| format!("{url} answered an unreadable task view: {e}"));
    }
    Err(unreachable.join("; "))
}

/// Polls until the task completes or fails, with a live status line on stderr.
pub(crate) async fn watch_task(
    ctx: &Context,
    poco: &Poco,
    reader: Option<&PrivateKeySigner>,
    task: B256,
    timeout: Duration,
) -> Result<TaskInfo, CliError> {
    let live = !ctx.out.is_raw() && std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let mut last_line = String::new();
    loop {
        let info = poco.task(task).await?;
        let detail = match scheduler_debug(task, reader).await {
            Ok(debug) => debug.log.last().map(|entry| entry.message.clone()).unwrap_or_default(),
            Err(_) => String::new(),
        };
        let line = format!(
            "task {}…: {} {}",
            &task.to_string()[..10],
            status_name(info.status),
            detail
        );
        if live {
            eprint!("\r\x1b[2K⏳ {line} ({} s)", started.elapsed().as_secs());
        } else if line != last_line && !ctx.out.is_raw() {
            eprintln!("… {line}");
        }
        last_line = line;
        if matches!(info.status, TaskStatus::Completed | TaskStatus::Failed) {
            if live {
                eprintln!();
            }
            return Ok(info);
        }
        if started.elapsed() > timeout {
            if live {
                eprintln!();
            }
            return Err(CliError::new(
                "WATCH_TIMEOUT",
                format!(
                    "task {task} is still {} after {} s; `confide task debug {task}` says why, and `confide task claim {task}` refunds it after its final deadline",
                    status_name(info.status),
                    timeout.as_secs()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A result larger than a Confide store accepts (4 GiB) is not read further: a link may name
/// anything.
const MAX_RESULT_BYTES: u64 = 4 << 30;

/// Where an `{"storage":"ipfs","location":"/ipfs/<CID>"}` result is fetched, and the CID
/// its bytes must have. The link is the worker's word and a CID proves only that the bytes
/// are those it names: where a Confide store is known, the result is taken from it by
/// task (`/results/<task>`: only the upload the enclave signed, of the contributor the
/// chain proved), so the CID check also proves the link names the enclave's result.
/// `CONFIDE_IPFS_GATEWAY`, chain.json's `ipfsGateway` or ipfs.io are used otherwise, and
/// the result is the enclave's only once its digest matches the chain (a warning says so).
fn ipfs_url(ctx: &Context, info: &TaskInfo, location: &str) -> Result<(String, Option<String>), CliError> {
    let cid = location
        .strip_prefix("/ipfs/")
        .filter(|cid| !cid.is_empty() && cid.bytes().all(|b| b.is_ascii_alphanumeric()))
        .ok_or_else(|| {
            CliError::new(
                "UNKNOWN_STORAGE",
                format!("the IPFS result link {location:?} is not /ipfs/<CID>"),
            )
        })?;
    let explicit = std::env::var("CONFIDE_IPFS_GATEWAY").ok();
    if explicit.is_none()
        && let Ok(store) = super::store::store_url()
    {
        let url = format!("{}/results/{}", store.trim_end_matches('/'), info.task_id);
        return Ok((url, Some(cid.to_owned())));
    }
    let gateway = explicit
        .or_else(|| ctx.chain.resolve().ok().and_then(|c| c.ipfs_gateway))
        .unwrap_or_else(|| "https://ipfs.io".to_owned());
    ctx.out.warn(&format!(
        "fetching the result by its CID through {gateway}: it is the enclave's once its digest matches the chain"
    ));
    Ok((
        format!("{}/ipfs/{cid}", gateway.trim_end_matches('/')),
        Some(cid.to_owned()),
    ))
}

/// A `{"storage":"confide"}` link (results stored before they were content-addressed).
/// The link is the worker's word: only a contributor's result in our result store is
/// fetched (a forged link could serve a forged result encrypted to our public key).
fn confide_store_url(info: &TaskInfo, location: &str) -> Result<String, CliError> {
    // Fails closed: with no store configured, no link is taken for the store's.
    let trusted = super::store::store_url().is_ok_and(|store| is_contributor_result(&store, info, location));
    if !trusted {
        return Err(CliError::new(
            "UNTRUSTED_RESULT_LINK",
            format!("the result link {location} is not a contributor's result in the result store (CONFIDE_STORE_URL)"),
        ));
    }
    Ok(location.to_owned())
}

/// Whether `location` is exactly `<store>/results/<task>/<contributor>` for one of the
/// task's contributors (hex in any case): compared whole, so no dot segment, query,
/// fragment or other path that merely starts and ends the right way gets through.
fn is_contributor_result(store: &str, info: &TaskInfo, location: &str) -> bool {
    let store = store.trim_end_matches('/');
    let http = store.starts_with("http://") || store.starts_with("https://");
    http && info
        .contributors
        .iter()
        .any(|contributor| location.eq_ignore_ascii_case(&format!("{store}/results/{}/{contributor}", info.task_id)))
}

/// Downloads a completed task's result from the location written on chain.
pub(crate) async fn download_result(
    ctx: &Context,
    info: &TaskInfo,
    output: Option<PathBuf>,
) -> Result<PathBuf, CliError> {
    let link: Value = serde_json::from_slice(&info.results).map_err(|_| {
        CliError::new(
            "NO_RESULT_LINK",
            "the task's on-chain result is not a result link (a callback task?)",
        )
    })?;
    let location = link["location"].as_str().unwrap_or_default();
    let (url, expected_cid) = match link["storage"].as_str() {
        Some("ipfs") => ipfs_url(ctx, info, location)?,
        Some("confide") => (confide_store_url(info, location)?, None),
        other => {
            return Err(CliError::new(
                "UNKNOWN_STORAGE",
                format!("cannot download from storage {other:?} at {location}"),
            ));
        }
    };
    let bytes = fetch_result(ctx, &url).await?;
    // Whatever gateway served them, the bytes must be those the link names.
    if let Some(expected) = expected_cid {
        check_cid(&url, &expected, &bytes)?;
    }
    let extension = if bytes.starts_with(b"age-encryption.org") {
        "age"
    } else {
        "zip"
    };
    let path = output.unwrap_or_else(|| PathBuf::from(format!("{}.{extension}", info.task_id)));
    let partial = path.with_extension("partial");
    std::fs::write(&partial, &bytes)
        .and_then(|_| std::fs::rename(&partial, &path))
        .map_err(|e| CliError::io(&path, e))?;
    Ok(path)
}

/// A result's bytes from `url`, with progress, refused past [`MAX_RESULT_BYTES`].
async fn fetch_result(ctx: &Context, url: &str) -> Result<Vec<u8>, CliError> {
    let response = reqwest::Client::new()
        .get(url)
        .send()
        .await
        .map_err(|e| CliError::new("STORE_UNREACHABLE", format!("{url} is unreachable: {e}")))?;
    if !response.status().is_success() {
        return Err(CliError::new(
            "RESULT_NOT_FOUND",
            format!("{url} answered {}", response.status()),
        ));
    }
    let total = response.content_length().unwrap_or(0);
    let bar = super::dataset::progress_bar(&ctx.out, total, "downloading the result");
    let mut bytes = Vec::with_capacity(total.min(64 << 20) as usize);
    let mut response = response;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| CliError::new("DOWNLOAD_FAILED", format!("{url}: {e}")))?
    {
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > MAX_RESULT_BYTES {
            return Err(CliError::new(
                "RESULT_TOO_LARGE",
                format!("{url} sent more than {MAX_RESULT_BYTES} bytes, more than any result store keeps: refused"),
            ));
        }
        if let Some(bar) = &bar {
            bar.set_position(bytes.len() as u64);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(bytes)
}

/// Refuses bytes whose IPFS CID is not `expected`.
fn check_cid(url: &str, expected: &str, bytes: &[u8]) -> Result<(), CliError> {
    let version = if expected.starts_with("Qm") {
        CidVersion::V0
    } else {
        CidVersion::V1
    };
    let actual = file_cid(version, bytes).to_string();
    if actual != expected {
        return Err(CliError::new(
            "RESULT_CID_MISMATCH",
            format!("{url} served bytes whose CID is {actual}, not {expected}: refused"),
        ));
    }
    Ok(())
}

/// Checks a downloaded result against the task's on-chain digest when it can be read
/// here: a plain archive, or one encrypted for this wallet's key in the default keystore.
/// A result that does not match is deleted and refused.
pub(crate) async fn check_download(
    ctx: &Context,
    poco: &Poco,
    path: &Path,
    info: &TaskInfo,
) -> Result<DigestCheck, CliError> {
    let io = |e: std::io::Error| CliError::io(path, e);
    let plain = if is_plain_archive(path) {
        std::fs::File::open(path).map_err(io)?
    } else {
        let key = super::result::key_path(ctx, None, Path::new(".secrets/beneficiary")).ok();
        match key.filter(|k| k.exists()) {
            Some(key) => match super::result::decrypt_to_temporary(path, &key) {
                Ok(plain) => plain,
                Err(e) => return Ok(DigestCheck::NotChecked(e.message)),
            },
            None => {
                return Ok(DigestCheck::NotChecked(
                    "no beneficiary key in .secrets/beneficiary".into(),
                ));
            }
        }
    };
    let checked = super::result::check_digest(ctx, Some(poco), plain, Some(info.task_id)).await;
    if checked.is_err() {
        let _ = std::fs::remove_file(path);
    }
    checked
}

/// A zip of `/iexec_out` (a result without encryption), not iExec's encrypted layout.
pub(crate) fn is_plain_archive(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    zip::ZipArchive::new(file)
        .map(|zip| zip.index_for_name(confide_crypto::result::IEXEC_AES_ENTRY).is_none())
        .unwrap_or(false)
}

/// One replica's app log, from its encrypted result or failure archive.
struct AppLog {
    worker: String,
    text: String,
}

/// The app's logs of every replica the store holds an encrypted archive of: the
/// contributors' results and the failed replicas' logs (the scheduler names them).
async fn app_logs(info: &TaskInfo, scheduler: Option<&TaskDebug>, key_path: &Path) -> Result<Vec<AppLog>, CliError> {
    let store = super::store::store_url()?;
    let mut workers: Vec<String> = info.contributors.iter().map(|c| c.to_string().to_lowercase()).collect();
    for replica in scheduler.map(|s| s.replicas.as_slice()).unwrap_or_default() {
        workers.push(replica.worker.to_string().to_lowercase());
    }
    workers.sort();
    workers.dedup();
    let client = reqwest::Client::new();
    let mut logs = Vec::new();
    for worker in workers {
        let url = format!("{}/results/{}/{worker}", store.trim_end_matches('/'), info.task_id);
        let response = client
            .get(&url)
            .send()
            .await
            .map_err(|e| CliError::new("STORE_UNREACHABLE", format!("{url} is unreachable: {e}")))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            continue;
        }
        if !response.status().is_success() {
            return Err(CliError::new(
                "RESULT_NOT_FOUND",
                format!("{url} answered {}", response.status()),
            ));
        }
        let mut response = response;
        let mut encrypted = tempfile::NamedTempFile::new().map_err(|e| CliError::new("IO_ERROR", e.to_string()))?;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| CliError::new("DOWNLOAD_FAILED", format!("{url}: {e}")))?
        {
            std::io::Write::write_all(&mut encrypted, &chunk).map_err(|e| CliError::new("IO_ERROR", e.to_string()))?;
        }
        let plain = super::result::decrypt_to_temporary(encrypted.path(), key_path)?;
        let mut zip = zip::ZipArchive::new(plain).map_err(|e| CliError::new("NOT_A_ZIP", format!("{url}: {e}")))?;
        let text = match confide_crypto::result::read_entry(&mut zip, confide_crypto::result::APP_LOG_ENTRY) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => continue,
        };
        logs.push(AppLog { worker, text });
    }
    Ok(logs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use confide_chain::{Address, Bytes, U256};

    fn task(contributor: Address) -> TaskInfo {
        TaskInfo {
            task_id: B256::repeat_byte(0xaa),
            status: TaskStatus::Completed,
            deal_id: B256::ZERO,
            index: U256::ZERO,
            timeref: U256::ZERO,
            contribution_deadline: U256::ZERO,
            reveal_deadline: U256::ZERO,
            final_deadline: U256::ZERO,
            consensus_value: B256::ZERO,
            reveal_counter: U256::ZERO,
            winner_counter: U256::ZERO,
            contributors: vec![contributor],
            result_digest: B256::ZERO,
            results: Bytes::new(),
            results_timestamp: U256::ZERO,
            results_callback: Bytes::new(),
        }
    }

    #[test]
    fn only_a_contributors_result_in_our_store_is_a_trusted_link() {
        let store = "http://127.0.0.1:13400";
        let worker = Address::repeat_byte(0x11);
        let info = task(worker);
        let exact = format!("{store}/results/{}/{worker}", info.task_id);
        assert!(is_contributor_result(store, &info, &exact));
        assert!(is_contributor_result(
            &format!("{store}/"),
            &info,
            &exact.to_uppercase().replace("HTTP://", "http://")
        ));
        // Links that start and end the right way but lead elsewhere.
        for forged in [
            format!("{store}/results/../files/evil/results/{}/{worker}", info.task_id),
            format!("{store}/results/x/../../results/{}/{worker}", info.task_id),
            format!("{exact}?then=elsewhere"),
            format!("{exact}#fragment"),
            format!("{store}/results/{}/{}", info.task_id, Address::repeat_byte(0x22)),
            format!("http://evil.example/{store}/results/{}/{worker}", info.task_id),
        ] {
            assert!(!is_contributor_result(store, &info, &forged), "{forged}");
        }
    }
}
