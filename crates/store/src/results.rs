//! Task results: `PUT /results/<task>/<worker>` and `GET /results/<task>[/<worker>]`.
//!
//! A result is accepted only with the proof that the task's enclave produced it: the
//! workerpool owner's authorization of (worker, task, enclave challenge), checked against
//! the deal on chain, and the enclave challenge key's signature over the content's hash
//! (only an enclave the SMS attested ever holds that key). Standard tasks have no enclave:
//! the authorized worker signs instead. Results are never decrypted or inspected here.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use confide_chain::{Address, B256, Signature, TaskStatus};
use confide_protocol::messages::{authorization_hash, recover_personal};
use confide_protocol::workerpool::result_upload_hash;
use object_store::ObjectStoreExt;
use object_store::path::Path as StorePath;
use serde_json::json;

use crate::{CONTENT_SHA256, StoreState, error, serve_object, stream_into};

/// Header with the task's enclave challenge address (zero for a standard task).
pub(crate) const ENCLAVE_CHALLENGE_HEADER: &str = "x-confide-enclave-challenge";
/// Header with the workerpool owner's authorization of the worker for the task.
pub(crate) const AUTHORIZATION_HEADER: &str = "x-confide-authorization";

fn result_path(task: B256, worker: Address) -> StorePath {
    StorePath::from(format!("results/{task}/{}", worker.to_string().to_lowercase()))
}

/// A worker's result and where its CID is recorded (beside it: task and worker name both).
pub(crate) fn located(task: B256, worker: Address) -> (StorePath, crate::ipfs::CidRecord) {
    let worker_text = worker.to_string().to_lowercase();
    let record = crate::ipfs::CidRecord {
        record: StorePath::from(format!("results/{task}/{worker_text}.cid")),
        marker_suffix: format!("{task}/{worker_text}"),
    };
    (result_path(task, worker), record)
}

fn header_value<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn signature(headers: &HeaderMap, name: impl axum::http::header::AsHeaderName) -> Option<Signature> {
    confide_protocol::messages::canonical_signature_hex(headers.get(name)?.to_str().ok()?)
}

/// What an upload must prove before a byte is stored.
async fn check_upload(state: &StoreState, task: B256, worker: Address, headers: &HeaderMap) -> Result<B256, Response> {
    let refuse = |status, code, message: String| {
        state.refused.fetch_add(1, Ordering::Relaxed);
        error(status, code, message)
    };
    let Some(poco) = state.poco.as_ref().filter(|_| state.accept_results) else {
        return Err(refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "NO_CHAIN",
            "this store takes no results: it was started without --rpc-url and --hub".into(),
        ));
    };
    let (Some(declared), Some(challenge)) = (
        header_value::<B256>(headers, CONTENT_SHA256),
        header_value::<Address>(headers, ENCLAVE_CHALLENGE_HEADER),
    ) else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "MISSING_HEADER",
            format!("a result upload needs {CONTENT_SHA256} and {ENCLAVE_CHALLENGE_HEADER}"),
        ));
    };
    let (Some(authorization), Some(upload_signature)) = (
        signature(headers, AUTHORIZATION_HEADER),
        signature(headers, header::AUTHORIZATION),
    ) else {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "MISSING_SIGNATURE",
            format!("a result upload needs the {AUTHORIZATION_HEADER} and Authorization signatures"),
        ));
    };
    // The enclave (or, for a standard task, the worker) signs task, worker and content.
    let expected_signer = if challenge.is_zero() { worker } else { challenge };
    if recover_personal(result_upload_hash(task, worker, declared), &upload_signature) != Some(expected_signer) {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "WRONG_ENCLAVE_SIGNATURE",
            "the result is not signed by the task's enclave challenge key".into(),
        ));
    }
    let chain_refusal = |e: confide_chain::ChainError| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "CHAIN_UNREACHABLE",
            format!("cannot check the task on chain: {}", e.code()),
        )
    };
    let info = poco.task(task).await.map_err(chain_refusal)?;
    if !matches!(info.status, TaskStatus::Active | TaskStatus::Revealing) {
        return Err(refuse(
            StatusCode::CONFLICT,
            "TASK_NOT_RUNNING",
            format!("task {task} is {:?}: it takes no result now", info.status),
        ));
    }
    let deal = poco.deal(info.deal_id).await.map_err(chain_refusal)?;
    // A TEE task's result is the enclave's: the worker's own key (a zero challenge) must
    // not stand in for it.
    if deal.tag().is_tee() && challenge.is_zero() {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "WRONG_ENCLAVE_SIGNATURE",
            "a TEE task's result must be signed by its enclave challenge key".into(),
        ));
    }
    if recover_personal(authorization_hash(worker, task, challenge), &authorization) != Some(deal.workerpool_owner) {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "NOT_AUTHORIZED",
            "the worker's authorization is not signed by the deal's workerpool owner".into(),
        ));
    }
    Ok(declared)
}

pub(crate) async fn upload(
    State(state): State<Arc<StoreState>>,
    UrlPath((task, worker)): UrlPath<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (Ok(task), Ok(worker)) = (task.parse::<B256>(), worker.parse::<Address>()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "expected /results/<task id>/<worker>",
        );
    };
    let declared = match check_upload(&state, task, worker, &headers).await {
        Ok(declared) => declared,
        Err(refusal) => return refusal,
    };
    let (path, record) = located(task, worker);
    // A worker that uploads again replaces its result (its space stays one result's).
    let stored = match stream_into(&state, &path, declared, body, None, &record).await {
        Ok(stored) => stored,
        Err(refusal) => return refusal,
    };
    let cid = stored.cid;
    state.pin(&cid, crate::pin::PinLane::Result);
    state.uploads.fetch_add(1, Ordering::Relaxed);
    let size = stored.size;
    tracing::info!(%task, %worker, size, %cid, "result stored");
    (
        StatusCode::CREATED,
        axum::Json(json!({
            "path": format!("/results/{task}/{worker}"),
            "checksum": declared,
            "size": size,
            "cid": cid.to_string(),
            "ipfs": format!("/ipfs/{cid}"),
        })),
    )
        .into_response()
}

pub(crate) async fn download(
    State(state): State<Arc<StoreState>>,
    UrlPath((task, worker)): UrlPath<(String, String)>,
) -> Response {
    let (Ok(task), Ok(worker)) = (task.parse::<B256>(), worker.parse::<Address>()) else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such result");
    };
    serve_object(&state, &result_path(task, worker)).await
}

/// PoCo's contribution status of a worker whose revealed result is the consensus.
const CONTRIBUTION_PROVED: u8 = 2;

/// The result of a task by its id alone: the one a contributor whose contribution the
/// chain finalized uploaded. A replica that lost the consensus (or a task not completed)
/// may have stored a file too; it is never served by this path.
pub(crate) async fn download_task(State(state): State<Arc<StoreState>>, UrlPath(task): UrlPath<String>) -> Response {
    let (Ok(task), Some(poco)) = (task.parse::<B256>(), &state.poco) else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such result");
    };
    let info = match poco.task(task).await {
        Ok(info) => info,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, "CHAIN_UNREACHABLE", e.code()),
    };
    if info.status != TaskStatus::Completed {
        return error(
            StatusCode::NOT_FOUND,
            "NOT_COMPLETED",
            format!("task {task} is not completed on chain"),
        );
    }
    for worker in &info.contributors {
        let contribution = match poco.contribution(task, *worker).await {
            Ok(contribution) => contribution,
            Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, "CHAIN_UNREACHABLE", e.code()),
        };
        if contribution.status != CONTRIBUTION_PROVED || contribution.result_hash != info.consensus_value {
            continue;
        }
        let path = result_path(task, *worker);
        if state.backend.head(&path).await.is_ok() {
            return serve_object(&state, &path).await;
        }
    }
    error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("no result stored for task {task}"),
    )
}
