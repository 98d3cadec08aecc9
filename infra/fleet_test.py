#!/usr/bin/env python3
"""infra/fleet.py's own tests: its pools, deadlines, failures and stream mappings, with
stand-in functions (small Python Runtime API clients written by this test) and a test-only
template, against the running stack's DynamoDB Local.

    fleet_test.py [--admin target/debug/cardvault-admin]

The stack's environment (stack.env) must be loaded. The pattern matcher's tests need none
(`fleet_test.py --unit`). Exits non-zero on the first failure.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A stand-in function: a Lambda Runtime API client. Its event says what to do.
PROBE = r'''
import json, os, sys, time, urllib.request
api = os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
if os.environ["AWS_LAMBDA_FUNCTION_NAME"] == "bad-init":
    urllib.request.urlopen(urllib.request.Request(api + "/init/error", method="POST",
        data=b'{"errorType":"Probe.Init","errorMessage":"cannot start"}'))
    sys.exit(1)
record = os.environ.get("PROBE_RECORD")
def post(path, body):
    urllib.request.urlopen(urllib.request.Request(api + path, data=json.dumps(body).encode(),
                                                  method="POST"))
while True:
    with urllib.request.urlopen(api + "/invocation/next") as r:
        rid, event = r.headers["Lambda-Runtime-Aws-Request-Id"], json.loads(r.read())
        deadline = int(r.headers["Lambda-Runtime-Deadline-Ms"])
        arn = r.headers["Lambda-Runtime-Invoked-Function-Arn"]
    if "Records" in event:
        keys = [x["dynamodb"]["Keys"]["PK"]["S"] for x in event["Records"]]
        failed = failed_key = None
        for x in event["Records"]:
            marker = os.path.join(record + ".d", x["dynamodb"]["Keys"]["PK"]["S"])
            if "failOnce" in x["dynamodb"].get("NewImage", {}) and not os.path.exists(marker):
                open(marker, "w").close()
                failed = x["dynamodb"]["SequenceNumber"]
                failed_key = x["dynamodb"]["Keys"]["PK"]["S"]
                break
        with open(record, "a") as f:
            f.write(json.dumps({"keys": keys, "names": [x["eventName"] for x in event["Records"]],
                                "arn": event["Records"][0]["eventSourceARN"],
                                "failed": failed_key}) + "\n")
        post(f"/invocation/{rid}/response",
             {"batchItemFailures": [{"itemIdentifier": failed}] if failed else []})
        continue
    time.sleep(event.get("sleep", 0))
    if event.get("crash"):
        os._exit(3)
    if event.get("fail"):
        post(f"/invocation/{rid}/error", {"errorType": "Probe.Failed", "errorMessage": "asked to"})
        continue
    post(f"/invocation/{rid}/response", {"pid": os.getpid(), "requestId": rid, "arn": arn,
                                         "deadlineInMs": deadline - int(time.time() * 1000),
                                         "memory": os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"],
                                         "table": os.environ.get("TABLE_NAME")})
'''

TEMPLATE = """
Globals:
  Function:
    Timeout: 6
    MemorySize: 128
Resources:
  ProbeTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - { AttributeName: PK, AttributeType: S }
      KeySchema:
        - { AttributeName: PK, KeyType: HASH }
      StreamSpecification:
        StreamViewType: NEW_AND_OLD_IMAGES
  ProbeFunction:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: probe } }
    Properties:
      Timeout: 2
  BadInitFunction:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: bad-init } }
  StreamProbeFunction:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: stream-probe } }
    Properties:
      MemorySize: 256
      Events:
        Audit:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt ProbeTable.StreamArn
            StartingPosition: LATEST
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
            FilterCriteria:
              Filters:
                - Pattern: '{"eventName": ["INSERT"], "dynamodb": {"Keys": {"PK": {"S": [{"prefix": "AUDIT#"}]}}}}'
"""

CONCURRENCY = 4


def check(cond, what):
    if not cond:
        sys.exit(f"fleet_test: FAILED: {what}")
    print(f"  ok  {what}", flush=True)


# --- the pattern matcher -------------------------------------------------------------------

def unit():
    rec = {"eventName": "INSERT", "dynamodb": {"Keys": {"PK": {"S": "AUDIT#t1"}}}}
    m = fleet.matches
    check(m({"eventName": ["INSERT"]}, rec), "an exact value matches")
    check(not m({"eventName": ["MODIFY", "REMOVE"]}, rec), "other values do not")
    check(m({"dynamodb": {"Keys": {"PK": {"S": [{"prefix": "AUDIT#"}]}}}}, rec), "a prefix matches")
    check(not m({"dynamodb": {"Keys": {"PK": {"S": [{"prefix": "CUST#"}]}}}}, rec),
          "another prefix does not")
    check(not m({"dynamodb": {"NewImage": {"PK": {"S": [{"prefix": "A"}]}}}}, rec),
          "an absent field matches no value")
    check(m({"dynamodb": {"NewImage": [{"exists": False}]}}, rec), "exists: false")
    check(m({"eventName": [{"anything-but": ["REMOVE"]}]}, rec), "anything-but")
    check(not m({"eventName": ["INSERT"], "dynamodb": {"Keys": {"PK": {"S": ["x"]}}}}, rec),
          "every field of a pattern must match")
    try:
        fleet.parse_filters({"FilterCriteria": {"Filters": [
            {"Pattern": '{"eventName": [{"numeric": [">", 1]}]}'}]}})
        check(False, "an unsupported matcher is refused")
    except fleet.PatternError:
        check(True, "an unsupported matcher is refused")
    batch = [{"dynamodb": {"SequenceNumber": s}} for s in ("1", "2", "3")]
    check(fleet._first_failure(b'{"batchItemFailures": []}', batch) is None, "no failures")
    check(fleet._first_failure(b"null", batch) is None, "a null answer is a success")
    check(fleet._first_failure(b'{"batchItemFailures": [{"itemIdentifier": "3"}, '
                               b'{"itemIdentifier": "2"}]}', batch) == 1,
          "retry from the first failed record")
    check(fleet._first_failure(b'{"batchItemFailures": [{"itemIdentifier": "9"}]}', batch) == 0,
          "an unknown identifier fails the whole batch")
    check(fleet._first_failure(b"not json", batch) == 0, "an unreadable answer fails it too")


# --- the fleet itself -----------------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def invoke(port, name, event, timeout=30):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/2015-03-31/functions/{name}/invocations",
        data=json.dumps(event).encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"null")


def stats(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_fleet/stats", timeout=10) as r:
        return json.loads(r.read())


def dynamodb(target, body):
    req = urllib.request.Request(
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] + "/", data=json.dumps(body).encode(),
        method="POST", headers={
            "X-Amz-Target": f"DynamoDB_20120810.{target}",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/"
                             "aws4_request, SignedHeaders=host, Signature=0"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def wait_for(what, cond, timeout_s):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        got = cond()
        if got:
            return got
        time.sleep(0.1)
    sys.exit(f"fleet_test: FAILED: {what} (not within {timeout_s} s)")


def run(args):
    work = tempfile.mkdtemp(prefix="fleet-test-")
    bins = os.path.join(work, "bin")
    os.makedirs(bins)
    for name in ("probe", "bad-init", "stream-probe"):
        path = os.path.join(bins, name)
        with open(path, "w") as f:
            f.write(f"#!{sys.executable}\n{PROBE}")
        os.chmod(path, 0o755)
    template = os.path.join(work, "template.yaml")
    with open(template, "w") as f:
        f.write(TEMPLATE)
    record = os.path.join(work, "records.jsonl")
    os.makedirs(record + ".d")
    table = f"fleet-test-{os.getpid()}-{int(time.time())}"
    port = free_port()
    env = dict(os.environ, TABLE_NAME=table, PROBE_RECORD=record)
    log = open(os.path.join(work, "fleet.log"), "w")
    proc = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "infra", "fleet.py"), "--template", template,
         "--bin-dir", bins, "--port", str(port), "--concurrency", str(CONCURRENCY),
         "--init-timeout", "5", "--poll-ms", "100"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for("the fleet answers", lambda: _up(port), 20)
        fleet_checks(port, work)
        stream_checks(port, args.admin, template, table, record)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    print(f"fleet_test: all passed (work dir {work})")


def _up(port):
    try:
        return stats(port)
    except OSError:
        return None


def fleet_checks(port, work):
    print("fleet: pools")
    results = [None] * 8
    t0 = time.monotonic()

    def one(i):
        results[i] = invoke(port, "probe", {"sleep": 0.6})

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - t0
    check(all(r[0] == 200 and "X-Amz-Function-Error" not in r[1] for r in results),
          "8 invocations at once all answer")
    ids = [r[2]["requestId"] for r in results]
    check(len(set(ids)) == 8, "each ran under its own request id")
    check(all(r[1]["x-amzn-RequestId"] == r[2]["requestId"] for r in results),
          "x-amzn-RequestId is the id the function saw")
    pids = {r[2]["pid"] for r in results}
    check(len(pids) == CONCURRENCY, f"{CONCURRENCY} instances served them ({len(pids)})")
    s = stats(port)["functions"]["probe"]
    check(s["maxBusy"] == CONCURRENCY, f"{CONCURRENCY} ran at once, never more ({s['maxBusy']})")
    check(s["instancesStarted"] == CONCURRENCY, "an instance starts only when none is idle")
    check(1.2 <= took < 6, f"two waves of 0.6 s ({took:.2f} s)")
    check(s["duplicateDeliveries"] == 0, "no request id was handed out twice")
    with open(os.path.join(work, "fleet.log")) as f:
        starts = [line for line in f if " START RequestId: " in line]
    check(all(sum(rid in line for line in starts) == 1 for rid in ids),
          "each request id STARTs exactly once in the log")
    r = results[0][2]
    check(1000 < r["deadlineInMs"] <= 2000, f"the deadline is the template's Timeout "
                                            f"({r['deadlineInMs']} ms left)")
    check(r["arn"].endswith(":function:probe") and r["memory"] == "128",
          "the function's ARN and Globals' MemorySize")
    check(r["table"].startswith("fleet-test-"), "the fleet's environment is inherited")

    print("fleet: names")
    check(invoke(port, "ProbeFunction", {})[0] == 200, "a logical id names a function")
    check(invoke(port, "arn:aws:lambda:us-east-1:123456789012:function:probe:$LATEST", {})[0]
          == 200, "so does an ARN")
    status, headers, _ = invoke(port, "nope", {})
    check(status == 404 and headers.get("x-amzn-ErrorType") == "ResourceNotFoundException",
          "an unknown function is a 404 ResourceNotFoundException")

    print("fleet: failures")
    status, headers, body = invoke(port, "probe", {"fail": True})
    check(status == 200 and headers.get("X-Amz-Function-Error") == "Unhandled"
          and body["errorType"] == "Probe.Failed", "a function error: 200, X-Amz-Function-Error")
    before = stats(port)["functions"]["probe"]
    t0 = time.monotonic()
    status, headers, body = invoke(port, "probe", {"sleep": 10})
    took = time.monotonic() - t0
    check(headers.get("X-Amz-Function-Error") == "Unhandled"
          and body["errorType"] == "Sandbox.Timedout" and 1.9 < took < 4,
          f"past its deadline, a function error ({took:.2f} s)")
    status, headers, body = invoke(port, "probe", {"crash": True})
    check(headers.get("X-Amz-Function-Error") == "Unhandled"
          and body["errorType"] == "Runtime.ExitError", "an instance that dies: a function error")
    after = wait_for("the dead instances are gone", lambda: (
        lambda s: s if s["timeouts"] == before["timeouts"] + 1
        and s["instanceDeaths"] == before["instanceDeaths"] + 1 else None)(
            stats(port)["functions"]["probe"]), 10)
    check(after["instancesRunning"] <= CONCURRENCY - 1, "timed-out and dead instances are replaced")
    check(invoke(port, "probe", {})[0] == 200, "and the function still answers")
    t0 = time.monotonic()
    status, headers, body = invoke(port, "bad-init", {})
    check(headers.get("X-Amz-Function-Error") == "Unhandled" and body["errorType"] == "Probe.Init"
          and time.monotonic() - t0 < 5, "an init error fails the invocation, at once")
    check(stats(port)["functions"]["bad-init"]["initFailures"] >= 1, "and is counted")


def stream_checks(port, admin, template, table, record):
    print("fleet: stream mapping")
    out = subprocess.run([admin, "--table", table, "create-table", "--template", template],
                         capture_output=True, text=True)
    check(out.returncode == 0, f"cardvault-admin create-table with a stream ({out.stderr[-300:]})")
    desc = dynamodb("DescribeTable", {"TableName": table})["Table"]
    check(desc.get("StreamSpecification", {}).get("StreamViewType") == "NEW_AND_OLD_IMAGES",
          "the table's stream is the template's")
    wait_for("the mapping finds the stream",
             lambda: stats(port)["mappings"][0]["streamArn"] == desc["LatestStreamArn"], 15)
    keys = [f"AUDIT#{i:02d}" for i in range(12)]
    for i, key in enumerate(keys):
        item = {"PK": {"S": key}}
        if i == 7:
            item["failOnce"] = {"BOOL": True}
        dynamodb("PutItem", {"TableName": table, "Item": item})
        dynamodb("PutItem", {"TableName": table, "Item": {"PK": {"S": f"OTHER#{i}"}}})
    dynamodb("UpdateItem", {"TableName": table, "Key": {"PK": {"S": "AUDIT#00"}},
                            "UpdateExpression": "SET x = :x",
                            "ExpressionAttributeValues": {":x": {"N": "1"}}})

    # Caught up too: the last records (the MODIFY, an OTHER#) may still be unread, hence
    # uncounted, when the last AUDIT# one is delivered (seen: 12 filtered of 13).
    def delivered():
        s = stats(port)["mappings"][0]
        done = s["recordsDelivered"] >= len(keys) and s["pending"] == 0 and s["caughtUp"]
        return s if done else None

    s = wait_for("every AUDIT# insert is delivered", delivered, 30)
    with open(record) as f:
        batches = [json.loads(line) for line in f]
    check(all(len(b["keys"]) <= 5 for b in batches), "batches of BatchSize at most")
    check(all(set(b["names"]) == {"INSERT"} for b in batches), "only INSERTs pass the filter")
    seen = [k for b in batches for k in b["keys"]]
    check(all(k.startswith("AUDIT#") for k in seen), "only AUDIT# keys pass the filter")
    # Each batch is checkpointed up to its first failed record, and retried from it.
    done = []
    for b in batches:
        upto = b["keys"].index(b["failed"]) if b["failed"] else len(b["keys"])
        check(b["keys"][0] == (keys[len(done)] if len(done) < len(keys) else None),
              f"a batch starts where the last one stopped ({b['keys'][0]})")
        done += b["keys"][:upto]
    check(done == keys, "every record once, in order, after the retry")
    failed = [b for b in batches if b["failed"]]
    check(len(failed) == 1 and failed[0]["failed"] is not None, "the failed record was retried")
    check(s["batchesFailed"] == 1 and s["recordsFiltered"] == len(keys) + 1,
          f"the mapping's counters ({s['batchesFailed']} failed, {s['recordsFiltered']} filtered)")
    check(all(b["arn"] == desc["LatestStreamArn"] for b in batches), "eventSourceARN is the stream")
    wait_for("the mapping says it caught up", lambda: stats(port)["mappings"][0]["caughtUp"], 10)
    check(True, "caughtUp once every record is delivered")
    check(s["lastBatchLagMs"] is not None and s["maxBatchLagMs"] < 10_000,
          f"the lag is small ({s['maxBatchLagMs']} ms at most)")
    dynamodb("DeleteTable", {"TableName": table})


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--admin", default=os.path.join(ROOT, "target", "debug", "cardvault-admin"))
    p.add_argument("--unit", action="store_true", help="the pattern matcher only: no stack")
    args = p.parse_args()
    print("fleet: filters")
    unit()
    if not args.unit:
        run(args)


if __name__ == "__main__":
    main()
