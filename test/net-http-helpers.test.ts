import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyServerHardening, hardenedServerOptions } from '../src/http/apply-server-hardening.js';
import { HttpBodyError, readBody } from '../src/http/read-body.js';
import { sendJson } from '../src/http/send-json.js';
import { sendProblem } from '../src/http/send-problem.js';

const LIMIT = 1024;
const outcomes: (string | number)[] = [];
let server: Server;
let port: number;

async function handler(req: IncomingMessage, res: ServerResponse): Promise<void> {
  switch (req.url) {
    case '/echo': {
      try {
        const body = await readBody(req, { limitBytes: LIMIT, timeoutMs: 300 });
        outcomes.push(body.length);
        sendJson(res, 200, { length: body.length, text: body.toString('utf8') }, { 'x-extra': 'yes' });
      } catch (error) {
        if (!(error instanceof HttpBodyError)) throw error;
        outcomes.push(error.code);
        sendProblem(res, { status: error.status, code: error.code, title: 'Body rejected', detail: error.message, headers: { connection: 'close' } });
      }
      return;
    }
    case '/problem':
      sendProblem(res, {
        status: 503,
        code: 'dependency_unavailable',
        title: 'Service unavailable',
        detail: 'Redis is unreachable.',
        type: 'https://idgate.dev/problems/dependency_unavailable',
        extra: { code: 'forged', status: 200, workflow: 'kyc' },
        headers: { 'retry-after': '5' },
      });
      return;
    case '/late':
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
      sendJson(res, 500, { never: 'sent' });
      return;
    default:
      sendJson(res, 404, { error: 'not found' });
  }
}

function call(path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request({ host: '127.0.0.1', port, path, method: body === undefined ? 'GET' : 'POST', headers, agent: false }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      let ended = false;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        ended = true;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
      res.on('close', () => {
        if (!ended) reject(new Error('response truncated'));
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
    });
    req.on('close', () => {
      if (!answered) reject(new Error('connection closed without a response'));
    });
    req.end(body);
  });
}

/** Sends raw bytes over TCP and collects whatever comes back until the server closes. */
function raw(bytes: string, { closeAfterWrite = false }: { closeAfterWrite?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(bytes);
      if (closeAfterWrite) socket.destroy();
    });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? undefined : reject(error)));
  });
}

async function waitFor(predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !predicate(); i++) await new Promise((r) => setTimeout(r, 10));
}

beforeAll(async () => {
  server = createServer(hardenedServerOptions({ maxHeaderSize: 4096, connectionsCheckingIntervalMs: 50 }), (req, res) => {
    handler(req, res).catch(() => res.destroy());
  });
  applyServerHardening(server, { headersTimeoutMs: 200, requestTimeoutMs: 2_000, keepAliveTimeoutMs: 1_000 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('readBody over HTTP', () => {
  it('reads a body within the limit', async () => {
    const reply = await call('/echo', 'hello');
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({ length: 5, text: 'hello' });
    expect(reply.headers['x-extra']).toBe('yes');
    expect(reply.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(reply.headers['cache-control']).toBe('no-store');
  });

  it('reads an empty body', async () => {
    const reply = await call('/echo', '');
    expect(JSON.parse(reply.body)).toEqual({ length: 0, text: '' });
  });

  it('refuses a declared content-length above the limit before reading (413)', async () => {
    const response = await raw(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${LIMIT + 1}\r\n\r\n`);
    expect(response).toMatch(/^HTTP\/1\.1 413 /);
    expect(response).toContain('application/problem+json');
    expect(response).toContain('"code":"too_large"');
  });

  it('refuses a chunked body that grows past the limit (413)', async () => {
    const reply = await call('/echo', 'x'.repeat(LIMIT + 1), { 'transfer-encoding': 'chunked' });
    expect(reply.status).toBe(413);
    expect(reply.headers['connection']).toBe('close');
  });

  it('times out a body that stops arriving (408)', async () => {
    const response = await raw('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly-part');
    expect(response).toMatch(/^HTTP\/1\.1 408 /);
    expect(response).toContain('"code":"timeout"');
  });

  it('reports a client that disconnects mid-body as aborted', async () => {
    const before = outcomes.length;
    await raw('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc', { closeAfterWrite: true });
    await waitFor(() => outcomes.length > before);
    expect(outcomes.at(-1)).toBe('aborted');
  });

  it('rejects invalid options with a TypeError', () => {
    const fake = { headers: {} } as IncomingMessage;
    expect(() => readBody(fake, { limitBytes: 0, timeoutMs: 1 })).toThrow(TypeError);
    expect(() => readBody(fake, { limitBytes: 1, timeoutMs: Number.NaN })).toThrow(TypeError);
  });
});

describe('sendProblem / sendJson', () => {
  it('writes an RFC 9457 document whose standard members cannot be overridden', async () => {
    const reply = await call('/problem');
    expect(reply.status).toBe(503);
    expect(reply.headers['content-type']).toBe('application/problem+json');
    expect(reply.headers['cache-control']).toBe('no-store');
    expect(reply.headers['retry-after']).toBe('5');
    expect(JSON.parse(reply.body)).toEqual({
      type: 'https://idgate.dev/problems/dependency_unavailable',
      title: 'Service unavailable',
      status: 503,
      detail: 'Redis is unreachable.',
      code: 'dependency_unavailable',
      workflow: 'kyc',
    });
  });

  it('destroys a response that already started instead of appending JSON', async () => {
    await expect(call('/late')).rejects.toThrow(/truncated|without a response/);
  });
});

describe('server hardening', () => {
  it('cuts a client that never finishes its headers (slowloris)', async () => {
    const response = await raw('GET /echo HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    expect(response === '' || /^HTTP\/1\.1 408 /.test(response)).toBe(true);
  });

  it('answers 431 to oversized headers', async () => {
    const response = await raw(`GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(5000)}\r\n\r\n`);
    expect(response).toMatch(/^HTTP\/1\.1 431 /);
  });

  it('validates limits', () => {
    const s = createServer();
    expect(() => applyServerHardening(s, { headersTimeoutMs: 5_000, requestTimeoutMs: 1_000, keepAliveTimeoutMs: 1_000 })).toThrow(/must not exceed/);
    expect(() => applyServerHardening(s, { headersTimeoutMs: 0, requestTimeoutMs: 1_000, keepAliveTimeoutMs: 1_000 })).toThrow(TypeError);
    expect(() => hardenedServerOptions({ maxHeaderSize: -1, connectionsCheckingIntervalMs: 10 })).toThrow(TypeError);
    applyServerHardening(s, { headersTimeoutMs: 1_000, requestTimeoutMs: 2_000, keepAliveTimeoutMs: 500, maxRequestsPerSocket: 10 });
    expect([s.headersTimeout, s.requestTimeout, s.keepAliveTimeout, s.maxRequestsPerSocket, s.timeout]).toEqual([1_000, 2_000, 500, 10, 2_000]);
  });
});
