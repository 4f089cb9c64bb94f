//! The off-chain half of iExec's PoCo protocol, as the deployed contracts define it.
//!
//! Everything here is a pure function of its inputs: order types and their iExec JSON
//! shape, EIP-712 hashing and signing, deal and task identifiers, tag bits, and the
//! messages that schedulers, workers and enclaves sign. It must never do I/O, know about
//! services, or hold state: every other crate builds on it, and the chain tests check it
//! against the real PoCo contracts.

pub mod amount;
pub mod bulk;
pub mod domain;
pub mod ids;
pub mod ipfs;
pub mod market;
pub mod messages;
pub mod order;
pub mod python;
pub mod refusal;
pub mod revert;
pub mod sms;
pub mod store;
pub mod tag;
pub mod tee;
pub mod workerpool;

pub use domain::{DOMAIN_NAME, DOMAIN_VERSION, Domain};
pub use ids::{deal_id, task_id};
pub use order::{AppOrder, DatasetOrder, Order, OrderKind, RequestOrder, WorkerpoolOrder};
pub use tag::Tag;

/// What can go wrong when reading or signing protocol data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tag name other than `tee`, `scone`, `gramine`, `tdx` or `gpu` (the name as given).
    #[error("unknown tag name `{0}`: use tee, scone, gramine, tdx, gpu or a 0x-prefixed 32-byte hex value")]
    UnknownTag(String),
    /// A `0x` tag that is not hex, or is longer than 32 bytes (the text as given).
    #[error("invalid tag `{0}`: expected a 0x-prefixed hex value of at most 32 bytes")]
    InvalidTagHex(String),
    /// Tag names that ask for a TEE framework (`scone`, `gramine` or `tdx`) without `tee` (the
    /// names, comma-separated).
    #[error("tag `{0}` asks for a TEE framework without the `tee` bit")]
    FrameworkWithoutTee(String),
    /// Tag names that ask for more than one TEE framework (the names, comma-separated).
    #[error("tag `{0}` names more than one TEE framework")]
    SeveralFrameworks(String),
    /// An amount that is neither whole nRLC nor RLC with at most 9 decimals (the text given).
    #[error("invalid amount `{0}`: expected a whole number of nRLC, or a value with a unit such as `1.5 RLC`")]
    InvalidAmount(String),
    /// The signer could not sign an order or a message.
    #[error("signing failed: {0}")]
    Signing(#[from] alloy_signer::Error),
}
