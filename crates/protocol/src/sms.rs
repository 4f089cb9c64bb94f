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

/// The deployment a Confide challenge is signed for: a signature made for one SMS's chain
/// and hub is worth nothing on another's. (iExec's own push challenges name neither: a
/// first push captured on one deployment can be replayed on another where that secret
/// does not exist yet; see docs/SECURITY.md.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deployment {
    /// The chain's id.
    pub chain_id: u64,
    /// PoCo's hub on it.
    pub hub: Address,
}

impl Deployment {
    /// `chainId ‖ hub`, as the challenges bind them.
    fn bound(&self) -> [u8; 52] {
        let mut bytes = [0u8; 52];
        bytes[..32].copy_from_slice(&U256::from(self.chain_id).to_be_bytes::<32>());
        bytes[32..].copy_from_slice(self.hub.as_slice());
        bytes
    }
}

/// Confide's extension: replacing a secret by version `next_version` (upstream cannot
/// rotate a dataset key). The version in the message makes every rotation signature
/// single-use, the deployment makes it this SMS's only:
/// `keccak256(D ‖ keccak256("ROTATE") ‖ chainId ‖ hub ‖ subject ‖ keccak256(name) ‖ version ‖ keccak256(value))`,
/// with `name` empty for web3 secrets.
pub fn rotation_challenge(
    deployment: Deployment,
    subject: Address,
    name: &str,
    next_version: u64,
    value: &[u8],
) -> B256 {
    keccak256(
        [
            sms_domain().as_slice(),
            keccak256("ROTATE").as_slice(),
            &deployment.bound(),
            subject.as_slice(),
            keccak256(name).as_slice(),
            &U256::from(next_version).to_be_bytes::<32>(),
            keccak256(value).as_slice(),
        ]
        .concat(),
    )
}

/// Confide's extension: a dataset owner reading its key's releases (the usage ledger) at
/// `at` (Unix seconds; the SMS accepts a signature for a few minutes around it):
/// `keccak256(D ‖ keccak256("KEY_RELEASES") ‖ chainId ‖ hub ‖ dataset ‖ at)`.
pub fn key_releases_challenge(deployment: Deployment, dataset: Address, at: u64) -> B256 {
    keccak256(
        [
            sms_domain().as_slice(),
            keccak256("KEY_RELEASES").as_slice(),
            &deployment.bound(),
            dataset.as_slice(),
            &U256::from(at).to_be_bytes::<32>(),
        ]
        .concat(),
    )
}

/// The path of a dataset's usage ledger in the SMS's API (`?at=` the signed time).
pub fn key_releases_path(dataset: Address, at: u64) -> String {
    format!("/datasets/{dataset}/key-releases?at={at}")
}

/// One release of a dataset's key to an attested enclave, as the SMS's usage ledger
/// answers it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRelease {
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The task the enclave ran.
    pub task_id: B256,
    /// Its deal.
    pub deal_id: B256,
    /// The app the enclave ran.
    pub app: Address,
    /// Who asked for the task.
    pub requester: Address,
    /// The worker that hosted the enclave.
    pub worker: Address,
    /// The evidence's kind (`sgx`, `tdx`, or `simulated`: then nothing was proven).
    pub evidence: String,
    /// The enclave's measurements as the verified evidence gave them (JSON).
    pub measurements: serde_json::Value,
    /// The key's version released.
    pub version: u64,
}

/// Presence checks name the newest version in this header (Confide's extension); an
/// owner needs it to sign the next update.
pub const VERSION_HEADER: &str = "x-confide-secret-version";

/// A secret in the SMS, as a client names it: where it lives in the API and what its
/// owner signs to write it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Secret {
    /// A dataset's key (iExec's web3 secret), written by the dataset's on-chain owner.
    Dataset(Address),
    /// A named secret of an address (the result encryption key is one).
    Web2 {
        /// The address the secret belongs to, which signs its writes.
        owner: Address,
        /// The secret's name (`iexec-result-encryption-public-key` for a result key).
        name: String,
    },
    /// A requester's named secret, handed to the requester's tasks.
    Requester {
        /// The requester whose tasks receive the secret.
        requester: Address,
        /// The secret's name, as the task's `iexec_secrets` refer to it.
        name: String,
    },
    /// An app developer's secret, written by the app's on-chain owner.
    App(Address),
}

impl Secret {
    /// Its path and query in the SMS's API (iExec's paths).
    pub fn path(&self) -> String {
        match self {
            Secret::Dataset(dataset) => format!("/secrets/web3?secretAddress={dataset}"),
            Secret::Web2 { owner, name } => format!("/secrets/web2?ownerAddress={owner}&secretName={name}"),
            Secret::Requester { requester, name } => format!("/requesters/{requester}/secrets/{name}"),
            Secret::App(app) => format!("/apps/{app}/secrets"),
        }
    }

    /// The path of the update that writes version `version`.
    pub fn versioned_path(&self, version: u64) -> String {
        let path = self.path();
        let separator = if path.contains('?') { '&' } else { '?' };
        format!("{path}{separator}version={version}")
    }

    /// Whose secret it is and its name, as the challenges bind them (web3 secrets have
    /// no name; an app developer's is `"1"`, as iExec files it).
    pub fn subject_and_name(&self) -> (Address, &str) {
        match self {
            Secret::Dataset(dataset) => (*dataset, ""),
            Secret::Web2 { owner, name } => (*owner, name),
            Secret::Requester { requester, name } => (*requester, name),
            Secret::App(app) => (*app, "1"),
        }
    }

    /// What the owner signs to write its first version.
    pub fn push_challenge(&self, value: &[u8]) -> B256 {
        match self {
            Secret::Dataset(dataset) => web3_secret_challenge(*dataset, value),
            _ => {
                let (subject, name) = self.subject_and_name();
                named_secret_challenge(subject, name, value)
            }
        }
    }

    /// What the owner signs to write version `next` on `deployment` (Confide's
    /// single-use update).
    pub fn update_challenge(&self, deployment: Deployment, next: u64, value: &[u8]) -> B256 {
        let (subject, name) = self.subject_and_name();
        rotation_challenge(deployment, subject, name, next, value)
    }
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
        let here = Deployment {
            chain_id: 1,
            hub: Address::repeat_byte(9),
        };
        assert_ne!(
            rotation_challenge(here, a, "", 2, b"v"),
            rotation_challenge(here, a, "", 3, b"v")
        );
        // Another chain, or another hub on the same chain, is another message.
        for there in [
            Deployment { chain_id: 2, ..here },
            Deployment {
                hub: Address::repeat_byte(8),
                ..here
            },
        ] {
            assert_ne!(
                rotation_challenge(here, a, "", 2, b"v"),
                rotation_challenge(there, a, "", 2, b"v")
            );
            assert_ne!(key_releases_challenge(here, a, 7), key_releases_challenge(there, a, 7));
        }
    }

    #[test]
    fn secrets_live_at_iexecs_paths() {
        let a = Address::repeat_byte(0xab);
        let named = |name: &str| Secret::Web2 {
            owner: a,
            name: name.into(),
        };
        assert_eq!(Secret::Dataset(a).path(), format!("/secrets/web3?secretAddress={a}"));
        assert_eq!(
            named("k").versioned_path(2),
            format!("/secrets/web2?ownerAddress={a}&secretName=k&version=2")
        );
        assert_eq!(Secret::App(a).versioned_path(3), format!("/apps/{a}/secrets?version=3"));
        // A dataset key is signed as a web3 secret; an app's as the named secret "1".
        assert_eq!(Secret::Dataset(a).push_challenge(b"v"), web3_secret_challenge(a, b"v"));
        assert_eq!(
            Secret::App(a).push_challenge(b"v"),
            named_secret_challenge(a, "1", b"v")
        );
        let here = Deployment {
            chain_id: 1,
            hub: Address::repeat_byte(9),
        };
        assert_eq!(
            Secret::Dataset(a).update_challenge(here, 2, b"v"),
            rotation_challenge(here, a, "", 2, b"v")
        );
    }
}
