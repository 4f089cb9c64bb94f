//! Protecting data on the dev stack, end to end as `confide protect` does it (schema, zip,
//! key, encryption, upload, registration through the DataProtector, key to the SMS): a
//! 1 KiB object, and a 10 MiB file. Each run is the whole command, process start included.
//!
//! Then the store's IPFS add (`POST /api/v0/add`, as the SDK uploads) of a 60 MiB file,
//! against writing the same bytes to this machine's disk.
//!
//! `cargo bench -p confide --bench protect` (CONFIDE_BENCH_RUNS, default 20; the file is
//! protected a quarter as often).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::*;

fn main() {
    build_release_enclave();
    let runs = confide_testkit::bench::env_usize("CONFIDE_BENCH_RUNS", 20);
    let stack = Stack::start();
    let owner = stack.project("owner");

    let timed = |label: &str, runs: usize, args: &dyn Fn(usize) -> Vec<String>| {
        let mut seconds = Vec::new();
        for i in 0..runs {
            let args = args(i);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let started = Instant::now();
            stack.ok(DATASET_OWNER, "owner", &args);
            seconds.push(started.elapsed().as_secs_f64());
        }
        let p50 = confide_testkit::bench::quantile(&mut seconds, 0.5);
        let p99 = confide_testkit::bench::quantile(&mut seconds, 0.99);
        println!("{label}: p50 {p50:.3} s, p99 {p99:.3} s ({runs} runs)");
    };

    // A 1 KiB object: fields of each type, a new one each run (the same content would be
    // the same dataset, which the registry refuses twice).
    timed("protect a 1 KiB object", runs, &|i| {
        let padding = "x".repeat(900);
        let json = format!(
            r#"{{"email":"user{i}@example.com","profile":{{"age":{i}.5,"id":{{"$i128":"{i}"}},"verified":true}},"note":"{padding}"}}"#
        );
        let path = owner.join(format!("object-{i}.json"));
        std::fs::write(&path, json).unwrap();
        vec!["protect".into(), "--json".into(), path.display().to_string()]
    });

    // A 10 MiB file.
    timed("protect a 10 MiB file", runs.div_ceil(4), &|i| {
        let path = owner.join(format!("file-{i}.bin"));
        std::fs::write(&path, confide_testkit::bench::pseudo_random(10 << 20, i as u64)).unwrap();
        vec!["protect".into(), "--file".into(), format!("file={}", path.display())]
    });

    ipfs_add_throughput(&stack, &owner);
}

/// The store's kubo `add` of a 60 MiB file (curl, multipart as the SDK sends it) against
/// writing the same bytes to a file here.
fn ipfs_add_throughput(stack: &Stack, dir: &std::path::Path) {
    const SIZE: usize = 60 << 20;
    let url = format!("{}/api/v0/add", stack.service_url("store"));
    let mut add = Vec::new();
    let mut disk = Vec::new();
    for i in 0..3u64 {
        let bytes = confide_testkit::bench::pseudo_random(SIZE, 1000 + i);
        let path = dir.join(format!("add-{i}.bin"));
        let started = Instant::now();
        std::fs::write(&path, &bytes).unwrap();
        std::fs::File::open(&path).unwrap().sync_all().unwrap();
        disk.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        let output = std::process::Command::new("curl")
            .args(["-sf", "-X", "POST", "-F"])
            .arg(format!("file=@{}", path.display()))
            .arg(&url)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
        add.push(started.elapsed().as_secs_f64());
    }
    let mb = SIZE as f64 / 1e6;
    let add = confide_testkit::bench::quantile(&mut add, 0.5);
    let disk = confide_testkit::bench::quantile(&mut disk, 0.5);
    println!(
        "IPFS add of 60 MiB: median {add:.2} s ({:.0} MB/s); the same bytes written and synced to disk: {disk:.2} s ({:.0} MB/s)",
        mb / add,
        mb / disk
    );
}
