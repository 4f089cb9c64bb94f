#!/usr/bin/env bash
# The main job on embedded defaults: the seed tutorial and the execution after it.
#
#   1. builds confide and the enclave runtime, starts the local stack (anvil with iExec
#      PoCo v6, SMS, market, result store, a workerpool scheduler and a simulation-TEE worker);
#   2. the dataset owner encrypts a 1 MiB CSV, hosts it, registers it, pushes its key
#      to the SMS and publishes a TEE dataset order (the tutorial);
#   3. the app developer registers the CSV-statistics WebAssembly app and offers it;
#   4. the requester pushes a result key, runs the app on the dataset in the enclave and
#      prints the decrypted result;
#   5. the same with a Python app (pandas, scikit-learn, matplotlib) on the pinned CPython
#      runtime: tested locally with `app test`, registered, run in the enclave, and its
#      decrypted result holds statistics and a chart (PNG);
#   6. prints where the marketplace page shows it all: the dataset under the TEE filter,
#      its deals and their completed tasks.
#
# Options are passed to `confide dev up` (e.g. --port, --sms-port, --workers 2).
# Work happens in $CONFIDE_DEMO_DIR (default ~/.confide/demo), new on each run.
# Stop the stack with `target/release/confide dev down`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/setup.sh
cargo build --release --locked -p confide -p confide-enclave
confide="$root/target/release/confide"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Local stack"
"$confide" dev up "$@"
dev_dir=${CONFIDE_DEV_DIR:-$HOME/.confide/dev}
export CONFIDE_KEYSTORE_DIR="$dev_dir/wallets" CONFIDE_WALLET_PASSWORD=confide-dev
dataset_owner=0x70997970C51812dc3A010C7d01b50e0d17dc79C8
app_developer=0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC
requester=0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65
as() { local who=$1; shift; CONFIDE_WALLET_ADDRESS=$who "$confide" "$@"; }
raw_field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
marketplace=$("$confide" dev status --raw | raw_field marketplace)
echo "The marketplace: $marketplace (open it in a browser; it follows the demo live)"

demo=${CONFIDE_DEMO_DIR:-$HOME/.confide/demo}
rm -rf "$demo"
mkdir -p "$demo"/{dataset-owner,app-developer,requester}

step "Dataset owner ($dataset_owner): the tutorial"
cd "$demo/dataset-owner"
as $dataset_owner init
as $dataset_owner tee init
# A 1 MiB CSV of made-up measurements (deterministic).
awk 'BEGIN { print "sensor,temperature,humidity,pressure"; srand(7);
             for (i = 0; n < 1048576; i++) { line = sprintf("s%04d,%.2f,%.1f,%.1f", i % 500, 15 + 10 * rand(), 30 + 50 * rand(), 990 + 30 * rand());
                                             print line; n += length(line) + 1 } }' > tee/original-dataset/measurements.csv
as $dataset_owner tee encrypt-dataset
as $dataset_owner dataset init
as $dataset_owner dataset upload tee/encrypted-dataset/measurements.csv.enc
dataset=$(as $dataset_owner dataset deploy --raw | raw_field address)
echo "✔ Deployed new dataset at address $dataset"
as $dataset_owner tee push-secret --dataset "$dataset" --secret-path .tee-secrets/dataset/measurements.csv.key
as $dataset_owner dataset check-secret "$dataset"
as $dataset_owner order init --dataset
# The tutorial edits iexec.json to restrict the order to TEE: its bare TEE tag.
sed -i -z 's/"tag": *\[[^]]*\]/"tag": "0x0000000000000000000000000000000000000000000000000000000000000001"/' iexec.json
as $dataset_owner order sign --dataset
as $dataset_owner order publish --dataset
as $dataset_owner orderbook dataset "$dataset" --tag tee

step "App developer ($app_developer): the CSV statistics app as WebAssembly"
cd "$demo/app-developer"
as $app_developer init
as $app_developer app init
# A name of its own, so the demo can run again on the same chain (assets are unique).
sed -i "0,/\"name\": *\"my-app\"/s//\"name\": \"csv-stats-$(date +%s)\"/" iexec.json
as $app_developer app module "$root/examples/apps/target/wasm32-wasip1/release/csv-stats.wasm" --upload
app=$(as $app_developer app deploy --raw | raw_field address)
echo "✔ Deployed new app at address $app"
as $app_developer app publish "$app" --tag tee,tdx

step "Requester ($requester): run it on the dataset in a TDX enclave (simulated here)"
cd "$demo/requester"
as $requester init
as $requester result generate-encryption-keypair
as $requester result push-encryption-key --force-update
as $requester app run "$app" --dataset "$dataset" --tag tee,tdx --encrypt-result --watch --download results
result=$(ls results/*.result)
as $requester result decrypt "$result" --output results.zip --extract results/plain
step "The decrypted result (results/plain/result.json)"
cat results/plain/result.json
echo

step "App developer: a Python app (pandas, scikit-learn, matplotlib) on the same dataset"
cd "$demo/app-developer"
mkdir -p python && cd python
as $app_developer init
as $app_developer app init
sed -i "0,/\"name\": *\"my-app\"/s//\"name\": \"python-stats-$(date +%s)\"/" iexec.json
# The fast loop first: the app on a sample of the CSV, here, in the same sandbox (no chain).
# The first run compiles the Python runtime for this machine (a minute or two, then cached).
head -n 2000 "$demo/dataset-owner/tee/original-dataset/measurements.csv" > sample.csv
as $app_developer app test "$root/examples/apps/python-stats/app" --dataset sample.csv --args "--top 3"
as $app_developer app module --python "$root/examples/apps/python-stats/app" --upload
python_app=$(as $app_developer app deploy --raw | raw_field address)
echo "✔ Deployed new Python app at address $python_app"
as $app_developer app publish "$python_app" --tag tee,tdx

step "Requester: run the Python app on the dataset in a TDX enclave (simulated here)"
cd "$demo/requester"
as $requester app run "$python_app" --dataset "$dataset" --tag tee,tdx --encrypt-result --args "--top 5" --watch --download python-results
python_result=$(ls python-results/*.result)
as $requester result decrypt "$python_result" --output python-results.zip --extract python-results/plain
step "The Python app's decrypted result"
cat python-results/plain/result.json
echo
echo "The chart: $demo/requester/python-results/plain/chart.png"
echo
step "On the marketplace page"
echo "The TEE dataset book:   ${marketplace}#/book/datasetorders?tee=1"
echo "The dataset, its deals: ${marketplace}#/asset/$dataset"
echo "(a deal's page lists its tasks, COMPLETED; a task id typed in the search box opens its page)"
echo
echo "Everything is in $demo; the stack keeps running (\`$confide dev down\` stops it)."
