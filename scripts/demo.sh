#!/usr/bin/env bash
# The main job on embedded defaults: build confide, bring the local stack up (anvil with
# iExec PoCo v6 deployed, funded dev accounts) and print its addresses.
# Stop it with `target/release/confide dev down`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked -p confide -p confide-enclave
target/release/confide dev up "$@"
