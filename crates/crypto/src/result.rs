//! Results for the beneficiary: the archive of `/iexec_out`, its digest, and its
//! encryption to the key the beneficiary pushed to the SMS.
//!
//! - An `age` X25519 recipient (`age1…`, Confide's default): the archive encrypted with
//!   age (X25519 + ChaCha20-Poly1305, authenticated); the standard `age` tool opens it.
//! - An RSA public key (PEM, or base64 of a PEM as iExec's SDK pushes it): iExec's layout,
//!   a zip whose root holds `iexec_out.zip.aes` (IV ‖ AES-256-CBC of the archive) and
//!   `aes-key.rsa` (the AES key, RSA PKCS#1 v1.5), so `iexec result decrypt` opens it.
//!   It is unauthenticated, as upstream: prefer age.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::Path;
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use alloy_primitives::{B256, keccak256};
use base64::Engine;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::dataset::{self, DatasetKey};

/// The entry names of iExec's encrypted result archive.
pub const IEXEC_AES_ENTRY: &str = "iexec_out.zip.aes";
/// The entry holding the archive's AES key, encrypted to the beneficiary's RSA key
/// (PKCS#1 v1.5).
pub const IEXEC_KEY_ENTRY: &str = "aes-key.rsa";
const AGE_MAGIC: &[u8] = b"age-encryption.org/v1";
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
/// iExec's guards: a key file is small, the payload at most 1 GB.
const MAX_KEY_ENTRY: u64 = 1000;

/// What archiving, encrypting, decrypting or digesting a result can fail at. No message
/// carries key material.
#[derive(Debug, thiserror::Error)]
pub enum ResultError {
    /// The beneficiary's pushed key is neither an `age1…` recipient nor an RSA public key
    /// (SPKI PEM, raw or in base64).
    #[error("the result encryption key is neither an age recipient (age1…) nor an RSA public key PEM")]
    UnknownPublicKey,
    /// The private key given is neither an `AGE-SECRET-KEY-1…` identity nor an RSA
    /// PKCS#8 PEM, or does not parse as the one it looks like.
    #[error("the private key is neither an age identity (AGE-SECRET-KEY-1…) nor an RSA PKCS#8 PEM")]
    UnknownPrivateKey,
    /// The result and the private key given are of different formats (an age result and
    /// an RSA key, or the reverse).
    #[error("this result is encrypted with {format}, but the key given is {key}")]
    KeyMismatch {
        /// The result's format: `age` or `rsa`.
        format: &'static str,
        /// The key's format: `age` or `rsa`.
        key: &'static str,
    },
    /// The file starts with neither age's header nor a zip's: it is not an encrypted
    /// result.
    #[error("the file is not an encrypted result (neither age nor iExec's zip layout)")]
    UnknownFormat,
    /// A result tree or archive is not what a result may be: a link, special file or
    /// unsafe name in the tree, a zip that does not read, an entry missing or too large,
    /// or a computed.json without a usable `deterministic-output-path`.
    #[error("the result archive is malformed: {0}")]
    Archive(String),
    /// The key does not open the result: it was encrypted for another key, or it is
    /// corrupt.
    #[error("decryption failed: the result was not encrypted for this key, or it is corrupt")]
    Decrypt,
    /// The age encryptor, the RSA wrapping of the AES key or the AES stream failed; the
    /// text is the library's.
    #[error("encryption failed: {0}")]
    Encrypt(String),
    /// A file could not be opened, read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A beneficiary's public key, as read from the SMS.
pub enum ResultPublicKey {
    /// An age X25519 recipient (`age1…`): Confide's default, authenticated encryption.
    Age(age::x25519::Recipient),
    /// An RSA public key: iExec's layout, unauthenticated.
    Rsa(Box<rsa::RsaPublicKey>),
}

impl ResultPublicKey {
    /// Reads what was pushed as `iexec-result-encryption-public-key`.
    pub fn parse(text: &str) -> Result<ResultPublicKey, ResultError> {
        let text = text.trim();
        if text.starts_with("age1") {
            return age::x25519::Recipient::from_str(text)
                .map(ResultPublicKey::Age)
                .map_err(|_| ResultError::UnknownPublicKey);
        }
        let pem = if text.starts_with("-----BEGIN") {
            text.to_owned()
        } else {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| ResultError::UnknownPublicKey)?;
            String::from_utf8(decoded).map_err(|_| ResultError::UnknownPublicKey)?
        };
        rsa::RsaPublicKey::from_public_key_pem(pem.trim())
            .map(|key| ResultPublicKey::Rsa(Box::new(key)))
            .map_err(|_| ResultError::UnknownPublicKey)
    }

    /// The format a result encrypted for this key is in, as [`detect_format`] names it:
    /// `age` or `rsa`.
    pub fn format(&self) -> &'static str {
        match self {
            ResultPublicKey::Age(_) => "age",
            ResultPublicKey::Rsa(_) => "rsa",
        }
    }
}

/// A fresh age identity: (secret `AGE-SECRET-KEY-1…`, public `age1…`).
pub fn generate_age() -> (Zeroizing<String>, String) {
    let identity = age::x25519::Identity::generate();
    let secret = Zeroizing::new(identity.to_string().expose_secret().to_owned());
    (secret, identity.to_public().to_string())
}

/// Refuses a result tree holding anything but regular files and directories: a symbolic
/// link made by the app could point the runtime (outside the sandbox) at any file it can
/// read, and a FIFO would block it. Names must be UTF-8 without `\\`, so the archive
/// cannot escape its folder when unzipped.
pub fn check_tree(dir: &Path) -> Result<(), ResultError> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let name = entry.file_name();
        let name = name
            .to_str()
            .filter(|n| !n.contains('\\'))
            .ok_or_else(|| ResultError::Archive("a result file name is not UTF-8 or holds a backslash".into()))?;
        if kind.is_dir() {
            check_tree(&entry.path())?;
        } else if !kind.is_file() {
            return Err(ResultError::Archive(format!(
                "`{name}` is not a regular file or directory (links and special files are refused)"
            )));
        }
    }
    Ok(())
}

/// Zips `dir` recursively (entries relative to it, deflated) into `output`. The tree must
/// pass [`check_tree`].
pub fn zip_dir(dir: &Path, output: impl Write + Seek) -> Result<(), ResultError> {
    check_tree(dir)?;
    let mut zip = zip::ZipWriter::new(output);
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&current)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let name = path
                .strip_prefix(dir)
                .map_err(|e| ResultError::Archive(e.to_string()))?
                .to_string_lossy()
                .replace('\\', "/");
            if entry.file_type()?.is_dir() {
                zip.add_directory(name, options)
                    .map_err(|e| ResultError::Archive(e.to_string()))?;
                stack.push(path);
            } else {
                zip.start_file(name, options)
                    .map_err(|e| ResultError::Archive(e.to_string()))?;
                std::io::copy(&mut File::open(&path)?, &mut zip)?;
            }
        }
    }
    zip.finish().map_err(|e| ResultError::Archive(e.to_string()))?;
    Ok(())
}

/// Encrypts the archive at `plain` into `output` for `key`.
pub fn encrypt(plain: &Path, key: &ResultPublicKey, output: &Path) -> Result<(), ResultError> {
    let input = BufReader::new(File::open(plain)?);
    let out = BufWriter::new(File::create(output)?);
    match key {
        ResultPublicKey::Age(recipient) => encrypt_age(recipient, input, out),
        ResultPublicKey::Rsa(public) => encrypt_iexec(public, input, out),
    }
}

fn encrypt_age(
    recipient: &age::x25519::Recipient,
    mut input: impl Read,
    output: impl Write,
) -> Result<(), ResultError> {
    let encryptor = age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
        .map_err(|e| ResultError::Encrypt(e.to_string()))?;
    let mut writer = encryptor.wrap_output(output)?;
    std::io::copy(&mut input, &mut writer)?;
    writer.finish()?.flush()?;
    Ok(())
}

fn encrypt_iexec(
    public: &rsa::RsaPublicKey,
    input: impl Read + Send,
    output: impl Write + Seek + Send,
) -> Result<(), ResultError> {
    let key = DatasetKey::generate();
    let raw_key = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(key.to_base64().as_str())
            .map_err(|e| ResultError::Encrypt(e.to_string()))?,
    );
    let wrapped = public
        .encrypt(&mut rand::rngs::OsRng, rsa::Pkcs1v15Encrypt, &raw_key)
        .map_err(|e| ResultError::Encrypt(e.to_string()))?;
    let mut zip = zip::ZipWriter::new(output);
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file(IEXEC_AES_ENTRY, stored)
        .map_err(|e| ResultError::Archive(e.to_string()))?;
    dataset::encrypt(&key, input, &mut zip, |_| {}).map_err(|e| ResultError::Encrypt(e.to_string()))?;
    zip.start_file(IEXEC_KEY_ENTRY, stored)
        .map_err(|e| ResultError::Archive(e.to_string()))?;
    zip.write_all(&wrapped)?;
    zip.finish().map_err(|e| ResultError::Archive(e.to_string()))?;
    Ok(())
}

/// Which format an encrypted result file is in, from its first bytes.
pub fn detect_format(path: &Path) -> Result<&'static str, ResultError> {
    let mut head = [0u8; 21];
    let n = File::open(path)?.read(&mut head)?;
    if head[..n].starts_with(AGE_MAGIC) {
        Ok("age")
    } else if head[..n].starts_with(ZIP_MAGIC) {
        Ok("rsa")
    } else {
        Err(ResultError::UnknownFormat)
    }
}

/// Decrypts an encrypted result into `output` (the plain archive) with the beneficiary's
/// private key text: an age identity or an RSA PKCS#8 PEM. Returns the format.
pub fn decrypt(encrypted: &Path, private_key: &str, output: &mut impl Write) -> Result<&'static str, ResultError> {
    let format = detect_format(encrypted)?;
    let private_key = private_key.trim();
    let key_kind = if private_key.starts_with("AGE-SECRET-KEY-1") {
        "age"
    } else if private_key.starts_with("-----BEGIN") {
        "rsa"
    } else {
        return Err(ResultError::UnknownPrivateKey);
    };
    if key_kind != format {
        return Err(ResultError::KeyMismatch { format, key: key_kind });
    }
    let input = BufReader::new(File::open(encrypted)?);
    match format {
        "age" => {
            let identity = age::x25519::Identity::from_str(private_key).map_err(|_| ResultError::UnknownPrivateKey)?;
            let decryptor = age::Decryptor::new(input).map_err(|_| ResultError::Decrypt)?;
            let mut reader = decryptor
                .decrypt(std::iter::once(&identity as &dyn age::Identity))
                .map_err(|_| ResultError::Decrypt)?;
            std::io::copy(&mut reader, output).map_err(|_| ResultError::Decrypt)?;
        }
        _ => {
            let private =
                rsa::RsaPrivateKey::from_pkcs8_pem(private_key).map_err(|_| ResultError::UnknownPrivateKey)?;
            decrypt_iexec(&private, input, output)?;
        }
    }
    Ok(format)
}

fn decrypt_iexec(
    private: &rsa::RsaPrivateKey,
    input: impl Read + Seek,
    output: &mut impl Write,
) -> Result<(), ResultError> {
    let mut archive = zip::ZipArchive::new(input).map_err(|e| ResultError::Archive(e.to_string()))?;
    let mut wrapped = Vec::new();
    {
        let entry = archive
            .by_name(IEXEC_KEY_ENTRY)
            .map_err(|_| ResultError::Archive(format!("no {IEXEC_KEY_ENTRY} entry")))?;
        if entry.size() > MAX_KEY_ENTRY {
            return Err(ResultError::Archive(format!("{IEXEC_KEY_ENTRY} is too large")));
        }
        entry.take(MAX_KEY_ENTRY).read_to_end(&mut wrapped)?;
    }
    let raw_key = private.decrypt(rsa::Pkcs1v15Encrypt, &wrapped).or_else(|_| {
        // iExec's SDK also reads a key entry holding base64 of the RSA ciphertext.
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(wrapped.trim_ascii())
            .map_err(|_| ResultError::Decrypt)?;
        private
            .decrypt(rsa::Pkcs1v15Encrypt, &decoded)
            .map_err(|_| ResultError::Decrypt)
    })?;
    let raw_key = Zeroizing::new(raw_key);
    if raw_key.len() != 32 {
        return Err(ResultError::Decrypt);
    }
    let key_text = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&*raw_key));
    let entry = archive
        .by_name(IEXEC_AES_ENTRY)
        .map_err(|_| ResultError::Archive(format!("no {IEXEC_AES_ENTRY} entry")))?;
    dataset::decrypt(&key_text, entry, output, |_| {}).map_err(|_| ResultError::Decrypt)?;
    Ok(())
}

/// The result digest PoCo's consensus is on. A file: its sha256 (as iExec). A directory:
/// `keccak256` over its entries' digests in name order, where iExec takes only the
/// top-level entries' sha256; here a subdirectory contributes its own digest, recursively,
/// so a change anywhere in the tree changes the digest. Equal to iExec's for flat folders.
pub fn digest(path: &Path) -> Result<B256, ResultError> {
    let metadata = std::fs::symlink_metadata(path)?;
    if !metadata.is_dir() && !metadata.is_file() {
        return Err(ResultError::Archive("links and special files are refused".into()));
    }
    if metadata.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        let mut concatenated = Vec::with_capacity(entries.len() * 32);
        for entry in entries {
            concatenated.extend_from_slice(digest(&entry.path())?.as_slice());
        }
        Ok(keccak256(concatenated))
    } else {
        let mut hasher = Sha256::new();
        std::io::copy(&mut File::open(path)?, &mut hasher)?;
        Ok(B256::from_slice(&hasher.finalize()))
    }
}

/// The folder at the root of a result archive where the runtime, not the app, writes:
/// the app's logs and the task it ran. An app that writes there is refused, so whatever a
/// beneficiary finds in it comes from the enclave.
pub const RUNTIME_DIR: &str = ".confide";
/// The app's stdout and stderr (and why it failed, if it did), in the archive.
pub const APP_LOG_ENTRY: &str = ".confide/app.log";
/// `{"task-id", "deterministic-output-path", "result-digest"}`, in the archive.
pub const TASK_ENTRY: &str = ".confide/task.json";
/// The largest `computed.json` or runtime entry read from an archive.
const MAX_SMALL_ENTRY: u64 = 1 << 20;

/// The path of an app's `deterministic-output-path` inside `/iexec_out` ("" for all of
/// it), if the path is plain: at most 255 bytes of `A-Z a-z 0-9 . _ - /`, under
/// `/iexec_out`, no `..`. The path reaches the host in clear, so nothing else is taken.
pub fn deterministic_relative_path(path: &str) -> Option<&str> {
    let plain = path.len() <= 255
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-'));
    let relative = path.strip_prefix("/iexec_out").filter(|_| plain)?;
    if !(relative.is_empty() || relative.starts_with('/')) {
        return None;
    }
    let relative = relative.trim_matches('/');
    (!relative.split('/').any(|part| part == "..")).then_some(relative)
}

/// What a decrypted result archive proves about itself, recomputed from its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveDigest {
    /// The app's `deterministic-output-path` (from the archive's `computed.json`).
    pub deterministic_output_path: String,
    /// [`digest`] of that path, as the runtime computed it before the runtime's own
    /// folder ([`RUNTIME_DIR`]) was added: what PoCo's consensus is on.
    pub digest: B256,
    /// The task the runtime says it ran ([`TASK_ENTRY`]), if the archive has it. The
    /// archive is only as trustworthy as its encryption (anyone can encrypt for a public
    /// key): check the digest against the task the caller expects.
    pub task_id: Option<B256>,
}

/// Recomputes [`digest`] from a plain result archive (the zip of `/iexec_out`), without
/// writing a file: what a beneficiary compares with the task's on-chain `resultDigest`.
pub fn archive_digest(archive: impl Read + Seek) -> Result<ArchiveDigest, ResultError> {
    let mut zip = zip::ZipArchive::new(archive).map_err(|e| ResultError::Archive(e.to_string()))?;
    let computed: serde_json::Value = serde_json::from_slice(&read_entry(&mut zip, "computed.json")?)
        .map_err(|_| ResultError::Archive("computed.json is not JSON".into()))?;
    let path = computed["deterministic-output-path"]
        .as_str()
        .ok_or_else(|| ResultError::Archive("computed.json has no deterministic-output-path".into()))?
        .to_owned();
    let relative = deterministic_relative_path(&path)
        .ok_or_else(|| ResultError::Archive("deterministic-output-path is not a plain path under /iexec_out".into()))?
        .to_owned();
    let task_id = match read_entry(&mut zip, TASK_ENTRY) {
        Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|task| task["task-id"].as_str()?.parse().ok()),
        Err(_) => None,
    };
    let mut root = Node::Dir(Default::default());
    for index in 0..zip.len() {
        let mut entry = zip.by_index(index).map_err(|e| ResultError::Archive(e.to_string()))?;
        let name = entry
            .enclosed_name()
            .and_then(|n| n.to_str().map(str::to_owned))
            .ok_or_else(|| ResultError::Archive("an entry name leaves the archive's folder".into()))?;
        let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
        if parts.first() == Some(&RUNTIME_DIR) || parts.is_empty() {
            continue;
        }
        let node = if entry.is_dir() {
            Node::Dir(Default::default())
        } else {
            let mut hasher = Sha256::new();
            std::io::copy(&mut entry, &mut hasher).map_err(|_| ResultError::Archive("an entry is corrupt".into()))?;
            Node::File(B256::from_slice(&hasher.finalize()))
        };
        root.insert(&parts, node)?;
    }
    let target = relative
        .split('/')
        .filter(|p| !p.is_empty())
        .try_fold(&root, |node, part| match node {
            Node::Dir(children) => children.get(part),
            Node::File(_) => None,
        })
        .ok_or_else(|| ResultError::Archive("deterministic-output-path names nothing in the archive".into()))?;
    Ok(ArchiveDigest {
        deterministic_output_path: path,
        digest: target.digest(),
        task_id,
    })
}

/// Reads a small entry (at most 1 MiB) of a plain result archive: `computed.json`,
/// [`APP_LOG_ENTRY`], [`TASK_ENTRY`].
pub fn read_entry<R: Read + Seek>(zip: &mut zip::ZipArchive<R>, name: &str) -> Result<Vec<u8>, ResultError> {
    let entry = zip
        .by_name(name)
        .map_err(|_| ResultError::Archive(format!("no {name} in the archive")))?;
    let mut bytes = Vec::new();
    entry.take(MAX_SMALL_ENTRY + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SMALL_ENTRY {
        return Err(ResultError::Archive(format!("{name} is larger than 1 MiB")));
    }
    Ok(bytes)
}

/// The result tree rebuilt from an archive's entries, for [`archive_digest`].
enum Node {
    File(B256),
    Dir(std::collections::BTreeMap<String, Node>),
}

impl Node {
    fn insert(&mut self, parts: &[&str], leaf: Node) -> Result<(), ResultError> {
        let Node::Dir(children) = self else {
            return Err(ResultError::Archive("an entry is inside a file".into()));
        };
        let (first, rest) = parts.split_first().expect("insert is given a non-empty path");
        if rest.is_empty() {
            return match (children.get(*first), &leaf) {
                (None, _) => {
                    children.insert((*first).to_owned(), leaf);
                    Ok(())
                }
                (Some(Node::Dir(_)), Node::Dir(_)) => Ok(()),
                _ => Err(ResultError::Archive(format!("two entries are named {first}"))),
            };
        }
        children
            .entry((*first).to_owned())
            .or_insert_with(|| Node::Dir(Default::default()))
            .insert(rest, leaf)
    }

    /// The same as [`digest`] on the tree this node was unpacked from. Children are kept
    /// in a `BTreeMap`, so they come in the byte order `digest` sorts file names in.
    fn digest(&self) -> B256 {
        match self {
            Node::File(sha256) => *sha256,
            Node::Dir(children) => {
                let concatenated: Vec<u8> = children.values().flat_map(|c| c.digest().0).collect();
                keccak256(concatenated)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive_with(dir: &Path) -> std::path::PathBuf {
        let out = dir.join("iexec_out");
        std::fs::create_dir_all(out.join("sub")).unwrap();
        std::fs::write(out.join("result.json"), b"{\"rows\":3}").unwrap();
        std::fs::write(out.join("sub/more.txt"), b"more").unwrap();
        let zip_path = dir.join("iexec_out.zip");
        zip_dir(&out, File::create(&zip_path).unwrap()).unwrap();
        zip_path
    }

    #[test]
    fn age_results_open_with_the_identity_only() {
        let dir = tempfile::tempdir().unwrap();
        let plain = archive_with(dir.path());
        let (secret, public) = generate_age();
        let key = ResultPublicKey::parse(&public).unwrap();
        let encrypted = dir.path().join("result.age");
        encrypt(&plain, &key, &encrypted).unwrap();
        let mut out = Vec::new();
        assert_eq!(decrypt(&encrypted, &secret, &mut out).unwrap(), "age");
        assert_eq!(out, std::fs::read(&plain).unwrap());
        let (other, _) = generate_age();
        assert!(matches!(
            decrypt(&encrypted, &other, &mut Vec::new()),
            Err(ResultError::Decrypt)
        ));
    }

    #[test]
    fn rsa_results_use_iexecs_layout() {
        let dir = tempfile::tempdir().unwrap();
        let plain = archive_with(dir.path());
        let (private_pem, public_pem) = crate::result_keys::generate_rsa(2048).unwrap();
        // Pushed as iExec's SDK does: base64 of the PEM.
        let pushed = base64::engine::general_purpose::STANDARD.encode(&public_pem);
        let key = ResultPublicKey::parse(&pushed).unwrap();
        let encrypted = dir.path().join("result.zip");
        encrypt(&plain, &key, &encrypted).unwrap();
        let mut archive = zip::ZipArchive::new(File::open(&encrypted).unwrap()).unwrap();
        let mut names: Vec<String> = archive.file_names().map(|n| n.unwrap().into_owned()).collect();
        names.sort();
        assert_eq!(names, vec![IEXEC_KEY_ENTRY, IEXEC_AES_ENTRY]);
        assert_eq!(archive.by_name(IEXEC_KEY_ENTRY).unwrap().size(), 256);
        let mut out = Vec::new();
        assert_eq!(decrypt(&encrypted, &private_pem, &mut out).unwrap(), "rsa");
        assert_eq!(out, std::fs::read(&plain).unwrap());
        let (age_secret, _) = generate_age();
        assert!(matches!(
            decrypt(&encrypted, &age_secret, &mut Vec::new()),
            Err(ResultError::KeyMismatch {
                format: "rsa",
                key: "age"
            })
        ));
    }

    #[test]
    fn links_and_special_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir_all(out.join("sub")).unwrap();
        std::os::unix::fs::symlink("../../../etc/passwd", out.join("sub/link")).unwrap();
        assert!(matches!(check_tree(&out), Err(ResultError::Archive(_))));
        assert!(zip_dir(&out, std::io::Cursor::new(Vec::new())).is_err());
        assert!(digest(&out.join("sub/link")).is_err());
        std::fs::remove_file(out.join("sub/link")).unwrap();
        std::fs::write(out.join("sub/a\\b"), b"x").unwrap();
        assert!(
            check_tree(&out).is_err(),
            "a backslash would turn into a path separator"
        );
    }

    /// The runtime's archive: the app's tree zipped, then the runtime's folder added.
    fn result_archive(dir: &Path, deterministic: &str) -> (B256, Vec<u8>) {
        let out = dir.join("iexec_out");
        std::fs::create_dir_all(out.join("sub/empty")).unwrap();
        std::fs::write(out.join("result.json"), b"{\"rows\":3}").unwrap();
        std::fs::write(out.join("sub/more.txt"), b"more").unwrap();
        let computed = format!("{{\"deterministic-output-path\":\"{deterministic}\"}}");
        std::fs::write(out.join("computed.json"), computed).unwrap();
        let expected = digest(&out.join(deterministic_relative_path(deterministic).unwrap())).unwrap();
        std::fs::create_dir_all(out.join(RUNTIME_DIR)).unwrap();
        std::fs::write(out.join(APP_LOG_ENTRY), b"log line").unwrap();
        let task = format!("{{\"task-id\":\"{}\"}}", B256::repeat_byte(7));
        std::fs::write(out.join(TASK_ENTRY), task).unwrap();
        let mut zip = std::io::Cursor::new(Vec::new());
        zip_dir(&out, &mut zip).unwrap();
        std::fs::remove_dir_all(&out).unwrap();
        (expected, zip.into_inner())
    }

    #[test]
    fn an_archives_digest_is_the_digest_of_its_deterministic_path_without_the_runtimes_folder() {
        for path in ["/iexec_out", "/iexec_out/", "/iexec_out/result.json", "/iexec_out/sub"] {
            let dir = tempfile::tempdir().unwrap();
            let (expected, zip) = result_archive(dir.path(), path);
            let found = archive_digest(std::io::Cursor::new(zip)).unwrap();
            assert_eq!(found.digest, expected, "{path}");
            assert_eq!(found.deterministic_output_path, path);
            assert_eq!(found.task_id, Some(B256::repeat_byte(7)));
        }
    }

    #[test]
    fn an_archive_that_changed_has_another_digest() {
        let dir = tempfile::tempdir().unwrap();
        let (expected, _) = result_archive(dir.path(), "/iexec_out");
        let out = dir.path().join("forged");
        std::fs::create_dir_all(out.join("sub/empty")).unwrap();
        std::fs::write(out.join("result.json"), b"{\"rows\":4}").unwrap();
        std::fs::write(out.join("sub/more.txt"), b"more").unwrap();
        std::fs::write(
            out.join("computed.json"),
            b"{\"deterministic-output-path\":\"/iexec_out\"}",
        )
        .unwrap();
        let mut zip = std::io::Cursor::new(Vec::new());
        zip_dir(&out, &mut zip).unwrap();
        zip.rewind().unwrap();
        assert_ne!(archive_digest(zip).unwrap().digest, expected);
    }

    #[test]
    fn deterministic_paths_are_plain_paths_under_iexec_out() {
        assert_eq!(deterministic_relative_path("/iexec_out"), Some(""));
        assert_eq!(deterministic_relative_path("/iexec_out/a/b.txt"), Some("a/b.txt"));
        for refused in [
            "/iexec_outside",
            "/iexec_out/../etc",
            "/tmp/x",
            "/iexec_out/a b",
            "/iexec_out/\u{e9}",
        ] {
            assert_eq!(deterministic_relative_path(refused), None, "{refused}");
        }
    }

    #[test]
    fn digests_follow_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"abc").unwrap();
        assert_eq!(
            digest(&file).unwrap().to_string(),
            "0xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let tree = dir.path().join("t");
        std::fs::create_dir_all(tree.join("sub")).unwrap();
        std::fs::write(tree.join("a"), b"abc").unwrap();
        std::fs::write(tree.join("sub/b"), b"x").unwrap();
        let before = digest(&tree).unwrap();
        std::fs::write(tree.join("sub/b"), b"y").unwrap();
        assert_ne!(before, digest(&tree).unwrap(), "a nested change changes the digest");
        assert!(ResultPublicKey::parse("not a key").is_err());
    }
}
