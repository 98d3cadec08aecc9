#!/usr/bin/env bash
# Re-homing end to end against a running `make dev` (issue 15's done-when):
#
#     infra/rehome_demo.sh [.tools/dev.json]
#
# Adds a card through the transparent redirect for a new demo-a customer, shows that an
# account id typed in free is refused, registers a new connected account for demo-a the
# way an operator does (the tenant's Stripe Connect OAuth code, played by localstripe,
# exchanged by `cardvault-admin connect-account`), dry-runs and then runs
# `cardvault-admin rehome-cards` to it, and shows where the card's
# Stripe references point, the card localstripe holds there (last 4, expiry, no CVC check),
# and the Stripe-Account each object was made under. It switches demo-a's connection to that
# account: restart `make dev` for the original demo data.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
D="${1:-.tools/dev.json}"
j() { .tools/venv/bin/python -c "import json,sys; d=json.load(open('$D')); print($1)"; }
BASE=$(j "d['baseUrl']"); KEY=$(j "d['tenants'][0]['privateApiKey']"); PUB=$(j "d['tenants'][0]['publicApiKey']"); ORIGIN=$(j "d['tenants'][0]['allowedOrigin']"); STRIPE=$(j "d['stripeUrl']")
AUTH="Basic $(printf '%s:' "$KEY" | base64 -w0)"
CUS=$(curl -s -X POST "$BASE/v1/customers" -H "Authorization: $AUTH" -H 'Content-Type: application/json' -d '{"firstName":"Karen","lastName":"Wood"}' | .tools/venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "customer $CUS"
PM=$(curl -s -X POST "$BASE/api/paymentsv2" -H "Origin: $ORIGIN" -H 'Content-Type: application/json' -d "{\"customerId\":$CUS,\"PublicApiKey\":\"$PUB\",\"cardNumber\":\"5555555555554444\",\"firstName\":\"Karen\",\"lastName\":\"Wood\",\"expirationMonth\":7,\"expirationYear\":31,\"cvv\":\"123\",\"recaptcha\":\"cardvault-test-pass\",\"address1\":\"10 Dodge St\",\"city\":\"Columbia\",\"countryId\":124,\"postalZip\":\"V9V 9V9\"}")
echo "redirect: $PM" | cut -c1-300
PMID=$(echo "$PM" | .tools/venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["id"])')
set -a; . "$(dirname "$D")/run/stack.env"; set +a
TO=acct_1DevNewHome$(date +%s)
OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT
ADMIN=(target/debug/cardvault-admin --table "$(j "d['table']")")
if "${ADMIN[@]}" rehome-cards --tenant demo-a --to "acct_1DevTypedInFree$(date +%s)" --dry-run >/dev/null 2>"$OUT/refused.txt"; then
  echo "an unregistered account was accepted" >&2; exit 1
fi
echo "typed in free: $(cat "$OUT/refused.txt")"
CODE=$(curl -s -X POST "$STRIPE/_cardvault/oauth/authorize" -u sk_test_platform: -H 'Content-Type: application/json' -d "{\"account\":\"$TO\"}" | .tools/venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["code"])')
"${ADMIN[@]}" connect-account --tenant demo-a --oauth-code "$CODE" > "$OUT/connect.json"
echo "registered: $(cat "$OUT/connect.json" | tr -d '\n ')"
"${ADMIN[@]}" rehome-cards --tenant demo-a --to "$TO" --dry-run > "$OUT/dry.json"
.tools/venv/bin/python -c "import json,sys; d=json.load(open(sys.argv[1])); print('dry run:', len(d['moved']), 'to move,', len(d['needsReimport']), 'need re-import')" "$OUT/dry.json"
"${ADMIN[@]}" rehome-cards --tenant demo-a --to "$TO" > "$OUT/run.json"
.tools/venv/bin/python - "$PMID" "$STRIPE" "$OUT/run.json" "$TO" <<'PY'
import json, sys, urllib.request
pmid, stripe, to = int(sys.argv[1]), sys.argv[2], sys.argv[4]
d = json.load(open(sys.argv[3]))
print('moved', len(d['moved']), 'finished', d['finished'], 'switched', d['connectionSwitched'], 'target', d['target'])
m = [x for x in d['moved'] if x['paymentMethodId'] == pmid][0]
print('our card now at', m['stripe'])
src = m['stripe']['sourceId']; cus = m['stripe']['customerId']
req = urllib.request.Request(f"{stripe}/v1/customers/{cus}/sources/{src}", headers={"Authorization": "Bearer sk_test_platform"})
card = json.load(urllib.request.urlopen(req))
print('localstripe card:', card.get('last4'), card.get('exp_month'), card.get('exp_year'), 'cvc_check', card.get('cvc_check'))
ok = (card.get('last4'), card.get('exp_month'), card.get('exp_year')) == ('4444', 7, 2031)
for oid in (cus, src):
    r = urllib.request.Request(f"{stripe}/_cardvault/made_under/{oid}", headers={"Authorization": "Bearer sk_test_platform"})
    made = json.load(urllib.request.urlopen(r))
    print(oid, 'made under', made['account'])
    ok = ok and made['account'] == to
sys.exit(0 if ok else "the card did not arrive at the new account as entered")
PY
