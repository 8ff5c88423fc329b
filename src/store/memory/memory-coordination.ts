import { randomBytes } from 'node:crypto';
import { boundedLru } from '../../core/bounded-lru.js';
import type { Locks, StepUpCounters } from '../coordination.js';
import { ttlMs } from '../ttl-ms.js';
import { pairKey } from './memory-state.js';
import type { MemoryState, Timed } from './memory-state.js';

interface Counter {
  count: number;
  readonly expiresAt: number;
}

/** {@link StepUpCounters} and {@link Locks} in memory, each an LRU of `maxEntries` with expiry on the state's clock. */
export function createMemoryCoordination(state: MemoryState): StepUpCounters & Locks {
  const stepUps = boundedLru<string, Counter>(state.maxEntries);
  const locks = boundedLru<string, Timed<string>>(state.maxEntries);
  return {
    async countStepUp(subject, workflow, windowMs) {
      state.open();
      const ms = ttlMs(windowMs, 'countStepUp windowMs');
      const key = pairKey(subject, workflow);
      const counter = stepUps.get(key);
      if (counter !== undefined && counter.expiresAt > state.now()) {
        counter.count += 1;
        return counter.count;
      }
      stepUps.set(key, { count: 1, expiresAt: state.now() + ms });
      return 1;
    },

    async acquireLock(name, ttl) {
      state.open();
      const ms = ttlMs(ttl, 'acquireLock ttlMs');
      if (state.live(locks.get(name)) !== undefined) return undefined;
      const token = randomBytes(16).toString('hex');
      locks.set(name, { value: token, expiresAt: state.now() + ms });
      return token;
    },

    async releaseLock(name, token) {
      state.open();
      if (state.live(locks.get(name)) !== token) return false;
      locks.delete(name);
      return true;
    },
  };
}
