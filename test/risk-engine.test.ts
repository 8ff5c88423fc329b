import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/parse-config.js';
import type { IdgateConfig } from '../src/config/types.js';
import type { Decision } from '../src/core/decision.js';
import type { RequestContext } from '../src/core/request-context.js';
import type { DecisionObserver, ObservedDetails } from '../src/core/stages.js';
import { createEngine } from '../src/engine/create-engine.js';
import { createAuthenticator, type JwtAuthenticator } from '../src/identity/authenticator.js';
import { compilePolicy } from '../src/policy/compile-policy.js';
import { createRiskEvaluator } from '../src/risk/create-risk-evaluator.js';
import { createMemoryStore } from '../src/store/memory/create-memory-store.js';
import { createRedisStore } from '../src/store/redis/create-redis-store.js';
import type { RiskStore } from '../src/store/risk-store.js';
import { eventually } from './support/check-requests.js';
import { testConfigYaml } from './support/config-yaml.js';
import { startJwksServer, type JwksServer } from './support/jwks-server.js';
import { startRedis, type RedisServerHandle } from './support/redis-server.js';
import { createTestKey, jwksOf, mintToken, requestContextWith, type TestKey } from './support/tokens.js';

/**
 * The engine's risk stage in process, with the real compiled policy, authenticator (against a local JWKS
 * server) and memory store: which routes wait for the risk store, which only feed it, and what a
 * risk-store fault does to each.
 */
const logger = pino({ level: 'silent' });
const AUD = 'idgate-test';
let jwks: JwksServer;
let key: TestKey;
let config: IdgateConfig;
let authenticator: JwtAuthenticator;

const ROUTES = `    - id: risky
      match: { prefix: /risky }
      require: { scopes: [read] }
      risk:
        - atLeast: 30
          then: deny
`;
const RISK = `context:
  deviceHeaders: [x-device-id]
risk:
  enabled: true
`;

function ctx(path: string, token: string, device?: string): RequestContext {
  return {
    ...requestContextWith({ authorization: `Bearer ${token}`, ...(device !== undefined ? { 'x-device-id': device } : {}) }),
    path,
    rawPath: path,
  };
}

function engineWith(store: Pick<RiskStore, 'recordActivity'>, riskOn: boolean, cfg: IdgateConfig = config) {
  const seen: { decision: Decision; details: ObservedDetails | undefined }[] = [];
  const observer: DecisionObserver = { observe: (_c, decision, _o, _d, details) => void seen.push({ decision, details }) };
  const evaluator = createRiskEvaluator({ store, logger }, { risk: cfg.risk, context: cfg.context });
  const policy = compilePolicy(cfg);
  const engine = createEngine(
    { authenticator, policy: () => policy, observer, ...(riskOn ? { risk: evaluator } : {}) },
    { headerPrefix: 'x-idgate-' },
  );
  return { engine, evaluator, seen };
}

const settle = () => new Promise((r) => setImmediate(r));

beforeAll(async () => {
  key = await createTestKey('RS256');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  config = parseConfig(`${testConfigYaml({ issuer: jwks.url, jwksUri: jwks.jwksUrl, extraRoutes: ROUTES })}${RISK}`, {
    sourceName: 'risk-engine.yaml',
    env: {},
  });
  authenticator = createAuthenticator({ logger }, { issuers: config.issuers });
  await authenticator.start();
});

afterAll(async () => {
  await authenticator?.close();
  await jwks?.close();
});

const tokenFor = (sub: string) => mintToken(key, { iss: jwks.url, aud: AUD, now: Date.now(), sub, claims: { scope: 'read' } });

describe('engine risk stage', () => {
  it('assesses routes with risk bands: a new device is denied with risk_denied and the observer sees the signals', async () => {
    const store = createMemoryStore({ logger });
    const { engine, seen } = engineWith(store, true);
    const token = await tokenFor('alice');
    expect((await engine.decide(ctx('/risky/a', token, 'd1'), Date.now() + 1000)).kind).toBe('allow');
    const denied = await engine.decide(ctx('/risky/a', token, 'd2'), Date.now() + 1000);
    expect(denied).toMatchObject({ kind: 'deny', status: 403, code: 'risk_denied', subject: 'test:alice' });
    expect(seen.at(-1)?.details?.risk).toMatchObject({ score: 30, signals: [{ name: 'new_device', weight: 30 }] });
  });

  it('records routes without risk in the background: they feed the state but never wait for it', async () => {
    const store = createMemoryStore({ logger });
    const { engine, evaluator, seen } = engineWith(store, true);
    const token = await tokenFor('bob');
    expect((await engine.decide(ctx('/api/x', token, 'd1'), Date.now() + 1000)).kind).toBe('allow');
    expect(seen.at(-1)?.details?.risk).toBeUndefined();
    // What a replay record is built from: the identity result and the clock the policy ran at; and the id.
    expect(seen.at(-1)?.details).toMatchObject({ auth: { kind: 'verified', principal: { subject: 'test:bob' } }, evaluatedAt: expect.any(Number) });
    expect(seen.at(-1)?.decision.decisionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen.at(-2)?.decision.decisionId).not.toBe(seen.at(-1)?.decision.decisionId);
    await settle();
    expect(evaluator.stats()).toMatchObject({ recorded: 1, failed: 0 });
    expect(await store.getRisk('test:bob')).toMatchObject({ knownDevices: 1 });
    // The background sighting counts: the risky route now sees a second device as new.
    expect(await engine.decide(ctx('/risky/a', token, 'd2'), Date.now() + 1000)).toMatchObject({ code: 'risk_denied' });
  });

  it('on a risk-store fault fails closed only where risk is used', async () => {
    const store = createMemoryStore({ logger });
    const { engine, evaluator } = engineWith(store, true);
    const token = await tokenFor('carol');
    await store.close();
    expect(await engine.decide(ctx('/risky/a', token), Date.now() + 1000)).toMatchObject({
      kind: 'deny',
      status: 503,
      code: 'dependency_unavailable',
    });
    expect((await engine.decide(ctx('/api/x', token), Date.now() + 1000)).kind).toBe('allow');
    await settle();
    expect(evaluator.stats().failed).toBe(1);
  });

  it('does no risk work at all when risk is not wired (risk.enabled false): bands are skipped', async () => {
    const store = createMemoryStore({ logger });
    const { engine, seen } = engineWith(store, false);
    const token = await tokenFor('dave');
    await engine.decide(ctx('/risky/a', token, 'd1'), Date.now() + 1000);
    expect((await engine.decide(ctx('/risky/a', token, 'd2'), Date.now() + 1000)).kind).toBe('allow');
    await engine.decide(ctx('/api/x', token, 'd3'), Date.now() + 1000);
    await settle();
    expect(await store.getRisk('test:dave')).toBeUndefined();
    expect(seen.every((s) => s.details?.risk === undefined)).toBe(true);
  });
});

/**
 * Security review: a request the policy refuses before choosing a route — here a trusted context header
 * that is not one well-formed value — must leave no trace in the subject's risk history, on the route
 * that assesses risk and on the one that only records it. Otherwise anyone holding a token could make a
 * device "known" or move the last country with requests that are denied anyway.
 */
describe('engine risk stage and the context-header guard (Redis risk store)', () => {
  let redis: RedisServerHandle;
  let guarded: IdgateConfig;
  beforeAll(async () => {
    redis = await startRedis();
    const context = 'context:\n  countryHeader: x-geo-country\n  deviceHeaders: [x-device-id]\nrisk:\n  enabled: true\n';
    guarded = parseConfig(`${testConfigYaml({ issuer: jwks.url, jwksUri: jwks.jwksUrl, extraRoutes: ROUTES })}${context}`, { sourceName: 'risk-guard.yaml', env: {} });
  }, 30_000);
  afterAll(async () => {
    await redis?.close();
  });

  it('records nothing for requests denied by the guard; well-formed ones still count', async () => {
    const store = createRedisStore({ logger }, { redis: { url: redis.url, keyPrefix: 'guard:', commandTimeoutMs: 2000 } });
    try {
      expect(await store.whenReady(5000)).toBe(true);
      const { engine, evaluator } = engineWith(store, true, guarded);
      const token = await tokenFor('mallory');
      const request = (path: string, headers: Record<string, string>): RequestContext => ({ ...ctx(path, token), headers: { ...ctx(path, token).headers, ...headers } });
      expect((await engine.decide(request('/api/x', { 'x-device-id': 'd1', 'x-geo-country': 'US' }), Date.now() + 1000)).kind).toBe('allow');
      await eventually(async () => evaluator.stats().recorded, (n) => n === 1);
      const before = await store.getRisk('test:mallory');
      expect(before).toMatchObject({ knownDevices: 1, lastCountry: 'US' });

      const refused = [
        request('/api/x', { 'x-device-id': 'd2,d3', 'x-geo-country': 'DE' }),
        request('/api/x', { 'x-device-id': 'd4', 'x-geo-country': 'US,KP' }),
        request('/risky/a', { 'x-device-id': 'd5', 'x-geo-country': 'K1' }),
        request('/risky/a', { 'x-device-id': 'd6,d7' }),
      ];
      for (const r of refused) {
        expect(await engine.decide(r, Date.now() + 1000)).toMatchObject({ kind: 'deny', status: 403, code: expect.stringMatching(/^(country|device)_denied$/) });
      }
      // A later well-formed request of another subject: once it is recorded, any earlier write has landed too.
      expect((await engine.decide({ ...ctx('/api/x', await tokenFor('trent'), 'd9') }, Date.now() + 1000)).kind).toBe('allow');
      await eventually(async () => evaluator.stats().recorded + evaluator.stats().failed, (n) => n >= 2);
      expect(evaluator.stats()).toMatchObject({ recorded: 2, failed: 0 });
      expect(await store.getRisk('test:mallory')).toEqual(before);
      // The refused devices are still unknown: the risky route flags d5 as new (30 ≥ band 30).
      expect(await engine.decide(request('/risky/a', { 'x-device-id': 'd1', 'x-geo-country': 'US' }), Date.now() + 1000)).toMatchObject({ kind: 'allow' });
      expect(await engine.decide(request('/risky/a', { 'x-device-id': 'd5', 'x-geo-country': 'US' }), Date.now() + 1000)).toMatchObject({ code: 'risk_denied' });
    } finally {
      await store.close();
    }
  });
});
