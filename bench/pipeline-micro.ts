/**
 * In-process cost of idgate's own per-request work on the hot path, without the gRPC transport:
 * decode CheckRequest bytes → RequestContext → engine decision (cached token and verdict) → CheckResponse
 * bytes (render + encode, through the front ends' `CheckVerdicts`, so an allow may come from its cache of
 * rendered allows), as the gRPC front end does them. `node dist/bench/pipeline-micro.js [--iterations N]`. Prints µs per request for each stage so
 * profile-driven changes can be checked quickly; the load benchmark (run.ts) remains the measure.
 * Also prints the process's CPU time per request (user + system, which unlike the wall-clock stage times
 * does not grow when other processes take the core) and the share of it spent in GC pauses: on a shared
 * machine those are the figures to compare between builds (alternating runs, medians).
 */
import { PerformanceObserver, performance } from 'node:perf_hooks';
import pino from 'pino';
import { parseConfig } from '../src/config/parse-config.js';
import { decodeCheckRequest } from '../src/extauthz/check-codec.js';
import { CheckVerdicts } from '../src/extauthz/check-verdicts.js';
import type { CheckRequestMessage } from '../src/extauthz/check-wire-types.js';
import { toRequestContext } from '../src/extauthz/to-request-context.js';
import { createAuthenticator } from '../src/identity/authenticator.js';
import { BenchIssuer } from './bench-issuer.js';
import { buildCheckRequest, loadUpstreamCheckCodec } from './encode-check-request.js';
import { renderBenchConfig } from './idgate-config.js';
import { createInProcessEngine } from './in-process-engine.js';

const iterations = Number(process.argv[process.argv.indexOf('--iterations') + 1] || 50_000);

async function main(): Promise<void> {
  const logger = pino({ level: 'silent' });
  const issuer = new BenchIssuer();
  await issuer.listen();
  const yaml = renderBenchConfig({ issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: issuer.audience, localCacheTtlMs: 60_000, routes: 1, celConditions: false });
  const config = parseConfig(yaml, { sourceName: 'bench.yaml', env: {} });
  const authenticator = createAuthenticator({ logger }, { issuers: config.issuers });
  await authenticator.start();
  const token = await issuer.mint('RS256', { sub: 'alice', scope: 'orders:read', roles: ['customer'] });
  const { engine } = await createInProcessEngine(config, authenticator, logger, { subject: 'bench:alice', workflow: 'kyc' });
  const verdicts = new CheckVerdicts({}, logger);
  const codec = loadUpstreamCheckCodec();
  const body = codec.serializeRequest(buildCheckRequest({ token, path: '/api/orders?page=2' }));

  const t = { decode: 0, map: 0, decide: 0, respond: 0 };
  let bytes = 0;
  let gcMs = 0;
  let measuring = false;
  const gcObserver = new PerformanceObserver((list) => {
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
    const decision = await engine.decide(mapped.value, Date.now() + 100);
    const d = performance.now();
    bytes += verdicts.respondBytes(mapped.value, decision).length;
    const e = performance.now();
    if (i === 5_000 && decision.kind !== 'allow') throw new Error(`expected allow, got ${JSON.stringify(decision)}`);
    if (measure) {
      t.decode += b - a;
      t.map += c - b;
      t.decide += d - c;
      t.respond += e - d;
    }
  }
  const cpu = process.cpuUsage(cpuStart);
  // Bytes allocated per request, which unlike CPU time does not depend on the machine's load: with
  // `--expose-gc --min-semi-space-size=128 --max-semi-space-size=128` no GC runs during 1,000 requests
  // after a full one, so the growth of the used heap is what they allocated.
  const gc = (globalThis as { gc?: () => void }).gc;
  let allocated = '';
  if (gc !== undefined) {
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1_000; i++) {
      const mapped = toRequestContext(decodeCheckRequest(body) as CheckRequestMessage, Date.now());
      if (!mapped.ok) throw new Error(mapped.error);
      bytes += verdicts.respondBytes(mapped.value, await engine.decide(mapped.value, Date.now() + 100)).length;
    }
    allocated = `, allocated ${((process.memoryUsage().heapUsed - before) / 1_000).toFixed(0)} bytes per request`;
  }
  // GC entries are delivered asynchronously: let the observer see the last ones.
  await new Promise((r) => setTimeout(r, 50));
  measuring = false;
  gcObserver.disconnect();
  const us = (ms: number) => ((ms * 1000) / iterations).toFixed(2);
  const total = t.decode + t.map + t.decide + t.respond;
  const cpuUs = (cpu.user + cpu.system) / iterations;
  process.stdout.write(
    `per request (µs): decode ${us(t.decode)}  map ${us(t.map)}  decide ${us(t.decide)}  render+encode ${us(t.respond)}  = ${us(total)}  (${bytes > 0 ? 'ok' : ''})\n` +
      `cpu ${cpuUs.toFixed(2)} µs per request, GC ${us(gcMs)} µs per request (${((100 * gcMs * 1000) / (cpu.user + cpu.system)).toFixed(1)} % of CPU)${allocated}\n`,
  );
  await authenticator.close();
  await issuer.close();
}

void main();
