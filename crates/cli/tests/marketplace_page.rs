//! The marketplace page in a real browser (headless Chromium through WebDriver) on a dev
//! stack: the TEE checkbox narrows the dataset book; an order published through the API
//! appears without a reload; names and params carrying markup show as text; a deal made
//! by `confide app run` shows its task going to COMPLETED, found by typing its id in the
//! search box; the workerpool's page counts it; a phone-sized window does not scroll
//! sideways; with the chain gone, the page says so.
//!
//! With `CONFIDE_SCREENSHOT_DIR` set (scripts/test.sh sets it to `docs/screenshots`), the
//! main pages are saved there as PNG files.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use confide_testkit::browser::Browser;
use serde_json::Value;

/// Markup an attacker puts in a dataset name and in request params: if the page ever
/// parsed it, `window.__xss` would be set (the CSP would also have to fail).
const MARKUP: &str = r#"<img src=x onerror="window.__xss=1"><script>window.__xss=2</script><b>bold</b>"#;
const WAIT: Duration = Duration::from_secs(30);

fn screenshot(browser: &Browser, name: &str) {
    if let Ok(dir) = std::env::var("CONFIDE_SCREENSHOT_DIR") {
        browser
            .screenshot(&std::path::Path::new(&dir).join(format!("{name}.png")))
            .unwrap();
    }
}

/// The order hashes of the rows the page shows now.
fn rows(browser: &Browser) -> BTreeSet<String> {
    let hashes = browser
        .execute("return [...document.querySelectorAll('#book tr.order')].map(r => r.getAttribute('data-hash'))")
        .unwrap();
    hashes
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_owned())
        .collect()
}

fn wait_rows(browser: &Browser, what: &str, want: &BTreeSet<String>) {
    browser
        .wait_for(what, WAIT, |b| Ok((rows(b) == *want).then_some(())))
        .unwrap_or_else(|e| panic!("{e}: the page shows {:?}, expected {want:?}", rows(browser)));
}

fn text_of(browser: &Browser, css: &str) -> Option<String> {
    let element = browser.find(css).ok()??;
    browser.text(&element).ok()
}

fn wait_text(browser: &Browser, css: &str, want: &str, timeout: Duration) {
    browser
        .wait_for(&format!("`{css}` to read {want:?}"), timeout, |b| {
            Ok((text_of(b, css).as_deref() == Some(want)).then_some(()))
        })
        .unwrap_or_else(|e| {
            panic!(
                "{e}: it reads {:?}; the page shows {:?}",
                text_of(browser, css),
                text_of(browser, "#main")
            )
        });
}

fn no_markup_ran(browser: &Browser) {
    let injected = browser
        .execute("return [window.__xss, document.querySelectorAll('#main img, #main script, #main b').length]")
        .unwrap();
    assert_eq!(
        injected,
        serde_json::json!([null, 0]),
        "markup from the chain or an order became elements"
    );
}

fn dataset_book(stack: &Stack) -> Vec<Value> {
    stack.ok(REQUESTER, "requester", &["orderbook", "dataset"])["orders"]
        .as_array()
        .unwrap()
        .clone()
}

/// A dataset without TEE, named with markup, offered at 1 RLC without a tag.
fn publish_plain_dataset(stack: &Stack) -> String {
    stack.ok(DATASET_OWNER, "plain", &["init"]);
    stack.ok(DATASET_OWNER, "plain", &["dataset", "init"]);
    edit(&stack.project("plain").join("iexec.json"), |json| {
        json["dataset"]["name"] = MARKUP.into();
        json["dataset"]["multiaddr"] = "https://example.org/plain.csv".into();
    });
    let dataset = stack.ok(DATASET_OWNER, "plain", &["dataset", "deploy"])["address"]
        .as_str()
        .unwrap()
        .to_owned();
    stack.ok(
        DATASET_OWNER,
        "plain",
        &["dataset", "publish", &dataset, "--price", "1", "--tag", "0x0"],
    );
    dataset
}

/// A request order whose params carry markup, published through the CLI.
fn publish_marked_request(stack: &Stack, app: &str) -> String {
    stack.ok(REQUESTER, "asker", &["init"]);
    stack.ok(REQUESTER, "asker", &["order", "init", "--request"]);
    edit(&stack.project("asker").join("iexec.json"), |json| {
        let order = &mut json["order"]["requestorder"];
        order["app"] = app.into();
        order["params"]["iexec_args"] = MARKUP.into();
    });
    stack.ok(REQUESTER, "asker", &["order", "sign", "--request"]);
    let published = stack.ok(REQUESTER, "asker", &["order", "publish", "--request"]);
    published["published"]["requestorder"].as_str().unwrap().to_owned()
}

#[test]
fn the_marketplace_page_in_a_browser() {
    let stack = Stack::start();
    let page = format!("{}/", stack.service_url("market"));
    let app = publish_app(&stack, "echo");
    let tee_dataset = publish_dataset(&stack, "owner", "data.txt", "a line for the page\n", "0");
    let plain_dataset = publish_plain_dataset(&stack);
    let request_hash = publish_marked_request(&stack, &app);
    let book = dataset_book(&stack);
    let hash_of = |dataset: &str| -> String {
        book.iter()
            .find(|o| o["order"]["dataset"].as_str().unwrap().eq_ignore_ascii_case(dataset))
            .unwrap()["orderHash"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (tee_hash, plain_hash) = (hash_of(&tee_dataset), hash_of(&plain_dataset));

    let browser = Browser::start(1280, 900).unwrap();
    browser.goto(&format!("{page}#/book/datasetorders")).unwrap();
    wait_rows(
        &browser,
        "both dataset orders",
        &BTreeSet::from([tee_hash.clone(), plain_hash.clone()]),
    );
    // The attacker's name is shown as its characters once the registry's names arrive.
    let name_cell = format!(r#"[data-asset="{}"] strong"#, plain_dataset.to_lowercase());
    wait_text(&browser, &name_cell, MARKUP, WAIT);
    no_markup_ran(&browser);

    // The TEE checkbox narrows the book to the TEE orders, as the seed's marketplace does.
    let checkbox = browser.find("#filter-tee").unwrap().expect("a TEE checkbox");
    browser.click(&checkbox).unwrap();
    wait_rows(&browser, "the TEE order only", &BTreeSet::from([tee_hash.clone()]));
    screenshot(&browser, "dataset-book-tee");

    // An order published through the API appears without reloading the page.
    browser.execute("window.__stayed = true").unwrap();
    let newer = stack.ok(
        DATASET_OWNER,
        "owner",
        &["dataset", "publish", &tee_dataset, "--tag", "tee", "--price", "2"],
    )["orderHash"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_rows(
        &browser,
        "the new order, live",
        &BTreeSet::from([tee_hash.clone(), newer.clone()]),
    );
    assert_eq!(
        browser.execute("return window.__stayed === true").unwrap(),
        true,
        "the page was reloaded"
    );

    // Left and come back to many times: each page closes its event stream as it goes, so
    // the six connections a browser opens to the market never run out (the sixth load
    // hung before).
    for _ in 0..8 {
        browser.goto("about:blank").unwrap();
        browser.goto(&format!("{page}#/book/datasetorders")).unwrap();
        wait_rows(
            &browser,
            "the book, once more",
            &BTreeSet::from([tee_hash.clone(), plain_hash.clone(), newer.clone()]),
        );
    }

    // Request params carrying markup are text too.
    browser.goto(&format!("{page}#/book/requestorders")).unwrap();
    wait_rows(&browser, "the request order", &BTreeSet::from([request_hash.clone()]));
    let params = text_of(&browser, ".params .addr").unwrap();
    let escaped = serde_json::to_string(MARKUP).unwrap();
    assert!(
        params.contains(escaped.trim_matches('"')),
        "params shown as text: {params}"
    );
    no_markup_ran(&browser);

    // A deal made by `confide app run`; its task, typed into the search box, goes to COMPLETED.
    requester_keys(&stack);
    let run = run_tee_task(&stack, &app, &["--dataset", &tee_dataset]);
    let deal = run["dealid"].as_str().unwrap().to_lowercase();
    let task = run["tasks"][0].as_str().unwrap().to_lowercase();
    // The market learns the deal from the chain within its polling interval.
    browser
        .wait_for("the market to know the task", WAIT, |b| {
            let status = b.execute(&format!("return fetch('/tasks/{task}').then(r => r.status)"))?;
            Ok((status == 200).then_some(()))
        })
        .unwrap();
    let search = browser.find("#search-input").unwrap().unwrap();
    browser.type_text(&search, &format!("{task}\u{E007}")).unwrap();
    browser
        .wait_for("the task page", WAIT, |b| {
            let at = b.execute("return location.hash").unwrap();
            Ok((at.as_str() == Some(&format!("#/task/{task}"))).then_some(()))
        })
        .unwrap();
    wait_text(&browser, "#task-status", "COMPLETED", Duration::from_secs(240));
    wait_text(&browser, "#scheduler-step", "completed", WAIT);
    let result = text_of(&browser, "dl.facts").unwrap();
    assert!(result.contains("yes, for the beneficiary"), "{result}");
    screenshot(&browser, "task");

    browser.goto(&format!("{page}#/deal/{deal}")).unwrap();
    wait_text(&browser, "#tasks tr.task .status", "COMPLETED", WAIT);
    screenshot(&browser, "deal");

    // The dataset's page lists the deal; the workerpool's counts the completed task.
    browser
        .goto(&format!("{page}#/asset/{}", tee_dataset.to_lowercase()))
        .unwrap();
    browser
        .wait_for("the deal on the dataset's page", WAIT, |b| {
            Ok(text_of(b, "#deals").filter(|t| t.contains(&deal)).map(drop))
        })
        .unwrap();
    screenshot(&browser, "dataset");
    let pool = stack.state["workerpool"].as_str().unwrap().to_lowercase();
    browser.goto(&format!("{page}#/asset/{pool}")).unwrap();
    wait_text(&browser, r#"[data-stat="completed"] strong"#, "1", WAIT);
    let frameworks = text_of(&browser, "#workerpool-stats").unwrap();
    assert!(
        frameworks.contains("gramine") && frameworks.contains("tdx"),
        "{frameworks}"
    );
    screenshot(&browser, "workerpool");

    // A phone-sized window: the book reflows instead of scrolling sideways.
    browser.set_window_size(390, 844).unwrap();
    browser.goto(&format!("{page}#/book/datasetorders?tee=1")).unwrap();
    wait_rows(
        &browser,
        "the TEE orders on a phone",
        &BTreeSet::from([tee_hash, newer]),
    );
    let overflow = browser
        .execute("return document.documentElement.scrollWidth - window.innerWidth")
        .unwrap();
    let wide = browser
        .execute(
            "return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 5).map(e => e.tagName + '.' + e.className)",
        )
        .unwrap();
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "scrolls sideways by {overflow} px: {wide}"
    );
    screenshot(&browser, "dataset-book-phone");

    // The chain gone, the page says the market cannot reach it.
    let anvil = stack.state["anvilPid"].as_u64().unwrap();
    assert!(
        std::process::Command::new("kill")
            .arg(anvil.to_string())
            .status()
            .unwrap()
            .success()
    );
    browser.goto(&format!("{page}#/asset/{pool}")).unwrap();
    browser
        .wait_for("the chain banner", WAIT, |b| {
            Ok(b.execute("return !document.getElementById('chain-banner').hidden")?
                .as_bool()
                .filter(|shown| *shown)
                .map(drop))
        })
        .unwrap();
    let banner = text_of(&browser, "#chain-banner").unwrap();
    assert!(banner.contains("cannot reach the chain"), "{banner}");
}
