import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfigYaml } from '../support/config-yaml.js';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import { renderNginxExample, startNginx, type NginxHandle } from '../support/nginx.js';
import { createTestKey, jwksOf, mintToken, type TestKey } from '../support/tokens.js';
import { startUpstreamApp, type UpstreamApp } from '../support/upstream-app.js';

/**
 * Real nginx (running examples/nginx/idgate.conf as shipped, ports replaced) with `auth_request` to an
 * `idgate serve` process (embedded Didit sandbox) in front of an echo app. Build first: `npx tsc -p .`.
 */

const HOST = 'shop.example.test';

let jwks: JwksServer;
let key: TestKey;
let idgate: IdgateProcess;
let app: UpstreamApp;
let nginx: NginxHandle;

interface Response {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A raw HTTP/1.1 request to nginx (the path is sent exactly as given: no client-side normalisation). */
function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: nginx.port, path, method, headers: { host: `${HOST}:${nginx.port}`, ...headers }, timeout: 5_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function token(sub: string, scope = 'read'): Promise<string> {
  return mintToken(key, { iss: jwks.url, aud: 'idgate-test', now: Date.now(), sub, ttlSeconds: 600, claims: { scope, email: `${sub}@example.com` } });
}

/** The upstream request the last call produced (the app saw it), or undefined when it was never reached. */
function upstreamSince(before: number) {
  return app.requests.slice(before).at(-1);
}

beforeAll(async () => {
  key = await createTestKey('ES256', 'k1');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  app = await startUpstreamApp();
  idgate = await startIdgate({
    configYaml: testConfigYaml({
      issuer: jwks.url,
      jwksUri: jwks.jwksUrl,
      trustedProxies: ['127.0.0.1/32'],
      didit: {
        apiKey: 'nginx-api-key',
        webhookSecret: 'nginx-webhook-secret-0123456789',
        kycWorkflowId: '11111111-2222-4333-8444-000000000001',
        ageWorkflowId: '11111111-2222-4333-8444-000000000002',
      },
    }),
  });
  nginx = await startNginx({
    serverConfig: (listen) => renderNginxExample({ listen, authz: idgate.ports.http!, public: idgate.ports.public!, app: app.port }),
  });
}, 30_000);

afterAll(async () => {
  await nginx?.stop();
  await idgate?.stop();
  await app?.close();
  await jwks?.close();
});

describe('nginx auth_request with examples/nginx/idgate.conf', () => {
  it('passes a public route', async () => {
    const before = app.requests.length;
    const res = await get('/healthz');
    expect(res.status).toBe(200);
    const seen = upstreamSince(before);
    expect(seen?.url).toBe('/healthz');
    expect(seen?.headers['x-idgate-subject']).toBeUndefined();
  });

  it('refuses a forged identity header even on a public route (400, the app is not reached)', async () => {
    const before = app.requests.length;
    const res = await get('/healthz', { 'x-idgate-subject': 'test:admin' });
    expect(res.status).toBe(400);
    expect(res.headers['x-idgate-reason']).toBe('request_invalid');
    expect(upstreamSince(before)).toBeUndefined();
  });

  it('answers 401 with the Bearer challenge and a problem body for a protected route without a token', async () => {
    const before = app.requests.length;
    const res = await get('/api/items', { accept: 'application/json' });
    expect(res.status).toBe(401);
    // nginx relays idgate's challenge itself on a 401 (exactly once).
    expect(res.headers['www-authenticate']).toBe('Bearer realm="idgate"');
    expect(res.headers['x-idgate-reason']).toBe('token_missing');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(res.body)).toMatchObject({ status: 401, code: 'token_missing' });
    expect(upstreamSince(before)).toBeUndefined();
  });

  it('refuses a valid token that comes with forged identity headers', async () => {
    const before = app.requests.length;
    const res = await get('/api/items', {
      authorization: `Bearer ${await token('alice')}`,
      'x-idgate-subject': 'someone-else',
      'X-Idgate-Email': 'forged@example.com',
    });
    expect(res.status).toBe(400);
    expect(res.headers['x-idgate-reason']).toBe('request_invalid');
    expect(upstreamSince(before)).toBeUndefined();
  });

  it('passes a valid token; the app sees the real identity', async () => {
    const before = app.requests.length;
    const res = await get('/api/items?page=2', { authorization: `Bearer ${await token('alice')}` });
    expect(res.status).toBe(200);
    const seen = upstreamSince(before)!;
    expect(seen.url).toBe('/api/items?page=2');
    expect(seen.headers['x-idgate-subject']).toBe('test:alice');
    expect(seen.headers['x-idgate-issuer']).toBe('test');
    expect(seen.headers['x-idgate-email']).toBe('alice@example.com');
    expect(JSON.parse(res.body).headers['x-idgate-subject']).toBe('test:alice');
  });

  it('answers 403 with an insufficient_scope challenge for the wrong scope', async () => {
    const before = app.requests.length;
    const res = await get('/api/items', { authorization: `Bearer ${await token('bob', 'write')}` });
    expect(res.status).toBe(403);
    expect(res.headers['x-idgate-reason']).toBe('claims_mismatch');
    expect(res.headers['www-authenticate']).toContain('error="insufficient_scope"');
    expect(JSON.parse(res.body)).toMatchObject({ status: 403, code: 'claims_mismatch' });
    expect(upstreamSince(before)).toBeUndefined();
  });

  it('judges the raw request URI, not a dot-segment spelling of a public route', async () => {
    const res = await get('/healthz/../api/items', { accept: 'application/json' });
    expect(res.status).toBe(401);
    expect(res.headers['x-idgate-reason']).toBe('token_missing');
  });

  it('answers 400 path_invalid for a path idgate refuses to canonicalise', async () => {
    const res = await get('/api%2fitems', { authorization: `Bearer ${await token('carol')}` });
    expect(res.status).toBe(400);
    expect(res.headers['x-idgate-reason']).toBe('path_invalid');
    expect(res.headers['retry-after']).toBeUndefined();
  });

  it('redirects a browser to the Didit session (302) when a route needs a verification', async () => {
    const before = app.requests.length;
    const res = await get('/payments/checkout?cart=7', {
      authorization: `Bearer ${await token('dave')}`,
      accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
    });
    expect(res.status).toBe(302);
    expect(res.headers.location).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${idgate.ports.sandbox}/session/[A-Za-z0-9]+$`));
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['x-idgate-location']).toBeUndefined();
    expect(upstreamSince(before)).toBeUndefined();
    // The hosted page is reachable where the redirect points.
    const page = await fetch(res.headers.location!);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<h1>Verify your identity</h1>');
  });

  it('answers an API client that needs a verification with 401 insufficient_user_authentication', async () => {
    const res = await get('/payments/checkout', { authorization: `Bearer ${await token('erin')}`, accept: 'application/json' });
    expect(res.status).toBe(401);
    expect(res.headers.location).toBeUndefined();
    expect(res.headers['www-authenticate']).toContain('error="insufficient_user_authentication"');
    expect(res.headers['x-idgate-reason']).toBe('verification_required');
  });

  it('routes the verification callback to idgate without authorization', async () => {
    const res = await get('/verification/callback?verificationSessionId=00000000-0000-4000-8000-000000000000', { accept: 'text/html' });
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toContain('text/html');
    expect(res.body).toContain('<h1>This verification link is not recognised</h1>');
  });

  it('fails closed with 503 + Retry-After when idgate is gone', async () => {
    await idgate.stop();
    const before = app.requests.length;
    const res = await get('/api/items', { authorization: `Bearer ${await token('frank')}` });
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(JSON.parse(res.body)).toMatchObject({ status: 503, code: 'dependency_unavailable' });
    expect(upstreamSince(before)).toBeUndefined();
  });
});
