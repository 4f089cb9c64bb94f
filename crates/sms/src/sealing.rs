//! Sealing at rest: every value the SMS stores (secrets, enclave-challenge keys) is sealed
//! with AES-256-GCM under the master key, with the caller's associated data (the row's
//! identity, so a sealed value moved to another row does not open). The key itself is
//! never written to the database: rows name it by an 8-byte id.
//!
//! Must never: reuse a nonce (each seal draws 12 random bytes), or open a value sealed
//! under another key (refused by its id before any decryption).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::SmsError;

/// The master key, ready to seal and open.
pub(crate) struct MasterKey {
    cipher: Aes256Gcm,
    /// The key's public name: hex of the first 8 bytes of its sha256.
    pub(crate) id: String,
}

impl MasterKey {
    /// Reads the key file, or creates it (32 random bytes, mode 0600) on first start.
    pub(crate) fn load_or_create(path: &Path) -> Result<MasterKey, SmsError> {
        let storage = |e: std::io::Error| SmsError::Storage(format!("master key {}: {e}", path.display()));
        let key = if path.exists() {
            Zeroizing::new(std::fs::read(path).map_err(storage)?)
        } else {
            let mut key = Zeroizing::new(vec![0u8; 32]);
            rand::rngs::OsRng.fill_bytes(&mut key);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(storage)?;
            }
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(storage)?;
            file.write_all(&key).and_then(|()| file.sync_all()).map_err(storage)?;
            key
        };
        if key.len() != 32 {
            return Err(SmsError::Storage(format!(
                "master key {} must hold 32 bytes",
                path.display()
            )));
        }
        Ok(MasterKey::from_bytes(&key))
    }

    pub(crate) fn from_bytes(key: &[u8]) -> MasterKey {
        let id = alloy_hex(&Sha256::digest(key)[..8]);
        let cipher = Aes256Gcm::new_from_slice(key).expect("32-byte key");
        MasterKey { cipher, id }
    }

    /// `value` sealed with `aad`: its nonce and ciphertext, base64 (the columns' form).
    pub(crate) fn seal(&self, aad: &[u8], value: &[u8]) -> Result<(String, String), SmsError> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: value, aad })
            .map_err(|_| SmsError::Storage("sealing failed".into()))?;
        Ok((BASE64.encode(nonce), BASE64.encode(sealed)))
    }

    /// Opens what [`MasterKey::seal`] sealed with `aad` under the key named `key_id`.
    pub(crate) fn open(
        &self,
        aad: &[u8],
        key_id: &str,
        nonce: &str,
        sealed: &str,
    ) -> Result<Zeroizing<Vec<u8>>, SmsError> {
        if key_id != self.id {
            return Err(SmsError::Storage(format!(
                "sealed under master key {key_id}, which this SMS does not hold"
            )));
        }
        let corrupt = |_| SmsError::Storage("corrupt sealed value".into());
        let nonce: [u8; 12] = BASE64
            .decode(nonce)
            .map_err(corrupt)?
            .try_into()
            .map_err(|_| SmsError::Storage("corrupt nonce".into()))?;
        let sealed = BASE64.decode(sealed).map_err(corrupt)?;
        self.cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: &sealed, aad })
            .map(Zeroizing::new)
            .map_err(|_| SmsError::Storage("a sealed value failed its integrity check".into()))
    }
}

/// Where the SMS's master key comes from. Replicas sharing a database must share the key:
/// give each the same file or the same `CONFIDE_SMS_MASTER_KEY`; the key itself is never
/// written to the database (only its 8-byte id, which every sealed row already names).
pub enum MasterKeySource<'a> {
    /// A 32-byte key file, created (mode 0600) if missing.
    File(&'a Path),
    /// The key itself (from the environment, 64 hex digits).
    Bytes(Zeroizing<[u8; 32]>),
}

impl MasterKeySource<'_> {
    /// Reads a key given as 64 hex digits.
    pub fn from_hex(text: &str) -> Result<MasterKeySource<'static>, SmsError> {
        let mut key = Zeroizing::new([0u8; 32]);
        let text = text.trim();
        let text = text.strip_prefix("0x").unwrap_or(text);
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(SmsError::Storage(
                "the master key must be 64 hex digits (32 bytes)".into(),
            ));
        }
        for (index, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * index..2 * index + 2], 16).expect("checked hex");
        }
        Ok(MasterKeySource::Bytes(key))
    }
}

fn alloy_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
