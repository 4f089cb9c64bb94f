#!/usr/bin/env bash
# Builds the example apps (examples/apps) into WebAssembly modules:
# examples/apps/target/wasm32-wasip1/release/{csv-stats,echo}.wasm
set -euo pipefail
cd "$(dirname "$0")/../examples/apps"
cargo build --quiet --release --locked --target wasm32-wasip1
