"""make sam-local's checks (infra/sam-local.sh prepares Docker, the image, the build and the
gateway, then runs this):

1. `sam local invoke` on every function of template.yaml with its events/ file, and the same
   event through `cargo lambda invoke` (the same code, run directly by the stack's
   fleet, infra/fleet.py): the status and the shape of the body must match. Then the merchant
   API with a real key (create, then read back), the same way.
2. `sam local start-api`: one request per dialect through SAM's own API Gateway emulation.

    sam_local.py invoke|start-api --facts STACK_JSON --gateway-ports PORTS_JSON --gateway IP
                 --image TAG --template BUILT_TEMPLATE --arch ARCH --work DIR

Prints one line per check and exits non-zero on the first mismatch.
"""

import argparse
import base64
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".tools", "venv", "bin")
SAM = os.path.join(VENV, "sam")
# sam local invoke processes at once.
PARALLEL = int(os.environ.get("CARDVAULT_SAM_PARALLEL", "4"))


def functions(template_path):
    """(logical id, binary) of every function, in the template's order: the Binary under
    each function's Metadata (a line scan, as tests/tests/events.rs reads it)."""
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
        sys.exit(f"sam-local: FAILED: {who}: no statusCode in {raw[:300]!r}")
    return status, body


class Checks:
    def __init__(self, args):
        self.args = args
        with open(args.facts) as f:
            self.facts = json.load(f)
        with open(args.gateway_ports) as f:
            ports = json.load(f)
        os.makedirs(args.work, exist_ok=True)
        self.env_file = os.path.join(args.work, "env.json")
        with open(self.env_file, "w") as f:
            json.dump(env_vars(self.facts, args.gateway, ports), f, indent=2)
        self.sam_common = [
            "--template", args.template,
            "--env-vars", self.env_file,
            "--invoke-image", args.image,
            "--skip-pull-image",
            "--parameter-overrides", f"Architecture={args.arch} LocalStandIns=true",
        ]

    def event_file(self, name, event):
        path = os.path.join(self.args.work, f"{name}.json")
        with open(path, "w") as f:
            json.dump(event, f)
        return path

    def sam_invoke(self, logical, path, plain=False):
        t0 = time.monotonic()
        out = subprocess.run(
            [SAM, "local", "invoke", logical, "--event", path, *self.sam_common],
            capture_output=True, text=True, cwd=ROOT, timeout=300)
        log = os.path.join(self.args.work, f"{logical}.log")
        with open(log, "w") as f:
            f.write(out.stderr)
        if out.returncode != 0 or not out.stdout.strip():
            tail = "\n".join(out.stderr.strip().splitlines()[-15:])
            sys.exit(f"sam-local: FAILED: sam local invoke {logical} (exit {out.returncode}):\n{tail}")
        # The response is the last line SAM prints on stdout.
        return answer(out.stdout.strip().splitlines()[-1], logical, plain), time.monotonic() - t0

    def direct_invoke(self, binary, path, plain=False):
        out = subprocess.run(
            [os.path.join(VENV, "cargo-lambda"), "lambda", "invoke",
             "--invoke-address", "127.0.0.1",
             "--invoke-port", str(self.facts["lambdaInvokePort"]),
             "--output-format", "json", "--data-file", path, binary],
            capture_output=True, text=True, cwd=ROOT, timeout=300)
        if out.returncode != 0:
            sys.exit(f"sam-local: FAILED: cargo lambda invoke {binary}: {out.stderr.strip()[-500:]}")
        return answer(out.stdout, binary, plain)

    def compare(self, logical, binary, event, label, want=None):
        return self.report(self.run_both(logical, binary, event, label), want)

    def run_both(self, logical, binary, event, label):
        path = self.event_file(f"{binary}.{label}", event)
        # A function without a route (rehome-cards) takes its own payload, not an API event.
        plain = "requestContext" not in event
        (sam_status, sam_body), took = self.sam_invoke(logical, path, plain)
        direct_status, direct_body = self.direct_invoke(binary, path, plain)
        return logical, label, sam_status, sam_body, direct_status, direct_body, took

    def report(self, result, want=None):
        logical, label, sam_status, sam_body, direct_status, direct_body, took = result
        same = sam_status == direct_status and shape(sam_body) == shape(direct_body)
        print(f"  {logical:<34} {label:<9} sam {sam_status} / direct {direct_status}"
              f"  {'same shape' if same else 'DIFFERENT'}  ({took:.1f} s)", flush=True)
        if sam_status == "error":
            sys.exit(f"sam-local: FAILED: {logical}: the function failed: {json.dumps(sam_body)[:400]}")
        if not same:
            sys.exit(f"sam-local: FAILED: {logical}: sam local invoke answered {sam_status} "
                     f"{json.dumps(sam_body)[:400]}\n  cargo lambda invoke answered "
                     f"{direct_status} {json.dumps(direct_body)[:400]}")
        if want is not None and sam_status != want:
            sys.exit(f"sam-local: FAILED: {logical}: {sam_status}, expected {want}: {sam_body}")
        return sam_body, direct_body

    def invoke_all(self):
        listed = functions(self.args.template)
        if len(listed) < 20:
            sys.exit(f"sam-local: FAILED: only {len(listed)} functions found in {self.args.template}")
        t0 = time.monotonic()
        # As shipped, each event carries a placeholder credential: both answer the dialect's
        # own 4xx, after the function has read the table. A few at a time: most of each
        # sam local invoke is SAM's and Docker's start-up, not the function.
        def shipped(function):
            logical, binary = function
            with open(os.path.join(ROOT, "events", f"{binary}.json")) as f:
                return self.run_both(logical, binary, json.load(f), "shipped")

        with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            for result in pool.map(shipped, listed):
                self.report(result)
        # A real key: a customer is created and read back, on each side.
        key = self.facts["tenants"][0]["privateApiKey"]
        auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        with open(os.path.join(ROOT, "events", "create-customer.json")) as f:
            create = json.load(f)
        create["headers"]["authorization"] = auth
        sam_made, direct_made = self.compare(
            "CreateCustomerFunction", "create-customer", create, "real key", want=200)
        with open(os.path.join(ROOT, "events", "get-customer.json")) as f:
            get = json.load(f)
        get["headers"]["authorization"] = auth
        for made, label in ((sam_made, "sam"), (direct_made, "direct")):
            get["pathParameters"]["id"] = str(made["id"])
            get["rawPath"] = get["requestContext"]["http"]["path"] = f"/v1/customers/{made['id']}"
            self.compare("GetCustomerFunction", "get-customer", get, f"{label} id", want=200)
        print(f"sam-local: {len(listed)} functions and 3 real-key calls through sam local invoke, "
              f"{time.monotonic() - t0:.0f} s", flush=True)

    def start_api(self):
        port = free_port()
        log_path = os.path.join(self.args.work, "start-api.log")
        t0 = time.monotonic()
        with open(log_path, "w") as log:
            api = subprocess.Popen(
                [SAM, "local", "start-api", "--host", "127.0.0.1", "--port", str(port),
                 *self.sam_common],
                stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
        try:
            base = f"http://127.0.0.1:{port}"
            while True:
                if api.poll() is not None:
                    sys.exit(f"sam-local: FAILED: sam local start-api exited; see {log_path}")
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    if time.monotonic() - t0 > 120:
                        sys.exit(f"sam-local: FAILED: sam local start-api not up in 120 s; see {log_path}")
                    time.sleep(0.5)
            print(f"  start-api up on {base} ({time.monotonic() - t0:.1f} s)", flush=True)
            self.one_per_dialect(base)
        finally:
            os.killpg(api.pid, 15)
            try:
                api.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(api.pid, 9)
                api.wait()
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
