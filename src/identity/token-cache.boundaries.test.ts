import { describe, expect, it } from 'vitest';
import type { Principal } from '../core/principal.js';
import { createTokenCache } from './token-cache.js';

/** Edges of the verified-token cache (found by mutation testing, `make mutation`). */
const now = 1_900_000_000_000;
const principal = (expiresAt: number): Principal => ({
  issuerName: 'corp',
  issuer: 'https://idp.test',
  sub: 'alice',
  subject: 'corp:alice',
  claims: {},
  source: 'header',
  tokenId: '0123456789abcdef',
  expiresAt,
});

describe('createTokenCache edges', () => {
  it('does not cache a token whose exp is exactly now', () => {
    const cache = createTokenCache({ maxEntries: 10 });
    cache.set('k', principal(now / 1000), now);
    expect(cache.size).toBe(0);
    expect(cache.get('k', now)).toBeUndefined();
  });

  it('caches a token valid for one more millisecond-second, until exactly its exp', () => {
    const cache = createTokenCache({ maxEntries: 10 });
    const p = principal(now / 1000 + 1);
    cache.set('k', p, now);
    expect(cache.get('k', now + 999)).toBe(p);
    expect(cache.get('k', now + 1_000)).toBeUndefined();
  });

  it('accepts a size of 1 and rejects 0, negative and fractional sizes with a clear message', () => {
    const one = createTokenCache({ maxEntries: 1 });
    one.set('a', principal(now / 1000 + 60), now);
    one.set('b', principal(now / 1000 + 60), now);
    expect(one.size).toBe(1);
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => createTokenCache({ maxEntries: bad })).toThrow(new TypeError('tokenCacheMaxEntries must be a positive integer'));
    }
  });

  it('clear() drops every entry', () => {
    const cache = createTokenCache({ maxEntries: 10 });
    cache.set('a', principal(now / 1000 + 60), now);
    cache.clear();
    expect(cache.size).toBe(0);
    expect(cache.get('a', now)).toBeUndefined();
  });
});
