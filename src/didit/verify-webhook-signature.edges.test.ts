import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyWebhookSignature, type VerifyWebhookSignatureOptions } from './verify-webhook-signature.js';

/**
 * The attacker's side of the webhook signatures: one flipped hex digit anywhere, trailing garbage, wrong types
 * in the signed body, and every window at ±1 ms. Found by mutation testing (`make mutation`); an audit had
 * shown a HMAC compared on only half of its bytes passing the whole suite.
 */
const SECRET = 'unit-secret';
const T = 1_767_225_600;
const NOW = T * 1000;
const hmac = (data: string, secret = SECRET): string => createHmac('sha256', secret).update(data).digest('hex');
const body = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ session_id: 's-1', status: 'Approved', webhook_type: 'status.updated', timestamp: T, ...extra });
const verify = (raw: string, headers: Record<string, string>, over: Partial<VerifyWebhookSignatureOptions> = {}) =>
  verifyWebhookSignature({ rawBody: Buffer.from(raw), headers: { 'x-timestamp': String(T), ...headers }, secrets: [SECRET], now: NOW, ...over });
const flip = (hex: string, i: number) => hex.slice(0, i) + ((parseInt(hex[i]!, 16) + 1) % 16).toString(16) + hex.slice(i + 1);
const canonical = (value: Record<string, unknown>) =>
  `{${Object.keys(value)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${JSON.stringify(value[k])}`)
    .join(',')}}`;

describe('verifyWebhookSignature against forgeries', () => {
  const raw = body();
  const parsed = JSON.parse(raw) as Record<string, unknown>;
  const schemes: Array<[string, string, string]> = [
    ['x-signature', 'raw', hmac(raw)],
    ['x-signature-v2', 'v2', hmac(canonical(parsed))],
    ['x-signature-simple', 'simple', hmac(`${T}:s-1:Approved:status.updated`)],
  ];

  it.each(schemes)('%s: the valid signature verifies, and each of its 64 hex digits flipped alone does not', (header, method, sig) => {
    expect(verify(raw, { [header]: sig })).toMatchObject({ ok: true, method, secretIndex: 0 });
    for (let i = 0; i < 64; i++) {
      expect(verify(raw, { [header]: flip(sig, i) }), `digit ${i}`).toEqual({ ok: false, reason: 'bad_signature' });
    }
  });

  it('refuses a valid signature followed by garbage that hex decoding would silently drop', () => {
    const sig = hmac(raw);
    for (const tail of ['zz', 'g', '0', ' x']) {
      expect(verify(raw, { 'x-signature': sig + tail })).toEqual({ ok: false, reason: 'bad_signature' });
    }
    // Surrounding whitespace alone is tolerated, in either header.
    expect(verify(raw, { 'x-signature': ` ${sig} ` })).toMatchObject({ ok: true, method: 'raw' });
    expect(verify(raw, { 'x-signature': hmac(raw), 'x-timestamp': ` ${T} ` })).toMatchObject({ ok: true });
  });

  it('reports the first matching secret, also when two are equal', () => {
    expect(verify(raw, { 'x-signature': hmac(raw) }, { secrets: [SECRET, SECRET] })).toMatchObject({ ok: true, secretIndex: 0 });
    expect(verify(raw, { 'x-signature': hmac(raw) }, { secrets: ['other', SECRET] })).toMatchObject({ ok: true, secretIndex: 1 });
  });

  it('refuses to run without a usable secret', () => {
    for (const secrets of [[], [''], [SECRET, '']]) {
      expect(() => verify(raw, { 'x-signature': hmac(raw) }, { secrets })).toThrow(
        new TypeError('verifyWebhookSignature needs at least one non-empty secret'),
      );
    }
  });

  it('a missing or non-numeric X-Timestamp is bad_timestamp, not stale', () => {
    const headers = { 'x-signature': hmac(raw) };
    expect(verifyWebhookSignature({ rawBody: Buffer.from(raw), headers, secrets: [SECRET], now: NOW })).toEqual({ ok: false, reason: 'bad_timestamp' });
    expect(verify(raw, { ...headers, 'x-timestamp': 'abc' })).toEqual({ ok: false, reason: 'bad_timestamp' });
  });
});

describe('verifyWebhookSignature on the signed body', () => {
  const signedRaw = (raw: string) => ({ 'x-signature': hmac(raw) });

  it('a signed body whose timestamp is a string, or missing, or that is not an object, is bad_timestamp — never a throw', () => {
    for (const raw of [body({ timestamp: String(T) }), body({ timestamp: null }), 'null', '[1]', '"x"', '7']) {
      expect(verify(raw, signedRaw(raw)), raw).toEqual({ ok: false, reason: 'bad_timestamp' });
    }
    // The simple scheme over a body that is not an object signs empty fields.
    expect(verify('null', { 'x-signature-simple': hmac(':::') })).toEqual({ ok: false, reason: 'bad_timestamp' });
  });

  it('a simple signature over a body that is not JSON is malformed_body', () => {
    expect(verify('{not json', { 'x-signature-simple': hmac(`${T}:s-1:Approved:status.updated`) })).toEqual({ ok: false, reason: 'malformed_body' });
  });

  it('formats the simple-signature fields as Python prints them', () => {
    const raw = JSON.stringify({ timestamp: T, session_id: 1e21, status: true, webhook_type: 1.5 });
    expect(verify(raw, { 'x-signature-simple': hmac(`${T}:1000000000000000000000:true:1.5`) })).toMatchObject({ ok: true, method: 'simple', needsRefetch: true });
    const odd = JSON.stringify({ timestamp: T, session_id: { a: 1 }, status: null, webhook_type: [1] });
    expect(verify(odd, { 'x-signature-simple': hmac(`${T}:::`) })).toMatchObject({ ok: true, method: 'simple' });
  });

  it('body timestamp: exactly maxEventAge old is accepted, 1 ms more is stale; exactly tolerance ahead is accepted, 1 ms more is stale', () => {
    const raw = body();
    const at = (now: number) => verify(raw, { ...signedRaw(raw), 'x-timestamp': String(Math.floor(now / 1000)) }, { now, toleranceMs: 300_000, maxEventAgeMs: 900_000 });
    expect(at(NOW + 900_000)).toMatchObject({ ok: true });
    expect(at(NOW + 900_001)).toEqual({ ok: false, reason: 'stale_timestamp' });
    expect(at(NOW - 300_000)).toMatchObject({ ok: true });
    expect(at(NOW - 300_001)).toEqual({ ok: false, reason: 'stale_timestamp' });
  });

  it('X-Timestamp: exactly tolerance away either way is accepted, 1 s more is stale', () => {
    const raw = body();
    const withHeader = (ts: number) => verify(raw, { ...signedRaw(raw), 'x-timestamp': String(ts) }, { toleranceMs: 300_000 });
    expect(withHeader(T - 300)).toMatchObject({ ok: true });
    expect(withHeader(T + 300)).toMatchObject({ ok: true });
    expect(withHeader(T - 301)).toEqual({ ok: false, reason: 'stale_timestamp' });
    expect(withHeader(T + 301)).toEqual({ ok: false, reason: 'stale_timestamp' });
  });
});
