# idgate — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
NODE_BIN := node_modules/.bin
CONFIG ?= examples/idgate.yaml

# Every target runs on the pinned Node 24 in .runtime/ (git-ignored), fetched from the npm registry and checked
# against its pinned sha512 by scripts/ensure-node.sh; the PATH prefix makes npm, tsc, vitest and every process
# the tests and benchmarks spawn use it, whatever Node the machine has.
NODE_VERSION := $(shell sed -n 's/^NODE_VERSION=//p' scripts/ensure-node.sh)
NODE_DIR := $(CURDIR)/.runtime/node-v$(NODE_VERSION)/bin
NODE := $(NODE_DIR)/node
export PATH := $(NODE_DIR):$(PATH)

.PHONY: run test build install runtime bench soak mutation typecheck clean

# The image's malloc settings (Dockerfile): jemalloc preloaded when this machine has Debian's or Ubuntu's
# libjemalloc2, else glibc's malloc in 2 arenas.
COMMA := ,
JEMALLOC := $(firstword $(wildcard /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/aarch64-linux-gnu/libjemalloc.so.2))
MALLOC_ENV := MALLOC_ARENA_MAX=2$(if $(JEMALLOC), LD_PRELOAD=$(JEMALLOC) MALLOC_CONF=narenas:2$(COMMA)background_thread:true$(COMMA)dirty_decay_ms:1000$(COMMA)muzzy_decay_ms:0)

## run: start idgate on the example config (in-memory store, embedded Didit sandbox), as the image runs node:
## the bundle (dist/idgate/cli.js), which is what ships
run: build
	$(MALLOC_ENV) $(NODE) --max-semi-space-size=8 --heap-growing-percent=50 dist/idgate/cli.js serve --config $(CONFIG)

## test: the whole suite (installs redis-server, nginx and chromium when missing)
test: build
	scripts/ensure-system-deps.sh test e2e
	@mkdir -p test-artifacts
	$(NODE_BIN)/vitest run --reporter=default --reporter=json --outputFile.json=test-artifacts/vitest.json
	@$(NODE) scripts/test-summary.mjs test-artifacts/vitest.json

## bench: the load benchmark against the no-op gRPC ceiling (not part of `make test`)
bench: build
	scripts/ensure-system-deps.sh bench
	$(NODE) dist/bench/run.js

# tsc compiles src/, test/ and bench/ into dist/ (tests and tools run that); scripts/bundle.mjs then bundles
# dist/src/cli.js into dist/idgate/, the artifact that ships and runs (bench/README.md, "Bundled build").
build: install
	$(NODE_BIN)/tsc -p tsconfig.json
	$(NODE) scripts/bundle.mjs

typecheck: install
	$(NODE_BIN)/tsc -p tsconfig.json --noEmit

## runtime: fetch the pinned Node 24 into .runtime/ (once; every other target depends on it)
runtime: $(NODE)
$(NODE):
	scripts/ensure-node.sh >/dev/null
	@touch $@

# Reinstall only when the lock file (or the runtime) changed since the last install; npm runs on the pinned Node.
install: node_modules/.package-lock.json
node_modules/.package-lock.json: package-lock.json $(NODE)
	npm ci --no-audit --no-fund
	@touch $@

clean:
	rm -rf dist

## soak: 5-minute memory soak with 100,000 distinct subjects (not part of `make test`)
soak: build
	scripts/ensure-system-deps.sh bench
	$(NODE) dist/bench/soak.js

## mutation: StrykerJS mutation testing of the security-critical modules (not part of `make test`; scores in
## docs/security.md, report in reports/mutation/index.html). Incremental: only changed code is re-tested.
mutation: install
	$(NODE_BIN)/stryker run
