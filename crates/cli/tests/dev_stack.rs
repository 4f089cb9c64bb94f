//! `confide dev up | status | down` and `confide info`, run as a user runs them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn free_port() -> u16 {
    confide_devstack::anvil::free_port()
}

/// Runs `confide` in `cwd` with the dev stack in `data_dir`.
fn confide(cwd: &Path, data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_confide"))
        .args(args)
        .current_dir(cwd)
        .env("CONFIDE_DEV_DIR", data_dir)
        .env("CONFIDE_DEV_SMS_PORT", free_port().to_string())
        .env("CONFIDE_DEV_STORE_PORT", free_port().to_string())
        .env("CONFIDE_DEV_MARKET_PORT", free_port().to_string())
        .env("CONFIDE_DEV_SCHEDULER_PORT", free_port().to_string())
        .env("CONFIDE_DEV_WORKER_PORT", free_port().to_string())
        .env_remove("CONFIDE_CHAIN")
        .env_remove("CONFIDE_RPC_URL")
        .env_remove("CONFIDE_HUB")
        .output()
        .expect("confide runs")
}

fn raw(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("--raw prints JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
}

/// Stops the stack when the test ends, passed or not.
struct Stack {
    dir: tempfile::TempDir,
    data: PathBuf,
}

impl Stack {
    fn new() -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("dev");
        Stack { dir, data }
    }

    fn run(&self, args: &[&str]) -> Output {
        confide(self.dir.path(), &self.data, args)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.run(&["dev", "down"]);
    }
}

#[test]
fn dev_up_deploys_once_and_a_restart_keeps_the_chain() {
    let stack = Stack::new();
    let port = free_port().to_string();
    let up = stack.run(&["dev", "up", "--port", &port, "--raw"]);
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stdout));
    let first = raw(&up);
    assert_eq!(first["ok"], true);
    let hub = first["stack"]["deployment"]["hub"].as_str().unwrap().to_owned();

    // chain.json is in iExec's SDK shape: id as a decimal string, no unknown keys.
    let chain_json: Value =
        serde_json::from_str(&std::fs::read_to_string(stack.data.join("chain.json")).unwrap()).unwrap();
    assert_eq!(chain_json["default"], "dev");
    let dev = chain_json["chains"]["dev"].as_object().unwrap();
    assert_eq!(dev["id"], "31337");
    assert!(dev.keys().all(|k| {
        [
            "id",
            "host",
            "hub",
            "sms",
            "ipfsGateway",
            "iexecGateway",
            "compass",
            "pocoSubgraph",
        ]
        .contains(&k.as_str())
    }));

    // Each dev account has a keystore.
    let wallets = std::fs::read_dir(stack.data.join("wallets")).unwrap().count();
    assert_eq!(wallets, 10);

    // `info` reads the dev stack's chain.json.
    let info = stack.run(&["info", "--raw"]);
    assert!(info.status.success(), "{}", String::from_utf8_lossy(&info.stdout));
    let info = raw(&info);
    assert_eq!(info["hubAddress"].as_str().unwrap().to_lowercase(), hub.to_lowercase());
    assert_eq!(info["categories"].as_array().unwrap().len(), 5);
    assert_eq!(info["categories"][4]["workClockTimeRef"], "36000");

    let status = raw(&stack.run(&["dev", "status", "--raw"]));
    assert_eq!(status["status"]["running"], true);
    let block_before = status["status"]["blockNumber"].as_u64().unwrap();

    // Down, then up: same deployment, same blocks, nothing redeployed.
    assert!(stack.run(&["dev", "down"]).status.success());
    assert_eq!(raw(&stack.run(&["dev", "status", "--raw"]))["status"]["running"], false);
    let again = stack.run(&["dev", "up", "--port", &port]);
    assert!(again.status.success());
    let steps = String::from_utf8_lossy(&again.stderr).to_lowercase();
    assert!(steps.contains("resumed from its saved state"), "{steps}");
    assert!(
        steps.contains(&format!("poco found at {}", hub.to_lowercase())),
        "{steps}"
    );
    let status = raw(&stack.run(&["dev", "status", "--raw"]));
    assert_eq!(status["status"]["blockNumber"].as_u64().unwrap(), block_before);

    // Up while up: nothing restarted.
    let third = stack.run(&["dev", "up", "--port", &port]);
    assert!(String::from_utf8_lossy(&third.stderr).contains("already running"));

    // Its state is in SQLite: replicas (on Postgres) would start without it.
    stack.run(&["dev", "down"]);
    let switched = raw(&stack.run(&["dev", "up", "--port", &port, "--replicas", "2", "--raw"]));
    assert_eq!(switched["error"]["code"], "STORE_CHANGE", "{switched}");
}

#[test]
fn a_busy_port_is_refused_with_the_fix() {
    let stack = Stack::new();
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let output = stack.run(&["dev", "up", "--port", &port, "--raw"]);
    assert_eq!(output.status.code(), Some(1));
    let error = raw(&output);
    assert_eq!(error["ok"], false);
    assert_eq!(error["error"]["code"], "PORT_BUSY");
    assert!(error["error"]["message"].as_str().unwrap().contains("--port"));
    let human = stack.run(&["dev", "up", "--port", &port]);
    let stderr = String::from_utf8_lossy(&human.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}

#[test]
fn a_missing_anvil_is_named() {
    let stack = Stack::new();
    let output = Command::new(env!("CARGO_BIN_EXE_confide"))
        .args(["dev", "up", "--raw", "--port", &free_port().to_string()])
        .current_dir(stack.dir.path())
        .env("CONFIDE_DEV_DIR", &stack.data)
        .env("CONFIDE_ANVIL", "/nonexistent/anvil")
        .output()
        .unwrap();
    assert_eq!(raw(&output)["error"]["code"], "ANVIL_MISSING");
}

#[test]
fn a_failed_up_stops_what_it_started() {
    let stack = Stack::new();
    let ports: Vec<u16> = (0..6).map(|_| free_port()).collect();
    let flags = [
        "--port",
        "--sms-port",
        "--store-port",
        "--market-port",
        "--scheduler-port",
        "--worker-port",
    ];
    let mut args = vec!["dev".to_owned(), "up".into(), "--raw".into()];
    for (flag, port) in flags.iter().zip(&ports) {
        args.extend([flag.to_string(), port.to_string()]);
    }
    // The chain, the SMS, the store, the market and the scheduler start; the worker cannot.
    let output = Command::new(env!("CARGO_BIN_EXE_confide"))
        .args(&args)
        .current_dir(stack.dir.path())
        .env("CONFIDE_DEV_DIR", &stack.data)
        .env("CONFIDE_ENCLAVE_BINARY", "/nonexistent/confide-enclave")
        .env_remove("CONFIDE_CHAIN")
        .output()
        .unwrap();
    let error = raw(&output);
    assert_eq!(error["error"]["code"], "SERVICE_NOT_READY", "{error}");
    assert!(
        error["error"]["message"].as_str().unwrap().contains("worker-1"),
        "{error}"
    );
    for (flag, port) in flags.iter().zip(&ports).take(5) {
        assert!(
            confide_devstack::anvil::port_is_free(*port),
            "what listened on {flag} {port} was stopped"
        );
    }
    // A fixed cause, the same command brings everything up.
    let output = Command::new(env!("CARGO_BIN_EXE_confide"))
        .args(&args)
        .current_dir(stack.dir.path())
        .env("CONFIDE_DEV_DIR", &stack.data)
        .env_remove("CONFIDE_CHAIN")
        .output()
        .unwrap();
    assert_eq!(raw(&output)["ok"], true, "{}", String::from_utf8_lossy(&output.stdout));
}

#[test]
fn info_without_a_chain_or_on_the_wrong_chain_says_what_to_do() {
    let stack = Stack::new();
    let output = stack.run(&["info", "--raw"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(raw(&output)["error"]["code"], "NO_CHAIN");

    let unreachable = format!("http://127.0.0.1:{}", free_port());
    let output = stack.run(&[
        "info",
        "--raw",
        "--rpc-url",
        &unreachable,
        "--hub",
        "0x0000000000000000000000000000000000000001",
    ]);
    assert_eq!(raw(&output)["error"]["code"], "CHAIN_UNREACHABLE");

    // A project chain.json naming another chain id than the node's.
    let port = free_port().to_string();
    assert!(stack.run(&["dev", "up", "--port", &port]).status.success());
    let project = stack.dir.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let dev_chain: Value =
        serde_json::from_str(&std::fs::read_to_string(stack.data.join("chain.json")).unwrap()).unwrap();
    let mut wrong = dev_chain.clone();
    wrong["chains"]["dev"]["id"] = "134".into();
    std::fs::write(project.join("chain.json"), wrong.to_string()).unwrap();
    let output = confide(&project, &stack.data, &["info", "--raw"]);
    assert_eq!(raw(&output)["error"]["code"], "WRONG_CHAIN_ID");
    let output = confide(&project, &stack.data, &["info", "--raw", "--chain", "nope"]);
    assert_eq!(raw(&output)["error"]["code"], "UNKNOWN_CHAIN");
    let mut no_contracts = dev_chain;
    no_contracts["chains"]["dev"]["hub"] = "0x0000000000000000000000000000000000000001".into();
    std::fs::write(project.join("chain.json"), no_contracts.to_string()).unwrap();
    let output = confide(&project, &stack.data, &["info", "--raw"]);
    assert_eq!(raw(&output)["error"]["code"], "NO_POCO_CONTRACTS");
}

#[test]
fn a_database_that_cannot_be_reached_is_named_without_its_password_and_nothing_is_left_running() {
    let stack = Stack::new();
    let chain_port = free_port();
    let unreachable = format!("postgres://confide:s3cret-pass@127.0.0.1:{}/confide", free_port());
    let output = Command::new(env!("CARGO_BIN_EXE_confide"))
        .args(["dev", "up", "--raw", "--port", &chain_port.to_string()])
        .args(["--replicas", "2", "--database-url", &unreachable])
        .current_dir(stack.dir.path())
        .env("CONFIDE_DEV_DIR", &stack.data)
        .env_remove("CONFIDE_CHAIN")
        .output()
        .unwrap();
    let error = raw(&output);
    assert_eq!(error["error"]["code"], "DATABASE_UNREACHABLE", "{error}");
    let said = format!("{error}{}", String::from_utf8_lossy(&output.stderr));
    assert!(!said.contains("s3cret-pass"), "the password was shown: {said}");
    assert!(
        confide_devstack::anvil::port_is_free(chain_port),
        "the chain it started was stopped"
    );

    // Five replicas are more than a dev stack runs.
    let output = Command::new(env!("CARGO_BIN_EXE_confide"))
        .args(["dev", "up", "--raw", "--replicas", "5"])
        .env("CONFIDE_DEV_DIR", &stack.data)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "clap refuses it");
    assert!(String::from_utf8_lossy(&output.stderr).contains("--replicas"));
}
