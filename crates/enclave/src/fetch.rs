//! Downloads: `https://` (and `http://`, for loopback development) URLs, and `/ipfs/…`
//! paths through a list of gateways, streamed to a file or memory while hashed.
//! Transient failures are retried with backoff; what is downloaded is never trusted
//! until its hash matches what the chain (or the SMS) says it must be.

use std::io::Write;
use std::time::Duration;

use alloy_primitives::B256;
use sha2::{Digest, Sha256};

const ATTEMPTS: u32 = 3;

#[derive(Debug, thiserror::Error)]
#[error("{url}: {reason}")]
pub struct FetchError {
    pub url: String,
    pub reason: String,
}

pub struct Fetcher {
    client: reqwest::Client,
    ipfs_gateways: Vec<String>,
}

impl Fetcher {
    pub fn new(ipfs_gateways: Vec<String>) -> Fetcher {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(600))
            .build()
            .expect("an HTTP client with rustls");
        Fetcher { client, ipfs_gateways }
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The URLs to try for a multiaddr, in order.
    fn candidates(&self, location: &str) -> Vec<String> {
        match location.strip_prefix("/ipfs/") {
            Some(cid) => self
                .ipfs_gateways
                .iter()
                .map(|gateway| format!("{}/ipfs/{cid}", gateway.trim_end_matches('/')))
                .collect(),
            None => vec![location.to_owned()],
        }
    }

    /// Streams `location` into `sink` (up to `max_bytes`) and returns its sha256. A
    /// failed attempt restarts from zero, so `sink` is reset through `restart`.
    pub async fn fetch<W: Write>(
        &self,
        location: &str,
        max_bytes: u64,
        sink: &mut W,
        mut restart: impl FnMut(&mut W) -> std::io::Result<()>,
    ) -> Result<B256, FetchError> {
        let candidates = self.candidates(location);
        if candidates.is_empty() {
            return Err(FetchError {
                url: location.into(),
                reason: "no IPFS gateway configured (--ipfs-gateway)".into(),
            });
        }
        if !candidates
            .iter()
            .all(|u| u.starts_with("https://") || u.starts_with("http://"))
        {
            return Err(FetchError {
                url: location.into(),
                reason: "only https://, http:// and /ipfs/ locations can be downloaded".into(),
            });
        }
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            for url in &candidates {
                restart(sink).map_err(|e| FetchError {
                    url: url.clone(),
                    reason: e.to_string(),
                })?;
                match self.fetch_once(url, max_bytes, sink).await {
                    Ok(hash) => return Ok(hash),
                    Err(Failure::Permanent(reason)) => {
                        return Err(FetchError {
                            url: url.clone(),
                            reason,
                        });
                    }
                    Err(Failure::Transient(reason)) => last = format!("{url}: {reason}"),
                }
            }
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
        Err(FetchError {
            url: location.into(),
            reason: format!("failed after {ATTEMPTS} attempts (last: {last})"),
        })
    }

    async fn fetch_once(&self, url: &str, max_bytes: u64, sink: &mut impl Write) -> Result<B256, Failure> {
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| Failure::Transient(e.to_string()))?;
        let status = response.status();
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(Failure::Transient(format!("HTTP {status}")));
        }
        if !status.is_success() {
            return Err(Failure::Permanent(format!("HTTP {status}")));
        }
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        while let Some(chunk) = response.chunk().await.map_err(|e| Failure::Transient(e.to_string()))? {
            total += chunk.len() as u64;
            if total > max_bytes {
                return Err(Failure::Permanent(format!("larger than the {max_bytes}-byte limit")));
            }
            hasher.update(&chunk);
            sink.write_all(&chunk).map_err(|e| Failure::Permanent(e.to_string()))?;
        }
        sink.flush().map_err(|e| Failure::Permanent(e.to_string()))?;
        Ok(B256::from_slice(&hasher.finalize()))
    }
}

enum Failure {
    Transient(String),
    Permanent(String),
}
