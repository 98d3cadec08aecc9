#!/usr/bin/env python3
"""Lambda's concurrency, locally: every function of template.yaml served by a pool of
instances, behind the Lambda Invoke API, plus DynamoDB Streams event source mappings.

    fleet.py --template template.yaml --port 9000 [--bin-dir target/debug] [--concurrency 4]

What it serves, on 127.0.0.1:PORT:
  * the Lambda Invoke API, `POST /2015-03-31/functions/{name}/invocations` (router.py,
    `cargo lambda invoke --invoke-port`, the AWS SDK's Lambda client): `{name}` is a
    binary name, a logical id or an ARN; the answer is the function's payload, with
    `X-Amz-Function-Error: Unhandled` on a function error (HTTP 200, as Lambda answers);
  * each instance's Lambda Runtime API, under `/rt/<binary>/<instance>` (the base path
    `AWS_LAMBDA_RUNTIME_API` carries; lambda_runtime_api_client keeps it);
  * `GET /_fleet/stats`: per function, instances started, most busy at once, invocations,
    function errors, timeouts; per stream mapping, records delivered, batches failed, lag;
  * `GET /`: a health answer (stack.sh polls it).

Like Lambda: an invocation waits in its function's queue; an instance (a process of the
prebuilt `<bin-dir>/<binary>`) is started only when an invocation arrives and no instance
is idle or starting for it, up to --concurrency per function; an instance takes one
invocation at a time. Its deadline is the template's `Timeout` (or Globals'); past it,
the invocation answers a function error and the instance is killed. An instance that dies
while busy answers a function error too; one that fails its init (`/runtime/init/error`,
an exit, or no `/next` within --init-timeout) fails the oldest waiting invocation, so a
broken binary never makes anyone wait forever. When a binary's mtime changes (a rebuild),
its idle instances stop and busy ones stop after their invocation: the next request runs
the new build.

Functions with an event of `Type: DynamoDB` get a stream mapping: the table's stream
(TABLE_NAME, on AWS_ENDPOINT_URL_DYNAMODB) is polled every --poll-ms, shard by shard (a
child after its parent), records are filtered by `FilterCriteria` and delivered as
`{"Records": [...]}` in batches of `BatchSize`, in order, one batch at a time per shard; a
failed batch is retried (blocking its shard) up to `MaximumRetryAttempts` (default: until
it succeeds), and `FunctionResponseTypes: [ReportBatchItemFailures]` retries from the
first failed record.

Every instance's stdout and stderr go to this process's stdout, each line prefixed with
`<binary>[<instance>]`, with Lambda's START / END / REPORT lines around each invocation.
"""

import argparse
import asyncio
import collections
import json
import os
import secrets
import signal
import sys
import time
import uuid
from urllib.parse import unquote

from aiohttp import ClientSession, ClientTimeout, web
import yaml

from router import _CfnLoader

REGION = os.environ.get("AWS_REGION", "us-east-1")
ACCOUNT = "123456789012"
RUNTIME = "/2018-06-01/runtime"


def now_ms():
    return int(time.time() * 1000)


def log(line):
    sys.stdout.write(f"fleet: {line}\n")
    sys.stdout.flush()


# --- template --------------------------------------------------------------------------

class Spec:
    """One function of the template: what the fleet needs to run and map it."""

    def __init__(self, logical, binary, timeout_s, memory_mb, streams):
        self.logical, self.binary = logical, binary
        self.timeout_s, self.memory_mb = timeout_s, memory_mb
        self.streams = streams  # [(event name, Properties)] of its DynamoDB events


def load_specs(template_path):
    with open(template_path, encoding="utf-8") as f:
        doc = yaml.load(f, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    glob = ((doc.get("Globals") or {}).get("Function") or {})
    resources = doc.get("Resources") or {}
    tables = [n for n, r in resources.items()
              if isinstance(r, dict) and r.get("Type") == "AWS::DynamoDB::Table"]
    specs = []
    for name, res in resources.items():
        if not isinstance(res, dict) or res.get("Type") != "AWS::Serverless::Function":
            continue
        binary = ((res.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
        if not binary:
            sys.exit(f"fleet: {name} has no Metadata.BuildProperties.Binary")
        props = res.get("Properties") or {}
        streams = []
        for ev_name, ev in (props.get("Events") or {}).items():
            if isinstance(ev, dict) and ev.get("Type") == "DynamoDB":
                p = ev.get("Properties") or {}
                source = p.get("Stream")
                source = source[0] if isinstance(source, list) else str(source or "")
                if source.split(".", 1)[0] not in tables:
                    sys.exit(f"fleet: {name}.{ev_name}: Stream {source!r} is not the "
                             f"template's table ({', '.join(tables) or 'none'})")
                if p.get("Enabled", True) not in (False, "false"):
                    streams.append((ev_name, p))
        specs.append(Spec(name, binary, float(props.get("Timeout") or glob.get("Timeout") or 3),
                          int(props.get("MemorySize") or glob.get("MemorySize") or 128),
                          streams))
    return specs


# --- invocations and instances -----------------------------------------------------------

class Invocation:
    def __init__(self, payload, source="invoke"):
        self.request_id = str(uuid.uuid4())
        self.payload = payload
        self.source = source
        self.future = asyncio.get_running_loop().create_future()
        self.enqueued = time.monotonic()
        self.trace_id = (f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};"
                         f"Parent={secrets.token_hex(8)};Sampled=0")
        self.queue_timer = None

    def settle(self, payload, error):
        """Answers the caller once: (payload bytes, function error?)."""
        if self.queue_timer:
            self.queue_timer.cancel()
        if not self.future.done():
            self.future.set_result((payload, error))


def error_payload(error_type, message):
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


class Instance:
    def __init__(self, pool, index):
        self.pool, self.index = pool, index
        self.name = f"{pool.spec.binary}[{index}]"
        self.proc = None
        self.state = "starting"  # starting | idle | busy | dead
        self.waiter = None  # the future an idle instance's /next awaits
        self.current = None  # the invocation it runs
        self.timer = None
        self.spawned = time.monotonic()
        self.invoked_at = 0.0
        self.init_ms = None
        self.retired = False  # stopped by the fleet: its end fails nobody
        self.stale = False  # its binary was rebuilt: stop after this invocation
        self.mtime = pool.mtime


class Pool:
    """One function: its queue, its instances and its counters."""

    def __init__(self, fleet, spec):
        self.fleet, self.spec = fleet, spec
        self.path = os.path.join(fleet.bin_dir, spec.binary)
        self.mtime = self._mtime()
        self.pending = collections.deque()
        self.idle = collections.deque()
        self.instances = {}
        self.next_index = 1
        self.stats = {"instancesStarted": 0, "instancesRunning": 0, "busy": 0, "maxBusy": 0,
                      "invocations": 0, "functionErrors": 0, "timeouts": 0, "throttles": 0,
                      "initFailures": 0, "instanceDeaths": 0, "queued": 0, "maxQueued": 0,
                      "duplicateDeliveries": 0}
        self.delivered = set()

    def _mtime(self):
        try:
            return os.stat(self.path).st_mtime_ns
        except OSError:
            return None

    # Invocations in ------------------------------------------------------------------

    def submit(self, inv):
        self.stats["invocations"] += 1
        while self.idle:
            inst = self.idle.popleft()
            if inst.state == "idle" and inst.waiter and not inst.waiter.done():
                self.hand(inst, inv)
                return
        self.pending.append(inv)
        self._queued()
        inv.queue_timer = asyncio.get_running_loop().call_later(
            self.fleet.queue_timeout_s, self._throttle, inv)
        self.scale()

    def _queued(self):
        self.stats["queued"] = len(self.pending)
        self.stats["maxQueued"] = max(self.stats["maxQueued"], len(self.pending))

    def _throttle(self, inv):
        # Lambda throttles what it cannot run; here, what waited --queue-timeout for an instance.
        if inv in self.pending:
            self.pending.remove(inv)
            self._queued()
            self.stats["throttles"] += 1
            inv.settle(None, "throttled")

    def scale(self):
        """Starts instances while more invocations wait than instances are starting."""
        starting = sum(1 for i in self.instances.values() if i.state == "starting")
        while len(self.pending) > starting and len(self.instances) < self.fleet.concurrency:
            self.spawn()
            starting += 1

    def spawn(self):
        index = self.next_index
        self.next_index += 1
        inst = Instance(self, index)
        self.instances[index] = inst
        self.stats["instancesStarted"] += 1
        self.stats["instancesRunning"] = len(self.instances)
        asyncio.get_running_loop().create_task(self._run(inst))

    async def _run(self, inst):
        fleet, spec = self.fleet, self.spec
        env = dict(os.environ)
        stream = time.strftime("%Y/%m/%d", time.gmtime()) + f"/[$LATEST]{secrets.token_hex(16)}"
        env.update({
            "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{fleet.port}/rt/{spec.binary}/{inst.index}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.binary,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.binary}",
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
            "AWS_DEFAULT_REGION": env.get("AWS_DEFAULT_REGION", REGION),
            "AWS_REGION": env.get("AWS_REGION", REGION),
            "LAMBDA_TASK_ROOT": fleet.bin_dir,
            "LAMBDA_RUNTIME_DIR": fleet.bin_dir,
            "_HANDLER": "bootstrap",
        })
        try:
            inst.proc = await asyncio.create_subprocess_exec(
                self.path, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                limit=1 << 20)
        except OSError as e:
            log(f"{inst.name}: cannot start {self.path}: {e}")
            self._ended(inst, f"cannot start: {e}")
            return
        init_timer = asyncio.get_running_loop().call_later(
            fleet.init_timeout_s, self._init_timeout, inst)
        reader = asyncio.get_running_loop().create_task(self._pipe(inst))
        rc = await inst.proc.wait()
        init_timer.cancel()
        await reader
        self._ended(inst, f"exit status {rc}")

    async def _pipe(self, inst):
        prefix = f"{inst.name} ".encode()
        out = sys.stdout.buffer
        while True:
            try:
                line = await inst.proc.stdout.readline()
            except ValueError:  # a line over the limit: pass it on in pieces
                line = await inst.proc.stdout.read(1 << 16)
            if not line:
                return
            out.write(prefix + (line if line.endswith(b"\n") else line + b"\n"))
            out.flush()

    def _init_timeout(self, inst):
        if inst.state == "starting":
            log(f"{inst.name}: no /next within {self.fleet.init_timeout_s:.0f} s: killed")
            self._fail_init(inst, error_payload(
                "Runtime.InitTimeout", f"{self.spec.binary}: init took over "
                f"{self.fleet.init_timeout_s:.0f} s"))

    def _fail_init(self, inst, payload):
        """An instance that never got ready fails the oldest waiting invocation: each broken
        start costs one request, so nobody waits on a binary that cannot start."""
        self.stats["initFailures"] += 1
        if self.pending:
            inv = self.pending.popleft()
            self._queued()
            self.stats["functionErrors"] += 1
            inv.settle(payload, True)
        self.retire(inst)

    def retire(self, inst):
        inst.retired = True
        if inst.state == "idle" and inst in self.idle:
            self.idle.remove(inst)
        if inst.proc and inst.proc.returncode is None:
            try:
                inst.proc.kill()
            except ProcessLookupError:
                pass

    def _ended(self, inst, why):
        was = inst.state
        inst.state = "dead"
        self.instances.pop(inst.index, None)
        self.stats["instancesRunning"] = len(self.instances)
        if inst in self.idle:
            self.idle.remove(inst)
        if inst.waiter and not inst.waiter.done():
            inst.waiter.cancel()
        if inst.timer:
            inst.timer.cancel()
        if inst.current is not None:
            inv, inst.current = inst.current, None
            self._not_busy()
            self.stats["functionErrors"] += 1
            self.stats["instanceDeaths"] += 1
            log(f"{inst.name}: died running {inv.request_id} ({why})")
            inv.settle(error_payload(
                "Runtime.ExitError",
                f"RequestId: {inv.request_id} Error: Runtime exited with error: {why}"), True)
        elif was == "starting" and not inst.retired:
            log(f"{inst.name}: ended before it was ready ({why})")
            self._fail_init(inst, error_payload(
                "Runtime.ExitError", f"{self.spec.binary}: Runtime exited without "
                f"providing a reason ({why})"))
        # What still waits needs instances.
        if self.pending:
            self.scale()

    # Runtime API --------------------------------------------------------------------

    def hand(self, inst, inv):
        """Gives an idle instance its invocation: every state change here, at once."""
        if inv.queue_timer:
            inv.queue_timer.cancel()
        inst.state, inst.current = "busy", inv
        inst.invoked_at = time.monotonic()
        inv.deadline_ms = now_ms() + int(self.spec.timeout_s * 1000)
        inst.timer = asyncio.get_running_loop().call_later(
            self.spec.timeout_s, self._timed_out, inst, inv)
        if inv.request_id in self.delivered:
            self.stats["duplicateDeliveries"] += 1
        self.delivered.add(inv.request_id)
        self.stats["busy"] += 1
        self.stats["maxBusy"] = max(self.stats["maxBusy"], self.stats["busy"])
        if inst.waiter and not inst.waiter.done():
            inst.waiter.set_result(inv)

    def _not_busy(self):
        self.stats["busy"] -= 1

    def _timed_out(self, inst, inv):
        if inst.current is not inv:
            return
        inst.current = None
        self._not_busy()
        self.stats["timeouts"] += 1
        self.stats["functionErrors"] += 1
        took = time.monotonic() - inst.invoked_at
        print(f"{inst.name} {now_iso()} {inv.request_id} Task timed out after "
              f"{took:.2f} seconds", flush=True)
        inv.settle(error_payload("Sandbox.Timedout", f"{now_iso()} {inv.request_id} Task "
                                 f"timed out after {self.spec.timeout_s:.2f} seconds"), True)
        self.retire(inst)

    async def next_invocation(self, inst):
        if inst.state == "starting":
            inst.init_ms = (time.monotonic() - inst.spawned) * 1000
        if inst.current is not None:
            # The runtime asked for more without answering: Lambda counts it a failure.
            inv, inst.current = inst.current, None
            self._not_busy()
            inst.timer.cancel()
            self.stats["functionErrors"] += 1
            inv.settle(error_payload("Runtime.NoResponse", "the runtime asked for the next "
                                     "invocation without answering this one"), True)
        if inst.stale or inst.retired:
            self.retire(inst)
            raise web.HTTPGone()
        inst.state = "idle"
        if self.pending:
            inv = self.pending.popleft()
            self._queued()
            self.hand(inst, inv)
            return inv
        inst.waiter = asyncio.get_running_loop().create_future()
        self.idle.append(inst)
        return await inst.waiter

    def finish(self, inst, request_id, payload, error):
        inv = inst.current
        if inv is None or inv.request_id != request_id:
            return False
        inst.current = None
        inst.timer.cancel()
        inst.state = "answered"
        self._not_busy()
        if error:
            self.stats["functionErrors"] += 1
        took = (time.monotonic() - inst.invoked_at) * 1000
        rss = peak_rss_mb(inst.proc.pid)
        init = f"\tInit Duration: {inst.init_ms:.2f} ms" if inst.init_ms is not None else ""
        inst.init_ms = None
        print(f"{inst.name} END RequestId: {request_id}\n{inst.name} REPORT RequestId: "
              f"{request_id}\tDuration: {took:.2f} ms\tBilled Duration: {int(took) + 1} ms\t"
              f"Memory Size: {self.spec.memory_mb} MB\tMax Memory Used: {rss} MB{init}",
              flush=True)
        inv.settle(payload, error)
        if inst.stale:
            self.retire(inst)
        return True


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"


def peak_rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


# --- DynamoDB Streams ------------------------------------------------------------------

class PatternError(ValueError):
    pass


def matches(pattern, value):
    """Whether an event matches one EventBridge-style pattern (what Lambda's FilterCriteria
    take): nested objects, and at the leaves lists of exact values or of `prefix`,
    `anything-but` and `exists` matchers."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        return all(_field(p, k in value, value.get(k)) for k, p in pattern.items())
    raise PatternError("a pattern is an object")


def _field(p, present, value):
    if isinstance(p, dict):
        return present and matches(p, value)
    if not isinstance(p, list):
        raise PatternError(f"a pattern's leaf is a list, not {p!r}")
    return any(_leaf(m, present, value) for m in p)


def _leaf(m, present, value):
    if isinstance(m, dict):
        if len(m) != 1:
            raise PatternError(f"one matcher per object: {m!r}")
        (kind, arg), = m.items()
        if kind == "exists":
            return present == bool(arg)
        if not present:
            return False
        if kind == "prefix":
            return isinstance(value, str) and value.startswith(str(arg))
        if kind == "anything-but":
            banned = arg if isinstance(arg, list) else [arg]
            return value not in banned
        raise PatternError(f"matcher {kind!r} is not supported here")
    return present and value == m


def parse_filters(props):
    """The mapping's patterns (each a dict), or [] for no filter; refuses what it cannot read."""
    out = []
    for f in ((props.get("FilterCriteria") or {}).get("Filters") or []):
        pattern = f.get("Pattern") if isinstance(f, dict) else None
        if isinstance(pattern, str):
            pattern = json.loads(pattern)
        if not isinstance(pattern, dict):
            raise PatternError(f"a filter's Pattern is a JSON object: {f!r}")
        _validate(pattern)
        out.append(pattern)
    return out


SUPPORTED = ("prefix", "anything-but", "exists")


def _validate(pattern):
    if not isinstance(pattern, dict):
        raise PatternError("a pattern is an object")
    for p in pattern.values():
        if isinstance(p, dict):
            _validate(p)
        elif not isinstance(p, list):
            raise PatternError(f"a pattern's leaf is a list, not {p!r}")
        else:
            for m in p:
                if isinstance(m, dict) and (len(m) != 1 or next(iter(m)) not in SUPPORTED):
                    raise PatternError(f"matcher {m!r} is not supported here")


class Streams:
    """A DynamoDB Streams client for DynamoDB Local (which checks no signature)."""

    def __init__(self, session, endpoint):
        self.session, self.endpoint = session, endpoint.rstrip("/") + "/"

    async def call(self, target, body):
        headers = {
            "X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/"
                             "aws4_request, SignedHeaders=host, Signature=0"}
        async with self.session.post(self.endpoint, data=json.dumps(body),
                                     headers=headers) as resp:
            data = await resp.read()
            out = json.loads(data) if data else {}
            if resp.status != 200:
                kind = str(out.get("__type", "")).rsplit("#", 1)[-1]
                raise StreamError(kind, out.get("Message") or out.get("message") or resp.status)
            return out


class StreamError(Exception):
    def __init__(self, kind, message):
        super().__init__(f"{kind}: {message}")
        self.kind = kind


class Mapping:
    """One DynamoDB event source mapping: the table's stream to one function."""

    def __init__(self, fleet, pool, name, props):
        self.fleet, self.pool, self.name = fleet, pool, f"{pool.spec.binary}.{name}"
        self.starting_position = props.get("StartingPosition") or "LATEST"
        if self.starting_position not in ("LATEST", "TRIM_HORIZON"):
            sys.exit(f"fleet: {self.name}: StartingPosition {self.starting_position} "
                     "is not supported")
        self.batch_size = int(props.get("BatchSize") or 100)
        self.max_retries = int(props.get("MaximumRetryAttempts", -1))
        self.report_failures = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])
        try:
            self.filters = parse_filters(props)
        except (PatternError, ValueError) as e:
            sys.exit(f"fleet: {self.name}: FilterCriteria: {e}")
        self.stream_arn = None
        self.shards = {}  # shard id -> task
        self.done = set()  # finished (closed and drained) shards
        self.stats = {"function": pool.spec.binary, "streamArn": None, "shards": 0,
                      "recordsRead": 0, "recordsFiltered": 0, "recordsDelivered": 0,
                      "batches": 0, "batchesFailed": 0, "batchesDiscarded": 0, "retries": 0,
                      "lastBatchLagMs": None, "maxBatchLagMs": 0, "pending": 0,
                      "blocked": False, "lastError": None}

    async def run(self, streams):
        first = True
        while True:
            try:
                await self._discover(streams, first)
            except (StreamError, OSError, asyncio.TimeoutError, ValueError, KeyError) as e:
                self.stats["lastError"] = str(e)[:300]
            first = False
            await asyncio.sleep(max(1.0, self.fleet.poll_s))

    async def _discover(self, streams, first):
        table = (await streams.call("DynamoDB_20120810.DescribeTable",
                                    {"TableName": self.fleet.table}))["Table"]
        arn = table.get("LatestStreamArn")
        if not arn or not (table.get("StreamSpecification") or {}).get("StreamEnabled", True):
            return
        if arn != self.stream_arn:
            for task in self.shards.values():
                task.cancel()
            # A stream there when the fleet started begins at StartingPosition; one made
            # later (the table is created after the fleet) from its start, as everything in
            # it came after the mapping.
            self.stream_arn, self.shards, self.done = arn, {}, set()
            self.initial = first
            self.stats["streamArn"] = arn
        shards, start = [], None
        while True:
            body = {"StreamArn": arn}
            if start:
                body["ExclusiveStartShardId"] = start
            desc = (await streams.call("DynamoDBStreams_20120810.DescribeStream", body))["StreamDescription"]
            shards += desc.get("Shards") or []
            start = desc.get("LastEvaluatedShardId")
            if not start:
                break
        known = {s["ShardId"] for s in shards}
        for s in shards:
            sid = s["ShardId"]
            if sid in self.shards:
                continue
            parent = s.get("ParentShardId")
            if parent and parent in known and parent not in self.done:
                continue  # a child waits for its parent to drain
            position = self.starting_position if self.initial else "TRIM_HORIZON"
            self.shards[sid] = asyncio.get_running_loop().create_task(
                self._shard(streams, arn, sid, position))
        self.initial = False
        self.stats["shards"] = len(self.shards) - len(self.done)

    async def _shard(self, streams, arn, sid, position):
        iterator = None
        last_seq = None
        backlog = collections.deque()
        fetched_at = {}
        while True:
            try:
                if iterator is None:
                    body = {"StreamArn": arn, "ShardId": sid}
                    if last_seq:
                        body.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                                    SequenceNumber=last_seq)
                    else:
                        body["ShardIteratorType"] = position
                    iterator = (await streams.call(
                        "DynamoDBStreams_20120810.GetShardIterator", body)).get("ShardIterator")
                    if iterator is None:
                        break
                got = await streams.call("DynamoDBStreams_20120810.GetRecords",
                                         {"ShardIterator": iterator})
            except StreamError as e:
                self.stats["lastError"] = str(e)[:300]
                if e.kind in ("ExpiredIteratorException", "TrimmedDataAccessException"):
                    iterator = None
                elif e.kind == "ResourceNotFoundException":
                    return  # the stream went with its table
                await asyncio.sleep(1.0)
                continue
            except (OSError, asyncio.TimeoutError, ValueError) as e:
                self.stats["lastError"] = str(e)[:300]
                await asyncio.sleep(1.0)
                continue
            records = got.get("Records") or []
            t = time.monotonic()
            for r in records:
                last_seq = r["dynamodb"]["SequenceNumber"]
                self.stats["recordsRead"] += 1
                if self.filters and not any(_safe_match(p, r) for p in self.filters):
                    self.stats["recordsFiltered"] += 1
                    continue
                r["eventSourceARN"], r["awsRegion"] = arn, REGION
                backlog.append(r)
                fetched_at[last_seq] = t
            self.stats["pending"] = len(backlog)
            while backlog:
                batch = [backlog[i] for i in range(min(self.batch_size, len(backlog)))]
                done = await self._deliver(batch)
                for _ in range(done):
                    r = backlog.popleft()
                    seen = fetched_at.pop(r["dynamodb"]["SequenceNumber"], t)
                    lag = int((time.monotonic() - seen) * 1000)
                    self.stats["lastBatchLagMs"] = lag
                    self.stats["maxBatchLagMs"] = max(self.stats["maxBatchLagMs"], lag)
                self.stats["pending"] = len(backlog)
            iterator = got.get("NextShardIterator")
            if iterator is None:
                break  # closed and drained
            if not records:
                await asyncio.sleep(self.fleet.poll_s)
        self.done.add(sid)

    async def _deliver(self, batch):
        """Delivers one batch until it succeeds (Lambda blocks the shard): how many records
        at the head of the batch are done."""
        attempt = 0
        while True:
            inv = Invocation(json.dumps({"Records": batch}).encode(), source=self.name)
            self.pool.submit(inv)
            payload, error = await inv.future
            self.stats["batches"] += 1
            failed_at = None if not error else 0
            if not error and self.report_failures:
                failed_at = _first_failure(payload, batch)
            if failed_at is None:
                self.stats["recordsDelivered"] += len(batch)
                self.stats["blocked"] = False
                return len(batch)
            self.stats["batchesFailed"] += 1
            self.stats["blocked"] = True
            if failed_at > 0:
                # Lambda checkpoints before the first failed record and retries from it.
                self.stats["recordsDelivered"] += failed_at
                return failed_at
            attempt += 1
            if 0 <= self.max_retries < attempt:
                self.stats["batchesDiscarded"] += 1
                self.stats["blocked"] = False
                log(f"{self.name}: a batch of {len(batch)} records failed {attempt} times: "
                    "discarded (MaximumRetryAttempts)")
                return len(batch)
            self.stats["retries"] += 1
            await asyncio.sleep(min(0.1 * 2 ** min(attempt, 5), 2.0))


def _safe_match(pattern, record):
    try:
        return matches(pattern, record)
    except PatternError:
        return False


def _first_failure(payload, batch):
    """From a ReportBatchItemFailures answer: the index of the first failed record, None
    when all succeeded. An answer Lambda cannot read fails the whole batch (0)."""
    try:
        answer = json.loads(payload) if payload else None
    except ValueError:
        return 0
    if answer is None or answer == {}:
        return None
    if not isinstance(answer, dict):
        return 0
    failures = answer.get("batchItemFailures")
    if failures is None or failures == []:
        return None
    seqs = [r["dynamodb"]["SequenceNumber"] for r in batch]
    idx = []
    for f in failures if isinstance(failures, list) else [None]:
        ident = f.get("itemIdentifier") if isinstance(f, dict) else None
        if ident not in seqs:
            return 0
        idx.append(seqs.index(ident))
    return min(idx)


# --- the server ---------------------------------------------------------------------------

class Fleet:
    def __init__(self, args, specs):
        self.port, self.bin_dir = args.port, os.path.abspath(args.bin_dir)
        self.concurrency = args.concurrency
        self.queue_timeout_s = args.queue_timeout
        self.init_timeout_s = args.init_timeout
        self.poll_s = args.poll_ms / 1000
        self.table = os.environ.get("TABLE_NAME")
        self.pools = {s.binary: Pool(self, s) for s in specs}
        self.names = {}
        for s in specs:
            self.names[s.binary] = self.names[s.logical] = s.binary
        self.mappings = [Mapping(self, self.pools[s.binary], name, props)
                         for s in specs for name, props in s.streams]
        self.started = time.time()

    def resolve(self, name):
        """A binary name, a logical id, `name:qualifier` or an ARN."""
        name = unquote(name)
        if name.startswith("arn:"):
            parts = name.split(":")
            name = parts[6] if len(parts) > 6 else ""
        else:
            name = name.split(":", 1)[0]
        return self.pools.get(self.names.get(name, ""))

    async def invoke(self, request):
        pool = self.resolve(request.match_info["name"])
        if pool is None:
            return aws_error(404, "ResourceNotFoundException",
                             f"Function not found: {request.match_info['name']}")
        payload = await request.read()
        if not payload:
            payload = b"{}"
        try:
            json.loads(payload)
        except ValueError:
            return aws_error(400, "InvalidRequestContentException",
                             "Could not parse request body into json")
        kind = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if kind == "DryRun":
            return web.Response(status=204)
        inv = Invocation(payload)
        pool.submit(inv)
        if kind == "Event":
            return web.Response(status=202, headers={"x-amzn-RequestId": inv.request_id})
        body, error = await inv.future
        if error == "throttled":
            return aws_error(429, "TooManyRequestsException", "Rate Exceeded.")
        headers = {"Content-Type": "application/json", "x-amzn-RequestId": inv.request_id,
                   "X-Amz-Executed-Version": "$LATEST"}
        if error:
            headers["X-Amz-Function-Error"] = "Unhandled"
        return web.Response(status=200, body=body, headers=headers)

    def instance(self, request):
        pool = self.pools.get(request.match_info["fn"])
        inst = pool and pool.instances.get(int(request.match_info["idx"]))
        if inst is None or inst.state == "dead":
            raise web.HTTPNotFound(text="no such instance")
        return pool, inst

    async def next(self, request):
        pool, inst = self.instance(request)
        try:
            inv = await pool.next_invocation(inst)
        except asyncio.CancelledError:
            raise
        spec = pool.spec
        print(f"{inst.name} START RequestId: {inv.request_id} Version: $LATEST", flush=True)
        return web.Response(body=inv.payload, headers={
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": inv.request_id,
            "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn":
                f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{spec.binary}",
            "Lambda-Runtime-Trace-Id": inv.trace_id,
        })

    async def response(self, request):
        pool, inst = self.instance(request)
        body = await request.read()
        if not pool.finish(inst, request.match_info["rid"], body, False):
            return aws_error(400, "InvalidRequestID", "no such invocation in flight")
        return web.json_response({"status": "OK"}, status=202)

    async def error(self, request):
        pool, inst = self.instance(request)
        body = await request.read()
        if not pool.finish(inst, request.match_info["rid"], _as_error(body, request), True):
            return aws_error(400, "InvalidRequestID", "no such invocation in flight")
        return web.json_response({"status": "OK"}, status=202)

    async def init_error(self, request):
        pool, inst = self.instance(request)
        body = _as_error(await request.read(), request)
        log(f"{inst.name}: init error: {body[:300].decode(errors='replace')}")
        if inst.state == "starting":
            pool._fail_init(inst, body)
        else:
            pool.retire(inst)
        return web.json_response({"status": "OK"}, status=202)

    async def stats(self, _request):
        return web.json_response({
            "concurrency": self.concurrency,
            "uptimeS": round(time.time() - self.started, 1),
            "functions": {b: p.stats for b, p in self.pools.items()},
            "mappings": [m.stats for m in self.mappings],
        })

    async def health(self, _request):
        return web.json_response({"fleet": "up", "functions": len(self.pools)})

    async def watch_binaries(self):
        """A rebuilt binary retires its instances (idle now, busy after their invocation)."""
        while True:
            await asyncio.sleep(1.0)
            for pool in self.pools.values():
                mtime = pool._mtime()
                if mtime is None or mtime == pool.mtime:
                    continue
                pool.mtime = mtime
                log(f"{pool.spec.binary}: rebuilt; its instances restart")
                for inst in list(pool.instances.values()):
                    inst.stale = True
                    if inst.state in ("idle", "starting"):
                        pool.retire(inst)


def _as_error(body, request):
    try:
        parsed = json.loads(body)
        if isinstance(parsed, dict):
            return body
    except ValueError:
        pass
    kind = request.headers.get("Lambda-Runtime-Function-Error-Type", "Unhandled")
    return error_payload(kind, body.decode(errors="replace")[:1000])


def aws_error(status, kind, message):
    return web.json_response({"Type": "User", "message": message}, status=status,
                             headers={"x-amzn-ErrorType": kind})


async def serve(args):
    specs = load_specs(args.template)
    missing = [s.binary for s in specs if not os.access(os.path.join(args.bin_dir, s.binary), os.X_OK)]
    if missing:
        sys.exit(f"fleet: not built in {args.bin_dir}: {', '.join(missing)} "
                 "(run `cargo build -p cardvault-functions --bins`)")
    fleet = Fleet(args, specs)
    app = web.Application(client_max_size=7 * 1024 * 1024)
    rt = "/rt/{fn}/{idx:[0-9]+}" + RUNTIME
    app.add_routes([
        web.get("/", fleet.health),
        web.get("/_fleet/stats", fleet.stats),
        web.post("/2015-03-31/functions/{name}/invocations", fleet.invoke),
        web.get(rt + "/invocation/next", fleet.next),
        web.post(rt + "/invocation/{rid}/response", fleet.response),
        web.post(rt + "/invocation/{rid}/error", fleet.error),
        web.post(rt + "/init/error", fleet.init_error),
    ])
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port, backlog=1024).start()
    log(f"listening on http://127.0.0.1:{args.port}: {len(specs)} functions, up to "
        f"{args.concurrency} instances each, {len(fleet.mappings)} stream mappings")
    tasks = [asyncio.get_running_loop().create_task(fleet.watch_binaries())]
    session = None
    if fleet.mappings:
        endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
        if not endpoint or not fleet.table:
            sys.exit("fleet: stream mappings need AWS_ENDPOINT_URL_DYNAMODB and TABLE_NAME")
        session = ClientSession(timeout=ClientTimeout(total=30))
        streams = Streams(session, endpoint)
        for m in fleet.mappings:
            log(f"mapping {m.name}: {fleet.table}'s stream, {m.starting_position}, batches of "
                f"{m.batch_size}, {len(m.filters)} filters")
            tasks.append(asyncio.get_running_loop().create_task(m.run(streams)))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    for pool in fleet.pools.values():
        for inst in list(pool.instances.values()):
            pool.retire(inst)
    for t in tasks:
        t.cancel()
    if session:
        await session.close()
    await runner.cleanup()


def main():
    ap = argparse.ArgumentParser(description="Lambda's concurrency, locally")
    ap.add_argument("--template", default="template.yaml")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--bin-dir", default="target/debug",
                    help="where the functions' prebuilt binaries are")
    ap.add_argument("--concurrency", type=int,
                    default=int(os.environ.get("CONCURRENCY") or 4),
                    help="instances per function at most (default: $CONCURRENCY, or 4)")
    ap.add_argument("--queue-timeout", type=float, default=120.0,
                    help="seconds an invocation waits for an instance before a 429")
    ap.add_argument("--init-timeout", type=float, default=30.0,
                    help="seconds an instance has to ask for its first invocation")
    ap.add_argument("--poll-ms", type=int, default=150,
                    help="how often a stream shard with nothing new is polled")
    args = ap.parse_args()
    if args.concurrency < 1:
        sys.exit("fleet: --concurrency is at least 1")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
