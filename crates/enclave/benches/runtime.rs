//! The enclave runtime's speed: from a runtime start to the app's first instruction (the
//! small example, compiled-module cache warm and cold), and the demo app's compute in
//! wasm against the same Rust code native.
//!
//! `cargo bench -p confide-enclave --bench runtime` (CONFIDE_BENCH_CSV_MB sets the CSV size, default 64;
//! CONFIDE_BENCH_RUNS the runs of each, default 5).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use confide_enclave::wasm::{AppInvocation, Entry, Sandbox};

fn module(name: &str) -> Vec<u8> {
    std::fs::read(confide_testkit::example_app(name)).unwrap()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn invocation<'a>(input: &'a Path, output: &'a Path, args: &[&str], dataset: Option<&str>) -> AppInvocation<'a> {
    let mut env = vec![
        ("IEXEC_IN".to_owned(), "/iexec_in".to_owned()),
        ("IEXEC_OUT".into(), "/iexec_out".into()),
    ];
    if let Some(name) = dataset {
        env.push(("IEXEC_DATASET_FILENAME".into(), name.into()));
    }
    AppInvocation {
        args: std::iter::once("app")
            .chain(args.iter().copied())
            .map(str::to_owned)
            .collect(),
        env,
        input_dir: input,
        output_dir: output,
        memory_limit: 512 << 20,
        max_run: Duration::from_secs(600),
        entry: Entry::Command,
        mounts: Vec::new(),
    }
}

fn dirs(root: &Path) -> (PathBuf, PathBuf) {
    let (input, output) = (root.join("in"), root.join("out"));
    std::fs::create_dir_all(&input).unwrap();
    std::fs::create_dir_all(&output).unwrap();
    (input, output)
}

fn startup() {
    let echo = module("echo");
    let hash: [u8; 32] = confide_crypto::dataset::checksum(echo.as_slice()).unwrap().0;
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("cache");
    let (input, output) = dirs(root.path());
    for (label, cached) in [("cold (compile)", false), ("warm (cached)", true)] {
        let mut samples = Vec::new();
        for _ in 0..20 {
            if !cached {
                let _ = std::fs::remove_dir_all(&cache);
            }
            let started = Instant::now();
            let sandbox = Sandbox::new().unwrap();
            let loaded = sandbox.load(&echo, &hash, Some(&cache), Some([1; 16])).unwrap();
            // The echo app with no input does almost nothing: this is start-up cost.
            sandbox.run(&loaded, invocation(&input, &output, &[], None)).unwrap();
            samples.push(started.elapsed());
        }
        println!(
            "runtime start → echo app done, {label}: median {:.1} ms",
            median(samples).as_secs_f64() * 1e3
        );
    }
}

fn csv(path: &Path, megabytes: usize) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "id,city,temperature,humidity,pressure").unwrap();
    let mut written = 0;
    let mut i: u64 = 0;
    while written < megabytes << 20 {
        let line = format!(
            "{i},city{},{}.{},{},{}\n",
            i % 97,
            (i * 7919) % 45,
            i % 10,
            (i * 31) % 100,
            950 + (i * 13) % 100
        );
        written += line.len();
        out.write_all(line.as_bytes()).unwrap();
        i += 1;
    }
}

fn compute() {
    let megabytes: usize = confide_testkit::bench::env_usize("CONFIDE_BENCH_CSV_MB", 64);
    let root = tempfile::tempdir().unwrap();
    let (input, output) = dirs(root.path());
    let data = input.join("data.csv");
    csv(&data, megabytes);
    let mut native = Vec::new();
    let mut wasm = Vec::new();
    let sandbox = Sandbox::new().unwrap();
    let stats = module("csv-stats");
    let loaded = sandbox.load(&stats, &[0; 32], None, None).unwrap();
    let runs: usize = confide_testkit::bench::env_usize("CONFIDE_BENCH_RUNS", 5);
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let file = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(&data).unwrap());
        let result = csv_stats::compute(file).unwrap();
        std::hint::black_box(result.to_json());
        native.push(started.elapsed());
        let started = Instant::now();
        sandbox
            .run(&loaded, invocation(&input, &output, &[], Some("data.csv")))
            .unwrap();
        wasm.push(started.elapsed());
    }
    // This VM's speed drifts by up to 2x over seconds, as its neighbours come and go: each
    // run's wasm time is divided by the native time taken just before it, and the median
    // of those ratios is the figure (medians of the two series apart are printed too).
    let mut ratios: Vec<f64> = native
        .iter()
        .zip(&wasm)
        .map(|(n, w)| w.as_secs_f64() / n.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    let (native, wasm) = (median(native), median(wasm));
    println!(
        "csv-stats over {megabytes} MiB, {runs} runs: native {:.0} ms ({:.0} MiB/s), wasm {:.0} ms ({:.0} MiB/s) (medians); wasm/native per run: median {:.2}x (range {:.2}–{:.2})",
        native.as_secs_f64() * 1e3,
        megabytes as f64 / native.as_secs_f64(),
        wasm.as_secs_f64() * 1e3,
        megabytes as f64 / wasm.as_secs_f64(),
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1],
    );
}

fn main() {
    startup();
    compute();
}
