import { randomBytes } from 'node:crypto';
import type { Locks, StepUpCounters } from '../coordination.js';
import { StoreError } from '../store-error.js';
import { ttlMs } from '../ttl-ms.js';
import type { RedisConnection } from './redis-connection.js';
import { COUNT_STEP_UP_LUA, RELEASE_LOCK_LUA } from './redis-scripts.js';

/** {@link StepUpCounters} and {@link Locks} on Redis: an INCR window per subject+workflow, `SET NX PX` locks. */
export function createRedisCoordination(conn: RedisConnection): StepUpCounters & Locks {
  const { keys, client } = conn;
  const countStepUpScript = conn.defineScript('idgateCountStepUp', 1, COUNT_STEP_UP_LUA);
  const releaseLockScript = conn.defineScript('idgateReleaseLock', 1, RELEASE_LOCK_LUA);
  return {
    async countStepUp(subject, workflow, windowMs) {
      const px = ttlMs(windowMs, 'countStepUp windowMs');
      const n = await conn.run(() => countStepUpScript(keys.stepUps(subject, workflow), px));
      if (typeof n !== 'number') throw new StoreError('corrupt', 'unexpected reply from the step-up counter');
      return n;
    },

    async acquireLock(name, ttl) {
      const px = ttlMs(ttl, 'acquireLock ttlMs');
      const token = randomBytes(16).toString('hex');
      const reply = await conn.run(() => client.set(keys.lock(name), token, 'PX', px, 'NX'));
      return reply === 'OK' ? token : undefined;
    },

    async releaseLock(name, token) {
      const n = await conn.run(() => releaseLockScript(keys.lock(name), token));
      return n === 1;
    },
  };
}
