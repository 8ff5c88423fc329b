import { KeyObject, type webcrypto } from 'node:crypto';
import { pino } from 'pino';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { JwksCache } from '../src/identity/jwks-cache.js';
import { startJwksServer, type JwksServer } from './support/jwks-server.js';
import { createTestKey, jwksOf, TEST_JWKS_CONFIG, type TestKey } from './support/tokens.js';

/**
 * JwksCache.syncKey, the key lookup of the synchronous verify path, against a real JWKS endpoint: it
 * only ever hands out a key jose's own resolver picked, and it never does getKey's work (fetching,
 * refreshing, refetching for an unknown kid) — it answers undefined instead, so that work still happens
 * on the async path exactly as before.
 */
describe('identity: JwksCache.syncKey', () => {
  let now = 1_900_000_000_000;
  let k1: TestKey;
  let k2: TestKey;
  let es: TestKey;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    [k1, k2, es] = await Promise.all([createTestKey('RS256', 'k1'), createTestKey('RS256', 'k2'), createTestKey('ES256', 'e1')]);
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  async function setup(keys: unknown): Promise<{ server: JwksServer; cache: JwksCache }> {
    const server = await startJwksServer({ keys });
    const cache = new JwksCache(
      { logger: pino({ level: 'silent' }), clock: () => now },
      { issuerName: 'corp', issuer: server.url, jwksUri: server.jwksUrl, config: { ...TEST_JWKS_CONFIG, refreshIntervalMs: 60_000, maxStaleMs: 120_000 } },
    );
    cleanups.push(async () => {
      await cache.close();
      await server.close();
    });
    await cache.start();
    return { server, cache };
  }

  /** The first lookup starts jose's import; the key is there once it settles. */
  async function imported(cache: JwksCache, alg: string, kid: unknown): Promise<KeyObject> {
    expect(cache.syncKey(alg, kid)).toBeUndefined();
    return vi.waitFor(() => cache.syncKey(alg, kid) ?? Promise.reject(new Error('not yet')), { timeout: 2_000, interval: 5 });
  }

  const publicOf = (key: TestKey) => KeyObject.from(key.publicKey as unknown as webcrypto.CryptoKey);

  it('hands out the key jose resolves for alg and kid, once imported, and nothing for other pairs', async () => {
    now = 1_900_000_000_000;
    const { server, cache } = await setup(jwksOf(k1, k2, es));
    const key = await imported(cache, 'RS256', 'k2');
    expect(key.equals(publicOf(k2))).toBe(true);
    expect((await imported(cache, 'ES256', 'e1')).equals(publicOf(es))).toBe(true);
    // Unknown kid, a key of another type, no kid with two RSA candidates, a non-string kid: never a key,
    // and never a fetch (an unknown kid's refetch is getKey's job).
    for (const [alg, kid] of [['RS256', 'nope'], ['ES256', 'k1'], ['RS256', undefined], ['RS256', 7]] as const) {
      cache.syncKey(alg, kid);
      await new Promise((r) => setTimeout(r, 20));
      expect(cache.syncKey(alg, kid)).toBeUndefined();
    }
    expect(server.counts.jwks).toBe(1);
  });

  it('answers undefined once a refresh is due or the keys are stale, and serves the new key set after a fetch', async () => {
    now = 1_900_000_000_000;
    const { server, cache } = await setup(jwksOf(k1));
    await imported(cache, 'RS256', 'k1');
    now += 60_001; // refresh due: getKey refreshes opportunistically, the sync path must leave it that chance
    expect(cache.syncKey('RS256', 'k1')).toBeUndefined();
    now += 60_000; // past maxStaleMs
    expect(cache.syncKey('RS256', 'k1')).toBeUndefined();
    // A fetch replaces the key set: k1 is gone, k2 is served once imported.
    server.setKeys(jwksOf(k2));
    await cache.getKey({ alg: 'RS256', kid: 'k2' }, { payload: '', signature: '' });
    expect(cache.syncKey('RS256', 'k1')).toBeUndefined();
    expect((await imported(cache, 'RS256', 'k2')).equals(publicOf(k2))).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect(cache.syncKey('RS256', 'k1')).toBeUndefined();
  });
});
