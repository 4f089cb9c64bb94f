//! Pushing and checking secrets in the SMS, signed with the wallet as iExec's SDK signs.

use std::path::{Path, PathBuf};

use confide_chain::{Address, B256};
use confide_protocol::messages::sign_personal;
use confide_protocol::sms as challenge;
use serde_json::json;
use zeroize::Zeroizing;

use crate::context::Context;
use crate::output::{CliError, CliResult};

/// The SMS of the configured chain: `--sms-url`, `CONFIDE_SMS_URL`, or chain.json's `sms`.
pub fn sms_url(ctx: &Context) -> Result<String, CliError> {
    if let Ok(url) = std::env::var("CONFIDE_SMS_URL") {
        return Ok(url);
    }
    ctx.chain.resolve()?.sms.ok_or_else(|| {
        CliError::new(
            "NO_SMS",
            "no SMS configured: set `sms` in chain.json (confide dev up does), or CONFIDE_SMS_URL",
        )
    })
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

fn unreachable(url: &str, error: reqwest::Error) -> CliError {
    CliError::new("SMS_UNREACHABLE", format!("the SMS at {url} is unreachable: {error}"))
}

/// Reads a secret file (surrounding whitespace removed, as the SDK does).
pub fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::new(
            "UNREADABLE_FILE",
            format!("cannot read secret file {}: {e}", path.display()),
        )
    })?;
    Ok(Zeroizing::new(text.trim().to_owned()))
}

/// Whether a secret exists: `HEAD` on its path.
pub async fn exists(url: &str, path_and_query: &str) -> Result<bool, CliError> {
    let response = http()
        .head(format!("{url}{path_and_query}"))
        .send()
        .await
        .map_err(|e| unreachable(url, e))?;
    match response.status().as_u16() {
        200 | 204 => Ok(true),
        404 => Ok(false),
        status => Err(CliError::new(
            "SMS_ERROR",
            format!("the SMS answered {status} to a presence check"),
        )),
    }
}

/// Sends a signed push; maps the SMS's JSON error to one line.
async fn send(
    url: &str,
    method: reqwest::Method,
    path_and_query: &str,
    signature: String,
    value: &str,
) -> Result<serde_json::Value, CliError> {
    let response = http()
        .request(method, format!("{url}{path_and_query}"))
        .header("Authorization", signature)
        .body(value.to_owned())
        .send()
        .await
        .map_err(|e| unreachable(url, e))?;
    if response.status().is_success() {
        return Ok(response.json().await.unwrap_or(serde_json::Value::Null));
    }
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let code = body["error"]["code"].as_str().unwrap_or("SMS_ERROR").to_owned();
    let message = body["error"]["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("the SMS answered {status}"));
    Err(CliError {
        code: leak(code),
        message: format!("SMS refused the secret: {message}"),
    })
}

/// Error codes are `&'static str`; SMS codes come from a fixed set, so the few leaked
/// strings are bounded by that set.
fn leak(code: String) -> &'static str {
    Box::leak(code.into_boxed_str())
}

fn sign(ctx: &Context, hash: B256) -> Result<(Address, String), CliError> {
    let signer = ctx.wallet.signer()?;
    let signature = sign_personal(&signer, hash).map_err(|e| CliError::new("SIGNING_FAILED", e.to_string()))?;
    Ok((
        signer.address(),
        format!("0x{}", confide_chain::hex::encode(signature.as_bytes())),
    ))
}

/// `dataset push-secret` / `tee push-secret --dataset`: the dataset key as a web3 secret.
/// With `rotate`, replaces the current key by a new version (Confide's extension).
pub async fn push_dataset_secret(ctx: &Context, dataset: Address, secret_path: &Path, rotate: bool) -> CliResult {
    let url = sms_url(ctx)?;
    let value = read_secret_file(secret_path)?;
    let query = format!("/secrets/web3?secretAddress={dataset}");
    let poco = ctx.poco().await?;
    let owner = poco
        .contract_owner(dataset)
        .await?
        .ok_or_else(|| CliError::new("UNKNOWN_ASSET", format!("{dataset} is not a dataset on this chain")))?;
    let wallet = ctx.wallet.address()?;
    if owner != wallet {
        return Err(CliError::new(
            "NOT_OWNER",
            format!("dataset {dataset} belongs to {owner}, not to your wallet {wallet}"),
        ));
    }
    if rotate {
        let next = current_version(&url, &query).await? + 1;
        let (_, signature) = sign(ctx, challenge::rotation_challenge(dataset, "", next, value.as_bytes()))?;
        let answer = send(
            &url,
            reqwest::Method::PUT,
            &format!("{query}&version={next}"),
            signature,
            &value,
        )
        .await?;
        let version = answer["version"].as_u64().unwrap_or(next);
        ctx.out.done(
            &format!("✔ rotated the key of dataset {dataset} to version {version}"),
            json!({ "version": version }),
        );
        return Ok(());
    }
    if exists(&url, &query).await? {
        return Err(CliError::new(
            "SECRET_EXISTS",
            format!("dataset {dataset} already has a key in the SMS; keys are write-once: use --rotate to replace it"),
        ));
    }
    let (_, signature) = sign(ctx, challenge::web3_secret_challenge(dataset, value.as_bytes()))?;
    send(&url, reqwest::Method::POST, &query, signature, &value).await?;
    ctx.out.done(
        &format!("✔ pushed the key of dataset {dataset} to the SMS at {url}"),
        json!({ "isPushed": true }),
    );
    Ok(())
}

/// The newest version of a secret, from the SMS's presence check.
async fn current_version(url: &str, query: &str) -> Result<u64, CliError> {
    let response = http()
        .head(format!("{url}{query}"))
        .send()
        .await
        .map_err(|e| unreachable(url, e))?;
    if response.status().as_u16() == 404 {
        return Err(CliError::new(
            "SECRET_NOT_FOUND",
            "there is no key to rotate yet: push one first",
        ));
    }
    response
        .headers()
        .get(confide_sms::api::VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| CliError::new("SMS_ERROR", "the SMS did not name the secret's version"))
}

pub async fn check_dataset_secret(ctx: &Context, dataset: Address) -> CliResult {
    let url = sms_url(ctx)?;
    let present = exists(&url, &format!("/secrets/web3?secretAddress={dataset}")).await?;
    let text = if present {
        format!("✔ secret exists for dataset {dataset}")
    } else {
        format!("✖ no secret for dataset {dataset}")
    };
    ctx.out.done(&text, json!({ "isSecretSet": present }));
    Ok(())
}

/// The default key file: `.secrets/datasets/dataset.key`, else the tutorial's folder.
pub fn default_dataset_key() -> PathBuf {
    let current = PathBuf::from(".secrets/datasets/dataset.key");
    if current.exists() {
        return current;
    }
    PathBuf::from(".tee-secrets/dataset/dataset.key")
}

/// A named secret in the SMS (everything but dataset keys).
pub enum Named {
    /// web2: a secret of the wallet's own address (the result key is one).
    Web2 { name: String },
    /// A requester secret of the wallet's address.
    Requester { name: String },
    /// The developer secret of an app the wallet owns.
    App { app: Address },
}

impl Named {
    fn path(&self, me: Address) -> String {
        match self {
            Named::Web2 { name } => format!("/secrets/web2?ownerAddress={me}&secretName={name}"),
            Named::Requester { name } => format!("/requesters/{me}/secrets/{name}"),
            Named::App { app } => format!("/apps/{app}/secrets"),
        }
    }

    /// Whose secret it is and its name, as the SMS files it.
    fn subject_and_name(&self, me: Address) -> (Address, &str) {
        match self {
            Named::Web2 { name } | Named::Requester { name } => (me, name),
            Named::App { app } => (*app, "1"),
        }
    }

    fn challenge(&self, me: Address, value: &[u8]) -> B256 {
        let (subject, name) = self.subject_and_name(me);
        challenge::named_secret_challenge(subject, name, value)
    }

    /// The signed message of an update to version `next`.
    fn update_challenge(&self, me: Address, next: u64, value: &[u8]) -> B256 {
        let (subject, name) = self.subject_and_name(me);
        challenge::rotation_challenge(subject, name, next, value)
    }

    fn versioned_path(&self, me: Address, version: u64) -> String {
        let path = self.path(me);
        let separator = if path.contains('?') { '&' } else { '?' };
        format!("{path}{separator}version={version}")
    }
}

/// Pushes a named secret; `update` replaces it with the next version (a signed update
/// that names its version, so it cannot be replayed).
pub async fn push_named(ctx: &Context, secret: Named, value: &str, update: bool) -> Result<(), CliError> {
    if value.is_empty() {
        return Err(CliError::new("EMPTY_SECRET", "the secret is empty"));
    }
    let url = sms_url(ctx)?;
    let me = ctx.wallet.address()?;
    if let Named::App { app } = &secret {
        let owner = ctx.poco().await?.contract_owner(*app).await?;
        match owner {
            None => {
                return Err(CliError::new(
                    "UNKNOWN_ASSET",
                    format!("{app} is not an app on this chain"),
                ));
            }
            Some(owner) if owner != me => {
                return Err(CliError::new(
                    "NOT_OWNER",
                    format!("app {app} belongs to {owner}, not to your wallet {me}"),
                ));
            }
            Some(_) => {}
        }
    }
    let path = secret.path(me);
    let exists_now = exists(&url, &path).await?;
    if exists_now && !update {
        let hint = if matches!(secret, Named::Web2 { .. }) {
            "pass --force-update to replace it"
        } else {
            "secrets are write-once"
        };
        return Err(CliError::new(
            "SECRET_EXISTS",
            format!("this secret already exists in the SMS: {hint}"),
        ));
    }
    if exists_now {
        // An update names the version it writes, so its signature can never roll the
        // secret back later (the SMS refuses any version but the next).
        let next = current_version(&url, &path).await? + 1;
        let (_, signature) = sign(ctx, secret.update_challenge(me, next, value.as_bytes()))?;
        send(
            &url,
            reqwest::Method::PUT,
            &secret.versioned_path(me, next),
            signature,
            value,
        )
        .await?;
        return Ok(());
    }
    let (_, signature) = sign(ctx, secret.challenge(me, value.as_bytes()))?;
    send(&url, reqwest::Method::POST, &path, signature, value).await?;
    Ok(())
}

pub async fn check_named(ctx: &Context, secret: &Named, owner: Address) -> Result<bool, CliError> {
    let url = sms_url(ctx)?;
    exists(&url, &secret.path(owner)).await
}

/// A secret from `--secret-value` or `--secret-path`, exactly one of them.
pub fn secret_value(value: Option<String>, path: Option<PathBuf>) -> Result<Zeroizing<String>, CliError> {
    match (value, path) {
        (Some(value), None) => Ok(Zeroizing::new(value)),
        (None, Some(path)) => read_secret_file(&path),
        _ => Err(CliError::new(
            "MISSING_SECRET",
            "give the secret with --secret-value or --secret-path (one of them)",
        )),
    }
}
