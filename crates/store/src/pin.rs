//! Pinning what the store keeps on an IPFS node, through kubo's RPC API
//! (`POST /api/v0/add`), so results and datasets published the IPFS way reach the public
//! network. The store serves them itself whether or not a node pins them.
//!
//! The node must derive the CID the store computed (CIDv1, raw leaves, 256 KiB chunks:
//! kubo's `add --cid-version=1` defaults); a node that answers another CID is reported as
//! misconfigured, never trusted over our own hash.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use confide_protocol::ipfs::Cid;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};

/// How many times a pin is tried before it is given up (and counted as failed).
const ATTEMPTS: u32 = 3;

/// An IPFS node's RPC API, and what was pinned there.
pub struct IpfsNode {
    client: reqwest::Client,
    add_url: String,
    pub pinned: AtomicU64,
    pub failed: AtomicU64,
}

#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("the IPFS node URL must be http(s)://host[:port]: `{0}`")]
    InvalidUrl(String),
    #[error("the IPFS node is unreachable: {0}")]
    Unreachable(String),
    #[error("the IPFS node refused the file (status {status}): {message}")]
    Refused { status: u16, message: String },
    #[error(
        "the IPFS node derived CID {node}, not {ours}: set it to import as `ipfs add --cid-version=1` (raw leaves, 256 KiB chunks)"
    )]
    CidMismatch { node: String, ours: String },
    #[error("reading the stored file: {0}")]
    Backend(String),
}

impl IpfsNode {
    /// The node whose RPC API is at `url` (kubo's default: `http://127.0.0.1:5001`).
    pub fn new(url: &str) -> Result<IpfsNode, PinError> {
        let base = url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) || base.contains('?') {
            return Err(PinError::InvalidUrl(url.into()));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| PinError::Unreachable(e.to_string()))?;
        Ok(IpfsNode {
            client,
            add_url: format!("{base}/api/v0/add?cid-version=1&raw-leaves=true&pin=true&quieter=true&progress=false"),
            pinned: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        })
    }

    /// Streams the stored object at `path` to the node and checks the CID it answers.
    pub async fn add(&self, backend: &dyn ObjectStore, path: &StorePath, expected: &Cid) -> Result<(), PinError> {
        use futures::TryStreamExt;
        let stored = backend.get(path).await.map_err(|e| PinError::Backend(e.to_string()))?;
        let size = stored.meta.size;
        let stream = stored.into_stream().map_err(std::io::Error::other);
        let part = reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(stream), size)
            .file_name(expected.to_string())
            .mime_str("application/octet-stream")
            .expect("a valid MIME type");
        let response = self
            .client
            .post(&self.add_url)
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await
            .map_err(|e| PinError::Unreachable(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| PinError::Unreachable(e.without_url().to_string()))?;
        if !(200..300).contains(&status) {
            // kubo's errors: {"Message": "...", "Code": 0, "Type": "error"}.
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["Message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| text.chars().take(200).collect());
            return Err(PinError::Refused { status, message });
        }
        // One JSON object per added file; the last names the file itself.
        let node = text
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter_map(|v| v["Hash"].as_str().map(str::to_owned))
            .next_back()
            .unwrap_or_default();
        if node != expected.to_string() {
            return Err(PinError::CidMismatch {
                node: node.chars().take(100).collect(),
                ours: expected.to_string(),
            });
        }
        Ok(())
    }

    /// Pins in the background, retrying what may pass on a later try; the upload that
    /// stored the object does not wait for the node.
    pub fn pin_in_background(self: &Arc<Self>, backend: Arc<dyn ObjectStore>, path: StorePath, cid: Cid) {
        let node = self.clone();
        tokio::spawn(async move {
            for attempt in 1..=ATTEMPTS {
                match node.add(backend.as_ref(), &path, &cid).await {
                    Ok(()) => {
                        node.pinned.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(%cid, "pinned on the IPFS node");
                        return;
                    }
                    Err(error @ (PinError::CidMismatch { .. } | PinError::Backend(_))) => {
                        tracing::error!(%cid, %error, "not pinned");
                        break;
                    }
                    Err(error) if attempt == ATTEMPTS => {
                        tracing::error!(%cid, %error, "not pinned");
                    }
                    Err(error) => {
                        tracing::warn!(%cid, %error, attempt, "pinning failed; trying again");
                        tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
                    }
                }
            }
            node.failed.fetch_add(1, Ordering::Relaxed);
        });
    }
}
