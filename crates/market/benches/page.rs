//! The marketplace page's load time with 100,000 orders stored: from navigation start to
//! the first rows of the dataset book drawn, in headless Chromium (Debian's `chromium` and
//! `chromium-driver`), measured by the page itself (`data-first-rows-ms`, set when its
//! first table is in the DOM). Goal (issue 15): under 300 ms on this machine.
//! Run: `cargo bench -p confide-market --bench page`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use confide_chain::{Address, B256, Connection, Poco, U256};
use confide_devstack::DEV_ACCOUNTS;
use confide_market::db::{MarketDb, StoredOrder};
use confide_protocol::Tag;
use confide_protocol::order::DatasetOrder;
use confide_testkit::browser::Browser;

/// Stored orders; `CONFIDE_BENCH_STORED` changes it for quick runs.
const STORED_DEFAULT: usize = 100_000;
/// Registered datasets the orders are spread over (their names show in the rows).
const DATASETS: usize = 20;
const LOADS: usize = 30;

fn main() {
    // The browser is driven from a blocking thread while the runtime keeps serving.
    confide_testkit::bench::block_on(async {
        // The node is dropped (and killed) when the measurement ends, or panics.
        let (url, _node) = serve_market().await;
        println!("market at {url}");
        tokio::task::spawn_blocking(move || measure(&url)).await.unwrap();
    });
}

fn measure(url: &str) {
    let browser = Browser::start(1280, 900).unwrap_or_else(|e| panic!("{e}"));
    for (label, route) in [
        ("dataset book", "#/book/datasetorders"),
        ("dataset book, TEE checked", "#/book/datasetorders?tee=1"),
        ("dataset book, TDX", "#/book/datasetorders?tee=1&framework=tdx"),
    ] {
        let mut times: Vec<f64> = (0..LOADS)
            .map(|_| first_rows_ms(&browser, &format!("{url}/{route}")))
            .collect();
        let cold = times[0];
        times.sort_by(f64::total_cmp);
        println!(
            "{label}: first rows drawn in {:.0} ms median, {:.0} ms p95, {:.0} ms max ({LOADS} loads; first load {cold:.0} ms)",
            times[LOADS / 2],
            times[LOADS * 95 / 100],
            times[LOADS - 1]
        );
    }
}

/// Loads the page afresh and returns when, after navigation start, its first rows were drawn.
fn first_rows_ms(browser: &Browser, url: &str) -> f64 {
    browser.goto("about:blank").unwrap();
    browser.goto(url).unwrap();
    browser
        .wait_for("the first rows", Duration::from_secs(30), |b| {
            let drawn = b.execute(
                "return document.querySelector('#book tr.order') ? document.documentElement.getAttribute('data-first-rows-ms') : null",
            )?;
            Ok(drawn.as_str().and_then(|ms| ms.parse::<f64>().ok()))
        })
        .unwrap_or_else(|e| {
            let shown = browser.execute("return document.getElementById('main').innerText.slice(0, 200) + ' | ' + performance.getEntriesByType('resource').map(e => e.name + ' ' + e.responseEnd).join(', ')");
            panic!("{e}: the page shows {shown:?}")
        })
}

/// A market on SQLite with `stored` open dataset orders (rows as publication leaves them,
/// on registered datasets), serving on loopback; returns its URL and the chain's node.
async fn serve_market() -> (String, confide_devstack::AnvilNode) {
    let stored: usize = confide_testkit::bench::env_usize("CONFIDE_BENCH_STORED", STORED_DEFAULT);
    let chain = confide_testkit::TestChain::start().await;
    let owner = chain.client("dataset-owner").await;
    let (node, deployment) = (chain.node, chain.deployment);
    let mut datasets: Vec<Address> = Vec::new();
    for i in 0..DATASETS {
        let multiaddr = format!("https://example.org/bench-{i}.enc");
        datasets.push(
            owner
                .create_dataset(
                    &format!("bench dataset {i}"),
                    multiaddr.as_bytes(),
                    B256::repeat_byte(9),
                )
                .await
                .unwrap(),
        );
    }
    let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
    let db = MarketDb::open(&format!("sqlite://{}?mode=rwc", dir.path().join("page.db").display()))
        .await
        .unwrap();
    let started = Instant::now();
    let signer = DEV_ACCOUNTS[1].signer().address().to_string().to_lowercase();
    for i in 0..stored {
        let dataset = datasets[i % DATASETS];
        let tag = if i % 2 == 0 { Tag::TEE } else { Tag::TEE_TDX };
        let order = DatasetOrder {
            dataset,
            datasetprice: U256::from(1000 + i % 5000),
            volume: U256::from(10),
            tag,
            salt: B256::from(U256::from(i)),
            ..Default::default()
        };
        let row = StoredOrder {
            hash: format!("0x{:064x}", i + 1),
            kind: "datasetorder".into(),
            subject: dataset.to_string().to_lowercase(),
            signer: signer.clone(),
            price: (1000 + i % 5000) as i64,
            tag_bits: if i % 2 == 0 { 1 } else { 9 },
            category: 0,
            volume: 10,
            remaining: 10,
            status: confide_market::db::OrderStatus::Open,
            app: "0x0000000000000000000000000000000000000000".into(),
            dataset: dataset.to_string().to_lowercase(),
            workerpool: "0x0000000000000000000000000000000000000000".into(),
            requester: "0x0000000000000000000000000000000000000000".into(),
            order_json: serde_json::to_string(&order).unwrap(),
            published_ms: 1_700_000_000_000 + i as i64,
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
    let state = confide_market::MarketState::new(db, reader);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, confide_market::router(Arc::clone(&state))).into_future());
    tokio::spawn(confide_market::follow::follow(state, Duration::from_millis(200)));
    (url, node)
}
