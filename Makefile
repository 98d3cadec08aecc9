# cardvault: the two commands a newcomer needs are `make dev` and `make test`.
.PHONY: dev test fuzz unit lint fmt release bench load mutants sample-page sam-build sam-local clean-tools

## Run the whole service locally: the AWS stand-ins, every function, a router on :8080.
## Each function runs up to CONCURRENCY instances at once, as Lambda would (default 4):
## CONCURRENCY=8 make dev (README, "Concurrency locally").
dev:
	@infra/dev.sh

## Every test: unit, integration against the local stack (8 instances per function),
## lints, template validation.
test:
	@infra/test.sh

## schemathesis against a running `make dev`, longer than make test's run: make fuzz CASES=1000
## (generated cases per operation and run).
CASES ?= 500
fuzz:
	@infra/fuzz.sh .tools/dev.json $(CASES)

## The core's tests: every business rule against the in-memory adapters, with no AWS SDK,
## HTTP client or Lambda runtime in the build. make test runs them, and every other crate's
## tests that need no stack.
unit:
	cargo test -p cardvault-core

## Fusebill's jQuery sample page, then the 3-D Secure and PAN-less sample pages
## (tests/browser/pages/), in headless Chromium, against a running `make dev`.
sample-page:
	@infra/tools.sh browser
	node tests/browser/sample_page.cjs .tools/dev.json .tools/sample-page
	node tests/browser/add_card_3ds.cjs .tools/dev.json .tools/sample-page
	CARDVAULT_STACK_ENV=.tools/run/stack.env node tests/browser/add_card_stripe_js.cjs .tools/dev.json .tools/sample-page

## Formatting and clippy, as make test runs them.
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

## Release binaries for Lambda (arm64, via cargo lambda + zig), as sam build makes them.
release:
	@infra/tools.sh
	.tools/venv/bin/cargo-lambda lambda build --release --arm64

## sam build of every function (README, "Develop with SAM"): make sam-build SAM_ARCH=x86_64
## builds for an x86_64 machine; SAM_PROFILE=debug copies the host's debug binaries (the
## local stand-in image only).
SAM_ARCH ?= arm64
SAM_PROFILE ?= release
sam-build:
	@infra/tools.sh
	CARDVAULT_SAM_ARCH=$(SAM_ARCH) CARDVAULT_SAM_PROFILE=$(SAM_PROFILE) \
	  .tools/venv/bin/sam build --parameter-overrides Architecture=$(SAM_ARCH)

## sam local (start-lambda) on every function and sam local start-api, in Docker, against a
## local stack of its own: each shipped event's named status, as the same binaries run
## directly answer it, and a real-credential call each; make test runs it.
sam-local:
	@infra/sam-local.sh

# SAM's makefile build method: `make build-<LogicalId>` with ARTIFACTS_DIR, per function.
build-%Function:
	@infra/sam-build.sh $* "$(ARTIFACTS_DIR)"

## Every function and the baselines side by side: size, init, first invocation (plain and
## TLS), warm, peak RSS, AWS calls per request; writes bench/results.md (README, "Start-up").
bench:
	@infra/bench/bench.sh

## Lambda-like load on a stack of its own: a mixed workload over the four dialects and the
## Stripe webhooks at CONCURRENCY instances per function (default 32), a 300-create burst for
## one tenant, then invariants checked from the stored state; writes bench/load.md and
## bench/load.svg, exits non-zero on a broken invariant. Loopback only; stops by itself.
load:
	@infra/load.sh

## cargo-mutants over the business rules (vault, domain, the dialects' parsers) against the
## domain crate's unit tier; writes bench/mutants.md. Not part of make test: every mutant is a
## rebuild, so all of them take hours here. make mutants SHARD=0/4 tries every 4th one;
## MUTANTS_ARGS='--re vault/cards/add' only the mutants named so (infra/mutants.sh).
mutants:
	@infra/mutants.sh

clean-tools:
	rm -rf .tools
