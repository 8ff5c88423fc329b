import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PendingSession, Verdict } from '../src/core/verdict.js';
import type { Principal } from '../src/core/principal.js';
import type { VerificationResult } from '../src/core/stages.js';
import { createCachedVerdictStore } from '../src/store/cached-verdict-store.js';
import { createMemoryStore } from '../src/store/memory/create-memory-store.js';
import { createRedisStore, type RedisStore } from '../src/store/redis/create-redis-store.js';
import { createVerificationGate, type GateStore } from '../src/verification/create-verification-gate.js';
import { createStartTickets } from '../src/verification/start-ticket.js';
import { startRedis, type RedisServerHandle } from './support/redis-server.js';
import { requestContextWith } from './support/tokens.js';

/**
 * The step-up fast path: a Check whose subject has no verdict but a pending Didit session reads that
 * session in the same step as the verdicts (memory: synchronously; Redis: in the verdicts' MGET) and hands
 * it out without the session starter, a second read or a budget timer. These pin what must not change:
 * one session per subject+workflow under a burst, expiry and revocation of the pending session, a verdict
 * that wins over a pending session stored beside it, and the `stepUpWait` budget against a slow Redis on
 * the paths that still read the pending session on its own.
 */
const WORKFLOW = { name: 'kyc', workflowId: '11111111-2222-4333-8444-0000000000e1', maxAgeMs: 365 * 86_400_000, requireAmlClear: false, requireDocumentValid: false };
const NEED = { workflow: 'kyc', maxAgeMs: WORKFLOW.maxAgeMs, onInReview: 'deny' as const, onDeclined: 'deny' as const };
const TICKET_KEY = 'unit-test-ticket-key-0123456789';
const START_BASE = 'https://idgate.example/verification/start/';
const silent = pino({ level: 'silent' });

function principal(sub: string): Principal {
  return { issuerName: 'test', issuer: 'https://issuer.example', sub, subject: `test:${sub}`, claims: {}, source: 'header', tokenId: sub };
}

function sessionId(n: number): string {
  return `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
}

function pendingFor(subject: string, n: number, createdAt: number): PendingSession {
  return { subject, workflow: 'kyc', sessionId: sessionId(n), url: `https://didit.example/session/${n}`, createdAt };
}

function approved(subject: string, createdAt: number): Verdict {
  return { subject, workflow: 'kyc', sessionId: sessionId(1), status: 'Approved', eventAt: createdAt + 10, decidedAt: createdAt + 10, facts: {} };
}

/** Session ids differ between gates: the Redis tests share one server, which keeps session records. */
let nextGateBase = 100;

/** A gate over `store` whose Didit creates session `created(n)` on its n-th call (after `delayMs`). */
function gateOver(store: GateStore, options: { clock?: () => number; startUrl?: boolean; delayMs?: number; pendingTtlMs?: number } = {}) {
  const clock = options.clock ?? Date.now;
  const base = nextGateBase;
  nextGateBase += 100;
  const created = (n: number): string => sessionId(base + n);
  let calls = 0;
  let issued = 0;
  const gate = createVerificationGate(
    {
      store,
      logger: silent,
      clock,
      metrics: { startUrlIssued: () => (issued += 1) },
      didit: {
        async createSession() {
          calls += 1;
          const n = base + calls;
          if (options.delayMs !== undefined) await new Promise((r) => setTimeout(r, options.delayMs));
          return { sessionId: sessionId(n), url: `https://didit.example/session/${n}` };
        },
      },
    },
    {
      workflows: { kyc: WORKFLOW },
      callbackUrl: 'https://idgate.example/verification/callback',
      maxStepUps: 5,
      ...(options.pendingTtlMs !== undefined ? { pendingTtlMs: options.pendingTtlMs } : {}),
      ...(options.startUrl === true
        ? { startUrl: { baseUrl: 'https://idgate.example', tickets: createStartTickets({ clock }, { secrets: [TICKET_KEY] }) }, stepUpWaitMs: 50 }
        : {}),
    },
  );
  const check = (sub: string, deadlineMs = 5_000): VerificationResult | Promise<VerificationResult> => {
    const now = clock();
    return gate.check({ ctx: requestContextWith({ accept: 'text/html' }), principal: principal(sub), needs: [NEED], routeId: 'payments', now, deadlineAt: now + deadlineMs });
  };
  return { check, created, calls: () => calls, issued: () => issued };
}

describe('step-up fast path on the memory store', () => {
  it('creates one session under a burst, then answers every Check synchronously with it', async () => {
    const store = createMemoryStore({ logger: silent });
    const h = gateOver(store, { delayMs: 20 });
    const burst = await Promise.all(Array.from({ length: 20 }, () => h.check('alice')));
    expect(new Set(burst.map((r) => (r.kind === 'step_up' ? r.sessionId : r.kind)))).toEqual(new Set([h.created(1)]));
    expect(h.calls()).toBe(1);
    for (let i = 0; i < 5; i++) {
      const answer = h.check('alice');
      // Synchronous: not a promise, so no single-flight entry, no timer, no microtask.
      expect(answer instanceof Promise).toBe(false);
      expect(answer).toEqual({ kind: 'step_up', workflow: 'kyc', verificationUrl: `https://didit.example/session/${Number(h.created(1).slice(-12))}`, sessionId: h.created(1) });
    }
    expect(h.calls()).toBe(1);
  });

  it('never hands out a pending session that has expired: the Check creates a new one', async () => {
    let now = 1_700_000_000_000;
    const store = createMemoryStore({ logger: silent, clock: () => now });
    const h = gateOver(store, { clock: () => now, pendingTtlMs: 60_000 });
    expect(await h.check('bob')).toMatchObject({ kind: 'step_up', sessionId: h.created(1) });
    now += 59_999;
    expect(h.check('bob')).toMatchObject({ kind: 'step_up', sessionId: h.created(1) });
    now += 1;
    const after = h.check('bob');
    expect(after instanceof Promise).toBe(true);
    expect(await after).toMatchObject({ kind: 'step_up', sessionId: h.created(2) });
    expect(h.calls()).toBe(2);
  });

  it('never hands out a pending session revoked after it was stored: the next one is recorded after the revocation', async () => {
    let now = 1_700_000_000_000;
    const store = createMemoryStore({ logger: silent, clock: () => now });
    const h = gateOver(store, { clock: () => now });
    expect(await h.check('carol')).toMatchObject({ kind: 'step_up', sessionId: h.created(1) });
    now += 1_000;
    await store.revokeVerdicts('test:carol', undefined, { at: now, reason: 'admin' }, ['kyc']);
    now += 1_000;
    expect(await h.check('carol')).toMatchObject({ kind: 'step_up', sessionId: h.created(2) });
    const [revocation] = await store.getRevocations('test:carol');
    expect((await store.getPending('test:carol', 'kyc'))?.createdAt).toBeGreaterThan(revocation!.at);
  });

  it('a verdict stored beside a pending session wins (as between a webhook\'s verdict write and its pending delete)', async () => {
    const now = Date.now();
    const store = createMemoryStore({ logger: silent });
    await store.putPending(pendingFor('test:dave', 1, now - 1_000), 3_600_000);
    const h = gateOver(store);
    expect(h.check('dave')).toMatchObject({ kind: 'step_up', sessionId: sessionId(1) });
    expect(await store.putVerdict(approved('test:dave', now - 1_000), { sessionCreatedAt: now - 1_000 })).toBe('written');
    expect(h.check('dave')).toEqual({ kind: 'satisfied', workflows: ['kyc'] });
    expect(h.calls()).toBe(0);
  });
});

describe('step-up fast path on a real redis-server', () => {
  let server: RedisServerHandle;
  let raw: Redis;
  const stores: RedisStore[] = [];
  const open = async (): Promise<RedisStore> => {
    const store = createRedisStore({ logger: silent }, { redis: { url: server.url, commandTimeoutMs: 3_000, connectTimeoutMs: 2_000 } });
    stores.push(store);
    expect(await store.whenReady(5_000)).toBe(true);
    return store;
  };
  /** How often each command ran since the last reset (`INFO commandstats`). */
  const commandCalls = async (): Promise<Record<string, number>> => {
    const info = await raw.info('commandstats');
    const out: Record<string, number> = {};
    for (const m of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2]);
    return out;
  };
  /** Blocks every client's commands for `ms` (a slow Redis, not a dead one). */
  const pauseRedis = (ms: number) => raw.call('CLIENT', 'PAUSE', String(ms), 'ALL');

  beforeAll(async () => {
    server = await startRedis();
    raw = new Redis(server.url);
  });

  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    raw.disconnect();
    await server?.close();
  });

  it('uncached: the verdicts and the pending session are one MGET, and the pending session is handed out', async () => {
    const store = await open();
    const now = Date.now();
    expect(await store.putPending(pendingFor('test:erin', 1, now - 1_000), 3_600_000)).toBe('stored');
    const h = gateOver(store, { startUrl: true });
    await raw.call('CONFIG', 'RESETSTAT');
    expect(await h.check('erin')).toEqual({ kind: 'step_up', workflow: 'kyc', verificationUrl: 'https://didit.example/session/1', sessionId: sessionId(1) });
    const calls = await commandCalls();
    expect(calls['mget']).toBe(1);
    expect(calls['get'] ?? 0).toBe(0);
    expect(calls['evalsha'] ?? 0).toBe(0);
    expect(h.calls()).toBe(0);
  });

  it('uncached: a verdict written while the pending session is still stored wins over it', async () => {
    const store = await open();
    const now = Date.now();
    await store.putPending(pendingFor('test:frank', 1, now - 1_000), 3_600_000);
    const h = gateOver(store);
    expect(await h.check('frank')).toMatchObject({ kind: 'step_up', sessionId: sessionId(1) });
    // What settling does first (the pending delete follows): the same MGET now sees the verdict.
    expect(await store.putVerdict(approved('test:frank', now - 1_000), { sessionCreatedAt: now - 1_000 })).toBe('written');
    expect(await store.getPending('test:frank', 'kyc')).toBeDefined();
    expect(await h.check('frank')).toEqual({ kind: 'satisfied', workflows: ['kyc'] });
    expect(h.calls()).toBe(0);
  });

  it('uncached: a pending session revoked by another replica is not handed out; the next session is recorded after the revocation', async () => {
    const store = await open();
    const other = await open();
    const now = Date.now();
    await store.putPending(pendingFor('test:gina', 9, now - 5_000), 3_600_000);
    const h = gateOver(store);
    expect(await h.check('gina')).toMatchObject({ kind: 'step_up', sessionId: sessionId(9) });
    const { pending } = await other.revokeVerdicts('test:gina', undefined, { at: now - 1_000, reason: 'admin' }, ['kyc']);
    expect(pending.map((p) => p.sessionId)).toEqual([sessionId(9)]);
    const next = await h.check('gina');
    expect(next).toMatchObject({ kind: 'step_up', sessionId: h.created(1) });
    const stored = await store.getPending('test:gina', 'kyc');
    expect(stored?.createdAt).toBeGreaterThan(now - 1_000);
    expect(h.calls()).toBe(1);
  });

  it('cached: a pending session that expires between the cached verdict read and its own read is not handed out', async () => {
    const cached = createCachedVerdictStore(await open(), { ttlMs: 60_000, maxEntries: 100 });
    const now = Date.now();
    await cached.putPending(pendingFor('test:hank', 7, now - 1_000), 400);
    const h = gateOver(cached);
    // A miss: verdict and pending session in one MGET.
    expect(await h.check('hank')).toMatchObject({ kind: 'step_up', sessionId: sessionId(7) });
    // A hit (the absent verdict is cached): the starter reads the pending session on its own.
    expect(await h.check('hank')).toMatchObject({ kind: 'step_up', sessionId: sessionId(7) });
    await new Promise((r) => setTimeout(r, 500));
    expect(await cached.getPending('test:hank', 'kyc')).toBeUndefined();
    expect(await h.check('hank')).toMatchObject({ kind: 'step_up', sessionId: h.created(1) });
    expect(h.calls()).toBe(1);
  });

  it('cached, Redis slow: the separate pending read is held to stepUpWait, answered with the start URL, and creates nothing', async () => {
    const cached = createCachedVerdictStore(await open(), { ttlMs: 60_000, maxEntries: 100 });
    const now = Date.now();
    await cached.putPending(pendingFor('test:ivy', 3, now - 1_000), 3_600_000);
    const h = gateOver(cached, { startUrl: true });
    expect(await h.check('ivy')).toMatchObject({ kind: 'step_up', sessionId: sessionId(3) });
    await pauseRedis(1_500);
    const started = performance.now();
    const answer = await h.check('ivy', 2_000);
    const tookMs = performance.now() - started;
    expect(answer.kind).toBe('step_up');
    if (answer.kind === 'step_up') {
      expect(answer.verificationUrl.startsWith(START_BASE)).toBe(true);
      expect(answer.sessionId).toBeUndefined();
    }
    // Budget 50 ms; generous for a loaded machine, far below the 1.5 s pause.
    expect(tookMs).toBeLessThan(1_000);
    expect(h.issued()).toBe(1);
    // Once Redis answers, the background read finds the pending session: no Didit session is created.
    await new Promise((r) => setTimeout(r, 1_700));
    expect(h.calls()).toBe(0);
    expect(await h.check('ivy')).toMatchObject({ kind: 'step_up', sessionId: sessionId(3) });
  });

  it('uncached, Redis slow: the Check waits only for its one read, then hands out the pending session without a second wait', async () => {
    const store = await open();
    const now = Date.now();
    await store.putPending(pendingFor('test:jack', 4, now - 1_000), 3_600_000);
    const h = gateOver(store, { startUrl: true });
    await pauseRedis(300);
    const answer = await h.check('jack', 2_000);
    expect(answer).toEqual({ kind: 'step_up', workflow: 'kyc', verificationUrl: 'https://didit.example/session/4', sessionId: sessionId(4) });
    expect(h.issued()).toBe(0);
    expect(h.calls()).toBe(0);
  });
});

describe('the gate reads the workflows current at each Check', () => {
  it('applies a reload that hands over another workflows record, and knows only configured names', async () => {
    const now = Date.now();
    const store = createMemoryStore({ logger: silent });
    await store.putVerdict(approved('test:erin', now - 1_000), { sessionCreatedAt: now - 1_000 });
    let current: Readonly<Record<string, typeof WORKFLOW>> = { kyc: WORKFLOW };
    const gate = createVerificationGate(
      { store, logger: silent, didit: { createSession: async () => ({ sessionId: sessionId(9), url: 'https://didit.example/session/9' }) } },
      { workflows: () => current, callbackUrl: 'https://idgate.example/verification/callback', maxStepUps: 5 },
    );
    const check = (workflow: string) =>
      gate.check({ ctx: requestContextWith({}), principal: principal('erin'), needs: [{ ...NEED, workflow }], routeId: 'payments', now, deadlineAt: now + 5_000 });
    const unknown = { kind: 'deny', status: 503, code: 'internal_error', message: 'unknown workflow' };
    expect(await check('kyc')).toEqual({ kind: 'satisfied', workflows: ['kyc'] });
    // A name that is not configured, including the names every plain object answers, fails closed.
    for (const name of ['age', '__proto__', 'constructor', 'toString', 'hasOwnProperty']) expect(await check(name), name).toEqual(unknown);
    // A reload removes kyc: the next Check no longer finds it.
    current = { age: { ...WORKFLOW, name: 'age' } };
    expect(await check('kyc')).toEqual(unknown);
    // A reload restores it requiring a clear AML screening, which the stored verdict does not record.
    current = { kyc: { ...WORKFLOW, requireAmlClear: true } };
    expect(await check('kyc')).toMatchObject({ kind: 'deny', status: 403 });
    current = { kyc: WORKFLOW };
    expect(await check('kyc')).toEqual({ kind: 'satisfied', workflows: ['kyc'] });
  });
});
