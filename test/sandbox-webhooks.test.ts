import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseWebhookPayload } from '../src/didit/types.js';
import { verifyWebhookSignature } from '../src/didit/verify-webhook-signature.js';
import { createDiditSandbox, type DiditSandbox } from '../src/sandbox/index.js';
import { referenceSignatures } from './fixtures/didit/reference-signatures.js';

const API_KEY = 'sbx_key_webhooks';
const SECRET = 'whsec_sandbox_Jx8v2LqP';
const WF = '9f1e0000-0000-4000-8000-0000000000aa';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** A real HTTP receiver that answers each request with the next scripted status (200 when the script is empty). */
class Receiver {
  readonly received: Received[] = [];
  script: (number | 'hang')[] = [];
  private readonly server: Server;
  url = '';

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.received.push({ headers: req.headers, body: Buffer.concat(chunks) });
        const next = this.script.shift() ?? 200;
        if (next === 'hang') return;
        res.writeHead(next, { 'content-type': 'text/plain' });
        res.end('ok');
      });
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/webhooks/didit`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let receiver: Receiver;
const sandboxes: DiditSandbox[] = [];

beforeAll(async () => {
  receiver = new Receiver();
  await receiver.start();
});

afterEach(async () => {
  await Promise.all(sandboxes.splice(0).map((s) => s.close()));
  receiver.received.length = 0;
  receiver.script = [];
});

afterAll(async () => {
  await receiver.stop();
});

async function start(extra: Partial<Parameters<typeof createDiditSandbox>[0]> = {}): Promise<DiditSandbox> {
  const sandbox = createDiditSandbox({
    logger: pino({ level: 'silent' }),
    apiKey: API_KEY,
    webhookSecret: SECRET,
    webhookUrl: receiver.url,
    retryDelaysMs: [20, 40],
    webhookTimeoutMs: 1000,
    ...extra,
  });
  sandboxes.push(sandbox);
  await sandbox.listen();
  return sandbox;
}

async function newSession(sandbox: DiditSandbox, body: Record<string, unknown> = {}): Promise<{ session_id: string; url: string; session_token: string }> {
  const response = await fetch(`${sandbox.url}/v3/session/`, {
    method: 'POST',
    headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
    body: JSON.stringify({ workflow_id: WF, vendor_data: 'corp:josé', metadata: { tenant: 'acme', '10': 1, '9': 2 }, ...body }),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as { session_id: string; url: string; session_token: string };
}

function header(r: Received, name: string): string {
  const v = r.headers[name];
  return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
}

describe('webhook content and signatures', () => {
  it('an approval is delivered with all three signatures valid (reference and ours)', async () => {
    const sandbox = await start();
    const session = await newSession(sandbox);
    const first = await sandbox.decide(session.session_id, 'Approved');
    expect(first).toMatchObject({ attempt: 1, statusCode: 200, outcome: 'delivered' });
    expect(receiver.received).toHaveLength(1);
    const got = receiver.received[0] as Received;
    const raw = got.body.toString('utf8');

    expect(header(got, 'user-agent')).toBe('DiditWebhook/2.0 +https://didit.me');
    expect(header(got, 'content-type')).toBe('application/json');
    const ts = header(got, 'x-timestamp');
    expect(ts).toMatch(/^\d+$/);

    const ref = referenceSignatures(SECRET, raw);
    expect(header(got, 'x-signature')).toBe(ref.raw);
    expect(header(got, 'x-signature-v2')).toBe(ref.v2);
    expect(header(got, 'x-signature-simple')).toBe(ref.simple);

    const now = Number(ts) * 1000;
    for (const [name, method] of [['x-signature', 'raw'], ['x-signature-v2', 'v2'], ['x-signature-simple', 'simple']] as const) {
      const result = verifyWebhookSignature({
        rawBody: got.body,
        headers: { 'x-timestamp': ts, [name]: header(got, name) },
        secrets: [SECRET],
        now,
      });
      expect(result).toMatchObject({ ok: true, method });
    }

    const payload = parseWebhookPayload(JSON.parse(raw));
    expect(payload.ok).toBe(true);
    if (!payload.ok) return;
    const p = payload.value;
    expect(p.event_id).toMatch(UUID);
    expect(p).toMatchObject({
      webhook_type: 'status.updated',
      session_id: session.session_id,
      status: 'Approved',
      workflow_id: WF,
      vendor_data: 'corp:josé',
      metadata: { tenant: 'acme', '10': 1, '9': 2 },
      environment: 'sandbox',
    });
    expect(p.timestamp).toBe(Number(ts));
    expect(typeof p.created_at).toBe('number');
    expect(p.decision?.status).toBe('Approved');
    expect(p.decision?.id_verifications?.[0]?.full_name).toBe('José Müller');
  });

  it('the body is compact, key-sorted and ASCII-escaped (Didit’s raw form)', async () => {
    const sandbox = await start();
    const session = await newSession(sandbox);
    await sandbox.decide(session.session_id, 'Approved');
    const raw = (receiver.received[0] as Received).body;
    expect([...raw].every((b) => b < 0x80)).toBe(true);
    const text = raw.toString('utf8');
    expect(text).toContain('"full_name":"Jos\\u00e9 M\\u00fcller"');
    expect(text).toContain('"vendor_data":"corp:jos\\u00e9"');
    expect(text).toContain('"metadata":{"10":1,"9":2,"tenant":"acme"}');
    expect(text).not.toMatch(/[\n ]"|": |, "/);
    expect(text.startsWith('{"application_id":')).toBe(true);
    expect(text.endsWith(`"workflow_id":"${WF}","workflow_version":1}`)).toBe(true);
    // Top-level keys in text order are sorted.
    const keys = Object.keys(JSON.parse(text) as object);
    expect(keys).toEqual([...keys].sort());
    // With non-ASCII content the raw and V2 signatures differ; both are still valid (checked above).
    expect(header(receiver.received[0] as Received, 'x-signature')).not.toBe(header(receiver.received[0] as Received, 'x-signature-v2'));
  });

  it('opening the page sends In Progress without a decision', async () => {
    const sandbox = await start();
    const session = await newSession(sandbox);
    await fetch(session.url);
    const [d] = await sandbox.waitForDeliveries(1);
    expect(d).toMatchObject({ status: 'In Progress', attempt: 1, outcome: 'delivered' });
    const body = JSON.parse((receiver.received[0] as Received).body.toString('utf8')) as Record<string, unknown>;
    expect(body.status).toBe('In Progress');
    expect(body).not.toHaveProperty('decision');
  });

  it('the hosted decision sends the webhooks in order: In Progress, then the decision', async () => {
    const sandbox = await start();
    const session = await newSession(sandbox, { callback: 'https://app.example.com/cb' });
    const response = await fetch(`${sandbox.url}/session/${session.session_token}/decide`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'decision=review&aml_hit=on',
    });
    expect(response.status).toBe(302);
    const deliveries = await sandbox.waitForDeliveries(2);
    expect(deliveries.map((d) => d.status)).toEqual(['In Progress', 'In Review']);
    const last = JSON.parse((receiver.received[1] as Received).body.toString('utf8')) as { decision: { aml_screenings: { total_hits: number }[] } };
    expect(last.decision.aml_screenings[0]?.total_hits).toBe(1);
  });

  it.each(['Declined', 'Abandoned'] as const)('%s carries the decision', async (status) => {
    const sandbox = await start();
    const session = await newSession(sandbox);
    await sandbox.decide(session.session_id, status);
    const body = JSON.parse((receiver.received[0] as Received).body.toString('utf8')) as Record<string, unknown>;
    expect(body).toHaveProperty('decision');
  });

  it('Resubmitted carries resubmit_info instead of the decision', async () => {
    const sandbox = await start();
    const session = await newSession(sandbox);
    await sandbox.decide(session.session_id, 'Declined');
    const answer = await fetch(`${sandbox.url}/v3/session/${session.session_id}/update-status/`, {
      method: 'PATCH',
      headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ new_status: 'Resubmitted', nodes_to_resubmit: ['feature_ocr_1'], comment: 'Foto unscharf – bitte wiederholen' }),
    });
    expect(answer.status).toBe(200);
    await sandbox.waitForDeliveries(2);
    const body = JSON.parse((receiver.received[1] as Received).body.toString('utf8')) as Record<string, unknown>;
    expect(body.status).toBe('Resubmitted');
    expect(body).not.toHaveProperty('decision');
    expect(body.resubmit_info).toEqual({ nodes_to_resubmit: ['feature_ocr_1'], reasons: { feature_ocr_1: 'Foto unscharf – bitte wiederholen' } });
    const ref = referenceSignatures(SECRET, (receiver.received[1] as Received).body.toString('utf8'));
    expect(header(receiver.received[1] as Received, 'x-signature-v2')).toBe(ref.v2);
  });

  it('no webhook URL, no delivery', async () => {
    const sandbox = await start({ webhookUrl: undefined });
    const session = await newSession(sandbox);
    expect(await sandbox.decide(session.session_id, 'Approved')).toBeUndefined();
    expect(sandbox.deliveries()).toEqual([]);
    sandbox.setWebhookUrl(receiver.url);
    expect(await sandbox.decide(session.session_id, 'Declined')).toMatchObject({ outcome: 'delivered' });
  });
});

describe('delivery retries', () => {
  it('retries a 500 and then succeeds, re-signed, with the same event id', async () => {
    const sandbox = await start();
    receiver.script = [500];
    const session = await newSession(sandbox);
    await sandbox.decide(session.session_id, 'Approved');
    const [first, second] = await sandbox.waitForDeliveries(2);
    expect(first).toMatchObject({ attempt: 1, statusCode: 500, outcome: 'retrying' });
    expect(second).toMatchObject({ attempt: 2, statusCode: 200, outcome: 'delivered' });
    expect(second?.eventId).toBe(first?.eventId);
    expect(receiver.received).toHaveLength(2);
    for (const got of receiver.received) {
      const ref = referenceSignatures(SECRET, got.body.toString('utf8'));
      expect(header(got, 'x-signature')).toBe(ref.raw);
      const body = JSON.parse(got.body.toString('utf8')) as { timestamp: number };
      expect(String(body.timestamp)).toBe(header(got, 'x-timestamp'));
    }
  });

  it('retries 404 and 503 at most twice (three attempts), then gives up', async () => {
    const sandbox = await start({ retryDelaysMs: [5, 5] });
    receiver.script = [404, 503, 502, 200];
    const session = await newSession(sandbox);
    await sandbox.decide(session.session_id, 'Approved');
    const deliveries = await sandbox.waitForDeliveries(3);
    expect(deliveries.map((d) => [d.attempt, d.statusCode, d.outcome])).toEqual([
      [1, 404, 'retrying'],
      [2, 503, 'retrying'],
      [3, 502, 'failed'],
    ]);
    // A later event is delivered normally and is the 4th attempt overall: there was no 4th retry.
    await sandbox.decide(session.session_id, 'Declined');
    const all = sandbox.deliveries();
    expect(all).toHaveLength(4);
    expect(all[3]).toMatchObject({ status: 'Declined', attempt: 1, statusCode: 200 });
  });

  it.each([401, 403, 400, 410, 301])('does not retry a %i', async (status) => {
    const sandbox = await start({ retryDelaysMs: [1, 1] });
    receiver.script = [status];
    const session = await newSession(sandbox);
    const first = await sandbox.decide(session.session_id, 'Approved');
    expect(first).toMatchObject({ attempt: 1, statusCode: status, outcome: 'failed' });
    await sandbox.decide(session.session_id, 'Declined');
    expect(sandbox.deliveries().map((d) => [d.status, d.attempt])).toEqual([
      ['Approved', 1],
      ['Declined', 1],
    ]);
  });

  it('retries after a timeout', async () => {
    const sandbox = await start({ webhookTimeoutMs: 100 });
    receiver.script = ['hang'];
    const session = await newSession(sandbox);
    const first = await sandbox.decide(session.session_id, 'Approved');
    expect(first).toMatchObject({ attempt: 1, error: 'timeout', outcome: 'retrying' });
    const [, second] = await sandbox.waitForDeliveries(2);
    expect(second).toMatchObject({ attempt: 2, statusCode: 200, outcome: 'delivered' });
  });

  it('retries after a connection failure', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const sandbox = await start({ webhookUrl: `http://127.0.0.1:${port}/hook` });
    const session = await newSession(sandbox);
    const first = await sandbox.decide(session.session_id, 'Approved');
    expect(first).toMatchObject({ attempt: 1, error: 'connection', outcome: 'retrying' });
    const all = await sandbox.waitForDeliveries(3);
    expect(all[2]).toMatchObject({ attempt: 3, error: 'connection', outcome: 'failed' });
  });

  it('retryEventId "fresh" gives each attempt a new event id', async () => {
    const sandbox = await start({ retryEventId: 'fresh' });
    receiver.script = [500];
    const session = await newSession(sandbox);
    await sandbox.decide(session.session_id, 'Approved');
    const [first, second] = await sandbox.waitForDeliveries(2);
    expect(second?.eventId).not.toBe(first?.eventId);
  });

  it('close() cancels a pending retry', async () => {
    const sandbox = await start({ retryDelaysMs: [60_000, 240_000] });
    receiver.script = [500];
    const session = await newSession(sandbox);
    const first = await sandbox.decide(session.session_id, 'Approved');
    expect(first?.outcome).toBe('retrying');
    await sandbox.close();
    expect(sandbox.deliveries()).toHaveLength(1);
  });
});
