//! The requester's journey on the dev stack, timed: one TEE task of the demo (a 1 MiB CSV
//! dataset) from `confide app run` to the decrypted result, and a deal of 100 tasks run by
//! two workers, every result downloaded and decrypted.
//!
//! `cargo bench -p confide --bench journey` (CONFIDE_BENCH_RUNS, default 5;
//! CONFIDE_BENCH_VOLUME, default 100).

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::Instant;

use common::*;

fn csv_of(bytes: usize) -> String {
    let mut text = String::from("sensor,temperature,humidity,pressure\n");
    let mut i = 0u64;
    while text.len() < bytes {
        let x = i.wrapping_mul(2654435761) % 1000;
        text.push_str(&format!(
            "s{:04},{}.{:02},{}.{},{}\n",
            i % 500,
            15 + x % 10,
            x % 100,
            30 + x % 50,
            x % 10,
            990 + x % 30
        ));
        i += 1;
    }
    text
}

fn main() {
    // The enclave runtime beside the benchmarked `confide` (both release builds).
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "confide-enclave"])
        .status()
        .unwrap();
    assert!(status.success());
    let runs: usize = confide_testkit::bench::env_usize("CONFIDE_BENCH_RUNS", 5);
    let volume = confide_testkit::bench::env_usize("CONFIDE_BENCH_VOLUME", 100) as u64;

    let stack = Stack::start_with(&["--workers", "2"]);
    let dataset = publish_dataset(&stack, "owner", "data.csv", &csv_of(1 << 20), "0");
    let app = publish_app(&stack, "csv-stats");
    requester_keys(&stack);

    let run = |volume: u64, folder: &str| {
        let volume = volume.to_string();
        stack.ok(
            REQUESTER,
            "requester",
            &[
                "app",
                "run",
                &app,
                "--dataset",
                &dataset,
                "--tag",
                "tee,tdx",
                "--encrypt-result",
                "--volume",
                &volume,
                "--watch",
                "--download",
                folder,
            ],
        )
    };
    let decrypt = |path: &str, index: usize| {
        stack.ok(
            REQUESTER,
            "requester",
            &[
                "result",
                "decrypt",
                path,
                "--output",
                &format!("r{index}.zip"),
                "--force",
            ],
        );
    };

    let mut single = Vec::new();
    for i in 0..runs {
        let started = Instant::now();
        let answer = run(1, &format!("single-{i}"));
        decrypt(answer["results"][0]["resultPath"].as_str().unwrap(), i);
        single.push(started.elapsed());
    }
    single.sort();
    let median = single[single.len() / 2];
    println!(
        "one TEE task, 1 MiB CSV, app run -> decrypted result: median {:.2} s, min {:.2} s, max {:.2} s ({runs} runs)",
        median.as_secs_f64(),
        single[0].as_secs_f64(),
        single[single.len() - 1].as_secs_f64()
    );

    let started = Instant::now();
    let answer = run(volume, "bag");
    let computed = started.elapsed();
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len() as u64, volume);
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result["status"], "COMPLETED");
        decrypt(result["resultPath"].as_str().unwrap(), 1000 + i);
    }
    let total = started.elapsed();
    println!(
        "a deal of {volume} tasks, 2 workers: all completed and downloaded in {:.1} s; all decrypted by {:.1} s",
        computed.as_secs_f64(),
        total.as_secs_f64()
    );
}
