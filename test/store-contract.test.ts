import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { createMemoryStore } from '../src/store/memory/create-memory-store.js';
import { createRedisStore } from '../src/store/redis/create-redis-store.js';
import type { StateStore } from '../src/store/state-store.js';
import type { CheckStateRead } from '../src/store/verdict-store.js';
import { StoreError } from '../src/store/store-error.js';
import type { PendingSession, SessionStatus, Verdict } from '../src/core/verdict.js';
import { startRedis, startRedisCluster, waitForServerClock } from './support/redis-server.js';
import type { RedisClusterHandle, RedisServerHandle } from './support/redis-server.js';

const logger = pino({ level: 'silent' });
const SETTLED_TTL_MS = 80;
const AUDIT_CAP = 20;

/** One store under test plus how to move its time forward and read its audit length. */
interface Harness {
  readonly store: StateStore;
  /** Lets `ms` pass for TTLs: the fake clock for memory, real time for Redis (TTLs there are tiny). */
  advance(ms: number): Promise<void>;
  auditLength(): Promise<number>;
  /** How far above the cap an approximately trimmed audit stream may be. */
  readonly auditSlack: number;
  close(): Promise<void>;
}

interface Backend {
  readonly name: string;
  /** Starts the backend's servers once (later calls do nothing). */
  setup(): Promise<void>;
  teardown(): Promise<void>;
  harness(): Promise<Harness>;
}

const uniquePrefix = (): string => `t-${randomBytes(4).toString('hex')}:`;

const memoryBackend: Backend = {
  name: 'memory',
  setup: async () => undefined,
  teardown: async () => undefined,
  async harness() {
    let now = 1_700_000_000_000;
    const store = createMemoryStore(
      { logger, clock: () => now },
      { settledVerdictTtlMs: SETTLED_TTL_MS, auditMaxLen: AUDIT_CAP, maxEntries: 1000, maxSubjects: 1000 },
    );
    return {
      store,
      advance: async (ms) => {
        now += ms;
      },
      auditLength: async () => store.auditEntries().length,
      auditSlack: 0,
      close: () => store.close(),
    };
  },
};

function redisBackend(): Backend {
  let server: RedisServerHandle | undefined;
  let raw: Redis | undefined;
  return {
    name: 'redis (standalone)',
    async setup() {
      if (server) return;
      server = await startRedis();
      raw = new Redis(server.url);
      raw.on('error', () => undefined);
    },
    async teardown() {
      raw?.disconnect();
      await server?.close();
    },
    async harness() {
      if (!server || !raw) throw new Error('redis not started');
      const keyPrefix = uniquePrefix();
      const store = createRedisStore(
        { logger },
        { redis: { url: server.url, keyPrefix, commandTimeoutMs: 2000 }, settledVerdictTtlMs: SETTLED_TTL_MS, auditMaxLen: AUDIT_CAP },
      );
      expect(await store.whenReady(5000)).toBe(true);
      const client = raw;
      return {
        store,
        advance: (ms) => waitForServerClock([client], ms),
        auditLength: () => client.xlen(`${keyPrefix}audit`),
        // XADD MAXLEN ~ trims whole stream nodes (100 entries each by default).
        auditSlack: 100,
        close: () => store.close(),
      };
    },
  };
}

function clusterBackend(): Backend {
  let cluster: RedisClusterHandle | undefined;
  let raw: Cluster | undefined;
  return {
    name: 'redis (cluster of 3)',
    async setup() {
      if (cluster) return;
      cluster = await startRedisCluster(3);
      raw = new Cluster([...cluster.startup]);
      raw.on('error', () => undefined);
    },
    async teardown() {
      raw?.disconnect();
      await cluster?.close();
    },
    async harness() {
      if (!cluster || !raw) throw new Error('cluster not started');
      const keyPrefix = uniquePrefix();
      const store = createRedisStore(
        { logger },
        {
          redis: { cluster: cluster.startup, keyPrefix, commandTimeoutMs: 2000 },
          settledVerdictTtlMs: SETTLED_TTL_MS,
          auditMaxLen: AUDIT_CAP,
        },
      );
      expect(await store.whenReady(10_000)).toBe(true);
      const client = raw;
      return {
        store,
        advance: (ms) => waitForServerClock(client.nodes('master'), ms),
        auditLength: () => client.xlen(`${keyPrefix}audit`),
        auditSlack: 100,
        close: () => store.close(),
      };
    },
  };
}

function verdict(over: Partial<Verdict> & { subject: string }): Verdict {
  return {
    workflow: 'kyc',
    sessionId: 'sess-1',
    status: 'Approved',
    eventAt: 1_000,
    decidedAt: 1_000,
    facts: { minAgeMet: true },
    ...over,
  };
}

function pending(subject: string, workflow: string, createdAt: number): PendingSession {
  return { subject, workflow, sessionId: `p-${workflow}-${createdAt}`, url: `https://verify.example/${createdAt}`, createdAt };
}

let subjectCounter = 0;
const newSubject = (): string => `corp:user-${(subjectCounter += 1)}`;

/** Resolves with the first invalidation matching `subject` (Redis delivers them asynchronously). */
function nextInvalidation(store: StateStore, subject: string): Promise<{ subject?: string; workflow?: string }> {
  return new Promise((resolve) => {
    const off = store.onInvalidate((s, w) => {
      if (s !== subject) return;
      off();
      resolve({ subject: s, ...(w !== undefined ? { workflow: w } : {}) });
    });
  });
}

const BACKENDS: readonly Backend[] = [memoryBackend, redisBackend(), clusterBackend()];
let h: Harness;

// Each backend's servers start once for the whole file (on first use) and stop at its end.
afterAll(async () => {
  for (const backend of BACKENDS) await backend.teardown();
});

/**
 * One concern's contract, one `describe` run against every backend; each test gets a fresh harness (its own
 * key prefix on Redis, its own memory store).
 */
function contract(concern: string, body: () => void): void {
  describe.each(BACKENDS)(`${concern} contract: $name`, (backend) => {
    beforeAll(() => backend.setup());
    beforeEach(async () => {
      h = await backend.harness();
    });
    afterEach(() => h.close());
    body();
  });
}

contract('VerdictStore', () => {
  describe('ordered verdict writes', () => {
    it('writes a newer event and refuses an older one as stale', async () => {
      const subject = newSubject();
      expect(await h.store.putVerdict(verdict({ subject, status: 'In Progress', eventAt: 100 }))).toBe('written');
      expect(await h.store.putVerdict(verdict({ subject, status: 'Approved', eventAt: 200 }))).toBe('written');
      expect(await h.store.putVerdict(verdict({ subject, status: 'Declined', eventAt: 150 }))).toBe('stale');
      const [v] = await h.store.getVerdicts(subject, ['kyc']);
      expect(v?.status).toBe('Approved');
      expect(v?.eventAt).toBe(200);
    });

    it('reports the same event twice as duplicate, even with other facts', async () => {
      const subject = newSubject();
      const v = verdict({ subject });
      expect(await h.store.putVerdict(v)).toBe('written');
      expect(await h.store.putVerdict(v)).toBe('duplicate');
      expect(await h.store.putVerdict({ ...v, facts: { minAgeMet: false } })).toBe('duplicate');
      expect((await h.store.getVerdicts(subject, ['kyc']))[0]?.facts).toEqual({ minAgeMet: true });
    });

    it('revokes an approval with a newer decline', async () => {
      const subject = newSubject();
      await h.store.putVerdict(verdict({ subject, status: 'Approved', eventAt: 100 }));
      expect(await h.store.putVerdict(verdict({ subject, status: 'Declined', eventAt: 101 }))).toBe('written');
      expect((await h.store.getVerdicts(subject, ['kyc']))[0]?.status).toBe('Declined');
    });

    it('refuses an older event of a different session as stale', async () => {
      const subject = newSubject();
      await h.store.putVerdict(verdict({ subject, sessionId: 'new', eventAt: 500 }));
      expect(await h.store.putVerdict(verdict({ subject, sessionId: 'old', status: 'Declined', eventAt: 499 }))).toBe(
        'stale',
      );
      expect((await h.store.getVerdicts(subject, ['kyc']))[0]?.sessionId).toBe('new');
    });

    it.each<{ desc: string; a: [SessionStatus, string]; b: [SessionStatus, string]; winner: [SessionStatus, string] }>([
      { desc: 'Declined beats Approved', a: ['Approved', 's1'], b: ['Declined', 's1'], winner: ['Declined', 's1'] },
      { desc: 'Kyc Expired beats Approved', a: ['Approved', 's1'], b: ['Kyc Expired', 's1'], winner: ['Kyc Expired', 's1'] },
      { desc: 'Abandoned beats Approved', a: ['Abandoned', 's2'], b: ['Approved', 's1'], winner: ['Abandoned', 's2'] },
      { desc: 'Approved beats In Review', a: ['In Review', 's1'], b: ['Approved', 's1'], winner: ['Approved', 's1'] },
      { desc: 'In Review beats In Progress', a: ['In Progress', 's1'], b: ['In Review', 's1'], winner: ['In Review', 's1'] },
      { desc: 'same status: greater session id wins', a: ['Approved', 'sess-a'], b: ['Approved', 'sess-b'], winner: ['Approved', 'sess-b'] },
    ])('equal eventAt converges in either order: $desc', async ({ a, b, winner }) => {
      const results: (Verdict | undefined)[] = [];
      for (const order of [[a, b], [b, a]] as const) {
        const subject = newSubject();
        for (const [status, sessionId] of order) await h.store.putVerdict(verdict({ subject, status, sessionId, eventAt: 42 }));
        results.push((await h.store.getVerdicts(subject, ['kyc']))[0]);
      }
      expect(results.map((v) => [v?.status, v?.sessionId])).toEqual([winner, winner]);
    });

    it('returns verdicts in the order asked, undefined where none', async () => {
      const subject = newSubject();
      await h.store.putVerdict(verdict({ subject, workflow: 'age', status: 'Approved' }));
      await h.store.putVerdict(verdict({ subject, workflow: 'kyc', status: 'In Review' }));
      const got = await h.store.getVerdicts(subject, ['kyc', 'aml', 'age']);
      expect(got.map((v) => v?.status)).toEqual(['In Review', undefined, 'Approved']);
      expect(await h.store.getVerdicts(subject, [])).toEqual([]);
    });

    it('stores only the verdict fields and rejects an invalid verdict', async () => {
      const subject = newSubject();
      const withExtra = { ...verdict({ subject }), name: 'Jane Doe', facts: { amlClear: true, portrait: 'x' } };
      await h.store.putVerdict(withExtra as unknown as Verdict);
      const [v] = await h.store.getVerdicts(subject, ['kyc']);
      expect(v).toEqual({ ...verdict({ subject }), facts: { amlClear: true } });
      await expect(h.store.putVerdict({ ...verdict({ subject }), status: 'Bogus' as SessionStatus })).rejects.toThrow(TypeError);
    });

    it('expires Expired/Abandoned verdicts after the settled TTL but keeps Approved', async () => {
      const subject = newSubject();
      await h.store.putVerdict(verdict({ subject, workflow: 'a', status: 'Abandoned' }));
      await h.store.putVerdict(verdict({ subject, workflow: 'b', status: 'Expired' }));
      await h.store.putVerdict(verdict({ subject, workflow: 'c', status: 'Approved' }));
      expect((await h.store.getVerdicts(subject, ['a', 'b', 'c'])).map((v) => v?.status)).toEqual([
        'Abandoned',
        'Expired',
        'Approved',
      ]);
      await h.advance(SETTLED_TTL_MS);
      expect((await h.store.getVerdicts(subject, ['a', 'b', 'c'])).map((v) => v?.status)).toEqual([
        undefined,
        undefined,
        'Approved',
      ]);
      expect((await h.store.listVerdicts(subject)).map((v) => v.workflow)).toEqual(['c']);
    });
  });

  describe('listing and revocation', () => {
    it('lists every verdict of a subject and deletes one or all', async () => {
      const subject = newSubject();
      for (const workflow of ['kyc', 'age', 'aml']) await h.store.putVerdict(verdict({ subject, workflow }));
      await h.store.putVerdict(verdict({ subject: newSubject(), workflow: 'other' }));
      expect((await h.store.listVerdicts(subject)).map((v) => v.workflow).sort()).toEqual(['age', 'aml', 'kyc']);
      await h.store.revokeVerdicts(subject, 'age', { at: 1, reason: 'admin' });
      expect((await h.store.listVerdicts(subject)).map((v) => v.workflow).sort()).toEqual(['aml', 'kyc']);
      await h.store.revokeVerdicts(subject, undefined, { at: 1, reason: 'admin' });
      expect(await h.store.listVerdicts(subject)).toEqual([]);
      expect(await h.store.getVerdicts(subject, ['kyc', 'aml'])).toEqual([undefined, undefined]);
    });

    it('keeps hostile subjects and workflows in distinct keys', async () => {
      const subjects = ['corp:a}{b', 'corp:a{b}', 'corp:a%7Db', 'x:y', 'x', 'x}:verdict:kyc', 'ü🙂', '\uD800', '\uDC00', '\uFFFD'];
      for (const [i, subject] of subjects.entries()) {
        expect(await h.store.putVerdict(verdict({ subject, sessionId: `s${i}` }))).toBe('written');
        await h.store.putVerdict(verdict({ subject, workflow: 'k{y}c', sessionId: `w${i}` }));
      }
      for (const [i, subject] of subjects.entries()) {
        const got = await h.store.getVerdicts(subject, ['kyc', 'k{y}c']);
        expect(got.map((v) => v?.sessionId)).toEqual([`s${i}`, `w${i}`]);
        expect(got[0]?.subject).toBe(subject);
        expect((await h.store.listVerdicts(subject)).length).toBe(2);
      }
    });
  });

  describe('revocation watermarks (a revocation is a watermark, not a delete)', () => {
    const FAR_FUTURE = 4_000_000_000_000;

    it('refuses every later write from a session created at or before the revocation, and from an unknown one', async () => {
      const subject = newSubject();
      expect(await h.store.putVerdict(verdict({ subject }), { sessionCreatedAt: 100 })).toBe('written');
      const revoked = await h.store.revokeVerdicts(subject, 'kyc', { at: 500, reason: 'admin' });
      expect(revoked.verdicts.map((v) => v.sessionId)).toEqual(['sess-1']);
      expect(await h.store.getVerdicts(subject, ['kyc'])).toEqual([undefined]);
      // The same event again (a replay, a retry, a decision fetch), with any later eventAt:
      for (const eventAt of [1_000, 2_000, 9_999_999]) {
        expect(await h.store.putVerdict(verdict({ subject, eventAt }), { sessionCreatedAt: 100 })).toBe('revoked');
      }
      expect(await h.store.putVerdict(verdict({ subject, eventAt: 3_000 }), { sessionCreatedAt: 500 })).toBe('revoked');
      expect(await h.store.putVerdict(verdict({ subject, eventAt: 3_000 }))).toBe('revoked');
      expect(await h.store.getVerdicts(subject, ['kyc'])).toEqual([undefined]);
      // Only a session created after the revocation re-establishes it.
      expect(await h.store.putVerdict(verdict({ subject, sessionId: 'sess-2', eventAt: 3_000 }), { sessionCreatedAt: 501 })).toBe('written');
      expect((await h.store.getVerdicts(subject, ['kyc']))[0]?.sessionId).toBe('sess-2');
    });

    it('scopes a workflow revocation to that workflow and a subject-wide one to all of them', async () => {
      const subject = newSubject();
      await h.store.revokeVerdicts(subject, 'age', { at: 500, reason: 'admin' });
      expect(await h.store.putVerdict(verdict({ subject, workflow: 'kyc' }), { sessionCreatedAt: 100 })).toBe('written');
      expect(await h.store.putVerdict(verdict({ subject, workflow: 'age' }), { sessionCreatedAt: 100 })).toBe('revoked');
      // Another subject is not touched, even without a known creation time.
      expect(await h.store.putVerdict(verdict({ subject: newSubject(), workflow: 'age' }))).toBe('written');

      const whole = await h.store.revokeVerdicts(subject, undefined, { at: 700, reason: 'admin' });
      expect(whole.verdicts.map((v) => v.workflow)).toEqual(['kyc']);
      expect(await h.store.putVerdict(verdict({ subject, workflow: 'kyc', eventAt: 5_000 }), { sessionCreatedAt: 600 })).toBe('revoked');
      expect(await h.store.putVerdict(verdict({ subject, workflow: 'other' }), { sessionCreatedAt: 600 })).toBe('revoked');
      expect(await h.store.putVerdict(verdict({ subject, workflow: 'other' }), { sessionCreatedAt: 701 })).toBe('written');
      expect(await h.store.getRevocations(subject)).toEqual([
        { at: 700, reason: 'admin' },
        { at: 500, reason: 'admin', workflow: 'age' },
      ]);
    });

    it('keeps the later watermark when an older revocation arrives second', async () => {
      const subject = newSubject();
      await h.store.revokeVerdicts(subject, 'kyc', { at: 900, reason: 'admin' });
      await h.store.revokeVerdicts(subject, 'kyc', { at: 300, reason: 'admin' });
      expect(await h.store.getRevocations(subject)).toEqual([{ at: 900, reason: 'admin', workflow: 'kyc' }]);
      expect(await h.store.putVerdict(verdict({ subject }), { sessionCreatedAt: 600 })).toBe('revoked');
    });

    it('deletes and reports the pending sessions, and refuses to store one created before the revocation', async () => {
      const subject = newSubject();
      expect(await h.store.putPending(pending(subject, 'kyc', 100), 60_000)).toBe('stored');
      expect(await h.store.putPending(pending(subject, 'age', 100), 60_000)).toBe('stored');
      const revoked = await h.store.revokeVerdicts(subject, undefined, { at: 500, reason: 'admin' }, ['kyc', 'age', 'aml']);
      expect(revoked.verdicts).toEqual([]);
      expect(revoked.pending.map((p) => p.workflow).sort()).toEqual(['age', 'kyc']);
      expect(await h.store.getPending(subject, 'kyc')).toBeUndefined();
      expect(await h.store.listStalePending(FAR_FUTURE, 100)).not.toContainEqual(expect.objectContaining({ subject }));
      // A creation that raced the revocation (created before, stored after) is refused; a new one is kept.
      expect(await h.store.putPending(pending(subject, 'kyc', 499), 60_000)).toBe('revoked');
      expect(await h.store.getPending(subject, 'kyc')).toBeUndefined();
      expect(await h.store.putPending(pending(subject, 'kyc', 501), 60_000)).toBe('stored');
      expect((await h.store.getPending(subject, 'kyc'))?.createdAt).toBe(501);
    });

    it('records the watermark even when nothing was stored (a session still open at Didit stays refused)', async () => {
      const subject = newSubject();
      expect(await h.store.revokeVerdicts(subject, 'kyc', { at: 500, reason: 'admin' })).toEqual({ verdicts: [], pending: [] });
      expect(await h.store.putVerdict(verdict({ subject }), { sessionCreatedAt: 400 })).toBe('revoked');
    });

    it('leaves a watermark when Didit takes an approval away (Approved → Declined), so the old session cannot return', async () => {
      const subject = newSubject();
      expect(await h.store.putVerdict(verdict({ subject, eventAt: 1_000 }), { sessionCreatedAt: 100 })).toBe('written');
      expect(await h.store.getRevocations(subject)).toEqual([]);
      expect(await h.store.putVerdict(verdict({ subject, status: 'Declined', eventAt: 2_000 }), { sessionCreatedAt: 100 })).toBe('written');
      const [mark] = await h.store.getRevocations(subject);
      expect(mark).toMatchObject({ reason: 'didit_status_regression', workflow: 'kyc' });
      // Didit flips the old session back (or a late Approved is fetched with a fresh eventAt): refused.
      expect(await h.store.putVerdict(verdict({ subject, eventAt: 3_000 }), { sessionCreatedAt: 100 })).toBe('revoked');
      expect((await h.store.getVerdicts(subject, ['kyc']))[0]?.status).toBe('Declined');
      expect(await h.store.putVerdict(verdict({ subject, sessionId: 'new', eventAt: 4_000 }), { sessionCreatedAt: FAR_FUTURE })).toBe('written');
    });

    it('writes as before when the subject was never revoked, with or without a creation time', async () => {
      const subject = newSubject();
      expect(await h.store.putVerdict(verdict({ subject, status: 'In Review', eventAt: 1 }))).toBe('written');
      expect(await h.store.putVerdict(verdict({ subject, eventAt: 2 }), { sessionCreatedAt: 1 })).toBe('written');
      expect(await h.store.getRevocations(subject)).toEqual([]);
    });
  });
});

contract('PendingSessions', () => {
  it('stores, replaces and deletes a pending session', async () => {
    const subject = newSubject();
    expect(await h.store.getPending(subject, 'kyc')).toBeUndefined();
    await h.store.putPending(pending(subject, 'kyc', 10), 60_000);
    await h.store.putPending(pending(subject, 'kyc', 20), 60_000);
    expect(await h.store.getPending(subject, 'kyc')).toEqual(pending(subject, 'kyc', 20));
    await h.store.deletePending(subject, 'kyc');
    expect(await h.store.getPending(subject, 'kyc')).toBeUndefined();
  });

  it('reads a Check\'s verdicts and, where no verdict is stored, the pending sessions in one step', async () => {
    const store = h.store as StateStore & CheckStateRead;
    const subject = newSubject();
    await h.store.putVerdict(verdict({ subject }), { sessionCreatedAt: 1 });
    await h.store.putPending(pending(subject, 'kyc', 10), 60_000);
    await h.store.putPending(pending(subject, 'age', 11), 50);
    const state = await store.readCheckState(subject, ['kyc', 'age', 'aml']);
    expect(state.verdicts).toEqual([verdict({ subject }), undefined, undefined]);
    // kyc has a verdict: its pending session is not read; aml has none stored.
    expect([0, 1, 2].map((i) => state.pending?.[i])).toEqual([undefined, pending(subject, 'age', 11), undefined]);
    await h.advance(50);
    const later = await store.readCheckState(subject, ['age']);
    expect(later.verdicts).toEqual([undefined]);
    expect(later.pending).toBeDefined();
    expect(later.pending?.[0]).toBeUndefined();
    expect((await store.readCheckState(subject, [])).verdicts).toEqual([]);
  });

  it('expires a pending session after its TTL', async () => {
    const subject = newSubject();
    await h.store.putPending(pending(subject, 'kyc', 10), 50);
    expect(await h.store.getPending(subject, 'kyc')).toBeDefined();
    await h.advance(50);
    expect(await h.store.getPending(subject, 'kyc')).toBeUndefined();
  });

  it('lists stale pending sessions oldest first, bounded, skipping expired and fresh ones', async () => {
    const s1 = newSubject();
    const s2 = newSubject();
    await h.store.putPending(pending(s1, 'kyc', 300), 60_000);
    await h.store.putPending(pending(s2, 'kyc', 100), 60_000);
    await h.store.putPending(pending(s1, 'age', 200), 60_000);
    await h.store.putPending(pending(s2, 'age', 900), 60_000);
    await h.store.putPending(pending(s2, 'gone', 50), 30);
    await h.advance(30);
    const stale = await h.store.listStalePending(500, 10);
    expect(stale.map((p) => p.sessionId)).toEqual(['p-kyc-100', 'p-age-200', 'p-kyc-300']);
    expect((await h.store.listStalePending(500, 2)).map((p) => p.sessionId)).toEqual(['p-kyc-100', 'p-age-200']);
    await h.store.deletePending(s2, 'kyc');
    expect((await h.store.listStalePending(500, 10)).map((p) => p.sessionId)).toEqual(['p-age-200', 'p-kyc-300']);
  });

  it('defers a pending session checked by the sweep behind the others, and ignores a deleted one', async () => {
    const s1 = newSubject();
    const s2 = newSubject();
    await h.store.putPending(pending(s1, 'kyc', 100), 60_000);
    await h.store.putPending(pending(s2, 'kyc', 200), 60_000);
    await h.store.deferPending(s1, 'kyc', 400);
    const mine = (list: { subject: string; sessionId: string }[]) => list.filter((p) => p.subject === s1 || p.subject === s2).map((p) => p.sessionId);
    expect(mine(await h.store.listStalePending(500, 100))).toEqual(['p-kyc-200', 'p-kyc-100']);
    expect(mine(await h.store.listStalePending(300, 100))).toEqual(['p-kyc-200']);
    await h.store.deletePending(s2, 'kyc');
    await h.store.deferPending(s2, 'kyc', 450);
    expect(mine(await h.store.listStalePending(500, 100))).toEqual(['p-kyc-100']);
    await h.store.deletePending(s1, 'kyc');
  });

  it('stores a session record with a TTL', async () => {
    const rec = { sessionId: `sess-${randomBytes(3).toString('hex')}`, subject: newSubject(), workflow: 'kyc', createdAt: 5 };
    await h.store.putSession({ ...rec, returnTo: 'https://app.example/x?y=1' }, 50);
    expect(await h.store.getSession(rec.sessionId)).toEqual({ ...rec, returnTo: 'https://app.example/x?y=1' });
    expect(await h.store.getSession('unknown')).toBeUndefined();
    await h.advance(50);
    expect(await h.store.getSession(rec.sessionId)).toBeUndefined();
  });
});

contract('Invalidations', () => {
  it('announces a written verdict and a subject-wide revocation', async () => {
    const subject = newSubject();
    const written = nextInvalidation(h.store, subject);
    await h.store.putVerdict(verdict({ subject, workflow: 'kyc' }));
    expect(await written).toEqual({ subject, workflow: 'kyc' });
    const revoked = nextInvalidation(h.store, subject);
    await h.store.revokeVerdicts(subject, undefined, { at: 1, reason: 'admin' });
    expect(await revoked).toEqual({ subject });
  });

  it('announces a revocation to every listener', async () => {
    const subject = newSubject();
    await h.store.putVerdict(verdict({ subject }));
    const one = nextInvalidation(h.store, subject);
    await h.store.revokeVerdicts(subject, 'kyc', { at: 1, reason: 'admin' });
    expect(await one).toEqual({ subject, workflow: 'kyc' });
  });
});

contract('WebhookDedupe', () => {
  it('marks an event seen once per TTL', async () => {
    const key = `evt-${randomBytes(3).toString('hex')}`;
    expect(await h.store.markEventSeen(key, 50)).toBe(true);
    expect(await h.store.markEventSeen(key, 50)).toBe(false);
    expect(await h.store.markEventSeen(`${key}-other`, 50)).toBe(true);
    await h.advance(50);
    expect(await h.store.markEventSeen(key, 50)).toBe(true);
  });
});

contract('StepUpCounters', () => {
  it('counts step-ups within a window per subject+workflow', async () => {
    const subject = newSubject();
    // The window must outlast four round trips on a loaded machine (60 ms did not, under CI-like load).
    const windowMs = 600;
    expect(await h.store.countStepUp(subject, 'kyc', windowMs)).toBe(1);
    expect(await h.store.countStepUp(subject, 'kyc', windowMs)).toBe(2);
    expect(await h.store.countStepUp(subject, 'age', windowMs)).toBe(1);
    expect(await h.store.countStepUp(subject, 'kyc', windowMs)).toBe(3);
    await h.advance(windowMs);
    expect(await h.store.countStepUp(subject, 'kyc', windowMs)).toBe(1);
  });
});

contract('Locks', () => {
  it('grants a lock to exactly one of 50 concurrent callers and releases it by token only', async () => {
    const tokens = await Promise.all(Array.from({ length: 50 }, () => h.store.acquireLock('create:kyc', 10_000)));
    const winners = tokens.filter((t): t is string => t !== undefined);
    expect(winners).toHaveLength(1);
    const token = winners[0] ?? '';
    expect(await h.store.releaseLock('create:kyc', 'not-the-token')).toBe(false);
    expect(await h.store.acquireLock('create:kyc', 10_000)).toBeUndefined();
    expect(await h.store.releaseLock('create:kyc', token)).toBe(true);
    expect(await h.store.releaseLock('create:kyc', token)).toBe(false);
    expect(await h.store.acquireLock('create:kyc', 10_000)).toEqual(expect.any(String));
  });

  it('lets a lock expire after its TTL', async () => {
    expect(await h.store.acquireLock('short', 40)).toBeDefined();
    expect(await h.store.acquireLock('short', 40)).toBeUndefined();
    await h.advance(40);
    expect(await h.store.acquireLock('short', 40)).toBeDefined();
  });
});

contract('AuditLog', () => {
  it('keeps the audit stream bounded', async () => {
    for (let i = 0; i < 300; i += 1) await h.store.appendAudit({ type: 'verdict_written', n: String(i) });
    const length = await h.auditLength();
    expect(length).toBeGreaterThanOrEqual(AUDIT_CAP);
    expect(length).toBeLessThanOrEqual(AUDIT_CAP + h.auditSlack);
  });
});

contract('StoreLifecycle', () => {
  it('answers ping, then fails with unavailable once closed', async () => {
    expect(await h.store.ping()).toBe(true);
    await h.store.close();
    expect(await h.store.ping()).toBe(false);
    const err: unknown = await h.store.getVerdicts('corp:x', ['kyc']).catch((e: unknown) => e);
    expect((err instanceof StoreError) && err.code).toBe('unavailable');
  });
});
