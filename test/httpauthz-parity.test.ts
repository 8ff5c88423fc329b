import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfigYaml } from './support/config-yaml.js';
import { createEnvoyClient, type EnvoyClient, type UpstreamCheckResponse } from './support/envoy-client.js';
import { startIdgate, type IdgateProcess } from './support/idgate-process.js';
import { startJwksServer, type JwksServer } from './support/jwks-server.js';
import { createTestKey, jwksOf, mintToken, type TestKey } from './support/tokens.js';

/**
 * One `idgate serve` process (embedded Didit sandbox), one table of requests, three front ends: the gRPC
 * ext_authz API (as Envoy's ext_authz filter calls it), the HTTP mode as Envoy `http_service` calls it
 * (`/check` + original path, original Host) and the HTTP mode as nginx `auth_request` calls it
 * (`X-Original-URI` & co. from a trusted proxy). Every row must get the same decision from all three.
 * (Build first: `npx tsc -p .`.)
 */

const HOST = 'shop.example.com';
const HTML = 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8';

type Mode = 'grpc' | 'envoy-http' | 'nginx-http';
const MODES: readonly Mode[] = ['grpc', 'envoy-http', 'nginx-http'];

/** What the client ends up with, normalised across front ends. */
interface Verdict {
  readonly allow: boolean;
  /** 200 on allow; for nginx a 401 carrying x-idgate-location counts as the 302 its config turns it into. */
  readonly status: number;
  readonly code?: string;
  /** allow: the subject header set for the upstream; 302: where to. */
  readonly subject?: string;
  readonly location?: string;
  /** allow: identity headers that end up removed/overwritten upstream (lower-case). */
  readonly strips?: readonly string[];
}

interface Row {
  readonly name: string;
  readonly method?: string;
  readonly path: string;
  readonly token?: 'good' | 'wrong-scope' | 'garbage';
  readonly accept?: string;
  readonly extraHeaders?: Readonly<Record<string, string>>;
  readonly expected: Omit<Verdict, 'subject' | 'location' | 'strips'> & { subject?: true; location?: true };
  /** Where one front end must differ on purpose (nginx cannot be told to remove a header: it is refused). */
  readonly expectedFor?: Partial<Record<Mode, Row['expected']>>;
}

const FORGED_REFUSED_BY_NGINX: Row['expectedFor'] = { 'nginx-http': { allow: false, status: 400, code: 'request_invalid' } };

const ROWS: readonly Row[] = [
  { name: 'public route, no token', path: '/healthz', expected: { allow: true, status: 200 } },
  { name: 'protected route, no token', path: '/api/items', expected: { allow: false, status: 401, code: 'token_missing' } },
  { name: 'protected route, good token', path: '/api/items?page=2', token: 'good', expected: { allow: true, status: 200, subject: true } },
  { name: 'protected route, wrong scope', path: '/api/items', token: 'wrong-scope', expected: { allow: false, status: 403, code: 'claims_mismatch' } },
  { name: 'garbage token', path: '/api/items', token: 'garbage', expected: { allow: false, status: 401, code: 'token_invalid' } },
  {
    name: 'forged x-idgate headers with a good token',
    path: '/api/items',
    token: 'good',
    extraHeaders: { 'x-idgate-subject': 'someone-else', 'x-idgate-admin': 'true' },
    expected: { allow: true, status: 200, subject: true },
    expectedFor: FORGED_REFUSED_BY_NGINX,
  },
  {
    name: 'forged underscore and mixed-case identity headers with a good token',
    path: '/api/items',
    token: 'good',
    extraHeaders: { 'X-Idgate_Roles': 'admin', x_idgate_email: 'admin@example.com' },
    expected: { allow: true, status: 200, subject: true },
    expectedFor: FORGED_REFUSED_BY_NGINX,
  },
  {
    name: 'forged identity header on a public route',
    path: '/healthz',
    extraHeaders: { 'x-idgate-roles': 'admin' },
    expected: { allow: true, status: 200 },
    expectedFor: FORGED_REFUSED_BY_NGINX,
  },
  {
    name: 'forged x-idgate-subject without a token',
    path: '/api/items',
    extraHeaders: { 'x-idgate-subject': 'test:admin' },
    expected: { allow: false, status: 401, code: 'token_missing' },
    expectedFor: FORGED_REFUSED_BY_NGINX,
  },
  { name: 'dot segments out of a public route', path: '/healthz/../api/items', expected: { allow: false, status: 401, code: 'token_missing' } },
  { name: 'percent-encoded dots', path: '/healthz/%2e%2e/api/items', expected: { allow: false, status: 401, code: 'token_missing' } },
  { name: 'encoded slash', path: '/api%2fitems', token: 'good', expected: { allow: false, status: 400, code: 'path_invalid' } },
  { name: 'servlet ..; segment', path: '/healthz/..;/api/items', expected: { allow: false, status: 400, code: 'path_invalid' } },
  { name: 'duplicate slashes', path: '//api//items', expected: { allow: false, status: 401, code: 'token_missing' } },
  { name: 'no matching route', path: '/internal/metrics', token: 'good', expected: { allow: false, status: 403, code: 'no_route' } },
  {
    name: 'step-up, API client',
    path: '/payments/checkout',
    token: 'good',
    accept: 'application/json',
    expected: { allow: false, status: 401, code: 'verification_required' },
  },
  {
    name: 'step-up, browser navigation',
    path: '/payments/checkout?cart=7',
    token: 'good',
    accept: HTML,
    expected: { allow: false, status: 302, code: 'verification_required', location: true },
  },
  {
    name: 'step-up, browser form POST (not a navigation)',
    method: 'POST',
    path: '/payments/checkout',
    token: 'good',
    accept: HTML,
    expected: { allow: false, status: 401, code: 'verification_required' },
  },
];

let jwks: JwksServer;
let key: TestKey;
let idgate: IdgateProcess;
let grpc: EnvoyClient;

beforeAll(async () => {
  key = await createTestKey('ES256', 'k1');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  idgate = await startIdgate({
    configYaml: testConfigYaml({
      issuer: jwks.url,
      jwksUri: jwks.jwksUrl,
      trustedProxies: ['127.0.0.1/32'],
      didit: {
        apiKey: 'parity-api-key',
        webhookSecret: 'parity-webhook-secret-0123456789',
        kycWorkflowId: '11111111-2222-4333-8444-000000000001',
        ageWorkflowId: '11111111-2222-4333-8444-000000000002',
      },
    }),
  });
  grpc = createEnvoyClient(`127.0.0.1:${idgate.ports.grpc}`);
}, 30_000);

afterAll(async () => {
  grpc?.close();
  await idgate?.stop();
  await jwks?.close();
});

async function tokenFor(row: Row, sub: string): Promise<string | undefined> {
  if (row.token === undefined) return undefined;
  if (row.token === 'garbage') return 'not.a.jwt';
  const scope = row.token === 'good' ? 'read write' : 'write';
  return mintToken(key, { iss: jwks.url, aud: 'idgate-test', now: Date.now(), sub, ttlSeconds: 600, claims: { scope, email: `${sub}@example.com` } });
}

/** The original request's headers (what the client sent to the proxy). */
async function clientHeaders(row: Row, sub: string): Promise<Record<string, string>> {
  const headers: Record<string, string> = { accept: row.accept ?? 'application/json', ...row.extraHeaders };
  const token = await tokenFor(row, sub);
  if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
  return headers;
}

function fromGrpc(res: UpstreamCheckResponse): Verdict {
  if (res.ok_response !== undefined || res.status?.code === undefined || res.status.code === 0) {
    const headers = res.ok_response?.headers ?? [];
    const set = headers.map((h) => h.header.key);
    return {
      allow: true,
      status: 200,
      ...(headers.find((h) => h.header.key === 'x-idgate-subject') ? { subject: headers.find((h) => h.header.key === 'x-idgate-subject')!.header.value } : {}),
      strips: [...set.filter((n) => n.startsWith('x-idgate-')), ...(res.ok_response?.headers_to_remove ?? [])].sort(),
    };
  }
  const header = (name: string) => res.denied_response?.headers?.find((h) => h.header.key === name)?.header.value;
  const status = res.denied_response?.status?.code ?? 403;
  const location = header('location');
  return { allow: false, status, ...codeOf(header('x-idgate-reason')), ...(location ? { location } : {}) };
}

function codeOf(code: string | undefined): { code?: string } {
  return code === undefined ? {} : { code };
}

interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

function send(path: string, method: string, headers: Record<string, string>, localAddress?: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: idgate.ports.http, path, method, headers, timeout: 5_000, ...(localAddress ? { localAddress } : {}) },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

function fromHttp(res: RawResponse, mode: Mode): Verdict {
  const one = (name: string) => {
    const v = res.headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  };
  if (res.status === 200) {
    const set = Object.keys(res.headers).filter((n) => n.startsWith('x-idgate-'));
    const removed = (one('x-envoy-auth-headers-to-remove') ?? '').split(',').filter((n) => n !== '');
    const subject = one('x-idgate-subject');
    return { allow: true, status: 200, ...(subject ? { subject } : {}), strips: mode === 'envoy-http' ? [...set, ...removed].sort() : undefined };
  }
  // nginx's auth_request turns any 3xx into a 500: the HTTP mode must never send one to nginx.
  if (mode === 'nginx-http') expect(res.status < 300 || res.status >= 400).toBe(true);
  const nginxRedirect = mode === 'nginx-http' ? one('x-idgate-location') : undefined;
  if (nginxRedirect !== undefined) {
    // What examples/nginx/idgate.conf does with it: error_page 401 → return 302 $idgate_location.
    expect(res.status).toBe(401);
    expect(one('www-authenticate')).toContain('insufficient_user_authentication');
    return { allow: false, status: 302, ...codeOf(one('x-idgate-reason')), location: nginxRedirect };
  }
  const location = one('location');
  return { allow: false, status: res.status, ...codeOf(one('x-idgate-reason')), ...(location ? { location } : {}) };
}

async function decide(row: Row, mode: Mode, index: number): Promise<Verdict> {
  // One subject per row and front end: step-up sessions (and their loop cap) are per subject.
  const sub = `row${index}-${mode}`;
  const method = row.method ?? 'GET';
  const headers = await clientHeaders(row, sub);
  switch (mode) {
    case 'grpc':
      return fromGrpc(
        await grpc.check({
          attributes: {
            source: { address: { socket_address: { address: '198.51.100.4', port_value: 50123 } } },
            request: {
              http: {
                method,
                path: row.path,
                host: HOST,
                scheme: 'https',
                protocol: 'HTTP/1.1',
                headers: { ':authority': HOST, ':method': method, ':path': row.path, ':scheme': 'https', ...headers },
              },
            },
          },
        }),
      );
    case 'envoy-http':
      return fromHttp(await send(`/check${row.path}`, method, { host: HOST, 'x-forwarded-proto': 'https', ...headers }), mode);
    case 'nginx-http':
      return fromHttp(
        await send('/check', method, {
          host: 'idgate_authz',
          'x-original-uri': row.path,
          'x-original-method': method,
          'x-forwarded-method': method,
          'x-forwarded-host': HOST,
          'x-forwarded-proto': 'https',
          'x-forwarded-for': '198.51.100.4',
          ...headers,
        }),
        mode,
      );
    default: {
      const unreachable: never = mode;
      throw new Error(`unknown mode ${String(unreachable)}`);
    }
  }
}

describe('the same decision through gRPC, Envoy http_service and nginx auth_request', () => {
  it.each(ROWS.map((row, index) => [row.name, row, index] as const))('%s', async (_name, row, index) => {
    const verdicts = await Promise.all(MODES.map((mode) => decide(row, mode, index)));
    const normalised = verdicts.map((v) => ({
      allow: v.allow,
      status: v.status,
      ...(v.code !== undefined ? { code: v.code } : {}),
      ...(v.subject !== undefined ? { subject: true } : {}),
      ...(v.location !== undefined ? { location: true } : {}),
    }));
    for (const [i, v] of normalised.entries()) {
      expect({ mode: MODES[i], ...v }).toEqual({ mode: MODES[i], ...(row.expectedFor?.[MODES[i]!] ?? row.expected) });
    }
    for (const [i, v] of verdicts.entries()) {
      if (v.subject !== undefined) expect(v.subject).toBe(`test:row${index}-${MODES[i]}`);
      if (v.location !== undefined) expect(v.location).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/session\/[A-Za-z0-9]+$/);
    }
    if (row.extraHeaders !== undefined && row.expected.allow) {
      // gRPC and Envoy http_service: every client-sent identity header is overwritten or removed.
      for (const v of [verdicts[0]!, verdicts[1]!]) {
        for (const name of Object.keys(row.extraHeaders)) expect(v.strips).toContain(name.toLowerCase());
      }
    }
  });
});

describe('HTTP mode specifics', () => {
  it('answers allow with exactly 200, an empty body and no-store', async () => {
    const res = await send('/check/healthz', 'GET', { host: HOST });
    expect(res.status).toBe(200);
    expect(res.body).toBe('');
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('answers a denial with an RFC 9457 problem document and an RFC 6750 challenge', async () => {
    const res = await send('/check/api/items', 'GET', { host: HOST, accept: 'application/json' });
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.headers['www-authenticate']).toBe('Bearer realm="idgate"');
    expect(JSON.parse(res.body)).toMatchObject({ status: 401, code: 'token_missing' });
  });

  it('rejects forwarded headers from a peer outside network.trustedProxies with 400 request_invalid', async () => {
    // 127.0.0.2 is loopback too, but only 127.0.0.1/32 is a trusted proxy.
    const forwarded: Record<string, string>[] = [{ 'x-original-uri': '/healthz' }, { 'x-forwarded-uri': '/healthz', 'x-forwarded-host': HOST }, { 'x-forwarded-proto': 'https' }];
    for (const headers of forwarded) {
      const res = await send('/check/api/items', 'GET', { host: HOST, ...headers }, '127.0.0.2');
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body)).toMatchObject({ code: 'request_invalid', detail: expect.stringContaining('trusted proxies') });
    }
    // The same peer without them is an ordinary Envoy-style request.
    expect((await send('/check/healthz', 'GET', { host: HOST }, '127.0.0.2')).status).toBe(200);
  });

  it('answers a deadline deny at once when Envoy says its own timeout is already too short', async () => {
    const res = await send('/check/healthz', 'GET', { host: HOST, 'x-envoy-expected-rq-timeout-ms': '5' });
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBeDefined();
    expect(JSON.parse(res.body)).toMatchObject({ code: 'deadline_exceeded' });
    expect((await send('/check/healthz', 'GET', { host: HOST, 'x-envoy-expected-rq-timeout-ms': '250' })).status).toBe(200);
  });

  it('rejects a path outside the configured path prefix and a client-smuggled second X-Original-URI', async () => {
    const outside = await send('/healthz', 'GET', { host: HOST });
    expect(outside.status).toBe(400);
    expect(JSON.parse(outside.body)).toMatchObject({ code: 'request_invalid' });
    const raw = await new Promise<RawResponse>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: idgate.ports.http, path: '/check', method: 'GET', timeout: 5_000 }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.setHeader('host', 'idgate_authz');
      req.setHeader('x-original-uri', ['/healthz', '/api/items']);
      req.on('error', reject);
      req.end();
    });
    expect(raw.status).toBe(400);
  });
});
