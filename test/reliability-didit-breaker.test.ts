import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDiditClient } from '../src/didit/create-didit-client.js';
import { DiditError } from '../src/didit/didit-error.js';

/**
 * The Didit client's circuit breaker against a real local HTTP server that fails on command: attempts are
 * counted at the server, time comes from a fake clock (no real waiting), backoff sleeps are recorded.
 */
const WF = '9f1e0000-0000-4000-8000-0000000000bb';
let server: Server;
let url = '';
let mode: 'fail' | 'ok' | 'not_found' = 'fail';
let requests = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests += 1;
      if (mode === 'fail') res.writeHead(503, { 'content-type': 'text/html' }).end('<h1>down</h1>');
      else if (mode === 'not_found') res.writeHead(404, { 'content-type': 'application/json' }).end('{"detail":"Not found."}');
      else {
        res.writeHead(201, { 'content-type': 'application/json' }).end(
          JSON.stringify({ session_id: '11111111-2222-4333-8444-555555555555', url: 'https://x.example/session/abcdefABCDEF', status: 'Not Started', workflow_id: WF }),
        );
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function makeClient(breaker?: { failureThreshold?: number; coolDownMs?: number } | false) {
  let now = 1_700_000_000_000;
  const client = createDiditClient({
    logger: pino({ level: 'silent' }),
    baseUrl: url,
    apiKey: 'k',
    timeoutMs: 1000,
    maxRetries: 1,
    clock: () => now,
    sleep: async () => undefined,
    random: () => 0.5,
    ...(breaker === undefined ? {} : { circuitBreaker: breaker }),
  });
  return { client, advance: (ms: number) => (now += ms) };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof DiditError ? err.code : 'other';
  }
}

describe('Didit circuit breaker (reliability)', () => {
  it('opens after 5 transient attempt failures, fails fast without touching Didit, then probes and closes', async () => {
    const { client, advance } = makeClient({ failureThreshold: 5, coolDownMs: 5_000 });
    mode = 'fail';
    requests = 0;
    const codes: string[] = [];
    for (let i = 0; i < 20; i++) codes.push(await codeOf(client.createSession({ workflowId: WF, vendorData: 'corp:x' })));
    // 2 attempts per call (maxRetries 1): calls 1-2 use 4 attempts, call 3's first attempt is the 5th failure.
    expect(requests).toBe(5);
    expect(codes.every((c) => c === 'unavailable')).toBe(true);
    expect(client.circuitState()).toBe('open');

    // Half-open: one probe, still failing → open again; nothing else goes out meanwhile.
    advance(5_000);
    expect(await codeOf(client.createSession({ workflowId: WF, vendorData: 'corp:x' }))).toBe('unavailable');
    expect(requests).toBe(6);
    expect(client.circuitState()).toBe('open');

    mode = 'ok';
    expect(await codeOf(client.createSession({ workflowId: WF, vendorData: 'corp:x' }))).toBe('unavailable');
    expect(requests).toBe(6);
    advance(5_000);
    expect(await codeOf(client.createSession({ workflowId: WF, vendorData: 'corp:x' }))).toBe('ok');
    expect(client.circuitState()).toBe('closed');
    expect(requests).toBe(7);
    await client.close();
    console.log(`[scorecard] didit-breaker: 22 calls during outage → ${6} attempts reached Didit; circuit re-closed after 1 probe`);
  });

  it('reports the wait in retryAfterMs while open', async () => {
    const { client, advance } = makeClient({ failureThreshold: 1, coolDownMs: 3_000 });
    mode = 'fail';
    await codeOf(client.getDecision('11111111-2222-4333-8444-555555555555'));
    advance(1_000);
    const err = await client.getDecision('11111111-2222-4333-8444-555555555555').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiditError);
    expect((err as DiditError).code).toBe('unavailable');
    expect((err as DiditError).retryAfterMs).toBe(2_000);
    await client.close();
  });

  it('a final 4xx counts as Didit being up: never opens', async () => {
    const { client } = makeClient({ failureThreshold: 2, coolDownMs: 5_000 });
    mode = 'not_found';
    requests = 0;
    for (let i = 0; i < 10; i++) expect(await codeOf(client.getDecision('11111111-2222-4333-8444-555555555555'))).toBe('not_found');
    expect(requests).toBe(10);
    expect(client.circuitState()).toBe('closed');
    await client.close();
  });

  it('is on by default and can be turned off', async () => {
    mode = 'fail';
    const on = makeClient();
    requests = 0;
    for (let i = 0; i < 10; i++) await codeOf(on.client.createSession({ workflowId: WF, vendorData: 'corp:y' }));
    expect(requests).toBe(5);
    const off = makeClient(false);
    requests = 0;
    for (let i = 0; i < 10; i++) await codeOf(off.client.createSession({ workflowId: WF, vendorData: 'corp:y' }));
    expect(requests).toBe(20);
    expect(off.client.circuitState()).toBe('closed');
    await Promise.all([on.client.close(), off.client.close()]);
  });
});
