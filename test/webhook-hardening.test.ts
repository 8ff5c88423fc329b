import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDiditClient, type DiditClient } from '../src/didit/create-didit-client.js';
import { createDiditSandbox, type DiditSandbox } from '../src/sandbox/index.js';
import { createMemoryStore } from '../src/store/memory/create-memory-store.js';
import { WebhookServer } from '../src/webhook/webhook-server.js';

/**
 * Issue 18 §3: the internet-facing webhook server has the same hardening as the other listeners — header
 * and request timeouts enforced on time (Node checks them only every `connectionsCheckingInterval`, 30 s
 * by default, so a dribbling client used to survive far past the configured timeout) and a connection cap.
 * Attacked over real TCP on 127.0.0.1.
 */
const logger = pino({ level: 'silent' });
const HEADERS_TIMEOUT_MS = 400;
const REQUEST_TIMEOUT_MS = 800;
const MAX_CONNECTIONS = 16;

let sandbox: DiditSandbox;
let didit: DiditClient;
let server: WebhookServer;
let port: number;

beforeAll(async () => {
  sandbox = createDiditSandbox({ logger, apiKey: 'hardening-api-key', webhookSecret: 'hardening-webhook-secret-0123456789' });
  await sandbox.listen();
  didit = createDiditClient({ logger, baseUrl: sandbox.url, apiKey: 'hardening-api-key', timeoutMs: 1_000, maxRetries: 0 });
  server = new WebhookServer(
    { store: createMemoryStore({ logger }), didit, logger },
    {
      workflows: {},
      secrets: ['hardening-webhook-secret-0123456789'],
      toleranceMs: 300_000,
      maxBodyBytes: 64 * 1024,
      publicBaseUrl: 'http://127.0.0.1',
      returnToAllowlist: [],
      headersTimeoutMs: HEADERS_TIMEOUT_MS,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      maxConnections: MAX_CONNECTIONS,
    },
  );
  port = await server.listen('127.0.0.1', 0);
});

afterAll(async () => {
  await server?.close(500);
  await didit?.close();
  await sandbox?.close();
});

/** Opens a TCP connection; resolves once connected. `closed` resolves (with the time) when the server ends it. */
function open(): Promise<{ socket: Socket; closed: Promise<number>; received: () => string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (data += d));
    const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now())));
    socket.on('error', () => undefined);
    socket.once('connect', () => resolve({ socket, closed, received: () => data }));
    socket.once('error', reject);
  });
}

/** Writes `chunk` every `everyMs` until the socket closes or `untilMs` passes; resolves when it stops. */
async function dribble(socket: Socket, chunk: string, everyMs: number, untilMs: number): Promise<void> {
  const end = Date.now() + untilMs;
  while (!socket.destroyed && !socket.writableEnded && Date.now() < end) {
    socket.write(chunk);
    await sleep(everyMs);
  }
}

describe('webhook server hardening (real server, real sockets)', () => {
  it('cuts a slowloris client that dribbles header lines, on time', async () => {
    const { socket, closed, received } = await open();
    const started = Date.now();
    socket.write('POST /webhooks/didit HTTP/1.1\r\nHost: idgate\r\n');
    // One header line every 100 ms: each keeps the socket busy, none completes the header block.
    const writing = dribble(socket, 'X-Slow: a\r\n', 100, 10_000);
    const closedAt = await Promise.race([closed, sleep(8_000).then(() => undefined)]);
    socket.destroy();
    await writing;
    expect(closedAt, 'the dribbling connection was never cut').toBeDefined();
    // Headers timeout + at most one checking interval (bounded by the header timeout) + scheduling slack.
    expect((closedAt as number) - started).toBeLessThan(HEADERS_TIMEOUT_MS * 2 + 1_500);
    expect(received() === '' || /^HTTP\/1\.1 408 /.test(received())).toBe(true);
  });

  it('cuts a client that sends the headers and then dribbles the body, on time', async () => {
    const { socket, closed, received } = await open();
    const started = Date.now();
    socket.write('POST /webhooks/didit HTTP/1.1\r\nHost: idgate\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{');
    const writing = dribble(socket, ' ', 100, 10_000);
    const closedAt = await Promise.race([closed, sleep(8_000).then(() => undefined)]);
    socket.destroy();
    await writing;
    expect(closedAt, 'the dribbling body was never cut').toBeDefined();
    expect((closedAt as number) - started).toBeLessThan(REQUEST_TIMEOUT_MS + HEADERS_TIMEOUT_MS + 1_500);
    expect(received(), received()).toMatch(/^$|^HTTP\/1\.1 408 /);
  });

  it('caps simultaneous connections and serves again once they are gone', async () => {
    const sockets = await Promise.all(Array.from({ length: MAX_CONNECTIONS * 3 }, () => open()));
    // The server drops every connection above the cap as soon as it accepts it.
    const deadline = Date.now() + 5_000;
    const alive = () => sockets.filter((s) => !s.socket.destroyed).length;
    while (alive() > MAX_CONNECTIONS && Date.now() < deadline) await sleep(20);
    expect(alive()).toBeLessThanOrEqual(MAX_CONNECTIONS);
    expect(alive()).toBeGreaterThan(0);
    for (const s of sockets) s.socket.destroy();
    await Promise.all(sockets.map((s) => s.closed));
    // Once they are gone a real request is answered (the callback without a session id is a 400 page).
    let status = 0;
    const until = Date.now() + 5_000;
    while (status === 0 && Date.now() < until) {
      status = await fetch(`http://127.0.0.1:${port}/verification/callback`).then((r) => r.status, () => 0);
      if (status === 0) await sleep(20);
    }
    expect(status).toBe(400);
  });

  it('rejects a nonsensical connection cap', () => {
    expect(
      () =>
        new WebhookServer(
          { store: createMemoryStore({ logger }), didit, logger },
          { workflows: {}, secrets: ['x'], toleranceMs: 1, maxBodyBytes: 1, publicBaseUrl: 'http://x', returnToAllowlist: [], maxConnections: 0 },
        ),
    ).toThrow(TypeError);
  });
});
