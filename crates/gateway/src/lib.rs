//! Reads content-addressed bytes from IPFS gateways: the root and the slices of a bulk
//! request, as the SMS, the market and the CLI read them.
//!
//! A gateway is untrusted: whatever it sends is counted against a size limit while it
//! arrives and checked against the CID asked for before anyone reads it. It must never
//! return bytes that do not hash to the CID, nor read past the limit.

use std::time::Duration;

use confide_protocol::ipfs::{Cid, CidCheck};

/// Why no gateway gave the bytes of a CID.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GatewayError {
    /// No gateway is configured.
    #[error("no IPFS gateway is configured")]
    NoGateway,
    /// Every gateway failed; the last failure, in words that name the CID only.
    #[error("{cid} could not be read from any IPFS gateway: {reason}")]
    Unavailable {
        /// The CID asked for.
        cid: String,
        /// The last gateway's failure.
        reason: String,
    },
    /// A gateway sent more than the limit (bytes).
    #[error("{cid} is larger than {limit} bytes")]
    TooLarge {
        /// The CID asked for.
        cid: String,
        /// The limit.
        limit: u64,
    },
    /// A gateway sent bytes that are not the CID's.
    #[error("a gateway answered {cid} with other bytes")]
    WrongContent {
        /// The CID asked for.
        cid: String,
    },
}

impl GatewayError {
    /// A stable code for machines.
    pub fn code(&self) -> &'static str {
        match self {
            GatewayError::NoGateway => "NO_IPFS_GATEWAY",
            GatewayError::Unavailable { .. } => "IPFS_UNAVAILABLE",
            GatewayError::TooLarge { .. } => "IPFS_TOO_LARGE",
            GatewayError::WrongContent { .. } => "IPFS_WRONG_CONTENT",
        }
    }
}

/// Gateways tried in order, through one HTTP client.
#[derive(Clone, Debug)]
pub struct Gateways {
    client: reqwest::Client,
    bases: Vec<String>,
}

/// How long one gateway has to send a whole answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl Gateways {
    /// Gateways at these base URLs (`http://127.0.0.1:8090`), tried in order. The client
    /// follows no redirect and uses no system proxy: a gateway is asked, nothing else.
    pub fn new(bases: Vec<String>) -> Gateways {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("a client without TLS options builds");
        Gateways {
            client,
            bases: bases
                .into_iter()
                .map(|b| b.trim_end_matches('/').to_owned())
                .filter(|b| !b.is_empty())
                .collect(),
        }
    }

    /// Whether any gateway is configured.
    pub fn is_empty(&self) -> bool {
        self.bases.is_empty()
    }

    /// The bytes of `cid`, at most `limit` of them, from the first gateway that sends the
    /// right ones.
    pub async fn read(&self, cid: &Cid, limit: u64) -> Result<Vec<u8>, GatewayError> {
        let mut last = GatewayError::NoGateway;
        for base in &self.bases {
            match self.read_from(base, cid, limit).await {
                Ok(bytes) => return Ok(bytes),
                // Too large or wrong from one gateway may be that gateway's fault: try the next.
                Err(error) => last = error,
            }
        }
        Err(last)
    }

    async fn read_from(&self, base: &str, cid: &Cid, limit: u64) -> Result<Vec<u8>, GatewayError> {
        let unavailable = |reason: String| GatewayError::Unavailable {
            cid: cid.to_string(),
            reason,
        };
        let response = self
            .client
            .get(format!("{base}/ipfs/{cid}"))
            .send()
            .await
            .map_err(|e| unavailable(without_url(e)))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("HTTP {}", response.status().as_u16())));
        }
        let too_large = || GatewayError::TooLarge {
            cid: cid.to_string(),
            limit,
        };
        if response.content_length().is_some_and(|length| length > limit) {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        let mut check = CidCheck::new(*cid);
        let mut response = response;
        while let Some(chunk) = response.chunk().await.map_err(|e| unavailable(without_url(e)))? {
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            check.update(&chunk);
            bytes.extend_from_slice(&chunk);
        }
        if !check.matches() {
            return Err(GatewayError::WrongContent { cid: cid.to_string() });
        }
        Ok(bytes)
    }
}

/// reqwest's error without its URL (a gateway's URL may carry credentials).
fn without_url(error: reqwest::Error) -> String {
    error.without_url().to_string()
}
