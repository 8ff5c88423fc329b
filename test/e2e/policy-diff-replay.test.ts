import { spawnSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEnvoyClient, type EnvoyClient, type UpstreamCheckRequest } from '../support/envoy-client.js';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import { createTestKey, jwksOf, mintToken, type TestKey } from '../support/tokens.js';

/**
 * Decision ids, revisions and replay records end to end, then `idgate policy diff --replay` on the log:
 * a real idgate answers Checks over gRPC with tokens carrying PII claims and requests carrying cookies;
 * its decision log (replay on) is captured and replayed against an edited policy with one loosening and
 * one tightening.
 */
const CLI = resolve(import.meta.dirname, '../../dist/idgate/cli.js');
const AUD = 'idgate-test';
const dir = mkdtempSync(join(tmpdir(), 'idgate-policy-diff-'));

let jwks: JwksServer;
let key: TestKey;
let proc: IdgateProcess;
let client: EnvoyClient;

function configYaml(adminRoles: string, orderScopes: string): string {
  return `
server:
  grpc: { host: 127.0.0.1, port: 0 }
  httpAuthz: { host: 127.0.0.1, port: 0 }
  public: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0 }
  shutdownGrace: 1s
issuers:
  - name: test
    issuer: ${jwks.url}
    audiences: [${AUD}]
    jwksUri: ${jwks.jwksUrl}
    algorithms: [RS256]
context:
  countryHeader: x-geo-country
policy:
  default: deny
  routes:
    - id: orders
      match: { prefix: /orders }
      require: { scopes: [${orderScopes}] }
      conditions:
        - { name: embargo, when: { country: { in: [KP] } }, then: { deny: country_denied } }
    - id: admin
      match: { prefix: /admin }
      require: { roles: [${adminRoles}] }
store:
  type: memory
logging:
  level: info
  allowSampleRate: 1
  decisionReplay: true
`;
}

function check(path: string, token: string | undefined, country = 'ES'): { req: UpstreamCheckRequest; id: string } {
  const id = randomUUID();
  const headers: Record<string, string> = {
    ':authority': 'shop.example.com',
    ':method': 'GET',
    ':path': `${path}?q=private-search`,
    accept: 'application/json',
    'x-request-id': id,
    cookie: 'session=s3cr3t-cookie',
    'x-unrelated': 'not-for-the-log',
    'x-geo-country': country,
    ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
  };
  return {
    id,
    req: {
      attributes: {
        source: { address: { socket_address: { address: '203.0.113.9', port_value: 40000 } } },
        request: { http: { method: 'GET', path: `${path}?q=private-search`, host: 'shop.example.com', scheme: 'https', protocol: 'HTTP/2', headers } },
      },
    },
  };
}

const token = (claims: Record<string, unknown>): Promise<string> =>
  mintToken(key, { iss: jwks.url, aud: AUD, now: Date.now(), sub: 'alice', claims: { email: 'alice@example.com', name: 'Alice Example', ...claims } });

function policyDiff(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'policy', 'diff', ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const oldPath = join(dir, 'old.yaml');
const newPath = join(dir, 'new.yaml');
const logPath = join(dir, 'decisions.log');
/** The decision id of each request, by name. */
const ids: Record<string, string> = {};
let tokens: string[] = [];

beforeAll(async () => {
  key = await createTestKey('RS256');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  writeFileSync(oldPath, configYaml('admin', 'orders:read'));
  // One loosening (staff may now administer) and one tightening (orders also need orders:write).
  writeFileSync(newPath, configYaml('admin, staff', 'orders:read, orders:write'));
  proc = await startIdgate({ configYaml: '', configPath: oldPath, command: 'authz' });
  client = createEnvoyClient(`127.0.0.1:${proc.ports.grpc}`);
  const reader = await token({ scope: 'orders:read' });
  const staff = await token({ roles: ['staff'] });
  tokens = [reader, staff];
  const cases: [string, string, string | undefined, string?][] = [
    ['orders-allowed', '/orders/1', reader],
    ['admin-denied', '/admin/users', staff],
    ['orders-anonymous', '/orders/2', undefined],
    ['orders-embargo', '/orders/3', reader, 'KP'],
  ];
  for (const [name, path, t, country] of cases) {
    const { req, id } = check(path, t, country);
    const res = await client.check(req);
    const line = await proc.waitForLog((l) => l.msg === 'decision' && l.requestId === id);
    ids[name] = line.decisionId as string;
    const metadataId = res.dynamic_metadata?.fields?.decision_id?.stringValue;
    expect(metadataId, name).toBe(line.decisionId);
    if (res.denied_response !== undefined) {
      // What a user quotes in a support ticket finds the line.
      expect(JSON.parse(res.denied_response.body ?? '{}').decision_id, name).toBe(line.decisionId);
    }
  }
  writeFileSync(logPath, `${proc.output()}\nnot json at all\n`);
}, 60_000);

afterAll(async () => {
  client?.close();
  await proc?.stop();
  await jwks?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('decision log with replay records', () => {
  it('gives every decision its own id and names the platform revision (sha256 prefix of the file)', () => {
    const lines = proc.logs.filter((l) => l.msg === 'decision');
    expect(lines).toHaveLength(4);
    expect(new Set(lines.map((l) => l.decisionId)).size).toBe(4);
    for (const id of Object.values(ids)) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const revision = `platform@${createHash('sha256').update(readFileSync(oldPath)).digest('hex').slice(0, 12)}`;
    expect(lines.map((l) => l.revision)).toEqual([revision, revision, revision, revision]);
  });

  it('records only what the policy reads: no token, no unreferenced claim, header or query', () => {
    const lines = proc.logs.filter((l) => l.msg === 'decision');
    const staffLine = lines.find((l) => l.decisionId === ids['admin-denied']);
    expect(staffLine?.replay).toMatchObject({
      v: 1,
      request: { method: 'GET', scheme: 'https', host: 'shop.example.com', path: '/admin/users', sourceAddress: '203.0.113.9', headers: { 'x-geo-country': 'ES' } },
      auth: { kind: 'verified', issuer: 'test', subject: 'test:alice', claims: { roles: ['staff'] } },
    });
    const text = JSON.stringify(lines);
    for (const secret of [...tokens, ...tokens.map((t) => t.split('.')[1] as string), 'alice@example.com', 'Alice Example', 's3cr3t-cookie', 'not-for-the-log', 'private-search', 'x-unrelated', 'cookie']) {
      expect(text, secret).not.toContain(secret);
    }
    expect(lines.find((l) => l.decisionId === ids['orders-anonymous'])?.replay).toMatchObject({ auth: { kind: 'anonymous' } });
  });
});

describe('idgate policy diff', () => {
  it('static only: names the loosened and the tightened route and fails on the loosening', () => {
    const r = policyDiff('--from', oldPath, '--to', newPath);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('looser   route admin: anyRoles now also accepts staff');
    expect(r.stdout).toContain('stricter route orders: scopes added: orders:write');
  });

  it('with --replay: reports exactly the changed decisions by id, counts the rest, exits 1 on the loosening', () => {
    const r = policyDiff('--from', oldPath, '--to', newPath, '--replay', logPath, '--format', 'json');
    expect(r.code, r.stderr).toBe(1);
    const result = JSON.parse(r.stdout) as { replay: { replayed: number; unchanged: number; malformed: number; ignored: number; changed: unknown[] }; loosening: number; exitCode: number };
    expect(result.replay).toMatchObject({ replayed: 4, unchanged: 1, malformed: 1 });
    expect(result.replay.ignored).toBeGreaterThan(0);
    expect(result.replay.changed).toEqual([
      { decisionId: ids['orders-allowed'], direction: 'stricter', request: 'GET shop.example.com /orders/1', from: 'allow by orders', to: 'deny claims_mismatch by orders', detail: 'allow by orders → deny claims_mismatch by orders' },
      { decisionId: ids['admin-denied'], direction: 'looser', request: 'GET shop.example.com /admin/users', from: 'deny claims_mismatch by admin', to: 'allow by admin', detail: 'deny claims_mismatch by admin → allow by admin' },
      // Still denied, for another reason: the scope check (identity) now fails before the embargo condition.
      { decisionId: ids['orders-embargo'], direction: 'changed', request: 'GET shop.example.com /orders/3', from: 'deny country_denied by orders', to: 'deny claims_mismatch by orders', detail: 'deny country_denied by orders → deny claims_mismatch by orders' },
    ]);
    // Static: admin roles loosened, orders scopes tightened; replay: one loosened decision.
    expect(result.loosening).toBe(2);
    expect(result.exitCode).toBe(1);
  });

  it('--allow-loosening accepts it (exit 0) and the text report lists the decisions', () => {
    const r = policyDiff('--from', oldPath, '--to', newPath, '--replay', logPath, '--allow-loosening');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`looser   ${ids['admin-denied']} GET shop.example.com /admin/users: deny claims_mismatch by admin → allow by admin`);
    expect(r.stdout).toContain(`stricter ${ids['orders-allowed']} GET shop.example.com /orders/1`);
    expect(r.stdout).toContain('replay: 4 decision(s) from 1 file(s): 1 unchanged, 3 changed');
    expect(r.stdout).toContain('(allowed by --allow-loosening)');
  });

  it('the same policy on both sides changes nothing (exit 0)', () => {
    const r = policyDiff('--from', oldPath, '--to', oldPath, '--replay', logPath);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('replay: 4 decision(s) from 1 file(s): 4 unchanged, 0 changed');
  });

  it('exit 2 for an unusable config or log, and for bad usage', () => {
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'policy: { routes: [ { id: x } ] }\n');
    const bad = policyDiff('--from', oldPath, '--to', broken);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('broken.yaml');
    expect(policyDiff('--from', oldPath, '--to', newPath, '--replay', join(dir, 'missing.log')).code).toBe(2);
    expect(policyDiff('--from', oldPath).code).toBe(2);
  });
});
