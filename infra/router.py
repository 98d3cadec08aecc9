#!/usr/bin/env python3
"""Dev-only front door that stands in for API Gateway (HTTP API) locally.

It reads template.yaml, routes each request by its `HttpApi` events to the
function's cargo binary, sends the fleet (infra/fleet.py) the payload-format-2.0
event that API Gateway would send, and turns the Lambda proxy response back
into HTTP.

    router.py --template template.yaml --port 8080 --lambda-url http://127.0.0.1:9000

Faithful to AWS where it matters to the code under test:
  * routes: literal segments beat `{param}` beat `{proxy+}`; a method-specific
    route beats ANY; no match (or wrong method) is 404 {"message":"Not Found"};
  * bodies are plain text only for text/*, application/json, application/xml
    and application/javascript; anything else, form posts and a missing
    Content-Type included, arrives base64-encoded with isBase64Encoded true;
  * the Cookie header moves to `cookies`; repeated headers and query
    parameters are comma-joined; names are lower-cased;
  * a function error is 500 {"message":"Internal Server Error"}, an
    unreachable or timed-out function 503 {"message":"Service Unavailable"}.
Bodies above --max-body (1 MiB) get 413 without reaching the function.

Also serves the API reference (not an AWS route): GET /docs renders openapi.yaml with
the Redoc bundle that infra/tools.sh vendors into .tools/ (no CDN at run time).

Logs one line per request (method, path, status, ms): never bodies, headers
or query strings, which carry card numbers and keys.
"""

import argparse
import base64
import http.client
import json
import os
import secrets
import sys
import time
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import yaml

TEXT_TYPES = {"application/json", "application/xml", "application/javascript"}
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
              "transfer-encoding", "upgrade", "expect"}


# --- the API reference at /docs ------------------------------------------------

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMPTY_SVG = b"data:image/svg+xml,%3Csvg xmlns=%27http://www.w3.org/2000/svg%27/%3E"
DOCS = {
    "/docs": (os.path.join(ROOT, "infra", "docs.html"), "text/html; charset=utf-8"),
    "/docs/openapi.yaml": (os.path.join(ROOT, "openapi.yaml"), "application/yaml"),
    "/docs/redoc.standalone.js": (
        os.path.join(ROOT, ".tools", "npm", "node_modules", "redoc", "bundles",
                     "redoc.standalone.js"), "application/javascript"),
}


# --- template ----------------------------------------------------------------

class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation's `!Ref`, `!GetAtt`, `!Sub`... as plain values."""


def _cfn_tag(loader, _suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


_CfnLoader.add_multi_constructor("!", _cfn_tag)


class Route:
    def __init__(self, method, path, binary, function):
        self.method = method  # upper-case, or "ANY"
        self.path = path  # as in the template, e.g. /v1/customers/{id}; "$default"
        self.binary = binary
        self.function = function
        self.route_key = "$default" if path == "$default" else f"{method} {path}"
        self.segments = [] if path == "$default" else path.strip("/").split("/")
        greedy = bool(self.segments) and self.segments[-1].endswith("+}")
        literals = sum(1 for s in self.segments if not s.startswith("{"))
        # Higher sorts first: no $default, not greedy, more literal segments,
        # longer, method-specific before ANY.
        self.rank = (path != "$default", not greedy, literals, len(self.segments),
                     method != "ANY")

    def match(self, method, raw_path):
        """Path parameters (decoded) if this route takes the request, else None."""
        if self.method not in ("ANY", method):
            return None
        if self.path == "$default":
            return {}
        parts = raw_path.strip("/").split("/")
        params = {}
        for i, seg in enumerate(self.segments):
            if seg.startswith("{") and seg.endswith("+}"):
                rest = parts[i:]
                if not rest or rest == [""]:
                    return None
                params[seg[1:-2]] = unquote("/".join(rest))
                return params
            if i >= len(parts):
                return None
            if seg.startswith("{") and seg.endswith("}"):
                if parts[i] == "":
                    return None
                params[seg[1:-1]] = unquote(parts[i])
            elif seg != parts[i]:
                return None
        return params if len(parts) == len(self.segments) else None


def load_routes(template_path):
    with open(template_path, encoding="utf-8") as f:
        doc = yaml.load(f, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    routes = []
    for name, res in (doc.get("Resources") or {}).items():
        if not isinstance(res, dict) or res.get("Type") != "AWS::Serverless::Function":
            continue
        binary = ((res.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
        events = (res.get("Properties") or {}).get("Events") or {}
        for ev in events.values():
            if not isinstance(ev, dict) or ev.get("Type") != "HttpApi":
                continue
            if not binary:
                sys.exit(f"router: {name} has an HttpApi event but no Metadata.BuildProperties.Binary")
            props = ev.get("Properties") or {}
            path, method = props.get("Path"), props.get("Method")
            if path is None and method is None:
                routes.append(Route("ANY", "$default", binary, name))
            else:
                routes.append(Route(str(method or "ANY").upper(), str(path or "/"), binary, name))
    routes.sort(key=lambda r: r.rank, reverse=True)
    return routes


# --- event and response --------------------------------------------------------

def _is_text(content_type):
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    return mime.startswith("text/") or mime in TEXT_TYPES


def _request_id():
    # Shaped like API Gateway's ids: 13 base64 characters and a closing '='.
    return base64.b64encode(secrets.token_bytes(10)).decode()[:13] + "="


def build_event(handler, route, params, raw_path, raw_query, body, request_id, now):
    headers, cookies = {}, []
    for name, value in handler.headers.items():
        key = name.lower()
        if key in HOP_BY_HOP:
            continue
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    client_ip = handler.client_address[0]
    host = headers.get("host", f"127.0.0.1:{handler.server.server_address[1]}")
    headers.setdefault("host", host)
    headers["x-forwarded-for"] = client_ip
    headers["x-forwarded-port"] = str(handler.server.server_address[1])
    headers["x-forwarded-proto"] = "http"
    headers["x-amzn-trace-id"] = f"Root=1-{int(now):08x}-{secrets.token_hex(12)}"
    if body:
        headers["content-length"] = str(len(body))

    domain = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    event = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if raw_query:
        qs = {}
        for k, v in parse_qsl(raw_query, keep_blank_values=True):
            qs[k] = f"{qs[k]},{v}" if k in qs else v
        event["queryStringParameters"] = qs
    event["requestContext"] = {
        "accountId": "123456789012",
        "apiId": "local",
        "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0],
        "http": {
            "method": handler.command,
            "path": raw_path,
            "protocol": handler.request_version,
            "sourceIp": client_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route.route_key,
        "stage": "$default",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "timeEpoch": int(now * 1000),
    }
    if params:
        event["pathParameters"] = params
    if body:
        if _is_text(headers.get("content-type")):
            try:
                event["body"] = body.decode("utf-8")
                event["isBase64Encoded"] = False
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(body).decode()
                event["isBase64Encoded"] = True
        else:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    return event


def translate_response(payload):
    """(status, [(header, value)], body bytes) for a Lambda proxy response."""
    try:
        result = json.loads(payload) if payload else None
    except ValueError:
        result = None
    if not isinstance(result, dict) or "statusCode" not in result:
        # Format 2.0: a reply without statusCode is taken as a 200 JSON body.
        if result is None and payload:
            return 500, [("content-type", "application/json")], b'{"message":"Internal Server Error"}'
        data = payload if isinstance(payload, bytes) else b""
        return 200, [("content-type", "application/json")], data
    status = int(result["statusCode"])
    out = []
    for k, v in (result.get("headers") or {}).items():
        out.append((k, str(v)))
    have = {h.lower() for h, _ in out}  # single-value headers win over multi-value
    for k, vs in (result.get("multiValueHeaders") or {}).items():
        if k.lower() not in have:
            out.extend((k, str(v)) for v in vs or [])
    for c in result.get("cookies") or []:
        out.append(("set-cookie", str(c)))
    body = result.get("body")
    if body is None:
        data = b""
    elif result.get("isBase64Encoded"):
        data = base64.b64decode(body)
    elif isinstance(body, str):
        data = body.encode("utf-8")
    else:
        data = json.dumps(body).encode("utf-8")
    return status, out, data


# --- server --------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cardvault-router/1"
    # Headers and body go out in two writes: without this, Nagle's algorithm
    # and the client's delayed ACK add ~40 ms to many responses.
    disable_nagle_algorithm = True

    routes = []
    lambda_host = "127.0.0.1"
    lambda_port = 9000
    max_body = 1024 * 1024
    timeout = 300.0

    def do_any(self):
        t0 = time.monotonic()
        request_id = _request_id()
        status = 500
        try:
            status = self._handle(request_id)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - answer like a gateway; log no data
            sys.stderr.write(f"router: internal error {type(e).__name__}\n")
            self.close_connection = True
            try:
                status = self._reply(500, [("content-type", "application/json")],
                                     b'{"message":"Internal Server Error"}', request_id)
            except OSError:
                pass
        finally:
            ms = (time.monotonic() - t0) * 1000
            sys.stderr.write(
                f"router {self.command} {urlsplit(self.path).path} {status} {ms:.0f}ms\n")
            sys.stderr.flush()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_any

    def __getattr__(self, name):
        # Any other method (TRACE, QUERY, …) too: API Gateway answers it 404 like any
        # unrouted request, where http.server would say 501 (the fuzzing found it).
        if name.startswith("do_"):
            return self.do_any
        raise AttributeError(name)

    def _handle(self, request_id):
        if self.command in ("GET", "HEAD") and urlsplit(self.path).path in DOCS:
            name, ctype = DOCS[urlsplit(self.path).path]
            try:
                with open(name, "rb") as f:
                    data = f.read()
            except OSError:
                return self._reply(404, [("content-type", "text/plain")],
                                   b"run infra/tools.sh to install Redoc", request_id)
            # Redoc's one CDN reference, its footer logo: an empty local image instead, so
            # the page never reaches outside.
            data = data.replace(b"https://cdn.redoc.ly/redoc/logo-mini.svg", EMPTY_SVG)
            return self._reply(200, [("content-type", ctype)], data, request_id)
        body = self._read_body()
        if body is None:
            return self._reply(413, [("content-type", "application/json")],
                               b'{"message":"Request Entity Too Large"}', request_id)

        split = urlsplit(self.path)
        raw_path = split.path or "/"
        route, params = None, None
        for r in self.routes:
            params = r.match(self.command, raw_path)
            if params is not None:
                route = r
                break
        if route is None:
            return self._reply(404, [("content-type", "application/json")],
                               b'{"message":"Not Found"}', request_id)

        event = build_event(self, route, params, raw_path, split.query, body,
                            request_id, time.time())
        path = f"/2015-03-31/functions/{quote(route.binary, safe='')}/invocations"
        try:
            payload, invoke_status, failed = self._invoke(path, json.dumps(event).encode())
        except (OSError, http.client.HTTPException) as e:
            sys.stderr.write(f"router: invoke {route.binary} failed: {type(e).__name__}\n")
            return self._reply(503, [("content-type", "application/json")],
                               b'{"message":"Service Unavailable"}', request_id)
        if invoke_status != 200:
            sys.stderr.write(f"router: invoke {route.binary} answered HTTP {invoke_status}\n")
            failed = True
        if failed:
            return self._reply(500, [("content-type", "application/json")],
                               b'{"message":"Internal Server Error"}', request_id)
        status, headers, data = translate_response(payload)
        return self._reply(status, headers, data, request_id)

    def _invoke(self, path, data):
        """POST one event to the Lambda Invoke API: (payload, HTTP status, function error?)."""
        # One write for head and body: http.client sends them separately, and
        # that pattern costs a ~40 ms delayed-ACK stall on many calls here.
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.lambda_host}:{self.lambda_port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                "Connection: close\r\n\r\n").encode()
        with socket.create_connection((self.lambda_host, self.lambda_port),
                                      timeout=self.timeout) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(head + data)
            resp = http.client.HTTPResponse(sock, method="POST")
            resp.begin()
            try:
                payload = resp.read()
            finally:
                resp.close()
            return payload, resp.status, bool(resp.getheader("X-Amz-Function-Error"))

    def _read_body(self):
        """The request body, or None when it exceeds max_body (connection then closes)."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                total += size
                if total > self.max_body:
                    self.close_connection = True
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > self.max_body:
            self.close_connection = True  # the unread body would poison keep-alive
            return None
        return self.rfile.read(length) if length else b""

    def _reply(self, status, headers, data, request_id):
        self.send_response(status)
        names = set()
        for k, v in headers:
            if k.lower() in ("content-length", "connection", "transfer-encoding"):
                continue
            names.add(k.lower())
            self.send_header(k, v)
        self.send_header("apigw-requestid", request_id)
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        return status

    def log_message(self, fmt, *args):  # noqa: A003 - the one-line log is written above
        pass


def main():
    ap = argparse.ArgumentParser(description="API Gateway HTTP API stand-in in front of infra/fleet.py")
    ap.add_argument("--template", default="template.yaml")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--lambda-url", required=True,
                    help="the fleet's Lambda Invoke endpoint, e.g. http://127.0.0.1:9000")
    ap.add_argument("--max-body", type=int, default=1024 * 1024,
                    help="largest request body accepted, in bytes (default 1 MiB)")
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("ROUTER_TIMEOUT", "300")),
                    help="seconds to wait for a function (the first call may wait for a build)")
    args = ap.parse_args()

    routes = load_routes(args.template)
    if not routes:
        sys.exit(f"router: no HttpApi routes in {args.template}")
    Handler.routes = routes
    url = urlsplit(args.lambda_url)
    if url.scheme != "http" or not url.hostname:
        sys.exit("router: --lambda-url must look like http://127.0.0.1:9000")
    Handler.lambda_host, Handler.lambda_port = url.hostname, url.port or 80
    Handler.max_body = args.max_body
    Handler.timeout = args.timeout
    for r in routes:
        sys.stderr.write(f"router: {r.route_key} -> {r.binary}\n")
    srv = ThreadingHTTPServer((args.host, args.port), Handler)
    srv.daemon_threads = True
    sys.stderr.write(f"router listening on http://{args.host}:{args.port}\n")
    sys.stderr.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
