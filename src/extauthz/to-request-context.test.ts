import { describe, expect, it } from 'vitest';
import type { RequestContext } from '../core/request-context.js';
import type { CheckRequestMessage, HttpRequestMessage } from './check-wire-types.js';
import { structToJson, toRequestContext } from './to-request-context.js';

const NOW = 1_700_000_000_000;

/** A CheckRequest around `http`; `host` defaults to `app.example.com` unless an authority is given. */
function request(http: HttpRequestMessage, rest: Omit<NonNullable<CheckRequestMessage['attributes']>, 'request'> = {}): CheckRequestMessage {
  const hasAuthority = http.host != null || http.headers?.[':authority'] !== undefined || (http.headers == null && http.header_map != null);
  return { attributes: { ...rest, request: { http: hasAuthority ? http : { host: 'app.example.com', ...http } } } };
}

function ok(message: CheckRequestMessage, limits = {}): RequestContext {
  const result = toRequestContext(message, NOW, limits);
  if (!result.ok) throw new Error(`expected ok, got ${result.error}`);
  return result.value;
}

describe('toRequestContext', () => {
  it('maps a typical Envoy CheckRequest', () => {
    const ctx = ok({
      attributes: {
        source: { address: { socket_address: { address: '203.0.113.9', port_value: 51234 } }, principal: 'spiffe://td/ns/a/sa/b' },
        destination: { address: { socket_address: { address: '10.0.0.2', port_value: 8080 } } },
        request: {
          time: { seconds: '1700000001', nanos: 250_000_000 },
          http: {
            id: '8697434616907312425',
            method: 'post',
            headers: {
              ':authority': 'App.Example.com:8443',
              ':method': 'POST',
              ':path': '/api//v1/./users?active=1',
              ':scheme': 'https',
              'x-request-id': 'req-abc',
              Accept: 'application/json',
            },
            path: '/api//v1/./users?active=1',
            host: 'App.Example.com:8443',
            scheme: 'HTTPS',
            protocol: 'HTTP/2',
            body: '{"a":1}',
          },
        },
        context_extensions: { route: 'api' },
      },
    });
    expect(ctx).toMatchObject({
      method: 'POST',
      scheme: 'https',
      host: 'app.example.com',
      port: 8443,
      path: '/api/v1/users',
      rawPath: '/api//v1/./users?active=1',
      query: 'active=1',
      sourceAddress: '203.0.113.9',
      sourcePrincipal: 'spiffe://td/ns/a/sa/b',
      requestId: 'req-abc',
      protocol: 'HTTP/2',
      receivedAt: 1_700_000_001_250,
    });
    expect(ctx.pathError).toBeUndefined();
    expect(ctx.headers['accept']).toBe('application/json');
    expect(ctx.headers['Accept']).toBeUndefined();
    expect({ ...ctx.contextExtensions }).toEqual({ route: 'api' });
    expect(new TextDecoder().decode(ctx.body)).toBe('{"a":1}');
  });

  it.each<[string, CheckRequestMessage | null | undefined, RegExp]>([
    ['undefined message', undefined, /attributes/],
    ['no attributes', {}, /attributes/],
    ['no request', { attributes: {} }, /http/],
    ['no http', { attributes: { request: {} } }, /http/],
    ['empty method', request({ path: '/' }), /method/],
  ])('refuses %s', (_name, message, error) => {
    const result = toRequestContext(message, NOW);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatch(error);
  });

  it('takes a decoded (null-prototype) headers map as it is only when collecting would not change it', () => {
    const decoded = (entries: Record<string, string>): Record<string, string> => Object.assign(Object.create(null) as Record<string, string>, entries);
    const lower = decoded({ ':method': 'GET', ':path': '/', 'x-a': '1' });
    expect(ok(request({ headers: lower })).headers).toBe(lower);
    // Upper-case names are still lower-cased and joined, in a new record; the decoded one is not changed.
    const mixed = decoded({ 'X-A': '1', 'x-a': '2', ':method': 'GET', ':path': '/' });
    const ctx = ok(request({ headers: mixed }));
    expect(ctx.headers).not.toBe(mixed);
    expect(ctx.headers['x-a']).toBe('1,2');
    expect(Object.keys(mixed)).toContain('X-A');
    // The copy starts at the first name to change and keeps the entries before it.
    const late = decoded({ ':method': 'GET', ':path': '/', 'X-B': '1' });
    const lateCtx = ok(request({ headers: late }));
    expect(lateCtx.headers).not.toBe(late);
    expect({ ...lateCtx.headers }).toEqual({ ':method': 'GET', ':path': '/', 'x-b': '1' });
    // The limits apply the same way.
    const many = decoded(Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`h${i}`, 'v'])));
    expect(toRequestContext(request({ method: 'GET', path: '/', headers: many }), NOW, { maxHeaders: 4 })).toEqual({ ok: false, error: 'more than 4 headers' });
    expect(toRequestContext(request({ method: 'GET', path: '/', headers: many }), NOW, { maxHeaderBytes: 14 })).toEqual({ ok: false, error: 'headers larger than 14 bytes' });
    // A plain object (not from the codec) is always copied into a null-prototype record.
    const plain = { ':method': 'GET', ':path': '/' };
    const copied = ok(request({ headers: plain })).headers;
    expect(copied).not.toBe(plain);
    expect(Object.getPrototypeOf(copied)).toBe(null);
  });

  it('builds headers from header_map when the headers map is empty', () => {
    const ctx = ok(
      request({
        method: 'GET',
        path: '/',
        header_map: {
          headers: [
            { key: ':authority', raw_value: Buffer.from('raw.example') },
            { key: 'X-Multi', raw_value: Buffer.from('a') },
            { key: 'x-multi', raw_value: Buffer.from('b') },
            { key: 'x-bad-utf8', raw_value: Buffer.from([0x61, 0xff, 0x62]) },
            { key: 'x-value-only', value: 'v' },
            { key: 'x-request-id', raw_value: Buffer.from('rid-1') },
            { key: '', raw_value: Buffer.from('ignored') },
          ],
        },
      }),
    );
    expect({ ...ctx.headers }).toEqual({
      ':authority': 'raw.example',
      'x-multi': 'a,b',
      'x-bad-utf8': 'a\uFFFDb',
      'x-value-only': 'v',
      'x-request-id': 'rid-1',
    });
    expect(ctx.host).toBe('raw.example');
    expect(ctx.requestId).toBe('rid-1');
  });

  it('prefers the headers map over header_map when both are present', () => {
    const ctx = ok(request({ method: 'GET', path: '/', headers: { a: '1' }, header_map: { headers: [{ key: 'b', value: '2' }] } }));
    expect({ ...ctx.headers }).toEqual({ a: '1' });
  });

  it.each<[string, HttpRequestMessage, { maxHeaders?: number; maxHeaderBytes?: number }, RegExp]>([
    ['too many headers', { method: 'GET', headers: Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`h${i}`, 'v'])) }, {}, /more than 200/],
    ['headers too large', { method: 'GET', headers: { big: 'x'.repeat(70_000) } }, {}, /larger than 65536/],
    ['custom count limit', { method: 'GET', headers: { a: '1', b: '2', c: '3' } }, { maxHeaders: 2 }, /more than 2/],
    ['header_map too large', { method: 'GET', header_map: { headers: [{ key: 'big', raw_value: Buffer.alloc(100, 0x61) }] } }, { maxHeaderBytes: 50 }, /larger than 50/],
  ])('refuses %s', (_name, http, limits, error) => {
    const result = toRequestContext(request(http), NOW, limits);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatch(error);
  });

  it('uses the Envoy stream id when there is no x-request-id, and now without a time', () => {
    const ctx = ok(request({ method: 'GET', path: '/', id: '42' }));
    expect(ctx.requestId).toBe('42');
    expect(ctx.receivedAt).toBe(NOW);
  });

  it('prefers raw_body over body', () => {
    const ctx = ok(request({ method: 'POST', path: '/', raw_body: Buffer.from([1, 2, 3]), body: 'text' }));
    expect([...(ctx.body ?? [])]).toEqual([1, 2, 3]);
    expect(ok(request({ method: 'GET', path: '/' })).body).toBeUndefined();
  });

  it('converts metadata Structs (camelCase value keys) to plain JSON', () => {
    const ctx = ok(
      request(
        { method: 'GET', path: '/' },
        {
          metadata_context: {
            filter_metadata: {
              'envoy.filters.http.jwt_authn': {
                fields: {
                  payload: {
                    structValue: {
                      fields: {
                        sub: { stringValue: 'alice' },
                        exp: { numberValue: 1700000000 },
                        email_verified: { boolValue: true },
                        groups: { listValue: { values: [{ stringValue: 'a' }, { nullValue: 0 }, { numberValue: 2 }] } },
                        nothing: { nullValue: 0 },
                        empty: {},
                      },
                    },
                  },
                },
              },
            },
          },
        },
      ),
    );
    expect(ctx.metadata['envoy.filters.http.jwt_authn']).toEqual({
      payload: { sub: 'alice', exp: 1700000000, email_verified: true, groups: ['a', null, 2], nothing: null },
    });
  });

  it('keeps a namespace named __proto__ as data, and shares the empty record when no namespace has a Struct', () => {
    const ctx = ok(request({ method: 'GET', path: '/' }, { metadata_context: { filter_metadata: { ['__proto__']: { fields: { a: { stringValue: 'b' } } } } } }));
    expect(Object.getPrototypeOf(ctx.metadata)).toBeNull();
    expect(ctx.metadata['__proto__']).toEqual({ a: 'b' });
    const none = ok(request({ method: 'GET', path: '/' }, { metadata_context: { filter_metadata: {} } }));
    expect(none.metadata).toBe(ok(request({ method: 'GET', path: '/' })).metadata);
    expect(Object.isFrozen(none.metadata) && Object.keys(none.metadata).length === 0).toBe(true);
  });

  it('bounds metadata depth and keeps __proto__ as data', () => {
    let deep: { fields: Record<string, unknown> } = { fields: { leaf: { stringValue: 'x' } } };
    for (let i = 0; i < 40; i++) deep = { fields: { n: { structValue: deep } } };
    const json = structToJson(deep as never, 4);
    expect(JSON.stringify(json)).toBe('{"n":{"n":{"n":{}}}}');
    const proto = structToJson({ fields: { ['__proto__']: { stringValue: 'p' } } });
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
    expect(Object.keys(proto)).toEqual(['__proto__']);
  });
});
