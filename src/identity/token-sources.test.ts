import { describe, expect, it } from 'vitest';
import type { RequestContext } from '../core/request-context.js';
import { extractCredential, parseCookieHeader, tokenSourceKey } from './token-sources.js';

const ctx = (headers: Record<string, string>, metadata: RequestContext['metadata'] = {}): RequestContext => ({
  method: 'GET',
  scheme: 'https',
  host: 'h',
  path: '/',
  rawPath: '/',
  query: '',
  headers,
  sourceAddress: '',
  sourcePrincipal: '',
  contextExtensions: {},
  metadata,
  requestId: '',
  protocol: '',
  receivedAt: 0,
});

describe('parseCookieHeader', () => {
  it.each([
    ['a=1; b=2', { a: '1', b: '2' }],
    ['a=1;b=2;;', { a: '1', b: '2' }],
    ['  a = 1 ', { a: '1' }],
    ['a="quoted"', { a: 'quoted' }],
    ['a=1; a=2', { a: '1' }],
    ['novalue; =x; b=', { b: '' }],
    ['a=x=y', { a: 'x=y' }],
    ['a=1, b=2', { a: '1', b: '2' }],
    ['', {}],
  ])('%j', (header, expected) => {
    expect(Object.fromEntries(parseCookieHeader(header))).toEqual(expected);
  });

  it('looks at a bounded number of pairs', () => {
    const header = `${Array.from({ length: 500 }, (_, i) => `c${i}=v`).join('; ')}; late=1`;
    const cookies = parseCookieHeader(header);
    expect(cookies.size).toBe(200);
    expect(cookies.has('late')).toBe(false);
  });
});

describe('extractCredential', () => {
  const bearer = { type: 'header', name: 'authorization', scheme: 'Bearer' } as const;
  const cookie = { type: 'cookie', name: 's' } as const;
  const meta = { type: 'envoyMetadata', namespace: 'ns', key: 'k' } as const;

  it('tries the sources in order; the first present wins', () => {
    expect(extractCredential(ctx({ authorization: 'Bearer t1', cookie: 's=t2' }), [cookie, bearer])).toMatchObject({ token: 't2', source: 'cookie' });
    expect(extractCredential(ctx({ authorization: 'Bearer t1', cookie: 's=t2' }), [bearer, cookie])).toMatchObject({ token: 't1', source: 'header' });
  });

  it('returns metadata claims as they are', () => {
    const claims = { iss: 'x' };
    expect(extractCredential(ctx({}, { ns: { k: claims } }), [meta])).toEqual({ kind: 'claims', claims, sourceKey: 'metadata:ns:k' });
    expect(extractCredential(ctx({}, { ns: { k: null } }), [meta])).toEqual({ kind: 'none' });
  });

  it('does not read inherited properties as metadata', () => {
    expect(extractCredential(ctx({}, {}), [{ type: 'envoyMetadata', namespace: 'constructor', key: 'name' }])).toEqual({ kind: 'none' });
  });

  it('accepts a tab after the scheme and rejects a glued token', () => {
    expect(extractCredential(ctx({ authorization: 'Bearer\tt1' }), [bearer])).toMatchObject({ token: 't1' });
    expect(extractCredential(ctx({ authorization: 'Bearert1' }), [bearer])).toEqual({ kind: 'none' });
  });

  it('matches the scheme as configured and in any other case, and nothing else', () => {
    const lower = { type: 'header', name: 'authorization', scheme: 'bearer' } as const;
    for (const source of [bearer, lower]) {
      for (const header of ['Bearer t1', 'bearer t1', 'BEARER t1', ' bEaReR  t1 ']) {
        expect(extractCredential(ctx({ authorization: header }), [source])).toMatchObject({ token: 't1' });
      }
      for (const header of ['Basic t1', 'Beare t1', 'Bearer', 'Bear']) {
        expect(extractCredential(ctx({ authorization: header }), [source])).toEqual(header === 'Bearer' ? expect.objectContaining({ token: '' }) : { kind: 'none' });
      }
    }
  });

  it('reads a header source configured in any case, every time (its lower-cased name is kept per source)', () => {
    const source = { type: 'header', name: 'X-Api-Token' } as const;
    for (let i = 0; i < 2; i++) {
      expect(extractCredential(ctx({ 'x-api-token': 'abc' }), [source])).toMatchObject({ kind: 'token', token: 'abc', source: 'header' });
      expect(extractCredential(ctx({ 'X-Api-Token': 'abc' }), [source])).toEqual({ kind: 'none' });
    }
  });

  it('keys sources case-insensitively for header names and schemes', () => {
    expect(tokenSourceKey({ type: 'header', name: 'Authorization', scheme: 'BEARER' })).toBe(tokenSourceKey(bearer));
  });
});
