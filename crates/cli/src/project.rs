//! iExec's SDK project files in the current directory: `iexec.json` (asset and order
//! templates), `deployed.json` (addresses by chain id) and `chain.json`. Unknown keys are
//! kept as they are, so an existing iExec project works in place.

use std::path::{Path, PathBuf};

use confide_chain::{Address, AssetKind};
use serde_json::{Map, Value, json};

use crate::output::CliError;

pub(crate) const IEXEC_JSON: &str = "iexec.json";
pub(crate) const DEPLOYED_JSON: &str = "deployed.json";
pub(crate) const CHAIN_JSON: &str = "chain.json";

/// The project in a directory.
pub(crate) struct Project {
    pub dir: PathBuf,
}

fn read_json(path: &Path) -> Result<Value, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::new("PROJECT_FILE", format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| CliError::new("PROJECT_FILE", format!("{} is not valid JSON: {e}", path.display())))
}

/// Writes beside the target and renames, so a crash never leaves half a project file.
pub(crate) fn write_json(path: &Path, value: &Value) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).expect("JSON values serialize");
    let temporary = path.with_extension("json.partial");
    std::fs::write(&temporary, format!("{text}\n"))
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|e| CliError::new("PROJECT_FILE", format!("cannot write {}: {e}", path.display())))
}

impl Project {
    pub(crate) fn current() -> Project {
        Project {
            dir: PathBuf::from("."),
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub(crate) fn has_iexec_json(&self) -> bool {
        self.path(IEXEC_JSON).exists()
    }

    pub(crate) fn iexec_json(&self) -> Result<Value, CliError> {
        let path = self.path(IEXEC_JSON);
        if !path.exists() {
            return Err(CliError::new(
                "NO_PROJECT",
                "no iexec.json in this directory: run `confide init` first",
            ));
        }
        read_json(&path)
    }

    /// Changes `iexec.json` (created empty if missing) through `change`.
    pub(crate) fn update_iexec_json(&self, change: impl FnOnce(&mut Map<String, Value>)) -> Result<Value, CliError> {
        let path = self.path(IEXEC_JSON);
        let mut value = if path.exists() { read_json(&path)? } else { json!({}) };
        let object = value
            .as_object_mut()
            .ok_or_else(|| CliError::new("PROJECT_FILE", "iexec.json must hold a JSON object"))?;
        change(object);
        write_json(&path, &value)?;
        Ok(value)
    }

    /// A section of `iexec.json` (`app`, `dataset`, `workerpool`, `order`), required.
    pub(crate) fn section(&self, name: &str) -> Result<Map<String, Value>, CliError> {
        self.iexec_json()?
            .get(name)
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(|| {
                CliError::new(
                    "NO_TEMPLATE",
                    format!("iexec.json has no `{name}` section: run `confide {name} init` first"),
                )
            })
    }

    /// The address deployed for `kind` on `chain_id`, from `deployed.json`.
    pub(crate) fn deployed(&self, kind: AssetKind, chain_id: u64) -> Option<Address> {
        let value = read_json(&self.path(DEPLOYED_JSON)).ok()?;
        value
            .get(kind.name())?
            .get(chain_id.to_string())?
            .as_str()?
            .parse()
            .ok()
    }

    /// `given`, else the address deployed for `kind` on `chain_id`.
    pub(crate) fn asset_or_deployed(
        &self,
        kind: AssetKind,
        chain_id: u64,
        given: Option<Address>,
    ) -> Result<Address, CliError> {
        given.or_else(|| self.deployed(kind, chain_id)).ok_or_else(|| {
            CliError::new(
                "UNKNOWN_ASSET",
                format!(
                    "no {} address given and none in deployed.json for this chain",
                    kind.name()
                ),
            )
        })
    }

    pub(crate) fn record_deployed(&self, kind: AssetKind, chain_id: u64, address: Address) -> Result<(), CliError> {
        let path = self.path(DEPLOYED_JSON);
        let mut value = if path.exists() { read_json(&path)? } else { json!({}) };
        value[kind.name()][chain_id.to_string()] = json!(address.to_checksum(None));
        write_json(&path, &value)
    }
}

/// iExec's `iexec.json` header written by `init`.
pub(crate) fn main_template() -> Value {
    json!({
        "description": "My iExec resource description, must be at least 150 chars long in order to pass the validation checks. Describe your application, dataset or workerpool to your users",
        "license": "MIT",
        "author": "?",
        "social": { "website": "?", "github": "?" },
        "logo": "logo.png",
    })
}

/// iExec's templates for each asset, with `owner` set.
pub(crate) fn asset_template(kind: AssetKind, owner: Address) -> Value {
    let owner = owner.to_checksum(None);
    match kind {
        AssetKind::App => json!({
            "owner": owner,
            "name": "my-app",
            "type": "WASM",
            "multiaddr": "",
            "checksum": "0x0000000000000000000000000000000000000000000000000000000000000000",
        }),
        AssetKind::Dataset => json!({
            "owner": owner,
            "name": "my-dataset",
            "multiaddr": "",
            "checksum": "0x0000000000000000000000000000000000000000000000000000000000000000",
        }),
        AssetKind::Workerpool => json!({ "owner": owner, "description": "my-workerpool" }),
    }
}
