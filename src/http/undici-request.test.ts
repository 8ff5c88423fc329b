import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as undici from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from './undici-request.js';

/** What the local server saw of one request. */
interface Seen {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly body: string;
}

let server: Server;
let origin: string;
let agent: InstanceType<typeof Agent>;
const seen: Seen[] = [];

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'application/json', 'x-echo': req.headers['x-echo'] ?? '' });
      res.end(JSON.stringify({ ok: true }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  agent = new Agent({ connections: 2 });
});

afterAll(async () => {
  await agent?.close();
  await new Promise<void>((resolve) => server?.close(() => resolve()));
});

/** The same call through this module and through undici's own `request`, and what the server saw of each. */
async function both(path: string, options: { method?: 'GET' | 'POST'; body?: string; headers?: Record<string, string> }): Promise<[Seen, Seen, string, string]> {
  seen.length = 0;
  const ours = await request(origin + path, { ...options, dispatcher: agent });
  const theirs = await undici.request(origin + path, { ...options, dispatcher: agent });
  return [seen[0]!, seen[1]!, `${ours.statusCode} ${String(ours.headers['x-echo'])} ${await ours.body.text()}`, `${theirs.statusCode} ${String(theirs.headers['x-echo'])} ${await theirs.body.text()}`];
}

describe('request (undici without its index)', () => {
  it('sends what undici.request sends: GET by default, the path with its query', async () => {
    const [ours, theirs, a, b] = await both('/keys/jwks.json?kid=a%20b&x=1', { headers: { 'x-echo': 'hello' } });
    expect(ours).toEqual({ method: 'GET', url: '/keys/jwks.json?kid=a%20b&x=1', body: '' });
    expect(ours).toEqual(theirs);
    expect(a).toBe('200 hello {"ok":true}');
    expect(a).toBe(b);
  });

  it('sends a POST body, and a body without a method as undici does (PUT)', async () => {
    const [ours, theirs] = await both('/v2/session/', { method: 'POST', body: '{"a":1}' });
    expect(ours).toEqual({ method: 'POST', url: '/v2/session/', body: '{"a":1}' });
    expect(ours).toEqual(theirs);
    const [noMethod, undiciNoMethod] = await both('/x', { body: 'b' });
    expect(noMethod.method).toBe('PUT');
    expect(noMethod).toEqual(undiciNoMethod);
  });

  it('refuses what undici refuses, with undici\'s error', async () => {
    // Both throw synchronously (the URL is parsed before any I/O); a rejection would do as well.
    const error = (f: () => Promise<unknown>) => Promise.resolve().then(f).then(() => undefined, (err: unknown) => err as Error);
    const ours = await error(() => request('ftp://127.0.0.1/x', { dispatcher: agent }));
    const theirs = await error(() => undici.request('ftp://127.0.0.1/x', { dispatcher: agent }));
    expect(ours).toBeInstanceOf(undici.errors.InvalidArgumentError);
    expect(ours?.message).toBe(theirs?.message);
  });
});
