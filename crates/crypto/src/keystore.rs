//! Ethereum keystore v3 files (scrypt), named and laid out as geth and iExec's SDK do
//! (`UTC--<time>--<address>`), so wallets move between Confide, iExec's SDK and geth.

use std::path::{Path, PathBuf};

use alloy_primitives::Address;
use alloy_signer_local::PrivateKeySigner;

/// What writing, opening or finding a keystore can fail at. No message carries the
/// password or the key.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// The folder could not be made, or the key not encrypted or written into it.
    #[error("cannot write the keystore in {dir}: {reason}")]
    Write {
        /// The keystore folder.
        dir: PathBuf,
        /// The file system's or the keystore library's error.
        reason: String,
    },
    /// The file is unreadable, is not a keystore v3 whose costs and lengths are within
    /// bounds, or the password is wrong: one error for all, so a bad file says nothing of
    /// the password.
    #[error("cannot open wallet {path}: wrong password or not a keystore file")]
    Decrypt {
        /// The keystore file.
        path: PathBuf,
    },
    /// No file in the folder has a name ending in the address, as geth and iExec's SDK
    /// name keystores.
    #[error("no wallet for {address} in {dir}")]
    NotFound {
        /// The wallet looked for.
        address: Address,
        /// The folder searched.
        dir: PathBuf,
    },
    /// The keystore folder could not be listed.
    #[error("cannot read {dir}: {reason}")]
    Read {
        /// The keystore folder.
        dir: PathBuf,
        /// The operating system's error.
        reason: String,
    },
}

/// The file name geth and iExec's SDK give a keystore: `UTC--<ISO time>--<address>`.
pub fn file_name(address: Address, unix_seconds: u64) -> String {
    let (days, rem) = (unix_seconds / 86_400, unix_seconds % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "UTC--{y:04}-{m:02}-{d:02}T{:02}-{:02}-{:02}.000000000Z--{}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        alloy_primitives::hex::encode(address.as_slice())
    )
}

/// Days since 1970-01-01 to a (year, month, day) date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Encrypts `signer`'s key with `password` into `dir`; returns the file's path.
pub fn write(dir: &Path, signer: &PrivateKeySigner, password: &str) -> Result<PathBuf, KeystoreError> {
    let fail = |reason: String| KeystoreError::Write {
        dir: dir.to_owned(),
        reason,
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let name = file_name(signer.address(), now);
    let key = signer.to_bytes();
    eth_keystore::encrypt_key(dir, &mut rand::thread_rng(), key.as_slice(), password, Some(&name))
        .map_err(|e| fail(e.to_string()))?;
    Ok(dir.join(name))
}

/// Decrypts the keystore at `path`.
pub fn read(path: &Path, password: &str) -> Result<PrivateKeySigner, KeystoreError> {
    let decrypt = || KeystoreError::Decrypt { path: path.to_owned() };
    // The file may come from anywhere: eth-keystore trusts its parameters (a key shorter
    // than 32 bytes or an IV shorter than 16 panics it, a scrypt cost of 2^40 or a
    // billion PBKDF2 rounds exhausts the machine), so they are checked first.
    let text = std::fs::read(path).map_err(|_| decrypt())?;
    if !plausible(&text) {
        return Err(decrypt());
    }
    let key = eth_keystore::decrypt_key(path, password).map_err(|_| decrypt())?;
    PrivateKeySigner::from_slice(&key).map_err(|_| decrypt())
}

/// The largest keystore file read (geth's are about 500 bytes).
const MAX_KEYSTORE_BYTES: usize = 64 << 10;
/// The costliest key derivations accepted: geth's "standard" scrypt (n = 2^18, r = 8,
/// p = 1, 256 MiB) with room for p up to 4, and PBKDF2 up to 2^22 rounds.
const MAX_SCRYPT_N: u64 = 1 << 18;
const MAX_SCRYPT_R: u64 = 8;
const MAX_SCRYPT_P: u64 = 4;
const MAX_PBKDF2_ROUNDS: u64 = 1 << 22;

/// Whether a keystore's shape and costs are ones eth-keystore can decrypt safely: a
/// 32-byte derived key, a 16-byte IV, a 32-byte private key and MAC, bounded KDF costs.
fn plausible(text: &[u8]) -> bool {
    if text.len() > MAX_KEYSTORE_BYTES {
        return false;
    }
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(text) else {
        return false;
    };
    let Some(crypto) = json.get("crypto") else {
        // eth-keystore reads `crypto` only; geth's old `Crypto` is refused by it anyway.
        return false;
    };
    let hex_len = |value: &serde_json::Value| {
        value
            .as_str()
            .map(|h| h.trim_start_matches("0x"))
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(|h| h.len() / 2)
    };
    let params = &crypto["kdfparams"];
    let number = |name: &str| params[name].as_u64();
    let kdf_ok = match crypto["kdf"].as_str() {
        Some("scrypt") => match (number("n"), number("r"), number("p")) {
            (Some(n), Some(r), Some(p)) => {
                n.is_power_of_two()
                    && n > 1
                    && n <= MAX_SCRYPT_N
                    && (1..=MAX_SCRYPT_R).contains(&r)
                    && (1..=MAX_SCRYPT_P).contains(&p)
            }
            _ => false,
        },
        Some("pbkdf2") => number("c").is_some_and(|c| (1..=MAX_PBKDF2_ROUNDS).contains(&c)),
        _ => false,
    };
    kdf_ok
        && number("dklen") == Some(32)
        && hex_len(&crypto["cipherparams"]["iv"]) == Some(16)
        && hex_len(&crypto["ciphertext"]) == Some(32)
        && hex_len(&crypto["mac"]) == Some(32)
}

/// The address a keystore file belongs to, read from its `address` field (geth, iExec) or
/// its file name; `None` when the file is not a keystore.
pub fn address_of(path: &Path) -> Option<Address> {
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json.get("crypto").or_else(|| json.get("Crypto"))?;
    if let Some(address) = json.get("address").and_then(|a| a.as_str()) {
        let hex = address.trim_start_matches("0x");
        return format!("0x{hex}").parse().ok();
    }
    let name = path.file_name()?.to_str()?;
    let hex = name.rsplit("--").next()?;
    format!("0x{hex}").parse().ok()
}

/// Finds the keystore of `address` in `dir`, by file name as geth and iExec name them.
pub fn find(dir: &Path, address: Address) -> Result<PathBuf, KeystoreError> {
    let suffix = alloy_primitives::hex::encode(address.as_slice());
    let entries = std::fs::read_dir(dir).map_err(|e| KeystoreError::Read {
        dir: dir.to_owned(),
        reason: e.to_string(),
    })?;
    entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.to_ascii_lowercase().ends_with(&suffix))
        })
        .ok_or_else(|| KeystoreError::NotFound {
            address,
            dir: dir.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_follow_geth() {
        let address: Address = "0x9A07Ea49a32C1E69eD7B6dFe1aa1C19181465C52".parse().unwrap();
        // 2019-05-28T16:00:29Z, the tutorial's wallet.
        assert_eq!(
            file_name(address, 1_559_059_229),
            "UTC--2019-05-28T16-00-29.000000000Z--9a07ea49a32c1e69ed7b6dfe1aa1c19181465c52"
        );
    }

    #[test]
    fn a_written_wallet_reads_back_only_with_its_password() {
        let dir = tempfile::tempdir().unwrap();
        let signer = PrivateKeySigner::random();
        let path = write(dir.path(), &signer, "correct horse").unwrap();
        assert_eq!(find(dir.path(), signer.address()).unwrap(), path);
        assert_eq!(address_of(&path), Some(signer.address()));
        assert_eq!(read(&path, "correct horse").unwrap().address(), signer.address());
        let error = read(&path, "wrong").unwrap_err().to_string();
        assert!(error.contains("wrong password"), "{error}");
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(json["version"], 3);
        assert_eq!(json["crypto"]["kdf"], "scrypt");
    }
}
