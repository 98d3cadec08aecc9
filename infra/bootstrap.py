#!/usr/bin/env python3
"""Bootstraps a fresh local stack: the table from template.yaml, the platform secrets,
and two demo tenants, each with a private and a public API key, an allowed origin and a
Stripe connection on localstripe.

demo-a reaches Stripe through Connect (the platform key plus Stripe-Account);
demo-b holds its own secret key in Secrets Manager.

Prints the facts as JSON: {"table": ..., "tenants": [{id, privateApiKey, keyId,
publicApiKey, allowedOrigin, stripe}], "jwt": {algorithm, secret, issuer, audience, claims,
ttlSeconds, tokens}}. Uses only the admin CLI, so the item layout has
one source of truth (the Rust store).

Usage: bootstrap.py --admin target/debug/cardvault-admin --table NAME
(the stack's AWS_* variables must be in the environment)
"""
import argparse
import json
import os
import secrets
import subprocess
import sys

PLATFORM_SECRET_ID = "cardvault/platform"
VAULT_KEYS_SECRET_ID = "cardvault/vault-keys"
# localstripe accepts any sk_test_ key; siteverify.py accepts this secret by default.
PLATFORM_SECRET = {
    "stripeSecretKey": "sk_test_cardvault_platform",
    "stripePublishableKey": "pk_test_cardvault_platform",
    "recaptchaSecret": "platform-recaptcha-secret",
}
DEMO_TENANTS = [
    {"id": "demo-a", "name": "Demo Shop A", "origin": "http://localhost:3000",
     "stripe": ["--account", "acct_1DemoShopA00001"]},
    {"id": "demo-b", "name": "Demo Shop B", "origin": "http://localhost:3001",
     "stripe": ["--secret-id", "cardvault/tenant/demo-b/stripe",
                "--publishable-key", "pk_test_cardvault_demo_b"],
     "own_key": "sk_test_cardvault_demo_b"},
]


# Ready bearer JWTs (user and billing card APIs): one user of each demo tenant, and an
# owner and an admin of demo-a's billing account.
DEMO_JWTS = {
    "demo-a": {"tenant": "demo-a", "sub": "80a227b2-29a0-11e7-b636-e4a7a08e15d4"},
    "demo-b": {"tenant": "demo-b", "sub": "5d1e2f0c-6a3b-4c1d-9e8f-b0b1c2d3e4f5"},
    "owner": {"tenant": "demo-a", "sub": "owner-demo-a", "account": "acct-demo-a",
              "role": "owner"},
    "admin": {"tenant": "demo-a", "sub": "admin-demo-a", "account": "acct-demo-a",
              "role": "admin"},
}
DEMO_JWT_TTL_SECS = 7 * 24 * 3600  # local only: outlives any `make dev` session


def demo_jwts(admin, secret):
    """What a script needs to mint more HS256 tokens, and the ready ones (minted by the
    admin CLI, so the claims have one source of truth: shared/src/auth/jwt.rs)."""
    tokens = {}
    for name, who in DEMO_JWTS.items():
        args = ["mint-jwt", "--tenant", who["tenant"], "--sub", who["sub"],
                "--ttl-secs", str(DEMO_JWT_TTL_SECS), "--secret", secret]
        for opt in ("account", "role"):
            if opt in who:
                args += [f"--{opt}", who[opt]]
        minted = admin(*args)
        tokens[name] = {k: minted[k] for k in ("tenant", "sub", "account", "role", "token")}
        issuer, audience = minted["issuer"], minted["audience"]
    return {
        "algorithm": "HS256",
        "secret": secret,
        "issuer": issuer,
        "audience": audience,
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
    platform = dict(PLATFORM_SECRET, jwtSecret=secrets.token_urlsafe(32))
    admin("put-secret", "--id", PLATFORM_SECRET_ID, "--value", json.dumps(platform))
    # The vault's first encryption key and its fingerprint key (rotate with rotate-vault-key).
    admin("rotate-vault-key", "--secret-id", VAULT_KEYS_SECRET_ID)

    tenants = []
    for t in DEMO_TENANTS:
        admin("create-tenant", "--id", t["id"], "--name", t["name"])
        key = admin("issue-key", "--tenant", t["id"])
        public = admin("set-public-key", "--tenant", t["id"])["publicApiKey"]
        admin("set-origins", "--tenant", t["id"], "--origin", t["origin"])
        if "own_key" in t:
            admin("put-secret", "--id", t["stripe"][1], "--value", t["own_key"])
        stripe = admin("set-stripe", "--tenant", t["id"], *t["stripe"])["stripe"]
        tenants.append({
            "id": t["id"],
            "privateApiKey": key["privateApiKey"],
            "keyId": key["keyId"],
            "publicApiKey": public,
            "allowedOrigin": t["origin"],
            "stripe": stripe,
        })
    jwt = demo_jwts(admin, platform["jwtSecret"])
    json.dump({"table": args.table, "platformSecretId": PLATFORM_SECRET_ID,
               "tenants": tenants, "jwt": jwt}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
