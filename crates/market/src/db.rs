//! Orders at rest: SQLite by default, Postgres through sqlx's `Any` driver. Each row keeps
//! the signed order as published plus the columns the order book filters and sorts on.

use std::collections::{HashMap, HashSet};

use sqlx::{AnyPool, Row};
use tokio::sync::{mpsc, oneshot};

use crate::MarketError;

/// Orders written in one statement at most (17 parameters each, well under SQLite's limit).
const MAX_BATCH: usize = 64;

/// The market's schema, `migrations/` applied in order.
const MIGRATIONS: &[confide_db::Migration] = &[
    confide_db::Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    confide_db::Migration {
        version: 2,
        name: "protected_data",
        sql: include_str!("../migrations/0002_protected_data.sql"),
    },
    confide_db::Migration {
        version: 3,
        name: "orders_by_signer",
        sql: include_str!("../migrations/0003_orders_by_signer.sql"),
    },
];

/// The Postgres channel replicas tell each other of order book changes on.
pub const EVENTS_CHANNEL: &str = "confide_market_events";

/// Sends announced changes with `pg_notify`, one after the other (so in order).
async fn send_announcements(pool: AnyPool, mut queue: mpsc::UnboundedReceiver<String>) {
    while let Some(payload) = queue.recv().await {
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(EVENTS_CHANNEL)
            .bind(&payload)
            .execute(&pool)
            .await;
        if let Err(error) = sent {
            tracing::warn!(%error, "an order book change was not told to the other replicas");
        }
    }
}

/// Relays the changes every replica announces on `url`'s [`EVENTS_CHANNEL`] to `events`,
/// reconnecting when the connection drops, for as long as the market runs.
pub async fn relay_announcements(url: String, events: tokio::sync::broadcast::Sender<serde_json::Value>) {
    loop {
        match sqlx::postgres::PgListener::connect(&url).await {
            Ok(mut listener) => {
                if let Err(error) = listener.listen(EVENTS_CHANNEL).await {
                    tracing::warn!(%error, "cannot listen for other replicas' changes");
                } else {
                    while let Ok(notification) = listener.recv().await {
                        if let Ok(value) = serde_json::from_str(notification.payload()) {
                            let _ = events.send(value);
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot listen for other replicas' changes"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// Reads the login key, made once by whichever replica opens the database first.
async fn login_key(pool: &AnyPool) -> Result<[u8; 32], MarketError> {
    let fresh = confide_chain::hex::encode(rand::random::<[u8; 32]>());
    sqlx::query("INSERT INTO market_keys (name, value) VALUES ('login', $1) ON CONFLICT DO NOTHING")
        .bind(&fresh)
        .execute(pool)
        .await
        .map_err(storage)?;
    let text: String = sqlx::query("SELECT value FROM market_keys WHERE name = 'login'")
        .fetch_one(pool)
        .await
        .map_err(storage)?
        .try_get("value")
        .map_err(storage)?;
    let mut key = [0u8; 32];
    confide_chain::hex::decode_to_slice(&text, &mut key)
        .map_err(|_| MarketError::Storage("the stored login key is not 32 bytes of hex".into()))?;
    Ok(key)
}

fn storage(error: sqlx::Error) -> MarketError {
    MarketError::Storage(error.to_string())
}

/// Where a published order stands: `open` (in the book), `filled` (its volume consumed),
/// `canceled` (closed on chain by its signer), `dead` (its asset changed owner, so its
/// signature no longer binds; back to `open` if the asset comes back), `unpublished`
/// (withdrawn from the book by its signer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderStatus {
    /// In the book, with volume left on chain.
    Open,
    /// Its whole volume consumed by deals on chain.
    Filled,
    /// Closed on chain by its signer (`manage*Order`).
    Canceled,
    /// Its asset changed owner; open again if the asset comes back to the signer.
    Dead,
    /// Withdrawn from the book by its signer (`PUT /apporders` and the like); still valid on chain.
    Unpublished,
}

impl OrderStatus {
    const ALL: [OrderStatus; 5] = [
        OrderStatus::Open,
        OrderStatus::Filled,
        OrderStatus::Canceled,
        OrderStatus::Dead,
        OrderStatus::Unpublished,
    ];

    /// Its word in the database, the API and the event stream.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Open => "open",
            OrderStatus::Filled => "filled",
            OrderStatus::Canceled => "canceled",
            OrderStatus::Dead => "dead",
            OrderStatus::Unpublished => "unpublished",
        }
    }

    fn parse(word: &str) -> Result<OrderStatus, MarketError> {
        OrderStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == word)
            .ok_or_else(|| MarketError::Storage(format!("invalid order status `{word}`")))
    }
}

/// One published order as stored.
#[derive(Clone, Debug)]
pub struct StoredOrder {
    /// The order's EIP-712 hash, its identifier: 0x-prefixed lower-case hex.
    pub hash: String,
    /// `apporder`, `datasetorder`, `workerpoolorder` or `requestorder`.
    pub kind: String,
    /// The address the order is about, lower-case: its app, dataset or workerpool, or a
    /// request order's requester.
    pub subject: String,
    /// The address that signed it (the subject's owner when published), lower-case.
    pub signer: String,
    /// Its price in nRLC; a request order's is the sum of its three maximum prices.
    pub price: i64,
    /// The low 63 bits of its tag (TEE, framework and GPU bits).
    pub tag_bits: i64,
    /// The category of a workerpool or request order; 0 for the other kinds.
    pub category: i64,
    /// The volume it was signed for.
    pub volume: i64,
    /// The volume not yet consumed on chain, as last read.
    pub remaining: i64,
    /// Where it stands in the book.
    pub status: OrderStatus,
    /// The app it is for: an app order's own, else its app restriction (zero address: any).
    pub app: String,
    /// The dataset it is for, or its dataset restriction (zero address: any).
    pub dataset: String,
    /// The workerpool it is for, or its workerpool restriction (zero address: any).
    pub workerpool: String,
    /// The requester of a request order, else its requester restriction (zero address: any).
    pub requester: String,
    /// The signed order as published, in iExec's JSON shape.
    pub order_json: String,
    /// When it was published, in milliseconds since the Unix epoch.
    pub published_ms: i64,
}

/// A deal as the explorer lists it (the chain holds the rest).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DealRow {
    /// The deal's id, 0x-prefixed hex.
    pub deal_id: String,
    /// The app the deal runs, lower-case.
    pub app: String,
    /// The dataset it reads, lower-case (the zero address when none).
    pub dataset: String,
    /// The workerpool that runs it, lower-case.
    pub workerpool: String,
    /// The account that requested and pays for it, lower-case.
    pub requester: String,
    /// Who receives its results, lower-case.
    pub beneficiary: String,
    /// The low 63 bits of the deal's tag.
    pub tag_bits: i64,
    /// The deal's category, which sets its time reference.
    pub category: i64,
    /// How many tasks the deal holds.
    pub bot_size: i64,
    /// When the deal was made, in seconds since the Unix epoch (chain time).
    pub start_time: i64,
    /// The index of its first task in the request order.
    pub bot_first: i64,
    /// The EIP-712 hash of the app order it consumed (empty for deals recorded before
    /// the market kept it).
    pub apporder: String,
    /// The hash of the dataset order it consumed (zero when it has no dataset).
    pub datasetorder: String,
    /// The hash of the workerpool order it consumed.
    pub workerpoolorder: String,
    /// The hash of the request order it consumed.
    pub requestorder: String,
}

/// The columns of a deal row, as `read_deal` reads them.
const DEAL_COLUMNS: &str = "deal_id, app, dataset, workerpool, requester, beneficiary, tag_bits, category, bot_size, \
     start_time, bot_first, apporder, datasetorder, workerpoolorder, requestorder";

fn read_deal(row: &sqlx::any::AnyRow) -> Result<DealRow, MarketError> {
    Ok(DealRow {
        deal_id: row.try_get("deal_id").map_err(storage)?,
        app: row.try_get("app").map_err(storage)?,
        dataset: row.try_get("dataset").map_err(storage)?,
        workerpool: row.try_get("workerpool").map_err(storage)?,
        requester: row.try_get("requester").map_err(storage)?,
        beneficiary: row.try_get("beneficiary").map_err(storage)?,
        tag_bits: row.try_get("tag_bits").map_err(storage)?,
        category: row.try_get("category").map_err(storage)?,
        bot_size: row.try_get("bot_size").map_err(storage)?,
        start_time: row.try_get("start_time").map_err(storage)?,
        bot_first: row.try_get("bot_first").map_err(storage)?,
        apporder: row.try_get("apporder").map_err(storage)?,
        datasetorder: row.try_get("datasetorder").map_err(storage)?,
        workerpoolorder: row.try_get("workerpoolorder").map_err(storage)?,
        requestorder: row.try_get("requestorder").map_err(storage)?,
    })
}

/// Filters of a deals query (iExec's `GET /deals`); values lower-case.
#[derive(Clone, Debug, Default)]
pub struct DealFilter {
    /// (column, value) pairs every deal listed matches: `app`, `dataset`, `workerpool`,
    /// `requester`, `beneficiary`, `apporder`, `datasetorder`, `workerpoolorder`,
    /// `requestorder`.
    pub equal: Vec<(&'static str, String)>,
    /// Only deals of this category.
    pub category: Option<i64>,
    /// Deals listed at most, 1 to 1000.
    pub limit: i64,
    /// Deals skipped before the first listed.
    pub offset: i64,
}

/// A task the follower saw, with its status on chain (`ACTIVE`, `REVEALING`,
/// `COMPLETED`, `FAILED`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskRow {
    /// The task's id, 0x-prefixed hex.
    pub task_id: String,
    /// The deal it belongs to, 0x-prefixed hex.
    pub deal_id: String,
    /// The deal's workerpool, lower-case.
    pub workerpool: String,
    /// Its status word on chain; `UNSET` while not started.
    pub status: String,
    /// Its final deadline, in seconds since the Unix epoch (chain time); 0 while not started.
    pub final_deadline: i64,
}

/// Filters of an order book query; addresses lower-case.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// The order kind asked for: `apporder`, `datasetorder`, `workerpoolorder` or `requestorder`.
    pub kind: String,
    /// Only orders about this app, dataset, workerpool or requester.
    pub subject: Option<String>,
    /// (column, address, strict): restriction or counterpart columns.
    pub parties: Vec<(&'static str, String, bool)>,
    /// Only orders whose tag has all these bits (0: any).
    pub min_tag: i64,
    /// Only orders whose tag has no bit outside these.
    pub max_tag: Option<i64>,
    /// Only orders of this category.
    pub category: Option<i64>,
    /// Only orders with at least this much volume left (0: any).
    pub min_volume: i64,
    /// Only orders signed by this address (the asset's owner when published).
    pub signer: Option<String>,
    /// Only dataset orders for bulk processing: free, with a volume of at least
    /// [`BULK_VOLUME`].
    pub bulk_only: bool,
    /// Orders per page, 1 to 1000.
    pub page_size: i64,
    /// The page asked for, from 0.
    pub page_index: i64,
}

/// The market's database: the order book, the follower's deals, tasks and cursor, the
/// login key and the leases; on Postgres, also the channel replicas announce changes on.
pub struct MarketDb {
    pool: AnyPool,
    /// The database's URL when it is Postgres, which replicas may share: changes are then
    /// told to every replica through `NOTIFY`.
    shared: Option<String>,
    /// Changes to tell the other replicas, in order, through one sender (Postgres only).
    announcements: Option<mpsc::UnboundedSender<String>>,
    login_key: [u8; 32],
    /// New orders go through one writer, which stores those that arrive together in one
    /// statement (group commit): under load, one round trip and one commit for many.
    inserts: mpsc::UnboundedSender<PendingInsert>,
}

struct PendingInsert {
    row: StoredOrder,
    chain_id: u64,
    stored: oneshot::Sender<Result<bool, String>>,
}

pub(crate) const ZERO: &str = "0x0000000000000000000000000000000000000000";
/// The least volume of a dataset order for bulk processing: iExec's
/// `DATASET_INFINITE_VOLUME` (2^53 − 1) less one, which iExec's market also accepts for
/// orders signed before.
pub const BULK_VOLUME: i64 = (1 << 53) - 2;
/// The most matches a query counts exactly.
pub const COUNT_CAP: i64 = 1000;
const COLUMNS: &str = "hash, kind, subject, signer, price, tag_bits, category, volume, remaining, status, app, dataset, workerpool, requester, order_json, published_ms";

/// The writer: takes what is queued, stores it in one statement, answers each caller.
async fn write_inserts(pool: AnyPool, mut queue: mpsc::UnboundedReceiver<PendingInsert>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        match insert_rows(&pool, &batch).await {
            Ok(inserted) => {
                // Two publications of one order in a batch: the first is stored, the
                // second is the duplicate.
                let mut answered = HashSet::new();
                for pending in batch {
                    let fresh = inserted.contains(&pending.row.hash) && answered.insert(pending.row.hash.clone());
                    let _ = pending.stored.send(Ok(fresh));
                }
            }
            Err(e) => {
                let message = e.to_string();
                for pending in batch {
                    let _ = pending.stored.send(Err(message.clone()));
                }
            }
        }
    }
}

/// One multi-row insert; returns the hashes it stored (the others were there already).
async fn insert_rows(pool: &AnyPool, batch: &[PendingInsert]) -> Result<HashSet<String>, sqlx::Error> {
    const FIELDS: usize = 17;
    let values: Vec<String> = (0..batch.len())
        .map(|i| {
            let placeholders: Vec<String> = (1..=FIELDS).map(|f| format!("${}", i * FIELDS + f)).collect();
            format!("({})", placeholders.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO orders (hash, kind, chain_id, subject, signer, price, tag_bits, category, volume, remaining, status,
            app, dataset, workerpool, requester, order_json, published_ms)
         VALUES {} ON CONFLICT DO NOTHING RETURNING hash",
        values.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for PendingInsert { row, chain_id, .. } in batch {
        query = query
            .bind(row.hash.clone())
            .bind(row.kind.clone())
            .bind(*chain_id as i64)
            .bind(row.subject.clone())
            .bind(row.signer.clone())
            .bind(row.price)
            .bind(row.tag_bits)
            .bind(row.category)
            .bind(row.volume)
            .bind(row.remaining)
            .bind(row.status.as_str())
            .bind(row.app.clone())
            .bind(row.dataset.clone())
            .bind(row.workerpool.clone())
            .bind(row.requester.clone())
            .bind(row.order_json.clone())
            .bind(row.published_ms);
    }
    let rows = query.fetch_all(pool).await?;
    rows.iter().map(|row| row.try_get::<String, _>("hash")).collect()
}

fn read_row(row: &sqlx::any::AnyRow) -> Result<StoredOrder, MarketError> {
    Ok(StoredOrder {
        hash: row.try_get("hash").map_err(storage)?,
        kind: row.try_get("kind").map_err(storage)?,
        subject: row.try_get("subject").map_err(storage)?,
        signer: row.try_get("signer").map_err(storage)?,
        price: row.try_get("price").map_err(storage)?,
        tag_bits: row.try_get("tag_bits").map_err(storage)?,
        category: row.try_get("category").map_err(storage)?,
        volume: row.try_get("volume").map_err(storage)?,
        remaining: row.try_get("remaining").map_err(storage)?,
        status: OrderStatus::parse(&row.try_get::<String, _>("status").map_err(storage)?)?,
        app: row.try_get("app").map_err(storage)?,
        dataset: row.try_get("dataset").map_err(storage)?,
        workerpool: row.try_get("workerpool").map_err(storage)?,
        requester: row.try_get("requester").map_err(storage)?,
        order_json: row.try_get("order_json").map_err(storage)?,
        published_ms: row.try_get("published_ms").map_err(storage)?,
    })
}

impl MarketDb {
    /// Opens the database at `url` (`sqlite:…` or `postgres://…`), applies the market's
    /// migrations, reads (or makes) the login key and starts the order writer.
    pub async fn open(url: &str) -> Result<MarketDb, MarketError> {
        let pool = confide_db::open(url, "market", MIGRATIONS).await.map_err(storage)?;
        let login_key = login_key(&pool).await?;
        let (inserts, queue) = mpsc::unbounded_channel();
        tokio::spawn(write_inserts(pool.clone(), queue));
        let shared = url.starts_with("postgres").then(|| url.to_owned());
        let announcements = shared.as_ref().map(|_| {
            let (sender, queue) = mpsc::unbounded_channel();
            tokio::spawn(send_announcements(pool.clone(), queue));
            sender
        });
        Ok(MarketDb {
            pool,
            shared,
            announcements,
            login_key,
            inserts,
        })
    }

    /// The pool, for the modules that keep tables of their own here (`protected`).
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Whether the database is Postgres (SQL differs in a few functions).
    pub(crate) fn is_postgres(&self) -> bool {
        self.shared.is_some()
    }

    /// The key login challenges are derived under, the same for every replica.
    pub fn login_key(&self) -> [u8; 32] {
        self.login_key
    }

    /// The Postgres URL replicas share, if the database is one.
    pub fn shared_url(&self) -> Option<&str> {
        self.shared.as_deref()
    }

    /// Tells every replica listening on [`EVENTS_CHANNEL`] of a change, in the order
    /// changes are announced; `false` when the database is not shared (SQLite).
    pub fn announce_to_replicas(&self, payload: String) -> bool {
        match &self.announcements {
            Some(sender) => sender.send(payload).is_ok(),
            None => false,
        }
    }

    /// Takes or renews the lease `name` for `holder` (see `confide_db::lease::take`).
    pub async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        duration_ms: i64,
    ) -> Result<bool, MarketError> {
        confide_db::lease::take(&self.pool, name, holder, now_ms, duration_ms)
            .await
            .map_err(storage)
    }

    /// Stores a new order; `false` when its hash is already there.
    pub async fn insert(&self, row: &StoredOrder, chain_id: u64) -> Result<bool, MarketError> {
        let (stored, outcome) = oneshot::channel();
        let pending = PendingInsert {
            row: row.clone(),
            chain_id,
            stored,
        };
        let gone = || MarketError::Storage("the order writer stopped".into());
        self.inserts.send(pending).map_err(|_| gone())?;
        outcome.await.map_err(|_| gone())?.map_err(MarketError::Storage)
    }

    /// The order of `kind` with this hash, whatever its status.
    pub async fn get(&self, kind: &str, hash: &str) -> Result<Option<StoredOrder>, MarketError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM orders WHERE kind = $1 AND hash = $2"))
            .bind(kind)
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(storage)?;
        row.as_ref().map(read_row).transpose()
    }

    /// Open orders matching `filter`, cheapest first then oldest, and how many match.
    pub async fn list(&self, filter: &Filter) -> Result<(Vec<StoredOrder>, i64), MarketError> {
        let mut conditions = vec!["kind = $1".to_owned(), "status = 'open'".to_owned()];
        let mut binds: Vec<String> = vec![filter.kind.clone()];
        let next = |value: String, binds: &mut Vec<String>| {
            binds.push(value);
            format!("${}", binds.len())
        };
        if let Some(subject) = &filter.subject {
            let p = next(subject.clone(), &mut binds);
            conditions.push(format!("subject = {p}"));
        }
        for (column, address, strict) in &filter.parties {
            let p = next(address.clone(), &mut binds);
            if *strict {
                conditions.push(format!("{column} = {p}"));
            } else {
                let z = next(ZERO.to_owned(), &mut binds);
                conditions.push(format!("({column} = {p} OR {column} = {z})"));
            }
        }
        // Integers are inlined: they are parsed numbers, never user text.
        if filter.min_tag != 0 {
            conditions.push(format!("(tag_bits & {0}) = {0}", filter.min_tag));
        }
        if let Some(max) = filter.max_tag {
            conditions.push(format!("(tag_bits & {}) = 0", !max & i64::MAX));
        }
        if let Some(category) = filter.category {
            conditions.push(format!("category = {category}"));
        }
        if filter.min_volume > 0 {
            conditions.push(format!("remaining >= {}", filter.min_volume));
        }
        if let Some(signer) = &filter.signer {
            let p = next(signer.clone(), &mut binds);
            conditions.push(format!("signer = {p}"));
        }
        if filter.bulk_only {
            conditions.push(format!("volume >= {BULK_VOLUME} AND price = 0"));
        }
        let where_clause = conditions.join(" AND ");
        // Counting every match of a broad filter scans the table; past COUNT_CAP the count
        // says "at least" (the page itself is always exact).
        let count_sql = format!(
            "SELECT COUNT(*) AS n FROM (SELECT 1 FROM orders WHERE {where_clause} LIMIT {COUNT_CAP}) AS capped"
        );
        let list_sql = format!(
            "SELECT {COLUMNS} FROM orders WHERE {where_clause} ORDER BY price ASC, published_ms ASC, hash ASC LIMIT {} OFFSET {}",
            filter.page_size,
            filter.page_size * filter.page_index
        );
        let mut count = sqlx::query(&count_sql);
        let mut list = sqlx::query(&list_sql);
        for value in &binds {
            count = count.bind(value.clone());
            list = list.bind(value.clone());
        }
        let total: i64 = count
            .fetch_one(&self.pool)
            .await
            .map_err(storage)?
            .try_get("n")
            .map_err(storage)?;
        let rows = list.fetch_all(&self.pool).await.map_err(storage)?;
        Ok((rows.iter().map(read_row).collect::<Result<_, _>>()?, total))
    }

    /// How many open orders of `kind` `signer` has in the book.
    pub async fn open_count_of_signer(&self, kind: &str, signer: &str) -> Result<i64, MarketError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE signer = $1 AND kind = $2 AND status = 'open'")
            .bind(signer)
            .bind(kind)
            .fetch_one(&self.pool)
            .await
            .map_err(storage)
    }

    /// Open orders of `kind` on `subject` signed by `signer`, newest first.
    pub async fn open_of(&self, kind: &str, subject: &str) -> Result<Vec<StoredOrder>, MarketError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM orders WHERE kind = $1 AND subject = $2 AND status = 'open' ORDER BY published_ms DESC, hash DESC"
        ))
        .bind(kind)
        .bind(subject)
        .fetch_all(&self.pool)
        .await
        .map_err(storage)?;
        rows.iter().map(read_row).collect()
    }

    /// Moves `signer`'s orders of `kind` on `subject` in status `from` to `to`; returns
    /// their hashes.
    pub async fn set_status_of_signer(
        &self,
        kind: &str,
        subject: &str,
        signer: &str,
        from: OrderStatus,
        to: OrderStatus,
    ) -> Result<Vec<String>, MarketError> {
        let rows = sqlx::query(
            "UPDATE orders SET status = $5 WHERE kind = $1 AND subject = $2 AND signer = $3 AND status = $4
             RETURNING hash",
        )
        .bind(kind)
        .bind(subject)
        .bind(signer)
        .bind(from.as_str())
        .bind(to.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(storage)?;
        rows.iter().map(|row| row.try_get("hash").map_err(storage)).collect()
    }

    /// Sets an order's status and the volume it has left on chain.
    pub async fn set_status(&self, hash: &str, status: OrderStatus, remaining: i64) -> Result<(), MarketError> {
        sqlx::query("UPDATE orders SET status = $1, remaining = $2 WHERE hash = $3")
            .bind(status.as_str())
            .bind(remaining)
            .bind(hash)
            .execute(&self.pool)
            .await
            .map_err(storage)?;
        Ok(())
    }

    /// The number saved under `key` (such as the follower's next block), if any.
    pub async fn meta(&self, key: &str) -> Result<Option<i64>, MarketError> {
        confide_db::meta::get(&self.pool, key).await.map_err(storage)
    }

    /// Saves `value` under `key`, replacing what was there.
    pub async fn set_meta(&self, key: &str, value: i64) -> Result<(), MarketError> {
        confide_db::meta::set(&self.pool, key, value).await.map_err(storage)
    }

    /// Records a deal as the chain has it now (again: the follower replays events, and a
    /// deal id taken away by a reorg can come back with other parties).
    pub async fn put_deal(&self, deal: &DealRow) -> Result<(), MarketError> {
        sqlx::query(
            "INSERT INTO deals (deal_id, app, dataset, workerpool, requester, beneficiary, tag_bits, category, bot_size, start_time,
                 bot_first, apporder, datasetorder, workerpoolorder, requestorder)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             ON CONFLICT (deal_id) DO UPDATE SET app = $2, dataset = $3, workerpool = $4, requester = $5,
                 beneficiary = $6, tag_bits = $7, category = $8, bot_size = $9, start_time = $10,
                 bot_first = $11, apporder = $12, datasetorder = $13, workerpoolorder = $14, requestorder = $15",
        )
        .bind(&deal.deal_id)
        .bind(&deal.app)
        .bind(&deal.dataset)
        .bind(&deal.workerpool)
        .bind(&deal.requester)
        .bind(&deal.beneficiary)
        .bind(deal.tag_bits)
        .bind(deal.category)
        .bind(deal.bot_size)
        .bind(deal.start_time)
        .bind(deal.bot_first)
        .bind(&deal.apporder)
        .bind(&deal.datasetorder)
        .bind(&deal.workerpoolorder)
        .bind(&deal.requestorder)
        .execute(&self.pool)
        .await
        .map_err(storage)?;
        Ok(())
    }

    /// Forgets a deal a reorg took off the chain, and its tasks.
    pub async fn forget_deal(&self, deal_id: &str) -> Result<(), MarketError> {
        for table in ["tasks", "deals"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE deal_id = $1"))
                .bind(deal_id)
                .execute(&self.pool)
                .await
                .map_err(storage)?;
        }
        Ok(())
    }

    /// The newest deals an address takes part in (as app, dataset, workerpool, requester
    /// or beneficiary), at most `limit`.
    pub async fn deals_of(&self, party: &str, limit: i64) -> Result<Vec<DealRow>, MarketError> {
        let rows = sqlx::query(&format!(
            "SELECT {DEAL_COLUMNS}
             FROM deals WHERE app = $1 OR dataset = $1 OR workerpool = $1 OR requester = $1 OR beneficiary = $1
             ORDER BY start_time DESC, deal_id DESC LIMIT {limit}"
        ))
        .bind(party)
        .fetch_all(&self.pool)
        .await
        .map_err(storage)?;
        rows.iter().map(read_deal).collect()
    }

    /// Deals matching `filter`, newest first, and how many match (at most [`COUNT_CAP`]).
    pub async fn deals(&self, filter: &DealFilter) -> Result<(Vec<DealRow>, i64), MarketError> {
        let mut conditions = Vec::new();
        for (i, (column, _)) in filter.equal.iter().enumerate() {
            conditions.push(format!("{column} = ${}", i + 1));
        }
        // Integers are inlined: parsed numbers, never user text.
        if let Some(category) = filter.category {
            conditions.push(format!("category = {category}"));
        }
        let where_clause = if conditions.is_empty() {
            "1 = 1".to_owned()
        } else {
            conditions.join(" AND ")
        };
        let count_sql =
            format!("SELECT COUNT(*) AS n FROM (SELECT 1 FROM deals WHERE {where_clause} LIMIT {COUNT_CAP}) AS capped");
        let list_sql = format!(
            "SELECT {DEAL_COLUMNS} FROM deals WHERE {where_clause} ORDER BY start_time DESC, deal_id ASC LIMIT {} OFFSET {}",
            filter.limit, filter.offset
        );
        let mut count = sqlx::query(&count_sql);
        let mut list = sqlx::query(&list_sql);
        for (_, value) in &filter.equal {
            count = count.bind(value.clone());
            list = list.bind(value.clone());
        }
        let total: i64 = count
            .fetch_one(&self.pool)
            .await
            .map_err(storage)?
            .try_get("n")
            .map_err(storage)?;
        let rows = list.fetch_all(&self.pool).await.map_err(storage)?;
        Ok((rows.iter().map(read_deal).collect::<Result<_, _>>()?, total))
    }

    /// The recorded tasks of these deals, with their statuses, at most `limit`.
    pub async fn tasks_of_deals(&self, deal_ids: &[String], limit: usize) -> Result<Vec<TaskRow>, MarketError> {
        let mut tasks = Vec::new();
        for chunk in deal_ids.chunks(100) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT task_id, deal_id, workerpool, status, final_deadline FROM tasks WHERE deal_id IN ({})
                 ORDER BY deal_id, task_id LIMIT {limit}",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id.clone());
            }
            for row in query.fetch_all(&self.pool).await.map_err(storage)? {
                tasks.push(TaskRow {
                    task_id: row.try_get("task_id").map_err(storage)?,
                    deal_id: row.try_get("deal_id").map_err(storage)?,
                    workerpool: row.try_get("workerpool").map_err(storage)?,
                    status: row.try_get("status").map_err(storage)?,
                    final_deadline: row.try_get("final_deadline").map_err(storage)?,
                });
            }
        }
        tasks.truncate(limit);
        Ok(tasks)
    }

    /// Records a task's status as the chain says it now.
    pub async fn put_task(&self, task: &TaskRow) -> Result<(), MarketError> {
        sqlx::query(
            "INSERT INTO tasks (task_id, deal_id, workerpool, status, final_deadline) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (task_id) DO UPDATE SET deal_id = $2, workerpool = $3, status = $4, final_deadline = $5",
        )
        .bind(&task.task_id)
        .bind(&task.deal_id)
        .bind(&task.workerpool)
        .bind(&task.status)
        .bind(task.final_deadline)
        .execute(&self.pool)
        .await
        .map_err(storage)?;
        Ok(())
    }

    /// Records a new deal's tasks as not started (`UNSET`), so a task id finds its deal
    /// before the scheduler initializes it; tasks already recorded keep their status.
    pub async fn put_unstarted_tasks(&self, tasks: &[TaskRow]) -> Result<(), MarketError> {
        // 3 parameters a row: 100 rows a statement stay far under SQLite's limit.
        for chunk in tasks.chunks(100) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("(${}, ${}, ${}, 'UNSET', 0)", 3 * i + 1, 3 * i + 2, 3 * i + 3))
                .collect();
            let sql = format!(
                "INSERT INTO tasks (task_id, deal_id, workerpool, status, final_deadline) VALUES {}
                 ON CONFLICT (task_id) DO NOTHING",
                values.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for task in chunk {
                query = query
                    .bind(task.task_id.clone())
                    .bind(task.deal_id.clone())
                    .bind(task.workerpool.clone());
            }
            query.execute(&self.pool).await.map_err(storage)?;
        }
        Ok(())
    }

    /// The recorded statuses of these tasks (those not recorded are left out).
    pub async fn task_statuses(&self, task_ids: &[String]) -> Result<HashMap<String, String>, MarketError> {
        let mut statuses = HashMap::new();
        for chunk in task_ids.chunks(100) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT task_id, status FROM tasks WHERE task_id IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id.clone());
            }
            for row in query.fetch_all(&self.pool).await.map_err(storage)? {
                statuses.insert(
                    row.try_get("task_id").map_err(storage)?,
                    row.try_get("status").map_err(storage)?,
                );
            }
        }
        Ok(statuses)
    }

    /// The task as recorded, if its deal is known.
    pub async fn task(&self, task_id: &str) -> Result<Option<TaskRow>, MarketError> {
        let row =
            sqlx::query("SELECT task_id, deal_id, workerpool, status, final_deadline FROM tasks WHERE task_id = $1")
                .bind(task_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(storage)?;
        row.map(|row| {
            Ok(TaskRow {
                task_id: row.try_get("task_id").map_err(storage)?,
                deal_id: row.try_get("deal_id").map_err(storage)?,
                workerpool: row.try_get("workerpool").map_err(storage)?,
                status: row.try_get("status").map_err(storage)?,
                final_deadline: row.try_get("final_deadline").map_err(storage)?,
            })
        })
        .transpose()
    }

    /// A workerpool's tasks by outcome: completed, claimed (failed on chain), overdue
    /// (past the final deadline at `now`, not yet claimed) and running.
    pub async fn task_outcomes(&self, workerpool: &str, now: i64) -> Result<TaskOutcomes, MarketError> {
        let row = sqlx::query(&format!(
            "SELECT
                COALESCE(SUM(CASE WHEN status = 'COMPLETED' THEN 1 ELSE 0 END), 0) AS completed,
                COALESCE(SUM(CASE WHEN status = 'FAILED' THEN 1 ELSE 0 END), 0) AS claimed,
                COALESCE(SUM(CASE WHEN status IN ('ACTIVE', 'REVEALING') AND final_deadline <= {now} THEN 1 ELSE 0 END), 0) AS overdue,
                COALESCE(SUM(CASE WHEN status IN ('ACTIVE', 'REVEALING') AND final_deadline > {now} THEN 1 ELSE 0 END), 0) AS running
             FROM tasks WHERE workerpool = $1"
        ))
        .bind(workerpool)
        .fetch_one(&self.pool)
        .await
        .map_err(storage)?;
        let count = |name: &str| row.try_get::<i64, _>(name).map_err(storage);
        Ok(TaskOutcomes {
            completed: count("completed")?,
            claimed: count("claimed")?,
            overdue: count("overdue")?,
            running: count("running")?,
        })
    }

    /// The distinct tags of the orders ever published for `subject`.
    pub async fn tags_of(&self, kind: &str, subject: &str) -> Result<Vec<i64>, MarketError> {
        let rows = sqlx::query("SELECT DISTINCT tag_bits FROM orders WHERE kind = $1 AND subject = $2")
            .bind(kind)
            .bind(subject)
            .fetch_all(&self.pool)
            .await
            .map_err(storage)?;
        rows.iter().map(|r| r.try_get("tag_bits").map_err(storage)).collect()
    }
}

/// How a workerpool's tasks ended, for its explorer page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TaskOutcomes {
    /// Tasks completed on chain.
    pub completed: i64,
    /// Failed tasks whose stake and payment went back to the requester (`FAILED` on chain).
    pub claimed: i64,
    /// Past their final deadline without a result, not claimed yet: failed.
    pub overdue: i64,
    /// Tasks started and still before their final deadline.
    pub running: i64,
}
