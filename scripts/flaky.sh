#!/usr/bin/env bash
# Runs every test binary of the workspace RUNS times in a row (20 unless given), each as
# `cargo test` runs it (from its package's folder, its tests in parallel), and tells which
# tests failed even once. Not part of CI: a hunt for tests that pass or fail by chance
# (races with anvil, Postgres, service processes, timeouts under load).
#
#   scripts/flaky.sh [RUNS] [PATTERN]    PATTERN: only binaries whose name contains it,
#                                        e.g. cli/requester_journey
#
# Logs of failed runs stay in target/flaky/. Ends with a line per test that failed at least
# once, then `flaky: N passed, N failed` over every test run.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
pattern=${2:-}
out=target/flaky
rm -rf "$out"
mkdir -p "$out"
scripts/setup.sh
# The same peers as scripts/test.sh: iExec's SDK for the interoperability tests.
npm ci --prefix interop --no-audit --no-fund --loglevel=error
command -v jq >/dev/null || { echo "missing: jq (Debian: apt-get install jq)" >&2; exit 1; }
# Build once (as scripts/test.sh builds, so either reuses the other's build); every run uses
# the same binaries. A binary is named crate/target.
export RUSTC_WORKSPACE_WRAPPER=clippy-driver RUSTFLAGS="-D warnings"
cargo test --locked --workspace --no-run --message-format=json |
  jq -r 'select(.reason == "compiler-artifact" and .profile.test == true and .executable != null)
         | (.manifest_path | split("/") | .[-2]) as $crate
         | "\($crate)/\(.target.name) \(.manifest_path | rtrimstr("/Cargo.toml")) \(.executable)"' |
  sort -u | grep -F -- "$pattern" >"$out/binaries" || true
[ -s "$out/binaries" ] || { echo "no test binary matches '$pattern'" >&2; exit 1; }
: >"$out/outcomes"
for run in $(seq 1 "$runs"); do
  started=$(date +%s)
  while read -r name dir executable; do
    log="$out/${name//\//.}.$run.log"
    if (cd "$dir" && timeout 900 "$executable") >"$log" 2>&1 </dev/null; then
      passed=1
    else
      passed=0
    fi
    sed -nE "s#^test (.*) \.\.\. (ok|FAILED)\$#$name::\1 \2#p" "$log" >>"$out/outcomes"
    # A binary that failed without naming a failed test (a crash, a hang killed) counts too.
    if [ "$passed" = 0 ] && ! grep -q ' FAILED$' "$log"; then
      echo "$name::(the binary itself) FAILED" >>"$out/outcomes"
    fi
    [ "$passed" = 1 ] && rm -f "$log"
  done <"$out/binaries"
  failed=$(grep -c ' FAILED$' "$out/outcomes" || true)
  echo "run $run/$runs: $(($(date +%s) - started)) s, $failed failures so far"
done
echo
awk '{ outcome = $NF; $NF = ""; sub(/ $/, ""); runs[$0]++; if (outcome == "FAILED") failed[$0]++ }
     END {
       for (t in failed) printf "%s failed %d of %d runs\n", t, failed[t], runs[t]
       for (t in runs) { total += runs[t]; bad += failed[t] }
       printf "flaky: %d passed, %d failed\n", total - bad, bad
       exit (bad > 0)
     }' "$out/outcomes"
