import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDiditSandbox, type DiditSandbox } from '../../src/sandbox/create-didit-sandbox.js';
import { checkRequest, eventually, outcomeOf, problemOf, tally } from '../support/check-requests.js';
import { testConfigYaml } from '../support/config-yaml.js';
import { createEnvoyClient, type EnvoyClient } from '../support/envoy-client.js';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import { startRedis, type RedisServerHandle } from '../support/redis-server.js';
import { createTestKey, jwksOf, mintToken, type TestKey } from '../support/tokens.js';

/**
 * Didit's API failing under idgate (two authz replicas on one Redis, the sandbox injecting faults):
 * 500s, 429 with Retry-After, dropped connections and slow answers. Attempts are counted at the sandbox.
 * The config has `maxRetries: 1` (2 attempts per call), `requestTimeout: 2s`, a 1.5 s decision budget,
 * and the client's default circuit breaker (5 consecutive transient failures → open for 5 s).
 */
const API_KEY = 'fault-didit-api-key';
const SECRET = 'fault-didit-webhook-secret-0123456789';
const KYC = '11111111-2222-4333-8444-0000000000d1';
const ADULT = '11111111-2222-4333-8444-0000000000d2';
const FAIL_CLOSED = ['dependency_unavailable', 'deadline_exceeded'];

let redis: RedisServerHandle;
let jwks: JwksServer;
let key: TestKey;
let sandbox: DiditSandbox;
let replicas: IdgateProcess[] = [];
let clients: EnvoyClient[] = [];
const summary: string[] = [];

async function check(replica: number, sub: string) {
  const token = await mintToken(key, { iss: jwks.url, aud: 'idgate-test', now: Date.now(), sub, ttlSeconds: 600 });
  return (clients[replica] as EnvoyClient).check(checkRequest({ path: '/payments/x', token }), { deadlineMs: 3_000 });
}

function sessionsOf(sub: string) {
  return sandbox.sessions().filter((s) => s.vendorData === `test:${sub}`);
}

/** Checks until `sub` gets its step-up (the fault cleared), returning the outcomes seen on the way. */
async function untilStepUp(replica: number, sub: string, timeoutMs = 8_000): Promise<string[]> {
  const seen: string[] = [];
  await eventually(
    async () => {
      const o = outcomeOf(await check(replica, sub));
      seen.push(o);
      return o;
    },
    (o) => o === 'verification_required',
    timeoutMs,
    50,
  );
  return seen;
}

beforeAll(async () => {
  redis = await startRedis();
  key = await createTestKey('ES256', 'fd1');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  sandbox = createDiditSandbox({ logger: pino({ level: 'silent' }), apiKey: API_KEY, webhookSecret: SECRET });
  await sandbox.listen();
  const yaml = testConfigYaml({
    issuer: jwks.url,
    jwksUri: jwks.jwksUrl,
    redisUrl: redis.url,
    grpcYaml: 'decisionTimeout: 1500ms',
    didit: { apiBaseUrl: sandbox.url, apiKey: API_KEY, webhookSecret: SECRET, kycWorkflowId: KYC, ageWorkflowId: ADULT, publicBaseUrl: 'http://127.0.0.1:1' },
    extraRoutes: `    - id: lenient
      match: { prefix: /lenient }
      failOpen: true
      require: { verification: [kyc] }
`,
  });
  replicas = await Promise.all([0, 1].map(() => startIdgate({ command: 'authz', configYaml: yaml })));
  clients = replicas.map((r) => createEnvoyClient(`127.0.0.1:${r.ports.grpc}`));
}, 40_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all(replicas.map((r) => r.stop()));
  await sandbox?.close();
  await jwks?.close();
  await redis?.close();
  console.log(`[scorecard] fault-didit: ${summary.join('; ')}`);
});

describe('Didit API faults', () => {
  it.each([
    { name: '500 ×4', fault: { status: 500 as const, count: 4 }, attempts: 5 },
    { name: '429 Retry-After 1 ×2', fault: { status: 429 as const, retryAfter: 1, count: 2 }, attempts: 3 },
    { name: 'connection reset ×2', fault: { reset: true, count: 2 }, attempts: 3 },
  ])('$name: bounded retries, fail-closed 503s, then exactly one session', async ({ name, fault, attempts }) => {
    const sub = `f-${name.replace(/\W+/g, '')}`;
    const before = sandbox.apiRequests();
    sandbox.injectApiFaults(fault);
    const seen = await untilStepUp(0, sub);
    const denies = seen.slice(0, -1);
    expect(denies.length).toBeGreaterThan(0);
    for (const o of denies) expect(FAIL_CLOSED).toContain(o);
    // Every injected fault consumed once, then one successful create: no attempt beyond maxRetries.
    expect(sandbox.apiRequests() - before).toBe(attempts);
    expect(sessionsOf(sub)).toHaveLength(1);
    // And the session is reused from now on, on both replicas.
    const again = await Promise.all([check(0, sub), check(1, sub)]);
    for (const r of again) expect(problemOf(r).session_id).toBe(sessionsOf(sub)[0]?.sessionId);
    expect(sessionsOf(sub)).toHaveLength(1);
    summary.push(`${name}: ${denies.length} Checks answered ${JSON.stringify(tally(denies))}, ${attempts} attempts at Didit, 1 session`);
  });

  it('a slow Didit under a burst on two replicas: step-ups to the start URL in time, no pile-up, one session', async () => {
    const sub = 'slowpoke';
    const before = sandbox.apiRequests();
    sandbox.injectApiFaults({ delayMs: 2_500, count: 1 });
    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => check(i % 2, sub)));
    const outcomes = burst.map(outcomeOf);
    // Before issue 13 these were deadline_exceeded / dependency_unavailable: the Check waited for Didit.
    // Now every Check is answered before its deadline with idgate's start URL, and the creation runs on.
    // (A deadline deny can still happen when this loaded machine stalls a replica for the whole budget.)
    for (const o of outcomes) expect(['verification_required', 'deadline_exceeded']).toContain(o);
    expect(outcomes.filter((o) => o === 'verification_required').length).toBeGreaterThan(10);
    for (const r of burst) {
      if (outcomeOf(r) === 'verification_required') expect(String(problemOf(r).verification_url)).toContain('/verification/start/');
    }
    await eventually(async () => sessionsOf(sub).length, (n) => n === 1, 8_000, 50);
    await untilStepUp(1, sub);
    // One slow attempt (abandoned at requestTimeout) and one retry: the burst did not fan out.
    expect(sandbox.apiRequests() - before).toBeLessThanOrEqual(3);
    expect(sessionsOf(sub)).toHaveLength(1);
    summary.push(`slow 2.5 s ×1 under a 20-Check burst on 2 replicas: ${JSON.stringify(tally(outcomes))} (start URL), ${sandbox.apiRequests() - before} attempts, 1 session`);
  });

  it('opens the circuit after 5 failures: later Checks fail fast without reaching Didit, then one probe closes it', async () => {
    const before = sandbox.apiRequests();
    sandbox.injectApiFaults({ status: 500, count: 5 });
    const outcomes: string[] = [];
    for (let i = 0; i < 12; i++) outcomes.push(outcomeOf(await check(0, `cb${i}`)));
    for (const o of outcomes) expect(FAIL_CLOSED).toContain(o);
    // cb0 and cb1 used two attempts each, cb2 one (the fifth failure opened the circuit), cb3..cb11 none.
    expect(sandbox.apiRequests() - before).toBe(5);
    expect(outcomes.slice(3).every((o) => o === 'dependency_unavailable')).toBe(true);
    const opened = await replicas[0]?.waitForLog((l) => l.msg === 'Didit circuit opened; failing fast', 2_000);
    expect(opened).toBeDefined();
    // After the 5 s cool-down one probe goes out, succeeds, and the circuit closes.
    const seen = await untilStepUp(0, 'cb-after', 9_000);
    expect(seen.at(-1)).toBe('verification_required');
    expect(sandbox.apiRequests() - before).toBe(6);
    expect(sessionsOf('cb-after')).toHaveLength(1);
    for (let i = 0; i < 12; i++) expect(sessionsOf(`cb${i}`)).toHaveLength(0);
    summary.push(`circuit breaker: 500 ×5 then ${outcomes.length + seen.length - 1} Checks while open → ${sandbox.apiRequests() - before} attempts in total (5 failures + 1 probe), closed after cool-down`);
  }, 20_000);

  it('failOpen: a Didit 400 (our own bad request) fails closed; only a real outage (500) fails open', async () => {
    const lenient = async (sub: string) => {
      const token = await mintToken(key, { iss: jwks.url, aud: 'idgate-test', now: Date.now(), sub, ttlSeconds: 600 });
      return (clients[1] as EnvoyClient).check(checkRequest({ path: '/lenient/x', token }), { deadlineMs: 3_000 });
    };
    let before = sandbox.apiRequests();
    sandbox.injectApiFaults({ status: 400, count: 1 });
    const bad = await lenient('fo-bad');
    expect(outcomeOf(bad)).toBe('dependency_unavailable');
    expect(sandbox.apiRequests() - before).toBe(1); // a 400 is final: not retried
    before = sandbox.apiRequests();
    sandbox.injectApiFaults({ status: 500, count: 2 });
    expect(outcomeOf(await lenient('fo-outage'))).toBe('allow');
    expect(sandbox.apiRequests() - before).toBe(2);
    // Not vacuous: with Didit healthy the route does ask for the verification.
    expect(outcomeOf(await lenient('fo-bad'))).toBe('verification_required');
    summary.push('failOpen route: Didit 400 → dependency_unavailable (fails closed); Didit 500 ×2 → allow (outage fails open)');
  });
});
