import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/check-requests.js';
import { testConfigYaml } from '../support/config-yaml.js';
import { createEnvoyClient, type EnvoyClient } from '../support/envoy-client.js';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.js';
import { createTestKey, jwksOf, mintToken, type TestKey } from '../support/tokens.js';

/**
 * Client-chosen trace sampling (security review): end users set the request headers idgate sees — in the
 * CheckRequest (when Envoy does not overwrite them), in HTTP authz mode, on a webhook delivery. With
 * `tracing.trustIncomingContext` at its default (false) a flood of sampled `traceparent`/`b3` headers from
 * clients must not force a single span at `sampleRatio: 0`; the trace context Envoy's own tracer puts in the
 * gRPC metadata of its Check call (which no end user can set) still parents the Check span.
 */
const FLOOD = 40;
const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

let jwks: JwksServer;
let key: TestKey;
let otlp: OtlpReceiver;
let idgate: IdgateProcess;
let client: EnvoyClient;

beforeAll(async () => {
  otlp = await startOtlpReceiver();
  key = await createTestKey('ES256', 'k1');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  const yaml = testConfigYaml({
    issuer: jwks.url,
    jwksUri: jwks.jwksUrl,
    didit: { apiKey: 'test-api-key', webhookSecret: 'test-webhook-secret-0123456789', kycWorkflowId: '11111111-2222-4333-8444-000000000001', ageWorkflowId: '11111111-2222-4333-8444-000000000002' },
  });
  idgate = await startIdgate({
    command: 'serve',
    configYaml: `${yaml}tracing:\n  enabled: true\n  endpoint: ${otlp.url}\n  sampleRatio: 0\n  serviceName: idgate-untrusted\n`,
  });
  client = createEnvoyClient(`127.0.0.1:${idgate.ports.grpc}`);
}, 60_000);

afterAll(async () => {
  client?.close();
  await idgate?.stop();
  await jwks?.close();
  await otlp?.close();
});

describe('tracing: client-sent trace context is not trusted by default (sampleRatio 0)', () => {
  it('a flood of sampled trace headers from clients exports nothing; Envoy\'s gRPC call metadata still parents the Check', async () => {
    const token = await mintToken(key, { iss: jwks.url, aud: 'idgate-test', now: Date.now(), sub: 'flooder', ttlSeconds: 600, claims: { scope: 'read' } });
    const flooded = new Set<string>();
    const sampled = (): string => {
      const traceId = hex(16);
      flooded.add(traceId);
      return traceId;
    };
    for (let i = 0; i < FLOOD; i++) {
      const headers: Record<string, string> = {
        ':authority': 'shop.example.com', ':method': 'GET', ':path': '/api/orders', authorization: `Bearer ${token}`,
        ...(i % 2 === 0 ? { traceparent: `00-${sampled()}-${hex(8)}-01` } : { b3: `${sampled()}-${hex(8)}-1` }),
      };
      const res = await client.check({ attributes: { request: { http: { method: 'GET', path: '/api/orders', host: 'shop.example.com', scheme: 'https', headers } } } });
      expect(res.ok_response).toBeDefined();
      const http = await fetch(`http://127.0.0.1:${idgate.ports.http}/check/api/orders`, {
        headers: { authorization: `Bearer ${token}`, traceparent: `00-${sampled()}-${hex(8)}-01` },
        signal: AbortSignal.timeout(5_000),
      });
      await http.arrayBuffer();
      expect(http.status).toBe(200);
      // An unsigned delivery (anyone on the internet can send one): refused, and never traced either.
      const hook = await fetch(`http://127.0.0.1:${idgate.ports.public}/webhooks/didit`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', traceparent: `00-${sampled()}-${hex(8)}-01` },
        body: '{}',
        signal: AbortSignal.timeout(5_000),
      });
      await hook.arrayBuffer();
      expect(hook.status).toBeGreaterThanOrEqual(400);
    }

    // Envoy's tracer: the trace context is in the metadata of its own gRPC call, not in the request headers.
    const envoyTrace = hex(16);
    const envoySpan = hex(8);
    const traced = await client.check(
      { attributes: { request: { http: { method: 'GET', path: '/api/orders', host: 'shop.example.com', scheme: 'https', headers: { authorization: `Bearer ${token}` } } } } },
      { metadata: { traceparent: `00-${envoyTrace}-${envoySpan}-01` } },
    );
    expect(traced.ok_response).toBeDefined();
    const checkSpan = await eventually(
      async () => otlp.spans.find((s) => s.traceId === envoyTrace && s.name === 'idgate.check'),
      (s) => s !== undefined,
      15_000,
    );
    expect(checkSpan, `rejected: ${otlp.rejected.join('; ')}`).toMatchObject({ parentSpanId: envoySpan, attributes: { 'idgate.mode': 'grpc' } });
    // The flood ended before that Check began, and spans are exported in the order they end.
    expect(flooded.size).toBe(FLOOD * 3);
    expect(otlp.spans.filter((s) => flooded.has(s.traceId)).map((s) => s.name)).toEqual([]);
    expect(otlp.spans.filter((s) => s.traceId !== envoyTrace).map((s) => s.name)).toEqual([]);
  }, 90_000);
});
