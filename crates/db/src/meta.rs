//! Named numbers a service keeps beside its tables (a chain follower's last block), in a
//! table `meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL)` its migrations create.

use sqlx::{AnyPool, Row};

/// The value of `key`, if ever set.
pub async fn get(pool: &AnyPool, key: &str) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query("SELECT value FROM meta WHERE key = $1")
        .bind(key)
        .fetch_optional(pool)
        .await?;
    row.map(|r| r.try_get("value")).transpose()
}

/// Sets `key` to `value`.
pub async fn set(pool: &AnyPool, key: &str, value: i64) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2")
        .bind(key)
        .bind(value)
        .execute(pool)
        .await?;
    Ok(())
}
