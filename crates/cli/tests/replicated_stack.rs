//! `confide dev up --replicas 2`: every service twice on a Postgres cluster the stack runs
//! itself, the SMS, store and market behind a front each, two schedulers (one active, one
//! standing by). The tutorial runs through it while replicas die: what one replica
//! stored, the other serves; a scheduler killed mid-task leaves the task to its standby,
//! which neither loses nor doubles it.

mod common;

use std::time::Duration;

use common::*;
use confide_testkit::wait::wait_until;
use serde_json::Value;

const CSV: &str = "name,age\nann,31\nbob,47\ncid,42\n";

fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

/// SIGKILL, as a crash: no clean shutdown, no lease given up.
fn kill(pid: u64) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_until("the process to end", Duration::from_secs(20), || !alive(pid));
}

/// The scheduler's view of a task at `scheduler`, asked as the requester.
fn scheduler_view(scheduler: &str, task: &str) -> Value {
    let path = format!("/tasks/{task}");
    let signer = confide_devstack::accounts::by_role("requester").unwrap().signer();
    let (headers, _) = confide_workerpool::auth::request_headers(&signer, "GET", &path, b"").unwrap();
    let headers = headers.map(|(name, value)| format!("{name}: {value}\r\n")).concat();
    serde_json::from_slice(&http_get(&format!("{scheduler}{path}"), &headers).1).unwrap_or(Value::Null)
}

fn url(entry: &Value) -> &str {
    entry["url"].as_str().unwrap()
}

fn pid(entry: &Value) -> u64 {
    entry["pid"].as_u64().unwrap()
}

#[test]
fn replicas_on_their_own_postgres_run_the_tutorial_while_one_of_each_dies() {
    let stack = Stack::start_with(&["--replicas", "2", "--lease-seconds", "2"]);
    let state = stack.state.clone();

    // The layout: a front and two replicas per service, two schedulers, one cluster.
    for service in ["sms", "store", "market"] {
        let replicas = state[service]["replicas"].as_array().unwrap();
        assert_eq!(replicas.len(), 2, "{service}: {state}");
        for replica in replicas {
            assert_ne!(url(replica), url(&state[service]), "a replica is not its front");
            assert!(alive(pid(replica)));
        }
    }
    let schedulers: Vec<Value> = std::iter::once(state["scheduler"].clone())
        .chain(state["standbySchedulers"].as_array().unwrap().iter().cloned())
        .collect();
    assert_eq!(schedulers.len(), 2, "{state}");
    let cluster = &state["postgres"]["cluster"];
    assert!(cluster["port"].as_u64().is_some(), "{state}");
    let healths: Vec<u16> = schedulers
        .iter()
        .map(|s| http_get(&format!("{}/health", url(s)), "").0)
        .collect();
    assert!(
        healths.contains(&200) && healths.contains(&503),
        "one active, one standing by: {healths:?}"
    );

    // The tutorial through the fronts: requests alternate between replicas, so what one
    // stores (a secret, an order, a file) another must serve.
    requester_keys(&stack);
    let dataset = publish_dataset(&stack, "owner", "people.csv", CSV, "0");
    let app = publish_app(&stack, "csv-stats");

    // One replica of each service dies; its front sends everything to the other.
    for service in ["sms", "store", "market"] {
        kill(pid(&state[service]["replicas"][0]));
    }
    let (_, plain) = run_confidential_task(&stack, &app, &dataset, &[]);
    let stats: Value = serde_json::from_slice(&std::fs::read(plain.join("result.json")).unwrap()).unwrap();
    assert_eq!(stats["rows"], 3, "{stats}");

    // The dataset's order, published through one replica or the other, is listed once.
    let market = url(&state["market"]);
    let orders: Value =
        serde_json::from_slice(&http_get(&format!("{market}/datasetorders?chainId=31337&dataset={dataset}"), "").1)
            .unwrap();
    assert_eq!(orders["count"], 1, "{orders}");

    // The active scheduler dies while a task runs: the standby takes over (after longer
    // than a worker's lease), and the task completes on its first worker, given out once.
    let echo = publish_app_with(&stack, "echo", &["--legacy-mrenclave"]);
    let task = run_tee_task(&stack, &echo, &["--args", "slow"])["tasks"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let any_scheduler = url(&schedulers[1]).to_owned();
    wait_until("the task to run", Duration::from_secs(60), || {
        scheduler_view(&any_scheduler, &task)["status"] == "running"
    });
    let active = schedulers
        .iter()
        .find(|s| http_get(&format!("{}/health", url(s)), "").0 == 200)
        .expect("an active scheduler");
    let standby = schedulers.iter().find(|s| url(s) != url(active)).unwrap();
    kill(pid(active));
    let watched = stack.ok(
        REQUESTER,
        "requester",
        &["task", "show", &task, "--watch", "--timeout", "120"],
    );
    assert_eq!(watched["task"]["statusName"], "COMPLETED", "{watched}");
    // The worker finalizes on chain itself, so the task may complete before the standby
    // takes over; its report then reaches the new active scheduler.
    wait_until("the standby to take over", Duration::from_secs(30), || {
        http_get(&format!("{}/health", url(standby)), "").0 == 200
    });
    wait_until("the worker's report", Duration::from_secs(60), || {
        let view = scheduler_view(url(standby), &task);
        view["replicas"][0]["status"] == "done"
    });
    let view = scheduler_view(url(standby), &task);
    let assignments = view["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["message"].as_str().unwrap().starts_with("assigned to worker"))
        .count();
    assert_eq!(assignments, 1, "given out once: {view}");
    assert_eq!(view["replicas"].as_array().map(Vec::len), Some(1), "{view}");
    assert!(!view["log"].to_string().contains("went silent"), "{view}");

    // `dev up` again brings the dead back, on their ports, behind the same fronts.
    let again = stack.ok(DATASET_OWNER, "", &["dev", "up"])["stack"].clone();
    for service in ["sms", "store", "market"] {
        let replica = &again[service]["replicas"][0];
        assert_eq!(url(replica), url(&state[service]["replicas"][0]));
        assert!(alive(pid(replica)), "{service} replica 1 restarted");
        assert_eq!(pid(&again[service]), pid(&state[service]), "the front kept running");
    }

    // `dev down` stops every process and the cluster.
    stack.ok(DATASET_OWNER, "", &["dev", "down"]);
    let mut processes = vec![pid(&again["scheduler"])];
    for service in ["sms", "store", "market"] {
        processes.push(pid(&again[service]));
        processes.extend(again[service]["replicas"].as_array().unwrap().iter().map(pid));
    }
    for process in processes {
        assert!(!alive(process), "pid {process} still runs after dev down");
    }
    let port = cluster["port"].as_u64().unwrap() as u16;
    assert!(confide_devstack::anvil::port_is_free(port), "PostgreSQL still listens");
    // As root, the cluster may live outside the test's folder (where `postgres` can enter).
    let cluster_dir = std::path::Path::new(cluster["dir"].as_str().unwrap());
    if !cluster_dir.starts_with(stack.dir.path()) {
        std::fs::remove_dir_all(cluster_dir).unwrap();
    }
}

/// `psql` on the cluster of `postgres`, database `database`: the query's rows, unaligned.
fn psql(postgres: &confide_testkit::TempPostgres, database: &str, query: &str) -> String {
    let output = std::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "confide", "-At", "-c", query])
        .args(["-p", &postgres.cluster().port.to_string(), database])
        .output()
        .expect("psql (Debian's postgresql-client)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn on_a_given_postgres_each_service_keeps_its_state_in_a_database_of_its_own_and_the_url_stays_off_disk() {
    let postgres = confide_testkit::TempPostgres::start("given");
    // The cluster trusts loopback, so any password is accepted: this one only has to
    // stay out of files and command lines.
    let url = postgres.url.replace("confide@", "confide:pw-never-on-disk@");
    let stack = Stack::start_with(&["--database-url", &url]);
    requester_keys(&stack);

    assert_eq!(psql(&postgres, "confide_sms", "SELECT count(*) FROM secrets"), "1");
    let published = psql(&postgres, "confide_market", "SELECT count(*) FROM orders");
    assert_eq!(published, "2", "the dev pool's two orders");
    let tables = psql(
        &postgres,
        "confide_scheduler",
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'tasks'",
    );
    assert_eq!(tables, "1");

    let state = std::fs::read_to_string(stack.data.join("stack.json")).unwrap();
    assert!(!state.contains("pw-never-on-disk"), "{state}");
    let sms_pid = stack.state["sms"]["pid"].as_u64().unwrap();
    let command_line = std::fs::read(format!("/proc/{sms_pid}/cmdline")).unwrap();
    assert!(!String::from_utf8_lossy(&command_line).contains("pw-never-on-disk"));

    // A service to start again needs the URL again.
    kill(sms_pid);
    let error = stack.fails(DATASET_OWNER, "", &["dev", "up"]);
    assert_eq!(error["code"], "DATABASE_URL_NEEDED", "{error}");
    let again = stack.ok(DATASET_OWNER, "", &["dev", "up", "--database-url", &url]);
    let restarted = again["stack"]["sms"]["pid"].as_u64().unwrap();
    assert!(alive(restarted) && restarted != sms_pid);
    // The secret pushed before is still there, on the restarted SMS.
    assert_eq!(psql(&postgres, "confide_sms", "SELECT count(*) FROM secrets"), "1");
}
