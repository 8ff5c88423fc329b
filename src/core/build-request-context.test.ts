import { describe, expect, it } from 'vitest';
import { buildRequestContext, collectHeaders, type BuildRequestContextResult } from './build-request-context.js';
import { firstHeaderName, headerNamesOf, type RequestContext } from './request-context.js';

const NOW = 1_700_000_000_000;

/** Builds from plain fields; headers go through {@link collectHeaders} with the default limits. */
function build(fields: { method?: string; host?: string; path?: string; scheme?: string; headers?: Record<string, string>; requestId?: string; contextExtensions?: Record<string, unknown> }): BuildRequestContextResult {
  const headers = collectHeaders(fields.headers ?? {}, {});
  if (typeof headers === 'string') throw new Error(headers);
  return buildRequestContext({
    method: fields.method ?? '',
    scheme: fields.scheme ?? '',
    host: fields.host ?? (fields.headers?.[':authority'] === undefined ? 'app.example.com' : ''),
    path: fields.path ?? '',
    headers,
    sourceAddress: '10.0.0.1',
    sourcePrincipal: '',
    contextExtensions: fields.contextExtensions ?? null,
    requestId: fields.requestId ?? '',
    protocol: 'HTTP/1.1',
    receivedAt: NOW,
  });
}

function ok(fields: Parameters<typeof build>[0]): RequestContext {
  const result = build(fields);
  if (!result.ok) throw new Error(`expected ok, got ${result.error}`);
  return result.value;
}

describe('buildRequestContext', () => {
  it('upper-cases the method and refuses an empty one', () => {
    expect(ok({ method: 'get', path: '/' }).method).toBe('GET');
    expect(build({ path: '/' })).toEqual({ ok: false, error: 'missing method' });
  });

  // Issue 18 §3: a host the route matchers do not recognise must not fall through to a later route.
  it.each([
    ['userinfo', 'x@admin.example.com'],
    ['percent-encoded trailing dot', 'admin.example.com%2e'],
    ['trailing backslash', 'admin.example.com\\'],
    ['empty', ''],
    ['space inside', 'admin .example.com'],
    ['leading space', ' admin.example.com'],
    ['two trailing dots', 'admin.example.com..'],
    ['empty label', 'admin..example.com'],
    ['leading dot', '.admin.example.com'],
    ['bare IPv6', '2001:db8::1'],
    ['non-numeric port', 'example.com:http'],
    ['port out of range', 'example.com:70000'],
    ['port zero', 'example.com:0'],
    ['two hosts', 'a.example.com,admin.example.com'],
    ['NUL', 'admin.example.com\u0000.evil'],
    ['non-ASCII (U+FFFD from bad UTF-8)', 'admin.example.com\ufffd'],
    ['IDN in Unicode form', 'bücher.example'],
    ['unclosed IPv6', '[::1'],
    ['junk after IPv6', '[::1]x'],
    ['slash', 'admin.example.com/x'],
    ['label over 63', `${'a'.repeat(64)}.example.com`],
  ])('refuses a host that is not valid authority syntax: %s', (_name, host) => {
    const result = build({ method: 'GET', path: '/', host });
    expect(result).toMatchObject({ ok: false });
    if (!result.ok) expect(result.error).toMatch(/host/);
  });

  it('falls back to pseudo-headers for method, path, host and scheme', () => {
    const ctx = ok({ headers: { ':method': 'get', ':path': '/x?y', ':authority': 'h.example', ':scheme': 'http' } });
    expect(ctx).toMatchObject({ method: 'GET', path: '/x', query: 'y', host: 'h.example', scheme: 'http' });
    expect(ctx.port).toBeUndefined();
  });

  it.each<[string, string, string, number | undefined]>([
    ['host with port', 'example.com:8080', 'example.com', 8080],
    ['upper-case host', 'EXAMPLE.com', 'example.com', undefined],
    ['trailing dot', 'example.com.', 'example.com', undefined],
    ['bracketed IPv6 with port', '[::1]:8080', '[::1]', 8080],
    ['bracketed IPv6 without port', '[2001:DB8::1]', '[2001:db8::1]', undefined],
    ['empty port (RFC 3986: the default)', 'example.com:', 'example.com', undefined],
    ['IPv4 with port', '10.0.0.1:80', '10.0.0.1', 80],
    ['underscore (k8s-style names)', 'my_svc.ns', 'my_svc.ns', undefined],
  ])('authority: %s', (_name, host, expectedHost, expectedPort) => {
    const ctx = ok({ method: 'GET', path: '/', host });
    expect(ctx.host).toBe(expectedHost);
    expect(ctx.port).toBe(expectedPort);
  });

  it('reports a path that cannot be canonicalised instead of refusing the request', () => {
    const ctx = ok({ method: 'GET', path: '/api/..;/admin?x=1' });
    expect(ctx.path).toBe('');
    expect(ctx.pathError).toMatch(/parameter/);
    expect(ctx.rawPath).toBe('/api/..;/admin?x=1');
    expect(ctx.query).toBe('x=1');
  });

  it('treats prototype-ish header names as plain headers', () => {
    const ctx = ok({ method: 'GET', path: '/', headers: { constructor: 'c' } });
    expect(ctx.headers['constructor']).toBe('c');
    expect(ctx.headers['toString']).toBeUndefined();
  });

  it('prefers x-request-id over the proxy\'s id, and copies only string context extensions', () => {
    expect(ok({ method: 'GET', path: '/', requestId: 'stream-1' }).requestId).toBe('stream-1');
    expect(ok({ method: 'GET', path: '/', requestId: 'stream-1', headers: { 'x-request-id': 'rid' } }).requestId).toBe('rid');
    const ctx = ok({ method: 'GET', path: '/', contextExtensions: { route: 'api', n: 1 } });
    expect({ ...ctx.contextExtensions }).toEqual({ route: 'api' });
    expect(Object.getPrototypeOf(ctx.contextExtensions)).toBeNull();
  });
});

describe('buildRequestContext: what it shares and keeps', () => {
  it('cases method and scheme exactly as toUpperCase and toLowerCase, keeping the string when nothing changes', () => {
    for (const method of ['GET', 'get', 'Patch', 'M-SEARCH', 'straße', 'ǆ', 'GET\u0130']) {
      const { value } = build({ method, scheme: method, path: '/' }) as { value: RequestContext };
      expect(value.method).toBe(method.toUpperCase());
      expect(value.scheme).toBe(method.toLowerCase());
    }
    const method = ['PO', 'ST'].join('');
    expect(ok({ method, path: '/' }).method).toBe(method);
  });

  it('shares one frozen, empty null-prototype record for absent or stringless context extensions and metadata', () => {
    const a = ok({ method: 'GET', path: '/' });
    const b = ok({ method: 'GET', path: '/', contextExtensions: { n: 1 } });
    for (const record of [a.contextExtensions, a.metadata]) {
      expect(Object.isFrozen(record)).toBe(true);
      expect(Object.getPrototypeOf(record)).toBeNull();
      expect(Object.keys(record)).toEqual([]);
    }
    expect(b.contextExtensions).toBe(a.contextExtensions);
    expect(ok({ method: 'GET', path: '/' }).metadata).toBe(a.metadata);
    const c = ok({ method: 'GET', path: '/', contextExtensions: { n: 1, tenant: 'acme' } });
    expect(c.contextExtensions).toEqual({ tenant: 'acme' });
    expect(Object.getPrototypeOf(c.contextExtensions)).toBeNull();
    expect(c.contextExtensions).not.toBe(a.contextExtensions);
  });
});

describe('collectHeaders', () => {
  it('lower-cases names, joins repeats with a comma and skips non-string values', () => {
    const headers = collectHeaders({ 'X-A': '1', 'x-a': '2', n: 3 }, {});
    expect(headers).toEqual({ 'x-a': '1,2' });
  });

  it.each<[string, Record<string, string>, { maxHeaders?: number; maxHeaderBytes?: number }, string]>([
    ['too many headers', Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`h${i}`, 'v'])), {}, 'more than 200 headers'],
    ['headers too large', { big: 'x'.repeat(70_000) }, {}, 'headers larger than 65536 bytes'],
    ['custom count limit', { a: '1', b: '2', c: '3' }, { maxHeaders: 2 }, 'more than 2 headers'],
    ['custom size limit', { a: '1234', b: '5678' }, { maxHeaderBytes: 9 }, 'headers larger than 9 bytes'],
  ])('refuses %s', (_name, record, limits, error) => {
    expect(collectHeaders(record, limits)).toBe(error);
  });

  it('accepts exactly the limits', () => {
    expect(typeof collectHeaders({ a: '1', b: '2' }, { maxHeaders: 2, maxHeaderBytes: 4 })).toBe('object');
  });
});

describe('firstHeaderName', () => {
  const headers = { accept: '*/*', 'x-idgate-subject': 'forged', x_idgate_roles: 'admin' };
  const isIdentity = (name: string) => name.replace(/_/g, '-').startsWith('x-idgate-');
  const fields = (extra: { headers: Record<string, string>; headerNames?: readonly string[] }) => ({
    method: 'GET', scheme: 'https', host: 'app.example.com', path: '/', sourceAddress: '', sourcePrincipal: '', contextExtensions: null, requestId: '', protocol: 'HTTP/1.1', receivedAt: NOW, ...extra,
  });

  it('answers the first matching name, whether the names were listed or the headers are enumerated', () => {
    const listed = buildRequestContext(fields({ headers, headerNames: Object.keys(headers) }));
    const enumerated = buildRequestContext(fields({ headers }));
    if (!listed.ok || !enumerated.ok) throw new Error('not built');
    expect(headerNamesOf(listed.value)).toEqual(Object.keys(headers));
    expect(headerNamesOf(enumerated.value)).toBeUndefined();
    for (const ctx of [listed.value, enumerated.value]) {
      expect(firstHeaderName(ctx, isIdentity)).toBe('x-idgate-subject');
      expect(firstHeaderName(ctx, (n) => n === 'x_idgate_roles')).toBe('x_idgate_roles');
      expect(firstHeaderName(ctx, (n) => n === 'cookie')).toBeUndefined();
    }
  });

  it('does not trust names listed for another headers record', () => {
    const built = buildRequestContext(fields({ headers, headerNames: Object.keys(headers) }));
    if (!built.ok) throw new Error('not built');
    const copied: RequestContext = { ...built.value, headers: { accept: '*/*', 'x-idgate-email': 'e' } };
    expect(firstHeaderName(copied, isIdentity)).toBe('x-idgate-email');
  });
});
