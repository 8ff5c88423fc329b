import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDiditSandbox, type DiditSandbox } from '../../src/sandbox/index.js';
import { testConfigYaml } from '../support/config-yaml.js';
import { createEnvoyClient, type EnvoyClient, type UpstreamCheckRequest, type UpstreamCheckResponse } from '../support/envoy-client.js';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import { createTestKey, jwksOf, mintToken, type TestKey } from '../support/tokens.js';

/**
 * Shadow mode end to end: idgate authz processes whose routes (or whole policy) are in shadow mode answer
 * every would-be deny or step-up with an allow carrying `x-idgate-shadow-decision`, and log each one as
 * the decision it would have been, with `shadow: true`.
 */
const AUD = 'idgate-test';
const API_KEY = 'sbx_shadow_key';
const SECRET = 'sbx_shadow_secret';
const KYC = '9f1e0000-0000-4000-8000-0000000000a1';
const ADULT = '9f1e0000-0000-4000-8000-0000000000a2';

let jwks: JwksServer;
let sandbox: DiditSandbox;
let key: TestKey;
let routeShadow: IdgateProcess;
let globalShadow: IdgateProcess;
let routeClient: EnvoyClient;
let globalClient: EnvoyClient;

const SHADOW_ROUTES = `    - id: shadow-admin
      match: { prefix: /shadow/admin }
      shadow: true
      require: { scopes: [admin] }
    - id: shadow-kyc
      match: { prefix: /shadow/kyc }
      shadow: true
      require: { verification: [kyc] }
`;

function request(path: string, token?: string): { req: UpstreamCheckRequest; id: string } {
  const id = randomUUID();
  return {
    id,
    req: {
      attributes: {
        source: { address: { socket_address: { address: '203.0.113.9', port_value: 40000 } } },
        request: {
          http: {
            method: 'GET',
            path,
            host: 'shop.example.com',
            scheme: 'https',
            protocol: 'HTTP/2',
            headers: {
              ':authority': 'shop.example.com',
              ':method': 'GET',
              ':path': path,
              ':scheme': 'https',
              accept: 'application/json',
              'x-request-id': id,
              ...(token ? { authorization: `Bearer ${token}` } : {}),
            },
          },
        },
      },
    },
  };
}

const okHeader = (res: UpstreamCheckResponse, name: string): string | undefined =>
  res.ok_response?.headers?.find((h) => h.header.key === name)?.header.value;

const token = (scope: string, sub = 'alice'): Promise<string> =>
  mintToken(key, { iss: jwks.url, aud: AUD, now: Date.now(), sub, claims: { scope } });

async function metric(proc: IdgateProcess, line: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${proc.ports.admin}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}

beforeAll(async () => {
  key = await createTestKey('RS256');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  sandbox = createDiditSandbox({ logger: pino({ level: 'silent' }), apiKey: API_KEY, webhookSecret: SECRET });
  await sandbox.listen();
  const base = {
    issuer: jwks.url,
    jwksUri: jwks.jwksUrl,
    didit: { apiBaseUrl: sandbox.url, apiKey: API_KEY, webhookSecret: SECRET, kycWorkflowId: KYC, ageWorkflowId: ADULT },
  };
  const routeYaml = testConfigYaml({ ...base, extraRoutes: SHADOW_ROUTES });
  const globalYaml = testConfigYaml(base).replace('policy:\n  default: deny\n', 'policy:\n  default: deny\n  shadow: true\n');
  expect(globalYaml).toContain('  shadow: true\n');
  [routeShadow, globalShadow] = await Promise.all([
    startIdgate({ configYaml: routeYaml, command: 'authz' }),
    startIdgate({ configYaml: globalYaml, command: 'authz' }),
  ]);
  routeClient = createEnvoyClient(`127.0.0.1:${routeShadow.ports.grpc}`);
  globalClient = createEnvoyClient(`127.0.0.1:${globalShadow.ports.grpc}`);
}, 30_000);

afterAll(async () => {
  routeClient?.close();
  globalClient?.close();
  await Promise.all([routeShadow?.stop(), globalShadow?.stop()]);
  await sandbox?.close();
  await jwks?.close();
});

describe('shadow mode on one route', () => {
  it.each([
    { what: 'no token', path: '/shadow/admin/users', scope: undefined, would: 'deny:token_missing', outcome: 'deny', code: 'token_missing', status: 401 },
    { what: 'a token without the admin scope', path: '/shadow/admin/users', scope: 'read', would: 'deny:claims_mismatch', outcome: 'deny', code: 'claims_mismatch', status: 403 },
    // An API client (no text/html) would have got a 401 challenge, which is what the log records (issue 13).
    { what: 'a caller who must verify first', path: '/shadow/kyc/pay', scope: 'read', would: 'step_up:kyc', outcome: 'step_up', code: 'verification_required', status: 401 },
  ])('allows $what, tells the upstream "$would" and logs the would-be decision', async ({ path, scope, would, outcome, code, status }) => {
    const { req, id } = request(path, scope === undefined ? undefined : await token(scope));
    const res = await routeClient.check(req);
    expect(res.status?.code ?? 0).toBe(0);
    expect(res.http_response).toBe('ok_response');
    expect(okHeader(res, 'x-idgate-shadow-decision')).toBe(would);
    expect(res.dynamic_metadata?.fields?.shadow?.stringValue).toBe(would);
    const line = await routeShadow.waitForLog((l) => l.msg === 'decision' && l.requestId === id);
    expect(line).toMatchObject({ shadow: true, outcome, code, status, routeId: path.startsWith('/shadow/kyc') ? 'shadow-kyc' : 'shadow-admin' });
  });

  it('still denies on the routes that are not in shadow mode, and logs those without shadow', async () => {
    const { req, id } = request('/api/orders');
    const res = await routeClient.check(req);
    expect(res.denied_response?.status?.code).toBe(401);
    const line = await routeShadow.waitForLog((l) => l.msg === 'decision' && l.requestId === id);
    expect(line).toMatchObject({ outcome: 'deny', code: 'token_missing' });
    expect(line.shadow).toBeUndefined();
  });

  it('lets an allowed request through untouched (no shadow header) and counts shadow decisions by would-be outcome', async () => {
    const { req } = request('/shadow/admin/users', await token('admin'));
    const res = await routeClient.check(req);
    expect(res.http_response).toBe('ok_response');
    expect(okHeader(res, 'x-idgate-shadow-decision')).toBeUndefined();
    expect(okHeader(res, 'x-idgate-subject')).toBe('test:alice');
    expect(await metric(routeShadow, 'idgate_shadow_decisions_total{would="deny"}')).toBeGreaterThanOrEqual(2);
    expect(await metric(routeShadow, 'idgate_shadow_decisions_total{would="step_up"}')).toBeGreaterThanOrEqual(1);
  });
});

describe('shadow mode for the whole policy (policy.shadow: true)', () => {
  it.each([
    { what: 'no token on a protected route', path: '/api/orders', scope: undefined, code: 'token_missing' },
    { what: 'missing scope', path: '/api/orders', scope: 'write', code: 'claims_mismatch' },
    { what: 'no matching route', path: '/nowhere', scope: 'read', code: 'no_route' },
  ])('allows $what and logs deny:$code with shadow: true', async ({ path, scope, code }) => {
    const { req, id } = request(path, scope === undefined ? undefined : await token(scope));
    const res = await globalClient.check(req);
    expect(res.http_response).toBe('ok_response');
    expect(okHeader(res, 'x-idgate-shadow-decision')).toBe(`deny:${code}`);
    const line = await globalShadow.waitForLog((l) => l.msg === 'decision' && l.requestId === id);
    expect(line).toMatchObject({ shadow: true, outcome: 'deny', code });
  });

  it('shadows a step-up too', async () => {
    const { req, id } = request('/payments/checkout', await token('read', 'bob'));
    const res = await globalClient.check(req);
    expect(okHeader(res, 'x-idgate-shadow-decision')).toBe('step_up:kyc');
    const line = await globalShadow.waitForLog((l) => l.msg === 'decision' && l.requestId === id);
    expect(line).toMatchObject({ shadow: true, outcome: 'step_up', routeId: 'payments' });
  });
});
