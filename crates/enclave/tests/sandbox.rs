//! The app sandbox with the example apps: iExec's conventions inside, nothing else
//! reachable, and every way an app can misbehave ends in its own clean error.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use confide_enclave::wasm::{AppInvocation, Entry, Sandbox, WasmError, WriteQuota};

/// The example module `name`, built by `scripts/build-apps.sh` (built here if missing).
fn module(name: &str) -> Vec<u8> {
    std::fs::read(confide_testkit::example_app(name)).unwrap()
}

struct Dirs {
    _root: tempfile::TempDir,
    input: PathBuf,
    output: PathBuf,
}

fn dirs() -> Dirs {
    let root = tempfile::tempdir().unwrap();
    let input = root.path().join("in");
    let output = root.path().join("out");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::create_dir_all(&output).unwrap();
    Dirs {
        _root: root,
        input,
        output,
    }
}

fn run(
    sandbox: &Sandbox,
    name: &str,
    args: &[&str],
    dirs: &Dirs,
    memory_mib: u64,
    seconds: u64,
) -> Result<String, WasmError> {
    run_bytes(sandbox, &module(name), args, dirs, memory_mib, seconds)
}

fn run_bytes(
    sandbox: &Sandbox,
    bytes: &[u8],
    args: &[&str],
    dirs: &Dirs,
    memory_mib: u64,
    seconds: u64,
) -> Result<String, WasmError> {
    let module = sandbox.load(bytes, &[0; 32], None, None)?;
    let output = sandbox.run(
        &module,
        AppInvocation {
            args: std::iter::once("app")
                .chain(args.iter().copied())
                .map(str::to_owned)
                .collect(),
            env: vec![
                ("IEXEC_IN".into(), "/iexec_in".into()),
                ("IEXEC_OUT".into(), "/iexec_out".into()),
                ("IEXEC_DATASET_FILENAME".into(), "data.csv".into()),
                ("IEXEC_REQUESTER_SECRET_1".into(), "hunter2".into()),
            ],
            input_dir: &dirs.input,
            output_dir: &dirs.output,
            memory_limit: memory_mib << 20,
            max_run: Duration::from_secs(seconds),
            entry: Entry::Command,
            mounts: Vec::new(),
        },
    )?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn the_csv_app_computes_statistics_from_iexec_in_to_iexec_out() {
    let sandbox = Sandbox::new().unwrap();
    let d = dirs();
    std::fs::write(d.input.join("data.csv"), "name,age\nann,30\nbob,50\n").unwrap();
    let stdout = run(&sandbox, "csv-stats", &[], &d, 64, 10).unwrap();
    assert!(stdout.contains("2 rows, 2 columns"), "{stdout}");
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.output.join("result.json")).unwrap()).unwrap();
    assert_eq!(result["columns"][1]["mean"], 40.0);
    let computed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.output.join("computed.json")).unwrap()).unwrap();
    assert_eq!(computed["deterministic-output-path"], "/iexec_out/result.json");
}

#[test]
fn the_app_sees_its_args_env_and_inputs_but_no_secret_values_leave_it() {
    let sandbox = Sandbox::new().unwrap();
    let d = dirs();
    std::fs::write(d.input.join("data.csv"), "x\n1\n").unwrap();
    run(&sandbox, "echo", &["--stats", "two words"], &d, 64, 10).unwrap();
    let echo = std::fs::read_to_string(d.output.join("echo.txt")).unwrap();
    assert!(echo.contains(r#"args: ["--stats", "two words"]"#), "{echo}");
    assert!(echo.contains("env IEXEC_REQUESTER_SECRET_1=present"), "{echo}");
    assert!(echo.contains("file data.csv 4"), "{echo}");
}

#[test]
fn host_files_outside_the_sandbox_are_unreachable() {
    let sandbox = Sandbox::new().unwrap();
    let d = dirs();
    // The app exits 42 if it can read any of /etc/passwd, /proc/self/environ, ../etc/passwd.
    run(&sandbox, "echo", &["escape"], &d, 64, 10).unwrap();
}

#[test]
fn input_is_read_only() {
    let sandbox = Sandbox::new().unwrap();
    let d = dirs();
    // The app exits 43 if its write into /iexec_in succeeds.
    run(&sandbox, "echo", &["write-input"], &d, 64, 10).unwrap();
    assert!(!d.input.join("planted").exists());
}

#[test]
fn traps_loops_memory_and_exit_codes_each_end_cleanly() {
    let sandbox = Sandbox::new().unwrap();
    let d = dirs();
    assert_eq!(
        run(&sandbox, "echo", &["trap"], &d, 64, 10).unwrap_err().code(),
        "APP_TRAPPED"
    );

    let started = Instant::now();
    let timeout = run(&sandbox, "echo", &["loop"], &d, 64, 1).unwrap_err();
    assert!(matches!(timeout, WasmError::Timeout { seconds: 1 }), "{timeout}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the wall-time budget is enforced"
    );

    let oom = run(&sandbox, "echo", &["oom"], &d, 64, 10).unwrap_err();
    assert!(matches!(oom, WasmError::OutOfMemory { limit_mib: 64 }), "{oom}");

    assert!(matches!(
        run(&sandbox, "echo", &["exit3"], &d, 64, 10).unwrap_err(),
        WasmError::Exit(3)
    ));
    assert_eq!(
        sandbox.load(b"not wasm", &[0; 32], None, None).unwrap_err().code(),
        "APP_INVALID_MODULE"
    );
}

#[test]
fn compiled_modules_are_cached_only_with_a_valid_mac() {
    let sandbox = Sandbox::new().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let bytes = module("echo");
    let hash = [7u8; 32];
    sandbox.load(&bytes, &hash, Some(cache.path()), Some([1; 16])).unwrap();
    let entries: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(entries.len(), 1, "one authenticated entry");
    // A tampered entry is not loaded (it is recompiled and rewritten instead).
    let mut entry = std::fs::read(&entries[0]).unwrap();
    let middle = entry.len() / 2;
    entry[middle] ^= 0xff;
    std::fs::write(&entries[0], &entry).unwrap();
    let module = sandbox.load(&bytes, &hash, Some(cache.path()), Some([1; 16])).unwrap();
    let d = dirs();
    let output = sandbox
        .run(
            &module,
            AppInvocation {
                args: vec!["app".into()],
                env: vec![],
                input_dir: &d.input,
                output_dir: &d.output,
                memory_limit: 64 << 20,
                max_run: Duration::from_secs(10),
                entry: Entry::Command,
                mounts: Vec::new(),
            },
        )
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("args: []"));
    assert_ne!(
        std::fs::read(&entries[0]).unwrap(),
        entry,
        "the tampered entry was replaced"
    );
}

#[test]
fn one_runs_budget_does_not_end_another_run_on_the_same_engine() {
    let sandbox = Sandbox::new().unwrap();
    let (short, long) = (dirs(), dirs());
    std::thread::scope(|scope| {
        let long_run = scope.spawn(|| {
            let started = Instant::now();
            let outcome = run(&sandbox, "echo", &["loop"], &long, 64, 4);
            (outcome, started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(200));
        let outcome = run(&sandbox, "echo", &["loop"], &short, 64, 1);
        assert!(matches!(outcome, Err(WasmError::Timeout { seconds: 1 })));
        let (outcome, elapsed) = long_run.join().unwrap();
        assert!(matches!(outcome, Err(WasmError::Timeout { seconds: 4 })));
        assert!(
            elapsed >= Duration::from_secs(4),
            "the 4 s run went on past the 1 s run's deadline ({elapsed:?})"
        );
    });
}

/// A command module with `count` funcref tables of `elements` each and an empty `_start`,
/// written out byte by byte (no toolchain makes such a module on purpose).
fn module_with_tables(count: u32, elements: u32) -> Vec<u8> {
    fn leb(mut n: u32, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
        out.push(id);
        leb(body.len() as u32, out);
        out.extend_from_slice(body);
    }
    let mut wasm = b"\0asm\x01\0\0\0".to_vec();
    section(1, &[1, 0x60, 0, 0], &mut wasm); // one type: () -> ()
    section(3, &[1, 0], &mut wasm); // one function of that type
    let mut tables = Vec::new();
    leb(count, &mut tables);
    for _ in 0..count {
        tables.extend_from_slice(&[0x70, 0x00]); // funcref, a minimum and no maximum
        leb(elements, &mut tables);
    }
    section(4, &tables, &mut wasm);
    section(7, &[1, 6, b'_', b's', b't', b'a', b'r', b't', 0, 0], &mut wasm);
    section(10, &[1, 2, 0, 0x0b], &mut wasm); // its body: no locals, end
    wasm
}

#[test]
fn tables_count_against_the_apps_memory() {
    let sandbox = Sandbox::new().unwrap();
    let d = dirs();
    run_bytes(&sandbox, &module_with_tables(2, 1000), &[], &d, 64, 10).expect("a module with small tables runs");
    for (count, elements) in [(1, 2_000_000), (4, 400_000), (50, 1)] {
        let refused = run_bytes(&sandbox, &module_with_tables(count, elements), &[], &d, 64, 10).unwrap_err();
        assert_eq!(
            refused.code(),
            "APP_OUT_OF_MEMORY",
            "{count} tables of {elements}: {refused}"
        );
    }
}

#[test]
fn writes_past_the_quota_stop_the_app_and_refuse_its_result() {
    let quota = WriteQuota {
        max_bytes: 8 << 20,
        max_entries: 100,
    };
    let sandbox = Sandbox::new().unwrap().with_write_quota(quota);
    for how in ["fill-unlinked", "fill-disk", "sparse", "many-files"] {
        let d = dirs();
        let started = Instant::now();
        let refused = run(&sandbox, "echo", &[how], &d, 64, 60).unwrap_err();
        assert!(
            matches!(refused, WasmError::WriteQuota { quota: q } if q == quota),
            "{how}: {refused}"
        );
        assert_eq!(refused.code(), "APP_WRITE_QUOTA");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{how}: stopped long before its time budget"
        );
    }
    // Within the quota, writing is fine.
    let d = dirs();
    run(&sandbox, "echo", &[], &d, 64, 10).unwrap();
}
