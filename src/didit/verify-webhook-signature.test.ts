import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { verifyWebhookSignature } from './verify-webhook-signature.js';

const SECRET = 'unit-secret';
const NOW = 1_767_225_600_000;
const hmac = (data: string | Buffer): string => createHmac('sha256', SECRET).update(data).digest('hex');

describe('verifyWebhookSignature (properties)', () => {
  it('never throws on arbitrary bodies and headers; garbage never verifies', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.option(fc.string({ maxLength: 70 })),
        fc.option(fc.string({ maxLength: 70 })),
        fc.option(fc.string({ maxLength: 70 })),
        fc.option(fc.oneof(fc.string({ maxLength: 12 }), fc.constant(String(NOW / 1000)))),
        (body, raw, v2, simple, ts) => {
          const headers: Record<string, string | undefined> = {};
          if (raw !== null) headers['x-signature'] = raw;
          if (v2 !== null) headers['x-signature-v2'] = v2;
          if (simple !== null) headers['x-signature-simple'] = simple;
          if (ts !== null) headers['x-timestamp'] = ts;
          const result = verifyWebhookSignature({ rawBody: Buffer.from(body), headers, secrets: [SECRET], now: NOW });
          expect(result.ok).toBe(false);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('a V2 signature over the canonical form verifies any key order and spacing (property)', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.integer(), fc.string({ maxLength: 5 }), fc.boolean())), (extra) => {
        const ts = NOW / 1000;
        const payload = { ...extra, timestamp: ts, session_id: 's', status: 'Approved' };
        const keys = Object.keys(payload).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        // Keys here are BMP-only strings, so UTF-16 order equals code-point order; integers print the same in both.
        const canonical = `{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify((payload as Record<string, unknown>)[k])}`).join(',')}}`;
        const pretty = JSON.stringify(payload, null, 3);
        const result = verifyWebhookSignature({
          rawBody: Buffer.from(pretty),
          headers: { 'x-timestamp': String(ts), 'x-signature': hmac('other'), 'x-signature-v2': hmac(canonical) },
          secrets: [SECRET],
          now: NOW,
        });
        expect(result).toMatchObject({ ok: true, method: 'v2' });
      }),
      { numRuns: 300 },
    );
  });
});
