# syntax=docker/dockerfile:1
# idgate: one image, one binary; the role is the subcommand (serve | authz | webhook | validate).
#   docker build -t idgate .
#   docker run --rm -p 9191:9191 -p 8080:8080 -p 9090:9090 \
#     -v "$PWD/examples:/etc/idgate:ro" idgate serve --config /etc/idgate/idgate.yaml

ARG NODE_IMAGE=node:24-bookworm-slim

# --- build: compile TypeScript and bundle it with the full (dev) dependency set -----------------------
# `npm run build` is tsc, then scripts/bundle.mjs: dist/idgate/ holds cli.js and its chunks with every
# dependency inside, so the runtime stage needs no node_modules (bench/README.md, "Bundled build").
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/bundle.mjs ./scripts/
COPY src ./src
RUN npm run build

# --- runtime ------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# jemalloc (Debian's libjemalloc2) instead of glibc's malloc: 5-7 MiB less RSS at 1,000 Checks/s, which with
# the 8 MiB young generation below brings the authz role under 128 MiB (bench/README.md, "Allocator and young
# generation, ninth round"). Linked at one path whatever the architecture's library directory. MALLOC_CONF:
# 2 arenas, pages freed for 1 s returned by jemalloc's background thread. MALLOC_ARENA_MAX=2 is glibc's
# equivalent, for a process that runs without the preload.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libjemalloc2 \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s "$(dpkg -L libjemalloc2 | grep '/libjemalloc\.so\.2$')" /usr/local/lib/libjemalloc.so.2
ENV NODE_ENV=production MALLOC_ARENA_MAX=2 LD_PRELOAD=/usr/local/lib/libjemalloc.so.2 MALLOC_CONF=narenas:2,background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0
WORKDIR /app
RUN groupadd --system --gid 10001 idgate \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin idgate
# Everything the process runs is owned by root and read-only to it. The bundle, with its source maps (read
# only with NODE_OPTIONS=--enable-source-maps; docs/deployment.md, "Reading a stack trace"), and
# package.json: the version `--version` prints, and `"type": "module"` for the bundle's .js files.
COPY --from=build /app/dist/idgate ./dist/idgate
COPY package.json ./
COPY examples ./examples
USER 10001:10001
# 9191 gRPC ext_authz + health, 9192 HTTP authorization, 8080 public (webhooks, callback), 9090 admin.
EXPOSE 9191 9192 8080 9090
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9090/healthz',{signal:AbortSignal.timeout(2000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# An 8 MiB young generation: per-Check garbage still dies young; 16 MiB measured ~34 MiB less RSS than 32 at
# 1,000 Checks/s on Node 24 ("Memory, fourth round"), 8 another 10-13 MiB less, its cost measured in
# bench/README.md, "Allocator and young generation, ninth round".
# The old generation grows 1.5x its live size before the next full GC, always: V8's own factor moves with the
# heap limit and drops to 1.1 after every memory-reducing GC ("GC sizing, sixth round"), and a large fixed one
# (4x, until the eleventh round) let RSS climb to 166 MiB between full GCs at 1,000 Checks/s where 1.5x holds
# 110-114 MiB, for ~8 % more CPU per saturated Check (bench/README.md, "Old-generation growth, eleventh
# round"). Not allowed in NODE_OPTIONS, so it lives here.
ENTRYPOINT ["node", "--max-semi-space-size=8", "--heap-growing-percent=50", "/app/dist/idgate/cli.js"]
CMD ["serve", "--config", "/etc/idgate/idgate.yaml"]
