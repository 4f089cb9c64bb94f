//! The requester's journey on the dev stack, with `confide` as a user runs it: the
//! tutorial's dataset, the CSV app as WebAssembly, `app run` matching the market's orders,
//! the dev workerpool's scheduler and worker running the task in the (simulated) enclave,
//! and the beneficiary decrypting the result. Then the faults: a worker killed mid-task,
//! the scheduler, the SMS and the store down for a while, a dataset whose checksum fails
//! (refunded at the deadline), and requests that cannot run.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const CSV: &str = "name,age,score\nann,30,1.5\nbob,50,2.5\ncid,,3.5\n";
const SPARE: &str = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720";

/// The dataset owner's tutorial: encrypt, host, deploy, push the key, publish a TEE order.
fn publish_dataset(stack: &Stack, project: &str, name: &str, price: &str) -> String {
    stack.ok(DATASET_OWNER, project, &["init"]);
    stack.ok(DATASET_OWNER, project, &["tee", "init"]);
    std::fs::write(stack.project(project).join(format!("tee/original-dataset/{name}")), CSV).unwrap();
    stack.ok(DATASET_OWNER, project, &["tee", "encrypt-dataset"]);
    stack.ok(DATASET_OWNER, project, &["dataset", "init"]);
    let encrypted = format!("tee/encrypted-dataset/{name}.enc");
    stack.ok(DATASET_OWNER, project, &["dataset", "upload", &encrypted]);
    let dataset = stack.ok(DATASET_OWNER, project, &["dataset", "deploy"])["address"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = format!(".tee-secrets/dataset/{name}.key");
    stack.ok(
        DATASET_OWNER,
        project,
        &["tee", "push-secret", "--dataset", &dataset, "--secret-path", &key],
    );
    stack.ok(
        DATASET_OWNER,
        project,
        &["dataset", "publish", &dataset, "--tag", "tee", "--price", price],
    );
    dataset
}

/// The app developer registers an example app and offers it for TDX enclaves.
fn publish_app(stack: &Stack, name: &str) -> String {
    stack.ok(APP_DEVELOPER, name, &["init"]);
    stack.ok(APP_DEVELOPER, name, &["app", "init"]);
    stack.ok(
        APP_DEVELOPER,
        name,
        &["app", "module", example_app(name).to_str().unwrap(), "--upload"],
    );
    let app = stack.ok(APP_DEVELOPER, name, &["app", "deploy"])["address"]
        .as_str()
        .unwrap()
        .to_owned();
    stack.ok(APP_DEVELOPER, name, &["app", "publish", &app, "--tag", "tee,tdx"]);
    app
}

fn requester_keys(stack: &Stack) {
    stack.ok(REQUESTER, "requester", &["init"]);
    stack.ok(REQUESTER, "requester", &["result", "generate-encryption-keypair"]);
    stack.ok(REQUESTER, "requester", &["result", "push-encryption-key"]);
}

/// `app run` without waiting; returns the first task id.
fn start_task(stack: &Stack, app: &str, extra: &[&str]) -> String {
    let mut args = vec!["app", "run", app, "--tag", "tee,tdx", "--encrypt-result"];
    args.extend(extra);
    let run = stack.ok(REQUESTER, "requester", &args);
    run["tasks"][0].as_str().unwrap().to_owned()
}

fn watch(stack: &Stack, task: &str) -> Value {
    stack.ok(
        REQUESTER,
        "requester",
        &["task", "show", task, "--watch", "--timeout", "90"],
    )["task"]
        .clone()
}

fn scheduler_view(stack: &Stack, task: &str) -> Value {
    let url = format!("{}/tasks/{task}", stack.service_url("scheduler"));
    reqwest::blocking_get(&url)
}

mod reqwest {
    /// A GET on loopback without pulling an HTTP client into the tests: curl-free, via std.
    pub fn blocking_get(url: &str) -> serde_json::Value {
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_once('/').unwrap();
        let mut stream = std::net::TcpStream::connect(host).unwrap();
        use std::io::{Read, Write};
        write!(stream, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
    }

    pub fn post_json(url: &str, body: &serde_json::Value) -> serde_json::Value {
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest
            .split_once('/')
            .map(|(h, p)| (h, format!("/{p}")))
            .unwrap_or((rest, "/".into()));
        let mut stream = std::net::TcpStream::connect(host).unwrap();
        use std::io::{Read, Write};
        let text = body.to_string();
        write!(
            stream,
            "POST {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
    }
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Kills a service of the stack and waits until it is gone.
fn kill(pid: u64, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_until("the process to end", Duration::from_secs(20), || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
}

fn decrypted_stats(stack: &Stack, result: &str, folder: &str) -> Value {
    stack.ok(
        REQUESTER,
        "requester",
        &[
            "result",
            "decrypt",
            result,
            "--output",
            &format!("{folder}.zip"),
            "--extract",
            folder,
        ],
    );
    let text = std::fs::read_to_string(stack.project("requester").join(folder).join("result.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn app_run_gives_the_beneficiary_a_result_only_they_can_read() {
    let stack = Stack::start();
    let dataset = publish_dataset(&stack, "owner", "people.csv", "0");
    let app = publish_app(&stack, "csv-stats");
    requester_keys(&stack);

    let run = stack.ok(
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
            "--watch",
            "--download",
            "results",
        ],
    );
    let result = &run["results"][0];
    assert_eq!(result["status"], "COMPLETED", "{run}");
    let path = result["resultPath"].as_str().unwrap();
    let ciphertext = std::fs::read(stack.project("requester").join(path)).unwrap();
    assert!(
        ciphertext.starts_with(b"age-encryption.org"),
        "encrypted for the age key"
    );
    assert!(!String::from_utf8_lossy(&ciphertext).contains("ann"));
    let stats = decrypted_stats(&stack, path, "plain");
    assert_eq!(stats["rows"], 3);
    assert_eq!(stats["columns"][1]["mean"], 40.0);

    // The chain says where the result is; `task show --download` fetches it again.
    let task = run["tasks"][0].as_str().unwrap();
    let shown = stack.ok(
        REQUESTER,
        "requester",
        &["task", "show", task, "--download", "-o", "again.age"],
    );
    assert_eq!(shown["task"]["statusName"], "COMPLETED");
    assert_eq!(shown["task"]["resultsJson"]["storage"], "confide");
    assert_eq!(
        std::fs::read(stack.project("requester").join("again.age")).unwrap(),
        ciphertext
    );
    // What each party reported, without a secret in it.
    let debug = stack.ok(REQUESTER, "requester", &["task", "debug", task]);
    let log = debug["scheduler"]["log"].to_string();
    for step in [
        "initialized on chain",
        "enclave challenge",
        "assigned to worker",
        "completed",
    ] {
        assert!(log.contains(step), "{step} in {log}");
    }
    let deal = stack.ok(
        REQUESTER,
        "requester",
        &["deal", "show", run["dealid"].as_str().unwrap()],
    );
    assert_eq!(deal["tasks"][0]["status"], "COMPLETED");

    // Nothing runs that cannot: each refused before anything is spent, with its reason.
    let no_key = stack.fails(
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
            "--beneficiary",
            SPARE,
        ],
    );
    assert_eq!(no_key["code"], "RESULT_KEY_MISSING");
    let no_pool = stack.fails(
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
            "--category",
            "3",
        ],
    );
    assert_eq!(no_pool["code"], "NO_WORKERPOOL_ORDER");
    let no_order = stack.fails(
        REQUESTER,
        "requester",
        &["app", "run", &app, "--dataset", SPARE, "--tag", "tee,tdx"],
    );
    assert_eq!(no_order["code"], "NO_DATASET_ORDER");
    let poor = stack.fails(
        REQUESTER,
        "requester",
        &[
            "app",
            "run",
            &app,
            "--dataset",
            &publish_dataset(&stack, "priced", "more.csv", "5 RLC"),
            "--tag",
            "tee,tdx",
        ],
    );
    assert_eq!(poor["code"], "INSUFFICIENT_BALANCE");
    let secret = stack.fails(
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
            "--secret",
            "1=nope",
        ],
    );
    assert_eq!(secret["code"], "REQUESTER_SECRET_MISSING");
}

#[test]
fn tasks_survive_dead_workers_schedulers_and_services_and_failures_are_refunded() {
    let stack = Stack::start_with(&["--workers", "2", "--lease-seconds", "3"]);
    let echo = publish_app(&stack, "echo");
    requester_keys(&stack);

    // 1. A worker killed mid-task: the other one finishes it.
    let task = start_task(&stack, &echo, &["--args", "slow"]);
    let mut running_on = String::new();
    wait_until("the task to start", Duration::from_secs(30), || {
        let view = scheduler_view(&stack, &task);
        running_on = view["worker"].as_str().unwrap_or_default().to_owned();
        view["status"] == "running"
    });
    let workers = stack.state["workers"].as_array().unwrap();
    let victim = workers
        .iter()
        .find(|w| {
            let health = reqwest::blocking_get(&format!("{}/health", w["url"].as_str().unwrap()));
            health["worker"]
                .as_str()
                .is_some_and(|a| a.eq_ignore_ascii_case(&running_on))
        })
        .expect("the running task's worker");
    kill(victim["pid"].as_u64().unwrap(), "-KILL");
    assert_eq!(watch(&stack, &task)["statusName"], "COMPLETED");
    let view = scheduler_view(&stack, &task);
    assert!(view["log"].to_string().contains("went silent"), "{view}");
    assert!(
        !view["worker"].as_str().unwrap().eq_ignore_ascii_case(&running_on),
        "the other worker finished it"
    );

    // 2. The scheduler crashes, a deal is made meanwhile: restarted, it catches up.
    kill(stack.state["scheduler"]["pid"].as_u64().unwrap(), "-KILL");
    let task = start_task(&stack, &echo, &[]);
    std::thread::sleep(Duration::from_secs(1));
    let again = stack.ok(DATASET_OWNER, "", &["dev", "up"]);
    assert_ne!(again["stack"]["scheduler"]["pid"], stack.state["scheduler"]["pid"]);
    assert_eq!(watch(&stack, &task)["statusName"], "COMPLETED");

    // 3. The SMS down for a while: the scheduler retries its challenge, then runs the task.
    kill(again["stack"]["sms"]["pid"].as_u64().unwrap(), "-TERM");
    let task = start_task(&stack, &echo, &["--skip-preflight-check"]);
    std::thread::sleep(Duration::from_secs(2));
    let again = stack.ok(DATASET_OWNER, "", &["dev", "up"]);
    assert_eq!(watch(&stack, &task)["statusName"], "COMPLETED");
    let log = scheduler_view(&stack, &task)["log"].to_string();
    assert!(log.contains("SMS_ERROR"), "the SMS outage was seen: {log}");

    // 4. The store (which also serves the app module) down: the task is retried.
    kill(again["stack"]["store"]["pid"].as_u64().unwrap(), "-TERM");
    let task = start_task(&stack, &echo, &[]);
    std::thread::sleep(Duration::from_secs(2));
    stack.ok(DATASET_OWNER, "", &["dev", "up"]);
    assert_eq!(watch(&stack, &task)["statusName"], "COMPLETED");

    // 5. A dataset whose bytes no longer match its checksum: the task fails without a
    // contribution, and at the final deadline the scheduler claims it: the requester is
    // refunded.
    let dataset = publish_dataset(&stack, "owner", "people.csv", "5");
    std::fs::write(
        stack.project("owner").join("tee/encrypted-dataset/people.csv.enc"),
        b"these bytes are not the registered ones",
    )
    .unwrap();
    stack.ok(
        DATASET_OWNER,
        "owner",
        &["dataset", "upload", "tee/encrypted-dataset/people.csv.enc"],
    );
    stack.ok(REQUESTER, "requester", &["account", "deposit", "100"]);
    let csv = publish_app(&stack, "csv-stats");
    let task = start_task(&stack, &csv, &["--dataset", &dataset]);
    wait_until("the task to fail", Duration::from_secs(60), || {
        scheduler_view(&stack, &task)["status"] == "failed"
    });
    let log = scheduler_view(&stack, &task)["log"].to_string();
    assert!(log.contains("DATASET_CHECKSUM_MISMATCH"), "{log}");
    let locked = stack.ok(REQUESTER, "requester", &["account", "show"]);
    assert_eq!(locked["balance"]["locked"], "5", "{locked}");
    // Past the final deadline (category 0: 10 × 300 s) on the chain's clock.
    let rpc = stack.rpc_url();
    reqwest::post_json(
        &rpc,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "evm_increaseTime", "params": [3100]}),
    );
    reqwest::post_json(
        &rpc,
        &json!({"jsonrpc": "2.0", "id": 2, "method": "evm_mine", "params": []}),
    );
    wait_until("the claim", Duration::from_secs(30), || {
        scheduler_view(&stack, &task)["status"] == "claimed"
    });
    assert_eq!(watch(&stack, &task)["statusName"], "FAILED");
    let refunded = stack.ok(REQUESTER, "requester", &["account", "show"]);
    assert_eq!(refunded["balance"]["locked"], "0", "{refunded}");
    assert_eq!(refunded["balance"]["stake"], "100", "{refunded}");
}
