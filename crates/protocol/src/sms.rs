//! The challenges iExec's SMS accepts, byte for byte as iExec's SDK computes them
//! (`iexec-sdk:src/common/sms/smsUtils.js`), plus Confide's rotation challenge.
//! Each 32-byte challenge is signed with EIP-191 over its raw bytes ([`crate::messages::sign_personal`]).

use alloy_primitives::{Address, B256, U256, keccak256};

/// `keccak256("IEXEC_SMS_DOMAIN")`.
pub fn sms_domain() -> B256 {
    keccak256("IEXEC_SMS_DOMAIN")
}

/// Pushing a web3 secret (a dataset key) for `secret_address`:
/// `keccak256(D ‖ secretAddress ‖ keccak256(value))`.
pub fn web3_secret_challenge(secret_address: Address, value: &[u8]) -> B256 {
    keccak256(
        [
            sms_domain().as_slice(),
            secret_address.as_slice(),
            keccak256(value).as_slice(),
        ]
        .concat(),
    )
}

/// Pushing a named secret of `owner` (web2, requester and app-developer secrets; the app
/// developer's name is `"1"`): `keccak256(D ‖ owner ‖ keccak256(name) ‖ keccak256(value))`.
pub fn named_secret_challenge(owner: Address, name: &str, value: &[u8]) -> B256 {
    keccak256(
        [
            sms_domain().as_slice(),
            owner.as_slice(),
            keccak256(name).as_slice(),
            keccak256(value).as_slice(),
        ]
        .concat(),
    )
}

/// Confide's extension: replacing a secret by version `next_version` (upstream cannot
/// rotate a dataset key). The version in the message makes every rotation signature
/// single-use: `keccak256(D ‖ keccak256("ROTATE") ‖ subject ‖ keccak256(name) ‖ version ‖ keccak256(value))`,
/// with `name` empty for web3 secrets.
pub fn rotation_challenge(subject: Address, name: &str, next_version: u64, value: &[u8]) -> B256 {
    keccak256(
        [
            sms_domain().as_slice(),
            keccak256("ROTATE").as_slice(),
            subject.as_slice(),
            keccak256(name).as_slice(),
            &U256::from(next_version).to_be_bytes::<32>(),
            keccak256(value).as_slice(),
        ]
        .concat(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::b256;

    #[test]
    fn the_domain_is_iexecs() {
        assert_eq!(
            sms_domain(),
            b256!("0a26923d45a019b77e856d0001681f98ab9707ec15b2b98048cc91eed00b6793")
        );
    }

    #[test]
    fn challenges_bind_address_name_value_and_version() {
        let a = Address::repeat_byte(1);
        let b = Address::repeat_byte(2);
        assert_ne!(web3_secret_challenge(a, b"k"), web3_secret_challenge(b, b"k"));
        assert_ne!(web3_secret_challenge(a, b"k"), web3_secret_challenge(a, b"l"));
        assert_ne!(
            named_secret_challenge(a, "x", b"v"),
            named_secret_challenge(a, "y", b"v")
        );
        assert_ne!(rotation_challenge(a, "", 2, b"v"), rotation_challenge(a, "", 3, b"v"));
    }
}
