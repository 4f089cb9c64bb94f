//! Python apps in the sandbox: the pinned CPython runtime runs a bundle's `main.py` with the
//! scientific stack, under the same confinement as any module. Every probe below is an app
//! trying to get out; each must be refused.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use confide_enclave::EnclaveError;
use confide_enclave::python::{self, PythonError};
use confide_enclave::wasm::{AppInvocation, Entry, Sandbox};
use serde_json::Value;
use wasmtime::Module;

/// One sandbox and one compiled interpreter for every test here: compiling CPython is the
/// slow part (once per machine, then from the authenticated cache).
fn interpreter() -> &'static (Sandbox, Module, PathBuf) {
    static SHARED: OnceLock<(Sandbox, Module, PathBuf)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let cache = confide_devstack::deps::cache_dir();
        let runtime = confide_devstack::deps::python_runtime(&cache).expect("the pinned Python runtime");
        // The dev workers' cache and key: one compile serves these tests and the dev stack.
        let modules = cache.join("module-cache/dev");
        let key = confide_enclave::cache_key::for_provider(&confide_attest::provider::Simulation, Some(&modules));
        let sandbox = Sandbox::new().unwrap();
        let module = python::interpreter(&sandbox, &runtime, Some(&modules), key).unwrap();
        (sandbox, module, runtime)
    })
}

fn bundle(files: &[(&str, &str)]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut writer = zip::ZipWriter::new(&mut out);
    for (name, text) in files {
        writer
            .start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(text.as_bytes()).unwrap();
    }
    writer.finish().unwrap();
    out.into_inner()
}

struct Task {
    root: tempfile::TempDir,
}

impl Task {
    fn new() -> Task {
        let root = tempfile::tempdir().unwrap();
        for dir in ["in", "out", "area"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        Task { root }
    }

    fn input(&self) -> PathBuf {
        self.root.path().join("in")
    }

    fn output(&self) -> PathBuf {
        self.root.path().join("out")
    }

    fn run(&self, bundle: &[u8], args: &[&str]) -> (String, Result<(), EnclaveError>) {
        let (sandbox, module, runtime) = interpreter();
        let invocation = AppInvocation {
            args: args.iter().map(|a| a.to_string()).collect(),
            env: vec![
                ("IEXEC_IN".into(), "/iexec_in".into()),
                ("IEXEC_OUT".into(), "/iexec_out".into()),
                ("IEXEC_DATASET_FILENAME".into(), "data.csv".into()),
                ("IEXEC_REQUESTER_SECRET_1".into(), "hunter2".into()),
            ],
            input_dir: &self.input(),
            output_dir: &self.output(),
            memory_limit: 1 << 30,
            max_run: Duration::from_secs(120),
            entry: Entry::Command,
            mounts: Vec::new(),
        };
        let (output, outcome) = python::run_bundle(
            sandbox,
            module,
            bundle,
            runtime,
            &self.root.path().join("area"),
            invocation,
        )
        .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (text, outcome)
    }

    fn json(&self, name: &str) -> Value {
        serde_json::from_slice(&std::fs::read(self.output().join(name)).unwrap()).unwrap()
    }
}

const PANDAS_APP: &str = r#"
import json, os, sys
import pandas as pd
from sklearn.linear_model import LinearRegression

print("started", sys.argv[1:])
frame = pd.read_csv(os.path.join(os.environ["IEXEC_IN"], os.environ["IEXEC_DATASET_FILENAME"]))
means = frame.groupby("sensor")["temperature"].mean().round(3).to_dict()
model = LinearRegression().fit(frame[["humidity"]], frame["temperature"])
out = os.environ["IEXEC_OUT"]
with open(os.path.join(out, "result.json"), "w") as f:
    json.dump({"means": means, "slope": round(float(model.coef_[0]), 6), "secret": os.environ.get("IEXEC_REQUESTER_SECRET_1") == "hunter2"}, f)
with open(os.path.join(out, "computed.json"), "w") as f:
    json.dump({"deterministic-output-path": os.path.join(out, "result.json")}, f)
"#;

#[test]
fn a_pandas_and_scikit_learn_app_reads_iexec_in_and_writes_iexec_out() {
    let task = Task::new();
    std::fs::write(
        task.input().join("data.csv"),
        "sensor,temperature,humidity\na,10,1\na,12,2\nb,20,3\nb,22,4\n",
    )
    .unwrap();
    let (log, outcome) = task.run(&bundle(&[("main.py", PANDAS_APP)]), &["--fast", "two words"]);
    outcome.unwrap_or_else(|e| panic!("{e}\n{log}"));
    assert!(log.contains("started ['--fast', 'two words']"), "{log}");
    let result = task.json("result.json");
    assert_eq!(result["means"]["a"], 11.0);
    assert_eq!(result["means"]["b"], 21.0);
    assert_eq!(result["slope"], 4.4);
    assert_eq!(result["secret"], true);
    assert_eq!(
        task.json("computed.json")["deterministic-output-path"],
        "/iexec_out/result.json"
    );
}

const PROBES: &str = r##"
import json, os, sys

def attempt(name, action):
    try:
        action()
        return "ALLOWED"
    except BaseException as e:
        return "refused: " + type(e).__name__

def connect():
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect(("127.0.0.1", int(sys.argv[1])))

def write_input():
    with open("/iexec_in/planted", "w") as f:
        f.write("x")

def plant_module():
    # A writable folder on the import path would let one task's output become code.
    for entry in sys.path:
        probe = os.path.join(entry or ".", "planted_probe.py")
        with open(probe, "w") as f:
            f.write("x = 1")

results = {
    "socket": attempt("socket", connect),
    "host_file": attempt("host_file", lambda: open("/etc/passwd").read()),
    "host_root": attempt("host_root", lambda: os.listdir("/")),
    "proc": attempt("proc", lambda: open("/proc/self/environ").read()),
    "write_input": attempt("write_input", write_input),
    "write_app": attempt("write_app", lambda: open("/app/main.py", "a").write("#")),
    "write_stdlib": attempt("write_stdlib", lambda: open("/usr/local/lib/evil.py", "w").write("#")),
    "import_path": attempt("import_path", plant_module),
    "subprocess": attempt("subprocess", lambda: __import__("subprocess").run(["ls"])),
}
results["sys_path"] = sys.path
with open("/iexec_out/probes.json", "w") as f:
    json.dump(results, f)
"##;

#[test]
fn sockets_host_files_and_writes_outside_iexec_out_are_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let task = Task::new();
    let (log, outcome) = task.run(&bundle(&[("main.py", PROBES)]), &[&port]);
    outcome.unwrap_or_else(|e| panic!("{e}\n{log}"));
    let probes = task.json("probes.json");
    for probe in [
        "socket",
        "host_file",
        "host_root",
        "proc",
        "write_input",
        "write_app",
        "write_stdlib",
        "import_path",
        "subprocess",
    ] {
        let outcome = probes[probe].as_str().unwrap_or_default();
        assert!(outcome.starts_with("refused"), "{probe}: {outcome}\n{probes}");
    }
    assert!(listener.accept().is_err(), "no connection reached the host");
    assert!(!task.input().join("planted").exists());
    for entry in probes["sys_path"].as_array().unwrap() {
        let entry = entry.as_str().unwrap();
        assert!(
            entry == "/app" || entry.starts_with("/usr/local/lib"),
            "only the bundle and the runtime are on the import path: {entry}"
        );
    }
}

#[test]
fn an_import_the_runtime_does_not_ship_fails_with_its_own_code_and_logs() {
    let task = Task::new();
    let (log, outcome) = task.run(&bundle(&[("main.py", "import torch\n")]), &[]);
    let error = outcome.unwrap_err();
    assert_eq!(error.code(), "PYTHON_MODULE_NOT_FOUND");
    assert!(log.contains("No module named 'torch'"), "the log names it: {log}");
    assert!(
        !error.public_message().contains("torch"),
        "what leaves the enclave in clear is fixed"
    );
}

#[test]
fn python_apps_have_the_same_memory_cap_and_time_budget() {
    let task = Task::new();
    let (sandbox, module, runtime) = interpreter();
    let limited = |code: &str, memory: u64, seconds: u64| {
        let invocation = AppInvocation {
            args: vec![],
            env: vec![],
            input_dir: &task.input(),
            output_dir: &task.output(),
            memory_limit: memory,
            max_run: Duration::from_secs(seconds),
            entry: Entry::Command,
            mounts: Vec::new(),
        };
        let area = tempfile::tempdir().unwrap();
        let (_, outcome) = python::run_bundle(
            sandbox,
            module,
            &bundle(&[("main.py", code)]),
            runtime,
            area.path(),
            invocation,
        )
        .unwrap();
        outcome.unwrap_err().code()
    };
    assert_eq!(
        limited("x = bytearray(700 << 20)\n", 256 << 20, 60),
        "APP_OUT_OF_MEMORY"
    );
    assert_eq!(limited("while True: pass\n", 1 << 30, 2), "APP_TIMEOUT");
    // A wait is a host call, which an epoch tick cannot interrupt: the runtime's own
    // poll_oneoff ends it at the deadline.
    let started = std::time::Instant::now();
    assert_eq!(limited("import time\ntime.sleep(100000)\n", 1 << 30, 2), "APP_TIMEOUT");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the sleep ended at the budget"
    );
    let task = Task::new();
    let (log, outcome) = task.run(
        &bundle(&[(
            "main.py",
            "import time\nt = time.monotonic()\ntime.sleep(0.3)\nslept = time.monotonic() - t\nassert 0.29 < slept < 5, slept\nopen('/iexec_out/computed.json', 'w').write('{}')\n",
        )]),
        &[],
    );
    outcome.unwrap_or_else(|e| panic!("a short sleep sleeps as asked: {e}\n{log}"));
    assert_eq!(limited("import sys; sys.exit(3)\n", 1 << 30, 60), "APP_EXIT_NONZERO");
}

#[test]
fn a_bundle_without_main_or_a_swapped_runtime_is_refused_before_the_app_runs() {
    let (sandbox, module, runtime) = interpreter();
    let task = Task::new();
    let invocation = || AppInvocation {
        args: vec![],
        env: vec![],
        input_dir: Path::new("/nonexistent"),
        output_dir: Path::new("/nonexistent"),
        memory_limit: 1 << 30,
        max_run: Duration::from_secs(10),
        entry: Entry::Command,
        mounts: Vec::new(),
    };
    let area = task.root.path().join("a1");
    let error = python::run_bundle(
        sandbox,
        module,
        &bundle(&[("app.py", "")]),
        runtime,
        &area,
        invocation(),
    )
    .err()
    .unwrap();
    assert_eq!(error.code(), "APP_BUNDLE_INVALID");

    // A host that swaps the standard library for its own is caught by the copy's hash.
    let swapped = task.root.path().join("swapped-runtime");
    std::fs::create_dir_all(&swapped).unwrap();
    std::fs::write(swapped.join(python::STDLIB_FILE), b"PK\x03\x04 someone else's stdlib").unwrap();
    let area = task.root.path().join("a2");
    let error = python::run_bundle(
        sandbox,
        module,
        &bundle(&[("main.py", "")]),
        &swapped,
        &area,
        invocation(),
    )
    .err()
    .unwrap();
    assert!(
        matches!(error, EnclaveError::Python(PythonError::RuntimeMismatch { .. })),
        "{error}"
    );
    assert!(
        !area.join("lib").join(python::RUNTIME.stdlib_guest_name).exists(),
        "the copy is removed"
    );

    // And a swapped interpreter, with no cache entry to fall back on.
    std::fs::write(swapped.join(python::INTERPRETER_FILE), b"\0asm\x01\0\0\0").unwrap();
    let error = python::interpreter(sandbox, &swapped, None, None).err().unwrap();
    assert_eq!(error.code(), "PYTHON_RUNTIME_MISMATCH");
}
