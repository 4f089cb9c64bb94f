//! The market's refusals: a stable code and an HTTP status each.

use super::*;

#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or invalid authorization: get a challenge from /challenge and sign it")]
    Unauthorized,
    #[error("wrong chain: this market serves chain {0}")]
    WrongChain(u64),
    #[error("the order's signature is not its owner's ({0})")]
    BadSignature(String),
    #[error("{0} is not a registered asset on this chain")]
    UnknownAsset(Address),
    #[error("the order has no volume left on chain (consumed or cancelled)")]
    NoVolume,
    #[error("this order is already published")]
    Duplicate,
    #[error("no such order")]
    NotFound,
    #[error("{0}")]
    NotOnChain(String),
    #[error("only the order's signer can unpublish it")]
    NotYours,
    #[error("the chain is unreachable: {0}")]
    Chain(String),
    #[error("storage failed: {0}")]
    Storage(String),
}

impl MarketError {
    pub fn code(&self) -> &'static str {
        match self {
            MarketError::BadRequest(_) => "BAD_REQUEST",
            MarketError::Unauthorized => "UNAUTHORIZED",
            MarketError::WrongChain(_) => "WRONG_CHAIN_ID",
            MarketError::BadSignature(_) => "INVALID_SIGNATURE",
            MarketError::UnknownAsset(_) => "UNKNOWN_ASSET",
            MarketError::NoVolume => "NO_VOLUME_LEFT",
            MarketError::Duplicate => "DUPLICATE_ORDER",
            MarketError::NotFound => "ORDER_NOT_FOUND",
            MarketError::NotOnChain(_) => "NOT_ON_CHAIN",
            MarketError::NotYours => "NOT_YOURS",
            MarketError::Chain(_) => "CHAIN_UNREACHABLE",
            MarketError::Storage(_) => "STORAGE_ERROR",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            MarketError::BadRequest(_) | MarketError::WrongChain(_) | MarketError::NoVolume => StatusCode::BAD_REQUEST,
            MarketError::BadSignature(_) | MarketError::UnknownAsset(_) => StatusCode::BAD_REQUEST,
            MarketError::Unauthorized => StatusCode::UNAUTHORIZED,
            MarketError::NotYours => StatusCode::FORBIDDEN,
            MarketError::Duplicate => StatusCode::CONFLICT,
            MarketError::NotFound | MarketError::NotOnChain(_) => StatusCode::NOT_FOUND,
            MarketError::Chain(_) => StatusCode::SERVICE_UNAVAILABLE,
            MarketError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<confide_chain::ChainError> for MarketError {
    /// Clients get the error's code only: its text can hold the node's URL, and with it
    /// an RPC provider's API key. The whole error goes to the log.
    fn from(error: confide_chain::ChainError) -> MarketError {
        tracing::warn!(%error, "a chain read failed");
        MarketError::Chain(error.code().to_owned())
    }
}

impl IntoResponse for MarketError {
    fn into_response(self) -> Response {
        let refusal = confide_protocol::refusal::Refusal::new(self.code(), self.to_string());
        (self.status(), axum::Json(refusal.to_market_json())).into_response()
    }
}
