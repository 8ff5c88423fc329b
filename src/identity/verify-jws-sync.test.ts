import { constants, createHmac, generateKeyPairSync, KeyObject, sign as nodeSign, type webcrypto } from 'node:crypto';
import fc from 'fast-check';
import { CompactSign, createLocalJWKSet, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { IssuerConfig, JwtAlgorithm } from '../config/types.js';
import { SyncKeyTable } from './sync-key-table.js';
import { COMPACT_JWS, decodeCompactJwt } from './verify-jws-sync.js';
import { verifyJwt, verifyJwtSync, type VerifierIssuer } from './jwt-verifier.js';

/**
 * Differential proof of the synchronous verify path: over a corpus of tokens (valid, tampered, hostile),
 * whenever verifyJwtSync answers, its answer equals jose's path (verifyJwt with the same issuer but no
 * sync keys) — same accept/reject, same failure code and message, same claims. In-process keys and
 * jose's own local key set; no mock of either side.
 */
const NOW = 1_900_000_000_500; // mid-second: jose floors `now`, verifyJwt's iat check does not
const T = Math.floor(NOW / 1000);
const SKEW_S = 30;
const ISS = 'https://idp.test';
const AUD = 'api://idgate';
const ALL_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
type Alg = (typeof ALL_ALGS)[number];

interface Signer {
  readonly kid: string;
  readonly alg: Alg;
  readonly privateKey: CryptoKey | KeyObject;
}

const HASH: Record<Alg, string | null> = {
  RS256: 'sha256', RS384: 'sha384', RS512: 'sha512', PS256: 'sha256', PS384: 'sha384', PS512: 'sha512',
  ES256: 'sha256', ES384: 'sha384', ES512: 'sha512', EdDSA: null,
};

const b64 = (value: unknown): string =>
  (value instanceof Uint8Array ? Buffer.from(value) : Buffer.from(JSON.stringify(value))).toString('base64url');

/** Signs any header and payload bytes with node:crypto (for headers jose refuses to produce). */
function signRaw(header: unknown, payload: unknown, signer: Signer, dsaEncoding: 'ieee-p1363' | 'der' = 'ieee-p1363'): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const key = signer.privateKey as KeyObject;
  const options = signer.alg.startsWith('PS')
    ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
    : signer.alg.startsWith('ES')
      ? { key, dsaEncoding }
      : key;
  return `${input}.${nodeSign(HASH[signer.alg], Buffer.from(input), options).toString('base64url')}`;
}

/** Signs with jose's CompactSign. */
async function signJose(header: Record<string, unknown>, payload: unknown, signer: Signer): Promise<string> {
  const bytes = payload instanceof Uint8Array ? payload : new TextEncoder().encode(JSON.stringify(payload));
  return new CompactSign(bytes).setProtectedHeader(header as { alg: string }).sign(signer.privateKey);
}

const config = (over: Partial<IssuerConfig> = {}): IssuerConfig => ({
  name: 'corp',
  issuer: ISS,
  audiences: ['other', AUD],
  jwksUri: 'https://idp.test/jwks',
  algorithms: [...ALL_ALGS] as JwtAlgorithm[],
  clockSkewMs: SKEW_S * 1000,
  subjectClaim: 'sub',
  sources: [],
  jwks: { refreshIntervalMs: 1, maxStaleMs: 1, minRefetchIntervalMs: 1, fetchTimeoutMs: 1, maxBodyBytes: 1 },
  ...over,
});

const CONFIGS: readonly IssuerConfig[] = [
  config(),
  config({
    algorithms: ['RS256', 'ES256'],
    requiredType: 'at+jwt',
    maxTokenLifetimeMs: 600_000,
    authorizedParties: ['app'],
    subjectClaim: 'uid',
  }),
  // Subject claims that repeat one of jose's own presence checks (iss, aud, exp): see the missing-claims test.
  config({ subjectClaim: 'iss' }),
  config({ subjectClaim: 'aud' }),
  config({ subjectClaim: 'exp' }),
];

let signers: Record<string, Signer>;
let jwks: JWK[];
let smallRsa: Signer;
/** One issuer pair per config: jose's path only, and the same plus sync keys. */
let issuers: { jose: VerifierIssuer; sync: VerifierIssuer }[];

async function keyPair(alg: string, options: Record<string, unknown> = {}) {
  return generateKeyPair(alg, { extractable: true, ...options });
}

beforeAll(async () => {
  const rsa = await keyPair('RS256');
  const rsa2 = await keyPair('RS256');
  const p256 = await keyPair('ES256');
  const p384 = await keyPair('ES384');
  const p521 = await keyPair('ES512');
  const ed = await keyPair('EdDSA');
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const pub = async (k: CryptoKey, extra: Record<string, unknown>) => ({ ...(await exportJWK(k)), use: 'sig', ...extra });
  jwks = [
    // No `alg` on the shared RSA key: usable for RS* and PS* alike, as jose allows.
    await pub(rsa.publicKey, { kid: 'rsa' }),
    await pub(rsa2.publicKey, { kid: 'rsa2', alg: 'RS256' }),
    await pub(p256.publicKey, { kid: 'p256', alg: 'ES256' }),
    await pub(p384.publicKey, { kid: 'p384' }),
    await pub(p521.publicKey, { kid: 'p521', alg: 'ES512' }),
    await pub(ed.publicKey, { kid: 'ed', alg: 'EdDSA' }),
    { ...small.publicKey.export({ format: 'jwk' }), kid: 'small', use: 'sig' },
  ];
  // KeyObjects: jose imports them per alg, so one RSA key signs RS* and PS* alike.
  const s = (kid: string, alg: Alg, privateKey: CryptoKey | KeyObject): Signer => ({
    kid,
    alg,
    privateKey: privateKey instanceof KeyObject ? privateKey : KeyObject.from(privateKey as unknown as webcrypto.CryptoKey),
  });
  signers = {
    RS256: s('rsa', 'RS256', rsa.privateKey),
    RS384: s('rsa', 'RS384', rsa.privateKey),
    RS512: s('rsa', 'RS512', rsa.privateKey),
    PS256: s('rsa', 'PS256', rsa.privateKey),
    PS384: s('rsa', 'PS384', rsa.privateKey),
    PS512: s('rsa', 'PS512', rsa.privateKey),
    ES256: s('p256', 'ES256', p256.privateKey),
    ES384: s('p384', 'ES384', p384.privateKey),
    ES512: s('p521', 'ES512', p521.privateKey),
    EdDSA: s('ed', 'EdDSA', ed.privateKey),
    'RS256/rsa2': s('rsa2', 'RS256', rsa2.privateKey),
  };
  smallRsa = s('small', 'RS256', small.privateKey);
  const keySet = createLocalJWKSet({ keys: jwks });
  const table = new SyncKeyTable(keySet);
  // Import every (alg, kid) pair the corpus uses, as the first token of each would.
  const pairs: [string, string | undefined][] = [
    ...Object.values(signers).map((x) => [x.alg, x.kid] as [string, string]),
    ['RS256', 'small'], ['RS256', undefined], ['ES256', undefined], ['EdDSA', undefined], ['ES384', undefined],
  ];
  for (const [alg, kid] of pairs) table.get(alg, kid);
  await new Promise((r) => setTimeout(r, 200));
  const syncKey = (alg: string, kid: unknown) => table.get(alg, kid);
  issuers = CONFIGS.map((c) => ({
    jose: { config: c, algorithms: c.algorithms, key: keySet },
    sync: { config: c, algorithms: c.algorithms, key: keySet, syncKey },
  }));
});

function claimsOf(over: Record<string, unknown> = {}): Record<string, unknown> {
  const claims: Record<string, unknown> = { iss: ISS, aud: AUD, sub: 'alice', uid: 'u-1', azp: 'app', iat: T - 10, exp: T + 300, ...over };
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
  return claims;
}

/** Both paths on one token; returns what the sync path did ('deferred' when it left the token to jose). */
async function compare(token: string, which = 0): Promise<'accepted' | 'rejected' | 'deferred'> {
  const pair = issuers[which] as { jose: VerifierIssuer; sync: VerifierIssuer };
  const expected = await verifyJwt(token, pair.jose, NOW);
  const sync = verifyJwtSync(token, pair.sync, NOW);
  if (sync === undefined) {
    // verifyJwt with sync keys must still answer exactly like jose when the sync path defers.
    expect(await verifyJwt(token, pair.sync, NOW)).toEqual(expected);
    return 'deferred';
  }
  expect(sync).toEqual(expected);
  return 'ok' in sync ? 'accepted' : 'rejected';
}

describe('verifyJwtSync against jose', () => {
  it.each(ALL_ALGS)('%s: a valid jose-signed token is verified synchronously, with the same claims', async (alg) => {
    const signer = signers[alg] as Signer;
    const token = await signJose({ alg, kid: signer.kid, typ: 'JWT' }, claimsOf({ name: 'Zoë ✓ 日本' }), signer);
    expect(await compare(token)).toBe('accepted');
  });

  it('defers what only jose handles: several candidate keys, unknown kid, small RSA key, crit, b64, HS256, alg none', async () => {
    const rs = signers.RS256 as Signer;
    const deferred = [
      await signJose({ alg: 'RS256' }, claimsOf(), rs), // no kid: rsa and rsa2 both fit RS256
      await signJose({ alg: 'RS256', kid: 'nope' }, claimsOf(), rs),
      signRaw({ alg: 'RS256', kid: 'small' }, claimsOf(), smallRsa),
      signRaw({ alg: 'RS256', kid: 'rsa', crit: ['b64'], b64: true }, claimsOf(), rs),
      signRaw({ alg: 'RS256', kid: 'rsa', crit: ['exp'] }, claimsOf(), rs),
      signRaw({ alg: 'RS256', kid: 'rsa', b64: false }, claimsOf(), rs),
      `${b64({ alg: 'HS256', kid: 'rsa' })}.${b64(claimsOf())}.${createHmac('sha256', 'x').update('y').digest('base64url')}`,
      `${b64({ alg: 'none' })}.${b64(claimsOf())}.`,
      `${b64({ alg: 'RS256', kid: 'rsa' })}.${b64(claimsOf())}.AAAAA`, // signature of length 1 mod 4
      `${b64({ alg: 'RS256', kid: 3 })}.${b64(claimsOf())}.AAAA`,
    ];
    for (const token of deferred) expect(await compare(token)).toBe('deferred');
    // And the answers are jose's own refusals (the no-kid token verifies by trying both keys).
    expect(await verifyJwt(deferred[2] as string, (issuers[0] as { sync: VerifierIssuer }).sync, NOW)).toMatchObject({
      message: 'token could not be verified',
    });
    expect(await verifyJwt(deferred[0] as string, (issuers[0] as { sync: VerifierIssuer }).sync, NOW)).toMatchObject({ ok: true });
  });

  it('refuses a DER-encoded or wrong-length ES signature, as jose does', async () => {
    for (const alg of ['ES256', 'ES384', 'ES512'] as const) {
      const signer = signers[alg] as Signer;
      const der = signRaw({ alg, kid: signer.kid }, claimsOf(), signer, 'der');
      expect(await compare(der)).toBe('rejected');
      const good = signRaw({ alg, kid: signer.kid }, claimsOf(), signer);
      expect(await compare(good)).toBe('accepted');
      expect(await compare(good.slice(0, -4))).toBe('rejected');
    }
  });

  it('refuses a PS signature whose salt is not the hash length, as jose does', async () => {
    const signer = signers.PS256 as Signer;
    const input = `${b64({ alg: 'PS256', kid: signer.kid })}.${b64(claimsOf())}`;
    for (const saltLength of [0, 20, 64, constants.RSA_PSS_SALTLEN_MAX_SIGN]) {
      const signature = nodeSign('sha256', Buffer.from(input), { key: signer.privateKey as KeyObject, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });
      expect(await compare(`${input}.${signature.toString('base64url')}`)).toBe('rejected');
    }
    const good = nodeSign('sha256', Buffer.from(input), { key: signer.privateKey as KeyObject, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    expect(await compare(`${input}.${good.toString('base64url')}`)).toBe('accepted');
  });

  it('reports the same missing claim as jose for every combination, also when the subject claim repeats iss, aud or exp', async () => {
    const signer = signers.ES256 as Signer;
    const outcomes = new Set<string>();
    for (const which of [0, 2, 3, 4]) {
      for (let mask = 0; mask < 16; mask++) {
        const gone = ['iss', 'aud', 'exp', 'sub'].filter((_, bit) => (mask & (1 << bit)) !== 0);
        const claims = claimsOf(Object.fromEntries(gone.map((c) => [c, undefined])));
        const token = signRaw({ alg: 'ES256', kid: signer.kid }, claims, signer);
        const outcome = await compare(token, which);
        expect(outcome).not.toBe('deferred');
        if (outcome === 'rejected') outcomes.add((verifyJwtSync(token, (issuers[which] as { sync: VerifierIssuer }).sync, NOW) as { message: string }).message);
      }
    }
    // Each presence check is reached first by some combination.
    for (const claim of ['iss', 'aud', 'exp', 'sub']) expect(outcomes).toContain(`token is missing the ${claim} claim`);
  });

  it('agrees with jose over a generated corpus (fixed seed)', async () => {
    const seen = { accepted: 0, rejected: 0, deferred: 0 };
    const messages = new Set<string>();
    /** Mostly the valid value, so that a fair share of the corpus passes every check but one (or none). */
    const mostly = <V>(valid: V, ...others: V[]) =>
      fc.oneof({ weight: 6, arbitrary: fc.constant(valid) }, { weight: 1, arbitrary: fc.constantFrom(...others) });
    const times = [T, T - SKEW_S - 1, T - SKEW_S, T - SKEW_S + 1, T + SKEW_S - 1, T + SKEW_S, T + SKEW_S + 1, T + 100_000];
    const tokenSpec = fc.record({
      signer: fc.constantFrom(...ALL_ALGS, 'RS256/rsa2'),
      config: fc.constantFrom(0, 1),
      exp: mostly<unknown>(T + 300, undefined, 'str', ...times),
      nbf: mostly<unknown>(undefined, 'str', ...times),
      iat: mostly<unknown>(T - 10, undefined, 'str', ...times),
      iss: mostly<unknown>(ISS, 'https://evil.test', undefined, 7),
      aud: mostly<unknown>(AUD, ['x', AUD], 'nope', [], 42, undefined, ['other']),
      sub: mostly<unknown>('alice', 'Zoë ✓ 日本', '', 'a'.repeat(300), 7, undefined, 'bad\u0000sub'),
      uid: mostly<unknown>('u-1', undefined),
      azp: mostly<unknown>('app', 'other', undefined),
      typ: mostly<unknown>('at+jwt', undefined, 'JWT', 'application/AT+JWT', 5),
      extra: mostly<unknown>(undefined, 'ünïcødé', 'x'.repeat(20_000), { nested: [1, 'ü'] }),
      mutation: mostly(
        'none', 'payload', 'header', 'sigflip', 'sigtruncate', 'der', 'algnone', 'hs256', 'algswap', 'kidswap', 'crit', 'notobject', 'bom',
      ),
      position: fc.nat(),
    });
    await fc.assert(
      fc.asyncProperty(tokenSpec, async (spec) => {
        const signer = signers[spec.signer] as Signer;
        const claims = claimsOf({ exp: spec.exp, nbf: spec.nbf, iat: spec.iat, iss: spec.iss, aud: spec.aud, sub: spec.sub, uid: spec.uid, azp: spec.azp, extra: spec.extra });
        const header: Record<string, unknown> = { alg: signer.alg, kid: signer.kid, ...(spec.typ !== undefined ? { typ: spec.typ } : {}) };
        let token = await signJose(header, claims, signer);
        const [h, p, s] = token.split('.') as [string, string, string];
        switch (spec.mutation) {
          case 'payload':
            token = `${h}.${b64({ ...claims, sub: 'mallory' })}.${s}`;
            break;
          case 'header':
            token = `${b64({ ...header, x: 1 })}.${p}.${s}`;
            break;
          case 'sigflip': {
            const i = spec.position % s.length;
            token = `${h}.${p}.${s.slice(0, i)}${s[i] === 'A' ? 'B' : 'A'}${s.slice(i + 1)}`;
            break;
          }
          case 'sigtruncate':
            token = `${h}.${p}.${s.slice(0, Math.max(0, s.length - 1 - (spec.position % 8)))}`;
            break;
          case 'der':
            token = signRaw(header, claims, signer, 'der');
            break;
          case 'algnone':
            token = `${b64({ ...header, alg: 'none' })}.${p}.`;
            break;
          case 'hs256': {
            // Alg confusion: HMAC keyed with the issuer's public key material.
            const input = `${b64({ ...header, alg: 'HS256' })}.${p}`;
            token = `${input}.${createHmac('sha256', JSON.stringify(jwks[0])).update(input).digest('base64url')}`;
            break;
          }
          case 'algswap': {
            const other = ALL_ALGS[spec.position % ALL_ALGS.length] as Alg;
            token = `${b64({ ...header, alg: other })}.${p}.${s}`;
            break;
          }
          case 'kidswap':
            token = await signJose({ ...header, kid: ['rsa', 'rsa2', 'p256', 'p384', 'nope'][spec.position % 5] }, claims, signer);
            break;
          case 'crit':
            token = signRaw({ ...header, crit: spec.position % 2 === 0 ? ['b64'] : ['exp'], b64: true }, claims, signer);
            break;
          case 'notobject':
            token = signRaw(header, [claims], signer);
            break;
          case 'bom':
            token = signRaw(header, new Uint8Array([0xef, 0xbb, 0xbf, ...Buffer.from(JSON.stringify(claims))]), signer);
            break;
          default:
            break;
        }
        const outcome = await compare(token, spec.config);
        seen[outcome] += 1;
        if (outcome === 'rejected') {
          const r = verifyJwtSync(token, (issuers[spec.config] as { sync: VerifierIssuer }).sync, NOW) as { message: string };
          messages.add(r.message);
        }
      }),
      { seed: 20_261_205, numRuns: 400 },
    );
    // The property is only worth something if the sync path answered a good share of the corpus itself,
    // accepting and rejecting for several different reasons.
    expect(seen.accepted).toBeGreaterThan(10);
    expect(seen.rejected).toBeGreaterThan(50);
    expect(messages).toContain('signature verification failed');
    expect(messages).toContain('token has expired');
    expect(messages).toContain('audience not accepted');
    expect(messages.size).toBeGreaterThan(5);
  }, 120_000);
});

describe('decodeCompactJwt against jose decodeProtectedHeader + decodeJwt', () => {
  it('decodes and refuses exactly the same tokens (fixed seed)', () => {
    const bytesOf = fc.oneof(
      fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
      fc.dictionary(fc.string(), fc.jsonValue()).map((v) => Buffer.from(JSON.stringify(v))),
      fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
      fc.constantFrom(
        Buffer.from([0xef, 0xbb, 0xbf, ...Buffer.from('{"iss":"x"}')]), // BOM
        Buffer.from([0x7b, 0x22, 0xc3, 0x22, 0x3a, 0x31, 0x7d]), // invalid UTF-8 inside a key
        Buffer.from('{"__proto__":{"iss":"x"},"iss":"y"}'),
        Buffer.from('[]'),
      ),
    );
    const segment = fc.oneof(
      bytesOf.map((b) => b.toString('base64url')),
      fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/), // arbitrary alphabet strings, any length mod 4
    );
    let decoded = 0;
    fc.assert(
      fc.property(segment, segment, fc.stringMatching(/^[A-Za-z0-9_-]{0,8}$/), (h, p, sig) => {
        const token = `${h}.${p}.${sig}`;
        if (!COMPACT_JWS.test(token)) return;
        let expected: unknown;
        try {
          expected = { header: decodeProtectedHeader(token), claims: decodeJwt(token) };
        } catch {
          expected = undefined;
        }
        const actual = decodeCompactJwt(token);
        expect(actual).toEqual(expected);
        if (actual !== undefined) decoded += 1;
      }),
      { seed: 20_261_205, numRuns: 2_000 },
    );
    expect(decoded).toBeGreaterThan(100);
  });

  it('decodes a header it has seen before to the same answer, shared and frozen, whatever came in between', () => {
    // More distinct headers than decodeCompactJwt keeps, each seen several times in a rotating order, so
    // kept headers are hit, evicted and decoded again; plus one header too long to keep.
    const headers = [
      ...Array.from({ length: 7 }, (_, i) => ({ alg: 'ES256', kid: `k${i}`, typ: 'JWT' })),
      { alg: 'RS256', kid: 'x'.repeat(600) },
    ];
    const seen = new Map<string, unknown>();
    for (let round = 0; round < 4; round++) {
      for (const [i, header] of headers.entries()) {
        const h = b64(header);
        const token = `${h}.${b64({ iss: ISS, n: round * 100 + i })}.c2ln`;
        const actual = decodeCompactJwt(token);
        expect(actual).toEqual({ header: decodeProtectedHeader(token), claims: decodeJwt(token) });
        const decoded = actual as NonNullable<typeof actual>;
        // A header shared between tokens cannot be changed through one of them.
        if (Object.isFrozen(decoded.header)) {
          expect(() => {
            (decoded.header as Record<string, unknown>).alg = 'none';
          }).toThrow(TypeError);
        }
        if (seen.get(h) === decoded.header) expect(Object.isFrozen(decoded.header)).toBe(true);
        seen.set(h, decoded.header);
        expect(Object.isFrozen(decoded.claims)).toBe(false);
      }
    }
    // The last header seen twice in a row is served from what was kept: the very same object.
    const h = b64(headers[0]);
    const first = decodeCompactJwt(`${h}.${b64({ iss: ISS, n: 1 })}.c2ln`)?.header;
    expect(decodeCompactJwt(`${h}.${b64({ iss: ISS, n: 2 })}.c2ln`)?.header).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    // A header segment that does not decode is refused every time, never kept.
    const bad = `${Buffer.from('[1]').toString('base64url')}.${b64({ iss: ISS })}.c2ln`;
    expect(decodeCompactJwt(bad)).toBeUndefined();
    expect(decodeCompactJwt(bad)).toBeUndefined();
  });
});
