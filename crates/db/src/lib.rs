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

/// The page cache of each SQLite connection, in KiB (32 MiB; SQLite's default is 2 MiB): a
/// query whose rows are scattered over a table (the market's protected data of a rare
/// schema entry, or a far page) reads many pages, and reading them again from the file
/// dominates it (measured over 100,000 protected data: a query reading 5000 rows to find
/// none, 30 → 12 ms at p50). It is a bound, filled as pages are read.
pub const SQLITE_CACHE_KIB: u32 = 32 * 1024;

/// Opens the database at `url` (`sqlite://…?mode=rwc` or `postgres://…`) with a few
/// connections and applies `service`'s `migrations`. SQLite runs in WAL mode: readers never wait for
/// the writer, and a commit is one append and one fsync of the log (synchronous stays
/// FULL, so what was acknowledged survives a power cut). Each SQLite connection may cache
/// up to [`SQLITE_CACHE_KIB`] of pages.
pub async fn open(url: &str, service: &str, migrations: &[Migration]) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(4)
        // The setting is a connection's, and the pool replaces its connections: set it on
        // each as it opens, once.
        .after_connect(|connection, _| {
            Box::pin(async move {
                if connection.backend_name() == "SQLite" {
                    sqlx::query(&format!("PRAGMA cache_size = -{SQLITE_CACHE_KIB}"))
                        .execute(connection)
                        .await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await?;
    migrate::apply(&pool, service, migrations, url.starts_with("postgres")).await?;
    if url.starts_with("sqlite:") {
        sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
    }
    Ok(pool)
}
