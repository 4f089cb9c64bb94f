//! `confide store serve`, and uploading encrypted files to a store.

use std::path::Path;

use clap::{Args, Subcommand};
use confide_chain::B256;
use confide_protocol::messages::sign_personal;
use serde_json::json;

use crate::context::Context;
use crate::output::{CliError, CliResult};
use crate::serve;

#[derive(Subcommand, Debug)]
pub(crate) enum StoreCommand {
    /// Serve the content store until interrupted.
    Serve(ServeArgs),
}

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    #[arg(long, env = "CONFIDE_STORE_LISTEN", default_value = "127.0.0.1:13400")]
    listen: String,
    /// A local directory, or s3://bucket/prefix (AWS_* environment variables for credentials).
    #[arg(long, env = "CONFIDE_STORE_LOCATION", default_value = ".confide-store")]
    store: String,
    /// Largest upload accepted, in MiB.
    #[arg(long, default_value_t = 4096)]
    max_upload_mib: usize,
    /// What one wallet may keep in the store, in MiB (uploads past it are refused).
    #[arg(long, env = "CONFIDE_STORE_OWNER_QUOTA_MIB", default_value_t = 16384)]
    owner_quota_mib: u64,
    /// What the whole store may hold, in GiB (uploads past it are refused).
    #[arg(long, env = "CONFIDE_STORE_TOTAL_QUOTA_GIB", default_value_t = 1024)]
    total_quota_gib: u64,
    /// What of the total only task results may use, in MiB: files and added content stop
    /// short of it, so wallets that cost nothing cannot block results.
    #[arg(long, env = "CONFIDE_STORE_RESULTS_RESERVE_MIB", default_value_t = 65_536)]
    results_reserve_mib: u64,
    /// What a wallet that owns no app, dataset or workerpool on chain may keep, in MiB
    /// (with a chain; owners of an asset have --owner-quota-mib).
    #[arg(long, env = "CONFIDE_STORE_NEWCOMER_QUOTA_MIB", default_value_t = 256)]
    newcomer_quota_mib: u64,
    /// Wallets that have --owner-quota-mib whatever they own (comma-separated addresses).
    #[arg(long, env = "CONFIDE_STORE_UPLOAD_ALLOW", value_delimiter = ',')]
    upload_allow: Vec<confide_chain::Address>,
    /// Take task results, checked against this chain (--rpc-url and --hub, or chain.json).
    #[arg(long)]
    results: bool,
    /// Largest file `POST /api/v0/add` (IPFS, unauthenticated) takes, in MiB.
    #[arg(long, env = "CONFIDE_STORE_IPFS_ADD_MAX_MIB", default_value_t = 64)]
    ipfs_add_max_mib: u64,
    /// What added content no registered dataset names yet may hold in all, in MiB.
    #[arg(long, env = "CONFIDE_STORE_IPFS_UNCLAIMED_QUOTA_MIB", default_value_t = 1024)]
    ipfs_unclaimed_quota_mib: u64,
    /// How long added content waits for a dataset to name it before it is collected.
    #[arg(long, env = "CONFIDE_STORE_IPFS_GRACE_SECONDS", default_value_t = 86_400)]
    ipfs_grace_seconds: u64,
    /// What one client (an IPv4 address or an IPv6 /64) may add per hour, in MiB.
    #[arg(long, env = "CONFIDE_STORE_IPFS_CLIENT_MIB_PER_HOUR", default_value_t = 256)]
    ipfs_client_mib_per_hour: u64,
    /// Additions one client may have under way at once.
    #[arg(long, env = "CONFIDE_STORE_IPFS_CLIENT_UPLOADS", default_value_t = 2)]
    ipfs_client_uploads: usize,
    /// An IPFS node's RPC API (kubo, e.g. http://127.0.0.1:5001) that pins every result
    /// and file stored, so they reach the public IPFS network. Without it the store serves
    /// them itself at /ipfs/<CID>.
    #[arg(long, env = "CONFIDE_STORE_IPFS_NODE")]
    ipfs_node: Option<String>,
}

pub(crate) async fn run(command: StoreCommand, ctx: &Context) -> CliResult {
    let StoreCommand::Serve(args) = command;
    // Warnings and errors (an audit write that failed, the SMS's insecure mode) go to
    // stderr, as docs/DEPLOYMENT.md says.
    serve::init_logging();
    let backend = confide_store::open_backend(&args.store).map_err(|e| CliError::new("STORE_ERROR", e.to_string()))?;
    // A chain when one is configured (needed by --results): registered datasets claim what
    // was added by IPFS, which is otherwise collected after the grace period.
    let poco = match ctx.poco().await {
        Ok(poco) => Some(poco),
        Err(e) if args.results => return Err(e),
        Err(_) => None,
    };
    let mut state = confide_store::StoreState::configure(backend, args.max_upload_mib << 20, poco);
    state.accept_results = args.results;
    state.owner_quota = args.owner_quota_mib.saturating_mul(1 << 20);
    state.total_quota = args.total_quota_gib.saturating_mul(1 << 30);
    state.results_reserve = args.results_reserve_mib.saturating_mul(1 << 20);
    if state.results_reserve >= state.total_quota {
        return Err(CliError::new(
            "BAD_ARGUMENT",
            "--results-reserve-mib must be smaller than --total-quota-gib",
        ));
    }
    state.newcomer_quota = args.newcomer_quota_mib.saturating_mul(1 << 20);
    state.upload_allow = args.upload_allow.into_iter().collect();
    state.ipfs_add_max = args.ipfs_add_max_mib.saturating_mul(1 << 20);
    state.ipfs_unclaimed_quota = args.ipfs_unclaimed_quota_mib.saturating_mul(1 << 20);
    state.ipfs_grace = std::time::Duration::from_secs(args.ipfs_grace_seconds);
    state.ipfs_client_bytes_per_hour = args.ipfs_client_mib_per_hour.saturating_mul(1 << 20);
    state.ipfs_client_uploads = args.ipfs_client_uploads;
    if let Some(node) = &args.ipfs_node {
        let node =
            confide_store::pin::IpfsNode::new(node).map_err(|e| CliError::new("INVALID_IPFS_NODE", e.to_string()))?;
        state.ipfs_node = Some(std::sync::Arc::new(node));
    }
    let router = confide_store::router(std::sync::Arc::new(state));
    serve::serve(ctx, &format!("content store (in {})", args.store), &args.listen, router).await
}

/// The store to upload to: `CONFIDE_STORE_URL`, else the dev stack's.
pub(crate) fn store_url() -> Result<String, CliError> {
    if let Ok(url) = std::env::var("CONFIDE_STORE_URL") {
        return Ok(url);
    }
    let stack = confide_devstack::DevStack::new(confide_devstack::DevStack::default_dir());
    stack
        .read_state()
        .ok()
        .and_then(|state| state.store)
        .map(|store| store.url)
        .ok_or_else(|| {
            CliError::new(
                "NO_STORE",
                "no content store: run `confide dev up`, or set CONFIDE_STORE_URL",
            )
        })
}

/// Uploads `file` under the wallet's prefix; returns the public download URL. The body
/// streams from disk: memory stays constant whatever the file size.
/// A file the store accepted.
pub(crate) struct Uploaded {
    /// Where the store serves it by name (replaced if the owner uploads that name again).
    pub url: String,
    pub sha256: B256,
    /// Its IPFS CID (v1), as the store computed it: the store also serves it at `/ipfs/<CID>`.
    pub cid: String,
}

pub(crate) async fn upload(ctx: &Context, file: &Path, name: &str) -> Result<Uploaded, CliError> {
    let url = store_url()?;
    let unreadable =
        |e: std::io::Error| CliError::new("UNREADABLE_FILE", format!("cannot read {}: {e}", file.display()));
    let sha256 = {
        let reader = std::io::BufReader::new(std::fs::File::open(file).map_err(unreadable)?);
        confide_crypto::dataset::checksum(reader).map_err(|e| CliError::new("UNREADABLE_FILE", e.to_string()))?
    };
    let signer = ctx.wallet.signer()?;
    let owner = signer.address();
    let challenge = confide_protocol::store::upload_challenge(owner, name, sha256);
    let signature = sign_personal(&signer, challenge).map_err(|e| CliError::new("SIGNING_FAILED", e.to_string()))?;
    let handle = tokio::fs::File::open(file).await.map_err(unreadable)?;
    let size = handle.metadata().await.map_err(unreadable)?.len();
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(handle, 1 << 16));
    let target = format!("{url}/files/{owner}/{name}");
    let response = reqwest::Client::new()
        .put(&target)
        .header(
            "Authorization",
            format!("0x{}", confide_chain::hex::encode(signature.as_bytes())),
        )
        .header(confide_store::CONTENT_SHA256, sha256.to_string())
        .header("Content-Length", size)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            CliError::new(
                "STORE_UNREACHABLE",
                format!("the content store at {url} is unreachable: {e}"),
            )
        })?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap_or_default();
    if !(200..300).contains(&status) {
        let refusal = confide_protocol::refusal::Refusal::from_answer(status, &bytes, "UPLOAD_REFUSED");
        return Err(CliError::new(
            "UPLOAD_REFUSED",
            format!("the content store refused the upload: {}", refusal.message),
        ));
    }
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let cid = body["cid"].as_str().unwrap_or_default().to_owned();
    Ok(Uploaded {
        url: target,
        sha256,
        cid,
    })
}

/// The IPFS CID (v1) of a file, read in chunks.
fn file_cid(file: &Path) -> Result<confide_protocol::ipfs::Cid, CliError> {
    use std::io::Read;
    let unreadable =
        |e: std::io::Error| CliError::new("UNREADABLE_FILE", format!("cannot read {}: {e}", file.display()));
    let mut reader = std::fs::File::open(file).map_err(unreadable)?;
    let mut cid = confide_protocol::ipfs::FileCid::new(confide_protocol::ipfs::CidVersion::V1);
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = reader.read(&mut buffer).map_err(unreadable)?;
        if read == 0 {
            return Ok(cid.finish());
        }
        cid.update(&buffer[..read]);
    }
}

/// `dataset upload`: prints the multiaddr (the store's URL, or with `ipfs` the file's
/// `/ipfs/<CID>`) and writes it into iexec.json.
pub(crate) async fn upload_dataset(ctx: &Context, file: &Path, name: Option<String>, ipfs: bool) -> CliResult {
    let name = match name {
        Some(name) => name,
        None => file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let uploaded = upload(ctx, file, &name).await?;
    let (checksum, cid) = (uploaded.sha256, uploaded.cid.clone());
    let url = if ipfs {
        // Checked here too: the store's word is not taken for what the chain will name.
        let computed = file_cid(file)?;
        if computed.to_string() != uploaded.cid {
            return Err(CliError::new(
                "STORE_CID_MISMATCH",
                format!(
                    "the content store computed CID {} for {}, not {computed}",
                    uploaded.cid,
                    file.display()
                ),
            ));
        }
        format!("/ipfs/{computed}")
    } else {
        uploaded.url
    };
    let project = crate::project::Project::current();
    if project.has_iexec_json() && project.section("dataset").is_ok() {
        project.update_iexec_json(|json| {
            if let Some(dataset) = json.get_mut("dataset").and_then(|d| d.as_object_mut()) {
                dataset.insert("multiaddr".into(), json!(url));
                dataset.insert("checksum".into(), json!(checksum.to_string()));
            }
        })?;
        ctx.out.step("iexec.json: dataset.multiaddr and dataset.checksum set");
    }
    ctx.out.done(
        &format!("✔ uploaded {} (checksum {checksum})\n  multiaddr {url}", file.display()),
        json!({ "url": url, "checksum": checksum, "cid": cid }),
    );
    Ok(())
}
