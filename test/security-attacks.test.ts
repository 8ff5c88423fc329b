import { KeyObject, sign as nodeSign, type webcrypto } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateReturnUrl } from '../src/verification/return-url.js';
import { checkRequest, isAllow, okHeader, outcomeOf, problemOf, tally } from './support/check-requests.js';
import { testConfigYaml } from './support/config-yaml.js';
import { createEnvoyClient, type EnvoyClient, type UpstreamCheckResponse } from './support/envoy-client.js';
import { startIdgate, type IdgateProcess } from './support/idgate-process.js';
import { startJwksServer, type JwksServer } from './support/jwks-server.js';
import { b64url, claimsFor, craftToken, createTestKey, jwksOf, mintToken, publicKeyPem, signRaw, type TestKey } from './support/tokens.js';

/**
 * Attack suites run END TO END through a real `idgate authz` process over gRPC (Envoy's upstream protos)
 * and its HTTP authorization mode: path-canonicalisation bypasses, the RFC 8725 JWT attack catalogue,
 * identity-header spoofing and forwarded-header trust; plus the open-redirect table of the verification
 * callback. Every case asserts "not allowed" (or allowed only as what it really is) and counts outcomes.
 */
const AUD = 'idgate-test';
let jwks: JwksServer;
let attackerJwks: JwksServer;
let idgate: IdgateProcess;
let client: EnvoyClient;
let es: TestKey;
let rsa: TestKey;
let evil: TestKey;
const summary: Record<string, string> = {};

const EXTRA_ROUTES = `    - id: admin
      match: { prefix: /admin }
      require: { scopes: [admin] }
    - id: files-admin
      match: { prefix: /files/admin }
      require: { scopes: [admin] }
    - id: files
      match: { prefix: /files }
      require: { scopes: [read] }
    - id: legacy-admin
      match: { prefix: /legacy/admin, caseSensitive: false }
      require: { scopes: [admin] }
    - id: legacy
      match: { prefix: /legacy, caseSensitive: false }
      require: { scopes: [read] }
    - id: public
      match: { prefix: /public }
      public: true
    - id: office
      match: { prefix: /office }
      require: { scopes: [read] }
      conditions:
        - name: office-net
          when: { sourceIp: { notIn: [10.0.0.0/8] } }
          then: deny
`;

function claims(extra: Record<string, unknown> = {}, ttlSeconds = 300): Record<string, unknown> {
  return claimsFor({ iss: jwks.url, aud: AUD, now: Date.now(), sub: 'alice', ttlSeconds, claims: { scope: 'read', ...extra } });
}

async function token(key: TestKey, extra: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  return mintToken(key, { iss: jwks.url, aud: AUD, now: Date.now(), sub: 'alice', claims: { scope: 'read', ...extra }, header });
}

/** Signs an exact JSON payload text (e.g. with duplicate member names) with an ES256 test key. */
function signJsonText(header: Record<string, unknown>, payloadJson: string, key: TestKey): string {
  const input = `${b64url(header)}.${Buffer.from(payloadJson, 'utf8').toString('base64url')}`;
  const keyObject = KeyObject.from(key.privateKey as unknown as webcrypto.CryptoKey);
  return `${input}.${nodeSign('sha256', Buffer.from(input), { key: keyObject, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

async function check(path: string, tok?: string, extra: { headers?: Record<string, string>; sourceAddress?: string } = {}): Promise<UpstreamCheckResponse> {
  return client.check(checkRequest({ path, ...(tok !== undefined ? { token: tok } : {}), ...extra }));
}

beforeAll(async () => {
  es = await createTestKey('ES256', 'sec-es');
  rsa = await createTestKey('RS256', 'sec-rsa');
  evil = await createTestKey('ES256', 'sec-evil');
  jwks = await startJwksServer({ keys: jwksOf(es, rsa) });
  attackerJwks = await startJwksServer({ keys: jwksOf(evil) });
  idgate = await startIdgate({
    command: 'authz',
    configYaml: testConfigYaml({ issuer: jwks.url, jwksUri: jwks.jwksUrl, extraRoutes: EXTRA_ROUTES, issuerYaml: '    requiredType: JWT' }),
  });
  client = createEnvoyClient(`127.0.0.1:${idgate.ports.grpc}`);
}, 30_000);

afterAll(async () => {
  client?.close();
  await idgate?.stop();
  await jwks?.close();
  await attackerJwks?.close();
  console.log(`[scorecard] security-attacks: ${Object.entries(summary).map(([k, v]) => `${k}: ${v}`).join('; ')}`);
});

describe('path canonicalisation bypass table (end to end)', () => {
  // `deny`: resolves to /admin (or cannot be canonicalised): must not be allowed for a read-only caller.
  // `public`: really is under /public by single percent-decoding (what Envoy and RFC 3986 do): allowed
  // as the public route, never as admin.
  const table: [string, 'deny' | 'public'][] = [
    ['//admin', 'deny'], ['///admin/users', 'deny'], ['/a/../admin', 'deny'], ['/public/../admin', 'deny'], ['/public/./../admin', 'deny'],
    ['/public/x/../../admin', 'deny'], ['/public/%2e%2e/admin', 'deny'], ['/public/%2E%2E/admin', 'deny'], ['/public/.%2e/admin', 'deny'],
    ['/public/%2e./admin', 'deny'], ['/public/..%2fadmin', 'deny'], ['/public/%2e%2e%2fadmin', 'deny'], ['/public%2f..%2fadmin', 'deny'],
    ['/public/..;/admin', 'deny'], ['/public/.;/admin', 'deny'], ['/public/..%3b/admin', 'deny'], ['/admin;/users', 'deny'],
    ['/public/%c0%ae%c0%ae/admin', 'deny'], ['/public/%e0%80%ae%e0%80%ae/admin', 'deny'], ['/public%00/../admin', 'deny'], ['/admin%00', 'deny'],
    ['/public/..\\admin', 'deny'], ['/public\\..\\admin', 'deny'], ['/public/%5c../admin', 'deny'], ['/ADMIN', 'deny'], ['/Admin/users', 'deny'],
    ['/admin%20', 'deny'], ['/admin ', 'deny'], ['/admin/.', 'deny'], ['/./admin', 'deny'], ['/%61dmin', 'deny'], ['/%2561dmin', 'deny'],
    ['/admin%09', 'deny'], ['/admin%0d%0a', 'deny'], ['/..', 'deny'], ['/public/../../admin', 'deny'], ['admin', 'deny'], ['*', 'deny'],
    ['/public/%252e%252e/admin', 'public'], ['/public/%252e%252e%252fadmin', 'public'], ['/public#/../admin', 'public'], ['/public?/../admin', 'public'],
    ['/public/admin', 'public'], ['/public/.admin', 'public'],
  ];

  it(`none of ${table.length} hostile paths reaches a route it should not`, async () => {
    const t = await token(es);
    const outcomes: string[] = [];
    for (const [path, expected] of table) {
      const res = await check(path, t);
      const outcome = outcomeOf(res);
      outcomes.push(outcome);
      if (expected === 'deny') expect(isAllow(res), path).toBe(false);
      else {
        expect(isAllow(res), path).toBe(true);
        expect(res.dynamic_metadata?.fields?.route?.stringValue, path).toBe('public');
      }
    }
    // Not vacuous: the admin route itself is reachable with the admin scope, and denied without it.
    expect(isAllow(await check('/admin/users', await token(es, { scope: 'admin' })))).toBe(true);
    expect(problemOf(await check('/admin/users', t)).code).toBe('claims_mismatch');
    // The breakdown the scorecard publishes (docs/security.md row 6b) is asserted, not just printed.
    expect(tally(outcomes)).toEqual({ path_invalid: 20, claims_mismatch: 13, no_route: 4, request_invalid: 1, allow: 6 });
    summary.paths = `${table.length} paths → ${JSON.stringify(tally(outcomes))}`;
  });
});

// Java servlet containers (Tomcat, Spring) strip `;` path parameters from each segment before routing:
// `/files/admin;x/users` reaches the upstream's /files/admin/users handler. Before the fix the policy saw
// the literal segment `admin;x`, missed the admin route and allowed a read-only token under /files.
const PATH_PARAMETER_ATTACKS = [
  '/files/admin;x/users', '/files/admin;/users', '/files/admin;jsessionid=1/users', '/files/admin;x=1;y=2/users',
  '/files/admin%3Bx/users', '/files/admin%3bx/users', '/files/admin%3B/users', '/files;x/admin/users', '/files/admin;x',
];

describe('path parameters (";") through both front ends (end to end)', () => {
  it(`gRPC: ${PATH_PARAMETER_ATTACKS.length} path-parameter spellings of an admin path are refused with request_invalid`, async () => {
    const t = await token(es);
    for (const path of PATH_PARAMETER_ATTACKS) {
      const res = await check(path, t);
      expect(isAllow(res), path).toBe(false);
      expect(res.denied_response?.status?.code, path).toBe(400);
      expect(problemOf(res).code, path).toBe('request_invalid');
    }
    // Not vacuous: the read route allows this token, and the admin route denies it on its own.
    expect(isAllow(await check('/files/docs', t))).toBe(true);
    expect(problemOf(await check('/files/admin/users', t)).code).toBe('claims_mismatch');
    summary['path-params:grpc'] = `${PATH_PARAMETER_ATTACKS.length} → request_invalid`;
  });

  it(`HTTP mode: the same ${PATH_PARAMETER_ATTACKS.length} spellings are refused with request_invalid`, async () => {
    const base = `http://127.0.0.1:${idgate.ports.http}/check`;
    const t = await token(es);
    for (const path of PATH_PARAMETER_ATTACKS) {
      const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${t}` } });
      await res.arrayBuffer();
      expect(res.status, path).toBe(400);
      expect(res.headers.get('x-idgate-reason'), path).toBe('request_invalid');
    }
    const ok = await fetch(`${base}/files/docs`, { headers: { authorization: `Bearer ${t}` } });
    await ok.arrayBuffer();
    expect(ok.status).toBe(200);
    summary['path-params:http'] = `${PATH_PARAMETER_ATTACKS.length} → request_invalid`;
  });
});

// An IIS/ASP.NET upstream serves /legacy/ADMIN/users from its /legacy/admin handler. With
// `caseSensitive: false` the admin route covers every spelling, so the read-only catch-all never does.
const CASE_SPELLINGS = ['/legacy/ADMIN/users', '/Legacy/Admin', '/LEGACY/aDmIn/x', '/legacy/%41dmin/users', '/legacy/admin/users'];

describe('match.caseSensitive: false through both front ends (end to end)', () => {
  it(`gRPC and HTTP: ${CASE_SPELLINGS.length} case spellings of an admin path all select the admin route`, async () => {
    const t = await token(es);
    const base = `http://127.0.0.1:${idgate.ports.http}/check`;
    for (const path of CASE_SPELLINGS) {
      expect(problemOf(await check(path, t)).code, path).toBe('claims_mismatch');
      const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${t}` } });
      await res.arrayBuffer();
      expect(res.status, path).toBe(403);
      expect(res.headers.get('x-idgate-reason'), path).toBe('claims_mismatch');
    }
    expect(isAllow(await check('/LEGACY/reports', t))).toBe(true);
    expect(isAllow(await check('/Legacy/ADMIN/users', await token(es, { scope: 'admin' })))).toBe(true);
    summary.case = `${CASE_SPELLINGS.length} spellings × 2 front ends → claims_mismatch`;
  });
});

describe('policy.pathParameters: strip (opt-in, end to end)', () => {
  let stripping: IdgateProcess;
  let stripClient: EnvoyClient;
  beforeAll(async () => {
    stripping = await startIdgate({
      command: 'authz',
      configYaml: testConfigYaml({ issuer: jwks.url, jwksUri: jwks.jwksUrl, extraRoutes: EXTRA_ROUTES, policyYaml: '  pathParameters: strip' }),
    });
    stripClient = createEnvoyClient(`127.0.0.1:${stripping.ports.grpc}`);
  }, 30_000);
  afterAll(async () => {
    stripClient?.close();
    await stripping?.stop();
  });

  it('matches on the path without parameters (as the servlet upstream routes), and still refuses an encoded ";"', async () => {
    const t = await token(es);
    const grpc = (path: string, tok = t) => stripClient.check(checkRequest({ path, token: tok }));
    for (const path of ['/files/admin;x/users', '/files;x/admin/users', '/files/admin;jsessionid=1']) {
      expect(problemOf(await grpc(path)).code, path).toBe('claims_mismatch');
    }
    expect(isAllow(await grpc('/files/admin;x/users', await token(es, { scope: 'admin' })))).toBe(true);
    expect(isAllow(await grpc('/files/doc;v=2'))).toBe(true);
    expect(problemOf(await grpc('/files/admin%3Bx/users')).code).toBe('request_invalid');
    for (const path of ['/files/..;/admin', '/files/;x/admin']) expect(problemOf(await grpc(path)).code, path).toBe('path_invalid');
    const base = `http://127.0.0.1:${stripping.ports.http}/check`;
    const res = await fetch(`${base}/files/admin;x/users`, { headers: { authorization: `Bearer ${t}` } });
    await res.arrayBuffer();
    expect(res.status).toBe(403);
    expect(res.headers.get('x-idgate-reason')).toBe('claims_mismatch');
  });
});

describe('JWT attacks after RFC 8725 (end to end)', () => {
  it('rejects every forged or malformed token, and the attacker-named key URLs are never fetched', async () => {
    const c = () => claims();
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, () => Promise<string> | string, string][] = [
      ...['none', 'None', 'NONE', 'nOnE'].flatMap((alg): [string, () => string, string][] => [
        [`alg ${alg}, empty signature`, () => craftToken({ alg, typ: 'JWT' }, c()), 'token_invalid'],
        [`alg ${alg}, junk signature`, () => craftToken({ alg, typ: 'JWT', kid: es.kid }, c(), 'c2lnbmF0dXJl'), 'token_invalid'],
      ]),
      ['RS256→HS256 confusion with the RSA public key PEM', () => signRaw({ alg: 'HS256', typ: 'JWT', kid: rsa.kid }, c(), { hs256: publicKeyPem(rsa) }), 'token_invalid'],
      ['RS256→HS256 confusion with the JWK modulus', () => signRaw({ alg: 'HS256', typ: 'JWT', kid: rsa.kid }, c(), { hs256: String(rsa.publicJwk.n) }), 'token_invalid'],
      ['kid path traversal', () => token(es, {}, { kid: '../../../../etc/passwd' }), 'token_invalid'],
      ['kid SQL injection', () => token(es, {}, { kid: "x' UNION SELECT 'secret' --" }), 'token_invalid'],
      ['kid 8 KB', () => token(es, {}, { kid: 'k'.repeat(8_192) }), 'token_invalid'],
      ['kid with NUL and newline', () => token(es, {}, { kid: 'a\u0000b\nc' }), 'token_invalid'],
      ['attacker key via jku', () => token(evil, {}, { jku: attackerJwks.jwksUrl }), 'token_invalid'],
      ['attacker key via x5u', () => token(evil, {}, { x5u: `${attackerJwks.url}/cert.pem` }), 'token_invalid'],
      ['attacker key embedded as jwk', () => signRaw({ alg: 'ES256', typ: 'JWT', jwk: evil.publicJwk }, c(), evil), 'token_invalid'],
      ['attacker key embedded as jwk under a real kid', () => signRaw({ alg: 'ES256', typ: 'JWT', kid: es.kid, jwk: evil.publicJwk }, c(), evil), 'token_invalid'],
      ['unknown crit header', () => signRaw({ alg: 'ES256', typ: 'JWT', kid: es.kid, crit: ['x-custom'], 'x-custom': true }, c(), es), 'token_invalid'],
      ['nested JWT (cty: JWT)', () => signRaw({ alg: 'ES256', typ: 'JWT', kid: es.kid, cty: 'JWT' }, c(), es), 'token_invalid'],
      ['JWE compact (5 parts)', () => `${b64url({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.${'A'.repeat(40)}.${'B'.repeat(16)}.${'C'.repeat(40)}.${'D'.repeat(22)}`, 'token_invalid'],
      ['wrong typ (at+jwt) when JWT is required', () => token(es, {}, { typ: 'at+jwt' }), 'token_invalid'],
      ['no typ when JWT is required', () => signRaw({ alg: 'ES256', kid: es.kid }, c(), es), 'token_invalid'],
      ['ECDSA r=s=0 (CVE-2022-21449)', () => `${b64url({ alg: 'ES256', typ: 'JWT', kid: es.kid })}.${b64url(c())}.${Buffer.alloc(64).toString('base64url')}`, 'token_invalid'],
      ['ECDSA empty signature', () => `${b64url({ alg: 'ES256', typ: 'JWT', kid: es.kid })}.${b64url(c())}.`, 'token_invalid'],
      ['signature of another token', async () => `${(await token(es)).split('.').slice(0, 2).join('.')}.${(await token(es, { scope: 'admin' })).split('.')[2]}`, 'token_invalid'],
      ['100 KB token', () => `${b64url({ alg: 'ES256', kid: es.kid })}.${b64url({ ...c(), pad: 'x'.repeat(100_000) })}.AAAA`, 'token_invalid|request_invalid'],
      ['expired beyond the 30 s skew', () => signRaw({ alg: 'ES256', typ: 'JWT', kid: es.kid }, { ...c(), exp: now - 45 }, es), 'token_expired'],
      ['nbf beyond the skew', () => signRaw({ alg: 'ES256', typ: 'JWT', kid: es.kid }, { ...c(), nbf: now + 45 }, es), 'token_not_yet_valid'],
      ['iat in the future beyond the skew', () => signRaw({ alg: 'ES256', typ: 'JWT', kid: es.kid }, { ...c(), iat: now + 45 }, es), 'token_not_yet_valid'],
      ['no exp', () => signRaw({ alg: 'ES256', typ: 'JWT', kid: es.kid }, { iss: jwks.url, aud: AUD, sub: 'alice', scope: 'read' }, es), 'token_invalid'],
      ['wrong audience', () => mintToken(es, { iss: jwks.url, aud: 'another-api', now: Date.now(), sub: 'alice', claims: { scope: 'read' } }), 'token_invalid'],
      ['untrusted issuer signing with a trusted key', () => mintToken(es, { iss: 'https://evil.example', aud: AUD, now: Date.now(), sub: 'alice', claims: { scope: 'read' } }), 'token_invalid'],
      ['sub with a control character', () => token(es, { sub: 'alice\u0000admin' }), 'token_invalid'],
    ];
    const outcomes: string[] = [];
    for (const [name, make, expected] of cases) {
      const res = await check('/api/orders', await make());
      const outcome = outcomeOf(res);
      outcomes.push(outcome);
      expect(isAllow(res), name).toBe(false);
      expect(expected.split('|'), `${name}: ${outcome}`).toContain(outcome);
    }
    expect(attackerJwks.counts.jwks).toBe(0);
    // Skew edges inside the tolerance are accepted (the table above is not vacuous).
    for (const edge of [{ exp: now - 20 }, { nbf: now + 20 }, { iat: now + 20 }]) {
      expect(isAllow(await check('/api/orders', signRaw({ alg: 'ES256', typ: 'JWT', kid: es.kid }, { ...c(), ...edge }, es))), JSON.stringify(edge)).toBe(true);
    }
    summary.jwt = `${cases.length} attacks → ${JSON.stringify(tally(outcomes))}, attacker JWKS fetched ${attackerJwks.counts.jwks} times; 3/3 in-skew edges accepted`;
  });

  it('duplicate claims: the last member wins (RFC 7515 §5.2, as jose parses), consistently, so they cannot escalate', async () => {
    const base = claims();
    const json = (dup: string) => `{"iss":${JSON.stringify(base.iss)},"aud":"${AUD}","exp":${String(base.exp)},"iat":${String(base.iat)},${dup}}`;
    const header = { alg: 'ES256', typ: 'JWT', kid: es.kid };
    // scope "admin" then "read": the caller is read-only everywhere.
    const scoped = signJsonText(header, json('"sub":"alice","scope":"admin","scope":"read"'), es);
    expect(problemOf(await check('/admin/users', scoped)).code).toBe('claims_mismatch');
    expect(isAllow(await check('/api/orders', scoped))).toBe(true);
    // sub "admin" then "alice": the subject is the last one in every header idgate sets.
    const subbed = signJsonText(header, json('"sub":"admin","sub":"alice","scope":"read"'), es);
    const res = await check('/api/orders', subbed);
    expect(okHeader(res, 'x-idgate-subject')).toBe('test:alice');
    summary.duplicates = 'last member wins for scope and sub; no escalation';
  });
});

describe('identity-header spoofing and forwarded-header trust', () => {
  const forged = {
    'x-idgate-subject': 'test:mallory',
    'x-idgate-issuer': 'evil',
    'x-idgate-verified': 'kyc,adult',
    'x-idgate-email': 'ceo@corp.example',
    'x-idgate-shadow-decision': 'allow',
    'x-idgate-anything': '1',
    // Regression (issue 11): Envoy forwards underscore names by default and WSGI/CGI/Rack upstreams read
    // them as the real header (HTTP_X_IDGATE_ROLES); Envoy lower-cases every name it passes on.
    'x-idgate_roles': 'admin',
    x_idgate_email: 'ceo@corp.example',
    x_idgate_subject: 'test:mallory',
  };

  it.each([
    ['an authenticated allow', '/api/orders', true],
    ['a public route (no caller)', '/public/page', false],
  ])('client-sent x-idgate-* headers never reach the upstream on %s', async (_name, path, withToken) => {
    const res = await check(path, withToken ? await token(es, { email: 'alice@example.com' }) : undefined, { headers: forged });
    expect(isAllow(res)).toBe(true);
    const removed = new Set(res.ok_response?.headers_to_remove ?? []);
    const set = new Map((res.ok_response?.headers ?? []).map((h) => [h.header.key, h]));
    for (const [name, value] of Object.entries(forged)) {
      const replaced = set.get(name);
      expect(removed.has(name) || (replaced !== undefined && replaced.append?.value === false && replaced.header.value !== value), name).toBe(true);
    }
    if (withToken) expect(okHeader(res, 'x-idgate-subject')).toBe('test:alice');
    summary[`spoof:${path}`] = `${Object.keys(forged).length}/${Object.keys(forged).length} forged headers stripped or overwritten`;
  });

  it('x-forwarded-for from an untrusted peer is ignored for source-IP decisions (gRPC)', async () => {
    const t = await token(es);
    const spoofed = await check('/office/desk', t, { headers: { 'x-forwarded-for': '10.1.2.3' }, sourceAddress: '198.51.100.4' });
    expect(problemOf(spoofed).code).toBe('network_denied');
    const spoofedChain = await check('/office/desk', t, { headers: { 'x-forwarded-for': '10.1.2.3, 10.9.9.9' }, sourceAddress: '198.51.100.4' });
    expect(problemOf(spoofedChain).code).toBe('network_denied');
    expect(isAllow(await check('/office/desk', t, { sourceAddress: '10.1.2.3' }))).toBe(true);
  });

  it('HTTP mode: x-forwarded-for from an untrusted peer is ignored; x-forwarded-uri/x-original-uri are a 400', async () => {
    const base = `http://127.0.0.1:${idgate.ports.http}/check`;
    const t = await token(es);
    const xff = await fetch(`${base}/office/desk`, { headers: { authorization: `Bearer ${t}`, 'x-forwarded-for': '10.1.2.3' } });
    expect(xff.status).toBe(403);
    expect(xff.headers.get('x-idgate-reason')).toBe('network_denied');
    const outcomes: number[] = [];
    const describing: Record<string, string>[] = [{ 'x-forwarded-uri': '/public/x' }, { 'x-original-uri': '/public/x' }, { 'x-forwarded-host': 'other' }, { 'x-forwarded-method': 'GET' }];
    for (const h of describing) {
      const res = await fetch(`${base}/admin/users`, { headers: { authorization: `Bearer ${t}`, ...h } });
      outcomes.push(res.status);
      expect(res.status, JSON.stringify(h)).toBe(400);
    }
    summary.forwarded = `XFF ignored (gRPC 2/2, HTTP 1/1 network_denied); describing headers from untrusted peer → ${outcomes.join('/')} `;
  });
});

describe('open redirects in the verification callback return target', () => {
  const baseUrl = 'https://idgate.shop.example.com';
  const allow = ['https://partner.example.net'];
  const hostile = [
    '//evil.com', '//evil.com/%2e%2e', '/\\evil.com', '\\\\evil.com', 'https:\\\\evil.com', 'https://evil.com\\@shop.example.com',
    'https://shop.example.com@evil.com', 'https://user:pw@shop.example.com/', 'javascript:alert(1)', 'JaVaScRiPt:alert(1)', ' javascript:alert(1)',
    'data:text/html,<script>alert(1)</script>', 'vbscript:msgbox', 'file:///etc/passwd', 'ftp://shop.example.com/', 'https://shop.example.com.evil.com/',
    'https://evilshop.example.com.evil/', 'https://shop.exаmple.com/', 'https://shоp.example.com/', 'https://xn--shop-ex.example.org/', 'https://evil.com#@shop.example.com',
    'https://evil.com?@shop.example.com', 'http://partner.example.net/', 'https://partner.example.net.evil.com/', 'https://example.com/', 'https://other.example.com/',
    'https:evil.com', 'http://[::1]/', 'http://127.0.0.1/', '', 'null',
    // Same host or same site, but another origin (port or scheme): before the fix these were accepted.
    'http://shop.example.com/', 'https://shop.example.com:8443/', 'http://idgate.shop.example.com/', 'https://idgate.shop.example.com:9443/',
    'http://www.shop.example.com:443/', 'https://partner.example.net:8443/back',
  ];
  it(`rejects ${hostile.length} hostile return targets and keeps same-site and allow-listed ones`, () => {
    const accepted = hostile.filter((c) => validateReturnUrl(c, baseUrl, allow) !== undefined);
    expect(accepted).toEqual([]);
    for (const ok of ['https://shop.example.com/payments', 'https://www.shop.example.com/x', 'https://idgate.shop.example.com/', 'https://partner.example.net/back']) {
      expect(validateReturnUrl(ok, baseUrl, allow), ok).toBeDefined();
    }
    summary.redirects = `${hostile.length} hostile targets → 0 accepted`;
  });

  it('regression: a base host under a public suffix does not make every tenant of that suffix "same site"', () => {
    expect(validateReturnUrl('https://evil.co.uk/', 'https://verify.shop.co.uk', [])).toBeUndefined();
    expect(validateReturnUrl('https://shop.co.uk/', 'https://verify.shop.co.uk', [])).toBe('https://shop.co.uk/');
    expect(validateReturnUrl('https://www.shop.co.uk/', 'https://verify.shop.co.uk', [])).toBe('https://www.shop.co.uk/');
    expect(validateReturnUrl('https://evil.github.io/', 'https://idgate.myapp.github.io', [])).toBeUndefined();
    expect(validateReturnUrl('https://evil.com.au/', 'https://verify.com.au', [])).toBeUndefined();
    // The parent domain is the base host minus its first label, not its last two labels.
    expect(validateReturnUrl('https://x.example.com/', 'https://idgate.a.example.com', [])).toBeUndefined();
    expect(validateReturnUrl('https://b.a.example.com/', 'https://idgate.a.example.com', [])).toBeDefined();
  });
});
