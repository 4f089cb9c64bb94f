//! Pinning what the store keeps on an IPFS node, through kubo's RPC API, so results and
//! datasets published the IPFS way reach the public network. The store serves them itself
//! whether or not a node pins them.
//!
//! The node must derive the CID the store computed (CIDv1, raw leaves, 256 KiB chunks:
//! kubo's `add --cid-version=1` defaults). Content is added unpinned, and pinned only once
//! the node's CID is ours; a node that answers another CID is reported as misconfigured,
//! never trusted over our own hash. A CID no stored object holds any more is unpinned.
//! Pins run in the background, a few at a time, from a bounded queue: uploads never wait
//! for the node, and a slow node cannot pile up work.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use confide_protocol::ipfs::Cid;
use futures::TryStreamExt;

use crate::StoreState;

/// How many times a pin is tried before it is given up (and counted as failed).
const ATTEMPTS: u32 = 3;
/// Pins sent to the node at once, in each lane.
const CONCURRENT: usize = 2;
/// Pins waiting or running in each lane, at most; past it a pin is counted as failed at once.
const QUEUED: usize = 1024;

/// What is pinned: results and files wait in lanes of their own, so wallets that upload
/// files for free cannot keep task results from being pinned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PinLane {
    /// A task's result.
    Result,
    /// An owner's file.
    File,
}

/// One lane's pins running and waiting.
struct Lane {
    running: tokio::sync::Semaphore,
    queued: tokio::sync::Semaphore,
}

impl Lane {
    fn new() -> Lane {
        Lane {
            running: tokio::sync::Semaphore::new(CONCURRENT),
            queued: tokio::sync::Semaphore::new(QUEUED),
        }
    }
}
/// The longest one `add` may take (a few GiB at a slow link).
const ADD_TIMEOUT: Duration = Duration::from_secs(1800);
/// The longest a `pin/add` or `pin/rm` may take.
const PIN_TIMEOUT: Duration = Duration::from_secs(120);

/// An IPFS node's RPC API, and what was pinned there.
pub struct IpfsNode {
    client: reqwest::Client,
    /// `http(s)://host[:port]/api/v0`.
    api: String,
    results: Lane,
    files: Lane,
    /// Objects the node pinned under our CID (`store_ipfs_pinned_total` on `/metrics`).
    pub pinned: AtomicU64,
    /// Pins given up: after three tries, on a CID that is not ours, or with the queue full
    /// (`store_ipfs_pin_failed_total`).
    pub failed: AtomicU64,
}

/// Why an IPFS node cannot be used, or did not pin an object.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// `--ipfs-node` is not a plain `http(s)://host[:port]`.
    #[error("the IPFS node must be given as http(s)://host[:port] (no query or fragment)")]
    InvalidUrl,
    /// The node could not be reached, or its answer not read; the pin is tried again.
    #[error("the IPFS node is unreachable: {0}")]
    Unreachable(String),
    /// The node answered with an error status; the pin is tried again.
    #[error("the IPFS node refused (status {status}): {message}")]
    Refused {
        /// The answer's HTTP status.
        status: u16,
        /// kubo's `Message`, else the answer's first 200 characters.
        message: String,
    },
    /// The node derived another CID from the bytes than the store did: it imports with
    /// other settings. Nothing is pinned, and the pin is not tried again.
    #[error(
        "the IPFS node derived CID {node}, not {ours}: set it to import as `ipfs add --cid-version=1` (raw leaves, 256 KiB chunks)"
    )]
    CidMismatch {
        /// The CID the node named (at most 100 of its alphanumeric characters).
        node: String,
        /// The CID the store computed as the upload streamed.
        ours: String,
    },
}

impl IpfsNode {
    /// The node whose RPC API is at `url` (kubo's default: `http://127.0.0.1:5001`).
    pub fn new(url: &str) -> Result<IpfsNode, PinError> {
        let base = url.trim_end_matches('/');
        let scheme_ok = base.starts_with("http://") || base.starts_with("https://");
        if !scheme_ok || base.contains(['?', '#']) {
            return Err(PinError::InvalidUrl);
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| PinError::Unreachable(e.to_string()))?;
        Ok(IpfsNode {
            client,
            api: format!("{base}/api/v0"),
            results: Lane::new(),
            files: Lane::new(),
            pinned: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        })
    }

    /// Sends a request and returns the body of a 2xx answer.
    async fn call(&self, request: reqwest::RequestBuilder) -> Result<String, PinError> {
        let unreachable = |e: reqwest::Error| PinError::Unreachable(e.without_url().to_string());
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(unreachable)?;
        if (200..300).contains(&status) {
            return Ok(text);
        }
        // kubo's errors: {"Message": "...", "Code": 0, "Type": "error"}.
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["Message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| text.chars().take(200).collect());
        Err(PinError::Refused { status, message })
    }

    /// Adds the object holding `cid` (unpinned), checks the node's CID, then pins it.
    /// `Ok(false)`: no stored object holds `cid` any more, nothing to pin.
    async fn add_and_pin(&self, state: &StoreState, cid: &Cid) -> Result<bool, PinError> {
        let Some((object, _)) = crate::ipfs::holding(state, cid).await else {
            return Ok(false);
        };
        let size = object.meta.size;
        let stream = object.into_stream().map_err(std::io::Error::other);
        let part = reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(stream), size)
            .file_name(cid.to_string())
            .mime_str("application/octet-stream")
            .expect("a valid MIME type");
        let add = self
            .client
            .post(format!(
                "{}/add?cid-version=1&raw-leaves=true&pin=false&quieter=true&progress=false",
                self.api
            ))
            .timeout(ADD_TIMEOUT)
            .multipart(reqwest::multipart::Form::new().part("file", part));
        let text = self.call(add).await?;
        // One JSON object per added file; the last names the file itself.
        let node = text
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter_map(|v| v["Hash"].as_str().map(str::to_owned))
            .next_back()
            .unwrap_or_default();
        if node != cid.to_string() {
            return Err(PinError::CidMismatch {
                node: node.chars().filter(char::is_ascii_alphanumeric).take(100).collect(),
                ours: cid.to_string(),
            });
        }
        let pin = self
            .client
            .post(format!("{}/pin/add?arg={cid}", self.api))
            .timeout(PIN_TIMEOUT);
        self.call(pin).await?;
        Ok(true)
    }

    fn lane(&self, lane: PinLane) -> &Lane {
        match lane {
            PinLane::Result => &self.results,
            PinLane::File => &self.files,
        }
    }

    /// Pins `cid` in the background in its lane, retrying what may pass on a later try.
    pub(crate) fn pin_in_background(self: &Arc<Self>, state: Arc<StoreState>, cid: Cid, lane: PinLane) {
        let Ok(queued) = self.lane(lane).queued.try_acquire() else {
            self.failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(%cid, "not pinned: the pin queue is full");
            return;
        };
        queued.forget();
        let node = self.clone();
        tokio::spawn(async move {
            let outcome = node.pin_with_retries(&state, &cid, lane).await;
            node.lane(lane).queued.add_permits(1);
            match outcome {
                Ok(true) => {
                    node.pinned.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(%cid, "pinned on the IPFS node");
                }
                Ok(false) => tracing::info!(%cid, "replaced before it was pinned"),
                Err(error) => {
                    node.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(%cid, %error, "not pinned");
                }
            }
        });
    }

    async fn pin_with_retries(&self, state: &StoreState, cid: &Cid, lane: PinLane) -> Result<bool, PinError> {
        let _running = self
            .lane(lane)
            .running
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let mut attempt = 1;
        loop {
            match self.add_and_pin(state, cid).await {
                Err(error @ (PinError::Unreachable(_) | PinError::Refused { .. })) if attempt < ATTEMPTS => {
                    tracing::warn!(%cid, %error, attempt, "pinning failed; trying again");
                    tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    /// Unpins `cid` in the background (best effort: a node that never pinned it says so).
    pub(crate) fn unpin_in_background(self: &Arc<Self>, cid: Cid) {
        let node = self.clone();
        tokio::spawn(async move {
            let request = node
                .client
                .post(format!("{}/pin/rm?arg={cid}", node.api))
                .timeout(PIN_TIMEOUT);
            match node.call(request).await {
                Ok(_) => tracing::info!(%cid, "unpinned: no stored object holds it any more"),
                Err(error) => tracing::warn!(%cid, %error, "unpinning failed"),
            }
        });
    }
}
