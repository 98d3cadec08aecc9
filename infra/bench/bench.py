#!/usr/bin/env python3
"""make bench: every function binary and the baselines, measured side by side.

Each binary runs as Lambda runs it, against a Lambda Runtime API this script plays
(a tiny HTTP server): it is started, its init is timed (exec to its first
`GET /runtime/invocation/next`), then it gets one event (the first invocation: its first
connections, TLS handshakes and secret reads), then --warm more (warm median and p99). Its
peak RSS is the kernel's (wait4). This is done --runs times with the AWS stand-ins reached
over plain HTTP and --runs times over TLS: a loopback TLS terminator in front of each
stand-in, with a certificate from a test CA the binaries trust through SSL_CERT_FILE
(the machine's CA bundle plus that CA, so the roots parsed are as many as on Lambda).

Every stand-in is reached through a proxy of this script's (plain or TLS), which counts the
calls per service (DynamoDB, Secrets Manager, KMS, Stripe, siteverify/JWKS) and times how
long the stand-in took to answer each, so that calls per request are counted where they
land, not inferred from code.

Writes OUT/results.md (the table, the ratios to the baselines, the machine and its load),
OUT/results.json and OUT/chart.svg.

Usage (the stack's env loaded, bootstrap.py's output at --bootstrap):
  bench.py --bins target/release --variant target/bench-entropy/release/bench-getitem \\
           --project-no-jitter 1 --bootstrap run/bootstrap.json --out bench
"""
import argparse
import asyncio
import base64
import collections
import datetime
import hashlib
import hmac
import json
import os
import platform
import re
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SERVICES = ("dynamodb", "secretsmanager", "kms", "stripe", "siteverify")
AWS_TARGETS = {"DynamoDB_20120810": "dynamodb", "secretsmanager": "secretsmanager",
               "TrentService": "kms"}
# Stripe object ids in a path, folded so that calls group by operation.
STRIPE_ID = re.compile(r"/(cus|card|pm|src|tok|acct|pi|seti|ch)_[A-Za-z0-9]+")


# ---------------------------------------------------------------- counting proxies

class Calls:
    """Calls seen by the proxies: a running count per service and each call's stand-in time."""

    def __init__(self):
        self.lock = threading.Lock()
        self.log = []  # (service, operation, stand-in ms or None), in arrival order

    def add(self, service, op, kind=None):
        """kind: what the call was for, where its body says (`call_kind`)."""
        with self.lock:
            self.log.append([service, op, None, kind or service])
            return len(self.log) - 1

    def answered(self, index, ms):
        with self.lock:
            self.log[index][2] = ms

    def mark(self):
        with self.lock:
            return len(self.log)

    def between(self, a, b):
        with self.lock:
            return [tuple(x) for x in self.log[a:b]]


CALLS = Calls()


def _pks(value):
    """Every partition key value (`PK`) named in a DynamoDB request body, at any depth."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "PK" and isinstance(v, dict) and isinstance(v.get("S"), str):
                yield v["S"]
            else:
                yield from _pks(v)
    elif isinstance(value, list):
        for v in value:
            yield from _pks(v)


def call_kind(service, op, body):
    """"audit" for a DynamoDB call that touches only the audit trail (its chain head
    `AUDITHEAD#…` or its events `AUDIT#…`), else the service: the audit trail's calls are
    counted apart so that a write path's own calls can be read beside them."""
    if service != "dynamodb" or not body:
        return service
    try:
        pks = list(_pks(json.loads(body)))
    except ValueError:
        return service
    return "audit" if pks and all(pk.startswith("AUDIT") for pk in pks) else service


async def _relay(reader, writer, upstream_port, service):
    try:
        ur, uw = await asyncio.open_connection("127.0.0.1", upstream_port)
    except OSError:
        writer.close()
        return
    pending = collections.deque()

    async def back():
        try:
            while True:
                data = await ur.read(65536)
                if not data:
                    break
                if pending:
                    index, t0 = pending.popleft()
                    CALLS.answered(index, (time.perf_counter() - t0) * 1000)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            writer.close()

    task = asyncio.ensure_future(back())
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path = lines[0].split(" ")[:2]
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            target = headers.get("x-amz-target")
            if target and "." in target:
                prefix, op = target.split(".", 1)
                svc = AWS_TARGETS.get(prefix, prefix)
            else:
                svc, op = service, method + " " + STRIPE_ID.sub(r"/\1_…", path.split("?")[0])
            body = b""
            if headers.get("transfer-encoding", "").lower() == "chunked":
                chunks = [head]
                while True:
                    size_line = await reader.readuntil(b"\r\n")
                    size = int(size_line.split(b";")[0], 16)
                    data = await reader.readexactly(size + 2)
                    chunks += [size_line, data]
                    body += data[:-2]
                    if size == 0:
                        break
                raw = b"".join(chunks)
            else:
                n = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(n) if n else b""
                raw = head + body
            index = CALLS.add(svc, op, call_kind(svc, op, body))
            uw.write(raw)
            pending.append((index, time.perf_counter()))
            await uw.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError,
            ssl.SSLError, OSError, ValueError):
        pass
    finally:
        uw.close()
        await asyncio.gather(task, return_exceptions=True)


class Proxies:
    """A plain and a TLS listener per stand-in, on one asyncio loop in a thread."""

    def __init__(self, upstreams, cert=None, key=None):
        """Without a certificate, plain listeners only (the call counts need no TLS)."""
        self.loop = asyncio.new_event_loop()
        self.ports = {}
        modes = [("plain", None)]
        if cert:
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.load_cert_chain(cert, key)
            tls.set_alpn_protocols(["http/1.1"])
            modes.append(("tls", tls))
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        for name, port in upstreams.items():
            for mode, ctx in modes:
                fut = asyncio.run_coroutine_threadsafe(
                    asyncio.start_server(
                        lambda r, w, p=port, s=name: _relay(r, w, p, s), "127.0.0.1", 0, ssl=ctx),
                    self.loop)
                server = fut.result(10)
                self.ports[(name, mode)] = server.sockets[0].getsockname()[1]

    def url(self, name, mode):
        scheme = "https" if mode == "tls" else "http"
        return f"{scheme}://127.0.0.1:{self.ports[(name, mode)]}"


def make_ca(folder):
    """A test CA and a server certificate for 127.0.0.1 and localhost; the CA file holds the
    machine's bundle plus the test CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress
    os.makedirs(folder, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cardvault bench test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                         critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    paths = {k: os.path.join(folder, k) for k in ("ca.pem", "server.pem", "server.key")}
    bundle = ""
    for system in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"):
        if os.path.exists(system):
            with open(system) as f:
                bundle = f.read()
            break
    with open(paths["ca.pem"], "w") as f:
        f.write(bundle + "\n" + ca.public_bytes(pem).decode())
    with open(paths["server.pem"], "wb") as f:
        f.write(cert.public_bytes(pem))
    with open(paths["server.key"], "wb") as f:
        f.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return paths


# ---------------------------------------------------------------- the Runtime API

class Runtime:
    def __init__(self, events):
        self.events = events  # callable: invocation index -> event
        self.count = 0
        self.total = 0
        self.marks = {"sent": [], "responded": [], "bodies": [], "calls": []}
        self.done = threading.Event()
        self.stop = threading.Event()


def handler_for(rt):
    class H(BaseHTTPRequestHandler):
        # Keep-alive, as Lambda's Runtime API; without TCP_NODELAY, Nagle's algorithm holds
        # the body behind the headers until the client's delayed ACK (~40 ms a request).
        protocol_version = "HTTP/1.1"

        def setup(self):
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, *a):
            pass

        def do_GET(self):
            if not self.path.endswith("/runtime/invocation/next"):
                self.send_error(404)
                return
            now = time.perf_counter()
            if "first_next" not in rt.marks:
                rt.marks["first_next"] = now
                rt.marks["init_calls"] = CALLS.mark()
            if rt.count >= rt.total:
                rt.done.set()
                rt.stop.wait(30)
                return
            event = rt.events(rt.count)
            rt.count += 1
            body = json.dumps(event).encode()
            rt.marks["calls"].append(CALLS.mark())
            rt.marks["sent"].append(time.perf_counter())
            self.send_response(200)
            self.send_header("Lambda-Runtime-Aws-Request-Id", f"req-{rt.count}")
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                             "arn:aws:lambda:us-east-1:000000000000:function:bench")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            payload = self.rfile.read(length)
            failed = "/error" in self.path
            if failed:
                rt.marks.setdefault("errors", []).append(payload[:500])
            rt.marks.setdefault("failed", []).append(failed)
            rt.marks["responded"].append(time.perf_counter())
            rt.marks["calls"].append(CALLS.mark())
            rt.marks["bodies"].append(payload)
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
    return H


def vm_hwm_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def run_once(binary, events, count, env, memory_mb=128):
    """One cold start and count-1 warm invocations; returns a dict of what was seen."""
    rt = Runtime(events)
    rt.total = count
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(rt))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_port}",
               AWS_LAMBDA_FUNCTION_NAME="bench", AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(memory_mb),
               AWS_LAMBDA_FUNCTION_VERSION="1", AWS_LAMBDA_LOG_FORMAT="Text", RUST_LOG="warn")
    start_mark = CALLS.mark()
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=err)
        finished = rt.done.wait(120)
        # The process's own high-water mark: wait4's ru_maxrss would also count the memory
        # of this Python process, which the child shared until its exec.
        hwm_kb = vm_hwm_kb(proc.pid)
        proc.send_signal(signal.SIGKILL)
        _, _, usage = os.wait4(proc.pid, 0)
        proc.returncode = -9
        err.seek(0)
        stderr = err.read().decode(errors="replace")[-2000:]
    rt.stop.set()
    server.shutdown()
    server.server_close()
    if not finished or "first_next" not in rt.marks:
        raise RuntimeError(f"{binary}: no {count} invocations in 120 s; stderr: {stderr}")
    m = rt.marks
    lat = [(r - s) * 1000 for s, r in zip(m["sent"], m["responded"])]
    calls = [CALLS.between(m["calls"][2 * i], m["calls"][2 * i + 1]) for i in range(count)]
    statuses, bodies = [], []
    for b, failed in zip(m["bodies"], m["failed"]):
        try:
            r = json.loads(b)
        except ValueError:
            r = None
        if isinstance(r, dict) and "statusCode" in r:
            statuses.append(r.get("statusCode"))
            bodies.append(r.get("body"))
        else:
            # A function invoked with its own event (not API Gateway's) answers its payload.
            statuses.append("error" if failed or r is None else "ok")
            bodies.append(None if r is None else json.dumps(r))
    return {
        "init": (m["first_next"] - start) * 1000,
        "latencies": lat,
        "init_calls": CALLS.between(start_mark, m["init_calls"]),
        "calls": calls,
        "statuses": statuses,
        "bodies": bodies,
        "maxrss_kb": hwm_kb if hwm_kb is not None else usage.ru_maxrss,
    }


# ---------------------------------------------------------------- events and fixtures

def load_event(name):
    with open(os.path.join(ROOT, "events", f"{name}.json")) as f:
        return json.load(f)


def with_path(event, template, **params):
    event = json.loads(json.dumps(event))
    path = template
    for k, v in params.items():
        path = path.replace("{" + k + "}", str(v))
        event.setdefault("pathParameters", {})[k] = str(v)
    event["rawPath"] = path
    event["requestContext"]["http"]["path"] = path
    return event


def stripe_post(base, path, form, key="sk_test_bench"):
    req = urllib.request.Request(
        base + path, data=urllib.parse.urlencode(form).encode(), method="POST",
        headers={"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.load(resp)


def admin_cli():
    return [os.environ.get("CARDVAULT_ADMIN", os.path.join(ROOT, "target", "debug", "cardvault-admin")),
            "--table", os.environ.get("TABLE_NAME", "unused")]


def register_target(stripe, tenant, account):
    """Registers `account` as `tenant`'s re-homing target: its OAuth code from localstripe,
    exchanged by cardvault-admin connect-account."""
    code = stripe_post(stripe, "/_cardvault/oauth/authorize", {"account": account})["code"]
    subprocess.run(admin_cli() + ["connect-account", "--tenant", tenant, "--oauth-code", code],
                   check=True, capture_output=True)


def signed(payload, env=None):
    """`payload` with its `caller`: the operator's signed GetCallerIdentity, bound to it."""
    return {**payload, "caller": caller_identity(admin_cli(), payload, env)}


def caller_identity(admin, payload, env=None):
    """cardvault-admin caller-identity for `payload`: the operator's signed caller, bound to
    that payload (its `caller` aside) and good for a few minutes."""
    signed = subprocess.run(admin + ["caller-identity", "--payload", json.dumps(payload)],
                            check=True, capture_output=True, env=env)
    return json.loads(signed.stdout)


def card_token(stripe):
    return stripe_post(stripe, "/v1/tokens", {
        "card[number]": "4242424242424242", "card[exp_month]": "12",
        "card[exp_year]": "2030", "card[cvc]": "123"})["id"]


class Plan:
    """Each binary's event for each invocation. Writes that consume what they touch (a
    delete, a card added per customer) take ids from pools that earlier binaries' answers
    filled, so that every invocation does its real work where the stand-ins allow it."""

    def __init__(self, boot, stripe_base, recaptcha_token):
        self.boot = boot
        self.stripe = stripe_base
        self.pass_token = recaptcha_token
        a, b = boot["tenants"][0], boot["tenants"][1]
        self.a, self.b = a, b
        tokens = boot["jwt"]["tokens"]
        self.user = tokens["demo-a"]["token"]
        self.owner = tokens["owner"]["token"]
        self.admin = tokens["admin"]["token"]
        self.pools = collections.defaultdict(list)
        self.fixed = {}
        # name, events, count -> run_once's result, for fixtures made on the way (main sets it).
        self.run = None

    def basic(self, event, key):
        event = json.loads(json.dumps(event))
        event["headers"]["authorization"] = f"Basic {key}"
        return event

    def bearer(self, event, token):
        event = json.loads(json.dumps(event))
        event["headers"]["authorization"] = f"Bearer {token}"
        return event

    def take(self, pool, i):
        items = self.pools[pool]
        return items[i % len(items)] if items else self.fixed.get(pool, "1")

    def pop(self, pool):
        if self.pools[pool]:
            return self.pools[pool].pop()
        if pool == "customers":
            # Never the fixture customer: `fresh_customers` fills this pool first.
            raise SystemExit("bench.py: no fresh customer left for a card")
        return self.fixed.get(pool, "1")

    def events(self, name):
        """A callable: invocation index -> event, for a fresh run of `name`."""
        a, b = self.a, self.b
        if name.startswith("bench-"):
            ev = self.basic(load_event("get-customer"), a["privateApiKey"])
            return lambda i: ev
        e = load_event(name)
        if name == "list-countries":
            ev = self.basic(e, a["privateApiKey"])
            return lambda i: ev
        if name == "create-customer":
            def ev(i):
                x = self.basic(e, a["privateApiKey"])
                x["body"] = json.dumps({**json.loads(x["body"]), "reference": f"bench-{time.time_ns()}"})
                return x
            return ev
        if name in ("get-customer", "list-audit-events", "list-payment-methods"):
            tpl = {"get-customer": "/v1/customers/{id}",
                   "list-audit-events": "/v1/customers/{id}/auditEvents",
                   "list-payment-methods": "/v1/customers/{id}/paymentMethods/creditCard"}[name]
            cid = self.fixed["customer"]
            ev = with_path(self.basic(e, a["privateApiKey"]), tpl, id=cid)
            return lambda i: ev
        if name == "get-payment-method":
            ev = with_path(self.basic(e, a["privateApiKey"]), "/v1/paymentMethods/{id}",
                           id=self.fixed["paymentMethod"])
            return lambda i: ev
        if name == "delete-payment-method":
            return lambda i: with_path(self.basic(e, a["privateApiKey"]),
                                       "/v1/paymentMethods/{id}/creditCard",
                                       id=self.pop("paymentMethods"))
        if name == "set-default-payment-method":
            ev = self.basic(e, a["privateApiKey"])
            ev["body"] = json.dumps({"id": int(self.fixed["customer"]),
                                     "defaultPaymentMethodId": int(self.fixed["paymentMethod"])})
            return lambda i: ev
        if name in ("import-stripe", "import-stripe-connect"):
            tenant = b if name == "import-stripe" else a

            def ev(i):
                x = self.basic(e, tenant["privateApiKey"])
                cus = stripe_post(self.stripe, "/v1/customers", {"source": card_token(self.stripe)})
                if tenant is b:
                    # A card of tenant b's own Stripe account: what its webhooks name.
                    self.fixed["stripe-b"] = (cus["id"], cus["sources"]["data"][0]["id"])
                x["body"] = json.dumps({
                    "customerId": int(self.take("customers" if tenant is a else "customers-b", i)),
                    "stripeCustomerId": cus["id"],
                    "stripeCardId": cus["sources"]["data"][0]["id"]})
                return x
            return ev
        if name == "add-credit-card":
            def ev(i):
                x = json.loads(json.dumps(e))
                x["headers"]["origin"] = a["allowedOrigin"]
                form = dict(urllib.parse.parse_qsl(x["body"]))
                form.update(CustomerId=self.pop("customers"), PublicApiKey=a["publicApiKey"],
                            Recaptcha=self.pass_token)
                x["body"] = urllib.parse.urlencode(form)
                return x
            return ev
        if name == "add-credit-card-preflight":
            ev = json.loads(json.dumps(e))
            ev["headers"]["origin"] = a["allowedOrigin"]
            return lambda i: ev
        if name == "create-stripe-customer":
            def ev(i):
                x = self.bearer(e, self.user)
                x["body"] = json.dumps({"token": card_token(self.stripe)})
                return x
            return ev
        if name == "list-stripe-customers":
            ev = self.bearer(e, self.user)
            return lambda i: ev
        if name == "card-create":
            def ev(i):
                x = self.bearer(e, self.owner)
                x["body"] = json.dumps({**json.loads(x["body"]), "stripeToken": card_token(self.stripe),
                                        "current": False})
                return x
            return ev
        if name in ("card-find", "card-get-stripe"):
            ev = self.bearer(e, self.admin)
            return lambda i: ev
        if name == "card-get":
            ev = self.bearer(e, self.admin)
            ev["body"] = json.dumps({"id": self.fixed["card"]})
            return lambda i: ev
        if name == "card-update-current":
            ev = self.bearer(e, self.owner)
            ev["body"] = json.dumps({"id": self.fixed["card"], "current": True})
            return lambda i: ev
        if name == "card-remove":
            def ev(i):
                x = self.bearer(e, self.owner)
                x["body"] = json.dumps({"id": self.pop("cards")})
                return x
            return ev
        if name == "stripe-webhook":
            secret = self.boot["webhooks"]["tenants"][b["id"]]["secret"]

            def ev(i):
                # A card of tenant b's changed at its own Stripe account: a fresh event id
                # each time (an event seen before is answered without work), signed as
                # Stripe signs (HMAC-SHA256 of "t.body").
                cus, card = self.fixed["stripe-b"]
                body = json.dumps({
                    "id": f"evt_bench{time.time_ns()}", "object": "event",
                    "api_version": "2024-06-20", "type": "customer.source.updated",
                    "created": int(time.time()),
                    "data": {"object": {"id": card, "object": "card", "customer": cus,
                                        "brand": "Visa", "last4": "4242", "exp_month": 12,
                                        "exp_year": 2031 + i % 5},
                             "previous_attributes": {"exp_year": 2030}}})
                t = int(time.time())
                sig = hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
                x = with_path(e, "/v1/webhooks/stripe/{tenantId}", tenantId=b["id"])
                x["headers"]["stripe-signature"] = f"t={t},v1={sig}"
                x["body"] = body
                x["isBase64Encoded"] = False
                return x
            return ev
        if name == "rehome-cards":
            # A dry run of one small batch: it reads, and moves nothing. Its target is
            # registered for the tenant and the operator signs who they are, as re-homing
            # needs before it reads anything.
            account = "acct_1BenchDryRun"
            register_target(self.stripe, a["id"], account)
            ev = {"tenant": a["id"], "toAccount": account, "dryRun": True, "maxCards": 5}
            # Signed for each call: a caller is good for a few minutes.
            return lambda i: signed(ev)
        raise SystemExit(f"no event plan for {name}")

    def fresh_customers(self, n):
        """At least n customers of tenant a that no card was added to, made now by
        create-customer, so that each
        warm add is a new customer's first card rather than one more card on a customer
        that has collected hundreds."""
        short = n - len(self.pools["customers"])
        if short > 0:
            r = self.run("create-customer", self.events("create-customer"), short)
            self.collect("create-customer", r["bodies"], r["statuses"])
        if len(self.pools["customers"]) < n:
            raise SystemExit(f"bench.py: could not make {n} fresh customers")

    def collect(self, name, bodies, statuses):
        """Ids an answer made, for the binaries that consume them."""
        pool = {"create-customer": "customers", "import-stripe-connect": "paymentMethods",
                "add-credit-card": "paymentMethods", "card-create": "cards"}.get(name)
        for body, status in zip(bodies, statuses):
            if not pool or status not in (200, 201) or not body:
                continue
            try:
                got = json.loads(body)
            except ValueError:
                continue
            if isinstance(got, dict) and got.get("id") is not None:
                self.pools[pool].append(str(got["id"]))


# Producers before their consumers; the baselines first.
ORDER = ["bench-hello", "bench-getitem", "bench-getitem-variant", "list-countries",
         "create-customer", "get-customer", "list-audit-events",
         "add-credit-card-preflight", "add-credit-card", "import-stripe-connect",
         "import-stripe", "list-payment-methods", "get-payment-method",
         "set-default-payment-method", "delete-payment-method",
         "create-stripe-customer", "list-stripe-customers",
         "card-create", "card-find", "card-get", "card-update-current", "card-get-stripe",
         "card-remove", "stripe-webhook", "rehome-cards"]


# The one answer each binary's planned event must get (results.md's status column): a
# function that answers anything else is not doing the work its time and calls are
# measured for, so both modes fail on it. "ok": a function invoked with its own payload
# (not an API event) that returned one. The GetItem baselines read an absent item.
EXPECTED = {name: 200 for name in ORDER}
EXPECTED.update({"bench-getitem": 404, "bench-getitem-variant": 404,
                 "add-credit-card-preflight": 204, "delete-payment-method": 204,
                 "rehome-cards": "ok"})


def unexpected(name, statuses):
    """Each answer of `name` that is not its EXPECTED one, as "#index: status"."""
    return [f"#{i}: {s}" for i, s in enumerate(statuses) if s != EXPECTED[name]]


# Functions no request reaches, measured by neither mode: the audit trail's chainer
# (issue #24) reads the table's stream, a batch of events at a time.
OFF_PATH = {"audit-chain"}


# ---------------------------------------------------------------- measuring

def p(values, q):
    if not values:
        return None
    values = sorted(values)
    k = max(0, min(len(values) - 1, int(round(q * (len(values) - 1)))))
    return values[k]


def med(values):
    return statistics.median(values) if values else None


def calls_by_service(calls):
    out = collections.Counter(c[0] for c in calls)
    return {s: out.get(s, 0) for s in SERVICES}


def standin_ms(calls):
    return sum(c[2] or 0 for c in calls)


def measure(name, binary, plan, envs, runs, warm):
    result = {"name": name, "binary": binary, "sizeBytes": os.path.getsize(binary)}
    wrong = []
    for mode in ("plain", "tls"):
        inits, firsts, warms, rss, statuses = [], [], [], [], collections.Counter()
        cold_calls, warm_calls, cold_standin, warm_standin, init_calls = [], [], [], [], []
        ops = collections.Counter()
        for _ in range(runs):
            if name == "add-credit-card":
                plan.fresh_customers(1 + warm)
            r = run_once(binary, plan.events(name), 1 + warm, envs[mode])
            plan.collect(name, r["bodies"], r["statuses"])
            inits.append(r["init"])
            firsts.append(r["latencies"][0])
            warms.extend(r["latencies"][1:])
            rss.append(r["maxrss_kb"] / 1024)
            statuses.update(str(s) for s in r["statuses"])
            wrong.extend(f"{mode} {w}" for w in unexpected(name, r["statuses"]))
            init_calls.append(len(r["init_calls"]))
            cold = r["init_calls"] + r["calls"][0]
            cold_calls.append(cold)
            cold_standin.append(standin_ms(cold))
            for c in r["calls"][1:]:
                warm_calls.append(c)
                warm_standin.append(standin_ms(c))
                ops.update(f"{x[0]}:{x[1]}" for x in c)
        result[mode] = {
            "initMs": med(inits), "firstMs": med(firsts),
            "coldMs": med([i + f for i, f in zip(inits, firsts)]),
            "warmMedianMs": med(warms), "warmP99Ms": p(warms, 0.99),
            "peakRssMiB": max(rss), "statuses": dict(statuses),
            "initCalls": max(init_calls),
            "coldCalls": {s: med([calls_by_service(c)[s] for c in cold_calls]) for s in SERVICES},
            "coldStandinMs": med(cold_standin),
            "warmCalls": {s: (sum(calls_by_service(c)[s] for c in warm_calls) / len(warm_calls))
                          if warm_calls else None for s in SERVICES},
            "warmStandinMs": med(warm_standin),
            "warmOps": {k: v / max(1, len(warm_calls)) for k, v in sorted(ops.items())},
        }
    result["unexpected"] = wrong
    return result


def cpu_busy():
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts), idle


# ---------------------------------------------------------------- call budgets (make test)

# The endpoints that take an `Idempotency-Key` (the redirect also runs under an implicit
# one without it); with a key a warm request may make at most KEYED_EXTRA more DynamoDB calls.
KEYED = {"create-customer", "import-stripe-connect", "import-stripe", "add-credit-card",
         "set-default-payment-method", "delete-payment-method", "create-stripe-customer",
         "card-create", "card-update-current", "card-remove"}
KEYED_EXTRA = 2
COUNTED = ("dynamodb", "secretsmanager", "kms", "stripe", "siteverify")


def count_run(name, binary, plan, env, warm):
    """One cold start, then `warm` warm requests without an Idempotency-Key and, for a
    keyed endpoint, `warm` more with a fresh key each. Answers each warm request's calls,
    whether it had a key, and its status."""
    keyed = name in KEYED
    n = 1 + warm + (warm if keyed else 0)
    if name == "add-credit-card":
        plan.fresh_customers(n)
    base = plan.events(name)

    def events(i):
        e = base(i)
        if name == "add-credit-card":
            # The budget's request: a new card, no collection.
            form = dict(urllib.parse.parse_qsl(e["body"]))
            form.pop("PaymentCollectOptions.collectionAmount", None)
            e["body"] = urllib.parse.urlencode(form)
        if i > warm:
            e = json.loads(json.dumps(e))
            e["headers"]["idempotency-key"] = f"count-{uuid.uuid4()}"
        return e
    r = run_once(binary, events, n, env)
    plan.collect(name, r["bodies"], r["statuses"])
    # Every answer, the cold one included, must be the expected one (check_budgets).
    return [{"keyed": i > warm, "cold": i == 0, "status": r["statuses"][i], "calls": r["calls"][i]}
            for i in range(n)]


def tally(calls):
    """Calls by service, DynamoDB's total and its audit-only part apart."""
    out = {s: sum(1 for c in calls if c[0] == s) for s in COUNTED}
    out["audit"] = sum(1 for c in calls if c[0] == "dynamodb" and c[3] == "audit")
    return out


def check_budgets(results, budgets):
    """Each function's warm counts against its budget; answers (rows, failures)."""
    rows, failures = [], []
    for name, reqs in results.items():
        b = budgets.get(name)
        if b is None:
            failures.append(f"{name}: no budget in budgets.json")
            continue
        bad = unexpected(name, [x["status"] for x in reqs])
        if bad:
            failures.append(f"{name}: answers {bad}, expected {EXPECTED[name]}: "
                            "not the path the budget is for")
        # The budgets hold warm requests: the cold one is checked for its answer only.
        reqs = [x for x in reqs if not x["cold"]]
        plain = [tally(x["calls"]) for x in reqs if not x["keyed"]]
        keyed = [tally(x["calls"]) for x in reqs if x["keyed"]]
        worst = {s: max(t[s] for t in plain) for s in (*COUNTED, "audit")}
        worst_keyed = {s: max(t[s] for t in keyed) for s in (*COUNTED, "audit")} if keyed else None
        if len({t["dynamodb"] for t in plain}) > 1:
            failures.append(f"{name}: DynamoDB calls per warm request vary: "
                            f"{[t['dynamodb'] for t in plain]}")
        d = b["dynamodb"]  # None: counted and shown, not held (see budgets.json)
        if d is not None and worst["dynamodb"] > d:
            failures.append(f"{name}: {worst['dynamodb']} DynamoDB calls per warm request "
                            f"({worst['dynamodb'] - worst['audit']} + {worst['audit']} audit), budget {d}")
        if d is not None and worst_keyed and worst_keyed["dynamodb"] > d + KEYED_EXTRA:
            failures.append(f"{name}: {worst_keyed['dynamodb']} DynamoDB calls with an "
                            f"Idempotency-Key, budget {d} + {KEYED_EXTRA}")
        for s in ("secretsmanager", "kms", "stripe", "siteverify"):
            ceiling = b.get(s, 0)
            got = max(worst[s], worst_keyed[s] if worst_keyed else 0)
            if got > ceiling:
                failures.append(f"{name}: {got} {s} calls per warm request, at most {ceiling}")
        ops = collections.Counter(f"{c[0]}:{c[1]}" + (" (audit)" if c[3] == "audit" else "")
                                  for x in reqs if not x["keyed"] for c in x["calls"])
        rows.append({"name": name, "budget": d, "warm": worst, "keyed": worst_keyed,
                     "ops": {k: v / max(1, len(plain)) for k, v in sorted(ops.items())}})
    return rows, failures


def count_report(rows, failures, out):
    lines = [
        "# Calls per warm request, counted at the stand-ins (`bench.py --count`)",
        "",
        "DynamoDB calls of a warm request without and with an `Idempotency-Key`; the audit "
        "trail's own calls (only `AUDIT…` items) are counted in the total and shown apart. "
        "St Stripe, V siteverify/JWKS, S Secrets Manager, K KMS.",
        "",
        "| function | DynamoDB | of which audit | not audit | with key | budget | St | V | S | K |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        w, k = r["warm"], r["keyed"]
        lines.append(
            f"| `{r['name']}` | {w['dynamodb']} | {w['audit']} | {w['dynamodb'] - w['audit']} | "
            f"{k['dynamodb'] if k else '–'} | "
            f"{'not held' if r['budget'] is None else r['budget']}{' (+2 keyed)' if k else ''} | "
            f"{w['stripe']} | {w['siteverify']} | {w['secretsmanager']} | {w['kms']} |")
    lines += ["", "## By operation (warm, no key)", "", "| function | calls |", "|---|---|"]
    for r in rows:
        ops = ", ".join(f"{k} {v:g}" for k, v in r["ops"].items()) or "none"
        lines.append(f"| `{r['name']}` | {ops} |")
    lines += ["", "**Over budget:** " + ("none" if not failures else ""), ""]
    lines += [f"- {f}" for f in failures]
    with open(os.path.join(out, "calls.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def count_main(args, plan, binaries, env):
    with open(args.budgets) as f:
        budgets = {k: v for k, v in json.load(f).items() if not k.startswith("_")}
    order = [n for n in ORDER if not n.startswith("bench-") and (not args.only or n in args.only)]
    results = {}
    for name in order:
        results[name] = count_run(name, binaries[name], plan, env, args.warm)
        t = [tally(x["calls"]) for x in results[name] if not x["cold"]]
        print(f"calls: {name:28s} dynamodb {[x['dynamodb'] for x in t]} "
              f"(audit {[x['audit'] for x in t]}) stripe {[x['stripe'] for x in t]} "
              f"status {[x['status'] for x in results[name] if not x['cold']]}", flush=True)
    rows, failures = check_budgets(results, budgets)
    count_report(rows, failures, args.out)
    for r in rows:
        w, k = r["warm"], r["keyed"]
        print(f"calls: {r['name']:28s} {w['dynamodb']:3d} DynamoDB ({w['dynamodb'] - w['audit']} "
              f"not audit, {w['audit']} audit), keyed {k['dynamodb'] if k else '-'}, "
              f"budget {'not held' if r['budget'] is None else r['budget']}; Stripe {w['stripe']}")
    for f in failures:
        print(f"calls: OVER BUDGET: {f}", flush=True)
    print(f"calls: wrote {args.out}/calls.md; {len(failures)} over budget")
    return not failures


# ---------------------------------------------------------------- ratios and report

def total_calls(d):
    return sum(v or 0 for v in d.values())


def judge(results, tuned, hello):
    """Each function against the ratios of issue #17 (see results.md for the rules)."""
    base_tls = tuned["tls"]
    rt_overhead = base_tls["warmMedianMs"] - (base_tls["warmStandinMs"] or 0)
    handshake = max(0.0, tuned["tls"]["firstMs"] - tuned["plain"]["firstMs"])
    verdicts = {}
    for r in results:
        if r["name"].startswith("bench-"):
            continue
        t = r["tls"]
        n_cold = total_calls(t["coldCalls"])
        n_warm = total_calls(t["warmCalls"])
        hosts = sum(1 for s in SERVICES if s != "dynamodb" and (t["coldCalls"][s] or 0) > 0)
        # A round trip is charged at the baseline's own warm overhead plus what this call's
        # stand-in took (localstripe and moto answer slower than DynamoDB Local).
        cold_budget = (1.2 * base_tls["coldMs"]
                       + max(0, n_cold - 1) * rt_overhead
                       + max(0.0, (t["coldStandinMs"] or 0) - (base_tls["coldStandinMs"] or 0))
                       + hosts * handshake)
        if n_warm < 0.5:
            warm_budget = 1.5 * hello["tls"]["warmMedianMs"]
            warm_rule = "1.5 × hello"
        else:
            warm_budget = 1.15 * (n_warm * rt_overhead + (t["warmStandinMs"] or 0))
            warm_rule = f"1.15 × {n_warm:g} round trips"
        size_budget = 1.3 * tuned["sizeBytes"]
        verdicts[r["name"]] = {
            "coldCalls": n_cold, "warmCalls": n_warm, "extraHosts": hosts,
            "coldBudgetMs": cold_budget, "coldOk": t["coldMs"] <= cold_budget,
            "warmBudgetMs": warm_budget, "warmRule": warm_rule,
            "warmOk": t["warmMedianMs"] <= warm_budget,
            "sizeRatio": r["sizeBytes"] / tuned["sizeBytes"], "sizeOk": r["sizeBytes"] <= size_budget,
            "secretsWarm": t["warmCalls"]["secretsmanager"] or 0,
            "secretsOk": (t["warmCalls"]["secretsmanager"] or 0) == 0,
        }
    return verdicts, rt_overhead, handshake


def fmt(x, nd=1):
    return "–" if x is None else f"{x:.{nd}f}"


def calls_cell(d):
    short = {"dynamodb": "D", "secretsmanager": "S", "kms": "K", "stripe": "St", "siteverify": "V"}
    parts = [f"{short[s]}{v:g}" for s, v in d.items() if v]
    return " ".join(parts) or "0"


def svg_chart(results, path):
    rows = [r for r in results]
    bar_h, gap, left, width = 9, 8, 210, 520
    height = 40 + len(rows) * (2 * bar_h + gap) + 30
    vmax = max(max(r["tls"]["coldMs"], r["plain"]["coldMs"]) for r in rows) * 1.08
    scale = width / vmax
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 120}" height="{height}" '
           'font-family="sans-serif" font-size="11">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="10" y="18" font-size="13" font-weight="bold">Cold request (init + first '
           'invocation), median ms: TLS to the stand-ins vs plain HTTP</text>']
    y = 34
    for r in rows:
        out.append(f'<text x="{left - 6}" y="{y + bar_h + 3}" text-anchor="end">{r["name"]}</text>')
        for mode, color in (("tls", "#c0392b"), ("plain", "#2e86c1")):
            v = r[mode]["coldMs"]
            out.append(f'<rect x="{left}" y="{y}" width="{v * scale:.1f}" height="{bar_h}" fill="{color}"/>')
            out.append(f'<text x="{left + v * scale + 4:.1f}" y="{y + bar_h - 1}">{v:.1f}</text>')
            y += bar_h
        y += gap
    out.append(f'<rect x="{left}" y="{y + 6}" width="10" height="10" fill="#c0392b"/>'
               f'<text x="{left + 14}" y="{y + 15}">TLS (test CA via SSL_CERT_FILE)</text>'
               f'<rect x="{left + 230}" y="{y + 6}" width="10" height="10" fill="#2e86c1"/>'
               f'<text x="{left + 244}" y="{y + 15}">plain HTTP</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def machine(load_before, load_after, busy):
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f", {kb / 1048576:.0f} GiB RAM"
    except OSError:
        pass
    return (f"{platform.machine()}, {os.cpu_count()} cores ({cpu}){mem}, Linux "
            f"{platform.release()}; load average {load_before[0]:.2f} before the runs and "
            f"{load_after[0]:.2f} after; the CPUs were {busy:.0f} % busy during the runs "
            "(this script and its stand-ins included).")


def report(results, verdicts, rt_overhead, handshake, meta, out):
    by = {r["name"]: r for r in results}
    tuned = by["bench-getitem" if meta["projectNoJitter"] else "bench-getitem-variant"]
    untuned = by.get("bench-getitem-variant" if meta["projectNoJitter"] else "bench-getitem", tuned)
    labels = {
        "bench-hello": "baseline: `lambda_http` hello",
        tuned["name"]: "baseline: one GetItem, tuned (no jitter entropy)",
        untuned["name"]: "baseline: one GetItem, aws-lc jitter entropy on",
    }
    lines = [
        "# `make bench`: every function against the baselines",
        "",
        f"Run {meta['when']} on {meta['machine']}",
        "",
        f"Release profile as in Cargo.toml, native target (x86_64 here; Lambda builds are arm64). "
        f"{meta['runs']} cold starts per binary and mode, each followed by {meta['warm']} warm "
        "invocations; medians (warm: median and p99 of all warm invocations over TLS). "
        "Stand-ins: DynamoDB Local, moto (Secrets Manager, KMS), localstripe, the siteverify/JWKS "
        "stand-in, each behind a counting proxy of `infra/bench/bench.py`; TLS: a loopback TLS "
        "terminator per stand-in, certificate from a test CA the binaries trust through "
        "`SSL_CERT_FILE` (the machine's CA bundle plus that CA).",
        "",
        "Calls per request, counted at the stand-ins: D DynamoDB, S Secrets Manager, K KMS, "
        "St Stripe (localstripe), V siteverify or JWKS. Cold = init + first invocation.",
        "",
        *([f"**Partial run: not measured (not built in time): {', '.join(meta['notMeasured'])}.**", ""]
          if meta["notMeasured"] else []),
        "| binary | size MiB | init ms | first inv. plain | first inv. TLS | cold request TLS | "
        "warm median | warm p99 | peak RSS MiB | calls cold | calls warm | status |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        t, pl = r["tls"], r["plain"]
        label = labels.get(r["name"], f"`{r['name']}`")
        status = "/".join(sorted(set(t["statuses"]) | set(pl["statuses"])))
        lines.append(
            f"| {label} | {r['sizeBytes'] / 1048576:.2f} | {fmt(t['initMs'])} | {fmt(pl['firstMs'])} | "
            f"{fmt(t['firstMs'])} | {fmt(t['coldMs'])} | {fmt(t['warmMedianMs'], 2)} | "
            f"{fmt(t['warmP99Ms'], 2)} | {fmt(t['peakRssMiB'])} | {calls_cell(t['coldCalls'])} | "
            f"{calls_cell({k: round(v, 2) if v else v for k, v in t['warmCalls'].items()})} | {status} |")
    entropy = untuned["tls"]["firstMs"] - tuned["tls"]["firstMs"]
    lines += [
        "",
        "![Cold request per binary, TLS vs plain](chart.svg)",
        "",
        "## Ratios to the baselines",
        "",
        f"Tuned one-GetItem baseline: cold request {tuned['tls']['coldMs']:.1f} ms over TLS, "
        f"warm {tuned['tls']['warmMedianMs']:.2f} ms, {tuned['sizeBytes'] / 1048576:.2f} MiB. "
        f"aws-lc's jitter entropy costs {entropy:.1f} ms of the first invocation over TLS "
        f"({untuned['tls']['firstMs']:.1f} ms with it, {tuned['tls']['firstMs']:.1f} ms without).",
        "",
        "Budgets (issue #17): cold request ≤ 1.2 × the tuned baseline's + each extra round trip "
        f"(charged at the baseline's own warm overhead, {rt_overhead:.2f} ms, plus what that "
        "call's stand-in took beyond the baseline's) + a TLS connection per extra host "
        f"({handshake:.1f} ms: the baseline's first invocation over TLS minus plain); warm ≤ 1.15 × "
        "that per round trip, or 1.5 × hello's warm when a warm request makes no call "
        "(`list-countries`: the API-key check is cached); size ≤ 1.3 × the baseline; "
        "0 Secrets Manager calls per warm request.",
        "",
        "| function | cold TLS ms | budget | warm ms | budget (rule) | size × | SM calls warm | all met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    all_ok = True
    for r in results:
        v = verdicts.get(r["name"])
        if not v:
            continue
        ok = v["coldOk"] and v["warmOk"] and v["sizeOk"] and v["secretsOk"]
        all_ok &= ok
        mark = lambda b: "" if b else " ✗"
        lines.append(
            f"| `{r['name']}` | {r['tls']['coldMs']:.1f}{mark(v['coldOk'])} | {v['coldBudgetMs']:.1f} | "
            f"{r['tls']['warmMedianMs']:.2f}{mark(v['warmOk'])} | {v['warmBudgetMs']:.2f} ({v['warmRule']}) | "
            f"{v['sizeRatio']:.2f}{mark(v['sizeOk'])} | {v['secretsWarm']:g}{mark(v['secretsOk'])} | "
            f"{'yes' if ok else '**no**'} |")
    lines += ["", f"**Every function meets every ratio: {'yes' if all_ok else 'no'}.**", ""]
    lines += ["## Calls per warm request, by operation", "",
              "| binary | calls per warm request (TLS runs) |", "|---|---|"]
    for r in results:
        ops = ", ".join(f"{k} {v:.2g}" for k, v in r["tls"]["warmOps"].items()) or "none"
        lines.append(f"| `{r['name']}` | {ops} |")
    lines.append("")
    lines += [
        "Notes: warm writes repeat their request with fresh data where it matters (a new customer "
        "per card added, a new Stripe token per card created, an id from an earlier answer per "
        "delete); the status column lists every status seen. Stand-in times vary with the "
        "machine's load; the counts do not.",
        "",
    ]
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("\n".join(lines))
    return all_ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bins", required=True, help="folder of the release binaries")
    ap.add_argument("--variant",
                    help="bench-getitem built with the other aws-lc entropy setting")
    ap.add_argument("--project-no-jitter", type=int,
                    help="1 when the project builds with AWS_LC_SYS_NO_JITTER_ENTROPY=1")
    ap.add_argument("--count", action="store_true",
                    help="count the calls of each function's warm requests (plain HTTP, one "
                         "cold start each) and fail over the budgets of --budgets")
    ap.add_argument("--budgets", default=os.path.join(os.path.dirname(__file__), "budgets.json"))
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--warm", type=int, default=30)
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--allow-missing", action="store_true",
                    help="skip binaries not built (a partial run, said so in results.md)")
    ap.add_argument("--fixture-bins", help="binaries that create the fixtures (default: --bins)")
    args = ap.parse_args()
    if not args.count and (args.variant is None or args.project_no_jitter is None):
        ap.error("--variant and --project-no-jitter are needed unless --count")
    with open(args.bootstrap) as f:
        boot = json.load(f)
    os.makedirs(args.out, exist_ok=True)
    scratch = os.path.join(os.environ.get("CARDVAULT_RUN_DIR", "/tmp"), "bench-tls")
    tls = None if args.count else make_ca(scratch)

    def port(url):
        return int(urllib.parse.urlsplit(url).port)
    env = os.environ
    upstream = {
        "dynamodb": port(env["AWS_ENDPOINT_URL_DYNAMODB"]),
        "secretsmanager": port(env["AWS_ENDPOINT_URL_SECRETS_MANAGER"]),
        "stripe": port(env["STRIPE_API_BASE"]),
        "siteverify": port(env["RECAPTCHA_VERIFY_URL"]),
    }
    proxies = Proxies(upstream, *((tls["server.pem"], tls["server.key"]) if tls else ()))
    envs = {}
    for mode in ("plain",) if args.count else ("plain", "tls"):
        e = {k: v for k, v in os.environ.items() if k != "SSL_CERT_FILE"}
        e.update(
            AWS_ENDPOINT_URL_DYNAMODB=proxies.url("dynamodb", mode),
            AWS_ENDPOINT_URL_SECRETS_MANAGER=proxies.url("secretsmanager", mode),
            AWS_ENDPOINT_URL_KMS=proxies.url("secretsmanager", mode),
            STRIPE_API_BASE=proxies.url("stripe", mode),
            RECAPTCHA_VERIFY_URL=proxies.url("siteverify", mode) + "/recaptcha/api/siteverify",
            JWT_JWKS_URL=proxies.url("siteverify", mode) + "/.well-known/jwks.json",
        )
        if mode == "tls":
            e["SSL_CERT_FILE"] = tls["ca.pem"]
        envs[mode] = e

    plan = Plan(boot, env["STRIPE_API_BASE"], env["RECAPTCHA_PASS_TOKEN"])
    functions = [n for n in re.findall(r'^name = "(.+)"$', open(os.path.join(ROOT, "functions", "Cargo.toml")).read(), re.M)
                 if not n.startswith("cardvault")]
    missing = [n for n in functions if n not in ORDER and n not in OFF_PATH]
    if missing:
        raise SystemExit(f"bench.py has no event plan for {missing}: add them to ORDER and Plan")
    binaries = {n: os.path.join(args.bins, n) for n in functions + ["bench-hello", "bench-getitem"]}
    binaries["bench-getitem-variant"] = args.variant

    # Fixtures that every run reads: a customer with a card, a billing card.
    fixture_bins = args.fixture_bins or args.bins
    plan.run = lambda name, events, count: run_once(
        os.path.join(fixture_bins, name), events, count, envs["plain"])
    one = lambda name, ev: plan.run(name, lambda i: ev, 1)
    cust = one("create-customer", plan.events("create-customer")(0))
    plan.fixed["customer"] = str(json.loads(cust["bodies"][0])["id"])
    plan.fixed["customers"] = plan.fixed["customer"]
    plan.pools["customers"].append(plan.fixed["customer"])
    imported = one("import-stripe-connect", plan.events("import-stripe-connect")(0))
    plan.fixed["paymentMethod"] = str(json.loads(imported["bodies"][0])["id"])
    plan.pools["customers"].clear()
    cust_b = one("create-customer", plan.basic(plan.events("create-customer")(0), plan.b["privateApiKey"]))
    plan.fixed["customers-b"] = str(json.loads(cust_b["bodies"][0])["id"])
    card = one("card-create", plan.events("card-create")(0))
    plan.fixed["card"] = str(json.loads(card["bodies"][0])["id"])
    one("import-stripe", plan.events("import-stripe")(0))  # a card for the webhooks to name

    if args.count:
        sys.exit(0 if count_main(args, plan, binaries, envs["plain"]) else 1)

    order = [n for n in ORDER if not args.only or n in args.only]
    skipped = [n for n in order if not os.path.exists(binaries[n])]
    if skipped and not args.allow_missing:
        raise SystemExit(f"bench.py: not built: {skipped}")
    order = [n for n in order if n not in skipped]
    load_before = os.getloadavg()
    t0, i0 = cpu_busy()
    results = []
    for name in order:
        started = time.time()
        r = measure(name, binaries[name], plan, envs, args.runs, args.warm)
        results.append(r)
        t = r["tls"]
        print(f"bench: {name:28s} cold TLS {t['coldMs']:6.1f} ms  plain {r['plain']['coldMs']:6.1f} ms  "
              f"warm {t['warmMedianMs']:6.2f} ms  rss {t['peakRssMiB']:5.1f} MiB  "
              f"calls {calls_cell(t['coldCalls'])} / {calls_cell(t['warmCalls'])}  "
              f"status {t['statuses']}  ({time.time() - started:.0f} s)", flush=True)
    t1, i1 = cpu_busy()
    busy = 100.0 * (1 - (i1 - i0) / max(1, t1 - t0))
    meta = {
        "when": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(load_before, os.getloadavg(), busy),
        "runs": args.runs, "warm": args.warm, "projectNoJitter": bool(args.project_no_jitter),
        "notMeasured": skipped,
    }
    by = {r["name"]: r for r in results}
    tuned = by["bench-getitem" if args.project_no_jitter else "bench-getitem-variant"]
    verdicts, rt_overhead, handshake = judge(results, tuned, by["bench-hello"])
    ok = report(results, verdicts, rt_overhead, handshake, meta, args.out)
    svg_chart(results, os.path.join(args.out, "chart.svg"))
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"meta": meta, "results": results, "verdicts": verdicts}, f, indent=1)
    print(f"bench: wrote {args.out}/results.md, chart.svg, results.json; all ratios met: {ok}")
    # Times of a function that answered other than expected measure some other path.
    wrong = [f"{r['name']}: {r['unexpected'][:5]}, expected {EXPECTED[r['name']]}"
             for r in results if r["unexpected"]]
    for w in wrong:
        print(f"bench: UNEXPECTED ANSWER: {w}", flush=True)
    if wrong:
        sys.exit(f"bench: {len(wrong)} binaries answered other than expected")


if __name__ == "__main__":
    main()
