//! `chain.json` in iExec's SDK shape, so `iexec` commands run against the dev stack.
//!
//! iExec's SDK validates this file strictly (unknown keys are refused): only `id` (a
//! decimal string), `host`, `hub`, `sms`, `ipfsGateway`, `iexecGateway`, `compass` and
//! `pocoSubgraph` may appear. Services iExec's schema has no key for (our result store)
//! are published in `stack.json` instead.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::DevError;

/// One chain in `chain.json`: where iExec's SDK finds its node, PoCo and services.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainEntry {
    /// Empty in iExec's default template for the networks the SDK knows by name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The chain node's JSON-RPC URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The PoCo hub's (the diamond's) address, `0x` hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hub: Option<String>,
    /// The SMS's base URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms: Option<String>,
    /// The gateway the SDK fetches `/ipfs/<CID>` from: in the dev stack, the content store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipfs_gateway: Option<String>,
    /// The market's base URL, where the SDK publishes and reads orders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iexec_gateway: Option<String>,
    /// iExec's Compass service URL; kept as read, the dev stack sets none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compass: Option<String>,
    /// The PoCo subgraph's URL; kept as read, the dev stack runs none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poco_subgraph: Option<String>,
}

/// A whole `chain.json`: the chains by name and which one the SDK uses by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainsFile {
    /// The name of the chain the SDK uses when none is given (`dev` once `dev up` ran).
    pub default: String,
    /// iExec's switch for the networks its SDK calls experimental; written only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_experimental_networks: bool,
    /// Every chain, by the name the SDK's `--chain` takes.
    pub chains: BTreeMap<String, ChainEntry>,
}

impl ChainsFile {
    /// Reads and parses the `chain.json` at `path`.
    pub fn read(path: &Path) -> Result<ChainsFile, DevError> {
        let text = std::fs::read_to_string(path).map_err(|e| DevError::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| DevError::io(path, format!("not a valid chain.json: {e}")))
    }

    /// Reads `path` if it exists, sets `name` to `entry` (other chains are kept), makes it the
    /// default and writes the file back atomically.
    pub fn upsert(path: &Path, name: &str, entry: ChainEntry) -> Result<ChainsFile, DevError> {
        let mut file = if path.exists() {
            ChainsFile::read(path)?
        } else {
            ChainsFile::default()
        };
        file.chains.insert(name.to_owned(), entry);
        file.default = name.to_owned();
        write_json_atomically(path, &file)?;
        Ok(file)
    }
}

/// Writes JSON to a temporary file beside `path`, then renames it: readers never see half a file.
pub fn write_json_atomically(path: &Path, value: &impl Serialize) -> Result<(), DevError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| DevError::io(path, e))?;
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, format!("{text}\n")).map_err(|e| DevError::io(&temporary, e))?;
    std::fs::rename(&temporary, path).map_err(|e| DevError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// JSON values of any shape, up to a few levels deep, with the file's own keys likely.
    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let key = prop_oneof![
            Just("default".to_owned()),
            Just("chains".to_owned()),
            Just("host".to_owned()),
            Just("hub".to_owned()),
            Just("id".to_owned()),
            ".{0,12}"
        ];
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            ".{0,40}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                proptest::collection::btree_map(key.clone(), inner, 0..6)
                    .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// A chain.json from anywhere (iExec's SDK, a hand edit, a hostile download) is
        /// read or refused with an error, never a panic; what is read writes back the same.
        #[test]
        fn chain_files_read_or_refuse(value in json_value(), text in ".{0,200}") {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("chain.json");
            for bytes in [value.to_string(), text] {
                std::fs::write(&path, &bytes).unwrap();
                if let Ok(file) = ChainsFile::read(&path) {
                    write_json_atomically(&path, &file).unwrap();
                    prop_assert_eq!(ChainsFile::read(&path).unwrap(), file);
                }
            }
        }
    }
}
