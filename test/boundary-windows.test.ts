import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowConfig } from '../src/config/types.js';
import { verifyWebhookSignature } from '../src/didit/verify-webhook-signature.js';
import { createAuthenticator, type JwtAuthenticator } from '../src/identity/authenticator.js';
import { createTokenCache } from '../src/identity/token-cache.js';
import type { Principal } from '../src/core/principal.js';
import type { VerificationNeed } from '../src/core/outcome.js';
import { createCachedVerdictStore } from '../src/store/cached-verdict-store.js';
import { createMemoryStore } from '../src/store/memory/create-memory-store.js';
import { evaluateVerdict } from '../src/verification/evaluate-verdict.js';
import type { Verdict } from '../src/core/verdict.js';
import { hmacHex } from './fixtures/didit/reference-signatures.js';
import { startJwksServer, type JwksServer } from './support/jwks-server.js';
import { bearerContext, createTestKey, issuerConfigFor, jwksOf, mintToken, type TestKey } from './support/tokens.js';

/**
 * Every security window, probed one unit either side of its edge (issue 17, item 2). Each pair below kills
 * the mutants that move an edge (`>` ↔ `>=`, `+ 1 day`, `+ 1 s`, a dropped direction): the inside probe
 * must pass and the outside probe must fail.
 */
const SECOND = 1000;
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 27, 12, 0, 0);

describe('verification freshness (maxAge)', () => {
  const workflow: WorkflowConfig = {
    name: 'kyc',
    workflowId: '11111111-1111-4111-8111-111111111111',
    maxAgeMs: 365 * DAY,
    requireAmlClear: false,
    requireDocumentValid: false,
  };
  const need: VerificationNeed = { workflow: 'kyc', maxAgeMs: 30 * DAY, onInReview: 'deny', onDeclined: 'deny' };
  const approvedAgo = (ageMs: number, withDecidedAt = true): Verdict => ({
    subject: 'corp:alice',
    workflow: 'kyc',
    sessionId: 's1',
    status: 'Approved',
    eventAt: NOW - ageMs,
    ...(withDecidedAt ? { decidedAt: NOW - ageMs } : {}),
    facts: {},
  });

  it.each([
    ['1 s younger than maxAge', 30 * DAY - SECOND, 'satisfied'],
    ['exactly maxAge', 30 * DAY, 'satisfied'],
    ['1 ms older than maxAge', 30 * DAY + 1, 'step_up'],
    ['1 s older than maxAge', 30 * DAY + SECOND, 'step_up'],
    ['1 day older than maxAge', 31 * DAY, 'step_up'],
  ])('an approval %s → %s', (_name, age, kind) => {
    expect(evaluateVerdict(approvedAgo(age), need, workflow, NOW).kind).toBe(kind);
    // Without decidedAt the event time is the decision time: same edge.
    expect(evaluateVerdict(approvedAgo(age, false), need, workflow, NOW).kind).toBe(kind);
  });

  it('judges age by the decision time, not by a later event time', () => {
    const v: Verdict = { ...approvedAgo(30 * DAY + SECOND), eventAt: NOW };
    expect(evaluateVerdict(v, need, workflow, NOW).kind).toBe('step_up');
  });

  it('a route maxAge of 1 s: edge at 1000 ms', () => {
    const short = { ...need, maxAgeMs: SECOND };
    expect(evaluateVerdict(approvedAgo(SECOND), short, workflow, NOW).kind).toBe('satisfied');
    expect(evaluateVerdict(approvedAgo(SECOND + 1), short, workflow, NOW).kind).toBe('step_up');
  });
});

describe('webhook timestamp windows (X-Timestamp ±300 s, body event time −900 s / +300 s)', () => {
  const SECRET = 'boundary-webhook-secret';
  const T = NOW / 1000;
  const verify = (headerTs: number, bodyTs: number, now = NOW) => {
    const body = JSON.stringify({ session_id: 's-1', status: 'Approved', webhook_type: 'status.updated', timestamp: bodyTs });
    return verifyWebhookSignature({
      rawBody: Buffer.from(body, 'utf8'),
      headers: { 'x-signature': hmacHex(SECRET, body), 'x-timestamp': String(headerTs) },
      secrets: [SECRET],
      now,
    });
  };

  it.each([
    ['header 300 s old', T - 300, true],
    ['header 301 s old', T - 301, false],
    ['header 300 s ahead', T + 300, true],
    ['header 301 s ahead', T + 301, false],
  ])('%s → accepted: %s', (_name, headerTs, ok) => {
    expect(verify(headerTs, T)).toEqual(ok ? expect.objectContaining({ ok: true }) : { ok: false, reason: 'stale_timestamp' });
  });

  it('header edge to the millisecond, both directions', () => {
    expect(verify(T - 300, T, NOW)).toMatchObject({ ok: true });
    expect(verify(T - 300, T, NOW + 1)).toEqual({ ok: false, reason: 'stale_timestamp' });
    expect(verify(T + 300, T, NOW)).toMatchObject({ ok: true });
    expect(verify(T + 300, T, NOW - 1)).toEqual({ ok: false, reason: 'stale_timestamp' });
  });

  it.each([
    ['body event 900 s old', T - 900, true],
    ['body event 901 s old', T - 901, false],
    ['body event 300 s ahead', T + 300, true],
    ['body event 301 s ahead', T + 301, false],
  ])('%s (fresh header) → accepted: %s', (_name, bodyTs, ok) => {
    expect(verify(T, bodyTs)).toEqual(ok ? expect.objectContaining({ ok: true }) : { ok: false, reason: 'stale_timestamp' });
  });

  it('explicit tolerance and event age move both edges', () => {
    const body = JSON.stringify({ session_id: 's', status: 'Approved', timestamp: T - 61 });
    const run = (headerTs: number, bodyTsOverride?: number) => {
      const b = bodyTsOverride === undefined ? body : JSON.stringify({ session_id: 's', status: 'Approved', timestamp: bodyTsOverride });
      return verifyWebhookSignature({
        rawBody: Buffer.from(b),
        headers: { 'x-signature': hmacHex(SECRET, b), 'x-timestamp': String(headerTs) },
        secrets: [SECRET],
        now: NOW,
        toleranceMs: 10 * SECOND,
        maxEventAgeMs: 60 * SECOND,
      });
    };
    expect(run(T - 10, T)).toMatchObject({ ok: true });
    expect(run(T - 11, T)).toEqual({ ok: false, reason: 'stale_timestamp' });
    expect(run(T + 10, T)).toMatchObject({ ok: true });
    expect(run(T + 11, T)).toEqual({ ok: false, reason: 'stale_timestamp' });
    expect(run(T, T - 60)).toMatchObject({ ok: true });
    expect(run(T)).toEqual({ ok: false, reason: 'stale_timestamp' });
    expect(run(T, T + 10)).toMatchObject({ ok: true });
    expect(run(T, T + 11)).toEqual({ ok: false, reason: 'stale_timestamp' });
  });
});

describe('token exp / nbf / iat against the 30 s clock skew, through the authenticator', () => {
  const ISS = 'https://idp.test/boundary';
  const AUD = 'api://idgate';
  const T0 = 1_900_000_000_000;
  let now = T0;
  let server: JwksServer;
  let key: TestKey;
  let auth: JwtAuthenticator;
  const lookups: boolean[] = [];
  const mint = (claims: Record<string, unknown>, sub = 'edge', ttlSeconds = 300) =>
    mintToken(key, { iss: ISS, aud: AUD, now: T0, sub, ttlSeconds, claims });
  const check = (token: string) => auth.authenticate(bearerContext(token), now);
  const s = T0 / 1000;

  beforeAll(async () => {
    key = await createTestKey('ES256', 'edge-1');
    server = await startJwksServer({ keys: jwksOf(key) });
    auth = createAuthenticator(
      {
        logger: pino({ level: 'silent' }),
        clock: () => now,
        metrics: { onJwksFetch: () => undefined, onUnknownKid: () => undefined, onTokenCache: (hit) => lookups.push(hit) },
      },
      { issuers: [issuerConfigFor({ name: 'corp', issuer: ISS, jwksUri: server.jwksUrl, algorithms: ['ES256'] })] },
    );
    await auth.start();
  });
  afterAll(async () => {
    await auth.close();
    await server.close();
  });

  it.each([
    ['exp 29 s ago (1 s inside the skew)', { exp: s - 29 }, 'verified'],
    ['exp 30 s ago (at the skew)', { exp: s - 30 }, 'token_expired'],
    ['exp 31 s ago (1 s past the skew)', { exp: s - 31 }, 'token_expired'],
    ['nbf 29 s ahead', { nbf: s + 29 }, 'verified'],
    ['nbf 30 s ahead (at the skew)', { nbf: s + 30 }, 'verified'],
    ['nbf 31 s ahead', { nbf: s + 31 }, 'token_not_yet_valid'],
    ['iat 30 s ahead (at the skew)', { iat: s + 30 }, 'verified'],
    ['iat 31 s ahead', { iat: s + 31 }, 'token_not_yet_valid'],
    ['iat 1 day old', { iat: s - 86_400 }, 'verified'],
  ])('%s → %s', async (name, claims, expected) => {
    now = T0;
    const result = await check(await mint(claims, `edge-${name}`));
    if (expected === 'verified') expect(result.kind).toBe('verified');
    else expect(result).toMatchObject({ kind: 'failed', code: expected });
  });

  it('iat edge to the millisecond of the verifier clock', async () => {
    const token = await mint({ iat: s + 31 }, 'iat-ms');
    now = T0 + 999;
    expect(await check(token)).toMatchObject({ kind: 'failed', code: 'token_not_yet_valid' });
    now = T0 + 1000;
    expect((await check(token)).kind).toBe('verified');
    now = T0;
  });

  it('the verified-token cache serves until 1 ms before exp and re-verifies from exp on', async () => {
    now = T0;
    const token = await mint({}, 'cache-exp', 60);
    const exp = s + 60;
    lookups.length = 0;
    expect((await check(token)).kind).toBe('verified');
    now = exp * 1000 - 1;
    expect((await check(token)).kind).toBe('verified');
    now = exp * 1000;
    // Inside the skew the token is still valid, but the answer must come from a fresh verification.
    expect((await check(token)).kind).toBe('verified');
    expect(lookups).toEqual([false, true, false]);
    now = T0;
  });

  it('the verified-token cache lifetime is capped at 5 min to the millisecond', async () => {
    now = T0;
    const token = await mint({}, 'cache-cap', 3600);
    lookups.length = 0;
    await check(token);
    now = T0 + 300_000 - 1;
    await check(token);
    now = T0 + 300_000;
    await check(token);
    expect(lookups).toEqual([false, true, false]);
    now = T0;
  });
});

describe('verified-token cache unit edges', () => {
  const principal = (expiresAt: number): Principal => ({
    issuerName: 'corp',
    issuer: 'https://idp.test',
    sub: 'alice',
    subject: 'corp:alice',
    claims: {},
    source: 'header',
    tokenId: '0123456789abcdef',
    expiresAt,
  });

  it('maxTtlMs edge: served at maxTtl − 1 ms, gone at maxTtl', () => {
    const cache = createTokenCache({ maxEntries: 10, maxTtlMs: 1_000 });
    cache.set('k', principal(NOW / 1000 + 3600), NOW);
    expect(cache.get('k', NOW + 999)).toBeDefined();
    expect(cache.get('k', NOW + 1_000)).toBeUndefined();
  });

  it('a token expiring 1 s from now is cached for exactly 1 s; one expiring now is not cached', () => {
    const cache = createTokenCache({ maxEntries: 10 });
    cache.set('a', principal(NOW / 1000 + 1), NOW);
    cache.set('b', principal(NOW / 1000), NOW);
    expect(cache.get('b', NOW)).toBeUndefined();
    expect(cache.get('a', NOW + 999)).toBeDefined();
    expect(cache.get('a', NOW + 1_000)).toBeUndefined();
  });
});

describe('replica verdict cache TTL (store.localCacheTtl)', () => {
  it('serves a read until TTL − 1 ms after the read started, and reads the store again at TTL', async () => {
    let now = NOW;
    const logger = pino({ level: 'silent' });
    const memory = createMemoryStore({ logger, clock: () => now });
    let reads = 0;
    const inner = Object.assign(Object.create(memory) as typeof memory, {
      async getVerdicts(subject: string, workflows: readonly string[]) {
        reads += 1;
        const startedAt = now;
        const got = await memory.getVerdicts(subject, workflows);
        // The store answers 400 ms later: the TTL still counts from when the read started.
        now = startedAt + 400;
        return got;
      },
      onInvalidate: memory.onInvalidate.bind(memory),
    });
    const cached = createCachedVerdictStore(inner, { ttlMs: 1_000, maxEntries: 10, clock: () => now });
    await memory.putVerdict({ subject: 'corp:a', workflow: 'kyc', sessionId: 's', status: 'Approved', eventAt: NOW, facts: {} });
    const start = now;
    await cached.getVerdicts('corp:a', ['kyc']);
    now = start + 999;
    expect((await cached.getVerdicts('corp:a', ['kyc']))[0]?.status).toBe('Approved');
    expect(reads).toBe(1);
    now = start + 1_000;
    await cached.getVerdicts('corp:a', ['kyc']);
    expect(reads).toBe(2);
    await cached.close();
  });
});
