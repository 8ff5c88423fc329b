import type { Logger } from 'pino';
import type { StoreConfig } from '../config/types.js';
import { createCachedVerdictStore } from './cached-verdict-store.js';
import type { CachedVerdictStore } from './cached-verdict-store.js';
import { createMemoryStore } from './memory/create-memory-store.js';
import type { MemoryStore } from './memory/create-memory-store.js';
import { createRedisStore } from './redis/create-redis-store.js';
import type { RedisStore } from './redis/create-redis-store.js';

/** What {@link createStore} builds: the store to use, and the backend for lifecycle and readiness. */
export interface BuiltStore {
  /** The store to hand to the engine and webhook: the cached Redis store, or the backend itself. */
  readonly store: CachedVerdictStore | MemoryStore | RedisStore;
  /** The backend itself: `whenReady()` / `stats()` on Redis, `auditEntries()` in memory. */
  readonly backend: MemoryStore | RedisStore;
}

/**
 * Builds the state store from the validated `store` config: `memory` or `redis` (standalone URL, Sentinel
 * or Cluster), wrapped in the per-replica verdict cache unless `localCacheTtlMs` is 0. The memory store
 * needs no cache (it is already local). Closing `store` closes the backend.
 *
 * @throws TypeError when `type` is `redis` without a `redis` section, or a Redis option is invalid.
 */
export function createStore(deps: { logger: Logger; clock?: () => number }, config: StoreConfig): BuiltStore {
  switch (config.type) {
    case 'memory': {
      const backend = createMemoryStore(deps);
      return { store: backend, backend };
    }
    case 'redis': {
      if (config.redis === undefined) throw new TypeError('store.type redis needs a store.redis section');
      const backend = createRedisStore({ logger: deps.logger }, { redis: config.redis });
      if (config.localCacheTtlMs <= 0) return { store: backend, backend };
      const store = createCachedVerdictStore(backend, {
        ttlMs: config.localCacheTtlMs,
        maxEntries: config.localCacheMaxEntries,
        ...(deps.clock ? { clock: deps.clock } : {}),
      });
      return { store, backend };
    }
    default: {
      const never: never = config.type;
      throw new TypeError(`unknown store type ${String(never)}`);
    }
  }
}
