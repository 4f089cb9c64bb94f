#!/usr/bin/env bash
# Compiles our own Solidity contracts (crates/chain/contracts/*.sol) with a pinned solc-js
# from npm and writes their ABI and creation bytecode to crates/chain/contracts/build/.
#
#   scripts/compile-contracts.sh           write the build files
#   scripts/compile-contracts.sh --check   exit 1 if the committed build files differ from a
#                                          fresh compile (nothing is written)
#
# The compiler is the npm package solc at one exact version, its tarball checked against
# the registry's sha512 integrity pinned below, unpacked once into the confide cache with
# its runtime dependencies. The output depends only on the sources, the compiler and the
# settings in scripts/compile-contracts.js, so two runs give identical files.
set -euo pipefail
cd "$(dirname "$0")/.."

SOLC_VERSION=0.8.30
# `npm view solc@0.8.30 dist.integrity`
SOLC_INTEGRITY="sha512-9Srk/gndtBmoUbg4CE6ypAzPQlElv8ntbnl6SigUBAzgXKn35v87sj04uZeoZWjtDkdzT0qKFcIo/wl63UMxdw=="

mode=write
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "missing: $tool (install Node.js)" >&2; exit 1; }
done

cache="${CONFIDE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/confide}"
solc_dir="$cache/solc-$SOLC_VERSION"

# Fetches, checks and unpacks the compiler into a staging folder, then moves it into place
# in one rename, so an interrupted run never leaves a half-made compiler behind.
staging=""
trap 'if [ -n "$staging" ]; then rm -rf "$staging"; fi' EXIT
fetch_solc() {
  mkdir -p "$cache"
  staging=$(mktemp -d "$cache/.solc-$SOLC_VERSION.XXXXXX")
  chmod 755 "$staging"
  local tarball
  tarball=$(cd "$staging" && npm pack "solc@$SOLC_VERSION" --silent --pack-destination . | tail -n 1)
  local actual
  actual=$(node -e '
    const data = require("fs").readFileSync(process.argv[1]);
    process.stdout.write("sha512-" + require("crypto").createHash("sha512").update(data).digest("base64"));
  ' "$staging/$tarball")
  if [ "$actual" != "$SOLC_INTEGRITY" ]; then
    echo "solc@$SOLC_VERSION: integrity mismatch: got $actual, pinned $SOLC_INTEGRITY" >&2
    exit 1
  fi
  tar -xzf "$staging/$tarball" -C "$staging"
  rm "$staging/$tarball"
  # Its runtime dependencies (semver, memorystream, ...), from the npm registry only; no
  # install scripts run. They only wrap the compiler, which is soljson.js in the tarball.
  (cd "$staging/package" && npm install --omit=dev --ignore-scripts --no-package-lock \
    --no-audit --no-fund --loglevel=error >/dev/null)
  touch "$staging/.complete"
  rm -rf "$solc_dir"
  mv "$staging" "$solc_dir"
  staging=""
}

if [ ! -e "$solc_dir/.complete" ]; then
  echo "fetching solc@$SOLC_VERSION into $solc_dir" >&2
  fetch_solc
fi

node scripts/compile-contracts.js "$solc_dir/package" "$SOLC_VERSION" crates/chain/contracts "$mode"
