//! What Confide's integration tests and benchmarks stand on: a throwaway chain with PoCo
//! deployed ([`chain`]), throwaway PostgreSQL and S3 servers ([`postgres`], [`s3`]), a
//! headless browser ([`browser`]), and the small helpers every test repeated (waiting for
//! a condition, quantiles, a benchmark's runtime and its sizes from the environment).
//!
//! It is for `[dev-dependencies]` only: it panics where a test should fail, uses the dev
//! accounts' public keys, and must never be linked by a service or the CLI.

pub mod apps;
pub mod bench;
pub mod browser;
pub mod chain;
pub mod postgres;
pub mod s3;
pub mod wait;

pub use apps::example_app;
pub use chain::{TestChain, ephemeral_chain};
pub use postgres::TempPostgres;
