//! `confide result generate-encryption-keypair | push-encryption-key | check-encryption-key | decrypt`.

use std::io::Seek;
use std::path::{Path, PathBuf};

use base64::Engine;
use clap::Subcommand;
use confide_chain::{Address, B256, TaskStatus};
use confide_crypto::result::ResultError;
use serde_json::json;

use super::dataset::write_private;
use super::secret::{self, Secret};
use crate::context::Context;
use crate::output::{CliError, CliResult};

/// The web2 secret name iExec's workers read the beneficiary's key from.
pub(crate) const RESULT_KEY_NAME: &str = "iexec-result-encryption-public-key";

#[derive(Subcommand, Debug)]
pub(crate) enum ResultCommand {
    /// Generate the beneficiary's key pair for the wallet's address: an age X25519
    /// identity by default, RSA-4096 (iExec's format) with --rsa.
    #[command(alias = "generate-keys")]
    GenerateEncryptionKeypair {
        /// Folder for the key pair.
        #[arg(long, default_value = ".secrets/beneficiary")]
        beneficiary_keystoredir: PathBuf,
        /// Make an RSA-4096 key pair, as iExec's SDK does (results in iExec's layout).
        #[arg(long)]
        rsa: bool,
        /// Overwrite an existing private key.
        #[arg(long)]
        force: bool,
    },
    /// Decrypt a result downloaded for you (age, or iExec's RSA layout) into the plain
    /// archive of the app's /iexec_out.
    Decrypt {
        /// The encrypted result (default: encryptedResults.zip, as iExec's SDK).
        #[arg(default_value = "encryptedResults.zip")]
        encrypted: PathBuf,
        /// Where to write the archive.
        #[arg(long, short, default_value = "results.zip")]
        output: PathBuf,
        /// The private key file (default: <keystoredir>/<address>_key).
        #[arg(long)]
        key: Option<PathBuf>,
        #[arg(long, default_value = ".secrets/beneficiary")]
        beneficiary_keystoredir: PathBuf,
        /// Overwrite the output file.
        #[arg(long)]
        force: bool,
        /// Also unpack the archive's files into this folder.
        #[arg(long)]
        extract: Option<PathBuf>,
        /// The task the result is from: its digest is checked against the chain (default:
        /// the task the archive names, which must then be one whose beneficiary you are).
        #[arg(long)]
        task: Option<B256>,
        /// Keep a result that cannot be checked against the chain (it names no task, or
        /// its task has no result on chain): anyone can encrypt a file for your key.
        #[arg(long)]
        unchecked: bool,
    },
    /// Push the public key to the SMS so enclaves encrypt results for you.
    #[command(alias = "push-secret")]
    PushEncryptionKey {
        /// The public key PEM (default: <keystoredir>/<address>_key.pub).
        #[arg(long)]
        secret_path: Option<PathBuf>,
        #[arg(long, default_value = ".secrets/beneficiary")]
        beneficiary_keystoredir: PathBuf,
        /// Replace a key already pushed.
        #[arg(long)]
        force_update: bool,
    },
    /// Check whether an address has a result encryption key in the SMS.
    #[command(alias = "check-secret")]
    CheckEncryptionKey { address: Option<Address> },
}

pub(crate) async fn run(command: ResultCommand, ctx: &Context) -> CliResult {
    match command {
        ResultCommand::GenerateEncryptionKeypair {
            beneficiary_keystoredir,
            rsa,
            force,
        } => generate_keypair(ctx, &beneficiary_keystoredir, rsa, force),
        ResultCommand::PushEncryptionKey {
            secret_path,
            beneficiary_keystoredir,
            force_update,
        } => push_key(ctx, secret_path, &beneficiary_keystoredir, force_update).await,
        ResultCommand::Decrypt {
            encrypted,
            output,
            key,
            beneficiary_keystoredir,
            force,
            extract,
            task,
            unchecked,
        } => {
            let key_path = key_path(ctx, key, &beneficiary_keystoredir)?;
            let target = DecryptTarget {
                output: &output,
                force,
                extract: extract.as_deref(),
            };
            decrypt(ctx, &encrypted, &key_path, target, task, unchecked).await
        }
        ResultCommand::CheckEncryptionKey { address } => check_key(ctx, address).await,
    }
}

/// `result generate-encryption-keypair`: an age key pair (RSA with `--rsa`) in `dir`,
/// named after the wallet as iExec's SDK names it; never replaced without `force`.
fn generate_keypair(ctx: &Context, dir: &Path, rsa: bool, force: bool) -> CliResult {
    let address = ctx.wallet.address()?.to_checksum(None);
    let private_path = dir.join(format!("{address}_key"));
    let public_path = dir.join(format!("{address}_key.pub"));
    if private_path.exists() && !force {
        return Err(CliError::new(
            "KEY_EXISTS",
            format!(
                "{} exists: pass --force to replace it (results encrypted for it become unreadable)",
                private_path.display()
            ),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| CliError::io(dir, e))?;
    let (private_text, public_text) = if rsa {
        ctx.out.step("generating an RSA-4096 key pair");
        confide_crypto::result_keys::generate_rsa(confide_crypto::result_keys::RSA_BITS)
            .map_err(|e| CliError::new("KEYGEN_FAILED", e.to_string()))?
    } else {
        let (secret, public) = confide_crypto::result::generate_age();
        (
            zeroize::Zeroizing::new(format!("{}\n", secret.as_str())),
            format!("{public}\n"),
        )
    };
    write_private(&private_path, private_text.as_bytes())?;
    std::fs::write(&public_path, &public_text).map_err(|e| CliError::io(&public_path, e))?;
    ctx.out.done(
        &format!(
            "✔ key pair {} and {} generated; back up the private key, then run `confide result push-encryption-key`",
            private_path.display(),
            public_path.display()
        ),
        json!({ "secretPath": dir, "privateKeyFile": private_path, "publicKeyFile": public_path,
            "format": if rsa { "rsa" } else { "age" } }),
    );
    Ok(())
}

/// `result push-encryption-key`: the public key (age, or PEM as iExec's SDK sends it) to
/// the SMS as the wallet's result key.
async fn push_key(
    ctx: &Context,
    secret_path: Option<PathBuf>,
    beneficiary_keystoredir: &Path,
    force_update: bool,
) -> CliResult {
    let address = ctx.wallet.address()?.to_checksum(None);
    let path = secret_path.unwrap_or_else(|| beneficiary_keystoredir.join(format!("{address}_key.pub")));
    let text = secret::read_secret_file(&path)?;
    let value = if text.trim().starts_with("age1") {
        text.trim().to_owned()
    } else if text.starts_with("-----BEGIN PUBLIC KEY-----") {
        // iExec's SDK sends the PEM base64-encoded; workers decode it.
        base64::engine::general_purpose::STANDARD.encode(format!("{}\n", text.as_str()))
    } else {
        return Err(CliError::new(
            "INVALID_KEY",
            format!(
                "{} is neither an age public key (age1…) nor a PEM public key",
                path.display()
            ),
        ));
    };
    confide_crypto::result::ResultPublicKey::parse(&value)
        .map_err(|e| CliError::new("INVALID_KEY", format!("{}: {e}", path.display())))?;
    let key = Secret::Web2 {
        owner: ctx.wallet.address()?,
        name: RESULT_KEY_NAME.into(),
    };
    secret::push_named(ctx, key, &value, force_update).await?;
    ctx.out.done(
        &format!("✔ result encryption key of {address} pushed to the SMS"),
        json!({ "isPushed": true }),
    );
    Ok(())
}

/// `result check-encryption-key`: whether the SMS holds a result key for `address` (the
/// wallet's by default).
async fn check_key(ctx: &Context, address: Option<Address>) -> CliResult {
    let owner = match address {
        Some(owner) => owner,
        None => ctx.wallet.address()?,
    };
    let key = Secret::Web2 {
        owner,
        name: RESULT_KEY_NAME.into(),
    };
    secret::report_presence(
        ctx,
        &key,
        "isEncryptionKeySet",
        &format!("{owner} has a result encryption key"),
        &format!("no result encryption key for {owner}"),
    )
    .await
}

/// The beneficiary's private key file: `key`, else `<keystore dir>/<wallet address>_key`.
pub(crate) fn key_path(ctx: &Context, key: Option<PathBuf>, keystore_dir: &Path) -> Result<PathBuf, CliError> {
    match key {
        Some(path) => Ok(path),
        None => Ok(keystore_dir.join(format!("{}_key", ctx.wallet.address()?.to_checksum(None)))),
    }
}

/// Where `result decrypt` writes the plain archive.
struct DecryptTarget<'a> {
    output: &'a Path,
    force: bool,
    extract: Option<&'a Path>,
}

async fn decrypt(
    ctx: &Context,
    encrypted: &Path,
    key_path: &Path,
    target: DecryptTarget<'_>,
    task: Option<B256>,
    unchecked: bool,
) -> CliResult {
    let DecryptTarget { output, force, extract } = target;
    let private = secret::read_secret_file(key_path)?;
    if output.exists() && !force {
        return Err(CliError::new(
            "OUTPUT_EXISTS",
            format!("{} exists: pass --force to overwrite it", output.display()),
        ));
    }
    let partial = output.with_extension("partial");
    let mut file = std::fs::File::create(&partial).map_err(|e| CliError::io(&partial, e))?;
    let outcome = confide_crypto::result::decrypt(encrypted, &private, &mut file);
    drop(file);
    let format = match outcome {
        Ok(format) => format,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(decrypt_error(encrypted, error));
        }
    };
    // A result that does not match the chain is refused before it is unpacked or named
    // as the output: anyone can encrypt a file for the beneficiary's public key.
    let check = match std::fs::File::open(&partial) {
        Ok(plain) => match check_digest(ctx, None, plain, task).await {
            Ok(check) => vouched_for(ctx, check, task.is_some(), unchecked).await,
            Err(error) => Err(error),
        },
        Err(e) => Err(CliError::io(&partial, e)),
    };
    let check = match check {
        Ok(check) => check,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
    };
    std::fs::rename(&partial, output).map_err(|e| CliError::io(output, e))?;
    let files = match extract {
        Some(dir) => unpack(output, dir)?,
        None => Vec::new(),
    };
    let mut text = format!(
        "✔ {} decrypted ({format}) into {}",
        encrypted.display(),
        output.display()
    );
    text.push_str(&format!("\n{}", check.line()));
    if let Some(dir) = extract {
        text.push_str(&format!("\n✔ {} file(s) unpacked into {}", files.len(), dir.display()));
    }
    ctx.out.done(
        &text,
        json!({ "resultPath": output, "format": format, "extracted": files, "digestCheck": check.fields() }),
    );
    Ok(())
}

/// A checked result is kept only when the chain vouches for it for this wallet: the task
/// the caller named, or the one the archive names whose deal's beneficiary is this wallet
/// (a genuine result of someone else's task, re-encrypted for us, is not ours). A result
/// nothing vouches for is kept only with `--unchecked`.
async fn vouched_for(ctx: &Context, check: DigestCheck, named: bool, unchecked: bool) -> Result<DigestCheck, CliError> {
    match &check {
        DigestCheck::NotChecked(why) if !unchecked => Err(CliError::new(
            "RESULT_UNCHECKED",
            format!(
                "this result cannot be checked against the chain ({why}): anyone can encrypt a file for your key; pass --task TASK, or --unchecked to keep it anyway"
            ),
        )),
        DigestCheck::Matches { task, .. } if !named => {
            let Ok(wallet) = ctx.wallet.address() else {
                return Ok(check);
            };
            let poco = ctx.poco().await?;
            let deal = poco.deal(poco.task(*task).await?.deal_id).await?;
            if deal.beneficiary != wallet {
                return Err(CliError::new(
                    "NOT_YOUR_RESULT",
                    format!(
                        "this is task {task}'s result, whose beneficiary is {}, not this wallet ({wallet}): pass --task TASK if you expected it",
                        deal.beneficiary
                    ),
                ));
            }
            Ok(check)
        }
        _ => Ok(check),
    }
}

fn decrypt_error(encrypted: &Path, error: ResultError) -> CliError {
    let code = match error {
        ResultError::Decrypt => "DECRYPTION_FAILED",
        ResultError::KeyMismatch { .. } => "KEY_MISMATCH",
        ResultError::UnknownFormat => "NOT_AN_ENCRYPTED_RESULT",
        ResultError::UnknownPrivateKey => "INVALID_KEY",
        _ => "DECRYPTION_FAILED",
    };
    CliError::new(code, format!("{}: {error}", encrypted.display()))
}

/// Decrypts an encrypted result into an anonymous temporary file (unlinked from the
/// start, so no clear text is left behind whatever happens), rewound for reading.
pub(crate) fn decrypt_to_temporary(encrypted: &Path, key_path: &Path) -> Result<std::fs::File, CliError> {
    let private = secret::read_secret_file(key_path)?;
    let mut plain = tempfile::tempfile().map_err(|e| CliError::new("IO_ERROR", e.to_string()))?;
    confide_crypto::result::decrypt(encrypted, &private, &mut plain).map_err(|e| decrypt_error(encrypted, e))?;
    plain.rewind().map_err(|e| CliError::new("IO_ERROR", e.to_string()))?;
    Ok(plain)
}

/// What comparing a decrypted result with the chain found.
pub(crate) enum DigestCheck {
    /// The recomputed digest is the task's on-chain `resultDigest`.
    Matches { task: B256, digest: B256 },
    /// Not compared, and why (no task named, no result on chain yet, no key here).
    NotChecked(String),
}

impl DigestCheck {
    pub(crate) fn line(&self) -> String {
        match self {
            DigestCheck::Matches { task, .. } => format!("✔ result digest matches the chain (task {task})"),
            DigestCheck::NotChecked(why) => {
                format!("⚠ not checked against the chain ({why}): `confide result decrypt FILE --task TASK` checks it")
            }
        }
    }

    pub(crate) fn fields(&self) -> serde_json::Value {
        match self {
            DigestCheck::Matches { task, digest } => json!({ "matches": true, "taskId": task, "resultDigest": digest }),
            DigestCheck::NotChecked(why) => json!({ "matches": null, "reason": why }),
        }
    }
}

/// Recomputes the result digest of a plain result archive and compares it with the
/// task's on-chain `resultDigest` (task: `task`, else the one the archive names).
/// A mismatch is `RESULT_DIGEST_MISMATCH`.
/// `poco`: a client already connected, else one is made (only when there is a task to
/// read: a command that downloads many results reuses its own).
pub(crate) async fn check_digest(
    ctx: &Context,
    poco: Option<&confide_chain::Poco>,
    plain: impl std::io::Read + std::io::Seek,
    task: Option<B256>,
) -> Result<DigestCheck, CliError> {
    let recomputed = confide_crypto::result::archive_digest(plain);
    let named = task.is_some();
    let Some(task) = task.or_else(|| recomputed.as_ref().ok().and_then(|r| r.task_id)) else {
        return Ok(DigestCheck::NotChecked("the archive names no task".into()));
    };
    let recomputed = recomputed.map_err(|e| {
        CliError::new(
            "RESULT_UNVERIFIABLE",
            format!("the result's digest cannot be recomputed, so it cannot be checked against task {task}: {e}"),
        )
    })?;
    let info = match poco {
        Some(poco) => poco.task(task).await?,
        None => ctx.poco().await?.task(task).await?,
    };
    if info.status != TaskStatus::Completed && !named {
        // Only a warning: the caller did not ask for this task, the archive did.
        return Ok(DigestCheck::NotChecked(format!(
            "task {task}, which the archive names, has no result on chain"
        )));
    }
    if info.status != TaskStatus::Completed {
        return Err(CliError::new(
            "TASK_NOT_COMPLETED",
            format!("task {task} is not completed on chain: no result digest to check this result against"),
        ));
    }
    if info.result_digest != recomputed.digest {
        return Err(CliError::new(
            "RESULT_DIGEST_MISMATCH",
            format!(
                "this result is not task {task}'s: its digest is {}, the chain's is {} (the file was forged or altered; it was not kept)",
                recomputed.digest, info.result_digest
            ),
        ));
    }
    Ok(DigestCheck::Matches {
        task,
        digest: recomputed.digest,
    })
}

/// Unpacks the result archive into `dir`; names that would leave it are refused.
pub(crate) fn unpack(archive: &Path, dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let io = |e: std::io::Error| CliError::io(dir, e);
    let file = std::fs::File::open(archive).map_err(io)?;
    let mut zip =
        zip::ZipArchive::new(file).map_err(|e| CliError::new("NOT_A_ZIP", format!("{}: {e}", archive.display())))?;
    let mut written = Vec::new();
    for index in 0..zip.len() {
        let mut entry = zip
            .by_index(index)
            .map_err(|e| CliError::new("NOT_A_ZIP", e.to_string()))?;
        let name = entry
            .enclosed_name()
            .ok_or_else(|| CliError::new("UNSAFE_ARCHIVE", "the archive names a file outside its folder"))?;
        let target = dir.join(name);
        if entry.is_dir() {
            std::fs::create_dir_all(&target).map_err(io)?;
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut out = std::fs::File::create(&target).map_err(io)?;
        std::io::copy(&mut entry, &mut out).map_err(io)?;
        written.push(target);
    }
    Ok(written)
}
