import { createHash } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuthResult } from '../src/core/auth-result.js';
import { createAuthenticator } from '../src/identity/authenticator.js';
import { issuerConfigFor, mintHs256, requestContextWith } from './support/tokens.js';

const T0 = 1_900_000_000_000;
const API_ISS = 'https://api-idp.test';
const WEB_ISS = 'https://web-idp.test';
const ENVOY_ISS = 'https://envoy-idp.test';
const SECRET = 'a-shared-secret-that-is-long-enough-for-hs256';
const JWT_AUTHN = 'envoy.filters.http.jwt_authn';

describe('identity: token sources', () => {
  const now = T0;
  const auth = createAuthenticator(
    { logger: pino({ level: 'silent' }), clock: () => now },
    {
      issuers: [
        issuerConfigFor({
          name: 'envoy',
          issuer: ENVOY_ISS,
          secret: SECRET,
          algorithms: ['HS256'],
          sources: [{ type: 'envoyMetadata', namespace: JWT_AUTHN, key: 'corp_payload' }],
        }),
        issuerConfigFor({
          name: 'api',
          issuer: API_ISS,
          secret: SECRET,
          algorithms: ['HS256'],
          sources: [
            { type: 'header', name: 'authorization', scheme: 'Bearer' },
            { type: 'header', name: 'x-api-token' },
          ],
        }),
        issuerConfigFor({
          name: 'web',
          issuer: WEB_ISS,
          secret: SECRET,
          algorithms: ['HS256'],
          sources: [{ type: 'cookie', name: 'idgate_session' }],
        }),
      ],
      maxTokenBytes: 2_048,
    },
  );
  afterAll(() => auth.close());

  const token = (iss: string, sub = 'alice'): Promise<string> => mintHs256(SECRET, { iss, aud: 'api://idgate', now, sub });
  const run = async (headers: Record<string, string>, metadata = {}): Promise<AuthResult> =>
    auth.authenticate(requestContextWith(headers, metadata), now);

  it('no credential anywhere is anonymous', async () => {
    expect(await run({})).toEqual({ kind: 'anonymous' });
    expect(await run({ cookie: 'other=1; theme=dark' })).toEqual({ kind: 'anonymous' });
  });

  it.each(['Bearer', 'bearer', 'BEARER', 'bEaReR'])('matches the scheme case-insensitively: %s', async (scheme) => {
    const t = await token(API_ISS);
    expect(await run({ authorization: `${scheme} ${t}` })).toMatchObject({
      kind: 'verified',
      principal: { subject: 'api:alice', source: 'header' },
    });
  });

  it('an authorization header with another scheme is not this source', async () => {
    expect(await run({ authorization: 'Basic YWxpY2U6c2VjcmV0' })).toEqual({ kind: 'anonymous' });
    // …so the next source is tried.
    const t = await token(API_ISS);
    expect(await run({ authorization: 'Basic YWxpY2U6c2VjcmV0', 'x-api-token': t })).toMatchObject({ kind: 'verified' });
    expect(await run({ authorization: `Bearer${t}` })).toEqual({ kind: 'anonymous' });
  });

  it('a scheme without a token is a malformed token, not anonymous', async () => {
    expect(await run({ authorization: 'Bearer' })).toMatchObject({ kind: 'failed', code: 'token_invalid', message: 'malformed token' });
    expect(await run({ authorization: 'Bearer   ' })).toMatchObject({ kind: 'failed', code: 'token_invalid' });
  });

  it('two bearer tokens joined by a proxy are malformed', async () => {
    const t = await token(API_ISS);
    expect(await run({ authorization: `Bearer ${t},Bearer ${t}` })).toMatchObject({ code: 'token_invalid', message: 'malformed token' });
  });

  it('a header source without a scheme takes the whole value', async () => {
    const t = await token(API_ISS);
    expect(await run({ 'x-api-token': t })).toMatchObject({ kind: 'verified', principal: { source: 'header' } });
  });

  it.each([
    ['plain', (t: string) => `idgate_session=${t}`],
    ['among others', (t: string) => `theme=dark; idgate_session=${t}; lang=en`],
    ['quoted', (t: string) => `a=b;idgate_session="${t}"`],
    ['joined with a comma by a proxy', (t: string) => `theme=dark, idgate_session=${t}`],
  ])('reads the cookie source: %s', async (_name, cookie) => {
    const t = await token(WEB_ISS);
    expect(await run({ cookie: cookie(t) })).toMatchObject({
      kind: 'verified',
      principal: { subject: 'web:alice', source: 'cookie' },
    });
  });

  it('a token is only accepted from its own issuer’s sources', async () => {
    const webToken = await token(WEB_ISS);
    expect(await run({ authorization: `Bearer ${webToken}` })).toEqual({
      kind: 'failed',
      code: 'token_invalid',
      message: 'token not accepted from this source',
      issuerName: 'web',
    });
    const apiToken = await token(API_ISS);
    expect(await run({ cookie: `idgate_session=${apiToken}` })).toMatchObject({ message: 'token not accepted from this source' });
  });

  it('a cached token is answered from the cache only for the source it was verified from', async () => {
    // The cache is keyed by the token's digest; the entry's scope (config + source) must match on a hit.
    const apiToken = await token(API_ISS, 'erin');
    expect(await run({ authorization: `Bearer ${apiToken}` })).toMatchObject({ kind: 'verified', principal: { subject: 'api:erin', source: 'header' } });
    expect(await run({ authorization: `Bearer ${apiToken}` })).toMatchObject({ kind: 'verified', principal: { subject: 'api:erin' } });
    // The same string from a source its issuer does not accept: refused, not served from the cache.
    expect(await run({ cookie: `idgate_session=${apiToken}` })).toMatchObject({ kind: 'failed', message: 'token not accepted from this source' });
    // From the issuer's other source: verified again (and cached under that scope), then the first still verifies.
    expect(await run({ 'x-api-token': apiToken })).toMatchObject({ kind: 'verified', principal: { subject: 'api:erin' } });
    expect(await run({ 'x-api-token': apiToken })).toMatchObject({ kind: 'verified', principal: { subject: 'api:erin' } });
    expect(await run({ authorization: `Bearer ${apiToken}` })).toMatchObject({ kind: 'verified', principal: { subject: 'api:erin' } });
  });

  it('fingerprints a token by its signed part: tokenId is the first 16 hex digits of its SHA-256', async () => {
    // Risk keys (`tokips:<tokenId>`) outlive a deploy: the id's value must not change with how it is computed.
    const t = await token(API_ISS, 'dave');
    const signed = t.slice(0, t.lastIndexOf('.'));
    const expected = createHash('sha256').update(signed).digest('hex').slice(0, 16);
    for (let i = 0; i < 2; i++) {
      // Cold, then from the cache.
      expect(await run({ authorization: `Bearer ${t}` })).toMatchObject({ kind: 'verified', principal: { tokenId: expected, subject: 'api:dave' } });
    }
  });

  it('rejects a token above maxTokenBytes without parsing it', async () => {
    const big = await mintHs256(SECRET, { iss: API_ISS, aud: 'api://idgate', now, claims: { pad: 'x'.repeat(3_000) } });
    expect(await run({ authorization: `Bearer ${big}` })).toMatchObject({ code: 'token_invalid', message: 'token too large' });
  });

  describe('Envoy jwt_authn metadata', () => {
    const exp = Math.floor(now / 1000) + 300;
    const claims = { iss: ENVOY_ISS, aud: ['api://idgate'], sub: 'bob', exp, scope: 'read' };
    const meta = (value: unknown) => ({ [JWT_AUTHN]: { corp_payload: value } });

    it('accepts verified claims of the configured issuer', async () => {
      const result = await run({}, meta(claims));
      expect(result).toMatchObject({
        kind: 'verified',
        principal: { issuerName: 'envoy', subject: 'envoy:bob', source: 'metadata', expiresAt: exp, claims: { scope: 'read' } },
      });
      if (result.kind === 'verified') {
        expect(result.principal.tokenId).toBe(createHash('sha256').update(JSON.stringify(claims)).digest('hex').slice(0, 16));
      }
    });

    it('takes precedence when its issuer lists it first', async () => {
      const t = await token(API_ISS, 'carol');
      expect(await run({ authorization: `Bearer ${t}` }, meta(claims))).toMatchObject({ principal: { subject: 'envoy:bob' } });
    });

    it.each([
      ['another issuer', { ...claims, iss: API_ISS }, 'token_invalid', 'untrusted issuer'],
      ['no issuer', { ...claims, iss: undefined }, 'token_invalid', 'untrusted issuer'],
      ['another audience', { ...claims, aud: 'api://other' }, 'token_invalid', 'audience not accepted'],
      ['no audience', { ...claims, aud: undefined }, 'token_invalid', 'audience not accepted'],
      ['an expired token', { ...claims, exp: Math.floor(now / 1000) - 31 }, 'token_expired', 'token has expired'],
      ['no exp', { ...claims, exp: undefined }, 'token_invalid', 'token is missing the exp claim'],
      ['a future nbf', { ...claims, nbf: Math.floor(now / 1000) + 60 }, 'token_not_yet_valid', 'token is not valid yet'],
      ['no subject', { ...claims, sub: undefined }, 'token_invalid', 'invalid subject claim'],
      ['a string instead of claims', 'eyJhbGciOi...', 'token_invalid', 'malformed metadata claims'],
      ['an array instead of claims', [claims], 'token_invalid', 'malformed metadata claims'],
    ])('rejects %s', async (_name, value, code, message) => {
      const cleaned = typeof value === 'object' && !Array.isArray(value) ? JSON.parse(JSON.stringify(value)) : value;
      expect(await run({}, meta(cleaned))).toMatchObject({ kind: 'failed', code, message });
    });

    it('other metadata namespaces are not a source', async () => {
      expect(await run({}, { 'envoy.filters.http.other': { corp_payload: claims } })).toEqual({ kind: 'anonymous' });
    });
  });

  it('refuses inconsistent issuer configs at construction', () => {
    const logger = pino({ level: 'silent' });
    const make = (over: Parameters<typeof issuerConfigFor>[0]) => () =>
      createAuthenticator({ logger }, { issuers: [issuerConfigFor(over)] });
    expect(make({ name: 'a', issuer: 'x', secret: SECRET, algorithms: ['RS256'] })).toThrow(TypeError);
    expect(make({ name: 'a', issuer: 'x', jwksUri: 'https://k.test/jwks', algorithms: ['HS256'] })).toThrow(/need a secret/);
    expect(make({ name: 'a', issuer: 'x', secret: 'short', algorithms: ['HS256'] })).toThrow(/at least 32 bytes/);
    expect(make({ name: 'a', issuer: 'x', jwksUri: 'https://k.test/jwks', audiences: [] })).toThrow(/audience/);
    expect(make({ name: 'a', issuer: 'x', jwksUri: 'https://k.test/jwks', algorithms: ['none' as 'RS256'] })).toThrow(/not allowed/);
    expect(make({ name: 'a', issuer: 'x', jwksUri: 'https://k.test/jwks', secret: SECRET })).toThrow(/exactly one/);
    expect(make({ name: 'a', issuer: 'x', jwksUri: 'file:///etc/passwd' })).toThrow(/http/);
    expect(() =>
      createAuthenticator(
        { logger },
        { issuers: [issuerConfigFor({ name: 'a', issuer: 'x', secret: SECRET, algorithms: ['HS256'] }), issuerConfigFor({ name: 'a', issuer: 'y', secret: SECRET, algorithms: ['HS256'] })] },
      ),
    ).toThrow(/duplicate/);
  });
});
