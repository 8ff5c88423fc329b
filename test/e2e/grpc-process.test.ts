import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';
import { createEnvoyClient, type EnvoyClient, type UpstreamCheckRequest, type UpstreamCheckResponse } from '../support/envoy-client.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import { createTestKey, jwksOf, mintToken, craftToken, type TestKey } from '../support/tokens.js';
import { testConfigYaml } from '../support/config-yaml.js';

/**
 * idgate as a separate process (the built CLI), called over loopback by a gRPC client that encodes
 * requests and decodes responses with Envoy's upstream protos, with a local JWKS server whose keys rotate
 * mid-test.
 */
let jwks: JwksServer;
let idgate: IdgateProcess;
let client: EnvoyClient;
let keyA: TestKey;
let keyB: TestKey;
const AUD = 'idgate-test';

function request(opts: { path: string; token?: string; headers?: Record<string, string>; method?: string; ext?: Record<string, string> }): UpstreamCheckRequest {
  const headers: Record<string, string> = {
    ':authority': 'shop.example.com',
    ':method': opts.method ?? 'GET',
    ':path': opts.path,
    ':scheme': 'https',
    'x-request-id': 'req-1',
    ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
    ...opts.headers,
  };
  return {
    attributes: {
      source: { address: { socket_address: { address: '203.0.113.7', port_value: 50000 } } },
      request: {
        http: { method: opts.method ?? 'GET', path: opts.path, host: 'shop.example.com', scheme: 'https', protocol: 'HTTP/2', headers },
      },
      ...(opts.ext ? { context_extensions: opts.ext } : {}),
    },
  };
}

function header(res: UpstreamCheckResponse, name: string, where: 'ok' | 'denied'): string | undefined {
  const list = where === 'ok' ? res.ok_response?.headers : res.denied_response?.headers;
  return list?.find((h) => h.header.key === name)?.header.value;
}

function body(res: UpstreamCheckResponse): Record<string, unknown> {
  return JSON.parse(res.denied_response?.body ?? '{}') as Record<string, unknown>;
}

async function token(key: TestKey, claims: Record<string, unknown> = {}, extra: { ttlSeconds?: number; aud?: string } = {}): Promise<string> {
  return mintToken(key, { iss: jwks.url, aud: extra.aud ?? AUD, now: Date.now(), sub: 'alice', claims: { scope: 'read', ...claims }, ...(extra.ttlSeconds !== undefined ? { ttlSeconds: extra.ttlSeconds } : {}) });
}

beforeAll(async () => {
  keyA = await createTestKey('RS256', 'key-a');
  keyB = await createTestKey('ES256', 'key-b');
  jwks = await startJwksServer({ keys: jwksOf(keyA) });
  idgate = await startIdgate({ configYaml: testConfigYaml({ issuer: jwks.url, jwksUri: jwks.jwksUrl, allowSampleRate: 1 }), command: 'authz' });
  client = createEnvoyClient(`127.0.0.1:${idgate.ports.grpc}`);
}, 30_000);

afterAll(async () => {
  client?.close();
  await idgate?.stop();
  await jwks?.close();
});

describe('idgate authz process over gRPC with upstream Envoy protos', () => {
  it('reports SERVING on grpc.health.v1', async () => {
    expect(await client.health('')).toBe(1);
    expect(await client.health('envoy.service.auth.v3.Authorization')).toBe(1);
  });

  it('allows a public route without a token', async () => {
    const res = await client.check(request({ path: '/healthz' }));
    expect(res.status?.code ?? 0).toBe(0);
    expect(res.http_response).toBe('ok_response');
  });

  it('denies a protected route without a token: 401 with an RFC 6750 challenge and a problem body', async () => {
    const res = await client.check(request({ path: '/api/orders' }));
    expect(res.status?.code).toBe(16);
    expect(res.denied_response?.status?.code).toBe(401);
    expect(header(res, 'www-authenticate', 'denied')).toBe('Bearer realm="idgate"');
    expect(header(res, 'content-type', 'denied')).toBe('application/problem+json');
    expect(body(res)).toMatchObject({ code: 'token_missing', status: 401 });
  });

  it('allows a valid token, sets identity headers with append:false and strips forged ones', async () => {
    const t = await token(keyA, { email: 'alice@example.com' });
    const res = await client.check(request({ path: '/api/orders?page=2', token: t, headers: { 'x-idgate-subject': 'test:mallory', 'x-idgate-verified': 'kyc' } }));
    expect(res.status?.code ?? 0).toBe(0);
    const headers = res.ok_response?.headers ?? [];
    expect(headers.find((h) => h.header.key === 'x-idgate-subject')).toMatchObject({ header: { value: 'test:alice' }, append: { value: false } });
    expect(header(res, 'x-idgate-issuer', 'ok')).toBe('test');
    expect(header(res, 'x-idgate-email', 'ok')).toBe('alice@example.com');
    expect(headers.every((h) => h.append?.value === false)).toBe(true);
    expect(res.ok_response?.headers_to_remove).toContain('x-idgate-verified');
    expect(res.dynamic_metadata?.fields?.subject?.stringValue).toBe('test:alice');
  });

  it('denies a token with the wrong audience, an expired token and alg none', async () => {
    const wrongAud = await client.check(request({ path: '/api/x', token: await token(keyA, {}, { aud: 'other' }) }));
    expect(body(wrongAud)).toMatchObject({ code: 'token_invalid' });
    const expired = await client.check(request({ path: '/api/x', token: await token(keyA, {}, { ttlSeconds: -120 }) }));
    expect(body(expired)).toMatchObject({ code: 'token_expired' });
    const none = craftToken({ alg: 'none', typ: 'JWT' }, { iss: jwks.url, aud: AUD, sub: 'alice', scope: 'read', exp: Math.floor(Date.now() / 1000) + 60 });
    const res = await client.check(request({ path: '/api/x', token: none }));
    expect(res.denied_response?.status?.code).toBe(401);
    expect(body(res)).toMatchObject({ code: 'token_invalid' });
  });

  it('answers 403 claims_mismatch with insufficient_scope for a token lacking the scope', async () => {
    const res = await client.check(request({ path: '/api/x', token: await token(keyA, { scope: 'write' }) }));
    expect(res.denied_response?.status?.code).toBe(403);
    expect(res.status?.code).toBe(7);
    expect(header(res, 'www-authenticate', 'denied')).toContain('error="insufficient_scope"');
  });

  it('routes by context_extensions before host/path', async () => {
    const t = await token(keyA, { scope: 'read' });
    const res = await client.check(request({ path: '/api/x', token: t, ext: { policy: 'partner' } }));
    expect(body(res)).toMatchObject({ code: 'claims_mismatch' });
    const ok = await client.check(request({ path: '/anything', token: await token(keyA, { scope: 'partner' }), ext: { policy: 'partner' } }));
    expect(ok.status?.code ?? 0).toBe(0);
  });

  it('denies path tricks and unknown routes', async () => {
    const t = await token(keyA);
    for (const path of ['/api/..%2f..%2fadmin', '/api/%2e%2e;/x', '/api/a%00b']) {
      const res = await client.check(request({ path, token: t }));
      expect(res.status?.code, path).not.toBe(0);
    }
    const none = await client.check(request({ path: '/nothing-here', token: t }));
    expect(body(none)).toMatchObject({ code: 'no_route' });
  });

  it('picks up a rotated signing key (new kid) without a restart', async () => {
    const before = await client.check(request({ path: '/api/x', token: await token(keyB) }));
    expect(before.status?.code).not.toBe(0);
    jwks.setKeys(jwksOf(keyA, keyB));
    // The unknown-kid refetch is rate limited (1 s in this config): retry until it is allowed.
    let res: UpstreamCheckResponse | undefined;
    for (let i = 0; i < 30; i++) {
      res = await client.check(request({ path: '/api/x', token: await token(keyB) }));
      if ((res.status?.code ?? 0) === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(res?.status?.code ?? 0).toBe(0);
    jwks.setKeys(jwksOf(keyB));
    const stillB = await client.check(request({ path: '/api/x', token: await token(keyB) }));
    expect(stillB.status?.code ?? 0).toBe(0);
  });

  it('keeps verifying with cached keys while the JWKS endpoint is down', async () => {
    await jwks.takeDown();
    try {
      const res = await client.check(request({ path: '/api/x', token: await token(keyB) }));
      expect(res.status?.code ?? 0).toBe(0);
    } finally {
      await jwks.bringUp();
    }
  });

  it('answers garbage bytes with a denial, not an RPC error', async () => {
    const res = await client.checkRaw(Buffer.from([0xff, 0xff, 0xff, 0x01, 0x02]));
    expect(res.status?.code).not.toBe(0);
    expect(res.denied_response?.status?.code).toBe(400);
  });

  it('exposes Prometheus metrics and readiness on the admin port', async () => {
    const metrics = await fetch(`http://127.0.0.1:${idgate.ports.admin}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/idgate_checks_total\{[^}]*outcome="deny"[^}]*code="token_missing"/);
    const ready = await fetch(`http://127.0.0.1:${idgate.ports.admin}/readyz`);
    expect(ready.status).toBe(200);
  });

  it('writes a decision log line per deny and never logs a token', async () => {
    const t = await token(keyA, { scope: 'write' });
    await client.check(request({ path: '/api/secret', token: t }));
    const line = await idgate.waitForLog((l) => l.msg === 'decision' && l.path === '/api/secret');
    expect(line).toMatchObject({ outcome: 'deny', code: 'claims_mismatch', routeId: 'api' });
    expect(idgate.output()).not.toContain(t.split('.')[2]);
    expect(idgate.output()).not.toMatch(/eyJ[\w-]+\.[\w-]+\.[\w-]+/);
  });

  it('drains and exits 0 on SIGTERM', async () => {
    const code = await idgate.stop();
    expect(code).toBe(0);
    expect(idgate.logs.some((l) => l.msg === 'stopped')).toBe(true);
  });
});
