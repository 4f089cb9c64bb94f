#!/usr/bin/env bash
# Every test: formatting, lints, unit tests, and integration tests against real anvil
# nodes running the real PoCo contracts.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --workspace
