#!/usr/bin/env bash
# Fuzzes the running stack from openapi.yaml with schemathesis, one run per dialect with
# that dialect's demo credentials (from the facts file), then each authenticated dialect
# again with a wrong credential. Checks: no 5xx, status codes, content types and bodies as
# the document says, auth not ignored, and no response echoing a card number the request
# sent (tests/fuzz/hooks.py), and webhook cases past the signature check (webhook_reach.py).
# Any failure fails the script.
#
# Then each operation that takes an input must have had at least MIN generated cases over
# the runs with valid credentials (a wrong credential's cases only meet the authentication
# check), every other operation at least one (tests/fuzz/count.py), or the script fails.
#
# Usage: infra/fuzz.sh FACTS_JSON [CASES [MIN]]   (CASES: generated cases per operation and
# run, default 20; MIN: cases per operation over those runs, default CASES up to MIN_FLOOR)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
FACTS="$1"
CASES="${2:-20}"
# A long run (make fuzz CASES=500) still needs MIN_FLOOR cases of each operation, not CASES:
# hypothesis stops early on an operation whose inputs it has exhausted, and CASES is a most.
# At CASES=20 the fewest of an operation with an input was 37.
MIN_FLOOR=100
MIN_CASES="${3:-$((CASES < MIN_FLOOR ? CASES : MIN_FLOOR))}"
PY=.tools/venv/bin/python
OUT="${CARDVAULT_RUN_DIR:-$ROOT/.tools/run}/fuzz"
mkdir -p "$OUT"

fact() { "$PY" -c 'import json,sys; f=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"f": f}))' "$FACTS" "$1"; }
BASE="$(fact 'f["baseUrl"]')"
MERCHANT_KEY="$(fact 'f["tenants"][0]["privateApiKey"]')"
USER_JWT="$(fact 'f["jwt"]["tokens"]["demo-a"]["token"]')"
BILLING_JWT="$(fact 'f["jwt"]["tokens"]["admin"]["token"]')"

# A customer of the first demo tenant, for the redirect's valid cases (hooks.py).
customer="$(curl -sf -X POST "$BASE/v1/customers" -H "Authorization: Basic $MERCHANT_KEY" \
  -H 'Content-Type: application/json' -d '{"firstName":"Fuzz","lastName":"Cases"}' \
  | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
"$PY" -c 'import json,sys; f=json.load(open(sys.argv[1])); f["fuzz"]={"customerId": int(sys.argv[2])}; json.dump(f, open(sys.argv[3], "w"))' \
  "$FACTS" "$customer" "$OUT/facts.json"
export CARDVAULT_FUZZ_FACTS="$OUT/facts.json"
export SCHEMATHESIS_HOOKS=hooks
export PYTHONPATH="$ROOT/tests/fuzz"

# One worker: CPython 3.11 can fail compiling in two threads at once ("AST constructor
# recursion depth mismatch"), which schemathesis reports as a runtime error.
CHECKS="not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,no_card_echo"

run() { # NAME TAG CASES CHECKS [schemathesis args...]
  local name="$1" tag="$2" n="$3" checks="$4"
  shift 4
  rm -f "$OUT/$name.ndjson"
  if [[ $name == *-wrong-* ]]; then wrong+=("$OUT/$name.ndjson"); else reports+=("$OUT/$name.ndjson"); fi
  printf 'fuzz: %s (%s cases per operation)\n' "$name" "$n"
  # From the run dir: schemathesis and hypothesis keep caches in the working directory,
  # out of the source tree.
  (cd "$OUT" && "$ROOT/.tools/venv/bin/schemathesis" run "$ROOT/openapi.yaml" --url "$BASE" --include-tag "$tag" \
    --max-examples "$n" --checks "$checks" --seed 16 --no-color \
    --phases examples,coverage,fuzzing --workers 1 --request-timeout 30 \
    --report ndjson --report-ndjson-path "$OUT/$name.ndjson" "$@") >"$OUT/$name.log" 2>&1 \
    || { cat "$OUT/$name.log"; printf 'fuzz: %s FAILED\n' "$name" >&2; return 1; }
  grep -A1 '^Test cases:' "$OUT/$name.log" | tail -1 || true
}

MERCHANT="Merchant API (Fusebill style)"
REDIRECT="Transparent redirect (Fusebill paymentsv2)"
USER="User API (Rechat style)"
BILLING="Billing card API (EmbedThis style)"
WEBHOOK="Stripe webhooks"
failed=0
reports=() wrong=()
run merchant "$MERCHANT" "$CASES" "$CHECKS,ignored_auth" -H "Authorization: Basic $MERCHANT_KEY" || failed=1
run redirect "$REDIRECT" "$CASES" "$CHECKS" || failed=1
run user "$USER" "$CASES" "$CHECKS,ignored_auth" -H "Authorization: Bearer $USER_JWT" || failed=1
run billing "$BILLING" "$CASES" "$CHECKS,ignored_auth" -H "Authorization: Bearer $BILLING_JWT" || failed=1
# Half the events signed by Stripe's library with the endpoint's secret (hooks.py), to reach
# the handler; the rest unsigned or wrongly signed: a documented 4xx each. webhook_reach.py
# fails the run when fewer than a quarter of the signed cases got past the signature check.
run webhooks "$WEBHOOK" "$CASES" "$CHECKS" || failed=1
"$PY" tests/fuzz/webhook_reach.py "$OUT/webhooks.ndjson" || failed=1
# Wrong credentials: every answer must still be a documented 4xx, never a 5xx.
few=$(((CASES + 4) / 5))
run merchant-wrong-key "$MERCHANT" "$few" "$CHECKS" -H "Authorization: Basic sk_wrong_key" || failed=1
run user-wrong-jwt "$USER" "$few" "$CHECKS" -H "Authorization: Bearer not.a.jwt" || failed=1
run billing-wrong-jwt "$BILLING" "$few" "$CHECKS" -H "Authorization: Bearer $USER_JWT.x" || failed=1

# Reports of this run only: an earlier run's would count cases this one never sent.
"$PY" tests/fuzz/count.py --spec openapi.yaml --min "$MIN_CASES" \
  "${reports[@]}" --also "${wrong[@]}" || failed=1
exit "$failed"
