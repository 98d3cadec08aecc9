#!/usr/bin/env bash
# make size: release sizes of every function, and the cold start of two of them
# (init, first invocation, warm) against a local stack of their own.
# The release profile is the deployed one; the build is for this machine's CPU (x86_64
# here), while `make release` / `sam build` cross-compile for arm64 with cargo lambda.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export CARDVAULT_RUN_DIR="$ROOT/.tools/run-bench"
export TABLE_NAME=cardvault-bench

infra/tools.sh
cargo build --release -p cardvault-functions --bins
cargo build -p cardvault-admin

echo "== release binary sizes"
bins=$(sed -n 's/^name = "\(.*\)"$/\1/p' functions/Cargo.toml | grep -v '^cardvault')
for b in $bins; do
  awk -v b="$b" -v s="$(stat -c %s "target/release/$b")" 'BEGIN { printf "%-32s %6.2f MiB\n", b, s / 1048576 }'
done

trap 'infra/stack.sh down >/dev/null 2>&1 || true' EXIT
infra/stack.sh up
# shellcheck source=/dev/null
. "$CARDVAULT_RUN_DIR/stack.env"
.tools/venv/bin/python infra/bootstrap.py --admin target/debug/cardvault-admin \
  --table "$TABLE_NAME" >"$CARDVAULT_RUN_DIR/bootstrap.json"
key=$(.tools/venv/bin/python -c 'import json,sys; print(json.load(open(sys.argv[1]))["tenants"][0]["privateApiKey"])' "$CARDVAULT_RUN_DIR/bootstrap.json")

echo "== cold start: get-customer (auth GetItem + customer GetItem; answers 404)"
.tools/venv/bin/python infra/bench/coldstart.py --binary target/release/get-customer \
  --event events/get-customer.json --set-header "authorization=Basic $key"
echo "== cold start: create-customer (auth GetItem + conditional PutItem)"
.tools/venv/bin/python infra/bench/coldstart.py --binary target/release/create-customer \
  --event events/create-customer.json --set-header "authorization=Basic $key"
