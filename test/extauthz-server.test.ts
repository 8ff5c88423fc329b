import { Writable } from 'node:stream';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Decider } from '../src/core/decider.js';
import type { Decision } from '../src/core/decision.js';
import type { RequestContext } from '../src/core/request-context.js';
import { createExtAuthzServer, type ExtAuthzServer } from '../src/extauthz/ext-authz-server.js';
import { createH2CheckServer, type H2CheckServer, type H2CheckServerOptions } from '../src/extauthz/h2-check-server.js';
import {
  createEnvoyClient,
  type EnvoyClient,
  type UpstreamCheckRequest,
  type UpstreamCheckResponse,
} from './support/envoy-client.js';

/** A scripted Decider: each test sets `behaviour`; every call is recorded. */
class ScriptedDecider implements Decider {
  behaviour: (ctx: RequestContext, deadlineAt: number) => Promise<Decision> = () =>
    Promise.resolve({ kind: 'allow', headers: {}, metadata: {} });
  readonly calls: { ctx: RequestContext; deadlineAt: number }[] = [];

  decide(ctx: RequestContext, deadlineAt: number): Promise<Decision> {
    this.calls.push({ ctx, deadlineAt });
    return this.behaviour(ctx, deadlineAt);
  }
}

function httpRequest(
  http: NonNullable<NonNullable<UpstreamCheckRequest['attributes']>['request']>['http'],
): UpstreamCheckRequest {
  return {
    attributes: {
      source: { address: { socket_address: { address: '198.51.100.7', port_value: 40000 } } },
      request: { time: { seconds: 1_700_000_000, nanos: 0 }, http },
    },
  };
}

function apiRequest(headers: Record<string, string> = {}, method = 'GET'): UpstreamCheckRequest {
  return httpRequest({
    id: '123',
    method,
    path: '/api/orders?limit=5',
    host: 'shop.example.com',
    scheme: 'https',
    protocol: 'HTTP/2',
    headers: { ':authority': 'shop.example.com', ':path': '/api/orders?limit=5', 'x-request-id': 'rid-1', ...headers },
  });
}

function header(list: { header: { key: string; value: string } }[] | undefined, name: string): string | undefined {
  return list?.find((h) => h.header.key === name)?.header.value;
}

function expectDenied(response: UpstreamCheckResponse, httpStatus: number, code: string): void {
  expect(response.status?.code ?? 0).not.toBe(0);
  expect(response.http_response).toBe('denied_response');
  expect(response.denied_response?.status?.code).toBe(httpStatus);
  expect(response.status?.message).toBe(code);
  expect(response.dynamic_metadata?.fields?.['code']?.stringValue).toBe(code);
}

/**
 * Both gRPC transports (`server.grpc.transport`) must answer every case below the same way: the node:http2
 * one is held to the grpc-js one's behaviour, test for test.
 */
const TRANSPORTS: Record<'grpcjs' | 'http2', (options: H2CheckServerOptions) => ExtAuthzServer | H2CheckServer> = {
  grpcjs: createExtAuthzServer,
  http2: createH2CheckServer,
};

describe.each(['grpcjs', 'http2'] as const)('ext_authz gRPC server (%s transport)', (transport) => {
  const createExtAuthzServer = TRANSPORTS[transport];
  const decider = new ScriptedDecider();
  const logLines: Record<string, unknown>[] = [];
  let server: ExtAuthzServer | H2CheckServer;
  let client: EnvoyClient;

  beforeAll(async () => {
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    server = createExtAuthzServer({
      decider,
      logger: pino({ level: 'info' }, stream),
      maxMessageBytes: 512 * 1024,
      decisionTimeoutMs: 1_000,
      deadlineMarginMs: 20,
    });
    const port = await server.listen('127.0.0.1', 0);
    client = createEnvoyClient(`127.0.0.1:${port}`);
  });

  afterAll(async () => {
    client.close();
    await server.close();
  });

  beforeEach(() => {
    decider.behaviour = () => Promise.resolve({ kind: 'allow', headers: {}, metadata: {} });
    decider.calls.length = 0;
    server.setServing(true);
  });

  it('allows with upstream headers (append false), removes forged identity headers and returns metadata', async () => {
    decider.behaviour = () =>
      Promise.resolve({
        kind: 'allow',
        headers: { 'x-idgate-issuer': 'corp', 'x-tenant': 't1' },
        metadata: { issuer: 'corp' },
        routeId: 'orders',
      });
    const response = await client.check(apiRequest({ 'x-idgate-subject': 'corp:admin', 'x-idgate-issuer': 'evil' }));
    expect(response.status?.code ?? 0).toBe(0);
    expect(response.http_response).toBe('ok_response');
    const headers = response.ok_response?.headers ?? [];
    expect(headers.map((h) => [h.header.key, h.header.value, h.append?.value])).toEqual([
      ['x-idgate-issuer', 'corp', false],
      ['x-tenant', 't1', false],
    ]);
    // The wrapper must be present on the wire (explicit false), not merely default.
    expect(headers.every((h) => h.append !== undefined)).toBe(true);
    expect(response.ok_response?.headers_to_remove).toContain('x-idgate-subject');
    expect(response.ok_response?.headers_to_remove).not.toContain('x-idgate-issuer');
    expect(response.dynamic_metadata?.fields).toMatchObject({
      decision: { stringValue: 'allow' },
      route_id: { stringValue: 'orders' },
      issuer: { stringValue: 'corp' },
    });
  });

  it('hands the decider a canonical RequestContext and a deadline inside the caller’s', async () => {
    const before = Date.now();
    await client.check(apiRequest({ Accept: 'application/json' }), { deadlineMs: 500 });
    const after = Date.now();
    const call = decider.calls[0];
    expect(call).toBeDefined();
    if (call === undefined) return;
    expect(call.ctx).toMatchObject({
      method: 'GET',
      host: 'shop.example.com',
      path: '/api/orders',
      query: 'limit=5',
      scheme: 'https',
      sourceAddress: '198.51.100.7',
      requestId: 'rid-1',
      receivedAt: 1_700_000_000_000,
    });
    expect(call.ctx.headers['accept']).toBe('application/json');
    // The server sees `grpc-timeout` (what was left when the client sent it) and subtracts its 20 ms margin
    // from the moment it received the call: deadlineAt = received + left − 20 ms. The transit time is unknown
    // but below after − before, so on a loaded machine deadlineAt may pass before + 500 by the transit — yet
    // never after + 480, which a missing margin would (received + left ≈ before + 500 + transit).
    expect(call.deadlineAt).toBeLessThanOrEqual(after + 480);
    expect(call.deadlineAt).toBeGreaterThan(before + 300);
  });

  it('denies 401 with an RFC 6750 challenge and a problem+json body', async () => {
    decider.behaviour = () =>
      Promise.resolve({ kind: 'deny', status: 401, code: 'token_expired', message: 'the token has expired' });
    const response = await client.check(apiRequest());
    expectDenied(response, 401, 'token_expired');
    expect(response.status?.code).toBe(16);
    const headers = response.denied_response?.headers;
    expect(header(headers, 'www-authenticate')).toBe(
      'Bearer realm="idgate", error="invalid_token", error_description="the token has expired"',
    );
    expect(header(headers, 'content-type')).toBe('application/problem+json');
    expect(headers?.some((h) => h.append?.value === true)).toBe(false);
    expect(JSON.parse(response.denied_response?.body ?? '')).toMatchObject({
      status: 401,
      code: 'token_expired',
      detail: 'the token has expired',
      instance: 'rid-1',
    });
  });

  it('redirects a browser to the verification URL (302)', async () => {
    decider.behaviour = () =>
      Promise.resolve({ kind: 'step_up', workflow: 'kyc', verificationUrl: 'https://verify.example/s/1', sessionId: 's1' });
    const response = await client.check(apiRequest({ accept: 'text/html,application/xhtml+xml' }));
    expectDenied(response, 302, 'verification_required');
    expect(header(response.denied_response?.headers, 'location')).toBe('https://verify.example/s/1');
    expect(header(response.denied_response?.headers, 'cache-control')).toBe('no-store');
  });

  it('answers an API client’s step-up with 401 insufficient_user_authentication', async () => {
    decider.behaviour = () =>
      Promise.resolve({ kind: 'step_up', workflow: 'kyc', verificationUrl: 'https://verify.example/s/1', sessionId: 's1' });
    const response = await client.check(apiRequest({ accept: 'application/json' }, 'POST'));
    expectDenied(response, 401, 'verification_required');
    expect(header(response.denied_response?.headers, 'www-authenticate')).toContain(
      'error="insufficient_user_authentication"',
    );
    expect(JSON.parse(response.denied_response?.body ?? '')).toMatchObject({
      code: 'verification_required',
      verification_url: 'https://verify.example/s/1',
      session_id: 's1',
      workflow: 'kyc',
    });
  });

  it.each<[string, () => Promise<Decision>]>([
    ['throws synchronously', () => { throw new Error('boom'); }],
    ['rejects', () => Promise.reject(new Error('boom'))],
  ])('denies 503 internal_error when the decider %s (never an RPC error)', async (_name, behaviour) => {
    decider.behaviour = behaviour;
    const response = await client.check(apiRequest());
    expectDenied(response, 503, 'internal_error');
    expect(response.status?.code).toBe(14);
    expect(header(response.denied_response?.headers, 'retry-after')).toBeDefined();
    expect(logLines.some((line) => line['level'] === 50 && String(line['msg']).includes('decider failed'))).toBe(true);
  });

  it('denies deadline_exceeded before the caller’s grpc-timeout when the decider hangs', async () => {
    let release: (d: Decision) => void = () => undefined;
    decider.behaviour = () => new Promise<Decision>((resolve) => { release = resolve; });
    const response = await client.check(apiRequest(), { deadlineMs: 300 });
    expectDenied(response, 503, 'deadline_exceeded');
    // A late decision is dropped; the server keeps answering.
    release({ kind: 'allow', headers: {}, metadata: {} });
    decider.behaviour = () => Promise.resolve({ kind: 'allow', headers: {}, metadata: {} });
    const next = await client.check(apiRequest());
    expect(next.status?.code ?? 0).toBe(0);
  });

  it('denies deadline_exceeded after decisionTimeoutMs when the caller sent a long deadline', async () => {
    const quick = createExtAuthzServer({
      decider: { decide: () => new Promise<Decision>(() => undefined) },
      logger: pino({ level: 'silent' }),
      decisionTimeoutMs: 50,
    });
    const port = await quick.listen('127.0.0.1', 0);
    const quickClient = createEnvoyClient(`127.0.0.1:${port}`);
    try {
      const response = await quickClient.check(apiRequest(), { deadlineMs: 10_000 });
      expectDenied(response, 503, 'deadline_exceeded');
    } finally {
      quickClient.close();
      await quick.close();
    }
  });

  it('denies undecodable bytes as request_invalid instead of failing the RPC', async () => {
    const response = await client.checkRaw(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]));
    expectDenied(response, 400, 'request_invalid');
    expect(response.status?.code).toBe(3);
    expect(JSON.parse(response.denied_response?.body ?? '')).toMatchObject({ detail: expect.stringMatching(/could not be decoded/) });
    expect(decider.calls).toHaveLength(0);
  });

  it('denies a request without attributes as request_invalid', async () => {
    const response = await client.check({});
    expectDenied(response, 400, 'request_invalid');
    expect(decider.calls).toHaveLength(0);
  });

  it('denies a request without a method as request_invalid', async () => {
    const response = await client.check(httpRequest({ path: '/x', headers: { ':path': '/x' } }));
    expectDenied(response, 400, 'request_invalid');
  });

  it('reads header_map (encode_raw_headers) when the headers map is empty', async () => {
    await client.check(
      httpRequest({
        method: 'GET',
        path: '/raw',
        header_map: {
          headers: [
            { key: ':authority', raw_value: Buffer.from('raw.example:8443') },
            { key: 'x-forwarded-for', raw_value: Buffer.from('1.1.1.1') },
            { key: 'x-forwarded-for', raw_value: Buffer.from('2.2.2.2') },
          ],
        },
      }),
    );
    const ctx = decider.calls[0]?.ctx;
    expect(ctx?.host).toBe('raw.example');
    expect(ctx?.port).toBe(8443);
    expect(ctx?.headers['x-forwarded-for']).toBe('1.1.1.1,2.2.2.2');
  });

  it('still answers a request with a 100 KB header (deny, not a crash)', async () => {
    const response = await client.check(apiRequest({ 'x-huge': 'a'.repeat(100 * 1024) }));
    expectDenied(response, 400, 'request_invalid');
  });

  it('answers a message above maxMessageBytes with a 400 request_invalid deny, not an RPC error (regression)', async () => {
    // Before issue 13 this was gRPC RESOURCE_EXHAUSTED, contrary to "a deny, never an RPC error".
    const response = await client.check(apiRequest({ 'x-huge': 'a'.repeat(600 * 1024) }));
    expectDenied(response, 400, 'request_invalid');
    expect(decider.calls).toHaveLength(0);
  });

  it('leaves only a message beyond 4× maxMessageBytes to the transport (documented limit)', async () => {
    await expect(client.check(apiRequest({ 'x-huge': 'a'.repeat(2100 * 1024) }))).rejects.toMatchObject({
      code: GrpcStatus.RESOURCE_EXHAUSTED,
    });
  });

  it('passes a path that cannot be canonicalised to the decider with pathError set', async () => {
    await client.check(httpRequest({ method: 'GET', path: '/api/%2e%2e/%2e%2e/admin', host: 'app.example.com' }));
    expect(decider.calls[0]?.ctx.pathError).toBeDefined();
    expect(decider.calls[0]?.ctx.path).toBe('');
  });

  it('reports health SERVING, then NOT_SERVING after setServing(false)', async () => {
    expect(await client.health('')).toBe(1);
    expect(await client.health('envoy.service.auth.v3.Authorization')).toBe(1);
    server.setServing(false);
    expect(await client.health('')).toBe(2);
    expect(await client.health('envoy.service.auth.v3.Authorization')).toBe(2);
    server.setServing(true);
    expect(await client.health('')).toBe(1);
    await expect(client.health('some.other.Service')).rejects.toMatchObject({ code: GrpcStatus.NOT_FOUND });
  });

  it('streams health changes to Watch', async () => {
    const seen: number[] = [];
    const watch = client.watchHealth('');
    const next = (): Promise<number> =>
      new Promise((resolve, reject) => {
        watch.once('data', (status: number) => {
          seen.push(status);
          resolve(status);
        });
        watch.once('error', reject);
      });
    expect(await next()).toBe(1);
    const changed = next();
    server.setServing(false);
    expect(await changed).toBe(2);
    watch.cancel();
    expect(seen).toEqual([1, 2]);
  });

  it('drain() reports NOT_SERVING and stops the server', async () => {
    const other = createExtAuthzServer({ decider, logger: pino({ level: 'silent' }) });
    const port = await other.listen('127.0.0.1', 0);
    const otherClient = createEnvoyClient(`127.0.0.1:${port}`);
    try {
      expect(await otherClient.health('')).toBe(1);
      await other.drain(1_000);
      expect(other.isServing).toBe(false);
      await expect(otherClient.check(apiRequest(), { deadlineMs: 1_000 })).rejects.toMatchObject({
        code: GrpcStatus.UNAVAILABLE,
      });
    } finally {
      otherClient.close();
      await other.close();
    }
  });
});
