#!/usr/bin/env bash
# Local AWS stack for development and tests: DynamoDB Local, moto (Secrets
# Manager), localstripe and the reCAPTCHA siteverify stand-in, each on a free
# port of 127.0.0.1 and on no other address (checked once each is up).
#
#   infra/stack.sh up       start everything, write $RUN_DIR/stack.env
#   infra/stack.sh up --serve
#                           also serve the functions: infra/fleet.py (up to $CONCURRENCY
#                           instances per function, default 4, each a process of the
#                           prebuilt target/debug/<binary>, inheriting the stack's env and
#                           TABLE_NAME) behind infra/router.py on $CARDVAULT_ROUTER_PORT
#                           (0 or unset: a free port); adds CARDVAULT_BASE_URL and
#                           CARDVAULT_LAMBDA_PORT to stack.env. FLEET_TIMEOUT_SCALE
#                           stretches every function's Timeout (README, "Concurrency
#                           locally")
#   infra/stack.sh down     stop everything (no-op when nothing runs)
#   infra/stack.sh status   show what runs; exit 0 only if all four are healthy
#
# RUN_DIR is .tools/run, or $CARDVAULT_RUN_DIR so a dev and a test stack can run
# side by side. Then: `. "$RUN_DIR/stack.env"` to point the SDK and the clients at it.
set -euo pipefail
# A closed terminal or pipe must not kill `down` halfway: writes fail, the script goes on.
trap '' PIPE

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
VENV="$TOOLS/venv"
RUN_DIR="${CARDVAULT_RUN_DIR:-$TOOLS/run}"
SERVICES=(dynamodb secretsmanager stripe siteverify)
SERVING=(lambda router)
# Generous: on a loaded 2-core machine, the JVM and moto can take a minute to come up.
HEALTH_TIMEOUT_S=${CARDVAULT_HEALTH_TIMEOUT_S:-180}
PASS_TOKEN="cardvault-test-pass"
declare -A PORTS T0S # per service: chosen port, start time (ms)

say() { printf 'stack: %s\n' "$*" || true; }
now_ms() { date +%s%3N; }

free_port() {
  # The kernel picks an unused port; the tiny race until the server binds it
  # is acceptable for a dev stack.
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pid_of() { cat "$RUN_DIR/$1.pid" 2>/dev/null || true; }
port_of() { cat "$RUN_DIR/$1.port" 2>/dev/null || true; }

# Each service runs as the leader of its own session (setsid), so its pid is
# also its process-group id and `kill -- -PID` reaches every child it forked.
group_alive() { [[ -n "$1" ]] && kill -0 -- "-$1" 2>/dev/null; }
# Just after `start`, the child may not have called setsid yet, so its group does not
# exist though it runs: during start-up, the process itself counts as alive too.
starting_alive() { [[ -n "$1" ]] && { kill -0 -- "$1" 2>/dev/null || group_alive "$1"; }; }

start() {
  local name=$1
  shift
  # setsid does not fork here (a background job of a non-interactive shell is
  # not a group leader), so $! is the new session's id.
  setsid "$@" >"$RUN_DIR/$name.log" 2>&1 </dev/null &
  printf '%s\n' "$!" >"$RUN_DIR/$name.pid"
  # Every session this run dir started, with its leader's start time (a pid is reused
  # only once no process is left in its session), kept until a down finds none of it left.
  local stat_line fields=()
  stat_line="$(cat "/proc/$!/stat" 2>/dev/null)" || stat_line=""
  read -ra fields <<<"${stat_line##*) }"
  printf '%s %s\n' "$!" "${fields[19]:-0}" >>"$RUN_DIR/sessions"
}

# After a down: any process still in a session or process group this run dir started, or
# with a file of the run dir as its stdout or stderr (a service's log is every child's
# stdout: a child that left its session still writes there), other than this script and its
# callers. Prints "PID COMMAND" per process, kills those of its sessions (surely ours), and
# answers 1 when there was any. A process that merely has a run-dir file open otherwise (tail
# -f on a log, an editor) is not the stack's: it is named on stderr, left alone, and passes.
leftovers() {
  python3 - "$RUN_DIR" <<'PY'
import os, signal, sys, time
run_dir = os.path.realpath(sys.argv[1])
def stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[1]), int(rest[2]), int(rest[3]), int(rest[19])  # ppid, pgrp, sid, start
ours = set()
try:
    with open(os.path.join(run_dir, "sessions")) as f:
        for line in f:
            leader, started = (int(x) for x in line.split())
            try:
                if stat(leader)[3] != started:
                    continue  # the pid is another process's now: that session is over
            except OSError:
                pass  # the leader is gone; its session lives while any member does
            ours.add(leader)
except FileNotFoundError:
    pass
# This script and its callers (make test holds the run dir's files it writes to).
mine, pid = set(), os.getpid()
while pid > 1:
    mine.add(pid)
    try:
        pid = stat(pid)[0]
    except OSError:
        break
def in_run_dir(pid, fd):
    return os.readlink(f"/proc/{pid}/fd/{fd}").startswith(run_dir + "/")
found, killable, others = [], [], []
for entry in os.listdir("/proc"):
    if not entry.isdigit() or int(entry) in mine:
        continue
    pid = int(entry)
    try:
        _, pgrp, sid, _ = stat(pid)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:160]
        fds = os.listdir(f"/proc/{pid}/fd")
        writes = any(in_run_dir(pid, fd) for fd in ("1", "2") if fd in fds)
        held = writes or any(in_run_dir(pid, fd) for fd in fds)
    except OSError:
        continue  # gone meanwhile, or not ours to read
    if not cmd:
        continue  # a kernel thread or a zombie
    if pgrp in ours or sid in ours:
        killable.append(pid)
    elif not writes:
        if held:
            others.append(f"{pid} {cmd}")
        continue
    found.append(f"{pid} {cmd}")
for line in others:
    print(f"stack: WARNING: {line} has a file of {run_dir} open; not the stack's, left alone",
          file=sys.stderr)
for line in found:
    print(line)
for pid in killable:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
sys.exit(1 if found else 0)
PY
}

# infra/dynamodb/LoopbackDynamoDB.java compiled once per source, flags and emulator, in
# .tools; prints the class folder. Made beside and renamed, so stacks starting at once can
# share it. --release 17: the class loads on the java tools.sh asks for (17 or newer) even
# when javac is newer than java.
JAVAC_FLAGS=(-nowarn --release 17)
loopback_dynamodb() {
  local emulator=$1 src="$ROOT/infra/dynamodb/LoopbackDynamoDB.java" key dir tmp
  # The emulator's sha256 file names its build: without it, a new emulator would reuse a
  # class compiled against the old one.
  [[ -f $emulator/sha256 ]] || { say "FAILED: no $emulator/sha256 (run infra/tools.sh)" >&2; exit 1; }
  key="$( { cat "$src" "$emulator/sha256"; printf '%s\n' "${JAVAC_FLAGS[@]}"; } | sha256sum | cut -c1-12)"
  dir="$TOOLS/dynamodb-loopback/$key"
  if [[ ! -f $dir/LoopbackDynamoDB.class ]]; then
    mkdir -p "$TOOLS/dynamodb-loopback"
    tmp="$(mktemp -d "$TOOLS/dynamodb-loopback/tmp.XXXXXX")"
    javac "${JAVAC_FLAGS[@]}" -cp "$emulator/DynamoDBLocal.jar" -d "$tmp" "$src" >&2 \
      || { rm -rf "$tmp"; say "FAILED: javac $src" >&2; exit 1; }
    mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
  fi
  printf '%s\n' "$dir"
}

# Every socket a service listens on is on 127.0.0.1: the stand-ins hold card data and
# secrets, and nothing here authenticates. Every TCP socket listening in a service's session
# counts (a child's too, on any port, not only the announced one), read from /proc, where a
# socket is found by its owner and so cannot go unseen as an empty `ss` filter did: each
# service must listen on its announced port, and on loopback only. Else fails, saying why.
loopback_only() {
  local name specs=()
  for name in "$@"; do specs+=("$name=${PORTS[$name]}=$(pid_of "$name")"); done
  python3 - "${specs[@]}" <<'PY' || exit 1
import ipaddress, os, sys
services = {}  # session id (the leader's pid) -> (name, announced port)
for spec in sys.argv[1:]:
    name, port, sid = spec.split("=")
    services[int(sid)] = (name, int(port))
inodes = {}  # socket inode -> service, over every fd of every process in its session
for entry in os.listdir("/proc"):
    if not entry.isdigit():
        continue
    try:
        with open(f"/proc/{entry}/stat") as f:
            sid = int(f.read().rsplit(")", 1)[1].split()[3])
        if sid not in services:
            continue
        for fd in os.listdir(f"/proc/{entry}/fd"):
            link = os.readlink(f"/proc/{entry}/fd/{fd}")
            if link.startswith("socket:["):
                inodes[int(link[8:-1])] = services[sid][0]
    except OSError:
        continue  # gone meanwhile
def address(hex_addr):
    raw = bytes.fromhex(hex_addr)
    # /proc/net/tcp{,6} print each 32-bit word in little-endian order.
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(raw)
    return getattr(ip, "ipv4_mapped", None) or ip
listening = {name: [] for name, _ in services.values()}
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    with open(table) as f:
        for row in f.read().splitlines()[1:]:
            cols = row.split()
            if cols[3] != "0A" or int(cols[9]) not in inodes:  # 0A: LISTEN
                continue
            host, port = cols[1].split(":")
            listening[inodes[int(cols[9])]].append((address(host), int(port, 16)))
bad = []
for name, port in services.values():
    socks = listening[name]
    if port not in {p for _, p in socks}:
        bad.append(f"{name} does not listen on its port {port} (it listens on: "
                   + (", ".join(f"{a}:{p}" for a, p in socks) or "nothing") + ")")
    # 0.0.0.0, [::] or another address is reachable from outside this machine.
    bad += [f"{name} listens on {a}:{p}" for a, p in socks if not a.is_loopback]
if bad:
    print("stack: FAILED: not on loopback only:", *bad, sep="\n  ", file=sys.stderr)
    sys.exit(1)
for name in listening:
    print(f"stack: {name} listens on loopback only: "
          + ", ".join(f"{a}:{p}" for a, p in sorted(listening[name], key=str)))
PY
}

healthy() {
  local name=$1 port=$2 url="http://127.0.0.1:$2"
  case $name in
    dynamodb)
      # DynamoDB Local wants an Authorization header but checks no signature.
      curl -fsS -o /dev/null --max-time 2 -X POST "$url/" \
        -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
        -H 'Content-Type: application/x-amz-json-1.0' \
        -H 'Authorization: AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0' \
        -d '{}' ;;
    secretsmanager) curl -fsS -o /dev/null --max-time 2 "$url/moto-api/data.json" ;;
    stripe) curl -fsS -o /dev/null --max-time 2 -u sk_test_health: "$url/v1/customers" ;;
    siteverify) curl -fsS -o /dev/null --max-time 2 "$url/health" ;;
    # Listening is enough: both answer unknown paths with 404.
    lambda | router) curl -sS -o /dev/null --max-time 2 "$url/" ;;
  esac 2>/dev/null
}

fail_start() {
  say "FAILED: $1 $2; last lines of $RUN_DIR/$1.log:" >&2
  tail -n 30 "$RUN_DIR/$1.log" >&2 || true
  exit 1
}

# Polls every service together so each reports its own start-up time.
wait_all_healthy() {
  local pending=("$@") still name ms
  while ((${#pending[@]})); do
    still=()
    for name in "${pending[@]}"; do
      if healthy "$name" "${PORTS[$name]}"; then
        ms=$(($(now_ms) - T0S[$name]))
        say "$name up on 127.0.0.1:${PORTS[$name]} ($((ms / 1000)).$(printf '%03d' $((ms % 1000))) s)"
      elif ! starting_alive "$(pid_of "$name")"; then
        fail_start "$name" "exited during start-up"
      elif (($(now_ms) - T0S[$name] > HEALTH_TIMEOUT_S * 1000)); then
        fail_start "$name" "not healthy after ${HEALTH_TIMEOUT_S}s"
      else
        still+=("$name")
      fi
    done
    pending=("${still[@]}")
    ((${#pending[@]})) && sleep 0.1
  done
  return 0
}

stop_one() {
  local name=$1 pid i
  pid="$(pid_of "$name")"
  if group_alive "$pid"; then
    kill -TERM -- "-$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      group_alive "$pid" || break
      sleep 0.1
    done
    if group_alive "$pid"; then
      kill -KILL -- "-$pid" 2>/dev/null || true
      sleep 0.2
    fi
    if group_alive "$pid"; then
      say "WARNING: $name (process group $pid) is still running" >&2
      return 1
    fi
    say "$name stopped"
  fi
  rm -f "$RUN_DIR/$name.pid" "$RUN_DIR/$name.port"
}

cmd_down() {
  local rc=0 name
  [[ -d "$RUN_DIR" ]] || return 0
  # The functions first: they use the stand-ins.
  for name in "${SERVING[@]}" "${SERVICES[@]}"; do stop_one "$name" || rc=1; done
  rm -f "$RUN_DIR/stack.env"
  # A teardown that leaves a process behind fails: it would hold ports, files and memory
  # into the next run, and a test that passed beside it proved less.
  local left
  if left="$(leftovers)"; then
    rm -f "$RUN_DIR/sessions"
  else
    say "FAILED: processes of $RUN_DIR left after down:" >&2
    printf '  %s\n' "${left//$'\n'/$'\n'  }" >&2
    rc=1
  fi
  return "$rc"
}

cmd_status() {
  local rc=0 name pid port names=("${SERVICES[@]}")
  [[ -f "$RUN_DIR/router.pid" ]] && names+=("${SERVING[@]}")
  for name in "${names[@]}"; do
    pid="$(pid_of "$name")"
    port="$(port_of "$name")"
    if group_alive "$pid" && [[ -n "$port" ]] && healthy "$name" "$port"; then
      say "$name: up on 127.0.0.1:$port (pid $pid)"
    elif group_alive "$pid"; then
      say "$name: running (pid $pid) but not healthy"
      rc=1
    else
      say "$name: down"
      rc=1
    fi
  done
  [[ -f "$RUN_DIR/stack.env" ]] && say "env: $RUN_DIR/stack.env"
  return "$rc"
}

cmd_up() {
  command -v curl >/dev/null 2>&1 || { say "FAILED: curl is needed for health checks" >&2; exit 1; }
  "$ROOT/infra/tools.sh"
  mkdir -p "$RUN_DIR"
  RUN_DIR="$(cd "$RUN_DIR" && pwd)"

  if [[ -f "$RUN_DIR/stack.env" ]] && cmd_status >/dev/null; then
    say "already up; env: $RUN_DIR/stack.env"
    return 0
  fi
  # Clear any half-started leftovers; what an earlier down left is said, not fatal here.
  cmd_down || say "WARNING: an earlier run left processes behind (killed, see above)" >&2

  local emulator name port loopback
  emulator="$(cat "$TOOLS/dynamodb-local.path")"
  # Here, not inside start's arguments: a failed compile must stop the up (set -e does not
  # reach into a command substitution used as an argument).
  loopback="$(loopback_dynamodb "$emulator")"
  for name in "${SERVICES[@]}"; do
    PORTS[$name]="$(free_port)"
    printf '%s\n' "${PORTS[$name]}" >"$RUN_DIR/$name.port"
  done

  # If anything below fails or is interrupted, leave nothing running.
  trap 'cmd_down >/dev/null 2>&1 || true' EXIT
  trap 'exit 130' INT TERM

  # All four start at once; health checks follow, so start-up costs the slowest one.
  T0S[dynamodb]="$(now_ms)"
  # -sharedDb: one database for every access key and region, so a client with
  # other fake credentials still sees the same tables. DynamoDB Local has no
  # bind-address option (its -port alone listens on every interface): it runs under
  # infra/dynamodb/LoopbackDynamoDB.java, which binds its server to 127.0.0.1
  # (loopback_only below checks every service).
  start dynamodb java -Djava.library.path="$emulator/DynamoDBLocal_lib" \
    -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
    -cp "$emulator/DynamoDBLocal.jar:$loopback" LoopbackDynamoDB \
    -inMemory -sharedDb -port "${PORTS[dynamodb]}" -disableTelemetry

  T0S[secretsmanager]="$(now_ms)"
  start secretsmanager "$VENV/bin/moto_server" -H 127.0.0.1 -p "${PORTS[secretsmanager]}"

  # localstripe, bound to 127.0.0.1 and patched to answer as Stripe does where cardvault
  # needs it (no pickling, CVC-less cards, metadata, resource_missing codes, Stripe-Account
  # notes, Connect OAuth, PaymentMethods and SetupIntents with 3-D Secure): each patch and
  # why it is there is in infra/localstripe_cardvault.py.
  T0S[stripe]="$(now_ms)"
  start stripe "$VENV/bin/python" "$ROOT/infra/localstripe_cardvault.py" "${PORTS[stripe]}"

  T0S[siteverify]="$(now_ms)"
  start siteverify "$VENV/bin/python" "$ROOT/infra/siteverify.py" --port "${PORTS[siteverify]}" \
    --jwks-file "$RUN_DIR/jwks.json"

  wait_all_healthy "${SERVICES[@]}"
  loopback_only "${SERVICES[@]}"

  local env_tmp="$RUN_DIR/stack.env.tmp"
  cat >"$env_tmp" <<EOF
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:${PORTS[dynamodb]}
export AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:${PORTS[secretsmanager]}
# moto serves KMS and STS on the same port as Secrets Manager.
export AWS_ENDPOINT_URL_KMS=http://127.0.0.1:${PORTS[secretsmanager]}
export AWS_ENDPOINT_URL_STS=http://127.0.0.1:${PORTS[secretsmanager]}
# Plain configuration, not a secret (template.yaml's StripePublishableKey).
export STRIPE_PUBLISHABLE_KEY=pk_test_cardvault_platform
export STRIPE_API_BASE=http://127.0.0.1:${PORTS[stripe]}
# The one principal the re-homing function serves (template.yaml's OperatorRoleArn names a
# role): here, the ARN moto's STS answers for the stack's credentials.
export OPERATOR_ROLE_ARN=arn:aws:sts::123456789012:user/moto
# Stripe Connect's OAuth token endpoint (cardvault-admin connect-account): localstripe's patch.
export STRIPE_CONNECT_BASE=http://127.0.0.1:${PORTS[stripe]}
export RECAPTCHA_VERIFY_URL=http://127.0.0.1:${PORTS[siteverify]}/recaptcha/api/siteverify
export RECAPTCHA_PASS_TOKEN=$PASS_TOKEN
# A development stack (template.yaml's Stage): the demo pages and tests are served from
# http://localhost, which a production stack never honours.
export CARDVAULT_STAGE=dev
# The local identity provider: RS256 tokens, verified against the JWKS bootstrap.py writes
# (so HS256 tokens are refused, as in a deployment with a JWKS).
export JWT_JWKS_URL=http://127.0.0.1:${PORTS[siteverify]}/.well-known/jwks.json
EOF
  if [[ "${1:-}" == "--serve" ]]; then
    serve "$env_tmp"
  fi
  mv "$env_tmp" "$RUN_DIR/stack.env"
  trap - EXIT INT TERM
  say "env: $RUN_DIR/stack.env"
}

# The fleet runs each function's instances as its children and passes them this
# environment: the stand-ins' endpoints from stack.env plus the caller's TABLE_NAME.
serve() {
  local env_file=$1 name
  : "${TABLE_NAME:?TABLE_NAME must be set to serve the functions}"
  # shellcheck source=/dev/null
  . "$env_file"
  PORTS[lambda]="$(free_port)"
  PORTS[router]="${CARDVAULT_ROUTER_PORT:-0}"
  [[ "${PORTS[router]}" == 0 ]] && PORTS[router]="$(free_port)"
  for name in "${SERVING[@]}"; do printf '%s\n' "${PORTS[$name]}" >"$RUN_DIR/$name.port"; done

  T0S[lambda]="$(now_ms)"
  (cd "$ROOT" && start lambda "$VENV/bin/python" "$ROOT/infra/fleet.py" \
    --template "$ROOT/template.yaml" --bin-dir "$ROOT/target/debug" \
    --port "${PORTS[lambda]}" --concurrency "${CONCURRENCY:-4}")
  T0S[router]="$(now_ms)"
  start router "$VENV/bin/python" "$ROOT/infra/router.py" --template "$ROOT/template.yaml" \
    --port "${PORTS[router]}" --lambda-url "http://127.0.0.1:${PORTS[lambda]}"
  wait_all_healthy "${SERVING[@]}"
  loopback_only "${SERVING[@]}"

  cat >>"$env_file" <<EOF
export CARDVAULT_BASE_URL=http://127.0.0.1:${PORTS[router]}
export CARDVAULT_LAMBDA_PORT=${PORTS[lambda]}
# The fleet (infra/fleet.py) serves the Lambda Invoke API: cardvault-admin rehome-cards
# invokes the rehome-cards function there; GET /_fleet/stats counts its instances.
export AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:${PORTS[lambda]}
export CONCURRENCY=${CONCURRENCY:-4}
EOF
}

case "${1:-}" in
  up) cmd_up "${2:-}" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 up [--serve]|down|status" >&2
    exit 2
    ;;
esac
