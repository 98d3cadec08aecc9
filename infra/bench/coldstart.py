#!/usr/bin/env python3
"""Cold-start benchmark for one function binary: init time and first-invocation time.

It plays the Lambda Runtime API itself (a tiny HTTP server), starts the release binary
with AWS_LAMBDA_RUNTIME_API pointing at it, and measures:
  init   exec → the binary's first `GET /runtime/invocation/next` (config, SDK clients)
  first  handing over the event → the binary posting its response (includes the first
         DynamoDB call, its connection set-up, against the local stack)
  warm   the same event again, median of --warm runs

Usage (the stack's env loaded, a table bootstrapped):
  coldstart.py --binary target/release/get-customer --event events/get-customer.json \\
               [--runs 5] [--warm 20] [--set-header authorization='Basic cvk_…']
"""
import argparse
import json
import os
import statistics
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Runtime:
    def __init__(self, events):
        self.events = list(events)
        self.marks = {}
        self.ready = threading.Event()
        self.done = threading.Event()


def handler_for(rt):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            if self.path.endswith("/runtime/invocation/next"):
                now = time.perf_counter()
                rt.marks.setdefault("first_next", now)
                if not rt.events:
                    rt.done.set()
                    time.sleep(3600)
                    return
                event = rt.events.pop(0)
                body = json.dumps(event).encode()
                rt.marks.setdefault("sent", []).append(time.perf_counter())
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", f"req-{len(rt.marks['sent'])}")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:0:function:bench")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            payload = self.rfile.read(length)
            rt.marks.setdefault("responded", []).append(time.perf_counter())
            rt.marks.setdefault("bodies", []).append(payload)
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
    return H


def one_run(binary, event, warm):
    rt = Runtime([event] * (1 + warm))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(rt))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_port}",
               AWS_LAMBDA_FUNCTION_NAME="bench", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256",
               AWS_LAMBDA_FUNCTION_VERSION="1", AWS_LAMBDA_LOG_FORMAT="Text", RUST_LOG="warn")
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not rt.done.wait(60):
            raise SystemExit("the binary did not finish its invocations in 60 s")
    finally:
        proc.kill()
        server.shutdown()
    init = rt.marks["first_next"] - start
    lat = [r - s for s, r in zip(rt.marks["sent"], rt.marks["responded"])]
    status = json.loads(rt.marks["bodies"][0]).get("statusCode")
    return init, lat[0], lat[1:], status


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--binary", required=True)
    p.add_argument("--event", required=True)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--warm", type=int, default=20)
    p.add_argument("--set-header", action="append", default=[])
    p.add_argument("--set-path-param", action="append", default=[])
    args = p.parse_args()
    with open(args.event) as f:
        event = json.load(f)
    for h in args.set_header:
        k, v = h.split("=", 1)
        event["headers"][k] = v
    for pp in args.set_path_param:
        k, v = pp.split("=", 1)
        event.setdefault("pathParameters", {})[k] = v
    inits, firsts, warms, statuses = [], [], [], set()
    for _ in range(args.runs):
        init, first, warm, status = one_run(args.binary, event, args.warm)
        inits.append(init * 1000)
        firsts.append(first * 1000)
        warms.extend(w * 1000 for w in warm)
        statuses.add(status)
    size = os.path.getsize(args.binary)
    print(json.dumps({
        "binary": args.binary,
        "sizeBytes": size,
        "sizeMiB": round(size / 2**20, 2),
        "runs": args.runs,
        "statusCodes": sorted(statuses),
        "initMs": {"median": round(statistics.median(inits), 2), "max": round(max(inits), 2)},
        "firstInvocationMs": {"median": round(statistics.median(firsts), 2), "max": round(max(firsts), 2)},
        "warmInvocationMs": {"median": round(statistics.median(warms), 2)} if warms else None,
    }, indent=2))


if __name__ == "__main__":
    main()
