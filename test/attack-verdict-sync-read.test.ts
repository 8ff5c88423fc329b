import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Verdict } from '../src/core/verdict.js';
import { createCachedVerdictStore, type CachedVerdictStore } from '../src/store/cached-verdict-store.js';
import { createRedisStore, type RedisStore } from '../src/store/redis/create-redis-store.js';
import { startRedis, type RedisServerHandle } from './support/redis-server.js';

/**
 * The synchronous cached verdict read (`readCheckState`, what the verification gate answers a fully cached
 * Check from) raced against revocations written by another replica, on a real redis-server: replica A
 * reads through its local cache, replica B revokes. The cache TTL is a minute, so only the invalidation
 * event can end A's cached Approved. Once that event has reached A, no read — synchronous or not — may
 * answer Approved again, whichever way the read and the revocation interleaved (a read that overlapped
 * the revocation must not be cached). Before the event arrives A may still answer from its cache: that
 * is the documented replica-cache window (`store.localCacheTtl`), not tested as a failure here.
 */
const logger = pino({ level: 'silent' });
let server: RedisServerHandle;
let a: RedisStore;
let b: RedisStore;
let cachedA: CachedVerdictStore;

const approved = (subject: string): Verdict => ({ subject, workflow: 'kyc', sessionId: `s-${subject}`, status: 'Approved', eventAt: Date.now(), facts: {} });

/** Resolves when replica A's store has delivered an invalidation for `subject` (A's cache listener runs first). */
function invalidationOn(store: RedisStore, subject: string): Promise<void> {
  return new Promise((resolve) => {
    const off = store.onInvalidate((s) => {
      if (s !== undefined && s !== subject) return;
      off();
      resolve();
    });
  });
}

/** One read of A through the sync-capable path: whether it answered without a promise, and the status. */
async function readA(subject: string): Promise<{ sync: boolean; status: string | undefined }> {
  const read = cachedA.readCheckState(subject, ['kyc']);
  const sync = !(read instanceof Promise);
  return { sync, status: (await read).verdicts[0]?.status };
}

beforeAll(async () => {
  server = await startRedis();
  const open = async () => {
    const store = createRedisStore({ logger }, { redis: { url: server.url, keyPrefix: 'atk:v1:', commandTimeoutMs: 1000, connectTimeoutMs: 1000 } });
    expect(await store.whenReady(5000)).toBe(true);
    return store;
  };
  a = await open();
  b = await open();
  cachedA = createCachedVerdictStore(a, { ttlMs: 60_000, maxEntries: 1_000 });
}, 30_000);

afterAll(async () => {
  await Promise.all([cachedA?.close(), b?.close()]);
  await server?.close();
});

describe('sync cached verdict read vs a revocation on another replica', () => {
  it('never answers Approved after the revocation reached the replica, however the read and the revocation interleave', async () => {
    const modes = ['warm', 'cold-read-first', 'cold-revoke-first', 'cold-same-tick'] as const;
    const seen = { syncApprovedBeforeEvent: 0, staleReadDuringRace: 0, rounds: 0 };
    for (let round = 0; round < 40; round++) {
      const mode = modes[round % modes.length] as (typeof modes)[number];
      const subject = `corp:race-${round}`;
      // B's write, and its invalidation seen by A, before the race (so the event awaited below is the revocation's).
      const putSeen = invalidationOn(a, subject);
      expect(await b.putVerdict(approved(subject), { sessionCreatedAt: Date.now() - 1_000 })).toBe('written');
      await putSeen;
      if (mode === 'warm') {
        expect(await readA(subject)).toEqual({ sync: false, status: 'Approved' });
        expect(await readA(subject)).toEqual({ sync: true, status: 'Approved' });
      }
      const arrived = invalidationOn(a, subject);
      const revoke = () => b.revokeVerdicts(subject, 'kyc', { at: Date.now(), reason: 'admin' });
      let racing: Promise<{ sync: boolean; status: string | undefined }>;
      let revoked: Promise<unknown>;
      if (mode === 'cold-revoke-first') {
        revoked = revoke();
        racing = readA(subject);
      } else if (mode === 'cold-same-tick') {
        [racing, revoked] = [readA(subject), revoke()];
      } else {
        racing = readA(subject);
        revoked = revoke();
      }
      const [during] = await Promise.all([racing, revoked]);
      if (during.status === 'Approved') seen.staleReadDuringRace += 1;
      // Before the event: the documented window (A may still answer from its cache).
      const before = await readA(subject);
      if (before.sync && before.status === 'Approved') seen.syncApprovedBeforeEvent += 1;
      await arrived;
      // After the event: never Approved again, on the sync path or the store path, and getVerdicts agrees.
      for (let i = 0; i < 5; i++) {
        const after = await readA(subject);
        expect(after.status, `${mode} round ${round}, read ${i}`).toBeUndefined();
        expect((await cachedA.getVerdicts(subject, ['kyc']))[0]).toBeUndefined();
      }
      // And the next reads are served synchronously again (the absence is cached), still not Approved.
      expect(await readA(subject)).toEqual({ sync: true, status: undefined });
      seen.rounds += 1;
    }
    expect(seen.rounds).toBe(40);
    console.log(`[scorecard] attack-verdict-sync-read: ${JSON.stringify(seen)}`);
  }, 60_000);
});
