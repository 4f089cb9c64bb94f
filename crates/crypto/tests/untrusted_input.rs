//! Fuzzing, bounded (see `crates/protocol/tests/untrusted_input.rs` for why proptest):
//! the formats that arrive from elsewhere — a downloaded dataset, a downloaded result
//! archive (encrypted, and decrypted: its digest), a result public key from the SMS, a
//! keystore file — fed random and mutated bytes. Each must end in a value or an error,
//! never a panic, and never a cost the input chooses.

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
    fn decrypted_archives_digest_or_refuse(bytes in lookalike()) {
        let _ = result::archive_digest(std::io::Cursor::new(bytes));
    }

    /// A geth keystore with hostile parameters: short keys and IVs (which panic
    /// eth-keystore) and key-derivation costs up to 2^64 (which would exhaust the machine)
    /// are refused before any derivation; cheap well-formed ones are tried and fail.
    #[test]
    fn keystores_open_or_refuse(
        n in prop_oneof![Just(0u64), Just(3), 2u64..64, Just(1 << 40), any::<u64>()],
        r in prop_oneof![0u64..10, any::<u64>()],
        p in prop_oneof![0u64..3, any::<u64>()],
        c in prop_oneof![0u64..16, any::<u64>()],
        dklen in prop_oneof![Just(32u64), 0u64..64],
        iv_bytes in prop_oneof![Just(16usize), 0usize..40],
        key_bytes in prop_oneof![Just(32usize), 0usize..40],
        pbkdf2 in any::<bool>(),
    ) {
        let hex = |len: usize| "ab".repeat(len);
        let kdfparams = if pbkdf2 {
            serde_json::json!({ "c": c, "dklen": dklen, "prf": "hmac-sha256", "salt": hex(32) })
        } else {
            serde_json::json!({ "n": n, "r": r, "p": p, "dklen": dklen, "salt": hex(32) })
        };
        let keystore = serde_json::json!({
            "address": "f39fd6e51aad88f6f4ce6ab8827279cfffb92266",
            "crypto": {
                "cipher": "aes-128-ctr",
                "cipherparams": { "iv": hex(iv_bytes) },
                "ciphertext": hex(key_bytes),
                "kdf": if pbkdf2 { "pbkdf2" } else { "scrypt" },
                "kdfparams": kdfparams,
                "mac": hex(32),
            },
            "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
            "version": 3,
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("UTC--keystore");
        std::fs::write(&path, keystore.to_string()).unwrap();
        prop_assert!(confide_crypto::keystore::read(&path, "password").is_err());
    }

    #[test]
    fn result_public_keys_parse_or_refuse(text in prop_oneof![".{0,200}", "age1[a-z0-9]{0,70}", "-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]{0,300}"]) {
        let _ = result::ResultPublicKey::parse(&text);
    }
}
