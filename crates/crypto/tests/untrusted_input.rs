//! Fuzzing, bounded (see `crates/protocol/tests/untrusted_input.rs` for why proptest):
//! the formats that arrive from elsewhere — a downloaded dataset, a downloaded result
//! archive, a result public key from the SMS — fed random and mutated bytes. Each must
//! end in a value or an error, never a panic.

use std::sync::LazyLock;

use confide_crypto::{dataset, result};
use proptest::prelude::*;

/// One age identity and one RSA key for every case (RSA generation is slow).
static KEYS: LazyLock<(String, String)> = LazyLock::new(|| {
    let (age, _) = result::generate_age();
    let (rsa, _) = confide_crypto::result_keys::generate_rsa(1024).expect("an RSA key");
    (age.to_string(), rsa.to_string())
});

/// Bytes that start like one of the formats, then go astray.
fn lookalike() -> impl Strategy<Value = Vec<u8>> {
    let head = prop_oneof![
        Just(b"age-encryption.org/v1\n-> X25519 ".to_vec()),
        Just(b"age-encryption.org/v1\n".to_vec()),
        Just(b"PK\x03\x04".to_vec()),
        Just(b"Salted__".to_vec()),
        Just(Vec::new()),
    ];
    (head, proptest::collection::vec(any::<u8>(), 0..2048)).prop_map(|(mut head, tail)| {
        head.extend(tail);
        head
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn datasets_decrypt_or_refuse(bytes in lookalike(), key in prop_oneof![Just(dataset::DatasetKey::generate().to_base64().to_string()), ".{0,60}"]) {
        let _ = dataset::decrypt(&key, bytes.as_slice(), std::io::sink(), |_| {});
    }

    #[test]
    fn result_archives_decrypt_or_refuse(bytes in lookalike()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("result");
        std::fs::write(&path, &bytes).unwrap();
        let (age, rsa) = &*KEYS;
        let _ = result::detect_format(&path);
        let _ = result::decrypt(&path, age, &mut std::io::sink());
        let _ = result::decrypt(&path, rsa, &mut std::io::sink());
    }

    #[test]
    fn result_public_keys_parse_or_refuse(text in prop_oneof![".{0,200}", "age1[a-z0-9]{0,70}", "-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]{0,300}"]) {
        let _ = result::ResultPublicKey::parse(&text);
    }
}
