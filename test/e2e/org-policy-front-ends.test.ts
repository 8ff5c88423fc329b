import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest, outcomeOf } from '../support/check-requests.js';
import { testConfigYaml } from '../support/config-yaml.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import { startOrgProcess, type OrgProcess } from '../support/org-process.js';
import { createTestKey, jwksOf, mintToken, type TestKey } from '../support/tokens.js';

/**
 * Org-wide policy end to end (issue #14): a real `idgate authz` process reading a platform file and two team
 * files from disk, asked over both front ends (gRPC ext_authz and HTTP mode), then reloaded: a team's change
 * applies, a broken team file keeps that team's last good routes, and a team whose file never loaded denies
 * its requests with 503 `policy_unavailable`. Each case asserts the same answer from both front ends, and
 * over gRPC the layer and rule the dynamic metadata names.
 */
let jwks: JwksServer;
let key: TestKey;
let org: OrgProcess;

const PAYMENTS = `routes:
  - { id: refunds, match: { paths: [{ prefix: /refunds }] }, require: { scopes: [refunds] } }
  - { id: fees, match: { paths: [{ prefix: /fees }] }, public: true }
`;
const CATALOG = `routes:
  - { id: browse, match: { paths: [{ prefix: /catalog }] }, public: true }
`;
const PLATFORM_POLICY = (extraTenant = '') => `  guardrails:
    - id: embargo
      match: { paths: [{ glob: /** }] }
      conditions: [{ name: embargo, when: { country: { in: [KP] } }, then: deny }]
    - { id: pay-floor, match: { hosts: [pay.example.com] }, require: { scopes: [pay] } }
  tenants:
    - { name: payments, owns: { hosts: [pay.example.com] }, files: [teams/payments.yaml] }
    - { name: catalog, owns: { hosts: [shop.example.com], prefixes: [/catalog] }, files: [teams/catalog.yaml] }
${extraTenant}  defaults:
    routes:
      - { id: healthz, match: { paths: [{ exact: /healthz }] }, public: true }`;

function platformYaml(extraTenant = ''): string {
  return `${testConfigYaml({ issuer: jwks.url, jwksUri: jwks.jwksUrl, policyYaml: PLATFORM_POLICY(extraTenant) })}context:\n  countryHeader: x-geo-country\n`;
}

const token = (scope: string): Promise<string> => mintToken(key, { iss: jwks.url, aud: 'idgate-test', now: Date.now(), sub: 'alice', claims: { scope } });

interface Answer {
  readonly grpc: string;
  readonly http: string;
  readonly layer?: string;
  readonly rule?: string;
}

async function ask(host: string, path: string, bearer?: string, country = 'ES'): Promise<Answer> {
  const headers = { 'x-geo-country': country };
  const res = await org.grpc.check(checkRequest({ host, path, ...(bearer !== undefined ? { token: bearer } : {}), headers }));
  const fields = res.dynamic_metadata?.fields;
  const http = await new Promise<string>((resolve, reject) => {
    const raw = ['host', host, 'accept', 'application/json', 'x-geo-country', country, ...(bearer !== undefined ? ['authorization', `Bearer ${bearer}`] : [])];
    const req = httpRequest({ host: '127.0.0.1', port: org.idgate.ports.http, path: `/check${path}`, headers: raw, timeout: 5_000 }, (r) => {
      r.resume();
      r.on('end', () => resolve(r.statusCode === 200 ? 'allow' : `${String(r.statusCode)} ${String(r.headers['x-idgate-reason'])}`));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
  const status = res.denied_response?.status?.code;
  return {
    grpc: outcomeOf(res) === 'allow' ? 'allow' : `${String(status)} ${outcomeOf(res)}`,
    http,
    ...(fields?.layer?.stringValue !== undefined ? { layer: fields.layer.stringValue } : {}),
    ...(fields?.rule?.stringValue !== undefined ? { rule: fields.rule.stringValue } : {}),
  };
}

/** Both front ends answer `expected` (`allow` or `<status> <code>`). */
async function expectBoth(host: string, path: string, bearer: string | undefined, expected: string, country?: string): Promise<Answer> {
  const answer = await ask(host, path, bearer, country);
  expect({ grpc: answer.grpc, http: answer.http }, `${host}${path}`).toEqual({ grpc: expected, http: expected });
  return answer;
}

/** Polls until `host path` answers `expected` on gRPC (a reload is asynchronous), then checks both. */
async function eventuallyBoth(host: string, path: string, bearer: string | undefined, expected: string): Promise<Answer> {
  const until = Date.now() + 15_000;
  while ((await ask(host, path, bearer)).grpc !== expected && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
  return expectBoth(host, path, bearer, expected);
}

const write = (name: string, text: string): void => org.write(name, text);

beforeAll(async () => {
  key = await createTestKey('ES256');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  org = await startOrgProcess({ 'teams/payments.yaml': PAYMENTS, 'teams/catalog.yaml': CATALOG, 'platform.yaml': platformYaml() });
}, 30_000);

afterAll(async () => {
  await Promise.all([org?.stop(), jwks?.close()]);
});

describe('org-wide policy on a running process, gRPC and HTTP mode', () => {
  it('a guardrail floor turns a team\'s public route into one that needs the floor', async () => {
    await expectBoth('pay.example.com', '/fees', undefined, '401 token_missing');
    const denied = await expectBoth('pay.example.com', '/fees', await token('refunds'), '403 claims_mismatch');
    expect(denied).toMatchObject({ layer: 'guardrail', rule: 'pay-floor' });
    await expectBoth('pay.example.com', '/fees', await token('pay'), 'allow');
  });

  it('a team route and the guardrail floor both hold (stricter wins)', async () => {
    await expectBoth('pay.example.com', '/refunds', await token('pay'), '403 claims_mismatch');
    await expectBoth('pay.example.com', '/refunds', await token('refunds'), '403 claims_mismatch');
    await expectBoth('pay.example.com', '/refunds', await token('pay refunds'), 'allow');
  });

  it('a guardrail deny cannot be undone by a team\'s public route', async () => {
    await expectBoth('shop.example.com', '/catalog/shoes', undefined, 'allow');
    const embargoed = await expectBoth('shop.example.com', '/catalog/shoes', undefined, '403 country_denied', 'KP');
    expect(embargoed).toMatchObject({ layer: 'guardrail', rule: 'embargo' });
  });

  it('ownership decides: an owned request never reaches the platform routes; an unowned one does', async () => {
    // /api on shop.example.com is not owned by catalog (it owns /catalog): the platform route `api` decides.
    await expectBoth('shop.example.com', '/api/orders', await token('read'), 'allow');
    // /api on pay.example.com is owned by payments, which has no such route and the defaults neither.
    const owned = await expectBoth('pay.example.com', '/api/orders', await token('read pay'), '403 no_route');
    expect(owned.layer).toBe('default');
    // The defaults serve owned requests no team route matched; the guardrail floor still applies to them.
    await expectBoth('pay.example.com', '/healthz', undefined, '401 token_missing');
    await expectBoth('pay.example.com', '/healthz', await token('pay'), 'allow');
  });

  it('reload: a team\'s change applies; a broken team file keeps that team\'s last good routes', async () => {
    write('teams/catalog.yaml', 'routes:\n  - { id: browse, match: { paths: [{ prefix: /catalog }] }, require: { scopes: [browse] } }\n');
    write('teams/payments.yaml', 'routes:\n  - { id: refunds, match: { paths: [{ prefix: /refunds }] }, public: yes-please }\n');
    await eventuallyBoth('shop.example.com', '/catalog/shoes', undefined, '401 token_missing');
    await expectBoth('shop.example.com', '/catalog/shoes', await token('browse'), 'allow');
    // payments is stale: its last good routes still decide (refunds needs the scope, fees is public + floor).
    await expectBoth('pay.example.com', '/refunds', await token('pay'), '403 claims_mismatch');
    await expectBoth('pay.example.com', '/fees', await token('pay'), 'allow');
  });

  it('a team whose file never loaded denies what it owns with 503 policy_unavailable; the others serve', async () => {
    write('platform.yaml', platformYaml('    - { name: search, owns: { hosts: [search.example.com] }, files: [teams/search.yaml] }\n'));
    const failed = await eventuallyBoth('search.example.com', '/q', await token('read'), '503 policy_unavailable');
    expect(failed).toMatchObject({ layer: 'tenant', rule: 'search' });
    await expectBoth('shop.example.com', '/catalog/shoes', await token('browse'), 'allow');
    write('teams/search.yaml', 'routes:\n  - { id: q, match: { paths: [{ prefix: /q }] }, public: true }\n');
    await eventuallyBoth('search.example.com', '/q', undefined, 'allow');
  });
});
