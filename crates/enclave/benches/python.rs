//! Python apps' speed: the runtime's compile (once per worker), a task's start to the app's
//! first line with the compiled runtime cached, and the demo's pandas app
//! (`examples/apps/python-stats`) on a 1 MiB and a 64 MiB CSV in the sandbox against the
//! same script under native CPython with pandas.
//!
//! `cargo bench -p confide-enclave --bench python`. CONFIDE_NATIVE_PYTHON names the native
//! interpreter (default `python3`; it needs pandas, scikit-learn and matplotlib: skipped with
//! a note otherwise); CONFIDE_BENCH_RUNS the runs of each warm figure (default 5);
//! CONFIDE_BENCH_SKIP_COLD=1 leaves out the cold compile.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use confide_attest::provider::Simulation;
use confide_enclave::python;
use confide_enclave::wasm::{AppInvocation, Entry, Sandbox};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn bundle_of(dir: &Path) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut writer = zip::ZipWriter::new(&mut out);
    let mut names: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path()).collect();
    names.sort();
    for path in names.iter().filter(|p| p.is_file()) {
        let name = path.file_name().unwrap().to_str().unwrap();
        writer
            .start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(&std::fs::read(path).unwrap()).unwrap();
    }
    writer.finish().unwrap();
    out.into_inner()
}

fn bundle_with_main(code: &str) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut writer = zip::ZipWriter::new(&mut out);
    writer
        .start_file("main.py", zip::write::SimpleFileOptions::default())
        .unwrap();
    writer.write_all(code.as_bytes()).unwrap();
    writer.finish().unwrap();
    out.into_inner()
}

/// The demo's measurements (sensor, temperature, humidity, pressure), `bytes` long.
fn csv(path: &Path, bytes: usize) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut written = 0;
    let mut seed = 7u64;
    let mut next = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let header = "sensor,temperature,humidity,pressure\n";
    file.write_all(header.as_bytes()).unwrap();
    written += header.len();
    let mut i = 0;
    while written < bytes {
        let line = format!(
            "s{:04},{:.2},{:.1},{:.1}\n",
            i % 500,
            15.0 + 10.0 * next(),
            30.0 + 50.0 * next(),
            990.0 + 30.0 * next()
        );
        file.write_all(line.as_bytes()).unwrap();
        written += line.len();
        i += 1;
    }
}

struct Run {
    elapsed: Duration,
    first_line: Option<Duration>,
}

fn run_in_sandbox(
    sandbox: &Sandbox,
    runtime: &Path,
    cache: &Path,
    bundle: &[u8],
    input: &Path,
    dataset: Option<&str>,
) -> Run {
    let started = Instant::now();
    let key = confide_enclave::cache_key::for_provider(&Simulation, Some(cache));
    let interpreter = python::interpreter(sandbox, runtime, Some(cache), key).unwrap();
    let work = tempfile::tempdir().unwrap();
    let output = work.path().join("out");
    std::fs::create_dir_all(&output).unwrap();
    let mut env = vec![
        ("IEXEC_IN".to_owned(), "/iexec_in".to_owned()),
        ("IEXEC_OUT".into(), "/iexec_out".into()),
    ];
    if let Some(name) = dataset {
        env.push(("IEXEC_DATASET_FILENAME".into(), name.into()));
    }
    let invocation = AppInvocation {
        args: vec![],
        env,
        input_dir: input,
        output_dir: &output,
        memory_limit: 4 << 30,
        max_run: Duration::from_secs(900),
        entry: Entry::Reactor,
        mounts: vec![],
    };
    let (out, outcome) = python::run_bundle(
        sandbox,
        &interpreter,
        bundle,
        runtime,
        &work.path().join("area"),
        invocation,
    )
    .unwrap();
    let elapsed = started.elapsed();
    if let Err(error) = outcome {
        panic!(
            "{error}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The app prints the seconds it has run since its first line: the start is the rest.
    let text = String::from_utf8_lossy(&out.stdout);
    let first_line = text
        .lines()
        .find_map(|l| l.strip_prefix("alive after "))
        .and_then(|s| s.trim().parse::<f64>().ok())
        .map(|since_first| elapsed.saturating_sub(Duration::from_secs_f64(since_first)));
    Run { elapsed, first_line }
}

fn native(interpreter: &str, app: &Path, input: &Path, dataset: &str) -> Option<Duration> {
    let output = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let status = std::process::Command::new(interpreter)
        .arg(app.join("main.py"))
        .env("IEXEC_IN", input)
        .env("IEXEC_OUT", output.path())
        .env("IEXEC_DATASET_FILENAME", dataset)
        .env("MPLBACKEND", "Agg")
        .stdout(std::process::Stdio::null())
        .status()
        .ok()?;
    status.success().then(|| started.elapsed())
}

fn main() {
    let runs: usize = confide_testkit::bench::env_usize("CONFIDE_BENCH_RUNS", 5);
    let runtime = confide_devstack::deps::python_runtime(&confide_devstack::deps::cache_dir()).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/apps/python-stats/app");
    let cache_dir: PathBuf = tempfile::tempdir().unwrap().keep();
    let sandbox = Sandbox::new().unwrap();
    println!("python apps ({}), {runs} runs each (medians)", python::RUNTIME.label());

    let key = confide_enclave::cache_key::for_provider(&Simulation, Some(&cache_dir));
    let started = Instant::now();
    python::interpreter(&sandbox, &runtime, Some(&cache_dir), key).unwrap();
    // Otherwise only warming the cache, not reported.
    if std::env::var_os("CONFIDE_BENCH_SKIP_COLD").is_none() {
        println!(
            "  cold compile of the runtime (once per worker): {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }

    let empty = tempfile::tempdir().unwrap();
    let hello = bundle_with_main(
        "import time\nt0 = time.monotonic()\nprint('first line')\nprint('alive after', time.monotonic() - t0)\n",
    );
    let mut starts = Vec::new();
    let mut wholes = Vec::new();
    for _ in 0..runs {
        // A fresh engine each time, as a new enclave process has.
        let fresh = Sandbox::new().unwrap();
        let run = run_in_sandbox(&fresh, &runtime, &cache_dir, &hello, empty.path(), None);
        starts.push(run.first_line.unwrap_or(run.elapsed));
        wholes.push(run.elapsed);
    }
    println!(
        "  warm task start to the app's first line: {:.2} s (whole run {:.2} s)",
        median(starts).as_secs_f64(),
        median(wholes).as_secs_f64()
    );

    let app_bundle = bundle_of(&root);
    let native_python = std::env::var("CONFIDE_NATIVE_PYTHON").unwrap_or_else(|_| "python3".into());
    let native_ok = std::process::Command::new(&native_python)
        .args(["-c", "import pandas, sklearn, matplotlib"])
        .status()
        .is_ok_and(|s| s.success());
    for mib in [1usize, 64] {
        let input = tempfile::tempdir().unwrap();
        csv(&input.path().join("measurements.csv"), mib << 20);
        let sandboxed: Vec<Duration> = (0..runs)
            .map(|_| {
                let fresh = Sandbox::new().unwrap();
                run_in_sandbox(
                    &fresh,
                    &runtime,
                    &cache_dir,
                    &app_bundle,
                    input.path(),
                    Some("measurements.csv"),
                )
                .elapsed
            })
            .collect();
        let sandboxed = median(sandboxed);
        let line = format!(
            "  python-stats on {mib} MiB: sandbox {:.2} s (task start included)",
            sandboxed.as_secs_f64()
        );
        if native_ok {
            let natives: Vec<Duration> = (0..runs)
                .filter_map(|_| native(&native_python, &root, input.path(), "measurements.csv"))
                .collect();
            let native = median(natives);
            println!(
                "{line}, native CPython {:.2} s: {:.2}x",
                native.as_secs_f64(),
                sandboxed.as_secs_f64() / native.as_secs_f64()
            );
        } else {
            println!(
                "{line} (no native pandas: set CONFIDE_NATIVE_PYTHON to a python with pandas, scikit-learn, matplotlib)"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&cache_dir);
}
