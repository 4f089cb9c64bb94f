#!/usr/bin/env bash
# Every test: formatting, lints, unit tests, and integration tests against real anvil
# nodes running the real PoCo contracts. Ends with one summary line over all test binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Installs Debian packages for a test's real peer (as root), or says which are missing.
debian_install() {
  local what="$1"; shift
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "missing: $what (Debian: sudo apt-get install $*)" >&2
    exit 1
  fi
}
# PostgreSQL server binaries and psql: the services' Postgres stores and the replicated dev
# stack are tested on throwaway clusters.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v psql >/dev/null; then
  debian_install "PostgreSQL server and client" postgresql postgresql-client
fi
# Headless Chromium and its WebDriver: the marketplace page's browser tests drive them.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  debian_install "Chromium and its WebDriver" chromium chromium-driver
fi
# An independent IPFS importer: the CID tests compare ours with its CIDs.
command -v ipfs_cid >/dev/null || debian_install "ipfs-cid" ipfs-cid
# moto's S3-compatible server (PyPI, pinned): the store's S3 backend is tested against it.
moto_dir="${CONFIDE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/confide}/moto-5.2.5"
# (A virtualenv cannot be moved once made: it is made in place and marked when complete.)
if [ ! -e "$moto_dir/.complete" ]; then
  rm -rf "$moto_dir"
  python3 -m venv "$moto_dir"
  "$moto_dir/bin/pip" install -q --disable-pip-version-check 'moto[server]==5.2.5'
  touch "$moto_dir/.complete"
fi
# The browser tests save the marketplace's main pages here (README shows them).
export CONFIDE_SCREENSHOT_DIR="$PWD/docs/screenshots"
# iExec's own SDK 9.0.1 and DataProtector SDK 2.0.0-beta.27, the real peers of the
# interoperability tests.
npm ci --prefix interop --no-audit --no-fund --loglevel=error
# Confide's two contracts are what their sources compile to with the pinned solc.
scripts/compile-contracts.sh --check
cargo fmt --all -- --check
cargo fmt --all --manifest-path examples/apps/Cargo.toml -- --check
# Lints and the test build in one pass: clippy's driver compiles the workspace's own crates,
# linting them as `cargo clippy --all-targets` would, while the dependencies are compiled
# once, for the tests (a separate `cargo clippy` checks every dependency a second time:
# half of a fresh clone's build). Warnings, rustc's and clippy's, fail the build.
export RUSTC_WORKSPACE_WRAPPER=clippy-driver RUSTFLAGS="-D warnings"
cargo test --locked --workspace --all-targets --no-run
cargo test --locked --manifest-path examples/apps/Cargo.toml --all-targets --no-run
# The libraries' documentation builds without a warning: no broken or private link, no stray
# markup (every public item is documented: the workspace denies missing_docs through -D
# warnings). Doc examples run with the tests below.
RUSTDOCFLAGS="-D warnings" cargo doc --locked --workspace --no-deps --lib
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# --no-fail-fast: a failing binary does not hide the ones after it; the summary counts all.
status=0
cargo test --locked --workspace --no-fail-fast 2>&1 | tee "$log" || status=1
# The example apps' own unit tests (their own workspace, native).
cargo test --locked --no-fail-fast --manifest-path examples/apps/Cargo.toml 2>&1 | tee -a "$log" || status=1
# A binary that crashed or did not build prints no `test result:` line: cargo's status counts it.
awk -v status="$status" '
  /^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
  END {
    printf "total: %d passed, %d failed\n", p, f
    if (f == 0 && status != 0) print "cargo test failed outside the tests it counted (a build error or a crashed binary): see above"
    exit (f > 0 || status != 0)
  }' "$log"
