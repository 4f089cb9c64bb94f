#!/usr/bin/env bash
# Every test: formatting, lints, unit tests, and integration tests against real anvil
# nodes running the real PoCo contracts. Ends with one summary line over all test binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# PostgreSQL server binaries: the SMS tests run a throwaway cluster to check the Postgres store.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "missing: PostgreSQL server (Debian: sudo apt-get install postgresql)" >&2
    exit 1
  fi
fi
# iExec's own SDK 9.0.1, the real peer of the interoperability tests.
npm ci --prefix interop --no-audit --no-fund --loglevel=error
cargo fmt --all -- --check
cargo fmt --all --manifest-path examples/apps/Cargo.toml -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo clippy --locked --all-targets --manifest-path examples/apps/Cargo.toml -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --locked --workspace 2>&1 | tee "$log"
# The example apps' own unit tests (their own workspace, native).
cargo test --locked --manifest-path examples/apps/Cargo.toml 2>&1 | tee -a "$log"
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "all tests: %d passed, %d failed\n", p, f; exit (f > 0) }' "$log"
