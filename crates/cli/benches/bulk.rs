//! Bulk processing at scale on the dev stack with two workers: 1,000 protected data
//! (four owners), each granted in bulk to a Rust app, then one bulk request of 100 per task:
//! `confide bulk prepare` (grants listed, 10 slices and a root stored, the request signed)
//! and `confide bulk process` (matched, 10 tasks run, each session releasing 100 keys,
//! 100 downloads and decryptions per task, every result downloaded, checked and
//! decrypted). Timed from prepare to the last result.
//!
//! `cargo bench -p confide --bench bulk` (`CONFIDE_BENCH_PROTECTED`, default 1000;
//! `CONFIDE_BENCH_PER_TASK`, default 100). Target (issue 28): ≤ 60 s.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::*;

/// Dev roles protecting in parallel (one wallet each: a wallet's transactions go in
/// order); the two workers run as worker-1 and worker-2.
const OWNERS: [&str; 4] = ["dataset-owner", "spare", "worker-3", "worker-4"];

fn address_of(role: &str) -> String {
    let account = confide_devstack::accounts::by_role(role).expect("a dev role");
    account.signer().address().to_checksum(None)
}

fn main() {
    build_release_enclave();
    let total = confide_testkit::bench::env_usize("CONFIDE_BENCH_PROTECTED", 1000);
    let per_task = confide_testkit::bench::env_usize("CONFIDE_BENCH_PER_TASK", 100);
    let stack = Stack::start_with(&["--workers", "2"]);
    let app = publish_app(&stack, "protected-greeting");

    let started = Instant::now();
    std::thread::scope(|scope| {
        for (owner, project) in OWNERS.iter().enumerate() {
            let (stack, app) = (&stack, &app);
            scope.spawn(move || {
                let wallet = &address_of(project);
                let folder = stack.project(project);
                for i in (owner..total).step_by(OWNERS.len()) {
                    let json = folder.join(format!("bulk-{i}.json"));
                    std::fs::write(&json, format!(r#"{{"email":"user{i}@example.com"}}"#)).unwrap();
                    let protected = stack.ok(wallet, project, &["protect", "--json", json.to_str().unwrap()]);
                    let address = protected["address"].as_str().unwrap();
                    stack.ok(
                        wallet,
                        project,
                        &["protected", "grant", address, "--app", app, "--bulk"],
                    );
                }
            });
        }
    });
    println!(
        "set-up: {total} protected data protected and granted in bulk in {:.0} s (4 owners in parallel)",
        started.elapsed().as_secs_f64()
    );
    let listed = || {
        let found = stack.ok(REQUESTER, "requester", &["bulk", "grants", "--app", &app]);
        found["count"].as_u64() == Some(total as u64)
    };
    confide_testkit::wait::wait_until(
        "every bulk grant on the market",
        std::time::Duration::from_secs(120),
        listed,
    );

    stack.ok(REQUESTER, "requester", &["init"]);
    stack.ok(REQUESTER, "requester", &["result", "generate-encryption-keypair"]);
    stack.ok(REQUESTER, "requester", &["result", "push-encryption-key"]);
    let started = Instant::now();
    let per_task = per_task.to_string();
    stack.ok(
        REQUESTER,
        "requester",
        &[
            "bulk",
            "prepare",
            "--app",
            &app,
            "--per-task",
            &per_task,
            "--encrypt-result",
        ],
    );
    let prepared = started.elapsed().as_secs_f64();
    let processed = stack.ok(REQUESTER, "requester", &["bulk", "process", "--output", "bulk-results"]);
    let seconds = started.elapsed().as_secs_f64();
    let tasks = processed["tasks"].as_array().unwrap();
    let received: usize = tasks
        .iter()
        .map(|t| {
            t["slice"]
                .as_array()
                .map_or(0, |s| s.iter().filter(|e| e["processed"] == true).count())
        })
        .sum();
    assert_eq!(received, total, "every protected data processed: {processed}");
    println!(
        "{total} protected data, {per_task} per task ({} tasks, 2 workers): prepare {prepared:.1} s, prepare to last result {seconds:.1} s",
        tasks.len()
    );
}
