import { request } from 'node:http';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decision } from '../src/core/decision.js';
import { HttpAuthzServer } from '../src/httpauthz/http-authz-server.js';
import { createCidrSet } from '../src/net/create-cidr-set.js';

/**
 * The HTTP authz front end's last-resort handling (issue 18): whatever the decider answers, the server
 * replies with a decision and keeps serving. A scripted decider (a seam, not a mock) returns the next
 * scripted value; the server is real, on 127.0.0.1.
 */
let server: HttpAuthzServer;
let port: number;
let next: () => Promise<Decision>;

beforeAll(async () => {
  server = new HttpAuthzServer(
    { decider: { decide: () => next() }, logger: pino({ level: 'silent' }) },
    { pathPrefix: '/', trustedProxies: createCidrSet([]) },
  );
  port = await server.listen('127.0.0.1', 0);
});

afterAll(async () => {
  await server?.close(100);
});

function get(): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/x', headers: { host: 'app.example.com' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers as Record<string, string>, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('HttpAuthzServer last resort', () => {
  it('a reply Node refuses to write (invalid status) becomes a 503 internal_error, and the server keeps serving', async () => {
    next = async () => ({ kind: 'deny', status: 42 as 403, code: 'route_denied', message: 'x' });
    const res = await get();
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'internal_error' });
    next = async () => ({ kind: 'allow', headers: {}, metadata: {} });
    expect((await get()).status).toBe(200);
  });

  it('identity header values of any text are written header-safe, never thrown on (the ERR_INVALID_CHAR crash)', async () => {
    next = async () => ({ kind: 'allow', headers: { 'x-idgate-name': '中文 José\r\n\ud800' }, metadata: {} });
    const res = await get();
    expect(res.status).toBe(200);
    expect(res.headers['x-idgate-name']).toBe('%E4%B8%AD%E6%96%87 Jos%C3%A9%0D%0A%EF%BF%BD');
  });

  it('a decider that rejects or throws gets a 503 internal_error', async () => {
    next = () => Promise.reject(new Error('boom'));
    expect((await get()).status).toBe(503);
    next = () => {
      throw new Error('sync boom');
    };
    const res = await get();
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'internal_error' });
  });
});
