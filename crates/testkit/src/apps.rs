//! The example apps (`examples/apps`) as the tests run them: wasm32-wasip1 modules.

use std::path::{Path, PathBuf};

/// The path of example app `name`'s module, building the example apps first when it is
/// not there yet.
///
/// # Panics
/// When the build fails (most often: `rustup target add wasm32-wasip1` was not run).
pub fn example_app(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/apps");
    let path = root.join(format!("target/wasm32-wasip1/release/{name}.wasm"));
    if !path.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "--release", "--target", "wasm32-wasip1", "--manifest-path"])
            .arg(root.join("Cargo.toml"))
            .status()
            .expect("cargo runs");
        assert!(
            status.success(),
            "building the example apps failed (rustup target add wasm32-wasip1)"
        );
    }
    path.canonicalize().expect("the example app's module")
}
