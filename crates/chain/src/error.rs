use std::path::PathBuf;

use alloy::primitives::Address;

/// Everything that can go wrong talking to PoCo. Messages are one line and name the fix.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("chain node unreachable at {url}: start one with `confide dev up` or pass --rpc-url ({reason})")]
    Unreachable { url: String, reason: String },
    #[error("invalid RPC URL `{0}`: expected http://host:port")]
    InvalidUrl(String),
    #[error("wrong chain: the node at {url} runs chain id {actual}, the configuration expects {expected}")]
    WrongChainId { url: String, expected: u64, actual: u64 },
    #[error("no PoCo contracts at {hub} on chain {chain_id}: deploy with `confide dev up` or fix `hub` in chain.json")]
    NoContracts { hub: Address, chain_id: u64 },
    #[error("PoCo at {hub} is deployed but not configured (its EIP-712 domain is unset)")]
    NotConfigured { hub: Address },
    #[error("cannot read PoCo artifacts at {path}: {reason}")]
    Artifacts { path: PathBuf, reason: String },
    #[error("deployment failed at {step}: {reason}")]
    Deploy { step: String, reason: String },
    #[error("{action} was refused by PoCo: {explanation}")]
    Reverted {
        action: String,
        reason: String,
        explanation: String,
    },
    #[error("{action} failed: the transaction ran out of funds or gas ({reason})")]
    InsufficientFunds { action: String, reason: String },
    #[error("{action} failed: {reason}")]
    Rpc { action: String, reason: String },
    #[error("{action} failed: the node dropped transaction {hash} before mining it; send it again")]
    Dropped {
        action: String,
        hash: alloy::primitives::B256,
    },
    #[error("{what} {address} does not exist on chain")]
    UnknownAsset { what: &'static str, address: Address },
    #[error("no signer: {action} needs a wallet")]
    NoSigner { action: String },
}

impl ChainError {
    /// A stable machine-readable code for `--raw` output and API bodies.
    pub fn code(&self) -> &'static str {
        match self {
            ChainError::Unreachable { .. } => "CHAIN_UNREACHABLE",
            ChainError::InvalidUrl(_) => "INVALID_RPC_URL",
            ChainError::WrongChainId { .. } => "WRONG_CHAIN_ID",
            ChainError::NoContracts { .. } => "NO_POCO_CONTRACTS",
            ChainError::NotConfigured { .. } => "POCO_NOT_CONFIGURED",
            ChainError::Artifacts { .. } => "POCO_ARTIFACTS",
            ChainError::Deploy { .. } => "DEPLOY_FAILED",
            ChainError::Reverted { .. } => "TX_REVERTED",
            ChainError::InsufficientFunds { .. } => "INSUFFICIENT_FUNDS",
            ChainError::Rpc { .. } => "RPC_ERROR",
            ChainError::Dropped { .. } => "TX_DROPPED",
            ChainError::UnknownAsset { .. } => "UNKNOWN_ASSET",
            ChainError::NoSigner { .. } => "NO_SIGNER",
        }
    }

    /// The raw revert reason, when PoCo refused a call.
    pub fn revert_reason(&self) -> Option<&str> {
        match self {
            ChainError::Reverted { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// Turns an RPC or contract failure into plain words, decoding PoCo revert reasons.
    pub(crate) fn from_call(action: &str, error: alloy::contract::Error) -> ChainError {
        if let Some(data) = error.as_revert_data() {
            let reason = decode_revert(&data);
            return ChainError::reverted(action, reason);
        }
        ChainError::from_transport(action, error.to_string())
    }

    pub(crate) fn from_transport(action: &str, message: String) -> ChainError {
        let lower = message.to_ascii_lowercase();
        if lower.contains("execution reverted") || lower.contains("reverted") {
            let reason = message
                .split_once("execution reverted:")
                .map(|(_, r)| r.trim().to_owned())
                .unwrap_or_else(|| "no reason given".to_owned());
            return ChainError::reverted(action, reason);
        }
        if lower.contains("insufficient funds") || lower.contains("out of gas") {
            return ChainError::InsufficientFunds {
                action: action.to_owned(),
                reason: message,
            };
        }
        if lower.contains("connection refused") || lower.contains("error sending request") {
            return ChainError::Unreachable {
                url: String::new(),
                reason: message,
            };
        }
        ChainError::Rpc {
            action: action.to_owned(),
            reason: message,
        }
    }

    fn reverted(action: &str, reason: String) -> ChainError {
        let explanation = confide_protocol::revert::describe(&reason);
        ChainError::Reverted {
            action: action.to_owned(),
            reason,
            explanation,
        }
    }
}

/// Decodes `Error(string)` revert data; other data is shown as hex.
fn decode_revert(data: &[u8]) -> String {
    use alloy::sol_types::SolError;
    match alloy::sol_types::Revert::abi_decode(data) {
        Ok(revert) => revert.reason,
        Err(_) if data.is_empty() => "no reason given".to_owned(),
        Err(_) => format!("0x{}", alloy::hex::encode(data)),
    }
}
