"""make sam-local's checks (infra/sam-local.sh prepares Docker, the image, the build and the
gateway, then runs this):

1. Every function of template.yaml under `sam local start-lambda` (the same container and
   runtime emulator as `sam local invoke`, one warm container per function), two events each:
   - its events/ file as shipped (a placeholder credential): the status events/expected.toml
     names, and the same status and body shape from the same event through `cargo lambda
     invoke` (the same code run directly by the stack's fleet, infra/fleet.py);
   - one with real credentials (a merchant key, an HS256 bearer JWT, a public key from the
     tenant's origin, a webhook signed with the tenant's secret; infra/bench/bench.py's
     plan, on fixtures made through the fleet first): the status bench.py expects of it,
     2xx, and no dialect's error envelope. The stream and ops functions take no
     credentials: their shipped event is a valid one, and their answer is checked.
   A 500 on both sides fails, as does any other status than the named one.
2. `sam local start-api`: one request per dialect through SAM's own API Gateway emulation.

    sam_local.py invoke|start-api --facts STACK_JSON --gateway-ports PORTS_JSON --gateway IP
                 --image TAG --template BUILT_TEMPLATE --arch ARCH --work DIR

Prints one line per check and exits non-zero after them if any failed.
"""

import argparse
import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".tools", "venv", "bin")
SAM = os.path.join(VENV, "sam")
# bench.py's event plan: a real-credential event for every function, and its one answer.
sys.path.insert(0, os.path.join(ROOT, "infra", "bench"))
import bench  # noqa: E402
# The functions with no real-credential event, and why: every other one must have one, or
# the run fails (a function dropped from bench.py's plan would otherwise lose its real call
# silently).
NO_REAL_EVENT = {
    "audit-chain": "a DynamoDB stream event carries no credentials; its shipped event is a valid one",
}
# sam local invoke processes at once.
PARALLEL = int(os.environ.get("CARDVAULT_SAM_PARALLEL", "4"))


def functions(template_path):
    """(logical id, binary) of every function, in the template's order: the Binary under
    each function's Metadata (a line scan, as tests/tests/integration/events.rs reads it)."""
    found, logical = [], None
    with open(template_path) as f:
        for line in f:
            m = re.match(r"^  (\w+):\s*$", line)
            if m:
                logical = m.group(1)
            m = re.match(r"^\s+Binary:\s*([\w-]+)\s*$", line)
            if m and logical:
                found.append((logical, m.group(1)))
    return found


OPERATOR_ARN = "arn:aws:sts::123456789012:user/moto"


def sts_url(gateway, ports):
    """moto's STS as a container reaches it (through the bridge gateway)."""
    return f"http://{gateway}:{ports['secretsmanager']}"


def caller_for(sts, payload):
    """`payload` signed by the operator for the STS at `sts` (cardvault-admin
    caller-identity, bound to it): re-homing checks the host it was signed for is its own
    STS, and that the signature is minutes old at most."""
    return bench.signed({k: v for k, v in payload.items() if k != "caller"},
                        env=dict(os.environ, AWS_ENDPOINT_URL_STS=sts))


def env_vars(facts, gateway, ports):
    """The env-vars file: the stand-ins through the bridge gateway, and the local stack's
    secret ids and issuer. Only variables the template declares reach a function."""
    url = lambda name: f"http://{gateway}:{ports[name]}"  # noqa: E731
    secrets = facts["secrets"]
    return {
        "Parameters": {
            "TABLE_NAME": facts["table"],
            "AWS_REGION": facts["aws"]["region"],
            "AWS_ENDPOINT_URL_DYNAMODB": url("dynamodb"),
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": url("secretsmanager"),
            # moto serves KMS on its Secrets Manager port.
            "AWS_ENDPOINT_URL_KMS": url("secretsmanager"),
            # moto's STS (same port): re-homing asks it who signed the operator's caller.
            "AWS_ENDPOINT_URL_STS": url("secretsmanager"),
            # The principal moto's STS answers for the stack's credentials (as stack.sh).
            "OPERATOR_ROLE_ARN": OPERATOR_ARN,
            "STRIPE_API_BASE": url("stripe"),
            "RECAPTCHA_VERIFY_URL": f"{url('siteverify')}/recaptcha/api/siteverify",
            "STRIPE_PUBLISHABLE_KEY": "pk_test_cardvault_platform",
            # A JWKS over plain http is accepted on loopback only, and the container's loopback
            # is not this machine's: the functions run as a deployment without an identity
            # provider does, with HS256 tokens signed by the stack's secret.
            "JWT_JWKS_URL": "",
            "JWT_ISSUER": os.environ.get("JWT_ISSUER", "cardvault-local"),
            "JWT_AUDIENCE": os.environ.get("JWT_AUDIENCE", "cardvault-local"),
            "JWT_HS256_SECRET_ID": "cardvault/jwt-hs256",
            "STRIPE_PLATFORM_SECRET_ID": secrets.get("stripePlatform", "cardvault/stripe-platform"),
            "RECAPTCHA_SECRET_ID": secrets.get("recaptcha", "cardvault/recaptcha"),
            "FINGERPRINT_KEY_SECRET_ID": secrets.get("fingerprintKey", "cardvault/fingerprint-key"),
            "CURSOR_KEY_SECRET_ID": secrets.get("cursorKey", "cardvault/cursor-key"),
            "VAULT_KMS_KEY_ID": "alias/cardvault-vault",
            "AUDIT_KMS_KEY_ID": "alias/cardvault-audit",
            "STRIPE_WEBHOOK_SECRET_ID": secrets.get("stripeWebhook", "cardvault/webhook/platform"),
            "RUST_LOG": "info",
        }
    }


def shape(value):
    """A JSON value's structure: keys and types, not values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return "string"


def answer(raw, who, plain=False):
    """(status, body as JSON or text) of a Lambda proxy response; for a function without a
    route (plain), ("ok" or "error", the payload it answered)."""
    response = json.loads(raw)
    if plain:
        return ("error" if "errorType" in response else "ok"), response
    status = response.get("statusCode")
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    try:
        body = json.loads(body) if body else None
    except json.JSONDecodeError:
        pass
    if not isinstance(status, int):
        raise Failed(f"{who}: no statusCode in {raw[:300]!r}")
    return status, body


class Failed(Exception):
    """A check that failed: reported with the others once all have run."""


# The ops events shipped to be refused, and how their refusal begins: re-homing's carries
# a placeholder caller, signed for no STS the function uses.
REFUSED_AS_SHIPPED = {"rehome-cards": "caller: "}


def content(binary, body):
    """What is wrong with the body of an expected 2xx or payload (empty: nothing): an error
    envelope of any dialect; for the stream and ops functions, their own payload's."""
    if binary == "audit-chain":
        return [] if body == {"batchItemFailures": []} else [f"chained with failures: {body}"]
    if binary == "rehome-cards":
        return [] if isinstance(body, dict) and "errorType" not in body else [f"answered {body}"]
    if not isinstance(body, dict):
        return []
    if body.get("Errors") or body.get("code") not in (None, "OK") or isinstance(body.get("error"), str):
        return [f"an error envelope: {json.dumps(body)[:300]}"]
    return []


def mint_hs256(jwt, who):
    """An HS256 bearer JWT with the stack's secret and `who`'s claims, as `cardvault-admin
    mint-jwt --secret` makes one: the functions under SAM have no JWKS (see env_vars)."""
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
    now = int(time.time())
    claims = {"iss": jwt["issuer"], "aud": jwt["audience"], "sub": who["sub"],
              "iat": now, "nbf": now, "exp": now + 3600, jwt["claims"]["tenant"]: who["tenant"]}
    for claim in ("account", "role"):
        if who.get(claim):
            claims[jwt["claims"][claim]] = who[claim]
    signing = (b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "."
               + b64(json.dumps(claims).encode()))
    mac = hmac.new(jwt["hs256Secret"].encode(), signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{b64(mac)}"


def fleet_invoke(facts, binary, event):
    """The function run directly by the stack's fleet (the Lambda Invoke API it serves)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{facts['lambdaInvokePort']}/2015-03-31/functions/{binary}/invocations",
        data=json.dumps(event).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=120) as response:
        return answer(response.read().decode(), binary)


def real_events(facts, binaries):
    """binary -> an event with real credentials, from bench.py's plan; the records it reads
    or consumes (a customer, payment methods, billing cards, a card of tenant b's own
    Stripe account for the webhook) made first through the fleet, with the stack's RS256
    tokens. The events for SAM carry HS256 tokens of the same users."""
    plan = bench.Plan(facts, facts["stripeUrl"], facts["recaptcha"]["passToken"])
    a, b = facts["tenants"][0]["privateApiKey"], facts["tenants"][1]["privateApiKey"]

    def made(binary, event):
        status, body = fleet_invoke(facts, binary, event)
        if status != bench.EXPECTED[binary]:
            sys.exit(f"sam-local: FAILED: fixture {binary}: {status} {body}")
        return str(body["id"])

    customer = lambda key: made("create-customer", plan.basic(plan.events("create-customer")(0), key))  # noqa: E731
    plan.fixed["customer"] = plan.fixed["customers"] = customer(a)
    plan.pools["customers"].append(plan.fixed["customer"])
    plan.fixed["paymentMethod"] = made("import-stripe-connect", plan.events("import-stripe-connect")(0))
    # One more, for the delete; a fresh customer for the redirect's card.
    plan.pools["paymentMethods"].append(made("import-stripe-connect", plan.events("import-stripe-connect")(0)))
    plan.pools["customers"][:] = [customer(a)]
    plan.fixed["customers-b"] = customer(b)
    plan.fixed["card"] = made("card-create", plan.events("card-create")(0))
    plan.pools["cards"].append(made("card-create", plan.events("card-create")(0)))
    # Tenant b's card, imported: the webhook's event names it (fixed["stripe-b"]).
    made("import-stripe", plan.events("import-stripe")(0))
    webhook = plan.events("stripe-webhook")(0)

    tokens = facts["jwt"]["tokens"]
    plan.user, plan.owner, plan.admin = (mint_hs256(facts["jwt"], tokens[who])
                                        for who in ("demo-a", "owner", "admin"))
    events = {}
    for binary in binaries:
        if binary == "stripe-webhook":
            events[binary] = webhook
        elif binary in bench.ORDER:
            events[binary] = plan.events(binary)(0)
    return events


def without_real_event(binaries, events):
    """The functions that have no real-credential event and are not in NO_REAL_EVENT, and
    those in NO_REAL_EVENT that have one after all or are gone (the list must stay true)."""
    return sorted((set(binaries) - set(events)) ^ set(NO_REAL_EVENT))


def wait_listening(process, port, log_path, what):
    """Until `process` (a sam local server) accepts connections on `port`."""
    t0 = time.monotonic()
    while True:
        if process.poll() is not None:
            sys.exit(f"sam-local: FAILED: sam local {what} exited; see {log_path}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() - t0 > 120:
                sys.exit(f"sam-local: FAILED: sam local {what} not up in 120 s; see {log_path}")
            time.sleep(0.5)


class Checks:
    def __init__(self, args):
        self.args = args
        with open(args.facts) as f:
            self.facts = json.load(f)
        with open(args.gateway_ports) as f:
            ports = json.load(f)
        self.sts = sts_url(args.gateway, ports)
        os.makedirs(args.work, exist_ok=True)
        self.env_file = os.path.join(args.work, "env.json")
        with open(self.env_file, "w") as f:
            json.dump(env_vars(self.facts, args.gateway, ports), f, indent=2)
        self.sam_common = [
            "--template", args.template,
            "--env-vars", self.env_file,
            "--invoke-image", args.image,
            "--skip-pull-image",
            "--parameter-overrides", f"Architecture={args.arch} LocalStandIns=true Stage=dev"
            " KeyAdministratorRoleArn=arn:aws:iam::123456789012:role/local-key-admin"
            " OperatorRoleArn=arn:aws:iam::123456789012:role/local-operator",
        ]

    def event_file(self, name, event):
        path = os.path.join(self.args.work, f"{name}.json")
        with open(path, "w") as f:
            json.dump(event, f)
        return path

    def direct_invoke(self, binary, path, plain=False):
        out = subprocess.run(
            [os.path.join(VENV, "cargo-lambda"), "lambda", "invoke",
             "--invoke-address", "127.0.0.1",
             "--invoke-port", str(self.facts["lambdaInvokePort"]),
             "--output-format", "json", "--data-file", path, binary],
            capture_output=True, text=True, cwd=ROOT, timeout=300)
        if out.returncode != 0:
            raise Failed(f"cargo lambda invoke {binary}: {out.stderr.strip()[-500:]}")
        return answer(out.stdout, binary, plain)

    @contextlib.contextmanager
    def sam_server(self, what, *extra):
        """`sam local start-lambda` or `start-api` on a free loopback port, until the block
        ends; yields its base URL."""
        port = free_port()
        log_path = os.path.join(self.args.work, f"{what}.log")
        t0 = time.monotonic()
        with open(log_path, "w") as log:
            sam = subprocess.Popen(
                [SAM, "local", what, "--host", "127.0.0.1", "--port", str(port), *extra,
                 *self.sam_common],
                stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
        try:
            wait_listening(sam, port, log_path, what)
            print(f"  {what} up on 127.0.0.1:{port} ({time.monotonic() - t0:.1f} s)", flush=True)
            yield f"http://127.0.0.1:{port}"
        finally:
            # SIGINT, as Ctrl-C: SAM removes its containers (warm ones too) on the way out,
            # one `docker stop` at a time: on a loaded machine 23 of them outlast any wait
            # (seen: SIGKILL after 60 s, all left). What SAM has not removed by then, we do.
            os.killpg(sam.pid, signal.SIGINT)
            try:
                sam.wait(timeout=30)
            except subprocess.TimeoutExpired:
                removed = self.remove_containers()
                print(f"  {what}: SAM still stopping after 30 s; removed {removed} of its "
                      "containers", flush=True)
                try:
                    sam.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(sam.pid, signal.SIGKILL)
                    sam.wait()
                self.remove_containers()

    def remove_containers(self):
        """Removes the containers of this run's image (sam local's): how many there were."""
        ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"ancestor={self.args.image}"],
                             capture_output=True, text=True, check=False).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False)
        return len(ids)

    def sam_invoke(self, base, logical, event, plain=False):
        """One invocation through start-lambda's Invoke API: (status, body), seconds."""
        t0 = time.monotonic()
        request = urllib.request.Request(
            f"{base}/2015-03-31/functions/{logical}/invocations",
            data=json.dumps(event).encode(), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                raw = response.read().decode()
        except urllib.error.HTTPError as e:
            raise Failed(f"sam local start-lambda {logical}: {e.code} {e.read().decode()[:400]}")
        return answer(raw, logical, plain), time.monotonic() - t0

    def check_function(self, base, logical, binary, real_event):
        """Both events of one function, on its one warm container. Answers its lines and
        its failures."""
        lines, failures = [], []
        with open(os.path.join(ROOT, "events", f"{binary}.json")) as f:
            shipped = json.load(f)
        plain = "requestContext" not in shipped
        want = self.expected[binary]
        try:
            (status, body), took = self.sam_invoke(base, logical, shipped, plain)
            path = self.event_file(f"{binary}.shipped", shipped)
            direct_status, direct_body = self.direct_invoke(binary, path, plain)
        except Failed as e:
            return lines, [f"{logical}: {e}"]
        same = status == direct_status and shape(body) == shape(direct_body)
        lines.append(f"  {logical:<34} shipped   sam {status} / direct {direct_status} "
                     f"(expected {want})  {'same shape' if same else 'DIFFERENT'}  ({took:.1f} s)")
        if status != want or direct_status != want:
            failures.append(f"{logical}: the shipped event: sam {status}, direct {direct_status}, "
                            f"expected {want}: {json.dumps(body)[:400]}")
        elif not same:
            failures.append(f"{logical}: sam answered {json.dumps(body)[:300]}, "
                            f"cargo lambda {json.dumps(direct_body)[:300]}")
        elif plain and want == "ok":
            # A refusal's body is its dialect's error envelope; a payload is checked.
            failures += [f"{logical}: the shipped event: {f}" for f in content(binary, body)]
        elif plain and not str(body.get("errorMessage", "")).startswith(REFUSED_AS_SHIPPED.get(binary, "?")):
            # An ops event refused as shipped: for the reason expected.toml says, not another.
            failures.append(f"{logical}: the shipped event was refused otherwise: {json.dumps(body)[:300]}")
        if real_event is None:
            return lines, failures
        want = bench.EXPECTED[binary]
        try:
            (status, body), took = self.sam_invoke(base, logical, real_event, plain)
        except Failed as e:
            return lines, failures + [f"{logical}: {e}"]
        lines.append(f"  {logical:<34} real      sam {status} (expected {want})  ({took:.1f} s)")
        if status != want:
            failures.append(f"{logical}: with real credentials: {status}, expected {want}: "
                            f"{json.dumps(body)[:400]}")
        else:
            failures += [f"{logical}: with real credentials: {f}" for f in content(binary, body)]
        return lines, failures

    def invoke_all(self):
        listed = functions(self.args.template)
        if len(listed) < 20:
            sys.exit(f"sam-local: FAILED: only {len(listed)} functions found in {self.args.template}")
        with open(os.path.join(ROOT, "events", "expected.toml"), "rb") as f:
            self.expected = tomllib.load(f)["shipped"]
        unnamed = sorted({b for _, b in listed} ^ set(self.expected))
        if unnamed:
            sys.exit(f"sam-local: FAILED: events/expected.toml and template.yaml differ: {unnamed}")
        t0 = time.monotonic()
        real = real_events(self.facts, [b for _, b in listed])
        unreal = without_real_event([b for _, b in listed], real)
        if unreal:
            sys.exit(f"sam-local: FAILED: no real-credential event for {unreal} "
                     f"(bench.py's plan, or NO_REAL_EVENT with a reason)")
        print(f"  real-credential events and their fixtures, through the fleet "
              f"({time.monotonic() - t0:.1f} s)", flush=True)
        failures = []
        # One warm container per function, made on its first invocation and reused: each
        # function's events share one container start. A few functions at a time: most of a
        # first invocation is that start.
        with self.sam_server("start-lambda", "--warm-containers", "LAZY") as base, \
                ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            checks = pool.map(lambda fb: self.check_function(base, *fb, self.fresh(real, fb[1])), listed)
            for lines, failed in checks:
                print("\n".join(lines), flush=True)
                failures += failed
        for f in failures:
            print(f"sam-local: FAILED: {f}", file=sys.stderr, flush=True)
        if failures:
            sys.exit(f"sam-local: {len(failures)} checks failed")
        print(f"sam-local: {len(listed)} functions through sam local start-lambda: each shipped "
              f"event and {len(real)} real-credential calls, {time.monotonic() - t0:.0f} s", flush=True)

    def fresh(self, real, binary):
        """The real event of `binary`, re-homing's signed now for the STS the function sees
        under SAM (bench signed it for this machine's, minutes ago)."""
        event = real.get(binary)
        if binary == "rehome-cards" and event is not None:
            return caller_for(self.sts, event)
        return event

    def start_api(self):
        t0 = time.monotonic()
        with self.sam_server("start-api") as base:
            self.one_per_dialect(base)
        print(f"sam-local: one request per dialect through sam local start-api, "
              f"{time.monotonic() - t0:.0f} s", flush=True)

    def one_per_dialect(self, base):
        tenant = self.facts["tenants"][0]
        key = tenant["privateApiKey"]
        basic = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        token = self.facts["jwt"]["tokens"]["hs256"]["token"]
        checks = [
            # Fusebill merchant API: a customer created through the API answers 200.
            ("fusebill", "POST", "/v1/customers", {"authorization": basic},
             {"firstName": "Sam", "lastName": "Local", "primaryEmail": "sam@example.com"},
             200, lambda b: isinstance(b, dict) and b.get("firstName") == "Sam"),
            # Fusebill transparent redirect: the preflight from the tenant's allowed origin.
            ("redirect", "OPTIONS", "/api/paymentsv2",
             {"origin": tenant["allowedOrigin"], "access-control-request-method": "POST"},
             None, 204, None),
            # Rechat user API: the tenant's customers for a bearer token.
            ("rechat", "GET", "/payments/stripe/customers",
             {"authorization": f"Bearer {token}"}, None, 200, lambda b: isinstance(b, (list, dict))),
            # EmbedThis billing cards: /card/find for a bearer token.
            ("embedthis", "POST", "/card/find", {"authorization": f"Bearer {token}"}, None,
             200, lambda b: isinstance(b, dict) and isinstance(b.get("data"), list)),
        ]
        for dialect, method, path, headers, body, want, ok in checks:
            data = json.dumps(body).encode() if body is not None else None
            request = urllib.request.Request(base + path, data=data, method=method,
                                             headers={"content-type": "application/json", **headers})
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    status, text = response.status, response.read().decode()
            except urllib.error.HTTPError as e:
                status, text = e.code, e.read().decode()
            try:
                parsed = json.loads(text) if text else None
            except json.JSONDecodeError:
                parsed = text
            good = status == want and (ok is None or ok(parsed))
            print(f"  {dialect:<10} {method} {path}: {status} ({time.monotonic() - t0:.1f} s)", flush=True)
            if not good:
                sys.exit(f"sam-local: FAILED: start-api {dialect} {method} {path}: {status}, "
                         f"expected {want}: {text[:400]}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["invoke", "start-api"])
    for flag in ("--facts", "--gateway-ports", "--gateway", "--image", "--template", "--arch", "--work"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()
    checks = Checks(args)
    if args.what == "invoke":
        checks.invoke_all()
    else:
        checks.start_api()


if __name__ == "__main__":
    main()
