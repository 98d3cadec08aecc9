"""schemathesis hooks for infra/fuzz.sh: the `no_card_echo` check, valid redirect
credentials (public key, reCAPTCHA pass token, a customer) for part of the generated cases,
and a valid `Stripe-Signature` on part of the webhook cases, made by Stripe's own library
(tests/stripe_sign.cjs), so that they reach the webhook handler past its signature check
(tests/fuzz/webhook_reach.py counts them).

The check fails when a response carries a card number the request sent: any run of 13-19
digits in the request that passes the Luhn check, found again in the response body.
"""
import json
import os
import random
import re
import subprocess
import time
from pathlib import Path

import schemathesis

DIGITS = re.compile(r"(?<!\d)\d{13,19}(?!\d)")


def luhn(number):
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_numbers(text):
    return {m for m in DIGITS.findall(re.sub(r"[ -]", "", text)) if luhn(m)} | {
        m for m in DIGITS.findall(text) if luhn(m)
    }


def request_text(case):
    parts = [json.dumps(v, default=str) for v in (case.body, case.query, case.path_parameters)
             if v is not None]
    return " ".join(parts)


@schemathesis.check
def no_card_echo(ctx, response, case):
    sent = card_numbers(request_text(case))
    body = response.text or ""
    echoed = sorted(n for n in sent if n in body)
    if echoed:
        raise AssertionError(f"the response echoes a card number the request sent ({len(echoed)})")
    return None


FACTS = json.load(open(os.environ["CARDVAULT_FUZZ_FACTS"])) if os.environ.get(
    "CARDVAULT_FUZZ_FACTS") else None


@schemathesis.hook
def map_body(ctx, body):
    """Half of the redirect's generated bodies get a real public key, reCAPTCHA token and
    customer, so the fuzzing reaches past the tenant lookup into card validation and Stripe."""
    op = ctx.operation
    if FACTS is None or op.path.rstrip("/") != "/api/paymentsv2" or not isinstance(body, dict):
        return body
    if random.random() < 0.5:
        return body
    redirect = FACTS.get("fuzz", {})
    body = dict(body)
    body["publicApiKey"] = FACTS["tenants"][0]["publicApiKey"]
    body["recaptcha"] = FACTS["recaptcha"]["passToken"]
    if redirect.get("customerId"):
        body["customerId"] = redirect["customerId"]
    return body


ROOT = Path(__file__).resolve().parents[2]
WEBHOOKS = "/v1/webhooks/stripe"
# The event types the vault acts on (cardvault_stripe::webhook::HANDLED_EVENTS) and one
# it ignores: a signed body given an event's id, type and time reaches the event's parsing.
EVENT_TYPES = [
    "customer.source.updated", "customer.source.expiring", "customer.source.deleted",
    "customer.deleted", "payment_method.updated", "payment_method.automatically_updated",
    "payment_method.detached", "charge.failed", "charge.succeeded",
    "payment_intent.payment_failed", "payment_intent.succeeded",
    "account.application.deauthorized", "invoice.paid",
]
DEAUTHORIZED = "account.application.deauthorized"
_signer = None


def stripe_signature(secret, t, payload):
    """The header Stripe's Node library makes for `payload` (str) signed at `t`: one node
    process for the whole run, fed a JSON line per signature; it ends when stdin closes."""
    global _signer
    if _signer is None:
        _signer = subprocess.Popen(
            ["node", str(ROOT / "tests/stripe_sign.cjs"), "--lines"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8")
    _signer.stdin.write(json.dumps({"payload": payload, "secret": secret, "timestamp": t}) + "\n")
    _signer.stdin.flush()
    header = _signer.stdout.readline().strip()
    if not header.startswith(f"t={t},v1="):
        raise RuntimeError(f"tests/stripe_sign.cjs answered {header!r} (infra/tools.sh installs stripe)")
    return header


@schemathesis.hook
def before_call(ctx, case, kwargs):
    """Half of the webhook cases are signed with the endpoint's secret (the tenant route's
    with a tenant that has one), over the exact bytes sent; half of those get an event's id,
    type and time too. The other half keep what was generated: unsigned or wrongly signed."""
    if FACTS is None or not case.operation.path.startswith(WEBHOOKS) or random.random() < 0.5:
        return
    hooks = FACTS.get("webhooks") or {}
    if "{tenantId}" in case.operation.path:
        tenants = sorted((hooks.get("tenants") or {}).items())
        if not tenants:
            return
        tenant, hook = tenants[0]
        case.path_parameters = {**(case.path_parameters or {}), "tenantId": tenant}
    else:
        hook = hooks["platform"]
    now = int(time.time())
    body = case.body
    if isinstance(body, dict) and random.random() < 0.5:
        # Last, so that a generated `id` or `type` does not overwrite the event's.
        body = {**body, "id": f"evt_fuzz{random.getrandbits(64):x}", "object": "event",
                "type": random.choice(EVENT_TYPES), "created": now}
    if isinstance(body, dict) and body.get("type") == DEAUTHORIZED:
        # The document's example names demo tenant a's account: a signed deauthorization of it
        # would revoke the connection the later steps (bench, client, sam local) import through.
        body = {**body, "account": f"acct_fuzz{random.getrandbits(48):x}"}
    if isinstance(body, bytes):
        payload = body.decode("utf-8", "replace")
        body = payload.encode("utf-8")
    else:
        try:
            payload = json.dumps(body, allow_nan=False)
        except (TypeError, ValueError):
            return
        body = payload.encode("utf-8")
    # Sent as these bytes (schemathesis sends a bytes body as it is): what was signed.
    case.body = body
    case.headers = {**(case.headers or {}), "Stripe-Signature": stripe_signature(hook["secret"], now, payload)}
