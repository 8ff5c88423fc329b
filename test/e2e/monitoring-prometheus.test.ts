import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createDiditSandbox, type DiditSandbox } from '../../src/sandbox/create-didit-sandbox.js';
import { signWebhook } from '../../src/sandbox/webhook-dispatcher.js';
import { testConfigYaml } from '../support/config-yaml.js';
import { createEnvoyClient, type EnvoyClient, type UpstreamCheckResponse } from '../support/envoy-client.js';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import {
  dashboardExpressions,
  expandGrafanaVariables,
  ruleExpressions,
  startPrometheus,
  type PrometheusHandle,
  type RuleGroup,
} from '../support/monitoring.js';
import { createTestKey, jwksOf, mintToken, type TestKey } from '../support/tokens.js';

/**
 * The shipped dashboard and alert rules on a real Prometheus (Debian's `prometheus`, spawned on 127.0.0.1
 * with a temp config and data dir, scraping every second) that scrapes a running `idgate serve` under a
 * short load of allow, deny and step-up Checks, with Didit's sandbox approving and declining sessions
 * through signed webhooks, one forged webhook, and a session left pending for the reconciler. Every
 * dashboard query and alert expression must evaluate without error, and every dashboard query must
 * return data (the metrics behind a panel exist and are scraped).
 */
const API_KEY = 'test-api-key';
const SECRET = 'test-webhook-secret-0123456789';
const KYC = '11111111-2222-4333-8444-0000000000c1';
const ADULT = '11111111-2222-4333-8444-0000000000c2';
const RULES = 'monitoring/prometheus-rules.yaml';
const WINDOWS = { rateInterval: '30s', range: '5m' };

let key: TestKey;
let jwks: JwksServer;
let sandbox: DiditSandbox;
let idgate: IdgateProcess;
let client: EnvoyClient;
let prometheus: PrometheusHandle;

const groups = (parse(readFileSync(RULES, 'utf8')) as { groups: RuleGroup[] }).groups;
const dashboard = dashboardExpressions(JSON.parse(readFileSync('monitoring/grafana-dashboard.json', 'utf8')) as unknown);

async function check(sub: string | undefined, path: string, claims: Record<string, unknown> = {}): Promise<UpstreamCheckResponse> {
  const headers: Record<string, string> = { ':authority': 'shop.example.com', ':method': 'GET', ':path': path, accept: 'application/json' };
  if (sub !== undefined) {
    headers.authorization = `Bearer ${await mintToken(key, { iss: jwks.url, aud: 'idgate-test', now: Date.now(), sub, claims })}`;
  }
  return client.check({
    attributes: {
      source: { address: { socket_address: { address: '198.51.100.7' } } },
      request: { http: { method: 'GET', path, host: 'shop.example.com', scheme: 'https', headers } },
    },
  });
}

const problem = (res: UpstreamCheckResponse): Record<string, unknown> =>
  JSON.parse(res.denied_response?.body || '{}') as Record<string, unknown>;

/** Polls `fn` until it returns a value (not undefined) or the deadline passes. */
async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** One wave of traffic: allows, denies (missing and invalid tokens, missing scope), and Checks of the step-up users. */
async function wave(stepUpUsers: readonly string[]): Promise<void> {
  await Promise.all([
    check('alice', '/api/orders', { scope: 'read' }),
    check('alice', '/api/orders', { scope: 'read' }),
    check(undefined, '/api/orders'),
    check('mallory', '/api/orders', { scope: 'write' }),
    client.check({
      attributes: { request: { http: { method: 'GET', path: '/api/x', host: 'shop.example.com', headers: { authorization: 'Bearer not.a.jwt' } } } },
    }),
    ...stepUpUsers.map((u) => check(u, '/payments/checkout')),
  ]);
}

interface QueryResult {
  status: string;
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

async function query(expr: string): Promise<QueryResult> {
  return (await prometheus.api('query', { query: expr })) as QueryResult;
}

beforeAll(async () => {
  key = await createTestKey('ES256', 'mon');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  sandbox = createDiditSandbox({ logger: pino({ level: 'silent' }), apiKey: API_KEY, webhookSecret: SECRET });
  await sandbox.listen();
  // One team policy, so the tenant-status metric the policy alerts read exists (it has a series per tenant).
  const configDir = mkdtempSync(join(tmpdir(), 'idgate-mon-'));
  writeFileSync(join(configDir, 'team.yaml'), 'routes:\n  - { id: docs, match: { paths: [{ prefix: /docs }] }, action: public }\n');
  const configPath = join(configDir, 'idgate.yaml');
  writeFileSync(
    configPath,
    testConfigYaml({
      policyYaml: '  tenants:\n    - { name: team, owns: { hosts: [team.example.com] }, files: [team.yaml] }',
      issuer: jwks.url,
      jwksUri: jwks.jwksUrl,
      didit: {
        apiBaseUrl: sandbox.url,
        apiKey: API_KEY,
        webhookSecret: SECRET,
        kycWorkflowId: KYC,
        ageWorkflowId: ADULT,
        reconcileAfter: '1s',
        sweepInterval: '1s',
        returnToAllowlist: ['https://shop.example.com'],
      },
    }),
  );
  idgate = await startIdgate({ command: 'serve', configYaml: '', configPath });
  sandbox.setWebhookUrl(`http://127.0.0.1:${idgate.ports.public}/webhooks/didit`);
  client = createEnvoyClient(`127.0.0.1:${idgate.ports.grpc}`);
  prometheus = await startPrometheus({ targets: [`127.0.0.1:${idgate.ports.admin}`], ruleFiles: [RULES], scrapeInterval: '1s' });
}, 60_000);

afterAll(async () => {
  client?.close();
  await prometheus?.close();
  await idgate?.stop();
  await sandbox?.close();
  await jwks?.close();
});

describe('monitoring on a real Prometheus scraping idgate', () => {
  it('every dashboard query has data and every alert expression evaluates, after a short mixed load', async () => {
    // The kubelet's readiness probe, which keeps idgate_dependency_up{dependency="store"} current.
    expect((await fetch(`http://127.0.0.1:${idgate.ports.admin}/readyz`)).status).toBe(200);

    // Prometheus has the zero baselines before anything happens, so increase() sees every event.
    await eventually('the first scrape', async () => ((await query('idgate_verdicts_total')).data?.result.length ? true : undefined));

    // Step-up: three users are challenged; Didit approves two and declines one (signed webhooks), a fourth
    // never finishes, so the reconciler finds it pending.
    const users = ['sam', 'tia', 'uma', 'vic'];
    const sessions = new Map<string, string>();
    for (const user of users) {
      const res = await eventually(`a Didit session for ${user}`, async () => {
        const r = await check(user, '/payments/checkout');
        return problem(r).session_id === undefined ? undefined : r;
      });
      expect(problem(res).code).toBe('verification_required');
      sessions.set(user, String(problem(res).session_id));
    }
    await sandbox.decide(sessions.get('sam')!, 'Approved');
    await sandbox.decide(sessions.get('tia')!, 'Approved');
    await sandbox.decide(sessions.get('uma')!, 'Declined');
    await eventually('the approved users to be allowed', async () => {
      const [a, b] = await Promise.all([check('sam', '/payments/checkout'), check('tia', '/payments/checkout')]);
      return (a.status?.code ?? 0) === 0 && (b.status?.code ?? 0) === 0 ? true : undefined;
    });
    // A forged webhook: the signature alert's input.
    const forged = signWebhook('not-the-secret-0123456789', {
      session_id: sessions.get('vic'),
      status: 'Approved',
      webhook_type: 'status.updated',
      timestamp: Math.floor(Date.now() / 1000),
    });
    const rejected = await fetch(`http://127.0.0.1:${idgate.ports.public}/webhooks/didit`, { method: 'POST', headers: forged.headers, body: forged.body });
    expect(rejected.status).toBe(401);

    // Traffic keeps flowing while Prometheus scrapes, until every dashboard query returns data.
    const pending = new Map(dashboard.map((d) => [d, expandGrafanaVariables(d.expr, WINDOWS)]));
    const failures: string[] = [];
    await eventually(
      'every dashboard query to return data',
      async () => {
        await wave(users);
        for (const [d, expr] of pending) {
          const r = await query(expr);
          if (r.status !== 'success') failures.push(`${d.panel} / ${d.legend}: ${r.error ?? r.status}`);
          else if ((r.data?.result.length ?? 0) > 0) pending.delete(d);
        }
        return failures.length > 0 || pending.size === 0 ? true : undefined;
      },
      45_000,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}; still empty: ${[...pending.keys()].map((d) => `${d.panel} / ${d.legend}`).join('; ')}`);
    });
    expect(failures).toEqual([]);
    expect([...pending.keys()].map((d) => d.panel)).toEqual([]);

    // The funnel counted what happened, not just zeros.
    const value = async (expr: string): Promise<number> => Number((await query(expandGrafanaVariables(expr, WINDOWS))).data?.result[0]?.value[1]);
    const funnel = dashboard.filter((d) => d.panel.startsWith('Step-up funnel'));
    const byLegend = new Map(funnel.map((d) => [d.legend, d.expr]));
    let counted: number[] = [];
    await eventually('the funnel to count sessions, verdicts and allows', async () => {
      await wave(users);
      counted = await Promise.all(
        ['challenged (Checks)', 'session created', 'approved', 'declined', 'allowed (step-up routes)'].map((l) => value(byLegend.get(l)!)),
      );
      return counted.every((n) => n > 0) ? true : undefined;
    }).catch((err: unknown) => {
      throw new Error(`${String(err)}: challenged, created, approved, declined, allowed = ${counted.join(', ')}`);
    });
    const didit = await query('sum by (op) (idgate_didit_requests_total{result="ok"})');
    expect(Number(didit.data!.result.find((r) => r.metric.op === 'create_session')?.value[1])).toBeGreaterThanOrEqual(4);
    const webhooks = await query('sum by (result) (idgate_webhooks_total)');
    const byResult = Object.fromEntries(webhooks.data!.result.map((r) => [r.metric.result, Number(r.value[1])]));
    expect(byResult.bad_signature, JSON.stringify(byResult)).toBe(1);
    expect(byResult.written, JSON.stringify(byResult)).toBeGreaterThanOrEqual(3);

    // Alert expressions: each evaluates without error here, and the metrics each one reads are scraped.
    for (const expr of ruleExpressions(groups)) {
      const r = await query(expr);
      expect(r.error, expr).toBeUndefined();
      expect(r.status, expr).toBe('success');
      for (const metric of new Set(expr.match(/\bidgate_[a-z_]+/g) ?? [])) {
        const series = await query(`count(${metric})`);
        expect(series.data?.result.length, `${metric} (read by an alert) is scraped`).toBe(1);
      }
    }
    // And Prometheus's own rule evaluation of the shipped file reports every rule healthy.
    const rules = await eventually('every rule evaluated at least once', async () => {
      const r = (await prometheus.api('rules')) as {
        data?: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };
      };
      const all = r.data?.groups.flatMap((g) => g.rules) ?? [];
      return all.length > 0 && all.every((rule) => rule.health !== 'unknown') ? all : undefined;
    });
    expect(rules.map((r) => r.name).sort()).toEqual(groups.flatMap((g) => g.rules.map((r) => r.alert)).sort());
    expect(rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError ?? r.health}`)).toEqual([]);
  }, 120_000);
});
