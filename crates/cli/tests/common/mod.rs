//! A dev stack on free ports in a temporary folder, and `confide` run in its projects as
//! one of the dev accounts.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub(crate) const DATASET_OWNER: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
pub(crate) const APP_DEVELOPER: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
pub(crate) const POOL_OWNER: &str = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
pub(crate) const REQUESTER: &str = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65";

pub(crate) struct Stack {
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    /// `dev up --raw`'s `stack`: rpcUrl, deployment, sms, store, market.
    pub state: Value,
}

impl Stack {
    pub(crate) fn start() -> Stack {
        Stack::start_with(&[])
    }

    /// A stack with more `dev up` options (e.g. `--workers 2`).
    pub(crate) fn start_with(options: &[&str]) -> Stack {
        Stack::start_with_env(options, &[])
    }

    /// [`Stack::start_with`], with more environment for `dev up` and the services it starts.
    pub(crate) fn start_with_env(options: &[&str], env: &[(&str, &Path)]) -> Stack {
        let fresh = || {
            let dir = tempfile::tempdir().unwrap();
            Stack {
                data: dir.path().join("dev"),
                dir,
                state: Value::Null,
            }
        };
        let (mut stack, output) = dev_up(
            fresh,
            |stack, args| stack.run_with(DATASET_OWNER, "", args, env),
            options,
        );
        let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
        stack.state = answer["stack"].clone();
        stack
    }

    pub(crate) fn rpc_url(&self) -> String {
        self.state["rpcUrl"].as_str().unwrap().to_owned()
    }

    pub(crate) fn hub(&self) -> confide_chain::Address {
        self.state["deployment"]["hub"].as_str().unwrap().parse().unwrap()
    }

    pub(crate) fn service_url(&self, name: &str) -> String {
        self.state[name]["url"].as_str().unwrap().to_owned()
    }

    pub(crate) fn project(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    pub(crate) fn run(&self, wallet: &str, project: &str, args: &[&str]) -> Output {
        self.run_with(wallet, project, args, &[])
    }

    /// Runs with more (or other) environment variables.
    pub(crate) fn run_with(&self, wallet: &str, project: &str, args: &[&str], env: &[(&str, &Path)]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_confide"))
            .args(args)
            .arg("--raw")
            .current_dir(self.project(project))
            .env("CONFIDE_DEV_DIR", &self.data)
            .env("CONFIDE_KEYSTORE_DIR", self.data.join("wallets"))
            .env("CONFIDE_WALLET_ADDRESS", wallet)
            .env("CONFIDE_WALLET_PASSWORD", "confide-dev")
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    /// Runs and expects success; returns the `--raw` JSON.
    pub(crate) fn ok(&self, wallet: &str, project: &str, args: &[&str]) -> Value {
        let output = self.run(wallet, project, args);
        let json: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("confide {args:?}: {}", String::from_utf8_lossy(&output.stderr)));
        assert_eq!(json["ok"], true, "confide {args:?}: {json}");
        json
    }

    /// Runs and expects failure; returns the error object.
    pub(crate) fn fails(&self, wallet: &str, project: &str, args: &[&str]) -> Value {
        let output = self.run(wallet, project, args);
        assert_eq!(output.status.code(), Some(1), "confide {args:?} should fail");
        serde_json::from_slice::<Value>(&output.stdout).unwrap()["error"].clone()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.run(DATASET_OWNER, "", &["dev", "down"]);
    }
}

/// `dev up`'s port flags, each port free when picked (not held: see [`lost_a_port`]).
pub(crate) fn port_flags() -> Vec<String> {
    [
        "--port",
        "--sms-port",
        "--store-port",
        "--market-port",
        "--scheduler-port",
        "--worker-port",
    ]
    .iter()
    .flat_map(|flag| [flag.to_string(), confide_devstack::anvil::free_port().to_string()])
    .collect()
}

/// Whether a `dev up` failed because a port picked free was bound by another process
/// before its service bound it (test binaries run many stacks at once): worth another
/// try on other ports, never a test failure.
pub(crate) fn lost_a_port(said: &str) -> bool {
    said.contains("Address already in use") || said.contains("PORT_BUSY") || said.contains("ANVIL_EXITED")
}

/// `dev up` (plus `options`) on fresh ports in a `fresh` fixture, through `up`; again in
/// another fixture, on other ports, when a port was lost to another process
/// ([`lost_a_port`]). Returns the fixture and `dev up`'s output; fails on any other error.
pub(crate) fn dev_up<T>(
    mut fresh: impl FnMut() -> T,
    up: impl Fn(&T, &[&str]) -> Output,
    options: &[&str],
) -> (T, Output) {
    for _ in 0..3 {
        let fixture = fresh();
        let ports = port_flags();
        let mut args = vec!["dev", "up"];
        args.extend(ports.iter().map(String::as_str));
        args.extend(options);
        let output = up(&fixture, &args);
        if output.status.success() {
            return (fixture, output);
        }
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(lost_a_port(&said), "confide dev up: {said}");
    }
    panic!("confide dev up lost a port to another process three times");
}

pub(crate) fn edit(path: &Path, change: impl FnOnce(&mut Value)) {
    let mut json: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    change(&mut json);
    std::fs::write(path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
}

/// An example app's module (`scripts/build-apps.sh` builds them; built here if missing).
pub(crate) use confide_testkit::example_app;

/// The enclave runtime binary, beside `confide` (built here if this test runs alone).
pub(crate) fn enclave_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_confide")).with_file_name("confide-enclave");
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "confide-enclave"])
            .status()
            .unwrap();
        assert!(status.success());
    }
    path
}

/// The dataset owner's tutorial: encrypt, host, deploy, push the key, publish a TEE order.
pub(crate) fn publish_dataset(stack: &Stack, project: &str, name: &str, content: &str, price: &str) -> String {
    publish_dataset_with(stack, project, name, content, price, &[])
}

/// [`publish_dataset`] with more `dataset upload` flags (`--ipfs`).
pub(crate) fn publish_dataset_with(
    stack: &Stack,
    project: &str,
    name: &str,
    content: &str,
    price: &str,
    upload_flags: &[&str],
) -> String {
    stack.ok(DATASET_OWNER, project, &["init"]);
    stack.ok(DATASET_OWNER, project, &["tee", "init"]);
    std::fs::write(
        stack.project(project).join(format!("tee/original-dataset/{name}")),
        content,
    )
    .unwrap();
    stack.ok(DATASET_OWNER, project, &["tee", "encrypt-dataset"]);
    stack.ok(DATASET_OWNER, project, &["dataset", "init"]);
    let encrypted = format!("tee/encrypted-dataset/{name}.enc");
    let mut upload = vec!["dataset", "upload", &encrypted];
    upload.extend(upload_flags);
    stack.ok(DATASET_OWNER, project, &upload);
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

/// The app developer registers an example app (by its manifest) and offers it for TDX
/// enclaves.
pub(crate) fn publish_app(stack: &Stack, name: &str) -> String {
    publish_app_with(stack, name, &[])
}

/// [`publish_app`] with more `app module` flags (`--legacy-mrenclave`).
pub(crate) fn publish_app_with(stack: &Stack, name: &str, module_flags: &[&str]) -> String {
    stack.ok(APP_DEVELOPER, name, &["init"]);
    stack.ok(APP_DEVELOPER, name, &["app", "init"]);
    let module = example_app(name);
    let mut args = vec!["app", "module", module.to_str().unwrap(), "--upload"];
    args.extend(module_flags);
    stack.ok(APP_DEVELOPER, name, &args);
    let app = stack.ok(APP_DEVELOPER, name, &["app", "deploy"])["address"]
        .as_str()
        .unwrap()
        .to_owned();
    stack.ok(APP_DEVELOPER, name, &["app", "publish", &app, "--tag", "tee,tdx"]);
    app
}

/// The requester's `app run --tag tee,tdx --encrypt-result` (plus `extra`), without
/// waiting; returns its `--raw` answer (`dealid`, `tasks`).
pub(crate) fn run_tee_task(stack: &Stack, app: &str, extra: &[&str]) -> Value {
    let mut args = vec!["app", "run", app, "--tag", "tee,tdx", "--encrypt-result"];
    args.extend(extra);
    stack.ok(REQUESTER, "requester", &args)
}

pub(crate) fn requester_keys(stack: &Stack) {
    stack.ok(REQUESTER, "requester", &["init"]);
    stack.ok(REQUESTER, "requester", &["result", "generate-encryption-keypair"]);
    stack.ok(REQUESTER, "requester", &["result", "push-encryption-key"]);
}

/// The requester runs `app` on `dataset` in a TDX enclave, the result encrypted for them
/// (plus `extra` `app run` flags), waits, downloads the result to `results/` and decrypts
/// it into `plain/`. Returns `app run`'s answer (which must say COMPLETED) and `plain/`.
pub(crate) fn run_confidential_task(stack: &Stack, app: &str, dataset: &str, extra: &[&str]) -> (Value, PathBuf) {
    let mut args = vec![
        "app",
        "run",
        app,
        "--dataset",
        dataset,
        "--tag",
        "tee,tdx",
        "--encrypt-result",
    ];
    args.extend(extra);
    args.extend(["--watch", "--download", "results"]);
    let run = stack.ok(REQUESTER, "requester", &args);
    assert_eq!(run["results"][0]["status"], "COMPLETED", "{run}");
    let result = run["results"][0]["resultPath"].as_str().unwrap();
    let plain = decrypt_result(stack, result, "plain");
    (run, plain)
}

/// The requester decrypts `result` (a path in their project) into `folder`; its path.
pub(crate) fn decrypt_result(stack: &Stack, result: &str, folder: &str) -> PathBuf {
    let archive = format!("{folder}.zip");
    stack.ok(
        REQUESTER,
        "requester",
        &["result", "decrypt", result, "--output", &archive, "--extract", folder],
    );
    stack.project("requester").join(folder)
}

/// `GET url` with extra header lines (each ending in CRLF), over a bare TCP connection
/// (HTTP/1.0, no client library): the status (0 when nothing accepts the connection)
/// and the body's bytes.
pub(crate) fn http_get(url: &str, headers: &str) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(mut stream) = std::net::TcpStream::connect(host) else {
        return (0, Vec::new());
    };
    write!(stream, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n{headers}\r\n").unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(response.len());
    let head = String::from_utf8_lossy(&response[..split]);
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, response[(split + 4).min(response.len())..].to_vec())
}

/// Builds the enclave runtime in release: a bench's dev stack runs it beside the
/// benchmarked (release) `confide`.
pub(crate) fn build_release_enclave() {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "confide-enclave"])
        .status()
        .unwrap();
    assert!(status.success());
}
