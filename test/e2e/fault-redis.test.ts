import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDiditSandbox, type DiditSandbox } from '../../src/sandbox/create-didit-sandbox.js';
import { createStoreKeys } from '../../src/store/store-keys.js';
import type { SessionStatus } from '../../src/core/verdict.js';
import { checkRequest, eventually, isAllow, outcomeOf, problemOf, tally } from '../support/check-requests.js';
import { testConfigYaml } from '../support/config-yaml.js';
import { createEnvoyClient, type EnvoyClient } from '../support/envoy-client.js';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import { startRedis, type RedisServerHandle } from '../support/redis-server.js';
import { createTestKey, jwksOf, mintToken, type TestKey } from '../support/tokens.js';

/**
 * Redis is SIGKILLed and restarted while Checks (two authz replicas) and Didit webhooks (one webhook
 * process, via the sandbox with short retry delays of 0.5 s and 2.5 s) keep flowing. Redis runs with AOF (`appendonly yes`,
 * the default `appendfsync everysec`): a killed process loses nothing that reached the kernel, so every
 * verdict acknowledged before the kill must still be there after the restart. The reconciliation sweep is
 * pushed out of the way (`reconcileAfter: 10m`) so that only webhooks can settle a session here.
 */
const API_KEY = 'fault-redis-api-key';
const SECRET = 'fault-redis-webhook-secret-0123456789';
const KYC = '11111111-2222-4333-8444-0000000000f1';
const ADULT = '11111111-2222-4333-8444-0000000000f2';
const WORKERS = 8;
/** Per-replica verdict cache TTL (`store.localCacheTtl`), shorter than the outage. */
const CACHE_TTL_MS = 1_000;
const OUTAGE_MS = 1_500;
const MAX_CHECKS = 4_000;

const approvedBefore = ['a1', 'a2', 'a3', 'a4'];
const approvedDuring = ['u1', 'u2', 'u3'];
const declinedDuring = ['d1', 'd2'];
const never = ['n1', 'n2'];
const everyone = [...approvedBefore, ...approvedDuring, ...declinedDuring, ...never];

let redis: RedisServerHandle;
let jwks: JwksServer;
let key: TestKey;
let sandbox: DiditSandbox;
let webhook: IdgateProcess;
let replicas: IdgateProcess[] = [];
let clients: EnvoyClient[] = [];
const tokens = new Map<string, string>();
const sessions = new Map<string, string>();

function config(publicBaseUrl?: string): string {
  return testConfigYaml({
    issuer: jwks.url,
    jwksUri: jwks.jwksUrl,
    redisUrl: redis.url,
    localCacheTtl: `${CACHE_TTL_MS}ms`,
    didit: {
      apiBaseUrl: sandbox.url,
      apiKey: API_KEY,
      webhookSecret: SECRET,
      kycWorkflowId: KYC,
      ageWorkflowId: ADULT,
      reconcileAfter: '10m',
      sweepInterval: '60s',
      ...(publicBaseUrl ? { publicBaseUrl } : {}),
    },
  });
}

async function check(replica: number, subject: string) {
  const client = clients[replica % clients.length] as EnvoyClient;
  return client.check(checkRequest({ path: '/payments/x', token: tokens.get(subject) as string }), { deadlineMs: 1_000 });
}

beforeAll(async () => {
  redis = await startRedis({ appendonly: true });
  key = await createTestKey('ES256', 'fr1');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  sandbox = createDiditSandbox({ logger: pino({ level: 'silent' }), apiKey: API_KEY, webhookSecret: SECRET, retryDelaysMs: [500, 2_500] });
  await sandbox.listen();
  webhook = await startIdgate({ command: 'webhook', configYaml: config() });
  const publicBaseUrl = `http://127.0.0.1:${webhook.ports.public}`;
  sandbox.setWebhookUrl(`${publicBaseUrl}/webhooks/didit`);
  replicas = await Promise.all([0, 1].map(() => startIdgate({ command: 'authz', configYaml: config(publicBaseUrl) })));
  clients = replicas.map((r) => createEnvoyClient(`127.0.0.1:${r.ports.grpc}`));
  for (const s of everyone) {
    tokens.set(s, await mintToken(key, { iss: jwks.url, aud: 'idgate-test', now: Date.now(), sub: s, ttlSeconds: 900 }));
  }
  // Pending sessions for everyone who will be decided; Approved verdicts for the first group.
  for (const s of [...approvedBefore, ...approvedDuring, ...declinedDuring]) {
    // A cold replica may answer a first session creation past the 1 s deadline (a fail-closed deny): ask
    // again until the challenge comes, within eventually's deadline, instead of racing the warm-up.
    const res = await eventually(() => check(0, s), (r) => problemOf(r).code === 'verification_required' && problemOf(r).session_id !== undefined);
    expect(problemOf(res).code).toBe('verification_required');
    sessions.set(s, String(problemOf(res).session_id));
  }
  for (const s of approvedBefore) await sandbox.decide(sessions.get(s) as string, 'Approved');
  for (const s of approvedBefore) {
    for (const r of [0, 1]) expect(isAllow(await eventually(() => check(r, s), isAllow))).toBe(true);
  }
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all([...replicas.map((r) => r.stop()), webhook?.stop()]);
  await sandbox?.close();
  await jwks?.close();
  await redis?.close();
});

interface Answer {
  readonly subject: string;
  readonly sentAt: number;
  readonly answeredAt: number;
  readonly outcome: string;
}

describe('Redis killed and restarted under load (production shape)', () => {
  it('never allows an unreadable verdict, loses no webhook and keeps every verdict written before the kill', async () => {
    const answers: Answer[] = [];
    let rpcErrors = 0;
    let stop = false;
    const worker = async (w: number): Promise<void> => {
      for (let i = 0; !stop && answers.length + rpcErrors < MAX_CHECKS; i++) {
        const subject = everyone[(w * 5 + i * 3) % everyone.length] as string;
        const sentAt = Date.now();
        try {
          const res = await check(w + i, subject);
          answers.push({ subject, sentAt, answeredAt: Date.now(), outcome: outcomeOf(res) });
        } catch {
          rpcErrors += 1;
        }
        await sleep(8);
      }
    };
    const running = Array.from({ length: WORKERS }, (_, w) => worker(w));

    await sleep(300);
    await redis.kill();
    const killedAt = Date.now();
    const decided = new Map<string, SessionStatus>();
    for (const s of approvedDuring) decided.set(s, 'Approved');
    for (const s of declinedDuring) decided.set(s, 'Declined');
    const firstAttempts = [...decided].map(([s, status]) => sandbox.decide(sessions.get(s) as string, status));
    await sleep(OUTAGE_MS);
    const restartAt = Date.now();
    await redis.restart();

    // Every decided session's webhook must land (Didit retries after 0.5 s and 2.5 s more here).
    const deliveredFor = (s: string) =>
      sandbox.deliveries().find((d) => d.sessionId === sessions.get(s) && d.status === decided.get(s) && d.outcome === 'delivered');
    await eventually(async () => [...decided.keys()].every((s) => deliveredFor(s) !== undefined), (ok) => ok, 10_000);
    await Promise.all(firstAttempts);
    await sleep(1_500);
    stop = true;
    await Promise.all(running);

    // 1. No RPC errors, and every deny is one of the fail-closed or verification answers.
    expect(rpcErrors).toBe(0);
    const codes = tally(answers.map((a) => a.outcome));
    for (const code of Object.keys(codes)) {
      expect(['allow', 'dependency_unavailable', 'deadline_exceeded', 'verification_required', 'verification_declined']).toContain(code);
    }
    // 2. During the outage only subjects with an Approved verdict from before (served from the replica's
    //    cache within its TTL) may be allowed; everyone else gets 503.
    const during = answers.filter((a) => a.sentAt >= killedAt && a.answeredAt <= restartAt);
    const allowedDuring = during.filter((a) => a.outcome === 'allow');
    for (const a of allowedDuring) expect(approvedBefore).toContain(a.subject);
    // A cache entry is stamped when its (successful) read started, i.e. before the kill, so no Check sent
    // more than the TTL after the kill can be answered from it: those must all be 503.
    const pastTtl = during.filter((a) => a.sentAt > killedAt + CACHE_TTL_MS);
    expect(pastTtl.length).toBeGreaterThan(0);
    expect(pastTtl.filter((a) => a.outcome === 'allow')).toEqual([]);
    for (const a of during.filter((x) => !approvedBefore.includes(x.subject))) {
      expect(['dependency_unavailable', 'deadline_exceeded']).toContain(a.outcome);
    }
    // 3. Never, at any time: an allow for a declined or never-verified subject, or for an approved-during
    //    subject before its webhook was even sent; an approved-before subject sent back to step-up.
    for (const a of answers) {
      if (declinedDuring.includes(a.subject) || never.includes(a.subject)) expect(a.outcome).not.toBe('allow');
      if (approvedDuring.includes(a.subject) && a.outcome === 'allow') {
        expect(a.answeredAt).toBeGreaterThanOrEqual((deliveredFor(a.subject)?.at ?? Infinity) - 5);
      }
      if (approvedBefore.includes(a.subject)) expect(['allow', 'dependency_unavailable', 'deadline_exceeded']).toContain(a.outcome);
    }
    // 4. Webhooks: each either 2xx first time or 5xx/connection failures followed by a 2xx retry; none lost.
    let retried = 0;
    let firstTime = 0;
    for (const s of decided.keys()) {
      const attempts = sandbox.deliveries().filter((d) => d.sessionId === sessions.get(s) && d.status === decided.get(s));
      const ok = attempts.findIndex((d) => d.outcome === 'delivered');
      expect(ok).toBeGreaterThanOrEqual(0);
      for (const before of attempts.slice(0, ok)) expect(before.statusCode === undefined || before.statusCode >= 500).toBe(true);
      expect(attempts.some((d) => d.outcome === 'failed')).toBe(false);
      if (ok === 0) firstTime += 1;
      else retried += 1;
    }
    // Every decision made during the outage met a 5xx first and landed on a retry: the retry path was
    // exercised for each of them, not merely allowed.
    expect(retried).toBe(decided.size);
    expect(firstTime).toBe(0);
    // 5. After the restart every verdict is in Redis (including those written before the SIGKILL) and enforced.
    const redisClient = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redisClient.connect();
    const keys = createStoreKeys();
    try {
      for (const s of [...approvedBefore, ...decided.keys()]) {
        const raw = await redisClient.get(keys.verdict(`test:${s}`, 'kyc'));
        expect(raw, s).not.toBeNull();
        expect((JSON.parse(raw as string) as { status: string }).status).toBe(decided.get(s) ?? 'Approved');
      }
    } finally {
      redisClient.disconnect();
    }
    for (const r of [0, 1]) {
      for (const s of [...approvedBefore, ...approvedDuring]) expect(outcomeOf(await eventually(() => check(r, s), isAllow, 5_000))).toBe('allow');
      // A fail-closed 503 (deadline on a loaded machine) is not the steady-state answer: ask again.
      const settled = (res: Awaited<ReturnType<typeof check>>) => !['deadline_exceeded', 'dependency_unavailable'].includes(outcomeOf(res));
      for (const s of declinedDuring) expect(outcomeOf(await eventually(() => check(r, s), settled, 15_000))).toBe('verification_declined');
      for (const s of never) expect(outcomeOf(await eventually(() => check(r, s), settled, 15_000))).toBe('verification_required');
    }
    console.log(
      `[scorecard] fault-redis: ${answers.length} Checks (${WORKERS} concurrent, 2 replicas), rpcErrors=${rpcErrors}, outcomes=${JSON.stringify(codes)}; ` +
        `during outage ${during.length} Checks: ${allowedDuring.length} allowed (all cached Approved subjects, within TTL), ${during.length - allowedDuring.length} denied 503, ` +
        `${pastTtl.length} sent after the cache TTL → 0 allowed; ` +
        `webhooks ${decided.size}: ${firstTime} first try, ${retried} after 5xx retry, 0 lost; verdicts after SIGKILL+restart ${approvedBefore.length + decided.size}/${approvedBefore.length + decided.size}`,
    );
  }, 50_000);
});
