//! One enclave session of a bulk task whose slice holds 100 protected data, end to end: a
//! real SMS on loopback, a real PoCo on anvil, the slice read through a gateway on
//! loopback (CID-checked), each of the 100 orders judged by PoCo's
//! `assertDatasetDealCompatibility`, 100 keys read and sealed. Run:
//! `cargo bench -p confide-sms --bench bulk_session` (`CONFIDE_BENCH_RUNS`, default 30).
//! Target (issue 28): ≤ 200 ms.

#[path = "../tests/support/world.rs"]
mod support;

use std::time::Instant;

use confide_protocol::bulk;
use support::{Gateway, World};

const SLICE: usize = 100;

fn main() {
    confide_testkit::bench::block_on(run());
}

async fn run() {
    let runs = confide_testkit::bench::env_usize("CONFIDE_BENCH_RUNS", 30);
    let gateway = Gateway::start().await;
    let world = World::start(&gateway).await;
    let mut grants = Vec::with_capacity(SLICE);
    for i in 0..SLICE {
        let dataset = world.dataset("dataset-owner", &format!("bench-{i}"), true).await;
        grants.push(world.bulk_grant(dataset).await);
    }
    let slice = gateway.put(bulk::write_slice(&grants));
    let root = gateway.put(bulk::write_root(&[slice]));
    let task = world.bulk_deal(&root, 1).await[0];
    let sent = world.sent_worker(task).await;
    let http = reqwest::Client::new();
    let mut millis = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let session = world.session(&http, &sent).await.unwrap();
        millis.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(session.bulk.iter().filter(|e| e.granted.is_some()).count(), SLICE);
    }
    let p50 = confide_testkit::bench::quantile(&mut millis, 0.5);
    let p99 = confide_testkit::bench::quantile(&mut millis, 0.99);
    println!(
        "a bulk session of {SLICE} protected data (nonce, slice read, {SLICE} PoCo checks, {SLICE} keys sealed): p50 {p50:.1} ms, p99 {p99:.1} ms ({runs} sessions)"
    );
}
