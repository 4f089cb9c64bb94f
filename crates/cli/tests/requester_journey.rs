//! The requester's journey on the dev stack, with `confide` as a user runs it: the
//! tutorial's dataset, the CSV app as WebAssembly, `app run` matching the market's orders,
//! the dev workerpool's scheduler and worker running the task in the (simulated) enclave,
//! and the beneficiary decrypting the result. Then the faults: a worker killed mid-task,
//! the scheduler, the SMS and the store down for a while (and the store for good), a dataset whose checksum fails
//! (refunded at the deadline), and requests that cannot run.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use confide_testkit::wait::wait_until;
use serde_json::{Value, json};

const CSV: &str = "name,age,score\nann,30,1.5\nbob,50,2.5\ncid,,3.5\n";
const SPARE: &str = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720";

/// An HTTP server on loopback that answers every request with `body`: a gateway that lies.
fn lying_gateway(body: &'static [u8]) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body);
        }
    });
    url
}

/// `app run` without waiting; returns the first task id.
fn start_task(stack: &Stack, app: &str, extra: &[&str]) -> String {
    run_tee_task(stack, app, extra)["tasks"][0].as_str().unwrap().to_owned()
}

fn watch(stack: &Stack, task: &str) -> Value {
    stack.ok(
        REQUESTER,
        "requester",
        &["task", "show", task, "--watch", "--timeout", "90"],
    )["task"]
        .clone()
}

/// The scheduler's view of a task, asked as the requester (it answers the deal's parties).
fn scheduler_view(stack: &Stack, task: &str) -> Value {
    let (_, body) = scheduler_view_as(stack, task, Some("requester"));
    serde_json::from_slice(&body).unwrap_or(Value::Null)
}

/// `GET /tasks/{task}` signed as the dev account `role` (unsigned without one).
fn scheduler_view_as(stack: &Stack, task: &str, role: Option<&str>) -> (u16, Vec<u8>) {
    let path = format!("/tasks/{task}");
    let headers = match role {
        Some(role) => {
            let signer = confide_devstack::accounts::by_role(role).unwrap().signer();
            let (headers, _) = confide_workerpool::auth::request_headers(&signer, "GET", &path, b"").unwrap();
            headers.map(|(name, value)| format!("{name}: {value}\r\n")).concat()
        }
        None => String::new(),
    };
    reqwest::blocking_get_with(&format!("{}{path}", stack.service_url("scheduler")), &headers)
}

mod reqwest {
    /// A GET on loopback without pulling an HTTP client into the tests: curl-free, via std.
    pub(crate) fn blocking_get(url: &str) -> serde_json::Value {
        serde_json::from_slice(&blocking_get_bytes(url).1).unwrap_or(serde_json::Value::Null)
    }

    /// The status and the body's bytes.
    pub(crate) fn blocking_get_bytes(url: &str) -> (u16, Vec<u8>) {
        blocking_get_with(url, "")
    }

    /// A GET with extra header lines (each ending in CRLF); the status and the body.
    pub(crate) fn blocking_get_with(url: &str, headers: &str) -> (u16, Vec<u8>) {
        super::http_get(url, headers)
    }

    pub(crate) fn post_json(url: &str, body: &serde_json::Value) -> serde_json::Value {
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

/// A JSON-RPC call to the stack's anvil (`evm_*` and the like); its result.
fn chain_rpc(stack: &Stack, method: &str, params: Value) -> Value {
    let request = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
    let answer = reqwest::post_json(&stack.rpc_url(), &request);
    assert!(answer.get("error").is_none(), "{method}: {answer}");
    answer["result"].clone()
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

/// Anyone can encrypt a file for the beneficiary's public key: a result that is not the
/// one the chain's consensus is on is refused when decrypted, and nothing of it is kept.
fn forged_results_are_refused(stack: &Stack, task: &str, genuine: &[u8]) {
    let requester = stack.project("requester");
    let public_key = std::fs::read_dir(requester.join(".secrets/beneficiary"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with("_key.pub"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .unwrap();
    let key = confide_crypto::result::ResultPublicKey::parse(&public_key).unwrap();
    // The genuine result, re-encrypted by the attacker after changing one number.
    std::fs::write(requester.join("genuine.age"), genuine).unwrap();
    stack.ok(
        REQUESTER,
        "requester",
        &["result", "decrypt", "genuine.age", "-o", "genuine.zip"],
    );
    let mut genuine_zip = zip::ZipArchive::new(std::fs::File::open(requester.join("genuine.zip")).unwrap()).unwrap();
    let mut forged = zip::ZipWriter::new(std::fs::File::create(requester.join("forged.zip")).unwrap());
    for index in 0..genuine_zip.len() {
        let mut entry = genuine_zip.by_index(index).unwrap();
        let name = entry.name().unwrap().to_string();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        if name == "result.json" {
            bytes = String::from_utf8(bytes)
                .unwrap()
                .replace("\"rows\":3", "\"rows\":4")
                .into_bytes();
        }
        forged
            .start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut forged, &bytes).unwrap();
    }
    forged.finish().unwrap();
    let plain = requester.join("forged.zip");
    confide_crypto::result::encrypt(&plain, &key, &requester.join("forged.age")).unwrap();
    // Checked against the task the archive names, and against the one the caller names.
    for extra in [&[][..], &["--task", task][..]] {
        let mut args = vec![
            "result",
            "decrypt",
            "forged.age",
            "-o",
            "accepted.zip",
            "--extract",
            "accepted",
        ];
        args.extend(extra);
        let refused = stack.fails(REQUESTER, "requester", &args);
        assert_eq!(refused["code"], "RESULT_DIGEST_MISMATCH", "{refused}");
        for left in ["accepted.zip", "accepted.partial", "accepted"] {
            assert!(!requester.join(left).exists(), "{left} was left behind");
        }
    }
    let accepted = stack.ok(
        REQUESTER,
        "requester",
        &[
            "result",
            "decrypt",
            "genuine.age",
            "-o",
            "genuine.zip",
            "--force",
            "--task",
            task,
        ],
    );
    assert_eq!(accepted["digestCheck"]["matches"], true, "{accepted}");

    // An archive that names no task (anyone can encrypt one for the requester's key):
    // refused and nothing kept, unless the requester says --unchecked.
    let mut nameless = zip::ZipWriter::new(std::fs::File::create(requester.join("nameless.zip")).unwrap());
    nameless
        .start_file("result.json", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut nameless, br#"{"rows":1000}"#).unwrap();
    nameless.finish().unwrap();
    confide_crypto::result::encrypt(&requester.join("nameless.zip"), &key, &requester.join("nameless.age")).unwrap();
    let refused = stack.fails(
        REQUESTER,
        "requester",
        &["result", "decrypt", "nameless.age", "-o", "nameless-out.zip"],
    );
    assert_eq!(refused["code"], "RESULT_UNCHECKED", "{refused}");
    assert!(!requester.join("nameless-out.zip").exists());
    let kept = stack.ok(
        REQUESTER,
        "requester",
        &[
            "result",
            "decrypt",
            "nameless.age",
            "-o",
            "nameless-out.zip",
            "--unchecked",
        ],
    );
    assert_eq!(kept["digestCheck"]["matches"], Value::Null, "{kept}");
}

/// A file of the first plain result `app run --download` fetched.
fn downloaded_file(stack: &Stack, run: &Value, name: &str) -> String {
    let archive = stack
        .project("requester")
        .join(run["results"][0]["resultPath"].as_str().unwrap());
    let mut zip = zip::ZipArchive::new(std::fs::File::open(archive).unwrap()).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut zip.by_name(name).unwrap(), &mut text).unwrap();
    text
}

#[test]
fn app_run_gives_the_beneficiary_a_result_only_they_can_read() {
    let stack = Stack::start();
    let dataset = publish_dataset(&stack, "owner", "people.csv", CSV, "0");
    let app = publish_app(&stack, "csv-stats");
    requester_keys(&stack);
    // A new key pair replaces the pushed key only when asked (a signed, versioned update).
    stack.ok(
        REQUESTER,
        "requester",
        &["result", "generate-encryption-keypair", "--force"],
    );
    let exists = stack.fails(REQUESTER, "requester", &["result", "push-encryption-key"]);
    assert_eq!(exists["code"], "SECRET_EXISTS", "{exists}");
    stack.ok(
        REQUESTER,
        "requester",
        &["result", "push-encryption-key", "--force-update"],
    );

    let (run, plain) = run_confidential_task(&stack, &app, &dataset, &[]);
    let path = run["results"][0]["resultPath"].as_str().unwrap();
    let ciphertext = std::fs::read(stack.project("requester").join(path)).unwrap();
    assert!(
        ciphertext.starts_with(b"age-encryption.org"),
        "encrypted for the age key"
    );
    assert!(!String::from_utf8_lossy(&ciphertext).contains("ann"));
    let stats: Value = serde_json::from_slice(&std::fs::read(plain.join("result.json")).unwrap()).unwrap();
    assert_eq!(stats["rows"], 3);
    assert_eq!(stats["columns"][1]["mean"], 40.0);
    // The runtime's folder in the archive: the app's log and the task it ran.
    let runtime = stack.project("requester").join("plain/.confide");
    let ran: Value = serde_json::from_slice(&std::fs::read(runtime.join("task.json")).unwrap()).unwrap();
    assert_eq!(ran["task-id"], run["tasks"][0], "{ran}");
    assert!(runtime.join("app.log").exists());
    forged_results_are_refused(&stack, run["tasks"][0].as_str().unwrap(), &ciphertext);

    // The chain says where the result is; `task show --download` fetches it again.
    let task = run["tasks"][0].as_str().unwrap();
    let shown = stack.ok(
        REQUESTER,
        "requester",
        &["task", "show", task, "--download", "-o", "again.age"],
    );
    assert_eq!(shown["task"]["statusName"], "COMPLETED");
    // The link is IPFS's: the result's CID, which any IPFS tool derives from its bytes.
    let link = &shown["task"]["resultsJson"];
    assert_eq!(link["storage"], "ipfs", "{shown}");
    let cid = confide_protocol::ipfs::file_cid(confide_protocol::ipfs::CidVersion::V1, &ciphertext);
    assert_eq!(link["location"], format!("/ipfs/{cid}"));
    assert_eq!(shown["task"]["digestCheck"]["matches"], true, "{shown}");
    assert_eq!(run["results"][0]["digestCheck"]["matches"], true, "{run}");
    assert_eq!(
        std::fs::read(stack.project("requester").join("again.age")).unwrap(),
        ciphertext
    );
    // The store serves it as an IPFS gateway does.
    let (status, served) = reqwest::blocking_get_bytes(&format!("{}/ipfs/{cid}", stack.service_url("store")));
    assert_eq!((status, served), (200, ciphertext.clone()));
    // A gateway that serves other bytes is refused, and nothing is written.
    let liar = lying_gateway(b"age-encryption.org/v1\nnot the result");
    let refused = stack.run_with(
        REQUESTER,
        "requester",
        &["task", "show", task, "--download", "-o", "unchecked.age"],
        &[("CONFIDE_IPFS_GATEWAY", Path::new(&liar))],
    );
    let refused: Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(refused["error"]["code"], "RESULT_CID_MISMATCH", "{refused}");
    assert!(!stack.project("requester").join("unchecked.age").exists());
    // Where no beneficiary key can check it, a downloaded result is deleted...
    let keyless = stack.fails(
        REQUESTER,
        "keyless",
        &["task", "show", task, "--download", "-o", "r.age"],
    );
    assert_eq!(keyless["code"], "RESULT_UNCHECKED", "{keyless}");
    assert!(!stack.project("keyless").join("r.age").exists());
    // ...unless asked to keep it, and then it says it was not checked.
    let kept = stack.ok(
        REQUESTER,
        "keyless",
        &["task", "show", task, "--download", "-o", "r.age", "--unchecked"],
    );
    assert_eq!(kept["task"]["digestCheck"]["matches"], Value::Null, "{kept}");
    assert!(stack.project("keyless").join("r.age").exists());
    // Who ran what and why is for the deal's parties: the scheduler answers them only.
    let code_of = |(status, body): (u16, Vec<u8>)| {
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (status, body["error"]["code"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(
        code_of(scheduler_view_as(&stack, task, None)),
        (401, "MISSING_SIGNER".into())
    );
    assert_eq!(
        code_of(scheduler_view_as(&stack, task, Some("spare"))),
        (403, "NOT_A_PARTY".into())
    );
    for party in ["requester", "app-developer", "workerpool-owner"] {
        assert_eq!(scheduler_view_as(&stack, task, Some(party)).0, 200, "{party}");
    }
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
    let priced = publish_dataset(&stack, "priced", "more.csv", CSV, "5 RLC");
    let refusals: [(&[&str], &str); 5] = [
        (
            &["--dataset", &dataset, "--encrypt-result", "--beneficiary", SPARE],
            "RESULT_KEY_MISSING",
        ),
        (&["--dataset", &dataset, "--category", "3"], "NO_WORKERPOOL_ORDER"),
        (&["--dataset", SPARE], "NO_DATASET_ORDER"),
        (&["--dataset", &priced], "INSUFFICIENT_BALANCE"),
        (
            &["--dataset", &dataset, "--secret", "1=nope"],
            "REQUESTER_SECRET_MISSING",
        ),
    ];
    for (extra, code) in refusals {
        let mut args = vec!["app", "run", &app, "--tag", "tee,tdx"];
        args.extend(extra);
        assert_eq!(stack.fails(REQUESTER, "requester", &args)["code"], code, "{extra:?}");
    }

    // An order that no longer matches when app run submits it: the dataset changed hands,
    // so its former owner's order is void on chain. Until the market has seen the transfer
    // it still lists the order, and the dry run refuses it; once it has, the order is gone
    // from the book. Either way nothing is spent.
    let before = stack.ok(REQUESTER, "requester", &["account", "show"])["balance"].clone();
    let moved = publish_dataset(&stack, "moved", "moved.csv", CSV, "0");
    stack.ok(DATASET_OWNER, "moved", &["dataset", "transfer", &moved, "--to", SPARE]);
    let stale = stack.fails(
        REQUESTER,
        "requester",
        &["app", "run", &app, "--dataset", &moved, "--tag", "tee,tdx"],
    );
    assert!(
        ["ORDERS_NO_LONGER_MATCH", "NO_DATASET_ORDER"].contains(&stale["code"].as_str().unwrap()),
        "{stale}"
    );
    assert_eq!(
        stack.ok(REQUESTER, "requester", &["account", "show"])["balance"],
        before
    );

    // A standard (non-TEE) task: the same sandbox without secrets; the worker contributes
    // and reveals, the scheduler finalizes; the result is a plain archive.
    let echo = publish_app(&stack, "echo");
    let no_tag = format!("0x{}", "0".repeat(64));
    stack.ok(APP_DEVELOPER, "echo", &["app", "publish", &echo, "--tag", &no_tag]);
    let refused = stack.fails(REQUESTER, "requester", &["app", "run", &echo, "--encrypt-result"]);
    assert_eq!(refused["code"], "RESULT_ENCRYPTION_NEEDS_TEE");
    let run = stack.ok(
        REQUESTER,
        "requester",
        &[
            "app",
            "run",
            &echo,
            "--args",
            "hello standard",
            "--watch",
            "--download",
            "standard",
        ],
    );
    assert_eq!(run["results"][0]["status"], "COMPLETED", "{run}");
    let echoed = downloaded_file(&stack, &run, "echo.txt");
    assert!(echoed.contains("hello") && echoed.contains("standard"), "{echoed}");
    let task = run["tasks"][0].as_str().unwrap();
    let log = stack.ok(REQUESTER, "requester", &["task", "debug", task])["scheduler"]["log"].to_string();
    assert!(log.contains("revealed") && log.contains("finalized on chain"), "{log}");
}

#[test]
fn tasks_survive_dead_workers_schedulers_and_services_and_failures_are_refunded() {
    let stack = Stack::start_with(&["--workers", "2", "--lease-seconds", "3"]);
    // Registered the way Confide did before manifests (the configuration as mrenclave):
    // such apps keep running.
    let echo = publish_app_with(&stack, "echo", &["--legacy-mrenclave"]);
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
    let again = stack.ok(DATASET_OWNER, "", &["dev", "up"]);
    assert_eq!(watch(&stack, &task)["statusName"], "COMPLETED");

    // 4b. The store down for good: each attempt fails for a reason worth retrying, and
    // after the last one the task is given up with that reason (claimed at step 6).
    kill(again["stack"]["store"]["pid"].as_u64().unwrap(), "-TERM");
    let abandoned = start_task(&stack, &echo, &[]);
    wait_until("the task to be given up", Duration::from_secs(90), || {
        scheduler_view(&stack, &abandoned)["status"] == "failed"
    });
    let view = scheduler_view(&stack, &abandoned);
    let log = view["log"].to_string();
    assert!(log.contains("MODULE_DOWNLOAD_FAILED"), "{log}");
    assert!(log.contains("out of attempts: left to be claimed"), "{log}");
    assert_eq!(view["attempts"], 3, "{view}");
    stack.ok(DATASET_OWNER, "", &["dev", "up"]);

    // 5. The chain node restarted (its state saved on the way down): work goes on.
    let again = stack.ok(DATASET_OWNER, "", &["dev", "up"]);
    kill(again["stack"]["anvilPid"].as_u64().unwrap(), "-TERM");
    stack.ok(DATASET_OWNER, "", &["dev", "up"]);
    let task = start_task(&stack, &echo, &[]);
    assert_eq!(watch(&stack, &task)["statusName"], "COMPLETED");

    // 6. A dataset whose bytes no longer match its checksum: the task fails without a
    // contribution, and at the final deadline the scheduler claims it: the requester is
    // refunded.
    let dataset = publish_dataset(&stack, "owner", "people.csv", CSV, "5");
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
    chain_rpc(&stack, "evm_increaseTime", json!([3100]));
    chain_rpc(&stack, "evm_mine", json!([]));
    wait_until("the claims", Duration::from_secs(30), || {
        scheduler_view(&stack, &task)["status"] == "claimed"
            && scheduler_view(&stack, &abandoned)["status"] == "claimed"
    });
    assert_eq!(watch(&stack, &abandoned)["statusName"], "FAILED");
    assert_eq!(watch(&stack, &task)["statusName"], "FAILED");
    let refunded = stack.ok(REQUESTER, "requester", &["account", "show"]);
    assert_eq!(refunded["balance"]["locked"], "0", "{refunded}");
    assert_eq!(refunded["balance"]["stake"], "100", "{refunded}");
}

/// The echo app and the dev pool offered for standard tasks (no tag) up to `trust`.
fn standard_echo(stack: &Stack, trust: &str) -> String {
    let echo = publish_app(stack, "echo");
    let no_tag = format!("0x{}", "0".repeat(64));
    stack.ok(APP_DEVELOPER, "echo", &["app", "publish", &echo, "--tag", &no_tag]);
    let pool = stack.state["workerpool"].as_str().unwrap().to_owned();
    let order = ["--price", "0", "--volume", "10", "--tag", &no_tag, "--trust", trust];
    let args: Vec<&str> = ["workerpool", "publish", &pool].into_iter().chain(order).collect();
    stack.ok(POOL_OWNER, "", &args);
    echo
}

#[test]
fn a_standard_task_asking_for_trust_completes_once_enough_workers_agree() {
    let stack = Stack::start_with(&["--workers", "2"]);
    // The pool offers replicated execution: a standard order accepting trust up to 3.
    let echo = standard_echo(&stack, "3");
    // Trust 3 with fresh workers (weight 2 each, the total starting at 1): one contribution
    // gives 2·3 > 3·2, false; two agreeing give 4·3 > 5·2. So both workers run it.
    let run = stack.ok(
        REQUESTER,
        "requester",
        &[
            "app",
            "run",
            &echo,
            "--trust",
            "3",
            "--args",
            "agreed",
            "--watch",
            "--download",
            "replicated",
        ],
    );
    assert_eq!(run["results"][0]["status"], "COMPLETED", "{run}");
    let task = run["tasks"][0].as_str().unwrap();
    let view = scheduler_view(&stack, task);
    let replicas = view["replicas"].as_array().unwrap();
    assert_eq!(replicas.len(), 2, "{view}");
    assert!(replicas.iter().all(|r| r["status"] == "done"), "{view}");
    assert_ne!(replicas[0]["worker"], replicas[1]["worker"], "{view}");
    let log = view["log"].to_string();
    assert!(log.contains("2 agreeing workers wanted"), "{log}");
    assert_eq!(log.matches("contribution by").count(), 2, "{log}");
    assert!(log.contains("finalized on chain"), "{log}");
    let echoed = downloaded_file(&stack, &run, "echo.txt");
    assert!(echoed.contains("agreed"), "{echoed}");
    // The store serves, by task id, the result of a contribution the chain finalized.
    let (status, served) = reqwest::blocking_get_bytes(&format!("{}/results/{task}", stack.service_url("store")));
    assert_eq!(status, 200);
    let downloaded = stack
        .project("requester")
        .join(run["results"][0]["resultPath"].as_str().unwrap());
    assert_eq!(served, std::fs::read(downloaded).unwrap());
}

#[test]
fn a_reorg_that_takes_a_deal_away_sets_it_aside_and_the_deal_mined_again_runs_anew() {
    let stack = Stack::start();
    let echo = standard_echo(&stack, "1");
    let rpc = |method: &str, params: Value| chain_rpc(&stack, method, params);
    let snapshot = rpc("evm_snapshot", json!([]));
    let run = stack.ok(
        REQUESTER,
        "requester",
        &["app", "run", &echo, "--args", "mined", "--watch"],
    );
    assert_eq!(run["results"][0]["status"], "COMPLETED", "{run}");
    let task = run["tasks"][0].as_str().unwrap().to_owned();
    let signed_match = rpc("eth_getRawTransactionByHash", json!([run["txHash"]]));
    // The blocks since the snapshot, with the match, the initialization and the
    // contribution, give way to a chain without them...
    let snapshot = snapshot.as_str().unwrap().parse().unwrap();
    let revert = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(confide_testkit::chain::revert(&stack.rpc_url(), snapshot));
    assert!(revert.unwrap());
    wait_until("the scheduler to set the task aside", Duration::from_secs(30), || {
        scheduler_view(&stack, &task)["status"] == "orphaned"
    });
    // ...where the requester's match is mined again, in a new block: the same deal, whose
    // task the scheduler and the worker (their own transactions gone) run once more.
    rpc("eth_sendRawTransaction", json!([signed_match]));
    wait_until("the task to complete again", Duration::from_secs(90), || {
        scheduler_view(&stack, &task)["status"] == "completed"
    });
    assert_eq!(watch(&stack, &task)["status"], "COMPLETED");
    let view = scheduler_view(&stack, &task);
    let log = view["log"].to_string();
    assert!(log.contains("took deal") && log.contains("on the chain again"), "{log}");
    // The worker ran it twice, once for each chain.
    assert_eq!(log.matches("contributed and revealed").count(), 2, "{log}");
    assert_eq!(view["replicas"][0]["status"], "done", "{view}");
}

#[test]
fn contributions_that_disagree_ask_for_more_workers_and_without_them_the_task_is_claimed() {
    let stack = Stack::start_with(&["--workers", "2"]);
    let echo = standard_echo(&stack, "3");
    // Each worker's result holds a random number: the two contributions differ, so PoCo
    // reaches no consensus and the scheduler wants a third agreeing worker.
    let run = stack.ok(
        REQUESTER,
        "requester",
        &["app", "run", &echo, "--trust", "3", "--args", "nondeterministic"],
    );
    let task = run["tasks"][0].as_str().unwrap().to_owned();
    // The scheduler may read the disagreement from the chain (its periodic sweep) before
    // it logs the second contribution's event: both lines are awaited.
    wait_until("the contributions to disagree", Duration::from_secs(60), || {
        let log = scheduler_view(&stack, &task)["log"].to_string();
        log.contains("contributions disagree: 3 agreeing workers wanted now")
            && log.matches("contribution by").count() >= 2
    });
    let view = scheduler_view(&stack, &task);
    let log = view["log"].to_string();
    assert_eq!(log.matches("contribution by").count(), 2, "{log}");
    assert_eq!(view["status"], "ready", "{view}");
    // Each worker stored its result, and neither is the task's: no consensus finalized one.
    let store = stack.service_url("store");
    let stored: Vec<u16> = view["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| reqwest::blocking_get_bytes(&format!("{store}/results/{task}/{}", r["worker"].as_str().unwrap())).0)
        .collect();
    assert!(stored.contains(&200), "a losing result is in the store: {stored:?}");
    let (status, answer) = reqwest::blocking_get_bytes(&format!("{store}/results/{task}"));
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&answer));
    assert!(String::from_utf8_lossy(&answer).contains("NOT_COMPLETED"));
    // No third worker (PoCo lets a worker contribute once): past the final deadline, on
    // the chain's clock, the task is claimed and the requester refunded.
    let rpc = |method: &str, params: Value| chain_rpc(&stack, method, params);
    rpc("evm_increaseTime", json!([3100]));
    rpc("evm_mine", json!([]));
    wait_until("the claim", Duration::from_secs(30), || {
        scheduler_view(&stack, &task)["status"] == "claimed"
    });
    assert_eq!(watch(&stack, &task)["statusName"], "FAILED");
    let account = stack.ok(REQUESTER, "requester", &["account", "show"]);
    assert_eq!(account["balance"]["locked"], "0", "{account}");
}

/// Every file under `dir` (recursively) whose bytes contain one of `needles`.
fn files_containing(dir: &std::path::Path, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            found.extend(files_containing(&path, needles));
        } else if kind.is_file() {
            let bytes = std::fs::read(&path).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            let name = path.to_string_lossy();
            if needles.iter().any(|n| text.contains(n) || name.contains(n)) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[test]
fn an_app_cannot_send_what_it_read_past_the_results_encryption() {
    let stack = Stack::start();
    // The dataset's second line is the secret the app tries to smuggle out in clear.
    let secret = "zebra-7f3k,30,1.5";
    let dataset = publish_dataset(
        &stack,
        "owner",
        "people.csv",
        &format!("name,age,score\n{secret}\n"),
        "0",
    );
    let echo = publish_app(&stack, "echo");
    requester_keys(&stack);
    // `leak-exit`'s status, the secret's first byte, as an error would quote it.
    let status = format!("status {}", secret.as_bytes()[0]);
    for (mode, code) in [
        ("leak-name", "RESULT_FAILED"),
        ("leak-exit", "APP_EXIT_NONZERO"),
        ("leak-computed", "RESULT_FAILED"),
        ("leak-log", "APP_TRAPPED"),
        ("forge-log", "APP_OUTPUT_RESERVED"),
    ] {
        let task = start_task(&stack, &echo, &["--dataset", &dataset, "--args", mode]);
        wait_until("the task to fail", Duration::from_secs(60), || {
            scheduler_view(&stack, &task)["status"] == "failed"
        });
        let view = scheduler_view(&stack, &task).to_string();
        assert!(view.contains(code), "{mode}: {view}");
        let debug = stack.ok(REQUESTER, "requester", &["task", "debug", &task]).to_string();
        for answer in [&view, &debug] {
            assert!(
                !answer.contains("zebra") && !answer.contains(&status),
                "{mode} leaked: {answer}"
            );
        }
        // The beneficiary, and only they, reads why it failed: the app's own output and
        // the runtime's full reason, from the archive encrypted for them.
        let logs = stack.ok(REQUESTER, "requester", &["task", "debug", &task, "--logs"]);
        let log = logs["appLogs"][0]["log"].as_str().unwrap_or_default().to_owned();
        assert!(log.contains(code), "{mode}: {logs}");
        if mode == "leak-log" {
            assert!(log.contains("stdout: zebra") && log.contains("stderr: zebra"), "{log}");
            assert!(log.contains("asked to fail after printing"), "{log}");
        }
        if mode == "forge-log" {
            assert!(!log.contains("all went well"), "{log}");
        }
    }
    // Nowhere on the host either: the services' logs and databases, the workers' work
    // directories. (The dataset owner's own folder holds the original, of course.)
    let owner = stack.project("owner");
    let leaks: Vec<_> = files_containing(stack.dir.path(), &["zebra", &status])
        .into_iter()
        .filter(|path| !path.starts_with(owner.to_str().unwrap()))
        .collect();
    assert!(leaks.is_empty(), "the secret is in {leaks:?}");
}

/// A loopback HTTP server answering every request with a redirect to `location`; its URL.
fn redirecting_server(location: String) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/input.csv", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            use std::io::{Read, Write};
            let mut stream = stream;
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    url
}

#[test]
fn input_files_come_only_from_public_https_servers() {
    let stack = Stack::start();
    let echo = standard_echo(&stack, "1");
    requester_keys(&stack);
    // A service only the worker's host reaches: the store on loopback, here serving the
    // app's module (in the cloud: the metadata endpoint, a database, an admin page).
    let iexec: Value =
        serde_json::from_str(&std::fs::read_to_string(stack.project("echo").join("iexec.json")).unwrap()).unwrap();
    let internal = iexec["app"]["multiaddr"].as_str().unwrap().to_owned();
    assert!(internal.starts_with("http://127.0.0.1:"), "{internal}");
    let over_https = internal.replace("http://", "https://");
    let redirect = redirecting_server(over_https.clone());

    // In simulation (a developer's machine) plain http from loopback is accepted...
    let task = start_task(&stack, &echo, &["--input-files", &internal]);
    assert_eq!(watch(&stack, &task)["statusName"], "COMPLETED");
    // ...but not https to loopback, nor a redirect that leads there.
    for url in [&over_https, &redirect] {
        let task = start_task(&stack, &echo, &["--input-files", url]);
        wait_until("the task to fail", Duration::from_secs(60), || {
            scheduler_view(&stack, &task)["status"] == "failed"
        });
        let log = scheduler_view(&stack, &task)["log"].to_string();
        assert!(log.contains("INPUT_FILE_REFUSED"), "{url}: {log}");
    }
    // A standard task proves nothing about the machine it runs on: plain http is refused.
    let run = stack.ok(
        REQUESTER,
        "requester",
        &["app", "run", &echo, "--input-files", &internal],
    );
    let task = run["tasks"][0].as_str().unwrap().to_owned();
    wait_until("the task to fail", Duration::from_secs(60), || {
        scheduler_view(&stack, &task)["status"] == "failed"
    });
    let log = scheduler_view(&stack, &task)["log"].to_string();
    assert!(log.contains("INPUT_FILE_REFUSED"), "{log}");
}

#[test]
fn in_a_pool_open_to_any_wallet_one_workers_failure_does_not_give_a_task_up() {
    // A public pool: any wallet may register as a worker, so any worker may be a rogue
    // one that reports every task it takes as failing.
    let stack = Stack::start_with(&["--any-worker"]);
    let echo = publish_app(&stack, "echo");
    requester_keys(&stack);
    let task = start_task(&stack, &echo, &["--args", "trap"]);
    wait_until("the first worker's report", Duration::from_secs(60), || {
        scheduler_view(&stack, &task)["log"]
            .to_string()
            .contains("1 of 2 distinct workers")
    });
    // One worker's word: the task waits for another worker, never the same one again.
    std::thread::sleep(Duration::from_secs(2));
    let view = scheduler_view(&stack, &task);
    assert_eq!(view["status"], "ready", "{view}");
    assert_eq!(view["replicas"].as_array().unwrap().len(), 1, "{view}");
    assert_eq!(view["replicas"][0]["status"], "refused", "{view}");
    // A second, distinct worker agrees: now the task is given up (and claimed at its
    // final deadline, as any failed task).
    stack.ok(DATASET_OWNER, "", &["dev", "up", "--workers", "2", "--any-worker"]);
    wait_until("the task to be given up", Duration::from_secs(60), || {
        scheduler_view(&stack, &task)["status"] == "failed"
    });
    let view = scheduler_view(&stack, &task);
    let replicas = view["replicas"].as_array().unwrap();
    assert_eq!(replicas.len(), 2, "{view}");
    assert_ne!(replicas[0]["worker"], replicas[1]["worker"], "{view}");
    assert!(view["log"].to_string().contains("2 of 2 distinct workers"), "{view}");
}
