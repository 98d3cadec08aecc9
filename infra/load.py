#!/usr/bin/env python3
"""`make load`: Lambda-like concurrency against a running local stack, then invariants
checked from what was stored (the table, localstripe's objects, the audit chains), not
from the answers.

    load.py --facts STACK_JSON --admin target/debug/cardvault-admin --out DIR [--short]

The stack's environment (stack.env) must be loaded. It makes its own tenants (unique
ids, Connect connections with unique accounts) so that it checks only what it made, runs
a mixed workload over the four dialects and the Stripe webhooks (declines, retries with one
Idempotency-Key sent concurrently, concurrent default/current changes and removes, a
lockout), then a burst of creates for one tenant, then checks the invariants and writes
DIR/load.md and DIR/load.svg. Exit 1 on any broken invariant.

Bounded: loopback only; every loop has a count and the run a deadline (--budget-s); every
request a timeout.
"""
import argparse
import asyncio
import base64
import collections
import hashlib
import hmac
import json
import os
import random
import secrets
import sys
import tempfile
import time
import urllib.parse

import aiohttp
import boto3
from boto3.dynamodb.types import TypeDeserializer

# localstripe declines these when they are attached (tests/src/stripe.rs).
DECLINE_CARD = "4000000000000002"
GOOD_CARDS = ["4242424242424242", "5555555555554444", "4000056655665556"]
DECLINE_MESSAGE = "Failed validation"
ORIGIN = "http://localhost:4000"
REQUEST_TIMEOUT_S = 60
# The tenants' card-testing limits: per IP and key raised (every request comes from
# 127.0.0.1 with one public key), per customer and the lockout as configured here.
PER_CUSTOMER, DECLINES = 10, 5


def pct(values, q):
    if not values:
        return None
    v = sorted(values)
    return v[max(0, min(len(v) - 1, int(round(q * (len(v) - 1)))))]


class Recorder:
    """Every request: endpoint (route), status (None: unanswered), ms, tenant, phase."""

    def __init__(self):
        self.rows = []

    def add(self, **row):
        self.rows.append(row)


class Client:
    """HTTP to the router, timed and recorded. Never raises on an HTTP status."""

    def __init__(self, session, base, rec, phase):
        self.s, self.base, self.rec, self.phase = session, base, rec, phase

    async def call(self, endpoint, tenant, method, path, *, json_body=None, form=None,
                   headers=None, raw=None):
        headers = dict(headers or {})
        data = None
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif raw is not None:
            data = raw
            headers.setdefault("Content-Type", "application/json")
        t0 = time.monotonic()
        status, body, replayed = None, None, False
        try:
            async with self.s.request(method, self.base + path, data=data, headers=headers,
                                      timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)) as r:
                status = r.status
                replayed = r.headers.get("Idempotent-Replayed") == "true"
                text = await r.text()
                try:
                    body = json.loads(text) if text else None
                except ValueError:
                    body = text
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            body = f"unanswered: {type(e).__name__}"
        ms = (time.monotonic() - t0) * 1000
        self.rec.add(endpoint=endpoint, tenant=tenant, status=status, ms=ms, t=time.monotonic(),
                     phase=self.phase, replayed=replayed)
        return status, body, replayed


class Stripe:
    """localstripe, directly: tokens and merchant-side customers (the import's fixtures)."""

    def __init__(self, session, base):
        self.s, self.base = session, base
        self.auth = {"Authorization": "Basic " + base64.b64encode(b"sk_test_load:").decode()}

    async def req(self, method, path, form=None):
        data = urllib.parse.urlencode(form).encode() if form else None
        h = dict(self.auth)
        if data:
            h["Content-Type"] = "application/x-www-form-urlencoded"
        async with self.s.request(method, self.base + path, data=data, headers=h,
                                  timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)) as r:
            return r.status, await r.json(content_type=None)

    async def token(self, number="4242424242424242"):
        st, tok = await self.req("POST", "/v1/tokens", {
            "card[number]": number, "card[exp_month]": "12", "card[exp_year]": "2030",
            "card[cvc]": "123"})
        assert st == 200, tok
        return tok["id"]

    async def merchant_customer(self, cards):
        st, cus = await self.req("POST", "/v1/customers", {"source": await self.token(cards[0])})
        assert st == 200, cus
        ids = [cus["sources"]["data"][0]["id"]]
        for n in cards[1:]:
            st, src = await self.req("POST", f"/v1/customers/{cus['id']}/sources",
                                     {"source": await self.token(n)})
            assert st == 200, src
            ids.append(src["id"])
        return cus["id"], ids

    async def all_customers(self):
        out, after = [], None
        for _ in range(1000):  # bounded: 100 000 customers at most
            q = "?limit=100" + (f"&starting_after={after}" if after else "")
            st, page = await self.req("GET", "/v1/customers" + q)
            assert st == 200, page
            out.extend(page["data"])
            if not page.get("has_more") or not page["data"]:
                break
            after = page["data"][-1]["id"]
        return out


class Tenant:
    def __init__(self, tid, account):
        self.id, self.account = tid, account
        self.key = self.public = None
        self.users, self.owners = [], []


async def admin(args, *cmd):
    p = await asyncio.create_subprocess_exec(
        args.admin, "--table", args.table, *cmd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(p.communicate(), 120)
    if p.returncode not in (0, 2):
        raise RuntimeError(f"cardvault-admin {cmd[0]} failed: {err.decode().strip()[-400:]}")
    return p.returncode, json.loads(out) if out.strip() else None


async def make_tenant(args, facts, der, tid, users, accounts):
    account = "acct_1Load" + "".join(random.choices("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", k=10))
    t = Tenant(tid, account)
    await admin(args, "create-tenant", "--id", tid, "--name", f"Load {tid}")
    _, key = await admin(args, "issue-key", "--tenant", tid)
    t.key = key["privateApiKey"]
    _, pub = await admin(args, "set-public-key", "--tenant", tid)
    t.public = pub["publicApiKey"]
    await admin(args, "set-origins", "--tenant", tid, "--origin", ORIGIN)
    await admin(args, "set-stripe", "--tenant", tid, "--account", account)
    jwt = facts["jwt"]
    await admin(args, "trust-issuer", "--tenant", tid, "--issuer", jwt["issuer"],
                "--audience", jwt["audience"])
    await admin(args, "set-velocity", "--tenant", tid, "--per-ip", "1000000",
                "--per-public-key", "1000000", "--per-customer", str(PER_CUSTOMER),
                "--declines", str(DECLINES))

    async def mint(sub, account=None, role=None):
        cmd = ["mint-jwt", "--tenant", tid, "--sub", sub, "--ttl-secs", "3600",
               "--rsa-der", der, "--kid", jwt["kid"], "--issuer", jwt["issuer"],
               "--audience", jwt["audience"]]
        if account:
            cmd += ["--account", account, "--role", role]
        return (await admin(args, *cmd))[1]["token"]

    t.users = [(f"load-user-{i}", await mint(f"load-user-{i}")) for i in range(users)]
    t.owners = [(f"load-acct-{i}", await mint(f"load-owner-{i}", f"load-acct-{i}", "owner"))
                for i in range(accounts)]
    return t


class Expect:
    """What the run did, from the answers: compared with the stored state afterwards."""

    def __init__(self):
        self.customers = collections.defaultdict(set)      # tenant -> customer ids created
        self.added = collections.defaultdict(set)          # tenant -> pm ids answered 2xx
        self.removed = collections.defaultdict(set)        # tenant -> pm ids removed (2xx)
        self.defaults = collections.Counter()              # (tenant, cust, pm) -> 2xx changes
        self.collections = collections.Counter()           # (tenant, cust, pm) -> collections
        self.webhook_events = collections.defaultdict(set)  # tenant -> event ids taken
        self.attempts = collections.Counter()              # (tenant, cust) -> admitted
        self.declines = collections.Counter()              # (tenant, cust) -> declines
        self.attempts_unknown = collections.Counter()      # (tenant, cust) -> 5xx attempts
        self.redirect_customers = collections.defaultdict(set)
        self.keyed = []          # (tenant, what, ids answered 2xx, stripe scope)
        self.lockouts = []       # (tenant, customer, statuses in order)
        self.merchant_stripe = set()  # Stripe customers the run made itself (import fixtures)
        self.remove_unknown = set()   # pm ids whose remove answered 5xx or nothing
        self.burst = None


def ok(st):
    return st is not None and 200 <= st < 300


class Workload:
    def __init__(self, args, facts, rec, session, tenants, exp):
        self.args, self.facts, self.rec, self.exp = args, facts, rec, exp
        self.http = Client(session, facts["baseUrl"], rec, "mixed")
        self.stripe = Stripe(session, facts["stripeUrl"])
        self.tenants = tenants
        self.pass_token = facts["recaptcha"]["passToken"]
        self.hook = facts["webhooks"]["platform"]

    # --- the merchant API -------------------------------------------------------------
    def basic(self, t):
        return {"Authorization": "Basic " + t.key}

    async def create_customer(self, t, keyed=0):
        body = {"firstName": "Load", "lastName": "Test"}
        if not keyed:
            st, c, rep = await self.http.call("POST /v1/customers", t.id, "POST", "/v1/customers",
                                              json_body=body, headers=self.basic(t))
            if ok(st):
                self.exp.customers[t.id].add(c["id"])
                return c["id"]
            return None
        h = dict(self.basic(t), **{"Idempotency-Key": secrets.token_hex(16)})
        answers = await asyncio.gather(*[
            self.http.call("POST /v1/customers", t.id, "POST", "/v1/customers", json_body=body,
                           headers=h) for _ in range(keyed)])
        ids = {c["id"] for st, c, _ in answers if ok(st)}
        self.exp.customers[t.id] |= ids
        self.exp.keyed.append((t.id, "POST /v1/customers", ids, None))
        return next(iter(ids), None)

    async def set_default(self, t, cust, pm):
        st, _, rep = await self.http.call(
            "PUT /v1/customerbillingsetting", t.id, "PUT", "/v1/customerbillingsetting",
            json_body={"id": cust, "defaultPaymentMethodId": pm}, headers=self.basic(t))
        if ok(st) and not rep:
            self.exp.defaults[(t.id, cust, pm)] += 1
        return st

    async def delete_pm(self, t, pm):
        st, _, rep = await self.http.call(
            "DELETE /v1/paymentMethods/{id}/creditCard", t.id, "DELETE",
            f"/v1/paymentMethods/{pm}/creditCard", headers=self.basic(t))
        if ok(st):
            self.exp.removed[t.id].add(pm)
        elif st is None or st >= 500:
            self.exp.remove_unknown.add(pm)
        return st

    async def merchant_flow(self, t, n):
        cust = await self.create_customer(t, keyed=3 if n % 4 == 0 else 0)
        if cust is None:
            return
        scus, cards = await self.stripe.merchant_customer(GOOD_CARDS)
        self.exp.merchant_stripe.add(scus)
        imports = [{"customerId": cust, "stripeCustomerId": scus, "stripeCardId": c}
                   for c in cards] + [{"customerId": cust, "stripeCustomerId": scus,
                                       "stripeCardId": cards[0]}]
        answers = await asyncio.gather(*[
            self.http.call("POST /v1/paymentMethodImport/stripeConnect", t.id, "POST",
                           "/v1/paymentMethodImport/stripeConnect", json_body=b,
                           headers=self.basic(t)) for b in imports])
        pms = sorted({a["id"] for st, a, _ in answers if ok(st)})
        self.exp.added[t.id] |= set(pms)
        if len(pms) < 2:
            return
        # Every card made default twice, all at once; then a delete racing a default change.
        await asyncio.gather(*[self.set_default(t, cust, pm) for pm in pms for _ in range(2)])
        await asyncio.gather(self.delete_pm(t, pms[-1]), self.set_default(t, cust, pms[-1]),
                             self.delete_pm(t, pms[-1]))
        await self.http.call("GET /v1/customers/{id}/paymentMethods/creditCard", t.id, "GET",
                             f"/v1/customers/{cust}/paymentMethods/creditCard",
                             headers=self.basic(t))
        await self.http.call("GET /v1/customers/{id}", t.id, "GET", f"/v1/customers/{cust}",
                             headers=self.basic(t))

    # --- the transparent redirect ------------------------------------------------------
    async def redirect_add(self, t, cust, number, *, make_default=False, collect=None,
                           key=None, copies=1):
        form = {"CustomerId": str(cust), "PublicApiKey": t.public, "CardNumber": number,
                "FirstName": "Karen", "LastName": "Wood", "ExpirationMonth": "12",
                "ExpirationYear": "30", "Cvv": "123", "Recaptcha": self.pass_token,
                "MakeDefault": "true" if make_default else "false"}
        if collect:
            form["PaymentCollectOptions.collectionAmount"] = collect
        h = {"Origin": ORIGIN}
        if key:
            h["Idempotency-Key"] = key
        answers = await asyncio.gather(*[
            self.http.call("POST /api/paymentsv2", t.id, "POST", "/api/paymentsv2", form=form,
                           headers=h) for _ in range(copies)])
        self.exp.redirect_customers[t.id].add(cust)
        ids = set()
        for st, body, rep in answers:
            if rep:
                continue  # a replay reaches neither Stripe nor the counters
            if st is None or st >= 500:
                # Died or timed out (already a broken invariant): it may have been counted.
                self.exp.attempts_unknown[(t.id, cust)] += 1
                continue
            if ok(st):
                self.exp.attempts[(t.id, cust)] += 1
                ids.add(body["id"])
                pc = body.get("paymentCollection")
                if pc:
                    self.exp.collections[(t.id, cust, body["id"])] += 1
                    if pc.get("status") == "Failed":
                        self.exp.declines[(t.id, cust)] += 1
            elif st == 400 and DECLINE_MESSAGE in json.dumps(body):
                self.exp.attempts[(t.id, cust)] += 1
                self.exp.declines[(t.id, cust)] += 1
        for st, body, rep in answers:
            if ok(st):
                ids.add(body["id"])
        self.exp.added[t.id] |= ids
        return answers, ids

    async def redirect_flow(self, t, n):
        cust = await self.create_customer(t)
        if cust is None:
            return
        (good, _), (coll, _), _ = await asyncio.gather(
            self.redirect_add(t, cust, GOOD_CARDS[0], make_default=True),
            self.redirect_add(t, cust, GOOD_CARDS[1], collect="0.50"),
            self.redirect_add(t, cust, DECLINE_CARD))
        a, b = good[0], coll[0]
        if ok(a[0]) and ok(b[0]):
            await self.set_default(t, cust, a[1]["id"])
            await self.delete_pm(t, b[1]["id"])
        if n % 3 == 0:
            # One Idempotency-Key, three copies at once, on a customer of its own.
            c2 = await self.create_customer(t)
            if c2 is not None:
                _, ids = await self.redirect_add(t, c2, GOOD_CARDS[2], key=secrets.token_hex(16),
                                                 copies=3)
                self.exp.keyed.append((t.id, "POST /api/paymentsv2", ids, ("customer", c2)))

    async def lockout_flow(self, t):
        """DECLINES declines in a row lock the customer's redirect: the next is 429."""
        cust = await self.create_customer(t)
        statuses = []
        for _ in range(DECLINES):
            (st, _, _), = (await self.redirect_add(t, cust, DECLINE_CARD))[0]
            statuses.append(st)
        for number in (GOOD_CARDS[0], DECLINE_CARD):
            (st, _, _), = (await self.redirect_add(t, cust, number))[0]
            statuses.append(st)
        self.exp.lockouts.append((t.id, cust, statuses))

    # --- the user API -------------------------------------------------------------------
    async def user_flow(self, t, n):
        sub, token = t.users[n % len(t.users)]
        h = {"Authorization": "Bearer " + token}
        tok = await self.stripe.token()
        keyed = n % 3 == 0
        hh = dict(h, **{"Idempotency-Key": secrets.token_hex(16)}) if keyed else h
        answers = await asyncio.gather(*[
            self.http.call("POST /payments/stripe/customers", t.id, "POST",
                           "/payments/stripe/customers", json_body={"token": tok}, headers=hh)
            for _ in range(3 if keyed else 2)])
        links = {a["data"]["id"] for st, a, _ in answers if ok(st)}
        scus = {a["data"]["customer_id"] for st, a, _ in answers if ok(st)}
        self.exp.keyed.append((t.id, "POST /payments/stripe/customers", links,
                               ("stripe_customers", tuple(sorted(scus)))))
        await self.http.call("GET /payments/stripe/customers", t.id, "GET",
                             "/payments/stripe/customers", headers=h)

    # --- the billing card API -----------------------------------------------------------
    async def card_create(self, t, h, current, key=None, copies=1):
        tok = await self.stripe.token()
        body = {"current": current, "name": "Load Visa", "number": "4242", "month": "12",
                "year": "2030", "stripeToken": tok}
        hh = dict(h, **{"Idempotency-Key": key}) if key else h
        answers = await asyncio.gather(*[
            self.http.call("POST /card/create", t.id, "POST", "/card/create", json_body=body,
                           headers=hh) for _ in range(copies)])
        ids = {int(a["id"]) for st, a, _ in answers if ok(st)}
        self.exp.added[t.id] |= ids
        return ids

    async def update_current(self, t, h, cid):
        st, body, rep = await self.http.call("POST /card/updateCurrent", t.id, "POST",
                                             "/card/updateCurrent",
                                             json_body={"id": str(cid), "current": True},
                                             headers=h)
        if ok(st) and not rep:
            self.exp.defaults[(t.id, None, cid)] += 1  # the account's customer: from the table

    async def card_remove(self, t, h, cid):
        st, _, _ = await self.http.call("POST /card/remove", t.id, "POST", "/card/remove",
                                        json_body={"id": str(cid)}, headers=h)
        if ok(st):
            self.exp.removed[t.id].add(cid)
        elif st is None or st >= 500:
            self.exp.remove_unknown.add(cid)

    async def billing_flow(self, t, n):
        account, token = t.owners[n % len(t.owners)]
        h = {"Authorization": "Bearer " + token}
        made = await asyncio.gather(self.card_create(t, h, True), self.card_create(t, h, False),
                                    self.card_create(t, h, True))
        cards = sorted(set().union(*made))
        if n % 3 == 0:
            ids = await self.card_create(t, h, False, key=secrets.token_hex(16), copies=3)
            self.exp.keyed.append((t.id, "POST /card/create", ids, None))
            cards += sorted(ids)
        await asyncio.gather(*[self.update_current(t, h, c) for c in cards for _ in range(2)])
        if len(cards) >= 2:
            await asyncio.gather(self.card_remove(t, h, cards[0]), self.card_remove(t, h, cards[0]),
                                 self.update_current(t, h, cards[1]))
            await self.webhooks(t, cards[1])
        await self.http.call("POST /card/find", t.id, "POST", "/card/find", headers=h)
        if cards:
            await self.http.call("POST /card/get", t.id, "POST", "/card/get",
                                 json_body={"id": str(cards[-1])}, headers=h)

    # --- Stripe webhooks ----------------------------------------------------------------
    async def webhooks(self, t, cid):
        st, pm, _ = await self.http.call("GET /v1/paymentMethods/{id}", t.id, "GET",
                                         f"/v1/paymentMethods/{cid}", headers=self.basic(t))
        if not ok(st) or not pm.get("externalCardId"):
            return
        events = []
        for kind, obj in (("customer.source.updated", {"exp_month": random.randint(1, 12),
                                                       "exp_year": 2031 + random.randint(0, 5)}),
                          ("customer.source.expiring", {"exp_month": 12, "exp_year": 2030})):
            now = int(time.time())
            eid = f"evt_load{secrets.token_hex(10)}"
            event = {"id": eid, "object": "event", "type": kind, "created": now,
                     "account": t.account,
                     "data": {"object": dict(obj, id=pm["externalCardId"], object="card",
                                             customer=pm["externalCustomerId"], brand="Visa",
                                             last4="4242")}}
            events.append(event)
        sends = []
        for event in events:
            body = json.dumps(event).encode()
            now = event["created"]
            sig = hmac.new(self.hook["secret"].encode(), f"{now}.".encode() + body,
                           hashlib.sha256).hexdigest()
            hdr = {"Stripe-Signature": f"t={now},v1={sig}"}
            # Each event delivered twice at once, as Stripe may: it must count once.
            sends += [self.http.call("POST /v1/webhooks/stripe", t.id, "POST",
                                     "/v1/webhooks/stripe", raw=body, headers=hdr)
                      for _ in range(2)]
        answers = await asyncio.gather(*sends)
        for i, event in enumerate(events):
            pair = answers[2 * i: 2 * i + 2]
            if any(ok(st) for st, _, _ in pair):
                self.exp.webhook_events[t.id].add(event["id"])


async def bounded(flows, width, deadline):
    """Runs the flows `width` at a time; none starts after `deadline` (monotonic)."""
    sem = asyncio.Semaphore(width)
    errors = []

    async def one(f):
        async with sem:
            if time.monotonic() > deadline:
                return
            try:
                await f()
            except Exception as e:  # noqa: BLE001 - a flow's own bug is reported, not hidden
                errors.append(f"{type(e).__name__}: {e}")

    await asyncio.gather(*[one(f) for f in flows])
    return errors


async def fleet_stats(facts):
    port = facts.get("lambdaInvokePort")
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{port}/_fleet/stats",
                             timeout=aiohttp.ClientTimeout(total=10)) as r:
                if r.status != 200:
                    return None
                return await r.json(content_type=None)
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
        return None


def fn_stats(stats, name):
    if not isinstance(stats, dict):
        return None
    fns = stats.get("functions", stats)
    return fns.get(name) if isinstance(fns, dict) else None


# --- the stored state -------------------------------------------------------------------

def scan_table(facts, table, tenants):
    """Every item of the run's tenants (tenantId), and their velocity counters (VEL#<tid>#)."""
    ddb = boto3.client("dynamodb", region_name=facts["aws"]["region"],
                       endpoint_url=facts["aws"]["dynamodbEndpoint"])
    de = TypeDeserializer()
    items, vel = [], []
    kw = {"TableName": table}
    for _ in range(100000):
        page = ddb.scan(**kw)
        for raw in page["Items"]:
            it = {k: de.deserialize(v) for k, v in raw.items()}
            pk = it.get("PK", "")
            if pk.startswith("VEL#"):
                if pk.split("#")[1] in tenants:
                    vel.append(it)
            elif it.get("tenantId") in tenants:
                items.append(it)
        if "LastEvaluatedKey" not in page:
            break
        kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return items, vel


async def streams_caught_up(facts, timeout_s):
    """Waits (bounded) until every stream mapping of the fleet has caught up: a consumer
    that chains events off the request path has then seen every write."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        maps = (await fleet_stats(facts) or {}).get("mappings") or []
        if all(m.get("caughtUp", True) for m in maps):
            return True
        await asyncio.sleep(0.5)
    return False


async def audit_chain(args, tid, want_at_least, timeout_s):
    """The tenant's chain once it has caught up: at least `want_at_least` events and the
    same count twice a second apart (the chainer may run off the request path), bounded."""
    deadline = time.monotonic() + timeout_s
    await streams_caught_up(args.facts_json, timeout_s)
    last = None
    while True:
        _, listed = await admin(args, "audit", "list", "--tenant", tid)
        n = listed["count"]
        if (n >= want_at_least and n == last) or time.monotonic() > deadline:
            break
        last = n
        await asyncio.sleep(1.0)
    rc, verified = await admin(args, "audit", "verify", "--tenant", tid)
    return listed["events"], verified


class Checks:
    def __init__(self):
        self.results = []  # (name, ok, detail)

    def add(self, name, passed, detail=""):
        self.results.append((name, bool(passed), detail))
        print(f"load: {'ok  ' if passed else 'FAIL'} {name}{': ' + detail if detail else ''}",
              flush=True)

    @property
    def ok(self):
        return all(p for _, p, _ in self.results)


def short(xs, n=5):
    xs = list(xs)
    return ", ".join(map(str, xs[:n])) + (f" … ({len(xs)} in all)" if len(xs) > n else "")


async def check(args, facts, rec, exp, tenants, burst_tenant, session, checks):
    tids = {t.id for t in tenants} | ({burst_tenant} if burst_tenant else set())
    # Answers: none unanswered, none 5xx.
    unanswered = [r for r in rec.rows if r["status"] is None]
    fivexx = collections.Counter(f"{r['endpoint']} {r['status']}" for r in rec.rows
                                 if r["status"] is not None and r["status"] >= 500)
    checks.add("every request answered", not unanswered, f"{len(unanswered)} unanswered")
    checks.add("no 5xx", not fivexx, short(f"{k} ×{v}" for k, v in fivexx.items()))

    items, vel = scan_table(facts, args.table, tids)
    customers = {int(i["id"]): i for i in items if i.get("SK") == "CUSTOMER"}
    pms = {int(i["id"]): i for i in items if str(i.get("SK", "")).startswith("PM#")}
    by_customer = collections.defaultdict(list)
    for pm in pms.values():
        by_customer[int(pm["customerId"])].append(pm)

    # Each customer with cards has exactly one default, and it is one of its cards.
    bad = []
    for cid, cards in by_customer.items():
        c = customers.get(cid)
        d = c and c.get("defaultPaymentMethodId")
        if d is None or int(d) not in {int(p["id"]) for p in cards}:
            bad.append(f"customer {cid}: default {d}, cards {sorted(int(p['id']) for p in cards)}")
    checks.add("each customer (and billing account) with cards has exactly one default card "
               "that exists", not bad, short(bad, 3))

    # Removed cards are gone; added cards that were not removed are there.
    added = set().union(*exp.added.values()) if exp.added else set()
    removed = set().union(*exp.removed.values()) if exp.removed else set()
    # A remove answered 5xx (already a broken invariant above) may or may not have run.
    missing = sorted(added - removed - exp.remove_unknown - set(pms))
    lingering = sorted(removed & set(pms))
    checks.add("every card answered 2xx is stored, every removed card is gone",
               not missing and not lingering,
               f"missing {short(missing)}; still stored after a 2xx remove {short(lingering)}"
               if missing or lingering else "")

    # Velocity: the counters equal the attempts made; the lockout trips at DECLINES.
    counters = collections.Counter()
    for v in vel:
        parts = v["PK"].split("#")  # VEL#<tid>#<kind>#…#<window>
        kind = parts[2]
        if kind in ("customer", "declines"):
            counters[(parts[1], kind, int(parts[3]))] += int(v.get("n", 0))
        elif kind == "key":
            counters[(parts[1], kind, None)] += int(v.get("n", 0))
    wrong = []
    for t in tenants:
        total = unknown = 0
        for cust in exp.redirect_customers[t.id]:
            a, d = exp.attempts[(t.id, cust)], exp.declines[(t.id, cust)]
            u = exp.attempts_unknown[(t.id, cust)]
            total, unknown = total + a, unknown + u
            ca, cd = counters[(t.id, "customer", cust)], counters[(t.id, "declines", cust)]
            if not (a <= ca <= a + u and d <= cd <= d + u):
                wrong.append(f"{t.id} customer {cust}: counted {ca} attempts/{cd} declines, "
                             f"made {a}/{d} (+{u} answered 5xx)")
        ck = counters[(t.id, "key", None)]
        if not total <= ck <= total + unknown:
            wrong.append(f"{t.id} key: counted {ck}, made {total} (+{unknown} answered 5xx)")
    checks.add("velocity counters equal the attempts made", not wrong, short(wrong, 3))
    lock_bad = [f"{tid} customer {c}: {st}" for tid, c, st in exp.lockouts
                if st != [400] * DECLINES + [429, 429]]
    checks.add(f"the lockout trips at exactly {DECLINES} declines",
               exp.lockouts and not lock_bad,
               short(lock_bad, 3) or f"{len(exp.lockouts)} customers: {DECLINES}×400 then 429")

    # Stripe: one Idempotency-Key, one effect; no orphans either way.
    stripe = Stripe(session, facts["stripeUrl"])
    all_cus = await stripe.all_customers()
    ours = {}
    for c in all_cus:
        md = c.get("metadata") or {}
        vc = md.get("cardvault_customer_id")
        if (vc and vc.isdigit() and int(vc) in customers) or md.get("cardvault_tenant") in tids:
            ours[c["id"]] = c
    at_stripe, unlisted = {}, []
    for cid, c in ours.items():
        if c.get("deleted"):
            continue
        # Its legacy sources, then its PaymentMethods (how the vault saves cards now).
        for path in (f"/v1/customers/{cid}/sources",
                     f"/v1/customers/{cid}/payment_methods?type=card"):
            st, srcs = await stripe.req("GET", path)
            assert st == 200, srcs
            if srcs.get("has_more"):  # localstripe's lists take no paging options
                unlisted.append(cid)
            for src in srcs["data"]:
                at_stripe[(cid, src["id"])] = src
    held = {}
    for pm in pms.values():
        s = pm.get("stripe")
        if s and s.get("customerId") not in exp.merchant_stripe:
            held[(s["customerId"], s["sourceId"])] = int(pm["id"])
    orphans = sorted(set(at_stripe) - set(held))
    gone = []
    for (cus, src), pid in held.items():
        if (cus, src) in at_stripe:
            continue
        if src.startswith("pm_"):
            st, got = await stripe.req("GET", f"/v1/payment_methods/{src}")
            here = st == 200 and got.get("customer") == cus
        else:
            st, _ = await stripe.req("GET", f"/v1/customers/{cus}/sources/{src}")
            here = st == 200
        if not here:
            gone.append(f"card {pid} ({src})")
    for pm in pms.values():  # imported cards: still on the merchant's Stripe customer
        s = pm.get("stripe")
        if s and s.get("customerId") in exp.merchant_stripe:
            st, _ = await stripe.req("GET", f"/v1/customers/{s['customerId']}/sources/{s['sourceId']}")
            if st != 200:
                gone.append(f"imported card {pm['id']} ({s['sourceId']})")
    checks.add("no Stripe card without its vault record", not orphans and not unlisted,
               short(f"{c}/{s}" for c, s in orphans)
               + (f"; not listed whole: {short(unlisted)}" if unlisted else ""))
    checks.add("no live vault card whose Stripe card is gone", not gone, short(gone))

    keyed_bad = []
    for tid, what, ids, scope in exp.keyed:
        if len(ids) > 1:
            keyed_bad.append(f"{tid} {what}: one key answered {len(ids)} objects")
        if scope and scope[0] == "customer":
            cust = customers.get(scope[1]) or {}
            scus = cust.get("stripeCustomerId")
            n = sum(1 for (c, _) in at_stripe if c == scus)
            if scus and n != len(ids):
                keyed_bad.append(f"{tid} {what}: {n} cards at Stripe for {len(ids)} stored")
        if scope and scope[0] == "stripe_customers" and len(scope[1]) > 1:
            keyed_bad.append(f"{tid} {what}: {len(scope[1])} Stripe customers for one key")
    checks.add("one Idempotency-Key made one effect (one vault object, one Stripe object)",
               not keyed_bad, short(keyed_bad, 3) or f"{len(exp.keyed)} keyed groups")

    # Audit: every 2xx write has exactly one event; every chain verifies.
    return customers, pms, items


async def check_audit(args, exp, tenants, customers, pms, checks):
    bad, unverified, counts = [], [], {}
    for t in tenants:
        tid = t.id
        cust_ids = {c for c, i in customers.items() if i["tenantId"] == tid}
        pm_ids = {p for p, i in pms.items() if i["tenantId"] == tid}
        added = exp.added[tid]
        removed = exp.removed[tid]
        want = (len(cust_ids) + len(added) + len(removed)
                + sum(v for k, v in exp.defaults.items() if k[0] == tid))
        events, verified = await audit_chain(args, tid, want, args.audit_wait_s)
        counts[tid] = (len(events), verified)
        if not verified or not verified.get("ok"):
            unverified.append(f"{tid}: {json.dumps(verified)}")
        # Each event keeps its request's id (the Lambda request id: no answer shows it, so
        # events are matched to writes by what they name); two creates never share one.
        no_id = [e.get("seq") for e in events if not str(e.get("actor", "")).startswith(
            "operator:") and not e.get("requestId")]
        if no_id:
            bad.append(f"{tid}: {len(no_id)} request-path events without a request id")
        rids = collections.Counter(e.get("requestId") for e in events
                                   if e["action"] == "customer.created")
        shared = [r for r, n in rids.items() if r and n > 1]
        if shared:
            bad.append(f"{tid}: customer.created events share request ids {short(shared, 3)}")
        created = collections.Counter(e.get("customerId") for e in events
                                      if e["action"] == "customer.created")
        for c in cust_ids:
            if created[c] != 1:
                bad.append(f"{tid} customer {c}: {created[c]} customer.created")
        for c in set(created) - cust_ids:
            bad.append(f"{tid}: customer.created for {c}, which is not stored")
        adds = collections.Counter(e.get("paymentMethodId") for e in events
                                   if e["action"] in ("card.added", "card.imported"))
        for p in (added - exp.remove_unknown) | pm_ids:
            if adds[p] != 1:
                bad.append(f"{tid} card {p}: {adds[p]} add events")
        rem = collections.Counter(e.get("paymentMethodId") for e in events
                                  if e["action"] == "card.removed")
        for p in removed:
            if rem[p] != 1:
                bad.append(f"{tid} card {p}: {rem[p]} card.removed for one 2xx remove")
        for p in set(rem) - removed - exp.remove_unknown:
            bad.append(f"{tid} card {p}: card.removed without a 2xx remove")
        made = collections.Counter(e.get("paymentMethodId") for e in events
                                   if e["action"] == "card.madeDefault"
                                   and not str(e.get("actor", "")).startswith("stripe:"))
        want_made = collections.Counter()
        for (ttid, _, p), v in exp.defaults.items():
            if ttid == tid:
                want_made[p] += v
        for p in set(made) | set(want_made):
            if made[p] != want_made[p]:
                bad.append(f"{tid} card {p}: {made[p]} card.madeDefault for {want_made[p]} "
                           "2xx default changes")
        colls = collections.Counter(e.get("paymentMethodId") for e in events
                                    if e["action"] == "collection.attempted")
        want_c = collections.Counter()
        for (ttid, _, p), v in exp.collections.items():
            if ttid == tid:
                want_c[p] += v
        for p in set(colls) | set(want_c):
            if colls[p] != want_c[p]:
                bad.append(f"{tid} card {p}: {colls[p]} collection events for {want_c[p]}")
        hooks = collections.Counter(str(e.get("actor", ""))[len("stripe:"):] for e in events
                                    if e["action"] in ("stripe.cardUpdated",
                                                       "stripe.cardExpiring"))
        for eid in exp.webhook_events[tid]:
            if hooks[eid] != 1:
                bad.append(f"{tid} webhook {eid}: {hooks[eid]} events")
    kinds = collections.Counter(
        next((k for k in ("customer.created", "add events", "card.removed",
                          "card.madeDefault", "collection", "webhook", "request id")
              if k in b), "other") for b in bad)
    summary = ", ".join(f"{k}: {v}" for k, v in kinds.most_common())
    checks.add("every 2xx write has exactly one audit event", not bad,
               f"{len(bad)} writes wrong ({summary}); e.g. {short(bad, 3)}" if bad else "")
    checks.add("audit verify passes for every tenant", not unverified, short(unverified, 2))
    return counts


# --- the report ---------------------------------------------------------------------------

def table_rows(rows, wall):
    by = collections.defaultdict(list)
    for r in rows:
        by[r["endpoint"]].append(r)
    out = []
    for ep in sorted(by):
        rs = by[ep]
        ms = [r["ms"] for r in rs if r["status"] is not None]
        st = collections.Counter(str(r["status"]) if r["status"] else "none" for r in rs)
        out.append({"endpoint": ep, "requests": len(rs), "rps": len(rs) / wall if wall else 0,
                    "p50": pct(ms, 0.5), "p99": pct(ms, 0.99),
                    "statuses": ", ".join(f"{k}×{v}" for k, v in sorted(st.items()))})
    return out


def fmt(x, nd=0):
    return "–" if x is None else f"{x:.{nd}f}"


def svg(rows, path, title):
    bar_h, gap, left, width = 9, 8, 330, 460
    height = 40 + len(rows) * (2 * bar_h + gap) + 30
    vmax = max([r["p99"] or 0 for r in rows] + [1]) * 1.1
    sc = width / vmax
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 90}" '
           f'height="{height}" font-family="sans-serif" font-size="11">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="10" y="18" font-size="13" font-weight="bold">{title}</text>']
    y = 34
    for r in rows:
        out.append(f'<text x="{left - 6}" y="{y + bar_h + 3}" text-anchor="end">'
                   f'{r["endpoint"]}</text>')
        for k, color in (("p50", "#2e86c1"), ("p99", "#c0392b")):
            v = r[k] or 0
            out.append(f'<rect x="{left}" y="{y}" width="{v * sc:.1f}" height="{bar_h}" '
                       f'fill="{color}"/>')
            out.append(f'<text x="{left + v * sc + 4:.1f}" y="{y + bar_h - 1}">{v:.0f}</text>')
            y += bar_h
        y += gap
    out.append(f'<rect x="{left}" y="{y + 6}" width="10" height="10" fill="#2e86c1"/>'
               f'<text x="{left + 14}" y="{y + 15}">p50 ms</text>'
               f'<rect x="{left + 90}" y="{y + 6}" width="10" height="10" fill="#c0392b"/>'
               f'<text x="{left + 104}" y="{y + 15}">p99 ms</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def report(args, rec, mixed_wall, burst_wall, tenants, exp, checks, meta, audit_counts):
    mixed = [r for r in rec.rows if r["phase"] == "mixed"]
    burst = [r for r in rec.rows if r["phase"] == "burst"]
    rows = table_rows(mixed, mixed_wall)
    brows = table_rows(burst, burst_wall)
    os.makedirs(args.out, exist_ok=True)
    svg(rows, os.path.join(args.out, "load.svg"),
        f"make load: latency per endpoint under load ({meta['concurrency']} instances per "
        "function), ms")
    L = ["# `make load`: the vault under Lambda-like concurrency", "",
         f"Generated by `infra/load.py` ({'short mode, make test' if args.short else 'make load'})"
         f" on {meta['when']}. {meta['concurrency']} instances per function at most "
         f"(`CONCURRENCY`), each function's `Timeout` ×{meta['timeout_scale']} "
         "(`FLEET_TIMEOUT_SCALE`: every busy instance shares this machine's cores); "
         f"{meta['clients']} concurrent client flows; {len(tenants)} tenants "
         "made for the run, each a Connect tenant with its own account. Machine: "
         f"{os.cpu_count()} cores. Whole run (tenants, workload, burst, checks): "
         f"{meta['total_s']:.0f} s.", "",
         "## Invariants (from the stored state)", "",
         "| invariant | result | detail |", "|---|---|---|"]
    for name, passed, detail in checks.results:
        L.append(f"| {name} | {'ok' if passed else '**BROKEN**'} | {detail.replace('|', '/')} |")
    L += ["", f"## Mixed workload: {len(mixed)} requests in {mixed_wall:.1f} s "
          f"({len(mixed) / mixed_wall if mixed_wall else 0:.1f} requests/s)", "",
          "![p50 and p99 per endpoint](load.svg)", "",
          "| endpoint | requests | requests/s | p50 ms | p99 ms | statuses |",
          "|---|---|---|---|---|---|"]
    for r in rows:
        L.append(f"| `{r['endpoint']}` | {r['requests']} | {r['rps']:.1f} | {fmt(r['p50'])} | "
                 f"{fmt(r['p99'])} | {r['statuses']} |")
    L += ["", "Per tenant:", "", "| tenant | requests | requests/s | 2xx writes | 2xx writes/s "
          "| audit events |", "|---|---|---|---|---|---|"]
    for t in tenants:
        rs = [r for r in mixed if r["tenant"] == t.id]
        writes = sum(1 for r in rs if ok(r["status"]) and not r["endpoint"].startswith("GET")
                     and r["endpoint"] not in ("POST /card/find", "POST /card/get"))
        n = audit_counts.get(t.id, (None,))[0]
        per_s = (lambda x: x / mixed_wall if mixed_wall else 0)
        L.append(f"| {t.id} | {len(rs)} | {per_s(len(rs)):.1f} | {writes} | "
                 f"{per_s(writes):.1f} | {n} |")
    fleet = (meta.get("fleet") or {}).get("functions") or {}
    if fleet:
        L += ["", "The fleet (`/_fleet/stats` at the end of the run):", "",
              "| function | instances started | most busy at once | invocations | "
              "function errors | timeouts |", "|---|---|---|---|---|---|"]
        for name, st in sorted(fleet.items()):
            if st.get("invocations"):
                L.append(f"| `{name}` | {st.get('instancesStarted')} | {st.get('maxBusy')} | "
                         f"{st.get('invocations')} | {st.get('functionErrors')} | "
                         f"{st.get('timeouts')} |")
    b = exp.burst or {}
    L += ["", f"## Burst: {b.get('n')} `POST /v1/customers` for one tenant from "
          f"{b.get('clients')} clients at once", "",
          f"{len(burst)} requests in {burst_wall:.1f} s "
          f"({len(burst) / burst_wall if burst_wall else 0:.1f} per second for the one tenant); "
          f"statuses {brows[0]['statuses'] if brows else '–'}; p50 "
          f"{fmt(brows[0]['p50'] if brows else None)} ms, p99 "
          f"{fmt(brows[0]['p99'] if brows else None)} ms. "
          f"`create-customer` instances busy at once during the burst (`/_fleet/stats`, "
          f"sampled every 100 ms): {b.get('max_busy', 'not reported (no fleet)')} (most in the "
          f"whole run: {b.get('max_busy_run', '–')}); instances started: "
          f"{b.get('started', '–')}. Audit events in the chain: {b.get('events')} of "
          f"{b.get('ok')} customers created; `audit verify`: {json.dumps(b.get('verify'))}.", ""]
    L += ["## What the workload does", "",
          "- **merchant**: a customer (every 4th: one `Idempotency-Key` sent 3 times at once), "
          "three cards imported from a merchant-side Stripe customer at once plus a duplicate "
          "import, each card made default twice at once, then a delete racing a default change "
          "and a second delete of the same card; list and get.",
          "- **redirect**: a customer, then at once a good card (default), a good card with a "
          "0.50 collection and a declined card (4000000000000002); then the default set and the "
          "second card deleted (detached at Stripe); every 3rd flow a card on a customer of its "
          "own with one `Idempotency-Key` sent 3 times at once.",
          f"- **lockout**: per tenant, {DECLINES} declines in a row on one customer, then a good "
          "card and a declined card: both must be 429.",
          "- **user API**: a Stripe customer from a fresh token, sent twice at once (every 3rd "
          "flow: 3 times with one `Idempotency-Key`); list.",
          "- **billing**: three `/card/create` at once on one account, every 3rd flow a keyed "
          "one sent 3 times at once, `updateCurrent` on every card twice at once, a remove sent "
          "twice racing an `updateCurrent`, then a signed Connect `customer.source.updated` and "
          "`customer.source.expiring`, each delivered twice at once; find and get.",
          "- **burst**: a tenant of its own; its creates, all at once.", "",
          "Audit events are matched to the writes by what they name (customer, payment method, "
          "Stripe event id), not by request id: the event carries the Lambda request id, which "
          "no answer exposes (the router's `apigw-requestid` is API Gateway's own id).", ""]
    if meta.get("flow_errors"):
        L += ["Flow errors (the load script's own): " + short(meta["flow_errors"], 5), ""]
    with open(os.path.join(args.out, "load.md"), "w") as f:
        f.write("\n".join(L) + "\n")
    with open(os.path.join(args.out, "load.json"), "w") as f:
        json.dump({"checks": checks.results, "mixed": rows, "burst": brows, "meta": meta},
                  f, indent=1, default=str)


async def main_async(args):
    t_start = time.monotonic()
    hard_deadline = t_start + args.budget_s
    with open(args.facts) as f:
        facts = json.load(f)
    args.table = args.table or facts["table"]
    args.facts_json = facts
    run = secrets.token_hex(3)
    der = os.path.join(tempfile.mkdtemp(prefix="load-"), "jwt.der")
    with open(der, "wb") as f:
        f.write(base64.b64decode(facts["jwt"]["privateKeyDer"]))
    n_tenants = 2 if args.short else 4
    # Flows of each kind per tenant; each billing flow has an account of its own, so that
    # its Stripe customer holds a handful of cards (localstripe lists 10 sources at most).
    per_kind = 3 if args.short else 12
    print(f"load: run {run}: {n_tenants} tenants, concurrency {args.concurrency}", flush=True)
    tenants = await asyncio.gather(*[
        make_tenant(args, facts, der, f"load-{run}-{i}", 4, per_kind) for i in range(n_tenants)])
    burst_tid = f"load-{run}-burst"
    burst_t = await make_tenant(args, facts, der, burst_tid, 0, 0)
    os.remove(der)

    rec, exp = Recorder(), Expect()
    clients = args.clients or min(64, max(8, args.concurrency * 2))
    conn = aiohttp.TCPConnector(limit=clients * 4, limit_per_host=clients * 4)
    checks = Checks()
    async with aiohttp.ClientSession(connector=conn) as session:
        w = Workload(args, facts, rec, session, tenants, exp)
        flows = [lambda t=t: w.lockout_flow(t) for t in tenants]
        for n in range(per_kind):
            for t in tenants:
                flows += [lambda t=t, n=n: w.merchant_flow(t, n),
                          lambda t=t, n=n: w.redirect_flow(t, n),
                          lambda t=t, n=n: w.user_flow(t, n),
                          lambda t=t, n=n: w.billing_flow(t, n)]
        # Lockouts first (sequential inside), the rest shuffled so dialects mix.
        head, rest = flows[:len(tenants)], flows[len(tenants):]
        random.shuffle(rest)
        t0 = time.monotonic()
        mixed_deadline = min(t0 + args.mixed_s, hard_deadline - 90)
        errors = await bounded(head + rest, clients, mixed_deadline)
        mixed_wall = time.monotonic() - t0
        print(f"load: mixed workload: {len(rec.rows)} requests in {mixed_wall:.1f} s; "
              f"{len(errors)} flow errors", flush=True)

        # The burst: one tenant's creates from many clients at once.
        before = fn_stats(await fleet_stats(facts), "create-customer")
        bw = Workload(args, facts, rec, session, [burst_t], exp)
        bw.http.phase = "burst"
        n_burst = args.burst
        sem = asyncio.Semaphore(args.burst_clients)
        burst_ids = []

        async def create():
            async with sem:
                if time.monotonic() < hard_deadline - 60:
                    burst_ids.append(await bw.create_customer(burst_t))

        busy = []

        async def watch():
            # The fleet's maxBusy is since it started: sample `busy` during the burst itself.
            for _ in range(int(args.budget_s * 10)):
                st = fn_stats(await fleet_stats(facts), "create-customer")
                if st is None:
                    return
                busy.append(st.get("busy", 0))
                await asyncio.sleep(0.1)

        t1 = time.monotonic()
        watcher = asyncio.create_task(watch())
        await asyncio.gather(*[create() for _ in range(n_burst)])
        burst_wall = time.monotonic() - t1
        watcher.cancel()
        after = fn_stats(await fleet_stats(facts), "create-customer")
        exp.burst = {"n": n_burst, "clients": args.burst_clients,
                     "ok": sum(1 for i in burst_ids if i is not None)}
        if after:
            exp.burst["max_busy"] = max(busy) if busy else None
            exp.burst["max_busy_run"] = after.get("maxBusy")
            exp.burst["started"] = after.get("instancesStarted", after.get("started"))
            exp.burst["before"] = before
        print(f"load: burst: {exp.burst['ok']}/{n_burst} created in {burst_wall:.1f} s; "
              f"fleet {after}", flush=True)

        # Invariants from the stored state.
        customers, pms, _ = await check(args, facts, rec, exp, tenants, burst_tid, session,
                                        checks)
        counts = await check_audit(args, exp, tenants, customers, pms, checks)
        events, verified = await audit_chain(args, burst_tid, exp.burst["ok"],
                                             args.audit_wait_s)
        created = sum(1 for e in events if e["action"] == "customer.created")
        exp.burst.update(events=created, verify=verified)
        checks.add(f"burst: every created customer has its event "
                   f"({exp.burst['ok']} created, {created} customer.created)",
                   created == exp.burst["ok"] and exp.burst["ok"] == n_burst)
        checks.add("burst: audit verify passes", verified and verified.get("ok"),
                   json.dumps(verified))
        if args.min_busy:
            mb = exp.burst.get("max_busy")
            checks.add(f"burst: at least {args.min_busy} create-customer instances busy at once",
                       mb is not None and mb >= args.min_busy, f"most busy at once: {mb}")
        checks.add("the load script's flows ran without error", not errors, short(errors, 3))
    total = time.monotonic() - t_start
    checks.add(f"the run stopped within its budget ({args.budget_s} s)", total <= args.budget_s,
               f"{total:.0f} s")
    meta = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "concurrency": args.concurrency, "clients": clients, "total_s": total,
            "timeout_scale": os.environ.get("FLEET_TIMEOUT_SCALE") or "1",
            "flow_errors": errors, "fleet": await fleet_stats(facts)}
    report(args, rec, mixed_wall, burst_wall, tenants, exp, checks, meta, counts)
    print(f"load: wrote {args.out}/load.md and load.svg in {total:.0f} s; "
          f"{'every invariant holds' if checks.ok else 'BROKEN INVARIANTS'}", flush=True)
    return 0 if checks.ok else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--facts", required=True, help="the stack's facts (facts.py write)")
    p.add_argument("--admin", required=True)
    p.add_argument("--table")
    p.add_argument("--out", required=True)
    p.add_argument("--short", action="store_true", help="about 30 s, a smaller burst")
    p.add_argument("--concurrency", type=int, default=int(os.environ.get("CONCURRENCY", 32)))
    p.add_argument("--clients", type=int, default=0)
    p.add_argument("--mixed-s", type=float)
    p.add_argument("--burst", type=int)
    p.add_argument("--burst-clients", type=int)
    p.add_argument("--min-busy", type=int, default=0,
                   help="fail unless the burst kept at least this many instances busy at once")
    p.add_argument("--audit-wait-s", type=float, default=30)
    p.add_argument("--budget-s", type=float)
    args = p.parse_args()
    args.mixed_s = args.mixed_s or (15 if args.short else 100)
    args.burst = args.burst or (60 if args.short else 300)
    args.burst_clients = args.burst_clients or (8 if args.short else 48)
    args.budget_s = args.budget_s or (120 if args.short else 240)
    for u in (os.environ.get("CARDVAULT_BASE_URL", ""), os.environ.get("STRIPE_API_BASE", "")):
        host = urllib.parse.urlsplit(u).hostname
        if u and host != "127.0.0.1":
            sys.exit(f"load: loopback only, not {u}")
    try:
        return asyncio.run(asyncio.wait_for(main_async(args), args.budget_s + 60))
    except asyncio.TimeoutError:
        print(f"load: FAILED: not done within {args.budget_s + 60:.0f} s", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
