//! Pushing and checking secrets in the SMS, signed with the wallet as iExec's SDK signs.

use std::path::{Path, PathBuf};

use confide_chain::{Address, B256, Signature};
use confide_protocol::messages::sign_personal;
pub(crate) use confide_protocol::sms::Secret;
use confide_sms_client::{SmsClient, SmsClientError};
use serde_json::json;
use zeroize::Zeroizing;

use crate::context::Context;
use crate::output::{CliError, CliResult};

/// The SMS of the configured chain: `--sms-url`, `CONFIDE_SMS_URL`, or chain.json's `sms`.
pub(crate) fn sms_url(ctx: &Context) -> Result<String, CliError> {
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

/// The configured SMS's client (30 s per call).
pub(crate) fn sms(ctx: &Context) -> Result<SmsClient, CliError> {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("HTTP client");
    Ok(SmsClient::new(&sms_url(ctx)?, http))
}

fn sms_error(error: SmsClientError) -> CliError {
    match &error {
        SmsClientError::Refused(refusal) => CliError {
            code: leak(refusal.code.clone()),
            message: format!("SMS refused the secret: {}", refusal.message),
        },
        SmsClientError::Unreachable { .. } => CliError::new("SMS_UNREACHABLE", error.to_string()),
        SmsClientError::Unexpected { .. } => CliError::new("SMS_ERROR", error.to_string()),
    }
}

/// Error codes are `&'static str`; SMS codes come from a fixed set, so the few leaked
/// strings are bounded by that set.
fn leak(code: String) -> &'static str {
    Box::leak(code.into_boxed_str())
}

/// Reads a secret file (surrounding whitespace removed, as the SDK does).
pub(crate) fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::new(
            "UNREADABLE_FILE",
            format!("cannot read secret file {}: {e}", path.display()),
        )
    })?;
    Ok(Zeroizing::new(text.trim().to_owned()))
}

/// Whether the SMS holds `secret`.
pub(crate) async fn exists(ctx: &Context, secret: &Secret) -> Result<bool, CliError> {
    sms(ctx)?.exists(secret).await.map_err(sms_error)
}

/// Checks that the SMS holds `secret` and says so: a line for people, `{field: bool}`
/// for scripts.
pub(crate) async fn report_presence(
    ctx: &Context,
    secret: &Secret,
    field: &str,
    present: &str,
    absent: &str,
) -> CliResult {
    let found = exists(ctx, secret).await?;
    let text = if found {
        format!("✔ {present}")
    } else {
        format!("✖ {absent}")
    };
    ctx.out.done(&text, json!({ field: found }));
    Ok(())
}

/// Refuses unless the wallet owns `asset` on chain (`what`: "dataset", "app").
async fn check_owner(ctx: &Context, asset: Address, what: &str) -> Result<(), CliError> {
    let wallet = ctx.wallet.address()?;
    match ctx.poco().await?.contract_owner(asset).await? {
        None => Err(CliError::new(
            "UNKNOWN_ASSET",
            format!(
                "{asset} is not {} {what} on this chain",
                if what == "app" { "an" } else { "a" }
            ),
        )),
        Some(owner) if owner != wallet => Err(CliError::new(
            "NOT_OWNER",
            format!("{what} {asset} belongs to {owner}, not to your wallet {wallet}"),
        )),
        Some(_) => Ok(()),
    }
}

/// Writes `value` as `secret`, signed by the wallet: its first version, or with `update`
/// the next one, whose signature names its version so it can never be replayed to roll
/// the secret back. Returns the version written.
async fn write(ctx: &Context, sms: &SmsClient, secret: &Secret, value: &[u8], update: bool) -> Result<u64, CliError> {
    if !update {
        let signature = sign(ctx, secret.push_challenge(value))?;
        sms.push(secret, &signature, value).await.map_err(sms_error)?;
        return Ok(1);
    }
    let current = sms
        .version(secret)
        .await
        .map_err(sms_error)?
        .ok_or_else(|| CliError::new("SECRET_NOT_FOUND", "there is no key to rotate yet: push one first"))?;
    let deployment = ctx.poco().await?.sms_deployment();
    let signature = sign(ctx, secret.update_challenge(deployment, current + 1, value))?;
    sms.update(secret, current + 1, &signature, value)
        .await
        .map_err(sms_error)
}

fn sign(ctx: &Context, hash: B256) -> Result<Signature, CliError> {
    let signer = ctx.wallet.signer()?;
    sign_personal(&signer, hash).map_err(|e| CliError::new("SIGNING_FAILED", e.to_string()))
}

/// `dataset push-secret` / `tee push-secret --dataset`: the dataset key as a web3 secret.
/// With `rotate`, replaces the current key by a new version (Confide's extension).
pub(crate) async fn push_dataset_secret(
    ctx: &Context,
    dataset: Address,
    secret_path: &Path,
    rotate: bool,
) -> CliResult {
    let sms = sms(ctx)?;
    let value = read_secret_file(secret_path)?;
    let secret = Secret::Dataset(dataset);
    check_owner(ctx, dataset, "dataset").await?;
    if rotate {
        let version = write(ctx, &sms, &secret, value.as_bytes(), true).await?;
        ctx.out.done(
            &format!("✔ rotated the key of dataset {dataset} to version {version}"),
            json!({ "version": version }),
        );
        return Ok(());
    }
    if sms.exists(&secret).await.map_err(sms_error)? {
        return Err(CliError::new(
            "SECRET_EXISTS",
            format!("dataset {dataset} already has a key in the SMS; keys are write-once: use --rotate to replace it"),
        ));
    }
    write(ctx, &sms, &secret, value.as_bytes(), false).await?;
    ctx.out.done(
        &format!("✔ pushed the key of dataset {dataset} to the SMS at {}", sms.url()),
        json!({ "isPushed": true }),
    );
    Ok(())
}

/// A dataset's usage ledger from the SMS, signed by its owner for `at`.
pub(crate) async fn key_releases(
    ctx: &Context,
    dataset: Address,
    at: u64,
    signature: &Signature,
) -> Result<Vec<confide_protocol::sms::KeyRelease>, CliError> {
    sms(ctx)?.key_releases(dataset, at, signature).await.map_err(sms_error)
}

/// Pushes a dataset's first key, refusing unless the wallet owns the dataset and the SMS
/// holds no key for it yet (keys are write-once).
pub(crate) async fn push_dataset_key(ctx: &Context, dataset: Address, value: &str) -> Result<(), CliError> {
    let sms = sms(ctx)?;
    let secret = Secret::Dataset(dataset);
    check_owner(ctx, dataset, "dataset").await?;
    if sms.exists(&secret).await.map_err(sms_error)? {
        return Err(CliError::new(
            "SECRET_EXISTS",
            format!("dataset {dataset} already has a key in the SMS"),
        ));
    }
    write(ctx, &sms, &secret, value.as_bytes(), false).await?;
    Ok(())
}

pub(crate) async fn check_dataset_secret(ctx: &Context, dataset: Address) -> CliResult {
    report_presence(
        ctx,
        &Secret::Dataset(dataset),
        "isSecretSet",
        &format!("secret exists for dataset {dataset}"),
        &format!("no secret for dataset {dataset}"),
    )
    .await
}

/// The default key file: `.secrets/datasets/dataset.key`, else the tutorial's folder.
pub(crate) fn default_dataset_key() -> PathBuf {
    let current = PathBuf::from(".secrets/datasets/dataset.key");
    if current.exists() {
        return current;
    }
    PathBuf::from(".tee-secrets/dataset/dataset.key")
}

/// Pushes a named secret (everything but dataset keys); `update` replaces it with the
/// next version.
pub(crate) async fn push_named(ctx: &Context, secret: Secret, value: &str, update: bool) -> Result<(), CliError> {
    if value.is_empty() {
        return Err(CliError::new("EMPTY_SECRET", "the secret is empty"));
    }
    let sms = sms(ctx)?;
    if let Secret::App(app) = &secret {
        check_owner(ctx, *app, "app").await?;
    }
    let exists_now = sms.exists(&secret).await.map_err(sms_error)?;
    if exists_now && !update {
        let hint = if matches!(secret, Secret::Web2 { .. }) {
            "pass --force-update to replace it"
        } else {
            "secrets are write-once"
        };
        return Err(CliError::new(
            "SECRET_EXISTS",
            format!("this secret already exists in the SMS: {hint}"),
        ));
    }
    write(ctx, &sms, &secret, value.as_bytes(), exists_now).await?;
    Ok(())
}

/// A secret from `--secret-value` or `--secret-path`, exactly one of them.
pub(crate) fn secret_value(value: Option<String>, path: Option<PathBuf>) -> Result<Zeroizing<String>, CliError> {
    match (value, path) {
        (Some(value), None) => Ok(Zeroizing::new(value)),
        (None, Some(path)) => read_secret_file(&path),
        _ => Err(CliError::new(
            "MISSING_SECRET",
            "give the secret with --secret-value or --secret-path (one of them)",
        )),
    }
}
