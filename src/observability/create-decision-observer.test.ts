import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { Decision } from '../core/decision.js';
import type { Outcome } from '../core/outcome.js';
import { EMPTY_REQUEST_CONTEXT, type RequestContext } from '../core/request-context.js';
import { createDecisionObserver } from './create-decision-observer.js';
import { createLogger } from './create-logger.js';
import { createDecisionLog } from './decision-log.js';
import { createMetrics } from './metrics.js';

function setup(allowSampleRate: number, extra: Omit<Parameters<typeof createDecisionLog>[0], 'logger' | 'allowSampleRate'> = {}) {
  const chunks: string[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (c: string) => void chunks.push(c) } });
  const registry = new Registry();
  const metrics = createMetrics(registry);
  let decisionLog = createDecisionLog({ logger, allowSampleRate, ...extra });
  const observer = createDecisionObserver({ metrics, decisionLog: () => decisionLog }, 'http');
  const lines = (): Record<string, unknown>[] =>
    chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  const counter = async (name: string) => (await registry.getSingleMetricAsString(name)).split('\n').filter((l) => l.startsWith(name));
  return { observer, lines, counter, setRate: (r: number) => (decisionLog = createDecisionLog({ logger, allowSampleRate: r })) };
}

const ctx: RequestContext = { ...EMPTY_REQUEST_CONTEXT, method: 'GET', host: 'shop.example.com', path: '/pay', requestId: 'r-1', sourceAddress: '198.51.100.7' };
const browser: RequestContext = { ...ctx, headers: { accept: 'text/html' } };

describe('createDecisionObserver', () => {
  it('counts and logs a deny with its code and status, labelled with the front end', async () => {
    const { observer, lines, counter } = setup(0);
    observer.observe(ctx, { kind: 'deny', status: 403, code: 'claims_mismatch', message: 'no', routeId: 'pay', subject: 'corp:u1' }, undefined, 2);
    expect(lines()).toHaveLength(1);
    expect(lines()[0]).toMatchObject({ msg: 'decision', requestId: 'r-1', routeId: 'pay', subject: 'corp:u1', outcome: 'deny', code: 'claims_mismatch', status: 403, path: '/pay', durationMs: 2 });
    expect(await counter('idgate_checks_total')).toEqual([expect.stringMatching(/outcome="deny".*code="claims_mismatch".*route="pay".*mode="http".* 1$/)]);
  });

  it('a step-up is logged as the 302 a browser gets and the 401 an API client gets', () => {
    const { observer, lines } = setup(0);
    const stepUp = { kind: 'step_up', workflow: 'kyc', verificationUrl: 'http://x/s' } as const;
    observer.observe(browser, stepUp, undefined, 1);
    observer.observe(ctx, stepUp, undefined, 1);
    expect(lines().map((l) => [l.code, l.status])).toEqual([
      ['verification_required', 302],
      ['verification_required', 401],
    ]);
  });

  it('allows follow the sample rate read per decision (a reload applies at once); a shadow allow is always logged as what it would have been', async () => {
    const { observer, lines, counter, setRate } = setup(0);
    const allow = { kind: 'allow', headers: {}, metadata: {} } as const;
    observer.observe(ctx, allow, undefined, 1);
    expect(lines()).toHaveLength(0);
    setRate(1);
    observer.observe(ctx, allow, undefined, 1);
    expect(lines()).toEqual([expect.objectContaining({ outcome: 'allow', requestId: 'r-1' })]);
    setRate(0);
    observer.observe(ctx, { ...allow, shadow: true }, undefined, 1, { wouldBe: { kind: 'deny', status: 401, code: 'token_missing', message: 'm' } });
    expect(lines()[1]).toMatchObject({ outcome: 'deny', code: 'token_missing', status: 401, shadow: true });
    expect(await counter('idgate_shadow_decisions_total')).toEqual([expect.stringMatching(/would="deny".* 1$/)]);
  });

  it('logs the decision id, the revision and the deciding layer: decidedBy when the outcome has it, else the platform revision', () => {
    const { observer, lines } = setup(1, { revision: 'platform@abc123def456' });
    const deny = { kind: 'deny', status: 403, code: 'route_denied', message: 'no', routeId: 'pay', decisionId: 'd-1' } as const;
    observer.observe(ctx, deny, undefined, 1);
    const decidedBy = { layer: 'guardrail', id: 'embargo', revision: 'platform@0123456789ab tenant/payments@ba9876543210' } as const;
    observer.observe(ctx, deny, { kind: 'deny', status: 403, code: 'route_denied', message: 'no', shadow: false, trace: [], decidedBy }, 1);
    expect(lines()[0]).toMatchObject({ decisionId: 'd-1', revision: 'platform@abc123def456' });
    expect(lines()[0]).not.toHaveProperty('layer');
    expect(lines()[1]).toMatchObject({ decisionId: 'd-1', revision: decidedBy.revision, layer: 'guardrail', rule: 'embargo' });
    expect(lines()[0]).not.toHaveProperty('replay');
  });

  it('adds a replay record only when replay is on and the policy ran, with only the headers and claims the policy reads', () => {
    const reads = { headers: ['x-geo-country'], claims: ['roles', 'org.id'], query: false, dynamic: [] };
    const { observer, lines } = setup(1, { replay: reads });
    const request: RequestContext = {
      ...ctx,
      scheme: 'https',
      query: 'q=secret&_method=GET',
      headers: { 'x-geo-country': 'ES', cookie: 'session=abc', authorization: 'Bearer t0ken' },
      contextExtensions: { policy: 'pay' },
    };
    const principal = {
      issuerName: 'corp', issuer: 'https://idp', sub: 'u1', subject: 'corp:u1', source: 'header', tokenId: 'tid',
      claims: { roles: ['admin'], email: 'ana@example.com', name: 'Ana', org: { id: 'o1', secret: 's' } },
    } as const;
    const allow = { kind: 'allow', headers: {}, metadata: {}, decisionId: 'd-2' } as const;
    observer.observe(request, allow, undefined, 1, { auth: { kind: 'verified', principal }, evaluatedAt: 1_700_000_000_000, risk: { score: 40, signals: [{ name: 'new_device', weight: 40, detail: 'd' }] } });
    observer.observe(request, allow, undefined, 1);
    expect(lines()[0]?.replay).toStrictEqual({
      v: 1,
      at: 1_700_000_000_000,
      request: { method: 'GET', scheme: 'https', host: 'shop.example.com', path: '/pay', query: '_method=GET', sourceAddress: '198.51.100.7', contextExtensions: { policy: 'pay' }, headers: { 'x-geo-country': 'ES' } },
      auth: { kind: 'verified', issuer: 'corp', subject: 'corp:u1', claims: { roles: ['admin'], org: { id: 'o1' } } },
      risk: { score: 40, signals: ['new_device'] },
    });
    expect(JSON.stringify(lines()[0])).not.toMatch(/t0ken|session=abc|ana@example|secret/);
    expect(lines()[1]).not.toHaveProperty('replay');
  });
});

describe('createDecisionObserver: the exact lines', () => {
  // Step-ups for a browser and an API client, with and without the policy's outcome, a shadow step-up, a
  // fault and a sampled allow: the lines the build before the observer lost its spread temporaries
  // (f26f0ac) wrote, byte for byte but the time.
  it('writes every field as before, in the same order', () => {
    const chunks: string[] = [];
    const logger = createLogger({ level: 'info', base: { pid: 1, hostname: 'h' }, destination: { write: (c: string) => void chunks.push(c) } });
    const decisionLog = createDecisionLog({ logger, allowSampleRate: 1, revision: 'platform@abc' });
    const observer = createDecisionObserver({ metrics: createMetrics(new Registry()), decisionLog: () => decisionLog }, 'grpc');
    const outcome = {
      kind: 'verify', routeId: 'pay', needs: [], headers: {}, shadow: false,
      trace: [{ step: 'token', result: 'pass', detail: 'verified token from issuer corp' }],
      decidedBy: { layer: 'route', id: 'pay', revision: 'tenant/pay@r1' },
    } as unknown as Outcome;
    const stepUp: Decision = { kind: 'step_up', workflow: 'kyc', verificationUrl: 'http://x/s', sessionId: 's-1', routeId: 'pay', subject: 'corp:u1', decisionId: 'd-1' };
    observer.observe(browser, stepUp, outcome, 1.5);
    observer.observe(ctx, stepUp, outcome, 2);
    observer.observe(ctx, stepUp, undefined, 3);
    const shadowAllow: Decision = { kind: 'allow', headers: {}, metadata: {}, shadow: true, routeId: 'pay', subject: 'corp:u1', decisionId: 'd-2' };
    observer.observe(browser, shadowAllow, { ...outcome, shadow: true }, 4, { wouldBe: { ...stepUp, decisionId: 'd-2' } });
    observer.observe(ctx, { kind: 'deny', status: 503, code: 'dependency_unavailable', message: 'm', retryAfter: 5, decisionId: 'd-3' }, undefined, 5);
    observer.observe(ctx, { kind: 'allow', headers: {}, metadata: {}, routeId: 'pay', subject: 'corp:u1', decisionId: 'd-4' }, { ...outcome, kind: 'allow' } as Outcome, 6);
    expect(chunks.map((c) => c.replace(/"time":\d+,/, ''))).toEqual([
      "{\"level\":30,\"pid\":1,\"hostname\":\"h\",\"component\":\"decision\",\"requestId\":\"r-1\",\"decisionId\":\"d-1\",\"revision\":\"tenant/pay@r1\",\"layer\":\"route\",\"rule\":\"pay\",\"outcome\":\"step_up\",\"method\":\"GET\",\"host\":\"shop.example.com\",\"path\":\"/pay\",\"sourceAddress\":\"198.51.100.7\",\"durationMs\":1.5,\"routeId\":\"pay\",\"subject\":\"corp:u1\",\"code\":\"verification_required\",\"status\":302,\"trace\":[{\"step\":\"token\",\"result\":\"pass\",\"detail\":\"verified token from issuer corp\"}],\"msg\":\"decision\"}\n",
      "{\"level\":30,\"pid\":1,\"hostname\":\"h\",\"component\":\"decision\",\"requestId\":\"r-1\",\"decisionId\":\"d-1\",\"revision\":\"tenant/pay@r1\",\"layer\":\"route\",\"rule\":\"pay\",\"outcome\":\"step_up\",\"method\":\"GET\",\"host\":\"shop.example.com\",\"path\":\"/pay\",\"sourceAddress\":\"198.51.100.7\",\"durationMs\":2,\"routeId\":\"pay\",\"subject\":\"corp:u1\",\"code\":\"verification_required\",\"status\":401,\"trace\":[{\"step\":\"token\",\"result\":\"pass\",\"detail\":\"verified token from issuer corp\"}],\"msg\":\"decision\"}\n",
      "{\"level\":30,\"pid\":1,\"hostname\":\"h\",\"component\":\"decision\",\"requestId\":\"r-1\",\"decisionId\":\"d-1\",\"revision\":\"platform@abc\",\"outcome\":\"step_up\",\"method\":\"GET\",\"host\":\"shop.example.com\",\"path\":\"/pay\",\"sourceAddress\":\"198.51.100.7\",\"durationMs\":3,\"routeId\":\"pay\",\"subject\":\"corp:u1\",\"code\":\"verification_required\",\"status\":401,\"msg\":\"decision\"}\n",
      "{\"level\":30,\"pid\":1,\"hostname\":\"h\",\"component\":\"decision\",\"requestId\":\"r-1\",\"decisionId\":\"d-2\",\"revision\":\"tenant/pay@r1\",\"layer\":\"route\",\"rule\":\"pay\",\"outcome\":\"step_up\",\"method\":\"GET\",\"host\":\"shop.example.com\",\"path\":\"/pay\",\"sourceAddress\":\"198.51.100.7\",\"durationMs\":4,\"routeId\":\"pay\",\"subject\":\"corp:u1\",\"code\":\"verification_required\",\"status\":302,\"shadow\":true,\"trace\":[{\"step\":\"token\",\"result\":\"pass\",\"detail\":\"verified token from issuer corp\"}],\"msg\":\"decision\"}\n",
      "{\"level\":50,\"pid\":1,\"hostname\":\"h\",\"component\":\"decision\",\"requestId\":\"r-1\",\"decisionId\":\"d-3\",\"revision\":\"platform@abc\",\"outcome\":\"deny\",\"method\":\"GET\",\"host\":\"shop.example.com\",\"path\":\"/pay\",\"sourceAddress\":\"198.51.100.7\",\"durationMs\":5,\"code\":\"dependency_unavailable\",\"status\":503,\"msg\":\"decision\"}\n",
      "{\"level\":30,\"pid\":1,\"hostname\":\"h\",\"component\":\"decision\",\"requestId\":\"r-1\",\"decisionId\":\"d-4\",\"revision\":\"tenant/pay@r1\",\"layer\":\"route\",\"rule\":\"pay\",\"outcome\":\"allow\",\"method\":\"GET\",\"host\":\"shop.example.com\",\"path\":\"/pay\",\"sourceAddress\":\"198.51.100.7\",\"durationMs\":6,\"routeId\":\"pay\",\"subject\":\"corp:u1\",\"msg\":\"decision\"}\n",
    ]);
  });
});
