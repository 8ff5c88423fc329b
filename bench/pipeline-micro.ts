/**
 * In-process cost of idgate's own per-request work on the hot path, without the gRPC transport:
 * decode CheckRequest bytes → RequestContext → engine decision (cached token and verdict) → CheckResponse
 * bytes (render + encode, through the front ends' `CheckVerdicts`, so an allow may come from its cache of
 * rendered allows), as the gRPC front end does them. The engine is wired as the server wires it: the
 * authenticator's token-cache counter, metrics (`recordCheck`) and the decision observer with a decision
 * log at `allowSampleRate: 0` writing nowhere (`--bare`: no observer and no metrics, as before the ninth
 * round, for comparison with earlier figures).
 *
 * `node --expose-gc --min-semi-space-size=128 --max-semi-space-size=128 dist/bench/pipeline-micro.js
 *   [--iterations 50000] [--rounds 7] [--checks 5000] [--alloc-profile FILE.heapprofile] [--bare]`
 *
 * Prints µs per request for each stage so profile-driven changes can be checked quickly; the load benchmark
 * (run.ts) remains the measure. Also prints the process's CPU time per request (user + system, which unlike
 * the wall-clock stage times does not grow when other processes take the core) and the share of it spent
 * in GC pauses.
 *
 * **Bytes allocated per Check** (with `--expose-gc`), the figure the machine's load cannot move: `--rounds`
 * rounds, each a forced GC then `--checks` Checks; bytes = heap used after − before, valid only when no GC
 * ran in between (a round with one is reported and left out; the 128 MiB semi-space makes that rare);
 * printed per round and as the median. The rounds of one run differ by up to ~500 bytes per Check (young
 * generation alone, so not the compilers' old-space allocation; the cause was not found): compare medians
 * of several runs. `--alloc-profile FILE` adds one round of `--checks` Checks under V8's sampling heap
 * profiler (garbage included) and prints where the bytes are allocated per Check, by function and by
 * caller chain (`alloc-sampler.ts`), and writes the raw profile to FILE for DevTools.
 *
 * A/B between builds: copy this build's compiled `bench/pipeline-micro.js` and `bench/in-process-engine.js`
 * (and `alloc-sampler.js`, `parse-flags.js`) into the other build's `bench/`, run each alternately.
 */
import { PerformanceObserver, performance } from 'node:perf_hooks';
import pino from 'pino';
import { parseConfig } from '../src/config/parse-config.js';
import type { Decision } from '../src/core/decision.js';
import type { DecisionObserver } from '../src/core/stages.js';
import { decodeCheckRequest } from '../src/extauthz/check-codec.js';
import { CheckVerdicts } from '../src/extauthz/check-verdicts.js';
import type { CheckRequestMessage } from '../src/extauthz/check-wire-types.js';
import { toRequestContext } from '../src/extauthz/to-request-context.js';
import { createAuthenticator } from '../src/identity/authenticator.js';
import { createDecisionObserver } from '../src/observability/create-decision-observer.js';
import { createDecisionLog } from '../src/observability/decision-log.js';
import { createMetrics } from '../src/observability/metrics.js';
import { renderAllocationProfile, sampleAllocations, writeHeapProfile } from './alloc-sampler.js';
import { BenchIssuer } from './bench-issuer.js';
import { buildCheckRequest, loadUpstreamCheckCodec } from './encode-check-request.js';
import { renderBenchConfig } from './idgate-config.js';
import { createInProcessEngine } from './in-process-engine.js';
import { parseFlags } from './parse-flags.js';

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), { iterations: 'string', rounds: 'string', checks: 'string', 'alloc-profile': 'string', bare: 'boolean' });
  const iterations = Number(flags.iterations ?? 50_000);
  const rounds = Number(flags.rounds ?? 7);
  const checks = Number(flags.checks ?? 5_000);
  const logger = pino({ level: 'silent' });
  const issuer = new BenchIssuer();
  await issuer.listen();
  const yaml = renderBenchConfig({ issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: issuer.audience, localCacheTtlMs: 60_000, routes: 1, celConditions: false });
  const config = parseConfig(yaml, { sourceName: 'bench.yaml', env: {} });
  // As start-authz-role.ts wires them (default metrics off: no lag monitor in a CPU loop).
  const metrics = flags.bare === true ? undefined : createMetrics(undefined, { defaultMetrics: false });
  const authenticator = createAuthenticator(
    metrics === undefined
      ? { logger }
      : { logger, metrics: { onJwksFetch: () => undefined, onUnknownKid: () => undefined, onTokenCache: (hit) => metrics.recordTokenCache(hit ? 'hit' : 'miss') } },
    { issuers: config.issuers },
  );
  await authenticator.start();
  let observer: DecisionObserver | undefined;
  if (metrics !== undefined) {
    const decisionLog = createDecisionLog({ logger: pino({ level: 'info' }, { write: () => undefined }), allowSampleRate: 0 });
    observer = createDecisionObserver({ metrics, decisionLog: () => decisionLog }, 'grpc');
  }
  const token = await issuer.mint('RS256', { sub: 'alice', scope: 'orders:read', roles: ['customer'] });
  const { engine } = await createInProcessEngine(config, authenticator, logger, { subject: 'bench:alice', workflow: 'kyc' }, observer);
  const verdicts = new CheckVerdicts({}, logger);
  const codec = loadUpstreamCheckCodec();
  const body = codec.serializeRequest(buildCheckRequest({ token, path: '/api/orders?page=2' }));

  let bytes = 0;
  /** One Check as the server runs it: no promise unless a stage returns one. */
  const once = async (): Promise<Decision> => {
    const mapped = toRequestContext(decodeCheckRequest(body) as CheckRequestMessage, Date.now());
    if (!mapped.ok) throw new Error(mapped.error);
    const decided = engine.decide(mapped.value, Date.now() + 100);
    const decision = decided instanceof Promise ? await decided : decided;
    bytes += verdicts.respondBytes(mapped.value, decision).length;
    return decision;
  };
  const first = await once();
  if (first.kind !== 'allow') throw new Error(`expected allow, got ${JSON.stringify(first)}`);

  const t = { decode: 0, map: 0, decide: 0, respond: 0 };
  let gcMs = 0;
  let gcs = 0;
  let measuring = false;
  const gcObserver = new PerformanceObserver((list) => {
    gcs += list.getEntries().length;
    if (measuring) for (const entry of list.getEntries()) gcMs += entry.duration;
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  let cpuStart = process.cpuUsage();
  for (let i = 0; i < iterations + 5_000; i++) {
    const measure = i >= 5_000;
    if (i === 5_000) {
      cpuStart = process.cpuUsage();
      measuring = true;
    }
    const a = performance.now();
    const msg = decodeCheckRequest(body) as CheckRequestMessage;
    const b = performance.now();
    const mapped = toRequestContext(msg, Date.now());
    if (!mapped.ok) throw new Error(mapped.error);
    const c = performance.now();
    const decided = engine.decide(mapped.value, Date.now() + 100);
    const decision = decided instanceof Promise ? await decided : decided;
    const d = performance.now();
    bytes += verdicts.respondBytes(mapped.value, decision).length;
    const e = performance.now();
    if (measure) {
      t.decode += b - a;
      t.map += c - b;
      t.decide += d - c;
      t.respond += e - d;
    }
  }
  const cpu = process.cpuUsage(cpuStart);
  // GC entries are delivered asynchronously: let the observer see the last ones.
  await new Promise((r) => setTimeout(r, 50));
  measuring = false;

  const gc = (globalThis as { gc?: () => void }).gc;
  const perRound: number[] = [];
  if (gc !== undefined) {
    for (let round = 0; round < rounds; round++) {
      gc();
      await new Promise((r) => setTimeout(r, 20));
      const gcsBefore = gcs;
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < checks; i++) await once();
      const after = process.memoryUsage().heapUsed;
      await new Promise((r) => setImmediate(r));
      if (gcs === gcsBefore) perRound.push((after - before) / checks);
      else process.stderr.write(`round ${round + 1}: ${gcs - gcsBefore} GC(s) in the round, bytes left out\n`);
    }
  }
  gcObserver.disconnect();
  const profileFile = flags['alloc-profile'];
  if (profileFile !== undefined) {
    const profile = await sampleAllocations(async () => {
      for (let i = 0; i < checks; i++) await once();
    });
    writeHeapProfile(profile, profileFile);
    process.stdout.write(renderAllocationProfile(profile, checks, { top: 30, stacks: true }));
  }
  const us = (ms: number) => ((ms * 1000) / iterations).toFixed(2);
  const total = t.decode + t.map + t.decide + t.respond;
  const cpuUs = (cpu.user + cpu.system) / iterations;
  const median = (v: number[]): number => [...v].sort((x, y) => x - y)[v.length >> 1] ?? Number.NaN;
  const allocated = gc === undefined
    ? ' (bytes: run with --expose-gc)'
    : `, allocated ${perRound.map((b) => b.toFixed(0)).join(', ')} bytes per request (median ${median(perRound).toFixed(0)})`;
  process.stdout.write(
    `per request (µs): decode ${us(t.decode)}  map ${us(t.map)}  decide ${us(t.decide)}  render+encode ${us(t.respond)}  = ${us(total)}  (${bytes > 0 ? 'ok' : ''}${flags.bare === true ? ', bare' : ''})\n` +
      `cpu ${cpuUs.toFixed(2)} µs per request, GC ${us(gcMs)} µs per request (${((100 * gcMs * 1000) / (cpu.user + cpu.system)).toFixed(1)} % of CPU)${allocated}\n`,
  );
  await authenticator.close();
  await issuer.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`pipeline-micro: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
