import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWebhookSignature } from '../src/didit/verify-webhook-signature.js';
import { createAuthenticator, type JwtAuthenticator } from '../src/identity/authenticator.js';
import { startJwksServer, type JwksServer } from './support/jwks-server.js';
import { bearerContext, createTestKey, issuerConfigFor, jwksOf, mintHs256, mintToken, type TestKey } from './support/tokens.js';

/**
 * Single-digit flips of otherwise valid signatures, for every scheme idgate verifies (issue 17, item 2).
 * A verifier that compares only part of a MAC or signature (e.g. 16 of 32 bytes) accepts some of these;
 * every position must be rejected.
 */
interface Vector {
  readonly name: string;
  readonly body: string;
  readonly xSignature: string;
  readonly xSignatureV2: string;
  readonly xSignatureSimple: string;
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/didit/signature-vectors.json', import.meta.url), 'utf8')) as {
  secret: string;
  timestamp: number;
  vectors: Vector[];
};
const { secret: SECRET, timestamp: TS } = fixture;
const vector = fixture.vectors[0] as Vector;

/** `hex` with the digit at `i` replaced by the next hex digit (never the same value). */
function flipHexDigit(hex: string, i: number): string {
  const next = ((parseInt(hex[i] as string, 16) + 1) % 16).toString(16);
  return hex.slice(0, i) + next + hex.slice(i + 1);
}

describe('webhook signatures: every hex digit of a valid signature matters', () => {
  const schemes = [
    ['X-Signature (raw HMAC)', 'x-signature', vector.xSignature, 'raw'],
    ['X-Signature-V2 (canonical JSON)', 'x-signature-v2', vector.xSignatureV2, 'v2'],
    ['X-Signature-Simple', 'x-signature-simple', vector.xSignatureSimple, 'simple'],
  ] as const;
  const verify = (header: string, signature: string, secrets: string[] = [SECRET]) =>
    verifyWebhookSignature({
      rawBody: Buffer.from(vector.body, 'utf8'),
      headers: { 'x-timestamp': String(TS), [header]: signature },
      secrets,
      now: TS * 1000,
    });

  it.each(schemes)('%s: the unflipped signature verifies (control)', (_name, header, signature, method) => {
    expect(signature).toMatch(/^[0-9a-f]{64}$/);
    expect(verify(header, signature)).toMatchObject({ ok: true, method });
  });

  it.each(schemes)('%s: each of the 64 single-digit flips is bad_signature', (_name, header, signature) => {
    const accepted: number[] = [];
    for (let i = 0; i < 64; i++) {
      const flipped = flipHexDigit(signature, i);
      expect(flipped).not.toBe(signature);
      if (verify(header, flipped).ok) accepted.push(i);
      // Same with the previous secret in rotation: no secret makes a flipped MAC valid.
      if (verify(header, flipped, ['rotated-new-secret', SECRET]).ok) accepted.push(i);
    }
    expect(accepted).toEqual([]);
  });

  it.each(schemes)('%s: a flip in the last byte is rejected even with upper-case hex', (_name, header, signature) => {
    expect(verify(header, signature.toUpperCase())).toMatchObject({ ok: true });
    expect(verify(header, flipHexDigit(signature, 63).toUpperCase())).toEqual({ ok: false, reason: 'bad_signature' });
  });
});

describe('JWT signatures: every byte of a valid signature matters', () => {
  const ISS = 'https://idp.test/flips';
  const HS_ISS = 'https://hs.test/flips';
  const HS_SECRET = 'a-shared-secret-that-is-long-enough-for-hs256';
  const NOW = 1_900_000_000_000;
  let server: JwksServer;
  let auth: JwtAuthenticator;
  const keys: Record<string, TestKey> = {};

  beforeAll(async () => {
    keys.RS256 = await createTestKey('RS256', 'rs-flip');
    keys.ES256 = await createTestKey('ES256', 'es-flip');
    keys.EdDSA = await createTestKey('EdDSA', 'ed-flip');
    server = await startJwksServer({ keys: jwksOf(keys.RS256, keys.ES256, keys.EdDSA) });
    auth = createAuthenticator(
      { logger: pino({ level: 'silent' }), clock: () => NOW },
      {
        issuers: [
          issuerConfigFor({ name: 'corp', issuer: ISS, jwksUri: server.jwksUrl, algorithms: ['RS256', 'ES256', 'EdDSA'] }),
          issuerConfigFor({ name: 'hs', issuer: HS_ISS, secret: HS_SECRET, algorithms: ['HS256'] }),
        ],
      },
    );
    await auth.start();
  });
  afterAll(async () => {
    await auth.close();
    await server.close();
  });

  const mint = async (alg: string): Promise<string> =>
    alg === 'HS256'
      ? mintHs256(HS_SECRET, { iss: HS_ISS, aud: 'api://idgate', now: NOW, sub: 'flip' })
      : mintToken(keys[alg] as TestKey, { iss: ISS, aud: 'api://idgate', now: NOW, sub: 'flip' });

  it.each([
    ['RS256', 256],
    ['ES256', 64],
    ['EdDSA', 64],
    ['HS256', 32],
  ])('%s: the token verifies, and flipping any one of its %i signature bytes is token_invalid', async (alg, length) => {
    const token = await mint(alg);
    expect((await auth.authenticate(bearerContext(token), NOW)).kind).toBe('verified');
    const [head, payload, sig] = token.split('.') as [string, string, string];
    const bytes = Buffer.from(sig, 'base64url');
    expect(bytes.length).toBe(length);
    const accepted: number[] = [];
    const codes = new Set<string>();
    for (let i = 0; i < bytes.length; i++) {
      const flipped = Buffer.from(bytes);
      flipped[i] = (flipped[i] as number) ^ 0x01;
      const result = await auth.authenticate(bearerContext(`${head}.${payload}.${flipped.toString('base64url')}`), NOW);
      if (result.kind === 'verified') accepted.push(i);
      else if (result.kind === 'failed') codes.add(result.code);
    }
    expect(accepted).toEqual([]);
    expect([...codes]).toEqual(['token_invalid']);
  });
});
