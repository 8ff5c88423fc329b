# idgate — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
NODE_BIN := node_modules/.bin
CONFIG ?= examples/idgate.yaml

.PHONY: run test build install bench soak typecheck clean

## run: start idgate on the example config (in-memory store, embedded Didit sandbox)
run: build
	node --max-semi-space-size=32 dist/src/cli.js serve --config $(CONFIG)

## test: the whole suite (installs redis-server, nginx and chromium when missing)
test: build
	scripts/ensure-system-deps.sh test e2e
	@mkdir -p test-artifacts
	$(NODE_BIN)/vitest run --reporter=default --reporter=json --outputFile.json=test-artifacts/vitest.json
	@node scripts/test-summary.mjs test-artifacts/vitest.json

## bench: the load benchmark against the no-op gRPC ceiling (not part of `make test`)
bench: build
	scripts/ensure-system-deps.sh bench
	node dist/bench/run.js

build: install
	$(NODE_BIN)/tsc -p tsconfig.json

typecheck: install
	$(NODE_BIN)/tsc -p tsconfig.json --noEmit

# Reinstall only when the lock file changed since the last install.
install: node_modules/.package-lock.json
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

clean:
	rm -rf dist

## soak: 5-minute memory soak with 100,000 distinct subjects (not part of `make test`)
soak: build
	scripts/ensure-system-deps.sh bench
	node dist/bench/soak.js
