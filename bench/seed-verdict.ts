import { pino } from 'pino';
import { createRedisStore } from '../src/store/redis/create-redis-store.js';

/**
 * Writes an Approved verdict for each subject and workflow into Redis with idgate's own store code (so the
 * keys and encoding are exactly what idgate reads), then disconnects.
 * @throws StoreError when Redis is unreachable or refuses the write.
 */
export async function seedApprovedVerdicts(redisUrl: string, subjects: readonly string[], workflow: string, now: number): Promise<void> {
  const store = createRedisStore({ logger: pino({ level: 'silent' }) }, { redis: { url: redisUrl }, subscribe: false });
  try {
    if (!(await store.whenReady(5_000))) throw new Error(`redis at ${redisUrl} is not ready`);
    let i = 0;
    for (const subject of subjects) {
      i += 1;
      await store.putVerdict({
        subject,
        workflow,
        sessionId: `bench-session-${i}`,
        status: 'Approved',
        eventAt: now,
        decidedAt: now,
        facts: {},
      });
    }
  } finally {
    await store.close();
  }
}
