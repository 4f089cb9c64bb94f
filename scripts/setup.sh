#!/usr/bin/env bash
# Checks what the two commands need on a fresh machine and says how to get what is missing.
# The pinned npm packages (anvil, @iexec/poco) are fetched by confide itself on first use,
# with their registry integrity checked, into ~/.cache/confide.
set -euo pipefail
missing=()
command -v cargo >/dev/null || missing+=("cargo (install Rust with rustup)")
command -v npm >/dev/null || missing+=("npm (install Node.js; Debian: apt-get install nodejs npm)")
if ((${#missing[@]})); then
  printf 'missing: %s\n' "${missing[@]}" >&2
  exit 1
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
# The example apps run as WebAssembly (WASI preview 1) modules inside the enclave runtime.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
  rustup target add wasm32-wasip1 >/dev/null
fi
scripts/build-apps.sh
