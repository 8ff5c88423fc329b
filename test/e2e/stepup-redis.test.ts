import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDiditSandbox, type DiditSandbox } from '../../src/sandbox/create-didit-sandbox.js';
import { signWebhook } from '../../src/sandbox/webhook-dispatcher.js';
import { testConfigYaml } from '../support/config-yaml.js';
import { createEnvoyClient, type EnvoyClient, type UpstreamCheckRequest, type UpstreamCheckResponse } from '../support/envoy-client.js';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import { startRedis, type RedisServerHandle } from '../support/redis-server.js';
import { createTestKey, jwksOf, mintToken, type TestKey } from '../support/tokens.js';

/**
 * The production shape on one machine: a real redis-server, one `idgate webhook` process and two
 * `idgate authz` replicas sharing it, and the Didit sandbox (run by the test, so it can be inspected and
 * told to fail) sending signed webhooks to the webhook process.
 */
const API_KEY = 'test-api-key';
const SECRET = 'test-webhook-secret-0123456789';
const KYC = '11111111-2222-4333-8444-000000000001';
const ADULT = '11111111-2222-4333-8444-000000000002';

let redis: RedisServerHandle;
let jwks: JwksServer;
let key: TestKey;
let sandbox: DiditSandbox;
let webhook: IdgateProcess;
let replicaA: IdgateProcess;
let replicaB: IdgateProcess;
let clientA: EnvoyClient;
let clientB: EnvoyClient;
let webhookUrl: string;

function config(extra: { publicPort?: number; publicBaseUrl?: string }): string {
  return testConfigYaml({
    issuer: jwks.url,
    jwksUri: jwks.jwksUrl,
    redisUrl: redis.url,
    localCacheTtl: '30s',
    ports: { public: extra.publicPort ?? 0 },
    didit: {
      apiBaseUrl: sandbox.url,
      apiKey: API_KEY,
      webhookSecret: SECRET,
      kycWorkflowId: KYC,
      ageWorkflowId: ADULT,
      reconcileAfter: '1s',
      sweepInterval: '1s',
      returnToAllowlist: ['https://shop.example.com'],
      ...(extra.publicBaseUrl ? { publicBaseUrl: extra.publicBaseUrl } : {}),
    },
  });
}

async function tokenFor(sub: string): Promise<string> {
  return mintToken(key, { iss: jwks.url, aud: 'idgate-test', now: Date.now(), sub, ttlSeconds: 600 });
}

async function check(client: EnvoyClient, sub: string, path: string, browser = false): Promise<UpstreamCheckResponse> {
  const token = await tokenFor(sub);
  const headers: Record<string, string> = {
    ':authority': 'shop.example.com',
    ':method': 'GET',
    ':path': path,
    authorization: `Bearer ${token}`,
    accept: browser ? 'text/html,application/xhtml+xml' : 'application/json',
  };
  const req: UpstreamCheckRequest = {
    attributes: {
      source: { address: { socket_address: { address: '198.51.100.4' } } },
      request: { http: { method: 'GET', path, host: 'shop.example.com', scheme: 'https', headers } },
    },
  };
  return client.check(req);
}

function deniedHeader(res: UpstreamCheckResponse, name: string): string | undefined {
  return res.denied_response?.headers?.find((h) => h.header.key === name)?.header.value;
}
function okHeader(res: UpstreamCheckResponse, name: string): string | undefined {
  return res.ok_response?.headers?.find((h) => h.header.key === name)?.header.value;
}
function problem(res: UpstreamCheckResponse): Record<string, unknown> {
  return JSON.parse(res.denied_response?.body || '{}') as Record<string, unknown>;
}

/** Polls `fn` until `pred` holds (bounded), returning the last value. */
async function eventually<T>(fn: () => Promise<T>, pred: (v: T) => boolean, timeoutMs = 8_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let v = await fn();
  while (!pred(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    v = await fn();
  }
  return v;
}

/** Starts a step-up for `sub` and returns the session the API-client challenge names. */
async function stepUp(sub: string, path = '/payments/checkout'): Promise<{ sessionId: string; url: string }> {
  // On a loaded machine the first answer may carry idgate's start URL while the session is created.
  const res = await eventually(() => check(clientA, sub, path), (r) => problem(r).session_id !== undefined);
  expect(res.denied_response?.status?.code).toBe(401);
  const body = problem(res);
  expect(body.code).toBe('verification_required');
  return { sessionId: String(body.session_id), url: String(body.verification_url) };
}

async function postWebhook(payload: Record<string, unknown>, mutate?: (h: Record<string, string>) => void): Promise<{ status: number; body: string }> {
  const signed = signWebhook(SECRET, payload);
  const headers = { ...signed.headers };
  mutate?.(headers);
  const res = await fetch(webhookUrl, { method: 'POST', headers, body: signed.body });
  return { status: res.status, body: await res.text() };
}

beforeAll(async () => {
  redis = await startRedis();
  key = await createTestKey('ES256', 'k1');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  sandbox = createDiditSandbox({ logger: pino({ level: 'silent' }), apiKey: API_KEY, webhookSecret: SECRET, retryDelaysMs: [700, 1_500, 3_000, 6_000] });
  await sandbox.listen();
  webhook = await startIdgate({ command: 'webhook', configYaml: config({}) });
  const publicBaseUrl = `http://127.0.0.1:${webhook.ports.public}`;
  webhookUrl = `${publicBaseUrl}/webhooks/didit`;
  sandbox.setWebhookUrl(webhookUrl);
  [replicaA, replicaB] = await Promise.all([
    startIdgate({ command: 'authz', configYaml: config({ publicBaseUrl }) }),
    startIdgate({ command: 'authz', configYaml: config({ publicBaseUrl }) }),
  ]);
  clientA = createEnvoyClient(`127.0.0.1:${replicaA.ports.grpc}`);
  clientB = createEnvoyClient(`127.0.0.1:${replicaB.ports.grpc}`);
}, 60_000);

afterAll(async () => {
  clientA?.close();
  clientB?.close();
  await Promise.all([replicaA?.stop(), replicaB?.stop(), webhook?.stop()]);
  await sandbox?.close();
  await jwks?.close();
  await redis?.close();
});

describe('step-up verification with Didit, Redis and two replicas', () => {
  it('runs the whole loop: redirect → approve → signed webhook → both replicas allow', async () => {
    // On a loaded machine the first redirect may name idgate's start URL while the session is created (the
    // step-up wait); a later Check of the same browser names the sandbox session itself.
    const browser = await eventually(
      () => check(clientA, 'alice', '/payments/checkout', true),
      (r) => deniedHeader(r, 'location')?.startsWith(`${sandbox.url}/session/`) === true,
    );
    expect(browser.denied_response?.status?.code).toBe(302);
    const location = deniedHeader(browser, 'location')!;
    expect(location.startsWith(`${sandbox.url}/session/`)).toBe(true);

    // The browser on the hosted page clicks Approve; the sandbox signs and sends the webhook.
    const token = location.split('/session/')[1]!;
    const decided = await fetch(`${sandbox.url}/session/${token}/decide`, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ decision: 'approve' }) });
    expect(decided.status).toBe(302);
    const callback = decided.headers.get('location')!;
    expect(callback).toContain('/verification/callback?verificationSessionId=');

    // Back through the callback to the page the user wanted (allow-listed origin).
    const back = await fetch(callback, { redirect: 'manual' });
    expect(back.status).toBe(302);
    expect(back.headers.get('location')).toBe('https://shop.example.com/payments/checkout');
    expect(back.headers.get('cache-control')).toBe('no-store');

    for (const client of [clientA, clientB]) {
      const res = await eventually(() => check(client, 'alice', '/payments/checkout'), (r) => (r.status?.code ?? 0) === 0);
      expect(res.status?.code ?? 0).toBe(0);
      expect(okHeader(res, 'x-idgate-verified')).toBe('kyc');
      expect(okHeader(res, 'x-idgate-subject')).toBe('test:alice');
    }
  });

  it('challenges an API client with RFC 9470 insufficient_user_authentication and the session URL', async () => {
    const res = await check(clientA, 'bob', '/payments/checkout');
    expect(res.denied_response?.status?.code).toBe(401);
    expect(deniedHeader(res, 'www-authenticate')).toContain('error="insufficient_user_authentication"');
    expect(problem(res)).toMatchObject({ code: 'verification_required', workflow: 'kyc' });
    expect(String(problem(res).verification_url)).toContain('/session/');
  });

  it('creates exactly one Didit session for 50 concurrent Checks across two replicas', async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => check(i % 2 === 0 ? clientA : clientB, 'carol', '/payments/checkout')),
    );
    const ids = new Set<string>();
    for (const r of results) {
      expect(r.status?.code).not.toBe(0);
      const body = problem(r);
      if (body.code === 'verification_required') {
        // Didit's session once it exists, else idgate's start URL (the creation was not done in budget).
        if (body.session_id !== undefined) ids.add(String(body.session_id));
        else expect(String(body.verification_url)).toContain('/verification/start/');
      } else {
        // A replica stalled past its deadline on this loaded machine.
        expect(['dependency_unavailable', 'deadline_exceeded']).toContain(body.code);
      }
    }
    expect(ids.size).toBeLessThanOrEqual(1);
    await eventually(async () => sandbox.sessions().filter((s) => s.vendorData === 'test:carol').length, (n) => n >= 1, 5_000);
    expect(sandbox.sessions().filter((s) => s.vendorData === 'test:carol')).toHaveLength(1);
    if (ids.size === 0) ids.add(sandbox.sessions().find((s) => s.vendorData === 'test:carol')?.sessionId ?? '');
    // Once settled in the store, every later Check reuses the same session.
    const again = await check(clientB, 'carol', '/payments/checkout');
    expect(problem(again).session_id).toBe([...ids][0]);
  });

  it('revokes at once on every replica when an approval is later declined', async () => {
    const { sessionId } = await stepUp('dave');
    await sandbox.decide(sessionId, 'Approved');
    for (const c of [clientA, clientB]) {
      expect((await eventually(() => check(c, 'dave', '/payments/x'), (r) => (r.status?.code ?? 0) === 0)).status?.code ?? 0).toBe(0);
    }
    // Reviewer declines through the API; Didit sends status.updated.
    const res = await fetch(`${sandbox.url}/v3/session/${sessionId}/update-status/`, {
      method: 'PATCH',
      headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ new_status: 'Declined', comment: 'fraud' }),
    });
    expect(res.status).toBe(200);
    for (const c of [clientA, clientB]) {
      const denied = await eventually(() => check(c, 'dave', '/payments/x'), (r) => problem(r).code === 'verification_declined', 3_000);
      expect(denied.denied_response?.status?.code).toBe(403);
      expect(problem(denied).code).toBe('verification_declined');
    }
    // A late retry of the old Approved delivery, re-signed with a fresh timestamp, must not undo the
    // revocation: the conflicting change is settled by Didit's own current decision.
    const retry = await postWebhook({
      session_id: sessionId,
      webhook_type: 'status.updated',
      vendor_data: 'test:dave',
      workflow_id: KYC,
      status: 'Approved',
      timestamp: Math.floor(Date.now() / 1000) + 1,
      decision: { session_id: sessionId, status: 'Approved' },
    });
    expect(retry.status).toBe(200);
    // …and the answer says so: the delivered Approved was superseded by Didit's current Declined (it
    // used to say `written`, as if the Approved had been stored).
    expect(JSON.parse(retry.body)).toMatchObject({ result: 'superseded', status: 'Declined' });
    expect(await webhook.waitForLog((l) => l.msg === 'webhook applied' && l.sessionId === sessionId && l.result === 'superseded', 5_000)).toMatchObject({
      deliveredStatus: 'Approved',
      status: 'Declined',
    });
    const after = await check(clientA, 'dave', '/payments/x');
    expect(problem(after).code).toBe('verification_declined');
  });

  it('rejects bad signatures and stale timestamps, de-duplicates replays and never lets an older event win', async () => {
    const { sessionId } = await stepUp('erin');
    const now = Math.floor(Date.now() / 1000);
    const base = { session_id: sessionId, webhook_type: 'status.updated', vendor_data: 'test:erin', workflow_id: KYC, event_id: randomUUID() };

    const bad = await postWebhook({ ...base, status: 'Approved', timestamp: now }, (h) => {
      h['x-signature'] = '0'.repeat(64);
      h['x-signature-v2'] = '0'.repeat(64);
      h['x-signature-simple'] = '0'.repeat(64);
    });
    expect(bad.status).toBe(401);
    const stale = await postWebhook({ ...base, status: 'Approved', timestamp: now - 3_600 });
    expect(stale.status).toBe(401);
    const garbage = await fetch(webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
    expect(garbage.status).toBeGreaterThanOrEqual(400);
    expect(garbage.status).toBeLessThan(500);

    // Didit declines the session (its webhook is lost); then a Declined delivery and a late, older
    // Approved one arrive: the verdict stays Declined, whichever way the conflict is resolved.
    sandbox.setWebhookUrl(undefined);
    try {
      await sandbox.decide(sessionId, 'Declined');
    } finally {
      sandbox.setWebhookUrl(webhookUrl);
    }
    const declined = await postWebhook({ ...base, status: 'Declined', timestamp: now, decision: { session_id: sessionId, status: 'Declined' } });
    expect(declined.status).toBe(200);
    const replay = await postWebhook({ ...base, status: 'Declined', timestamp: now, decision: { session_id: sessionId, status: 'Declined' } });
    expect(replay.status).toBe(200);
    expect(JSON.parse(replay.body)).toMatchObject({ result: expect.stringMatching(/duplicate|stale/) });
    const late = await postWebhook({ ...base, status: 'Approved', timestamp: now - 5, decision: { session_id: sessionId, status: 'Approved' } });
    expect(late.status).toBe(200);
    const res = await eventually(() => check(clientA, 'erin', '/payments/x'), (r) => problem(r).code === 'verification_declined', 3_000);
    expect(problem(res).code).toBe('verification_declined');
  });

  it('keeps a webhook through a Redis outage: 503 first, then the retry lands, and no Check is allowed meanwhile', async () => {
    const { sessionId } = await stepUp('frank');
    await redis.stop();
    try {
      const during = await check(clientB, 'frank', '/payments/x');
      expect(during.status?.code).not.toBe(0);
      expect(problem(during).code).toBe('dependency_unavailable');
      const first = await sandbox.decide(sessionId, 'Approved');
      expect(first?.statusCode).toBe(503);
    } finally {
      await redis.restart();
    }
    const res = await eventually(() => check(clientA, 'frank', '/payments/x'), (r) => (r.status?.code ?? 0) === 0, 10_000);
    expect(res.status?.code ?? 0).toBe(0);
    // The verdict may reach Redis before the sandbox has recorded the retry's 200 (the reconciler can settle
    // the session first, or the Check lands between idgate's write and the sandbox reading its answer), and a
    // slow Redis restart can eat the first retries (hence four, as Didit itself retries for longer): wait for
    // the record rather than racing it.
    const approvedAttempts = () => sandbox.deliveries().filter((d) => d.sessionId === sessionId && d.status === 'Approved');
    const deadline = Date.now() + 15_000;
    while (!approvedAttempts().some((d) => d.outcome === 'delivered') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const attempts = approvedAttempts();
    expect(attempts.some((d) => d.statusCode === 503)).toBe(true);
    expect(attempts.some((d) => d.outcome === 'delivered')).toBe(true);
  });

  it('settles a session whose webhook never came, on the browser callback', async () => {
    const { sessionId } = await stepUp('grace');
    sandbox.setWebhookUrl(undefined);
    try {
      await sandbox.decide(sessionId, 'Approved');
    } finally {
      sandbox.setWebhookUrl(webhookUrl);
    }
    const back = await fetch(`http://127.0.0.1:${webhook.ports.public}/verification/callback?verificationSessionId=${sessionId}&status=Approved`, {
      redirect: 'manual',
    });
    expect([200, 302]).toContain(back.status);
    const res = await eventually(() => check(clientA, 'grace', '/payments/x'), (r) => (r.status?.code ?? 0) === 0);
    expect(res.status?.code ?? 0).toBe(0);
  });

  it('settles a session whose webhook never came and whose browser never returned, by the sweep', async () => {
    const { sessionId } = await stepUp('heidi');
    sandbox.setWebhookUrl(undefined);
    try {
      await sandbox.decide(sessionId, 'Approved');
    } finally {
      sandbox.setWebhookUrl(webhookUrl);
    }
    const res = await eventually(() => check(clientB, 'heidi', '/payments/x'), (r) => (r.status?.code ?? 0) === 0, 10_000);
    expect(res.status?.code ?? 0).toBe(0);
  });

  it('enforces minimum age and AML on an approved verification', async () => {
    const dob = (years: number) => {
      const d = new Date();
      d.setUTCFullYear(d.getUTCFullYear() - years);
      return d.toISOString().slice(0, 10);
    };
    const minor = await stepUp('ivan', '/adult/videos');
    await sandbox.decide(minor.sessionId, 'Approved', { dateOfBirth: dob(16) });
    const tooYoung = await eventually(() => check(clientA, 'ivan', '/adult/videos'), (r) => problem(r).code === 'verification_insufficient');
    expect(tooYoung.denied_response?.status?.code).toBe(403);
    expect(problem(tooYoung).code).toBe('verification_insufficient');

    const hit = await stepUp('judy', '/adult/videos');
    await sandbox.decide(hit.sessionId, 'Approved', { dateOfBirth: dob(30), amlHit: true });
    const aml = await eventually(() => check(clientA, 'judy', '/adult/videos'), (r) => problem(r).code === 'verification_insufficient');
    expect(problem(aml).code).toBe('verification_insufficient');

    const adult = await stepUp('ken', '/adult/videos');
    await sandbox.decide(adult.sessionId, 'Approved', { dateOfBirth: dob(30) });
    const ok = await eventually(() => check(clientB, 'ken', '/adult/videos'), (r) => (r.status?.code ?? 0) === 0);
    expect(okHeader(ok, 'x-idgate-verified')).toBe('adult');
  });

  it('denies In Review by default', async () => {
    const { sessionId } = await stepUp('leo');
    await sandbox.decide(sessionId, 'In Review');
    const res = await eventually(() => check(clientA, 'leo', '/payments/x'), (r) => problem(r).code === 'verification_in_review');
    expect(res.denied_response?.status?.code).toBe(403);
  });
});
