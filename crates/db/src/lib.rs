//! What Confide's services do alike in their SQL databases, through sqlx's `Any` driver
//! (SQLite as the embedded default, Postgres when replicas share one): open a pool
//! ([`open`]), bring its tables up to date from numbered SQL files ([`migrate`]), keep
//! small named numbers such as a follower's last block ([`meta`]), and hold leases among
//! replicas ([`lease`]).
//!
//! It knows nothing of the services' tables: each service keeps its migrations in its own
//! `migrations/` folder and hands them over.

pub mod lease;
pub mod meta;
pub mod migrate;

pub use migrate::Migration;

use sqlx::AnyPool;

/// Opens the database at `url` (`sqlite://…?mode=rwc` or `postgres://…`) with a few
/// connections and applies `service`'s `migrations`. SQLite runs in WAL mode: readers never wait for
/// the writer, and a commit is one append and one fsync of the log (synchronous stays
/// FULL, so what was acknowledged survives a power cut).
pub async fn open(url: &str, service: &str, migrations: &[Migration]) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(4).connect(url).await?;
    migrate::apply(&pool, service, migrations, url.starts_with("postgres")).await?;
    if url.starts_with("sqlite:") {
        sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
    }
    Ok(pool)
}
