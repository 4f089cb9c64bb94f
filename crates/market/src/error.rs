//! The market's refusals: a stable code and an HTTP status each.

use super::*;

/// Why the market refused a request; each has a stable code (`code`) and an HTTP status,
/// sent in iExec's market error body.
#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    /// The request is malformed: invalid JSON or order, a missing or unparsable parameter,
    /// zero volume, oversized params; the message names what to fix.
    #[error("{0}")]
    BadRequest(String),
    /// The `authorization` header is missing, forged or expired: sign a fresh challenge
    /// from `GET /challenge`.
    #[error("missing or invalid authorization: get a challenge from /challenge and sign it")]
    Unauthorized,
    /// The order or request names another chain; it carries the chain id this market serves.
    #[error("wrong chain: this market serves chain {0}")]
    WrongChain(u64),
    /// The order's EIP-712 signature does not recover to the asset's on-chain owner (the
    /// requester for a request order), whose address it carries.
    #[error("the order's signature is not its owner's ({0})")]
    BadSignature(String),
    /// The order's app, dataset or workerpool is not in PoCo's registry of its kind.
    #[error("{0} is not a registered asset on this chain")]
    UnknownAsset(Address),
    /// PoCo says the order is fully consumed or cancelled, so it cannot be published.
    #[error("the order has no volume left on chain (consumed or cancelled)")]
    NoVolume,
    /// An order with the same hash is already in the book.
    #[error("this order is already published")]
    Duplicate,
    /// No order in the book has the requested hash.
    #[error("no such order")]
    NotFound,
    /// The explorer was asked for an asset, deal or task the chain does not know; the
    /// message says which.
    #[error("{0}")]
    NotOnChain(String),
    /// The signer already has as many open orders of this kind as the market keeps for
    /// one wallet ([`MAX_OPEN_ORDERS_PER_SIGNER`] by default): unpublish some first.
    #[error("this wallet has as many open orders of this kind as the market keeps for one: unpublish some first")]
    TooManyOrders,
    /// An unpublish named an order signed by someone other than the logged-in wallet.
    #[error("only the order's signer can unpublish it")]
    NotYours,
    /// A chain read failed or did not answer in time; it carries the chain error's code
    /// only (the full error is logged). Try again later.
    #[error("the chain is unreachable: {0}")]
    Chain(String),
    /// The market's database failed or holds a row it cannot read.
    #[error("storage failed: {0}")]
    Storage(String),
}

impl MarketError {
    /// The refusal's stable code (such as `INVALID_SIGNATURE`), which clients match on.
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
            MarketError::TooManyOrders => "TOO_MANY_ORDERS",
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
            MarketError::TooManyOrders => StatusCode::TOO_MANY_REQUESTS,
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
