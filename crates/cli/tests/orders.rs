//! Orders as the tutorial's last part has them: templates in iexec.json, signed into
//! orders.json, shown, passed to a requester, filled on chain, cancelled.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const DATASET_OWNER: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const APP_DEVELOPER: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
const POOL_OWNER: &str = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
const REQUESTER: &str = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65";

mod common;

struct Market {
    dir: tempfile::TempDir,
    data: PathBuf,
}

impl Market {
    fn start() -> Market {
        let fresh = || {
            let dir = tempfile::tempdir().unwrap();
            Market {
                data: dir.path().join("dev"),
                dir,
            }
        };
        common::dev_up(fresh, |market, args| market.run(DATASET_OWNER, "", args), &[]).0
    }

    fn project(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    fn run(&self, wallet: &str, project: &str, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_confide"))
            .args(args)
            .arg("--raw")
            .current_dir(self.project(project))
            .env("CONFIDE_DEV_DIR", &self.data)
            .env("CONFIDE_KEYSTORE_DIR", self.data.join("wallets"))
            .env("CONFIDE_WALLET_ADDRESS", wallet)
            .env("CONFIDE_WALLET_PASSWORD", "confide-dev")
            .output()
            .unwrap()
    }

    fn ok(&self, wallet: &str, project: &str, args: &[&str]) -> Value {
        let output = self.run(wallet, project, args);
        let json: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("confide {args:?}: {}", String::from_utf8_lossy(&output.stderr)));
        assert_eq!(json["ok"], true, "confide {args:?}: {json}");
        json
    }

    fn fails(&self, wallet: &str, project: &str, args: &[&str]) -> Value {
        let output = self.run(wallet, project, args);
        assert_eq!(output.status.code(), Some(1), "confide {args:?} should fail");
        serde_json::from_slice::<Value>(&output.stdout).unwrap()["error"].clone()
    }
}

impl Drop for Market {
    fn drop(&mut self) {
        let _ = self.run(DATASET_OWNER, "", &["dev", "down"]);
    }
}

fn edit(path: &Path, change: impl FnOnce(&mut Value)) {
    let mut json: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    change(&mut json);
    std::fs::write(path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
}

/// Deploys an asset of `kind` from `project` with a filled-in template.
fn deploy(m: &Market, wallet: &str, project: &str, kind: &str) -> String {
    m.ok(wallet, project, &["init"]);
    m.ok(wallet, project, &[kind, "init"]);
    edit(&m.project(project).join("iexec.json"), |json| {
        if kind != "workerpool" {
            json[kind]["multiaddr"] = format!("https://example.org/{kind}").into();
            json[kind]["checksum"] = format!("0x{}", "ab".repeat(32)).into();
        }
    });
    m.ok(wallet, project, &[kind, "deploy"])["address"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Polls `condition` for up to 15 s: the market follows the chain every half second.
fn wait_for_market(condition: impl FnMut() -> bool) {
    let timeout = std::time::Duration::from_secs(15);
    confide_testkit::wait::wait_until("the market to follow the chain", timeout, condition);
}

fn signed_orders(m: &Market, project: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(m.project(project).join("orders.json")).unwrap()).unwrap()
}

#[test]
fn orders_are_signed_shared_filled_cancelled_and_follow_their_asset() {
    let m = Market::start();
    let dataset = deploy(&m, DATASET_OWNER, "dataset", "dataset");
    let app = deploy(&m, APP_DEVELOPER, "app", "app");
    let pool = deploy(&m, POOL_OWNER, "pool", "workerpool");

    // The tutorial's dataset order: bare TEE tag, accepted as PoCo ignores nothing here.
    m.ok(DATASET_OWNER, "dataset", &["order", "init", "--dataset"]);
    edit(&m.project("dataset").join("iexec.json"), |json| {
        json["order"]["datasetorder"]["tag"] =
            "0x0000000000000000000000000000000000000000000000000000000000000001".into();
    });
    m.ok(DATASET_OWNER, "dataset", &["order", "sign", "--dataset"]);
    let dataset_orders = signed_orders(&m, "dataset");
    let datasetorder = &dataset_orders["31337"]["datasetorder"];
    assert_eq!(
        datasetorder["dataset"].as_str().unwrap(),
        dataset,
        "the template took the deployed dataset"
    );
    assert_eq!(
        datasetorder["sign"].as_str().unwrap().len(),
        2 + 130,
        "a 65-byte signature"
    );
    assert_eq!(datasetorder["datasetprice"], "0", "amounts are decimal strings");
    let shown = m.ok(DATASET_OWNER, "dataset", &["order", "show", "--dataset"]);
    assert_eq!(shown["datasetorder"]["status"], "open");
    assert_eq!(shown["datasetorder"]["remaining"], "1000000");

    // Published, it shows in the order book, also when filtered on TEE (the seed's checkbox).
    let published = m.ok(DATASET_OWNER, "dataset", &["order", "publish", "--dataset"]);
    let dataset_hash = published["published"]["datasetorder"].as_str().unwrap().to_owned();
    let in_book = |m: &Market, extra: &[&str]| -> Vec<String> {
        let mut args = vec!["orderbook", "dataset"];
        args.extend_from_slice(extra);
        let book = m.ok(REQUESTER, "requester", &args);
        book["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["orderHash"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(in_book(&m, &[]), vec![dataset_hash.clone()]);
    assert_eq!(in_book(&m, &[&dataset, "--tag", "tee"]), vec![dataset_hash.clone()]);
    assert!(in_book(&m, &["--tag", "gpu"]).is_empty(), "a GPU filter excludes it");
    // Publishing the same order twice is refused.
    assert_eq!(
        m.fails(DATASET_OWNER, "dataset", &["order", "publish", "--dataset"])["code"],
        "DUPLICATE_ORDER"
    );

    // Signing someone else's asset is refused.
    let error = m.fails(APP_DEVELOPER, "dataset", &["order", "sign", "--dataset"]);
    assert_eq!(error["code"], "NOT_OWNER");

    m.ok(APP_DEVELOPER, "app", &["order", "init", "--app"]);
    m.ok(APP_DEVELOPER, "app", &["order", "sign", "--app"]);
    m.ok(POOL_OWNER, "pool", &["order", "init", "--workerpool"]);
    m.ok(POOL_OWNER, "pool", &["order", "sign", "--workerpool"]);
    m.ok(POOL_OWNER, "pool", &["order", "publish", "--workerpool"]);
    let pool_book = m.ok(
        REQUESTER,
        "requester",
        &["orderbook", "workerpool", &pool, "--tag", "tee,tdx", "--category", "0"],
    );
    assert_eq!(pool_book["count"], 1, "this pool's order (the dev pool has its own)");

    // The requester gathers the signed orders (as the tutorial says, orders are sent to
    // their users) and signs a request for the app on the dataset.
    m.ok(REQUESTER, "requester", &["init"]);
    let mut gathered = serde_json::json!({ "31337": {} });
    gathered["31337"]["apporder"] = signed_orders(&m, "app")["31337"]["apporder"].clone();
    gathered["31337"]["datasetorder"] = datasetorder.clone();
    gathered["31337"]["workerpoolorder"] = signed_orders(&m, "pool")["31337"]["workerpoolorder"].clone();
    std::fs::write(m.project("requester").join("orders.json"), gathered.to_string()).unwrap();
    m.ok(REQUESTER, "requester", &["order", "init", "--request"]);
    edit(&m.project("requester").join("iexec.json"), |json| {
        json["order"]["requestorder"]["app"] = app.clone().into();
        json["order"]["requestorder"]["dataset"] = dataset.clone().into();
        json["order"]["requestorder"]["params"] = serde_json::json!({ "iexec_args": "--stats" });
    });
    m.ok(REQUESTER, "requester", &["order", "sign", "--request"]);
    let deal = m.ok(REQUESTER, "requester", &["order", "fill"]);
    assert!(deal["dealid"].as_str().unwrap().starts_with("0x"));
    assert_eq!(deal["volume"], "1");
    let after = m.ok(REQUESTER, "requester", &["order", "show"]);
    assert_eq!(after["requestorder"]["status"], "dead", "the request is fully consumed");
    assert_eq!(after["workerpoolorder"]["status"], "dead");
    assert_eq!(after["datasetorder"]["remaining"], "999999");
    assert_eq!(after["workerpoolorder"]["order"]["workerpool"].as_str().unwrap(), pool);

    // The market followed the chain: the consumed workerpool order left the book by itself.
    wait_for_market(|| m.ok(REQUESTER, "requester", &["orderbook", "workerpool", &pool])["count"] == 0);
    assert_eq!(
        in_book(&m, &[]),
        vec![dataset_hash.clone()],
        "the dataset order still has volume"
    );

    // The owner cancels the dataset order: closed on chain, gone from the book, and a new
    // fill says why not.
    m.ok(DATASET_OWNER, "dataset", &["order", "cancel", "--dataset"]);
    assert_eq!(
        m.ok(DATASET_OWNER, "dataset", &["order", "show", "--dataset"])["datasetorder"]["status"],
        "dead"
    );
    wait_for_market(|| in_book(&m, &[]).is_empty());
    m.ok(REQUESTER, "requester", &["order", "sign", "--request"]);
    let error = m.fails(REQUESTER, "requester", &["order", "fill"]);
    assert_eq!(error["code"], "TX_REVERTED");
    assert!(error["message"].as_str().unwrap().contains("no volume left"), "{error}");

    // The shortcuts: sign from options and publish, then unpublish the last one.
    let quick = m.ok(
        DATASET_OWNER,
        "dataset",
        &["dataset", "publish", "--price", "3", "--tag", "tee"],
    );
    let quick_hash = quick["orderHash"].as_str().unwrap().to_owned();
    assert_eq!(in_book(&m, &["--tag", "tee"]), vec![quick_hash.clone()]);
    let removed = m.ok(DATASET_OWNER, "dataset", &["dataset", "unpublish"]);
    assert_eq!(removed["unpublished"][0].as_str().unwrap(), quick_hash);
    assert!(in_book(&m, &[]).is_empty());
    // Only the signer may unpublish.
    let kept = m.ok(DATASET_OWNER, "dataset", &["dataset", "publish"])["orderHash"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        m.fails(REQUESTER, "dataset", &["dataset", "unpublish", &dataset])["code"],
        "ORDER_NOT_FOUND"
    );

    // The dataset changes hands: PoCo would refuse its former owner's order, so the market
    // takes it out of the book by itself; handed back, the order is good again and returns.
    m.ok(
        DATASET_OWNER,
        "dataset",
        &["dataset", "transfer", &dataset, "--to", REQUESTER],
    );
    wait_for_market(|| in_book(&m, &[]).is_empty());
    m.ok(
        REQUESTER,
        "requester",
        &["dataset", "transfer", &dataset, "--to", DATASET_OWNER],
    );
    wait_for_market(|| in_book(&m, &[]) == vec![kept.clone()]);
}
