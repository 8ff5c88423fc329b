import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../src/sandbox/webhook-dispatcher.js';
import { checkRequest, eventually, isAllow, outcomeOf, problemOf } from './support/check-requests.js';
import { testConfigYaml } from './support/config-yaml.js';
import { createEnvoyClient, type EnvoyClient } from './support/envoy-client.js';
import { startIdgate, type IdgateProcess } from './support/idgate-process.js';
import { startJwksServer, type JwksServer } from './support/jwks-server.js';
import { craftToken, createTestKey, jwksOf, mintToken, type TestKey } from './support/tokens.js';

/**
 * Secrets and PII never reach a log line: one `idgate serve` process (every role, the embedded Didit
 * sandbox, debug logging, every decision logged) is driven through many flows with known secrets, then ALL
 * of its output is scanned.
 */
const API_KEY = 'didit-api-key-SECRET-7f3a9c1e5b';
const WEBHOOK_SECRET = 'webhook-secret-SECRET-0d8e2f4a6c1b3d5e';
const ADMIN_TOKEN = 'admin-token-SECRET-9a8b7c6d5e4f3a2b1c0d';
const KYC = '11111111-2222-4333-8444-0000000000b1';
const ADULT = '11111111-2222-4333-8444-0000000000b2';

let jwks: JwksServer;
let key: TestKey;
let idgate: IdgateProcess;
let client: EnvoyClient;
const usedTokens: string[] = [];
const flows: Record<string, number> = {};

function count(flow: string): void {
  flows[flow] = (flows[flow] ?? 0) + 1;
}

async function tokenFor(sub: string, extra: Record<string, unknown> = {}, ttlSeconds = 600): Promise<string> {
  const t = await mintToken(key, { iss: jwks.url, aud: 'idgate-test', now: Date.now(), sub, ttlSeconds, claims: { scope: 'read', email: `${sub}@example.com`, name: 'José Müller', ...extra } });
  usedTokens.push(t);
  return t;
}

beforeAll(async () => {
  key = await createTestKey('ES256', 'sec-log');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  idgate = await startIdgate({
    command: 'serve',
    configYaml: testConfigYaml({
      issuer: jwks.url,
      jwksUri: jwks.jwksUrl,
      adminToken: ADMIN_TOKEN,
      cookieToken: 'session',
      allowSampleRate: 1,
      logLevel: 'debug',
      didit: { apiKey: API_KEY, webhookSecret: WEBHOOK_SECRET, kycWorkflowId: KYC, ageWorkflowId: ADULT, reconcileAfter: '1s', sweepInterval: '1s' },
    }),
  });
  client = createEnvoyClient(`127.0.0.1:${idgate.ports.grpc}`);
}, 30_000);

afterAll(async () => {
  client?.close();
  await idgate?.stop();
  await jwks?.close();
});

describe('no secret, token or PII in any log line', () => {
  it('drives every flow, then finds none of them in the output', async () => {
    const sandboxUrl = `http://127.0.0.1:${idgate.ports.sandbox}`;
    const publicUrl = `http://127.0.0.1:${idgate.ports.public}`;
    const httpUrl = `http://127.0.0.1:${idgate.ports.http}/check`;
    const adminUrl = `http://127.0.0.1:${idgate.ports.admin}`;

    // gRPC: allow, claims deny, bad tokens, cookies, step-up as browser and API.
    for (let i = 0; i < 20; i++) {
      count('grpc allow');
      expect(isAllow(await client.check(checkRequest({ path: '/api/orders', token: await tokenFor(`user${i}`) })))).toBe(true);
      count('grpc cookie');
      await client.check(checkRequest({ path: '/api/orders', headers: { cookie: `theme=dark; session=${await tokenFor(`cookie${i}`)}` } }));
      count('grpc scope deny');
      await client.check(checkRequest({ path: '/api/orders', token: await tokenFor(`weak${i}`, { scope: 'write' }) }));
      count('grpc expired');
      await client.check(checkRequest({ path: '/api/orders', token: await tokenFor(`old${i}`, {}, -600) }));
      const forged = craftToken({ alg: 'none', typ: 'JWT' }, { iss: jwks.url, sub: `forged${i}`, aud: 'idgate-test', exp: 9_999_999_999 }, `sig${i}xxxxxxxxxxxxxxxxxxxx`);
      usedTokens.push(forged);
      count('grpc forged');
      await client.check(checkRequest({ path: '/api/orders', token: forged }));
    }
    // HTTP authz mode with tokens in header and cookie.
    for (let i = 0; i < 10; i++) {
      count('http');
      await fetch(`${httpUrl}/api/orders`, { headers: { authorization: `Bearer ${await tokenFor(`http${i}`)}` } });
      count('http cookie');
      await fetch(`${httpUrl}/api/orders`, { headers: { cookie: `session=${await tokenFor(`httpc${i}`)}` } });
    }
    // Full step-up: browser redirect → hosted page → approve with a date of birth → signed webhook with the
    // sandbox person's name and document number → callback → allowed.
    const documents: string[] = [];
    for (let i = 0; i < 3; i++) {
      const sub = `kyc${i}`;
      const t = await tokenFor(sub);
      const browser = await client.check(checkRequest({ path: '/adult/x', token: t, browser: true }));
      const location = browser.denied_response?.headers?.find((h) => h.header.key === 'location')?.header.value ?? '';
      expect(location.startsWith(`${sandboxUrl}/session/`)).toBe(true);
      const pageToken = location.split('/session/')[1] as string;
      await fetch(`${sandboxUrl}/session/${pageToken}`);
      const decided = await fetch(`${sandboxUrl}/session/${pageToken}/decide`, {
        method: 'POST',
        redirect: 'manual',
        body: new URLSearchParams({ decision: 'approve', date_of_birth: '1990-05-17' }),
      });
      count('stepup');
      const callback = decided.headers.get('location');
      if (callback) await fetch(callback, { redirect: 'manual' });
      const ok = await eventually(() => client.check(checkRequest({ path: '/adult/x', token: t })), isAllow);
      expect(outcomeOf(ok)).toBe('allow');
      const api = problemOf(await client.check(checkRequest({ path: '/payments/x', token: t })));
      const decision = await fetch(`${sandboxUrl}/v3/session/${String(api.session_id)}/decision/`, { headers: { 'x-api-key': API_KEY } });
      expect(decision.status).toBe(200);
    }
    // Sandbox document numbers are SBX + the session number: six sessions were created above.
    for (let n = 1; n <= 6; n++) documents.push(`SBX${String(n).padStart(6, '0')}`);
    // Webhooks: forged with another secret, tampered, unsigned, and a correctly signed one carrying PII.
    const pii = { session_id: '5b1c0000-0000-4000-8000-00000000beef', status: 'Approved', webhook_type: 'status.updated', vendor_data: 'test:ghost', workflow_id: KYC, timestamp: Math.floor(Date.now() / 1000), decision: { id_verifications: [{ first_name: 'José', last_name: 'Müller', document_number: 'SBX999999' }] } };
    for (const secret of [WEBHOOK_SECRET, 'attacker-secret-0123456789abcdef']) {
      const signed = signWebhook(secret, pii);
      count('webhook');
      await fetch(`${publicUrl}/webhooks/didit`, { method: 'POST', headers: signed.headers, body: signed.body });
      count('webhook tampered');
      await fetch(`${publicUrl}/webhooks/didit`, { method: 'POST', headers: signed.headers, body: signed.body.replace('Approved', 'Declined') });
    }
    documents.push('SBX999999');
    count('webhook unsigned');
    await fetch(`${publicUrl}/webhooks/didit`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(pii) });
    // Admin API with the right and wrong tokens; metrics and readiness.
    for (const auth of [ADMIN_TOKEN, `${ADMIN_TOKEN}x`, 'short']) {
      count('admin');
      await fetch(`${adminUrl}/admin/subjects/test:kyc0/verdicts`, { headers: { authorization: `Bearer ${auth}` } });
    }
    await fetch(`${adminUrl}/metrics`);
    await fetch(`${adminUrl}/readyz`);
    // The reconciliation sweep (reconcileAfter 1 s, every 1 s) must have had its turn at the sessions opened
    // above, so that its log lines are part of the scan. It logs nothing on success and its metric is not
    // wired, so wait on the process's own clock instead of a fixed sleep: send marker Checks until one is
    // logged more than reconcileAfter + 2 sweep intervals after the last flow's line. stdout is ordered, so
    // once a marker's decision line has arrived, every earlier line has too.
    const lastFlowAt = Math.max(...idgate.logs.map((l) => (typeof l.time === 'number' ? l.time : 0)));
    expect(lastFlowAt).toBeGreaterThan(0);
    const markerAt = async (): Promise<number> => {
      const marker = `/healthz/end-of-scan-${Math.random().toString(36).slice(2)}`;
      await client.check(checkRequest({ path: marker }));
      const line = await idgate.waitForLog((l) => l.msg === 'decision' && l.path === marker, 10_000);
      return typeof line.time === 'number' ? line.time : 0;
    };
    expect(await eventually(markerAt, (t) => t > lastFlowAt + 3_000, 15_000, 200)).toBeGreaterThan(lastFlowAt + 3_000);

    const out = idgate.output();
    // The scan is meaningful: every decision was logged, and so were webhooks, the sandbox and the admin API.
    expect(idgate.logs.filter((l) => l.msg === 'decision').length).toBeGreaterThanOrEqual(100);
    expect(idgate.logs.some((l) => l.msg === 'webhook rejected')).toBe(true);
    const needles = new Map<string, string>([
      ['Didit API key', API_KEY],
      ['webhook secret', WEBHOOK_SECRET],
      ['admin token', ADMIN_TOKEN],
      ['name (UTF-8)', 'Müller'],
      ['name (JSON escape)', 'M\\u00fcller'],
      ['first name', 'José'],
      ['first name (JSON escape)', 'Jos\\u00e9'],
      ['place of birth', 'München'],
      ['address', 'Königstraße'],
      ['date of birth', '1990-05-17'],
    ]);
    for (const d of documents) needles.set(`document ${d}`, d);
    usedTokens.forEach((t, i) => {
      needles.set(`token ${i}`, t);
      // Every segment is its own needle (header, payload, signature): a log line carrying any one of them leaks.
      t.split('.').forEach((part, j) => {
        if (part.length > 20) needles.set(`token ${i} segment ${j}`, part);
      });
    });
    const hits = [...needles].filter(([, needle]) => out.includes(needle)).map(([what]) => what);
    expect(hits).toEqual([]);
    expect(out).not.toMatch(/eyJ[\w-]+\.[\w-]+\.[\w-]*/);
    const lines = out.split('\n').length;
    console.log(
      `[scorecard] security-secrets: ${Object.values(flows).reduce((a, b) => a + b, 0)} flows (${Object.keys(flows).length} kinds), ${usedTokens.length} tokens, ` +
        `${needles.size} needles scanned in ${lines} log lines → ${hits.length} hits`,
    );
  }, 40_000);
});
