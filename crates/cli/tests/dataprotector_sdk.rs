//! iExec's DataProtector SDK (npm `@iexec/dataprotector` 2.0.0-beta.27, pinned in
//! `interop/`, installed by `scripts/test.sh`), unmodified, against a Confide dev stack on
//! chain id 421614 (the SDK starts on Arbitrum's ids only): protect, find, grant, process
//! with an encrypted result and a requester secret, revoke, transfer. And across: data
//! protected by `confide` is processed by the SDK, data protected by the SDK by `confide`.
//! Then bulk processing: five protected data of two owners in bulk, one grant revoked,
//! two per task, every result fetched, the request inspected through the PoCo subgraph.
//! The app is a Confide Python app reading its fields with the template's
//! `protected_data.py`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

mod common;

use common::*;

/// The spare dev account: the SDK's protected data is transferred to it.
const NEW_OWNER: &str = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720";

const APP_MAIN: &str = r#"import json
import os
import sys

import protected_data

out = os.environ.get("IEXEC_OUT", "/iexec_out")
path = os.path.join(out, "result.txt")
if "IEXEC_BULK_SLICE_SIZE" in os.environ:
    lines = []
    for entry in protected_data.task_inputs():
        name = entry.filename.lower()
        if entry.refused:
            lines.append(f"{name} refused {entry.refused}")
        else:
            lines.append(f"{name} email={entry.load().get('email', 'string')}")
    text = "\n".join(lines)
else:
    data = protected_data.load()
    email = data.get("email", "string")
    age = data.get("profile.age", "f64")
    secret = os.environ.get("IEXEC_REQUESTER_SECRET_1", "")
    text = f"email={email} age={age} secret={secret} args={' '.join(sys.argv[1:])}"
with open(path, "w") as f:
    f.write(text)
with open(os.path.join(out, "computed.json"), "w") as f:
    json.dump({"deterministic-output-path": path}, f)
"#;

fn interop() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop");
    assert!(
        dir.join("node_modules/@iexec/dataprotector").exists(),
        "iExec's DataProtector SDK is missing: run scripts/test.sh (it runs `npm ci --prefix interop`)"
    );
    dir
}

fn key_of(role: &str) -> &'static str {
    confide_devstack::accounts::by_role(role)
        .expect("a dev account")
        .private_key
}

/// Runs one step of `interop/dataprotector-journey.mjs` and returns what it printed.
fn sdk(config: &Path, step: &str) -> Value {
    let output = Command::new("node")
        .arg(interop().join("dataprotector-journey.mjs"))
        .arg(config)
        .arg(step)
        .current_dir(interop())
        .output()
        .expect("node runs");
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "SDK step {step}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(answer["ok"], true, "SDK step {step}: {answer}");
    answer
}

/// The app developer's Python app: the template's `protected_data.py`, and a main that
/// writes what it read into result.txt.
fn publish_protected_data_app(stack: &Stack) -> String {
    stack.ok(APP_DEVELOPER, "pd-app", &["init"]);
    stack.ok(APP_DEVELOPER, "pd-app", &["app", "init", "--python"]);
    std::fs::write(stack.project("pd-app").join("app/main.py"), APP_MAIN).unwrap();
    stack.ok(
        APP_DEVELOPER,
        "pd-app",
        &["app", "module", "--python", "app", "--upload"],
    );
    let app = stack.ok(APP_DEVELOPER, "pd-app", &["app", "deploy"])["address"]
        .as_str()
        .unwrap()
        .to_owned();
    stack.ok(APP_DEVELOPER, "pd-app", &["app", "publish", &app, "--tag", "tee,tdx"]);
    app
}

#[test]
fn iexec_dataprotector_sdk_runs_unmodified_on_confide() {
    let stack = Stack::start_with(&["--chain-id", "421614"]);
    let status = stack.ok(DATASET_OWNER, "", &["dev", "status"]);
    let options = status["dataProtector"].clone();
    assert!(options["dataprotectorContractAddress"].is_string(), "{status}");
    assert!(options["iexecOptions"]["smsURL"].is_string(), "{status}");

    let app = publish_protected_data_app(&stack);

    // Protected by `confide`, granted to the app for the requester.
    let owner = stack.project("owner");
    std::fs::write(
        owner.join("data.json"),
        r#"{"email":"bob@example.com","profile":{"age":30}}"#,
    )
    .unwrap();
    std::fs::write(owner.join("photo.png"), b"\x89PNG\r\n\x1a\n-not-really").unwrap();
    let protected = stack.ok(
        DATASET_OWNER,
        "owner",
        &[
            "protect",
            "--name",
            "confide-bob",
            "--json",
            "data.json",
            "--file",
            "photo=photo.png",
        ],
    );
    let confide_data = protected["address"].as_str().unwrap().to_owned();
    assert_eq!(
        protected["schema"],
        json!({"email":"string","profile":{"age":"f64"},"photo":"image/png"}),
        "{protected}"
    );
    stack.ok(
        DATASET_OWNER,
        "owner",
        &[
            "protected",
            "grant",
            &confide_data,
            "--app",
            &app,
            "--user",
            REQUESTER,
            "--access",
            "2",
        ],
    );

    let config_path = stack.project("sdk").join("config.json");
    let mut config = json!({
        "options": options,
        "ownerKey": key_of("dataset-owner"),
        "requesterKey": key_of("requester"),
        "ownerAddress": DATASET_OWNER.to_lowercase(),
        "requesterAddress": REQUESTER,
        "newOwnerAddress": NEW_OWNER,
        "app": app,
        "confideProtectedData": confide_data,
    });
    let write_config = |config: &Value| std::fs::write(&config_path, config.to_string()).unwrap();
    write_config(&config);

    // protectData: a nested object with a string, a number, a bigint, a boolean and a PNG.
    let protected = sdk(&config_path, "protect");
    let sdk_data = protected["address"].as_str().unwrap().to_lowercase();
    assert_eq!(
        protected["schema"],
        json!({"email":"string","profile":{"age":"f64","score":"i128","verified":"bool"},"photo":"image/png"}),
        "{protected}"
    );
    assert!(
        protected["multiaddr"].as_str().unwrap().starts_with("/p2p/Qm"),
        "{protected}"
    );
    config["sdkProtectedData"] = json!(sdk_data);
    write_config(&config);

    // getProtectedData by owner, by requiredSchema, by address.
    let found = sdk(&config_path, "find");
    let by_owner: Vec<&str> = found["byOwner"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(by_owner.contains(&sdk_data.as_str()), "{found}");
    assert!(by_owner.contains(&confide_data.to_lowercase().as_str()), "{found}");
    assert_eq!(by_owner[0], sdk_data, "newest first: {found}");
    let by_schema = found["bySchema"].as_array().unwrap();
    assert!(by_schema.contains(&json!(sdk_data)), "{found}");
    assert!(by_schema.contains(&json!(confide_data.to_lowercase())), "{found}");
    assert_eq!(found["byWrongSchema"], json!([]), "{found}");
    assert_eq!(found["one"][0]["owner"], json!(DATASET_OWNER.to_lowercase()), "{found}");
    assert_eq!(found["one"][0]["schema"]["profile"]["score"], "i128", "{found}");

    // grantAccess to the app for the requester; a duplicate refused; remainingAccess.
    let granted = sdk(&config_path, "grant");
    assert_eq!(granted["remaining"], json!([3]), "{granted}");
    assert!(granted["duplicate"].as_str().unwrap().contains("already"), "{granted}");

    // processProtectedData with an encrypted result and a requester secret.
    let processed = sdk(&config_path, "process");
    assert_eq!(
        processed["result"], "email=alice@example.com age=42.5 secret=requester-secret-value args=from-the-sdk",
        "{processed}"
    );
    assert_eq!(processed["remaining"], json!([2]), "one access consumed: {processed}");

    // Across: the SDK processes what `confide` protected.
    let across = sdk(&config_path, "process-confide");
    assert_eq!(
        across["result"], "email=bob@example.com age=30.0 secret=requester-secret-value args=from-the-sdk",
        "{across}"
    );

    // And `confide` processes what the SDK protected (the SDK left an RSA key of its own
    // in the SMS: the requester pushes theirs again).
    stack.ok(REQUESTER, "requester", &["init"]);
    stack.ok(REQUESTER, "requester", &["result", "generate-encryption-keypair"]);
    stack.ok(
        REQUESTER,
        "requester",
        &["result", "push-encryption-key", "--force-update"],
    );
    stack.ok(
        REQUESTER,
        "requester",
        &["requester", "push-secret", "greeting", "--secret-value", "hi"],
    );
    let processed = stack.ok(
        REQUESTER,
        "requester",
        &[
            "process",
            &sdk_data,
            "--app",
            &app,
            "--encrypt-result",
            "--secret",
            "1=greeting",
            "--args",
            "from confide",
            "--path",
            "result.txt",
        ],
    );
    assert_eq!(
        processed["content"], "email=alice@example.com age=42.5 secret=hi args=from confide",
        "{processed}"
    );

    // revokeOneAccess, revokeAllAccess; transferOwnership seen by getProtectedData.
    let revoked = sdk(&config_path, "revoke");
    assert_eq!(revoked["left"], 0, "{revoked}");
    let refused = stack.fails(REQUESTER, "requester", &["process", &sdk_data, "--app", &app]);
    assert_eq!(refused["code"], "NO_DATASET_ORDER", "{refused}");
    let moved = sdk(&config_path, "transfer");
    assert_eq!(moved["owner"], json!([NEW_OWNER.to_lowercase()]), "{moved}");

    config["spareKey"] = json!(key_of("spare"));
    write_config(&config);
    check_bulk(&sdk(&config_path, "bulk"));
}

/// What the SDK's bulk step saw: three tasks (5 protected data, 2 a task), each result
/// holding exactly its slice's protected data, the revoked one refused and no other.
fn check_bulk(bulk: &Value) {
    let granted = bulk["granted"].as_array().unwrap();
    assert_eq!(granted.len(), 5, "{bulk}");
    assert!(granted.iter().all(|g| g["datasetprice"] == "0"), "{bulk}");
    assert_eq!(bulk["volume"], 3, "{bulk}");
    let revoked = bulk["revoked"].as_str().unwrap();
    for task in bulk["processed"].as_array().unwrap() {
        assert_eq!(task["success"], true, "{task}");
    }
    assert_eq!(bulk["status"], "FINISHED", "{bulk}");
    assert_eq!(bulk["counts"]["completed"], 3, "{bulk}");
    let mut seen = Vec::new();
    for task in bulk["inspected"].as_array().unwrap() {
        let slice: Vec<&str> = task["protectedData"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(!slice.is_empty() && slice.len() <= 2, "{task}");
        let result = task["result"].as_str().unwrap();
        let lines: Vec<&str> = result.lines().collect();
        assert_eq!(
            lines.len(),
            slice.len(),
            "one line per protected data of the slice: {task}"
        );
        for (line, address) in lines.iter().zip(&slice) {
            let expected = if *address == revoked {
                format!("{address} refused INCOMPATIBLE")
            } else {
                format!("{address} email=")
            };
            assert!(line.starts_with(&expected), "{line} (expected {expected}) in {task}");
        }
        seen.extend(slice);
    }
    seen.sort();
    let mut all: Vec<&str> = granted.iter().map(|g| g["dataset"].as_str().unwrap()).collect();
    all.sort();
    assert_eq!(seen, all, "every protected data in exactly one slice: {bulk}");
}
