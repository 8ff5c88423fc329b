import { errors } from 'jose';
import { describe, expect, it } from 'vitest';
import { preflightToken, readSubject, translateJoseError } from './jwt-verifier.js';
import { KeysUnavailableError } from './jwks-cache.js';

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

describe('translateJoseError', () => {
  it.each([
    [new errors.JWTExpired('x', {}, 'exp', 'check_failed'), 'token_expired', 'token has expired'],
    [new errors.JWTClaimValidationFailed('x', {}, 'nbf', 'check_failed'), 'token_not_yet_valid', 'token is not valid yet'],
    [new errors.JWTClaimValidationFailed('x', {}, 'iat', 'check_failed'), 'token_not_yet_valid', 'token is not valid yet'],
    [new errors.JWTClaimValidationFailed('x', {}, 'nbf', 'invalid'), 'token_invalid', 'claim validation failed'],
    [new errors.JWTClaimValidationFailed('x', {}, 'aud', 'check_failed'), 'token_invalid', 'audience not accepted'],
    [new errors.JWTClaimValidationFailed('x', {}, 'iss', 'check_failed'), 'token_invalid', 'issuer not accepted'],
    [new errors.JWTClaimValidationFailed('x', {}, 'typ', 'check_failed'), 'token_invalid', 'token type not accepted'],
    [new errors.JWTClaimValidationFailed('x', {}, 'sub', 'missing'), 'token_invalid', 'token is missing the sub claim'],
    [new errors.JOSEAlgNotAllowed('x'), 'token_invalid', 'algorithm not allowed'],
    [new errors.JWSSignatureVerificationFailed(), 'token_invalid', 'signature verification failed'],
    [new errors.JWKSNoMatchingKey(), 'token_invalid', 'no matching signing key'],
    [new errors.JWSInvalid('x'), 'token_invalid', 'malformed token'],
    [new errors.JOSENotSupported('x'), 'token_invalid', 'unsupported token'],
    [new KeysUnavailableError(), 'dependency_unavailable', 'signing keys unavailable'],
    [new TypeError('boom'), 'token_invalid', 'token could not be verified'],
    [undefined, 'token_invalid', 'token could not be verified'],
  ])('%s → %s', (err, code, message) => {
    expect(translateJoseError(err, 'corp')).toEqual({ kind: 'failed', code, message, issuerName: 'corp' });
  });

  it('ignores the message text', () => {
    const lying = Object.assign(new Error('"exp" claim timestamp check failed'), { code: 'ERR_JWS_INVALID' });
    expect(translateJoseError(lying)).toEqual({ kind: 'failed', code: 'token_invalid', message: 'malformed token' });
  });
});

describe('preflightToken', () => {
  it('returns the unverified iss, header and claims', () => {
    expect(preflightToken(`${b64({ alg: 'RS256' })}.${b64({ iss: 'https://i' })}.sig`, 1000)).toEqual({
      ok: true,
      iss: 'https://i',
      decoded: { header: { alg: 'RS256' }, claims: { iss: 'https://i' } },
    });
  });

  it.each([
    ['x'.repeat(1001), 'token too large'],
    [`${b64({ alg: 'RS256' })}.${b64({})}.sig`, 'token has no issuer'],
    [`${b64({ alg: 'RS256' })}.${b64({ iss: 7 })}.sig`, 'token has no issuer'],
    [`${b64({ alg: 'RS256', cty: 'jwt' })}.${b64({ iss: 'i' })}.sig`, 'nested tokens are not accepted'],
    ['a.b.c.d.e', 'encrypted tokens are not accepted'],
    [`${b64('str')}.${b64({ iss: 'i' })}.sig`, 'malformed token'],
    ['a b.c.d', 'malformed token'],
  ])('%s → %s', (token, message) => {
    expect(preflightToken(token, 1000)).toMatchObject({ kind: 'failed', code: 'token_invalid', message });
  });
});

describe('readSubject', () => {
  it.each([
    [{ sub: 'alice' }, 'sub', 'alice'],
    [{ oid: 'x-1' }, 'oid', 'x-1'],
    [{ sub: 'a'.repeat(256) }, 'sub', undefined],
    [{ sub: 'a\u0085b' }, 'sub', undefined],
    [{ sub: ['alice'] }, 'sub', undefined],
    [{}, 'toString', undefined],
  ])('%j[%s] → %s', (claims, claim, expected) => {
    expect(readSubject(claims, claim)).toBe(expected);
  });
});
