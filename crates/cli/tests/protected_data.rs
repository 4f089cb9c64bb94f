//! Protected data with `confide` alone, on the default dev stack: the data owner protects
//! an object and a file in one command, finds it by schema, grants an app (by name, and
//! through an app whitelist) for one user, sees who used the key (the usage ledger),
//! revokes and transfers; the requester processes it with a Rust app reading its fields
//! (`examples/apps/protected-greeting`, on the `confide-protected-data` crate) and gets the
//! decrypted result back; the app developer tries the app on a mock first. Bad input is
//! refused with a stable code before anything is spent.

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
    let grants = stack.ok(DATASET_OWNER, "owner", &["protected", "grants", &data]);
    assert_eq!(grants["grantedAccess"][0]["remaining"], 1, "one access used: {grants}");

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
}
