pub mod account;
pub mod asset;
pub mod dataset;
pub mod dev;
pub mod info;
pub mod init;
pub mod tee;
pub mod wallet;
