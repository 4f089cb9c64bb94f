pub mod dev;
pub mod info;
