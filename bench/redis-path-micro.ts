/**
 * What a Check on the Redis path allocates, and above all what it keeps reachable while it waits for Redis,
 * in-process over a real redis-server (issue 15: a Redis Check lives across a round trip, so at a small young
 * generation its state survives scavenges and is promoted). The path the server runs for the `redis`
 * scenario, without the gRPC transport: CheckRequest bytes → decode → RequestContext → the engine (cached
 * token, policy, the verification gate over an uncached `RedisStore`: one batched `MGET` per event-loop turn)
 * → CheckResponse bytes. `--in-flight` Checks at a time (closed loop: each answer starts the next), as
 * h2load keeps hundreds of streams open at saturation.
 *
 * `node --expose-gc --min-semi-space-size=64 --max-semi-space-size=64 dist/bench/redis-path-micro.js
 *   [--in-flight 256] [--calls 20000] [--kept 2000] [--store-only] [--alloc-profile FILE] [--kept-profile FILE]`
 *
 * Prints, per Check (exact heap-used counts, load-independent — the figures to compare between builds):
 * - **allocated**: heap-used growth over 2,000 Checks after a full GC (the big young generation keeps every
 *   scavenge out of it);
 * - **kept while waiting**: `--kept` Checks started while redis-server is paused (`CLIENT PAUSE`), so every one
 *   of them has sent its read and waits for the reply; after a full GC, the heap used above the same GC with
 *   none in flight, divided by their number — what a scavenge finds alive per in-flight Check, i.e. what is
 *   promoted when it waits across two of them.
 *
 * `--promoted-profile FILE`: 2,000 Checks under the sampling profiler without collected objects, then two
 * scavenges and no mark-compact: the sample holds what was promoted (alive or not) and what is alive — where
 * the old generation's growth comes from, unless a mark-compact ran meanwhile.
 *
 * `--store-only`: the same figures for the store's read alone (`readCheckState` of one subject and workflow, as
 * the gate calls it), without decode, engine and render.
 *
 * Under `--max-semi-space-size=4 --trace-gc-nvp` with `--kept 0`, the scavenges' `promoted=` bytes over the run
 * (20,000 warm-up + `--calls` + 2,000 Checks) give what this path promotes per Check at that in-flight count.
 *
 * `--alloc-profile FILE` samples where the bytes are allocated (garbage included; `alloc-sampler.ts`).
 * `--kept-profile FILE` samples where the objects alive during the pause were allocated (objects collected
 * before the sample is read drop out), per in-flight Check, by function and caller chain. Run it with a
 * build's own `dist/` to A/B (`--build /path/to/base/dist`).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import pino from 'pino';
import { renderAllocationProfile, sampleAllocations, sampleLiveAllocations, writeHeapProfile } from './alloc-sampler.js';
import { BenchIssuer } from './bench-issuer.js';
import { buildCheckRequest, loadUpstreamCheckCodec } from './encode-check-request.js';
import { renderBenchConfig } from './idgate-config.js';
import { parseFlags } from './parse-flags.js';
import { startRedis } from './redis-process.js';
import { keepInFlight } from './in-flight.js';

type Mod<T> = T;

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), {
    build: 'string',
    'in-flight': 'string',
    calls: 'string',
    kept: 'string',
    'alloc-profile': 'string',
    'kept-profile': 'string',
    'store-only': 'boolean',
    'promoted-profile': 'string',
  });
  const build = flags.build ?? resolve(import.meta.dirname, '..');
  const inFlight = Number(flags['in-flight'] ?? 256);
  const calls = Number(flags.calls ?? 20_000);
  const keptCount = Number(flags.kept ?? 2_000);
  const load = async <T>(path: string): Promise<T> => (await import(pathToFileURL(resolve(build, 'src', path)).href)) as T;
  const { parseConfig } = await load<Mod<typeof import('../src/config/parse-config.js')>>('config/parse-config.js');
  const { decodeCheckRequest } = await load<Mod<typeof import('../src/extauthz/check-codec.js')>>('extauthz/check-codec.js');
  const { CheckVerdicts } = await load<Mod<typeof import('../src/extauthz/check-verdicts.js')>>('extauthz/check-verdicts.js');
  const { toRequestContext } = await load<Mod<typeof import('../src/extauthz/to-request-context.js')>>('extauthz/to-request-context.js');
  const { createAuthenticator } = await load<Mod<typeof import('../src/identity/authenticator.js')>>('identity/authenticator.js');
  const { createEngine } = await load<Mod<typeof import('../src/engine/create-engine.js')>>('engine/create-engine.js');
  const { compilePolicy } = await load<Mod<typeof import('../src/policy/compile-policy.js')>>('policy/compile-policy.js');
  const { createVerificationGate } = await load<Mod<typeof import('../src/verification/create-verification-gate.js')>>('verification/create-verification-gate.js');
  const { createRedisStore } = await load<Mod<typeof import('../src/store/redis/create-redis-store.js')>>('store/redis/create-redis-store.js');
  type Msg = import('../src/extauthz/check-wire-types.js').CheckRequestMessage;

  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc (and a big young generation: --min-semi-space-size=64 --max-semi-space-size=64)');
  const logger = pino({ level: 'silent' });
  const issuer = new BenchIssuer();
  await issuer.listen();
  const redis = await startRedis({ cpus: '1' });
  const admin = new Redis(redis.url);
  // A generous command timeout: the pause below must not time the reads out.
  const store = createRedisStore({ logger }, { redis: { url: redis.url, commandTimeoutMs: 10_000 } });
  const authenticator = createAuthenticator({ logger }, { issuers: [] });
  try {
    if (!(await store.whenReady(5_000))) throw new Error('redis-server not ready');
    const yaml = renderBenchConfig({ issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: issuer.audience, localCacheTtlMs: 0, routes: 1, celConditions: false });
    const config = parseConfig(yaml, { sourceName: 'bench.yaml', env: {} });
    const auth = createAuthenticator({ logger }, { issuers: config.issuers });
    await auth.start();
    const now = Date.now();
    await store.putVerdict({ subject: 'bench:alice', workflow: 'kyc', sessionId: 's', status: 'Approved', eventAt: now, decidedAt: now, facts: {} });
    const gate = createVerificationGate(
      { store, didit: { createSession: () => Promise.reject(new Error('unused')) }, logger },
      { workflows: config.workflows, callbackUrl: 'http://127.0.0.1:8080/verification/callback', maxStepUps: 5 },
    );
    const policy = compilePolicy(config);
    const engine = createEngine({ authenticator: auth, policy: () => policy, verification: gate }, { headerPrefix: 'x-idgate-' });
    const verdicts = new CheckVerdicts({}, logger);
    const token = await issuer.mint('RS256', { sub: 'alice', scope: 'orders:read', roles: ['customer'] });
    const body = loadUpstreamCheckCodec().serializeRequest(buildCheckRequest({ token, path: '/api/orders?page=2' }));

    let sink = 0;
    const storeOnly = flags['store-only'] === true;
    const workflows = ['kyc'];
    const readOnly = async (): Promise<void> => {
      const state = await store.readCheckState('bench:alice', workflows);
      if (state.verdicts[0]?.status !== 'Approved') throw new Error('expected the Approved verdict');
      sink += 1;
    };
    const whole = async (): Promise<void> => {
      const mapped = toRequestContext(decodeCheckRequest(body) as Msg, Date.now());
      if (!mapped.ok) throw new Error(mapped.error);
      const decision = await engine.decide(mapped.value, Date.now() + 10_000);
      if (decision.kind !== 'allow') throw new Error(`expected allow, got ${decision.kind}`);
      sink += verdicts.respondBytes(mapped.value, decision).length;
    };
    const one = storeOnly ? readOnly : whole;
    const run = (total: number): Promise<void> => keepInFlight(total, inFlight, one);
    await run(20_000);
    const cpuStart = process.cpuUsage();
    await run(calls);
    const cpu = process.cpuUsage(cpuStart);

    gc();
    let before = process.memoryUsage().heapUsed;
    await run(2_000);
    const allocated = (process.memoryUsage().heapUsed - before) / 2_000;

    /** `keptCount` Checks started while redis-server is paused; resolves once all are answered. */
    const held = async (measure: () => Promise<void>): Promise<void> => {
      // Long enough for the sampling profiler's read below on a loaded machine; checked, not assumed.
      await admin.call('CLIENT', 'PAUSE', '4000', 'ALL');
      let answered = 0;
      const all: Promise<void>[] = [];
      for (let i = 0; i < keptCount; i++) all.push(one().then(() => void (answered += 1)));
      // Let every Check reach its read and the batcher send it (its turn's setImmediate), then look.
      await new Promise((r) => setTimeout(r, 200));
      await measure();
      if (answered > 0) throw new Error(`${answered} Checks were answered before the measurement: the pause was too short`);
      await Promise.all(all);
    };
    const kept: number[] = [];
    // `--kept 0` skips this (e.g. under --trace-gc-nvp, where its 2,000 held Checks would be promoted too).
    for (let round = 0; keptCount > 0 && round < 3; round++) {
      gc();
      before = process.memoryUsage().heapUsed;
      await held(async () => {
        gc();
        kept.push((process.memoryUsage().heapUsed - before) / keptCount);
      });
    }
    process.stdout.write(
      `${build}${storeOnly ? ' (store only)' : ''}: ${((cpu.user + cpu.system) / calls).toFixed(2)} µs CPU per Check (${inFlight} in flight); ` +
        `allocated ${allocated.toFixed(0)} bytes per Check; kept while waiting for Redis ${kept.map((k) => k.toFixed(0)).join(', ')} bytes per in-flight Check (${keptCount} in flight)\n`,
    );

    const allocFile = flags['alloc-profile'];
    if (allocFile !== undefined) {
      const profile = await sampleAllocations(() => run(5_000));
      writeHeapProfile(profile, allocFile);
      process.stdout.write(`\nallocated, per Check:\n${renderAllocationProfile(profile, 5_000, { stacks: true })}`);
    }
    const keptFile = flags['kept-profile'];
    if (keptFile !== undefined) {
      gc();
      await sampleLiveAllocations((read) =>
        held(async () => {
          gc();
          const profile = await read();
          writeHeapProfile(profile, keptFile);
          process.stdout.write(`\nkept while waiting for Redis, per in-flight Check (sampled with them alive):\n${renderAllocationProfile(profile, keptCount, { stacks: true, top: 40 })}`);
        }),
      );
    }
    const promotedFile = flags['promoted-profile'];
    if (promotedFile !== undefined) {
      // No GC forced: scavenges drop the young garbage as they run, so what the sample holds at the end is
      // what is alive plus what was promoted and died since the last mark-compact — at 20,000 Checks mostly
      // the latter (the young generation holds at most one semi-space of recent allocation).
      gc();
      const minor = gc as unknown as (options: { type: 'minor' }) => void;
      await sampleLiveAllocations(async (read) => {
        await run(2_000);
        // Two scavenges: the young garbage drops out, whatever is still alive is promoted and kept.
        minor({ type: 'minor' });
        minor({ type: 'minor' });
        const profile = await read();
        writeHeapProfile(profile, promotedFile);
        process.stdout.write(`\nalive or promoted since the last mark-compact, per Check (no mark-compact forced):\n${renderAllocationProfile(profile, 2_000, { stacks: true, top: 30 })}`);
      }, 128);
    }
    if (sink === 0) throw new Error('no responses');
    await auth.close();
  } finally {
    await authenticator.close();
    await store.close();
    admin.disconnect();
    await redis.stop();
    await issuer.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
