import { describe, expect, it } from 'vitest';
import { isAllowedKeyUrl, parseDiscoveryDocument, parseJwks } from './key-documents.js';

const rsa = { kty: 'RSA', kid: 'a', n: 'AQAB', e: 'AQAB' };

describe('parseJwks', () => {
  it('keeps public signing keys and drops the rest', () => {
    const keys = parseJwks({
      keys: [
        rsa,
        { ...rsa, kid: 'enc', use: 'enc' },
        { kty: 'oct', k: 'c2VjcmV0' },
        { ...rsa, kid: 'priv', d: 'AAAA' },
        { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', use: 'sig' },
        { kty: 'AKP', alg: 'ML-DSA-44', pub: 'x' },
        { ...rsa, kid: 7 },
        'junk',
        null,
      ],
    });
    expect(keys.map((k) => k.kty)).toEqual(['RSA', 'EC']);
  });

  it.each([
    [null, 'not a JSON object'],
    [[rsa], 'not a JSON object'],
    [{}, 'no "keys" array'],
    [{ keys: {} }, 'no "keys" array'],
    [{ keys: [] }, 'no usable signing keys'],
  ])('rejects %j', (doc, message) => {
    expect(() => parseJwks(doc)).toThrow(message);
  });
});

describe('parseDiscoveryDocument', () => {
  const issuer = 'https://idp.test/realms/x';
  it('returns jwks_uri when issuer matches exactly', () => {
    expect(parseDiscoveryDocument({ issuer, jwks_uri: 'https://idp.test/certs' }, issuer)).toBe('https://idp.test/certs');
  });

  it.each([
    [{ issuer: `${issuer}/`, jwks_uri: 'https://idp.test/certs' }, 'does not match'],
    [{ jwks_uri: 'https://idp.test/certs' }, 'does not match'],
    [{ issuer }, 'no jwks_uri'],
    [{ issuer, jwks_uri: 'not a url' }, 'not a valid URL'],
    [{ issuer, jwks_uri: 'http://idp.test/certs' }, 'must be https'],
    [{ issuer, jwks_uri: 'file:///etc/passwd' }, 'must be https'],
  ])('rejects %j', (doc, message) => {
    expect(() => parseDiscoveryDocument(doc, issuer)).toThrow(message);
  });
});

describe('isAllowedKeyUrl', () => {
  it.each([
    ['https://idp.test/jwks', true],
    ['http://127.0.0.1:8080/jwks', true],
    ['http://127.9.9.9/jwks', true],
    ['http://localhost/jwks', true],
    ['http://[::1]:1/jwks', true],
    ['http://127.0.0.1.evil.test/jwks', false],
    ['http://10.0.0.1/jwks', false],
    ['ftp://idp.test/jwks', false],
  ])('%s → %s', (url, allowed) => {
    expect(isAllowedKeyUrl(new URL(url))).toBe(allowed);
  });
});
