//! Logins: a challenge to sign, and the authorization header that proves it.

use super::*;

/// `GET /challenge?chainId&address`: the address's login challenge as EIP-712 typed data.
pub(crate) async fn challenge(
    State(state): State<Arc<MarketState>>,
    Query(q): Query<ChainQuery>,
) -> Result<Response, MarketError> {
    check_chain(&state, &q.chain_id)?;
    let address: Address = q
        .address
        .as_deref()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| MarketError::BadRequest("address is required".into()))?;
    let text = state.logins.lock().await.challenge(address, unix_now());
    Ok(axum::Json(
        json!({ "ok": true, "data": confide_protocol::market::challenge_typed_data(state.chain_id(), &text) }),
    )
    .into_response())
}

/// Checks `Authorization: <digest>_<signature>_<address>` against the address's challenges.
pub(crate) async fn authenticate(state: &MarketState, headers: &HeaderMap) -> Result<Address, MarketError> {
    let header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or(MarketError::Unauthorized)?;
    state
        .logins
        .lock()
        .await
        .authenticate(header, unix_now())
        .map_err(|_| MarketError::Unauthorized)
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
