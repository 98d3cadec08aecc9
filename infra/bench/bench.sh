#!/usr/bin/env bash
# make bench: builds every function and the baselines (infra/bench, a lambda_http hello and
# one GetItem) with the release profile, then measures them side by side against a local
# stack of their own (infra/bench/bench.py): size, init, first invocation over plain HTTP
# and over TLS, warm median and p99, peak RSS, and the AWS calls per request counted at
# the stand-ins. Writes bench/results.md, bench/chart.svg and bench/results.json.
#
#   BENCH_RUNS, BENCH_WARM   cold starts per binary and mode (7), warm invocations each (30)
#   BENCH_OUT                where the results go (bench/)
#   BENCH_ADMIN              a cardvault-admin binary to bootstrap with (default: a debug build)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export CARDVAULT_RUN_DIR="${CARDVAULT_RUN_DIR:-$ROOT/.tools/run-bench}"
export TABLE_NAME=cardvault-bench
export JWT_ISSUER=cardvault-local
export JWT_AUDIENCE=cardvault-local
export CARGO_INCREMENTAL=0
OUT="${BENCH_OUT:-$ROOT/bench}"
started=$(date +%s)
step() { printf '\n==> %s (%d s)\n' "$*" "$(($(date +%s) - started))"; }

step "tools"
infra/tools.sh

# The project's entropy choice: AWS_LC_SYS_NO_JITTER_ENTROPY from the environment, else
# from .cargo/config.toml's [env] (which cargo lambda and sam build read too).
project=$(.tools/venv/bin/python - <<'PY'
import os, tomllib
v = os.environ.get("AWS_LC_SYS_NO_JITTER_ENTROPY")
if v is None:
    try:
        with open(".cargo/config.toml", "rb") as f:
            v = tomllib.load(f).get("env", {}).get("AWS_LC_SYS_NO_JITTER_ENTROPY")
    except FileNotFoundError:
        v = None
    if isinstance(v, dict):
        v = v.get("value")
print("1" if v and str(v)[0] in "123456789yYtT" or str(v).lower().startswith("on") else "0")
PY
)
variant=$((1 - project))

step "build: every function and the baselines, one cargo invocation (release profile)"
# The baselines are built with the functions so that their dependencies get the same
# features, and are built once.
cargo build --release -p cardvault-functions -p cardvault-bench --bins
step "build: the GetItem baseline with AWS_LC_SYS_NO_JITTER_ENTROPY=$variant (the other entropy setting)"
# aws-lc-sys reads the variable at build time only: its own target dir, so that the main
# build is not rebuilt. The same package selection keeps the dependencies' features.
CARGO_TARGET_DIR="$ROOT/target/bench-entropy-$variant" AWS_LC_SYS_NO_JITTER_ENTROPY=$variant \
  cargo build --release -p cardvault-functions -p cardvault-bench --bin bench-getitem
# bootstrap.py drives the admin CLI; a debug build is enough (make test has one already).
admin="${BENCH_ADMIN:-$ROOT/target/debug/cardvault-admin}"
if [[ -z "${BENCH_ADMIN:-}" ]]; then
  step "build: the admin CLI (bootstrap)"
  cargo build -p cardvault-admin
fi

step "local stack"
trap 'infra/stack.sh down >/dev/null 2>&1 || true' EXIT
infra/stack.sh up
# shellcheck source=/dev/null
. "$CARDVAULT_RUN_DIR/stack.env"
.tools/venv/bin/python infra/bootstrap.py --admin "$admin" \
  --table "$TABLE_NAME" >"$CARDVAULT_RUN_DIR/bootstrap.json"

step "measure"
.tools/venv/bin/python infra/bench/bench.py --bins "${BENCH_BINS:-$ROOT/target/release}" \
  --variant "$ROOT/target/bench-entropy-$variant/release/bench-getitem" --project-no-jitter "$project" \
  --bootstrap "$CARDVAULT_RUN_DIR/bootstrap.json" --out "$OUT" \
  --runs "${BENCH_RUNS:-7}" --warm "${BENCH_WARM:-30}"
step "done"
