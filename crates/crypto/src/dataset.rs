//! Dataset encryption in iExec's current format, `IV(16) ‖ AES-256-CBC-PKCS7(plaintext)`
//! with a fresh random 32-byte key per file (stored base64), and the checksum PoCo records:
//! `0x` + sha256 of the whole encrypted file. Decryption also reads the tutorial-era
//! OpenSSL format (`Salted__ ‖ salt(8) ‖ AES-256-CBC`, key and IV from PBKDF2-HMAC-SHA256
//! with 10,000 iterations).
//!
//! Everything streams: memory stays constant whatever the file size. Encryption and
//! hashing run on two threads, so the checksum costs no extra pass and little time.

use std::io::{Read, Write};
use std::sync::mpsc;

use aes::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
use alloy_primitives::B256;
use base64::Engine;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::cbc_ni::CbcEncryptor;

type Decryptor = cbc::Decryptor<aes::Aes256>;

/// Bytes read, encrypted and handed to the hashing thread at a time.
const CHUNK: usize = 1 << 20;
const BLOCK: usize = 16;
const OPENSSL_MAGIC: &[u8; 8] = b"Salted__";
const OPENSSL_PBKDF2_ITERATIONS: u32 = 10_000;

/// What encrypting, decrypting or hashing a dataset can fail at. No message carries key
/// material.
#[derive(Debug, thiserror::Error)]
pub enum DatasetCryptoError {
    /// The input could not be read.
    #[error("reading failed: {0}")]
    Read(std::io::Error),
    /// The output could not be written (a full disk, a closed pipe).
    #[error("writing failed: {0}")]
    Write(std::io::Error),
    /// The key text is not base64 of exactly 32 bytes (for the OpenSSL format: the
    /// password is not base64).
    #[error("the dataset key is not valid: expected base64 of 32 bytes")]
    InvalidKey,
    /// The input ends before its 16-byte header (the IV, or `Salted__` and its salt).
    #[error("the file is not an encrypted dataset: it is shorter than one block")]
    TooShort,
    /// The ciphertext is not whole blocks or its PKCS#7 padding is wrong: a wrong key, or
    /// a corrupt or truncated file. CBC cannot always tell a wrong key from garbage.
    #[error("decryption failed: wrong key, or the file is corrupt or truncated")]
    BadPadding,
}

/// A dataset key: 32 random bytes, wiped from memory when dropped.
pub struct DatasetKey(Zeroizing<[u8; 32]>);

impl DatasetKey {
    /// A fresh key from the operating system's random generator.
    pub fn generate() -> DatasetKey {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, key.as_mut());
        DatasetKey(key)
    }

    /// The form iExec stores and pushes: standard base64, no newline.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.0.as_ref()))
    }

    /// Reads a key file's content (surrounding whitespace ignored).
    pub fn from_base64(text: &str) -> Result<DatasetKey, DatasetCryptoError> {
        let mut bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| DatasetCryptoError::InvalidKey)?;
        let result = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| DatasetCryptoError::InvalidKey);
        bytes.zeroize();
        Ok(DatasetKey(Zeroizing::new(result?)))
    }
}

/// What an encryption produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encrypted {
    /// sha256 of every byte written (IV included): the dataset's on-chain checksum.
    pub checksum: B256,
    /// The encrypted file's length in bytes: IV, ciphertext and padding.
    pub bytes_written: u64,
}

/// Encrypts `input` into `output` with a random IV, reporting plaintext bytes read to
/// `progress`. Reading, encrypting, and hashing with writing overlap on three threads.
pub fn encrypt(
    key: &DatasetKey,
    input: impl Read + Send,
    output: impl Write + Send,
    progress: impl FnMut(u64),
) -> Result<Encrypted, DatasetCryptoError> {
    let mut iv = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut iv);
    encrypt_with_iv(key, iv, input, output, progress)
}

fn encrypt_with_iv(
    key: &DatasetKey,
    iv: [u8; 16],
    input: impl Read + Send,
    output: impl Write + Send,
    mut progress: impl FnMut(u64),
) -> Result<Encrypted, DatasetCryptoError> {
    let mut cipher = CbcEncryptor::new(&key.0, &iv);
    // Three stages, each on its own thread: read plaintext chunks, encrypt them (this
    // thread: CBC is serial, so it is the critical path), hash and write the ciphertext.
    // Buffers circulate reader -> encryptor -> writer -> reader; every chunk but the last is
    // exactly CHUNK bytes, a whole number of blocks. Plaintext exists only in these buffers.
    const BUFFERS: usize = 4;
    let (to_encryptor, plaintext) = mpsc::sync_channel::<std::io::Result<Vec<u8>>>(BUFFERS);
    let (to_writer, ciphertext) = mpsc::sync_channel::<Vec<u8>>(BUFFERS);
    let (to_reader, free) = mpsc::sync_channel::<Vec<u8>>(BUFFERS);
    for _ in 0..BUFFERS {
        to_reader
            .send(Vec::with_capacity(CHUNK + BLOCK))
            .expect("room for every buffer");
    }

    std::thread::scope(|scope| {
        scope.spawn(move || read_chunks(input, free, to_encryptor));
        let writer = scope.spawn(move || hash_and_write(output, ciphertext, to_reader, iv));
        let mut read_total = 0u64;
        let result = loop {
            let mut buffer = match plaintext.recv() {
                Ok(Ok(buffer)) => buffer,
                Ok(Err(error)) => break Err(DatasetCryptoError::Read(error)),
                Err(_) => break Ok(()), // the writer stopped early; its error is reported below
            };
            read_total += buffer.len() as u64;
            progress(read_total);
            let last = buffer.len() < CHUNK;
            if last {
                // PKCS#7: 1 to 16 bytes, each the pad length.
                let pad = BLOCK - buffer.len() % BLOCK;
                buffer.resize(buffer.len() + pad, pad as u8);
            }
            cipher.encrypt_blocks(&mut buffer);
            if to_writer.send(buffer).is_err() || last {
                break Ok(());
            }
        };
        drop(to_writer);
        drop(plaintext);
        let written = writer.join().expect("writer thread does not panic");
        result?;
        written
    })
}

/// Fills free buffers with exactly CHUNK bytes (fewer only at the end of the input).
fn read_chunks(
    mut input: impl Read,
    free: mpsc::Receiver<Vec<u8>>,
    plaintext: mpsc::SyncSender<std::io::Result<Vec<u8>>>,
) {
    for mut buffer in free {
        buffer.clear();
        let outcome = fill(&mut input, &mut buffer, CHUNK);
        let end = !matches!(outcome, Ok(n) if n == CHUNK);
        if plaintext.send(outcome.map(|_| buffer)).is_err() || end {
            return;
        }
    }
}

/// Reads until `buffer` holds `want` bytes or the input ends; returns bytes read.
fn fill(input: &mut impl Read, buffer: &mut Vec<u8>, want: usize) -> std::io::Result<usize> {
    let mut read = 0;
    while buffer.len() < want {
        let start = buffer.len();
        buffer.resize(want, 0);
        match input.read(&mut buffer[start..]) {
            Ok(0) => {
                buffer.truncate(start);
                break;
            }
            Ok(n) => {
                buffer.truncate(start + n);
                read += n;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => buffer.truncate(start),
            Err(e) => {
                buffer.truncate(start);
                return Err(e);
            }
        }
    }
    Ok(read)
}

fn hash_and_write(
    mut output: impl Write,
    chunks: mpsc::Receiver<Vec<u8>>,
    recycle: mpsc::SyncSender<Vec<u8>>,
    iv: [u8; 16],
) -> Result<Encrypted, DatasetCryptoError> {
    let mut hasher = Sha256::new();
    hasher.update(iv);
    output.write_all(&iv).map_err(DatasetCryptoError::Write)?;
    let mut written = BLOCK as u64;
    for chunk in chunks {
        hasher.update(&chunk);
        output.write_all(&chunk).map_err(DatasetCryptoError::Write)?;
        written += chunk.len() as u64;
        let _ = recycle.send(chunk);
    }
    output.flush().map_err(DatasetCryptoError::Write)?;
    Ok(Encrypted {
        checksum: B256::from_slice(&hasher.finalize()),
        bytes_written: written,
    })
}

/// sha256 of a whole stream, as `0x…`: the checksum of an already encrypted file.
pub fn checksum(mut input: impl Read) -> Result<B256, DatasetCryptoError> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let n = input.read(&mut buffer).map_err(DatasetCryptoError::Read)?;
        if n == 0 {
            return Ok(B256::from_slice(&hasher.finalize()));
        }
        hasher.update(&buffer[..n]);
    }
}

/// Decrypts either format into `output`; returns the plaintext length. `key_text` is the
/// content of the key file: base64 of the key, or for the OpenSSL format base64 of the
/// password, as iExec's SDK v3 wrote `.tee-secrets/dataset/<file>.secret`.
pub fn decrypt(
    key_text: &str,
    mut input: impl Read,
    mut output: impl Write,
    mut progress: impl FnMut(u64),
) -> Result<u64, DatasetCryptoError> {
    let mut header = [0u8; 16];
    input.read_exact(&mut header).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => DatasetCryptoError::TooShort,
        _ => DatasetCryptoError::Read(e),
    })?;
    let mut cipher = if &header[..8] == OPENSSL_MAGIC {
        let password = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(key_text.trim())
                .map_err(|_| DatasetCryptoError::InvalidKey)?,
        );
        let mut derived = Zeroizing::new([0u8; 48]);
        pbkdf2::pbkdf2_hmac::<Sha256>(&password, &header[8..], OPENSSL_PBKDF2_ITERATIONS, derived.as_mut());
        Decryptor::new(derived[..32].into(), derived[32..].into())
    } else {
        let key = DatasetKey::from_base64(key_text)?;
        Decryptor::new(key.0.as_ref().into(), &header.into())
    };

    // The last block holds the padding, so one block is always held back.
    let mut buffer = Zeroizing::new(Vec::with_capacity(CHUNK + BLOCK));
    let mut written = 0u64;
    let mut read_total = 16u64;
    loop {
        let filled = fill(&mut input, &mut buffer, CHUNK + BLOCK).map_err(DatasetCryptoError::Read)?;
        read_total += filled as u64;
        progress(read_total);
        if buffer.len() < CHUNK + BLOCK {
            if buffer.is_empty() || buffer.len() % BLOCK != 0 {
                return Err(DatasetCryptoError::BadPadding);
            }
            let plain = cipher
                .decrypt_padded_mut::<Pkcs7>(&mut buffer)
                .map_err(|_| DatasetCryptoError::BadPadding)?;
            output.write_all(plain).map_err(DatasetCryptoError::Write)?;
            written += plain.len() as u64;
            output.flush().map_err(DatasetCryptoError::Write)?;
            return Ok(written);
        }
        let (blocks, _) = aes::cipher::inout::InOutBuf::from(&mut buffer[..CHUNK]).into_chunks();
        cipher.decrypt_blocks_inout_mut(blocks);
        output.write_all(&buffer[..CHUNK]).map_err(DatasetCryptoError::Write)?;
        written += CHUNK as u64;
        buffer.drain(..CHUNK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(size: usize) {
        let plain: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        let key = DatasetKey::generate();
        let mut encrypted = Vec::new();
        let result = encrypt(&key, plain.as_slice(), &mut encrypted, |_| {}).unwrap();
        assert_eq!(encrypted.len(), 16 + (size / 16 + 1) * 16, "IV + padded ciphertext");
        assert_eq!(result.bytes_written as usize, encrypted.len());
        assert_eq!(result.checksum, checksum(encrypted.as_slice()).unwrap());
        let mut decrypted = Vec::new();
        let length = decrypt(&key.to_base64(), encrypted.as_slice(), &mut decrypted, |_| {}).unwrap();
        assert_eq!(length as usize, size);
        assert!(decrypted == plain, "round trip of {size} bytes");
    }

    #[test]
    fn files_of_every_awkward_size_round_trip() {
        for size in [
            0,
            1,
            15,
            16,
            17,
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            2 * CHUNK + 5,
            3 * CHUNK + 16,
        ] {
            roundtrip(size);
        }
    }

    #[test]
    fn matches_openssl_aes_256_cbc_with_an_explicit_iv() {
        // `printf 'confidential\n' | openssl enc -aes-256-cbc -K 00..1f -iv 00..0f | xxd -p`
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let iv: [u8; 16] = std::array::from_fn(|i| i as u8);
        let key = DatasetKey(Zeroizing::new(key));
        let mut encrypted = Vec::new();
        encrypt_with_iv(&key, iv, &b"confidential\n"[..], &mut encrypted, |_| {}).unwrap();
        assert_eq!(&encrypted[..16], &iv);
        assert_eq!(
            alloy_primitives::hex::encode(&encrypted[16..]),
            "6ae6a88ce89a7cab6aeeb03bc007b975"
        );
    }

    #[test]
    fn reads_the_tutorial_era_openssl_format() {
        // `openssl enc -aes-256-cbc -pbkdf2 -pass pass:<password>` (OpenSSL 3.0.19) of
        // "confidential\n", with the password base64 in the key file as iExec SDK v3 wrote it.
        let password_b64 = base64::engine::general_purpose::STANDARD.encode(b"correct horse battery staple");
        let encrypted =
            alloy_primitives::hex::decode("53616c7465645f5f5e47ac072c3bc8ae0d64e7fb5a7227b37b801dfb640c99b6").unwrap();
        let mut decrypted = Vec::new();
        let result = decrypt(&password_b64, encrypted.as_slice(), &mut decrypted, |_| {});
        assert_eq!(result.unwrap(), 13);
        assert_eq!(decrypted, b"confidential\n");
    }

    /// A writer that fails once `room` bytes are written, like a full disk.
    struct FullDisk {
        room: usize,
    }

    impl Write for FullDisk {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if buf.len() > self.room {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "no space left on device",
                ));
            }
            self.room -= buf.len();
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_full_disk_is_an_error_not_a_short_file() {
        let plain = vec![1u8; 3 * CHUNK];
        let result = encrypt(
            &DatasetKey::generate(),
            plain.as_slice(),
            FullDisk { room: CHUNK },
            |_| {},
        );
        assert!(matches!(result, Err(DatasetCryptoError::Write(_))), "{result:?}");
    }

    #[test]
    fn wrong_keys_and_damaged_files_are_refused() {
        let key = DatasetKey::generate();
        let mut encrypted = Vec::new();
        encrypt(&key, &b"some data"[..], &mut encrypted, |_| {}).unwrap();
        let other = DatasetKey::generate();
        let mut out = Vec::new();
        // A wrong key fails the padding check with overwhelming probability (1 - ~1/256).
        let wrong = decrypt(&other.to_base64(), encrypted.as_slice(), &mut out, |_| {});
        assert!(matches!(wrong, Err(DatasetCryptoError::BadPadding)) || out != b"some data");
        assert!(matches!(
            decrypt("not base64!", encrypted.as_slice(), &mut out, |_| {}),
            Err(DatasetCryptoError::InvalidKey)
        ));
        assert!(matches!(
            decrypt(&key.to_base64(), &encrypted[..10], &mut out, |_| {}),
            Err(DatasetCryptoError::TooShort)
        ));
        assert!(matches!(
            decrypt(&key.to_base64(), &encrypted[..20], &mut out, |_| {}),
            Err(DatasetCryptoError::BadPadding)
        ));
        assert!(matches!(
            DatasetKey::from_base64("AAAA"),
            Err(DatasetCryptoError::InvalidKey)
        ));
    }
}
