//! The HTTP API, with iExec's SMS paths and status codes (`204` stored or present, `404`
//! absent, `401` bad signature, `409` already exists, `413` too large) and JSON error
//! bodies `{"error":{"code","message"}}`. Rotation (`PUT` with `?version=N`) is Confide's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use confide_chain::{Address, Poco};
use confide_protocol::messages::recover_personal;
use confide_protocol::refusal::Refusal;
use serde::Deserialize;
use serde_json::json;

use crate::store::{AuditLine, SecretId, SecretKind, SecretStore};
use crate::{MAX_SECRET_BYTES, SmsError};

pub use confide_protocol::sms::VERSION_HEADER;

/// Shared by every request.
pub struct AppState {
    /// The secrets, challenge keys, nonces and audit log, sealed under the master key.
    pub store: SecretStore,
    /// Read-only client: owners of datasets and apps are looked up on chain.
    pub poco: Poco,
    /// Counts of pushes, rotations, checks and refusals, served on `/metrics`.
    pub metrics: Metrics,
    /// How enclave evidence is judged before any secret is released.
    pub gate: crate::gate::Gate,
    /// What sessions read of apps and datasets, kept once read.
    pub assets: crate::gate::AssetCache,
    /// Where bulk requests' roots and slices are read (CID-checked).
    pub gateways: confide_gateway::Gateways,
}

/// The SMS's counters since it started: secrets pushed, rotated and checked, requests refused.
#[derive(Default)]
pub struct Metrics {
    pushed: AtomicU64,
    rotated: AtomicU64,
    refused: AtomicU64,
    checked: AtomicU64,
}

impl IntoResponse for SmsError {
    fn into_response(self) -> Response {
        let status = if let Some(status) = self.gate_status() {
            status
        } else {
            match self {
                SmsError::MissingSignature
                | SmsError::WrongSigner { .. }
                | SmsError::ReplayedSignature
                | SmsError::StaleRequest(_) => StatusCode::UNAUTHORIZED,
                SmsError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                SmsError::AlreadyExists | SmsError::VersionMismatch { .. } => StatusCode::CONFLICT,
                SmsError::NotFound | SmsError::UnknownAddress(_) => StatusCode::NOT_FOUND,
                SmsError::Empty | SmsError::BadRequest(_) => StatusCode::BAD_REQUEST,
                SmsError::Chain(_) => StatusCode::SERVICE_UNAVAILABLE,
                SmsError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::FORBIDDEN,
            }
        };
        (
            status,
            axum::Json(Refusal::new(self.code(), self.to_string()).to_json()),
        )
            .into_response()
    }
}

/// The SMS's HTTP API: iExec's secret paths (`/secrets/web3`, `/secrets/web2`,
/// `/apps/{app}/secrets`, `/requesters/{requester}/secrets/{name}`), the attestation
/// gate's `/tee/*` routes, `/health` and `/metrics`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(|| async { axum::Json(json!({ "status": "ok" })) }))
        .route("/metrics", get(metrics))
        .route(
            "/secrets/web3",
            get(not_allowed).head(head_web3).post(post_web3).put(rotate_web3),
        )
        .route(
            "/secrets/web2",
            get(not_allowed).head(head_web2).post(post_web2).put(put_web2),
        )
        .route(
            "/apps/{app}/secrets",
            get(not_allowed).head(head_app).post(post_app).put(rotate_app),
        )
        .route(
            "/requesters/{requester}/secrets/{name}",
            get(not_allowed)
                .head(head_requester)
                .post(post_requester)
                .put(rotate_requester),
        )
        .route("/datasets/{dataset}/key-releases", get(key_releases))
        // A little above the limit, so oversized secrets get our 413 with a JSON body.
        .layer(DefaultBodyLimit::max(MAX_SECRET_BYTES * 4))
        .merge(
            Router::new()
                .route(
                    "/tee/challenges/{task_id}",
                    axum::routing::post(crate::gate::create_challenge),
                )
                .route("/tee/nonce", get(crate::gate::nonce))
                .route(
                    "/tee/enclave-sessions",
                    axum::routing::post(crate::gate::enclave_session),
                )
                // Evidence (a DCAP quote with its certificate chain, hex-encoded) fits easily.
                .layer(DefaultBodyLimit::max(256 << 10)),
        )
        .with_state(state)
}

/// How far from the SMS's clock a usage-ledger request's signed time may be.
const LEDGER_CLOCK_SKEW_SECONDS: u64 = 300;

#[derive(serde::Deserialize)]
struct LedgerQuery {
    at: u64,
}

/// `GET /datasets/{dataset}/key-releases?at=<unix seconds>`: the usage ledger, for the
/// dataset's on-chain owner only (`Authorization`: its signature of
/// [`confide_protocol::sms::key_releases_challenge`]), newest first. No secret is in it;
/// it says which tasks, apps, requesters and attested enclaves received the key.
async fn key_releases(
    State(state): State<Arc<AppState>>,
    PathOf(dataset): PathOf<String>,
    QueryOf(query): QueryOf<LedgerQuery>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let dataset: Address = dataset
            .parse()
            .map_err(|_| SmsError::BadRequest(format!("`{dataset}` is not an address")))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if now.abs_diff(query.at) > LEDGER_CLOCK_SKEW_SECONDS {
            return Err(SmsError::StaleRequest(query.at));
        }
        let signature = authorization_signature(&headers)?;
        let owner = state
            .poco
            .contract_owner(dataset)
            .await
            .map_err(SmsError::from)?
            .ok_or(SmsError::UnknownAddress(dataset))?;
        let challenge = confide_protocol::sms::key_releases_challenge(state.poco.sms_deployment(), dataset, query.at);
        if recover_personal(challenge, &signature) != Some(owner) {
            return Err(SmsError::WrongSigner { owner });
        }
        state.store.key_releases(dataset).await
    }
    .await;
    match result {
        Ok(releases) => axum::Json(json!({ "releases": releases })).into_response(),
        Err(error) => error.into_response(),
    }
}

/// Secret values are never served over HTTP: only an attested enclave receives them.
async fn not_allowed() -> Response {
    let refusal = Refusal::new(
        "NOT_READABLE",
        "secret values are never readable: use HEAD to check presence",
    );
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(refusal.to_json())).into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> String {
    let m = &state.metrics;
    format!(
        "# TYPE sms_secrets_pushed_total counter\nsms_secrets_pushed_total {}\n\
         # TYPE sms_secrets_rotated_total counter\nsms_secrets_rotated_total {}\n\
         # TYPE sms_requests_refused_total counter\nsms_requests_refused_total {}\n\
         # TYPE sms_secrets_checked_total counter\nsms_secrets_checked_total {}\n",
        m.pushed.load(Ordering::Relaxed),
        m.rotated.load(Ordering::Relaxed),
        m.refused.load(Ordering::Relaxed),
        m.checked.load(Ordering::Relaxed),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Web3Query {
    secret_address: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Web2Query {
    owner_address: String,
    secret_name: String,
}

/// axum's `Query`, refusing a malformed query string with the API's JSON error (axum's
/// own rejection is a plain-text body a client cannot read a code from).
struct QueryOf<T>(T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryOf<T> {
    type Rejection = SmsError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, SmsError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(QueryOf(value)),
            Err(rejection) => Err(SmsError::BadRequest(rejection.body_text())),
        }
    }
}

/// axum's `Path`, with the API's JSON error (see [`QueryOf`]).
struct PathOf<T>(T);

impl<T: serde::de::DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathOf<T> {
    type Rejection = SmsError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, SmsError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(PathOf(value)),
            Err(rejection) => Err(SmsError::BadRequest(rejection.body_text())),
        }
    }
}

#[derive(Deserialize)]
struct OptionalVersion {
    version: Option<u64>,
}

#[derive(Deserialize)]
struct RotateQuery {
    version: u64,
}

fn address(text: &str) -> Result<Address, SmsError> {
    text.parse()
        .map_err(|_| SmsError::BadRequest(format!("`{text}` is not an address")))
}

fn secret_name(name: &str) -> Result<String, SmsError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(SmsError::BadRequest(
            "secret names are 1 to 64 of A-Z a-z 0-9 _ -".into(),
        ));
    }
    Ok(name.to_owned())
}

fn web3_id(query: &Web3Query) -> Result<SecretId, SmsError> {
    Ok(SecretId {
        kind: SecretKind::Web3,
        subject: address(&query.secret_address)?,
        name: String::new(),
    })
}

fn web2_id(query: &Web2Query) -> Result<SecretId, SmsError> {
    // Reserved names such as `iexec-result-encryption-public-key` are plain names here,
    // bounded as every name is.
    Ok(SecretId {
        kind: SecretKind::Web2,
        subject: address(&query.owner_address)?,
        name: secret_name(&query.secret_name)?,
    })
}

fn app_id(app: &str) -> Result<SecretId, SmsError> {
    Ok(SecretId {
        kind: SecretKind::App,
        subject: address(app)?,
        name: "1".into(),
    })
}

fn requester_id(requester: &str, name: &str) -> Result<SecretId, SmsError> {
    Ok(SecretId {
        kind: SecretKind::Requester,
        subject: address(requester)?,
        name: secret_name(name)?,
    })
}

async fn head(state: &AppState, id: Result<SecretId, SmsError>) -> Response {
    state.metrics.checked.fetch_add(1, Ordering::Relaxed);
    let Ok(id) = id else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    match state.store.latest_version(&id).await {
        // The version count is metadata an owner needs to sign a rotation; never the value.
        Ok(Some(version)) => (StatusCode::NO_CONTENT, [(VERSION_HEADER, version.to_string())]).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn head_web3(State(s): State<Arc<AppState>>, QueryOf(q): QueryOf<Web3Query>) -> Response {
    head(&s, web3_id(&q)).await
}
async fn head_web2(State(s): State<Arc<AppState>>, QueryOf(q): QueryOf<Web2Query>) -> Response {
    head(&s, web2_id(&q)).await
}
async fn head_app(State(s): State<Arc<AppState>>, PathOf(app): PathOf<String>) -> Response {
    head(&s, app_id(&app)).await
}
async fn head_requester(State(s): State<Arc<AppState>>, PathOf((r, n)): PathOf<(String, String)>) -> Response {
    head(&s, requester_id(&r, &n)).await
}

/// How a push writes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Write {
    /// Version 1 only (write-once, as upstream).
    Create,
    /// iExec's web2 update: the next version, signed with the push challenge.
    Update,
    /// Confide's rotation: the version named in the query, signed with the rotation challenge.
    Rotate(u64),
}

async fn post_web3(
    State(s): State<Arc<AppState>>,
    QueryOf(q): QueryOf<Web3Query>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    respond(&s, web3_id(&q), Write::Create, &h, &body).await
}
async fn rotate_web3(
    State(s): State<Arc<AppState>>,
    QueryOf(q): QueryOf<Web3Query>,
    QueryOf(r): QueryOf<RotateQuery>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    respond(&s, web3_id(&q), Write::Rotate(r.version), &h, &body).await
}
async fn post_web2(
    State(s): State<Arc<AppState>>,
    QueryOf(q): QueryOf<Web2Query>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    respond(&s, web2_id(&q), Write::Create, &h, &body).await
}
/// `PUT /secrets/web2`: with `?version=N`, Confide's update, whose signature names the
/// version it writes, so no signed update can ever be applied again (a result key rolled
/// back to a leaked one). Without, iExec's update (its SDK's `--force-update`): the next
/// version, signed over owner, name and value only; its signature is burnt once used.
async fn put_web2(
    State(s): State<Arc<AppState>>,
    QueryOf(q): QueryOf<Web2Query>,
    QueryOf(v): QueryOf<OptionalVersion>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    let write = v.version.map_or(Write::Update, Write::Rotate);
    respond(&s, web2_id(&q), write, &h, &body).await
}
async fn post_app(State(s): State<Arc<AppState>>, PathOf(app): PathOf<String>, h: HeaderMap, body: Bytes) -> Response {
    respond(&s, app_id(&app), Write::Create, &h, &body).await
}
async fn rotate_app(
    State(s): State<Arc<AppState>>,
    PathOf(app): PathOf<String>,
    QueryOf(r): QueryOf<RotateQuery>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    respond(&s, app_id(&app), Write::Rotate(r.version), &h, &body).await
}
async fn post_requester(
    State(s): State<Arc<AppState>>,
    PathOf((r, n)): PathOf<(String, String)>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    respond(&s, requester_id(&r, &n), Write::Create, &h, &body).await
}
async fn rotate_requester(
    State(s): State<Arc<AppState>>,
    PathOf((r, n)): PathOf<(String, String)>,
    QueryOf(q): QueryOf<RotateQuery>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    respond(&s, requester_id(&r, &n), Write::Rotate(q.version), &h, &body).await
}

async fn respond(
    state: &AppState,
    id: Result<SecretId, SmsError>,
    write: Write,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let id = match id {
        Ok(id) => id,
        Err(error) => return error.into_response(),
    };
    match push(state, &id, write, headers, body).await {
        Ok((version, signer)) => {
            let action = if matches!(write, Write::Create) {
                "push"
            } else {
                "rotate"
            };
            state
                .store
                .audit(&[AuditLine::secret(action, &id, version)], Some(signer), "stored")
                .await;
            let counter = if matches!(write, Write::Create) {
                &state.metrics.pushed
            } else {
                &state.metrics.rotated
            };
            counter.fetch_add(1, Ordering::Relaxed);
            match write {
                Write::Rotate(_) => (StatusCode::OK, axum::Json(json!({ "version": version }))).into_response(),
                _ => StatusCode::NO_CONTENT.into_response(),
            }
        }
        Err(error) => {
            // Every refusal comes before the owner's signature is proven: anyone can make
            // one for free, so it is counted (`/metrics`), never stored (a row each would
            // let a stranger grow the audit log without end).
            state.metrics.refused.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(code = error.code(), "secret push refused");
            error.into_response()
        }
    }
}

/// Checks and stores one push; returns the version written and who signed.
async fn push(
    state: &AppState,
    id: &SecretId,
    write: Write,
    headers: &HeaderMap,
    value: &[u8],
) -> Result<(u64, Address), SmsError> {
    if value.is_empty() {
        return Err(SmsError::Empty);
    }
    if value.len() > MAX_SECRET_BYTES {
        return Err(SmsError::TooLarge { size: value.len() });
    }
    let signature = authorization_signature(headers)?;

    // Who may write: the on-chain owner for datasets and apps, the address itself otherwise.
    let owner = match id.kind {
        SecretKind::Web3 | SecretKind::App => state
            .poco
            .contract_owner(id.subject)
            .await
            .map_err(SmsError::from)?
            .ok_or(SmsError::UnknownAddress(id.subject))?,
        SecretKind::Web2 | SecretKind::Requester => id.subject,
    };

    let latest = state.store.latest_version(id).await?;
    let (version, expected) = match write {
        Write::Create => (1, id.as_secret().push_challenge(value)),
        Write::Update => (latest.map_or(1, |v| v + 1), id.as_secret().push_challenge(value)),
        Write::Rotate(asked) => {
            let next = latest.ok_or(SmsError::NotFound)? + 1;
            if asked != next {
                return Err(SmsError::VersionMismatch { asked, next });
            }
            (
                next,
                id.as_secret()
                    .update_challenge(state.poco.sms_deployment(), next, value),
            )
        }
    };
    if write == Write::Create && latest.is_some() {
        return Err(SmsError::AlreadyExists);
    }
    if recover_personal(expected, &signature) != Some(owner) {
        return Err(SmsError::WrongSigner { owner });
    }
    state
        .store
        .insert(
            id,
            version,
            value,
            &confide_chain::hex::encode(signature.as_bytes()),
            matches!(write, Write::Rotate(_)),
        )
        .await?;
    Ok((version, owner))
}

/// The EIP-191 signature in the `Authorization` header, canonical only: the signature is
/// burnt once used, so a second spelling of it (a malleable twin, another `v`) must not
/// pass for a fresh one.
pub(crate) fn authorization_signature(headers: &HeaderMap) -> Result<confide_chain::Signature, SmsError> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(confide_protocol::messages::canonical_signature_hex)
        .ok_or(SmsError::MissingSignature)
}
