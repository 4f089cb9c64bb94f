//! The market under load, on SQLite with 100,000 open orders: publishing throughput
//! (HTTP, signature recovery and chain checks included) and order book page latency.
//! Run: `cargo bench -p confide-market --bench market`. Targets (issue 4): at least 2,000
//! orders/s published; a page query in 10 ms or less at p99.

use std::sync::Arc;
use std::time::Instant;

use confide_chain::{Connection, Poco, U256};
use confide_devstack::DEV_ACCOUNTS;
use confide_market::db::{MarketDb, StoredOrder};
use confide_protocol::order::{DatasetOrder, Order};
use confide_protocol::{Tag, market};
use serde_json::json;

/// Stored orders; `CONFIDE_BENCH_STORED` changes it for quick runs.
const STORED_DEFAULT: usize = 100_000;
/// Orders published in the throughput run; `CONFIDE_BENCH_PUBLISHED` changes it.
const PUBLISHED_DEFAULT: usize = 2_000;
const CLIENTS: usize = 16;
const QUERIES: usize = 1_000;

fn main() {
    confide_testkit::bench::block_on(run());
}

async fn run() {
    let stored: usize = confide_testkit::bench::env_usize("CONFIDE_BENCH_STORED", STORED_DEFAULT);
    let published: usize = confide_testkit::bench::env_usize("CONFIDE_BENCH_PUBLISHED", PUBLISHED_DEFAULT);
    let chain = confide_testkit::TestChain::start().await;
    // The dataset owner's: the orders below are hers.
    let owner_signer = DEV_ACCOUNTS[1].signer();
    let dataset = chain.dataset("bench", 9).await;
    let (node, deployment) = (chain.node, chain.deployment);
    let dir = tempfile::tempdir().unwrap();
    let db = MarketDb::open(&format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display()))
        .await
        .unwrap();

    // 100,000 stored open orders (rows as publication leaves them), on 100 datasets.
    let started = Instant::now();
    for i in 0..stored {
        let row = StoredOrder {
            hash: format!("0x{:064x}", i + 1),
            kind: "datasetorder".into(),
            subject: format!("0x{:040x}", i % 100),
            signer: format!("0x{:040x}", i % 100),
            price: (i % 1000) as i64,
            tag_bits: if i % 2 == 0 { 1 } else { 9 },
            category: 0,
            volume: 10,
            remaining: 10,
            status: confide_market::db::OrderStatus::Open,
            app: "0x0000000000000000000000000000000000000000".into(),
            dataset: format!("0x{:040x}", i % 100),
            workerpool: "0x0000000000000000000000000000000000000000".into(),
            requester: "0x0000000000000000000000000000000000000000".into(),
            order_json: "{}".into(),
            published_ms: i as i64,
        };
        db.insert(&row, 31337).await.unwrap();
    }
    println!(
        "stored {stored} orders in {:.1} s (setup)",
        started.elapsed().as_secs_f64()
    );

    let reader = Poco::new(Connection::connect(&node.url, None).await.unwrap(), deployment.hub)
        .await
        .unwrap();
    let domain = reader.domain();
    let state = confide_market::MarketState::new(db, reader);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, confide_market::router(Arc::clone(&state))).into_future());
    tokio::spawn(confide_market::follow::follow(
        Arc::clone(&state),
        std::time::Duration::from_millis(200),
    ));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    // Login once, sign the orders beforehand: the measurement is the market's work.
    let client = reqwest::Client::new();
    let auth = login(&client, &url, &owner_signer).await;
    let bodies = signed_orders(published, dataset, &owner_signer, &domain);
    let (rate, p99) = publish_all(std::slice::from_ref(&url), &auth, bodies).await;
    println!("publish {published} orders ({CLIENTS} clients, {stored} stored): {rate:.0} orders/s, p99 {p99:.1} ms");

    // Order book pages: the TEE filter and one dataset, first pages, cheapest first.
    let mut latencies = Vec::with_capacity(QUERIES);
    for i in 0..QUERIES {
        let query = if i % 2 == 0 {
            format!(
                "{url}/datasetorders?chainId=31337&minTag=0x1&pageSize=20&pageIndex={}",
                i % 5
            )
        } else {
            format!(
                "{url}/datasetorders?chainId=31337&dataset=0x{:040x}&pageSize=20",
                i % 100
            )
        };
        let started = Instant::now();
        let response = client.get(&query).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let _ = response.bytes().await.unwrap();
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let p50 = confide_testkit::bench::quantile(&mut latencies, 0.5);
    let p99 = confide_testkit::bench::quantile(&mut latencies, 0.99);
    println!(
        "order book page over {} orders: p50 {p50:.2} ms, p99 {p99:.2} ms",
        stored + published
    );

    // Replicas on one Postgres (`CONFIDE_BENCH_REPLICAS=1,2`): the same publications spread
    // over them (logged in once, on the first), then counted in the book: none lost or
    // doubled.
    let counts: Vec<usize> = confide_testkit::bench::env_counts("CONFIDE_BENCH_REPLICAS");
    for count in counts {
        let postgres = confide_testkit::TempPostgres::start("bench");
        let mut urls = Vec::new();
        for _ in 0..count {
            let db = MarketDb::open(&postgres.url).await.unwrap();
            let reader = Poco::new(Connection::connect(&node.url, None).await.unwrap(), deployment.hub)
                .await
                .unwrap();
            let state = confide_market::MarketState::new(db, reader);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            urls.push(format!("http://{}", listener.local_addr().unwrap()));
            tokio::spawn(axum::serve(listener, confide_market::router(Arc::clone(&state))).into_future());
            tokio::spawn(confide_market::follow::follow(
                state,
                std::time::Duration::from_millis(200),
            ));
        }
        let auth = login(&client, &urls[0], &owner_signer).await;
        let bodies = signed_orders(published, dataset, &owner_signer, &domain);
        let (rate, p99) = publish_all(&urls, &auth, bodies).await;
        let listed = listed_hashes(&client, &urls[count - 1], dataset).await;
        assert_eq!(listed.len(), published, "every publication listed once");
        println!(
            "postgres, {count} replica(s): publish {published} orders ({CLIENTS} clients): {rate:.0} orders/s, p99 {p99:.1} ms; {} distinct orders listed by the last replica, none lost or doubled",
            listed.len()
        );
    }
    drop(node);
}

/// The distinct hashes of `dataset`'s orders the market at `url` lists, page by page; a
/// hash listed twice fails the run.
async fn listed_hashes(
    client: &reqwest::Client,
    url: &str,
    dataset: confide_chain::Address,
) -> std::collections::HashSet<String> {
    let mut hashes = std::collections::HashSet::new();
    for page in 0.. {
        let book: serde_json::Value = client
            .get(format!(
                "{url}/datasetorders?chainId=31337&dataset={dataset}&pageSize=1000&pageIndex={page}"
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for order in book["orders"].as_array().unwrap() {
            let hash = order["orderHash"].as_str().unwrap().to_owned();
            assert!(hashes.insert(hash), "an order listed twice");
        }
        if book.get("nextPage").is_none() {
            break;
        }
    }
    hashes
}

/// A login header for `who` on the market at `url`.
async fn login(client: &reqwest::Client, url: &str, who: &confide_chain::PrivateKeySigner) -> String {
    let challenge: serde_json::Value = client
        .get(format!("{url}/challenge?chainId=31337&address={}", who.address()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let digest = market::challenge_digest(31337, challenge["data"]["message"]["challenge"].as_str().unwrap());
    let signature = confide_protocol::messages::sign_digest(who, digest).unwrap();
    market::authorization(digest, &signature, who.address())
}

/// `count` dataset orders, signed beforehand: the measurement is the market's work.
fn signed_orders(
    count: usize,
    dataset: confide_chain::Address,
    owner: &confide_chain::PrivateKeySigner,
    domain: &confide_protocol::domain::Domain,
) -> Vec<String> {
    (0..count)
        .map(|i| {
            let mut order = DatasetOrder {
                dataset,
                datasetprice: U256::from(i),
                volume: U256::from(5),
                tag: Tag::TEE,
                ..Default::default()
            };
            order.refresh_salt();
            order.sign(owner, domain).unwrap();
            json!({ "order": order }).to_string()
        })
        .collect()
}

/// Publishes `bodies` from [`CLIENTS`] clients, client `i` on market `i % urls.len()`;
/// the rate and the p99 latency of one publication, in ms.
async fn publish_all(urls: &[String], auth: &str, bodies: Vec<String>) -> (f64, f64) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let chunks: Vec<Vec<String>> = bodies
        .chunks(bodies.len().div_ceil(CLIENTS))
        .map(|c| c.to_vec())
        .collect();
    let mut tasks = Vec::new();
    for (index, chunk) in chunks.into_iter().enumerate() {
        let (client, url, auth) = (client.clone(), urls[index % urls.len()].clone(), auth.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for body in chunk {
                let began = Instant::now();
                let response = client
                    .post(format!("{url}/datasetorders?chainId=31337"))
                    .header("authorization", &auth)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status().as_u16(), 200);
                latencies.push(began.elapsed().as_secs_f64() * 1000.0);
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let seconds = started.elapsed().as_secs_f64();
    let rate = latencies.len() as f64 / seconds;
    (rate, confide_testkit::bench::quantile(&mut latencies, 0.99))
}
