//! Fuzzing, bounded: every parser of bytes a requester, an order signer, a worker host or
//! an app controls, fed random and mutated input. Each must answer (a value or an error),
//! never panic or hang.
//!
//! proptest rather than cargo-fuzz: it runs on stable Rust (libFuzzer needs nightly, which
//! this project's machines cannot install), inside `cargo test` with a fixed number of
//! cases (so CI's time is bounded), shrinks a failure to a small input, and keeps it in
//! `proptest-regressions/` where every later run tries it first: a crash found becomes a
//! regression test by itself.

use confide_protocol::order::{AppOrder, DatasetOrder, Order, RequestOrder, WorkerpoolOrder};
use confide_protocol::tee::{DealParams, SessionRequest};
use confide_protocol::{Domain, Tag, messages};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(4096)
}

/// JSON-looking text: fragments of the formats, mixed with noise.
fn jsonish() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(",".to_owned()),
        Just(":".to_owned()),
        Just("\"iexec_args\"".to_owned()),
        Just("\"iexec_input_files\"".to_owned()),
        Just("\"iexec_result_encryption\"".to_owned()),
        Just("\"iexec_secrets\"".to_owned()),
        Just("\"sign\"".to_owned()),
        Just("\"volume\"".to_owned()),
        Just("\"tag\"".to_owned()),
        Just("\"0x\"".to_owned()),
        Just("true".to_owned()),
        Just("null".to_owned()),
        Just("1e999".to_owned()),
        Just("-1".to_owned()),
        Just("115792089237316195423570985008687907853269984665640564039457584007913129639936".to_owned()),
        "[a-zA-Z0-9_\\\\\"]{0,12}".prop_map(|s| format!("\"{s}\"")),
        any::<u64>().prop_map(|n| n.to_string()),
        ".{0,6}",
    ];
    proptest::collection::vec(fragment, 0..40).prop_map(|parts| parts.concat())
}

/// A valid order's JSON with one field's value replaced by arbitrary JSON text.
fn mutated_order() -> impl Strategy<Value = String> {
    let fields = [
        "app",
        "appprice",
        "volume",
        "tag",
        "datasetrestrict",
        "workerpoolrestrict",
        "requesterrestrict",
        "salt",
        "sign",
    ];
    (0..fields.len(), jsonish()).prop_map(move |(field, value)| {
        let mut order = serde_json::to_value(AppOrder::default()).expect("orders serialize");
        order[fields[field]] = serde_json::from_str(&value).unwrap_or(serde_json::Value::String(value));
        order.to_string()
    })
}

fn domain() -> Domain {
    Domain::new(134, alloy_primitives::Address::repeat_byte(0x3e))
}

/// Parses `text` as an order of type `O` and, when it parses, hashes it and recovers
/// its signer as the market does with a published order.
fn check_order<O: Order + serde::de::DeserializeOwned>(text: &str) {
    if let Ok(order) = serde_json::from_str::<O>(text) {
        let _ = order.recover_signer(&domain());
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn deal_params_parse_or_refuse(text in prop_oneof![jsonish(), ".{0,200}"]) {
        let _ = DealParams::parse(&text);
    }

    #[test]
    fn orders_parse_or_refuse(text in prop_oneof![jsonish(), mutated_order()]) {
        check_order::<AppOrder>(&text);
        check_order::<DatasetOrder>(&text);
        check_order::<WorkerpoolOrder>(&text);
        check_order::<RequestOrder>(&text);
    }

    #[test]
    fn signatures_are_canonical_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..80), prefix in any::<bool>()) {
        let text = format!("{}{}", if prefix { "0x" } else { "" }, alloy_primitives::hex::encode(&bytes));
        if let Some(signature) = messages::canonical_signature_hex(&text) {
            let encoded = signature.as_bytes();
            prop_assert!(matches!(encoded[64], 27 | 28));
            prop_assert_eq!(&encoded[..], &bytes[..], "the one accepted encoding is the input");
        }
        let _ = messages::canonical_signature_hex(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn tags_parse_or_refuse(text in ".{0,80}") {
        let _ = text.parse::<Tag>();
    }

    #[test]
    fn session_requests_parse_or_refuse(text in jsonish()) {
        let _ = serde_json::from_str::<SessionRequest>(&text);
    }

    #[test]
    fn app_enclave_configs_parse_or_refuse(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = confide_protocol::tee::AppEnclaveConfig::parse(&bytes);
    }

    #[test]
    fn amounts_parse_or_refuse(text in ".{0,40}") {
        let _ = confide_protocol::amount::parse_nrlc(&text);
    }
}
