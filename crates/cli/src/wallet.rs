//! Which wallet signs: `--wallet-file`, `--wallet-address`, or the only keystore of the
//! keystore directory (`--keystoredir`, default `~/.ethereum/keystore` as iExec's SDK and
//! geth use). The password comes from `--password`, `CONFIDE_WALLET_PASSWORD`, or a prompt.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use confide_chain::{Address, PrivateKeySigner};
use confide_crypto::keystore::{self, KeystoreError};

use crate::output::CliError;

#[derive(Args, Clone, Debug, Default)]
pub(crate) struct WalletArgs {
    /// Keystore directory (geth and iExec layout).
    #[arg(long, env = "CONFIDE_KEYSTORE_DIR", global = true)]
    pub keystoredir: Option<PathBuf>,
    /// Keystore file: a path, or a file name inside the keystore directory.
    #[arg(long, env = "CONFIDE_WALLET_FILE", global = true)]
    pub wallet_file: Option<PathBuf>,
    /// Use the keystore of this address in the keystore directory.
    #[arg(long, env = "CONFIDE_WALLET_ADDRESS", global = true)]
    pub wallet_address: Option<Address>,
    /// Wallet password (prefer the CONFIDE_WALLET_PASSWORD variable or the prompt).
    #[arg(long, env = "CONFIDE_WALLET_PASSWORD", hide_env_values = true, global = true)]
    pub password: Option<String>,
}

impl From<KeystoreError> for CliError {
    fn from(error: KeystoreError) -> Self {
        let code = match error {
            KeystoreError::Decrypt { .. } => "WRONG_PASSWORD",
            KeystoreError::NotFound { .. } => "WALLET_NOT_FOUND",
            _ => "KEYSTORE_ERROR",
        };
        CliError::new(code, error.to_string())
    }
}

impl WalletArgs {
    pub(crate) fn keystore_dir(&self) -> PathBuf {
        if let Some(dir) = &self.keystoredir {
            return dir.clone();
        }
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        home.join(".ethereum/keystore")
    }

    /// The keystore file this command would use.
    pub(crate) fn wallet_path(&self) -> Result<PathBuf, CliError> {
        let dir = self.keystore_dir();
        if let Some(file) = &self.wallet_file {
            let path = if file.components().count() == 1 && !file.exists() {
                dir.join(file)
            } else {
                file.clone()
            };
            if !path.exists() {
                return Err(CliError::new(
                    "WALLET_NOT_FOUND",
                    format!("wallet file {} does not exist", path.display()),
                ));
            }
            return Ok(path);
        }
        if let Some(address) = self.wallet_address {
            return Ok(keystore::find(&dir, address)?);
        }
        let wallets = list(&dir);
        match wallets.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(CliError::new(
                "NO_WALLET",
                format!(
                    "no wallet in {}: create one with `confide wallet create`, or pass --keystoredir",
                    dir.display()
                ),
            )),
            _ => Err(CliError::new(
                "SEVERAL_WALLETS",
                format!(
                    "{} wallets in {}: choose one with --wallet-address",
                    wallets.len(),
                    dir.display()
                ),
            )),
        }
    }

    pub(crate) fn password(&self, purpose: &str) -> Result<String, CliError> {
        if let Some(password) = &self.password {
            return Ok(password.clone());
        }
        if !std::io::stdin().is_terminal() {
            return Err(CliError::new(
                "PASSWORD_REQUIRED",
                format!("a password is needed to {purpose}: pass --password or set CONFIDE_WALLET_PASSWORD"),
            ));
        }
        rpassword::prompt_password(format!("Password to {purpose}: "))
            .map_err(|e| CliError::new("PASSWORD_REQUIRED", format!("cannot read the password: {e}")))
    }

    /// Unlocks the wallet.
    pub(crate) fn signer(&self) -> Result<PrivateKeySigner, CliError> {
        let path = self.wallet_path()?;
        let password = self.password("unlock your wallet")?;
        Ok(keystore::read(&path, &password)?)
    }

    /// The wallet unlocked when that needs no prompt (a password was given), for reads
    /// that are nicer signed but not worth asking for a password.
    pub(crate) fn signer_without_prompt(&self) -> Option<PrivateKeySigner> {
        self.password.as_ref()?;
        self.signer().ok()
    }

    /// The wallet's address without unlocking it (from the file name or its `address` field).
    pub(crate) fn address(&self) -> Result<Address, CliError> {
        let path = self.wallet_path()?;
        keystore::address_of(&path)
            .ok_or_else(|| CliError::new("KEYSTORE_ERROR", format!("{} is not a keystore file", path.display())))
    }
}

/// Keystore files in `dir`, sorted by name.
pub(crate) fn list(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && keystore::address_of(p).is_some())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}
