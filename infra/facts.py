#!/usr/bin/env python3
"""The running stack's facts, for people and for scripts.

    facts.py write BOOTSTRAP_JSON OUT_JSON   merge the bootstrap's output with the stack's
                                             environment into OUT_JSON (dev.json's shape)
    facts.py demo FACTS_JSON                 add ready demo data through the running API:
                                             a customer of the first tenant and a card on a
                                             localstripe customer, so every printed curl works
    facts.py banner FACTS_JSON               print the base URL, keys and a curl per endpoint

The stack's environment (infra/stack.sh's stack.env) must be loaded.
"""
import base64
import json
import os
import sys
import urllib.parse
import urllib.request


def write(bootstrap_path, out_path):
    with open(bootstrap_path) as f:
        boot = json.load(f)
    facts = {
        "baseUrl": os.environ["CARDVAULT_BASE_URL"],
        "stripeUrl": os.environ["STRIPE_API_BASE"],
        "lambdaInvokePort": int(os.environ["CARDVAULT_LAMBDA_PORT"]),
        "table": boot["table"],
        "secrets": boot["secrets"],
        "vaultKmsKey": boot["vaultKmsKey"],
        "recaptcha": {
            "passToken": os.environ["RECAPTCHA_PASS_TOKEN"],
            "verifyUrl": os.environ["RECAPTCHA_VERIFY_URL"],
        },
        "aws": {
            "region": os.environ["AWS_REGION"],
            "dynamodbEndpoint": os.environ["AWS_ENDPOINT_URL_DYNAMODB"],
            "secretsManagerEndpoint": os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"],
            "kmsEndpoint": os.environ["AWS_ENDPOINT_URL_KMS"],
        },
        "tenants": [
            {k: t[k] for k in ("id", "privateApiKey", "publicApiKey", "allowedOrigin", "stripe")}
            for t in boot["tenants"]
        ],
        # What a script needs to mint bearer JWTs, and ready ones (bootstrap.py).
        "jwt": boot.get("jwt"),
        # Stripe webhook endpoints and their signing secrets, to sign events localstripe
        # never sends (bootstrap.py): {platform: {url, secret}, tenants: {<id>: {url, secret}}}.
        "webhooks": boot.get("webhooks"),
    }
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(facts, f, indent=2)
        f.write("\n")
    os.replace(tmp, out_path)


def _post(url, data, headers):
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.load(resp)


def demo(facts_path):
    with open(facts_path) as f:
        facts = json.load(f)
    stripe_auth = {"Authorization": "Basic " + base64.b64encode(b"sk_test_demo:").decode()}
    token = _post(facts["stripeUrl"] + "/v1/tokens", urllib.parse.urlencode({
        "card[number]": "4242424242424242", "card[exp_month]": "12", "card[exp_year]": "2030",
        "card[cvc]": "123", "card[name]": "John Doe"}).encode(), stripe_auth)
    stripe_customer = _post(facts["stripeUrl"] + "/v1/customers",
                            urllib.parse.urlencode({"source": token["id"]}).encode(), stripe_auth)
    key = facts["tenants"][0]["privateApiKey"]
    customer = _post(facts["baseUrl"] + "/v1/customers",
                     json.dumps({"firstName": "John", "lastName": "Doe"}).encode(),
                     {"Authorization": "Basic " + key, "Content-Type": "application/json"})
    facts["demo"] = {
        "customerId": customer["id"],
        "stripeCustomerId": stripe_customer["id"],
        "stripeCardId": stripe_customer["sources"]["data"][0]["id"],
        # For the user API's POST /payments/stripe/customers: a fresh card token. Sent again
        # by the same user it answers the same customer; by another user, 400 (used).
        "stripeToken": _post(facts["stripeUrl"] + "/v1/tokens", urllib.parse.urlencode({
            "card[number]": "4242424242424242", "card[exp_month]": "12",
            "card[exp_year]": "2030", "card[cvc]": "123"}).encode(), stripe_auth)["id"],
    }
    # For the billing card API's POST /card/create: another fresh card token.
    facts["demo"]["billingStripeToken"] = _post(
        facts["stripeUrl"] + "/v1/tokens", urllib.parse.urlencode({
            "card[number]": "4242424242424242", "card[exp_month]": "12",
            "card[exp_year]": "2030", "card[cvc]": "123"}).encode(), stripe_auth)["id"]
    tmp = facts_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(facts, f, indent=2)
        f.write("\n")
    os.replace(tmp, facts_path)


def redirect_api(facts):
    """The transparent redirect's curls: what the document's jQuery page posts."""
    base, a = facts["baseUrl"], facts["tenants"][0]
    cid, origin = facts["demo"]["customerId"], a["allowedOrigin"]
    form = (f"CustomerId={cid}&PublicApiKey={a['publicApiKey']}&CardNumber=4242424242424242"
            "&FirstName=Karen&LastName=Wood&ExpirationMonth=12&ExpirationYear=30&Cvv=123"
            "&Address1=10+Dodge+St&City=Columbia&CountryId=124&StateId=1&PostalZip=V9C9V9"
            f"&MakeDefault=true&Recaptcha={facts['recaptcha']['passToken']}"
            "&PaymentCollectOptions.collectionAmount=0.50")
    return f"""
Transparent redirect (Fusebill Add Credit Card), as the browser on {origin} posts it:

  curl -s -X OPTIONS {base}/api/paymentsv2 -H 'Origin: {origin}' \\
    -H 'Access-Control-Request-Method: POST' -o /dev/null -w '%{{http_code}}\\n'
  curl -s -X POST {base}/api/paymentsv2 -H 'Origin: {origin}' \\
    -H 'Content-Type: application/x-www-form-urlencoded' -d '{form}'
"""


def billing_api(facts):
    """The billing card API's curls, with the ready owner and admin JWTs of demo-a."""
    jwt, base = facts.get("jwt"), facts["baseUrl"]
    if not jwt:
        return ""
    owner, admin = jwt["tokens"]["owner"], jwt["tokens"]["admin"]
    as_owner = f"-H 'Authorization: Bearer {owner['token']}' -H 'Content-Type: application/json'"
    as_admin = f"-H 'Authorization: Bearer {admin['token']}' -H 'Content-Type: application/json'"
    token = facts.get("demo", {}).get("billingStripeToken", "tok_FROM_STRIPE_JS")
    return f"""
Billing card API (EmbedThis style): the owner and an admin of account {owner['account']} of {owner['tenant']}:

  curl -s -X POST {base}/card/create {as_owner} \\
    -d '{{"current":true,"name":"Company Visa","number":"4242","month":"12","year":"2030","stripeToken":"{token}"}}'
  curl -s -X POST '{base}/card/find?limit=20' {as_admin}
  curl -s -X POST {base}/card/get {as_admin} -d '{{"id":"CARD_ID"}}'
  curl -s -X POST {base}/card/updateCurrent {as_owner} -d '{{"id":"CARD_ID","current":true}}'
  curl -s -X POST {base}/card/getStripe {as_admin}
  curl -s -X POST {base}/card/remove {as_owner} -d '{{"id":"CARD_ID"}}'

  (CARD_ID: the "id" /card/create answers.)
"""


def user_api(facts):
    """The user API's curls, with the ready JWT of demo-a's user."""
    jwt, base = facts.get("jwt"), facts["baseUrl"]
    if not jwt:
        return ""
    user = jwt["tokens"]["demo-a"]
    bearer = f"-H 'Authorization: Bearer {user['token']}'"
    # A fresh card token from the demo data; otherwise make one with POST /v1/tokens.
    token = facts.get("demo", {}).get("stripeToken", "tok_FROM_STRIPE_JS")
    return f"""
User API (Rechat style), as user {user['sub']} of {user['tenant']} (JWTs: "jwt" in dev.json, or
target/debug/cardvault-admin mint-jwt --tenant demo-a --sub SOMEONE --rsa-der .tools/run/jwt-rs256.der):

  curl -s -X POST {base}/payments/stripe/customers {bearer} \\
    -H 'Content-Type: application/json' -d '{{"token":"{token}"}}'
  curl -s '{base}/payments/stripe/customers?start=0&limit=20' {bearer}
"""


def webhooks(facts):
    """The Stripe webhook endpoints, registered at localstripe (secrets in dev.json)."""
    hooks = facts.get("webhooks")
    if not hooks or not hooks.get("platform", {}).get("url"):
        return ""
    tenants = ", ".join(f"{h['url']} ({t})" for t, h in hooks["tenants"].items())
    return f"""
Stripe webhooks (registered at localstripe; signing secrets: "webhooks" in dev.json):
  {hooks['platform']['url']} (platform, Connect events), {tenants}
  A signed card updater event, shown by every dialect:
  .tools/venv/bin/python infra/webhook_demo.py .tools/dev.json
"""


def banner(facts_path):
    with open(facts_path) as f:
        facts = json.load(f)
    base, stripe = facts["baseUrl"], facts["stripeUrl"]
    a, b = facts["tenants"][0], facts["tenants"][1]
    auth = f"-H 'Authorization: Basic {a['privateApiKey']}'"
    json_auth = f"{auth} -H 'Content-Type: application/json'"
    d = facts["demo"]
    cid = d["customerId"]
    print(f"""
cardvault is running at {base}
API reference (OpenAPI, openapi.yaml): {base}/docs

  tenant {a['id']} (Stripe Connect): private key {a['privateApiKey']}
  tenant {b['id']} (own Stripe key): private key {b['privateApiKey']}
  (public keys, origins and Stripe connections: {facts_path})
  demo data: customer {cid} of {a['id']}; Stripe customer {d['stripeCustomerId']} with card {d['stripeCardId']}

Merchant API (Fusebill style), as tenant {a['id']}:

  curl -s -X POST {base}/v1/customers {json_auth} \\
    -d '{{"firstName":"Karen","lastName":"Wood","primaryEmail":"karen@example.com"}}'
  curl -s {base}/v1/customers/{cid} {auth}

  curl -s -X POST {base}/v1/paymentMethodImport/stripeConnect {json_auth} \\
    -d '{{"customerId":{cid},"stripeCustomerId":"{d['stripeCustomerId']}","stripeCardId":"{d['stripeCardId']}"}}'
  curl -s -X POST {base}/v1/AchCardImport/stripeConnect {json_auth} \\
    -d '{{"customerId":{cid},"stripeCustomerId":"{d['stripeCustomerId']}","stripeCardId":"{d['stripeCardId']}"}}'
  (POST {base}/v1/paymentMethodImport/Stripe takes the same body, with tenant {b['id']}'s key and its own customer)

  curl -s '{base}/v1/customers/{cid}/paymentMethods/creditCard?pageSize=20&pageNumber=0' {auth}
  curl -s {base}/v1/paymentMethods/PAYMENT_METHOD_ID {auth}
  curl -s -X PUT {base}/v1/customerbillingsetting {json_auth} \\
    -d '{{"id":{cid},"defaultPaymentMethodId":PAYMENT_METHOD_ID}}'
  curl -s -X DELETE {base}/v1/paymentMethods/PAYMENT_METHOD_ID/creditCard {auth} -w '%{{http_code}}\\n'
  curl -s {base}/v1/countries {auth}

  (PAYMENT_METHOD_ID: the "id" the import answers.)
{redirect_api(facts)}{user_api(facts)}{billing_api(facts)}{webhooks(facts)}
Stripe (localstripe): {stripe}   reCAPTCHA pass token: {facts['recaptcha']['passToken']}
Ctrl-C stops everything.
""")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "banner":
        banner(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "demo":
        demo(sys.argv[2])
    else:
        sys.exit(__doc__)
