import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest, outcomeOf } from '../support/check-requests.js';
import { testConfigYaml } from '../support/config-yaml.js';
import type { UpstreamCheckRequest } from '../support/envoy-client.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import { startOrgProcess, type OrgProcess } from '../support/org-process.js';
import { createTestKey, jwksOf } from '../support/tokens.js';

/**
 * Tenant selection cannot be steered by the client (issue #14), on a real `idgate authz` process over both
 * front ends: gRPC ext_authz (the CheckRequest as Envoy sends it, plus what a client could smuggle into its
 * headers and context extensions) and the HTTP mode as Envoy's `http_service` calls it (`/check` + the
 * original path, the original Host), from a peer that is not a trusted proxy.
 *
 * Two teams split `www.example.com` by prefix: `shop` (/shop, public) and `blog` (/blog, needs a token); a
 * third owns `open.example.com` (public everywhere); a guardrail denies `/shop/admin` on `www.example.com`.
 * Every attack below targets a request whose canonical host and path belong to `blog` (it must stay a 401
 * decided by blog) or to the guardrail (it must stay a 403 by `no-admin`), and tries to make `shop` or `open`
 * (which would allow) decide it instead. open's one deny route is selected by a context extension, to show that
 * extensions do select routes, but only inside the owning tenant. A front end may refuse a garbled request outright (400), never allow.
 */
const SHOP = `routes:
  - { id: all, match: { prefix: /shop }, public: true }
`;
const BLOG = `routes:
  - { id: posts, match: { prefix: /blog }, require: { scopes: [blog] } }
`;
const OPEN = `routes:
  - { id: by-context, match: { contextExtensions: { tenant: open } }, deny: true }
  - { id: all, match: { prefix: / }, public: true }
`;
const POLICY = `  guardrails:
    - { id: no-admin, match: { hosts: [www.example.com], paths: [{ prefix: /shop/admin }] }, action: deny }
  tenants:
    - { name: shop, owns: { hosts: [www.example.com], prefixes: [/shop] }, files: [teams/shop.yaml] }
    - { name: blog, owns: { hosts: [www.example.com], prefixes: [/blog] }, files: [teams/blog.yaml] }
    - { name: open, owns: { hosts: [open.example.com] }, files: [teams/open.yaml] }`;

/** The answer of one front end: `allow` or `<status> <code>`, and over gRPC who decided. */
interface Answer {
  readonly verdict: string;
  readonly decidedBy?: string;
}

let jwks: JwksServer;
let org: OrgProcess;

beforeAll(async () => {
  const key = await createTestKey('ES256');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  org = await startOrgProcess({
    // No network.trustedProxies: this test's HTTP client is a client talking to idgate directly.
    'platform.yaml': testConfigYaml({ issuer: jwks.url, jwksUri: jwks.jwksUrl, policyYaml: POLICY, grpcYaml: 'decisionTimeout: 3s' }),
    'teams/shop.yaml': SHOP,
    'teams/blog.yaml': BLOG,
    'teams/open.yaml': OPEN,
  });
}, 30_000);

afterAll(async () => {
  await Promise.all([org?.stop(), jwks?.close()]);
});

async function askGrpc(request: UpstreamCheckRequest): Promise<Answer> {
  const res = await org.grpc.check(request);
  const fields = res.dynamic_metadata?.fields;
  const layer = fields?.layer?.stringValue;
  const rule = fields?.rule?.stringValue;
  const verdict = outcomeOf(res) === 'allow' ? 'allow' : `${String(res.denied_response?.status?.code)} ${outcomeOf(res)}`;
  return { verdict, ...(layer !== undefined ? { decidedBy: `${layer} ${String(rule)}` } : {}) };
}

/** Envoy `http_service`: `/check` + the original path, the original headers as raw pairs (repeats kept). */
function askHttp(path: string, rawHeaders: readonly string[]): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: org.idgate.ports.http, path: `/check${path}`, headers: ['accept', 'application/json', ...rawHeaders], timeout: 5_000, setHost: false },
      (r) => {
        r.resume();
        r.on('end', () => resolve({ verdict: r.statusCode === 200 ? 'allow' : `${String(r.statusCode)} ${String(r.headers['x-idgate-reason'])}` }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

const pairs = (headers: Readonly<Record<string, string>>): string[] => Object.entries(headers).flat();

const BLOG_DECIDES: Answer = { verdict: '401 token_missing', decidedBy: 'tenant blog/posts' };
const GUARDRAIL_DECIDES: Answer = { verdict: '403 route_denied', decidedBy: 'guardrail no-admin' };
/** A request too garbled to evaluate: refused before any tenant is chosen. */
const REFUSED = '400 request_invalid';

describe('the baseline: who owns what, on both front ends', () => {
  it.each([
    // An allow's metadata does not name the rule (only a deny's does).
    ['www.example.com', '/shop/shoes', { verdict: 'allow' }],
    ['www.example.com', '/blog/post', BLOG_DECIDES],
    ['www.example.com', '/shop/admin/users', GUARDRAIL_DECIDES],
    ['open.example.com', '/blog/post', { verdict: 'allow' }],
    ['other.example.com', '/blog/post', { verdict: '403 no_route', decidedBy: 'default default' }],
  ] as const)('%s%s', async (host, path, expected) => {
    expect(await askGrpc(checkRequest({ host, path }))).toEqual(expected);
    expect(await askHttp(path, ['host', host])).toEqual({ verdict: expected.verdict });
  });
});

describe('request headers and context extensions never choose the tenant', () => {
  // Headers a client adds to a request for www.example.com/blog/post, each naming shop's or open's side.
  const STEERING: readonly [string, Readonly<Record<string, string>>][] = [
    ['x-idgate-tenant', { 'x-idgate-tenant': 'open' }],
    ['x-idgate-tenant naming the other team on the host', { 'x-idgate-tenant': 'shop' }],
    ['x-original-url', { 'x-original-url': 'https://open.example.com/shop/shoes' }],
    ['x-envoy-original-path', { 'x-envoy-original-path': '/shop/shoes' }],
    ['x-forwarded-prefix', { 'x-forwarded-prefix': '/shop' }],
    ['x-rewrite-url', { 'x-rewrite-url': '/shop/shoes' }],
  ];
  it.each(STEERING)('%s: still decided by blog on both front ends', async (_name, headers) => {
    expect(await askGrpc(checkRequest({ host: 'www.example.com', path: '/blog/post', headers }))).toEqual(BLOG_DECIDES);
    expect(await askHttp('/blog/post', ['host', 'www.example.com', ...pairs(headers)])).toEqual({ verdict: BLOG_DECIDES.verdict });
  });

  // Headers that describe another request: believed from a trusted proxy only; from a client, a 400 in HTTP
  // mode, and never read for the host or path over gRPC (Envoy's CheckRequest says host and path itself).
  const DESCRIBING: readonly [string, Readonly<Record<string, string>>][] = [
    ['x-forwarded-host', { 'x-forwarded-host': 'open.example.com' }],
    ['x-original-uri', { 'x-original-uri': '/shop/shoes' }],
    ['x-forwarded-uri', { 'x-forwarded-uri': '/shop/shoes' }],
    ['x-forwarded-uri with x-forwarded-host', { 'x-forwarded-uri': '/shop/shoes', 'x-forwarded-host': 'open.example.com' }],
  ];
  it.each(DESCRIBING)('%s from a client: ignored over gRPC, refused in HTTP mode', async (_name, headers) => {
    expect(await askGrpc(checkRequest({ host: 'www.example.com', path: '/blog/post', headers }))).toEqual(BLOG_DECIDES);
    expect(await askHttp('/blog/post', ['host', 'www.example.com', ...pairs(headers)])).toEqual({ verdict: REFUSED });
  });

  it('gRPC: the CheckRequest host wins over :authority and host headers that disagree with it', async () => {
    const req = checkRequest({ host: 'www.example.com', path: '/blog/post', headers: { ':authority': 'open.example.com', host: 'open.example.com' } });
    expect(await askGrpc(req)).toEqual(BLOG_DECIDES);
    // Without a host attribute the :authority pseudo-header (what Envoy routed on) wins over a `host` header.
    const http = req.attributes?.request?.http;
    const noHost: UpstreamCheckRequest = { attributes: { ...req.attributes, request: { http: { ...http, host: '', headers: { ...http?.headers, ':authority': 'www.example.com', host: 'open.example.com' } } } } };
    expect(await askGrpc(noHost)).toEqual(BLOG_DECIDES);
  });

  it('gRPC: the path attribute wins over a :path header that disagrees with it', async () => {
    const req = checkRequest({ host: 'www.example.com', path: '/blog/post', headers: { ':path': '/shop/shoes' } });
    expect(await askGrpc(req)).toEqual(BLOG_DECIDES);
  });

  it('HTTP mode: two Host headers are refused, never one of them picked', async () => {
    expect(await askHttp('/blog/post', ['host', 'www.example.com', 'host', 'open.example.com'])).toEqual({ verdict: REFUSED });
    expect(await askHttp('/blog/post', ['host', 'open.example.com', 'host', 'www.example.com'])).toEqual({ verdict: REFUSED });
  });

  it('gRPC: context extensions select routes only inside the owning tenant, never the tenant', async () => {
    // open has a route for `tenant: open`; sent on blog's request it must not reach open's routes.
    const contextExtensions = { tenant: 'open', policy: 'partner' };
    expect(await askGrpc(checkRequest({ host: 'www.example.com', path: '/blog/post', contextExtensions }))).toEqual(BLOG_DECIDES);
    expect(await askGrpc(checkRequest({ host: 'www.example.com', path: '/shop/admin', contextExtensions }))).toEqual(GUARDRAIL_DECIDES);
    // On open's own host the same extensions do select open's (deny) route: they work, inside ownership.
    expect(await askGrpc(checkRequest({ host: 'open.example.com', path: '/x', contextExtensions }))).toEqual({ verdict: '403 route_denied', decidedBy: 'tenant open/by-context' });
  });
});

describe('path spellings are canonicalised before ownership, identically on both front ends', () => {
  // Each spelling's canonical path is blog's (/blog/post) or under the guardrail (/shop/admin).
  it.each([
    ['/shop/../blog/post', BLOG_DECIDES],
    ['/shop/%2e%2e/blog/post', BLOG_DECIDES],
    ['/shop/%2E%2E/blog/post', BLOG_DECIDES],
    ['/shop/.%2e/blog/post', BLOG_DECIDES],
    ['//blog/post', BLOG_DECIDES],
    ['/./blog/post', BLOG_DECIDES],
    ['/%62log/post', BLOG_DECIDES],
    ['/blog/post?', BLOG_DECIDES],
    ['/blog/post?next=/shop/shoes', BLOG_DECIDES],
    ['/shop/./admin', GUARDRAIL_DECIDES],
    ['//shop//admin', GUARDRAIL_DECIDES],
    ['/shop/admin/', GUARDRAIL_DECIDES],
    ['/shop/admin?', GUARDRAIL_DECIDES],
    ['/shop/admin#top', GUARDRAIL_DECIDES],
    ['/shop/x/../admin', GUARDRAIL_DECIDES],
    ['/shop/%61dmin', GUARDRAIL_DECIDES],
    ['/blog/../shop/admin', GUARDRAIL_DECIDES],
  ] as const)('%s', async (path, expected) => {
    expect(await askGrpc(checkRequest({ host: 'www.example.com', path }))).toEqual(expected);
    expect(await askHttp(path, ['host', 'www.example.com'])).toEqual({ verdict: expected.verdict });
  });

  // Spellings an upstream may read differently are refused (400 `path_invalid`), never handed to a tenant.
  it.each(['/shop%2Fadmin', '/shop%2fadmin', '/shop/..%2Fblog/post', '/shop;x=1/admin', '/shop/admin;x', '/shop/..;/blog/post', '/shop/%2e%2e%2fblog/post', '/../blog/post'])(
    '%s is refused',
    async (path) => {
      const g = await askGrpc(checkRequest({ host: 'www.example.com', path }));
      const h = await askHttp(path, ['host', 'www.example.com']);
      expect(g.verdict).toMatch(/^400 /);
      expect(h.verdict).toBe(g.verdict);
    },
  );

  it('path case is preserved: /SHOP/admin is not shop\'s (ownership and guardrails are case-sensitive, as routes are)', async () => {
    // Not owned by shop, so not public: it falls to the platform layer and policy.default (deny).
    expect(await askGrpc(checkRequest({ host: 'www.example.com', path: '/SHOP/admin' }))).toEqual({ verdict: '403 no_route', decidedBy: 'default default' });
    expect(await askHttp('/SHOP/admin', ['host', 'www.example.com'])).toEqual({ verdict: '403 no_route' });
  });
});

describe('host spellings are canonicalised before ownership, identically on both front ends', () => {
  it.each(['WWW.Example.COM', 'www.example.com.', 'www.example.com:8443', 'www.example.com:', 'WWW.EXAMPLE.COM.:443'])('%s', async (host) => {
    expect(await askGrpc(checkRequest({ host, path: '/blog/post' }))).toEqual(BLOG_DECIDES);
    expect(await askGrpc(checkRequest({ host, path: '/shop/admin' }))).toEqual(GUARDRAIL_DECIDES);
    expect(await askHttp('/blog/post', ['host', host])).toEqual({ verdict: BLOG_DECIDES.verdict });
    expect(await askHttp('/shop/admin', ['host', host])).toEqual({ verdict: GUARDRAIL_DECIDES.verdict });
  });

  // Not valid authority syntax: refused before ownership (a host the matchers do not know must not fall
  // through to another tenant or the platform's routes while the upstream reads it as www.example.com).
  it.each(['www.example.com..', 'www.example.com@open.example.com', 'open.example.com@www.example.com', 'www.example.com%2e', 'www.example.com,open.example.com', 'www.exämple.com', 'www.example.com:99999'])(
    '%s is refused',
    async (host) => {
      expect((await askGrpc(checkRequest({ host, path: '/shop/admin' }))).verdict).toBe(REFUSED);
      expect(await askHttp('/shop/admin', ['host', host])).toEqual({ verdict: REFUSED });
    },
  );

  it('a punycode (IDN) host is its own host: owned by no one unless named', async () => {
    // xn--shop-example-... is not www.example.com: nobody owns it, so policy.default decides (deny).
    expect(await askGrpc(checkRequest({ host: 'xn--www-exmple-r5a.com', path: '/shop/admin' }))).toEqual({ verdict: '403 no_route', decidedBy: 'default default' });
    expect(await askHttp('/shop/admin', ['host', 'xn--www-exmple-r5a.com'])).toEqual({ verdict: '403 no_route' });
  });
});

describe('HTTP mode behind a trusted proxy (nginx auth_request, Traefik ForwardAuth): the described request is canonicalised the same way', () => {
  let proxied: OrgProcess;
  beforeAll(async () => {
    proxied = await startOrgProcess({
      'platform.yaml': testConfigYaml({ issuer: jwks.url, jwksUri: jwks.jwksUrl, policyYaml: POLICY, trustedProxies: ['127.0.0.1/32'] }),
      'teams/shop.yaml': SHOP,
      'teams/blog.yaml': BLOG,
      'teams/open.yaml': OPEN,
    });
  }, 30_000);
  afterAll(async () => {
    await proxied?.stop();
  });

  /** The proxy's sub-request to its own path, with `host` as its Host, the original described by the headers. */
  function askProxied(host: string, headers: Readonly<Record<string, string>>): Promise<string> {
    return new Promise((resolve, reject) => {
      const raw = ['host', host, 'accept', 'application/json', ...pairs(headers)];
      const req = httpRequest({ host: '127.0.0.1', port: proxied.idgate.ports.http, path: '/auth', headers: raw, timeout: 5_000, setHost: false }, (r) => {
        r.resume();
        r.on('end', () => resolve(r.statusCode === 200 ? 'allow' : `${String(r.statusCode)} ${String(r.headers['x-idgate-reason'])}`));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end();
    });
  }

  // nginx passes the original Host as the sub-request's Host; Traefik sends X-Forwarded-Host.
  it.each(['nginx', 'Traefik'] as const)('%s: host and path spellings land where the gRPC front end puts them', async (proxy) => {
    const cases: readonly [string, string, string][] = [
      ['www.example.com', '/shop/shoes', 'allow'],
      ['WWW.Example.COM.', '/shop/../blog/post', BLOG_DECIDES.verdict],
      ['www.example.com:8443', '/shop/%2e%2e/blog/post', BLOG_DECIDES.verdict],
      ['www.example.com', '//shop/./admin?x=1', GUARDRAIL_DECIDES.verdict],
      ['www.example.com', '/shop%2Fadmin', '400 path_invalid'],
      ['www.example.com@open.example.com', '/shop/shoes', REFUSED],
    ];
    for (const [host, path, expected] of cases) {
      const answer = proxy === 'nginx' ? await askProxied(host, { 'x-original-uri': path }) : await askProxied('idgate.internal', { 'x-forwarded-uri': path, 'x-forwarded-host': host });
      expect(answer, `${proxy} ${host} ${path}`).toBe(expected);
      expect((await askGrpc(checkRequest({ host, path }))).verdict, `gRPC ${host} ${path}`).toBe(expected);
    }
  });
});

