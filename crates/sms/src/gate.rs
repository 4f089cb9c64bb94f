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

use crate::api::AppState;
use crate::store::{AuditLine, KeyRelease, SecretId, SecretKind};
use crate::{MAX_SECRET_BYTES, SmsError};

/// How long an enclave has between asking for a nonce and presenting evidence over it.
pub const NONCE_TTL: Duration = Duration::from_secs(300);
/// The most memory an app may ask for in its enclave configuration.
pub const MAX_APP_MEMORY: u64 = 4 << 30;
/// The web2 secret holding a beneficiary's result key (iExec's reserved name).
pub const RESULT_KEY_NAME: &str = "iexec-result-encryption-public-key";

/// How evidence is judged.
pub struct Gate {
    /// Verifies evidence against the policy; it accepts simulated evidence only when
    /// built to.
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

    pub(crate) async fn dataset_location(
        &self,
        poco: &confide_chain::Poco,
        dataset: Address,
    ) -> Result<(String, B256), SmsError> {
        cached(&self.datasets, dataset, async {
            let info = poco.dataset(dataset).await.map_err(chain)?;
            // A binary `/p2p/<CID>` (iExec's DataProtector SDK registers one) reads as
            // `/ipfs/<CID>`; a URL or a text multiaddr as before.
            Ok((
                confide_protocol::ipfs::multiaddr_location(&info.multiaddr),
                info.checksum,
            ))
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
    SmsError::from(error)
}

async fn active_task(state: &AppState, task_id: B256) -> Result<(TaskInfo, DealInfo), SmsError> {
    let task = state.poco.task(task_id).await.map_err(chain)?;
    if task.status != TaskStatus::Active {
        return Err(SmsError::TaskNotActive(format!("{:?}", task.status).to_uppercase()));
    }
    // PoCo leaves a task ACTIVE past its final deadline until someone claims it; no
    // contribution is accepted then, so nothing is released (and the challenge is gone).
    if state.gate.now() >= task.final_deadline.saturating_to::<u64>() {
        return Err(SmsError::TaskNotActive("past its final deadline".into()));
    }
    let deal = state.poco.deal(task.deal_id).await.map_err(chain)?;
    Ok((task, deal))
}

/// `POST /tee/challenges/{taskId}`: the task's enclave-challenge address, its key made
/// once and sealed at rest. Needs the deal's workerpool owner's signature in
/// `Authorization` and an ACTIVE task before its final deadline.
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
        let (address, _) = state
            .store
            .challenge(task_id, task.final_deadline.saturating_to::<u64>())
            .await?;
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
        Ok(address) => Json(tee::ChallengeAnswer { address }).into_response(),
        Err(error) => error.into_response(),
    }
}

/// `GET /tee/nonce`: a fresh single-use nonce for an enclave's report data, valid for
/// [`NONCE_TTL`].
pub async fn nonce(State(state): State<Arc<AppState>>) -> Response {
    match state.store.issue_nonce(NONCE_TTL).await {
        Ok(nonce) => Json(tee::NonceAnswer {
            nonce,
            expires_in_seconds: NONCE_TTL.as_secs(),
        })
        .into_response(),
        Err(error) => error.into_response(),
    }
}

/// `POST /tee/enclave-sessions`: after every check, the task's secrets sealed to the
/// enclave's key; each release and refusal is audited.
pub async fn enclave_session(State(state): State<Arc<AppState>>, body: axum::body::Bytes) -> Response {
    let request: SessionRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return SmsError::BadRequest(format!("session request: {e}")).into_response(),
    };
    match release(&state, &request).await {
        Ok(response) => Json(response).into_response(),
        Err(error) => {
            // A stale nonce or evidence that does not verify costs its sender nothing:
            // counted in the logs, not stored. A refusal past those checks (real evidence
            // for a fresh nonce) is audited.
            if !matches!(error, SmsError::NonceInvalid | SmsError::Attestation(_)) {
                state
                    .store
                    .audit(
                        &[AuditLine::task("session", request.task_id)],
                        Some(request.worker),
                        error.code(),
                    )
                    .await;
            }
            tracing::warn!(task = %request.task_id, code = error.code(), "enclave session refused");
            error.into_response()
        }
    }
}

/// Every check, then the task's secrets sealed to the admitted enclave, audited.
async fn release(state: &AppState, request: &SessionRequest) -> Result<SessionResponse, SmsError> {
    let admitted = admission::admit(state, request).await?;
    let secrets = gather_secrets(state, &admitted).await?;
    let response = seal_session(request, &admitted, secrets.session_part)?;
    let outcome = if admitted.simulated() {
        format!("released to task {} (SIMULATED evidence)", request.task_id)
    } else {
        format!(
            "released to task {} ({} enclave)",
            request.task_id,
            admitted.evidence_name()
        )
    };
    let mut lines: Vec<AuditLine> = secrets
        .released
        .iter()
        .map(|(id, version)| AuditLine::secret("release", id, *version))
        .collect();
    lines.push(AuditLine::task("session", request.task_id));
    state.store.audit(&lines, Some(request.worker), &outcome).await;
    record_key_release(state, request, &admitted, &secrets.released).await;
    Ok(response)
}

/// Writes each dataset key's release (the deal's dataset, or a bulk slice's) into its
/// owner's usage ledger. A failure is logged, not returned: the audit log holds the
/// release too, and the enclave already has it.
async fn record_key_release(
    state: &AppState,
    request: &SessionRequest,
    admitted: &admission::Admitted,
    released: &[(SecretId, u64)],
) {
    for (id, version) in released.iter().filter(|(id, _)| id.kind == SecretKind::Web3) {
        record_one_release(state, request, admitted, id.subject, *version).await;
    }
}

async fn record_one_release(
    state: &AppState,
    request: &SessionRequest,
    admitted: &admission::Admitted,
    dataset: Address,
    version: u64,
) {
    let deal = admitted.deal();
    let release = KeyRelease {
        at_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0),
        task_id: request.task_id,
        deal_id: admitted.task().deal_id,
        app: deal.app,
        requester: deal.requester,
        worker: request.worker,
        evidence: admitted.evidence_name().to_owned(),
        measurements: admitted.measurements().clone(),
        version,
    };
    if let Err(error) = state.store.record_key_release(dataset, &release).await {
        tracing::error!(%error, task = %request.task_id, "usage ledger write failed");
    }
}

/// The gate's checks, and the one value that says they passed.
mod admission {
    use super::*;
    use confide_protocol::tee::AppEnclaveConfig;

    /// An enclave every check admitted for one task. Only [`admit`] makes one (the fields
    /// are private to this module), so a function given an `Admitted` knows the nonce was
    /// fresh, the evidence genuine and bound to this key and module, the task active, the
    /// worker sent by the pool with this challenge, and the module the app's own.
    pub(super) struct Admitted {
        task: TaskInfo,
        deal: DealInfo,
        config: AppEnclaveConfig,
        challenge_key: zeroize::Zeroizing<[u8; 32]>,
        simulated: bool,
        evidence_name: &'static str,
        measurements: serde_json::Value,
    }

    impl Admitted {
        pub(super) fn task(&self) -> &TaskInfo {
            &self.task
        }

        pub(super) fn deal(&self) -> &DealInfo {
            &self.deal
        }

        /// The enclave configuration the app registered (memory cap, runtime).
        pub(super) fn config(&self) -> &AppEnclaveConfig {
            &self.config
        }

        pub(super) fn challenge_key(&self) -> &[u8; 32] {
            &self.challenge_key
        }

        pub(super) fn simulated(&self) -> bool {
            self.simulated
        }

        pub(super) fn evidence_name(&self) -> &'static str {
            self.evidence_name
        }

        /// The enclave's measurements, as its verified evidence gave them.
        pub(super) fn measurements(&self) -> &serde_json::Value {
            &self.measurements
        }
    }

    /// Every check, in order; the first that fails refuses the session.
    pub(super) async fn admit(state: &AppState, request: &SessionRequest) -> Result<Admitted, SmsError> {
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
        let challenge_key = sent_by_the_pool(state, request, &deal).await?;
        // 6. The module is the app's registered one.
        let config = the_apps_module(state, request, &deal).await?;
        Ok(Admitted {
            task,
            deal,
            config,
            challenge_key,
            simulated: verified.simulated(),
            evidence_name: verified.kind().name(),
            measurements: serde_json::to_value(verified.measurements()).unwrap_or_default(),
        })
    }

    /// The task's challenge key, when the pool owner's authorization names this worker
    /// and this challenge.
    async fn sent_by_the_pool(
        state: &AppState,
        request: &SessionRequest,
        deal: &DealInfo,
    ) -> Result<zeroize::Zeroizing<[u8; 32]>, SmsError> {
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
        Ok(challenge_key)
    }

    /// The app's registered enclave configuration, when the enclave runs its module:
    /// named by its mrenclave, or by the manifest the enclave sent, which must be the
    /// one the app's checksum binds.
    async fn the_apps_module(
        state: &AppState,
        request: &SessionRequest,
        deal: &DealInfo,
    ) -> Result<AppEnclaveConfig, SmsError> {
        let (mrenclave, checksum) = state.assets.app_identity(&state.poco, deal.app).await?;
        let manifest = request.app_manifest.as_ref().map(|m| m.as_ref());
        let config = registered_enclave_config(&mrenclave, checksum, manifest).map_err(|error| match error {
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
        Ok(config)
    }
}

/// The secrets of an admitted task, and which stored versions they are (for the audit).
struct GatheredSecrets {
    session_part: SessionSecrets,
    released: Vec<(SecretId, u64)>,
}

/// What of the session comes from the secret store.
struct SessionSecrets {
    params: DealParams,
    dataset: Option<SessionDataset>,
    bulk: Vec<confide_protocol::bulk::BulkDataset>,
    requester_secrets: std::collections::BTreeMap<u32, String>,
    app_developer_secret: Option<String>,
    result_encryption_key: Option<String>,
}

/// Reads the task's secrets; a missing required one refuses the whole session.
async fn gather_secrets(state: &AppState, admitted: &admission::Admitted) -> Result<GatheredSecrets, SmsError> {
    let deal = admitted.deal();
    let params = DealParams::parse(&deal.params).map_err(|e| SmsError::BadRequest(e.to_string()))?;
    let mut released = Vec::new();
    let dataset = match deal.dataset {
        Address::ZERO => None,
        dataset => Some(dataset_secret(state, dataset, &mut released).await?),
    };
    let bulk = match &params.bulk_cid {
        Some(cid) => {
            let index = u64::try_from(admitted.task().index).map_err(|_| SmsError::BadRequest("task index".into()))?;
            crate::bulk::slice_keys(state, deal, index, cid, &mut released).await?
        }
        None => Vec::new(),
    };
    let mut requester_secrets = std::collections::BTreeMap::new();
    for (index, name) in params.secret_names() {
        let id = SecretId {
            kind: SecretKind::Requester,
            subject: deal.requester,
            name: name.to_owned(),
        };
        let value = read_secret(state, id, &mut released)
            .await?
            .ok_or_else(|| SmsError::RequesterSecretMissing(name.to_owned()))?;
        requester_secrets.insert(index, value);
    }
    let app_secret = SecretId {
        kind: SecretKind::App,
        subject: deal.app,
        name: "1".into(),
    };
    let app_developer_secret = read_secret(state, app_secret, &mut released).await?;
    let result_key = SecretId {
        kind: SecretKind::Web2,
        subject: deal.beneficiary,
        name: RESULT_KEY_NAME.into(),
    };
    let result_encryption_key = read_secret(state, result_key, &mut released).await?;
    if result_encryption_key.is_none() && params.iexec_result_encryption {
        return Err(SmsError::ResultKeyMissing(deal.beneficiary));
    }
    let session_part = SessionSecrets {
        params,
        dataset,
        bulk,
        requester_secrets,
        app_developer_secret,
        result_encryption_key,
    };
    Ok(GatheredSecrets { session_part, released })
}

/// The latest version of secret `id`, noted in `released`, if there is one.
async fn read_secret(
    state: &AppState,
    id: SecretId,
    released: &mut Vec<(SecretId, u64)>,
) -> Result<Option<String>, SmsError> {
    let Some((version, value)) = state.store.read_latest(&id).await? else {
        return Ok(None);
    };
    released.push((id, version));
    Ok(Some(utf8(&value)?))
}

/// Where the dataset is and the key that opens it (which must have been pushed).
async fn dataset_secret(
    state: &AppState,
    dataset: Address,
    released: &mut Vec<(SecretId, u64)>,
) -> Result<SessionDataset, SmsError> {
    let (url, checksum) = state.assets.dataset_location(&state.poco, dataset).await?;
    let id = SecretId {
        kind: SecretKind::Web3,
        subject: dataset,
        name: String::new(),
    };
    let key = read_secret(state, id, released)
        .await?
        .ok_or(SmsError::DatasetKeyMissing(dataset))?;
    Ok(SessionDataset {
        address: dataset,
        url,
        checksum,
        key,
    })
}

/// The session, sealed to the admitted enclave's key (HPKE, bound to the task and nonce).
fn seal_session(
    request: &SessionRequest,
    admitted: &admission::Admitted,
    secrets: SessionSecrets,
) -> Result<SessionResponse, SmsError> {
    let (task, deal) = (admitted.task(), admitted.deal());
    let session = TaskSession {
        task_id: request.task_id,
        deal_id: deal.deal_id,
        task_index: task.index.saturating_to::<u64>(),
        bot_first: deal.bot_first.saturating_to::<u64>(),
        bot_size: deal.bot_size.saturating_to::<u64>(),
        app: deal.app,
        app_module_sha256: request.app_module_sha256,
        app_memory_limit: admitted.config().heap_size.min(MAX_APP_MEMORY),
        max_run_seconds: task.timeref.saturating_to::<u64>(),
        dataset: secrets.dataset,
        bulk: secrets.bulk,
        params: secrets.params,
        worker: request.worker,
        beneficiary: deal.beneficiary,
        result_encryption_key: secrets.result_encryption_key,
        app_developer_secret: secrets.app_developer_secret,
        requester_secrets: secrets.requester_secrets,
        challenge_private_key: B256::from(*admitted.challenge_key()),
        simulated: admitted.simulated(),
    };
    let plain = zeroize::Zeroizing::new(serde_json::to_vec(&session).map_err(|e| SmsError::Storage(e.to_string()))?);
    let (encapsulated_key, sealed) = confide_crypto::sealed::seal(
        &request.enclave_public_key,
        &plain,
        &tee::session_info(request.task_id),
        request.nonce.as_slice(),
    )
    .map_err(|e| SmsError::BadRequest(e.to_string()))?;
    Ok(SessionResponse {
        simulated: admitted.simulated(),
        encapsulated_key: encapsulated_key.into(),
        sealed: sealed.into(),
    })
}

pub(crate) fn utf8(value: &[u8]) -> Result<String, SmsError> {
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
            SmsError::BulkRequest(_) => StatusCode::UNPROCESSABLE_ENTITY,
            SmsError::Gateway(_) => StatusCode::BAD_GATEWAY,
            _ => return None,
        })
    }
}
