//! `confide attest verify` on dcap-qvl's real SGX sample quote: what it proves, and a
//! policy's verdict, for operators.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../attest/tests/fixtures")
        .join(name)
}

fn verify(args: &[&str], policy: Option<&str>) -> (bool, Value) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_confide"));
    command
        .args(["attest", "verify", "--evidence"])
        .arg(fixture("sgx_quote"))
        .arg("--collateral")
        .arg(fixture("sgx_quote_collateral.json"))
        .args(args)
        .arg("--raw");
    if let Some(policy) = policy {
        let path = dir.path().join("policy.json");
        std::fs::write(&path, policy).unwrap();
        command.arg("--policy").arg(path);
    }
    let output = command.output().unwrap();
    (output.status.success(), serde_json::from_slice(&output.stdout).unwrap())
}

#[test]
fn the_sample_quote_is_explained_and_judged() {
    let (ok, shown) = verify(&["--at", "1751328000"], None);
    assert!(ok, "{shown}");
    assert_eq!(shown["verified"]["type"], "sgx");
    assert_eq!(
        shown["verified"]["measurements"]["mrEnclave"],
        "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"
    );
    assert_eq!(shown["verified"]["tcbStatus"], "ConfigurationAndSWHardeningNeeded");

    let accepting = r#"{ "sgx": [{ "mrenclave": "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb" }],
        "acceptedTcbStatuses": ["ConfigurationAndSWHardeningNeeded"],
        "acceptedAdvisories": ["INTEL-SA-00289", "INTEL-SA-00615"] }"#;
    let (ok, judged) = verify(&["--at", "1751328000"], Some(accepting));
    assert!(ok, "{judged}");
    assert_eq!(judged["policy"]["accepted"], true);

    let (ok, refused) = verify(&["--at", "1751328000"], Some(r#"{ "sgx": [{ "mrenclave": "00" }] }"#));
    assert!(!ok);
    assert_eq!(refused["error"]["code"], "MEASUREMENT_NOT_ALLOWED");

    let (ok, expired) = verify(&["--at", "1753000000"], None);
    assert!(!ok);
    assert_eq!(expired["error"]["code"], "EVIDENCE_EXPIRED");
}
