import { describe, expect, it } from 'vitest';
import type { Principal } from '../core/principal.js';
import { createTokenCache } from './token-cache.js';

const now = 1_900_000_000_000;
const principal = (expiresAt?: number): Principal => ({
  issuerName: 'corp',
  issuer: 'https://idp.test',
  sub: 'alice',
  subject: 'corp:alice',
  claims: {},
  source: 'header',
  tokenId: '0123456789abcdef',
  ...(expiresAt !== undefined ? { expiresAt } : {}),
});

/** Caches a token expiring `seconds` after now and asserts it is served until 1 ms before its exp, not at it. */
function expectServedUntilExp(seconds: number): ReturnType<typeof createTokenCache> {
  const cache = createTokenCache({ maxEntries: 10 });
  const p = principal(now / 1000 + seconds);
  cache.set('k', p, now);
  expect(cache.get('k', now + seconds * 1000 - 1)).toBe(p);
  expect(cache.get('k', now + seconds * 1000)).toBeUndefined();
  return cache;
}

describe('createTokenCache', () => {
  it('serves an entry until exp and never after', () => {
    const cache = expectServedUntilExp(60);
    expect(cache.size).toBe(0);
  });

  it('caps the lifetime at 5 minutes by default and at maxTtlMs when given', () => {
    const cache = createTokenCache({ maxEntries: 10 });
    cache.set('k', principal(now / 1000 + 3600), now);
    expect(cache.get('k', now + 300_000 - 1)).toBeDefined();
    expect(cache.get('k', now + 300_000)).toBeUndefined();
    const short = createTokenCache({ maxEntries: 10, maxTtlMs: 1_000 });
    short.set('k', principal(now / 1000 + 3600), now);
    expect(short.get('k', now + 1_000)).toBeUndefined();
  });

  it('does not cache tokens without exp or already expired', () => {
    const cache = createTokenCache({ maxEntries: 10 });
    cache.set('a', principal(), now);
    cache.set('b', principal(now / 1000 - 1), now);
    expect(cache.size).toBe(0);
  });

  it('evicts the least recently used entry beyond maxEntries', () => {
    const cache = createTokenCache({ maxEntries: 2 });
    const exp = now / 1000 + 60;
    cache.set('a', principal(exp), now);
    cache.set('b', principal(exp), now);
    cache.get('a', now);
    cache.set('c', principal(exp), now);
    expect(cache.get('b', now)).toBeUndefined();
    expect(cache.get('a', now)).toBeDefined();
    expect(cache.get('c', now)).toBeDefined();
  });

  it('rejects a non-positive size', () => {
    expect(() => createTokenCache({ maxEntries: 0 })).toThrow(TypeError);
  });
});

/** Edges of the verified-token cache (found by mutation testing, `make mutation`). */
describe('createTokenCache edges', () => {
  it('does not cache a token whose exp is exactly now', () => {
    const cache = createTokenCache({ maxEntries: 10 });
    cache.set('k', principal(now / 1000), now);
    expect(cache.size).toBe(0);
    expect(cache.get('k', now)).toBeUndefined();
  });

  it('caches a token valid for one more millisecond-second, until exactly its exp', () => {
    expectServedUntilExp(1);
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

/** The scope an entry was stored under (source + issuer config in the authenticator) is part of its identity. */
describe('createTokenCache scopes', () => {
  it('serves an entry only to a lookup of the same scope, compared in full', () => {
    const cache = createTokenCache({ maxEntries: 10 });
    const p = principal(now / 1000 + 60);
    cache.set('digest', p, now, 'cfg|header:authorization:bearer');
    expect(cache.get('digest', now, 'cfg|header:authorization:bearer')).toBe(p);
    // Equal text built afresh (another string object) still matches; any other scope, the empty one included, does not.
    expect(cache.get('digest', now, ['cfg|header', 'authorization:bearer'].join(':'))).toBe(p);
    expect(cache.get('digest', now, 'cfg|cookie:session')).toBeUndefined();
    expect(cache.get('digest', now, 'other|header:authorization:bearer')).toBeUndefined();
    expect(cache.get('digest', now)).toBeUndefined();
    expect(cache.get('digest', now, 'cfg|header:authorization:bearer ')).toBeUndefined();
  });

  it('keeps one entry per key: storing under another scope replaces it, and a miss of another scope evicts nothing', () => {
    const cache = createTokenCache({ maxEntries: 10 });
    const a = principal(now / 1000 + 60);
    const b = principal(now / 1000 + 60);
    cache.set('digest', a, now, 'A');
    expect(cache.get('digest', now, 'B')).toBeUndefined();
    expect(cache.get('digest', now, 'A')).toBe(a);
    cache.set('digest', b, now, 'B');
    expect(cache.size).toBe(1);
    expect(cache.get('digest', now, 'B')).toBe(b);
    expect(cache.get('digest', now, 'A')).toBeUndefined();
  });

  it('still ends an entry at its exp whatever the scope of the lookup', () => {
    const cache = createTokenCache({ maxEntries: 10 });
    cache.set('digest', principal(now / 1000 + 1), now, 'A');
    expect(cache.get('digest', now + 1_000, 'B')).toBeUndefined();
    expect(cache.size).toBe(0);
  });
});

describe('createTokenCache lookup', () => {
  it('answers one frozen verified result per entry, the same object on every hit, and nothing once ended', () => {
    const cache = createTokenCache({ maxEntries: 10 });
    const p = principal(now / 1000 + 60);
    cache.set('digest', p, now, 'A');
    const hit = cache.lookup('digest', now, 'A');
    expect(hit).toEqual({ kind: 'verified', principal: p });
    expect(Object.isFrozen(hit)).toBe(true);
    expect(cache.lookup('digest', now + 1, 'A')).toBe(hit);
    expect(cache.lookup('digest', now, 'B')).toBeUndefined();
    expect(cache.lookup('digest', now + 60_000, 'A')).toBeUndefined();
  });
});
