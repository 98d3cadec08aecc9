"""Tests of infra/localstripe_cardvault.py over HTTP: starts it on a free port of 127.0.0.1,
with a webhook receiver on another (registered at POST /_config/webhooks/<id>), and checks
each behaviour the wrapper adds or keeps. Exits non-zero on any failure.

  .tools/venv/bin/python infra/localstripe_test.py [-k NAME]

Stdlib only; the Stripe.js test runs localstripe's served script under node (skipped, and
said, when node is missing).
"""
import argparse
import hashlib
import hmac
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SK = "sk_test_localstripe_test"
PK = "pk_test_localstripe_test"
HOOK_SECRET = "whsec_localstripe_test"
YEAR = "2031"
BASE = None
EVENTS = []  # every webhook received: (verified signature, event)
EVENTS_LOCK = threading.Lock()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method, path, form=(), key=SK, json_body=None, query=None, headers=None):
    """(status, JSON) of a request; form is a list of (name, value) pairs."""
    url = BASE + path + ("?" + urllib.parse.urlencode(query) if query else "")
    hdrs = dict(headers or {})
    data = None
    if key and key.startswith("sk_"):
        hdrs["Authorization"] = "Bearer " + key
    elif key:  # a publishable key goes in the body (or the query of a GET), as Stripe.js
        if method == "GET":
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"key": key})
        else:
            form = list(form) + [("key", key)]
    if json_body is not None:
        data = json.dumps(json_body).encode()
        hdrs["Content-Type"] = "application/json"
    elif method != "GET":
        data = urllib.parse.urlencode(list(form)).encode()
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
            status = resp.status
    except urllib.error.HTTPError as e:
        body, status = e.read(), e.code
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode(errors="replace")


def ok(method, path, form=(), **kw):
    status, body = call(method, path, form, **kw)
    check(status == 200, f"{method} {path}: {status} {body}")
    return body


def check(cond, message):
    if not cond:
        raise AssertionError(message)


def eq(actual, expected, what):
    check(actual == expected, f"{what}: {actual!r} != {expected!r}")


def card(number, cvc="123", prefix="card"):
    form = [(f"{prefix}[number]", number), (f"{prefix}[exp_month]", "12"),
            (f"{prefix}[exp_year]", YEAR)]
    if cvc is not None:
        form.append((f"{prefix}[cvc]", cvc))
    return form


def customer(**extra):
    return ok("POST", "/v1/customers", list(extra.items()))["id"]


def payment_method(number, cvc="123", extra=(), key=SK):
    return ok("POST", "/v1/payment_methods", [("type", "card")] + card(number, cvc)
              + list(extra), key=key)


def setup_intent(cus, pm, confirm=True, extra=()):
    form = [("customer", cus), ("payment_method", pm)] + list(extra)
    if confirm:
        form.append(("confirm", "true"))
    return call("POST", "/v1/setup_intents", form)


def wait_event(kind, object_id, timeout=8.0):
    """The webhook event of this type about this object (localstripe sends after ~1 s)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with EVENTS_LOCK:
            for verified, event in EVENTS:
                if event.get("type") == kind and event["data"]["object"].get("id") == object_id:
                    check(verified, f"{kind}: bad Stripe-Signature")
                    return event
        time.sleep(0.1)
    with EVENTS_LOCK:
        seen = [(e.get("type"), e["data"]["object"].get("id")) for _, e in EVENTS]
    raise AssertionError(f"no {kind} webhook for {object_id} (seen: {seen})")


def no_event(kind, object_id, wait=2.0):
    time.sleep(wait)
    with EVENTS_LOCK:
        check(not any(e.get("type") == kind and e["data"]["object"].get("id") == object_id
                      for _, e in EVENTS), f"unexpected {kind} webhook for {object_id}")


# --- the behaviours kept from stack.sh's inline wrapper -----------------------------------

def test_kept_resource_missing_and_unknown_route():
    status, body = call("GET", "/v1/customers/cus_missing")
    eq(status, 404, "missing customer")
    eq(body["error"].get("code"), "resource_missing", "404 code")
    status, body = call("GET", "/v1/nothing_here")
    eq(status, 404, "unknown route")
    check(not isinstance(body, dict) or "code" not in body.get("error", {}),
          "an unknown route's 404 has no code")


def test_kept_source_without_cvc_metadata_and_declined_holder():
    cus = customer()
    src = ok("POST", f"/v1/customers/{cus}/sources",
             [("source[object]", "card"), ("source[number]", "4242424242424242"),
              ("source[exp_month]", "12"), ("source[exp_year]", YEAR),
              ("metadata[vault_card]", "vc_1")])
    eq(src["cvc_check"], None, "cvc_check of a card without cvc")
    eq(src["metadata"], {"vault_card": "vc_1"}, "source metadata")
    status, body = call("POST", f"/v1/customers/{cus}/sources",
                        [("source[object]", "card"), ("source[number]", "4242424242424242"),
                         ("source[exp_month]", "12"), ("source[exp_year]", YEAR),
                         ("source[cvc]", "123"), ("source[name]", "Declined Cardholder")])
    eq(status, 402, "declined holder")
    eq(body["error"]["code"], "card_declined", "declined holder code")


def test_kept_made_under_calls_and_oauth():
    made = ok("POST", "/v1/customers", headers={"Stripe-Account": "acct_kept"})
    eq(ok("GET", f"/_cardvault/made_under/{made['id']}")["account"], "acct_kept", "made_under")
    calls = ok("GET", "/_cardvault/calls", query={"path": "/v1/customers"})
    check(any(c["account"] == "acct_kept" and c["key"] == SK for c in calls), f"calls: {calls}")
    code = ok("POST", "/_cardvault/oauth/authorize", json_body={"account": "acct_kept"})["code"]
    token = ok("POST", "/oauth/token", [("grant_type", "authorization_code"), ("code", code)])
    eq(token["stripe_user_id"], "acct_kept", "oauth stripe_user_id")
    status, body = call("POST", "/oauth/token",
                        [("grant_type", "authorization_code"), ("code", code)])
    eq((status, body.get("error")), (400, "invalid_grant"), "a code used twice")


# --- PaymentMethods -----------------------------------------------------------------------

def test_pm_card_fields_cvc_check_brand():
    pm = payment_method("4242424242424242", extra=[
        ("billing_details[name]", "Ada Lovelace"), ("billing_details[email]", "ada@example.com"),
        ("billing_details[address][postal_code]", "12345"), ("metadata[vault_card]", "vc_9")])
    check(pm["id"].startswith("pm_"), pm["id"])
    eq(pm["object"], "payment_method", "object")
    eq(pm["card"]["checks"]["cvc_check"], "pass", "cvc_check with a cvc")
    eq(pm["card"]["brand"], "visa", "brand")
    eq((pm["card"]["last4"], pm["card"]["exp_month"], pm["card"]["exp_year"]),
       ("4242", 12, int(YEAR)), "card fields")
    eq(pm["billing_details"]["name"], "Ada Lovelace", "billing name")
    eq(pm["billing_details"]["address"]["postal_code"], "12345", "billing postal code")
    eq(pm["billing_details"]["address"]["city"], None, "billing fields absent are null")
    eq(pm["metadata"], {"vault_card": "vc_9"}, "metadata")
    eq(pm["customer"], None, "customer")
    check("number" not in json.dumps(pm["card"]) and "4242424242424242" not in json.dumps(pm),
          "the PAN is not in the answer")
    no_cvc = payment_method("5555555555554444", cvc=None)
    eq(no_cvc["card"]["checks"]["cvc_check"], None, "cvc_check without a cvc")
    eq(no_cvc["card"]["brand"], "mastercard", "mastercard brand")
    amex = payment_method("378282246310005", cvc="1234")
    eq((amex["card"]["brand"], amex["card"]["last4"]), ("amex", "0005"), "15-digit amex")
    fails = payment_method("4000000000000101")
    eq(fails["card"]["checks"]["cvc_check"], "fail", "the cvc-check-fails test card")
    got = ok("GET", f"/v1/payment_methods/{pm['id']}")
    eq(got["card"], pm["card"], "GET /v1/payment_methods/{id}")


def test_pm_refused_card_details():
    for number, cvc, code in [("4242424242424241", "123", "incorrect_number"),
                              ("4242", "123", "invalid_number"),
                              ("4242424242424242", "12", "invalid_cvc"),
                              ("378282246310005", "123", "invalid_cvc")]:
        status, body = call("POST", "/v1/payment_methods",
                            [("type", "card")] + card(number, cvc))
        eq((status, body["error"]["type"], body["error"]["code"]),
           (402, "card_error", code), f"card {number[-4:]} cvc {len(cvc)}")
    status, body = call("POST", "/v1/payment_methods",
                        [("type", "card"), ("card[number]", "4242424242424242"),
                         ("card[exp_month]", "12"), ("card[exp_year]", "2001")])
    eq((status, body["error"]["code"]), (402, "invalid_expiry_year"), "expired year")
    status, body = call("POST", "/v1/payment_methods", [("type", "card")]
                        + card("4242424242424242") + [("surprise", "1")])
    eq(status, 400, "unknown parameter")


def test_pm_from_token_single_use():
    tok = ok("POST", "/v1/tokens", card("4000002500003155", cvc=None)
             + [("card[name]", "Tok Holder")])
    pm = ok("POST", "/v1/payment_methods", [("type", "card"), ("card[token]", tok["id"])])
    eq(pm["card"]["last4"], "3155", "last4 from the token")
    eq(pm["card"]["fingerprint"], tok["card"]["fingerprint"], "same card as the token's")
    eq((pm["card"]["exp_month"], pm["card"]["exp_year"]), (12, int(YEAR)), "expiry")
    eq(pm["card"]["checks"]["cvc_check"], None, "a token without cvc: no cvc check")
    eq(pm["billing_details"]["name"], "Tok Holder", "holder from the token")
    eq(ok("GET", f"/v1/tokens/{tok['id']}")["used"], True, "the token is used")
    status, body = call("POST", "/v1/payment_methods",
                        [("type", "card"), ("card[token]", tok["id"])])
    eq((status, body["error"].get("code")), (400, "token_already_used"), "a token used twice")
    status, body = call("POST", "/v1/payment_methods",
                        [("type", "card"), ("card[token]", "tok_missing")])
    eq((status, body["error"].get("code")), (400, "resource_missing"), "missing token")
    tok2 = ok("POST", "/v1/tokens", card("4242424242424242"))
    eq(ok("POST", "/v1/payment_methods", [("type", "card"), ("card[token]", tok2["id"])])
       ["card"]["checks"]["cvc_check"], "pass", "a token with cvc: cvc check pass")


def test_publishable_key_only_where_stripe_takes_it():
    pm = payment_method("4242424242424242", key=PK)
    check(pm["id"].startswith("pm_"), "PaymentMethod made with a pk_")
    cus = customer()
    for method, path, form in [
            ("GET", f"/v1/payment_methods/{pm['id']}", ()),
            ("POST", f"/v1/payment_methods/{pm['id']}/attach", [("customer", cus)]),
            ("POST", f"/v1/payment_methods/{pm['id']}/detach", ()),
            ("POST", "/v1/setup_intents", [("customer", cus), ("payment_method", pm["id"])]),
            ("POST", "/v1/payment_intents", [("amount", "100"), ("currency", "usd")]),
            ("POST", "/v1/customers", ()),
            ("GET", f"/v1/customers/{cus}/payment_methods", ())]:
        status, _ = call(method, path, form, key=PK)
        eq(status, 401, f"{method} {path} with a publishable key")
    status, _ = call("POST", "/v1/payment_methods", [("type", "card")] + card("4242424242424242"),
                     key=None)
    eq(status, 401, "no key at all")
    si = setup_intent(cus, payment_method("4000002760003184")["id"])[1]
    status, _ = call("GET", f"/v1/setup_intents/{si['id']}", key=PK)
    eq(status, 400, "SI read with a pk_ and no client_secret")
    status, _ = call("GET", f"/v1/setup_intents/{si['id']}", key=PK,
                     query={"client_secret": si["id"] + "_secret_wrong"})
    eq(status, 400, "SI read with a pk_ and a wrong client_secret")
    got = ok("GET", f"/v1/setup_intents/{si['id']}", key=PK,
             query={"client_secret": si["client_secret"]})
    eq(got["status"], "requires_action", "SI read with a pk_ and its client_secret")
    status, _ = call("POST", f"/v1/setup_intents/{si['id']}/_authenticate",
                     [("client_secret", si["id"] + "_secret_wrong")], key=PK,
                     query={"success": "true"})
    check(status in (400, 401), f"_authenticate with a wrong client_secret: {status}")
    done = ok("POST", f"/v1/setup_intents/{si['id']}/_authenticate",
              [("client_secret", si["client_secret"])], key=PK, query={"success": "true"})
    eq(done["status"], "succeeded", "_authenticate with a pk_ and the client_secret")


def test_pm_detach():
    cus = customer()
    pm = payment_method("4242424242424242")["id"]
    status, si = setup_intent(cus, pm)
    eq((status, si["status"]), (200, "succeeded"), "setup")
    ok("POST", f"/v1/customers/{cus}", [("invoice_settings[default_payment_method]", pm)])
    detached = ok("POST", f"/v1/payment_methods/{pm}/detach")
    eq(detached["customer"], None, "customer after detach")
    eq(ok("GET", f"/v1/payment_methods/{pm}")["customer"], None, "GET after detach")
    eq(ok("GET", f"/v1/customers/{cus}")["invoice_settings"]["default_payment_method"], None,
       "the detached default is cleared")
    event = wait_event("payment_method.detached", pm)
    eq(event["data"].get("previous_attributes"), {"customer": cus}, "previous_attributes")
    status, body = call("POST", f"/v1/payment_methods/{pm}/detach")
    eq(status, 400, "detaching an unattached PaymentMethod")
    eq(body["error"]["type"], "invalid_request_error", "its type")
    eq(body["error"]["message"], "The payment method you provided is not attached to a "
       "customer so detachment is impossible.", "its message")
    status, body = call("POST", "/v1/payment_methods/pm_missing/detach")
    eq((status, body["error"].get("code")), (404, "resource_missing"), "detaching a missing PM")


# --- SetupIntents -------------------------------------------------------------------------

def test_si_succeeds_and_attaches():
    cus = customer()
    pm = payment_method("4242424242424242")["id"]
    status, si = setup_intent(cus, pm, extra=[
        ("usage", "off_session"), ("payment_method_types[]", "card"), ("metadata[k]", "v"),
        ("return_url", "https://example.com/back"), ("use_stripe_sdk", "true")])
    eq(status, 200, f"create: {si}")
    eq(si["status"], "succeeded", "status")
    eq((si["customer"], si["payment_method"], si["usage"], si["metadata"],
        si["payment_method_types"], si["next_action"], si["last_setup_error"]),
       (cus, pm, "off_session", {"k": "v"}, ["card"], None, None), "fields")
    check(si["client_secret"].startswith(si["id"] + "_secret_"), "client_secret")
    eq(ok("GET", f"/v1/payment_methods/{pm}")["customer"], cus, "attached on success")
    got = ok("GET", f"/v1/setup_intents/{si['id']}")
    for field in ("status", "client_secret", "next_action", "payment_method", "customer",
                  "metadata", "usage", "last_setup_error"):
        eq(got[field], si[field], f"GET {field}")
    wait_event("setup_intent.succeeded", si["id"])
    wait_event("payment_method.attached", pm)
    status, body = call("POST", f"/v1/setup_intents/{si['id']}/confirm")
    eq((status, body["error"].get("code")), (400, "setup_intent_unexpected_state"),
       "confirming a succeeded SetupIntent")
    # usage defaults to off_session; on_session is kept.
    eq(ok("POST", "/v1/setup_intents", [("customer", cus)])["usage"], "off_session",
       "default usage")
    eq(ok("POST", "/v1/setup_intents", [("customer", cus), ("usage", "on_session")])["usage"],
       "on_session", "on_session usage")


def test_si_declined():
    cus = customer()
    pm = payment_method("4000000000000002")["id"]
    status, body = setup_intent(cus, pm)
    eq(status, 402, "declined status")
    error = body["error"]
    eq((error["type"], error["code"], error["decline_code"]),
       ("card_error", "card_declined", "generic_decline"), "declined error")
    eq(error["message"], "Your card was declined.", "message")
    si = error["setup_intent"]
    eq((si["object"], si["status"], si["payment_method"]),
       ("setup_intent", "requires_payment_method", None), "SI in the error")
    eq(si["last_setup_error"]["code"], "card_declined", "last_setup_error")
    eq(si["last_setup_error"]["payment_method"]["id"], pm, "last_setup_error's PM")
    eq(error["payment_method"]["id"], pm, "error's PM")
    got = ok("GET", f"/v1/setup_intents/{si['id']}")
    eq((got["status"], got["last_setup_error"]["code"]),
       ("requires_payment_method", "card_declined"), "GET after decline")
    eq(ok("GET", f"/v1/payment_methods/{pm}")["customer"], None, "not attached")
    wait_event("setup_intent.setup_failed", si["id"])
    # A PaymentMethod held by the declined holder is declined too.
    held = payment_method("4242424242424242",
                          extra=[("billing_details[name]", "Declined Cardholder")])["id"]
    eq(setup_intent(cus, held)[0], 402, "declined holder")
    # The SetupIntent takes another card after a decline.
    good = payment_method("4242424242424242")["id"]
    again = ok("POST", f"/v1/setup_intents/{si['id']}/confirm", [("payment_method", good)])
    eq((again["status"], again["last_setup_error"]), ("succeeded", None), "retry")


def test_si_requires_action_then_authenticated():
    cus = customer()
    pm = payment_method("4000002500003155")["id"]
    status, si = setup_intent(cus, pm)
    eq(status, 200, f"create: {si}")
    eq(si["status"], "requires_action", "status")
    eq(si["next_action"]["type"], "use_stripe_sdk", "next_action.type")
    eq(si["next_action"]["use_stripe_sdk"]["type"], "three_d_secure_redirect",
       "next_action.use_stripe_sdk.type")
    eq(si["payment_method"], pm, "payment_method")
    eq(ok("GET", f"/v1/payment_methods/{pm}")["customer"], None, "not attached before auth")
    wait_event("setup_intent.requires_action", si["id"])
    status, _ = call("POST", f"/v1/setup_intents/{si['id']}/_authenticate",
                     [("client_secret", "seti_x_secret_wrong")], query={"success": "true"})
    eq(status, 401, "_authenticate with a wrong client_secret")
    done = ok("POST", f"/v1/setup_intents/{si['id']}/_authenticate",
              [("client_secret", si["client_secret"])], query={"success": "true"})
    eq((done["status"], done["next_action"], done["payment_method"]),
       ("succeeded", None, pm), "after authentication")
    eq(ok("GET", f"/v1/payment_methods/{pm}")["customer"], cus, "attached after auth")
    wait_event("setup_intent.succeeded", si["id"])
    wait_event("payment_method.attached", pm)
    status, _ = call("POST", f"/v1/setup_intents/{si['id']}/_authenticate",
                     [("client_secret", si["client_secret"])], query={"success": "true"})
    eq(status, 400, "authenticating twice")
    # Every card of localstripe's authentication list asks, and 4000003800000446 too.
    for number in ("4000002760003184", "4000000000003220", "4000003800000446"):
        eq(setup_intent(cus, payment_method(number)["id"])[1]["status"], "requires_action",
           f"SI with ...{number[-4:]}")


def test_si_authentication_failed():
    cus = customer()
    pm = payment_method("4000002760003184")["id"]
    si = setup_intent(cus, pm)[1]
    eq(si["status"], "requires_action", "status")
    failed = ok("POST", f"/v1/setup_intents/{si['id']}/_authenticate",
                [("client_secret", si["client_secret"])], query={"success": "false"})
    eq((failed["status"], failed["payment_method"], failed["next_action"]),
       ("requires_payment_method", None, None), "after failed authentication")
    eq(failed["last_setup_error"]["code"], "setup_intent_authentication_failure", "its code")
    eq(failed["last_setup_error"]["payment_method"]["id"], pm, "its PM")
    eq(ok("GET", f"/v1/payment_methods/{pm}")["customer"], None, "not attached")
    wait_event("setup_intent.setup_failed", si["id"])
    no_event("setup_intent.succeeded", si["id"], wait=0.5)


def test_si_confirm_later_and_cancel():
    cus = customer()
    pm = payment_method("4242424242424242")["id"]
    si = ok("POST", "/v1/setup_intents", [("customer", cus), ("payment_method", pm),
                                          ("metadata[x]", "y")])
    eq(si["status"], "requires_confirmation", "created with a PM, unconfirmed")
    done = ok("POST", f"/v1/setup_intents/{si['id']}/confirm")
    eq(done["status"], "succeeded", "confirmed")
    bare = ok("POST", "/v1/setup_intents", [("customer", cus)])
    eq((bare["status"], bare["payment_method"]), ("requires_payment_method", None), "bare SI")
    status, body = call("POST", f"/v1/setup_intents/{bare['id']}/confirm")
    eq(status, 400, "confirming without a PM")
    canceled = ok("POST", f"/v1/setup_intents/{bare['id']}/cancel",
                  [("cancellation_reason", "abandoned")])
    eq((canceled["status"], canceled["cancellation_reason"]), ("canceled", "abandoned"),
       "canceled")
    wait_event("setup_intent.canceled", bare["id"])
    eq(call("POST", f"/v1/setup_intents/{bare['id']}/cancel")[0], 400, "cancel twice")
    status, body = setup_intent(cus, "pm_missing")
    eq((status, body["error"].get("code")), (400, "resource_missing"), "a missing PM")
    status, body = setup_intent("cus_missing", pm)
    eq((status, body["error"].get("code")), (400, "resource_missing"), "a missing customer")


# --- off-session charges (https://docs.stripe.com/testing#authentication-and-setup) -------

def pay(cus, pm, off_session=True, extra=()):
    form = [("amount", "1234"), ("currency", "usd"), ("customer", cus),
            ("payment_method", pm), ("confirm", "true")] + list(extra)
    if off_session:
        form.append(("off_session", "true"))
    return call("POST", "/v1/payment_intents", form)


def set_up_card(number, succeed=True):
    cus = customer()
    pm = payment_method(number)["id"]
    si = setup_intent(cus, pm)[1]
    if si["status"] == "requires_action":
        si = ok("POST", f"/v1/setup_intents/{si['id']}/_authenticate",
                [("client_secret", si["client_secret"])],
                query={"success": "true" if succeed else "false"})
    return cus, pm, si


def check_authentication_required(status, body, pm):
    eq(status, 402, f"status: {body}")
    error = body["error"]
    eq((error["type"], error["code"], error.get("decline_code")),
       ("card_error", "authentication_required", "authentication_required"), "error")
    pi = error["payment_intent"]
    eq((pi["object"], pi["status"]), ("payment_intent", "requires_payment_method"), "PI")
    eq(pi["last_payment_error"]["code"], "authentication_required", "last_payment_error.code")
    eq(pi["last_payment_error"]["payment_method"]["id"], pm, "last_payment_error's PM")
    eq(error["payment_method"]["id"], pm, "error's PM")
    got = ok("GET", f"/v1/payment_intents/{pi['id']}")
    eq((got["status"], got["last_payment_error"]["code"]),
       ("requires_payment_method", "authentication_required"), "GET PI")
    event = wait_event("payment_intent.payment_failed", pi["id"])
    eq(event["data"]["object"]["last_payment_error"]["code"], "authentication_required",
       "webhook's last_payment_error")
    return pi


def test_off_session_set_up_card_charged():
    cus, pm, si = set_up_card("4000002500003155")
    eq(si["status"], "succeeded", "set up")
    status, pi = pay(cus, pm, extra=[("description", "monthly"), ("metadata[order]", "o1"),
                                     ("payment_method_types[]", "card")])
    eq(status, 200, f"off-session payment: {pi}")
    eq((pi["status"], pi["next_action"], pi["description"], pi["metadata"]),
       ("succeeded", None, "monthly", {"order": "o1"}), "charged without authentication")
    wait_event("payment_intent.succeeded", pi["id"])
    # On-session, the same card still asks.
    status, pi = pay(cus, pm, off_session=False)
    eq((status, pi["status"]), (200, "requires_action"), "on-session")
    done = ok("POST", f"/v1/payment_intents/{pi['id']}/_authenticate",
              [("client_secret", pi["client_secret"])], query={"success": "true"})
    eq(done["status"], "succeeded", "on-session after authentication")


def test_off_session_not_set_up_refused():
    # 4000002500003155 attached without a SetupIntent: not set up.
    cus = customer()
    pm = payment_method("4000002500003155")["id"]
    ok("POST", f"/v1/payment_methods/{pm}/attach", [("customer", cus)])
    check_authentication_required(*pay(cus, pm), pm)
    # Set up on_session is not set up for off-session payments.
    cus2 = customer()
    pm2 = payment_method("4000002500003155")["id"]
    si = setup_intent(cus2, pm2, extra=[("usage", "on_session")])[1]
    ok("POST", f"/v1/setup_intents/{si['id']}/_authenticate",
       [("client_secret", si["client_secret"])], query={"success": "true"})
    check_authentication_required(*pay(cus2, pm2), pm2)
    # A legacy card source of the same number.
    cus3 = customer()
    src = ok("POST", f"/v1/customers/{cus3}/sources",
             [("source[object]", "card"), ("source[number]", "4000002500003155"),
              ("source[exp_month]", "12"), ("source[exp_year]", YEAR), ("source[cvc]", "123")])
    check_authentication_required(*pay(cus3, src["id"]), src["id"])


def test_off_session_always_authenticate_refused():
    cus, pm, si = set_up_card("4000002760003184")
    eq(si["status"], "succeeded", "set up (authenticated)")
    pi = check_authentication_required(*pay(cus, pm), pm)
    # The failed PaymentIntent takes the card again on-session: requires_action.
    again = ok("POST", f"/v1/payment_intents/{pi['id']}/confirm", [("payment_method", pm)])
    eq(again["status"], "requires_action", "on-session retry")


def test_off_session_plain_and_already_set_up_cards():
    cus = customer()
    pm = payment_method("4242424242424242")["id"]
    ok("POST", f"/v1/payment_methods/{pm}/attach", [("customer", cus)])
    status, pi = pay(cus, pm)
    eq((status, pi["status"]), (200, "succeeded"), "4242 off-session")
    ready = payment_method("4000003800000446")["id"]
    ok("POST", f"/v1/payment_methods/{ready}/attach", [("customer", cus)])
    status, pi = pay(cus, ready)
    eq((status, pi["status"]), (200, "succeeded"), "already set up, off-session")
    status, pi = pay(cus, ready, off_session=False)
    eq((status, pi["status"]), (200, "requires_action"), "already set up, on-session")
    # A card_ source is a payment_method too.
    src = ok("POST", f"/v1/customers/{cus}/sources",
             [("source[object]", "card"), ("source[number]", "4242424242424242"),
              ("source[exp_month]", "12"), ("source[exp_year]", YEAR), ("source[cvc]", "123")])
    status, pi = pay(cus, src["id"])
    eq((status, pi["status"]), (200, "succeeded"), "card_ source off-session")
    # A charge decline stays localstripe's 402.
    bad = payment_method("4000000000000341")["id"]
    ok("POST", f"/v1/payment_methods/{bad}/attach", [("customer", cus)])
    status, body = pay(cus, bad)
    eq((status, body["error"]["code"]), (402, "card_declined"), "charge declined")
    status, body = call("POST", "/v1/payment_intents",
                        [("amount", "100"), ("currency", "usd"), ("off_session", "true")])
    eq(status, 400, "off_session without confirm")


# --- Customers ----------------------------------------------------------------------------

def test_customer_default_payment_method_and_lists():
    cus = customer(email="c@example.com")
    eq(ok("GET", f"/v1/customers/{cus}")["invoice_settings"]["default_payment_method"], None,
       "no default at first")
    pms = []
    for number in ("4242424242424242", "5555555555554444"):
        pm = payment_method(number)["id"]
        setup_intent(cus, pm)
        pms.append(pm)
    other = payment_method("4242424242424242")["id"]  # not attached
    ok("POST", f"/v1/customers/{cus}", [("invoice_settings[default_payment_method]", pms[1])])
    eq(ok("GET", f"/v1/customers/{cus}")["invoice_settings"]["default_payment_method"], pms[1],
       "default set")
    status, body = call("POST", f"/v1/customers/{cus}",
                        [("invoice_settings[default_payment_method]", other)])
    eq(status, 400, "an unattached PM as default")
    status, body = call("POST", f"/v1/customers/{cus}",
                        [("invoice_settings[default_payment_method]", "pm_missing")])
    eq((status, body["error"].get("code")), (400, "resource_missing"), "a missing PM as default")
    ok("POST", f"/v1/customers/{cus}", [("invoice_settings[default_payment_method]", "")])
    eq(ok("GET", f"/v1/customers/{cus}")["invoice_settings"]["default_payment_method"], None,
       "default cleared")
    for path, query in [(f"/v1/customers/{cus}/payment_methods", {"type": "card"}),
                        (f"/v1/customers/{cus}/payment_methods", None),
                        ("/v1/payment_methods", {"customer": cus, "type": "card"}),
                        ("/v1/payment_methods", {"customer": cus})]:
        listed = ok("GET", path, query=query)
        eq(listed["object"], "list", f"{path} {query}")
        eq(sorted(p["id"] for p in listed["data"]), sorted(pms), f"{path} {query}")


# --- Stripe.js stand-in --------------------------------------------------------------------

JS_HARNESS = r"""
// Runs the served /js.stripe.com/v3/ in a bare DOM: localstripe's modal is answered by
// MODAL_ANSWERS in turn (true: "Complete authentication").
const vm = require('vm');
const [base, scenario] = [process.argv[2], JSON.parse(process.argv[3])];
const answers = scenario.modal.slice();
function node(tag) {
  return {tag, style: {}, children: [], listeners: {}, value: '',
          appendChild(c) { this.children.push(c); return c; },
          removeChild(c) { this.children = this.children.filter(x => x !== c); },
          addEventListener(e, f) { (this.listeners[e] = this.listeners[e] || []).push(f); },
          setAttribute() {}, focus() {}, remove() {}};
}
const body = node('body');
body.appendChild = function (box) {
  this.children.push(box);
  const answer = answers.shift();
  if (answer === undefined) throw new Error('unexpected modal');
  const button = box.children.filter(c => c.tag === 'button')[answer ? 0 : 1];
  setTimeout(() => button.listeners.click.forEach(f => f()), 0);
  return box;
};
const document = {currentScript: {src: base + '/js.stripe.com/v3/'}, body,
                  getElementsByTagName: () => [], createElement: node,
                  querySelector: () => node('div')};
const ctx = {document, window: {Element: function () {}}, fetch, console: {log() {}},
             URLSearchParams, setTimeout, Promise, JSON, Object, Error};
vm.createContext(ctx);
(async () => {
  const src = await (await fetch(base + '/js.stripe.com/v3/')).text();
  vm.runInContext(src, ctx);
  const stripe = ctx.Stripe(scenario.pk);
  const element = stripe.elements().create('card');
  const out = {};
  for (const step of scenario.steps) {
    if (step.element) element.value = step.element;
    const args = step.args.map(a => a === '$element' ? element : a)
      .map(a => (a && a.card === '$element') ? {...a, card: element} : a)
      .map(a => (a && a.payment_method && a.payment_method.card === '$element')
           ? {...a, payment_method: {...a.payment_method, card: element}} : a);
    out[step.name] = await stripe[step.call](...args);
  }
  out.modalsLeft = answers.length;
  process.stdout.write(JSON.stringify(out));
})().catch(e => { console.error(e); process.exit(1); });
"""


def run_js(scenario):
    node = shutil.which("node")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "harness.js")
        with open(path, "w") as f:
            f.write(JS_HARNESS)
        done = subprocess.run([node, path, BASE, json.dumps(scenario)], capture_output=True,
                              text=True, timeout=60)
    check(done.returncode == 0, f"node: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def element(number, cvc="123", postal="94107"):
    return {"card": {"number": number, "exp_month": "12", "exp_year": YEAR, "cvc": cvc},
            "postal_code": postal}


def test_js_served():
    req = urllib.request.Request(BASE + "/js.stripe.com/v3/")
    with urllib.request.urlopen(req, timeout=10) as resp:
        text = resp.read().decode()
        eq(resp.headers.get_content_type(), "application/javascript", "content type")
    for needle in ("LOCALSTRIPE_BASE_API", "confirmCardPayment", "createPaymentMethod",
                   "handleNextAction", "/_authenticate?success="):
        check(needle in text, f"{needle} in the served script")


def test_js_flows():
    if shutil.which("node") is None:
        print("  SKIP: no node on PATH, the Stripe.js flows are not run")
        return
    cus = customer()
    # Server-side confirmed SetupIntents waiting for 3-D Secure, one passed, one failed.
    pm_ok = payment_method("4000002500003155")["id"]
    si_ok = setup_intent(cus, pm_ok)[1]
    pm_ko = payment_method("4000002760003184")["id"]
    si_ko = setup_intent(cus, pm_ko)[1]
    # An unconfirmed one whose PM needs no authentication.
    pm_plain = payment_method("4242424242424242")["id"]
    si_plain = ok("POST", "/v1/setup_intents", [("customer", cus), ("payment_method", pm_plain)])
    # One the page confirms with card data from an Element.
    si_el = ok("POST", "/v1/setup_intents", [("customer", cus)])
    si_next = setup_intent(cus, payment_method("4000000000003220")["id"])[1]
    out = run_js({"pk": PK, "modal": [True, False, True, True], "steps": [
        {"name": "pm", "call": "createPaymentMethod", "element": element("4242424242424242"),
         "args": [{"type": "card", "card": "$element",
                   "billing_details": {"name": "JS Holder"}}]},
        {"name": "pmOld", "call": "createPaymentMethod",
         "element": element("378282246310005", cvc=""),
         "args": ["card", "$element", {"billing_details": {"email": "js@example.com"}}]},
        {"name": "pmBad", "call": "createPaymentMethod", "element": element("4242424242424241"),
         "args": [{"type": "card", "card": "$element"}]},
        {"name": "setupOk", "call": "confirmCardSetup", "args": [si_ok["client_secret"]]},
        {"name": "setupKo", "call": "confirmCardSetup", "args": [si_ko["client_secret"]]},
        {"name": "setupPlain", "call": "confirmCardSetup", "args": [si_plain["client_secret"]]},
        {"name": "setupElement", "call": "confirmCardSetup",
         "element": element("4000002500003155"),
         "args": [si_el["client_secret"], {"payment_method": {"card": "$element"}}]},
        {"name": "next", "call": "handleNextAction",
         "args": [{"clientSecret": si_next["client_secret"]}]},
        {"name": "retrieve", "call": "retrieveSetupIntent", "args": [si_ok["client_secret"]]},
    ]})
    pm = out["pm"]["paymentMethod"]
    eq((pm["card"]["last4"], pm["card"]["checks"]["cvc_check"], pm["billing_details"]["name"],
        pm["billing_details"]["address"]["postal_code"]), ("4242", "pass", "JS Holder", "94107"),
       "createPaymentMethod({type, card, billing_details})")
    old = out["pmOld"]["paymentMethod"]
    eq((old["card"]["brand"], old["card"]["checks"]["cvc_check"],
        old["billing_details"]["email"]), ("amex", None, "js@example.com"),
       "createPaymentMethod('card', element, data)")
    eq(out["pmBad"].get("error", {}).get("code"), "incorrect_number", "createPaymentMethod error")
    eq(out["setupOk"]["setupIntent"]["status"], "succeeded", "confirmCardSetup, auth passed")
    eq(ok("GET", f"/v1/payment_methods/{pm_ok}")["customer"], cus, "attached by the page's SI")
    err = out["setupKo"].get("error") or {}
    eq((err.get("code"), (err.get("setup_intent") or {}).get("status")),
       ("setup_intent_authentication_failure", "requires_payment_method"),
       "confirmCardSetup, auth failed")
    eq(out["setupPlain"]["setupIntent"]["status"], "succeeded", "confirmCardSetup, no auth")
    el = out["setupElement"]["setupIntent"]
    eq(el["status"], "succeeded", "confirmCardSetup with an Element")
    eq(ok("GET", f"/v1/payment_methods/{el['payment_method']}")["card"]["last4"], "3155",
       "the Element's card")
    eq(out["next"]["setupIntent"]["status"], "succeeded", "handleNextAction")
    eq(out["retrieve"]["setupIntent"]["id"], si_ok["id"], "retrieveSetupIntent")
    eq(out["modalsLeft"], 0, "every 3-D Secure modal shown")
    wait_event("setup_intent.succeeded", si_ok["id"])
    wait_event("setup_intent.setup_failed", si_ko["id"])


# --- runner --------------------------------------------------------------------------------

class Hooks(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        payload = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        sig = dict(p.split("=", 1) for p in self.headers.get("Stripe-Signature", "").split(","))
        expected = hmac.new(HOOK_SECRET.encode(), sig.get("t", "").encode() + b"." + payload,
                            hashlib.sha256).hexdigest()
        verified = hmac.compare_digest(expected, sig.get("v1", ""))
        with EVENTS_LOCK:
            EVENTS.append((verified, json.loads(payload)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    global BASE
    parser = argparse.ArgumentParser()
    parser.add_argument("-k", help="run only tests whose name contains this")
    args = parser.parse_args()
    tests = [(n, f) for n, f in globals().items()
             if n.startswith("test_") and callable(f) and (not args.k or args.k in n)]

    hooks = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    threading.Thread(target=hooks.serve_forever, daemon=True).start()
    port = free_port()
    BASE = f"http://127.0.0.1:{port}"
    log = tempfile.NamedTemporaryFile(prefix="localstripe-test-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "infra",
                                                          "localstripe_cardvault.py"), str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    failed = []
    try:
        deadline = time.time() + 60
        while True:
            try:
                if call("GET", "/v1/customers")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise SystemExit(f"localstripe did not start; see {log.name}")
            time.sleep(0.1)
        ok("POST", "/_config/webhooks/localstripe_test",
           json_body={"url": f"http://127.0.0.1:{hooks.server_address[1]}/hook",
                      "secret": HOOK_SECRET})
        for name, test in tests:
            started = time.time()
            try:
                test()
                print(f"ok    {name} ({time.time() - started:.1f} s)")
            except Exception:
                failed.append(name)
                print(f"FAIL  {name}\n{traceback.format_exc()}")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        hooks.shutdown()
    print(f"{len(tests) - len(failed)} passed, {len(failed)} failed"
          + (f": {', '.join(failed)}" if failed else "") + f" (server log: {log.name})")
    if not failed:
        os.unlink(log.name)
    sys.exit(1 if failed or not tests else 0)


if __name__ == "__main__":
    main()
