#!/usr/bin/env python3
"""A card updater event, end to end, against a running `make dev`.

    webhook_demo.py .tools/dev.json

Makes a billing card (POST /card/create, demo-a's ready owner) and a user API card (POST
/payments/stripe/customers, demo-a's ready user), then sends each a Connect
`customer.source.updated` with a new expiry, signed as Stripe signs it with the platform
endpoint's secret from dev.json's `webhooks`, to POST /v1/webhooks/stripe. Prints the expiry
the merchant API, the billing card API and the user API show before and after. Exit 1 if a
view did not move. Standard library only.
"""
import base64
import hashlib
import hmac
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def call(method, url, body=None, headers=None, form=False):
    data = None
    headers = dict(headers or {})
    if body is not None:
        if form:
            data = urllib.parse.urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def stripe_token(facts):
    auth = {"Authorization": "Basic " + base64.b64encode(b"sk_test_demo:").decode()}
    status, tok = call("POST", facts["stripeUrl"] + "/v1/tokens", {
        "card[number]": "4242424242424242", "card[exp_month]": "12",
        "card[exp_year]": "2030", "card[cvc]": "123"}, auth, form=True)
    assert status == 200, tok
    return tok["id"]


def signed_event(facts, kind, obj):
    hook = facts["webhooks"]["platform"]
    account = facts["tenants"][0]["stripe"]["accountId"]
    now = int(time.time())
    event = {"id": f"evt_demo{time.time_ns()}", "object": "event", "type": kind,
             "created": now, "account": account, "data": {"object": obj}}
    body = json.dumps(event).encode()
    sig = hmac.new(hook["secret"].encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    status, answer = call("POST", hook["url"], body, {"Stripe-Signature": f"t={now},v1={sig}"})
    print(f"  POST {hook['url']} {kind} -> {status} {json.dumps(answer)}")
    return status, answer


def main(path):
    with open(path) as f:
        facts = json.load(f)
    base = facts["baseUrl"]
    tokens = facts["jwt"]["tokens"]
    bearer = lambda name: {"Authorization": "Bearer " + tokens[name]["token"]}
    merchant = {"Authorization": "Basic " + facts["tenants"][0]["privateApiKey"]}

    status, card = call("POST", base + "/card/create", {
        "current": True, "name": "Demo Visa", "number": "4242", "month": "12", "year": "2030",
        "stripeToken": stripe_token(facts)}, bearer("owner"))
    assert status == 200, card
    cid = card["id"]

    def views():
        _, pm = call("GET", f"{base}/v1/paymentMethods/{cid}", None, merchant)
        _, bc = call("POST", base + "/card/get", {"id": cid}, bearer("admin"))
        shown = (f"merchant API {pm['expirationMonth']}/{pm['expirationYear']} "
                 f"({pm.get('stripeStatus')}), billing card API {bc['month']}/{bc['year']}")
        return shown, pm, bc

    before, pm, _ = views()
    print(f"billing card {cid}, at Stripe {pm['externalCustomerId']}/{pm['externalCardId']}")
    print(f"  before: {before}")
    signed_event(facts, "customer.source.updated", {
        "id": pm["externalCardId"], "object": "card", "customer": pm["externalCustomerId"],
        "brand": "Visa", "last4": "4242", "exp_month": 9, "exp_year": 2034})
    after, pm, bc = views()
    print(f"  after:  {after}")
    moved = (pm["expirationMonth"], pm["expirationYear"], bc["month"], bc["year"]) == (9, 34, "09", "2034")

    status, link = call("POST", base + "/payments/stripe/customers",
                        {"token": stripe_token(facts)}, bearer("demo-a"))
    assert status == 200, link
    lid = link["data"]["id"]

    def user_view():
        _, lst = call("GET", base + "/payments/stripe/customers", None, bearer("demo-a"))
        src = next(l for l in lst["data"] if l["id"] == lid)["source"]
        return src["exp_month"], src["exp_year"]

    print(f"user API link {lid}, at Stripe {link['data']['customer_id']}/{link['data']['source']['id']}")
    print(f"  before: user API {user_view()}")
    signed_event(facts, "customer.source.updated", {
        "id": link["data"]["source"]["id"], "object": "card",
        "customer": link["data"]["customer_id"], "brand": "Visa", "last4": "4242",
        "exp_month": 10, "exp_year": 2035})
    print(f"  after:  user API {user_view()}")
    moved = moved and user_view() == (10, 2035)
    print("every view shows the new expiry" if moved else "A VIEW DID NOT MOVE")
    return 0 if moved else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".tools/dev.json"))
