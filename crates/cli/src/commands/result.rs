//! `confide result generate-encryption-keypair | push-encryption-key | check-encryption-key`.

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
    /// Generate the beneficiary's RSA-4096 key pair (iExec's format) for the wallet's address.
    #[command(alias = "generate-keys")]
    GenerateEncryptionKeypair {
        /// Folder for the key pair.
        #[arg(long, default_value = ".secrets/beneficiary")]
        beneficiary_keystoredir: PathBuf,
        /// Overwrite an existing private key.
        #[arg(long)]
        force: bool,
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
            ctx.out.step("generating an RSA-4096 key pair");
            let (private_pem, public_pem) =
                confide_crypto::result_keys::generate_rsa(confide_crypto::result_keys::RSA_BITS)
                    .map_err(|e| CliError::new("KEYGEN_FAILED", e.to_string()))?;
            write_private(&private_path, private_pem.as_bytes())?;
            std::fs::write(&public_path, &public_pem)
                .map_err(|e| CliError::new("IO_ERROR", format!("{}: {e}", public_path.display())))?;
            ctx.out.done(
                &format!(
                    "✔ key pair {} and {} generated; back up the private key, then run `confide result push-encryption-key`",
                    private_path.display(),
                    public_path.display()
                ),
                json!({ "secretPath": dir, "privateKeyFile": private_path, "publicKeyFile": public_path }),
            );
        }
        ResultCommand::PushEncryptionKey {
            secret_path,
            beneficiary_keystoredir,
            force_update,
        } => {
            let address = ctx.wallet.address()?.to_checksum(None);
            let path = secret_path.unwrap_or_else(|| beneficiary_keystoredir.join(format!("{address}_key.pub")));
            let pem = secret::read_secret_file(&path)?;
            if !pem.starts_with("-----BEGIN PUBLIC KEY-----") {
                return Err(CliError::new(
                    "INVALID_KEY",
                    format!("{} is not a PEM public key", path.display()),
                ));
            }
            // iExec's SDK sends the PEM base64-encoded; workers decode it.
            let value = base64::engine::general_purpose::STANDARD.encode(format!("{}\n", pem.as_str()));
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
