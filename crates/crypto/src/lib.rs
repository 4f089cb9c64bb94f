//! Confide's formats for secrets at rest. Pure functions over files and bytes.
//!
//! It must never log, print or return a secret in an error message, and never leave a
//! secret in clear on disk: keystores are scrypt-encrypted (Ethereum keystore v3).

mod cbc_ni;
pub mod dataset;
pub mod keystore;
pub mod result_keys;
