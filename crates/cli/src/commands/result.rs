//! `confide result generate-encryption-keypair | push-encryption-key | check-encryption-key | decrypt`.

use std::path::PathBuf;

use base64::Engine;
use clap::Subcommand;
use confide_chain::Address;
use serde_json::json;

use super::dataset::write_private;
use super::secret::{self, Named};
use crate::context::Context;
use crate::output::{CliError, CliResult};

/// The web2 secret name iExec's workers read the beneficiary's key from.
pub const RESULT_KEY_NAME: &str = "iexec-result-encryption-public-key";

#[derive(Subcommand, Debug)]
pub enum ResultCommand {
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

pub async fn run(command: ResultCommand, ctx: &Context) -> CliResult {
    match command {
        ResultCommand::GenerateEncryptionKeypair {
            beneficiary_keystoredir: dir,
            rsa,
            force,
        } => {
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
            std::fs::create_dir_all(&dir).map_err(|e| CliError::new("IO_ERROR", format!("{}: {e}", dir.display())))?;
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
            std::fs::write(&public_path, &public_text)
                .map_err(|e| CliError::new("IO_ERROR", format!("{}: {e}", public_path.display())))?;
            ctx.out.done(
                &format!(
                    "✔ key pair {} and {} generated; back up the private key, then run `confide result push-encryption-key`",
                    private_path.display(),
                    public_path.display()
                ),
                json!({ "secretPath": dir, "privateKeyFile": private_path, "publicKeyFile": public_path,
                    "format": if rsa { "rsa" } else { "age" } }),
            );
        }
        ResultCommand::PushEncryptionKey {
            secret_path,
            beneficiary_keystoredir,
            force_update,
        } => {
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
            secret::push_named(
                ctx,
                Named::Web2 {
                    name: RESULT_KEY_NAME.into(),
                },
                &value,
                force_update,
            )
            .await?;
            ctx.out.done(
                &format!("✔ result encryption key of {address} pushed to the SMS"),
                json!({ "isPushed": true }),
            );
        }
        ResultCommand::Decrypt {
            encrypted,
            output,
            key,
            beneficiary_keystoredir,
            force,
            extract,
        } => {
            decrypt(
                ctx,
                &encrypted,
                &output,
                key,
                &beneficiary_keystoredir,
                force,
                extract.as_deref(),
            )?;
        }
        ResultCommand::CheckEncryptionKey { address } => {
            let owner = match address {
                Some(owner) => owner,
                None => ctx.wallet.address()?,
            };
            let present = secret::check_named(
                ctx,
                &Named::Web2 {
                    name: RESULT_KEY_NAME.into(),
                },
                owner,
            )
            .await?;
            let text = if present {
                format!("✔ {owner} has a result encryption key")
            } else {
                format!("✖ no result encryption key for {owner}")
            };
            ctx.out.done(&text, json!({ "isEncryptionKeySet": present }));
        }
    }
    Ok(())
}

fn decrypt(
    ctx: &Context,
    encrypted: &std::path::Path,
    output: &std::path::Path,
    key: Option<PathBuf>,
    keystore_dir: &std::path::Path,
    force: bool,
    extract: Option<&std::path::Path>,
) -> CliResult {
    let key_path = match key {
        Some(path) => path,
        None => keystore_dir.join(format!("{}_key", ctx.wallet.address()?.to_checksum(None))),
    };
    let private = secret::read_secret_file(&key_path)?;
    if output.exists() && !force {
        return Err(CliError::new(
            "OUTPUT_EXISTS",
            format!("{} exists: pass --force to overwrite it", output.display()),
        ));
    }
    let partial = output.with_extension("partial");
    let mut file = std::fs::File::create(&partial)
        .map_err(|e| CliError::new("IO_ERROR", format!("{}: {e}", partial.display())))?;
    let outcome = confide_crypto::result::decrypt(encrypted, &private, &mut file);
    drop(file);
    let format = match outcome {
        Ok(format) => format,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            let code = match error {
                confide_crypto::result::ResultError::Decrypt => "DECRYPTION_FAILED",
                confide_crypto::result::ResultError::KeyMismatch { .. } => "KEY_MISMATCH",
                confide_crypto::result::ResultError::UnknownFormat => "NOT_AN_ENCRYPTED_RESULT",
                confide_crypto::result::ResultError::UnknownPrivateKey => "INVALID_KEY",
                _ => "DECRYPTION_FAILED",
            };
            return Err(CliError::new(code, format!("{}: {error}", encrypted.display())));
        }
    };
    std::fs::rename(&partial, output).map_err(|e| CliError::new("IO_ERROR", format!("{}: {e}", output.display())))?;
    let files = match extract {
        Some(dir) => unpack(output, dir)?,
        None => Vec::new(),
    };
    let mut text = format!(
        "✔ {} decrypted ({format}) into {}",
        encrypted.display(),
        output.display()
    );
    if let Some(dir) = extract {
        text.push_str(&format!("\n✔ {} file(s) unpacked into {}", files.len(), dir.display()));
    }
    ctx.out.done(
        &text,
        json!({ "resultPath": output, "format": format, "extracted": files }),
    );
    Ok(())
}

/// Unpacks the result archive into `dir`; names that would leave it are refused.
fn unpack(archive: &std::path::Path, dir: &std::path::Path) -> Result<Vec<PathBuf>, CliError> {
    let io = |e: std::io::Error| CliError::new("IO_ERROR", format!("{}: {e}", dir.display()));
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
