import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfigYaml } from '../support/config-yaml.js';
import { createEnvoyClient, type EnvoyClient, type UpstreamCheckRequest, type UpstreamCheckResponse } from '../support/envoy-client.js';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import { createTestKey, jwksOf, mintToken, type TestKey } from '../support/tokens.js';

/**
 * Issue 18 §3, end to end through BOTH front ends of running `idgate authz` processes (the built CLI):
 * - method override: `DELETE /orders` is reserved for scope `admin`; a read-only caller sends `POST /orders`
 *   asking for DELETE through `X-HTTP-Method-Override`, `X-HTTP-Method`, `X-Method-Override` or `?_method=`.
 *   With the default `policy.methodOverride: deny` that is a 400 `method_override`; with `honor` it is
 *   evaluated as the DELETE it becomes upstream (403 `claims_mismatch`).
 * - host syntax: `admin.example.com` needs scope `admin`, a catch-all after it only `read`. Hosts that are
 *   not valid authority syntax must be a 400 `request_invalid`, never the catch-all.
 * (Build first: `npx tsc -p .`.)
 */

const AUD = 'idgate-test';
const ROUTES = `    - id: admin-host
      match: { host: admin.example.com }
      require: { scopes: [admin] }
    - id: orders-delete
      match: { prefix: /orders, methods: [DELETE] }
      require: { scopes: [admin] }
    - id: orders
      match: { prefix: /orders }
      require: { scopes: [read] }
    - id: catch-all
      match: { prefix: / }
      require: { scopes: [read] }
`;

let jwks: JwksServer;
let key: TestKey;
let denyMode: IdgateProcess;
let honorMode: IdgateProcess;
let denyClient: EnvoyClient;
let honorClient: EnvoyClient;
let readToken: string;

beforeAll(async () => {
  key = await createTestKey('ES256', 'attack-key');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  // A generous decision budget: this suite checks decisions, not latency, on a shared 2-core machine.
  const yaml = testConfigYaml({ issuer: jwks.url, jwksUri: jwks.jwksUrl, extraRoutes: ROUTES, grpcYaml: 'decisionTimeout: 3s' });
  denyMode = await startIdgate({ configYaml: yaml, command: 'authz' });
  honorMode = await startIdgate({ configYaml: yaml.replace('policy:\n', 'policy:\n  methodOverride: honor\n'), command: 'authz' });
  denyClient = createEnvoyClient(`127.0.0.1:${denyMode.ports.grpc}`);
  honorClient = createEnvoyClient(`127.0.0.1:${honorMode.ports.grpc}`);
  readToken = await mintToken(key, { iss: jwks.url, aud: AUD, now: Date.now(), sub: 'reader', claims: { scope: 'read' }, ttlSeconds: 600 });
}, 30_000);

afterAll(async () => {
  denyClient?.close();
  honorClient?.close();
  await denyMode?.stop();
  await honorMode?.stop();
  await jwks?.close();
});

interface Attempt {
  readonly method: string;
  readonly path: string;
  readonly host: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** `allow` or the deny code, over gRPC. */
async function viaGrpc(client: EnvoyClient, a: Attempt): Promise<string> {
  const headers = { ':authority': a.host, ':method': a.method, ':path': a.path, ':scheme': 'https', authorization: `Bearer ${readToken}`, ...a.headers };
  const req: UpstreamCheckRequest = {
    attributes: {
      source: { address: { socket_address: { address: '203.0.113.7', port_value: 50000 } } },
      request: { http: { method: a.method, path: a.path, host: a.host, scheme: 'https', protocol: 'HTTP/2', headers } },
    },
  };
  const res: UpstreamCheckResponse = await client.check(req, { deadlineMs: 10_000 });
  if ((res.status?.code ?? 0) === 0) return 'allow';
  return String((JSON.parse(res.denied_response?.body ?? '{}') as { code?: string }).code);
}

/**
 * `allow` or the deny code, over the HTTP mode as Envoy `http_service` calls it (the original request's
 * method, `/check` + path and Host). The Host header is written raw on a socket-level request so that
 * values Node's client would refuse still reach idgate as a client could send them.
 */
function viaHttp(proc: IdgateProcess, a: Attempt): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port: proc.ports.http,
        method: a.method,
        path: `/check${a.path}`,
        headers: { host: a.host, authorization: `Bearer ${readToken}`, ...a.headers },
        insecureHTTPParser: true,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(res.statusCode === 200 ? 'allow' : String((JSON.parse(body || '{}') as { code?: string }).code ?? `status_${res.statusCode}`)));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

const OVERRIDES: readonly [string, Partial<Attempt>][] = [
  ['X-HTTP-Method-Override', { headers: { 'x-http-method-override': 'DELETE' } }],
  ['X-HTTP-Method', { headers: { 'x-http-method': 'DELETE' } }],
  ['X-Method-Override', { headers: { 'x-method-override': 'delete' } }],
  ['?_method=', { path: '/orders/7?_method=DELETE' }],
  ['?_method= with an encoded name', { path: '/orders/7?%5Fmethod=DELETE' }],
  ['?_method= among other parameters', { path: '/orders/7?a=1&_METHOD=Delete' }],
];

describe('method override (both front ends)', () => {
  it('the baseline holds: the read-only caller may POST but not DELETE', async () => {
    for (const via of [(a: Attempt) => viaGrpc(denyClient, a), (a: Attempt) => viaHttp(denyMode, a)]) {
      expect(await via({ method: 'POST', path: '/orders/7', host: 'shop.example.com' })).toBe('allow');
      expect(await via({ method: 'DELETE', path: '/orders/7', host: 'shop.example.com' })).toBe('claims_mismatch');
    }
  });

  it.each(OVERRIDES)('policy.methodOverride deny (default): POST + %s DELETE → 400 method_override', async (_name, attempt) => {
    const a: Attempt = { method: 'POST', path: '/orders/7', host: 'shop.example.com', ...attempt };
    expect(await viaGrpc(denyClient, a)).toBe('method_override');
    expect(await viaHttp(denyMode, a)).toBe('method_override');
  });

  it.each(OVERRIDES)('policy.methodOverride honor: POST + %s DELETE is evaluated as DELETE → 403 claims_mismatch', async (_name, attempt) => {
    const a: Attempt = { method: 'POST', path: '/orders/7', host: 'shop.example.com', ...attempt };
    expect(await viaGrpc(honorClient, a)).toBe('claims_mismatch');
    expect(await viaHttp(honorMode, a)).toBe('claims_mismatch');
  });

  it('an override equal to the method passes; disagreeing overrides are refused even when honoured', async () => {
    const same: Attempt = { method: 'POST', path: '/orders/7', host: 'shop.example.com', headers: { 'x-http-method-override': 'post' } };
    const split: Attempt = { method: 'POST', path: '/orders/7?_method=GET', host: 'shop.example.com', headers: { 'x-http-method-override': 'DELETE' } };
    for (const [client, proc] of [[denyClient, denyMode], [honorClient, honorMode]] as const) {
      expect(await viaGrpc(client, same)).toBe('allow');
      expect(await viaHttp(proc, same)).toBe('allow');
      expect(await viaGrpc(client, split)).toBe('method_override');
      expect(await viaHttp(proc, split)).toBe('method_override');
    }
  });
});

describe('host syntax (both front ends)', () => {
  it('the baseline holds: admin.example.com needs admin, other hosts fall to the catch-all', async () => {
    expect(await viaGrpc(denyClient, { method: 'GET', path: '/x', host: 'admin.example.com' })).toBe('claims_mismatch');
    expect(await viaHttp(denyMode, { method: 'GET', path: '/x', host: 'admin.example.com' })).toBe('claims_mismatch');
    expect(await viaGrpc(denyClient, { method: 'GET', path: '/x', host: 'other.example.com' })).toBe('allow');
    expect(await viaHttp(denyMode, { method: 'GET', path: '/x', host: 'other.example.com:8443' })).toBe('allow');
  });

  it.each([
    'x@admin.example.com',
    'admin.example.com%2e',
    'admin.example.com\\',
    'admin.example.com..',
    'admin..example.com',
    'admin.example.com:0',
    'admin.example.com:https',
  ])('%j → 400 request_invalid, never the catch-all', async (host) => {
    expect(await viaGrpc(denyClient, { method: 'GET', path: '/x', host })).toBe('request_invalid');
    expect(await viaHttp(denyMode, { method: 'GET', path: '/x', host })).toBe('request_invalid');
  });

  it.each(['', 'admin example.com', ' admin.example.com', 'admin.example.com\t'])('gRPC only (Node\'s HTTP parser trims or refuses it first): %j → 400 request_invalid', async (host) => {
    expect(await viaGrpc(denyClient, { method: 'GET', path: '/x', host })).toBe('request_invalid');
  });

  it('processes stayed up', () => {
    expect(denyMode.child.exitCode).toBeNull();
    expect(honorMode.child.exitCode).toBeNull();
  });
});
