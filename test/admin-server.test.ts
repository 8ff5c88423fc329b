import { request } from 'node:http';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminServer, type AdminServer, type ReadinessReport } from '../src/observability/admin-server.js';
import { createLogger } from '../src/observability/create-logger.js';
import { createMetrics } from '../src/observability/metrics.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(
  port: number,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request({ host: '127.0.0.1', port, method, path, headers: options.headers, agent: false }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    // The server may answer (413) and close before the whole body is sent: a write error is expected
    // then, and only a connection closed without any answer fails the call.
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
    });
    req.on('close', () => {
      if (!answered) reject(new Error('connection closed without a response'));
    });
    req.end(options.body);
  });
}

const TOKEN = 'test-admin-token-0123456789';

describe('admin server over HTTP', () => {
  const logChunks: string[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (c: string) => void logChunks.push(c) } });
  const metrics = createMetrics(new Registry());
  let readiness: ReadinessReport | (() => Promise<ReadinessReport>) = { ready: true, checks: { redis: { ok: true } } };
  const received: { body: string; params: Record<string, string> }[] = [];
  let server: AdminServer;
  let port: number;
  let bare: AdminServer;
  let barePort: number;

  beforeAll(async () => {
    server = createAdminServer({
      logger,
      registry: metrics.registry,
      readiness: () => (typeof readiness === 'function' ? readiness() : readiness),
      adminToken: TOKEN,
      routes: [
        {
          method: 'POST',
          path: '/admin/verdicts/:subject/invalidate',
          handler: (_req, body, params) => {
            received.push({ body: body.toString('utf8'), params });
            return { status: 202, json: { invalidated: params['subject'] } };
          },
        },
        { method: 'GET', path: '/admin/config', handler: () => ({ status: 200, json: { routes: 3 } }) },
        {
          method: 'DELETE',
          path: '/admin/config',
          handler: () => {
            throw new Error('boom with eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig');
          },
        },
      ],
      limits: { readinessTimeoutMs: 200 },
    });
    port = await server.listen('127.0.0.1', 0);
    bare = createAdminServer({ logger, registry: new Registry(), readiness: () => ({ ready: true, checks: {} }), routes: [{ method: 'GET', path: '/admin/config', handler: () => ({ status: 200, json: {} }) }] });
    barePort = await bare.listen('127.0.0.1', 0);
  });

  afterAll(async () => {
    await server.close();
    await bare.close();
  });

  it('serves Prometheus text with our metric names', async () => {
    metrics.recordCheck('deny', 'token_missing', 'payments', 'grpc', 0.0002);
    const reply = await call(port, 'GET', '/metrics');
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(reply.body).toContain('idgate_checks_total{outcome="deny",code="token_missing",route="payments",mode="grpc"} 1');
    expect(reply.body).toContain('idgate_check_duration_seconds_bucket');
    expect(reply.body).toContain('nodejs_heap_size_total_bytes');
  });

  it('answers liveness with 200 {"status":"ok"}', async () => {
    const reply = await call(port, 'GET', '/healthz');
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({ status: 'ok' });
    expect(reply.headers['cache-control']).toBe('no-store');
  });

  it('flips readiness with the checks, a failing callback, a slow callback and draining', async () => {
    readiness = { ready: true, checks: { redis: { ok: true } } };
    let reply = await call(port, 'GET', '/readyz');
    expect([reply.status, JSON.parse(reply.body)]).toEqual([200, { status: 'ready', checks: { redis: { ok: true } } }]);

    readiness = { ready: false, checks: { redis: { ok: false, detail: 'connection refused' } } };
    reply = await call(port, 'GET', '/readyz');
    expect([reply.status, JSON.parse(reply.body)]).toEqual([
      503,
      { status: 'not_ready', checks: { redis: { ok: false, detail: 'connection refused' } } },
    ]);

    readiness = () => Promise.reject(new Error('exploded'));
    reply = await call(port, 'GET', '/readyz');
    expect(reply.status).toBe(503);
    expect(JSON.parse(reply.body).checks.readiness.ok).toBe(false);

    readiness = () => new Promise(() => undefined);
    reply = await call(port, 'GET', '/readyz');
    expect(reply.status).toBe(503);

    readiness = { ready: true, checks: {} };
    server.setDraining(true);
    reply = await call(port, 'GET', '/readyz');
    expect([reply.status, JSON.parse(reply.body).status]).toEqual([503, 'draining']);
    expect((await call(port, 'GET', '/healthz')).status).toBe(200);
    server.setDraining(false);
    expect((await call(port, 'GET', '/readyz')).status).toBe(200);
  });

  it('requires the admin token on admin routes', async () => {
    const missing = await call(port, 'GET', '/admin/config');
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer realm="idgate-admin"');
    expect(missing.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(missing.body)).toMatchObject({ status: 401, code: 'unauthorized' });

    for (const authorization of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Basic ${TOKEN}`, TOKEN, 'Bearer ']) {
      expect((await call(port, 'GET', '/admin/config', { headers: { authorization } })).status).toBe(401);
    }

    const ok = await call(port, 'GET', '/admin/config', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect([ok.status, JSON.parse(ok.body)]).toEqual([200, { routes: 3 }]);
    const lowerScheme = await call(port, 'GET', '/admin/config', { headers: { authorization: `bearer ${TOKEN}` } });
    expect(lowerScheme.status).toBe(200);
  });

  it('passes the body and decoded params to a route handler', async () => {
    const reply = await call(port, 'POST', '/admin/verdicts/corp%3Auser-1/invalidate', {
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: '{"workflow":"kyc"}',
    });
    expect([reply.status, JSON.parse(reply.body)]).toEqual([202, { invalidated: 'corp:user-1' }]);
    expect(received.at(-1)).toEqual({ body: '{"workflow":"kyc"}', params: { subject: 'corp:user-1' } });

    const bad = await call(port, 'POST', '/admin/verdicts/%E0%A4%A/invalidate', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(bad.status).toBe(400);
  });

  it('refuses a too-large admin body with 413', async () => {
    const big = Buffer.alloc(64 * 1024 + 1, 0x61);
    const declared = await call(port, 'POST', '/admin/verdicts/x/invalidate', {
      headers: { authorization: `Bearer ${TOKEN}`, 'content-length': String(big.length) },
      body: big,
    });
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body)).toMatchObject({ code: 'body_too_large', status: 413 });
    expect(declared.headers['connection']).toBe('close');

    const chunked = await call(port, 'POST', '/admin/verdicts/x/invalidate', {
      headers: { authorization: `Bearer ${TOKEN}`, 'transfer-encoding': 'chunked' },
      body: big,
    });
    expect(chunked.status).toBe(413);
  });

  it('answers 404/405 problems for unknown routes and methods', async () => {
    const unknown = await call(port, 'GET', '/nope');
    expect([unknown.status, JSON.parse(unknown.body).code]).toEqual([404, 'not_found']);
    const wrongBuiltIn = await call(port, 'POST', '/metrics');
    expect([wrongBuiltIn.status, wrongBuiltIn.headers['allow']]).toEqual([405, 'GET, HEAD']);
    const wrongAdmin = await call(port, 'PUT', '/admin/config', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect([wrongAdmin.status, wrongAdmin.headers['allow']]).toEqual([405, 'GET, DELETE']);
    const trailing = await call(port, 'GET', '/admin/config/', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(trailing.status).toBe(404);
  });

  it('turns a throwing handler into a 500 and never logs the token or JWTs', async () => {
    const reply = await call(port, 'DELETE', '/admin/config', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect([reply.status, JSON.parse(reply.body).code]).toEqual([500, 'internal_error']);
    expect(reply.body).not.toContain('boom');
    const logs = logChunks.join('');
    expect(logs).toContain('admin route failed');
    expect(logs).not.toContain(TOKEN);
    expect(logs).not.toContain('eyJ');
  });

  it('disables the admin API (404) when no token is configured', async () => {
    const reply = await call(barePort, 'GET', '/admin/config', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(reply.status).toBe(404);
    expect((await call(barePort, 'GET', '/healthz')).status).toBe(200);
  });

  it('rejects bad construction input', () => {
    const registry = new Registry();
    const ready = (): ReadinessReport => ({ ready: true, checks: {} });
    expect(() => createAdminServer({ logger, registry, readiness: ready, adminToken: 'short' })).toThrow(TypeError);
    expect(() => createAdminServer({ logger, registry, readiness: ready, routes: [{ method: 'GET', path: '/metrics', handler: () => ({ status: 200 }) }] })).toThrow(/collides/);
    expect(() =>
      createAdminServer({
        logger,
        registry,
        readiness: ready,
        routes: [
          { method: 'GET', path: '/a/:x', handler: () => ({ status: 200 }) },
          { method: 'GET', path: '/a/:x', handler: () => ({ status: 200 }) },
        ],
      }),
    ).toThrow(/duplicate/);
    expect(() => createAdminServer({ logger, registry, readiness: ready, routes: [{ method: 'GET', path: '/a/:x/:x', handler: () => ({ status: 200 }) }] })).toThrow(/parameter/);
  });

  it('reports draining after close and refuses a second listen', async () => {
    const other = createAdminServer({ logger, registry: new Registry(), readiness: () => ({ ready: true, checks: {} }) });
    const otherPort = await other.listen('127.0.0.1', 0);
    await expect(other.listen('127.0.0.1', 0)).rejects.toThrow(/already listening/);
    expect((await call(otherPort, 'GET', '/healthz')).status).toBe(200);
    await other.close();
    expect(other.draining).toBe(true);
    await expect(call(otherPort, 'GET', '/healthz')).rejects.toThrow();
  });
});
