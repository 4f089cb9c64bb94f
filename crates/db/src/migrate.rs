//! Migrations: a service's schema as numbered SQL files (`migrations/0001_initial.sql`,
//! …), applied in order, each once, its version recorded in `schema_migrations` under the
//! service's name (services that share a database keep their versions apart).
//!
//! Files hold statements both SQLite and Postgres accept, each ending with `;` at the end
//! of a line (`--` comment lines are allowed). Replicas starting together on one Postgres
//! apply them one at a time (an advisory lock), so two never race on the same `CREATE`.
//! Databases made before versions were recorded already hold some tables and columns:
//! statements are written to be idempotent (`IF NOT EXISTS`), and an `ADD COLUMN` whose
//! column exists is taken as done.

use sqlx::{AnyConnection, AnyPool, Row};

/// One file of a service's schema, embedded at build time:
///
/// ```
/// const MIGRATIONS: &[confide_db::Migration] = &[confide_db::Migration {
///     version: 1,
///     name: "initial",
///     sql: "CREATE TABLE IF NOT EXISTS things (id TEXT PRIMARY KEY);",
/// }];
/// # assert_eq!(MIGRATIONS[0].statements().count(), 1);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// Its number: files apply in this order, each once.
    pub version: i64,
    /// The file's name after its number (`initial` for `0001_initial.sql`), recorded
    /// beside the version.
    pub name: &'static str,
    /// The file's text: statements each ending with `;` at the end of a line.
    pub sql: &'static str,
}

impl Migration {
    /// Its statements, without comments.
    pub fn statements(&self) -> impl Iterator<Item = String> + '_ {
        let code: Vec<&str> = self
            .sql
            .lines()
            .filter(|line| !line.trim_start().starts_with("--"))
            .collect();
        let code = code.join("\n");
        code.split(";\n")
            .map(|s| s.trim().trim_end_matches(';').trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .into_iter()
    }
}

/// The advisory lock replicas take around migrating ("confide" in ASCII).
const LOCK_KEY: i64 = 0x0063_6f6e_6669_6465;

/// Applies the migrations of `service` that `pool` has not recorded yet, in version order.
pub async fn apply(pool: &AnyPool, service: &str, migrations: &[Migration], postgres: bool) -> Result<(), sqlx::Error> {
    let mut connection = pool.acquire().await?;
    if !postgres {
        return apply_on(&mut connection, service, migrations).await;
    }
    sqlx::query("SELECT 1 FROM (SELECT pg_advisory_lock($1)) AS locked")
        .bind(LOCK_KEY)
        .execute(&mut *connection)
        .await?;
    let applied = apply_on(&mut connection, service, migrations).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *connection)
        .await;
    if unlocked.is_err() {
        // Never back to the pool holding the lock: closing the session releases it.
        drop(connection.detach());
    }
    applied?;
    unlocked.map(drop)
}

async fn apply_on(connection: &mut AnyConnection, service: &str, migrations: &[Migration]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            service TEXT NOT NULL, version BIGINT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (service, version))",
    )
    .execute(&mut *connection)
    .await?;
    let rows = sqlx::query("SELECT version FROM schema_migrations WHERE service = $1")
        .bind(service)
        .fetch_all(&mut *connection)
        .await?;
    let done: Vec<i64> = rows.iter().map(|r| r.try_get("version")).collect::<Result<_, _>>()?;
    let mut pending: Vec<&Migration> = migrations.iter().filter(|m| !done.contains(&m.version)).collect();
    pending.sort_by_key(|m| m.version);
    for migration in pending {
        for statement in migration.statements() {
            run(connection, &statement).await?;
        }
        sqlx::query(
            "INSERT INTO schema_migrations (service, version, name) VALUES ($1, $2, $3)
             ON CONFLICT (service, version) DO NOTHING",
        )
        .bind(service)
        .bind(migration.version)
        .bind(migration.name)
        .execute(&mut *connection)
        .await?;
    }
    Ok(())
}

async fn run(connection: &mut AnyConnection, statement: &str) -> Result<(), sqlx::Error> {
    match sqlx::query(statement).execute(&mut *connection).await {
        Err(e) if adds_a_column(statement) && column_exists(&e) => Ok(()),
        other => other.map(drop),
    }
}

/// One column added, alone: a statement adding several fails whole when one exists, and
/// taking it as done would lose the others.
fn adds_a_column(statement: &str) -> bool {
    let upper = statement.to_ascii_uppercase();
    upper.starts_with("ALTER TABLE") && upper.matches("ADD COLUMN").count() == 1
}

/// SQLite: "duplicate column name"; Postgres: error 42701 (duplicate_column).
fn column_exists(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(e) => e.code().as_deref() == Some("42701") || e.message().contains("duplicate column"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: Migration = Migration {
        version: 1,
        name: "initial",
        sql: "-- the first table\nCREATE TABLE IF NOT EXISTS t (id TEXT PRIMARY KEY);\n",
    };
    const V2: Migration = Migration {
        version: 2,
        name: "more",
        sql: "ALTER TABLE t ADD COLUMN n BIGINT NOT NULL DEFAULT 7;\nINSERT INTO t (id) VALUES ('once');\n",
    };

    async fn pool(dir: &tempfile::TempDir) -> AnyPool {
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
        crate::open(&url, "test", &[]).await.unwrap()
    }

    #[tokio::test]
    async fn each_migration_applies_once_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir).await;
        // Out of order in the list: applied by version.
        apply(&pool, "test", &[V2, V1], false).await.unwrap();
        apply(&pool, "test", &[V1, V2], false).await.unwrap();
        let rows = sqlx::query("SELECT id, n FROM t").fetch_all(&pool).await.unwrap();
        assert_eq!(rows.len(), 1, "the insert of V2 ran once");
        assert_eq!(rows[0].try_get::<i64, _>("n").unwrap(), 7);
        // Another service's version 1 is its own.
        let other = Migration {
            version: 1,
            name: "other",
            sql: "CREATE TABLE IF NOT EXISTS u (id TEXT PRIMARY KEY);\n",
        };
        apply(&pool, "other", &[other], false).await.unwrap();
        sqlx::query("SELECT id FROM u").fetch_all(&pool).await.unwrap();
    }

    #[tokio::test]
    async fn a_column_a_database_already_has_counts_as_added() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir).await;
        // Made before versions were recorded: the table has the column already.
        sqlx::query("CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT NOT NULL DEFAULT 7)")
            .execute(&pool)
            .await
            .unwrap();
        apply(&pool, "test", &[V1, V2], false).await.unwrap();
        // Any other error still stops the migration.
        let broken = Migration {
            version: 3,
            name: "broken",
            sql: "ALTER TABLE missing ADD COLUMN x BIGINT;\n",
        };
        assert!(apply(&pool, "test", &[broken], false).await.is_err());
    }
}
