//! Under Gramine the manifest pins the runtime's SMS, evidence provider and module cache
//! (measured environment variables); the host's command line must not override them, for
//! a standard task as for a TEE one: a standard task's module cache is keyed by the pinned
//! provider's sealing key, and a host that could name `simulation` would key it with a
//! public constant and have planted native code loaded.

use std::process::Command;

fn enclave(pinned: &[(&str, &str)], args: &[&str]) -> (Option<i32>, String) {
    let work = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_confide-enclave"))
        .env_remove("CONFIDE_SMS_URL")
        .env_remove("CONFIDE_EVIDENCE")
        .env_remove("CONFIDE_MODULE_CACHE")
        .envs(pinned.iter().copied())
        .args(["--task-id", &format!("0x{}", "11".repeat(32))])
        .args(["--worker", "0x00000000000000000000000000000000000000aa"])
        .args(["--app-url", "http://127.0.0.1:9/app.wasm", "--work-dir"])
        .arg(work.path())
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_standard_task_cannot_name_another_evidence_provider_or_module_cache() {
    let standard = ["--standard", "/nonexistent/task.json"];
    let (code, stderr) = enclave(
        &[("CONFIDE_EVIDENCE", "sgx")],
        &[&standard[..], &["--evidence", "simulation"]].concat(),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("CONFIDE_EVIDENCE is pinned"), "{stderr}");

    let (code, stderr) = enclave(
        &[("CONFIDE_EVIDENCE", "sgx"), ("CONFIDE_MODULE_CACHE", "/cache")],
        &[&standard[..], &["--evidence", "sgx", "--module-cache", "/host/planted"]].concat(),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("CONFIDE_MODULE_CACHE is pinned"), "{stderr}");

    // Nothing pinned (development): the same command line gets as far as reading the task.
    let (code, stderr) = enclave(&[], &[&standard[..], &["--evidence", "simulation"]].concat());
    assert_eq!(code, Some(2), "{stderr}");
    assert!(!stderr.contains("pinned"), "{stderr}");
    assert!(stderr.contains("/nonexistent/task.json"), "{stderr}");
}
