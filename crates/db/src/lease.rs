//! Leases: which replica of a service does a job only one may do at a time (following
//! the chain, scheduling a workerpool). A lease is held until its expiry; its holder renews it well
//! before, and another replica takes it once it has expired.
//!
//! A lease is not a lock: a holder that stalls past its expiry can wake up and act once
//! more before it sees the lease gone. Jobs under a lease must be idempotent, or check
//! [`held`] in the statement that acts.

use sqlx::AnyPool;

/// The table leases live in (services create it in one of their migrations).
pub const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_ms BIGINT NOT NULL)";

/// Takes or renews lease `name` for `holder` until `now_ms + duration_ms`: `true` when
/// `holder` holds it now, `false` while another holder's lease runs. One statement, so
/// replicas asking at the same moment cannot both win.
pub async fn take(
    pool: &AnyPool,
    name: &str,
    holder: &str,
    now_ms: i64,
    duration_ms: i64,
) -> Result<bool, sqlx::Error> {
    let taken = sqlx::query(
        "INSERT INTO leases (name, holder, expires_ms) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET holder = $2, expires_ms = $3
         WHERE leases.holder = $2 OR leases.expires_ms < $4",
    )
    .bind(name)
    .bind(holder)
    .bind(now_ms + duration_ms)
    .bind(now_ms)
    .execute(pool)
    .await?;
    Ok(taken.rows_affected() == 1)
}

/// Whether `holder` holds lease `name` at `now_ms`.
pub async fn held(pool: &AnyPool, name: &str, holder: &str, now_ms: i64) -> Result<bool, sqlx::Error> {
    let row = sqlx::query("SELECT 1 FROM leases WHERE name = $1 AND holder = $2 AND expires_ms >= $3")
        .bind(name)
        .bind(holder)
        .bind(now_ms)
        .fetch_optional(pool)
        .await?;
    Ok(row.is_some())
}

/// Gives lease `name` up if `holder` holds it (a clean shutdown: another replica, or this
/// one restarted, takes it at once instead of after its expiry).
pub async fn release(pool: &AnyPool, name: &str, holder: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
        .bind(name)
        .bind(holder)
        .execute(pool)
        .await?;
    Ok(())
}

/// A name for a lease holder, unique among this host's processes and within this one.
pub fn holder_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!(
        "{}-{nanos:x}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_at_a_time_until_its_lease_expires() {
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::query(SCHEMA).execute(&pool).await.unwrap();
        let (a, b) = (holder_id(), holder_id());
        assert_ne!(a, b);
        assert!(take(&pool, "job", &a, 1_000, 500).await.unwrap());
        assert!(!take(&pool, "job", &b, 1_200, 500).await.unwrap(), "a's lease runs");
        assert!(take(&pool, "job", &a, 1_400, 500).await.unwrap(), "renewed");
        assert!(held(&pool, "job", &a, 1_800).await.unwrap());
        assert!(!take(&pool, "job", &b, 1_800, 500).await.unwrap(), "renewed to 1_900");
        assert!(take(&pool, "job", &b, 1_901, 500).await.unwrap(), "expired: taken over");
        assert!(!held(&pool, "job", &a, 1_901).await.unwrap());
        assert!(
            take(&pool, "other", &a, 1_901, 500).await.unwrap(),
            "leases are by name"
        );
    }
}
