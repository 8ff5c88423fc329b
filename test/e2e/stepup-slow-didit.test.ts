import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDiditSandbox, type DiditSandbox } from '../../src/sandbox/create-didit-sandbox.js';
import { createStartTickets } from '../../src/verification/start-ticket.js';
import { checkRequest, deniedHeader, eventually, isAllow, outcomeOf, problemOf } from '../support/check-requests.js';
import { testConfigYaml } from '../support/config-yaml.js';
import { createEnvoyClient, type EnvoyClient } from '../support/envoy-client.js';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import { startRedis, type RedisServerHandle } from '../support/redis-server.js';
import { createTestKey, jwksOf, mintToken, type TestKey } from '../support/tokens.js';

/**
 * Issue 13, end to end: `didit.mode: live` against the sandbox with every session creation taking 1 s (the
 * real Didit is an internet round trip away), the production shape (one `authz` and one `webhook` process
 * on a real Redis), and the ext_authz timeout of the shipped envoy/front-proxy.yaml as the gRPC deadline.
 * Before the fix the first Check of every new subject was a 503 `deadline_exceeded`.
 */
const API_KEY = 'slow-didit-api-key-0123456789';
const SECRET = 'slow-didit-webhook-secret-0123456789';
const KYC = '11111111-2222-4333-8444-0000000000a1';
const ADULT = '11111111-2222-4333-8444-0000000000a2';
const BASE = 'https://idgate.test';
const START = `${BASE}/verification/start/`;

/** The ext_authz gRPC timeout exactly as shipped. */
function shippedEnvoyTimeoutMs(): number {
  const yaml = readFileSync(resolve(import.meta.dirname, '../../envoy/front-proxy.yaml'), 'utf8');
  const m = /envoy_grpc: \{ cluster_name: idgate \}[\s\S]*?timeout: ([0-9.]+)s/.exec(yaml);
  if (m === null) throw new Error('ext_authz timeout not found in envoy/front-proxy.yaml');
  return Math.round(Number(m[1]) * 1000);
}

let redis: RedisServerHandle;
let jwks: JwksServer;
let key: TestKey;
let sandbox: DiditSandbox;
let authz: IdgateProcess;
let webhook: IdgateProcess;
let client: EnvoyClient;
let deadlineMs: number;
const summary: string[] = [];

function liveConfig(): string {
  // The shared test config, switched to live mode: secrets from the environment, an https public base.
  return testConfigYaml({
    issuer: jwks.url,
    jwksUri: jwks.jwksUrl,
    redisUrl: redis.url,
    localCacheTtl: '0s',
    didit: { apiBaseUrl: sandbox.url, apiKey: 'X', webhookSecret: 'X', kycWorkflowId: KYC, ageWorkflowId: ADULT, publicBaseUrl: BASE, returnToAllowlist: ['https://shop.example.com'], stepUpWait: null },
  })
    .replace('mode: sandbox', 'mode: live\n  allowInsecureApiBaseUrl: true')
    .replace('apiKey: X', 'apiKey: { env: SLOW_DIDIT_API_KEY }')
    .replace('webhookSecret: X', 'webhookSecret: { env: SLOW_DIDIT_WEBHOOK_SECRET }');
}

async function check(sub: string, browser: boolean) {
  const token = await mintToken(key, { iss: jwks.url, aud: 'idgate-test', now: Date.now(), sub, ttlSeconds: 600 });
  return client.check(checkRequest({ path: '/payments/checkout', token, browser }), { deadlineMs });
}

/**
 * Opens a URL handed out under https://idgate.test on the webhook process (what the ingress does): by
 * default as the browser ends up doing, by submitting the start page's form (POST); `GET` is the link
 * itself, what a prefetcher or a link scanner fetches.
 */
function open(url: string, init: { method?: 'GET' | 'POST'; headers?: Record<string, string> } = {}): Promise<Response> {
  expect(url.startsWith(`${BASE}/`)).toBe(true);
  return fetch(`http://127.0.0.1:${webhook.ports.public}${url.slice(BASE.length)}`, { redirect: 'manual', method: init.method ?? 'POST', ...(init.headers ? { headers: init.headers } : {}) });
}

function sessionsOf(sub: string) {
  return sandbox.sessions().filter((s) => s.vendorData === `test:${sub}`);
}

beforeAll(async () => {
  deadlineMs = shippedEnvoyTimeoutMs();
  redis = await startRedis();
  key = await createTestKey('ES256', 'sd1');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  sandbox = createDiditSandbox({ logger: pino({ level: 'silent' }), apiKey: API_KEY, webhookSecret: SECRET, retryDelaysMs: [200, 400], createDelayMs: 1_000 });
  await sandbox.listen();
  const env = { SLOW_DIDIT_API_KEY: API_KEY, SLOW_DIDIT_WEBHOOK_SECRET: SECRET };
  [authz, webhook] = await Promise.all([
    startIdgate({ command: 'authz', configYaml: liveConfig(), env }),
    startIdgate({ command: 'webhook', configYaml: liveConfig(), env }),
  ]);
  sandbox.setWebhookUrl(`http://127.0.0.1:${webhook.ports.public}/webhooks/didit`);
  client = createEnvoyClient(`127.0.0.1:${authz.ports.grpc}`);
  // Envoy keeps its connection to idgate open and idgate has its issuer's keys: warm both up first (a
  // cold channel spends ~200 ms on name resolution and connecting, on the client's side of the deadline).
  const warm = await mintToken(key, { iss: jwks.url, aud: 'idgate-test', now: Date.now(), sub: 'warm', ttlSeconds: 600, claims: { scope: 'read' } });
  await client.check(checkRequest({ path: '/api/x', token: warm }), { deadlineMs: 5_000 });
  // …and idgate's verification path (store read, ticket) has run once: a warm replica, as in production.
  await client.check(checkRequest({ path: '/payments/warm', token: warm }), { deadlineMs: 5_000 });
  await eventually(async () => sessionsOf('warm').length, (n) => n === 1, 10_000, 50);
}, 40_000);

afterAll(async () => {
  client?.close();
  await Promise.all([authz?.stop(), webhook?.stop()]);
  await sandbox?.close();
  await jwks?.close();
  await redis?.close();
  console.log(`[scorecard] stepup-slow-didit: ${summary.join('; ')}`);
});

describe('step-up with Didit taking 1 s per session creation (live mode, shipped Envoy timeout)', () => {
  it('tampered, foreign and expired tickets get a clear 4xx page and never reach Didit', async () => {
    // Runs first, before any Check, so nothing else talks to Didit meanwhile. Without a startTicketSecret
    // the tickets are keyed by the webhook secret, which the test knows; a foreign deployment's key does not.
    const claims = { subject: 'test:prober', workflow: 'kyc' };
    const valid = createStartTickets({}, { secrets: [SECRET] }).issue(claims);
    const flipped = valid.slice(0, 20) + (valid[20] === 'A' ? 'B' : 'A') + valid.slice(21);
    const foreign = createStartTickets({}, { secrets: ['some-other-deployment-key-42'] }).issue(claims);
    const expired = createStartTickets({ clock: () => Date.now() - 3_600_000 }, { secrets: [SECRET] }).issue(claims);
    const unknownWorkflow = createStartTickets({}, { secrets: [SECRET] }).issue({ ...claims, workflow: 'nope' });
    const before = sandbox.apiRequests();
    const cases: Array<[string, number, string]> = [
      [flipped, 400, 'not valid'],
      [foreign, 400, 'not valid'],
      ['not-a-ticket', 400, 'not valid'],
      ['A'.repeat(5000), 400, 'not valid'],
      [unknownWorkflow, 400, 'not valid'],
      [expired, 410, 'expired'],
    ];
    for (const [ticket, status, text] of cases) {
      const res = await open(START + ticket);
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toContain('text/html');
      expect(await res.text()).toContain(text);
    }
    expect(sandbox.apiRequests()).toBe(before);
    expect(sessionsOf('prober')).toHaveLength(0);
    summary.push(`${cases.length} tampered/foreign/expired tickets → 400/410 page, 0 Didit calls`);
  });

  it('GETting the start URL (a link scanner, a prefetch) creates no session; only the page\'s form POST does', async () => {
    // Runs before any Check too. A valid ticket of a subject no Check has started a session for.
    const ticket = createStartTickets({}, { secrets: [SECRET] }).issue({ subject: 'test:scanned', workflow: 'kyc' });
    const url = START + ticket;
    const before = sandbox.apiRequests();
    const pages: string[] = [];
    const variants: Array<Record<string, string>> = [{}, { 'sec-purpose': 'prefetch' }, { 'sec-purpose': 'prefetch;prerender' }, { purpose: 'prefetch' }, { 'x-purpose': 'preview' }];
    for (const headers of variants) {
      const res = await open(url, { method: 'GET', headers });
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const html = await res.text();
      expect(html).toContain(`<form id="start" method="post" action="${url.slice(BASE.length)}">`);
      pages.push(html);
      // A prefetch or prerender gets no script at all (a prerender would run it); a POST marked as one creates nothing.
      expect(html.includes('<script>'), JSON.stringify(headers)).toBe(Object.keys(headers).length === 0);
      if (Object.keys(headers).length > 0) expect((await open(url, { headers })).status).toBe(200);
    }
    expect(pages[0]).toContain('<script>');
    expect(sandbox.apiRequests()).toBe(before);
    expect(sessionsOf('scanned')).toHaveLength(0);
    // The form's POST (what the browser submits) creates the one session.
    const posted = await open(url);
    expect(posted.status).toBe(302);
    expect(posted.headers.get('location')?.startsWith(`${sandbox.url}/session/`)).toBe(true);
    expect(sessionsOf('scanned')).toHaveLength(1);
    summary.push('start URL: 5 GETs (plain, Sec-Purpose/Purpose prefetch, prerender, preview) → confirmation page, 0 sessions; POST → 1 session');
  }, 30_000);

  it('the first Checks are step-ups to the start URL (API 401 + verification_url, browser 302); the URL leads to the one hosted session; the signed webhook then allows', async () => {
    expect(deadlineMs).toBe(250);
    const api = await check('newcomer', false);
    expect(outcomeOf(api)).toBe('verification_required');
    expect(api.denied_response?.status?.code).toBe(401);
    expect(deniedHeader(api, 'www-authenticate')).toContain('insufficient_user_authentication');
    const body = problemOf(api);
    expect(String(body.verification_url).startsWith(START)).toBe(true);
    expect(body.session_id).toBeUndefined();
    expect(body.workflow).toBe('kyc');
    // No PII in the URL: the subject is encrypted inside the ticket.
    expect(String(body.verification_url)).not.toContain('newcomer');

    const browser = await check('newcomer', true);
    expect(browser.denied_response?.status?.code).toBe(302);
    const location = deniedHeader(browser, 'location') ?? '';
    expect(location.startsWith(START)).toBe(true);

    // Opening the URL (while the background creation may still run) lands on the one hosted session.
    const opened = await open(location);
    expect(opened.status).toBe(302);
    const hosted = opened.headers.get('location') ?? '';
    expect(hosted.startsWith(`${sandbox.url}/session/`)).toBe(true);
    expect(sessionsOf('newcomer')).toHaveLength(1);
    // A reload and the API client's URL lead to the same session: no duplicates.
    for (const url of [location, String(body.verification_url)]) {
      const again = await open(url);
      expect(again.headers.get('location')).toBe(hosted);
    }
    expect(sessionsOf('newcomer')).toHaveLength(1);

    // Now the pending session is known: the fast path answers Didit's URL directly, with its id.
    const known = await check('newcomer', false);
    expect(problemOf(known).verification_url).toBe(hosted);
    expect(problemOf(known).session_id).toBe(sessionsOf('newcomer')[0]?.sessionId);

    // The user approves on the hosted page; the sandbox sends the signed webhook; the next Check allows.
    const token = hosted.split('/session/')[1] ?? '';
    const decided = await fetch(`${sandbox.url}/session/${token}/decide`, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ decision: 'approve' }) });
    expect(decided.status).toBe(302);
    const allowed = await eventually(() => check('newcomer', false), isAllow, 8_000, 50);
    expect(isAllow(allowed)).toBe(true);

    // The decision log records what each client got.
    const decisions = authz.logs.filter((l) => l.msg === 'decision' && l.code === 'verification_required' && l.subject === 'test:newcomer');
    expect(decisions.map((l) => l.status)).toEqual(expect.arrayContaining([401, 302]));
    summary.push(`first Checks of a new subject at a ${deadlineMs} ms deadline: API 401 + start URL, browser 302 to it; 1 session for 3 opens; webhook → allow`);
  }, 30_000);

  it('first Checks of more new subjects, one after another: every one a step-up within the deadline, one session per subject', async () => {
    const subjects = Array.from({ length: 6 }, (_, i) => `next${i}`);
    const outcomes: string[] = [];
    for (const sub of subjects) {
      for (const browser of [false, true]) {
        const r = await check(sub, browser);
        const code = r.denied_response?.status?.code;
        const url = browser ? deniedHeader(r, 'location') : problemOf(r).verification_url;
        outcomes.push(`${code}:${String(url).startsWith(START) ? 'start-url' : String(url)}`);
      }
    }
    expect(outcomes).toEqual(subjects.flatMap(() => ['401:start-url', '302:start-url']));
    // The background creations finish (1 s each): exactly one session per subject.
    await eventually(async () => subjects.every((sub) => sessionsOf(sub).length === 1), (ok) => ok, 10_000, 100);
    for (const sub of subjects) expect(sessionsOf(sub)).toHaveLength(1);
    summary.push(`${outcomes.length} first Checks of ${subjects.length} new subjects: all step-ups to the start URL in time, ${subjects.length} sessions`);
  }, 30_000);

  it('Didit failing when the URL is opened: a clear 503 page with a retry, no session; the reload then reaches the one session', async () => {
    const before = sandbox.apiRequests();
    // Didit now answers 500 after 400 ms, four times: both attempts of the Check's background creation
    // (maxRetries 1) and both attempts made when the URL is opened.
    sandbox.injectApiFaults({ status: 500, delayMs: 400, count: 4 });
    const first = await check('unlucky', true);
    const location = deniedHeader(first, 'location') ?? '';
    expect(location.startsWith(START)).toBe(true);
    const failed = await open(location);
    expect(sandbox.apiRequests() - before).toBe(4);
    expect(failed.status).toBe(503);
    expect(failed.headers.get('retry-after')).not.toBeNull();
    const html = await failed.text();
    expect(html).toContain('not answering');
    expect(html).toContain(`href="${location.slice(BASE.length)}"`);
    expect(sessionsOf('unlucky')).toHaveLength(0);
    // Didit is back: the reload creates exactly one session, a second reload reuses it.
    const retried = await open(location);
    expect(retried.status).toBe(302);
    const again = await open(location);
    expect(again.headers.get('location')).toBe(retried.headers.get('location'));
    expect(sessionsOf('unlucky')).toHaveLength(1);
    summary.push('Didit 500s when the start URL was opened: 503 page with retry, 0 sessions; reload → 1 session');
  }, 30_000);

});
