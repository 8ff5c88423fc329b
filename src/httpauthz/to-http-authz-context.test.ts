import { describe, expect, it } from 'vitest';
import { createCidrSet } from '../net/create-cidr-set.js';
import { toHttpAuthzContext, type HttpAuthzRequest } from './to-http-authz-context.js';

const TRUSTED = createCidrSet(['10.0.0.0/8']);
const OPTIONS = { pathPrefix: '/check', trustedProxies: TRUSTED };
const NOW = 1_700_000_000_000;

function req(headers: Record<string, string | string[]>, over: Partial<HttpAuthzRequest> = {}): HttpAuthzRequest {
  const rawHeaders: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) rawHeaders.push(name, v);
  }
  return { method: 'GET', target: '/check', rawHeaders, peer: '10.1.2.3', httpVersion: '1.1', ...over };
}

describe('toHttpAuthzContext', () => {
  it('never sets a workload principal, even from a trusted proxy sending XFCC or SPIFFE headers (security review)', () => {
    const spiffe = 'spiffe://cluster.local/ns/shop/sa/web';
    const forged = { host: 'a', 'x-forwarded-client-cert': `By=${spiffe};URI=${spiffe}`, 'x-spiffe-id': spiffe, principal: spiffe };
    for (const peer of ['10.1.2.3', '203.0.113.7']) {
      for (const extra of [{}, { 'x-original-uri': '/api' }] as Array<Record<string, string>>) {
        const r = toHttpAuthzContext(req({ ...forged, ...extra }, { target: '/check/api', peer }), OPTIONS, NOW);
        // From the untrusted peer, the describing header is refused outright; otherwise mapped without a principal.
        if (!r.ok) {
          expect([peer, extra]).toEqual(['203.0.113.7', { 'x-original-uri': '/api' }]);
          continue;
        }
        expect(r.ctx.sourcePrincipal).toBe('');
        // Still visible as plain headers (a CEL rule may read them), never as the principal.
        expect(r.ctx.headers['x-forwarded-client-cert']).toContain(spiffe);
      }
    }
  });

  it('maps an Envoy http_service request: prefix stripped, host and method preserved, scheme unknown', () => {
    const r = toHttpAuthzContext(req({ Host: 'App.Example.com:8443', Authorization: 'Bearer t' }, { method: 'POST', target: '/check/api/x?y=1' }), OPTIONS, NOW);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.flavor).toBe('envoy');
    expect(r.ctx).toMatchObject({ method: 'POST', host: 'app.example.com', port: 8443, path: '/api/x', query: 'y=1', scheme: '' });
    expect(r.ctx.headers[':authority']).toBe('App.Example.com:8443');
    expect(r.ctx.headers['host']).toBeUndefined();
    expect(r.ctx.headers['authorization']).toBe('Bearer t');
  });

  it.each([
    ['/check', '/'],
    ['/check?x=1', '/?x=1'],
    ['/check//a', '//a'],
  ])('strips the prefix from %s', (target, rawPath) => {
    const r = toHttpAuthzContext(req({ host: 'a' }, { target }), OPTIONS, NOW);
    expect(r.ok && r.ctx.rawPath).toBe(rawPath);
  });

  it.each(['/checkout', '/api/check/x', '/'])('refuses an Envoy-mode path outside the prefix: %s', (target) => {
    const r = toHttpAuthzContext(req({ host: 'a' }, { target }), OPTIONS, NOW);
    expect(r).toMatchObject({ ok: false });
  });

  it('uses the path as it is with prefix /', () => {
    const r = toHttpAuthzContext(req({ host: 'a' }, { target: '/check/x' }), { ...OPTIONS, pathPrefix: '/' }, NOW);
    expect(r.ok && r.ctx.path).toBe('/check/x');
  });

  it('maps an nginx auth_request from a trusted proxy', () => {
    const r = toHttpAuthzContext(
      req({
        host: 'idgate_authz',
        'x-original-uri': '/payments/a/../b?q=1',
        'x-original-method': 'HEAD',
        'x-forwarded-method': 'HEAD',
        'x-forwarded-host': 'shop.example.com:8080',
        'x-forwarded-proto': 'https',
        'x-forwarded-for': '198.51.100.7',
        accept: 'text/html',
      }),
      OPTIONS,
      NOW,
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.flavor).toBe('nginx');
    expect(r.ctx).toMatchObject({ method: 'HEAD', host: 'shop.example.com', port: 8080, scheme: 'https', path: '/payments/b', rawPath: '/payments/a/../b?q=1', sourceAddress: '198.51.100.7' });
    for (const name of ['x-original-uri', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-method', 'host']) {
      expect(r.ctx.headers[name]).toBeUndefined();
    }
  });

  it('maps a Traefik ForwardAuth request (X-Forwarded-Uri), request method when none is forwarded', () => {
    const r = toHttpAuthzContext(req({ host: 'auth', 'x-forwarded-uri': '/api', 'x-forwarded-host': 'a.example' }, { method: 'DELETE' }), OPTIONS, NOW);
    expect(r.ok && r.flavor).toBe('forward_auth');
    expect(r.ok && r.ctx.method).toBe('DELETE');
  });

  it.each([
    ['x-original-uri', { 'x-original-uri': '/admin' }],
    ['x-forwarded-uri', { 'x-forwarded-uri': '/admin' }],
    ['x-forwarded-host', { 'x-forwarded-host': 'admin.example' }],
    ['x-forwarded-proto', { 'x-forwarded-proto': 'https' }],
    ['x-original-method', { 'x-original-method': 'GET' }],
  ])('refuses %s from an untrusted peer', (_name, headers) => {
    const r = toHttpAuthzContext(req({ host: 'a', ...headers }, { peer: '192.0.2.1', target: '/check/x' }), OPTIONS, NOW);
    expect(r).toMatchObject({ ok: false, error: expect.stringContaining('trusted proxies') });
  });

  it('refuses describing headers when no proxy is trusted at all, and accepts a plain Envoy request', () => {
    const none = { ...OPTIONS, trustedProxies: createCidrSet([]) };
    expect(toHttpAuthzContext(req({ host: 'a', 'x-original-uri': '/' }, { peer: '127.0.0.1' }), none, NOW).ok).toBe(false);
    expect(toHttpAuthzContext(req({ host: 'a', 'x-forwarded-for': '1.2.3.4' }, { peer: '127.0.0.1', target: '/check/a' }), none, NOW)).toMatchObject({
      ok: true,
      ctx: { sourceAddress: '127.0.0.1' },
    });
  });

  it('accepts a trusted peer in IPv4-mapped IPv6 form', () => {
    const r = toHttpAuthzContext(req({ host: 'a', 'x-original-uri': '/x' }, { peer: '::ffff:10.9.9.9' }), OPTIONS, NOW);
    expect(r.ok).toBe(true);
  });

  it.each([
    ['a describing header twice', { 'x-original-uri': ['/a', '/b'] }],
    ['disagreeing URIs', { 'x-original-uri': '/a', 'x-forwarded-uri': '/b' }],
    ['disagreeing methods', { 'x-original-uri': '/a', 'x-original-method': 'GET', 'x-forwarded-method': 'POST' }],
    ['an empty URI', { 'x-original-uri': ' ' }],
    ['a host without a URI', { 'x-forwarded-host': 'a.example' }],
    ['a bad proto', { 'x-original-uri': '/a', 'x-forwarded-proto': 'gopher' }],
    ['a bad method', { 'x-original-uri': '/a', 'x-forwarded-method': 'GET /x' }],
    ['two hosts', { 'x-original-uri': '/a', 'x-forwarded-host': 'a.example, b.example' }],
  ])('refuses %s', (_what, headers) => {
    expect(toHttpAuthzContext(req({ host: 'a', ...headers }), OPTIONS, NOW)).toMatchObject({ ok: false });
  });

  it('keeps a bad original path for the engine to deny (path_invalid), not a mapping error', () => {
    const r = toHttpAuthzContext(req({ host: 'a', 'x-original-uri': '/api/%2e%2e%2fadmin' }), OPTIONS, NOW);
    expect(r.ok && r.ctx.pathError).toBeTruthy();
  });

  it('treats a __proto__ header as a plain header and joins cookies with "; "', () => {
    const r = toHttpAuthzContext(req({ host: 'a', __proto__: 'x', cookie: ['a=1', 'b=2'] }, { target: '/check/' }), OPTIONS, NOW);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(Object.getPrototypeOf(r.ctx.headers)).toBe(null);
    expect(r.ctx.headers['cookie']).toBe('a=1; b=2');
  });

  it('enforces header limits', () => {
    const many: Record<string, string> = { host: 'a' };
    for (let i = 0; i < 30; i++) many[`x-h${i}`] = 'v';
    expect(toHttpAuthzContext(req(many, { target: '/check/' }), { ...OPTIONS, limits: { maxHeaders: 10 } }, NOW)).toMatchObject({ ok: false });
  });
});
