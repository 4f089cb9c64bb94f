//! The key that authenticates the compiled-module cache.
//!
//! On hardware it is the platform's sealing key, which only an enclave with this
//! measurement derives. In simulation there is none: the key is then random, made once per
//! cache folder and kept in it, readable by its owner only, and only in a folder no one
//! else can write (one of this user's is closed to others first). A fixed key would be
//! public, and anyone able to write the cache would plant compiled code the runtime runs.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
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
/// not this user's, or others can write the folder.
fn simulation_key(dir: &Path) -> Option<[u8; 16]> {
    // A folder made here is this user's alone; one made by a looser umask is closed.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .ok()?;
    let me = effective_uid(dir)?;
    let folder = std::fs::metadata(dir).ok()?;
    if folder.uid() != me {
        return None;
    }
    if folder.permissions().mode() & 0o022 != 0 {
        let closed = std::fs::Permissions::from_mode(folder.permissions().mode() & !0o022);
        std::fs::set_permissions(dir, closed).ok()?;
    }
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
    let private = key_file.is_file() && key_file.uid() == me && key_file.permissions().mode() & 0o077 == 0;
    if !private {
        return None;
    }
    std::fs::read(&path).ok()?.try_into().ok()
}

/// This process's user, as the owner of a file it makes in `dir` (no call into libc).
fn effective_uid(dir: &Path) -> Option<u32> {
    let probe = dir.join(format!(".owner-{}", std::process::id()));
    let made = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&probe)
        .and_then(|file| file.metadata());
    let _ = std::fs::remove_file(&probe);
    made.ok().map(|metadata| metadata.uid())
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
    fn a_folder_of_ours_others_could_write_is_closed_and_a_loose_key_file_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(simulation_key(dir.path()).is_some());
        let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o022, 0, "closed to others: {mode:o}");
        // A key file others can read is not a key.
        let dir = tempfile::tempdir().unwrap();
        simulation_key(dir.path()).unwrap();
        let file = dir.path().join(KEY_FILE);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(simulation_key(dir.path()), None);
    }
}
