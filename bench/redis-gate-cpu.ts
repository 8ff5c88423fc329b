/**
 * In-process CPU (and, under `--expose-gc --min-semi-space-size=128 --max-semi-space-size=128`, bytes) per
 * verification-gate Check on a real redis-server, A/B between builds: an uncached `RedisStore` (the `redis`
 * scenario's store), every subject with an Approved verdict (or a pending session, `--stepup`), `--concurrency` Checks in flight (closed loop:
 * each answer starts the next), cycling over `--subjects` subjects. The process's CPU time ÷ Checks, so the
 * ioredis client's work is in it and the gRPC transport is not; redis-server runs pinned to core 1.
 *
 * `node dist/bench/redis-gate-cpu.js [--build dist/base/dist] [--subjects 256] [--concurrency 256] [--calls 30000]
 * [--stepup]` (pin it: `taskset -c 0`; alternate builds). `--stepup`: every subject has no verdict but a
 * pending session, so every Check is a step-up handed that session (the `stepup-redis` scenario's path).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import type { Principal } from '../src/core/principal.js';
import type { RequestContext } from '../src/core/request-context.js';
import type { VerificationNeed } from '../src/core/outcome.js';
import { parseFlags } from './parse-flags.js';
import { startRedis } from './redis-process.js';
import { keepInFlight } from './in-flight.js';

type StoreModule = typeof import('../src/store/redis/create-redis-store.js');
type GateModule = typeof import('../src/verification/create-verification-gate.js');

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), { build: 'string', subjects: 'string', concurrency: 'string', calls: 'string', stepup: 'boolean' });
  const build = flags.build ?? resolve(import.meta.dirname, '..');
  const subjectCount = Number(flags.subjects ?? 256);
  const concurrency = Number(flags.concurrency ?? 256);
  const calls = Number(flags.calls ?? 30_000);
  const stepUp = flags.stepup === true;
  const expected = stepUp ? 'step_up' : 'satisfied';
  const load = async <T>(path: string): Promise<T> => (await import(pathToFileURL(resolve(build, 'src', path)).href)) as T;
  const { createRedisStore } = await load<StoreModule>('store/redis/create-redis-store.js');
  const { createVerificationGate } = await load<GateModule>('verification/create-verification-gate.js');
  const redis = await startRedis({ cpus: '1' });
  const logger = pino({ level: 'silent' });
  // A generous command timeout: a measuring run must not fail on a GC pause of the big young generation.
  const store = createRedisStore({ logger }, { redis: { url: redis.url, commandTimeoutMs: 5_000 } });
  try {
    if (!(await store.whenReady(5_000))) throw new Error('redis-server not ready');
    const now = Date.now();
    const principals: Principal[] = [];
    for (let i = 0; i < subjectCount; i++) {
      const subject = `bench:s${i}`;
      if (stepUp) {
        const sessionId = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
        await store.putPending({ subject, workflow: 'kyc', sessionId, url: `http://127.0.0.1:8099/session/${sessionId}`, createdAt: now }, 3_600_000);
      } else {
        await store.putVerdict({ subject, workflow: 'kyc', sessionId: `s${i}`, status: 'Approved', eventAt: now, decidedAt: now, facts: {} });
      }
      principals.push({ issuerName: 'bench', issuer: 'https://issuer.bench', sub: `s${i}`, subject, claims: {}, source: 'header', tokenId: `t${i}` });
    }
    const workflow = { name: 'kyc', workflowId: '11111111-2222-4333-8444-0000000000e1', maxAgeMs: 365 * 86_400_000, requireAmlClear: false, requireDocumentValid: false };
    const needs: VerificationNeed[] = [{ workflow: 'kyc', maxAgeMs: workflow.maxAgeMs, onInReview: 'deny', onDeclined: 'deny' }];
    const gate = createVerificationGate(
      { store, didit: { createSession: () => Promise.reject(new Error('unused')) }, logger },
      { workflows: { kyc: workflow }, callbackUrl: 'http://127.0.0.1:8080/verification/callback', maxStepUps: 5 },
    );
    const ctx = { method: 'GET', headers: {} } as unknown as RequestContext;
    let next = 0;
    const run = (total: number): Promise<void> =>
      keepInFlight(total, concurrency, () => {
        const principal = principals[next++ % principals.length] as Principal;
        const at = Date.now();
        return Promise.resolve(gate.check({ ctx, principal, needs, routeId: 'r', now: at, deadlineAt: at + 5_000 })).then((result) => {
          if (result.kind !== expected) throw new Error(`expected ${expected}, got ${result.kind}`);
        });
      });
    await run(10_240);
    const cpuStart = process.cpuUsage();
    await run(calls);
    const cpu = process.cpuUsage(cpuStart);
    let bytes = '';
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc !== undefined) {
      gc();
      const before = process.memoryUsage().heapUsed;
      await run(5_000);
      bytes = `, ${((process.memoryUsage().heapUsed - before) / 5_000).toFixed(0)} bytes allocated per Check`;
    }
    process.stdout.write(`${build}: ${((cpu.user + cpu.system) / calls).toFixed(2)} µs CPU per Check${bytes}\n`);
  } finally {
    await store.close();
    await redis.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
