//! Confide's formats for secrets. Pure functions over files and bytes: keystores,
//! dataset encryption, sessions sealed to an enclave, and results for the beneficiary.
//!
//! It must never log, print or return a secret in an error message, and never leave a
//! secret in clear on disk: keystores are scrypt-encrypted (Ethereum keystore v3).

mod cbc_ni;
pub mod dataset;
pub mod keystore;
pub mod result;
pub mod result_keys;
pub mod sealed;
