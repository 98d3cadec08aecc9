#!/usr/bin/env bash
# make mutants: cargo-mutants over the business rules (.cargo/mutants.toml says which files
# and which tests), then bench/mutants.md from its outcome (infra/mutants_report.py).
# Not part of make test: every mutant is a rebuild of the domain crate's unit tests.
#
#   make mutants                       every mutant (hours on a 2-core machine)
#   make mutants SHARD=0/4             every 4th mutant: a systematic sample, the same
#                                      spread over every file (round-robin sharding)
#   make mutants MUTANTS_ARGS='--re vault/cards/add'   only the mutants whose name matches
#                                      (a name starts with its file; `-f` would not narrow:
#                                      cargo-mutants adds it to the config's examine_globs).
#                                      MUTANTS_REPORT=target/other.md keeps bench/mutants.md
#   MUTANTS_JOBS=2                     two builds at once (default 1; see CARGO_TARGET_DIR)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

infra/tools.sh mutants
MUTANTS="$ROOT/.tools/cargo/bin/cargo-mutants"

JOBS="${MUTANTS_JOBS:-1}"
# cargo-mutants builds in a copy of the tree, here into a target dir of its own: never
# target/ itself, whose domain crate would then be the last mutant's build, with a newer
# mtime than the checkout's sources, so that cargo took it as fresh and the next `cargo test`
# here ran a mutant (seen). The first run seeds it with a copy of target/debug (make test's
# or make dev's dependencies), so only what differs is compiled; it stays for the next run.
# With more than one job each copy builds in a target dir of its own: cargo names the domain
# crate's artifacts the same in every copy, and two copies in one dir rebuild over each
# other (seen: 90 s builds, and tests timing out waiting for the lock).
if [[ "$JOBS" == 1 ]]; then
  export CARGO_TARGET_DIR="${MUTANTS_TARGET_DIR:-$ROOT/target/mutants}"
  if [[ ! -d "$CARGO_TARGET_DIR/debug" && -d "$ROOT/target/debug" ]]; then
    mkdir -p "$CARGO_TARGET_DIR"
    cp -a "$ROOT/target/debug" "$CARGO_TARGET_DIR/"
    rm -rf "$CARGO_TARGET_DIR/debug/incremental"
  fi
fi
OUT="$ROOT/target/mutants.out"
REPORT="${MUTANTS_REPORT:-$ROOT/bench/mutants.md}"

args=(mutants --jobs "$JOBS" --output "$ROOT/target" --no-shuffle)
if [[ -n "${SHARD:-}" ]]; then
  args+=(--shard "$SHARD" --sharding round-robin)
fi
# Word-split on purpose: MUTANTS_ARGS holds several arguments.
# shellcheck disable=SC2206
args+=(${MUTANTS_ARGS:-})

# The whole scope, listed (no build): the report says what share of it a sample tried.
# shellcheck disable=SC2206
scope_args=(mutants --list ${MUTANTS_ARGS:-})
mkdir -p "$ROOT/target"
"$MUTANTS" "${scope_args[@]}" >"$ROOT/target/mutants-scope.txt"

started=$(date +%s)
status=0
# Niced: the machine's two cores are shared with everything else. cargo-mutants exits 2
# when some mutant was missed, 3 on a timeout: still a report to write.
nice -n 19 "$MUTANTS" "${args[@]}" || status=$?
case "$status" in
  0 | 2 | 3) ;;
  *)
    echo "mutants: cargo-mutants failed (exit $status): see $OUT/debug.log" >&2
    exit "$status"
    ;;
esac

.tools/venv/bin/python infra/mutants_report.py "$OUT" \
  --reasons bench/mutants-left.tsv --scope "$ROOT/target/mutants-scope.txt" \
  --command "make mutants${SHARD:+ SHARD=$SHARD}${MUTANTS_ARGS:+ MUTANTS_ARGS='$MUTANTS_ARGS'}" \
  --seconds "$(($(date +%s) - started))" >"$REPORT"
echo "mutants: $REPORT written ($(($(date +%s) - started)) s)"
