//! The key that authenticates the compiled-module cache.
//!
//! On hardware it is the platform's sealing key, which only an enclave with this
//! measurement derives. In simulation there is none: the key is then random, made once per
//! cache folder and kept in it, readable by its owner only, and only in a folder no one
//! else can write. A fixed key would be public, and anyone able to write the cache would
//! plant compiled code the runtime then runs.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use confide_attest::EvidenceKind;
use confide_attest::provider::EvidenceProvider;

/// The key file's name inside the cache folder.
const KEY_FILE: &str = "simulation-cache.key";

/// The cache key for `provider`, or none (then nothing is cached).
pub fn for_provider(provider: &dyn EvidenceProvider, cache_dir: Option<&Path>) -> Option<[u8; 16]> {
    if provider.kind() != EvidenceKind::Simulated {
        return provider.sealing_key();
    }
    simulation_key(cache_dir?)
}

/// The folder's random key, made on first use; none when the folder or the key file is
/// another user's or others can write the folder.
fn simulation_key(dir: &Path) -> Option<[u8; 16]> {
    std::fs::create_dir_all(dir).ok()?;
    let path = dir.join(KEY_FILE);
    if !path.exists() {
        let mut key = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
        // `create_new`: of two runtimes making it at once, one key wins and both read it.
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            file.write_all(&key).ok()?;
        }
    }
    let key_file = std::fs::symlink_metadata(&path).ok()?;
    let folder = std::fs::metadata(dir).ok()?;
    // The key file is ours (we made it, or a run of ours did): the folder must be ours too,
    // and closed to others, and the file a plain file only we read.
    let private = key_file.is_file()
        && key_file.permissions().mode() & 0o077 == 0
        && folder.uid() == key_file.uid()
        && folder.permissions().mode() & 0o022 == 0;
    if !private {
        return None;
    }
    std::fs::read(&path).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simulation_key_is_random_per_folder_and_kept() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let key = simulation_key(a.path()).unwrap();
        assert_eq!(simulation_key(a.path()), Some(key), "kept");
        assert_ne!(simulation_key(b.path()), Some(key), "another folder, another key");
    }

    #[test]
    fn a_folder_others_can_write_has_no_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(simulation_key(dir.path()), None);
        // Nor a key file others can read.
        let dir = tempfile::tempdir().unwrap();
        simulation_key(dir.path()).unwrap();
        let file = dir.path().join(KEY_FILE);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(simulation_key(dir.path()), None);
    }
}
