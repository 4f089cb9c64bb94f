//! Protected data at rest (`migrations/0002_protected_data.sql`): one row each, its schema
//! entries again in `protected_data_schema` keyed by entry then creation time (so an
//! entry's protected data read in creation order from its index), and each entry's count
//! in `protected_data_schema_counts` (so a query starts from its rarest entry). The three
//! change together in one transaction.

use sqlx::{AnyPool, Row};

use super::query::{self, Bind, Query};
use crate::MarketError;

/// A protected data as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProtectedDataRow {
    /// The dataset's address, lower-case: its id.
    pub(crate) id: String,
    /// The dataset's name as registered.
    pub(crate) name: String,
    /// The dataset's owner now, lower-case.
    pub(crate) owner: String,
    /// The schema as `DatasetSchema` announced it.
    pub(crate) json_schema: String,
    /// Its valid entries as `path:type` ids, sorted.
    pub(crate) entries: Vec<String>,
    /// The dataset's multiaddr bytes as `0x` hex.
    pub(crate) multiaddr: String,
    /// The dataset's checksum as `0x` hex.
    pub(crate) checksum: String,
    /// The creating block's timestamp (seconds).
    pub(crate) creation_timestamp: i64,
    /// The creating transaction.
    pub(crate) transaction_hash: String,
    /// The creating block.
    pub(crate) block_number: i64,
}

fn storage(error: sqlx::Error) -> MarketError {
    MarketError::Storage(error.to_string())
}

fn read_row(row: &sqlx::any::AnyRow) -> Result<ProtectedDataRow, MarketError> {
    let entries: String = row.try_get("entries").map_err(storage)?;
    Ok(ProtectedDataRow {
        id: row.try_get("id").map_err(storage)?,
        name: row.try_get("name").map_err(storage)?,
        owner: row.try_get("owner").map_err(storage)?,
        json_schema: row.try_get("json_schema").map_err(storage)?,
        entries: entries
            .split('\n')
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect(),
        multiaddr: row.try_get("multiaddr").map_err(storage)?,
        checksum: row.try_get("checksum").map_err(storage)?,
        creation_timestamp: row.try_get("creation_timestamp").map_err(storage)?,
        transaction_hash: row.try_get("transaction_hash").map_err(storage)?,
        block_number: row.try_get("block_number").map_err(storage)?,
    })
}

/// Takes a protected data's row, entries and counts away, inside `tx`; whether it was there.
async fn remove(tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: &str) -> Result<bool, MarketError> {
    let old = sqlx::query("SELECT entries, creation_timestamp FROM protected_data WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(storage)?;
    let Some(old) = old else {
        return Ok(false);
    };
    let entries: String = old.try_get("entries").map_err(storage)?;
    let time: i64 = old.try_get("creation_timestamp").map_err(storage)?;
    for entry in entries.split('\n').filter(|e| !e.is_empty()) {
        sqlx::query(
            "DELETE FROM protected_data_schema WHERE entry = $1 AND creation_timestamp = $2 AND protected_data = $3",
        )
        .bind(entry)
        .bind(time)
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(storage)?;
        sqlx::query("UPDATE protected_data_schema_counts SET n = n - 1 WHERE entry = $1")
            .bind(entry)
            .execute(&mut **tx)
            .await
            .map_err(storage)?;
    }
    sqlx::query("DELETE FROM protected_data WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(storage)?;
    Ok(true)
}

/// Records a protected data, replacing any record of the same id (replays and reorgs
/// bring the same event again, perhaps in another block).
pub(crate) async fn put(pool: &AnyPool, row: &ProtectedDataRow) -> Result<(), MarketError> {
    let mut tx = pool.begin().await.map_err(storage)?;
    remove(&mut tx, &row.id).await?;
    sqlx::query(
        "INSERT INTO protected_data (id, name, owner, json_schema, entries, multiaddr, checksum, creation_timestamp,
            transaction_hash, block_number) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&row.id)
    .bind(&row.name)
    .bind(&row.owner)
    .bind(&row.json_schema)
    .bind(row.entries.join("\n"))
    .bind(&row.multiaddr)
    .bind(&row.checksum)
    .bind(row.creation_timestamp)
    .bind(&row.transaction_hash)
    .bind(row.block_number)
    .execute(&mut *tx)
    .await
    .map_err(storage)?;
    for entry in &row.entries {
        sqlx::query(
            "INSERT INTO protected_data_schema (entry, creation_timestamp, protected_data) VALUES ($1, $2, $3)",
        )
        .bind(entry)
        .bind(row.creation_timestamp)
        .bind(&row.id)
        .execute(&mut *tx)
        .await
        .map_err(storage)?;
        sqlx::query(
            "INSERT INTO protected_data_schema_counts (entry, n) VALUES ($1, 1)
             ON CONFLICT (entry) DO UPDATE SET n = protected_data_schema_counts.n + 1",
        )
        .bind(entry)
        .execute(&mut *tx)
        .await
        .map_err(storage)?;
    }
    tx.commit().await.map_err(storage)
}

/// Forgets a protected data a reorg took off the chain; whether it was recorded.
pub(crate) async fn forget(pool: &AnyPool, id: &str) -> Result<bool, MarketError> {
    let mut tx = pool.begin().await.map_err(storage)?;
    let removed = remove(&mut tx, id).await?;
    tx.commit().await.map_err(storage)?;
    Ok(removed)
}

/// Sets a recorded protected data's owner; whether it is recorded.
pub(crate) async fn set_owner(pool: &AnyPool, id: &str, owner: &str) -> Result<bool, MarketError> {
    let done = sqlx::query("UPDATE protected_data SET owner = $1 WHERE id = $2")
        .bind(owner)
        .bind(id)
        .execute(pool)
        .await
        .map_err(storage)?;
    Ok(done.rows_affected() > 0)
}

/// Whether a protected data of this id is recorded.
pub(crate) async fn known(pool: &AnyPool, id: &str) -> Result<bool, MarketError> {
    let row = sqlx::query("SELECT 1 AS one FROM protected_data WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(storage)?;
    Ok(row.is_some())
}

/// One protected data by id (lower-case address).
pub(crate) async fn get(pool: &AnyPool, id: &str) -> Result<Option<ProtectedDataRow>, MarketError> {
    let row = sqlx::query(&format!(
        "SELECT {} FROM protected_data p WHERE p.id = $1",
        query::COLUMNS
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(storage)?;
    row.as_ref().map(read_row).transpose()
}

/// How many protected data have each of `entries`.
async fn counts(pool: &AnyPool, entries: &[String]) -> Result<Vec<i64>, MarketError> {
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let n = sqlx::query("SELECT n FROM protected_data_schema_counts WHERE entry = $1")
            .bind(entry)
            .fetch_optional(pool)
            .await
            .map_err(storage)?
            .map(|row| row.try_get::<i64, _>("n"))
            .transpose()
            .map_err(storage)?;
        out.push(n.unwrap_or(0));
    }
    Ok(out)
}

/// What went wrong with a list query: the query itself (a GraphQL error for the client)
/// or the database.
#[derive(Debug)]
pub(crate) enum FindError {
    /// The query is refused; the message says why.
    Refused(String),
    /// The database failed.
    Storage(MarketError),
}

impl From<MarketError> for FindError {
    fn from(error: MarketError) -> FindError {
        FindError::Storage(error)
    }
}

/// A row of a page as `query::Fields::page` writes it.
type PageRow = (String, String, String, String, String, String, String, i64, String, i64);

/// The rows of a page the database wrote as JSON (`query::Fields::page`).
fn read_page(page: &str) -> Result<Vec<ProtectedDataRow>, MarketError> {
    let rows: Vec<PageRow> = serde_json::from_str(page)
        .map_err(|error| MarketError::Storage(format!("a page of protected data is not as written: {error}")))?;
    Ok(rows
        .into_iter()
        .map(
            |(
                id,
                name,
                owner,
                json_schema,
                entries,
                multiaddr,
                checksum,
                creation_timestamp,
                transaction_hash,
                block_number,
            )| {
                ProtectedDataRow {
                    id,
                    name,
                    owner,
                    json_schema,
                    entries: entries
                        .split('\n')
                        .filter(|e| !e.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    multiaddr,
                    checksum,
                    creation_timestamp,
                    transaction_hash,
                    block_number,
                }
            },
        )
        .collect())
}

/// The protected data a query asks for, in its order, with the columns `fields` names
/// (the others empty).
pub(crate) async fn find(
    pool: &AnyPool,
    postgres: bool,
    query: &Query,
    fields: query::Fields,
) -> Result<Vec<ProtectedDataRow>, FindError> {
    if query.first == 0 {
        return Ok(Vec::new());
    }
    let mut driver = None;
    if let Some(entries) = query::drivable(query) {
        let counts = counts(pool, &entries).await?;
        let (rarest, count) = entries
            .iter()
            .zip(counts)
            .min_by_key(|(_, n)| *n)
            .expect("drivable queries name at least one entry");
        if count <= 0 {
            return Ok(Vec::new());
        }
        driver = Some(rarest.clone());
    }
    let sql = query::select(query, driver.as_deref(), postgres, fields).map_err(FindError::Refused)?;
    let mut statement = sqlx::query(&sql.text);
    for bind in sql.binds {
        statement = match bind {
            Bind::Text(text) => statement.bind(text),
            Bind::Int(n) => statement.bind(n),
        };
    }
    // SQLite's page cache is set on each connection as it opens (`confide_db::open`).
    let page: String = statement
        .fetch_one(pool)
        .await
        .map_err(storage)?
        .try_get(0)
        .map_err(storage)?;
    Ok(read_page(&page)?)
}
