import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDiditSandbox, type DiditSandbox } from '../../src/sandbox/index.js';
import { createRedisStore, type RedisStore } from '../../src/store/redis/create-redis-store.js';
import { testConfigYaml } from '../support/config-yaml.js';
import { createEnvoyClient, type EnvoyClient, type UpstreamCheckRequest, type UpstreamCheckResponse } from '../support/envoy-client.js';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import { startRedis, type RedisServerHandle } from '../support/redis-server.js';
import { createTestKey, jwksOf, mintToken, type TestKey } from '../support/tokens.js';

/**
 * Continuous verification end to end: two `idgate authz` replicas share one redis-server. Each risk
 * signal is provoked through real Checks (alternating replicas, so the state is visibly shared) and the
 * route's risk bands turn the score into a step-up or a deny; the decision log's trace names the signals.
 * Then admin revocation on one replica takes effect on the other at once, despite its warm verdict cache.
 */
const AUD = 'idgate-test';
const API_KEY = 'sbx_risk_key';
const SECRET = 'sbx_risk_secret';
const ADMIN_TOKEN = 'risk-admin-token-0123456789abcdef';
const KYC = '9f1e0000-0000-4000-8000-0000000000b1';
const ADULT = '9f1e0000-0000-4000-8000-0000000000b2';

const RISK_YAML = `context:
  countryHeader: x-geo-country
  deviceHeaders: [x-device-id]
risk:
  enabled: true
  weights: { new_device: 30, country_change: 40, impossible_travel: 60, velocity: 70, too_many_ips: 70 }
  impossibleTravel: 1h
  velocity: { window: 1m, max: 5 }
  tokenIps: { window: 1h, max: 2 }
`;
// Risk bands: 30..69 → step up to kyc, ≥ 70 → deny (risk_denied).
const RISK_ROUTE = `    - id: risky
      match: { prefix: /risky }
      require: { scopes: [read] }
      risk:
        - atLeast: 30
          then: { stepUp: kyc }
        - atLeast: 70
          then: deny
`;

let redis: RedisServerHandle;
let raw: Redis;
let seed: RedisStore;
let jwks: JwksServer;
let sandbox: DiditSandbox;
let key: TestKey;
let a: IdgateProcess;
let b: IdgateProcess;
let clientA: EnvoyClient;
let clientB: EnvoyClient;

interface Call {
  readonly path?: string;
  readonly token: string;
  readonly ip?: string;
  readonly country?: string;
  readonly device?: string;
}

function checkRequest(call: Call, id: string): UpstreamCheckRequest {
  const path = call.path ?? '/risky/x';
  return {
    attributes: {
      source: { address: { socket_address: { address: call.ip ?? '203.0.113.10', port_value: 40000 } } },
      request: {
        http: {
          method: 'GET',
          path,
          host: 'shop.example.com',
          scheme: 'https',
          headers: {
            ':authority': 'shop.example.com',
            ':method': 'GET',
            ':path': path,
            accept: 'application/json',
            'x-request-id': id,
            authorization: `Bearer ${call.token}`,
            ...(call.country !== undefined ? { 'x-geo-country': call.country } : {}),
            ...(call.device !== undefined ? { 'x-device-id': call.device } : {}),
          },
        },
      },
    },
  };
}

interface Answer {
  readonly res: UpstreamCheckResponse;
  /** The decision log line of this request. */
  readonly log: Record<string, unknown>;
  /** The risk trace step's detail, when the decision carried a trace. */
  readonly risk: string;
}

/** Sends a Check to replica `on` and returns the answer with its decision-log line. */
async function check(on: 'a' | 'b', call: Call): Promise<Answer> {
  const id = randomUUID();
  const [client, proc] = on === 'a' ? [clientA, a] : [clientB, b];
  const res = await client.check(checkRequest(call, id));
  const log = await proc.waitForLog((l) => l.msg === 'decision' && l.requestId === id);
  const trace = (log.trace ?? []) as { step: string; detail: string }[];
  return { res, log, risk: trace.find((s) => s.step === 'risk')?.detail ?? '' };
}

const tokenFor = (sub: string): Promise<string> =>
  mintToken(key, { iss: jwks.url, aud: AUD, now: Date.now(), sub, claims: { scope: 'read' }, ttlSeconds: 600 });

async function admin(on: IdgateProcess, method: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${on.ports.admin}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  redis = await startRedis();
  raw = new Redis(redis.url);
  raw.on('error', () => undefined);
  seed = createRedisStore({ logger: pino({ level: 'silent' }) }, { redis: { url: redis.url }, subscribe: false });
  key = await createTestKey('ES256');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  sandbox = createDiditSandbox({ logger: pino({ level: 'silent' }), apiKey: API_KEY, webhookSecret: SECRET });
  await sandbox.listen();
  const yaml = `${testConfigYaml({
    issuer: jwks.url,
    jwksUri: jwks.jwksUrl,
    redisUrl: redis.url,
    localCacheTtl: '60s',
    adminToken: ADMIN_TOKEN,
    allowSampleRate: 1,
    didit: { apiBaseUrl: sandbox.url, apiKey: API_KEY, webhookSecret: SECRET, kycWorkflowId: KYC, ageWorkflowId: ADULT },
    extraRoutes: RISK_ROUTE,
    // These cases are about risk signals, not deadlines: under the full suite's load a step-up (a Didit
    // session created in the sandbox) can pass the default 150 ms budget and be answered 503 deadline_exceeded.
    grpcYaml: 'decisionTimeout: 2s',
  })}${RISK_YAML}`;
  [a, b] = await Promise.all([startIdgate({ configYaml: yaml, command: 'authz' }), startIdgate({ configYaml: yaml, command: 'authz' })]);
  clientA = createEnvoyClient(`127.0.0.1:${a.ports.grpc}`);
  clientB = createEnvoyClient(`127.0.0.1:${b.ports.grpc}`);
  // Until a replica's invalidation SUBSCRIBE is acknowledged it bypasses its verdict cache (/readyz says so);
  // the warm-cache cases below need both subscribed.
  for (const replica of [a, b]) {
    let live = false;
    for (let i = 0; i < 200 && !live; i += 1) {
      const res = await fetch(`http://127.0.0.1:${replica.ports.admin}/readyz`);
      const body = (await res.json()) as { checks?: { invalidations?: { ok?: boolean } } };
      live = body.checks?.invalidations?.ok === true;
      if (!live) await new Promise((r) => setTimeout(r, 25));
    }
    expect(live).toBe(true);
  }
}, 30_000);

afterAll(async () => {
  clientA?.close();
  clientB?.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await seed?.close();
  raw?.disconnect();
  await sandbox?.close();
  await jwks?.close();
  await redis?.close();
});

describe('risk signals across two replicas sharing Redis', () => {
  it('new device: the first request sets the baseline, another device steps up (score 30 → band 30)', async () => {
    const token = await tokenFor('nina');
    const first = await check('a', { token, device: 'phone-1', country: 'ES' });
    expect(first.res.http_response).toBe('ok_response');
    const same = await check('b', { token, device: 'phone-1', country: 'ES' });
    expect(same.res.http_response).toBe('ok_response');
    const other = await check('b', { token, device: 'laptop-7', country: 'ES' });
    expect(other.log).toMatchObject({ outcome: 'step_up', routeId: 'risky', subject: 'test:nina' });
    expect(other.res.denied_response?.status?.code).toBe(401);
    expect(other.risk).toContain('score 30 (new_device)');
    expect(JSON.stringify(other.log)).not.toContain('laptop-7');
    // Remembered now: the same new device again raises no signal.
    const again = await check('a', { token, device: 'laptop-7', country: 'ES' });
    expect(again.res.http_response).toBe('ok_response');
  });

  it('country change: a different country long after the last sighting steps up (score 40)', async () => {
    const token = await tokenFor('carl');
    expect((await check('a', { token, country: 'ES' })).res.http_response).toBe('ok_response');
    // Two hours pass for this subject: the shared state says the last sighting in ES was long ago.
    await raw.hset('idgate:v1:{test:carl}:risk', 'countryAt', String(Date.now() - 2 * 3_600_000));
    const moved = await check('b', { token, country: 'PT' });
    expect(moved.log).toMatchObject({ outcome: 'step_up', subject: 'test:carl' });
    expect(moved.risk).toContain('score 40 (country_change)');
    expect(JSON.stringify(moved.log)).not.toMatch(/"(ES|PT)"/);
  });

  it('impossible travel: another country minutes later is denied (40 + 60 → band 70)', async () => {
    const token = await tokenFor('tara');
    expect((await check('b', { token, country: 'ES' })).res.http_response).toBe('ok_response');
    const jump = await check('a', { token, country: 'JP' });
    expect(jump.res.denied_response?.status?.code).toBe(403);
    expect(JSON.parse(jump.res.denied_response?.body ?? '{}')).toMatchObject({ code: 'risk_denied' });
    expect(jump.log).toMatchObject({ outcome: 'deny', code: 'risk_denied' });
    expect(jump.risk).toContain('country_change, impossible_travel');
  });

  it('velocity: more than velocity.max requests in the window are denied', async () => {
    const token = await tokenFor('vic');
    let firstDenied = 0;
    // The two-bucket window may count a burst across a bucket edge a little low, so allow a few extra.
    for (let i = 1; i <= 12 && firstDenied === 0; i += 1) {
      const answer = await check(i % 2 === 0 ? 'a' : 'b', { token });
      if (answer.res.http_response !== 'ok_response') {
        firstDenied = i;
        expect(answer.log).toMatchObject({ outcome: 'deny', code: 'risk_denied' });
        expect(answer.risk).toContain('(velocity)');
      }
    }
    expect(firstDenied).toBeGreaterThan(5);
    expect(firstDenied).toBeLessThanOrEqual(12);
  });

  it('too many IPs: one token used from a third address is denied (max 2)', async () => {
    const token = await tokenFor('ivan');
    expect((await check('a', { token, ip: '198.51.100.1' })).res.http_response).toBe('ok_response');
    expect((await check('b', { token, ip: '198.51.100.2' })).res.http_response).toBe('ok_response');
    expect((await check('a', { token, ip: '198.51.100.1' })).res.http_response).toBe('ok_response');
    const third = await check('b', { token, ip: '198.51.100.3' });
    expect(third.log).toMatchObject({ outcome: 'deny', code: 'risk_denied' });
    expect(third.risk).toContain('(too_many_ips)');
    expect(JSON.stringify(third.log.trace)).not.toContain('198.51.100');
    // A new token of the same subject starts its own address count.
    const fresh = await check('a', { token: await mintToken(key, { iss: jwks.url, aud: AUD, now: Date.now() + 1000, sub: 'ivan', claims: { scope: 'read', jti: 'n2' } }), ip: '198.51.100.3' });
    expect(fresh.res.http_response).toBe('ok_response');
  });

  it('routes without risk bands are not gated by risk, but still feed the shared state', async () => {
    const token = await tokenFor('dora');
    // /api has no risk bands: its requests are recorded in the background only.
    expect((await check('a', { path: '/api/orders', token, country: 'ES' })).res.http_response).toBe('ok_response');
    const jumpOnApi = await check('b', { path: '/api/orders', token, country: 'JP' });
    expect(jumpOnApi.res.http_response).toBe('ok_response');
    // The background recordings were seen: the risky route now sees the last country JP.
    let seen = '';
    for (let i = 0; i < 50 && seen !== 'JP'; i += 1) {
      const state = await admin(a, 'GET', '/admin/subjects/test%3Adora/risk');
      seen = String((state.body.risk as { lastCountry?: string } | undefined)?.lastCountry ?? '');
      if (seen !== 'JP') await new Promise((r) => setTimeout(r, 20));
    }
    expect(seen).toBe('JP');
    const jump = await check('a', { token, country: 'US' });
    expect(jump.log).toMatchObject({ outcome: 'deny', code: 'risk_denied' });
  });
});

describe('admin revocation across replicas', () => {
  const approved = (subject: string) => ({
    subject,
    workflow: 'kyc',
    sessionId: `s-${randomUUID()}`,
    status: 'Approved' as const,
    eventAt: Date.now(),
    decidedAt: Date.now(),
    facts: {},
  });

  async function waitUntilDenied(on: 'a' | 'b', call: Call): Promise<Answer> {
    let answer = await check(on, call);
    // Pub/sub delivery is asynchronous (milliseconds); the local cache TTL is 60 s.
    for (let i = 0; i < 40 && answer.res.http_response === 'ok_response'; i += 1) {
      await new Promise((r) => setTimeout(r, 25));
      answer = await check(on, call);
    }
    return answer;
  }

  it('a verdict revoked on replica A is no longer honoured by replica B with a warm cache', async () => {
    const token = await tokenFor('erin');
    await seed.putVerdict(approved('test:erin'));
    expect((await check('b', { path: '/payments/pay', token })).res.http_response).toBe('ok_response');
    expect((await check('b', { path: '/payments/pay', token })).res.http_response).toBe('ok_response');

    const revoked = await admin(a, 'DELETE', '/admin/subjects/test%3Aerin/verdicts');
    expect(revoked).toMatchObject({ status: 200, body: { subject: 'test:erin', revoked: 'all' } });
    const after = await waitUntilDenied('b', { path: '/payments/pay', token });
    expect(after.res.http_response).toBe('denied_response');
    expect(after.log).toMatchObject({ outcome: 'step_up', subject: 'test:erin' });
  });

  it('DELETE /admin/subjects/:subject on A revokes verdicts and risk state for B; a silent delete would not have', async () => {
    const token = await tokenFor('fred');
    await seed.putVerdict(approved('test:fred'));
    expect((await check('b', { path: '/payments/pay', token, country: 'ES', device: 'd1' })).res.http_response).toBe('ok_response');
    // The seed's own invalidation may reach B while that first read is in flight, and a read that overlaps
    // an invalidation is (rightly) not cached; by the second Check it has been delivered, so this one caches.
    expect((await check('b', { path: '/payments/pay', token, country: 'ES', device: 'd1' })).res.http_response).toBe('ok_response');
    // B's cache is warm: a delete that publishes no invalidation goes unnoticed by B.
    await raw.del('idgate:v1:{test:fred}:verdict:kyc');
    expect((await check('b', { path: '/payments/pay', token })).res.http_response).toBe('ok_response');
    expect((await admin(b, 'GET', '/admin/subjects/test%3Afred/risk')).body).toMatchObject({ risk: { lastCountry: 'ES', knownDevices: 1 } });

    const revoked = await admin(a, 'DELETE', '/admin/subjects/test%3Afred');
    // The verdict key was already gone (deleted behind idgate's back), so only the risk state is reported;
    // the revocation watermark and the invalidation still reach B.
    expect(revoked).toMatchObject({ status: 200, body: { revoked: ['risk'] } });
    expect((await admin(b, 'GET', '/admin/subjects/test%3Afred/risk')).status).toBe(404);
    // The risk state starts over: another device is a first sighting, not a new_device signal.
    const fresh = await check('a', { token, device: 'd2' });
    expect(fresh.res.http_response).toBe('ok_response');
    const after = await waitUntilDenied('b', { path: '/payments/pay', token });
    expect(after.log).toMatchObject({ outcome: 'step_up', subject: 'test:fred' });
  });

  it('DELETE /admin/subjects/:subject/risk forgets only the risk state; the admin API needs its token', async () => {
    const token = await tokenFor('gina');
    await check('a', { token, country: 'ES' });
    expect((await admin(b, 'DELETE', '/admin/subjects/test%3Agina/risk')).body).toMatchObject({ revoked: 'risk' });
    expect((await admin(a, 'GET', '/admin/subjects/test%3Agina/risk')).status).toBe(404);
    // Without the earlier sighting, another country is no longer a change.
    expect((await check('b', { token, country: 'JP' })).res.http_response).toBe('ok_response');
    const anonymous = await fetch(`http://127.0.0.1:${a.ports.admin}/admin/subjects/test%3Agina/risk`);
    expect(anonymous.status).toBe(401);
  });
});

describe('risk store faults', () => {
  it('with Redis down, a risk route fails closed (503) while a route without risk still answers', async () => {
    const token = await tokenFor('hank');
    expect((await check('a', { token })).res.http_response).toBe('ok_response');
    await redis.stop();
    const risky = await check('a', { token });
    expect(risky.res.denied_response?.status?.code).toBe(503);
    expect(risky.log).toMatchObject({ outcome: 'deny', code: 'dependency_unavailable' });
    const api = await check('a', { path: '/api/orders', token });
    expect(api.res.http_response).toBe('ok_response');
  });
});
