//! Downloads: `https://` (and `http://`, for loopback development) URLs, and `/ipfs/…`
//! (or `/p2p/…`) paths through a list of gateways, streamed to a file or memory while
//! hashed; for `/ipfs/<CID>`, a CIDv0 or a base32 CIDv1, the bytes are checked against the
//! CID as they stream. A dataset registered by iExec's SDKs has a binary `/p2p/<CID>`
//! multiaddr on chain, which reaches the runtime as `/ipfs/<CID>`
//! (`confide_protocol::ipfs::multiaddr_location`). Input
//! files, whose URLs and contents nothing checks, have a stricter path: [`Fetcher::fetch_input`].
//! Transient failures are retried with backoff; what is downloaded is never trusted
//! until its hash matches what the chain (or the SMS) says it must be.

use std::io::Write;
use std::time::Duration;

use alloy_primitives::B256;
use confide_protocol::ipfs::{Cid, CidCheck};
use sha2::{Digest, Sha256};

const ATTEMPTS: u32 = 3;

/// A download that failed: refused at once (a location that cannot be downloaded, an HTTP
/// error, the size limit) or after every attempt on every gateway.
#[derive(Debug, thiserror::Error)]
#[error("{url}: {reason}")]
pub struct FetchError {
    /// What could not be downloaded: an `/ipfs/` path or a URL (a gateway's user,
    /// password, query and fragment left out).
    pub url: String,
    /// What went wrong: the HTTP status, the limit passed, or the last attempt's error.
    pub reason: String,
}

/// Downloads app code, datasets and input files through one HTTP client (10 s to connect,
/// 10 min per request), with retries, and `/ipfs/` locations through the gateways given.
pub struct Fetcher {
    client: reqwest::Client,
    ipfs_gateways: Vec<String>,
}

impl Fetcher {
    /// A fetcher trying `/ipfs/` locations on `ipfs_gateways` (base URLs), in order.
    pub fn new(ipfs_gateways: Vec<String>) -> Fetcher {
        // No proxy from the host's environment: the runtime talks to the SMS and the
        // gateways it was told of, through nobody the host put in between.
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(600))
            .no_proxy()
            .build()
            .expect("an HTTP client with rustls");
        Fetcher { client, ipfs_gateways }
    }

    /// The HTTP client, for the task's other requests (the SMS's), so the runtime keeps
    /// one connection pool.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The URLs to try for a multiaddr, in order.
    fn candidates(&self, location: &str) -> Vec<String> {
        match ipfs_path(location) {
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
        // One CID and nothing after it: a path (`CID/../../admin`) would be resolved by
        // the gateway's host, outside IPFS.
        if let Some(cid) = ipfs_path(location)
            && (cid.is_empty() || !cid.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return Err(FetchError {
                url: shown(location),
                reason: "an /ipfs/ location names one CID, letters and digits only".into(),
            });
        }
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
                url: shown(location),
                reason: "only https://, http://, /ipfs/ and /p2p/ locations can be downloaded".into(),
            });
        }
        let (gateway, expected_cid) = (ipfs_path(location).is_some(), expected_cid(location));
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            for url in &candidates {
                restart(sink).map_err(|e| FetchError {
                    url: shown(url),
                    reason: e.to_string(),
                })?;
                match self.fetch_once(url, max_bytes, sink, gateway, expected_cid).await {
                    Ok(hash) => return Ok(hash),
                    Err(Failure::Permanent(reason)) => {
                        return Err(FetchError {
                            url: shown(url),
                            reason,
                        });
                    }
                    Err(Failure::Transient(reason)) => last = format!("{}: {reason}", shown(url)),
                }
            }
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
        Err(FetchError {
            url: shown(location),
            reason: format!("failed after {ATTEMPTS} attempts (last: {last})"),
        })
    }

    /// One download, from an IPFS gateway when `gateway`; with `expected_cid` (an
    /// `/ipfs/<CID>` location), bytes whose CID is another are a gateway's fault: the
    /// next gateway is tried.
    async fn fetch_once(
        &self,
        url: &str,
        max_bytes: u64,
        sink: &mut impl Write,
        gateway: bool,
        expected_cid: Option<Cid>,
    ) -> Result<B256, Failure> {
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| Failure::Transient(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(Failure::Transient(format!("HTTP {status}")));
        }
        // One gateway not having a CID says nothing of the others.
        if !status.is_success() && gateway {
            return Err(Failure::Transient(format!("HTTP {status}")));
        }
        if !status.is_success() {
            return Err(Failure::Permanent(format!("HTTP {status}")));
        }
        let mut hasher = Sha256::new();
        let mut cid = expected_cid.map(CidCheck::new);
        let mut total = 0u64;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Failure::Transient(e.without_url().to_string()))?
        {
            total += chunk.len() as u64;
            if total > max_bytes {
                return Err(Failure::Permanent(format!("larger than the {max_bytes}-byte limit")));
            }
            hasher.update(&chunk);
            if let Some(cid) = cid.as_mut() {
                cid.update(&chunk);
            }
            sink.write_all(&chunk).map_err(|e| Failure::Permanent(e.to_string()))?;
        }
        sink.flush().map_err(|e| Failure::Permanent(e.to_string()))?;
        if let Some(cid) = cid {
            let expected = cid.expected();
            if !cid.matches() {
                return Err(Failure::Transient(format!(
                    "the gateway served bytes whose CID is not {expected}"
                )));
            }
        }
        Ok(B256::from_slice(&hasher.finalize()))
    }
}

/// `url` as errors show it: without the user, password, query and fragment a gateway's
/// configured URL may carry (errors reach the task's public failure message).
fn shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.set_query(None);
            parsed.set_fragment(None);
            parsed.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

/// What follows `/ipfs/` or `/p2p/` (multiaddr's newer name for it) in a location.
fn ipfs_path(location: &str) -> Option<&str> {
    location
        .strip_prefix("/ipfs/")
        .or_else(|| location.strip_prefix("/p2p/"))
}

/// The CID an `/ipfs/<CID>` location names (a file, not a path inside a directory), when
/// it is one the runtime can check (a CIDv0, or a base32 CIDv1 of sha2-256). Other paths
/// are downloaded unchecked, as before: the chain's sha256 still decides.
fn expected_cid(location: &str) -> Option<Cid> {
    ipfs_path(location)?.parse().ok()
}

/// How many redirects an input file may take.
const MAX_REDIRECTS: usize = 5;

impl Fetcher {
    /// Streams an input file (a URL the requester chose, whose content no chain checks)
    /// into `sink`, up to `max_bytes`; returns its sha256.
    ///
    /// Invariant: a request reaches only a public address over `https://`, or, when
    /// `loopback_http` (simulation on a developer's machine), a loopback address over
    /// `http://`. The host name is resolved here and the connection pinned to the checked
    /// address (no second resolution to rebind), and each redirect is checked the same
    /// way: otherwise a requester reads the worker's cloud metadata endpoint or its
    /// private services into its result.
    pub async fn fetch_input(
        &self,
        url: &str,
        max_bytes: u64,
        sink: &mut impl Write,
        loopback_http: bool,
    ) -> Result<B256, InputFileError> {
        let mut current: reqwest::Url = url.parse().map_err(|_| InputFileError::Refused {
            url: url.into(),
            reason: "not a URL".into(),
        })?;
        for _ in 0..=MAX_REDIRECTS {
            let client = pinned_client(&current, loopback_http).await?;
            let mut response = client
                .get(current.clone())
                .send()
                .await
                .map_err(|e| InputFileError::download(&current, e.to_string()))?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| current.join(l).ok())
                    .ok_or_else(|| InputFileError::download(&current, format!("HTTP {status} without a location")))?;
                current = location;
                continue;
            }
            if !status.is_success() {
                return Err(InputFileError::download(&current, format!("HTTP {status}")));
            }
            let mut hasher = Sha256::new();
            let mut total = 0u64;
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| InputFileError::download(&current, e.to_string()))?
            {
                total += chunk.len() as u64;
                if total > max_bytes {
                    return Err(InputFileError::Refused {
                        url: current.to_string(),
                        reason: format!("larger than the {max_bytes}-byte limit"),
                    });
                }
                hasher.update(&chunk);
                sink.write_all(&chunk)
                    .map_err(|e| InputFileError::download(&current, e.to_string()))?;
            }
            sink.flush()
                .map_err(|e| InputFileError::download(&current, e.to_string()))?;
            return Ok(B256::from_slice(&hasher.finalize()));
        }
        Err(InputFileError::Refused {
            url: url.into(),
            reason: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }
}

/// Why an input file was not downloaded.
#[derive(Debug, thiserror::Error)]
pub enum InputFileError {
    /// The URL (or a redirect) points where input files may not come from.
    #[error("{url}: refused ({reason})")]
    Refused {
        /// The URL refused: the requester's, or a redirect's target.
        url: String,
        /// Why it is refused: its scheme, its address, its size, or too many redirects.
        reason: String,
    },
    /// The download failed on the way (worth another attempt).
    #[error("{url}: {reason}")]
    Download {
        /// The URL being downloaded, after any redirect.
        url: String,
        /// The HTTP status, or the HTTP client's or the file's error.
        reason: String,
    },
}

impl InputFileError {
    fn download(url: &reqwest::Url, reason: String) -> InputFileError {
        InputFileError::Download {
            url: url.to_string(),
            reason,
        }
    }
}

/// A client that connects `url`'s host only at an address allowed for it, and follows
/// no redirect by itself.
async fn pinned_client(url: &reqwest::Url, loopback_http: bool) -> Result<reqwest::Client, InputFileError> {
    let refuse = |reason: &str| InputFileError::Refused {
        url: url.to_string(),
        reason: reason.into(),
    };
    let plain = match url.scheme() {
        "https" => false,
        "http" if loopback_http => true,
        "http" => return Err(refuse("plain http is accepted only from loopback in simulation mode")),
        _ => return Err(refuse("only https:// URLs can be input files")),
    };
    let host = url.host_str().ok_or_else(|| refuse("no host"))?;
    let port = url.port_or_known_default().ok_or_else(|| refuse("no port"))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<std::net::SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|e| InputFileError::download(url, format!("cannot resolve {host}: {e}")))?
        .collect();
    let allowed = |ip: std::net::IpAddr| if plain { ip.is_loopback() } else { is_public(ip) };
    let address = match addresses.first() {
        Some(_) if addresses.iter().all(|a| allowed(a.ip())) => addresses[0],
        Some(_) if plain => return Err(refuse("plain http reaches loopback addresses only")),
        Some(_) => return Err(refuse("the host resolves to a loopback, private or link-local address")),
        None => return Err(InputFileError::download(url, format!("{host} resolves to nothing"))),
    };
    // A proxy would connect wherever it likes: the address checked above is pinned, and
    // no proxy from the environment goes around it.
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(600))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .resolve(bare, address)
        .build()
        .map_err(|e| InputFileError::download(url, e.to_string()))
}

/// An address of the public internet: not loopback, private, link-local (cloud metadata
/// endpoints live there), shared (carrier NAT), documentation, multicast or unspecified.
pub fn is_public(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                || first == 0x2001 && v6.segments()[1] == 0x0db8
                || first == 0x64 && v6.segments()[1] == 0xff9b)
        }
    }
}

enum Failure {
    Transient(String),
    Permanent(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use confide_protocol::ipfs::CidVersion;

    /// A gateway on loopback answering every request with `body`.
    async fn gateway(body: &'static [u8]) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body).await;
            }
        });
        url
    }

    #[tokio::test]
    async fn an_ipfs_location_is_taken_only_from_a_gateway_serving_its_cid() {
        let content: &'static [u8] = b"hello world";
        let cid = confide_protocol::ipfs::file_cid(CidVersion::V1, content);
        let liar = gateway(b"hello world, says the liar").await;
        let honest = gateway(content).await;
        let fetcher = Fetcher::new(vec![liar.clone(), honest]);
        let mut sink = Vec::new();
        let hash = fetcher
            .fetch(&format!("/ipfs/{cid}"), 1 << 20, &mut sink, |s| {
                s.clear();
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(
            sink, content,
            "the honest gateway's bytes, after the liar's were refused"
        );
        assert_eq!(hash, B256::from_slice(&Sha256::digest(content)));
        // With only the liar, the download fails rather than return its bytes.
        let fetcher = Fetcher::new(vec![liar]);
        let refused = fetcher
            .fetch(&format!("/ipfs/{cid}"), 1 << 20, &mut Vec::new(), |s| {
                s.clear();
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(refused.reason.contains("CID"), "{refused}");
    }

    #[tokio::test]
    async fn an_ipfs_location_with_a_path_after_its_cid_is_refused() {
        let reached = gateway(b"the gateway host's admin page").await;
        let fetcher = Fetcher::new(vec![reached]);
        let cid = confide_protocol::ipfs::file_cid(CidVersion::V1, b"x");
        for location in [
            format!("/ipfs/{cid}/../../admin"),
            format!("/ipfs/{cid}/file.txt"),
            format!("/p2p/{cid}?x=1"),
            "/ipfs/".to_owned(),
        ] {
            let refused = fetcher
                .fetch(&location, 1 << 20, &mut Vec::new(), |s| {
                    s.clear();
                    Ok(())
                })
                .await
                .unwrap_err();
            assert!(refused.reason.contains("one CID"), "{location}: {refused}");
        }
    }

    /// A protected data registered by iExec's SDKs: kubo's default CIDv0, registered as
    /// the binary multiaddr `/p2p/<CID>`, which the SMS hands over as `/ipfs/<CID>`.
    #[tokio::test]
    async fn a_dataset_registered_by_iexecs_sdk_is_fetched_through_gateways_and_checked() {
        let content: &'static [u8] = b"hello world\n";
        let cid = confide_protocol::ipfs::file_cid(CidVersion::V0, content);
        assert_eq!(cid.to_string(), "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o");
        let multiaddr = confide_protocol::ipfs::p2p_multiaddr(&cid).unwrap();
        let location = confide_protocol::ipfs::multiaddr_location(&multiaddr);
        assert_eq!(location, format!("/ipfs/{cid}"));
        let liar = gateway(b"hello world?").await;
        let honest = gateway(content).await;
        let reset = |s: &mut Vec<u8>| {
            s.clear();
            Ok(())
        };
        for location in [location, format!("/p2p/{cid}")] {
            let fetcher = Fetcher::new(vec![liar.clone(), honest.clone()]);
            let mut sink = Vec::new();
            let hash = fetcher.fetch(&location, 1 << 20, &mut sink, reset).await.unwrap();
            assert_eq!(sink, content, "{location}: the honest gateway's bytes");
            assert_eq!(hash, B256::from_slice(&Sha256::digest(content)));
            let refused = Fetcher::new(vec![liar.clone()])
                .fetch(&location, 1 << 20, &mut Vec::new(), reset)
                .await
                .unwrap_err();
            assert!(refused.reason.contains(&cid.to_string()), "{refused}");
        }
        // A CIDv0 whose leaves are raw (`ipfs add --raw-leaves`), several chunks long.
        let long: &'static [u8] = Box::leak(vec![7u8; confide_protocol::ipfs::CHUNK_SIZE + 10].into_boxed_slice());
        let layout = confide_protocol::ipfs::Layout {
            version: CidVersion::V0,
            raw_leaves: true,
        };
        let cid = confide_protocol::ipfs::file_dag(layout, long).cid;
        let fetcher = Fetcher::new(vec![gateway(long).await]);
        let mut sink = Vec::new();
        fetcher
            .fetch(&format!("/ipfs/{cid}"), 1 << 20, &mut sink, reset)
            .await
            .unwrap();
        assert_eq!(sink, long);
    }

    #[test]
    fn only_public_addresses_are_public() {
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "fec0::1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2001:db8::1",
        ] {
            assert!(!is_public(refused.parse().unwrap()), "{refused}");
        }
        for public in ["1.1.1.1", "93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn a_gateways_credentials_never_reach_an_error() {
        let gateway = "http://operator:s3cret@127.0.0.1:9/?token=t0ken#frag".to_owned();
        let fetcher = Fetcher::new(vec![gateway]);
        let cid = confide_protocol::ipfs::file_cid(CidVersion::V1, b"x").to_string();
        let error = fetcher
            .fetch(&format!("/ipfs/{cid}"), 16, &mut Vec::new(), |sink| {
                sink.clear();
                Ok(())
            })
            .await
            .unwrap_err()
            .to_string();
        for secret in ["operator", "s3cret", "t0ken", "frag"] {
            assert!(!error.contains(secret), "{secret} in {error}");
        }
        assert!(error.contains("127.0.0.1:9"), "the gateway is still named: {error}");
        assert_eq!(shown("/ipfs/bafk"), "/ipfs/bafk");
    }
}
