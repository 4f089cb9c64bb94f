//! The scheduler's HTTP API: routes, request parsing, signed answers.

use super::*;

fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| error(StatusCode::BAD_REQUEST, "BAD_REQUEST", e.to_string()))
}

pub(super) fn parse_task(text: &str) -> Result<B256, ApiError> {
    text.parse()
        .map_err(|_| error(StatusCode::BAD_REQUEST, "BAD_REQUEST", "not a task id"))
}

/// The scheduler's HTTP API.
pub fn router(scheduler: Arc<Scheduler>) -> Router {
    Router::new()
        .route("/health", get(health_route))
        .route(
            "/metrics",
            get(|State(s): State<Arc<Scheduler>>| async move { s.metrics().await }),
        )
        .route("/workers/register", post(register_route))
        .route("/tasks/next", post(next_route))
        .route("/tasks/{task}/heartbeat", post(heartbeat_route))
        .route("/tasks/{task}/report", post(report_route))
        .route("/tasks/{task}", get(debug_route))
        .route("/tasks/{task}/status", get(status_route))
        .with_state(scheduler)
}

/// A worker's signed POST. Its signature (over method, path, body hash and time) is
/// checked as the request is extracted, before any handler runs: a handler given one
/// knows which worker sent it, and binds its answer to `request`.
pub(super) struct SignedByWorker {
    worker: Address,
    /// The request's hash, which the signed answer names.
    request: B256,
    body: BodyBytes,
}

impl SignedByWorker {
    fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_body(&self.body)
    }
}

impl axum::extract::FromRequest<Arc<Scheduler>> for SignedByWorker {
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, state: &Arc<Scheduler>) -> Result<Self, Response> {
        let (parts, body) = request.into_parts();
        let (headers, path) = (parts.headers.clone(), parts.uri.path().to_owned());
        let body = BodyBytes::from_request(axum::extract::Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let (worker, request) = verify_request(&headers, "POST", &path, &body).map_err(IntoResponse::into_response)?;
        // Only a wallet this pool takes work from is remembered: others are refused by
        // every route anyway, and must not fill the cache.
        if state.allowed(worker).is_ok() {
            state
                .seen
                .first_use(worker, request)
                .map_err(IntoResponse::into_response)?;
        }
        Ok(SignedByWorker { worker, request, body })
    }
}

/// Signs a successful answer; passes refusals through.
pub(super) fn respond<T: serde::Serialize>(
    scheduler: &Scheduler,
    request: B256,
    answer: Result<T, ApiError>,
) -> Response {
    match answer {
        Ok(value) => signed_answer(&scheduler.owner, request, &value),
        Err(refusal) => refusal.into_response(),
    }
}

/// `200 {"status":"ok"}` while active, `503 {"status":"standby"}` while another scheduler
/// is: a load balancer sends workers to the active one.
pub(super) async fn health_route(State(s): State<Arc<Scheduler>>) -> Response {
    if s.is_active() {
        axum::Json(json!({ "status": "ok", "role": "active" })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "status": "standby", "role": "standby" })),
        )
            .into_response()
    }
}

pub(super) async fn register_route(State(s): State<Arc<Scheduler>>, signed: SignedByWorker) -> Response {
    let answer = match signed.json::<Registration>() {
        Ok(registration) => s.register(signed.worker, registration).await,
        Err(refusal) => Err(refusal),
    };
    respond(&s, signed.request, answer)
}

pub(super) async fn next_route(State(s): State<Arc<Scheduler>>, signed: SignedByWorker) -> Response {
    let answer = s.next(signed.worker).await;
    respond(&s, signed.request, answer)
}

pub(super) async fn heartbeat_route(
    State(s): State<Arc<Scheduler>>,
    UrlPath(task): UrlPath<String>,
    signed: SignedByWorker,
) -> Response {
    let answer = match parse_task(&task) {
        Ok(task) => s.heartbeat(signed.worker, task).await,
        Err(refusal) => Err(refusal),
    };
    respond(&s, signed.request, answer)
}

pub(super) async fn report_route(
    State(s): State<Arc<Scheduler>>,
    UrlPath(task): UrlPath<String>,
    signed: SignedByWorker,
) -> Response {
    let answer = match (parse_task(&task), signed.json::<Report>()) {
        (Ok(task), Ok(report)) => s.report(signed.worker, task, report).await,
        (Err(refusal), _) | (_, Err(refusal)) => Err(refusal),
    };
    respond(&s, signed.request, answer)
}

/// `GET /tasks/{task}/status`: the task's step in this scheduler, one word and nothing
/// else, for anyone (explorers show it): the log, workers and reasons stay behind the
/// signed `GET /tasks/{task}`. The words are `TaskStep`'s.
pub(super) async fn status_route(State(s): State<Arc<Scheduler>>, UrlPath(task): UrlPath<String>) -> Response {
    let task = match parse_task(&task) {
        Ok(task) => task,
        Err(refusal) => return refusal.into_response(),
    };
    match s.db.task(task).await {
        Ok(Some(row)) => axum::Json(json!({ "task": task, "state": row.status })).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "UNKNOWN_TASK",
            format!("this scheduler has no task {task}"),
        )
        .into_response(),
        Err(e) => internal(e).into_response(),
    }
}

pub(super) async fn debug_route(
    State(s): State<Arc<Scheduler>>,
    headers: HeaderMap,
    uri: Uri,
    UrlPath(task): UrlPath<String>,
) -> Response {
    let answer = match (verify_request(&headers, "GET", uri.path(), b""), parse_task(&task)) {
        (Ok((reader, _)), Ok(task)) => s.debug_for(reader, task).await,
        (Err(refusal), _) | (_, Err(refusal)) => Err(refusal),
    };
    match answer {
        Ok(debug) => axum::Json(debug).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}
