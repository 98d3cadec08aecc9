#!/usr/bin/env python3
"""Local stand-in for Google's reCAPTCHA v2 siteverify endpoint (dev/test only).

    POST /recaptcha/api/siteverify   secret, response[, remoteip]
                                     form-encoded body or query string, like Google
    GET  /.well-known/jwks.json      the local identity provider's JWKS: the file given
                                     with --jwks-file, which bootstrap.py writes (404 until)
    GET  /health                     200 {"ok":true}

Tokens (the `response` field):
  * ``cardvault-test-pass`` (env SITEVERIFY_PASS_TOKEN) passes and stays reusable.
  * ``cardvault-test-pass@<host>`` passes and reports ``hostname: <host>``, so tests
    can exercise a hostname mismatch. Otherwise hostname is env SITEVERIFY_HOSTNAME
    (default ``localhost``).
  * ``cardvault-test-pass#<nonce>`` (optionally with ``@<host>`` after the nonce)
    passes once; a second use answers ``timeout-or-duplicate``, as a real token does.
  * anything else fails with ``invalid-input-response``; a failed token used again
    answers ``timeout-or-duplicate``, as Google does for any token seen before.

Secrets: only those in env SITEVERIFY_SECRETS (comma-separated; default
``platform-recaptcha-secret``) are accepted.

Error codes, Google's: missing-input-secret, invalid-input-secret,
missing-input-response, invalid-input-response, timeout-or-duplicate, bad-request.

Never logs tokens or secrets: one line per request (method, path, status).
"""

import argparse
import datetime
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

VERIFY_PATH = "/recaptcha/api/siteverify"
JWKS_PATH = "/.well-known/jwks.json"
JWKS_FILE = None  # set from --jwks-file
MAX_BODY = 64 * 1024

PASS_TOKEN = os.environ.get("SITEVERIFY_PASS_TOKEN", "cardvault-test-pass")
SECRETS = {
    s.strip()
    for s in os.environ.get("SITEVERIFY_SECRETS", "platform-recaptcha-secret").split(",")
    if s.strip()
}
DEFAULT_HOSTNAME = os.environ.get("SITEVERIFY_HOSTNAME", "localhost")

_seen_lock = threading.Lock()
_seen = set()  # single-use tokens already verified (in memory only)


def _now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fail(*codes):
    return {"success": False, "error-codes": list(codes)}


def _parse_pass(token):
    """Return (hostname, single_use) for a pass token, or None."""
    if not token.startswith(PASS_TOKEN):
        return None
    rest = token[len(PASS_TOKEN):]
    single_use = False
    hostname = DEFAULT_HOSTNAME
    if rest.startswith("#"):
        nonce, _, host = rest[1:].partition("@")
        if not nonce:
            return None
        single_use = True
        if host:
            hostname = host
        elif "@" in rest:
            return None
    elif rest.startswith("@"):
        if len(rest) == 1:
            return None
        hostname = rest[1:]
    elif rest:
        return None
    return hostname, single_use


def verify(fields):
    """Google's decision for one request's fields (dict of str -> str)."""
    secret = fields.get("secret", "")
    token = fields.get("response", "")
    if not secret:
        return _fail("missing-input-secret") if token else _fail(
            "missing-input-secret", "missing-input-response")
    if secret not in SECRETS:
        return _fail("invalid-input-secret") if token else _fail(
            "invalid-input-secret", "missing-input-response")
    if not token:
        return _fail("missing-input-response")

    parsed = _parse_pass(token)
    reusable = parsed is not None and not parsed[1]
    if not reusable:
        with _seen_lock:
            if token in _seen:
                return _fail("timeout-or-duplicate")
            _seen.add(token)
    if parsed is None:
        return _fail("invalid-input-response")
    return {
        "success": True,
        "challenge_ts": _now_iso(),
        "hostname": parsed[0],
        "error-codes": [],
    }


class Handler(BaseHTTPRequestHandler):
    server_version = "siteverify-standin/1"
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # avoid ~40 ms delayed-ACK stalls on keep-alive

    def _send(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = urlsplit(self.path).path
        if path == "/health":
            self._send(200, {"ok": True})
        elif path == VERIFY_PATH:
            # Google answers GET too; the form is read from the query string.
            self._verify(b"")
        elif path == JWKS_PATH and JWKS_FILE:
            try:
                with open(JWKS_FILE) as f:
                    self._send(200, json.load(f))
            except (OSError, ValueError):
                self._send(404, {"error": "no JWKS yet"})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self):
        if urlsplit(self.path).path != VERIFY_PATH:
            self._drain()
            self._send(404, {"error": "not found"})
            return
        length = self._length()
        if length is None or length > MAX_BODY:
            self.close_connection = True
            self._send(400, _fail("bad-request"))
            return
        self._verify(self.rfile.read(length) if length else b"")

    def _length(self):
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        return n if n >= 0 else None

    def _drain(self):
        n = self._length()
        if n and n <= MAX_BODY:
            self.rfile.read(n)
        else:
            self.close_connection = True

    def _verify(self, body):
        # Query string first, then the body overrides: Google accepts either.
        fields = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            self._send(200, _fail("bad-request"))
            return
        fields.update({k: v[0] for k, v in parse_qs(text).items()})
        self._send(200, verify(fields))

    def log_message(self, fmt, *args):  # noqa: A003 - keep secrets out of logs
        pass

    def log_request(self, code="-", size="-"):
        path = urlsplit(self.path).path  # no query string: it may carry the secret
        sys.stderr.write(f"siteverify {self.command} {path} {code}\n")
        sys.stderr.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    ap.add_argument("--jwks-file", help="serve this JWKS at " + JWKS_PATH)
    args = ap.parse_args()
    global JWKS_FILE
    JWKS_FILE = args.jwks_file
    srv = ThreadingHTTPServer((args.host, args.port), Handler)
    srv.daemon_threads = True
    sys.stderr.write(f"siteverify listening on http://{args.host}:{args.port}{VERIFY_PATH}\n")
    sys.stderr.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
