import { createHmac, KeyObject, sign as nodeSign, webcrypto } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest, eventually, isAllow, okHeader, outcomeOf, problemOf, tally } from './support/check-requests.js';
import { createEnvoyClient, type EnvoyClient, type UpstreamCheckResponse } from './support/envoy-client.js';
import { startIdgate, type IdgateProcess } from './support/idgate-process.js';
import { startJwksServer, type JwksServer } from './support/jwks-server.js';
import { b64url, claimsFor, craftToken, createTestKey, publicKeyPem, signRaw, type TestKey } from './support/tokens.js';

/**
 * The JWT attack catalogue end to end against the synchronous verify path and the token cache: a real
 * `idgate authz` process (memory store, risk on), two issuers with their JWKS on 127.0.0.1, Checks over
 * gRPC. Every hostile token is sent twice — a key not imported yet is imported for the sync path by the
 * first Check (which jose answers), so the second is answered on the sync path wherever it can be — and
 * both must get the same exact deny. Then the
 * caches: failures are never cached, a cached token stays bound to its issuer, a removed key, and the
 * risk engine's per-token fingerprint against malleable spellings of one token. The process must stay up.
 */
const AUD = 'idgate-test';
const N_P256 = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');

let jwksA: JwksServer;
let jwksB: JwksServer;
let attacker: JwksServer;
let idgate: IdgateProcess;
let client: EnvoyClient;
let es: TestKey; // issuer a, ES256
let rsa: TestKey; // issuer a, RS256
let dupRsa: TestKey; // issuer a, RS256, kid "dup"
let dupEc: TestKey; // issuer a, ES256, kid "dup"
let enc: TestKey; // issuer a, ES256 with use: enc
let ops: TestKey; // issuer a, ES256 with key_ops: [sign]
let rotated: TestKey; // issuer a, removed from the JWKS mid-test
let esB: TestKey; // issuer b
let evil: TestKey; // attacker, in no trusted JWKS
const summary: Record<string, string> = {};

const config = () => `
server: { grpc: { host: 127.0.0.1, port: 0 }, httpAuthz: { host: 127.0.0.1, port: 0 }, public: { host: 127.0.0.1, port: 0 }, admin: { host: 127.0.0.1, port: 0 } }
issuers:
  - { name: a, issuer: "${jwksA.url}", audiences: [${AUD}], jwksUri: "${jwksA.jwksUrl}", algorithms: [RS256, ES256], jwks: { minRefetchInterval: 1s, refreshInterval: 1s } }
  - { name: b, issuer: "${jwksB.url}", audiences: [${AUD}], jwksUri: "${jwksB.jwksUrl}", algorithms: [ES256] }
risk:
  enabled: true
  weights: { new_device: 0, country_change: 0, impossible_travel: 0, velocity: 0, too_many_ips: 70 }
  tokenIps: { window: 1h, max: 2 }
policy:
  default: deny
  routes:
    - id: only-b
      match: { prefix: /only-b }
      require: { issuers: [b] }
    - id: admin
      match: { prefix: /admin }
      require: { scopes: [admin] }
    - id: risky
      match: { prefix: /risky }
      require: { scopes: [read] }
      risk:
        - atLeast: 70
          then: deny
    - id: api
      match: { prefix: /api }
      require: { scopes: [read] }
      claimHeaders: { x-idgate-email: email }
store:
  type: memory
logging:
  level: info
  allowSampleRate: 0
`;

let seq = 0;
/** Claims of issuer a (or `iss`), with a fresh `jti` so that every token string is new. */
function claims(extra: Record<string, unknown> = {}, iss = jwksA.url): Record<string, unknown> {
  seq += 1;
  return claimsFor({ iss, aud: AUD, now: Date.now(), sub: 'alice', claims: { scope: 'read', jti: `j${seq}`, ...extra } });
}
const sign = (key: TestKey, header: Record<string, unknown> = {}, payload: unknown = claims()) =>
  signRaw({ alg: key.alg, kid: key.kid, ...header }, payload, key);
const withSignature = (token: string, signature: Uint8Array | string) =>
  `${token.slice(0, token.lastIndexOf('.'))}.${typeof signature === 'string' ? signature : Buffer.from(signature).toString('base64url')}`;
const signatureOf = (token: string) => Buffer.from(token.slice(token.lastIndexOf('.') + 1), 'base64url');
/** A token signed over exact header/payload bytes (texts JSON.stringify cannot produce: BOM, duplicate names). */
function signBytes(key: TestKey, headerText: string, payload: Uint8Array): string {
  const input = `${Buffer.from(headerText).toString('base64url')}.${Buffer.from(payload).toString('base64url')}`;
  const k = KeyObject.from(key.privateKey as unknown as webcrypto.CryptoKey);
  return `${input}.${nodeSign('sha256', Buffer.from(input), { key: k, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

async function check(path: string, token: string | undefined, sourceAddress?: string): Promise<UpstreamCheckResponse> {
  return client.check(checkRequest({ path, ...(token !== undefined ? { token } : {}), ...(sourceAddress !== undefined ? { sourceAddress } : {}) }));
}
const hex = (n: bigint) => Buffer.from(n.toString(16).padStart(64, '0'), 'hex');
/** The ES256 token with its (r, n − s) twin signature, which verifies too (ECDSA malleability). */
function highS(token: string): string {
  const sig = signatureOf(token);
  return withSignature(token, Buffer.concat([sig.subarray(0, 32), hex(N_P256 - BigInt(`0x${sig.subarray(32).toString('hex')}`))]));
}
/** Issuer a's published keys at the start (the rotation test removes one later). */
const initialKeysA = () => [
  es.publicJwk,
  rsa.publicJwk,
  dupRsa.publicJwk,
  dupEc.publicJwk,
  { ...enc.publicJwk, use: 'enc' },
  { ...ops.publicJwk, use: undefined, key_ops: ['sign'] },
  rotated.publicJwk,
];
const statusOf = (res: UpstreamCheckResponse) => (isAllow(res) ? 200 : res.denied_response?.status?.code);

beforeAll(async () => {
  [es, rsa, dupRsa, dupEc, enc, ops, rotated, esB, evil] = await Promise.all([
    createTestKey('ES256', 'a-es'),
    createTestKey('RS256', 'a-rsa'),
    createTestKey('RS256', 'dup'),
    createTestKey('ES256', 'dup'),
    createTestKey('ES256', 'a-enc'),
    createTestKey('ES256', 'a-ops'),
    createTestKey('ES256', 'a-rotated'),
    createTestKey('ES256', 'b-es'),
    createTestKey('ES256', 'evil'),
  ]);
  jwksA = await startJwksServer();
  jwksA.setKeys({ keys: initialKeysA() });
  jwksB = await startJwksServer({ keys: { keys: [esB.publicJwk] } });
  attacker = await startJwksServer({ keys: { keys: [evil.publicJwk] } });
  idgate = await startIdgate({ command: 'authz', configYaml: config() });
  client = createEnvoyClient(`127.0.0.1:${idgate.ports.grpc}`);
  // Keys are fetched at start; wait until a valid token of each issuer is allowed.
  await eventually(() => check('/api/x', sign(es)), isAllow);
  await eventually(() => check('/only-b/x', sign(esB, {}, claims({}, jwksB.url))), isAllow);
}, 60_000);

afterAll(async () => {
  client?.close();
  await Promise.all([idgate?.stop(), jwksA?.close(), jwksB?.close(), attacker?.close()]);
  console.log(`[scorecard] attack-jwt-e2e: ${Object.entries(summary).map(([k, v]) => `${k}: ${v}`).join('; ')}`);
});

/** `token_invalid` with HTTP 401, the deny every forged or malformed token must get. */
const INVALID = 'token_invalid/401';
const verdict = (res: UpstreamCheckResponse) => `${outcomeOf(res)}/${String(statusOf(res))}`;

describe('JWT attacks through the running process (each sent twice: before and after the sync key import)', () => {
  it('every hostile token gets the exact deny, twice; the controls are allowed; attacker URLs are never fetched', async () => {
    const good = sign(es);
    const [h, p, s] = good.split('.') as [string, string, string];
    const sig = signatureOf(good);
    const sv = BigInt(`0x${sig.subarray(32).toString('hex')}`);
    const hs = (secret: string, kid: string) => {
      const input = `${b64url({ alg: 'HS256', kid })}.${b64url(claims())}`;
      return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
    };
    const cases: [string, () => string, string][] = [
      ...['none', 'None', 'NONE'].map((alg): [string, () => string, string] => [`alg ${alg}`, () => craftToken({ alg }, claims()), INVALID]),
      ['HS256 keyed with the RSA public key PEM', () => hs(publicKeyPem(rsa), rsa.kid), INVALID],
      ['HS256 keyed with the EC JWK JSON', () => hs(JSON.stringify(es.publicJwk), es.kid), INVALID],
      ['RS256 header on an EC kid', () => withSignature(craftToken({ alg: 'RS256', kid: es.kid }, claims()), signatureOf(sign(rsa))), INVALID],
      ['ES256 header on an RSA kid', () => sign(es, { kid: rsa.kid }), INVALID],
      ['a use: enc key', () => sign(enc), INVALID],
      ['a key_ops [sign] key', () => sign(ops), INVALID],
      ['same kid, EC header, signed by a foreign key', () => sign(evil, { kid: 'dup' }), INVALID],
      ['attacker key via jku', () => sign(evil, { kid: es.kid, jku: attacker.jwksUrl }), INVALID],
      ['attacker key via x5u', () => sign(evil, { kid: es.kid, x5u: `${attacker.url}/cert.pem` }), INVALID],
      ['attacker key embedded as jwk', () => sign(evil, { kid: undefined, jwk: evil.publicJwk }), INVALID],
      ['kid traversal', () => sign(es, { kid: '../../../../../dev/null' }), INVALID],
      ['kid 8 KB', () => sign(es, { kid: 'k'.repeat(8_192) }), INVALID],
      ['crit empty array', () => sign(es, { crit: [] }), INVALID],
      ['crit not an array', () => sign(es, { crit: 'exp' }), INVALID],
      ['crit [b64], b64 false', () => sign(es, { crit: ['b64'], b64: false }), INVALID],
      ['padding', () => `${good}==`, INVALID],
      ['standard base64 alphabet', () => `${h}.${p}.${s.replace(/-/g, '+').replace(/_/g, '/')}${/[-_]/.test(s) ? '' : '+'}`, INVALID],
      ['a space inside', () => `${h}.${p.slice(0, 8)} ${p.slice(8)}.${s}`, INVALID],
      ['two segments', () => `${h}.${p}`, INVALID],
      ['four segments', () => `${good}.${s}`, INVALID],
      ['payload not UTF-8', () => signBytes(es, JSON.stringify({ alg: 'ES256', kid: es.kid }), new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])), INVALID],
      ['header a JSON array', () => signBytes(es, JSON.stringify([{ alg: 'ES256', kid: es.kid }]), Buffer.from(JSON.stringify(claims()))), INVALID],
      ['"alg" twice, none last', () => signBytes(es, `{"alg":"ES256","kid":"${es.kid}","alg":"none"}`, Buffer.from(JSON.stringify(claims()))), INVALID],
      ['ECDSA 63 bytes', () => withSignature(good, sig.subarray(0, 63)), INVALID],
      ['ECDSA r = s = n', () => withSignature(good, Buffer.concat([hex(N_P256), hex(N_P256)])), INVALID],
      ['ECDSA r = 0', () => withSignature(good, Buffer.concat([hex(0n), hex(sv)])), INVALID],
      ['exp as a string', () => sign(es, {}, { ...claims(), exp: String(Math.floor(Date.now() / 1000) + 300) }), INVALID],
      ['aud of non-strings', () => sign(es, {}, { ...claims(), aud: [1, null, [AUD]] }), INVALID],
      ['iss with a trailing slash', () => sign(es, {}, claims({}, `${jwksA.url}/`)), INVALID],
      ['sub a number', () => sign(es, {}, { ...claims(), sub: 7 }), INVALID],
      ['sub a lone surrogate', () => sign(es, {}, { ...claims(), sub: 'a\ud800' }), INVALID],
      ['exp exactly now − skew', () => sign(es, {}, { ...claims(), exp: Math.floor(Date.now() / 1000) - 31 }), 'token_expired/401'],
      ['issuer b key, issuer a iss', () => sign(esB, {}, claims()), INVALID],
      // Controls: what must pass.
      ['valid ES256', () => sign(es), 'allow/200'],
      ['valid RS256', () => sign(rsa), 'allow/200'],
      ['ECDSA high-S twin (malleable, accepted as jose does)', () => highS(sign(es)), 'allow/200'],
      ['same kid, RSA member', () => sign(dupRsa), 'allow/200'],
      ['same kid, EC member', () => sign(dupEc), 'allow/200'],
      ['no kid, two RS256 candidates', () => sign(dupRsa, { kid: undefined }), 'allow/200'],
      ['a UTF-8 BOM before header and payload', () => signBytes(es, `\ufeff${JSON.stringify({ alg: 'ES256', kid: es.kid })}`, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(claims()))])), 'allow/200'],
    ];
    const outcomes: string[] = [];
    let overHttp = 0;
    for (const [name, make, expected] of cases) {
      const token = make();
      // The same token twice (a rejected token is never cached, so both verify); a control twice would hit
      // the token cache, so the second control is a fresh token of the same kind.
      const first = verdict(await check('/api/x', token));
      const second = verdict(await check('/api/x', expected === 'allow/200' ? make() : token));
      expect([name, first], name).toEqual([name, expected]);
      expect([name, second], name).toEqual([name, expected]);
      outcomes.push(first);
      // The HTTP authorization mode shares the authenticator: same verdict (tokens a client can send as a header value).
      if (/^[\x21-\x7e]+$/.test(token)) {
        const res = await fetch(`http://127.0.0.1:${String(idgate.ports.http)}/check/api/x`, {
          headers: { authorization: `Bearer ${expected === 'allow/200' ? make() : token}` },
        });
        await res.arrayBuffer();
        expect([name, `${res.headers.get('x-idgate-reason') ?? 'allow'}/${res.status}`], `${name} (HTTP mode)`).toEqual([name, expected]);
        overHttp += 1;
      }
    }
    expect(overHttp).toBeGreaterThan(30);
    expect(attacker.counts.jwks).toBe(0);
    expect(idgate.child.exitCode).toBeNull();
    summary.catalogue = `${cases.length} tokens × 2 over gRPC (${overHttp} also over HTTP) → ${JSON.stringify(tally(outcomes))}; attacker JWKS fetched ${attacker.counts.jwks} times`;
  }, 60_000);

  it('a signed __proto__ claim never becomes the prototype (no admin scope from it); Object.prototype names as claims are inert', async () => {
    const text = `{"__proto__":{"scope":"admin"},${JSON.stringify(claims()).slice(1)}`;
    const token = signBytes(es, JSON.stringify({ alg: 'ES256', kid: es.kid }), Buffer.from(text));
    const res = await check('/admin/x', token);
    expect(verdict(res)).toBe('claims_mismatch/403');
    expect(verdict(await check('/api/x', token))).toBe('allow/200');
    // Object.prototype member names as claims break nothing downstream (policy, header mapping, risk).
    const shadowing = sign(es, {}, claims({ constructor: 'x', toString: 1, hasOwnProperty: 'x', valueOf: [], __defineGetter__: null }));
    expect(verdict(await check('/api/x', shadowing))).toBe('allow/200');
    expect(verdict(await check('/admin/x', shadowing))).toBe('claims_mismatch/403');
    expect(verdict(await check('/risky/x', shadowing))).toBe('allow/200');
    expect(idgate.child.exitCode).toBeNull();
  });

  it('non-Latin, emoji, control and lone-surrogate claims: a valid percent-encoded identity header, or a refusal', async () => {
    const mapped = async (email: string) => {
      const res = await check('/api/x', sign(es, {}, claims({ email })));
      return { verdict: verdict(res), header: okHeader(res, 'x-idgate-email') };
    };
    const emoji = await mapped('ゆき🦊@例え.jp');
    expect(emoji.verdict).toBe('allow/200');
    expect(emoji.header).toMatch(/^[\x21-\x7e]+$/);
    expect(decodeURIComponent(emoji.header as string)).toBe('ゆき🦊@例え.jp');
    for (const email of ['a\u0000b@x', 'a\r\nx-admin: 1@x', 'a\ud800@x', 'a\u0085@x']) {
      expect(await mapped(email), JSON.stringify(email)).toEqual({ verdict: 'claims_invalid/403', header: undefined });
    }
    expect(verdict(await check('/api/x', sign(es, {}, claims({ sub: 'ゆき🦊' }))))).toBe('allow/200');
    // A bidi override is printable text, not a control: allowed, and percent-encoded in the subject header.
    const bidi = await check('/api/x', sign(es, {}, claims({ sub: 'bob\u202eadmin' })));
    expect(verdict(bidi)).toBe('allow/200');
    expect(okHeader(bidi, 'x-idgate-subject')).toBe('a:bob%E2%80%AEadmin');
    expect(idgate.child.exitCode).toBeNull();
  });

  it('a deeply nested signed claim is verified without crashing the process', async () => {
    const deep = `${'['.repeat(3_000)}${']'.repeat(3_000)}`;
    const token = signBytes(es, JSON.stringify({ alg: 'ES256', kid: es.kid }), Buffer.from(`{"deep":${deep},${JSON.stringify(claims()).slice(1)}`));
    expect(verdict(await check('/api/x', token))).toBe('allow/200');
    expect(idgate.child.exitCode).toBeNull();
  });
});

describe('size and key-strength limits through the running process', () => {
  it('a token of exactly 16 KiB is verified, one character more is refused unparsed; a 1024-bit RSA key never verifies', async () => {
    const LIMIT = 16 * 1024;
    const base = claims();
    /** A validly signed ES256 token of exactly `length` characters (padding in an ignored header member and a claim). */
    const ofLength = (length: number): string => {
      for (let h = 0; h < 4; h++) {
        const probe = sign(es, { x: 'h'.repeat(h) }, { ...base, pad: '' });
        const missing = length - probe.length;
        for (let extra = Math.max(0, Math.floor((missing * 3) / 4) - 3); extra <= Math.floor((missing * 3) / 4) + 3; extra++) {
          const t = sign(es, { x: 'h'.repeat(h) }, { ...base, pad: 'p'.repeat(extra) });
          if (t.length === length) return t;
        }
      }
      throw new Error(`no token of length ${length}`);
    };
    const atLimit = ofLength(LIMIT);
    const overLimit = ofLength(LIMIT + 1);
    expect([atLimit.length, overLimit.length]).toEqual([LIMIT, LIMIT + 1]);
    expect(verdict(await check('/api/x', atLimit))).toBe('allow/200');
    const over = await check('/api/x', overLimit);
    expect(verdict(over)).toBe(INVALID);
    expect(problemOf(over).detail).toBe('token too large');

    // A 1024-bit RSA key published in issuer a's JWKS: jose refuses it, the sync path never imports it.
    const pair = await webcrypto.subtle.generateKey(
      { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      true,
      ['sign', 'verify'],
    );
    const small: TestKey = {
      alg: 'RS256',
      kid: 'a-small',
      privateKey: pair.privateKey as unknown as TestKey['privateKey'],
      publicKey: pair.publicKey as unknown as TestKey['publicKey'],
      publicJwk: { ...(await webcrypto.subtle.exportKey('jwk', pair.publicKey)), kid: 'a-small', alg: 'RS256', use: 'sig' } as TestKey['publicJwk'],
    };
    jwksA.resetCounts();
    jwksA.setKeys({ keys: [...initialKeysA(), small.publicJwk] });
    // The next refresh (refreshInterval 1 s) installs it; then the first token goes through jose (and starts
    // the sync path's import, which refuses the key), the next ones would find it on the sync path if stored.
    await eventually(async () => jwksA.counts.jwks, (n) => n > 0, 5_000, 100);
    await new Promise((r) => setTimeout(r, 200));
    const answers: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await check('/api/x', sign(small));
      answers.push(`${verdict(res)} ${String(problemOf(res).detail)}`);
    }
    jwksA.setKeys({ keys: initialKeysA() });
    expect(answers).toEqual(Array(3).fill(`${INVALID} token could not be verified`));
    expect(idgate.child.exitCode).toBeNull();
    summary.limits = `16 KiB token allowed, 16 KiB + 1 ${INVALID}; 1024-bit RSA ×3 ${INVALID}`;
  }, 30_000);
});

describe('caches under attack', () => {
  it('a token that fails verification is never cached; a valid one stays bound to its issuer', async () => {
    const valid = sign(es);
    const forged = withSignature(valid, signatureOf(sign(es)));
    expect(verdict(await check('/api/x', forged))).toBe(INVALID);
    expect(verdict(await check('/api/x', valid))).toBe('allow/200');
    expect(verdict(await check('/api/x', forged))).toBe(INVALID);
    // Issuer a's cached token on a route that accepts issuer b only.
    expect(verdict(await check('/only-b/x', valid))).toBe(INVALID);
    expect(problemOf(await check('/only-b/x', valid))).toMatchObject({ code: 'token_invalid' });
    expect(verdict(await check('/only-b/x', sign(esB, {}, claims({}, jwksB.url))))).toBe('allow/200');
  });

  it('the same token answered cold (verified) and then fully cached (synchronous path) gets the same answer', async () => {
    const answerOf = (res: UpstreamCheckResponse) =>
      JSON.stringify({
        verdict: verdict(res),
        headers: (res.ok_response?.headers ?? []).map((h) => [h.header.key, h.header.value]).sort(),
        remove: [...(res.ok_response?.headers_to_remove ?? [])].sort(),
      });
    const tokens: [string, string][] = [
      [sign(es, {}, claims({ email: 'é@x' })), 'claims_mismatch/403'],
      [sign(rsa), 'claims_mismatch/403'],
      [sign(dupEc, {}, claims({ scope: 'read admin' })), 'allow/200'],
    ];
    for (const [token, onAdmin] of tokens) {
      const cold = await check('/api/x', token);
      expect(verdict(cold)).toBe('allow/200');
      expect(answerOf(await check('/api/x', token))).toBe(answerOf(cold));
      // On another route, from the cache as well: the route's own answer, the same twice.
      const first = await check('/admin/x', token);
      expect(verdict(first)).toBe(onAdmin);
      expect(answerOf(await check('/admin/x', token))).toBe(answerOf(first));
    }
  });

  it('a removed key: cached tokens keep their verification for at most the cache bound, new tokens are refused', async () => {
    const cached = sign(rotated);
    expect(verdict(await check('/api/x', cached))).toBe('allow/200');
    // A second token of that key, verified on the sync path before the rotation.
    expect(verdict(await check('/api/x', sign(rotated)))).toBe('allow/200');
    jwksA.setKeys({ keys: initialKeysA().filter((k) => k.kid !== rotated.kid) });
    jwksA.resetCounts();
    // refreshInterval 1 s: wait for a fetch that installed the new set (a fresh token of the removed key is refused).
    const fresh = await eventually(async () => verdict(await check('/api/x', sign(rotated))), (v) => v === INVALID, 10_000, 200);
    expect(fresh).toBe(INVALID);
    expect(jwksA.counts.jwks).toBeGreaterThan(0);
    // The token verified before the rotation is still answered from the verified-token cache: documented,
    // bounded by min(exp, 5 min) (docs/security.md, threat model).
    expect(verdict(await check('/api/x', cached))).toBe('allow/200');
    summary.rotation = 'removed key: new tokens token_invalid after the refresh; the cached one allowed until its cache bound';
  });

  it('malleable spellings of one token share one risk fingerprint (too_many_ips is not evaded)', async () => {
    const token = sign(es, {}, claims({ sub: 'mallory' }));
    const s = token.slice(token.lastIndexOf('.') + 1);
    const bytes = Buffer.from(s, 'base64url');
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const spellings = [...alphabet].map((c) => `${s.slice(0, -1)}${c}`).filter((v) => Buffer.from(v, 'base64url').equals(bytes));
    expect(spellings.length).toBe(16); // 86 characters carry 516 bits for 512: 4 unused bits
    const variants = [...spellings.slice(0, 2).map((v) => withSignature(token, v)), highS(token)];
    expect(new Set(variants).size).toBe(3);
    const answers: string[] = [];
    for (const [i, variant] of variants.entries()) {
      const res = await check('/risky/x', variant, `198.51.100.${i + 1}`);
      answers.push(verdict(res));
      if (isAllow(res)) expect(okHeader(res, 'x-idgate-subject')).toBe('a:mallory');
    }
    // tokenIps.max 2: the third address using the same token is too_many_ips (weight 70) → denied.
    expect(answers).toEqual(['allow/200', 'allow/200', 'risk_denied/403']);
    summary.malleability = `3 spellings of one token from 3 addresses → ${answers.join(', ')}`;
  });
});
