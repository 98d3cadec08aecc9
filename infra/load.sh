#!/usr/bin/env bash
# make load: builds, starts a stack of its own (its own run dir and table) at CONCURRENCY
# instances per function (default 32), bootstraps it, runs infra/load.py (workload, burst,
# invariants from the stored state), writes bench/load.md and bench/load.svg, stops the
# stack, and exits non-zero on any broken invariant. Loopback only; load.py stops by itself
# within its budget, and the stack's start is bounded by stack.sh's health timeout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARDVAULT_RUN_DIR="${CARDVAULT_RUN_DIR:-$ROOT/.tools/run-load}"
export CARDVAULT_ROUTER_PORT=0
export TABLE_NAME="${TABLE_NAME:-cardvault-load}"
export JWT_ISSUER=cardvault-local
export JWT_AUDIENCE=cardvault-local
export CONCURRENCY="${CONCURRENCY:-32}"
# 32 busy instances of a function share this machine's few cores, where Lambda gives each its
# own CPU share: stretch every function's Timeout so that a 5xx is the vault's, not the
# machine's (FLEET_TIMEOUT_SCALE=1 make load for Lambda's own; bench/load.md says which).
export FLEET_TIMEOUT_SCALE="${FLEET_TIMEOUT_SCALE:-3}"

infra/tools.sh
# The fleet runs the prebuilt binaries: build them (as test.sh does) and the admin CLI.
cargo build -p cardvault-functions --bins
cargo build -p cardvault-admin

started=$(date +%s)
trap 'infra/stack.sh down >/dev/null 2>&1 || true' EXIT
trap 'exit 130' INT TERM HUP
infra/stack.sh up --serve
# shellcheck source=/dev/null
. "$CARDVAULT_RUN_DIR/stack.env"
.tools/venv/bin/python infra/bootstrap.py --admin target/debug/cardvault-admin \
  --table "$TABLE_NAME" >"$CARDVAULT_RUN_DIR/bootstrap.json"
.tools/venv/bin/python infra/facts.py write "$CARDVAULT_RUN_DIR/bootstrap.json" \
  "$CARDVAULT_RUN_DIR/stack.json"
rc=0
.tools/venv/bin/python infra/load.py --facts "$CARDVAULT_RUN_DIR/stack.json" \
  --admin target/debug/cardvault-admin --out "${LOAD_OUT:-bench}" \
  --concurrency "$CONCURRENCY" --min-busy "${LOAD_MIN_BUSY:-0}" "$@" || rc=$?
echo "load: stack up to verdict in $(($(date +%s) - started)) s"
exit "$rc"
