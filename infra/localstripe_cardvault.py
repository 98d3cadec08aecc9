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
import os
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

# ---------------------------------------------------------------------------------------
# PaymentMethods, SetupIntents and 3-D Secure, as https://docs.stripe.com/api/setup_intents
# and https://docs.stripe.com/api/payment_methods document them. The vault saves cards as
# PaymentMethods through SetupIntents; localstripe 1.15 models part of that (no card token
# as a PaymentMethod, no CVC-less or 15-digit card, no webhook for a SetupIntent, no way to
# fail or pass a SetupIntent's 3-D Secure, every authentication card refused off-session
# even once set up): the patches below fill those gaps. Errors carry Stripe's shapes: a card
# refused is a 402 `card_error` naming the intent it failed, so the vault's handling of them
# is tested against what Stripe sends.
# ---------------------------------------------------------------------------------------
import datetime  # noqa: E402
import re  # noqa: E402

from localstripe.errors import UserError  # noqa: E402
from localstripe.resources import (  # noqa: E402
    Charge, Customer, Event, PaymentIntent, PaymentMethod, SetupIntent, StripeObject, Token,
    fingerprint, try_convert_to_bool, try_convert_to_int)
from localstripe.webhooks import schedule_webhook  # noqa: E402


def _doc_url(code):
    return "https://stripe.com/docs/error-codes/" + code.replace("_", "-")


def card_error(code, message, decline_code=None, param=None, **objects):
    """Stripe's 402: `type: card_error`, and the intent (or charge) the refusal belongs to."""
    error = UserError(402, message, {"code": code, "doc_url": _doc_url(code)})
    error.body["error"]["type"] = "card_error"
    if decline_code:
        error.body["error"]["decline_code"] = decline_code
    if param:
        error.body["error"]["param"] = param
    error.body["error"].update(objects)
    return error


def invalid_request(message, code=None, param=None, status=400, **objects):
    contents = {}
    if code:
        contents.update(code=code, doc_url=_doc_url(code))
    if param:
        contents["param"] = param
    contents.update(objects)
    return UserError(status, message, contents)


def no_such(kind, id, param):
    """A missing object named in the body: Stripe answers 400 resource_missing (the URL's
    own object missing is the 404 above)."""
    return invalid_request(f"No such {kind}: '{id}'", code="resource_missing", param=param)


def retrieve_param(cls, kind, id, param):
    if not isinstance(id, str) or not id:
        raise invalid_request(f"Invalid {kind} id", param=param)
    try:
        return cls._api_retrieve(id)
    except UserError as e:
        if e.code == 404:
            raise no_such(kind, id, param)
        raise


def unexpected(params):
    return invalid_request("Received unknown parameter: " + ", ".join(sorted(params)),
                           param=sorted(params)[0])


# --- PaymentMethods ----------------------------------------------------------------------

def brand_of(number):
    """Stripe's card brand from the number's prefix (its test numbers use these ranges)."""
    two, four = int(number[:2]), int(number[:4])
    if two in (34, 37):
        return "amex"
    if number.startswith("4"):
        return "visa"
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return "mastercard"
    if number.startswith(("6011", "65")) or 644 <= int(number[:3]) <= 649:
        return "discover"
    if two in (36, 38, 39) or 300 <= int(number[:3]) <= 305:
        return "diners"
    if 3528 <= four <= 3589:
        return "jcb"
    if two == 62:
        return "unionpay"
    return "unknown"


def luhn_ok(number):
    digits = [int(d) for d in reversed(number)]
    total = sum(digits[0::2]) + sum(sum(divmod(2 * d, 10)) for d in digits[1::2])
    return total % 10 == 0


# Stripe's test card whose CVC check fails when a CVC is given (docs.stripe.com/testing).
CVC_FAILS = "4000000000000101"
BILLING_ADDRESS_FIELDS = ("city", "country", "line1", "line2", "postal_code", "state")
# Parameters Stripe.js or a client sends with a PaymentMethod that change nothing here.
PM_IGNORED = {"allow_redisplay", "radar_options", "guid", "muid", "sid", "time_on_page"}


def billing_details_of(given, card_name=None, card_address=None):
    """Stripe's billing_details: every field present, null when not given."""
    given = given or {}
    if not isinstance(given, dict) or not set(given) <= {"address", "email", "name", "phone"}:
        raise invalid_request("Invalid billing_details", param="billing_details")
    address = given.get("address") or {}
    if not isinstance(address, dict) or not set(address) <= set(BILLING_ADDRESS_FIELDS):
        raise invalid_request("Invalid billing_details[address]", param="billing_details[address]")
    address = {f: address.get(f) or (card_address or {}).get(f) for f in BILLING_ADDRESS_FIELDS}
    return {"address": address, "email": given.get("email"),
            "name": given.get("name") or card_name, "phone": given.get("phone")}


def metadata_of(given, param="metadata"):
    if given in (None, ""):
        return {}
    if not isinstance(given, dict):
        raise invalid_request("Invalid object", param=param)
    return {str(k): str(v) for k, v in given.items()}


def card_from_token(token):
    """Stripe: `card[token]=tok_…` makes a PaymentMethod of the token's card, and a token is
    single use."""
    tok = retrieve_param(Token, "token", token, "card[token]")
    if getattr(tok, "used", False):
        raise invalid_request(f"You cannot use a Stripe token more than once: {token}.",
                              code="token_already_used", param="card[token]")
    c = tok.card
    address = {"city": c.address_city, "country": c.address_country, "line1": c.address_line1,
               "line2": c.address_line2, "postal_code": c.address_zip, "state": c.address_state}
    return tok, c._card_number, c.exp_month, c.exp_year, c.cvc_check, c.name, address


def card_from_fields(card):
    if not set(card) <= {"number", "exp_month", "exp_year", "cvc", "networks"}:
        raise unexpected({f"card[{k}]" for k in card} - {"card[number]", "card[exp_month]",
                                                         "card[exp_year]", "card[cvc]",
                                                         "card[networks]"})
    number = card.get("number")
    if not isinstance(number, str) or not number:
        raise invalid_request("Missing required param: card[number].",
                              code="parameter_missing", param="card[number]")
    number = re.sub(r"[ -]", "", number)
    if not number.isdigit() or not 14 <= len(number) <= 19:
        raise card_error("invalid_number", "The card number is not a valid credit card number.",
                         param="number")
    if not luhn_ok(number):
        raise card_error("incorrect_number", "Your card number is incorrect.", param="number")
    exp_month = try_convert_to_int(card.get("exp_month"))
    exp_year = try_convert_to_int(card.get("exp_year"))
    if not isinstance(exp_month, int) or not 1 <= exp_month <= 12:
        raise card_error("invalid_expiry_month", "Your card's expiration month is invalid.",
                         param="exp_month")
    if not isinstance(exp_year, int):
        raise card_error("invalid_expiry_year", "Your card's expiration year is invalid.",
                         param="exp_year")
    if 0 <= exp_year < 100:
        exp_year += 2000
    today = datetime.date.today()
    if not today.year <= exp_year <= today.year + 50:
        raise card_error("invalid_expiry_year", "Your card's expiration year is invalid.",
                         param="exp_year")
    if exp_year == today.year and exp_month < today.month:
        raise card_error("invalid_expiry_month", "Your card's expiration month is invalid.",
                         param="exp_month")
    # No CVC is no CVC check (cvc_check null), as for card sources above; an Amex CID has 4
    # digits, every other brand's CVC 3.
    cvc = card.get("cvc")
    if cvc in (None, ""):
        cvc_check = None
    else:
        if not (isinstance(cvc, str) and cvc.isdigit()
                and len(cvc) == (4 if brand_of(number) == "amex" else 3)):
            raise card_error("invalid_cvc", "Your card's security code is invalid.", param="cvc")
        cvc_check = "fail" if number == CVC_FAILS else "pass"
    return number, exp_month, exp_year, cvc_check


_pm_init = PaymentMethod.__init__


def _pm_init_as_stripe(self, type=None, billing_details=None, card=None, sepa_debit=None,
                       metadata=None, **kwargs):
    if type != "card":
        return _pm_init(self, type=type, billing_details=billing_details, card=card,
                        sepa_debit=sepa_debit, metadata=metadata, **kwargs)
    if set(kwargs) - PM_IGNORED:
        raise unexpected(set(kwargs) - PM_IGNORED)
    if not isinstance(card, dict):
        raise invalid_request("Missing required param: card.", code="parameter_missing",
                              param="card")
    card = dict(card)
    token, card_name, card_address = None, None, None
    if "token" in card:
        if set(card) != {"token"}:
            raise invalid_request("You cannot provide card[token] together with other card "
                                  "details.", param="card[token]")
        token, number, exp_month, exp_year, cvc_check, card_name, card_address = \
            card_from_token(card["token"])
    else:
        number, exp_month, exp_year, cvc_check = card_from_fields(card)
    details = billing_details_of(billing_details, card_name, card_address)
    metadata = metadata_of(metadata)

    # All exceptions must be raised before this point (the object is stored from here).
    StripeObject.__init__(self)
    if token is not None:
        token.used = True
    brand = brand_of(number)
    self.type = "card"
    self.billing_details = details
    self._card_number = number
    self.card = {
        "brand": brand,
        "checks": {"address_line1_check": None, "address_postal_code_check": None,
                   "cvc_check": cvc_check},
        "country": "US",
        "display_brand": brand,
        "exp_month": exp_month,
        "exp_year": exp_year,
        "fingerprint": fingerprint(number),
        "funding": "credit",
        "generated_from": None,
        "last4": number[-4:],
        "networks": {"available": [brand], "preferred": None},
        "three_d_secure_usage": {"supported": True},
        "wallet": None,
    }
    self.customer = None
    self.metadata = metadata
    self.allow_redisplay = "unspecified"


PaymentMethod.__init__ = _pm_init_as_stripe

# Stripe's test PaymentMethod ids (docs.stripe.com/testing), made on first use as
# localstripe does for pm_card_visa.
CANONICAL_PMS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_amex": "378282246310005",
    "pm_card_visa_chargeDeclined": "4000000000000002",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "pm_card_authenticationRequiredOnSetup": "4000002500003155",
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_threeDSecure2Required": "4000000000003220",
}
_canonical = PaymentMethod._try_get_canonical_test_article.__func__


def _canonical_test_pm(cls, id):
    if id in CANONICAL_PMS:
        cvc = "1234" if brand_of(CANONICAL_PMS[id]) == "amex" else "123"
        return PaymentMethod(type="card", card={"number": CANONICAL_PMS[id], "exp_month": 12,
                                                "exp_year": datetime.date.today().year + 5,
                                                "cvc": cvc})
    return _canonical(cls, id)


PaymentMethod._try_get_canonical_test_article = classmethod(_canonical_test_pm)

# Cards Stripe asks to authenticate (docs.stripe.com/testing#authentication-and-setup):
# localstripe's list, plus 4000003800000446, "already set up" for off-session use.
ALREADY_SET_UP = "4000003800000446"
# "Authenticate unless set up": once a SetupIntent with usage=off_session succeeded for it,
# an off-session payment needs no authentication.
AUTH_UNLESS_SET_UP = "4000002500003155"
_pm_requires_auth = PaymentMethod._requires_authentication


def _requires_authentication(self):
    return (getattr(self, "type", None) == "card"
            and getattr(self, "_card_number", None) == ALREADY_SET_UP) or _pm_requires_auth(self)


PaymentMethod._requires_authentication = _requires_authentication


def off_session_exempt(pm):
    """Whether Stripe charges this card off-session without asking to authenticate
    (docs.stripe.com/testing#authentication-and-setup): "already set up" cards always, an
    "authenticate unless set up" card once a usage=off_session SetupIntent succeeded for it;
    every other authentication card (4000002760003184 "always authenticate", …) never."""
    number = getattr(pm, "_card_number", None)
    return number == ALREADY_SET_UP or (
        number == AUTH_UNLESS_SET_UP and getattr(pm, "_set_up_off_session", False))


# A PaymentMethod whose holder is DECLINED_HOLDER is declined too, as a card source is.
_pm_declined = PaymentMethod._attaching_is_declined


def _pm_declined_or_its_holder(self):
    details = getattr(self, "billing_details", None)
    return ((isinstance(details, dict) and details.get("name") == DECLINED_HOLDER)
            or _pm_declined(self))


PaymentMethod._attaching_is_declined = _pm_declined_or_its_holder

# Stripe's decline per test number (docs.stripe.com/testing#declined-payments).
DECLINES = {
    "4000000000009995": ("card_declined", "insufficient_funds",
                         "Your card has insufficient funds."),
    "4000000000009987": ("card_declined", "lost_card", "Your card was declined."),
    "4000000000009979": ("card_declined", "stolen_card", "Your card was declined."),
    "4000000000000069": ("expired_card", "expired_card", "Your card has expired."),
    "4000000000000127": ("incorrect_cvc", "incorrect_cvc",
                         "Your card's security code is incorrect."),
    "4000000000000119": ("processing_error", "processing_error",
                         "An error occurred while processing your card. Try again in a "
                         "little bit."),
}


def decline_of(pm):
    code, decline_code, message = DECLINES.get(
        getattr(pm, "_card_number", None),
        ("card_declined", "generic_decline", "Your card was declined."))
    return {"code": code, "decline_code": decline_code, "doc_url": _doc_url(code),
            "message": message, "payment_method": pm._export(), "type": "card_error"}


def attach(pm, customer):
    """Attaches pm to customer as Stripe does; payment_method.attached when it was not."""
    if pm.customer == customer:
        return
    if pm.customer is not None:
        raise invalid_request("The payment method you provided has already been attached to "
                              "a customer.", param="payment_method")
    pm.customer = customer
    schedule_webhook(Event("payment_method.attached", pm))


def _pm_api_attach(id, customer=None, **kwargs):
    if kwargs:
        raise unexpected(set(kwargs))
    if not isinstance(id, str) or not id.startswith("pm_"):
        raise invalid_request("Invalid payment_method id", param="payment_method")
    pm = PaymentMethod._api_retrieve(id)
    if customer is None:
        raise invalid_request("Missing required param: customer.", code="parameter_missing",
                              param="customer")
    retrieve_param(Customer, "customer", customer, "customer")
    if pm._attaching_is_declined():
        e = decline_of(pm)
        raise card_error(e["code"], e["message"], e["decline_code"])
    attach(pm, customer)
    return pm


def _pm_api_detach(id, **kwargs):
    if kwargs:
        raise unexpected(set(kwargs))
    if not isinstance(id, str) or not id.startswith("pm_"):
        raise invalid_request("Invalid payment_method id", param="payment_method")
    pm = PaymentMethod._api_retrieve(id)
    customer = pm.customer
    if customer is None:
        # Stripe's answer to detaching a PaymentMethod that is attached to no customer.
        raise invalid_request("The payment method you provided is not attached to a customer "
                              "so detachment is impossible.")
    pm.customer = None
    # Stripe clears a customer's default PaymentMethod when it is detached.
    cus = resources.store.get("customer:" + customer)
    if cus is not None and cus.invoice_settings.get("default_payment_method") == pm.id:
        cus.invoice_settings["default_payment_method"] = None
    event = Event("payment_method.detached", pm)
    # The customer it left is named there only (shared/stripe/src/webhook.rs reads it).
    event.data["previous_attributes"] = {"customer": customer}
    schedule_webhook(event)
    return pm


_pm_list_all = PaymentMethod._api_list_all.__func__


def _pm_api_list_all(cls, url, customer=None, type=None, limit=None, starting_after=None,
                     **kwargs):
    """Stripe lists a customer's PaymentMethods with `type` optional (every type then)."""
    kwargs.pop("ending_before", None)
    if kwargs:
        raise unexpected(set(kwargs))
    if type is not None:
        return _pm_list_all(cls, url, customer=customer, type=type, limit=limit,
                            starting_after=starting_after)
    if customer is not None:
        retrieve_param(Customer, "customer", customer, "customer")
    li = StripeObject._api_list_all.__func__(cls, url, limit=limit,
                                             starting_after=starting_after)
    li._list = [pm for pm in li._list if pm.customer == customer]
    return li


PaymentMethod._api_list_all = classmethod(_pm_api_list_all)


def _customer_payment_methods(id, type=None, limit=None, starting_after=None, **kwargs):
    """GET /v1/customers/{id}/payment_methods, Stripe's other way to list them."""
    Customer._api_retrieve(id)  # 404 if missing
    return PaymentMethod._api_list_all(f"/v1/customers/{id}/payment_methods", customer=id,
                                       type=type, limit=limit, starting_after=starting_after,
                                       **kwargs)


# --- Customers ---------------------------------------------------------------------------
_customer_update = Customer._api_update.__func__


def _customer_api_update(cls, id, **data):
    """invoice_settings[default_payment_method]=pm_… must name a PaymentMethod attached to
    this customer, as Stripe checks; an empty value clears it (localstripe's own)."""
    settings = data.get("invoice_settings")
    if isinstance(settings, dict) and settings.get("default_payment_method"):
        pm_id = settings["default_payment_method"]
        pm = retrieve_param(PaymentMethod, "PaymentMethod", pm_id,
                            "invoice_settings[default_payment_method]")
        if pm.customer != id:
            raise invalid_request(
                f"The customer does not have a payment method with the ID {pm_id}. The "
                "payment method must be attached to the customer.",
                param="invoice_settings[default_payment_method]")
    if isinstance(settings, dict):
        cus = cls._api_retrieve(id)
        data["invoice_settings"] = dict(cus.invoice_settings, **settings)
    return _customer_update(cls, id, **data)


Customer._api_update = classmethod(_customer_api_update)

# --- SetupIntents ------------------------------------------------------------------------
# Accepted on create and confirm, changing nothing here: Stripe.js sends use_stripe_sdk; the
# rest are options of flows this stand-in has one answer for.
SI_IGNORED = {"return_url", "use_stripe_sdk", "payment_method_options", "mandate_data",
              "automatic_payment_methods", "single_use", "flow_directions", "attach_to_self",
              "on_behalf_of", "payment_method_configuration"}
_si_init = SetupIntent.__init__


def _si_init_as_stripe(self, customer=None, usage=None, payment_method_types=None,
                       metadata=None, payment_method=None, description=None, **kwargs):
    if set(kwargs) - SI_IGNORED:
        raise unexpected(set(kwargs) - SI_IGNORED)
    if customer is not None:
        retrieve_param(Customer, "customer", customer, "customer")
    pm = None
    if payment_method is not None:
        pm = retrieve_param(PaymentMethod, "PaymentMethod", payment_method, "payment_method")
    if isinstance(payment_method_types, str):
        payment_method_types = [payment_method_types]
    _si_init(self, customer=customer, usage=usage, payment_method_types=payment_method_types,
             metadata=metadata_of(metadata))
    self.description = description
    self.payment_method = pm.id if pm else None
    self.status = "requires_confirmation" if pm else "requires_payment_method"
    self.last_setup_error = None
    self.cancellation_reason = None
    self.latest_attempt = None
    self.mandate = None
    self.single_use_mandate = None
    self.application = None
    self.on_behalf_of = None
    self.automatic_payment_methods = None
    self.flow_directions = None
    self.payment_method_options = {"card": {"mandate_options": None, "network": None,
                                            "request_three_d_secure": "automatic"}}


SetupIntent.__init__ = _si_init_as_stripe


def _si_api_create(cls, confirm=None, **data):
    confirm = try_convert_to_bool(confirm)
    if confirm not in (None, True, False):
        raise invalid_request("Invalid boolean", param="confirm")
    si = cls(**data)
    if confirm:
        if si.payment_method is None:
            raise invalid_request(
                "You cannot confirm this SetupIntent because it's missing a payment method. "
                "Update the SetupIntent with a payment method and then confirm it again.",
                code="setup_intent_unexpected_state", setup_intent=si._export())
        set_up(si, PaymentMethod._api_retrieve(si.payment_method))
    return si


SetupIntent._api_create = classmethod(_si_api_create)

THREE_D_SECURE_ACTION = {"type": "use_stripe_sdk",
                         "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": "",
                                            "source": None}}


def set_up(si, pm):
    """A SetupIntent's confirmation with pm: declined (402, requires_payment_method),
    requires_action (3-D Secure, then POST …/_authenticate), or succeeded."""
    si.payment_method = pm.id
    si.last_setup_error = None
    si.next_action = None
    if pm._attaching_is_declined():
        error = decline_of(pm)
        setup_failed(si, error)
        raise card_error(error["code"], error["message"], error["decline_code"],
                         setup_intent=si._export(), payment_method=error["payment_method"])
    if pm._requires_authentication():
        si.status = "requires_action"
        si.next_action = json.loads(json.dumps(THREE_D_SECURE_ACTION))
        schedule_webhook(Event("setup_intent.requires_action", si))
        return
    set_up_succeeded(si, pm)


def setup_failed(si, error):
    """Stripe leaves a failed SetupIntent without its PaymentMethod, named in the error."""
    si.status = "requires_payment_method"
    si.payment_method = None
    si.next_action = None
    si.last_setup_error = error
    schedule_webhook(Event("setup_intent.setup_failed", si))


def set_up_succeeded(si, pm):
    """Stripe attaches the PaymentMethod to the SetupIntent's customer on success."""
    if si.customer is not None:
        attach(pm, si.customer)
    si.status = "succeeded"
    si.next_action = None
    si.last_setup_error = None
    if si.usage == "off_session":
        pm._set_up_off_session = True
    schedule_webhook(Event("setup_intent.succeeded", si))


def setup_intent_of(id, client_secret):
    si = SetupIntent._api_retrieve(id)
    if client_secret is not None and client_secret != si.client_secret:
        raise invalid_request("The client_secret provided does not match the client_secret "
                              "associated with the SetupIntent.", param="client_secret")
    return si


def _si_api_confirm(id, client_secret=None, payment_method=None, payment_method_data=None,
                    **kwargs):
    if set(kwargs) - SI_IGNORED:
        raise unexpected(set(kwargs) - SI_IGNORED)
    si = setup_intent_of(id, client_secret)
    if si.status not in ("requires_payment_method", "requires_confirmation",
                         "requires_action"):
        raise invalid_request(f"You cannot confirm this SetupIntent because it has a status "
                              f"of {si.status}.", code="setup_intent_unexpected_state",
                              setup_intent=si._export())
    if payment_method is not None:
        pm = retrieve_param(PaymentMethod, "PaymentMethod", payment_method, "payment_method")
    elif payment_method_data is not None:
        if not isinstance(payment_method_data, dict):
            raise invalid_request("Invalid payment_method_data", param="payment_method_data")
        pm = PaymentMethod(**payment_method_data)
    elif si.payment_method is not None:
        pm = PaymentMethod._api_retrieve(si.payment_method)
    else:
        raise invalid_request(
            "You cannot confirm this SetupIntent because it's missing a payment method. "
            "Update the SetupIntent with a payment method and then confirm it again.",
            code="setup_intent_unexpected_state", setup_intent=si._export())
    set_up(si, pm)
    return si


def _si_api_authenticate(id, client_secret=None, success=False, **kwargs):
    """Stands for the cardholder passing (success=true) or failing 3-D Secure, as
    localstripe's POST /v1/payment_intents/{id}/_authenticate does for a PaymentIntent."""
    if kwargs:
        raise unexpected(set(kwargs))
    success = try_convert_to_bool(success)
    if not isinstance(client_secret, str) or not isinstance(success, bool):
        raise UserError(400, "Bad request")
    si = SetupIntent._api_retrieve(id)
    if client_secret != si.client_secret:
        raise UserError(401, "Unauthorized")
    if si.status != "requires_action":
        raise invalid_request(f"This SetupIntent has a status of {si.status}; only one that "
                              "requires_action can be authenticated.",
                              code="setup_intent_unexpected_state", setup_intent=si._export())
    pm = PaymentMethod._api_retrieve(si.payment_method)
    if success:
        set_up_succeeded(si, pm)
    else:
        setup_failed(si, {
            "code": "setup_intent_authentication_failure",
            "doc_url": _doc_url("setup_intent_authentication_failure"),
            "message": "The latest attempt to set up the payment method has failed because "
                       "authentication failed.",
            "payment_method": pm._export(),
            "type": "invalid_request_error"})
    return si


def _si_api_cancel(id, client_secret=None, cancellation_reason=None, **kwargs):
    if set(kwargs) - SI_IGNORED:
        raise unexpected(set(kwargs) - SI_IGNORED)
    si = setup_intent_of(id, client_secret)
    if si.status not in ("requires_payment_method", "requires_confirmation",
                         "requires_action"):
        raise invalid_request(f"You cannot cancel this SetupIntent because it has a status "
                              f"of {si.status}.", code="setup_intent_unexpected_state",
                              setup_intent=si._export())
    if cancellation_reason not in (None, "abandoned", "requested_by_customer", "duplicate"):
        raise invalid_request("Invalid cancellation_reason", param="cancellation_reason")
    si.status = "canceled"
    si.next_action = None
    si.cancellation_reason = cancellation_reason
    schedule_webhook(Event("setup_intent.canceled", si))
    return si


# --- PaymentIntents ----------------------------------------------------------------------
# Accepted by Stripe and kept as given (`description`, …) or changing nothing here.
PI_KEPT = ("description", "setup_future_usage", "receipt_email", "statement_descriptor",
           "statement_descriptor_suffix")
PI_IGNORED = {"return_url", "use_stripe_sdk", "mandate_data", "error_on_requires_action",
              "automatic_payment_methods", "confirmation_method", "payment_method_configuration"}
_pi_init = PaymentIntent.__init__


def _pi_init_as_stripe(self, **data):
    kept = {k: data.pop(k, None) for k in PI_KEPT}
    for k in PI_IGNORED:
        data.pop(k, None)
    if isinstance(data.get("payment_method_types"), str):
        data["payment_method_types"] = [data["payment_method_types"]]
    if data.get("payment_method"):
        retrieve_param(PaymentMethod, "PaymentMethod", data["payment_method"], "payment_method")
    if data.get("customer"):
        retrieve_param(Customer, "customer", data["customer"], "customer")
    _pi_init(self, **data)
    for k, v in kept.items():
        setattr(self, k, v)
    self.payment_method_types = data.get("payment_method_types") or ["card"]
    self._last_error = None


PaymentIntent.__init__ = _pi_init_as_stripe

_last_payment_error = PaymentIntent.last_payment_error


def _last_payment_error_as_stripe(self):
    return getattr(self, "_last_error", None) or _last_payment_error.fget(self)


PaymentIntent.last_payment_error = property(_last_payment_error_as_stripe)


def authentication_required(pi, pm):
    """Stripe's answer to an off-session payment the card wants authenticated
    (docs.stripe.com/payments/save-and-reuse, docs.stripe.com/testing#authentication-and-setup):
    the issuer declines it (a failed charge), the PaymentIntent is back to
    requires_payment_method with last_payment_error.code authentication_required, the
    request fails with a 402 card_error naming it, and payment_intent.payment_failed is sent."""
    charge = Charge(amount=pi.amount, currency=pi.currency, customer=pi.customer,
                    source=pm.id, capture=(pi.capture_method != "manual"))
    charge.payment_intent = pi.id
    charge.status = "failed"
    charge.failure_code = "authentication_required"
    charge.failure_message = "Your card was declined. This transaction requires authentication."
    pi.latest_charge = charge
    pi.next_action = None
    pi.payment_method = None
    pi._last_error = {"charge": charge.id, "code": "authentication_required",
                      "decline_code": "authentication_required",
                      "doc_url": _doc_url("authentication_required"),
                      "message": charge.failure_message, "payment_method": pm._export(),
                      "type": "card_error"}
    schedule_webhook(Event("payment_intent.payment_failed", pi))
    raise card_error("authentication_required", charge.failure_message,
                     "authentication_required", charge=charge.id,
                     payment_intent=pi._export(), payment_method=pm._export())


def confirm_payment(pi, off_session):
    """localstripe asks to authenticate EVERY confirmation of an authentication card. Stripe
    (https://docs.stripe.com/testing#authentication-and-setup) charges off-session without
    asking a card set up for it (off_session_exempt), refuses off-session any other such card
    (authentication_required), and asks on-session (requires_action) as localstripe does."""
    if not pi.payment_method:
        raise invalid_request(
            "You cannot confirm this PaymentIntent because it's missing a payment method. "
            "You can either update the PaymentIntent with a payment method and then confirm "
            "it again, or confirm it again directly with a payment method.",
            code="payment_intent_unexpected_state", payment_intent=pi._export())
    pm = PaymentMethod._api_retrieve(pi.payment_method)
    pi._authentication_failed = False
    pi._last_error = None
    if off_session and pm._requires_authentication():
        if not off_session_exempt(pm):
            authentication_required(pi, pm)
        pi._create_charge(on_failure_now=pi._report_failure)
    else:
        pi._confirm(on_failure_now=pi._report_failure)


def _off_session_of(value):
    value = try_convert_to_bool(value)
    if value in ("one_off", "recurring"):
        return True
    if value not in (None, True, False):
        raise invalid_request("Invalid off_session", param="off_session")
    return bool(value)


def _pi_api_create(cls, confirm=None, off_session=None, **data):
    confirm = try_convert_to_bool(confirm)
    if confirm not in (None, True, False):
        raise invalid_request("Invalid boolean", param="confirm")
    off = _off_session_of(off_session)
    if off_session is not None and confirm is not True:
        raise invalid_request("You may only specify off_session when confirming the "
                              "PaymentIntent.", param="off_session")
    pi = cls(**data)
    if confirm:
        confirm_payment(pi, off)
    return pi


PaymentIntent._api_create = classmethod(_pi_api_create)


def _pi_api_confirm(id, payment_method=None, off_session=None, client_secret=None, **kwargs):
    """Stripe confirms with a (new) payment_method and off_session; localstripe refused both."""
    for k in PI_IGNORED:
        kwargs.pop(k, None)
    if kwargs:
        raise unexpected(set(kwargs))
    pi = PaymentIntent._api_retrieve(id)
    if client_secret is not None and client_secret != pi.client_secret:
        raise invalid_request("The client_secret provided does not match the client_secret "
                              "associated with the PaymentIntent.", param="client_secret")
    if payment_method is not None:
        pm = retrieve_param(PaymentMethod, "PaymentMethod", payment_method, "payment_method")
        if pi.status not in ("requires_payment_method", "requires_confirmation"):
            raise invalid_request(f"You cannot confirm this PaymentIntent because it has a "
                                  f"status of {pi.status}.",
                                  code="payment_intent_unexpected_state",
                                  payment_intent=pi._export())
        pi.payment_method = pm.id
        pi.latest_charge = None  # a new attempt
    if pi.status != "requires_confirmation":
        raise invalid_request(f"You cannot confirm this PaymentIntent because it has a status "
                              f"of {pi.status}.", code="payment_intent_unexpected_state",
                              payment_intent=pi._export())
    confirm_payment(pi, _off_session_of(off_session))
    return pi


# --- Routes ------------------------------------------------------------------------------
_replaced = {
    PaymentMethod._api_attach: _pm_api_attach,
    PaymentMethod._api_detach: _pm_api_detach,
    SetupIntent._api_confirm: _si_api_confirm,
    SetupIntent._api_cancel: _si_api_cancel,
    PaymentIntent._api_confirm: _pi_api_confirm,
}
resources.extra_apis[:] = [(m, u, _replaced.get(f, f)) for (m, u, f) in resources.extra_apis]
assert sum(f in _replaced.values() for (_, _, f) in resources.extra_apis) == len(_replaced)
resources.extra_apis.extend((
    ("POST", "/v1/setup_intents/{id}/_authenticate", _si_api_authenticate),
    ("GET", "/v1/customers/{id}/payment_methods", _customer_payment_methods),
))

# Tokens are single use for a PaymentMethod (above); `used` says so, as Stripe's does.
_token_init = Token.__init__


def _token_init_unused(self, *args, **kwargs):
    _token_init(self, *args, **kwargs)
    self.used = False


Token.__init__ = _token_init_unused

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

# Stripe sends a connected account's events with `account` (its id), which is how a
# platform's endpoint tells whose they are (docs.stripe.com/connect/webhooks); localstripe
# sends none. An event names the account its object, or the object's customer, was made
# under.
_event_export = Event._export


def _export_with_account(self, *args, **kwargs):
    out = _event_export(self, *args, **kwargs)
    obj = (out.get("data") or {}).get("object") or {}
    account = made_under.get(obj.get("id")) if isinstance(obj, dict) else None
    if account is None and isinstance(obj, dict) and isinstance(obj.get("customer"), str):
        account = made_under.get(obj["customer"])
    if account is not None:
        out["account"] = account
    return out


Event._export = _export_with_account


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


# Stripe takes a publishable key (`key=pk_…` in the body, as Stripe.js sends it) for what a
# browser does: create a PaymentMethod, and confirm, authenticate or read an intent whose
# client_secret it holds. localstripe takes one for some of these only (POST /v1/tokens,
# /v1/sources, SetupIntent confirm and cancel, PaymentIntent _authenticate); these add the
# rest. Every other route still wants a secret key: a pk_ never reads, attaches or detaches
# a PaymentMethod, nor creates an intent.
PK_ROUTES = [  # (method, path, needs the intent's client_secret)
    ("POST", re.compile(r"^/v1/payment_methods$"), False),
    ("POST", re.compile(r"^/v1/setup_intents/(seti_\w+)/(confirm|cancel|_authenticate)$"), True),
    ("POST", re.compile(r"^/v1/payment_intents/(pi_\w+)/(confirm|_authenticate)$"), True),
    ("GET", re.compile(r"^/v1/setup_intents/(seti_\w+)$"), True),
    ("GET", re.compile(r"^/v1/payment_intents/(pi_\w+)$"), True),
]


@web.middleware
async def auth_with_publishable_key(request, handler):
    if server.get_api_key(request) is None:
        for method, pattern, needs_secret in PK_ROUTES:
            match = pattern.match(request.path)
            if request.method != method or not match:
                continue
            if method == "POST":
                data = await server.get_post_data(request, remove_auth=False) or {}
                data = dict(data, **server.unflatten_data(request.query))
            else:
                data = server.unflatten_data(request.query)
            key = data.get("key")
            if not (isinstance(key, str) and key.startswith("pk_") and len(key) > 3):
                break
            if needs_secret:
                id = match.group(1)
                kind = "setup_intent" if id.startswith("seti_") else "payment_intent"
                intent = resources.store.get(f"{kind}:{id}")
                if intent is None:
                    raise UserError(404, "Not Found")
                if data.get("client_secret") != intent.client_secret:
                    name = "SetupIntent" if kind == "setup_intent" else "PaymentIntent"
                    raise invalid_request(
                        f"The client_secret provided does not match the client_secret "
                        f"associated with the {name}.", param="client_secret")
            return await handler(request)
    return await server.auth_middleware(request, handler)


_middlewares = server.app.middlewares
_middlewares[list(_middlewares).index(server.auth_middleware)] = auth_with_publishable_key

# Stripe.js stand-in: localstripe's localstripe-v3.js at /js.stripe.com/v3/, unchanged, then
# localstripe_cardvault.js appended (beside this file; it says what it adds and why).
_JS_DIR = os.path.dirname(os.path.realpath(__file__))
_LOCALSTRIPE_JS = os.path.join(os.path.dirname(os.path.realpath(server.__file__)),
                               "localstripe-v3.js")


@web.middleware
async def serve_stripe_js(request, handler):
    if request.method == "GET" and request.path == "/js.stripe.com/v3/":
        with open(_LOCALSTRIPE_JS) as f, \
                open(os.path.join(_JS_DIR, "localstripe_cardvault.js")) as g:
            text = f.read() + "\n" + g.read()
        return web.Response(text=text, content_type="application/javascript")
    return await handler(request)


_middlewares.insert(0, serve_stripe_js)


def main():
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    web.run_app(server.app, host="127.0.0.1", port=int(sys.argv[1]),
                access_log_format="%r %s %Tfs", print=print)


if __name__ == "__main__":
    main()
