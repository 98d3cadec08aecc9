#!/usr/bin/env bash
# One function's artifact for `sam build` (template.yaml: BuildMethod makefile, the Makefile's
# build-%Function rule; samconfig.toml builds in source so target/ is the workspace's own).
#
#   infra/sam-build.sh <LogicalId without "Function"> <ARTIFACTS_DIR>
#
# SAM runs one make target per function. Each builds *every* binary in one cargo invocation:
# the first does the work (dependencies once, the 20 links in parallel), the other 19 find
# cargo's output fresh and only copy. aws-lambda-builders' rust-cargolambda method builds one
# `--bin` per function instead, each link alone (README, "Develop with SAM").
#
# Environment (make sam-build sets both from one variable; plain `sam build` gets the defaults):
#   CARDVAULT_SAM_ARCH     arm64 (default, as the template's Architecture) or x86_64
#   CARDVAULT_SAM_PROFILE  release (default): `cargo lambda build --release` (zig links against
#                          Lambda's glibc); debug: the host's `cargo build` debug binaries, as
#                          make test has already built them (host arch only; for the local
#                          stand-in image, never for a deployment)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
name=${1:?logical id}
out=${2:?ARTIFACTS_DIR}
arch=${CARDVAULT_SAM_ARCH:-arm64}
profile=${CARDVAULT_SAM_PROFILE:-release}
# CreateCustomer -> create-customer: template.yaml's Binary (tests/tests/integration/template.rs holds it).
bin="$(sed -E 's/([a-z0-9])([A-Z])/\1-\2/g' <<<"$name" | tr '[:upper:]' '[:lower:]')"
die() {
  printf 'sam-build: %s\n' "$*" >&2
  exit 1
}

case $arch in
  arm64) machine=aarch64 ;;
  x86_64) machine=x86_64 ;;
  *) die "CARDVAULT_SAM_ARCH must be arm64 or x86_64, not '$arch'" ;;
esac
# cargo's own output, less the per-crate lines the first target prints for a few minutes.
quiet() { "$@" 2>&1 | { grep -v -E '^ +(Compiling|Checking|Fresh) ' || true; }; }

case $profile in
  release)
    export PATH="$ROOT/.tools/venv/bin:$PATH"
    [[ -x .tools/venv/bin/cargo-lambda ]] || infra/tools.sh >&2
    flag=--arm64
    [[ $arch == x86_64 ]] && flag=--x86-64
    quiet cargo-lambda lambda build --release "$flag" -p cardvault-functions
    src="${CARGO_TARGET_DIR:-target}/lambda/$bin/bootstrap"
    ;;
  debug)
    [[ "$(uname -m)" == "$machine" ]] \
      || die "CARDVAULT_SAM_PROFILE=debug builds for this machine ($(uname -m)) only, not $arch"
    quiet cargo build -p cardvault-functions --bins
    src="${CARGO_TARGET_DIR:-target}/debug/$bin"
    ;;
  *) die "CARDVAULT_SAM_PROFILE must be release or debug, not '$profile'" ;;
esac

[[ -f "$src" ]] || die "no binary $src for $name (functions/Cargo.toml has no [[bin]] $bin?)"
# What runs in a $arch Lambda must be a $arch binary: byte 18 of the ELF header (e_machine)
# is 0x3e for x86_64, 0xb7 for aarch64.
want=b7
[[ $arch == x86_64 ]] && want=3e
got="$(od -An -tx1 -j18 -N1 "$src" | tr -d ' ')"
[[ $got == "$want" ]] || die "$src is not an $arch binary (e_machine 0x$got)"
mkdir -p "$out"
# A hard link where it can be (the debug binaries are large; cargo replaces rather than
# rewrites its outputs, so the link keeps this build's binary).
ln -f "$src" "$out/bootstrap" 2>/dev/null || cp "$src" "$out/bootstrap"
