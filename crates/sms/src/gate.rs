//! The attestation gate: the only way a task's secrets leave the SMS.
//!
//! - `POST /tee/challenges/{taskId}`: the task's enclave-challenge key, made once,
//!   authorised by the deal's workerpool owner; answers its address.
//! - `GET /tee/nonce`: a fresh single-use nonce for the enclave's report data.
//! - `POST /tee/enclave-sessions`: evidence + authorization → the task's secrets, sealed
//!   to the enclave's key. Every check below must pass first; every release is audited.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use confide_attest::verify::Verifier;
use confide_chain::{Address, B256, DealInfo, TaskInfo, TaskStatus};
use confide_protocol::messages::{authorization_hash, recover_personal};
use confide_protocol::tee::{
    self, AppIdentityError, DealParams, SessionDataset, SessionRequest, SessionResponse, TaskSession,
    registered_enclave_config,
};
use serde_json::json;

use crate::api::AppState;
use crate::store::{AuditLine, SecretId, SecretKind};
use crate::{MAX_SECRET_BYTES, SmsError};

/// How long an enclave has between asking for a nonce and presenting evidence over it.
pub const NONCE_TTL: Duration = Duration::from_secs(300);
/// The most memory an app may ask for in its enclave configuration.
pub const MAX_APP_MEMORY: u64 = 4 << 30;
/// The web2 secret holding a beneficiary's result key (iExec's reserved name).
pub const RESULT_KEY_NAME: &str = "iexec-result-encryption-public-key";

/// How evidence is judged.
pub struct Gate {
    pub verifier: Verifier,
    /// Unix seconds; `None` = the clock. Tests pin it to the samples' collateral window.
    pub now: Option<u64>,
}

impl Gate {
    fn now(&self) -> u64 {
        self.now.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        })
    }
}

/// The parts of apps and datasets a session needs, read from the chain once. Safe to
/// keep for good: PoCo's registries create each asset at a CREATE2 address derived from
/// its owner at creation and every parameter, and assets have no setters, so an address
/// always holds the same mrenclave, multiaddr and checksum, whatever reorg happens. (Not
/// the owner, which transfers change: nothing here caches it. Deals and tasks are read
/// fresh: a reorg could rematch a deal id with other orders.)
#[derive(Default)]
pub struct AssetCache {
    apps: AssetMap<(confide_chain::Bytes, B256)>,
    datasets: AssetMap<(String, B256)>,
}

type AssetMap<V> = std::sync::Mutex<std::collections::HashMap<Address, V>>;

/// Entries kept per map before it is emptied: a bound on memory, not an eviction policy.
const ASSET_CACHE_LIMIT: usize = 100_000;

impl AssetCache {
    /// The app's mrenclave and checksum: what pins its enclave configuration.
    async fn app_identity(
        &self,
        poco: &confide_chain::Poco,
        app: Address,
    ) -> Result<(confide_chain::Bytes, B256), SmsError> {
        cached(&self.apps, app, async {
            let info = poco.app(app).await.map_err(chain)?;
            Ok((info.mrenclave, info.checksum))
        })
        .await
    }

    async fn dataset_location(&self, poco: &confide_chain::Poco, dataset: Address) -> Result<(String, B256), SmsError> {
        cached(&self.datasets, dataset, async {
            let info = poco.dataset(dataset).await.map_err(chain)?;
            Ok((String::from_utf8_lossy(&info.multiaddr).into_owned(), info.checksum))
        })
        .await
    }
}

/// `asset`'s entry of `map`, or what `read` gives, kept.
async fn cached<V: Clone>(
    map: &AssetMap<V>,
    asset: Address,
    read: impl std::future::Future<Output = Result<V, SmsError>>,
) -> Result<V, SmsError> {
    if let Some(value) = map.lock().expect("asset cache").get(&asset) {
        return Ok(value.clone());
    }
    let value = read.await?;
    let mut map = map.lock().expect("asset cache");
    if map.len() >= ASSET_CACHE_LIMIT {
        map.clear();
    }
    map.insert(asset, value.clone());
    Ok(value)
}

fn chain(error: confide_chain::ChainError) -> SmsError {
    SmsError::Chain(error.to_string())
}

async fn active_task(state: &AppState, task_id: B256) -> Result<(TaskInfo, DealInfo), SmsError> {
    let task = state.poco.task(task_id).await.map_err(chain)?;
    if task.status != TaskStatus::Active {
        return Err(SmsError::TaskNotActive(format!("{:?}", task.status).to_uppercase()));
    }
    // PoCo leaves a task ACTIVE past its final deadline until someone claims it; no
    // contribution is accepted then, so nothing is released (and the challenge is gone).
    if state.gate.now() >= task.final_deadline.to::<u64>() {
        return Err(SmsError::TaskNotActive("past its final deadline".into()));
    }
    let deal = state.poco.deal(task.deal_id).await.map_err(chain)?;
    Ok((task, deal))
}

pub async fn create_challenge(
    State(state): State<Arc<AppState>>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let task_id: B256 = task_id
            .parse()
            .map_err(|_| SmsError::BadRequest(format!("`{task_id}` is not a task id")))?;
        let signature = crate::api::authorization_signature(&headers)?;
        let (task, deal) = active_task(&state, task_id).await?;
        if recover_personal(tee::challenge_request_hash(task_id), &signature) != Some(deal.workerpool_owner) {
            return Err(SmsError::WrongSigner {
                owner: deal.workerpool_owner,
            });
        }
        let (address, _) = state.store.challenge(task_id, task.final_deadline.to::<u64>()).await?;
        state
            .store
            .audit(
                &[AuditLine::task("challenge", task_id)],
                Some(deal.workerpool_owner),
                "created",
            )
            .await;
        Ok::<_, SmsError>(address)
    }
    .await;
    match result {
        Ok(address) => Json(json!({ "address": address })).into_response(),
        Err(error) => error.into_response(),
    }
}

pub async fn nonce(State(state): State<Arc<AppState>>) -> Response {
    match state.store.issue_nonce(NONCE_TTL).await {
        Ok(nonce) => Json(json!({ "nonce": nonce, "expiresInSeconds": NONCE_TTL.as_secs() })).into_response(),
        Err(error) => error.into_response(),
    }
}

pub async fn enclave_session(State(state): State<Arc<AppState>>, body: axum::body::Bytes) -> Response {
    let request: SessionRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return SmsError::BadRequest(format!("session request: {e}")).into_response(),
    };
    match release(&state, &request).await {
        Ok(response) => Json(response).into_response(),
        Err(error) => {
            state
                .store
                .audit(
                    &[AuditLine::task("session", request.task_id)],
                    Some(request.worker),
                    error.code(),
                )
                .await;
            tracing::warn!(task = %request.task_id, code = error.code(), "enclave session refused");
            error.into_response()
        }
    }
}

/// Every check, in order, then the sealed secrets.
async fn release(state: &AppState, request: &SessionRequest) -> Result<SessionResponse, SmsError> {
    let gate = &state.gate;
    // 1. Fresh: the nonce is ours, unexpired and unused (burnt now, whatever follows).
    if !state.store.consume_nonce(request.nonce).await? {
        return Err(SmsError::NonceInvalid);
    }
    // 2. Genuine: the evidence verifies and the policy accepts the enclave.
    let verified = gate
        .verifier
        .verify(&request.evidence, gate.now())
        .await
        .map_err(SmsError::Attestation)?;
    // 3. Bound: its report data commits to this nonce, this key, this module.
    let expected = tee::report_data(request.nonce, &request.enclave_public_key, request.app_module_sha256);
    verified.check_report_data(&expected).map_err(SmsError::Attestation)?;
    // 4. The task is running, and its deal asks for the framework the evidence proves.
    let (task, deal) = active_task(state, request.task_id).await?;
    if !request.evidence.kind.satisfies(deal.tag()) {
        return Err(SmsError::FrameworkMismatch {
            evidence: request.evidence.kind.name(),
            tag: deal.tag().to_string(),
        });
    }
    // 5. The deal's workerpool owner sent this worker, with this challenge.
    let authorization = confide_protocol::messages::canonical_signature(&request.authorization)
        .ok_or(SmsError::WrongAuthorization(deal.workerpool_owner))?;
    let hash = authorization_hash(request.worker, request.task_id, request.enclave_challenge);
    if recover_personal(hash, &authorization) != Some(deal.workerpool_owner) {
        return Err(SmsError::WrongAuthorization(deal.workerpool_owner));
    }
    let (challenge_address, challenge_key) = state
        .store
        .existing_challenge(request.task_id)
        .await?
        .ok_or(SmsError::UnknownChallenge)?;
    if challenge_address != request.enclave_challenge {
        return Err(SmsError::UnknownChallenge);
    }
    // 6. The module is the app's registered one: named by its mrenclave, or by the
    //    manifest the enclave sent, which must be the one the app's checksum binds.
    let (mrenclave, checksum) = state.assets.app_identity(&state.poco, deal.app).await?;
    let config = registered_enclave_config(&mrenclave, checksum, request.app_manifest.as_ref().map(|m| m.as_ref()))
        .map_err(|error| match error {
            AppIdentityError::ManifestMissing => SmsError::ManifestMissing(deal.app),
            AppIdentityError::ManifestMismatch { registered, .. } => SmsError::AppMismatch {
                registered: format!("manifest sha256 {registered}"),
            },
            AppIdentityError::NotConfide | AppIdentityError::ManifestInvalid => SmsError::NotConfideApp(deal.app),
        })?;
    if config.module_sha256() != Some(request.app_module_sha256) {
        return Err(SmsError::AppMismatch {
            registered: format!("fingerprint {}", config.fingerprint),
        });
    }
    let params = DealParams::parse(&deal.params).map_err(|e| SmsError::BadRequest(e.to_string()))?;

    // Gather the secrets; a missing required one refuses the whole session.
    let mut released: Vec<(SecretId, u64)> = Vec::new();
    let dataset = if deal.dataset == Address::ZERO {
        None
    } else {
        let (url, checksum) = state.assets.dataset_location(&state.poco, deal.dataset).await?;
        let id = SecretId {
            kind: SecretKind::Web3,
            subject: deal.dataset,
            name: String::new(),
        };
        let (version, key) = state
            .store
            .read_latest(&id)
            .await?
            .ok_or(SmsError::DatasetKeyMissing(deal.dataset))?;
        released.push((id, version));
        Some(SessionDataset {
            address: deal.dataset,
            url,
            checksum,
            key: utf8(&key)?,
        })
    };
    let mut requester_secrets = std::collections::BTreeMap::new();
    for (index, name) in params.secret_names() {
        let id = SecretId {
            kind: SecretKind::Requester,
            subject: deal.requester,
            name: name.to_owned(),
        };
        let (version, value) = state
            .store
            .read_latest(&id)
            .await?
            .ok_or_else(|| SmsError::RequesterSecretMissing(name.to_owned()))?;
        released.push((id, version));
        requester_secrets.insert(index, utf8(&value)?);
    }
    let app_secret_id = SecretId {
        kind: SecretKind::App,
        subject: deal.app,
        name: "1".into(),
    };
    let app_developer_secret = match state.store.read_latest(&app_secret_id).await? {
        Some((version, value)) => {
            released.push((app_secret_id, version));
            Some(utf8(&value)?)
        }
        None => None,
    };
    let result_key_id = SecretId {
        kind: SecretKind::Web2,
        subject: deal.beneficiary,
        name: RESULT_KEY_NAME.into(),
    };
    let result_encryption_key = match state.store.read_latest(&result_key_id).await? {
        Some((version, value)) => {
            released.push((result_key_id, version));
            Some(utf8(&value)?)
        }
        None if params.iexec_result_encryption => return Err(SmsError::ResultKeyMissing(deal.beneficiary)),
        None => None,
    };

    let session = TaskSession {
        task_id: request.task_id,
        deal_id: deal.deal_id,
        task_index: task.index.to::<u64>(),
        bot_first: deal.bot_first.to::<u64>(),
        bot_size: deal.bot_size.to::<u64>(),
        app: deal.app,
        app_module_sha256: request.app_module_sha256,
        app_memory_limit: config.heap_size.min(MAX_APP_MEMORY),
        max_run_seconds: task.timeref.to::<u64>(),
        dataset,
        params,
        worker: request.worker,
        beneficiary: deal.beneficiary,
        result_encryption_key,
        app_developer_secret,
        requester_secrets,
        challenge_private_key: B256::from(*challenge_key),
        simulated: verified.simulated,
    };
    let plain = zeroize::Zeroizing::new(serde_json::to_vec(&session).map_err(|e| SmsError::Storage(e.to_string()))?);
    let (encapsulated_key, sealed) = confide_crypto::sealed::seal(
        &request.enclave_public_key,
        &plain,
        &tee::session_info(request.task_id),
        request.nonce.as_slice(),
    )
    .map_err(|e| SmsError::BadRequest(e.to_string()))?;

    let outcome = if verified.simulated {
        format!("released to task {} (SIMULATED evidence)", request.task_id)
    } else {
        format!(
            "released to task {} ({} enclave)",
            request.task_id,
            verified.kind.name()
        )
    };
    let mut lines: Vec<AuditLine> = released
        .iter()
        .map(|(id, version)| AuditLine::secret("release", id, *version))
        .collect();
    lines.push(AuditLine::task("session", request.task_id));
    state.store.audit(&lines, Some(request.worker), &outcome).await;
    Ok(SessionResponse {
        simulated: verified.simulated,
        encapsulated_key: encapsulated_key.into(),
        sealed: sealed.into(),
    })
}

fn utf8(value: &[u8]) -> Result<String, SmsError> {
    if value.len() > MAX_SECRET_BYTES {
        return Err(SmsError::Storage("a stored secret exceeds the size limit".into()));
    }
    String::from_utf8(value.to_vec()).map_err(|_| SmsError::Storage("a stored secret is not UTF-8".into()))
}

/// Deletes expired challenge keys and session nonces every `period`, for as long as the
/// SMS runs.
pub async fn sweep_challenges(state: Arc<AppState>, period: Duration) {
    let mut ticker = tokio::time::interval(period);
    loop {
        ticker.tick().await;
        if let Err(error) = state.store.delete_expired_nonces().await {
            tracing::error!(%error, "nonce sweep failed");
        }
        let now = state.gate.now();
        match state.store.delete_expired_challenges(now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "expired enclave challenge keys deleted"),
            Err(error) => tracing::error!(%error, "challenge sweep failed"),
        }
    }
}

impl SmsError {
    pub(crate) fn gate_status(&self) -> Option<StatusCode> {
        Some(match self {
            SmsError::NonceInvalid | SmsError::Attestation(_) | SmsError::WrongAuthorization(_) => {
                StatusCode::UNAUTHORIZED
            }
            SmsError::TaskNotActive(_)
            | SmsError::FrameworkMismatch { .. }
            | SmsError::UnknownChallenge
            | SmsError::NotConfideApp(_)
            | SmsError::ManifestMissing(_)
            | SmsError::AppMismatch { .. } => StatusCode::FORBIDDEN,
            SmsError::DatasetKeyMissing(_) | SmsError::RequesterSecretMissing(_) | SmsError::ResultKeyMissing(_) => {
                StatusCode::CONFLICT
            }
            _ => return None,
        })
    }
}
