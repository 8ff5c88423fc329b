import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDiditSandbox, type DiditSandbox } from '../../src/sandbox/create-didit-sandbox.js';
import { signWebhook } from '../../src/sandbox/webhook-dispatcher.js';
import { eventually, problemOf } from '../support/check-requests.js';
import { testConfigYaml } from '../support/config-yaml.js';
import { createEnvoyClient, type EnvoyClient, type UpstreamCheckResponse } from '../support/envoy-client.js';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.js';
import { startRedis, type RedisServerHandle } from '../support/redis-server.js';
import { createTestKey, jwksOf, mintToken, type TestKey } from '../support/tokens.js';

/**
 * Issue 16 §1: the spawned CLI with `tracing.enabled`, a real redis-server, the Didit sandbox and a real
 * OTLP/HTTP receiver decoding the exported protobuf. Envoy's trace context (W3C `traceparent` or `b3`) in
 * the metadata of its Check call must be the parent of idgate's Check span, and a step-up's Redis and Didit calls
 * its children — with route/outcome/code attributes and no token, subject or e-mail anywhere.
 * `sampleRatio: 0` proves the sampler is parent-based: only Checks whose parent is sampled are exported.
 * `trustIncomingContext: true` lets the HTTP front end and the webhook continue their request headers'
 * context (the untrusted default: the last describe).
 */
const API_KEY = 'test-api-key';
const SECRET = 'test-webhook-secret-0123456789';
const KYC = '11111111-2222-4333-8444-000000000001';
const ADULT = '11111111-2222-4333-8444-000000000002';
const SUBJECT = 'user-trace-7f3a@example.com';
const EMAIL = 'alice.trace@example.com';

let redis: RedisServerHandle;
let jwks: JwksServer;
let key: TestKey;
let sandbox: DiditSandbox;
let otlp: OtlpReceiver;
let idgate: IdgateProcess;
let client: EnvoyClient;
const tokens: string[] = [];
let stepUpSession = '';

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

async function check(path: string, traceHeaders: Record<string, string>, scope = 'read', signer?: TestKey): Promise<UpstreamCheckResponse> {
  const token = await mintToken(signer ?? key, { iss: jwks.url, aud: 'idgate-test', now: Date.now(), sub: SUBJECT, ttlSeconds: 600, claims: { email: EMAIL, scope } });
  tokens.push(token);
  const headers: Record<string, string> = {
    ':authority': 'shop.example.com',
    ':method': 'GET',
    ':path': path,
    authorization: `Bearer ${token}`,
    accept: 'application/json',
  };
  // As Envoy's tracer sends it: in the metadata of its own gRPC call.
  return client.check({
    attributes: {
      source: { address: { socket_address: { address: '198.51.100.4' } } },
      request: { http: { method: 'GET', path, host: 'shop.example.com', scheme: 'https', headers } },
    },
  }, { metadata: traceHeaders });
}

/** Waits (bounded) until the receiver holds a span of `traceId` matching `pred`; returns the trace's spans. */
async function traceOf(traceId: string, pred: (s: ReceivedSpan) => boolean): Promise<ReceivedSpan[]> {
  const spans = await eventually(
    async () => otlp.spans.filter((s) => s.traceId === traceId),
    (list) => list.some(pred),
    15_000,
  );
  expect(spans.some(pred), `spans of ${traceId}: ${JSON.stringify(spans.map((s) => s.name))}; rejected: ${otlp.rejected.join('; ')}`).toBe(true);
  return spans;
}

/** Whether `span` descends from `ancestorId` within `spans`. */
function descendsFrom(span: ReceivedSpan, ancestorId: string, spans: readonly ReceivedSpan[]): boolean {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  let current: ReceivedSpan | undefined = span;
  for (let i = 0; current !== undefined && i < 32; i++) {
    if (current.parentSpanId === ancestorId) return true;
    current = byId.get(current.parentSpanId);
  }
  return false;
}

beforeAll(async () => {
  [redis, otlp] = await Promise.all([startRedis(), startOtlpReceiver()]);
  key = await createTestKey('ES256', 'k1');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  sandbox = createDiditSandbox({ logger: pino({ level: 'silent' }), apiKey: API_KEY, webhookSecret: SECRET });
  await sandbox.listen();
  const yaml = testConfigYaml({
    issuer: jwks.url,
    jwksUri: jwks.jwksUrl,
    redisUrl: redis.url,
    localCacheTtl: '0s',
    allowSampleRate: 1,
    // Room for the Didit call inside the Check on a loaded machine (else it finishes in the background).
    grpcYaml: 'decisionTimeout: 2s',
    didit: { apiBaseUrl: sandbox.url, apiKey: API_KEY, webhookSecret: SECRET, kycWorkflowId: KYC, ageWorkflowId: ADULT },
  });
  idgate = await startIdgate({
    command: 'serve',
    configYaml: `${yaml}tracing:\n  enabled: true\n  endpoint: ${otlp.url}\n  sampleRatio: 0\n  serviceName: idgate-e2e\n  trustIncomingContext: true\n`,
  });
  sandbox.setWebhookUrl(`http://127.0.0.1:${idgate.ports.public}/webhooks/didit`);
  client = createEnvoyClient(`127.0.0.1:${idgate.ports.grpc}`);
}, 60_000);

afterAll(async () => {
  client?.close();
  await idgate?.stop();
  await sandbox?.close();
  await jwks?.close();
  await redis?.close();
  await otlp?.close();
});

describe('OpenTelemetry tracing over OTLP/HTTP (spawned CLI, gRPC Check)', () => {
  it('a step-up Check is a child of the traceparent, with Redis and Didit child spans and safe attributes', async () => {
    // A fresh trace per attempt. On a loaded machine the first answer may carry the start URL while the
    // session is created in the background of that first Check: its Didit span still belongs to that trace.
    const attempts: Array<{ traceId: string; envoySpan: string }> = [];
    const res = await eventually(
      () => {
        const attempt = { traceId: hex(16), envoySpan: hex(8) };
        attempts.push(attempt);
        return check('/payments/checkout', { traceparent: `00-${attempt.traceId}-${attempt.envoySpan}-01` });
      },
      (r) => problemOf(r).session_id !== undefined,
    );
    expect(problemOf(res).code).toBe('verification_required');
    stepUpSession = String(problemOf(res).session_id);

    const created = await eventually(
      async () => otlp.spans.find((s) => s.name === 'didit create_session' && attempts.some((a) => a.traceId === s.traceId)),
      (s) => s !== undefined,
      15_000,
    );
    expect(created, `rejected: ${otlp.rejected.join('; ')}`).toBeDefined();
    const { traceId, envoySpan } = attempts.find((a) => a.traceId === created!.traceId)!;
    const spans = await traceOf(traceId, (s) => s.name === 'idgate.check');
    const checkSpans = spans.filter((s) => s.name === 'idgate.check');
    expect(checkSpans).toHaveLength(1);
    const checkSpan = checkSpans[0]!;
    expect(checkSpan.parentSpanId).toBe(envoySpan);
    expect(checkSpan.kind).toBe(2); // SERVER
    expect(checkSpan.resource['service.name']).toBe('idgate-e2e');
    expect(checkSpan.attributes).toMatchObject({
      'idgate.mode': 'grpc',
      'idgate.route': 'payments',
      'idgate.outcome': 'step_up',
      'idgate.code': 'verification_required',
    });

    const didit = created!;
    expect(descendsFrom(didit, checkSpan.spanId, spans)).toBe(true);
    expect(didit.attributes['didit.operation']).toBe('create_session');
    const redisSpans = spans.filter((s) => s.name.startsWith('redis '));
    expect(redisSpans.length).toBeGreaterThan(0);
    for (const r of redisSpans) {
      expect(descendsFrom(r, checkSpan.spanId, spans)).toBe(true);
      expect(r.attributes['db.system.name']).toBe('redis');
    }

    // The decision log line of this Check carries its trace id.
    const logged = await idgate.waitForLog((l) => l.traceId === traceId && l.outcome === 'step_up', 10_000);
    expect(logged.spanId).toBe(checkSpan.spanId);
  }, 40_000);

  it('a b3 parent is honoured, a deny carries its code, and an unsampled Check exports nothing', async () => {
    // Without trace context, sampleRatio 0 leaves this Check unsampled: it must never be exported.
    const untraced = await check('/api/orders', {});
    expect(untraced.ok_response).toBeDefined();

    const traceId = hex(16);
    const parent = hex(8);
    const res = await check('/api/orders', { b3: `${traceId}-${parent}-1` }, 'none');
    expect(res.denied_response?.status?.code).toBe(403);
    const spans = await traceOf(traceId, (s) => s.name === 'idgate.check');
    const checkSpan = spans.find((s) => s.name === 'idgate.check')!;
    expect(checkSpan.parentSpanId).toBe(parent);
    expect(checkSpan.attributes).toMatchObject({ 'idgate.route': 'api', 'idgate.outcome': 'deny', 'idgate.status': 403 });
    expect(typeof checkSpan.attributes['idgate.code']).toBe('string');

    // The unsampled Check ended before this one began, so its span would have been exported by now.
    const knownTraces = new Set(otlp.spans.filter((s) => s.name === 'idgate.check' && s.parentSpanId !== '').map((s) => s.traceId));
    const roots = otlp.spans.filter((s) => s.name === 'idgate.check' && !knownTraces.has(s.traceId));
    expect(roots).toEqual([]);
  }, 40_000);

  it('the HTTP authz front end continues the traceparent of the forwarded request', async () => {
    const traceId = hex(16);
    const parent = hex(8);
    const token = await mintToken(key, { iss: jwks.url, aud: 'idgate-test', now: Date.now(), sub: SUBJECT, ttlSeconds: 600, claims: { email: EMAIL, scope: 'read' } });
    tokens.push(token);
    const res = await fetch(`http://127.0.0.1:${idgate.ports.http}/check/api/orders`, {
      headers: { authorization: `Bearer ${token}`, traceparent: `00-${traceId}-${parent}-01` },
      signal: AbortSignal.timeout(5_000),
    });
    await res.arrayBuffer();
    expect(res.status).toBe(200);
    const spans = await traceOf(traceId, (s) => s.name === 'idgate.check');
    const checkSpan = spans.find((s) => s.name === 'idgate.check')!;
    expect(checkSpan.parentSpanId).toBe(parent);
    expect(checkSpan.attributes).toMatchObject({ 'idgate.mode': 'http', 'idgate.route': 'api', 'idgate.outcome': 'allow' });
  }, 40_000);

  it('a Check that meets a new signing key has a JWKS fetch child span', async () => {
    const rotated = await createTestKey('ES256', 'k2');
    jwks.setKeys(jwksOf(key, rotated));
    const traceId = hex(16);
    const res = await check('/api/orders', { traceparent: `00-${traceId}-${hex(8)}-01` }, 'read', rotated);
    expect(res.ok_response).toBeDefined();
    const spans = await traceOf(traceId, (s) => s.name === 'jwks fetch');
    const checkSpan = spans.find((s) => s.name === 'idgate.check')!;
    expect(checkSpan.attributes['idgate.outcome']).toBe('allow');
    expect(descendsFrom(spans.find((s) => s.name === 'jwks fetch')!, checkSpan.spanId, spans)).toBe(true);
  }, 40_000);

  it('a signed webhook delivery continues the trace context of its request, with its Redis writes as children', async () => {
    expect(stepUpSession).not.toBe('');
    const traceId = hex(16);
    const ingress = hex(8);
    const signed = signWebhook(SECRET, {
      session_id: stepUpSession,
      webhook_type: 'status.updated',
      vendor_data: `test:${SUBJECT}`,
      workflow_id: KYC,
      status: 'Approved',
      timestamp: Math.floor(Date.now() / 1000),
      decision: { session_id: stepUpSession, status: 'Approved' },
    });
    // As the ingress in front of the public listener would add it.
    const headers = { ...signed.headers, traceparent: `00-${traceId}-${ingress}-01` };
    const res = await fetch(`http://127.0.0.1:${idgate.ports.public}/webhooks/didit`, { method: 'POST', headers, body: signed.body });
    expect(res.status).toBe(200);
    const spans = await traceOf(traceId, (s) => s.name === 'idgate.webhook');
    const hook = spans.find((s) => s.name === 'idgate.webhook')!;
    expect(hook.parentSpanId).toBe(ingress);
    expect(hook.kind).toBe(2);
    const withRedis = await traceOf(traceId, (s) => s.name.startsWith('redis '));
    expect(withRedis.filter((s) => s.name.startsWith('redis ')).every((s) => descendsFrom(s, hook.spanId, withRedis))).toBe(true);
  }, 40_000);

  it('no exported attribute carries a token, the subject or an e-mail', async () => {
    expect(otlp.spans.length).toBeGreaterThan(0);
    const values = otlp.spans.flatMap((s) => [...Object.values(s.attributes), ...Object.values(s.resource)].map(String));
    for (const v of values) {
      expect(v).not.toContain(SUBJECT);
      expect(v).not.toContain(EMAIL);
      expect(v).not.toMatch(/eyJ[\w-]+\./);
      for (const t of tokens) expect(v).not.toContain(t.slice(0, 40));
    }
    expect(otlp.rejected).toEqual([]);
  });
});

/**
 * Client-chosen trace sampling (security review): end users set the request headers idgate sees — in the
 * CheckRequest (when Envoy does not overwrite them), in HTTP authz mode, on a webhook delivery. With
 * `tracing.trustIncomingContext` at its default (false), a flood of sampled `traceparent`/`b3` headers from
 * clients must not force a single span at `sampleRatio: 0`; the trace context Envoy's own tracer puts in the
 * metadata of its Check call (which no end user can set) still parents the Check span.
 */
describe('client-sent trace context is not trusted by default (second process, sampleRatio 0)', () => {
  it('a flood of sampled trace headers from clients exports nothing; Envoy\'s call metadata still parents the Check', async () => {
    const yaml = testConfigYaml({ issuer: jwks.url, jwksUri: jwks.jwksUrl, redisUrl: redis.url,
      didit: { apiBaseUrl: sandbox.url, apiKey: API_KEY, webhookSecret: SECRET, kycWorkflowId: KYC, ageWorkflowId: ADULT } });
    const strict = await startIdgate({ configYaml: `${yaml}tracing: { enabled: true, endpoint: "${otlp.url}", sampleRatio: 0, serviceName: idgate-untrusted }\n` });
    const strictClient = createEnvoyClient(`127.0.0.1:${strict.ports.grpc}`);
    try {
      const token = await mintToken(key, { iss: jwks.url, aud: 'idgate-test', now: Date.now(), sub: 'flooder', ttlSeconds: 600, claims: { scope: 'read' } });
      const http = (headers: Record<string, string>) => ({ method: 'GET', path: '/api/orders', host: 'shop.example.com', scheme: 'https', headers: { ':path': '/api/orders', authorization: `Bearer ${token}`, ...headers } });
      const flooded = new Set<string>();
      const sampledId = (): string => {
        const id = hex(16);
        flooded.add(id);
        return id;
      };
      for (let i = 0; i < 40; i++) {
        const clientTrace: Record<string, string> = i % 2 === 0 ? { traceparent: `00-${sampledId()}-${hex(8)}-01` } : { b3: `${sampledId()}-${hex(8)}-1` };
        expect((await strictClient.check({ attributes: { request: { http: http(clientTrace) } } })).ok_response).toBeDefined();
        const viaHttp = await fetch(`http://127.0.0.1:${strict.ports.http}/check/api/orders`, {
          headers: { authorization: `Bearer ${token}`, traceparent: `00-${sampledId()}-${hex(8)}-01` },
          signal: AbortSignal.timeout(5_000),
        });
        await viaHttp.arrayBuffer();
        expect(viaHttp.status).toBe(200);
        // An unsigned delivery (anyone on the internet can send one): refused, and never traced either.
        const hook = await fetch(`http://127.0.0.1:${strict.ports.public}/webhooks/didit`, {
          method: 'POST', body: '{}', signal: AbortSignal.timeout(5_000),
          headers: { 'content-type': 'application/json', traceparent: `00-${sampledId()}-${hex(8)}-01` },
        });
        await hook.arrayBuffer();
        expect(hook.status).toBeGreaterThanOrEqual(400);
      }
      // Envoy's tracer: its span is in the metadata of its own gRPC call, not in the request headers.
      const envoyTrace = hex(16);
      const envoySpan = hex(8);
      const traced = await strictClient.check({ attributes: { request: { http: http({}) } } }, { metadata: { traceparent: `00-${envoyTrace}-${envoySpan}-01` } });
      expect(traced.ok_response).toBeDefined();
      const spans = await traceOf(envoyTrace, (s) => s.name === 'idgate.check');
      expect(spans.find((s) => s.name === 'idgate.check')).toMatchObject({ parentSpanId: envoySpan, resource: { 'service.name': 'idgate-untrusted' } });
      // The flood ended before that Check began, and spans are exported in the order they end.
      expect(flooded.size).toBe(120);
      const fromStrict = otlp.spans.filter((s) => s.resource['service.name'] === 'idgate-untrusted');
      expect(fromStrict.filter((s) => s.traceId !== envoyTrace).map((s) => s.name)).toEqual([]);
      expect(otlp.spans.filter((s) => flooded.has(s.traceId))).toEqual([]);
    } finally {
      strictClient.close();
      await strict.stop();
    }
  }, 90_000);
});
