import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { ContextConfig, RiskConfig } from '../config/types.js';
import type { Principal } from '../core/principal.js';
import type { RequestContext } from '../core/request-context.js';
import { createMemoryStore } from '../store/memory/create-memory-store.js';
import type { RiskStore } from '../store/risk-store.js';
import { createRiskEvaluator } from './create-risk-evaluator.js';

const silent = pino({ level: 'silent' });
const T0 = 1_700_000_000_000;
const HOUR = 3_600_000;

const RISK: RiskConfig = {
  enabled: true,
  weights: { new_device: 30, country_change: 40, impossible_travel: 60, velocity: 30, too_many_ips: 40 },
  impossibleTravelMs: HOUR,
  velocityWindowMs: 60_000,
  velocityMax: 3,
  tokenIpWindowMs: HOUR,
  maxIpsPerToken: 2,
  stateTtlMs: 30 * 24 * HOUR,
};
const CONTEXT: ContextConfig = { countryHeader: 'x-geo-country', deviceHeaders: ['x-device-id', 'user-agent'] };

function ctx(over: { ip?: string; country?: string; device?: string; headers?: Record<string, string> } = {}): RequestContext {
  const headers: Record<string, string> = { ...over.headers };
  if (over.country !== undefined) headers['x-geo-country'] = over.country;
  if (over.device !== undefined) headers['x-device-id'] = over.device;
  return {
    method: 'GET',
    scheme: 'https',
    host: 'app.example.com',
    path: '/',
    rawPath: '/',
    query: '',
    headers,
    sourceAddress: over.ip ?? '198.51.100.7',
    sourcePrincipal: '',
    contextExtensions: {},
    metadata: {},
    requestId: 'r',
    protocol: 'HTTP/2',
    receivedAt: 0,
  };
}

function principal(sub = 'alice', tokenId = 'tok-1'): Principal {
  return { issuerName: 'corp', issuer: 'https://idp', sub, subject: `corp:${sub}`, claims: {}, source: 'header', tokenId };
}

function setup(risk: RiskConfig = RISK) {
  let now = T0;
  const store = createMemoryStore({ logger: silent, clock: () => now });
  const evaluator = createRiskEvaluator({ store }, { risk, context: CONTEXT });
  return {
    store,
    evaluator,
    at: (ms: number) => {
      now = T0 + ms;
      return now;
    },
  };
}

const names = (a: { signals: readonly { name: string }[] }) => a.signals.map((s) => s.name);

describe('createRiskEvaluator', () => {
  it('raises no signal on the first request, even with a device and a country', async () => {
    const { evaluator, at } = setup();
    const a = await evaluator.assess(ctx({ country: 'ES', device: 'd1' }), principal(), at(0));
    expect(a).toEqual({ score: 0, signals: [] });
  });

  it.each([
    { what: 'a new device', second: { country: 'es', device: 'd2' }, signals: ['new_device'], score: 30 },
    { what: 'the same device', second: { country: 'es', device: 'd1' }, signals: [], score: 0 },
    { what: 'no device headers at all', second: { country: 'es' }, signals: [], score: 0 },
    { what: 'a country change two hours later', second: { country: 'fr', device: 'd1' }, later: 2 * HOUR, signals: ['country_change'], score: 40 },
    { what: 'a country change ten minutes later', second: { country: 'fr', device: 'd1' }, later: 600_000, signals: ['country_change', 'impossible_travel'], score: 100 },
    { what: 'an unparseable country header', second: { country: 'not-a-country', device: 'd1' }, signals: [], score: 0 },
    { what: 'new device + impossible travel (capped at 100)', second: { country: 'us', device: 'd9' }, later: 60_000, signals: ['new_device', 'country_change', 'impossible_travel'], score: 100 },
  ])('second request with $what → $signals', async ({ second, later, signals, score }) => {
    const { evaluator, at } = setup();
    await evaluator.assess(ctx({ country: 'es', device: 'd1' }), principal(), at(0));
    const a = await evaluator.assess(ctx(second), principal(), at(later ?? 1000));
    expect(names(a)).toEqual(signals);
    expect(a.score).toBe(score);
  });

  it('fires velocity once the subject exceeds velocityMax in the window', async () => {
    const { evaluator, at } = setup();
    const scores: number[] = [];
    for (let i = 0; i < 5; i += 1) scores.push((await evaluator.assess(ctx(), principal(), at(i))).score);
    expect(scores).toEqual([0, 0, 0, 30, 30]);
    const other = await evaluator.assess(ctx(), principal('bob'), at(6));
    expect(other.score).toBe(0);
  });

  it('fires too_many_ips when one token is used from more than maxIpsPerToken addresses', async () => {
    const { evaluator, at } = setup({ ...RISK, velocityMax: 1000 });
    const results: string[][] = [];
    for (const [i, ip] of ['192.0.2.1', '192.0.2.2', '192.0.2.1', '192.0.2.3'].entries()) {
      results.push(names(await evaluator.assess(ctx({ ip }), principal(), at(i))));
    }
    expect(results).toEqual([[], [], [], ['too_many_ips']]);
    // A fresh token starts its own count.
    expect(names(await evaluator.assess(ctx({ ip: '192.0.2.4' }), principal('alice', 'tok-2'), at(10)))).toEqual([]);
  });

  it('never puts addresses, countries or device values in signal details', async () => {
    const { evaluator, at } = setup({ ...RISK, velocityMax: 1, maxIpsPerToken: 1 });
    await evaluator.assess(ctx({ ip: '203.0.113.55', country: 'es', device: 'device-secret-1' }), principal(), at(0));
    const a = await evaluator.assess(ctx({ ip: '203.0.113.66', country: 'jp', device: 'device-secret-2' }), principal(), at(1000));
    expect(names(a)).toEqual(['new_device', 'country_change', 'impossible_travel', 'velocity', 'too_many_ips']);
    const text = JSON.stringify(a);
    for (const secret of ['203.0.113', 'device-secret']) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/\b(es|jp)\b/i);
  });

  it('rejects assess with the store error when the store fails (the engine fails closed)', async () => {
    const { store, evaluator, at } = setup();
    await store.close();
    await expect(evaluator.assess(ctx(), principal(), at(0))).rejects.toMatchObject({ name: 'StoreError', code: 'unavailable' });
  });

  it('records in the background: counts successes, swallows and logs faults (throttled)', async () => {
    const { store, evaluator, at } = setup();
    evaluator.record(ctx({ device: 'd1' }), principal(), at(0));
    await new Promise((r) => setImmediate(r));
    expect(evaluator.stats()).toEqual({ recorded: 1, failed: 0, dropped: 0 });
    // The recorded request counts: the next assess with another device sees a known subject.
    expect(names(await evaluator.assess(ctx({ device: 'd2' }), principal(), at(1)))).toEqual(['new_device']);

    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (c: Buffer, _e, cb) => (lines.push(JSON.parse(c.toString()) as Record<string, unknown>), cb()) }));
    let now = T0;
    const failing = createRiskEvaluator({ store, logger, clock: () => now }, { risk: RISK, context: CONTEXT, faultLogIntervalMs: 10_000 });
    await store.close();
    for (let i = 0; i < 3; i += 1) failing.record(ctx(), principal(), T0);
    await new Promise((r) => setImmediate(r));
    now += 20_000;
    failing.record(ctx(), principal(), T0);
    await new Promise((r) => setImmediate(r));
    expect(failing.stats()).toEqual({ recorded: 0, failed: 4, dropped: 0 });
    expect(lines.map((l) => l.failures)).toEqual([1, 3]);
    expect(JSON.stringify(lines)).not.toContain('198.51.100.7');
  });

  it('drops background recordings beyond maxInFlight instead of queueing them', async () => {
    const stuck: RiskStore = {
      recordActivity: () => new Promise(() => undefined),
      getRisk: async () => undefined,
      deleteRisk: async () => undefined,
    };
    const evaluator = createRiskEvaluator({ store: stuck }, { risk: RISK, context: CONTEXT, maxInFlight: 2 });
    for (let i = 0; i < 5; i += 1) evaluator.record(ctx(), principal(), T0);
    expect(evaluator.stats()).toEqual({ recorded: 0, failed: 0, dropped: 3 });
    expect(() => createRiskEvaluator({ store: stuck }, { risk: RISK, context: CONTEXT, maxInFlight: 0 })).toThrow(TypeError);
  });

  it('hashes the device headers: the same values are one device, a changed user-agent is another', async () => {
    const { evaluator, at } = setup();
    const h = (ua: string) => ctx({ device: 'd1', headers: { 'user-agent': ua } });
    await evaluator.assess(h('Firefox/140'), principal(), at(0));
    expect(names(await evaluator.assess(h('Firefox/140'), principal(), at(1)))).toEqual([]);
    expect(names(await evaluator.assess(h('Chrome/141'), principal(), at(2)))).toEqual(['new_device']);
  });
});
