import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDiditClient, type DiditClient, type DiditClientOptions } from '../src/didit/create-didit-client.js';
import { DiditError } from '../src/didit/didit-error.js';
import { createDiditSandbox, type DiditSandbox } from '../src/sandbox/index.js';

const API_KEY = 'live_key_must_never_be_logged_8f3a';
const WF = '9f1e0000-0000-4000-8000-0000000000aa';

/** Captures log lines so tests can assert what was (not) logged. */
function memoryLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

const clients: DiditClient[] = [];

function client(baseUrl: string, extra: Partial<DiditClientOptions> = {}): { client: DiditClient; sleeps: number[]; lines: string[] } {
  const sleeps: number[] = [];
  const { logger, lines } = memoryLogger();
  const c = createDiditClient({
    logger,
    baseUrl,
    apiKey: API_KEY,
    timeoutMs: 2000,
    maxRetries: 2,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    ...extra,
  });
  clients.push(c);
  return { client: c, sleeps, lines };
}

async function expectDiditError(promise: Promise<unknown>, code: string): Promise<DiditError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(DiditError);
    expect((err as DiditError).code).toBe(code);
    return err as DiditError;
  }
  throw new Error(`expected DiditError ${code}`);
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

describe('against the sandbox', () => {
  let sandbox: DiditSandbox;

  beforeAll(async () => {
    sandbox = createDiditSandbox({ logger: pino({ level: 'silent' }), apiKey: API_KEY, webhookSecret: 's' });
    await sandbox.listen();
  });

  afterAll(async () => {
    await sandbox.close();
  });

  it('creates a session and fetches its decision', async () => {
    const { client: c } = client(sandbox.url);
    const created = await c.createSession({ workflowId: WF, vendorData: 'corp:alice', callback: 'https://app.example.com/cb', metadata: { a: 1 }, language: 'en' });
    expect(created.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.sessionToken).toMatch(/^[A-Za-z0-9]{12}$/);
    expect(created.url).toBe(`${sandbox.url}/session/${String(created.sessionToken)}`);
    expect(created).toMatchObject({ status: 'Not Started', workflowId: WF });
    const stored = sandbox.sessions().find((s) => s.sessionId === created.sessionId);
    expect(stored).toMatchObject({ vendorData: 'corp:alice', callback: 'https://app.example.com/cb', metadata: { a: 1 }, language: 'en' });

    await sandbox.decide(created.sessionId, 'Approved');
    const decision = await c.getDecision(created.sessionId);
    expect(decision).toMatchObject({ session_id: created.sessionId, status: 'Approved', vendor_data: 'corp:alice' });
    expect(decision.id_verifications?.[0]?.age).toBeGreaterThanOrEqual(18);
  });

  it('retrying a create is idempotent by vendor_data', async () => {
    const { client: c } = client(sandbox.url);
    const a = await c.createSession({ workflowId: WF, vendorData: 'corp:same' });
    const b = await c.createSession({ workflowId: WF, vendorData: 'corp:same' });
    expect(b.sessionId).toBe(a.sessionId);
  });

  it('deleting a session (204) ends the vendor_data reuse: the next create is a new session; a second delete is not_found', async () => {
    const { client: c } = client(sandbox.url);
    const open = await c.createSession({ workflowId: WF, vendorData: 'corp:revoked' });
    await expect(c.deleteSession(open.sessionId)).resolves.toBeUndefined();
    expect(sandbox.sessions().some((s) => s.sessionId === open.sessionId)).toBe(false);
    const next = await c.createSession({ workflowId: WF, vendorData: 'corp:revoked' });
    expect(next.sessionId).not.toBe(open.sessionId);
    await expectDiditError(c.deleteSession(open.sessionId), 'not_found');
    await expectDiditError(c.deleteSession('../v3/session/'), 'bad_request');
  });

  it('wrong key → auth, not retried', async () => {
    const { client: c, sleeps } = client(sandbox.url, { apiKey: 'wrong' });
    const err = await expectDiditError(c.createSession({ workflowId: WF, vendorData: 'x' }), 'auth');
    expect(err.status).toBe(403);
    expect(sleeps).toEqual([]);
  });

  it('invalid workflow → bad_request', async () => {
    const { client: c } = client(sandbox.url);
    await expectDiditError(c.createSession({ workflowId: 'not-a-uuid', vendorData: 'x' }), 'bad_request');
  });

  it('unknown session → not_found', async () => {
    const { client: c } = client(sandbox.url);
    await expectDiditError(c.getDecision('00000000-0000-4000-8000-000000000000'), 'not_found');
  });

  it('a session id that is not UUID-like is refused before any request', async () => {
    const { client: c } = client(sandbox.url);
    await expectDiditError(c.getDecision('../../v3/session'), 'bad_request');
  });

  it('retries an injected 500 and succeeds', async () => {
    const { client: c, sleeps } = client(sandbox.url);
    sandbox.injectApiFaults({ status: 500, count: 1 });
    const created = await c.createSession({ workflowId: WF, vendorData: 'corp:after-500' });
    expect(created.status).toBe('Not Started');
    expect(sleeps).toHaveLength(1);
  });

  it('honours an injected 429 Retry-After', async () => {
    const { client: c, sleeps } = client(sandbox.url);
    sandbox.injectApiFaults({ status: 429, retryAfter: 3, count: 1 });
    await c.createSession({ workflowId: WF, vendorData: 'corp:after-429' });
    expect(sleeps).toEqual([3000]);
  });

  it('retries a dropped connection', async () => {
    const { client: c, sleeps } = client(sandbox.url);
    sandbox.injectApiFaults({ reset: true, count: 1 });
    await c.createSession({ workflowId: WF, vendorData: 'corp:after-reset' });
    expect(sleeps).toHaveLength(1);
  });

  it('gives up after maxRetries with unavailable', async () => {
    const { client: c, sleeps } = client(sandbox.url, { maxRetries: 2 });
    sandbox.injectApiFaults({ status: 500, count: 3 });
    const err = await expectDiditError(c.createSession({ workflowId: WF, vendorData: 'corp:down' }), 'unavailable');
    expect(err.status).toBe(500);
    expect(sleeps).toHaveLength(2);
    // Exponential: 200 ms then 400 ms steps, half fixed + half jitter (random() = 0.5).
    expect(sleeps).toEqual([150, 300]);
  });

  it('reports one result per call (after retries) to onRequest: idgate_didit_requests_total', async () => {
    const seen: string[] = [];
    const { client: c } = client(sandbox.url, { maxRetries: 1, onRequest: (op, result) => seen.push(`${op} ${result}`) });
    sandbox.injectApiFaults({ status: 500, count: 1 });
    const created = await c.createSession({ workflowId: WF, vendorData: 'corp:counted' });
    await c.getDecision(created.sessionId);
    await expectDiditError(c.getDecision('00000000-0000-4000-8000-000000000000'), 'not_found');
    sandbox.injectApiFaults({ status: 500, count: 2 });
    await expectDiditError(c.createSession({ workflowId: WF, vendorData: 'corp:counted-down' }), 'unavailable');
    expect(seen).toEqual(['create_session ok', 'get_decision ok', 'get_decision not_found', 'create_session unavailable']);
  });
});

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

describe('against a scripted server', () => {
  let server: Server;
  let url = '';
  let handlers: Handler[] = [];
  const seen: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        const handler = handlers.shift() ?? ((_q, r) => r.writeHead(500).end());
        handler(req, res, body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(() => {
    handlers = [];
    seen.length = 0;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const json = (status: number, body: unknown, headers: Record<string, string> = {}): Handler => (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const created = json(201, { session_id: '11111111-2222-4333-8444-555555555555', session_token: 'abcdefABCDEF', url: 'https://verify.didit.me/session/abcdefABCDEF', status: 'Not Started', workflow_id: WF });

  it('sends the key, JSON content type and trailing-slash paths; never logs the key', async () => {
    handlers = [json(500, { detail: 'boom' }), created];
    const { client: c, lines } = client(url);
    const result = await c.createSession({ workflowId: WF, vendorData: 'corp:bob' });
    expect(result).toEqual({
      sessionId: '11111111-2222-4333-8444-555555555555',
      sessionToken: 'abcdefABCDEF',
      url: 'https://verify.didit.me/session/abcdefABCDEF',
      status: 'Not Started',
      workflowId: WF,
    });
    expect(seen).toHaveLength(2);
    for (const request of seen) {
      expect(request).toMatchObject({ method: 'POST', url: '/v3/session/' });
      expect(request.headers['x-api-key']).toBe(API_KEY);
      expect(request.headers['content-type']).toBe('application/json');
      expect(JSON.parse(request.body)).toEqual({ workflow_id: WF, vendor_data: 'corp:bob' });
    }
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('\n')).not.toContain(API_KEY);
  });

  it('accepts 200 for create', async () => {
    handlers = [json(200, { session_id: 's-1', url: 'https://x/session/t', status: 'In Progress', workflow_id: WF })];
    const { client: c } = client(url);
    expect(await c.createSession({ workflowId: WF, vendorData: 'v' })).toMatchObject({ sessionId: 's-1', status: 'In Progress' });
  });

  it('GET decision uses the trailing-slash path', async () => {
    handlers = [json(200, { session_id: 'abc-123', status: 'Declined', id_verifications: null })];
    const { client: c } = client(url);
    expect(await c.getDecision('abc-123')).toMatchObject({ status: 'Declined' });
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/v3/session/abc-123/decision/' });
  });

  it('429 with Retry-After seconds', async () => {
    handlers = [json(429, { detail: 'throttled' }, { 'retry-after': '4' }), created];
    const { client: c, sleeps } = client(url);
    await c.createSession({ workflowId: WF, vendorData: 'v' });
    expect(sleeps).toEqual([4000]);
  });

  it('429 with Retry-After as an HTTP date', async () => {
    const now = Date.UTC(2026, 0, 1, 12, 0, 0);
    handlers = [json(429, {}, { 'retry-after': new Date(now + 7000).toUTCString() }), created];
    const { client: c, sleeps } = client(url, { clock: () => now });
    await c.createSession({ workflowId: WF, vendorData: 'v' });
    expect(sleeps).toEqual([7000]);
  });

  it('429 with only X-RateLimit-Reset (epoch seconds)', async () => {
    const now = Date.UTC(2026, 0, 1, 12, 0, 0);
    handlers = [json(429, {}, { 'x-ratelimit-reset': String(now / 1000 + 12), 'x-ratelimit-remaining': '0' }), created];
    const { client: c, sleeps } = client(url, { clock: () => now, budgetMs: 60_000 });
    await c.createSession({ workflowId: WF, vendorData: 'v' });
    expect(sleeps).toEqual([12_000]);
  });

  it('caps a long Retry-After', async () => {
    handlers = [json(429, {}, { 'retry-after': '20' }), created];
    const { client: c, sleeps } = client(url, { maxRetryAfterMs: 5000 });
    await c.createSession({ workflowId: WF, vendorData: 'v' });
    expect(sleeps).toEqual([5000]);
  });

  it('does not wait past the budget: rate_limited with retryAfterMs', async () => {
    handlers = [json(429, {}, { 'retry-after': '100' })];
    const { client: c, sleeps } = client(url, { budgetMs: 3000, maxRetryAfterMs: 120_000 });
    const err = await expectDiditError(c.createSession({ workflowId: WF, vendorData: 'v' }), 'rate_limited');
    expect(err.retryAfterMs).toBe(100_000);
    expect(sleeps).toEqual([]);
    expect(seen).toHaveLength(1);
  });

  it('a 500 without JSON, every time → unavailable after maxRetries', async () => {
    const html: Handler = (_req, res) => res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad gateway</h1>');
    handlers = [html, html, html];
    const { client: c } = client(url, { maxRetries: 2 });
    const err = await expectDiditError(c.getDecision('abc'), 'unavailable');
    expect(err.status).toBe(502);
    expect(seen).toHaveLength(3);
  });

  it('a slow server → timeout after retries', async () => {
    const never: Handler = () => undefined;
    handlers = [never, never];
    const { client: c } = client(url, { timeoutMs: 150, maxRetries: 1 });
    await expectDiditError(c.getDecision('abc'), 'timeout');
    expect(seen).toHaveLength(2);
  });

  it.each([
    ['malformed JSON on 200', ((_q, r) => r.writeHead(200, { 'content-type': 'application/json' }).end('{"status":')) as Handler],
    ['wrong shape on 200', json(200, ['not', 'an', 'object'])],
    ['unknown status value', json(200, { status: 'APPROVED' })],
    ['a redirect', ((_q, r) => r.writeHead(301, { location: '/v3/session/abc/decision' }).end()) as Handler],
    ['an oversized body', ((_q, r) => r.writeHead(200, { 'content-type': 'application/json' }).end(`{"x":"${'a'.repeat(3 * 1024 * 1024)}"}`)) as Handler],
  ])('%s → bad_response, not retried', async (_name, handler) => {
    handlers = [handler];
    const { client: c } = client(url);
    await expectDiditError(c.getDecision('abc'), 'bad_response');
    expect(seen).toHaveLength(1);
  });

  it('create without url → bad_response', async () => {
    handlers = [json(201, { session_id: 's', status: 'Not Started' })];
    const { client: c } = client(url);
    await expectDiditError(c.createSession({ workflowId: WF, vendorData: 'v' }), 'bad_response');
  });

  it.each([
    [400, 'bad_request'],
    [401, 'auth'],
    [402, 'auth'],
    [403, 'auth'],
    [404, 'not_found'],
    [409, 'bad_request'],
  ] as const)('%i is final → %s', async (status, code) => {
    handlers = [json(status, { detail: 'nope', code: 'contract_billing_suspended' }), created];
    const { client: c, sleeps } = client(url);
    const err = await expectDiditError(c.createSession({ workflowId: WF, vendorData: 'v' }), code);
    expect(err.status).toBe(status);
    expect(err.diditCode).toBe('contract_billing_suspended');
    expect(sleeps).toEqual([]);
    expect(seen).toHaveLength(1);
  });

  it('connection refused → unavailable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const { client: c, sleeps } = client(`http://127.0.0.1:${port}`, { maxRetries: 1 });
    await expectDiditError(c.getDecision('abc'), 'unavailable');
    expect(sleeps).toHaveLength(1);
  });

  it('rejects bad options with TypeError', () => {
    const logger = pino({ level: 'silent' });
    expect(() => createDiditClient({ logger, baseUrl: 'ftp://x', apiKey: 'k', timeoutMs: 1, maxRetries: 0 })).toThrow(TypeError);
    expect(() => createDiditClient({ logger, baseUrl: 'https://x', apiKey: '', timeoutMs: 1, maxRetries: 0 })).toThrow(TypeError);
    expect(() => createDiditClient({ logger, baseUrl: 'https://x', apiKey: 'k', timeoutMs: 0, maxRetries: 0 })).toThrow(TypeError);
  });
});
