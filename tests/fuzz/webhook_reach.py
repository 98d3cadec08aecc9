"""How far the webhook fuzz cases went, from schemathesis's NDJSON report of the webhooks run
(infra/fuzz.sh): those refused at the signature check (the one answer every refused delivery
gets, cardvault::vault::webhooks::BAD_SIGNATURE) and those past it, by status. Fails when
fewer than MIN_SHARE of the cases hooks.py's `before_call` signed (half of them, a header of
Stripe's own form `t=<time>,v1=<64 hex>`; the generated ones are arbitrary text) got past
the signature: then the fuzzing mostly met the signature check, and the handler behind it
went untested. One case past it was enough before; at 20 cases, 48 of 52 signed ones get
past (the 4 others are methods the route does not have: the router's 404).

Usage: webhook_reach.py WEBHOOKS_NDJSON
"""
import base64
import collections
import json
import re
import sys

BAD_SIGNATURE = "The Stripe-Signature header is missing or does not verify."
# The share of hook-signed cases that must get past the signature check.
MIN_SHARE = 0.25
SIGNED_BY_HOOK = re.compile(r"t=\d+,v1=[0-9a-f]{64}")


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
signed = signed_past = 0


def header(request, name):
    for k, v in (request.get("headers") or {}).items():
        if k.lower() == name:
            return v[0] if isinstance(v, list) and v else v
    return None


for request, response in responses(sys.argv[1]):
    by_hook = bool(SIGNED_BY_HOOK.fullmatch(str(header(request, "stripe-signature") or "")))
    signed += by_hook
    before = sum(past.values())
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
    signed_past += by_hook and sum(past.values()) > before
total = refused + sum(past.values()) + sum(other.values())
print(f"  webhook cases: {total} ({signed} signed by hooks.py, {signed_past} of them past the check)")
print(f"  refused at the signature check: {refused}")
print(f"  past the signature check: {sum(past.values())}"
      + "".join(f"\n    {k}: {n}" for k, n in sorted(past.items())))
print(f"  answered before the check: {sum(other.values())}"
      + "".join(f"\n    {k}: {n}" for k, n in sorted(other.items())))
if signed_past < max(1, MIN_SHARE * signed):
    print(f"webhook_reach: {signed_past} of {signed} signed webhook cases got past the signature "
          f"check, fewer than {MIN_SHARE:.0%}", file=sys.stderr)
    sys.exit(1)
