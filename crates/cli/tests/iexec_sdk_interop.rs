//! iExec's own SDK and CLI (npm `iexec` 9.0.1, installed in `interop/` by
//! `scripts/test.sh`) against Confide: the same chain.json, keystores, dataset files and
//! SMS, in both directions.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod common;

const OWNER: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

fn iexec_bin() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/node_modules/.bin/iexec");
    assert!(
        path.exists(),
        "iExec's SDK is missing: run scripts/test.sh (it runs `npm ci --prefix interop`)"
    );
    path
}

struct Peer {
    _dir: tempfile::TempDir,
    data: PathBuf,
    project: PathBuf,
}

impl Peer {
    fn start() -> Peer {
        let fresh = || {
            let dir = tempfile::tempdir().unwrap();
            let peer = Peer {
                data: dir.path().join("dev"),
                project: dir.path().join("project"),
                _dir: dir,
            };
            std::fs::create_dir_all(&peer.project).unwrap();
            peer
        };
        common::dev_up(fresh, |peer, args| peer.confide(args), &[]).0
    }

    fn wallets(&self) -> String {
        self.data.join("wallets").to_string_lossy().into_owned()
    }

    fn confide(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_confide"))
            .args(args)
            .current_dir(&self.project)
            .env("CONFIDE_DEV_DIR", &self.data)
            .env("CONFIDE_KEYSTORE_DIR", self.wallets())
            .env("CONFIDE_WALLET_ADDRESS", OWNER)
            .env("CONFIDE_WALLET_PASSWORD", "confide-dev")
            .output()
            .unwrap()
    }

    fn confide_json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--raw");
        let output = self.confide(&args);
        assert!(
            output.status.success(),
            "confide {args:?}: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// Runs iExec's CLI with `--raw` in the project and returns its JSON.
    fn iexec(&self, args: &[&str]) -> Value {
        let output = Command::new(iexec_bin())
            .args(args)
            .arg("--raw")
            .current_dir(&self.project)
            .output()
            .unwrap();
        let json: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
            panic!(
                "iexec {args:?}: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        });
        assert_eq!(json["ok"], true, "iexec {args:?}: {json}");
        json
    }

    fn wallet_args(&self) -> Vec<String> {
        [
            "--keystoredir",
            &self.wallets(),
            "--wallet-address",
            OWNER,
            "--password",
            "confide-dev",
            "--chain",
            "dev",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn iexec_signed(&self, args: &[&str]) -> Value {
        let wallet = self.wallet_args();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(wallet.iter().map(String::as_str));
        self.iexec(&all)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.confide(&["dev", "down"]);
    }
}

fn edit(path: &Path, change: impl FnOnce(&mut Value)) {
    let mut json: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    change(&mut json);
    std::fs::write(path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
}

#[test]
fn iexecs_sdk_reads_our_chain_and_wallets_and_pushes_to_our_sms() {
    let peer = Peer::start();
    peer.iexec(&["init", "--skip-wallet", "--force"]);
    std::fs::copy(peer.data.join("chain.json"), peer.project.join("chain.json")).unwrap();

    // `iexec info` on the PoCo Confide deployed.
    let info = peer.iexec(&["info", "--chain", "dev"]);
    let ours = peer.confide_json(&["info"]);
    assert_eq!(
        info["hubAddress"].as_str().unwrap().to_lowercase(),
        ours["hubAddress"].as_str().unwrap().to_lowercase()
    );
    assert_eq!(
        info["rlcAddress"].as_str().unwrap().to_lowercase(),
        ours["rlcAddress"].as_str().unwrap().to_lowercase()
    );

    // iExec's SDK encrypts; Confide decrypts.
    peer.iexec(&["dataset", "init", "--encrypted"]);
    let plaintext = "sensor,value\na,1\nb,2\n";
    std::fs::write(peer.project.join("datasets/original/sensors.csv"), plaintext).unwrap();
    let encrypted = peer.iexec(&["dataset", "encrypt"]);
    let checksum = encrypted["encryptedFiles"][0]["checksum"].as_str().unwrap().to_owned();
    peer.confide_json(&[
        "dataset",
        "decrypt",
        "datasets/encrypted/sensors.csv.enc",
        "--output",
        "back.csv",
    ]);
    assert_eq!(
        std::fs::read_to_string(peer.project.join("back.csv")).unwrap(),
        plaintext
    );

    // iExec's SDK, with a keystore Confide wrote, deploys the dataset and pushes its key
    // to Confide's SMS; Confide sees it.
    edit(&peer.project.join("iexec.json"), |json| {
        json["dataset"]["owner"] = OWNER.into();
        json["dataset"]["multiaddr"] = "https://example.org/sensors.csv.enc".into();
        json["dataset"]["checksum"] = checksum.clone().into();
    });
    let deployed = peer.iexec_signed(&["dataset", "deploy"]);
    let dataset = deployed["address"].as_str().unwrap().to_owned();
    assert_eq!(
        peer.confide_json(&["dataset", "check-secret", &dataset])["isSecretSet"],
        false
    );
    peer.iexec_signed(&["dataset", "push-secret", &dataset]);
    assert_eq!(
        peer.confide_json(&["dataset", "check-secret", &dataset])["isSecretSet"],
        true
    );
    let shown = peer.confide_json(&["dataset", "show", &dataset]);
    assert_eq!(shown["dataset"]["checksum"].as_str().unwrap(), checksum);

    // iExec's SDK signs a dataset order and publishes it to Confide's market (its challenge
    // login included); both order book clients see it.
    peer.iexec_signed(&["order", "init", "--dataset"]);
    peer.iexec_signed(&["order", "sign", "--dataset"]);
    let published = peer.iexec_signed(&["order", "publish", "--dataset", "--force"]);
    let hash = published["datasetorder"]["orderHash"].as_str().unwrap().to_owned();
    let ours = peer.confide_json(&["orderbook", "dataset", &dataset, "--tag", "tee,tdx"]);
    assert_eq!(ours["orders"][0]["orderHash"].as_str().unwrap(), hash);
    let theirs = peer.iexec(&["orderbook", "dataset", &dataset, "--chain", "dev"]);
    assert_eq!(theirs["count"], 1);
    assert_eq!(theirs["datasetOrders"][0]["orderHash"].as_str().unwrap(), hash);
}

#[test]
fn confides_datasets_wallets_and_secrets_are_seen_by_iexecs_sdk() {
    let peer = Peer::start();
    std::fs::copy(peer.data.join("chain.json"), peer.project.join("chain.json")).unwrap();

    // A wallet Confide creates opens in iExec's CLI.
    let keystore = peer.project.join("keystore");
    let created = peer.confide_json(&[
        "wallet",
        "create",
        "--keystoredir",
        keystore.to_str().unwrap(),
        "--password",
        "pw-123",
    ]);
    let address = created["address"].as_str().unwrap();
    let shown = peer.iexec(&[
        "wallet",
        "show",
        "--keystoredir",
        keystore.to_str().unwrap(),
        "--wallet-address",
        address,
        "--password",
        "pw-123",
        "--chain",
        "dev",
    ]);
    assert_eq!(
        shown["wallet"]["address"].as_str().unwrap().to_lowercase(),
        address.to_lowercase()
    );

    // Confide encrypts, deploys and pushes; iExec's SDK reads the dataset and sees the key.
    peer.confide_json(&["init"]);
    peer.confide_json(&["dataset", "init", "--encrypted"]);
    std::fs::write(peer.project.join("datasets/original/data.csv"), "k,v\n").unwrap();
    peer.confide_json(&["dataset", "encrypt"]);
    edit(&peer.project.join("iexec.json"), |json| {
        json["dataset"]["multiaddr"] = "https://example.org/data.csv.enc".into()
    });
    let dataset = peer.confide_json(&["dataset", "deploy"])["address"]
        .as_str()
        .unwrap()
        .to_owned();
    peer.confide_json(&["dataset", "push-secret"]);
    let seen = peer.iexec(&["dataset", "show", &dataset, "--chain", "dev"]);
    assert_eq!(
        seen["dataset"]["owner"].as_str().unwrap().to_lowercase(),
        OWNER.to_lowercase()
    );
    let checked = peer.iexec(&["dataset", "check-secret", &dataset, "--chain", "dev"]);
    assert_eq!(checked["isSecretSet"], true);
}

/// A result the enclave runtime encrypts for an RSA beneficiary opens with iExec's own
/// `iexec result decrypt`: the layout (`iexec_out.zip.aes` + `aes-key.rsa`) is iExec's.
#[test]
fn iexecs_cli_decrypts_results_encrypted_for_an_rsa_beneficiary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("iexec_out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("result.json"), br#"{"rows":3}"#).unwrap();
    std::fs::write(
        out.join("computed.json"),
        br#"{"deterministic-output-path":"/iexec_out/result.json"}"#,
    )
    .unwrap();
    let plain = dir.path().join("iexec_out.zip");
    confide_crypto::result::zip_dir(&out, std::fs::File::create(&plain).unwrap()).unwrap();

    let (private_pem, public_pem) = confide_crypto::result_keys::generate_rsa(2048).unwrap();
    let keys = dir.path().join(".secrets/beneficiary");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::write(keys.join("beneficiary_key"), private_pem.as_bytes()).unwrap();
    let key = confide_crypto::result::ResultPublicKey::parse(&public_pem).unwrap();
    let encrypted = dir.path().join("encryptedResults.zip");
    confide_crypto::result::encrypt(&plain, &key, &encrypted).unwrap();

    let output = Command::new(iexec_bin())
        .args([
            "result",
            "decrypt",
            "encryptedResults.zip",
            "--beneficiary-key-file",
            "beneficiary_key",
        ])
        .args(["--force", "--raw"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let answer: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("iexec result decrypt: {}", String::from_utf8_lossy(&output.stderr)));
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(
        std::fs::read(dir.path().join("results.zip")).unwrap(),
        std::fs::read(&plain).unwrap(),
        "iExec's CLI recovers the exact archive"
    );
}

/// iExec's CLI as the requester, unmodified and with its preflight checks on: it makes and
/// pushes its own RSA result key, runs a Confide app (registered by its manifest, as the
/// SDK 9 wants) on a confidential dataset with `app run --tag tee,tdx --encrypt-result
/// --watch`, downloads the result the IPFS way through chain.json's `ipfsGateway` (our
/// store) and decrypts it; it also reads the task, the deal and our market's pool orders.
#[test]
fn iexecs_cli_runs_a_confide_app_on_a_confidential_dataset_and_decrypts_the_result() {
    use common::{REQUESTER, Stack};
    let stack = Stack::start();
    let app = common::publish_app(&stack, "echo");
    // Published the IPFS way: its multiaddr is `/ipfs/<CID>`, fetched through a gateway.
    let content = "a line only the app reads\n";
    let dataset = common::publish_dataset_with(&stack, "owner", "secret.txt", content, "0", &["--ipfs"]);
    let registered = stack.ok(common::DATASET_OWNER, "owner", &["dataset", "show", &dataset]);
    let encrypted = std::fs::read(stack.project("owner").join("tee/encrypted-dataset/secret.txt.enc")).unwrap();
    let cid = confide_protocol::ipfs::file_cid(confide_protocol::ipfs::CidVersion::V1, &encrypted);
    assert_eq!(
        registered["dataset"]["multiaddr"],
        format!("/ipfs/{cid}"),
        "{registered}"
    );

    let project = stack.project("requester");
    std::fs::copy(stack.data.join("chain.json"), project.join("chain.json")).unwrap();
    let wallets = stack.data.join("wallets");
    let wallet = [
        "--keystoredir",
        wallets.to_str().unwrap(),
        "--wallet-address",
        REQUESTER,
        "--password",
        "confide-dev",
        "--chain",
        "dev",
    ];
    let iexec = |args: &[&str]| -> Value {
        let output = Command::new(iexec_bin())
            .args(args)
            .arg("--raw")
            .current_dir(&project)
            .output()
            .unwrap();
        let json: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("iexec {args:?}: {}", String::from_utf8_lossy(&output.stderr)));
        assert_eq!(json["ok"], true, "iexec {args:?}: {json}");
        json
    };
    let signed = |args: &[&str]| -> Value { iexec(&[args, &wallet].concat()) };

    // The beneficiary's key, made and pushed to our SMS by iExec's CLI.
    iexec(&[&["result", "generate-encryption-keypair"][..], &wallet[..6]].concat());
    signed(&["result", "push-encryption-key"]);
    let run = signed(&[
        "app",
        "run",
        &app,
        "--dataset",
        &dataset,
        "--tag",
        "tee,tdx",
        "--encrypt-result",
        "--args",
        "from-iexec",
        "--watch",
        // Answers "spend N nRLC?" only: the preflight checks still run.
        "--force",
    ]);
    assert_eq!(run["tasks"][0]["statusName"], "COMPLETED", "watched to the end: {run}");
    let task = run["tasks"][0]["taskid"].as_str().unwrap().to_owned();

    let shown = signed(&["task", "show", &task, "--download", "from-iexec"]);
    assert_eq!(shown["task"]["statusName"], "COMPLETED", "{shown}");
    let downloaded = std::fs::read(project.join("from-iexec.zip")).unwrap();
    let result_cid = confide_protocol::ipfs::file_cid(confide_protocol::ipfs::CidVersion::V1, &downloaded);
    assert_eq!(
        shown["task"]["results"],
        serde_json::json!({ "storage": "ipfs", "location": format!("/ipfs/{result_cid}") }),
        "the bytes iExec's CLI fetched are those the chain names"
    );

    // The deal, as iExec's CLI reads it from the chain, and the pool's orders in our market.
    let deal = run["deals"][0]["dealid"].as_str().unwrap().to_owned();
    let deal_shown = signed(&["deal", "show", &deal]);
    assert_eq!(
        deal_shown["deal"]["app"]["pointer"].as_str().map(str::to_lowercase),
        Some(app.to_lowercase()),
        "{deal_shown}"
    );
    assert_eq!(
        deal_shown["deal"]["tasks"][0].as_str(),
        Some(task.as_str()),
        "{deal_shown}"
    );
    let pools = iexec(&["orderbook", "workerpool", "--tag", "tee,tdx", "--chain", "dev"]);
    let dev_pool = stack.state["workerpool"].as_str().unwrap().to_lowercase();
    assert!(
        pools["workerpoolOrders"]
            .as_array()
            .is_some_and(|orders| orders.iter().any(|o| o.to_string().to_lowercase().contains(&dev_pool))),
        "the dev pool's TDX order, listed by iExec's CLI: {pools}"
    );

    iexec(&[&["result", "decrypt", "from-iexec.zip", "--force"][..], &wallet[..6]].concat());
    let plain = std::fs::read(project.join("results.zip")).unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(plain)).unwrap();
    let mut echo = String::new();
    let mut file = archive.by_name("echo.txt").expect("the app's echo.txt in the result");
    std::io::Read::read_to_string(&mut file, &mut echo).unwrap();
    // The app got iExec's arguments and saw the decrypted dataset in /iexec_in.
    assert!(echo.contains("from-iexec"), "the echo app's output: {echo}");
    assert!(
        echo.to_lowercase().contains(&dataset.to_lowercase()),
        "the echo app's output: {echo}"
    );
}
