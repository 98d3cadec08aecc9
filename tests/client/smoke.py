#!/usr/bin/env python3
"""One call per dialect through a Python client generated from openapi.yaml.

    smoke.py FACTS_JSON OUT_DIR

Generates the client with openapi-python-client (from the project's venv) into
OUT_DIR/cardvault_client, imports it, and calls the running stack with the facts' demo
credentials: the merchant API (create then read a customer, with an Idempotency-Key), the
transparent redirect (add a card), the user API (list Stripe customers) and the billing card
API (find cards). Each answer must be 200 and parse into the document's model. Exits non-zero
on the first failure.
"""
import importlib
import json
import os
import subprocess
import sys
import uuid


def generate(out_dir):
    pkg = os.path.join(out_dir, "cardvault_client")
    venv_bin = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=venv_bin + os.pathsep + os.environ.get("PATH", ""))
    out = subprocess.run(
        [os.path.join(venv_bin, "openapi-python-client"), "generate", "--path", "openapi.yaml",
         "--output-path", pkg, "--meta", "none", "--overwrite"],
        capture_output=True, text=True, env=env)
    # A warning means part of the document could not become client code.
    if out.returncode != 0 or "Warning" in out.stdout + out.stderr:
        sys.exit(f"client generation: rc={out.returncode}\n{out.stdout}\n{out.stderr}")
    sys.path.insert(0, out_dir)
    return importlib.import_module("cardvault_client")


def check(what, resp, model):
    if resp.status_code != 200 or not isinstance(resp.parsed, model):
        sys.exit(f"{what}: {resp.status_code} {type(resp.parsed).__name__}: {resp.content[:300]!r}")
    print(f"client: {what}: 200 {model.__name__}")
    return resp.parsed


def main():
    facts_path, out_dir = sys.argv[1], sys.argv[2]
    with open(facts_path) as f:
        facts = json.load(f)
    c = generate(out_dir)
    api = importlib.import_module("cardvault_client.api")
    models = importlib.import_module("cardvault_client.models")
    merchant_api = importlib.import_module("cardvault_client.api.merchant_api_fusebill_style")
    base, tenant = facts["baseUrl"], facts["tenants"][0]
    merchant = c.AuthenticatedClient(base_url=base, token=tenant["privateApiKey"], prefix="Basic")

    from cardvault_client.api.merchant_api_fusebill_style import create_customer, get_customer
    created = check("merchant createCustomer", create_customer.sync_detailed(
        client=merchant, idempotency_key=str(uuid.uuid4()),
        body=models.CustomerRequest(first_name="Client", last_name="Smoke")), models.CustomerJson)
    check("merchant getCustomer", get_customer.sync_detailed(created.id, client=merchant),
          models.CustomerJson)

    from cardvault_client.api.transparent_redirect_fusebill_paymentsv_2 import add_credit_card
    browser = c.AuthenticatedClient(base_url=base, token="", prefix="")
    card = check("redirect addCreditCard", add_credit_card.sync_detailed(
        client=browser, body=models.RedirectRequest(
            customer_id=created.id, public_api_key=tenant["publicApiKey"],
            card_number="4242424242424242", expiration_month=2, expiration_year=30, cvv="123",
            recaptcha=facts["recaptcha"]["passToken"], first_name="Client", last_name="Smoke")),
        models.RedirectResponse)
    assert card.masked_card_number.endswith("4242"), card

    tokens = facts["jwt"]["tokens"]
    from cardvault_client.api.user_api_rechat_style import list_stripe_customers
    user = c.AuthenticatedClient(base_url=base, token=tokens["demo-a"]["token"])
    check("user listStripeCustomers", list_stripe_customers.sync_detailed(client=user),
          models.ListStripeCustomersResponse200)

    from cardvault_client.api.billing_card_api_embed_this_style import card_find
    admin = c.AuthenticatedClient(base_url=base, token=tokens["admin"]["token"])
    check("billing cardFind", card_find.sync_detailed(client=admin, limit=5), models.PageJson)
    del api, merchant_api


if __name__ == "__main__":
    main()
