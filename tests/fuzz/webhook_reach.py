"""How far the webhook fuzz cases went, from schemathesis's NDJSON report of the webhooks run
(infra/fuzz.sh): those refused at the signature check (the one answer every refused delivery
gets, cardvault::vault::webhooks::BAD_SIGNATURE) and those past it, by status. Fails when no
case got past the signature: then the fuzzing only ever met the signature check, and the
handler behind it went untested (hooks.py's `before_call` signs half of the cases).

Usage: webhook_reach.py WEBHOOKS_NDJSON
"""
import base64
import collections
import json
import sys

BAD_SIGNATURE = "The Stripe-Signature header is missing or does not verify."


def responses(path):
    with open(path) as f:
        for line in f:
            done = json.loads(line).get("ScenarioFinished")
            if not done:
                continue
            for interaction in ((done.get("recorder") or {}).get("interactions") or {}).values():
                response = interaction.get("response")
                if response:
                    yield interaction.get("request") or {}, response


def text(content):
    if isinstance(content, dict) and "$base64" in content:
        return base64.b64decode(content["$base64"]).decode("utf-8", "replace")
    return content if isinstance(content, str) else json.dumps(content)


refused = 0
past = collections.Counter()
other = collections.Counter()
signed = 0
for request, response in responses(sys.argv[1]):
    if any(k.lower() == "stripe-signature" for k in request.get("headers") or {}):
        signed += 1
    status = response.get("status_code")
    body = text(response.get("content"))
    try:
        answer = json.loads(body)
    except ValueError:
        answer = {}
    message = ((answer.get("error") or {}).get("message") or "") if isinstance(answer, dict) else ""
    if message == BAD_SIGNATURE:
        refused += 1
    elif status == 200 and isinstance(answer, dict) and answer.get("received") is True:
        # What the event did: applied, ignored, duplicate.
        past[f"200 {answer.get('result')}"] += 1
    elif status == 400 and message.startswith("not a Stripe event"):
        # Verified, then the body's own parsing refused it.
        past[f"400 {message}"] += 1
    elif status == 409 and message:
        past["409 in progress"] += 1
    else:
        # Never reached the check: another method (the router's 404), too large, not JSON.
        other[f"{status}"] += 1
total = refused + sum(past.values()) + sum(other.values())
print(f"  webhook cases: {total} ({signed} with a Stripe-Signature header)")
print(f"  refused at the signature check: {refused}")
print(f"  past the signature check: {sum(past.values())}"
      + "".join(f"\n    {k}: {n}" for k, n in sorted(past.items())))
print(f"  answered before the check: {sum(other.values())}"
      + "".join(f"\n    {k}: {n}" for k, n in sorted(other.items())))
if not past:
    print("webhook_reach: no webhook case got past the signature check", file=sys.stderr)
    sys.exit(1)
