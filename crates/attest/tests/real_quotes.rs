//! Real SGX and TDX quotes, with their collateral, as dcap-qvl ships them
//! (`tests/fixtures/README.md`): they verify at a time inside the collateral's validity,
//! and every alteration is refused with its own reason.

use confide_attest::policy::Policy;
use confide_attest::verify::{CollateralSource, Measurements, Verifier, verify_quote};
use confide_attest::{AttestError, Evidence, EvidenceKind};
use dcap_qvl::QuoteCollateralV3;

/// 2025-07-01: inside both samples' collateral windows (2025-06-19 .. 2025-07-19).
const PINNED: u64 = 1_751_328_000;
const SGX_MRENCLAVE: &str = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb";
const SGX_MRSIGNER: &str = "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6";
const TDX_MRTD: &str =
    "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn collateral(name: &str) -> QuoteCollateralV3 {
    serde_json::from_slice(&fixture(name)).unwrap()
}

fn sgx() -> (Vec<u8>, QuoteCollateralV3) {
    (fixture("sgx_quote"), collateral("sgx_quote_collateral.json"))
}

fn tdx() -> (Vec<u8>, QuoteCollateralV3) {
    (fixture("tdx_quote"), collateral("tdx_quote_collateral.json"))
}

/// The policy an operator would write for the two samples (the SGX platform needs
/// configuration and has two advisories; the policy tolerates exactly those).
fn sample_policy() -> Policy {
    Policy::from_json(
        format!(
            r#"{{ "sgx": [{{ "mrenclave": "{SGX_MRENCLAVE}" }}],
                 "tdx": [{{ "mrtd": "{TDX_MRTD}" }}],
                 "acceptedTcbStatuses": ["UpToDate", "ConfigurationAndSWHardeningNeeded"],
                 "acceptedAdvisories": ["INTEL-SA-00289", "INTEL-SA-00615"] }}"#
        )
        .as_bytes(),
    )
    .unwrap()
}

fn code(result: Result<impl std::fmt::Debug, AttestError>) -> &'static str {
    result.expect_err("must be refused").code()
}

#[test]
fn the_sgx_sample_verifies_and_says_what_it_proves() {
    let (quote, collateral) = sgx();
    let verified = verify_quote(EvidenceKind::Sgx, &quote, &collateral, PINNED).unwrap();
    assert_eq!(
        verified.measurements(),
        &Measurements::Sgx {
            mr_enclave: SGX_MRENCLAVE.into(),
            mr_signer: SGX_MRSIGNER.into(),
            isv_prod_id: 0,
            isv_svn: 0
        }
    );
    assert_eq!(verified.tcb_status(), Some("ConfigurationAndSWHardeningNeeded"));
    assert_eq!(verified.advisory_ids(), ["INTEL-SA-00289", "INTEL-SA-00615"]);
    assert!(!verified.debug());
    assert!(verified.report_data().starts_with(b"Hello, world!"));
    sample_policy().check(&verified).unwrap();
}

#[test]
fn the_tdx_sample_verifies_and_says_what_it_proves() {
    let (quote, collateral) = tdx();
    let verified = verify_quote(EvidenceKind::Tdx, &quote, &collateral, PINNED).unwrap();
    let Measurements::Tdx { mr_td, rtmr3, .. } = verified.measurements() else {
        panic!("a TDX quote has TDX measurements");
    };
    assert_eq!(mr_td, TDX_MRTD);
    assert_eq!(rtmr3, &"00".repeat(48));
    assert_eq!(verified.tcb_status(), Some("UpToDate"));
    assert!(verified.advisory_ids().is_empty());
    sample_policy().check(&verified).unwrap();
}

#[test]
fn a_flipped_byte_breaks_the_signature() {
    for (kind, (mut quote, collateral)) in [(EvidenceKind::Sgx, sgx()), (EvidenceKind::Tdx, tdx())] {
        // A byte of the report body's report data: covered by the enclave report signature.
        let offset = if kind == EvidenceKind::Sgx { 48 + 320 } else { 48 + 520 };
        quote[offset] ^= 0x01;
        assert_eq!(
            code(verify_quote(kind, &quote, &collateral, PINNED)),
            "QUOTE_SIGNATURE_INVALID"
        );
    }
}

#[test]
fn the_wrong_time_is_refused_both_ways() {
    let (quote, collateral) = sgx();
    assert_eq!(
        code(verify_quote(EvidenceKind::Sgx, &quote, &collateral, 1_753_000_000)),
        "EVIDENCE_EXPIRED"
    );
    assert_eq!(
        code(verify_quote(EvidenceKind::Sgx, &quote, &collateral, 1_750_000_000)),
        "EVIDENCE_NOT_YET_VALID"
    );
    let (quote, collateral) = tdx();
    assert_eq!(
        code(verify_quote(EvidenceKind::Tdx, &quote, &collateral, 1_753_000_000)),
        "EVIDENCE_EXPIRED"
    );
}

#[test]
fn measurements_statuses_and_advisories_off_the_policy_are_refused() {
    let (quote, collateral) = sgx();
    let verified = verify_quote(EvidenceKind::Sgx, &quote, &collateral, PINNED).unwrap();
    let other_enclave =
        Policy::from_json(format!(r#"{{ "sgx": [{{ "mrenclave": "{}" }}] }}"#, "ab".repeat(32)).as_bytes()).unwrap();
    assert_eq!(code(other_enclave.check(&verified)), "MEASUREMENT_NOT_ALLOWED");
    let signer_too_old = Policy::from_json(
        format!(r#"{{ "sgx": [{{ "mrsigner": "{SGX_MRSIGNER}", "productId": 0, "minSvn": 1 }}] }}"#).as_bytes(),
    )
    .unwrap();
    assert_eq!(code(signer_too_old.check(&verified)), "MEASUREMENT_NOT_ALLOWED");
    let default_statuses =
        Policy::from_json(format!(r#"{{ "sgx": [{{ "mrsigner": "{SGX_MRSIGNER}", "productId": 0 }}] }}"#).as_bytes())
            .unwrap();
    assert_eq!(code(default_statuses.check(&verified)), "TCB_STATUS_NOT_ACCEPTED");
    let mut one_advisory = sample_policy();
    one_advisory.accepted_advisories.pop();
    assert_eq!(code(one_advisory.check(&verified)), "ADVISORY_NOT_ACCEPTED");
    assert_eq!(
        code(Policy::from_json(br#"{ "sgx": [{ "mrsigner": "00" }] }"#)),
        "INVALID_POLICY"
    );
}

#[test]
fn report_data_for_another_key_is_refused() {
    let (quote, collateral) = sgx();
    let verified = verify_quote(EvidenceKind::Sgx, &quote, &collateral, PINNED).unwrap();
    let other = confide_protocol::tee::report_data(Default::default(), &[1; 32], Default::default());
    assert_eq!(code(verified.check_report_data(&other)), "REPORT_DATA_MISMATCH");
}

#[tokio::test]
async fn the_verifier_refuses_simulation_unless_told_and_mislabelled_quotes() {
    let (quote, collateral) = tdx();
    let strict = Verifier::new(CollateralSource::Offline(Box::new(collateral.clone())), sample_policy());
    let simulated = Evidence {
        kind: EvidenceKind::Simulated,
        data: vec![0u8; 64].into(),
    };
    assert_eq!(code(strict.verify(&simulated, PINNED).await), "SIMULATION_REFUSED");
    let mislabelled = Evidence {
        kind: EvidenceKind::Sgx,
        data: quote.clone().into(),
    };
    assert_eq!(code(strict.verify(&mislabelled, PINNED).await), "QUOTE_INVALID");
    let good = Evidence {
        kind: EvidenceKind::Tdx,
        data: quote.into(),
    };
    assert!(!strict.verify(&good, PINNED).await.unwrap().simulated());
    let insecure =
        Verifier::new(CollateralSource::Offline(Box::new(collateral)), sample_policy()).dangerously_accept_simulation();
    assert!(insecure.verify(&simulated, PINNED).await.unwrap().simulated());
}
