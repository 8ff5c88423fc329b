import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
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
 * "A revocation must stick", attacked end to end in the production shape: a real redis-server (AOF on),
 * one `idgate webhook` process (webhooks, callback, reconciliation sweep) and two `idgate authz`
 * replicas with a 30 s verdict cache, and the Didit sandbox. Each test approves a subject, revokes it
 * through the admin API of replica A, then tries one path an attacker (or a slow dependency) has to
 * bring the old session's verdict back. Redis is read directly to prove no verdict was written, and both
 * replicas must keep denying.
 */
const API_KEY = 'test-api-key';
const SECRET = 'test-webhook-secret-0123456789';
const ADMIN_TOKEN = 'test-admin-token-0123456789';
const KYC = '11111111-2222-4333-8444-000000000001';
const ADULT = '11111111-2222-4333-8444-000000000002';

let redis: RedisServerHandle;
let raw: Redis;
let jwks: JwksServer;
let key: TestKey;
let sandbox: DiditSandbox;
let webhook: IdgateProcess;
let replicaA: IdgateProcess;
let replicaB: IdgateProcess;
let clientA: EnvoyClient;
let clientB: EnvoyClient;
let publicBaseUrl: string;
let webhookUrl: string;
/** Resurrection attempts made and how many of them held (no old-session verdict, both replicas deny). */
const tally = { attempts: 0, held: 0 };

function config(extra: { publicBaseUrl?: string }): string {
  return testConfigYaml({
    issuer: jwks.url,
    jwksUri: jwks.jwksUrl,
    redisUrl: redis.url,
    localCacheTtl: '30s',
    adminToken: ADMIN_TOKEN,
    // The machine running the suite is shared: give a Check's own decision room inside the 2 s deadline.
    grpcYaml: 'decisionTimeout: 1500ms',
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

async function startProcesses(): Promise<void> {
  // Generous start timeouts: the suite runs on a shared, loaded machine and this file restarts processes.
  webhook = await startIdgate({ command: 'webhook', configYaml: config({}), timeoutMs: 45_000 });
  publicBaseUrl = `http://127.0.0.1:${webhook.ports.public}`;
  webhookUrl = `${publicBaseUrl}/webhooks/didit`;
  sandbox.setWebhookUrl(webhookUrl);
  [replicaA, replicaB] = await Promise.all([
    startIdgate({ command: 'authz', configYaml: config({ publicBaseUrl }), timeoutMs: 45_000 }),
    startIdgate({ command: 'authz', configYaml: config({ publicBaseUrl }), timeoutMs: 45_000 }),
  ]);
  clientA = createEnvoyClient(`127.0.0.1:${replicaA.ports.grpc}`);
  clientB = createEnvoyClient(`127.0.0.1:${replicaB.ports.grpc}`);
}

async function stopProcesses(): Promise<void> {
  clientA?.close();
  clientB?.close();
  await Promise.all([replicaA?.stop(), replicaB?.stop(), webhook?.stop()]);
}

async function check(client: EnvoyClient, sub: string, path = '/payments/checkout'): Promise<UpstreamCheckResponse> {
  const token = await mintToken(key, { iss: jwks.url, aud: 'idgate-test', now: Date.now(), sub, ttlSeconds: 600 });
  const headers: Record<string, string> = {
    ':authority': 'shop.example.com',
    ':method': 'GET',
    ':path': path,
    authorization: `Bearer ${token}`,
    accept: 'application/json',
  };
  const req: UpstreamCheckRequest = {
    attributes: {
      source: { address: { socket_address: { address: '198.51.100.4' } } },
      request: { http: { method: 'GET', path, host: 'shop.example.com', scheme: 'https', headers } },
    },
  };
  return client.check(req);
}

function problem(res: UpstreamCheckResponse): Record<string, unknown> {
  return JSON.parse(res.denied_response?.body || '{}') as Record<string, unknown>;
}
const allowed = (r: UpstreamCheckResponse): boolean => (r.status?.code ?? 0) === 0;

/** Polls `fn` until `pred` holds or the deadline passes, returning the last value. */
async function eventually<T>(fn: () => Promise<T>, pred: (v: T) => boolean, timeoutMs = 8_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let v = await fn();
  while (!pred(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    v = await fn();
  }
  return v;
}

async function stepUp(sub: string): Promise<string> {
  const res = await check(clientA, sub);
  expect(problem(res).code).toBe('verification_required');
  return String(problem(res).session_id);
}

async function expectAllowedOnBoth(sub: string): Promise<void> {
  for (const c of [clientA, clientB]) expect(allowed(await eventually(() => check(c, sub), allowed))).toBe(true);
}

/** Fail-closed answers of an overloaded replica: not the code under test, but never an allow. */
const OVERLOAD = new Set(['deadline_exceeded', 'dependency_unavailable']);

/**
 * Both replicas deny with `code` (their caches were invalidated). Polled with a deadline; on a loaded
 * machine the last answer may be an overload deny, which is accepted only because it is not an allow.
 */
async function expectDeniedOnBoth(sub: string, code = 'verification_required'): Promise<void> {
  for (const c of [clientA, clientB]) {
    const res = await eventually(() => check(c, sub), (r) => problem(r).code === code, 8_000);
    expect(allowed(res)).toBe(false);
    expect([code, ...OVERLOAD]).toContain(problem(res).code);
  }
}

/** Steps `sub` up, approves in the sandbox (webhook delivered) and waits until both replicas allow. */
async function approve(sub: string): Promise<string> {
  const sessionId = await stepUp(sub);
  const delivery = await sandbox.decide(sessionId, 'Approved');
  expect(delivery?.statusCode).toBe(200);
  await expectAllowedOnBoth(sub);
  return sessionId;
}

async function admin(method: string, path: string, proc: IdgateProcess = replicaA): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${proc.ports.admin}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const verdictKey = (sub: string): string => `idgate:v1:{test:${sub}}:verdict:kyc`;
const pendingKey = (sub: string): string => `idgate:v1:{test:${sub}}:pending:kyc`;

/**
 * The attack's outcome: Redis holds no verdict from the old session (the sweep may have recorded the
 * new step-up session's `Not Started`, which is not an approval), and both replicas still deny.
 */
async function expectStillRevoked(sub: string, oldSession: string, attempts = 1): Promise<void> {
  tally.attempts += attempts;
  const stored = await raw.get(verdictKey(sub));
  if (stored !== null) {
    const v = JSON.parse(stored) as { sessionId: string; status: string };
    expect(v.sessionId).not.toBe(oldSession);
    expect(v.status).not.toBe('Approved');
  }
  await expectDeniedOnBoth(sub);
  tally.held += attempts;
}

async function postSigned(payload: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  const signed = signWebhook(SECRET, payload);
  const res = await fetch(webhookUrl, { method: 'POST', headers: signed.headers, body: signed.body });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  redis = await startRedis({ appendonly: true });
  raw = new Redis(redis.url);
  raw.on('error', () => undefined);
  key = await createTestKey('ES256', 'k1');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  sandbox = createDiditSandbox({ logger: pino({ level: 'silent' }), apiKey: API_KEY, webhookSecret: SECRET, retryDelaysMs: [500, 1_000] });
  await sandbox.listen();
  await startProcesses();
}, 150_000);

afterAll(async () => {
  console.log(`[scorecard] revocation: ${tally.attempts} resurrection attempts after a revocation (2 authz replicas + webhook role, Redis) → ${tally.attempts - tally.held} re-established`);
  await stopProcesses();
  raw?.disconnect();
  await sandbox?.close();
  await jwks?.close();
  await redis?.close();
});

describe('a revocation sticks against every path that re-derives a verdict from an old session', () => {
  it('the browser callback with the old session id (no token, no cookie) does not bring it back', async () => {
    const sessionId = await approve('alice');
    expect((await admin('DELETE', '/admin/subjects/test%3Aalice/verdicts/kyc')).status).toBe(200);
    await expectDeniedOnBoth('alice');

    const fetchesBefore = sandbox.apiRequests();
    const back = await fetch(`${publicBaseUrl}/verification/callback?verificationSessionId=${sessionId}`, { redirect: 'manual' });
    // idgate asked Didit (which still says Approved) and refused the answer: no redirect "back in".
    expect(sandbox.apiRequests()).toBeGreaterThan(fetchesBefore);
    expect(back.status).toBe(410);
    await expectStillRevoked('alice', sessionId);
  });

  it('an identical replay of the signed webhook, inside its timestamp window, does not bring it back', async () => {
    const sessionId = await approve('bob');
    const original = sandbox.deliveries().find((d) => d.sessionId === sessionId && d.status === 'Approved' && d.outcome === 'delivered');
    expect(original).toBeDefined();
    expect((await admin('DELETE', '/admin/subjects/test%3Abob/verdicts')).status).toBe(200);
    await expectDeniedOnBoth('bob');

    const replay = await fetch(webhookUrl, { method: 'POST', headers: original!.headers, body: original!.body });
    expect(replay.status).toBe(200);
    expect(await replay.json()).toMatchObject({ result: 'revoked' });
    await expectStillRevoked('bob', sessionId);
  });

  it("Didit's own late retry (re-signed with a fresh timestamp) does not bring it back", async () => {
    // A relay in front of the webhook process: the first attempt reaches idgate but Didit sees a 503
    // (the answer was lost), so Didit retries; the retry is held until the revocation is done.
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    const answers: { attempt: number; status: number; body: string }[] = [];
    let attempts = 0;
    const forward = async (req: IncomingMessage, body: Buffer): Promise<{ status: number; body: string }> => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers[k] = v;
      const res = await fetch(webhookUrl, { method: 'POST', headers, body });
      return { status: res.status, body: await res.text() };
    };
    const relay: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const attempt = (attempts += 1);
        void (async () => {
          if (attempt > 1) await released;
          const answer = await forward(req, Buffer.concat(chunks));
          answers.push({ attempt, ...answer });
          res.writeHead(attempt === 1 ? 503 : answer.status, { 'content-type': 'application/json' }).end(answer.body);
        })();
      });
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    try {
      const sessionId = await stepUp('carol');
      sandbox.setWebhookUrl(`http://127.0.0.1:${(relay.address() as AddressInfo).port}/webhooks/didit`);
      const first = await sandbox.decide(sessionId, 'Approved');
      expect(first?.statusCode).toBe(503);
      expect(answers[0]).toMatchObject({ attempt: 1, status: 200 });
      await expectAllowedOnBoth('carol');

      expect((await admin('DELETE', '/admin/subjects/test%3Acarol')).status).toBe(200);
      await expectDeniedOnBoth('carol');
      release();
      const retried = await eventually(
        async () => sandbox.deliveries().filter((d) => d.sessionId === sessionId && d.attempt === 2),
        (list) => list.some((d) => d.outcome === 'delivered'),
        10_000,
      );
      expect(retried.some((d) => d.outcome === 'delivered')).toBe(true);
      expect(JSON.parse(answers.find((a) => a.attempt === 2)?.body ?? '{}')).toMatchObject({ result: 'revoked' });
      await expectStillRevoked('carol', sessionId);
    } finally {
      release();
      sandbox.setWebhookUrl(webhookUrl);
      await new Promise<void>((r) => relay.close(() => r()));
    }
  });

  it('the reconciliation sweep does not bring it back, even for a pending session it had already listed', async () => {
    const sessionId = await stepUp('dave');
    const pendingJson = await raw.get(pendingKey('dave'));
    expect(pendingJson).not.toBeNull();
    const createdAt = (JSON.parse(pendingJson!) as { createdAt: number }).createdAt;
    // Didit approves but the webhook is lost: only the sweep (or the callback) can learn of it.
    sandbox.setWebhookUrl(undefined);
    try {
      await sandbox.decide(sessionId, 'Approved');
    } finally {
      sandbox.setWebhookUrl(webhookUrl);
    }
    const revoked = await admin('DELETE', '/admin/subjects/test%3Adave/verdicts/kyc');
    expect(revoked.status).toBe(200);
    // As if the sweep had listed the session just before the revocation: the pending record is back.
    await raw.set(pendingKey('dave'), pendingJson!, 'PX', 60_000);
    await raw.zadd('idgate:v1:pending-index', createdAt, JSON.stringify(['test:dave', 'kyc']));
    // The sweep (every 1 s) fetches Didit's Approved decision and must refuse it, dropping the session.
    const gone = await eventually(() => raw.exists(pendingKey('dave')), (n) => n === 0, 10_000);
    expect(gone).toBe(0);
    await expectStillRevoked('dave', sessionId);
  });

  it('a decision fetch (a signed webhook without decision data) does not bring it back', async () => {
    const sessionId = await approve('erin');
    expect((await admin('DELETE', '/admin/subjects/test%3Aerin/verdicts/kyc')).status).toBe(200);
    await expectDeniedOnBoth('erin');
    const fetchesBefore = sandbox.apiRequests();
    const res = await postSigned({
      session_id: sessionId,
      webhook_type: 'status.updated',
      vendor_data: 'test:erin',
      workflow_id: KYC,
      status: 'Approved',
      timestamp: Math.floor(Date.now() / 1000),
    });
    expect(sandbox.apiRequests()).toBeGreaterThan(fetchesBefore);
    expect(res).toMatchObject({ status: 200, body: { result: 'revoked' } });
    await expectStillRevoked('erin', sessionId);
  });

  it('a Didit status regression (Approved → Declined) leaves a watermark: flipping the old session back does not re-approve', async () => {
    const sessionId = await approve('frank');
    const patch = (status: string) =>
      fetch(`${sandbox.url}/v3/session/${sessionId}/update-status/`, {
        method: 'PATCH',
        headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
        body: JSON.stringify({ new_status: status, comment: 'review' }),
      });
    expect((await patch('Declined')).status).toBe(200);
    await expectDeniedOnBoth('frank', 'verification_declined');

    const deliveriesBefore = sandbox.deliveries().length;
    expect((await patch('Approved')).status).toBe(200);
    const delivered = await eventually(
      async () => sandbox.deliveries().slice(deliveriesBefore).filter((d) => d.sessionId === sessionId && d.status === 'Approved'),
      (list) => list.some((d) => d.outcome === 'delivered'),
    );
    expect(delivered.some((d) => d.outcome === 'delivered')).toBe(true);
    expect(JSON.parse((await raw.get(verdictKey('frank'))) ?? '{}')).toMatchObject({ sessionId, status: 'Declined' });
    await expectDeniedOnBoth('frank', 'verification_declined');
    tally.attempts += 1;
    tally.held += 1;
    const listed = await admin('GET', '/admin/subjects/test%3Afrank/verdicts');
    expect(listed.body.revocations).toEqual([expect.objectContaining({ reason: 'didit_status_regression', workflow: 'kyc' })]);
  });

  it("a step-up after the revocation never resumes an unfinished session from before it (Didit's vendor_data reuse)", async () => {
    // The user started a step-up (session open, not finished at Didit), then was revoked.
    const old = await stepUp('oscar');
    expect([200, 404]).toContain((await admin('DELETE', '/admin/subjects/test%3Aoscar/verdicts/kyc')).status);
    // The next step-up: Didit would hand the open session back for the same vendor_data; idgate must not
    // take it as new (its record keeps the old creation time) and gets a fresh one instead.
    const fresh = await stepUp('oscar');
    expect(fresh).not.toBe(old);
    const res = await postSigned({
      session_id: old,
      webhook_type: 'status.updated',
      vendor_data: 'test:oscar',
      workflow_id: KYC,
      status: 'Approved',
      timestamp: Math.floor(Date.now() / 1000),
      decision: { session_id: old, status: 'Approved' },
    });
    expect(res.body.result).not.toBe('written');
    const back = await fetch(`${publicBaseUrl}/verification/callback?verificationSessionId=${old}`, { redirect: 'manual' });
    await back.arrayBuffer();
    expect(back.status).not.toBe(302);
    await expectStillRevoked('oscar', old, 2);
    // The fresh session settles as usual.
    expect((await sandbox.decide(fresh, 'Approved'))?.statusCode).toBe(200);
    await expectAllowedOnBoth('oscar');
  });

  it('a new session created after the revocation does re-establish the verdict (control)', async () => {
    const old = await approve('grace');
    expect((await admin('DELETE', '/admin/subjects/test%3Agrace/verdicts/kyc')).status).toBe(200);
    await expectDeniedOnBoth('grace');
    const fresh = await stepUp('grace');
    expect(fresh).not.toBe(old);
    expect((await sandbox.decide(fresh, 'Approved'))?.statusCode).toBe(200);
    await expectAllowedOnBoth('grace');
    expect(JSON.parse((await raw.get(verdictKey('grace'))) ?? '{}')).toMatchObject({ sessionId: fresh, status: 'Approved' });
  });

  it('still sticks after every idgate process and Redis restarted: callback, replay and decision fetch', async () => {
    const sessionId = await approve('heidi');
    const original = sandbox.deliveries().find((d) => d.sessionId === sessionId && d.status === 'Approved' && d.outcome === 'delivered');
    expect((await admin('DELETE', '/admin/subjects/test%3Aheidi')).status).toBe(200);
    await expectDeniedOnBoth('heidi');

    await stopProcesses();
    await redis.restart();
    await startProcesses();

    const back = await fetch(`${publicBaseUrl}/verification/callback?verificationSessionId=${sessionId}`, { redirect: 'manual' });
    expect(back.status).toBe(410);
    const replay = await fetch(webhookUrl, { method: 'POST', headers: original!.headers, body: original!.body });
    expect(await replay.json()).toMatchObject({ result: 'revoked' });
    const refetch = await postSigned({
      session_id: sessionId,
      webhook_type: 'status.updated',
      vendor_data: 'test:heidi',
      workflow_id: KYC,
      status: 'Approved',
      timestamp: Math.floor(Date.now() / 1000),
    });
    expect(refetch.body).toMatchObject({ result: 'revoked' });
    await expectStillRevoked('heidi', sessionId, 3);
  }, 150_000);
});

describe('admin API: says what it revoked, 404 when nothing, an audit line per action', () => {
  it('names the workflows and sessions it revoked, answers 404 with nothing to revoke, and audits each action with the caller address', async () => {
    const approvedSession = await approve('ivan');
    const pendingSession = await stepUp('judy');

    const original = sandbox.deliveries().find((d) => d.sessionId === approvedSession && d.outcome === 'delivered');
    const one = await admin('DELETE', '/admin/subjects/test%3Aivan/verdicts/kyc');
    expect(one).toMatchObject({ status: 200, body: { subject: 'test:ivan', revoked: 'kyc', workflows: ['kyc'], sessions: [approvedSession] } });
    expect(typeof one.body.revokedAt).toBe('number');
    const again = await admin('DELETE', '/admin/subjects/test%3Aivan/verdicts/kyc');
    expect(again).toMatchObject({ status: 404, body: { code: 'not_found', subject: 'test:ivan' } });

    const pending = await admin('DELETE', '/admin/subjects/test%3Ajudy/verdicts', replicaB);
    expect(pending).toMatchObject({ status: 200, body: { revoked: 'all', workflows: ['kyc'], sessions: [], pendingSessions: [pendingSession] } });
    expect(await raw.exists(pendingKey('judy'))).toBe(0);
    // The next step-up is a session created after the revocation: Didit would hand the unfinished one back
    // (its vendor_data idempotency), so idgate deleted that one at Didit and got a new id.
    expect(await stepUp('judy')).not.toBe(pendingSession);
    const fresh = JSON.parse((await raw.get(pendingKey('judy'))) ?? '{}') as { createdAt?: number };
    expect(fresh.createdAt).toBeGreaterThan(pending.body.revokedAt as number);

    expect((await admin('DELETE', '/admin/subjects/test%3Anobody-here')).status).toBe(404);
    expect((await admin('DELETE', '/admin/subjects/test%3Anobody-here/verdicts')).status).toBe(404);
    expect((await admin('DELETE', '/admin/subjects/test%3Anobody-here/risk')).status).toBe(404);

    const entries = (await raw.xrange('idgate:v1:audit', '-', '+')).map(([, fields]) => {
      const o: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) o[fields[i]!] = fields[i + 1]!;
      return o;
    });
    const adminEntries = entries.filter((e) => e.source === 'admin');
    expect(adminEntries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: 'revoke_verdict', subject: 'test:ivan', workflow: 'kyc', status: '200', sessions: approvedSession, caller: '127.0.0.1' }),
        expect.objectContaining({ action: 'revoke_verdict', subject: 'test:ivan', status: '404', caller: '127.0.0.1' }),
        expect.objectContaining({ action: 'revoke_verdicts', subject: 'test:judy', status: '200', sessions: pendingSession }),
        expect.objectContaining({ action: 'revoke_subject', subject: 'test:nobody-here', status: '404' }),
        expect.objectContaining({ action: 'reset_risk', subject: 'test:nobody-here', status: '404' }),
      ]),
    );
    // Refused writes are audited too, so an operator can see an attempted resurrection.
    const replay = await fetch(webhookUrl, { method: 'POST', headers: original!.headers, body: original!.body });
    expect(await replay.json()).toMatchObject({ result: 'revoked' });
    const refused = (await raw.xrange('idgate:v1:audit', '-', '+')).map(([, f]) => f.join(' '));
    expect(refused.some((line) => line.includes('result revoked') && line.includes(`session_id ${approvedSession}`))).toBe(true);
  });
});
