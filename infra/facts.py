#!/usr/bin/env python3
"""The running stack's facts, for people and for scripts.

    facts.py write BOOTSTRAP_JSON OUT_JSON   merge the bootstrap's output with the stack's
                                             environment into OUT_JSON (dev.json's shape)
    facts.py banner FACTS_JSON               print the base URL, keys and a curl per endpoint

The stack's environment (infra/stack.sh's stack.env) must be loaded.
"""
import json
import os
import sys


def write(bootstrap_path, out_path):
    with open(bootstrap_path) as f:
        boot = json.load(f)
    facts = {
        "baseUrl": os.environ["CARDVAULT_BASE_URL"],
        "stripeUrl": os.environ["STRIPE_API_BASE"],
        "lambdaInvokePort": int(os.environ["CARDVAULT_LAMBDA_PORT"]),
        "table": boot["table"],
        "platformSecretId": boot["platformSecretId"],
        "recaptcha": {
            "passToken": os.environ["RECAPTCHA_PASS_TOKEN"],
            "verifyUrl": os.environ["RECAPTCHA_VERIFY_URL"],
        },
        "aws": {
            "region": os.environ["AWS_REGION"],
            "dynamodbEndpoint": os.environ["AWS_ENDPOINT_URL_DYNAMODB"],
            "secretsManagerEndpoint": os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"],
        },
        "tenants": [
            {k: t[k] for k in ("id", "privateApiKey", "publicApiKey", "allowedOrigin", "stripe")}
            for t in boot["tenants"]
        ],
        # What a script needs to mint bearer JWTs, and ready ones (bootstrap.py).
        "jwt": boot.get("jwt"),
    }
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(facts, f, indent=2)
        f.write("\n")
    os.replace(tmp, out_path)


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
User API (Rechat style), as user {user['sub']} of {user['tenant']} (JWTs: "jwt" in dev.json,
or target/debug/cardvault-admin mint-jwt --tenant demo-a --sub SOMEONE):

  curl -s -X POST {base}/payments/stripe/customers {bearer} \\
    -H 'Content-Type: application/json' -d '{{"token":"{token}"}}'
  curl -s '{base}/payments/stripe/customers?start=0&limit=20' {bearer}
"""


def banner(facts_path):
    with open(facts_path) as f:
        facts = json.load(f)
    base = facts["baseUrl"]
    a, b = facts["tenants"][0], facts["tenants"][1]
    print(f"""
cardvault is running at {base}

  tenant {a['id']}: private key {a['privateApiKey']}
  tenant {b['id']}: private key {b['privateApiKey']}
  (public keys, origins and Stripe connections: {facts_path})

Merchant API (Fusebill style):

  curl -s -X POST {base}/v1/customers \\
    -H 'Authorization: Basic {a['privateApiKey']}' -H 'Content-Type: application/json' \\
    -d '{{"firstName":"Karen","lastName":"Wood","primaryEmail":"karen@example.com"}}'

  curl -s {base}/v1/customers/<id> -H 'Authorization: Basic {a['privateApiKey']}'

{user_api(facts)}
Stripe (localstripe): {facts['stripeUrl']}   reCAPTCHA pass token: {facts['recaptcha']['passToken']}
Ctrl-C stops everything.
""")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "banner":
        banner(sys.argv[2])
    else:
        sys.exit(__doc__)
