#!/usr/bin/env bash
# make test: installs what it needs, starts its own stack, runs every test and check,
# stops the stack, and exits non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
started=$(date +%s)
# Its own run dir and table, so it can run beside `make dev`.
export CARDVAULT_RUN_DIR="${CARDVAULT_RUN_DIR:-$ROOT/.tools/run-test}"
export CARDVAULT_ROUTER_PORT=0
export TABLE_NAME=cardvault-test
# Bearer JWTs: the functions, the admin CLI, bootstrap.py and the tests read these.
export JWT_ISSUER=cardvault-local
export JWT_AUDIENCE=cardvault-local
export SAM_CLI_TELEMETRY=0
# Instances per function in the stack's fleet (infra/fleet.py): concurrent tests really are.
export CONCURRENCY="${CONCURRENCY:-8}"

step() { printf '\n==> %s\n' "$*"; }

step "tools"
infra/tools.sh browser

step "format"
cargo fmt --all -- --check

step "build"
# The benchmark's baselines (infra/bench) are built by make bench only.
cargo build --workspace --exclude cardvault-bench --all-targets
# The fleet runs target/debug/<binary> as built for the functions package alone (features
# resolved for it, as `cargo lambda build` does).
cargo build -p cardvault-functions --bins

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings

# Everything but cardvault-tests needs no stack (make unit); the integration tier follows.
step "unit tests (no stack)"
cargo test --workspace --exclude cardvault-tests --exclude cardvault-bench

# openapi.yaml: what the wire types generate (feature `openapi`), template.yaml's routes,
# and lint-clean.
step "openapi"
cargo clippy -p cardvault --features openapi --all-targets -- -D warnings
cargo test -p cardvault --features openapi --test openapi
.tools/redocly/node_modules/.bin/redocly lint --format=stylish openapi.yaml

step "local stack"
trap 'infra/stack.sh down >/dev/null 2>&1 || true' EXIT
infra/stack.sh up --serve
# shellcheck source=/dev/null
. "$CARDVAULT_RUN_DIR/stack.env"
.tools/venv/bin/python infra/bootstrap.py --admin target/debug/cardvault-admin \
  --table "$TABLE_NAME" >"$CARDVAULT_RUN_DIR/bootstrap.json"
export CARDVAULT_STACK="$CARDVAULT_RUN_DIR/stack.json"
.tools/venv/bin/python infra/facts.py write "$CARDVAULT_RUN_DIR/bootstrap.json" "$CARDVAULT_STACK"

# The fleet's own tests (pools, deadlines, failures, stream mappings) with stand-in functions.
step "fleet"
.tools/venv/bin/python infra/fleet_test.py

# localstripe as patched by infra/localstripe_cardvault.py (PaymentMethods, SetupIntents
# with 3-D Secure, off-session charges, the Stripe.js stand-in), on a server of its own.
step "localstripe"
.tools/venv/bin/python infra/localstripe_test.py

step "integration tests"
cargo test -p cardvault-tests

# DynamoDB calls per warm request of every function, counted at the stand-ins by make
# bench's proxies, against infra/bench/budgets.json (README, "Round trips").
step "call budgets"
.tools/venv/bin/python infra/bench/bench.py --count --bins target/debug \
  --bootstrap "$CARDVAULT_RUN_DIR/bootstrap.json" --out "$CARDVAULT_RUN_DIR/calls" --warm 2

# make load's short mode (infra/load.py): about 30 s of concurrent mixed load on tenants
# of its own, a small burst, then its invariants from the stored state; fails on any.
step "load (short)"
.tools/venv/bin/python infra/load.py --short --facts "$CARDVAULT_STACK" \
  --admin target/debug/cardvault-admin --out "$CARDVAULT_RUN_DIR/load" \
  --concurrency "${CONCURRENCY:-8}"

# schemathesis over openapi.yaml, every dialect, valid and wrong credentials (README, "OpenAPI").
step "fuzzing"
infra/fuzz.sh "$CARDVAULT_STACK" "${FUZZ_CASES:-20}"

# A Python client generated from openapi.yaml, one call per dialect (README, "OpenAPI").
step "generated client"
.tools/venv/bin/python tests/client/smoke.py "$CARDVAULT_STACK" "$CARDVAULT_RUN_DIR/client"

# sam build and sam local, in Docker, against this stack: every function through
# `sam local start-lambda`, its shipped event answering the status events/expected.toml
# names (as through cargo lambda) and a real-credential event 2xx; one request per dialect
# through `sam local start-api` (README, "Develop with SAM").
step "sam local"
infra/sam-local.sh

step "template"
.tools/venv/bin/sam validate --lint --region us-east-1 --template template.yaml
.tools/venv/bin/cfn-lint template.yaml

# The stack's own teardown, checked: a process of the run dir left after it fails the run
# (infra/stack.sh down). On an earlier failure, the trap stops it instead.
step "stop the stack"
trap - EXIT
infra/stack.sh down

step "done in $(($(date +%s) - started)) s"
