//! Protected data with `confide` alone, on the default dev stack: the data owner protects
//! an object and a file in one command, finds it by schema, grants an app (by name, and
//! through an app whitelist) for one user, sees who used the key (the usage ledger),
//! revokes and transfers; the requester processes it with a Rust app reading its fields
//! (`examples/apps/protected-greeting`, on the `confide-protected-data` crate) and gets the
//! decrypted result back; the app developer tries the app on a mock first. Bad input is
//! refused with a stable code before anything is spent. Then bulk: five protected data of
//! two owners granted in bulk, one revoked after the request is prepared, two per task,
//! every result downloaded and each task's slice report read back.

mod common;

use common::*;
use serde_json::{Value, json};

/// The spare dev account.
const NEW_OWNER: &str = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720";

fn address(answer: &Value) -> String {
    answer["address"].as_str().unwrap().to_owned()
}

/// Protects `json` (plus a PNG as `photo`) as the dev dataset owner; the answer.
fn protect(stack: &Stack, name: &str, json: &str) -> Value {
    let owner = stack.project("owner");
    std::fs::write(owner.join(format!("{name}.json")), json).unwrap();
    std::fs::write(owner.join("photo.png"), b"\x89PNG\r\n\x1a\nnot-an-image").unwrap();
    let data = format!("{name}.json");
    stack.ok(
        DATASET_OWNER,
        "owner",
        &["protect", "--name", name, "--json", &data, "--file", "photo=photo.png"],
    )
}

fn listed(answer: &Value) -> Vec<String> {
    answer["protectedData"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_data_owner_protects_grants_and_revokes_and_a_requester_processes_with_confide_alone() {
    let stack = Stack::start();
    let app = publish_app(&stack, "protected-greeting");

    // The app developer tries the app on a mock protected data, no chain involved.
    stack.ok(APP_DEVELOPER, "protected-greeting", &["init"]);
    let mock = stack.project("protected-greeting").join("mock.json");
    std::fs::write(&mock, r#"{"email":"mock@example.com","profile":{"age":7}}"#).unwrap();
    let module = example_app("protected-greeting");
    let tested = stack.ok(
        APP_DEVELOPER,
        "protected-greeting",
        &["app", "test", module.to_str().unwrap(), "--protected-data", "mock.json"],
    );
    assert_eq!(tested["deterministicOutputPath"], "/iexec_out/result.txt", "{tested}");
    let greeting = std::fs::read_to_string(stack.project("protected-greeting").join("output/result.txt")).unwrap();
    assert_eq!(greeting, "Hello, mock@example.com! You are 7 years old.");

    // Bad objects are refused before anything is uploaded or registered.
    let owner = stack.project("owner");
    for (json, code) in [
        (r#"{"a.b":"dots are not keys"}"#, "INVALID_KEY"),
        (r#"{}"#, "EMPTY_OBJECT"),
        (r#"{"list":[1,2]}"#, "UNSUPPORTED_VALUE"),
        (
            r#"{"big":{"$i128":"170141183460469231731687303715884105728"}}"#,
            "I128_OUT_OF_RANGE",
        ),
    ] {
        std::fs::write(owner.join("bad.json"), json).unwrap();
        let refused = stack.fails(DATASET_OWNER, "owner", &["protect", "--json", "bad.json"]);
        assert_eq!(refused["code"], code, "{json}: {refused}");
    }

    // Protect: one command, the schema the SDK would compute.
    let protected = protect(
        &stack,
        "alice",
        r#"{"email":"alice@example.com","profile":{"age":42.5,"id":{"$i128":"-5"}}}"#,
    );
    let data = address(&protected);
    assert_eq!(
        protected["schema"],
        json!({"email":"string","profile":{"age":"f64","id":"i128"},"photo":"image/png"}),
        "{protected}"
    );
    let other = address(&protect(&stack, "bob", r#"{"email":"bob@example.com","count":3}"#));

    // Found by schema and by owner (once the market has followed the chain).
    let both_indexed = || {
        let found = stack.ok(REQUESTER, "requester", &["protected", "list", "--owner", DATASET_OWNER]);
        listed(&found).len() == 2
    };
    confide_testkit::wait::wait_until(
        "the market to index both",
        std::time::Duration::from_secs(30),
        both_indexed,
    );
    let by_schema = stack.ok(
        REQUESTER,
        "requester",
        &["protected", "list", "--schema", "email:string,profile.age:f64"],
    );
    assert_eq!(listed(&by_schema), vec![data.to_lowercase()], "{by_schema}");
    let by_schema = stack.ok(
        REQUESTER,
        "requester",
        &["protected", "list", "--schema", "email:string"],
    );
    assert_eq!(listed(&by_schema).len(), 2, "{by_schema}");
    let by_owner = stack.ok(REQUESTER, "requester", &["protected", "list", "--owner", DATASET_OWNER]);
    let mut owned = listed(&by_owner);
    owned.sort();
    let mut expected = vec![other.to_lowercase(), data.to_lowercase()];
    expected.sort();
    assert_eq!(owned, expected, "{by_owner}");
    let shown = stack.ok(DATASET_OWNER, "owner", &["protected", "show", &data]);
    assert_eq!(shown["keyInSms"], true, "{shown}");
    assert_eq!(shown["grants"], json!([]), "{shown}");

    // Processing without a grant is refused before any transaction.
    requester_keys(&stack);
    let refused = stack.fails(REQUESTER, "requester", &["process", &data, "--app", &app]);
    assert_eq!(refused["code"], "NO_DATASET_ORDER", "{refused}");

    // Grants: not to a wallet; one per app and user.
    let refused = stack.fails(
        DATASET_OWNER,
        "owner",
        &["protected", "grant", &data, "--app", REQUESTER],
    );
    assert_eq!(refused["code"], "NOT_AN_APP", "{refused}");
    let refused = stack.fails(REQUESTER, "requester", &["protected", "grant", &data, "--app", &app]);
    assert_eq!(refused["code"], "NOT_OWNER", "{refused}");
    stack.ok(
        DATASET_OWNER,
        "owner",
        &[
            "protected",
            "grant",
            &data,
            "--app",
            &app,
            "--user",
            REQUESTER,
            "--access",
            "2",
        ],
    );
    let refused = stack.fails(
        DATASET_OWNER,
        "owner",
        &["protected", "grant", &data, "--app", &app, "--user", REQUESTER],
    );
    assert_eq!(refused["code"], "DUPLICATE_GRANT", "{refused}");

    // The requester processes it: the decrypted result, the file asked for printed.
    let processed = stack.ok(
        REQUESTER,
        "requester",
        &[
            "process",
            &data,
            "--app",
            &app,
            "--encrypt-result",
            "--args",
            "hi",
            "--path",
            "result.txt",
        ],
    );
    assert_eq!(
        processed["content"], "Hello, alice@example.com! You are 42.5 years old. (hi)",
        "{processed}"
    );
    // The market learns of the match from the chain, a block or two later.
    let one_used = || {
        let grants = stack.ok(DATASET_OWNER, "owner", &["protected", "grants", &data]);
        grants["grantedAccess"][0]["remaining"] == 1
    };
    confide_testkit::wait::wait_until("one access used", std::time::Duration::from_secs(30), one_used);

    // The usage ledger: which enclave got the key, for whom; the owner's alone.
    let ledger = stack.ok(DATASET_OWNER, "owner", &["protected", "ledger", &data]);
    let releases = ledger["releases"].as_array().unwrap();
    assert_eq!(releases.len(), 1, "{ledger}");
    assert_eq!(releases[0]["taskId"], processed["taskId"], "{ledger}");
    assert_eq!(releases[0]["app"].as_str().unwrap().to_lowercase(), app.to_lowercase());
    assert_eq!(
        releases[0]["requester"].as_str().unwrap().to_lowercase(),
        REQUESTER.to_lowercase()
    );
    assert_eq!(releases[0]["evidence"], "simulated", "{ledger}");
    let refused = stack.fails(REQUESTER, "requester", &["protected", "ledger", &data]);
    assert_eq!(refused["code"], "WRONG_SIGNER", "{refused}");

    // An app whitelist: one grant for every app it lists.
    let whitelist = address(&stack.ok(DATASET_OWNER, "owner", &["whitelist", "create"]));
    let refused = stack.fails(REQUESTER, "requester", &["whitelist", "add", &whitelist, &app]);
    assert_eq!(refused["code"], "NOT_OWNER", "{refused}");
    stack.ok(DATASET_OWNER, "owner", &["whitelist", "add", &whitelist, &app]);
    stack.ok(
        DATASET_OWNER,
        "owner",
        &["protected", "grant", &other, "--app", &whitelist, "--user", REQUESTER],
    );
    let processed = stack.ok(
        REQUESTER,
        "requester",
        &["process", &other, "--app", &app, "--path", "result.txt"],
    );
    assert_eq!(processed["content"], "Hello, bob@example.com!", "{processed}");

    // Revoke everything: nothing left to process.
    let revoked = stack.ok(DATASET_OWNER, "owner", &["protected", "revoke", &data, "--all"]);
    assert_eq!(revoked["revoked"].as_array().unwrap().len(), 1, "{revoked}");
    let refused = stack.fails(REQUESTER, "requester", &["process", &data, "--app", &app]);
    assert_eq!(refused["code"], "NO_DATASET_ORDER", "{refused}");

    // Transfer: the new owner is who the chain and the index say.
    stack.ok(
        DATASET_OWNER,
        "owner",
        &["protected", "transfer", &data, "--to", NEW_OWNER],
    );
    let shown = stack.ok(DATASET_OWNER, "owner", &["protected", "show", &data]);
    assert_eq!(
        shown["owner"].as_str().unwrap().to_lowercase(),
        NEW_OWNER.to_lowercase(),
        "{shown}"
    );
    let indexed = || {
        let found = stack.ok(REQUESTER, "requester", &["protected", "list", "--owner", NEW_OWNER]);
        listed(&found) == vec![data.to_lowercase()]
    };
    confide_testkit::wait::wait_until(
        "the market to index the transfer",
        std::time::Duration::from_secs(30),
        indexed,
    );
    bulk_with_confide_alone(&stack, &app);

    // Services log their warnings to stderr (the dev stack keeps each one's in a file):
    // the SMS's insecure mode is said there, not only on its terminal.
    let sms_log = std::fs::read_to_string(stack.data.join("SMS.log")).unwrap();
    assert!(sms_log.contains("never run this SMS with real secrets"), "{sms_log}");
}

/// Bulk processing with `confide` alone: grants (`--bulk`), `bulk grants`, `bulk prepare`
/// with two protected data a task, one grant revoked before processing, `bulk process`
/// downloading every result, `bulk inspect` reading what each task processed.
fn bulk_with_confide_alone(stack: &Stack, app: &str) {
    // The app developer tries a bulk slice on two mocks first.
    let module = example_app("protected-greeting");
    let project = stack.project("protected-greeting");
    std::fs::write(project.join("mock2.json"), r#"{"email":"second@example.com"}"#).unwrap();
    stack.ok(
        APP_DEVELOPER,
        "protected-greeting",
        &[
            "app",
            "test",
            module.to_str().unwrap(),
            "--protected-data",
            "mock.json",
            "--protected-data",
            "mock2.json",
        ],
    );
    let lines = std::fs::read_to_string(project.join("output/result.txt")).unwrap();
    assert!(
        lines.starts_with("1 0x0000000000000000000000000000000000000001: Hello, mock@example.com!"),
        "{lines}"
    );
    assert!(
        lines.contains("\n2 0x0000000000000000000000000000000000000002: Hello, second@example.com!"),
        "{lines}"
    );

    let mut made = Vec::new();
    for i in 0..5 {
        let (wallet, project) = if i % 2 == 0 {
            (DATASET_OWNER, "owner")
        } else {
            (NEW_OWNER, "spare")
        };
        let folder = stack.project(project);
        std::fs::write(
            folder.join(format!("bulk{i}.json")),
            format!(r#"{{"email":"user{i}@example.com"}}"#),
        )
        .unwrap();
        let data = address(&stack.ok(
            wallet,
            project,
            &[
                "protect",
                "--name",
                &format!("bulk-{i}"),
                "--json",
                &format!("bulk{i}.json"),
            ],
        ));
        let granted = stack.ok(wallet, project, &["protected", "grant", &data, "--app", app, "--bulk"]);
        assert_eq!(granted["bulk"], true, "{granted}");
        assert_eq!(granted["order"]["datasetprice"], "0", "{granted}");
        made.push((
            data.to_lowercase(),
            wallet,
            project,
            granted["orderHash"].as_str().unwrap().to_owned(),
        ));
    }
    // Priced or limited grants are no bulk grants, and `--bulk` with a price is refused.
    let refused = stack.run(
        DATASET_OWNER,
        "owner",
        &["protected", "grant", &made[0].0, "--app", app, "--bulk", "--price", "1"],
    );
    assert!(!refused.status.success());

    let mine: Vec<String> = made.iter().map(|m| m.0.clone()).collect();
    let wait_for_grants = || {
        let found = stack.ok(REQUESTER, "requester", &["bulk", "grants", "--app", app]);
        let listed: Vec<String> = found["grantedAccess"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["dataset"].as_str().unwrap().to_lowercase())
            .collect();
        mine.iter().all(|m| listed.contains(m))
    };
    confide_testkit::wait::wait_until(
        "the bulk grants on the market",
        std::time::Duration::from_secs(30),
        wait_for_grants,
    );
    let by_owner = stack.ok(
        REQUESTER,
        "requester",
        &["bulk", "grants", "--app", app, "--owner", NEW_OWNER],
    );
    assert_eq!(by_owner["count"], 2, "{by_owner}");

    let prepared = stack.ok(
        REQUESTER,
        "requester",
        &["bulk", "prepare", "--app", app, "--per-task", "2", "--encrypt-result"],
    );
    assert_eq!(prepared["volume"], 3, "{prepared}");
    // Revoked after the request is signed: its key must be refused, and only its key.
    let (revoked, wallet, project, order) = &made[1];
    stack.ok(wallet, project, &["protected", "revoke", revoked, "--order", order]);

    let processed = stack.ok(REQUESTER, "requester", &["bulk", "process", "--output", "bulk-results"]);
    let tasks = processed["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 3, "{processed}");
    let mut seen = Vec::new();
    for task in tasks {
        assert_eq!(task["status"], "COMPLETED", "{task}");
        let dir = std::path::PathBuf::from(task["resultDir"].as_str().unwrap());
        let dir = if dir.is_absolute() {
            dir
        } else {
            stack.project("requester").join(dir)
        };
        let result = std::fs::read_to_string(dir.join("result.txt")).unwrap();
        for entry in task["slice"].as_array().unwrap() {
            let data = entry["address"].as_str().unwrap().to_lowercase();
            let line = result
                .lines()
                .find(|l| l.to_lowercase().contains(&data))
                .unwrap_or_else(|| panic!("{data} missing from {result}"));
            if &data == revoked {
                assert_eq!(entry["refusal"]["code"], "INCOMPATIBLE", "{entry}");
                assert!(line.ends_with("not received (INCOMPATIBLE)"), "{line}");
            } else {
                assert_eq!(entry["processed"], true, "{entry}");
                assert!(line.contains("Hello, user"), "{line}");
            }
            seen.push(data);
        }
    }
    seen.sort();
    let mut all = mine.clone();
    all.sort();
    assert_eq!(seen, all, "every protected data in exactly one task: {processed}");

    let inspected = stack.ok(
        REQUESTER,
        "requester",
        &["bulk", "inspect", "--results", "bulk-results"],
    );
    assert_eq!(inspected["bulkStatus"], "FINISHED", "{inspected}");
    assert_eq!(inspected["tasksCompletedCount"], 3, "{inspected}");

    // The marketplace page shows the request: each task and the protected data of its slice.
    let request = prepared["requestorderHash"].as_str().unwrap().to_lowercase();
    let browser = confide_testkit::browser::Browser::start(1280, 900).unwrap();
    browser
        .goto(&format!("{}/#/request/{request}", stack.service_url("market")))
        .unwrap();
    browser
        .wait_for("the bulk request's page", std::time::Duration::from_secs(30), |b| {
            let Some(table) = b.find("#slices").ok().flatten() else {
                return Ok(None);
            };
            let text = b.text(&table).unwrap_or_default().to_lowercase();
            let shown = mine
                .iter()
                .all(|m| text.contains(&m[..8]) && text.contains(&m[m.len() - 6..]));
            Ok((shown && text.matches("completed").count() == 3).then_some(()))
        })
        .unwrap_or_else(|e| {
            let main = browser.find("#main").ok().flatten();
            let text = main.and_then(|m| browser.text(&m).ok()).unwrap_or_default();
            panic!("{e}: the page shows {text}")
        });

    // The owner sees the bulk use of a key in the usage ledger.
    let ledger = stack.ok(DATASET_OWNER, "owner", &["protected", "ledger", &made[0].0]);
    assert_eq!(ledger["releases"].as_array().map(Vec::len), Some(1), "{ledger}");
}
