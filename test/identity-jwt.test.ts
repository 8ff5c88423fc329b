import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthResult } from '../src/core/auth-result.js';
import { createAuthenticator, type IdentityMetrics, type JwtAuthenticator } from '../src/identity/authenticator.js';
import { startJwksServer, type JwksServer } from './support/jwks-server.js';
import {
  bearerContext,
  claimsFor,
  craftToken,
  createTestKey,
  issuerConfigFor,
  jwksOf,
  mintHs256,
  mintToken,
  publicKeyPem,
  requestContextWith,
  signRaw,
  type MintOptions,
  type TestKey,
} from './support/tokens.js';

const T0 = 1_900_000_000_000;
const ISS = 'https://idp.test/realms/corp';
const AUD = 'api://idgate';
const HS_ISS = 'https://hs.test';
const SECRET = 'a-shared-secret-that-is-long-enough-for-hs256';

describe('identity: JWT verification against a real JWKS endpoint', () => {
  let now = T0;
  let server: JwksServer;
  let attacker: JwksServer;
  let rsa: TestKey;
  let ec: TestKey;
  let ed: TestKey;
  let evil: TestKey;
  let auth: JwtAuthenticator;
  const logLines: string[] = [];
  const minted: string[] = [];
  const cacheLookups: boolean[] = [];

  const base = (over: Partial<MintOptions> = {}): MintOptions => ({ iss: ISS, aud: AUD, now, ...over });
  const mint = async (key: TestKey, over: Partial<MintOptions> = {}): Promise<string> => {
    const token = await mintToken(key, base(over));
    minted.push(token);
    return token;
  };
  const check = async (token: string): Promise<AuthResult> => auth.authenticate(bearerContext(token), now);

  beforeAll(async () => {
    [rsa, ec, ed, evil] = await Promise.all([
      createTestKey('RS256', 'rsa-1'),
      createTestKey('ES256', 'ec-1'),
      createTestKey('EdDSA', 'ed-1'),
      createTestKey('RS256', 'evil-1'),
    ]);
    server = await startJwksServer({ keys: jwksOf(rsa, ec, ed) });
    attacker = await startJwksServer({ keys: jwksOf(evil) });
    const logger = pino(
      { level: 'debug' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          logLines.push(chunk.toString());
          done();
        },
      }),
    );
    const metrics: IdentityMetrics = {
      onJwksFetch: () => undefined,
      onUnknownKid: () => undefined,
      onTokenCache: (hit) => cacheLookups.push(hit),
    };
    auth = createAuthenticator(
      { logger, clock: () => now, metrics },
      {
        issuers: [
          issuerConfigFor({ name: 'corp', issuer: ISS, jwksUri: server.jwksUrl, algorithms: ['RS256', 'ES256', 'EdDSA'] }),
          issuerConfigFor({ name: 'rsonly', issuer: 'https://rsonly.test', jwksUri: server.jwksUrl, algorithms: ['RS256'] }),
          issuerConfigFor({ name: 'at', issuer: 'https://at.test', jwksUri: server.jwksUrl, requiredType: 'at+jwt' }),
          issuerConfigFor({ name: 'hs', issuer: HS_ISS, secret: SECRET, algorithms: ['HS256'] }),
        ],
      },
    );
    await auth.start();
  });

  afterAll(async () => {
    await auth.close();
    await server.close();
    await attacker.close();
  });

  it('starts with keys loaded for every issuer', () => {
    expect(auth.status()).toEqual([
      { name: 'corp', keysLoaded: true, lastFetchOk: T0 },
      { name: 'rsonly', keysLoaded: true, lastFetchOk: T0 },
      { name: 'at', keysLoaded: true, lastFetchOk: T0 },
      { name: 'hs', keysLoaded: true },
    ]);
  });

  it.each([
    ['RS256', () => rsa],
    ['ES256', () => ec],
    ['EdDSA', () => ed],
  ])('accepts a valid %s token and builds the principal', async (_alg, key) => {
    const token = await mint(key(), { sub: `user-${_alg}`, claims: { roles: ['admin'] } });
    const result = await check(token);
    expect(result.kind).toBe('verified');
    if (result.kind !== 'verified') return;
    const p = result.principal;
    expect(p).toMatchObject({
      issuerName: 'corp',
      issuer: ISS,
      sub: `user-${_alg}`,
      subject: `corp:user-${_alg}`,
      source: 'header',
      expiresAt: Math.floor(now / 1000) + 300,
    });
    expect(p.tokenId).toMatch(/^[0-9a-f]{16}$/);
    expect(p.claims.roles).toEqual(['admin']);
    expect(Object.isFrozen(p.claims)).toBe(true);
    expect(Object.isFrozen(p.claims.roles)).toBe(true);
  });

  it('accepts HS256 with the configured secret and rejects another secret', async () => {
    const ok = await mintHs256(SECRET, base({ iss: HS_ISS }));
    expect(await check(ok)).toMatchObject({ kind: 'verified', principal: { subject: 'hs:user-1' } });
    const bad = await mintHs256('another-secret-that-is-also-long-enough!!', base({ iss: HS_ISS }));
    expect(await check(bad)).toEqual({
      kind: 'failed',
      code: 'token_invalid',
      message: 'signature verification failed',
      issuerName: 'hs',
    });
  });

  it('accepts an audience array containing one configured audience', async () => {
    const token = await mint(rsa, { aud: ['other', AUD] });
    expect((await check(token)).kind).toBe('verified');
  });

  it('accepts the required typ and rejects any other', async () => {
    const good = await mint(rsa, { iss: 'https://at.test', header: { typ: 'at+jwt' } });
    expect(await check(good)).toMatchObject({ kind: 'verified', principal: { issuerName: 'at' } });
    const bad = await mint(rsa, { iss: 'https://at.test' });
    expect(await check(bad)).toMatchObject({ code: 'token_invalid', message: 'token type not accepted' });
  });

  type Case = readonly [string, () => Promise<string> | string, AuthResult['kind'], string?, string?];
  const cases: Case[] = [
    ['alg none, empty signature', () => craftToken({ alg: 'none', typ: 'JWT' }, claimsFor(base())), 'failed', 'token_invalid', 'algorithm not allowed'],
    ['alg none with a kid', () => craftToken({ alg: 'none', kid: 'rsa-1' }, claimsFor(base()), 'AA'), 'failed', 'token_invalid', 'algorithm not allowed'],
    [
      'RS256→HS256 confusion with the public key PEM as secret',
      () => signRaw({ alg: 'HS256', kid: 'rsa-1', typ: 'JWT' }, claimsFor(base()), { hs256: publicKeyPem(rsa) }),
      'failed', 'token_invalid', 'algorithm not allowed',
    ],
    [
      'RS256→HS256 confusion with the public JWK as secret',
      () => signRaw({ alg: 'HS256', kid: 'rsa-1' }, claimsFor(base()), { hs256: JSON.stringify(rsa.publicJwk) }),
      'failed', 'token_invalid', 'algorithm not allowed',
    ],
    ['ES256 for an RS256-only issuer', () => mint(ec, { iss: 'https://rsonly.test' }), 'failed', 'token_invalid', 'algorithm not allowed'],
    ['RS256 for the HS256 issuer', () => mint(rsa, { iss: HS_ISS }), 'failed', 'token_invalid', 'algorithm not allowed'],
    ['unknown iss', () => mint(rsa, { iss: 'https://evil.test' }), 'failed', 'token_invalid', 'untrusted issuer'],
    ['iss differing only in case', () => mint(rsa, { iss: ISS.toUpperCase() }), 'failed', 'token_invalid', 'untrusted issuer'],
    ['no iss', () => mint(rsa, { omit: ['iss'] }), 'failed', 'token_invalid', 'token has no issuer'],
    ['wrong aud', () => mint(rsa, { aud: 'api://other' }), 'failed', 'token_invalid', 'audience not accepted'],
    ['no aud', () => mint(rsa, { omit: ['aud'] }), 'failed', 'token_invalid', 'token is missing the aud claim'],
    ['expired', () => mint(rsa, { claims: { exp: Math.floor(now / 1000) - 60 } }), 'failed', 'token_expired', 'token has expired'],
    ['exp exactly at the skew edge', () => mint(rsa, { claims: { exp: Math.floor(now / 1000) - 30 } }), 'failed', 'token_expired', 'token has expired'],
    ['exp one second inside the skew', () => mint(rsa, { claims: { exp: Math.floor(now / 1000) - 29 } }), 'verified'],
    ['nbf in the future', () => mint(rsa, { claims: { nbf: Math.floor(now / 1000) + 120 } }), 'failed', 'token_not_yet_valid', 'token is not valid yet'],
    ['nbf one second past the skew', () => mint(rsa, { claims: { nbf: Math.floor(now / 1000) + 31 } }), 'failed', 'token_not_yet_valid', 'token is not valid yet'],
    ['nbf exactly at the skew', () => mint(rsa, { claims: { nbf: Math.floor(now / 1000) + 30 } }), 'verified'],
    ['iat in the future', () => mint(rsa, { claims: { iat: Math.floor(now / 1000) + 600 } }), 'failed', 'token_not_yet_valid', 'token issued in the future'],
    ['exp not a number', () => mint(rsa, { claims: { exp: 'tomorrow' } }), 'failed', 'token_invalid', 'claim validation failed'],
    ['no exp', () => mint(rsa, { omit: ['exp'] }), 'failed', 'token_invalid', 'token is missing the exp claim'],
    ['no sub', () => mint(rsa, { omit: ['sub'] }), 'failed', 'token_invalid', 'token is missing the sub claim'],
    ['numeric sub', () => mint(rsa, { claims: { sub: 42 } }), 'failed', 'token_invalid', 'invalid subject claim'],
    ['empty sub', () => mint(rsa, { sub: '' }), 'failed', 'token_invalid', 'invalid subject claim'],
    ['sub with a newline', () => mint(rsa, { sub: 'a\nb' }), 'failed', 'token_invalid', 'invalid subject claim'],
    [
      'jku pointing elsewhere is ignored (legit signature still verifies)',
      () => mint(rsa, { header: { jku: 'ATTACKER/jwks', x5u: 'ATTACKER/x5u' } }),
      'verified',
    ],
    [
      'jku to an attacker JWKS with an attacker key',
      () => mint(evil, { header: { jku: 'ATTACKER/jwks' } }),
      'failed', 'token_invalid', 'no matching signing key',
    ],
    [
      'embedded jwk of the attacker, configured kid',
      () => mint(evil, { header: { kid: 'rsa-1', jwk: evil.publicJwk } }),
      'failed', 'token_invalid', 'signature verification failed',
    ],
    [
      'embedded jwk of the attacker, no kid',
      () => signRaw({ alg: 'RS256', jwk: evil.publicJwk }, claimsFor(base()), evil),
      'failed', 'token_invalid', 'signature verification failed',
    ],
    [
      'x5c chain of garbage',
      () => mint(evil, { header: { kid: 'rsa-1', x5c: ['MIIB'] } }),
      'failed', 'token_invalid', 'signature verification failed',
    ],
    [
      'unknown crit extension',
      () => mint(rsa, { header: { crit: ['urn:example:unknown'], 'urn:example:unknown': true } }),
      'failed', 'token_invalid', 'unsupported token',
    ],
    [
      'unencoded payload (b64: false)',
      () => signRaw({ alg: 'RS256', kid: 'rsa-1', b64: false, crit: ['b64'] }, claimsFor(base()), rsa),
      'failed', 'token_invalid', 'malformed token',
    ],
    ['signature of another token', async () => {
      const a = (await mint(rsa)).split('.');
      const b = (await mint(rsa, { sub: 'admin' })).split('.');
      return `${a[0]}.${b[1]}.${a[2]}`;
    }, 'failed', 'token_invalid', 'signature verification failed'],
    ['JWE-shaped five-part token', () => 'eyJhbGciOiJSU0EtT0FFUCJ9.AAAA.BBBB.CCCC.DDDD', 'failed', 'token_invalid', 'encrypted tokens are not accepted'],
    [
      'nested JWT (cty: JWT)',
      () => mint(rsa, { header: { cty: 'JWT' } }),
      'failed', 'token_invalid', 'nested tokens are not accepted',
    ],
    ['100 KB token', () => `${'a'.repeat(50_000)}.${'b'.repeat(50_000)}.c`, 'failed', 'token_invalid', 'token too large'],
    ['payload that is a JSON array', () => craftToken({ alg: 'RS256', kid: 'rsa-1' }, [1, 2], 'AAAA'), 'failed', 'token_invalid', 'malformed token'],
    ['payload that is not JSON', () => `${craftToken({ alg: 'RS256' }, {}).split('.')[0]}.bm90IGpzb24.AAAA`, 'failed', 'token_invalid', 'malformed token'],
    ['garbage word', () => 'hello', 'failed', 'token_invalid', 'malformed token'],
    ['two segments', () => 'a.b', 'failed', 'token_invalid', 'malformed token'],
    ['dots only', () => '...', 'failed', 'token_invalid', 'malformed token'],
    ['non-ASCII', () => 'ëyJ.ëyJ.ëyJ', 'failed', 'token_invalid', 'malformed token'],
    ['padding characters', () => 'eyJ=.eyJ=.sig=', 'failed', 'token_invalid', 'malformed token'],
    ['empty bearer token', () => '', 'failed', 'token_invalid', 'malformed token'],
  ];

  const table = cases.map(([name, make, kind, code, message]) => ({ name, make, kind, code, message }));
  it.each(table)('$name → $kind', async ({ make, kind, code, message }) => {
    let token = await make();
    token = token.replaceAll('ATTACKER', attacker.url);
    minted.push(token);
    const result = await check(token);
    expect(result.kind).toBe(kind);
    if (code !== undefined) expect(result).toMatchObject({ code });
    if (message !== undefined) expect(result).toMatchObject({ message });
  });

  it('never contacted the URLs named in token headers', () => {
    expect(attacker.counts).toEqual({ jwks: 0, discovery: 0 });
  });

  it('serves a repeated token from the cache: same principal, one verification', async () => {
    const token = await mint(rsa, { sub: 'cached' });
    cacheLookups.length = 0;
    const first = await check(token);
    const second = await check(token);
    expect(first.kind).toBe('verified');
    expect(second).toEqual(first);
    if (first.kind === 'verified' && second.kind === 'verified') expect(second.principal).toBe(first.principal);
    expect(cacheLookups).toEqual([false, true]);
  });

  it('keeps header and cookie verifications apart in the cache', async () => {
    const cookieAuth = createAuthenticator(
      { logger: pino({ level: 'silent' }), clock: () => now },
      {
        issuers: [
          issuerConfigFor({
            name: 'hs',
            issuer: HS_ISS,
            secret: SECRET,
            algorithms: ['HS256'],
            sources: [
              { type: 'header', name: 'authorization', scheme: 'Bearer' },
              { type: 'cookie', name: 'session' },
            ],
          }),
        ],
      },
    );
    const token = await mintHs256(SECRET, base({ iss: HS_ISS }));
    const viaHeader = await cookieAuth.authenticate(bearerContext(token), now);
    const viaCookie = await cookieAuth.authenticate(requestContextWith({ cookie: `session=${token}` }), now);
    expect(viaHeader).toMatchObject({ kind: 'verified', principal: { source: 'header' } });
    expect(viaCookie).toMatchObject({ kind: 'verified', principal: { source: 'cookie' } });
    await cookieAuth.close();
  });

  it('a cached verification never outlives exp, and is capped at 5 minutes', async () => {
    const start = now;
    try {
      const shortLived = await mint(rsa, { sub: 'short', ttlSeconds: 60 });
      const exp = Math.floor(start / 1000) + 60;
      cacheLookups.length = 0;
      expect((await check(shortLived)).kind).toBe('verified');
      now = start + 59_000;
      expect((await check(shortLived)).kind).toBe('verified');
      expect(cacheLookups).toEqual([false, true]);
      // Just past exp but inside the 30 s skew: verified again from scratch, not from the cache.
      now = exp * 1000 + 1;
      expect((await check(shortLived)).kind).toBe('verified');
      expect(cacheLookups).toEqual([false, true, false]);
      now = exp * 1000 + 31_000;
      expect(await check(shortLived)).toMatchObject({ kind: 'failed', code: 'token_expired' });

      now = start;
      const longLived = await mint(rsa, { sub: 'long', ttlSeconds: 3600 });
      cacheLookups.length = 0;
      await check(longLived);
      now = start + 4 * 60_000;
      await check(longLived);
      now = start + 5 * 60_000 + 1;
      expect((await check(longLived)).kind).toBe('verified');
      expect(cacheLookups).toEqual([false, true, false]);
    } finally {
      now = start;
    }
  });

  it('never logs a token', () => {
    const all = logLines.join('\n');
    expect(logLines.length).toBeGreaterThan(0);
    for (const token of minted) {
      if (token.length < 20) continue;
      for (const part of token.split('.')) if (part.length > 20) expect(all).not.toContain(part);
    }
  });
});

/**
 * Issue 18 §3: per-issuer token profile. The ID-token-as-access-token confusion: an OIDC ID token is signed
 * by the same IdP, carries `typ: JWT`, `aud` = the client id and often a long lifetime; an API that only
 * checks the signature, `iss` and an `aud` it shares with the client accepts it as an access token.
 * `requiredType: at+jwt` (RFC 9068), `authorizedParties` (azp) and `maxTokenLifetime` each close one door.
 */
describe('identity: per-issuer token profile (typ, azp, maximum lifetime)', () => {
  const now = T0;
  const PROFILE_ISS = 'https://profile.test';
  let server: JwksServer;
  let key: TestKey;
  let auth: JwtAuthenticator;

  beforeAll(async () => {
    key = await createTestKey('RS256', 'profile-1');
    server = await startJwksServer({ keys: jwksOf(key) });
    auth = createAuthenticator(
      { logger: pino({ level: 'silent' }), clock: () => now },
      {
        issuers: [
          issuerConfigFor({
            name: 'strict',
            issuer: PROFILE_ISS,
            jwksUri: server.jwksUrl,
            requiredType: 'at+jwt',
            authorizedParties: ['web-app', 'mobile-app'],
            maxTokenLifetimeMs: 3600_000,
          }),
          issuerConfigFor({ name: 'lifetime', issuer: 'https://lifetime.test', jwksUri: server.jwksUrl, maxTokenLifetimeMs: 600_000 }),
        ],
      },
    );
    await auth.start();
  });

  afterAll(async () => {
    await auth.close();
    await server.close();
  });

  const accessToken = (over: Partial<MintOptions> = {}) =>
    mintToken(key, {
      iss: PROFILE_ISS,
      aud: AUD,
      now,
      ttlSeconds: 900,
      header: { typ: 'at+jwt' },
      ...over,
      claims: { azp: 'web-app', ...over.claims },
    });
  const check = async (token: string): Promise<AuthResult> => auth.authenticate(bearerContext(token), now);

  it('accepts an access token that fits the profile', async () => {
    expect(await check(await accessToken())).toMatchObject({ kind: 'verified', principal: { subject: 'strict:user-1' } });
    expect((await check(await accessToken({ claims: { azp: 'mobile-app' } }))).kind).toBe('verified');
  });

  it.each<[string, () => Promise<string>, string]>([
    ['an ID token (typ JWT) used as an access token', () => accessToken({ header: { typ: 'JWT' } }), 'token type not accepted'],
    ['a token with no typ', () => accessToken({ header: { typ: undefined } }), 'token type not accepted'],
    ['a token for another client (azp)', () => accessToken({ claims: { azp: 'other-client' } }), 'authorized party not accepted'],
    ['a token without azp', () => accessToken({ claims: { azp: undefined } }), 'token is missing the azp claim'],
    ['a token living longer than allowed', () => accessToken({ ttlSeconds: 3601 }), 'token lifetime exceeds the maximum'],
    ['a token without iat', () => accessToken({ omit: ['iat'] }), 'token is missing the iat claim'],
  ])('refuses %s', async (_name, token, message) => {
    expect(await check(await token())).toMatchObject({ kind: 'failed', code: 'token_invalid', message });
  });

  it('applies the lifetime bound on its own (an issuer with no typ/azp rules)', async () => {
    const ok = await mintToken(key, { iss: 'https://lifetime.test', aud: AUD, now, ttlSeconds: 600 });
    const long = await mintToken(key, { iss: 'https://lifetime.test', aud: AUD, now, ttlSeconds: 601 });
    expect((await check(ok)).kind).toBe('verified');
    expect(await check(long)).toMatchObject({ kind: 'failed', message: 'token lifetime exceeds the maximum' });
  });
});
