//! `protectedDatas` over 100,000 protected data on SQLite, through HTTP and GraphQL as
//! iExec's SDK sends it: a page of up to 1000 (the SDK's default page size), newest
//! first, filtered by schema entries. Run: `cargo bench -p confide-market --bench
//! protected_data`. Target: p99 ≤ 20 ms for a schema-filtered query.
//!
//! The rows are written straight into the market's tables (`migrations/0002`), in the
//! layout `protected::store` keeps (entries one a line, each again in
//! `protected_data_schema`, counted in `protected_data_schema_counts`): a hundred thousand
//! chain events would take longer than the measurement. A check through GraphQL first
//! catches a layout that drifted.

use std::sync::Arc;
use std::time::Instant;

use confide_chain::{Connection, Poco};
use confide_market::db::MarketDb;
use serde_json::{Value, json};

/// Protected data stored; `CONFIDE_BENCH_STORED` changes it for quick runs.
const STORED_DEFAULT: usize = 100_000;
const QUERIES: usize = 300;

/// iExec's SDK's query (`getProtectedData.ts`), verbatim.
const SDK_QUERY: &str = r#"
      query ($start: Int!, $range: Int!, $where: ProtectedData_filter) {
        protectedDatas(
          where: $where
          skip: $start
          first: $range
          orderBy: creationTimestamp
          orderDirection: desc
        ) {
          id
          name
          owner {
            id
          }
          schema {
            id
          }
          creationTimestamp
          multiaddr
        }
      }
    "#;

/// The entries of the `i`th protected data: an email in half of them, a name in 30 %, an
/// age in 20 %, a photo in 5 %, a medical record in 1 %.
fn entries_of(i: usize) -> Vec<&'static str> {
    let mut entries = Vec::new();
    if i.is_multiple_of(2) {
        entries.push("email:string");
    }
    if i % 10 < 3 {
        entries.push("name:string");
    }
    if i % 5 == 1 {
        entries.push("age:i128");
    }
    if i % 20 == 3 {
        entries.push("photo:image/png");
    }
    if i % 100 == 7 {
        entries.push("medical.record:application/pdf");
    }
    if entries.is_empty() {
        entries.push("misc:string");
    }
    entries.sort_unstable();
    entries
}

fn main() {
    confide_testkit::bench::block_on(run());
}

async fn store(url: &str, stored: usize) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let mut counts = std::collections::HashMap::<&str, i64>::new();
    for chunk_start in (0..stored).step_by(500) {
        let mut tx = pool.begin().await.unwrap();
        for i in chunk_start..(chunk_start + 500).min(stored) {
            let id = format!("0x{:040x}", i + 1);
            let entries = entries_of(i);
            let time = 1_700_000_000 + i as i64;
            sqlx::query(
                "INSERT INTO protected_data (id, name, owner, json_schema, entries, multiaddr, checksum,
                 creation_timestamp, transaction_hash, block_number) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&id)
            .bind(format!("data {i}"))
            .bind(format!("0x{:040x}", 1_000_000 + i % 1000))
            .bind("{}")
            .bind(entries.join("\n"))
            .bind("0x68747470733a2f2f6578616d706c652e6f72672f642e7a6970")
            .bind(format!("0x{:064x}", i))
            .bind(time)
            .bind(format!("0x{:064x}", i + 7))
            .bind(i as i64)
            .execute(&mut *tx)
            .await
            .unwrap();
            for entry in entries {
                sqlx::query(
                    "INSERT INTO protected_data_schema (entry, creation_timestamp, protected_data) VALUES ($1, $2, $3)",
                )
                .bind(entry)
                .bind(time)
                .bind(&id)
                .execute(&mut *tx)
                .await
                .unwrap();
                *counts.entry(entry).or_default() += 1;
            }
        }
        tx.commit().await.unwrap();
    }
    for (entry, n) in counts {
        sqlx::query("INSERT INTO protected_data_schema_counts (entry, n) VALUES ($1, $2)")
            .bind(entry)
            .bind(n)
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
}

async fn run() {
    let stored = confide_testkit::bench::env_usize("CONFIDE_BENCH_STORED", STORED_DEFAULT);
    let chain = confide_testkit::TestChain::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display());
    let db = MarketDb::open(&url).await.unwrap();
    let started = Instant::now();
    store(&url, stored).await;
    println!(
        "stored {stored} protected data in {:.1} s (setup)",
        started.elapsed().as_secs_f64()
    );

    let reader = Poco::new(Connection::connect(chain.url(), None).await.unwrap(), chain.hub())
        .await
        .unwrap();
    let state = confide_market::MarketState::new(db, reader);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/graphql/dataprotector", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, confide_market::router(Arc::clone(&state))).into_future());
    let client = reqwest::Client::new();
    let ask = |variables: Value| {
        let client = client.clone();
        let endpoint = endpoint.clone();
        async move {
            let response: Value = client
                .post(&endpoint)
                .json(&json!({ "query": SDK_QUERY, "variables": variables }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert!(response.get("errors").is_none(), "{response}");
            response["data"]["protectedDatas"].as_array().unwrap().clone()
        }
    };

    // The layout check: the newest protected data with a medical record is found, whole.
    let rare = ask(json!({ "start": 0, "range": 1, "where": { "and": [{ "schema_contains": ["medical.record:application/pdf"] }] } })).await;
    let newest_rare = (0..stored).rev().find(|i| i % 100 == 7).unwrap();
    assert_eq!(rare[0]["id"], format!("0x{:040x}", newest_rare + 1), "{rare:?}");
    assert_eq!(
        rare[0]["schema"].as_array().unwrap().len(),
        entries_of(newest_rare).len()
    );

    let cases: Vec<(&str, Value)> = vec![
        (
            "one common entry (50 %), page of 1000",
            json!({ "start": 0, "range": 1000, "where": { "and": [{ "schema_contains": ["email:string"] }] } }),
        ),
        (
            "a rare entry (1 %), page of 1000",
            json!({ "start": 0, "range": 1000, "where": { "and": [{ "schema_contains": ["medical.record:application/pdf"] }] } }),
        ),
        (
            "two entries (50 % and 20 %), page of 1000",
            json!({ "start": 0, "range": 1000, "where": { "and": [{ "schema_contains": ["email:string", "age:i128"] }] } }),
        ),
        (
            "an entry and a choice of two (`or`), page of 1000",
            json!({ "start": 0, "range": 1000, "where": { "and": [
                { "schema_contains": ["email:string"] },
                { "or": [{ "schema_contains": ["age:i128"] }, { "schema_contains": ["name:string"] }] }
            ] } }),
        ),
        (
            "worst case: three entries no protected data has together (the rarest, 5 %, read whole)",
            json!({ "start": 0, "range": 1000, "where": { "and": [{ "schema_contains": ["email:string", "age:i128", "photo:image/png"] }] } }),
        ),
        (
            "one entry and an owner, page of 1000",
            json!({ "start": 0, "range": 1000, "where": { "and": [
                { "owner": format!("0x{:040x}", 1_000_000 + 42) },
                { "schema_contains": ["email:string"] }
            ] } }),
        ),
        (
            "one common entry, 6th page of 1000 (skip 5000)",
            json!({ "start": 5000, "range": 1000, "where": { "and": [{ "schema_contains": ["email:string"] }] } }),
        ),
        (
            "one common entry, page of 100",
            json!({ "start": 0, "range": 100, "where": { "and": [{ "schema_contains": ["email:string"] }] } }),
        ),
    ];
    for (name, variables) in cases {
        let mut latencies = Vec::with_capacity(QUERIES);
        let mut rows = 0;
        for _ in 0..QUERIES {
            let started = Instant::now();
            rows = ask(variables.clone()).await.len();
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        let p50 = confide_testkit::bench::quantile(&mut latencies, 0.5);
        let p99 = confide_testkit::bench::quantile(&mut latencies, 0.99);
        println!("protectedDatas over {stored}, {name}: {rows} rows, p50 {p50:.2} ms, p99 {p99:.2} ms");
    }
}
