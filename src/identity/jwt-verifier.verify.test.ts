import { errors, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { describe, expect, it } from 'vitest';
import type { IssuerConfig } from '../config/types.js';
import { preflightToken, readSubject, translateJoseError, verifyJwt, type KeyResolver, type VerifierIssuer } from './jwt-verifier.js';

/**
 * verifyJwt without any server: an HS256 issuer (shared secret) and ES256 issuers with an in-process key
 * resolver. Boundaries at ±1 s around the skew, exact failure codes and messages. Found by mutation testing
 * (`make mutation`): the JWKS-backed suite in test/ exercises the same function end to end.
 */
const NOW = 1_900_000_000_000;
const T = NOW / 1000;
const ISS = 'https://idp.test';
const AUD = 'api://idgate';
const SECRET = new TextEncoder().encode('a-shared-secret-that-is-long-enough-for-hs256');

const config = (over: Partial<IssuerConfig> = {}): IssuerConfig => ({
  name: 'corp',
  issuer: ISS,
  audiences: ['other', AUD],
  secret: 'unused here',
  algorithms: ['HS256'],
  clockSkewMs: 30_000,
  subjectClaim: 'sub',
  sources: [],
  jwks: { refreshIntervalMs: 1, maxStaleMs: 1, minRefetchIntervalMs: 1, fetchTimeoutMs: 1, maxBodyBytes: 1 },
  ...over,
});
const hsIssuer = (over: Partial<IssuerConfig> = {}): VerifierIssuer => {
  const c = config(over);
  return { config: c, algorithms: c.algorithms, key: SECRET };
};

/** The exact failure verifyJwt answers for the `corp` issuer. */
const corpFailure = (code: string, message: string) => ({ kind: 'failed', code, message, issuerName: 'corp' });

async function hs(payload: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ iss: ISS, aud: AUD, sub: 'alice', exp: T + 60, ...payload })
    .setProtectedHeader({ alg: 'HS256', ...header })
    .sign(SECRET);
}

describe('verifyJwt', () => {
  it('returns the claims and subject of a valid token', async () => {
    const result = await verifyJwt(await hs({ scope: 'read' }), hsIssuer(), NOW);
    expect(result).toMatchObject({ ok: true, sub: 'alice', claims: { scope: 'read', iss: ISS } });
  });

  it('accepts any configured audience and refuses others', async () => {
    expect(await verifyJwt(await hs({ aud: 'other' }), hsIssuer(), NOW)).toMatchObject({ ok: true });
    expect(await verifyJwt(await hs({ aud: 'nope' }), hsIssuer(), NOW)).toEqual(corpFailure('token_invalid', 'audience not accepted'));
  });

  it('requires exp and the configured subject claim', async () => {
    const noExp = await new SignJWT({ iss: ISS, aud: AUD, sub: 'alice' }).setProtectedHeader({ alg: 'HS256' }).sign(SECRET);
    expect(await verifyJwt(noExp, hsIssuer(), NOW)).toMatchObject({ code: 'token_invalid', message: 'token is missing the exp claim' });
    expect(await verifyJwt(await hs({ uid: 'u1' }), hsIssuer({ subjectClaim: 'uid' }), NOW)).toMatchObject({ ok: true, sub: 'u1' });
    expect(await verifyJwt(await hs({}), hsIssuer({ subjectClaim: 'uid' }), NOW)).toMatchObject({
      code: 'token_invalid',
      message: 'token is missing the uid claim',
    });
  });

  it('refuses a subject that is present but unusable', async () => {
    expect(await verifyJwt(await hs({ sub: 'a\u0007b' }), hsIssuer(), NOW)).toEqual(corpFailure('token_invalid', 'invalid subject claim'));
  });

  it('checks typ only when configured', async () => {
    const plain = await hs({});
    expect(await verifyJwt(plain, hsIssuer(), NOW)).toMatchObject({ ok: true });
    expect(await verifyJwt(plain, hsIssuer({ requiredType: 'at+jwt' }), NOW)).toMatchObject({ code: 'token_invalid', message: 'token type not accepted' });
    expect(await verifyJwt(await hs({}, { typ: 'at+jwt' }), hsIssuer({ requiredType: 'at+jwt' }), NOW)).toMatchObject({ ok: true });
  });

  it('enforces the alg allowlist before the key', async () => {
    expect(await verifyJwt(await hs({}), hsIssuer({ algorithms: ['HS512'] }), NOW)).toMatchObject({ code: 'token_invalid', message: 'algorithm not allowed' });
  });

  it('exp: valid while now < exp + skew, expired from 1 s later', async () => {
    const token = await hs({ exp: T - 29 });
    expect(await verifyJwt(token, hsIssuer(), NOW)).toMatchObject({ ok: true });
    expect(await verifyJwt(token, hsIssuer(), NOW + 1_000)).toMatchObject({ code: 'token_expired', message: 'token has expired' });
  });

  it('nbf: accepted from nbf - skew, not yet valid 1 s before', async () => {
    const token = await hs({ nbf: T + 30 });
    expect(await verifyJwt(token, hsIssuer(), NOW)).toMatchObject({ ok: true });
    expect(await verifyJwt(token, hsIssuer(), NOW - 1_000)).toMatchObject({ code: 'token_not_yet_valid' });
  });

  it('iat: accepted up to now + skew, refused 1 s later; an iat in the past is fine', async () => {
    expect(await verifyJwt(await hs({ iat: T + 30 }), hsIssuer(), NOW)).toMatchObject({ ok: true });
    expect(await verifyJwt(await hs({ iat: T + 31 }), hsIssuer(), NOW)).toEqual(corpFailure('token_not_yet_valid', 'token issued in the future'));
    expect(await verifyJwt(await hs({ iat: T - 3600 }), hsIssuer(), NOW)).toMatchObject({ ok: true });
    // With no skew the edge moves to now itself.
    expect(await verifyJwt(await hs({ iat: T }), hsIssuer({ clockSkewMs: 0 }), NOW)).toMatchObject({ ok: true });
    expect(await verifyJwt(await hs({ iat: T + 1 }), hsIssuer({ clockSkewMs: 0 }), NOW)).toMatchObject({ code: 'token_not_yet_valid' });
  });

  it('a wrong signature is token_invalid, never an exception', async () => {
    const token = await hs({});
    const flipped = token.slice(0, -2) + (token.endsWith('A') ? 'B' : 'A') + token.slice(-1);
    expect(await verifyJwt(flipped, hsIssuer(), NOW)).toMatchObject({ kind: 'failed', code: 'token_invalid' });
  });
});

describe('verifyJwt with several candidate keys and no kid', () => {
  async function es256() {
    return generateKeyPair('ES256', { extractable: false });
  }
  /** A resolver that behaves like jose's JWKS sets when several keys match: the error iterates the keys. */
  const resolverOf = (keys: CryptoKey[]): KeyResolver => async () => {
    const err = new errors.JWKSMultipleMatchingKeys() as errors.JWKSMultipleMatchingKeys & AsyncIterable<CryptoKey>;
    Object.defineProperty(err, Symbol.asyncIterator, {
      value: async function* () {
        yield* keys;
      },
    });
    throw err;
  };
  const esIssuer = (key: KeyResolver): VerifierIssuer => ({ config: config({ algorithms: ['ES256'] }), algorithms: ['ES256'], key });

  it('finds the key that verifies, whichever position it is in', async () => {
    const [a, b] = [await es256(), await es256()];
    const token = await new SignJWT({ iss: ISS, aud: AUD, sub: 'alice', exp: T + 60 }).setProtectedHeader({ alg: 'ES256' }).sign(b.privateKey);
    expect(await verifyJwt(token, esIssuer(resolverOf([a.publicKey, b.publicKey])), NOW)).toMatchObject({ ok: true, sub: 'alice' });
  });

  it('answers signature failure when none verifies', async () => {
    const [a, b, c] = [await es256(), await es256(), await es256()];
    const token = await new SignJWT({ iss: ISS, aud: AUD, sub: 'alice', exp: T + 60 }).setProtectedHeader({ alg: 'ES256' }).sign(c.privateKey);
    expect(await verifyJwt(token, esIssuer(resolverOf([a.publicKey, b.publicKey])), NOW)).toMatchObject({
      code: 'token_invalid',
      message: 'signature verification failed',
    });
  });

  it('stops at a correctly signed but expired token instead of trying further keys', async () => {
    const [a, b] = [await es256(), await es256()];
    const token = await new SignJWT({ iss: ISS, aud: AUD, sub: 'alice', exp: T - 3600 }).setProtectedHeader({ alg: 'ES256' }).sign(a.privateKey);
    expect(await verifyJwt(token, esIssuer(resolverOf([a.publicKey, b.publicKey])), NOW)).toMatchObject({ code: 'token_expired' });
  });

  it('passes any other resolver failure through as its own code', async () => {
    const failing: KeyResolver = async () => {
      throw new errors.JWKSNoMatchingKey();
    };
    expect(await verifyJwt(await hs({}), esIssuer(failing), NOW)).toMatchObject({ code: 'token_invalid' });
    const es = await es256();
    const token = await new SignJWT({ iss: ISS, aud: AUD, sub: 'alice', exp: T + 60 }).setProtectedHeader({ alg: 'ES256' }).sign(es.privateKey);
    expect(await verifyJwt(token, esIssuer(failing), NOW)).toMatchObject({ code: 'token_invalid', message: 'no matching signing key' });
  });
});

describe('preflightToken, readSubject and translateJoseError edges', () => {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const token = (header: unknown, payload: unknown) => `${b64(header)}.${b64(payload)}.sig`;

  it('a token exactly maxTokenBytes long passes the size check; one byte more does not', () => {
    const t = token({ alg: 'RS256' }, { iss: 'https://i' });
    expect(preflightToken(t, t.length)).toEqual({ ok: true, iss: 'https://i', decoded: { header: { alg: 'RS256' }, claims: { iss: 'https://i' } } });
    expect(preflightToken(t, t.length - 1)).toEqual({ kind: 'failed', code: 'token_invalid', message: 'token too large' });
  });

  it('a cty other than JWT is not a nested token', () => {
    expect(preflightToken(token({ alg: 'RS256', cty: 'json' }, { iss: 'https://i' }), 1000)).toMatchObject({ ok: true, iss: 'https://i' });
    expect(preflightToken(token({ alg: 'RS256', cty: 'jwt' }, { iss: 'https://i' }), 1000)).toMatchObject({ message: 'nested tokens are not accepted' });
  });

  it('needs a non-empty string iss', () => {
    for (const iss of ['', 42, null]) {
      expect(preflightToken(token({ alg: 'RS256' }, { iss }), 1000)).toEqual({ kind: 'failed', code: 'token_invalid', message: 'token has no issuer' });
    }
    expect(preflightToken(token({ alg: 'RS256' }, {}), 1000)).toMatchObject({ message: 'token has no issuer' });
  });

  it('readSubject: 255 characters are fine, 256 are not; empty or non-string never', () => {
    expect(readSubject({ sub: 'a'.repeat(255) }, 'sub')).toBe('a'.repeat(255));
    expect(readSubject({ sub: 'a'.repeat(256) }, 'sub')).toBeUndefined();
    expect(readSubject({ sub: '' }, 'sub')).toBeUndefined();
    expect(readSubject({ sub: 7 }, 'sub')).toBeUndefined();
  });

  it('without an issuer name the failure carries none', () => {
    expect(translateJoseError(new errors.JWTExpired('x', {}, 'exp', 'check_failed'))).toStrictEqual({
      kind: 'failed',
      code: 'token_expired',
      message: 'token has expired',
    });
  });

  it.each([
    [{ code: 'ERR_JWKS_MULTIPLE_MATCHING_KEYS' }, 'signature verification failed'],
    [{ code: 'ERR_JWT_INVALID' }, 'malformed token'],
    [{ code: 'ERR_JWK_INVALID' }, 'signing key unusable'],
    [{ code: 'ERR_JWKS_INVALID' }, 'signing key unusable'],
    [{ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'aud', reason: 'missing' }, 'token is missing the aud claim'],
    [{ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'aud', reason: 'check_failed' }, 'audience not accepted'],
    [{ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 42, reason: 'missing' }, 'claim validation failed'],
  ])('%o → %s', (err, message) => {
    expect(translateJoseError(err)).toEqual({ kind: 'failed', code: 'token_invalid', message });
  });
});
