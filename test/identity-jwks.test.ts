import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { JwksConfig } from '../src/config/types.js';
import type { AuthResult } from '../src/core/auth-result.js';
import { createAuthenticator, type IdentityMetrics, type JwtAuthenticator } from '../src/identity/authenticator.js';
import type { JwksFetchOutcome, UnknownKidOutcome } from '../src/identity/jwks-cache.js';
import { startJwksServer, type JwksServer } from './support/jwks-server.js';
import {
  bearerContext,
  claimsFor,
  createTestKey,
  issuerConfigFor,
  jwksOf,
  mintToken,
  signRaw,
  type TestKey,
} from './support/tokens.js';

const T0 = 1_900_000_000_000;
const AUD = 'api://idgate';

interface Harness {
  server: JwksServer;
  auth: JwtAuthenticator;
  fetches: JwksFetchOutcome[];
  kidMisses: UnknownKidOutcome[];
  check(key: TestKey, kid?: string): Promise<AuthResult>;
}

describe('identity: JWKS cache and OIDC discovery', () => {
  let now = T0;
  let k1: TestKey;
  let k2: TestKey;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    [k1, k2] = await Promise.all([createTestKey('RS256', 'k1'), createTestKey('RS256', 'k2')]);
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
    now = T0;
  });

  async function setup(
    options: {
      keys?: unknown;
      discovery?: boolean;
      jwks?: Partial<JwksConfig>;
      before?: (server: JwksServer) => Promise<void> | void;
      retryBaseMs?: number;
    } = {},
  ): Promise<Harness> {
    const server = await startJwksServer({ keys: options.keys ?? jwksOf(k1) });
    await options.before?.(server);
    const issuer = server.url;
    const fetches: JwksFetchOutcome[] = [];
    const kidMisses: UnknownKidOutcome[] = [];
    const metrics: IdentityMetrics = {
      onJwksFetch: (_issuer, outcome) => fetches.push(outcome),
      onUnknownKid: (_issuer, outcome) => kidMisses.push(outcome),
      onTokenCache: () => undefined,
    };
    const auth = createAuthenticator(
      { logger: pino({ level: 'silent' }), clock: () => now, metrics },
      {
        issuers: [
          issuerConfigFor({
            name: 'corp',
            issuer,
            ...(options.discovery === true ? { discoveryUrl: server.discoveryUrl } : { jwksUri: server.jwksUrl }),
            ...(options.jwks !== undefined ? { jwks: options.jwks } : {}),
          }),
        ],
        tokenCacheMaxEntries: 1,
        ...(options.retryBaseMs !== undefined ? { jwksRetryBaseMs: options.retryBaseMs } : {}),
      },
    );
    cleanups.push(async () => {
      await auth.close();
      await server.close();
    });
    await auth.start();
    const check = async (key: TestKey, kid = key.kid): Promise<AuthResult> => {
      // A fresh sub each time, so the verified-token cache never answers for the JWKS cache.
      const token = await mintToken(key, { iss: issuer, aud: AUD, now, sub: randomUUID(), header: { kid } });
      return auth.authenticate(bearerContext(token), now);
    };
    return { server, auth, fetches, kidMisses, check };
  }

  it('picks up a rotated-in key through a refetch on its unknown kid', async () => {
    const h = await setup();
    expect((await h.check(k1)).kind).toBe('verified');
    h.server.setKeys(jwksOf(k1, k2));
    expect((await h.check(k2)).kind).toBe('verified');
    expect(h.server.counts.jwks).toBe(2);
    expect(h.kidMisses).toEqual(['refetch']);
    expect(h.fetches).toEqual(['ok', 'ok']);
    // Both keys now verify without further fetches.
    expect((await h.check(k1)).kind).toBe('verified');
    expect((await h.check(k2)).kind).toBe('verified');
    expect(h.server.counts.jwks).toBe(2);
  });

  it('concurrent requests with a rotated-in kid share one refetch and all succeed (single-flight)', async () => {
    const h = await setup();
    h.server.setKeys(jwksOf(k1, k2));
    const token = await mintToken(k2, { iss: h.server.url, aud: AUD, now });
    const results = await Promise.all(Array.from({ length: 20 }, () => h.auth.authenticate(bearerContext(token), now)));
    expect(results.map((r) => r.kind)).toEqual(Array.from({ length: 20 }, () => 'verified'));
    expect(h.server.counts.jwks).toBe(2);
    expect(h.kidMisses[0]).toBe('refetch');
    expect(h.kidMisses.slice(1).every((o) => o === 'joined')).toBe(true);
  });

  it('refreshes in the background every refreshIntervalMs', async () => {
    const h = await setup({ jwks: { refreshIntervalMs: 20 } });
    h.server.setKeys(jwksOf(k1, k2));
    await vi.waitFor(() => expect(h.fetches.filter((f) => f === 'ok').length).toBeGreaterThanOrEqual(2), { timeout: 5_000, interval: 10 });
    expect((await h.check(k2)).kind).toBe('verified');
    expect(h.kidMisses).toEqual([]);
  });

  it('a flood of 200 unknown kids costs one fetch per interval', async () => {
    const h = await setup();
    h.server.resetCounts();
    const claims = claimsFor({ iss: h.server.url, aud: AUD, now });
    const flood = Array.from({ length: 200 }, () =>
      signRaw({ alg: 'RS256', kid: randomUUID() }, claims, k1),
    );
    const results = await Promise.all(flood.map((t) => h.auth.authenticate(bearerContext(t), now)));
    for (const r of results) expect(r).toMatchObject({ kind: 'failed', code: 'token_invalid', message: 'no matching signing key' });
    expect(h.server.counts.jwks).toBe(1);

    // A second wave inside the interval: rate-limited, no request at all.
    for (const t of flood.slice(0, 50)) await h.auth.authenticate(bearerContext(t), now);
    expect(h.server.counts.jwks).toBe(1);
    expect(h.kidMisses.filter((o) => o === 'rate_limited').length).toBeGreaterThanOrEqual(50);

    // After the interval, one more.
    now += 30_000;
    const late = flood.slice(0, 20).map((t) => h.auth.authenticate(bearerContext(t), now));
    await Promise.all(late);
    expect(h.server.counts.jwks).toBe(2);
    // Valid tokens were unaffected throughout.
    expect((await h.check(k1)).kind).toBe('verified');
  });

  it('an unknown kid still unknown after the refetch is rejected, and the next one waits for the interval', async () => {
    const h = await setup();
    expect(await h.check(k2)).toMatchObject({ code: 'token_invalid', message: 'no matching signing key' });
    h.server.setKeys(jwksOf(k1, k2));
    expect(await h.check(k2)).toMatchObject({ code: 'token_invalid', message: 'no matching signing key' });
    expect(h.kidMisses).toEqual(['refetch', 'rate_limited']);
    now += 30_000;
    expect((await h.check(k2)).kind).toBe('verified');
  });

  it.each([
    ['answers 503', (s: JwksServer) => s.setJwksMode('error'), 'unexpected HTTP status 503'],
    ['refuses connections', (s: JwksServer) => s.takeDown(), 'request failed'],
    ['hangs', (s: JwksServer) => s.setJwksMode('hang'), 'timed out'],
  ])('keeps serving cached keys when the endpoint %s (stale-if-error), up to maxStaleMs', async (_name, breakIt, error) => {
    const h = await setup({ jwks: { maxStaleMs: 3_600_000, fetchTimeoutMs: 300 } });
    await breakIt(h.server);
    // An unknown kid forces a fetch that fails; the known key keeps working.
    expect(await h.check(k2)).toMatchObject({ code: 'token_invalid', message: 'no matching signing key' });
    expect(h.auth.status()[0]).toMatchObject({ keysLoaded: true, lastFetchOk: T0 });
    expect(h.auth.status()[0]?.lastError).toContain(error);
    now += 20 * 60_000;
    expect((await h.check(k1)).kind).toBe('verified');
    // Past maxStaleMs with the endpoint still failing, the keys are no longer trusted.
    now = T0 + 3_600_000 + 1;
    expect(await h.check(k1)).toEqual({
      kind: 'failed',
      code: 'dependency_unavailable',
      message: 'signing keys unavailable',
      issuerName: 'corp',
    });
    expect(h.auth.status()[0]?.keysLoaded).toBe(false);
  });

  it.each([
    ['not JSON', (s: JwksServer) => s.setJwksMode('garbage'), 'not valid JSON'],
    ['not a key set', (s: JwksServer) => s.setKeys({ hello: 'world' }), 'no "keys" array'],
    ['an empty key set', (s: JwksServer) => s.setKeys({ keys: [] }), 'no usable signing keys'],
    ['only encryption keys', (s: JwksServer) => s.setKeys({ keys: [{ ...k2.publicJwk, use: 'enc' }] }), 'no usable signing keys'],
    ['only symmetric keys', (s: JwksServer) => s.setKeys({ keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'k2' }] }), 'no usable signing keys'],
    ['a key set with a private key', (s: JwksServer) => s.setKeys({ keys: [{ ...k2.publicJwk, d: 'AAAA' }] }), 'no usable signing keys'],
  ])('keeps the previous keys when the endpoint returns %s', async (_name, breakIt, error) => {
    const h = await setup();
    breakIt(h.server);
    expect(await h.check(k2)).toMatchObject({ code: 'token_invalid', message: 'no matching signing key' });
    expect(h.fetches).toEqual(['ok', 'invalid']);
    expect(h.auth.status()[0]?.lastError).toContain(error);
    expect((await h.check(k1)).kind).toBe('verified');
  });

  it('rejects an oversized key set and keeps the previous keys', async () => {
    const h = await setup({ jwks: { maxBodyBytes: 2_048 } });
    h.server.setKeys({ keys: [k1.publicJwk, k2.publicJwk, { kty: 'RSA', n: 'A'.repeat(4_096), e: 'AQAB' }] });
    expect(await h.check(k2)).toMatchObject({ message: 'no matching signing key' });
    expect(h.auth.status()[0]?.lastError).toContain('larger than 2048 bytes');
    expect((await h.check(k1)).kind).toBe('verified');
  });

  it('without a kid, tries every key that fits the alg', async () => {
    const evil = await createTestKey('RS256', 'k1');
    const h = await setup({ keys: jwksOf(k1, k2) });
    const claims = claimsFor({ iss: h.server.url, aud: AUD, now });
    const run = (t: string) => h.auth.authenticate(bearerContext(t), now);
    expect((await run(signRaw({ alg: 'RS256' }, claims, k2))).kind).toBe('verified');
    expect((await run(signRaw({ alg: 'RS256' }, { ...claims, sub: 'other' }, k1))).kind).toBe('verified');
    expect(await run(signRaw({ alg: 'RS256' }, claims, evil))).toMatchObject({ message: 'signature verification failed' });
    expect(await run(signRaw({ alg: 'RS256' }, { ...claims, aud: 'nope' }, k2))).toMatchObject({ message: 'audience not accepted' });
  });

  it('ignores keys marked use: enc', async () => {
    const h = await setup({ keys: { keys: [{ ...k1.publicJwk, use: 'enc' }, k2.publicJwk] } });
    expect(await h.check(k1)).toMatchObject({ code: 'token_invalid', message: 'no matching signing key' });
    expect((await h.check(k2)).kind).toBe('verified');
  });

  it('with no keys ever fetched answers dependency_unavailable, then recovers', async () => {
    const h = await setup({ before: (s) => s.setJwksMode('error') });
    expect(h.auth.status()).toEqual([
      { name: 'corp', keysLoaded: false, lastError: 'jwks: unexpected HTTP status 503' },
    ]);
    expect(await h.check(k1)).toMatchObject({ kind: 'failed', code: 'dependency_unavailable', message: 'signing keys unavailable' });
    h.server.setJwksMode('ok');
    // Still inside the on-demand interval: no new fetch, still unavailable.
    expect(await h.check(k1)).toMatchObject({ code: 'dependency_unavailable' });
    now += 30_000;
    expect((await h.check(k1)).kind).toBe('verified');
    expect(h.auth.status()[0]).toEqual({ name: 'corp', keysLoaded: true, lastFetchOk: now });
  });

  it('a token arriving while the first fetch is in flight waits for it', async () => {
    const server = await startJwksServer({ keys: jwksOf(k1) });
    const auth = createAuthenticator(
      { logger: pino({ level: 'silent' }), clock: () => now },
      { issuers: [issuerConfigFor({ name: 'corp', issuer: server.url, jwksUri: server.jwksUrl })] },
    );
    cleanups.push(async () => {
      await auth.close();
      await server.close();
    });
    const started = auth.start();
    const token = await mintToken(k1, { iss: server.url, aud: AUD, now });
    expect((await auth.authenticate(bearerContext(token), now)).kind).toBe('verified');
    await started;
    expect(server.counts.jwks).toBe(1);
  });

  describe('OIDC discovery', () => {
    it('finds jwks_uri through discovery', async () => {
      const h = await setup({ discovery: true });
      expect((await h.check(k1)).kind).toBe('verified');
      expect(h.server.counts).toEqual({ discovery: 1, jwks: 1 });
    });

    it('down at boot is not fatal: dependency_unavailable until it answers, then verified', async () => {
      const h = await setup({ discovery: true, before: (s) => s.setDiscoveryMode('error') });
      expect(h.auth.status()[0]).toMatchObject({ keysLoaded: false, lastError: 'discovery: unexpected HTTP status 503' });
      expect(await h.check(k1)).toMatchObject({ code: 'dependency_unavailable', issuerName: 'corp' });
      h.server.setDiscoveryMode('ok');
      now += 30_000;
      expect((await h.check(k1)).kind).toBe('verified');
      expect(h.server.counts.discovery).toBeGreaterThanOrEqual(2);
    });

    it('retries in the background with backoff until it succeeds', async () => {
      const h = await setup({ discovery: true, retryBaseMs: 10, before: (s) => s.takeDown() });
      expect(h.auth.status()[0]?.keysLoaded).toBe(false);
      await h.server.bringUp();
      await vi.waitFor(() => expect(h.auth.status()[0]?.keysLoaded).toBe(true), { timeout: 5_000, interval: 10 });
      expect((await h.check(k1)).kind).toBe('verified');
    });

    it.each([
      ['an issuer that differs from the configured one', (s: JwksServer) => ({ issuer: `${s.url}/other`, jwks_uri: s.jwksUrl }), 'issuer does not match'],
      ['a cleartext jwks_uri to a remote host', (s: JwksServer) => ({ issuer: s.url, jwks_uri: 'http://keys.example.com/jwks' }), 'must be https'],
      ['no jwks_uri', (s: JwksServer) => ({ issuer: s.url }), 'no jwks_uri'],
      ['not an object', () => ['x'], 'not a JSON object'],
    ])('rejects a discovery document with %s', async (_name, doc, error) => {
      const h = await setup({ discovery: true, before: (s) => s.setDiscovery(doc(s)) });
      expect(await h.check(k1)).toMatchObject({ code: 'dependency_unavailable' });
      expect(h.auth.status()[0]?.lastError).toContain(error);
      expect(h.server.counts.jwks).toBe(0);
    });
  });
});
