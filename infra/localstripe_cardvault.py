"""localstripe 1.15, patched to answer as Stripe does where cardvault needs it.

Run as: .tools/venv/bin/python infra/localstripe_cardvault.py PORT (infra/stack.sh does).

localstripe's own CLI binds [::] (every interface) and pickles its whole store, card data
included, to /tmp/localstripe.pickle after every write, one file shared by every stack.
This runs its app bound to 127.0.0.1 with no pickling.

Its routes capture their functions when the server module loads: everything a route calls
directly is patched before `from localstripe import server`.
"""
import base64
import json
import logging
import secrets as _secrets
import sys

from aiohttp import web

from localstripe import errors

# Stripe declines any card its issuer refuses, localstripe only its fixed test numbers: a
# card held by "Declined Cardholder" is declined too, so a test can have a number of its own
# declined (tests/tests/integration/exposure.rs).
DECLINED_HOLDER = "Declined Cardholder"

# Stripe's 404 for a missing object carries `code: resource_missing`, the one 404 the vault
# takes as "already detached" (`StripeError::is_resource_missing`); localstripe's carries no
# code, so its UserError 404s get it. Any other 404 (an unknown route) stays without one, as
# a wrong API base would answer.
_user_error = errors.UserError.__init__


def _user_error_with_code(self, code, message=None, contents=None):
    _user_error(self, code, message, contents)
    if code == 404:
        self.body["error"].setdefault("code", "resource_missing")


errors.UserError.__init__ = _user_error_with_code

from localstripe import resources  # noqa: E402

# Stripe keeps the `metadata` given when a card is added to a customer (re-homing names the
# vault card there); localstripe 1.15 refuses the parameter, so it is taken and set on the
# new card.
_add_source = resources.Customer._api_add_source


def _add_source_with_metadata(id, source=None, metadata=None, **kwargs):
    added = _add_source(id, source=source, **kwargs)
    if isinstance(metadata, dict):
        added.metadata = {str(k): str(v) for k, v in metadata.items()}
    return added


resources.extra_apis[:] = [(m, u, _add_source_with_metadata if f == _add_source else f)
                           for (m, u, f) in resources.extra_apis]

from localstripe import server  # noqa: E402
from localstripe.resources import Card, Store  # noqa: E402

# No pickling (see the module's comment).
Store.dump_to_disk = lambda self: None

# Stripe takes a card with no CVC (a card on file moved between accounts, as re-homing
# does); localstripe 1.15 asserts one, so such a card gets no CVC check (cvc_check null, as
# Stripe answers) instead of a 400.
_card_init = Card.__init__


def _card_init_without_cvc(self, source=None, **kwargs):
    no_cvc = isinstance(source, dict) and source.get("cvc") is None
    if no_cvc:
        source = dict(source, cvc="000")
    _card_init(self, source=source, **kwargs)
    if no_cvc:
        self.cvc_check = None


Card.__init__ = _card_init_without_cvc

# A card held by DECLINED_HOLDER is declined (see DECLINED_HOLDER).
_card_declined = Card._attaching_is_declined


def _card_declined_or_its_holder(self):
    return self.name == DECLINED_HOLDER or _card_declined(self)


Card._attaching_is_declined = _card_declined_or_its_holder

# localstripe also ignores Stripe-Account (one store for every account): GET
# /_cardvault/made_under/<id> answers the Stripe-Account header the request that made an
# object carried, so tests can see at which connected account an object was made, and GET
# /_cardvault/calls?path=<path> the key and Stripe-Account of every request to a path
# (localstripe takes any key, so a test asks it which one the vault used).
made_under = {}
calls = {}


def key_of(request):
    kind, _, value = request.headers.get("Authorization", "").partition(" ")
    if kind == "Bearer":
        return value
    if kind == "Basic":
        try:
            return base64.b64decode(value).decode().partition(":")[0]
        except Exception:
            return None
    return None


@web.middleware
async def note_stripe_account(request, handler):
    account = request.headers.get("Stripe-Account")
    if not request.path.startswith("/_"):
        calls.setdefault(request.path, []).append(
            {"method": request.method, "key": key_of(request), "account": account})
    response = await handler(request)
    if request.method == "POST" and account and response.status == 200:
        try:
            made = json.loads(response.body)
        except Exception:
            made = {}
        if isinstance(made, dict) and isinstance(made.get("id"), str):
            made_under.setdefault(made["id"], account)
    return response


async def account_of(request):
    return web.json_response({"id": request.match_info["id"],
                              "account": made_under.get(request.match_info["id"])})


server.app.middlewares.append(note_stripe_account)


async def calls_to(request):
    return web.json_response(calls.get(request.query.get("path", ""), []))


server.app.router.add_get("/_cardvault/made_under/{id}", account_of)
server.app.router.add_get("/_cardvault/calls", calls_to)

# Stripe Connect's OAuth (`cardvault-admin connect-account`): POST
# /_cardvault/oauth/authorize {"account": "acct_…"} stands for the tenant consenting in
# Stripe and answers a one-time code; POST /oauth/token (grant_type=authorization_code, the
# code, an sk_ key) answers it once with the account as `stripe_user_id`, as Stripe's token
# endpoint does, and refuses a code used or unknown with `invalid_grant`.
oauth_codes = {}


async def oauth_authorize(request):
    if request.content_type == "application/json":
        account = (await request.json()).get("account")
    else:
        account = (await request.post()).get("account")
    if not isinstance(account, str) or not account.startswith("acct_"):
        return web.json_response({"error": "invalid_request"}, status=400)
    code = "ac_" + _secrets.token_hex(12)
    oauth_codes[code] = account
    return web.json_response({"code": code})


async def oauth_token(request):
    form = await request.post()
    if not (key_of(request) or "").startswith("sk_"):
        return web.json_response({"error": "invalid_client",
                                  "error_description": "no platform secret key"}, status=401)
    if form.get("grant_type") != "authorization_code":
        return web.json_response({"error": "unsupported_grant_type"}, status=400)
    account = oauth_codes.pop(form.get("code", ""), None)
    if account is None:
        return web.json_response({"error": "invalid_grant",
                                  "error_description": "Authorization code does not exist or was used"},
                                 status=400)
    return web.json_response({"access_token": "sk_test_oauth_" + _secrets.token_hex(8),
                              "livemode": False, "scope": "read_write", "token_type": "bearer",
                              "stripe_user_id": account})


server.app.router.add_post("/_cardvault/oauth/authorize", oauth_authorize)
server.app.router.add_post("/oauth/token", oauth_token)


def main():
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    web.run_app(server.app, host="127.0.0.1", port=int(sys.argv[1]),
                access_log_format="%r %s %Tfs", print=print)


if __name__ == "__main__":
    main()
