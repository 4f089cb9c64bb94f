//! What one client may spend of the market, and the explorer's short memory.
//!
//! Every route is public, and most cost the market something (a database query, chain
//! reads for the explorer, a signature recovery for a publish). A client (an IPv4 address,
//! an IPv6 /64) gets a rate of reads and a rate of writes, each with a burst, and a few
//! event streams; past them it is answered `429 RATE_LIMITED` at once, before any work.
//! The explorer's answers, found or not found, are kept for a few seconds, so a page asked
//! a thousand times a second costs its chain reads once.
//!
//! Never: key a limit by anything the client chooses (a header, a wallet), or keep an
//! answer that depends on who asks (the explorer has no such answer).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::MarketState;

/// Clients whose rate state is kept before stale entries are dropped.
const MAX_TRACKED_CLIENTS: usize = 100_000;
/// How long an explorer answer is served again without asking the chain.
const EXPLORER_TTL: Duration = Duration::from_secs(2);
/// Explorer answers kept at once; past it the stale ones go, then all.
const MAX_CACHED_ANSWERS: usize = 4096;
/// The largest explorer answer kept (a deal with its first tasks is a few KiB).
const MAX_CACHED_BODY: usize = 256 << 10;

/// A client's allowances; `market serve`'s flags set them.
#[derive(Clone, Debug)]
pub struct ClientLimits {
    /// `GET` requests a second, sustained.
    pub reads_per_second: NonZeroU32,
    /// `GET` requests at once, after a pause.
    pub reads_burst: NonZeroU32,
    /// `POST`/`PUT` requests (publishing, unpublishing, GraphQL) a second, sustained.
    pub writes_per_second: NonZeroU32,
    /// Writes at once, after a pause.
    pub writes_burst: NonZeroU32,
    /// `/events` streams open at once, every client together.
    pub event_streams: usize,
    /// `/events` streams one client may hold open.
    pub event_streams_per_client: usize,
    /// Addresses no rate applies to (an operator's own front or tools); never a range.
    pub exempt: Vec<IpAddr>,
}

impl Default for ClientLimits {
    /// 20 reads and 5 writes a second (bursts of 200 and 100), 512 event streams, 8 a client.
    fn default() -> ClientLimits {
        ClientLimits {
            reads_per_second: NonZeroU32::new(20).expect("not zero"),
            reads_burst: NonZeroU32::new(200).expect("not zero"),
            writes_per_second: NonZeroU32::new(5).expect("not zero"),
            writes_burst: NonZeroU32::new(100).expect("not zero"),
            event_streams: 512,
            event_streams_per_client: 8,
            exempt: Vec::new(),
        }
    }
}

/// The rate state of every client, and who holds event streams.
pub(crate) struct Limiter {
    limits: ClientLimits,
    reads: DefaultKeyedRateLimiter<IpAddr>,
    writes: DefaultKeyedRateLimiter<IpAddr>,
    streams: Mutex<HashMap<IpAddr, usize>>,
    /// Requests answered `429` (`market_rate_limited_total`).
    pub(crate) refused: std::sync::atomic::AtomicU64,
    /// The second the rate state was last pruned.
    pruned_at: std::sync::atomic::AtomicU64,
}

impl Limiter {
    pub(crate) fn new(mut limits: ClientLimits) -> Limiter {
        // Compared as clients are keyed: an exempt IPv6 address stands for its /64.
        limits.exempt = limits.exempt.iter().map(|ip| client_key(Some(*ip))).collect();
        let reads = Quota::per_second(limits.reads_per_second).allow_burst(limits.reads_burst);
        let writes = Quota::per_second(limits.writes_per_second).allow_burst(limits.writes_burst);
        Limiter {
            reads: RateLimiter::dashmap(reads),
            writes: RateLimiter::dashmap(writes),
            limits,
            streams: Mutex::new(HashMap::new()),
            refused: std::sync::atomic::AtomicU64::new(0),
            pruned_at: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Whether `client` may make one more request of this kind now.
    fn admits(&self, client: IpAddr, write: bool) -> bool {
        if self.limits.exempt.contains(&client) {
            return true;
        }
        let limiter = if write { &self.writes } else { &self.reads };
        if limiter.len() > MAX_TRACKED_CLIENTS && self.time_to_prune() {
            limiter.retain_recent();
        }
        limiter.check_key(&client).is_ok()
    }

    /// Whether the rate state may be pruned now: at most once a second, as a walk over
    /// every client is not a cost to pay per request.
    fn time_to_prune(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.pruned_at.swap(now, std::sync::atomic::Ordering::Relaxed) != now
    }

    /// A place for one more event stream of `client`, given back when the guard drops.
    pub(crate) fn open_stream(self: &Arc<Self>, client: IpAddr) -> Option<StreamGuard> {
        let mut streams = self.streams.lock().expect("never poisoned");
        let total: usize = streams.values().sum();
        let held = streams.get(&client).copied().unwrap_or(0);
        if total >= self.limits.event_streams || held >= self.limits.event_streams_per_client {
            return None;
        }
        streams.insert(client, held + 1);
        Some(StreamGuard {
            limiter: self.clone(),
            client,
        })
    }
}

/// One open event stream; its place is given back when the stream ends.
pub(crate) struct StreamGuard {
    limiter: Arc<Limiter>,
    client: IpAddr,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let mut streams = self.limiter.streams.lock().expect("never poisoned");
        if let Some(held) = streams.get_mut(&self.client) {
            *held -= 1;
            if *held == 0 {
                streams.remove(&self.client);
            }
        }
    }
}

/// The client a request counts as: its peer's IPv4 address, or its IPv6 /64 (one
/// subscriber's usual share). Without the peer's address (a router served without
/// connect info) every request is one client.
pub(crate) fn client_of(request: &Request) -> IpAddr {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    client_key(peer)
}

/// The client an address counts as (see [`client_of`]).
fn client_key(peer: Option<IpAddr>) -> IpAddr {
    match peer {
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
        Some(v4) => v4,
        None => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    }
}

/// The refusal of a client past its rate: at once, with when to try again.
pub(crate) fn rate_limited(what: &str) -> Response {
    let refusal = confide_protocol::refusal::Refusal::new(
        "RATE_LIMITED",
        format!("too many {what} from this address: slow down and try again in a second"),
    );
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(refusal.to_market_json())).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    response
}

/// Middleware: every request is counted against its client's rate before it runs.
pub(crate) async fn limit_clients(State(state): State<Arc<MarketState>>, request: Request, next: Next) -> Response {
    let Some(limiter) = &state.limiter else {
        return next.run(request).await;
    };
    let write = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !limiter.admits(client_of(&request), write) {
        limiter.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return rate_limited(if write { "writes" } else { "requests" });
    }
    next.run(request).await
}

/// An explorer answer as it was sent, and when it was made.
#[derive(Clone)]
struct CachedAnswer {
    made: Instant,
    status: StatusCode,
    headers: header::HeaderMap,
    body: Bytes,
}

/// Explorer answers by path, each with when it was made.
#[derive(Default)]
pub(crate) struct ExplorerCache {
    answers: Mutex<HashMap<String, CachedAnswer>>,
}

/// Middleware for the explorer's routes: a `200` or `404` answer is served again for
/// [`EXPLORER_TTL`] without running the handler (a not-found is as costly to find as a
/// found, and cheaper to ask for).
pub(crate) async fn cache_explorer(State(state): State<Arc<MarketState>>, request: Request, next: Next) -> Response {
    if request.method() != Method::GET {
        return next.run(request).await;
    }
    let key = request.uri().path().to_owned();
    let cached = state
        .explorer_cache
        .answers
        .lock()
        .expect("never poisoned")
        .get(&key)
        .cloned();
    if let Some(answer) = cached
        && answer.made.elapsed() < EXPLORER_TTL
    {
        let mut response = (answer.status, answer.body).into_response();
        *response.headers_mut() = answer.headers;
        return response;
    }
    let response = next.run(request).await;
    let status = response.status();
    if status != StatusCode::OK && status != StatusCode::NOT_FOUND {
        return response;
    }
    let (parts, body) = response.into_parts();
    // A large answer goes out as it is, uncached.
    let small = axum::body::HttpBody::size_hint(&body)
        .upper()
        .is_some_and(|size| size <= MAX_CACHED_BODY as u64);
    if !small {
        return Response::from_parts(parts, body);
    }
    let Ok(body) = axum::body::to_bytes(body, MAX_CACHED_BODY).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "the answer could not be read").into_response();
    };
    let answer = CachedAnswer {
        made: Instant::now(),
        status,
        headers: parts.headers.clone(),
        body: body.clone(),
    };
    {
        let mut answers = state.explorer_cache.answers.lock().expect("never poisoned");
        if answers.len() >= MAX_CACHED_ANSWERS {
            answers.retain(|_, kept| kept.made.elapsed() < EXPLORER_TTL);
            if answers.len() >= MAX_CACHED_ANSWERS {
                answers.clear();
            }
        }
        answers.insert(key, answer);
    }
    Response::from_parts(parts, Body::from(body))
}
