import { LRUCache } from 'lru-cache';
import type { Principal } from '../core/principal.js';

/** Bounded cache of successful verifications, keyed by whatever shaped them (see {@link createTokenCache}). */
export interface TokenCache {
  /** The cached principal, or undefined on a miss or when the entry has reached its end (then evicted). */
  get(key: string, now: number): Principal | undefined;
  /** Caches a principal until `min(exp, now + maxTtlMs)`; tokens without `exp` or already past it are not cached. */
  set(key: string, principal: Principal, now: number): void;
  readonly size: number;
  clear(): void;
}

/** Options of {@link createTokenCache}. */
export interface TokenCacheOptions {
  /** Largest number of entries; least recently used entries are evicted first. */
  readonly maxEntries: number;
  /** Longest time one verification is reused, ms (default 5 min). */
  readonly maxTtlMs?: number;
}

interface Entry {
  readonly principal: Principal;
  /** Epoch ms after which the entry is never served. */
  readonly validUntil: number;
}

/** Default upper bound on how long a verification is reused: key revocation takes effect within it. */
export const DEFAULT_TOKEN_CACHE_TTL_MS = 5 * 60_000;

/**
 * Creates the verified-token cache. Expiry is judged against the `now` the caller passes (the injected
 * clock), never the cache's own timers, so an entry can never be served past the token's `exp`.
 *
 * @throws TypeError if `maxEntries` is not a positive integer.
 */
export function createTokenCache(options: TokenCacheOptions): TokenCache {
  if (!Number.isInteger(options.maxEntries) || options.maxEntries < 1) {
    throw new TypeError('tokenCacheMaxEntries must be a positive integer');
  }
  const maxTtlMs = options.maxTtlMs ?? DEFAULT_TOKEN_CACHE_TTL_MS;
  const lru = new LRUCache<string, Entry>({ max: options.maxEntries });
  return {
    get(key, now) {
      const entry = lru.get(key);
      if (entry === undefined) return undefined;
      if (now >= entry.validUntil) {
        lru.delete(key);
        return undefined;
      }
      return entry.principal;
    },
    set(key, principal, now) {
      if (principal.expiresAt === undefined) return;
      const validUntil = Math.min(principal.expiresAt * 1000, now + maxTtlMs);
      if (validUntil <= now) return;
      lru.set(key, { principal, validUntil });
    },
    get size() {
      return lru.size;
    },
    clear() {
      lru.clear();
    },
  };
}
