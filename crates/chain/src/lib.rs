//! iExec's PoCo v6 on any EVM chain, seen from Rust.
//!
//! This crate deploys the real contracts of `@iexec/poco`, and beside them only two small
//! contracts of Confide's own (`contracts/`: a DataProtector with iExec's ABI, and ERC-734
//! app whitelists), reads and writes apps, datasets, protected data, workerpools, accounts,
//! orders, deals and tasks, and streams the events the services follow. Revert codes are
//! turned into plain words.
//! It must never hold a user's secrets beyond the signer it is given, nor know about the
//! services built on it.

pub mod artifacts;
pub mod bindings;
pub mod client;
pub mod connection;
mod convert;
pub mod deploy;
pub mod error;
pub mod events;

pub use artifacts::PocoPackage;
pub use client::{
    AppInfo, AssetKind, ContributionInfo, DatasetInfo, DealInfo, MatchedDeal, NewProtectedData, Poco, TaskInfo,
    TaskStatus, WHITELIST_PURPOSE, WorkerpoolInfo,
};
pub use connection::Connection;
pub use deploy::{Categories, DeployOutcome, Deployment, deploy_or_find};
pub use error::ChainError;
pub use events::{EventCursor, PocoEvent, PocoLog};

pub use alloy::primitives::{Address, B256, Bytes, Signature, U256, hex};
pub use alloy::signers::local::PrivateKeySigner;
