#!/usr/bin/env bash
# Builds the example apps (examples/apps) into WebAssembly modules:
# examples/apps/target/wasm32-wasip1/release/{csv-stats,echo,protected-greeting}.wasm
# (examples/apps/python-stats is Python: `confide app module --python` bundles it, no build.)
set -euo pipefail
cd "$(dirname "$0")/../examples/apps"
cargo build --quiet --release --locked --target wasm32-wasip1
