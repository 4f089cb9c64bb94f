//! The crate's one error type, [`ChainError`]: every failure of the node, of PoCo or of a
//! deployment, in words that name the fix, with a stable code for machines.

use std::path::PathBuf;

use alloy::primitives::Address;
use alloy::transports::{RpcError, TransportError, TransportErrorKind};

/// Everything that can go wrong talking to PoCo. Messages are one line and name the fix.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The node did not answer, or the way to it failed (connection refused, timeout).
    #[error("chain node unreachable at {url}: start one with `confide dev up` or pass --rpc-url ({reason})")]
    Unreachable {
        /// The node's URL; empty when the failure came up in a call after connecting.
        url: String,
        /// What the transport reported.
        reason: String,
    },
    /// The RPC URL given (held here as given) does not parse.
    #[error("invalid RPC URL `{0}`: expected http://host:port")]
    InvalidUrl(String),
    /// The node runs another chain than the configuration names.
    #[error("wrong chain: the node at {url} runs chain id {actual}, the configuration expects {expected}")]
    WrongChainId {
        /// The node's URL.
        url: String,
        /// The chain id the configuration names.
        expected: u64,
        /// The chain id the node reported.
        actual: u64,
    },
    /// There is no contract at the address given as the hub.
    #[error("no PoCo contracts at {hub} on chain {chain_id}: deploy with `confide dev up` or fix `hub` in chain.json")]
    NoContracts {
        /// The address where the hub was expected.
        hub: Address,
        /// The chain that was looked at.
        chain_id: u64,
    },
    /// A contract is at the hub, but PoCo's `configure` was never called (its EIP-712
    /// domain separator is zero).
    #[error("PoCo at {hub} is deployed but not configured (its EIP-712 domain is unset)")]
    NotConfigured {
        /// The hub's address.
        hub: Address,
    },
    /// A file of the `@iexec/poco` package is missing or unreadable, or the package is not
    /// the pinned version.
    #[error("cannot read PoCo artifacts at {path}: {reason}")]
    Artifacts {
        /// The file that could not be used.
        path: PathBuf,
        /// Why: the I/O or parse error, or the version found.
        reason: String,
    },
    /// A step of deploying PoCo failed outside a contract call: a library not deployed
    /// yet, bytecode that is not hex, a receipt that names no contract.
    #[error("deployment failed at {step}: {reason}")]
    Deploy {
        /// The step, in words (`link IexecPoco1Facet`, `deploy Diamond`).
        step: String,
        /// What went wrong.
        reason: String,
    },
    /// PoCo refused a call (it reverted when estimated or simulated), or a mined
    /// transaction reverted.
    #[error("{action} was refused by PoCo: {explanation}")]
    Reverted {
        /// What was being done, in words (`deposit`, `matching orders`).
        action: String,
        /// The revert reason as the contract gave it (`iExecV5-matchOrders-0x10`), or a
        /// short stand-in when it gave none; see [`ChainError::revert_reason`].
        reason: String,
        /// The reason in plain words, PoCo's codes decoded.
        explanation: String,
    },
    /// The wallet or the escrow account holds too little for the amount asked or the gas,
    /// as the node said or as a check before sending found.
    #[error("{action} failed: the transaction ran out of funds or gas ({reason})")]
    InsufficientFunds {
        /// What was being done, in words.
        action: String,
        /// The node's message, or the balance held and the amount asked (nRLC).
        reason: String,
    },
    /// Any other failed call: an error the node gave in words, an answer that does not
    /// decode, a receipt that did not come in time.
    #[error("{action} failed: {reason}")]
    Rpc {
        /// What was being done, in words.
        action: String,
        /// What the node or alloy reported.
        reason: String,
    },
    /// A submitted transaction vanished from the node before it was mined (evicted from
    /// its pool, or invalid once a reorg took its predecessors away).
    #[error("{action} failed: the node dropped transaction {hash} before mining it; send it again")]
    Dropped {
        /// What was being done, in words.
        action: String,
        /// The hash of the transaction that vanished.
        hash: alloy::primitives::B256,
    },
    /// The registry of that kind does not know the address.
    #[error("{what} {address} does not exist on chain")]
    UnknownAsset {
        /// The kind looked for: `app`, `dataset` or `workerpool`.
        what: &'static str,
        /// The address looked up.
        address: Address,
    },
    /// A transaction is needed, but the connection has no wallet to sign it.
    #[error("no signer: {action} needs a wallet")]
    NoSigner {
        /// What needed the wallet, in words.
        action: String,
    },
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

    /// Turns a contract call's failure into plain words, decoding PoCo revert reasons.
    pub(crate) fn from_call(action: &str, error: alloy::contract::Error) -> ChainError {
        match error {
            alloy::contract::Error::TransportError(error) => ChainError::from_rpc(action, &error),
            // An answer that does not decode, an unknown function: the contract is not
            // the one expected, or the node answered nonsense.
            other => ChainError::Rpc {
                action: action.to_owned(),
                reason: other.to_string(),
            },
        }
    }

    /// Classifies a failed JSON-RPC call by what failed: the node's refusal
    /// ([`RpcError::ErrorResp`]), the way to the node (a transport error), or anything else.
    pub(crate) fn from_rpc(action: &str, error: &TransportError) -> ChainError {
        match error {
            RpcError::ErrorResp(payload) => {
                if let Some(data) = payload.as_revert_data() {
                    return ChainError::reverted(action, decode_revert(&data));
                }
                let data = payload.data.as_ref().map_or("", |d| d.get());
                ChainError::from_node_words(action, &payload.message, data)
            }
            RpcError::Transport(TransportErrorKind::Custom(_) | TransportErrorKind::BackendGone) => {
                ChainError::Unreachable {
                    url: String::new(),
                    reason: error.to_string(),
                }
            }
            _ => ChainError::Rpc {
                action: action.to_owned(),
                reason: error.to_string(),
            },
        }
    }

    /// A refusal whose revert data alloy did not find: nodes say what it is in words, each
    /// its own (JSON-RPC codes differ from node to node; geth answers -32000 to all of these).
    fn from_node_words(action: &str, message: &str, data: &str) -> ChainError {
        // OpenEthereum: "VM execution error." with the revert data as "Reverted 0x…".
        let reverted_data = data.trim_matches('"').strip_prefix("Reverted ");
        if let Some(bytes) = reverted_data.and_then(|hex| alloy::hex::decode(hex).ok()) {
            return ChainError::reverted(action, decode_revert(&bytes));
        }
        let lower = format!("{message} {data}").to_ascii_lowercase();
        if lower.contains("revert") {
            return ChainError::reverted(action, revert_reason_in_words(message));
        }
        if lower.contains("insufficient funds") || lower.contains("out of gas") {
            return ChainError::InsufficientFunds {
                action: action.to_owned(),
                reason: message.to_owned(),
            };
        }
        ChainError::Rpc {
            action: action.to_owned(),
            reason: message.to_owned(),
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

/// The reason in a node's words: geth's `execution reverted: <reason>`, Hardhat's
/// `reverted with reason string '<reason>'`.
fn revert_reason_in_words(message: &str) -> String {
    if let Some((_, reason)) = message.split_once("execution reverted:") {
        return reason.trim().to_owned();
    }
    if let Some((_, reason)) = message.split_once("reverted with reason string '") {
        return reason.trim_end().trim_end_matches('\'').to_owned();
    }
    "no reason given".to_owned()
}

/// Decodes `Error(string)` revert data; other data is shown as hex.
fn decode_revert(data: &[u8]) -> String {
    use alloy::sol_types::SolError;
    use alloy::sol_types::SolValue;
    match alloy::sol_types::Revert::abi_decode(data) {
        Ok(revert) => revert.reason,
        Err(_) if data.is_empty() => "no reason given".to_owned(),
        // A custom error carrying one string (PoCo's `IncompatibleDatasetOrder(string)`).
        Err(_) if data.len() > 4 && String::abi_decode(&data[4..]).is_ok() => {
            String::abi_decode(&data[4..]).unwrap_or_default()
        }
        Err(_) => format!("0x{}", alloy::hex::encode(data)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_refusal(json: &str) -> TransportError {
        RpcError::ErrorResp(serde_json::from_str(json).unwrap())
    }

    #[test]
    fn a_revert_with_data_is_decoded_as_poco_says_it() {
        // Error(string), as anvil answers an estimate that PoCo refuses.
        use alloy::sol_types::SolError;
        let data = alloy::sol_types::Revert::from("iExecV5-matchOrders-0x10").abi_encode();
        let json = format!(
            r#"{{"code":3,"message":"execution reverted","data":"0x{}"}}"#,
            alloy::hex::encode(data)
        );
        let error = ChainError::from_rpc("match", &node_refusal(&json));
        assert_eq!(error.code(), "TX_REVERTED");
        assert_eq!(error.revert_reason(), Some("iExecV5-matchOrders-0x10"));
        // OpenEthereum names none of it in its message: the data says "Reverted 0x…".
        let json = format!(
            r#"{{"code":-32015,"message":"VM execution error.","data":"Reverted 0x{}"}}"#,
            alloy::hex::encode(alloy::sol_types::Revert::from("iExecV5-x").abi_encode())
        );
        assert_eq!(
            ChainError::from_rpc("match", &node_refusal(&json)).revert_reason(),
            Some("iExecV5-x")
        );
    }

    #[test]
    fn refusals_without_data_are_read_from_the_nodes_words() {
        let reverted = node_refusal(r#"{"code":-32000,"message":"execution reverted: iExecV5-deposit-0x01"}"#);
        let error = ChainError::from_rpc("deposit", &reverted);
        assert_eq!(error.revert_reason(), Some("iExecV5-deposit-0x01"));
        let poor = node_refusal(r#"{"code":-32003,"message":"Insufficient funds for gas * price + value"}"#);
        assert_eq!(ChainError::from_rpc("send", &poor).code(), "INSUFFICIENT_FUNDS");
        let hardhat = node_refusal(
            r#"{"code":-32603,"message":"VM Exception while processing transaction: reverted with reason string 'iExecV5-x'"}"#,
        );
        assert_eq!(
            ChainError::from_rpc("call", &hardhat).revert_reason(),
            Some("iExecV5-x")
        );
        let other = node_refusal(r#"{"code":-32601,"message":"method not found"}"#);
        assert_eq!(ChainError::from_rpc("call", &other).code(), "RPC_ERROR");
    }

    #[test]
    fn a_node_that_cannot_be_reached_is_unreachable_not_a_refusal() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let error = ChainError::from_rpc("read block number", &TransportErrorKind::custom(refused));
        assert_eq!(error.code(), "CHAIN_UNREACHABLE");
        // An answer that is no JSON-RPC answer at all is an RPC error, whatever its words.
        let garbled = RpcError::NullResp;
        assert_eq!(ChainError::from_rpc("read", &garbled).code(), "RPC_ERROR");
    }
}
