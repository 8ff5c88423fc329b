import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryStore } from '../src/store/memory/create-memory-store.js';
import { createRedisStore } from '../src/store/redis/create-redis-store.js';
import type { RedisStore } from '../src/store/redis/create-redis-store.js';
import { SESSION_STATUSES } from '../src/core/verdict.js';
import type { Verdict } from '../src/core/verdict.js';
import { startRedis } from './support/redis-server.js';
import type { RedisServerHandle } from './support/redis-server.js';

const logger = pino({ level: 'silent' });

const arbEvent = fc.record({
  sessionId: fc.constantFrom('a', 'b', 'ab', 'é', '\uFFFF', '😀'),
  status: fc.constantFrom(...SESSION_STATUSES),
  eventAt: fc.integer({ min: 0, max: 3 }),
});

describe('the Lua verdict write orders exactly like the in-memory rule', () => {
  let server: RedisServerHandle;
  let redis: RedisStore;
  beforeAll(async () => {
    server = await startRedis();
    redis = createRedisStore({ logger }, { redis: { url: server.url, commandTimeoutMs: 2000 }, subscribe: false });
    expect(await redis.whenReady(5000)).toBe(true);
  });
  afterAll(async () => {
    await redis.close();
    await server.close();
  });

  it('gives the same result for every write and the same final verdict', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(arbEvent, { minLength: 1, maxLength: 6 }), async (events) => {
        run += 1;
        const subject = `corp:run-${run}`;
        // Small caps: the default caps preallocate 100 000-entry LRU caches per run, which alone took most of
        // this test's time budget on a loaded machine.
        const memory = createMemoryStore({ logger, clock: () => 0 }, { maxEntries: 100, maxSubjects: 100 });
        for (const e of events) {
          const v: Verdict = { subject, workflow: 'kyc', facts: {}, ...e };
          const [m, r] = await Promise.all([memory.putVerdict(v), redis.putVerdict(v)]);
          expect(r).toBe(m);
        }
        const [[fromMemory], [fromRedis]] = await Promise.all([
          memory.getVerdicts(subject, ['kyc']),
          redis.getVerdicts(subject, ['kyc']),
        ]);
        expect(fromRedis).toEqual(fromMemory);
      }),
      { numRuns: 60 },
    );
  });
});
