//! Confide under hostile load, on the dev stack with a pool open to any wallet (issue 32):
//! an honest requester runs TEE tasks one after another, first alone, then while
//! adversaries, all on loopback and bounded in count and time,
//! - flood the market with orders from fresh wallets and with explorer reads, from
//!   addresses of their own (127.0.0.2 and on: the stack exempts only 127.0.0.1);
//! - fill the store from fresh wallets;
//! - spam the SMS with unsigned secret pushes;
//! - run a rogue worker that fails every task it takes;
//! - submit a deal of (up to) a million tasks.
//!
//! Every honest task must complete and its result decrypt. Prints, one per line as
//! `name: value unit`: the honest latencies (p50, p99) alone and under attack and their
//! ratio, what each adversary got, each service's peak RSS, and the disk each grew by.
//!
//! `cargo bench -p confide --bench adversary` (`CONFIDE_BENCH_HONEST`, tasks per phase,
//! default 50). The store runs with a 1 GiB total and a 256 MiB results reserve here, so
//! its quotas are reached within the run.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use confide_chain::{Address, B256, PrivateKeySigner};
use serde_json::Value;

/// The adversary requester's wallet (a dev account that is neither the honest requester
/// nor a worker of the pool).
const ADVERSARY: &str = "spare";
/// The most bytes the store-filling adversary uploads, whatever it is answered.
const FILL_UPLOADS: usize = 400;
const FILL_BYTES: usize = 4 << 20;

fn main() {
    build_release_enclave();
    let honest = confide_testkit::bench::env_usize("CONFIDE_BENCH_HONEST", 50);
    let small_store = [
        ("CONFIDE_STORE_TOTAL_QUOTA_GIB", Path::new("1")),
        ("CONFIDE_STORE_RESULTS_RESERVE_MIB", Path::new("256")),
        ("CONFIDE_STORE_NEWCOMER_QUOTA_MIB", Path::new("16")),
    ];
    let stack = Stack::start_with_env(&["--workers", "2", "--any-worker"], &small_store);
    let app = publish_app(&stack, "echo");
    // The adversary's deal names an app of its own: a deal of a million tasks on the
    // honest requester's free app order would simply use that order up (see
    // docs/SECURITY.md: free orders with a large volume).
    let adversary_app = publish_app(&stack, "csv-stats");
    requester_keys(&stack);
    let disk_before = disk_use(&stack);

    let alone = honest_tasks(&stack, &app, honest);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let market = runtime.spawn(flood_market(stack.service_url("market"), stop.clone()));
    let store = runtime.spawn(fill_store(stack.service_url("store"), stop.clone()));
    let sms = runtime.spawn(spam_sms(stack.service_url("sms"), stop.clone()));
    let scheduler = stack.state["scheduler"]["url"].as_str().unwrap().to_owned();
    let rogue = runtime.spawn(rogue_worker(scheduler, stop.clone()));
    let (big_deal, under_attack) = std::thread::scope(|scope| {
        let big_deal = scope.spawn(|| huge_deal(&stack, &adversary_app));
        std::thread::sleep(Duration::from_secs(2));
        let under_attack = honest_tasks(&stack, &app, honest);
        stop.store(true, Ordering::SeqCst);
        (big_deal.join().unwrap(), under_attack)
    });
    let (market, store, sms, rogue) = runtime.block_on(async {
        (
            market.await.unwrap(),
            store.await.unwrap(),
            sms.await.unwrap(),
            rogue.await.unwrap(),
        )
    });
    let attack_seconds = started.elapsed().as_secs_f64();
    let disk_after = disk_use(&stack);

    let (p50_alone, p99_alone) = (percentile(&alone, 50), percentile(&alone, 99));
    let (p50_attack, p99_attack) = (percentile(&under_attack, 50), percentile(&under_attack, 99));
    println!("honest_tasks_per_phase: {honest} tasks");
    println!("honest_p50_alone: {p50_alone:.2} s");
    println!("honest_p99_alone: {p99_alone:.2} s");
    println!("honest_p50_under_attack: {p50_attack:.2} s");
    println!("honest_p99_under_attack: {p99_attack:.2} s");
    println!("honest_p99_ratio: {:.2} x", p99_attack / p99_alone);
    println!("attack_duration: {attack_seconds:.0} s");
    println!("market_adversary_requests: {} requests", market.sent);
    println!("market_adversary_rate_limited: {} requests", market.limited);
    println!("market_adversary_refused_otherwise: {} requests", market.refused);
    println!("store_adversary_bytes_kept: {} MiB", store.kept >> 20);
    println!("store_adversary_uploads_refused: {} uploads", store.refused);
    println!("sms_unsigned_pushes_refused: {} pushes", sms.refused);
    println!("rogue_worker_tasks_taken: {} tasks", rogue.taken);
    println!("huge_deal_volume: {big_deal} tasks");
    for (name, before) in &disk_before {
        let after = disk_after.iter().find(|(n, _)| n == name).map_or(0, |(_, b)| *b);
        println!("disk_growth_{name}: {} MiB", after.saturating_sub(*before) >> 20);
    }
    for (name, pid) in service_pids(&stack) {
        println!("peak_rss_{name}: {} MiB", peak_rss_kib(pid) >> 10);
    }
}

/// Runs `count` one-task TEE deals one after another, each watched to its end and its
/// result downloaded and decrypted; returns each one's seconds.
fn honest_tasks(stack: &Stack, app: &str, count: usize) -> Vec<f64> {
    (0..count)
        .map(|i| {
            let started = Instant::now();
            let folder = format!("honest-{}", rand_suffix());
            let run = stack.ok(
                REQUESTER,
                "requester",
                &[
                    "app",
                    "run",
                    app,
                    "--tag",
                    "tee,tdx",
                    "--encrypt-result",
                    "--args",
                    &format!("honest {i}"),
                    "--watch",
                    "--timeout",
                    "300",
                    "--download",
                    &folder,
                ],
            );
            assert_eq!(
                run["results"][0]["status"], "COMPLETED",
                "an honest task completes: {run}"
            );
            assert_eq!(
                run["results"][0]["digestCheck"]["matches"], true,
                "its result checks: {run}"
            );
            started.elapsed().as_secs_f64()
        })
        .collect()
}

fn rand_suffix() -> String {
    confide_chain::hex::encode(&B256::random()[..4])
}

/// The `p`th percentile (nearest rank).
fn percentile(samples: &[f64], p: usize) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (p * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// An HTTP client whose connections come from `ip` (an address of the loopback range).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[derive(Default)]
struct MarketFlood {
    sent: u64,
    limited: u64,
    refused: u64,
}

/// Four addresses, each asking for assets, deals and tasks that do not exist and
/// publishing orders signed by fresh wallets for apps that do not exist, as fast as the
/// market answers, until told to stop.
async fn flood_market(market: String, stop: Arc<AtomicBool>) -> MarketFlood {
    let counts = Arc::new((AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)));
    let mut flooders = Vec::new();
    for n in 2..6 {
        let (market, stop, counts) = (market.clone(), stop.clone(), counts.clone());
        flooders.push(tokio::spawn(async move {
            let client = client_from(&format!("127.0.0.{n}"));
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let answer = match i % 4 {
                    0 => {
                        client
                            .get(format!("{market}/assets/{}", Address::random()))
                            .send()
                            .await
                    }
                    1 => client.get(format!("{market}/tasks/{}", B256::random())).send().await,
                    2 => client.get(format!("{market}/deals/{}", B256::random())).send().await,
                    _ => {
                        client
                            .post(format!("{market}/apporders"))
                            .header("content-type", "application/json")
                            .body(fresh_wallet_order())
                            .send()
                            .await
                    }
                };
                counts.0.fetch_add(1, Ordering::Relaxed);
                match answer.map(|a| a.status().as_u16()) {
                    Ok(429) => counts.1.fetch_add(1, Ordering::Relaxed),
                    Ok(200..=299) => 0,
                    _ => counts.2.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for flooder in flooders {
        flooder.await.unwrap();
    }
    MarketFlood {
        sent: counts.0.load(Ordering::Relaxed),
        limited: counts.1.load(Ordering::Relaxed),
        refused: counts.2.load(Ordering::Relaxed),
    }
}

/// An app order signed by a wallet made a moment ago, for an app nobody registered.
fn fresh_wallet_order() -> String {
    let wallet = PrivateKeySigner::random();
    serde_json::json!({
        "chainId": "31337",
        "order": {
            "app": Address::random(),
            "appprice": "0",
            "volume": "1000000",
            "tag": B256::ZERO,
            "datasetrestrict": Address::ZERO,
            "workerpoolrestrict": Address::ZERO,
            "requesterrestrict": Address::ZERO,
            "salt": B256::random(),
            "sign": format!("0x{}", confide_chain::hex::encode([7u8; 65])),
        },
        "signer": wallet.address(),
    })
    .to_string()
}

#[derive(Default)]
struct StoreFill {
    kept: u64,
    refused: u64,
}

/// Fresh wallets (one per upload) uploading 4 MiB files until the store refuses them
/// twenty times or [`FILL_UPLOADS`] were tried.
async fn fill_store(store: String, stop: Arc<AtomicBool>) -> StoreFill {
    let client = client_from("127.0.0.7");
    let body = vec![0x5au8; FILL_BYTES];
    let digest = confide_protocol::workerpool::body_sha256(&body);
    let mut fill = StoreFill::default();
    for _ in 0..FILL_UPLOADS {
        if stop.load(Ordering::SeqCst) || fill.refused >= 20 {
            break;
        }
        let wallet = PrivateKeySigner::random();
        let challenge = confide_protocol::store::upload_challenge(wallet.address(), "fill", digest);
        let signature = confide_protocol::messages::sign_personal(&wallet, challenge).unwrap();
        let answer = client
            .put(format!("{store}/files/{}/fill", wallet.address()))
            .header(
                "Authorization",
                format!("0x{}", confide_chain::hex::encode(signature.as_bytes())),
            )
            .header(confide_store::CONTENT_SHA256, digest.to_string())
            .body(body.clone())
            .send()
            .await;
        match answer.map(|a| a.status().as_u16()) {
            Ok(201) => fill.kept += FILL_BYTES as u64,
            _ => fill.refused += 1,
        }
    }
    fill
}

#[derive(Default)]
struct SmsSpam {
    refused: u64,
}

/// Unsigned (forged) pushes of secrets under fresh names, as fast as the SMS answers.
async fn spam_sms(sms: String, stop: Arc<AtomicBool>) -> SmsSpam {
    let client = client_from("127.0.0.8");
    let mut spam = SmsSpam::default();
    while !stop.load(Ordering::SeqCst) && spam.refused < 200_000 {
        let owner = Address::random();
        let answer = client
            .post(format!(
                "{sms}/secrets/web2?ownerAddress={owner}&secretName=spam-{}",
                rand_suffix()
            ))
            .header("Authorization", format!("0x{}", confide_chain::hex::encode([1u8; 65])))
            .body("not a secret anyone signed")
            .send()
            .await;
        if answer.is_ok_and(|a| a.status().is_client_error()) {
            spam.refused += 1;
        }
    }
    spam
}

#[derive(Default)]
struct Rogue {
    taken: u64,
}

/// A worker of a wallet nobody knows, in the open pool: it takes every task it is given
/// and reports each as failed with a transient code.
async fn rogue_worker(scheduler: String, stop: Arc<AtomicBool>) -> Rogue {
    let client = confide_workerpool::auth::SchedulerClient::new(&scheduler, PrivateKeySigner::random());
    let registration = confide_workerpool::api::Registration {
        frameworks: vec!["tdx".into(), "standard".into()],
        memory_mib: 4096,
        simulated: true,
        concurrency: 64,
    };
    let _: (Value, _) = client.post("/workers/register", &registration).await.unwrap();
    let mut rogue = Rogue::default();
    while !stop.load(Ordering::SeqCst) {
        let next: Result<(confide_workerpool::api::NextTask, _), _> = client.post("/tasks/next", &Value::Null).await;
        let Some(task) = next.ok().and_then(|(n, _)| n.assignment) else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        rogue.taken += 1;
        let report = confide_workerpool::api::Report {
            outcome: confide_workerpool::api::Outcome::Failed,
            code: Some("IO_ERROR".into()),
            message: Some("it failed, it says".into()),
            transaction: None,
            results: None,
        };
        let path = format!("/tasks/{}/report", task.task_id);
        let _: Result<(Value, _), _> = client.post(&path, &report).await;
    }
    rogue
}

/// A free deal of 999,000 tasks from another wallet (the dev pool's free order holds a
/// million, and the honest requester needs a hundred of them); returns the volume matched.
fn huge_deal(stack: &Stack, app: &str) -> u64 {
    let wallet = confide_devstack::accounts::by_role(ADVERSARY)
        .unwrap()
        .signer()
        .address()
        .to_checksum(None);
    stack.ok(&wallet, "adversary", &["init"]);
    let run = stack.ok(
        &wallet,
        "adversary",
        &["app", "run", app, "--tag", "tee,tdx", "--volume", "999000"],
    );
    run["volume"].as_u64().unwrap_or(0)
}

/// The stack's processes by service.
fn service_pids(stack: &Stack) -> Vec<(String, u32)> {
    let mut pids = Vec::new();
    for name in ["sms", "store", "market", "scheduler"] {
        if let Some(pid) = stack.state[name]["pid"].as_u64() {
            pids.push((name.to_owned(), pid as u32));
        }
    }
    for (i, worker) in stack.state["workers"].as_array().into_iter().flatten().enumerate() {
        if let Some(pid) = worker["pid"].as_u64() {
            pids.push((format!("worker_{}", i + 1), pid as u32));
        }
    }
    pids
}

/// A process's peak resident memory (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Bytes under each service's folder of the stack's data directory.
fn disk_use(stack: &Stack) -> Vec<(String, u64)> {
    ["sms", "store", "market", "scheduler"]
        .iter()
        .map(|name| (name.to_string(), bytes_under(&stack.data.join(name))))
        .collect()
}

fn bytes_under(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return std::fs::metadata(path).map_or(0, |m| m.len());
    };
    entries.flatten().map(|entry| bytes_under(&entry.path())).sum()
}
