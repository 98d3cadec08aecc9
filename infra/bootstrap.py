#!/usr/bin/env python3
"""Bootstraps a fresh local stack: the table from template.yaml, the platform secrets, the
vault's KMS key and key rings,
and two demo tenants, each with a private and a public API key, an allowed origin and a
Stripe connection on localstripe.

demo-a reaches Stripe through Connect (the platform key plus Stripe-Account);
demo-b holds its own secret key in Secrets Manager.

It also stands up a local identity provider: an RSA key whose JWKS the siteverify
stand-in serves ($CARDVAULT_RUN_DIR/jwks.json), the issuer both demo tenants trust, and
ready RS256 tokens; and the HS256 secret (refused by the functions while the JWKS is on,
which one ready token shows).

Prints the facts as JSON: {"table": ..., "secrets": {...}, "vaultKmsKey": {...}, "tenants": [{id, privateApiKey, keyId,
publicApiKey, allowedOrigin, stripe}], "jwt": {algorithm, issuer, audience, kid,
privateKeyDer, jwksUrl, hs256Secret, claims, ttlSeconds, tokens}, "webhooks": {platform:
{url, secret}, tenants: {<id>: {url, secret}}, events}}. The webhook endpoints are also
registered at localstripe (POST /_config/webhooks/<id>) when CARDVAULT_BASE_URL is set. Uses only the admin
CLI, so the item layout has one source of truth (the Rust store).

Usage: bootstrap.py --admin target/debug/cardvault-admin --table NAME
(the stack's AWS_* variables must be in the environment)
"""
import argparse
import base64
import json
import os
import secrets
import subprocess
import sys
import urllib.request

# One secret per key, as template.yaml makes them, so each function reads only its own.
STRIPE_PLATFORM_SECRET_ID = "cardvault/stripe-platform"
RECAPTCHA_SECRET_ID = "cardvault/recaptcha"
FINGERPRINT_KEY_SECRET_ID = "cardvault/fingerprint-key"
CURSOR_KEY_SECRET_ID = "cardvault/cursor-key"
VAULT_KMS_ALIAS = "alias/cardvault-vault"
AUDIT_KMS_ALIAS = "alias/cardvault-audit"
HS256_SECRET_ID = "cardvault/jwt-hs256"
JWT_KID = "cardvault-local-1"
UNTRUSTED_ISSUER = "https://untrusted.example"
# localstripe accepts any sk_test_ key; siteverify.py accepts this secret by default. The
# publishable key is configuration (STRIPE_PUBLISHABLE_KEY in stack.env), not a secret.
STRIPE_PLATFORM_KEY = "sk_test_cardvault_platform"
RECAPTCHA_SECRET = "platform-recaptcha-secret"
# demo-a keeps the document's query-string sample working (legacyQueryStringCards);
# demo-b refuses cards in the query string, as every new tenant does.
DEMO_TENANTS = [
    {"id": "demo-a", "name": "Demo Shop A", "origin": "http://localhost:3000",
     "stripe": ["--account", "acct_1DemoShopA00001"], "legacy_query_string_cards": True},
    {"id": "demo-b", "name": "Demo Shop B", "origin": "http://localhost:3001",
     "stripe": ["--secret-id", "cardvault/tenant/demo-b/stripe",
                "--publishable-key", "pk_test_cardvault_demo_b"],
     "own_key": "sk_test_cardvault_demo_b"},
]

# The card-testing limits the demo tenants raise (README, "Card-testing limits").
DEMO_VELOCITY = ["--per-ip", "5000", "--per-public-key", "5000"]

# Ready bearer JWTs (user and billing card APIs): one user of each demo tenant; an owner
# and an admin of two billing accounts of demo-a; a plain user; and two that must be
# refused: one from an issuer demo-a does not trust, one HS256 while the JWKS is on.
DEMO_JWTS = {
    "demo-a": {"tenant": "demo-a", "sub": "80a227b2-29a0-11e7-b636-e4a7a08e15d4"},
    "demo-b": {"tenant": "demo-b", "sub": "5d1e2f0c-6a3b-4c1d-9e8f-b0b1c2d3e4f5"},
    "owner": {"tenant": "demo-a", "sub": "owner-demo-a", "account": "acct-demo-a",
              "role": "owner"},
    "admin": {"tenant": "demo-a", "sub": "admin-demo-a", "account": "acct-demo-a",
              "role": "admin"},
    "owner2": {"tenant": "demo-a", "sub": "owner-demo-a-2", "account": "acct-demo-a-2",
               "role": "owner"},
    "admin2": {"tenant": "demo-a", "sub": "admin-demo-a-2", "account": "acct-demo-a-2",
               "role": "admin"},
    "user-role": {"tenant": "demo-a", "sub": "user-demo-a", "account": "acct-demo-a",
                  "role": "user"},
    "untrusted": {"tenant": "demo-a", "sub": "admin-demo-a", "account": "acct-demo-a",
                  "role": "admin", "issuer": UNTRUSTED_ISSUER},
    "hs256": {"tenant": "demo-a", "sub": "admin-demo-a", "account": "acct-demo-a",
              "role": "admin", "hs256": True},
}
DEMO_JWT_TTL_SECS = 7 * 24 * 3600  # local only: outlives any `make dev` session


def rsa_key(run_dir):
    """A fresh RSA key for the local identity provider: its PKCS#1 DER private key file
    (for minting), and its JWKS written where the siteverify stand-in serves it."""
    pem, der = os.path.join(run_dir, "jwt-rs256.pem"), os.path.join(run_dir, "jwt-rs256.der")
    run = lambda *cmd: subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    run("openssl", "genrsa", "-traditional", "-out", pem, "2048")
    run("openssl", "rsa", "-in", pem, "-traditional", "-outform", "DER", "-out", der)
    modulus = run("openssl", "rsa", "-in", pem, "-noout", "-modulus").strip().split("=", 1)[1]
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    jwks = {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": JWT_KID,
                      "n": b64(bytes.fromhex(modulus)), "e": "AQAB"}]}
    tmp = os.path.join(run_dir, "jwks.json.tmp")
    with open(tmp, "w") as f:
        json.dump(jwks, f)
    os.replace(tmp, os.path.join(run_dir, "jwks.json"))
    os.remove(pem)
    return der


def demo_jwts(admin, der, hs256_secret):
    """What a script needs to mint more tokens, and the ready ones (minted by the admin
    CLI, so the claims have one source of truth: shared/edge/src/auth/jwt.rs)."""
    tokens = {}
    # A tenant takes tokens of a day at most unless it says otherwise; the demo tenants'
    # ready tokens live a week (local only), so these two say so.
    for tenant in sorted({who["tenant"] for who in DEMO_JWTS.values()}):
        admin("set-token-policy", "--tenant", tenant,
              "--max-lifetime-secs", str(DEMO_JWT_TTL_SECS))
    for name, who in DEMO_JWTS.items():
        args = ["mint-jwt", "--tenant", who["tenant"], "--sub", who["sub"],
                "--ttl-secs", str(DEMO_JWT_TTL_SECS)]
        args += ["--secret", hs256_secret] if who.get("hs256") else \
            ["--rsa-der", der, "--kid", JWT_KID]
        for opt in ("account", "role", "issuer"):
            if opt in who:
                args += [f"--{opt}", who[opt]]
        minted = admin(*args)
        tokens[name] = {k: minted[k] for k in ("tenant", "sub", "account", "role", "token")}
        if not who.get("hs256") and "issuer" not in who:
            issuer, audience = minted["issuer"], minted["audience"]
    with open(der, "rb") as f:
        private_key_der = base64.b64encode(f.read()).decode()
    return {
        "algorithm": "RS256",
        "issuer": issuer,
        "audience": audience,
        "kid": JWT_KID,
        # Local only: lets tests and scripts mint tokens the stack accepts.
        "privateKeyDer": private_key_der,
        "jwksUrl": os.environ.get("JWT_JWKS_URL"),
        "hs256Secret": hs256_secret,
        "untrustedIssuer": UNTRUSTED_ISSUER,
        "claims": {
            "user": "sub",
            "tenant": os.environ.get("JWT_TENANT_CLAIM") or "tenant",
            "account": os.environ.get("JWT_ACCOUNT_CLAIM") or "account",
            "role": os.environ.get("JWT_ROLE_CLAIM") or "role",
            "roles": ["owner", "admin", "user"],
        },
        "ttlSeconds": DEMO_JWT_TTL_SECS,
        "tokens": tokens,
    }


# Stripe webhooks (README, "Stripe webhooks"): the platform endpoint, and demo-b's own (it
# has its own Stripe key). Registered at localstripe, which signs and sends the events it
# emits to each; tests and scripts sign the ones it never emits with the same secrets.
WEBHOOK_TENANTS = ["demo-b"]
# What each endpoint subscribes to (shared/stripe/src/webhook.rs, HANDLED_EVENTS).
WEBHOOK_EVENTS = [
    "customer.source.updated", "customer.source.expiring", "customer.source.deleted",
    "customer.deleted", "payment_method.updated", "payment_method.automatically_updated",
    "payment_method.detached", "charge.failed", "charge.succeeded",
    "payment_intent.payment_failed", "payment_intent.succeeded",
    "account.application.deauthorized",
    "setup_intent.succeeded", "setup_intent.setup_failed", "setup_intent.canceled",
]


def register_webhook(stripe_url, hook_id, url, secret):
    """localstripe's own endpoint for webhooks: POST /_config/webhooks/<id>."""
    req = urllib.request.Request(
        f"{stripe_url}/_config/webhooks/{hook_id}",
        data=json.dumps({"url": url, "secret": secret, "events": WEBHOOK_EVENTS}).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        resp.read()


def webhooks(admin):
    """New signing secrets for the platform endpoint and each WEBHOOK_TENANTS endpoint,
    registered at localstripe when the router's URL is known (a stack up with --serve)."""
    base, stripe_url = os.environ.get("CARDVAULT_BASE_URL"), os.environ["STRIPE_API_BASE"]
    out = {"events": WEBHOOK_EVENTS, "tenants": {}}
    secret = admin("set-webhook-secret", "--platform")["secret"]
    out["platform"] = {"url": f"{base}/v1/webhooks/stripe" if base else None, "secret": secret}
    for t in WEBHOOK_TENANTS:
        secret = admin("set-webhook-secret", "--tenant", t)["secret"]
        out["tenants"][t] = {"url": f"{base}/v1/webhooks/stripe/{t}" if base else None,
                             "secret": secret}
    if base:
        register_webhook(stripe_url, "platform", out["platform"]["url"], out["platform"]["secret"])
        for t, hook in out["tenants"].items():
            register_webhook(stripe_url, f"tenant-{t}", hook["url"], hook["secret"])
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--admin", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--template", default="template.yaml")
    args = p.parse_args()

    def admin(*cmd):
        out = subprocess.run([args.admin, "--table", args.table, *cmd],
                             capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"bootstrap: cardvault-admin {cmd[0]} failed: {out.stderr.strip()}")
        return json.loads(out.stdout)

    admin("create-table", "--template", args.template)
    admin("put-secret", "--id", STRIPE_PLATFORM_SECRET_ID, f"--value={STRIPE_PLATFORM_KEY}")
    admin("put-secret", "--id", RECAPTCHA_SECRET_ID, f"--value={RECAPTCHA_SECRET}")
    hs256_secret = secrets.token_urlsafe(36)
    # `--value=…`: a token_urlsafe value starts with "-" one time in 64, which clap would
    # take for a flag.
    admin("put-secret", "--id", HS256_SECRET_ID, f"--value={hs256_secret}")
    # The vault's KMS key (on moto), and the first versions of the fingerprint and cursor
    # key rings (rotate with rotate-fingerprint-key / rotate-cursor-key).
    kms_key = admin("create-vault-key", "--alias", VAULT_KMS_ALIAS)
    # The audit chain's HMAC key (on moto): the chainer MACs with it, `audit verify` checks.
    audit_key = admin("create-audit-key", "--alias", AUDIT_KMS_ALIAS)
    admin("rotate-fingerprint-key", "--secret-id", FINGERPRINT_KEY_SECRET_ID)
    admin("rotate-cursor-key", "--secret-id", CURSOR_KEY_SECRET_ID)

    tenants = []
    for t in DEMO_TENANTS:
        admin("create-tenant", "--id", t["id"], "--name", t["name"])
        key = admin("issue-key", "--tenant", t["id"])
        public = admin("set-public-key", "--tenant", t["id"])["publicApiKey"]
        admin("set-origins", "--tenant", t["id"], "--origin", t["origin"])
        if t.get("legacy_query_string_cards"):
            admin("set-legacy-query-string-cards", "--tenant", t["id"], "--on")
        if "own_key" in t:
            admin("put-secret", "--id", t["stripe"][1], f"--value={t['own_key']}")
        stripe = admin("set-stripe", "--tenant", t["id"], *t["stripe"])["stripe"]
        admin("trust-issuer", "--tenant", t["id"], "--issuer", os.environ["JWT_ISSUER"],
              "--audience", os.environ["JWT_AUDIENCE"])
        # Every local request comes from 127.0.0.1 with a demo tenant's public key: those two
        # limits are raised for the demo tenants; per customer and the lockout stay default.
        admin("set-velocity", "--tenant", t["id"], *DEMO_VELOCITY)
        tenants.append({
            "id": t["id"],
            "privateApiKey": key["privateApiKey"],
            "keyId": key["keyId"],
            "publicApiKey": public,
            "allowedOrigin": t["origin"],
            "stripe": stripe,
        })
    hooks = webhooks(admin)
    der = rsa_key(os.environ.get("CARDVAULT_RUN_DIR") or ".tools/run")
    jwt = demo_jwts(admin, der, hs256_secret)
    json.dump({"table": args.table,
               "secrets": {"stripePlatform": STRIPE_PLATFORM_SECRET_ID,
                           "recaptcha": RECAPTCHA_SECRET_ID,
                           "fingerprintKey": FINGERPRINT_KEY_SECRET_ID,
                           "cursorKey": CURSOR_KEY_SECRET_ID},
               "vaultKmsKey": kms_key,
               "auditKmsKey": audit_key,
               "tenants": tenants, "jwt": jwt, "webhooks": hooks}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
