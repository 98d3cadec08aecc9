#!/usr/bin/env bash
# make dev: the AWS stand-ins, every function under infra/fleet.py (up to $CONCURRENCY
# instances per function, default 4: `CONCURRENCY=8 make dev`), and the router, on 127.0.0.1
# until Ctrl-C. Facts for scripts go to .tools/dev.json.
set -euo pipefail
trap '' PIPE

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARDVAULT_RUN_DIR="$ROOT/.tools/run"
export CARDVAULT_ROUTER_PORT="${PORT:-8080}"
export TABLE_NAME="${TABLE_NAME:-cardvault-dev}"
# Bearer JWTs: the functions (through the fleet), the admin CLI and bootstrap.py all read
# these.
export JWT_ISSUER="${JWT_ISSUER:-cardvault-local}"
export JWT_AUDIENCE="${JWT_AUDIENCE:-cardvault-local}"

infra/tools.sh
# The fleet runs the prebuilt target/debug/<binary>, built for the functions package alone
# (as `cargo lambda build` resolves its features). A rebuild while it runs (`cargo build -p
# cardvault-functions --bins`) restarts that function's instances: the next request runs it.
cargo build --workspace --bins
cargo build -p cardvault-functions --bins

tail_pid=
trap '[[ -n $tail_pid ]] && kill "$tail_pid" 2>/dev/null; infra/stack.sh down' EXIT
trap 'exit 130' INT TERM HUP
infra/stack.sh up --serve
# shellcheck source=/dev/null
. "$CARDVAULT_RUN_DIR/stack.env"

.tools/venv/bin/python infra/bootstrap.py --admin target/debug/cardvault-admin \
  --table "$TABLE_NAME" >"$CARDVAULT_RUN_DIR/bootstrap.json"
.tools/venv/bin/python infra/facts.py write "$CARDVAULT_RUN_DIR/bootstrap.json" .tools/dev.json
.tools/venv/bin/python infra/facts.py demo .tools/dev.json
.tools/venv/bin/python infra/facts.py banner .tools/dev.json

# Logs of the functions and the router, until Ctrl-C.
tail -n 0 -F "$CARDVAULT_RUN_DIR/lambda.log" "$CARDVAULT_RUN_DIR/router.log" &
tail_pid=$!
wait
