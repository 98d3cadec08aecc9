#!/usr/bin/env bash
# Installs the local-stack tools into the git-ignored .tools/ folder.
# Idempotent: each step is skipped when its stamp (a hash of its pinned inputs)
# matches, so a second run takes well under 2 s. Details go to .tools/install.log.
#
# Usage: infra/tools.sh [browser|docker|mutants]
#   browser: also Debian's Chromium (apt) and, from npm, playwright-core to drive it and
#   the jQuery the Fusebill sample page loads (make test's sample-page test needs them).
#   docker: also Debian's docker.io and debootstrap (make sam-local).
#   mutants: also cargo-mutants from crates.io, into .tools/cargo (make mutants).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
VENV="$TOOLS/venv"
LOG="$TOOLS/install.log"
REQS="$ROOT/infra/requirements.txt"

# DynamoDB Local ships inside this npm package (emulator/). Pinned by version,
# by npm's tarball integrity, and by the jar's own sha256.
DDB_PKG="amplify-dynamodb-simulator"
DDB_VERSION="2.9.30"
DDB_INTEGRITY="sha512-xTeeRLvzEfqyd5lh3bH4c0kHvSHHmmhD5ZDsHFKAQ5g2Zl6JqlFdutaQhCLHzxEp6Ry1o7TB6niIoXuQAnSewQ=="
DDB_JAR_SHA256="454305e9bc3e6ebcca5b62569869e31563b8d7e346474e94557b2600702146c7"
# Same place a plain `npm install --prefix .tools/npm` puts it, so either works.
DDB_DIR="$TOOLS/npm/node_modules/$DDB_PKG"

# The browser test's npm packages (no dependencies of their own), pinned the same way.
# playwright-core drives the machine's Chromium (executablePath), never a browser of its own.
PW_PKG="playwright-core"
PW_VERSION="1.64.1"
PW_INTEGRITY="sha512-BC4s8y6SEVA6Q1rSxZTto8hI1KUI3xXlHGZgvGqP4IqPdI/a6FX9H29IDNz7vKo9l21b6LfYosScPL6M3xxyDQ=="
# The version the Fusebill sample page names in its <script src>.
JQ_PKG="jquery"
JQ_VERSION="2.1.1"
JQ_INTEGRITY="sha512-y+iOyLV9My82vtN1cc96DLlklSv15h5Jjug52TK+vXmgtN/dE89WvmP1W/g7lL+RWFzdsTmBwJgX/yf4RY9mPA=="

# Stripe's own Node library (no dependencies): the integration tests and the fuzzing sign
# their webhook deliveries with its webhooks.generateTestHeaderString (tests/stripe_sign.cjs),
# so the signature the vault checks is made by code nobody here wrote.
STRIPE_PKG="stripe"
STRIPE_VERSION="23.2.0"
STRIPE_INTEGRITY="sha512-0W0J4yA9qFO2rnF61v8Y62OiO2SmAR+Cv04VJaFUMpCxiq8lG5bxEYbeSMSpMDR9ofFZGd+Z/iUIgSFbOolmUw=="

# The API reference at /docs: Redoc's standalone bundle (no dependencies), served by the router.
REDOC_PKG="redoc"
REDOC_VERSION="2.5.4"
REDOC_INTEGRITY="sha512-M6jWhG1qoBnH6TFmzJnstyCZ87HmOY/UzDm78mHiYihEdlV/YcS9ogOo1NlElnJMeLsyxHFe2yFc4sNjHTrABQ=="
# `redocly lint openapi.yaml` in make test. It has a dependency tree, so a plain npm install
# of the pinned version into its own prefix.
REDOCLY_VERSION="2.77.0"
REDOCLY_DIR="$TOOLS/redocly"

# make mutants: the mutation-testing tool, built from crates.io with its own Cargo.lock.
MUTANTS_VERSION="27.1.0"
CARGO_TOOLS="$TOOLS/cargo"

mkdir -p "$TOOLS"
: >>"$LOG"

say() { printf 'tools: %s\n' "$*"; }
die() {
  printf 'tools: FAILED: %s (last lines of %s below)\n' "$*" "$LOG" >&2
  tail -n 20 "$LOG" >&2
  exit 1
}
log() { printf '\n=== %s %s\n' "$(date -u +%FT%TZ)" "$*" >>"$LOG"; }
hash_of() { sha256sum | cut -c1-64; }

# apt_install PACKAGE...: Debian packages, with the lists updated first.
apt_install() {
  log "apt-get install $*"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -q && apt-get install -y -q "$@"; } >>"$LOG" 2>&1 \
    || die "apt-get install $*"
}

# --- Java 17+ for DynamoDB Local -------------------------------------------
java_major() {
  # `java -version` prints e.g. 'openjdk version "17.0.15"' on stderr.
  java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1
}
step_java() {
  local major=""
  if command -v java >/dev/null 2>&1; then major="$(java_major)"; fi
  # javac too: infra/stack.sh compiles DynamoDB Local's loopback-only launcher.
  if [[ -n "$major" && "$major" -ge 17 ]] && command -v javac >/dev/null 2>&1; then
    say "java $major: ok"
    return
  fi
  apt_install openjdk-17-jdk-headless
  say "java $(java_major): installed"
}

# --- Node.js 20+ with npm -----------------------------------------------------------
# stripe@23 (tests/stripe_sign.cjs) needs node 20 or newer and fails on 18 with an error that
# names neither (Debian 12's own nodejs is 18, so apt is no way to get it): checked here.
NODE_MIN=20
step_node() {
  local version major
  command -v node >/dev/null 2>&1 || die "node not found: Node.js $NODE_MIN or newer (with npm) is needed"
  version="$(node --version)"
  major="${version#v}"
  major="${major%%.*}"
  [[ "$major" =~ ^[0-9]+$ && "$major" -ge $NODE_MIN ]] \
    || die "node $version: Node.js $NODE_MIN or newer is needed (stripe@$STRIPE_VERSION)"
  command -v npm >/dev/null 2>&1 || die "npm not found (it comes with Node.js $NODE_MIN+)"
  say "node $version: ok"
}

# --- command-line tools the tests drive (curl for examples, openssl for test keys; the
# stack's loopback-only check reads /proc and needs no ss) ---
step_debs() {
  local missing=() cmd
  for cmd in curl openssl; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
  done
  if ((${#missing[@]} == 0)); then
    say "curl, openssl: ok"
    return
  fi
  apt_install "${missing[@]}"
  say "${missing[*]}: installed"
}

# --- Python venv ---------------------------------------------------------------
step_venv() {
  local stamp="$VENV/.cardvault-stamp" want
  # Keyed on the pins and the interpreter, so a new python rebuilds too.
  want="$( { cat "$REQS"; python3 -c 'import sys; print(sys.version)'; } | hash_of)"
  if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    say "python venv: ok (cached)"
    return
  fi
  local t0=$SECONDS
  if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    log "python3 -m venv $VENV"
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" >>"$LOG" 2>&1; then
      # Debian's python3 splits venv support into its own package.
      apt_install python3-venv
      python3 -m venv "$VENV" >>"$LOG" 2>&1 || die "python3 -m venv"
    fi
  fi
  log "pip install -r $REQS"
  "$VENV/bin/pip" install --disable-pip-version-check -q -r "$REQS" >>"$LOG" 2>&1 \
    || die "pip install -r infra/requirements.txt"
  printf '%s\n' "$want" >"$stamp"
  say "python venv: installed ($((SECONDS - t0)) s)"
}

# --- npm packages, as checked tarballs --------------------------------------------
# npm_fetch NAME VERSION INTEGRITY DIR: unpacks the package into DIR with `npm pack` (no
# dependency tree, no scripts), refusing a tarball whose integrity is not the pinned one.
npm_fetch() {
  local name="$1" version="$2" want="$3" dir="$4" tmp got file
  command -v npm >/dev/null 2>&1 || die "npm not found (needed to fetch $name)"
  tmp="$(mktemp -d "$TOOLS/npm-pack.XXXXXX")"
  log "npm pack $name@$version"
  (cd "$tmp" && npm pack "$name@$version" --json >pack.json 2>>"$LOG") \
    || { rm -rf "$tmp"; die "npm pack $name@$version"; }
  read -r got file < <("$VENV/bin/python" -c \
    'import json,sys; p=json.load(open(sys.argv[1]))[0]; print(p["integrity"], p["filename"])' \
    "$tmp/pack.json")
  if [[ "$got" != "$want" ]]; then
    rm -rf "$tmp"
    die "$name tarball integrity mismatch: $got"
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  tar -xzf "$tmp/$file" -C "$dir" --strip-components=1 >>"$LOG" 2>&1 \
    || { rm -rf "$tmp"; die "unpack $name"; }
  rm -rf "$tmp"
}

# stamp_of INPUT...: the stamp a step writes once its pinned inputs are installed.
stamp_of() { printf '%s\n' "$@" | hash_of; }

# npm_pinned NAME VERSION INTEGRITY: a dependency-free npm package in .tools/npm/node_modules,
# fetched once per pin (npm_fetch), then skipped while its stamp matches.
npm_pinned() {
  local name="$1" version="$2" integrity="$3" dir stamp want
  dir="$TOOLS/npm/node_modules/$name"
  stamp="$dir/.cardvault-stamp"
  want="$(stamp_of "$version" "$integrity")"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    say "$name $version: ok (cached)"
    return
  fi
  npm_fetch "$name" "$version" "$integrity" "$dir"
  printf '%s\n' "$want" >"$stamp"
  say "$name $version: installed"
}

# --- DynamoDB Local (from the npm package) -------------------------------------
jar_ok() {
  [[ -f "$DDB_DIR/emulator/DynamoDBLocal.jar" ]] \
    && [[ "$(sha256sum "$DDB_DIR/emulator/DynamoDBLocal.jar" | cut -c1-64)" == "$DDB_JAR_SHA256" ]]
}
step_dynamodb() {
  local stamp="$DDB_DIR/.cardvault-stamp" want
  want="$(stamp_of "$DDB_VERSION" "$DDB_INTEGRITY" "$DDB_JAR_SHA256")"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    say "dynamodb local: ok (cached)"
    return
  fi
  # A full `npm install` also pulls ~280 JS packages (350 MB) that are never
  # used: only the jar matters, so reuse one that is already there...
  if jar_ok && grep -q "\"version\": \"$DDB_VERSION\"" "$DDB_DIR/package.json" 2>/dev/null; then
    printf '%s\n' "$want" >"$stamp"
    say "dynamodb local: ok (existing $DDB_PKG $DDB_VERSION)"
    return
  fi
  # ...or fetch just the package tarball with npm pack and unpack it.
  local t0=$SECONDS
  npm_fetch "$DDB_PKG" "$DDB_VERSION" "$DDB_INTEGRITY" "$DDB_DIR"
  jar_ok || die "DynamoDBLocal.jar sha256 mismatch"
  printf '%s\n' "$want" >"$stamp"
  say "dynamodb local: installed $DDB_PKG $DDB_VERSION ($((SECONDS - t0)) s)"
}

# --- the browser test: Chromium, playwright-core, jQuery ---------------------------
step_browser() {
  if command -v chromium >/dev/null 2>&1; then
    say "chromium: ok"
  else
    local t0=$SECONDS
    apt_install chromium
    say "chromium: installed ($((SECONDS - t0)) s)"
  fi
  npm_pinned "$PW_PKG" "$PW_VERSION" "$PW_INTEGRITY"
  npm_pinned "$JQ_PKG" "$JQ_VERSION" "$JQ_INTEGRITY"
}

# --- Stripe's Node library, for signing test webhook events ---------------------------
step_stripe() { npm_pinned "$STRIPE_PKG" "$STRIPE_VERSION" "$STRIPE_INTEGRITY"; }

# --- the OpenAPI reference page (Redoc) and its linter (@redocly/cli) ---------------
step_openapi() {
  npm_pinned "$REDOC_PKG" "$REDOC_VERSION" "$REDOC_INTEGRITY"
  local stamp want
  stamp="$REDOCLY_DIR/.cardvault-stamp"
  want="$(stamp_of "$REDOCLY_VERSION")"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$REDOCLY_DIR/node_modules/.bin/redocly" ]]; then
    say "@redocly/cli $REDOCLY_VERSION: ok (cached)"
    return
  fi
  local t0=$SECONDS
  command -v npm >/dev/null 2>&1 || die "npm not found (needed for @redocly/cli)"
  log "npm install @redocly/cli@$REDOCLY_VERSION"
  mkdir -p "$REDOCLY_DIR"
  npm install --prefix "$REDOCLY_DIR" --no-audit --no-fund --ignore-scripts --save-exact \
    "@redocly/cli@$REDOCLY_VERSION" >>"$LOG" 2>&1 || die "npm install @redocly/cli"
  printf '%s\n' "$want" >"$stamp"
  say "@redocly/cli $REDOCLY_VERSION: installed ($((SECONDS - t0)) s)"
}

# --- Docker and debootstrap, for make sam-local (Debian's docker.io) --------------------
step_docker() {
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  if ((${#missing[@]} == 0)); then
    say "dockerd, debootstrap: ok"
    return
  fi
  local t0=$SECONDS
  apt_install "${missing[@]}"
  say "${missing[*]}: installed ($((SECONDS - t0)) s)"
}

# --- cargo-mutants, for make mutants (compiled once: a few minutes) ----------------------
step_mutants() {
  local stamp="$CARGO_TOOLS/.cargo-mutants-stamp" want
  want="$(stamp_of "$MUTANTS_VERSION" "$(rustc --version)")"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$CARGO_TOOLS/bin/cargo-mutants" ]]; then
    say "cargo-mutants $MUTANTS_VERSION: ok (cached)"
    return
  fi
  local t0=$SECONDS
  log "cargo install cargo-mutants@$MUTANTS_VERSION"
  # Niced: the machine's two cores are shared with builds and tests.
  nice -n 19 cargo install --locked --root "$CARGO_TOOLS" "cargo-mutants@$MUTANTS_VERSION" \
    >>"$LOG" 2>&1 || die "cargo install cargo-mutants@$MUTANTS_VERSION"
  printf '%s\n' "$want" >"$stamp"
  say "cargo-mutants $MUTANTS_VERSION: installed ($((SECONDS - t0)) s)"
}

log "tools.sh start"
step_java
step_node
step_debs
step_venv
step_dynamodb
step_openapi
step_stripe
if [[ "${1:-}" == "browser" ]]; then step_browser; fi
if [[ "${1:-}" == "docker" ]]; then step_docker; fi
if [[ "${1:-}" == "mutants" ]]; then step_mutants; fi
# Other scripts read this to find the emulator without repeating the path.
printf '%s\n' "$DDB_DIR/emulator" >"$TOOLS/dynamodb-local.path"
log "tools.sh done"
