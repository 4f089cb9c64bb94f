//! The seed tutorial's steps, one by one, with `confide` in place of `iexec`, against
//! `confide dev up`: tee init, copy a file in, tee encrypt-dataset, dataset init, edit
//! iexec.json, dataset deploy, tee push-secret, dataset check-secret. Then what a careful
//! owner and an attacker would try next.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const DATASET_OWNER: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const SOMEONE_ELSE: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";

mod common;

struct Journey {
    _dir: tempfile::TempDir,
    data: PathBuf,
    project: PathBuf,
}

impl Journey {
    fn start() -> Journey {
        let fresh = || {
            let dir = tempfile::tempdir().unwrap();
            let project = dir.path().join("project");
            std::fs::create_dir_all(&project).unwrap();
            Journey {
                data: dir.path().join("dev"),
                project,
                _dir: dir,
            }
        };
        common::dev_up(fresh, |journey, args| journey.run_as(DATASET_OWNER, args), &[]).0
    }

    fn run_as(&self, wallet: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_confide"))
            .args(args)
            .current_dir(&self.project)
            .env("CONFIDE_DEV_DIR", &self.data)
            .env("CONFIDE_KEYSTORE_DIR", self.data.join("wallets"))
            .env("CONFIDE_WALLET_ADDRESS", wallet)
            .env("CONFIDE_WALLET_PASSWORD", "confide-dev")
            .env_remove("CONFIDE_SMS_URL")
            .env_remove("CONFIDE_STORE_URL")
            .output()
            .unwrap()
    }

    /// Runs as the dataset owner and requires success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.run_as(DATASET_OWNER, args);
        assert!(
            output.status.success(),
            "confide {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs with --raw and returns the error code of a failure.
    fn error_code(&self, wallet: &str, args: &[&str]) -> String {
        let mut with_raw = args.to_vec();
        with_raw.push("--raw");
        let output = self.run_as(wallet, &with_raw);
        assert_eq!(output.status.code(), Some(1), "confide {args:?} should fail");
        let json: Value = serde_json::from_slice(&output.stdout).expect("--raw JSON");
        json["error"]["code"].as_str().unwrap().to_owned()
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.project.join(relative)
    }
}

impl Drop for Journey {
    fn drop(&mut self) {
        let _ = self.run_as(DATASET_OWNER, &["dev", "down"]);
    }
}

/// A plain, unauthenticated HTTP/1.0 GET, as `wget` does in the tutorial; returns the body.
fn reqwest_get(url: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_once('/').expect("a path");
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(stream, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("headers end");
    assert!(
        response.starts_with(b"HTTP/1.0 200") || response.starts_with(b"HTTP/1.1 200"),
        "GET {url}"
    );
    response[split + 4..].to_vec()
}

fn edit_iexec_json(project: &Path, edit: impl FnOnce(&mut Value)) {
    let path = project.join("iexec.json");
    let mut json: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut json);
    std::fs::write(path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
}

#[test]
fn the_tutorial_runs_step_by_step() {
    let j = Journey::start();
    j.ok(&["init"]);
    assert!(j.ok(&["tee", "init"]).contains("created TEE folders tree structure"));
    for dir in [
        "tee/original-dataset",
        "tee/encrypted-dataset",
        ".tee-secrets/dataset",
        ".tee-secrets/beneficiary",
    ] {
        assert!(j.path(dir).is_dir(), "{dir}");
    }

    // Encrypting an empty folder says what to do.
    assert_eq!(
        j.error_code(DATASET_OWNER, &["tee", "encrypt-dataset"]),
        "NO_ORIGINAL_DATASET"
    );

    let plaintext = "city,temperature\nParis,21\nLyon,24\n";
    std::fs::write(j.path("tee/original-dataset/weather.csv"), plaintext).unwrap();
    let scone = j.run_as(DATASET_OWNER, &["tee", "encrypt-dataset", "--algorithm", "scone"]);
    assert!(scone.status.success());
    assert!(String::from_utf8_lossy(&scone.stderr).contains("SCONE's file-system shield is proprietary"));
    let encrypted = std::fs::read(j.path("tee/encrypted-dataset/weather.csv.enc")).unwrap();
    assert!(
        !String::from_utf8_lossy(&encrypted).contains("Paris"),
        "ciphertext only"
    );
    let key_file = j.path(".tee-secrets/dataset/weather.csv.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600,
        "keys are private"
    );
    // Encrypting again would lose the key in use: refused without --force.
    assert_eq!(
        j.error_code(DATASET_OWNER, &["tee", "encrypt-dataset"]),
        "ALREADY_ENCRYPTED"
    );

    // The owner can check the round trip.
    j.ok(&[
        "dataset",
        "decrypt",
        "tee/encrypted-dataset/weather.csv.enc",
        "--output",
        "check.csv",
    ]);
    assert_eq!(std::fs::read_to_string(j.path("check.csv")).unwrap(), plaintext);

    j.ok(&["dataset", "init"]);
    // The tutorial uploads the ciphertext to a public server: the stack's content store.
    let uploaded: Value =
        serde_json::from_str(&j.ok(&["dataset", "upload", "tee/encrypted-dataset/weather.csv.enc", "--raw"])).unwrap();
    let url = uploaded["url"].as_str().unwrap().to_owned();
    let served = reqwest_get(&url);
    assert_eq!(served, encrypted, "anyone downloads the ciphertext, byte for byte");
    // A wrong checksum is refused while the file is at hand.
    edit_iexec_json(&j.project, |json| {
        json["dataset"]["name"] = "weather".into();
        assert_eq!(json["dataset"]["multiaddr"], url.as_str(), "upload wrote the multiaddr");
    });
    let good_checksum = {
        let json: Value = serde_json::from_str(&std::fs::read_to_string(j.path("iexec.json")).unwrap()).unwrap();
        json["dataset"]["checksum"].as_str().unwrap().to_owned()
    };
    edit_iexec_json(&j.project, |json| {
        json["dataset"]["checksum"] = format!("0x{}", "00".repeat(32)).into()
    });
    assert_eq!(j.error_code(DATASET_OWNER, &["dataset", "deploy"]), "CHECKSUM_MISMATCH");
    edit_iexec_json(&j.project, |json| {
        json["dataset"]["checksum"] = good_checksum.clone().into()
    });

    let deployed = j.ok(&["dataset", "deploy"]);
    assert!(deployed.contains("Deployed new dataset at address 0x"), "{deployed}");
    let shown: Value = serde_json::from_str(&j.ok(&["dataset", "show", "--raw"])).unwrap();
    assert_eq!(
        shown["dataset"]["checksum"].as_str().unwrap().to_lowercase(),
        good_checksum.to_lowercase()
    );
    let dataset = shown["dataset"]["address"].as_str().unwrap().to_owned();

    // Before the push the SMS has nothing; someone else cannot push for this dataset.
    assert!(j.ok(&["dataset", "check-secret"]).contains("no secret"));
    assert_eq!(
        j.error_code(SOMEONE_ELSE, &["tee", "push-secret", "--dataset", &dataset]),
        "NOT_OWNER"
    );

    let pushed = j.ok(&[
        "tee",
        "push-secret",
        "--dataset",
        &dataset,
        "--secret-path",
        ".tee-secrets/dataset/weather.csv.key",
    ]);
    assert!(pushed.contains("pushed the key"), "{pushed}");
    let checked: Value = serde_json::from_str(&j.ok(&["dataset", "check-secret", &dataset, "--raw"])).unwrap();
    assert_eq!(checked["isSecretSet"], true);

    // Write-once, as upstream; rotation is explicit and keeps versions.
    assert_eq!(
        j.error_code(DATASET_OWNER, &["tee", "push-secret", "--dataset", &dataset]),
        "SECRET_EXISTS"
    );
    let rotated: Value =
        serde_json::from_str(&j.ok(&["dataset", "push-secret", &dataset, "--rotate", "--raw"])).unwrap();
    assert_eq!(rotated["version"], 2);

    // Services or chain down: one clear line each.
    let closed = format!("http://127.0.0.1:{}", confide_devstack::anvil::free_port());
    let output = Command::new(env!("CARGO_BIN_EXE_confide"))
        .args(["dataset", "check-secret", &dataset, "--raw"])
        .current_dir(&j.project)
        .env("CONFIDE_DEV_DIR", &j.data)
        .env("CONFIDE_SMS_URL", &closed)
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["error"]["code"], "SMS_UNREACHABLE");
    assert_eq!(
        j.error_code(DATASET_OWNER, &["dataset", "show", &dataset, "--rpc-url", &closed]),
        "CHAIN_UNREACHABLE"
    );

    // The SMS keeps no value in clear.
    let db = std::fs::read(j.data.join("sms/sms.db")).unwrap();
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert!(
        !String::from_utf8_lossy(&db).contains(key.trim()),
        "the key is not stored in clear"
    );
    let master = std::fs::metadata(j.data.join("sms/master.key")).unwrap();
    assert_eq!(master.permissions().mode() & 0o777, 0o600);
}

#[test]
fn wallets_are_keystores_and_bad_passwords_are_refused() {
    let j = Journey::start();
    let keystore = j.project.join("keystore");
    let keystore = keystore.to_str().unwrap();
    let created: Value =
        serde_json::from_str(&j.ok(&["wallet", "create", "--keystoredir", keystore, "--raw"])).unwrap();
    let address = created["address"].as_str().unwrap().to_owned();
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(created["fileName"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(file["version"], 3);
    assert_eq!(file["crypto"]["kdf"], "scrypt");

    let code = {
        let output = Command::new(env!("CARGO_BIN_EXE_confide"))
            .args([
                "account",
                "deposit",
                "1",
                "--keystoredir",
                keystore,
                "--wallet-address",
                &address,
                "--password",
                "wrong",
                "--raw",
            ])
            .current_dir(&j.project)
            .env("CONFIDE_DEV_DIR", &j.data)
            .output()
            .unwrap();
        let json: Value = serde_json::from_slice(&output.stdout).unwrap();
        json["error"]["code"].as_str().unwrap().to_owned()
    };
    assert_eq!(code, "WRONG_PASSWORD");

    // A corrupt keystore is named, not a crash.
    let corrupt = j.project.join("corrupt");
    std::fs::create_dir_all(&corrupt).unwrap();
    std::fs::write(
        corrupt.join(format!(
            "UTC--2026-01-01T00-00-00.000000000Z--{}",
            &address[2..].to_lowercase()
        )),
        "{\"crypto\": 1}",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_confide"))
        .args([
            "account",
            "deposit",
            "1",
            "--keystoredir",
            corrupt.to_str().unwrap(),
            "--password",
            "x",
            "--raw",
        ])
        .current_dir(&j.project)
        .env("CONFIDE_DEV_DIR", &j.data)
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        json["error"]["code"], "WRONG_PASSWORD",
        "an unreadable keystore cannot be opened: {json}"
    );

    // The dev owner deposits and withdraws through the escrow.
    j.ok(&["account", "deposit", "5 RLC"]);
    j.ok(&["account", "withdraw", "2 RLC"]);
    let account: Value = serde_json::from_str(&j.ok(&["account", "show", "--raw"])).unwrap();
    assert_eq!(account["balance"]["stake"], "3000000000");
    assert_eq!(
        j.error_code(DATASET_OWNER, &["account", "withdraw", "1000 RLC"]),
        "INSUFFICIENT_FUNDS"
    );
    assert_eq!(
        j.error_code(DATASET_OWNER, &["account", "deposit", "1.5 ETH"]),
        "INVALID_AMOUNT"
    );
}
