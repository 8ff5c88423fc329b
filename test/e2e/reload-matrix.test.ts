import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxScenario } from '../../src/sandbox/build-sandbox-decision.js';
import { createDiditSandbox, type DiditSandbox } from '../../src/sandbox/create-didit-sandbox.js';
import { createEnvoyClient, type EnvoyClient, type UpstreamCheckResponse } from '../support/envoy-client.js';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import { createTestKey, jwksOf, mintToken, type TestKey } from '../support/tokens.js';

/**
 * Issue 18 §2: a reload that says "applied" is applied everywhere, or refused per section. One `idgate
 * serve` process (gRPC, HTTP authz, webhook server, verification gate, reconciler) watches a config file
 * the test rewrites; each case changes one key and checks the running behaviour — through the gRPC front
 * end, and through real Didit-sandbox verifications whose signed webhooks the same process settles.
 * Keys that need a restart must be refused with a warning and
 * `idgate_config_reload_refused_total{section,reason="restart_required"}`, the old behaviour kept.
 */
const API_KEY = 'reload-matrix-api-key';
const SECRET = 'reload-matrix-webhook-secret-0123456789';
const ADULT = '22222222-3333-4444-8555-000000000001';
const EXTRA = '22222222-3333-4444-8555-000000000002';

let jwksA: JwksServer;
let jwksB: JwksServer;
let keyA: TestKey;
let keyB: TestKey;
let sandbox: DiditSandbox;
let dir: string;
let file: string;
let idgate: IdgateProcess;
let client: EnvoyClient;
let version = 0;

interface Knobs {
  adult?: string;
  issuerB?: boolean;
  extraWorkflow?: boolean;
  countryHeader?: string;
  trustedProxies?: string;
  allowSampleRate?: number;
  logLevel?: string;
  riskEnabled?: boolean;
  headerPrefix?: string;
  maxStepUps?: number;
  store?: string;
  grpcTimeout?: string;
  policyDefault?: string;
  apiKeyOverride?: string;
}

const BASE: Required<Knobs> = {
  adult: 'minAge: 18',
  issuerB: true,
  extraWorkflow: false,
  countryHeader: '',
  trustedProxies: '',
  allowSampleRate: 0,
  logLevel: 'info',
  riskEnabled: false,
  headerPrefix: 'x-idgate-',
  maxStepUps: 20,
  store: 'type: memory',
  grpcTimeout: '1500ms',
  policyDefault: 'deny',
  apiKeyOverride: '',
};

function yaml(k: Knobs = {}): string {
  const o = { ...BASE, ...k };
  return `
server:
  grpc: { host: 127.0.0.1, port: 0, decisionTimeout: ${o.grpcTimeout} }
  httpAuthz: { host: 127.0.0.1, port: 0 }
  public: { host: 127.0.0.1, port: 0, baseUrl: "http://127.0.0.1:0" }
  admin: { host: 127.0.0.1, port: 0 }
  shutdownGrace: 2s
issuers:
  - name: corp
    issuer: ${jwksA.url}
    audiences: [idgate-test]
    jwksUri: ${jwksA.jwksUrl}
    algorithms: [ES256]
${o.issuerB ? `  - name: partner
    issuer: ${jwksB.url}
    audiences: [idgate-test]
    jwksUri: ${jwksB.jwksUrl}
    algorithms: [ES256]
` : ''}headers:
  prefix: ${o.headerPrefix}
workflows:
  adult: { workflowId: ${ADULT}, ${o.adult} }
${o.extraWorkflow ? `  extra: { workflowId: ${EXTRA} }\n` : ''}didit:
  mode: sandbox
  apiBaseUrl: ${sandbox.url}
  apiKey: ${o.apiKeyOverride || API_KEY}
  webhookSecret: ${SECRET}
  requestTimeout: 2s
  maxRetries: 0
  maxStepUps: ${o.maxStepUps}
${o.countryHeader ? `context:\n  countryHeader: ${o.countryHeader}\n` : ''}${o.riskEnabled ? 'risk:\n  enabled: true\n' : ''}policy:
  default: ${o.policyDefault}
  routes:
    - id: api
      match: { prefix: /api }
      require: { authenticated: true }
${o.countryHeader ? `      conditions:\n        - { name: no-es, when: { country: { in: [ES] } }, then: deny }\n` : ''}${o.trustedProxies ? `      conditions:\n        - { name: no-doc-net, when: { sourceIp: { in: [203.0.113.0/24] } }, then: deny }\n` : ''}    - id: adult
      match: { prefix: /adult }
      require: { verification: [adult] }
${o.extraWorkflow ? `    - id: extra
      match: { prefix: /extra }
      require: { verification: [extra] }
` : ''}store:
  ${o.store}
${o.trustedProxies ? `network:\n  trustedProxies: [${o.trustedProxies}]\n` : ''}logging:
  level: ${o.logLevel}
  allowSampleRate: ${o.allowSampleRate}
`;
}

/** Replaces the watched file atomically (write + rename, as an editor or `kubectl cp` would). */
function publish(text: string): void {
  version += 1;
  const tmp = join(dir, `.idgate.yaml.${version}`);
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** Publishes `text` and resolves with the first matching log line printed after it. */
async function reloadTo(text: string, pred: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  const from = idgate.logs.length;
  publish(text);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = idgate.logs.slice(from).find(pred);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no matching log line after the reload:\n${idgate.output().split('\n').slice(-20).join('\n')}`);
    await sleep(25);
  }
}
const reloaded = (l: Record<string, unknown>) => typeof l.msg === 'string' && l.msg.startsWith('policy reloaded');
const rejected = (l: Record<string, unknown>) => l.msg === 'config reload rejected; keeping the current policy';

/** Reloads and expects a successful reload with nothing refused. */
async function apply(k: Knobs): Promise<void> {
  const line = await reloadTo(yaml(k), (l) => reloaded(l) || rejected(l));
  expect(line.msg, JSON.stringify(line)).toBe('policy reloaded');
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${idgate.ports.admin}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(`${name} `));
  return found === undefined ? 0 : Number(found.slice(name.length + 1));
}

async function check(opts: { sub: string; path: string; key?: TestKey; iss?: string; headers?: Record<string, string> }): Promise<UpstreamCheckResponse> {
  const token = await mintToken(opts.key ?? keyA, { iss: opts.iss ?? jwksA.url, aud: 'idgate-test', now: Date.now(), sub: opts.sub, ttlSeconds: 600 });
  return client.check({
    attributes: {
      source: { address: { socket_address: { address: '198.51.100.4', port_value: 40000 } } },
      request: {
        http: {
          method: 'GET',
          path: opts.path,
          host: 'shop.example.com',
          scheme: 'https',
          headers: { ':authority': 'shop.example.com', ':method': 'GET', ':path': opts.path, authorization: `Bearer ${token}`, ...opts.headers },
        },
      },
    },
  });
}

/** `allow`, or `<status>:<code>` of the denial. */
function outcome(res: UpstreamCheckResponse): string {
  if ((res.status?.code ?? 0) === 0 && res.http_response === 'ok_response') return 'allow';
  const body = JSON.parse(res.denied_response?.body || '{}') as { code?: string };
  return `${res.denied_response?.status?.code}:${body.code}`;
}

async function eventually(fn: () => Promise<string>, want: string, timeoutMs = 8_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  let v = await fn();
  while (v !== want && Date.now() < end) {
    await sleep(50);
    v = await fn();
  }
  return v;
}

/** Runs a verification for `sub` on `path` and has the sandbox decide it (signed webhook to idgate). */
async function verify(sub: string, path: string, scenario: SandboxScenario = {}): Promise<void> {
  // A first Check may answer with idgate's start URL while the session is still being created (issue 13:
  // a Check waits at most didit.stepUpWait): ask again until the pending session's id comes back.
  const sessionOf = (r: Awaited<ReturnType<typeof check>>) =>
    (JSON.parse(r.denied_response?.body ?? '{}') as { session_id?: string }).session_id;
  let res = await check({ sub, path });
  for (const end = Date.now() + 8_000; sessionOf(res) === undefined && Date.now() < end; ) {
    expect(outcome(res)).toBe('401:verification_required');
    await sleep(50);
    res = await check({ sub, path });
  }
  expect(outcome(res)).toBe('401:verification_required');
  const sessionId = sessionOf(res);
  expect(sessionId, 'no pending session within 8 s').toBeDefined();
  await sandbox.decide(sessionId!, 'Approved', scenario);
}

beforeAll(async () => {
  keyA = await createTestKey('ES256', 'a1');
  keyB = await createTestKey('ES256', 'b1');
  jwksA = await startJwksServer({ keys: jwksOf(keyA) });
  jwksB = await startJwksServer({ keys: jwksOf(keyB) });
  sandbox = createDiditSandbox({ logger: pino({ level: 'silent' }), apiKey: API_KEY, webhookSecret: SECRET, retryDelaysMs: [300, 600] });
  await sandbox.listen();
  dir = mkdtempSync(join(tmpdir(), 'idgate-reload-matrix-'));
  file = join(dir, 'idgate.yaml');
  writeFileSync(file, yaml());
  idgate = await startIdgate({ configYaml: '', configPath: file, command: 'serve' });
  sandbox.setWebhookUrl(`http://127.0.0.1:${idgate.ports.public}/webhooks/didit`);
  client = createEnvoyClient(`127.0.0.1:${idgate.ports.grpc}`);
}, 30_000);

afterAll(async () => {
  client?.close();
  await idgate?.stop();
  await sandbox?.close();
  await jwksA?.close();
  await jwksB?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('reloadable keys take effect everywhere on a running process', () => {
  it('workflows.requireAmlClear: an approved user with an AML hit is denied after the reload, allowed again after the reverse', async () => {
    await verify('amy', '/adult/x', { amlHit: true });
    expect(await eventually(async () => outcome(await check({ sub: 'amy', path: '/adult/x' })), 'allow')).toBe('allow');
    await apply({ adult: 'minAge: 18, requireAmlClear: true' });
    expect(outcome(await check({ sub: 'amy', path: '/adult/x' }))).toBe('403:verification_insufficient');
    await apply({ adult: 'minAge: 18' });
    expect(outcome(await check({ sub: 'amy', path: '/adult/x' }))).toBe('allow');
  });

  it('workflows.requireDocumentValid: both directions', async () => {
    await verify('dora', '/adult/x', { documentExpired: true });
    expect(await eventually(async () => outcome(await check({ sub: 'dora', path: '/adult/x' })), 'allow')).toBe('allow');
    await apply({ adult: 'minAge: 18, requireDocumentValid: true' });
    expect(outcome(await check({ sub: 'dora', path: '/adult/x' }))).toBe('403:verification_insufficient');
    await apply({ adult: 'minAge: 18' });
    expect(outcome(await check({ sub: 'dora', path: '/adult/x' }))).toBe('allow');
  });

  it('workflows.minAge: raised → the gate asks again and the webhook server checks the new age; lowered back → verified again → allowed', async () => {
    await verify('mia', '/adult/x'); // born 1990
    expect(await eventually(async () => outcome(await check({ sub: 'mia', path: '/adult/x' })), 'allow')).toBe('allow');
    await apply({ adult: 'minAge: 60' });
    // The age on record was checked against 18: it says nothing about 60, so verify again…
    await verify('mia', '/adult/x');
    // …and the webhook server settles the new session against 60 (it would keep re-asking if it still used 18).
    expect(await eventually(async () => outcome(await check({ sub: 'mia', path: '/adult/x' })), '403:verification_insufficient')).toBe(
      '403:verification_insufficient',
    );
    // Lowered back: "not met at 60" says nothing about 18, so verify again (not a stale denial, not a free pass).
    await apply({ adult: 'minAge: 18' });
    await verify('mia', '/adult/x');
    expect(await eventually(async () => outcome(await check({ sub: 'mia', path: '/adult/x' })), 'allow')).toBe('allow');
  });

  it('workflows: a workflow added by reload is stepped up by the gate and settled by the webhook server', async () => {
    await apply({ extraWorkflow: true });
    await verify('eve', '/extra/x');
    expect(await eventually(async () => outcome(await check({ sub: 'eve', path: '/extra/x' })), 'allow')).toBe('allow');
    await apply({});
    expect(outcome(await check({ sub: 'eve', path: '/extra/x' }))).toBe('403:no_route');
  });

  it('issuers: removing a compromised issuer stops its tokens at once (token cache included); adding it back restores them', async () => {
    expect(outcome(await check({ sub: 'pat', path: '/api/x', key: keyB, iss: jwksB.url }))).toBe('allow');
    await apply({ issuerB: false });
    expect(outcome(await check({ sub: 'pat', path: '/api/x', key: keyB, iss: jwksB.url }))).toBe('401:token_invalid');
    expect(outcome(await check({ sub: 'cid', path: '/api/x' }))).toBe('allow');
    await apply({});
    expect(outcome(await check({ sub: 'pat', path: '/api/x', key: keyB, iss: jwksB.url }))).toBe('allow');
  });

  it('context.countryHeader: the header is read after the reload', async () => {
    const es = { 'x-geo-country': 'ES' };
    expect(outcome(await check({ sub: 'cid', path: '/api/x', headers: es }))).toBe('allow');
    await apply({ countryHeader: 'x-geo-country' });
    expect(outcome(await check({ sub: 'cid', path: '/api/x', headers: es }))).toBe('403:country_denied');
    await apply({});
  });

  it('network.trustedProxies: the HTTP authz front end trusts the new proxy set', async () => {
    const token = await mintToken(keyA, { iss: jwksA.url, aud: 'idgate-test', now: Date.now(), sub: 'cid', ttlSeconds: 600 });
    const ask = async () =>
      (await fetch(`http://127.0.0.1:${idgate.ports.http}/check/api/x`, {
        headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': '203.0.113.9' },
      })).status;
    // Two reloads: the condition (policy) first, then the proxy it depends on (network).
    await apply({ trustedProxies: '"10.9.9.9/32"' });
    expect(await ask()).toBe(200); // 127.0.0.1 is not trusted: its x-forwarded-for is ignored
    await apply({ trustedProxies: '"127.0.0.1/32"' });
    expect(await ask()).toBe(403); // now the client is 203.0.113.9
    await apply({});
  });

  it('logging.allowSampleRate: allows start to be logged after the reload', async () => {
    const allowLogged = () => idgate.logs.filter((l) => l.msg === 'decision' && l.outcome === 'allow').length;
    const before = allowLogged();
    expect(outcome(await check({ sub: 'cid', path: '/api/x' }))).toBe('allow');
    await apply({ allowSampleRate: 1 });
    expect(allowLogged()).toBe(before);
    expect(outcome(await check({ sub: 'cid', path: '/api/x' }))).toBe('allow');
    await sleep(0);
    await expectEventually(() => allowLogged() > before);
    await apply({});
  });
});

async function expectEventually(pred: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await sleep(25);
  }
}

describe('keys that need a restart are refused with a warning and a metric, the old behaviour kept', () => {
  it.each<[string, Knobs, () => Promise<void>]>([
    ['headers', { headerPrefix: 'x-gate-' }, async () => {
      const res = await check({ sub: 'cid', path: '/api/x' });
      expect(res.ok_response?.headers?.some((h) => h.header.key === 'x-idgate-subject')).toBe(true);
    }],
    ['didit', { apiKeyOverride: 'a-different-api-key-0123456789' }, async () => {
      // Sessions are still created with the running API key (the sandbox would refuse another one).
      expect(outcome(await check({ sub: 'sid', path: '/adult/x' }))).toBe('401:verification_required');
    }],
    ['store', { store: 'type: redis\n  redis: { url: "redis://127.0.0.1:1" }' }, async () => {
      // Still the in-memory store holding amy's verdict (an unreachable Redis would answer 503).
      expect(outcome(await check({ sub: 'amy', path: '/adult/x' }))).toBe('allow');
    }],
    ['server', { grpcTimeout: '900ms' }, async () => {
      expect(outcome(await check({ sub: 'cid', path: '/api/x' }))).toBe('allow');
    }],
    ['logging.level', { logLevel: 'error' }, async () => {
      // Info lines are still written (the reload's own summary line is one).
      const n = idgate.logs.filter((l) => l.level === 30).length;
      await apply({ allowSampleRate: 1 });
      expect(idgate.logs.filter((l) => l.level === 30).length).toBeGreaterThan(n);
    }],
    ['risk.enabled', { riskEnabled: true }, async () => {
      expect(outcome(await check({ sub: 'cid', path: '/api/x' }))).toBe('allow');
    }],
  ])('%s', async (section, knobs, stillOld) => {
    const label = `idgate_config_reload_refused_total{section="${section}",reason="restart_required"}`;
    const before = await metric(label);
    const warning = await reloadTo(yaml(knobs), (l) => l.section === section && l.restartRequired === true);
    expect(warning.level).toBe(40);
    expect(String(warning.msg)).toContain('restart required');
    await expectEventually(() =>
      idgate.logs.some((l) => reloaded(l) && Array.isArray(l.restartRequiredFor) && (l.restartRequiredFor as string[]).includes(section)),
    );
    expect(await metric(label)).toBe(before + 1);
    await stillOld();
    await apply({});
  });
});

describe('a file that cannot be a deployment is rejected, the previous policy kept', () => {
  const full = () => yaml();
  it.each<[string, () => string, string]>([
    ['a 0-byte file', () => '', 'empty'],
    ['a comment-only file', () => '# idgate config\n\n# (nothing yet)\n', 'empty'],
    ['a file truncated mid-document (invalid YAML)', () => full().slice(0, full().indexOf('algorithms: [ES256]') + 14), 'invalid'],
    ['a file truncated at a line end (schema error)', () => full().split('\n').slice(0, 11).join('\n'), 'invalid'],
    ['a file truncated before policy: (valid, but no routes)', () => full().slice(0, full().indexOf('headers:')), 'no_routes'],
  ])('%s', async (_name, text, reason) => {
    const before = await metric('idgate_config_reloads_total{result="failure"}');
    const line = await reloadTo(text(), (l) => rejected(l) || reloaded(l));
    expect(line.msg, JSON.stringify(line)).toBe("config reload rejected; keeping the current policy");
    expect(line.reason).toBe(reason);
    expect(line.level).toBe(50);
    expect(await metric('idgate_config_reloads_total{result="failure"}')).toBe(before + 1);
    // Still the previous policy: /api allows a corp token, /nowhere is denied by default.
    expect(outcome(await check({ sub: 'cid', path: '/api/x' }))).toBe('allow');
    expect(outcome(await check({ sub: 'cid', path: '/nowhere' }))).toBe('403:no_route');
    await apply({});
  });

  it('policy.default: allow is applied but warned about on reload', async () => {
    const line = await reloadTo(yaml({ policyDefault: 'allow' }), (l) => typeof l.msg === 'string' && l.msg.startsWith('config warning: policy.default'));
    expect(line.level).toBe(40);
    await apply({});
  });
});
