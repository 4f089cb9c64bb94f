//! Signed requests (worker → scheduler) and signed answers (scheduler → worker).

use alloy_signer_local::PrivateKeySigner;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use confide_chain::{Address, B256, Signature};
use confide_protocol::messages::{recover_personal, sign_personal};
use confide_protocol::refusal::Refusal;
use confide_protocol::workerpool::{
    MAX_CLOCK_SKEW_MS, SIGNATURE_HEADER, SIGNER_HEADER, TIMESTAMP_HEADER, codes, request_hash, response_hash,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{WorkerpoolError, now_ms};

fn hex_signature(signature: &Signature) -> String {
    format!("0x{}", confide_chain::hex::encode(signature.as_bytes()))
}

fn parse_signature(text: &str) -> Option<Signature> {
    confide_protocol::messages::canonical_signature_hex(text)
}

/// A refusal of the scheduler's API: a status and a JSON body with a stable code.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status the refusal is sent with.
    pub status: StatusCode,
    /// The stable code in the body's `code` (such as `WRONG_SIGNATURE`), which clients match on.
    pub code: String,
    /// The explanation in the body's `message`, for people.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let refusal = Refusal::new(self.code, self.message);
        (self.status, axum::Json(refusal.to_json())).into_response()
    }
}

/// A refusal with `status`, the stable `code` and a `message` for people.
pub fn error(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code: code.to_owned(),
        message: message.into(),
    }
}

/// Checks a worker's request: fresh timestamp, signature by the address it claims.
/// Returns the worker and the request's hash (which the answer is bound to).
pub fn verify_request(headers: &HeaderMap, method: &str, path: &str, body: &[u8]) -> Result<(Address, B256), ApiError> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let unauthorized = |code: &str, message: &str| error(StatusCode::UNAUTHORIZED, code, message);
    let signer: Address = text(SIGNER_HEADER)
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| unauthorized("MISSING_SIGNER", "the request names no signer"))?;
    let timestamp: u64 = text(TIMESTAMP_HEADER)
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| unauthorized("MISSING_TIMESTAMP", "the request has no timestamp"))?;
    if now_ms().abs_diff(timestamp) > MAX_CLOCK_SKEW_MS {
        return Err(unauthorized(
            "STALE_REQUEST",
            "the request's timestamp is more than a minute off: check the worker's clock",
        ));
    }
    let signature = text(SIGNATURE_HEADER)
        .and_then(parse_signature)
        .ok_or_else(|| unauthorized("MISSING_SIGNATURE", "the request is not signed"))?;
    let hash = request_hash(method, path, body, timestamp);
    if recover_personal(hash, &signature) != Some(signer) {
        return Err(unauthorized(
            "WRONG_SIGNATURE",
            "the request's signature is not its signer's",
        ));
    }
    Ok((signer, hash))
}

/// Signed requests answered at most once: a request (its hash covers method, path, body
/// and timestamp) is refused when it comes again within the clock skew it may be accepted
/// in, so one captured off the wire cannot be played again (a `/tasks/next` replayed would
/// lease a task to a worker that never asked).
#[derive(Default)]
pub struct SeenRequests {
    seen: std::sync::Mutex<std::collections::HashMap<B256, u64>>,
}

/// Requests remembered at once. Past it, the expired ones are forgotten, and if that is
/// not enough, all: a flood of requests signed by throwaway wallets then costs the replay
/// check for a moment, never an honest worker's answer.
const MAX_SEEN_REQUESTS: usize = 200_000;

impl SeenRequests {
    /// Whether `signer`'s `request` is seen for the first time; remembers it until it
    /// would be stale. Keyed by signer too: a request hash is the same for every worker
    /// that sends the same body at the same millisecond, and one wallet's requests must
    /// not use up another's.
    pub fn first_use(&self, signer: Address, request: B256) -> Result<(), ApiError> {
        let now = now_ms();
        let key = B256::from_slice(&<sha2::Sha256 as sha2::Digest>::digest(
            [signer.as_slice(), request.as_slice()].concat(),
        ));
        let mut seen = self.seen.lock().expect("never poisoned");
        if seen.len() >= MAX_SEEN_REQUESTS {
            seen.retain(|_, forget_at| *forget_at > now);
            if seen.len() >= MAX_SEEN_REQUESTS {
                seen.clear();
            }
        }
        match seen.entry(key) {
            std::collections::hash_map::Entry::Occupied(_) => Err(error(
                StatusCode::UNAUTHORIZED,
                "REPLAYED_REQUEST",
                "this signed request was already answered: sign each request afresh",
            )),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(now + 2 * MAX_CLOCK_SKEW_MS);
                Ok(())
            }
        }
    }
}

/// Header names and values that sign a request: signer, timestamp, signature.
pub type SignedHeaders = [(&'static str, String); 3];

/// The headers that sign a request to the scheduler as `signer` (see [`verify_request`]),
/// and the request's hash, which the answer is bound to.
pub fn request_headers(
    signer: &PrivateKeySigner,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<(SignedHeaders, B256), WorkerpoolError> {
    let timestamp = now_ms();
    let hash = request_hash(method, path, body, timestamp);
    let signature = sign_personal(signer, hash).map_err(|e| WorkerpoolError::Enclave(e.to_string()))?;
    let headers = [
        (SIGNER_HEADER, signer.address().to_string()),
        (TIMESTAMP_HEADER, timestamp.to_string()),
        (SIGNATURE_HEADER, hex_signature(&signature)),
    ];
    Ok((headers, hash))
}

/// A JSON answer signed by the pool owner and bound to the request it answers.
pub fn signed_answer(owner: &PrivateKeySigner, request: B256, value: &impl Serialize) -> Response {
    let body = serde_json::to_vec(value).expect("answers serialize");
    let signature = match sign_personal(owner, response_hash(request, &body)) {
        Ok(signature) => signature,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "SIGNING_FAILED", e.to_string()).into_response(),
    };
    (
        [
            (axum::http::header::CONTENT_TYPE, "application/json".to_owned()),
            (
                axum::http::HeaderName::from_static(SIGNATURE_HEADER),
                hex_signature(&signature),
            ),
        ],
        body,
    )
        .into_response()
}

/// A worker's client of its scheduler: signs every request, checks every answer.
#[derive(Clone)]
pub struct SchedulerClient {
    http: reqwest::Client,
    /// The schedulers of the pool (one active, the others standing by), tried in turn.
    base_urls: Vec<String>,
    /// The one that answered last.
    current: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    signer: PrivateKeySigner,
    /// The pool owner every answer must be signed by, once known.
    pub owner: Option<Address>,
}

impl SchedulerClient {
    /// A client of the scheduler at `base_urls`: one URL, or several separated by commas
    /// (an active scheduler and its standbys, in any order).
    pub fn new(base_urls: &str, signer: PrivateKeySigner) -> SchedulerClient {
        SchedulerClient {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
            base_urls: base_urls
                .split(',')
                .map(|url| url.trim().trim_end_matches('/').to_owned())
                .filter(|url| !url.is_empty())
                .collect(),
            current: Default::default(),
            signer,
            owner: None,
        }
    }

    /// The worker's wallet address, which signs every request.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// POSTs `body` to `path` at the active scheduler: the one that answered last, else
    /// the next that is reachable and not standing by. Returns the answer and its signer.
    pub async fn post<T: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<(R, Address), WorkerpoolError> {
        use std::sync::atomic::Ordering;
        let body = serde_json::to_vec(body).expect("requests serialize");
        let count = self.base_urls.len().max(1);
        let first = self.current.load(Ordering::Relaxed);
        let mut last = None;
        for offset in 0..count {
            let index = (first + offset) % count;
            let Some(base) = self.base_urls.get(index) else {
                break;
            };
            match self.post_to(base, path, &body).await {
                Err(e @ WorkerpoolError::SchedulerUnreachable { .. }) => last = Some(e),
                Err(WorkerpoolError::Refused { code, message }) if code == codes::STANDBY => {
                    last = Some(WorkerpoolError::Refused { code, message });
                }
                outcome => {
                    self.current.store(index, Ordering::Relaxed);
                    return outcome;
                }
            }
        }
        Err(last.unwrap_or_else(|| WorkerpoolError::SchedulerUnreachable {
            url: String::new(),
            reason: "no scheduler URL".into(),
        }))
    }

    async fn post_to<R: DeserializeOwned>(
        &self,
        base: &str,
        path: &str,
        body: &[u8],
    ) -> Result<(R, Address), WorkerpoolError> {
        let body = body.to_vec();
        let ([signer, timestamp, signature], hash) = request_headers(&self.signer, "POST", path, &body)?;
        let unreachable = |e: reqwest::Error| WorkerpoolError::SchedulerUnreachable {
            url: base.to_owned(),
            reason: e.to_string(),
        };
        let response = self
            .http
            .post(format!("{base}{path}"))
            .header(signer.0, signer.1)
            .header(timestamp.0, timestamp.1)
            .header(signature.0, signature.1)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let answer_signature = response
            .headers()
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_signature);
        let bytes = response.bytes().await.map_err(unreachable)?;
        if !status.is_success() {
            let refusal = Refusal::from_answer(status.as_u16(), &bytes, "HTTP_ERROR");
            return Err(WorkerpoolError::Refused {
                code: refusal.code,
                message: refusal.message,
            });
        }
        let signer = answer_signature
            .and_then(|s| recover_personal(response_hash(hash, &bytes), &s))
            .unwrap_or(Address::ZERO);
        if let Some(owner) = self.owner
            && signer != owner
        {
            return Err(WorkerpoolError::ForgedAnswer { owner });
        }
        let answer = serde_json::from_slice(&bytes).map_err(|e| WorkerpoolError::Refused {
            code: "BAD_ANSWER".into(),
            message: e.to_string(),
        })?;
        Ok((answer, signer))
    }
}
