//! Reads contract bytecode and ABIs from the `@iexec/poco` npm package, unpacked.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use alloy::json_abi::JsonAbi;
use alloy::primitives::{Address, Bytes, FixedBytes};
use serde::Deserialize;

use crate::ChainError;

/// The package name and version Confide deploys; other versions are refused.
pub const POCO_PACKAGE: &str = "@iexec/poco";
/// The `@iexec/poco` version whose ABI `bindings` was written from; no other is deployed.
pub const POCO_VERSION: &str = "6.1.0";

/// An unpacked `@iexec/poco` package (the folder holding its `package.json`).
#[derive(Clone, Debug)]
pub struct PocoPackage {
    root: PathBuf,
}

#[derive(Deserialize)]
struct PackageJson {
    name: String,
    version: String,
}

#[derive(Deserialize)]
struct LinkOffset {
    start: usize,
    length: usize,
}

#[derive(Deserialize)]
struct RawArtifact {
    #[serde(default)]
    abi: Option<serde_json::Value>,
    bytecode: String,
    #[serde(default, rename = "linkReferences")]
    link_references: BTreeMap<String, BTreeMap<String, Vec<LinkOffset>>>,
}

/// One contract: creation bytecode (possibly with library placeholders) and its ABI.
pub struct Artifact {
    /// The contract's name, as in its artifact's file name (`IexecPoco1Facet`); deploy steps
    /// are named after it.
    pub name: String,
    abi: Option<JsonAbi>,
    bytecode_hex: String,
    link_references: BTreeMap<String, BTreeMap<String, Vec<LinkOffset>>>,
}

impl PocoPackage {
    /// Opens the package at `root` after checking it is `@iexec/poco` at the pinned version.
    pub fn open(root: impl Into<PathBuf>) -> Result<PocoPackage, ChainError> {
        let root = root.into();
        let manifest = root.join("package.json");
        let text = std::fs::read_to_string(&manifest).map_err(|e| ChainError::Artifacts {
            path: manifest.clone(),
            reason: e.to_string(),
        })?;
        let package: PackageJson = serde_json::from_str(&text).map_err(|e| ChainError::Artifacts {
            path: manifest.clone(),
            reason: e.to_string(),
        })?;
        if package.name != POCO_PACKAGE || package.version != POCO_VERSION {
            return Err(ChainError::Artifacts {
                path: manifest,
                reason: format!(
                    "found {}@{}, expected {POCO_PACKAGE}@{POCO_VERSION}",
                    package.name, package.version
                ),
            });
        }
        Ok(PocoPackage { root })
    }

    /// The package's folder, as given to [`PocoPackage::open`].
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A hardhat artifact of the compiled sources: `artifacts/contracts/<dir>/<Name>.json`.
    pub fn compiled(&self, dir: &str, name: &str) -> Result<Artifact, ChainError> {
        self.load(
            name,
            &self
                .root
                .join("artifacts/contracts")
                .join(dir)
                .join(format!("{name}.json")),
        )
    }

    /// A hardhat-deploy record from `deployments/arbitrum/`: the only source of the diamond
    /// library's facets and of the RLC token. Their bytecode carries no constructor arguments.
    pub fn deployed(&self, name: &str) -> Result<Artifact, ChainError> {
        self.load(
            name,
            &self.root.join("deployments/arbitrum").join(format!("{name}.json")),
        )
    }

    fn load(&self, name: &str, path: &Path) -> Result<Artifact, ChainError> {
        let fail = |reason: String| ChainError::Artifacts {
            path: path.to_owned(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let raw: RawArtifact = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
        let abi = raw
            .abi
            .map(serde_json::from_value::<JsonAbi>)
            .transpose()
            .map_err(|e| fail(format!("unreadable ABI: {e}")))?;
        Ok(Artifact {
            name: name.to_owned(),
            abi,
            bytecode_hex: raw.bytecode.trim_start_matches("0x").to_owned(),
            link_references: raw.link_references,
        })
    }
}

impl Artifact {
    /// The creation bytecode with every library placeholder replaced by its address.
    pub fn linked_bytecode(&self, libraries: &HashMap<&str, Address>) -> Result<Bytes, ChainError> {
        let mut hex = self.bytecode_hex.clone();
        for (library, offsets) in self.link_references.values().flat_map(|libs| libs.iter()) {
            let address = libraries.get(library.as_str()).ok_or_else(|| ChainError::Deploy {
                step: format!("link {}", self.name),
                reason: format!("library {library} is not deployed yet"),
            })?;
            let address_hex = alloy::hex::encode(address.as_slice());
            for offset in offsets {
                let range = 2 * offset.start..2 * (offset.start + offset.length);
                hex.replace_range(range, &address_hex);
            }
        }
        alloy::hex::decode(&hex)
            .map(Bytes::from)
            .map_err(|e| ChainError::Deploy {
                step: format!("decode {}", self.name),
                reason: format!("bytecode is not hex after linking: {e}"),
            })
    }

    /// The function selectors the diamond must route to this facet. A `fallback` is routed
    /// through `0xffffffff` and a `receive` through `0x00000000` (see PoCo's `Diamond.sol`).
    pub fn selectors(&self) -> Vec<FixedBytes<4>> {
        let Some(abi) = &self.abi else {
            return Vec::new();
        };
        let mut selectors: Vec<FixedBytes<4>> = abi.functions().map(|f| f.selector()).collect();
        if abi.fallback.is_some() {
            selectors.push(FixedBytes([0xff; 4]));
        }
        if abi.receive.is_some() {
            selectors.push(FixedBytes([0x00; 4]));
        }
        selectors
    }
}
