import { LRUCache } from 'lru-cache';
import type { Principal } from '../core/principal.js';

/** What a hit answers: identity's `verified` result, one frozen object per entry (shared by its hits). */
export type CachedVerification = Readonly<{ kind: 'verified'; principal: Principal }>;

/**
 * Bounded cache of successful verifications. An entry is found by its key (the token's digest) and served
 * only to a lookup with the same `scope` (what else shaped the verification: source and issuer config), so
 * the key needs no per-lookup concatenation (see {@link createTokenCache}).
 */
export interface TokenCache {
  /**
   * The cached principal, or undefined on a miss, when the entry was stored under another `scope` (default
   * `''`), or when the entry has reached its end (then evicted).
   */
  get(key: string, now: number, scope?: string): Principal | undefined;
  /** As {@link TokenCache.get}, answering the entry's frozen `verified` result (the same object on every hit). */
  lookup(key: string, now: number, scope?: string): CachedVerification | undefined;
  /**
   * Caches a principal until `min(exp, now + maxTtlMs)` under `key` and `scope` (default `''`), replacing any
   * entry of that key; tokens without `exp` or already past it are not cached.
   */
  set(key: string, principal: Principal, now: number, scope?: string): void;
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
  readonly verified: CachedVerification;
  /** Epoch ms after which the entry is never served. */
  readonly validUntil: number;
  /** Served only to a lookup of the same scope (compared in full). */
  readonly scope: string;
}

/** Default upper bound on how long a verification is reused: key revocation takes effect within it. */
export const DEFAULT_TOKEN_CACHE_TTL_MS = 5 * 60_000;

/**
 * Creates the verified-token cache. Expiry is judged against the `now` the caller passes (the injected
 * clock), never the cache's own timers, so an entry can never be served past the token's `exp`.
 *
 * The scope is checked inside the entry rather than concatenated into the key: a lookup then hashes the
 * caller's flat key as it is, where a `${scope}${key}` string would be built and flattened per lookup (a
 * cached Check's hot path, bench/README.md "Engine allocation per cached allow, ninth round"). One key holds
 * one entry: a token stored under one scope and then under another keeps only the last.
 *
 * @throws TypeError if `maxEntries` is not a positive integer.
 */
export function createTokenCache(options: TokenCacheOptions): TokenCache {
  if (!Number.isInteger(options.maxEntries) || options.maxEntries < 1) {
    throw new TypeError('tokenCacheMaxEntries must be a positive integer');
  }
  const maxTtlMs = options.maxTtlMs ?? DEFAULT_TOKEN_CACHE_TTL_MS;
  const lru = new LRUCache<string, Entry>({ max: options.maxEntries });
  // lru-cache's `get(k, options = {})` builds a new options object per call when given none; one shared
  // object instead. `get` writes its `status` (undefined unless lru-cache's diagnostics channel has
  // subscribers, then a fresh object per call): reset after each call so none is kept across lookups.
  const getOptions: LRUCache.GetOptions<string, Entry, unknown> = { status: undefined };
  const lookup = (key: string, now: number, scope = ''): CachedVerification | undefined => {
    const entry = lru.get(key, getOptions);
    getOptions.status = undefined;
    if (entry === undefined) return undefined;
    if (now >= entry.validUntil) {
      lru.delete(key);
      return undefined;
    }
    return entry.scope === scope ? entry.verified : undefined;
  };
  return {
    get: (key, now, scope) => lookup(key, now, scope)?.principal,
    lookup,
    set(key, principal, now, scope = '') {
      if (principal.expiresAt === undefined) return;
      const validUntil = Math.min(principal.expiresAt * 1000, now + maxTtlMs);
      if (validUntil <= now) return;
      lru.set(key, { verified: Object.freeze({ kind: 'verified', principal }), validUntil, scope });
    },
    get size() {
      return lru.size;
    },
    clear() {
      lru.clear();
    },
  };
}
