#!/usr/bin/env bash
# make sam-local (make test runs it): every function through `sam local start-lambda` (its
# shipped event answers the status events/expected.toml names, a real-credential event 2xx)
# and the API through `sam local start-api`, in Docker, against the local stand-ins (README,
# "Develop with SAM").
#
# - Docker: docker.io from apt when missing; dockerd started when none runs (and stopped after).
# - The image: AWS's Lambda base images cannot be pulled here, so a stand-in built once from
#   Debian's packages (debootstrap minbase with CA certificates, `docker import`), cached in
#   .tools/sam/. SAM adds its own runtime interface emulator on top.
# - sam build for this machine's architecture: debug binaries (CARDVAULT_SAM_PROFILE=debug),
#   the ones make test has already built; `make sam-build` is the release build.
# - The stack: make test's own when CARDVAULT_STACK is set, else one of its own (.tools/run-sam).
# - Containers reach the stand-ins through infra/gateway.py on the bridge's gateway address.
# Whatever it started it stops, and it leaves no container behind. If Docker cannot run, it
# says so in one line and fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SAM_DIR="$ROOT/.tools/sam"
VENV="$ROOT/.tools/venv"
export SAM_CLI_TELEMETRY=0
started=$SECONDS
mkdir -p "$SAM_DIR"

say() { printf 'sam-local: %s\n' "$*"; }
fail() {
  printf 'sam-local: FAILED: %s\n' "$*" >&2
  exit 1
}
took() { say "$1 ($((SECONDS - $2)) s)"; }

dockerd_pid="" gateway_pid="" own_stack="" image=""
cleanup() {
  local rc=$?
  set +e
  if [[ -n $gateway_pid ]]; then kill "$gateway_pid" 2>/dev/null && wait "$gateway_pid" 2>/dev/null; fi
  # SAM removes its containers; anything of ours still there (an interrupted run) goes too.
  if [[ -n $image ]] && docker info >/dev/null 2>&1; then
    local left
    left="$(docker ps -aq --filter "label=cardvault.sam-local" 2>/dev/null)"
    left+=" $(docker ps -aq --filter "ancestor=$image" 2>/dev/null)"
    if [[ -n ${left// /} ]]; then
      # shellcheck disable=SC2086
      docker rm -f $left >/dev/null 2>&1
      say "removed leftover containers: $left"
    fi
  fi
  # A process of its stack left behind fails the run (stack.sh down says which).
  if [[ -n $own_stack ]] && ! infra/stack.sh down >"$SAM_DIR/stack-down.log" 2>&1; then
    cat "$SAM_DIR/stack-down.log" >&2
    ((rc)) || rc=1
  fi
  if [[ -n $dockerd_pid ]] && kill -TERM "$dockerd_pid" 2>/dev/null; then
    for _ in $(seq 1 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
    say "dockerd (started here) stopped"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Docker ----------------------------------------------------------------------------
t0=$SECONDS
infra/tools.sh docker >/dev/null || fail "Docker cannot run on this machine: installing docker.io failed (.tools/install.log)"
if ! docker info >/dev/null 2>&1; then
  setsid dockerd >"$SAM_DIR/dockerd.log" 2>&1 </dev/null &
  dockerd_pid=$!
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null || break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 \
    || fail "Docker cannot run on this machine: dockerd did not start: $(tail -n1 "$SAM_DIR/dockerd.log" | cut -c1-200) (.tools/sam/dockerd.log)"
  took "dockerd started" "$t0"
else
  say "docker: a running dockerd"
fi
# The default bridge's gateway: this machine's own address on the bridge (docker0). Not
# every dockerd lists it in the network's IPAM config; the interface always has it.
bridge_if="$(docker network inspect bridge -f '{{index .Options "com.docker.network.bridge.name"}}' 2>/dev/null)" \
  || fail "Docker cannot run on this machine: no default bridge network"
gateway="$(docker network inspect bridge -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}')"
[[ -n $gateway ]] || gateway="$(ip -4 -o addr show dev "${bridge_if:-docker0}" 2>/dev/null | awk '{sub("/.*", "", $4); print $4; exit}')"
[[ -n $gateway ]] || fail "Docker cannot run on this machine: the bridge network has no gateway address"

# --- The stand-in base image -----------------------------------------------------------
# The host's own Debian release: the debug binaries are linked against its glibc.
. /etc/os-release
suite=${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}
recipe="debootstrap --variant=minbase --include=ca-certificates $suite v1"
key="$(printf '%s' "$recipe" | sha256sum | cut -c1-12)"
image="cardvault-sam-base:$key"
tarball="$SAM_DIR/base-$key.tar"
t0=$SECONDS
if docker image inspect "$image" >/dev/null 2>&1; then
  say "image $image: ok (cached)"
else
  if [[ ! -f $tarball ]]; then
    # The mirror apt uses on this machine (Debian's packages are the one source).
    mirror="$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)"
    [[ -n $mirror ]] || mirror="$(awk '$1 == "deb" && $3 ~ /^'"$suite"'$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)"
    [[ -n $mirror ]] || fail "no Debian mirror found in apt's sources for debootstrap"
    rootfs="$SAM_DIR/rootfs.tmp"
    rm -rf "$rootfs"
    say "building the stand-in image from Debian $suite (debootstrap, about 1.5 min)"
    debootstrap --variant=minbase --include=ca-certificates "$suite" "$rootfs" "$mirror" \
      >"$SAM_DIR/debootstrap.log" 2>&1 || fail "debootstrap failed (.tools/sam/debootstrap.log)"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
      "$rootfs"/usr/share/doc "$rootfs"/usr/share/man "$rootfs"/usr/share/locale
    tar -C "$rootfs" --numeric-owner -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
  fi
  docker import --change 'LABEL cardvault.sam-base=1' "$tarball" "$image" >/dev/null \
    || fail "docker import $tarball"
  took "image $image: built" "$t0"
fi

# --- The stack -------------------------------------------------------------------------
if [[ -n ${CARDVAULT_STACK:-} && -f ${CARDVAULT_RUN_DIR:-/nonexistent}/stack.env ]]; then
  say "stack: the caller's ($CARDVAULT_STACK)"
else
  t0=$SECONDS
  export CARDVAULT_RUN_DIR="$ROOT/.tools/run-sam" CARDVAULT_ROUTER_PORT=0
  export TABLE_NAME=cardvault-sam JWT_ISSUER=cardvault-local JWT_AUDIENCE=cardvault-local
  # Each package alone, as make test builds them: the functions package alone has its own
  # feature set (its binaries are what the fleet and sam build run).
  cargo build -q -p cardvault-functions --bins
  cargo build -q -p cardvault-admin
  own_stack=1
  infra/stack.sh up --serve >"$SAM_DIR/stack.log" 2>&1 || fail "stack: see .tools/sam/stack.log"
  # shellcheck source=/dev/null
  . "$CARDVAULT_RUN_DIR/stack.env"
  "$VENV/bin/python" infra/bootstrap.py --admin target/debug/cardvault-admin \
    --table "$TABLE_NAME" >"$CARDVAULT_RUN_DIR/bootstrap.json"
  export CARDVAULT_STACK="$CARDVAULT_RUN_DIR/stack.json"
  "$VENV/bin/python" infra/facts.py write "$CARDVAULT_RUN_DIR/bootstrap.json" "$CARDVAULT_STACK"
  took "stack: its own in $CARDVAULT_RUN_DIR" "$t0"
fi
# shellcheck source=/dev/null
. "$CARDVAULT_RUN_DIR/stack.env"

# --- sam build -------------------------------------------------------------------------
case "$(uname -m)" in
  x86_64) arch=x86_64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) fail "no Lambda architecture for $(uname -m)" ;;
esac
t0=$SECONDS
build_dir="$SAM_DIR/build"
CARDVAULT_SAM_ARCH=$arch CARDVAULT_SAM_PROFILE=${CARDVAULT_SAM_PROFILE:-debug} \
  "$VENV/bin/sam" build --build-dir "$build_dir" --parameter-overrides "Architecture=$arch" \
  >"$SAM_DIR/build.log" 2>&1 || {
  tail -n 20 "$SAM_DIR/build.log" >&2
  fail "sam build (.tools/sam/build.log)"
}
took "sam build ($arch, ${CARDVAULT_SAM_PROFILE:-debug} binaries)" "$t0"

# --- The gateway: the stand-ins, and nothing else, on the bridge's gateway address -------
port_of() { sed -E 's#^https?://[^:/]+:([0-9]+).*#\1#' <<<"$1"; }
rm -f "$SAM_DIR/gateway.json"
"$VENV/bin/python" infra/gateway.py --listen "$gateway" --ports-file "$SAM_DIR/gateway.json" \
  "dynamodb=$(port_of "$AWS_ENDPOINT_URL_DYNAMODB")" \
  "secretsmanager=$(port_of "$AWS_ENDPOINT_URL_SECRETS_MANAGER")" \
  "stripe=$(port_of "$STRIPE_API_BASE")" \
  "siteverify=$(port_of "$RECAPTCHA_VERIFY_URL")" >"$SAM_DIR/gateway.log" 2>&1 &
gateway_pid=$!
for _ in $(seq 1 100); do [[ -f $SAM_DIR/gateway.json ]] && break; sleep 0.1; done
[[ -f $SAM_DIR/gateway.json ]] || fail "gateway on $gateway did not start (.tools/sam/gateway.log)"

# --- The checks ------------------------------------------------------------------------
common=(--facts "$CARDVAULT_STACK" --gateway-ports "$SAM_DIR/gateway.json" --gateway "$gateway"
  --image "$image" --template "$build_dir/template.yaml" --arch "$arch" --work "$SAM_DIR/work")
rm -rf "$SAM_DIR/work"
"$VENV/bin/python" infra/sam_local.py invoke "${common[@]}"
"$VENV/bin/python" infra/sam_local.py start-api "${common[@]}"

left="$(docker ps -aq --filter "ancestor=$image")"
[[ -z $left ]] || fail "containers left behind: $left"
say "done in $((SECONDS - started)) s"
