import { constants, createHash, createHmac, generateKeyPairSync, privateEncrypt, sign as nodeSign, type KeyObject } from 'node:crypto';
import { createLocalJWKSet, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { IssuerConfig, JwtAlgorithm } from '../config/types.js';
import type { AuthFailure, VerifiedClaims, VerifierIssuer } from './jwt-verifier.js';
import { preflightToken, verifyJwt, verifyJwtSync, verifyJwtWithJose } from './jwt-verifier.js';
import { parseJwks } from './key-documents.js';
import { SyncKeyTable } from './sync-key-table.js';

/**
 * The attacker's catalogue against the synchronous verify path (verify-jws-sync, check-claims-set,
 * sync-key-table): JWT attack lists (RFC 8725, the alg-confusion and psychic-signature classes,
 * Bleichenbacher-style PKCS#1 forgeries), tokens other libraries or hand-rolled producers emit, and
 * hostile encodings. Every token goes the way the authenticator sends it — preflight, then the sync path
 * (after its keys were imported, so it gets its best chance to answer), else jose — and each case pins
 * the exact answer. Whenever the sync path answers, its answer must equal jose's for the same token.
 * Keys come from a real JWKS document through parseJwks and jose's own local key set; no mocks.
 */
const NOW = 1_900_000_000_500; // mid-second, as in verify-jws-sync.test.ts
const T = Math.floor(NOW / 1000);
const SKEW_S = 30;
const ISS = 'https://idp.attack.test';
const AUD = 'api://idgate';
const MAX_TOKEN_BYTES = 16 * 1024;

/** P-256 / P-384 group orders and the Ed25519 group order L (for the r, s ≥ n and S ≥ L forgeries). */
const N_P256 = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
const N_P384 = BigInt('0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973');
const L_ED25519 = 2n ** 252n + 27742317777372353535851937790883648493n;

type Pair = { readonly privateKey: KeyObject; readonly publicKey: KeyObject };
let rsa: Pair; // kid rsa, JWK alg RS256
let rsaAny: Pair; // kid rsa-any, no JWK alg (usable for RS* and PS*)
let p256: Pair; // kid p256, alg ES256
let p384: Pair; // kid p384, no alg
let ed: Pair; // kid ed, alg EdDSA
let dupRsa: Pair; // kid dup (RSA)
let dupEc: Pair; // kid dup (P-256)
let encKey: Pair; // kid enc, use: enc
let opsKey: Pair; // kid ops, key_ops: [sign]
let evil: Pair; // attacker P-256, not in the JWKS
let jwksDoc: { keys: JWK[] };
let keySet: ReturnType<typeof createLocalJWKSet>;
let table: SyncKeyTable;

const config = (over: Partial<IssuerConfig> = {}): IssuerConfig => ({
  name: 'corp',
  issuer: ISS,
  audiences: [AUD],
  jwksUri: 'https://idp.attack.test/jwks',
  algorithms: ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'] as JwtAlgorithm[],
  clockSkewMs: SKEW_S * 1000,
  subjectClaim: 'sub',
  sources: [],
  jwks: { refreshIntervalMs: 1, maxStaleMs: 1, minRefetchIntervalMs: 1, fetchTimeoutMs: 1, maxBodyBytes: 1 },
  ...over,
});
const ALL = config();
const RS_ONLY = config({ algorithms: ['RS256'] });
const TYPED = config({ algorithms: ['ES256'], requiredType: 'at+jwt' });

const b64 = (value: unknown): string =>
  (value instanceof Uint8Array ? Buffer.from(value) : Buffer.from(JSON.stringify(value))).toString('base64url');
const claims = (over: Record<string, unknown> = {}): Record<string, unknown> => {
  const c: Record<string, unknown> = { iss: ISS, aud: AUD, sub: 'alice', iat: T - 10, exp: T + 300, ...over };
  for (const [k, v] of Object.entries(c)) if (v === undefined) delete c[k];
  return c;
};

const HASH: Record<string, string | null> = { RS256: 'sha256', PS256: 'sha256', ES256: 'sha256', ES384: 'sha384', EdDSA: null, HS256: 'sha256' };

/** Signs the exact header/payload segments given (JSON values or raw bytes) with `alg`'s scheme on `key`. */
function signWith(alg: string, key: KeyObject, header: unknown, payload: unknown, over: { headerText?: string } = {}): string {
  const h = over.headerText !== undefined ? Buffer.from(over.headerText).toString('base64url') : b64(header);
  const input = `${h}.${b64(payload)}`;
  const options = alg.startsWith('PS')
    ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }
    : alg.startsWith('ES')
      ? { key, dsaEncoding: 'ieee-p1363' as const }
      : key;
  return `${input}.${nodeSign(HASH[alg] ?? null, Buffer.from(input), options).toString('base64url')}`;
}
const es256 = (header: Record<string, unknown>, payload: unknown = claims(), key = p256.privateKey) =>
  signWith('ES256', key, { alg: 'ES256', kid: 'p256', ...header }, payload);
const rs256 = (header: Record<string, unknown>, payload: unknown = claims(), key = rsa.privateKey) =>
  signWith('RS256', key, { alg: 'RS256', kid: 'rsa', ...header }, payload);
const hmac = (header: Record<string, unknown>, secret: string | Buffer, alg = 'HS256') => {
  const input = `${b64({ ...header, alg })}.${b64(claims())}`;
  return `${input}.${createHmac(`sha${alg.slice(2)}`, secret).update(input).digest('base64url')}`;
};
const withSignature = (token: string, signature: Uint8Array | string) =>
  `${token.slice(0, token.lastIndexOf('.'))}.${typeof signature === 'string' ? signature : Buffer.from(signature).toString('base64url')}`;
const signatureOf = (token: string) => Buffer.from(token.slice(token.lastIndexOf('.') + 1), 'base64url');
const fixed = (n: bigint, bytes: number) => Buffer.from(n.toString(16).padStart(bytes * 2, '0'), 'hex');
const big = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`);

beforeAll(async () => {
  const gen = (type: 'rsa' | 'ec' | 'ed25519', curve?: string): Pair =>
    type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : type === 'ec'
        ? generateKeyPairSync('ec', { namedCurve: curve as string })
        : generateKeyPairSync('ed25519');
  rsa = gen('rsa');
  rsaAny = gen('rsa');
  dupRsa = gen('rsa');
  encKey = gen('rsa');
  p256 = gen('ec', 'P-256');
  p384 = gen('ec', 'P-384');
  dupEc = gen('ec', 'P-256');
  opsKey = gen('ec', 'P-256');
  evil = gen('ec', 'P-256');
  ed = gen('ed25519');
  const jwk = (p: Pair, extra: Record<string, unknown>) => ({ ...p.publicKey.export({ format: 'jwk' }), ...extra });
  jwksDoc = {
    keys: [
      jwk(rsa, { kid: 'rsa', alg: 'RS256', use: 'sig' }),
      jwk(rsaAny, { kid: 'rsa-any' }),
      jwk(p256, { kid: 'p256', alg: 'ES256', use: 'sig' }),
      jwk(p384, { kid: 'p384' }),
      jwk(ed, { kid: 'ed', alg: 'EdDSA' }),
      jwk(dupRsa, { kid: 'dup' }),
      jwk(dupEc, { kid: 'dup' }),
      jwk(encKey, { kid: 'enc', use: 'enc' }),
      jwk(opsKey, { kid: 'ops', key_ops: ['sign'] }),
      // An oct key smuggled into the set: parseJwks drops it, so it can never key an HS* token.
      { kty: 'oct', kid: 'oct', k: Buffer.from('a-shared-secret-of-32-bytes-long!').toString('base64url') },
    ] as JWK[],
  };
  // The production pipeline: the fetched document through parseJwks, then jose's local set (JwksCache#install).
  keySet = createLocalJWKSet({ keys: parseJwks(jwksDoc) as unknown as JWK[] });
  table = new SyncKeyTable(keySet);
});

type Answer = VerifiedClaims | AuthFailure;

/**
 * One token the way the authenticator handles it: preflight; then the sync path (its key import started
 * by a first attempt and awaited, as a second request would find it); else jose. When the sync path
 * answers, jose must give the same answer.
 * @returns the answer and which path gave it.
 */
async function gate(token: string, cfg: IssuerConfig = ALL): Promise<{ answer: Answer; path: 'preflight' | 'sync' | 'jose' }> {
  const pre = preflightToken(token, MAX_TOKEN_BYTES);
  if (!('ok' in pre)) return { answer: pre, path: 'preflight' };
  const jose: VerifierIssuer = { config: cfg, algorithms: cfg.algorithms, key: keySet };
  const sync: VerifierIssuer = { ...jose, syncKey: (alg, kid) => table.get(alg, kid) };
  verifyJwtSync(token, sync, NOW, pre.decoded);
  await new Promise((r) => setTimeout(r, 15));
  const syncAnswer = verifyJwtSync(token, sync, NOW, pre.decoded);
  const joseAnswer = await verifyJwtWithJose(token, jose, NOW);
  if (syncAnswer !== undefined) expect(syncAnswer, 'the sync path disagrees with jose').toEqual(joseAnswer);
  return { answer: joseAnswer, path: syncAnswer === undefined ? 'jose' : 'sync' };
}

const invalid = (message: string) => ({ kind: 'failed', code: 'token_invalid', message });
const ACCEPTED = { ok: true, sub: 'alice' };

/** Runs a table of [name, token, expected answer]; `expected` is matched with toMatchObject. */
async function expectAll(cases: readonly (readonly [string, string, object, IssuerConfig?])[]): Promise<Record<string, number>> {
  const paths: Record<string, number> = {};
  for (const [name, token, expected, cfg] of cases) {
    const { answer, path } = await gate(token, cfg);
    expect(answer, name).toMatchObject(expected);
    paths[path] = (paths[path] ?? 0) + 1;
  }
  return paths;
}

describe('alg attacks', () => {
  it('alg none in any case, missing, empty or not a string: refused before any key is looked at', async () => {
    const cases = ['none', 'None', 'NONE', 'nOnE'].flatMap((alg) => [
      [`${alg}, empty signature`, `${b64({ alg, kid: 'p256' })}.${b64(claims())}.`, invalid('algorithm not allowed')] as const,
      [`${alg}, junk signature`, `${b64({ alg, kid: 'p256' })}.${b64(claims())}.c2ln`, invalid('algorithm not allowed')] as const,
    ]);
    await expectAll([
      ...cases,
      ['no alg', `${b64({ kid: 'p256' })}.${b64(claims())}.c2ln`, invalid('malformed token')],
      ['alg ""', `${b64({ alg: '', kid: 'p256' })}.${b64(claims())}.c2ln`, invalid('malformed token')],
      ['alg number', `${b64({ alg: 256, kid: 'p256' })}.${b64(claims())}.c2ln`, invalid('malformed token')],
      ['alg array', `${b64({ alg: ['ES256'], kid: 'p256' })}.${b64(claims())}.c2ln`, invalid('malformed token')],
      ['alg null', `${b64({ alg: null, kid: 'p256' })}.${b64(claims())}.c2ln`, invalid('malformed token')],
      // A correctly signed ES256 token relabelled with a near-miss spelling.
      ['alg es256 (case)', withSignature(`${b64({ alg: 'es256', kid: 'p256' })}.${b64(claims())}.x`, signatureOf(es256({}))), invalid('algorithm not allowed')],
    ]);
  });

  it('HS256/384/512 keyed with the public key bytes (PEM, DER, JWK JSON, modulus) never verify on an asymmetric issuer', async () => {
    const secrets: [string, string | Buffer][] = [
      ['RSA PEM', rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string],
      ['RSA PKCS#1 PEM', rsa.publicKey.export({ type: 'pkcs1', format: 'pem' }) as string],
      ['RSA DER', rsa.publicKey.export({ type: 'spki', format: 'der' })],
      ['RSA JWK JSON', JSON.stringify(jwksDoc.keys[0])],
      ['RSA modulus n', String(jwksDoc.keys[0]?.n)],
      ['EC PEM', p256.publicKey.export({ type: 'spki', format: 'pem' }) as string],
      ['EC JWK JSON', JSON.stringify(jwksDoc.keys[2])],
      ['smuggled oct key', 'a-shared-secret-of-32-bytes-long!'],
    ];
    const cases = secrets.flatMap(([what, secret]) =>
      ['HS256', 'HS384', 'HS512'].flatMap((alg) => [
        [`${alg} with ${what}, kid rsa`, hmac({ kid: 'rsa' }, secret, alg), invalid('algorithm not allowed')] as const,
        [`${alg} with ${what}, kid oct`, hmac({ kid: 'oct' }, secret, alg), invalid('algorithm not allowed')] as const,
      ]),
    );
    const paths = await expectAll(cases);
    expect(paths).toEqual({ jose: cases.length });
  });

  it('binds each key to its type, curve, JWKS alg, use and key_ops', async () => {
    const reSign = (alg: string, key: KeyObject, kid: string) => signWith(alg, key, { alg, kid }, claims());
    await expectAll([
      ['RS256 header on an EC kid', reSign('RS256', rsa.privateKey, 'p256'), invalid('no matching signing key')],
      ['ES256 header on an RSA kid', reSign('ES256', p256.privateKey, 'rsa'), invalid('no matching signing key')],
      ['ES384 header on a P-256 kid', reSign('ES384', p256.privateKey, 'p256'), invalid('no matching signing key')],
      ['ES256 header on a P-384 kid', reSign('ES256', p384.privateKey, 'p384'), invalid('no matching signing key')],
      ['EdDSA header on an EC kid', reSign('EdDSA', ed.privateKey, 'p256'), invalid('no matching signing key')],
      ['PS256 on a key whose JWKS alg is RS256', reSign('PS256', rsa.privateKey, 'rsa'), invalid('no matching signing key')],
      ['PS256 when the issuer allows RS256 only', reSign('PS256', rsaAny.privateKey, 'rsa-any'), invalid('algorithm not allowed'), RS_ONLY],
      ['PS256 on an alg-less RSA key when allowed (control)', reSign('PS256', rsaAny.privateKey, 'rsa-any'), ACCEPTED],
      ['RS256 header with a PSS signature', withSignature(reSign('RS256', rsaAny.privateKey, 'rsa-any'), signatureOf(reSign('PS256', rsaAny.privateKey, 'rsa-any'))), invalid('signature verification failed')],
      ['a use: enc key', reSign('RS256', encKey.privateKey, 'enc'), invalid('no matching signing key')],
      ['a key_ops [sign] key', reSign('ES256', opsKey.privateKey, 'ops'), invalid('no matching signing key')],
      ['same kid, RSA member (control)', reSign('RS256', dupRsa.privateKey, 'dup'), ACCEPTED],
      ['same kid, EC member (control)', reSign('ES256', dupEc.privateKey, 'dup'), ACCEPTED],
      ['same kid, EC header signed by the RSA member', withSignature(reSign('ES256', dupEc.privateKey, 'dup'), signatureOf(reSign('RS256', dupRsa.privateKey, 'dup'))), invalid('signature verification failed')],
      ['same kid, ES256 by a key outside the set', reSign('ES256', evil.privateKey, 'dup'), invalid('signature verification failed')],
      // No kid and several RSA keys fit: jose tries each; the sync path never guesses.
      ['no kid, several candidates, signed by one of them', signWith('RS256', rsaAny.privateKey, { alg: 'RS256' }, claims()), ACCEPTED],
      ['no kid, several candidates, signed by none', signWith('RS256', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, { alg: 'RS256' }, claims()), invalid('signature verification failed')],
      ['no kid, exactly one P-384 key', signWith('ES384', p384.privateKey, { alg: 'ES384' }, claims()), ACCEPTED],
    ]);
  });
});

describe('headers that must be ignored or refused', () => {
  it('embedded keys and key URLs (jwk, jku, x5u, x5c) are never used', async () => {
    const evilJwk = evil.publicKey.export({ format: 'jwk' });
    const evilDer = evil.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    const forged = (extra: Record<string, unknown>) => signWith('ES256', evil.privateKey, { alg: 'ES256', ...extra }, claims());
    await expectAll([
      ['jwk under a real kid', forged({ kid: 'p256', jwk: evilJwk }), invalid('signature verification failed')],
      ['jwk without kid (several P-256 keys)', forged({ jwk: evilJwk }), invalid('signature verification failed')],
      ['jku', forged({ kid: 'p256', jku: 'https://evil.test/jwks' }), invalid('signature verification failed')],
      ['x5u', forged({ kid: 'p256', x5u: 'https://evil.test/cert.pem' }), invalid('signature verification failed')],
      ['x5c', forged({ kid: 'p256', x5c: [evilDer] }), invalid('signature verification failed')],
      ['jwk with a kid of its own', forged({ jwk: { ...evilJwk, kid: 'evil' }, kid: 'evil' }), invalid('no matching signing key')],
    ]);
  });

  it('hostile kid values select no key', async () => {
    const cases = [
      '../../../../etc/passwd', "x' OR '1'='1' --", 'p256\u0000', 'p256 ', 'P256', '', 'k'.repeat(10_000), '\u202ep256', 'p256/../p256',
    ].map((kid) => [`kid ${JSON.stringify(kid).slice(0, 30)}`, es256({ kid }), invalid('no matching signing key')] as const);
    const typed = ([7, null, ['p256'], { kid: 'p256' }, true] as unknown[]).map(
      (kid) => [`kid ${JSON.stringify(kid)}`, es256({ kid }), invalid('no matching signing key')] as const,
    );
    const paths = await expectAll([...cases, ...typed]);
    // A non-string kid is never even looked up on the sync path.
    expect(paths.jose).toBeGreaterThanOrEqual(typed.length);
  });

  it('crit, b64, zip and typ', async () => {
    await expectAll([
      ['crit unknown', es256({ crit: ['x-custom'], 'x-custom': 1 }), invalid('unsupported token')],
      ['crit empty array', es256({ crit: [] }), invalid('malformed token')],
      ['crit not an array', es256({ crit: 'exp' }), invalid('malformed token')],
      ['crit naming a registered header', es256({ crit: ['alg'] }), invalid('unsupported token')],
      ['crit [b64] with b64 false', es256({ crit: ['b64'], b64: false }), invalid('malformed token')],
      // b64 outside crit is not in force (RFC 7797 §6): the payload is still base64url JSON, signed by the issuer.
      ['b64 false without crit', es256({ b64: false }), ACCEPTED],
      // zip is a JWE parameter; in a JWS it changes nothing (the payload is plain JSON, signed).
      ['zip DEF on a JWS', es256({ zip: 'DEF' }), ACCEPTED],
      ['typ at+jwt (control)', es256({ typ: 'at+jwt' }), ACCEPTED, TYPED],
      ['typ AT+JWT', es256({ typ: 'AT+JWT' }), ACCEPTED, TYPED],
      ['typ application/at+jwt', es256({ typ: 'application/at+jwt' }), ACCEPTED, TYPED],
      ['typ at+jwt with a trailing space', es256({ typ: 'at+jwt ' }), invalid('token type not accepted'), TYPED],
      ['typ JWT', es256({ typ: 'JWT' }), invalid('token type not accepted'), TYPED],
      ['typ application/jwt+at', es256({ typ: 'application/jwt+at' }), invalid('token type not accepted'), TYPED],
      ['typ as an array', es256({ typ: ['at+jwt'] }), invalid('token type not accepted'), TYPED],
      ['no typ', es256({}), invalid('token type not accepted'), TYPED],
      ['cty JWT (nested)', es256({ cty: 'jwt' }), invalid('nested tokens are not accepted')],
    ]);
  });
});

describe('encodings', () => {
  it('anything but three unpadded base64url segments is refused before jose sees it', async () => {
    const good = es256({});
    const [h, p, s] = good.split('.') as [string, string, string];
    const std = (seg: string) => seg.replace(/-/g, '+').replace(/_/g, '/');
    // A header whose base64url has '-' or '_', to make the standard-alphabet spelling differ.
    const odd = es256({ x: '>>>???~~~' });
    const [oh, op, os] = odd.split('.') as [string, string, string];
    expect(`${oh}${os}`).toMatch(/[-_]/);
    const cases: [string, string][] = [
      ['padding on the signature', `${h}.${p}.${s}==`],
      ['padding on the header', `${h}=.${p}.${s}`],
      ['standard base64 alphabet', `${std(oh)}.${op}.${std(os)}`],
      ['a space inside', `${h}.${p.slice(0, 10)} ${p.slice(10)}.${s}`],
      ['a tab inside the signature', `${h}.${p}.${s.slice(0, 10)}\t${s.slice(10)}`],
      ['a newline inside', `${h}.${p}\n.${s}`],
      ['two segments', `${h}.${p}`],
      ['four segments', `${h}.${p}.${s}.${s}`],
      ['empty header', `.${p}.${s}`],
      ['empty payload', `${h}..${s}`],
      ['leading dot', `.${h}.${p}.${s}`],
      ['percent-encoded', `${h}.${p}.${s.slice(0, 5)}%41${s.slice(5)}`],
      ['non-ASCII look-alike', `${h}.${p}.${s.slice(0, 5)}Ａ${s.slice(6)}`],
      ['header of length 1 mod 4', `${h.slice(0, 4 * Math.floor((h.length - 1) / 4) + 1)}.${p}.${s}`],
    ];
    for (const [name, token] of cases) {
      const { answer, path } = await gate(token);
      expect(path, name).toBe('preflight');
      expect(answer, name).toMatchObject({ kind: 'failed', code: 'token_invalid' });
      expect(['malformed token', 'encrypted tokens are not accepted'], name).toContain((answer as AuthFailure).message);
    }
    expect((await gate(`${h}.${p}.${s}.${s}.${s}`)).answer).toMatchObject(invalid('encrypted tokens are not accepted'));
    expect((await gate(good)).answer).toMatchObject(ACCEPTED);
  });

  it('verifyJwt itself, without the preflight, refuses what is not the compact serialization (RFC 7515 §7.1)', async () => {
    // jose's atob-based decoder skips whitespace and accepts '=' padding: before the fix each of these verified.
    const good = es256({});
    const [h, p, s] = good.split('.') as [string, string, string];
    const issuer: VerifierIssuer = { config: ALL, algorithms: ALL.algorithms, key: keySet, syncKey: (alg, kid) => table.get(alg, kid) };
    const spellings = [`${good}==`, `${h}.${p}.${s}=`, `${h}.${p}.${s.slice(0, 9)} ${s.slice(9)}`, `${h}.${p}.${s.slice(0, 9)}\n${s.slice(9)}`, `${h}.${p}.${s}\t`];
    for (const token of spellings) {
      expect(await verifyJwt(token, issuer, NOW), JSON.stringify(token.slice(-12))).toEqual({ ...invalid('malformed token'), issuerName: 'corp' });
      expect(await verifyJwtWithJose(token, issuer, NOW)).toEqual({ ...invalid('malformed token'), issuerName: 'corp' });
    }
    expect(await verifyJwt(good, issuer, NOW)).toMatchObject(ACCEPTED);
  });

  it('JSON that is not an object, not UTF-8, or hostile, in the header or the payload', async () => {
    const raw = (headerText: string, payload: unknown) => signWith('ES256', p256.privateKey, undefined, payload, { headerText });
    const deep = `${'['.repeat(4_000)}${']'.repeat(4_000)}`;
    await expectAll([
      ['header is an array', raw('[{"alg":"ES256","kid":"p256"}]', claims()), invalid('malformed token')],
      ['header is a number', raw('256', claims()), invalid('malformed token')],
      ['header is null', raw('null', claims()), invalid('malformed token')],
      ['header is a string', raw('"ES256"', claims()), invalid('malformed token')],
      ['payload is an array', es256({}, [claims()]), invalid('malformed token')],
      ['payload is not UTF-8', es256({}, new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])), invalid('malformed token')],
      ['payload is a lone surrogate in UTF-8 (CESU)', es256({}, Buffer.concat([Buffer.from('{"iss":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')])), invalid('malformed token')],
      // A UTF-8 BOM is dropped by the decoder (jose's too), so a signed token with one is still that token.
      ['BOM before the header and payload', raw('\ufeff{"alg":"ES256","kid":"p256"}', new Uint8Array([0xef, 0xbb, 0xbf, ...Buffer.from(JSON.stringify(claims()))])), ACCEPTED],
      // Duplicate member names: the last wins (JSON.parse, as jose); what is verified is what is used.
      ['"alg" twice, none last', raw('{"alg":"ES256","kid":"p256","alg":"none"}', claims()), invalid('algorithm not allowed')],
      ['"alg" twice, ES256 last', raw('{"alg":"none","kid":"p256","alg":"ES256"}', claims()), ACCEPTED],
      ['__proto__ in the header carrying crit', raw('{"alg":"ES256","kid":"p256","__proto__":{"crit":["x"],"alg":"none"}}', claims()), ACCEPTED],
      ['deeply nested unsigned payload', `${b64({ alg: 'ES256', kid: 'p256' })}.${Buffer.from(`{"iss":"${ISS}","x":${deep}}`).toString('base64url')}.AAAA`, invalid('signature verification failed')],
    ]);
    // __proto__ is an own data member after JSON.parse: it never becomes the prototype of the claims.
    const { answer } = await gate(es256({}, JSON.parse(`{"__proto__":{"scope":"admin"},${JSON.stringify(claims()).slice(1)}`) as unknown));
    expect(answer).toMatchObject(ACCEPTED);
    const verified = (answer as VerifiedClaims).claims as Record<string, unknown>;
    expect(Object.getPrototypeOf(verified)).toBe(Object.prototype);
    expect(verified.scope).toBeUndefined();
  });

  it('non-canonical trailing bits in the signature decode to the same bytes: the same token to both paths', async () => {
    const good = es256({});
    const s = good.slice(good.lastIndexOf('.') + 1);
    const variants = sameBytesSpellings(s);
    expect(variants.length).toBeGreaterThan(1);
    for (const v of variants) expect((await gate(withSignature(good, v))).answer).toMatchObject(ACCEPTED);
    // In the header they change the signed input, so they never verify.
    const h = good.slice(0, good.indexOf('.'));
    const hv = sameBytesSpellings(h).find((x) => x !== h);
    if (hv !== undefined) expect((await gate(`${hv}${good.slice(h.length)}`)).answer).toMatchObject(invalid('signature verification failed'));
  });
});

/** Every spelling of a base64url segment that decodes to the same bytes (the last character's unused bits). */
export function sameBytesSpellings(segment: string): string[] {
  const bytes = Buffer.from(segment, 'base64url');
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  return [...alphabet]
    .map((c) => `${segment.slice(0, -1)}${c}`)
    .filter((candidate) => Buffer.from(candidate, 'base64url').equals(bytes));
}

describe('signature values', () => {
  it('ECDSA: wrong lengths, r or s zero or ≥ n (psychic signatures), high-S', async () => {
    const good = es256({});
    const sig = signatureOf(good);
    const r = big(sig.subarray(0, 32));
    const s = big(sig.subarray(32));
    const rs = (rv: bigint, sv: bigint) => Buffer.concat([fixed(rv, 32), fixed(sv, 32)]);
    const es384 = signWith('ES384', p384.privateKey, { alg: 'ES384', kid: 'p384' }, claims());
    const sig384 = signatureOf(es384);
    const r384 = big(sig384.subarray(0, 48));
    const s384 = big(sig384.subarray(48));
    await expectAll([
      ['63 bytes', withSignature(good, sig.subarray(0, 63)), invalid('signature verification failed')],
      ['65 bytes (a leading zero)', withSignature(good, Buffer.concat([Buffer.alloc(1), sig])), invalid('signature verification failed')],
      ['65 bytes (a trailing zero)', withSignature(good, Buffer.concat([sig, Buffer.alloc(1)])), invalid('signature verification failed')],
      ['DER', signWithDer(good), invalid('signature verification failed')],
      ['r = s = 0', withSignature(good, Buffer.alloc(64)), invalid('signature verification failed')],
      ['r = 0', withSignature(good, rs(0n, s)), invalid('signature verification failed')],
      ['s = 0', withSignature(good, rs(r, 0n)), invalid('signature verification failed')],
      ['r = s = n', withSignature(good, rs(N_P256, N_P256)), invalid('signature verification failed')],
      ['r + n (when it fits)', withSignature(good, r + N_P256 < 2n ** 256n ? rs(r + N_P256, s) : rs(N_P256 + 1n, s)), invalid('signature verification failed')],
      ['s = n', withSignature(good, rs(r, N_P256)), invalid('signature verification failed')],
      ['all ones', withSignature(good, Buffer.alloc(64, 0xff)), invalid('signature verification failed')],
      ['ES384 r = s = 0', withSignature(es384, Buffer.alloc(96)), invalid('signature verification failed')],
      ['ES384 r = s = n', withSignature(es384, Buffer.concat([fixed(N_P384, 48), fixed(N_P384, 48)])), invalid('signature verification failed')],
      // ECDSA is malleable: (r, n − s) verifies as well as (r, s). RFC 7518 does not forbid it and
      // issuers (OpenSSL, WebCrypto) produce high-S half the time, so it must be accepted — identically.
      ['high-S twin', withSignature(good, rs(r, N_P256 - s)), ACCEPTED],
      ['ES384 high-S twin', withSignature(es384, Buffer.concat([fixed(r384, 48), fixed(N_P384 - s384, 48)])), ACCEPTED],
    ]);
  });

  it('EdDSA: S ≥ L (non-canonical), wrong lengths', async () => {
    const good = signWith('EdDSA', ed.privateKey, { alg: 'EdDSA', kid: 'ed' }, claims());
    const sig = signatureOf(good);
    const sLe = sig.subarray(32);
    const S = big(Buffer.from(sLe).reverse());
    const sPlusL = Buffer.from(fixed(S + L_ED25519, 32)).reverse();
    await expectAll([
      ['control', good, ACCEPTED],
      ['S + L', withSignature(good, Buffer.concat([sig.subarray(0, 32), sPlusL])), invalid('signature verification failed')],
      ['63 bytes', withSignature(good, sig.subarray(0, 63)), invalid('signature verification failed')],
      ['65 bytes', withSignature(good, Buffer.concat([sig, Buffer.alloc(1)])), invalid('signature verification failed')],
      ['all zero', withSignature(good, Buffer.alloc(64)), invalid('signature verification failed')],
    ]);
  });

  it('RSA: lengths other than the modulus, s ≥ n, and PKCS#1 v1.5 encodings other than the exact DigestInfo', async () => {
    // A signature whose first byte is 0 (about one in 256), to try it without that byte.
    let zeroLed = '';
    for (let i = 0; zeroLed === '' && i < 5_000; i++) {
      const t = rs256({}, claims({ jti: `j${i}` }));
      if (signatureOf(t)[0] === 0) zeroLed = t;
    }
    expect(zeroLed).not.toBe('');
    const good = rs256({});
    const sig = signatureOf(good);
    const n = Buffer.from(String(jwksDoc.keys[0]?.n), 'base64url');
    const input = good.slice(0, good.lastIndexOf('.'));
    const digest = createHash('sha256').update(input).digest();
    const SHA256_PREFIX = Buffer.from('3031300d060960864801650304020105000420', 'hex');
    const SHA256_NO_NULL = Buffer.from('302f300b0609608648016503040201' + '0420', 'hex');
    const SHA1_PREFIX = Buffer.from('3021300906052b0e03021a05000414', 'hex');
    // privateEncrypt with PKCS#1 type-1 padding signs any bytes: a forger's view of the encoding.
    const pkcs1 = (em: Buffer) => withSignature(good, privateEncrypt({ key: rsa.privateKey, padding: constants.RSA_PKCS1_PADDING }, em));
    await expectAll([
      ['control (exact DigestInfo via privateEncrypt)', pkcs1(Buffer.concat([SHA256_PREFIX, digest])), ACCEPTED],
      ['leading zero byte dropped (255 bytes)', withSignature(zeroLed, signatureOf(zeroLed).subarray(1)), invalid('signature verification failed')],
      ['control for the zero-led signature', zeroLed, ACCEPTED],
      ['a zero byte prepended (257 bytes)', withSignature(good, Buffer.concat([Buffer.alloc(1), sig])), invalid('signature verification failed')],
      ['a zero byte appended', withSignature(good, Buffer.concat([sig, Buffer.alloc(1)])), invalid('signature verification failed')],
      ['truncated to 128 bytes', withSignature(good, sig.subarray(0, 128)), invalid('signature verification failed')],
      ['all zero', withSignature(good, Buffer.alloc(256)), invalid('signature verification failed')],
      ['s = n', withSignature(good, n), invalid('signature verification failed')],
      ['DigestInfo without the NULL parameters', pkcs1(Buffer.concat([SHA256_NO_NULL, digest])), invalid('signature verification failed')],
      ['DigestInfo with trailing garbage', pkcs1(Buffer.concat([SHA256_PREFIX, digest, Buffer.from('garbage')])), invalid('signature verification failed')],
      ['SHA-1 DigestInfo', pkcs1(Buffer.concat([SHA1_PREFIX, createHash('sha1').update(input).digest()])), invalid('signature verification failed')],
      ['bare digest, no DigestInfo', pkcs1(digest), invalid('signature verification failed')],
    ]);
  });
});

/** The token's ES256 signature re-made in DER form (a JCA / OpenSSL default some producers emit). */
function signWithDer(token: string): string {
  const input = token.slice(0, token.lastIndexOf('.'));
  return withSignature(token, nodeSign('sha256', Buffer.from(input), { key: p256.privateKey, dsaEncoding: 'der' }));
}

describe('claims', () => {
  it('time claims of the wrong type, extreme or at the exact edge of the skew', async () => {
    const expired = { kind: 'failed', code: 'token_expired', message: 'token has expired' };
    const early = { kind: 'failed', code: 'token_not_yet_valid' };
    const wrongType = invalid('claim validation failed');
    const cases: [string, Record<string, unknown>, object][] = [
      ['exp as a string', { exp: String(T + 300) }, wrongType],
      ['exp as an array', { exp: [T + 300] }, wrongType],
      ['exp null', { exp: null }, wrongType],
      ['exp true', { exp: true }, wrongType],
      ['exp as an object', { exp: { $date: T + 300 } }, wrongType],
      ['exp a float in the future', { exp: T + 300.75 }, ACCEPTED],
      ['exp negative', { exp: -1 }, expired],
      ['exp 0', { exp: 0 }, expired],
      ['exp exactly now − skew', { exp: T - SKEW_S }, expired],
      ['exp now − skew + 1', { exp: T - SKEW_S + 1 }, ACCEPTED],
      ['exp 1e308 (issuer-signed, far future)', { exp: 1e308 }, ACCEPTED],
      ['nbf as a string', { nbf: String(T) }, wrongType],
      ['nbf exactly now + skew', { nbf: T + SKEW_S }, ACCEPTED],
      ['nbf now + skew + 1', { nbf: T + SKEW_S + 1 }, early],
      ['nbf −1e308', { nbf: -1e308 }, ACCEPTED],
      ['iat as a string', { iat: String(T) }, wrongType],
      ['iat as an array', { iat: [T] }, wrongType],
      ['iat now + skew', { iat: T + SKEW_S }, ACCEPTED],
      ['iat now + skew + 1', { iat: T + SKEW_S + 1 }, early],
      ['iat 1e308', { iat: 1e308 }, early],
      ['no exp', { exp: undefined }, invalid('token is missing the exp claim')],
    ];
    await expectAll(cases.map(([name, over, expected]) => [name, es256({}, claims(over)), expected] as const));
    // JSON numbers beyond double range parse to ±Infinity (JSON has no NaN); signed as raw text, since
    // JSON.stringify would write them as null.
    const infinite = (field: string, value: string) => `{"iss":"${ISS}","aud":"${AUD}","sub":"alice","iat":${T - 10},"exp":${T + 300},"${field}":${value}}`;
    await expectAll([
      ['exp 1e400 (Infinity)', es256({}, Buffer.from(infinite('exp', '1e400'))), ACCEPTED],
      ['exp -1e400 (−Infinity)', es256({}, Buffer.from(infinite('exp', '-1e400'))), expired],
      ['nbf 1e400', es256({}, Buffer.from(infinite('nbf', '1e400'))), early],
    ]);
  });

  it('aud, iss, sub and claim values', async () => {
    await expectAll([
      ['aud array with non-strings and the audience', es256({}, claims({ aud: [1, null, { a: 1 }, AUD] })), ACCEPTED],
      ['aud array of non-strings', es256({}, claims({ aud: [1, null, [AUD]] })), invalid('audience not accepted')],
      ['aud nested array', es256({}, claims({ aud: [[AUD]] })), invalid('audience not accepted')],
      ['aud object', es256({}, claims({ aud: { [AUD]: true } })), invalid('audience not accepted')],
      ['aud with a trailing space', es256({}, claims({ aud: `${AUD} ` })), invalid('audience not accepted')],
      ['aud empty array', es256({}, claims({ aud: [] })), invalid('audience not accepted')],
      ['no aud', es256({}, claims({ aud: undefined })), invalid('token is missing the aud claim')],
      ['iss with a trailing slash', es256({}, claims({ iss: `${ISS}/` })), invalid('issuer not accepted')],
      ['iss upper-case host', es256({}, claims({ iss: ISS.toUpperCase() })), invalid('issuer not accepted')],
      ['no sub', es256({}, claims({ sub: undefined })), invalid('token is missing the sub claim')],
      ['sub a number', es256({}, claims({ sub: 42 })), invalid('invalid subject claim')],
      ['sub an array', es256({}, claims({ sub: ['alice'] })), invalid('invalid subject claim')],
      ['sub empty', es256({}, claims({ sub: '' })), invalid('invalid subject claim')],
      ['sub 256 characters', es256({}, claims({ sub: 'a'.repeat(256) })), invalid('invalid subject claim')],
      ['sub 255 characters', es256({}, claims({ sub: 'a'.repeat(255) })), { ok: true }],
      ['sub with a control character', es256({}, claims({ sub: 'alice\u001badmin' })), invalid('invalid subject claim')],
      ['sub with DEL', es256({}, claims({ sub: 'alice\u007f' })), invalid('invalid subject claim')],
      ['sub a lone surrogate', es256({}, claims({ sub: 'a\ud800b' })), invalid('invalid subject claim')],
      ['sub emoji and non-Latin', es256({}, claims({ sub: 'ゆき🦊' })), { ok: true, sub: 'ゆき🦊' }],
      ['800 claims', es256({}, claims(Object.fromEntries(Array.from({ length: 800 }, (_, i) => [`c${i}`, i])))), ACCEPTED],
    ]);
  });
});
