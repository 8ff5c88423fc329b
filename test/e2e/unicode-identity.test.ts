import { request as httpRequest } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfigYaml } from '../support/config-yaml.js';
import { createEnvoyClient, type EnvoyClient, type UpstreamCheckRequest, type UpstreamCheckResponse } from '../support/envoy-client.js';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import { invalidUtf8Fields } from '../support/strict-utf8.js';
import { createTestKey, jwksOf, mintToken, type TestKey } from '../support/tokens.js';

/**
 * Issue 18 §1: identity values from a validly signed token — any character of the whole Unicode range,
 * lone surrogates and control characters included — sent through BOTH front ends of one running
 * `idgate authz` process (the built CLI). The process must stay up, every answer must be a valid decision
 * (gRPC: a CheckResponse whose string fields are strict UTF-8, as libprotobuf demands; HTTP: a response),
 * and the identity headers must carry the documented encoding (percent-encoded UTF-8 for every byte outside
 * `!`…`~`, plus `%` and `,`), byte-identical from both front ends and decoding back to the claim.
 * Unrepresentable values are refused: `sub` → 401 `token_invalid`, a mapped claim → 403 `claims_invalid`.
 * (Build first: `npx tsc -p .`.)
 */

const AUD = 'idgate-test';
const HOST = 'shop.example.com';
let jwks: JwksServer;
let key: TestKey;
let idgate: IdgateProcess;
let client: EnvoyClient;

const ROUTES = `    - id: profile
      match: { prefix: /profile }
      require: { scopes: [read] }
      claimHeaders: { x-idgate-name: name, x-idgate-email: email, x-idgate-groups: groups }
`;

beforeAll(async () => {
  key = await createTestKey('ES256', 'unicode-key');
  jwks = await startJwksServer({ keys: jwksOf(key) });
  // A generous decision budget: this suite checks encodings, not latency, on a shared 2-core machine.
  idgate = await startIdgate({
    configYaml: testConfigYaml({ issuer: jwks.url, jwksUri: jwks.jwksUrl, extraRoutes: ROUTES, grpcYaml: 'decisionTimeout: 3s' }),
    command: 'authz',
  });
  client = createEnvoyClient(`127.0.0.1:${idgate.ports.grpc}`);
}, 30_000);

afterAll(async () => {
  client?.close();
  await idgate?.stop();
  await jwks?.close();
});

interface Claims {
  readonly sub: string;
  readonly name: string;
  readonly email: string;
  readonly groups: readonly string[];
}

/** What the documented encoding refuses: lone surrogates and control characters (C0, DEL, C1). */
function representable(value: string): boolean {
  return !/[\p{Cs}\p{Cc}]/u.test(value);
}

/** The documented encoding, written independently of idgate's: a reference model. */
function reference(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    out += byte >= 0x21 && byte <= 0x7e && byte !== 0x25 && byte !== 0x2c ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

type Expected = { kind: 'allow' } | { kind: 'deny'; status: number; code: string };

function expectedFor(c: Claims): Expected {
  const subOk = c.sub !== '' && c.sub.length <= 255 && representable(c.sub);
  if (!subOk) return { kind: 'deny', status: 401, code: 'token_invalid' };
  if (![c.name, c.email, ...c.groups].every(representable)) return { kind: 'deny', status: 403, code: 'claims_invalid' };
  return { kind: 'allow' };
}

/** One observed answer, normalised across front ends. */
interface Seen {
  readonly status: number;
  readonly code?: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly subjectMetadata?: string;
}

function checkRequest(token: string): UpstreamCheckRequest {
  return {
    attributes: {
      source: { address: { socket_address: { address: '203.0.113.7', port_value: 50000 } } },
      request: {
        http: {
          method: 'GET',
          path: '/profile/me',
          host: HOST,
          scheme: 'https',
          protocol: 'HTTP/2',
          headers: { ':authority': HOST, ':method': 'GET', ':path': '/profile/me', ':scheme': 'https', authorization: `Bearer ${token}` },
        },
      },
    },
  };
}

async function viaGrpc(token: string): Promise<Seen & { readonly invalidUtf8: readonly string[] }> {
  const bytes = await client.checkBytes(checkRequest(token), { deadlineMs: 10_000 });
  const invalidUtf8 = invalidUtf8Fields(bytes);
  const res: UpstreamCheckResponse = client.decodeResponse(bytes);
  if ((res.status?.code ?? 0) === 0) {
    const headers: Record<string, string> = {};
    for (const h of res.ok_response?.headers ?? []) headers[h.header.key] = h.header.value;
    return { status: 200, headers, subjectMetadata: res.dynamic_metadata?.fields?.subject?.stringValue, invalidUtf8 };
  }
  const body = JSON.parse(res.denied_response?.body ?? '{}') as { code?: string };
  return { status: res.denied_response?.status?.code ?? 0, code: body.code, headers: {}, invalidUtf8 };
}

function viaHttp(token: string): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: idgate.ports.http, path: '/check/profile/me', method: 'GET', headers: { host: HOST, authorization: `Bearer ${token}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const headers: Record<string, string> = {};
          // rawHeaders are latin1 strings: one char per byte, so this is the bytes on the wire.
          for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) headers[(res.rawHeaders[i] as string).toLowerCase()] = res.rawHeaders[i + 1] as string;
          const status = res.statusCode ?? 0;
          let code: string | undefined;
          if (status !== 200) code = (JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { code?: string }).code;
          resolve({ status, ...(code !== undefined ? { code } : {}), headers: status === 200 ? headers : {} });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('HTTP authz request timed out')));
    // A dropped connection (the process died) is an observation, asserted on below, not a test error.
    req.on('error', (err) => resolve({ status: 0, code: `connection failed: ${err.message}`, headers: {} }));
    req.end();
  });
}

const IDENTITY = ['x-idgate-subject', 'x-idgate-issuer', 'x-idgate-name', 'x-idgate-email', 'x-idgate-groups'] as const;

async function assertBothFrontEnds(claims: Claims): Promise<void> {
  const token = await mintToken(key, {
    iss: jwks.url,
    aud: AUD,
    now: Date.now(),
    sub: claims.sub,
    claims: { scope: 'read', name: claims.name, email: claims.email, groups: [...claims.groups] },
  });
  const grpcSeen = await viaGrpc(token);
  const httpSeen = await viaHttp(token);
  if (process.env.DEBUG_UNICODE) console.log(JSON.stringify({ claims, grpcSeen, httpSeen }));
  expect(idgate.child.exitCode, 'idgate process exited').toBeNull();
  // libprotobuf (Envoy) fails the whole RPC on a string field that is not UTF-8.
  expect(grpcSeen.invalidUtf8, 'CheckResponse string fields that are not UTF-8').toEqual([]);
  const expected = expectedFor(claims);
  for (const seen of [grpcSeen, httpSeen]) {
    if (expected.kind === 'deny') {
      expect({ status: seen.status, code: seen.code }).toEqual({ status: expected.status, code: expected.code });
      continue;
    }
    expect(seen.status).toBe(200);
    for (const name of IDENTITY) {
      // Visible ASCII only (an empty array claim sets no header at all).
      if (name === 'x-idgate-groups' && claims.groups.length === 0) expect(seen.headers[name]).toBeUndefined();
      else expect(seen.headers[name], name).toMatch(/^[\x21-\x7e]*$/);
    }
    expect(seen.headers['x-idgate-subject']).toBe(reference(`test:${claims.sub}`));
    expect(decodeURIComponent(seen.headers['x-idgate-subject'] ?? '')).toBe(`test:${claims.sub}`);
    expect(decodeURIComponent(seen.headers['x-idgate-name'] ?? '')).toBe(claims.name);
    expect(decodeURIComponent(seen.headers['x-idgate-email'] ?? '')).toBe(claims.email);
    if (claims.groups.length > 0) {
      expect((seen.headers['x-idgate-groups'] ?? '').split(',').map((g) => decodeURIComponent(g))).toEqual(claims.groups);
    }
  }
  if (expected.kind === 'allow') {
    // The same bytes from both front ends.
    for (const name of IDENTITY) expect(httpSeen.headers[name], name).toBe(grpcSeen.headers[name]);
    expect(grpcSeen.subjectMetadata).toBe(grpcSeen.headers['x-idgate-subject']);
  }
}

/** One UTF-16 unit or code point from anywhere: full Unicode, lone surrogates, C0/DEL/C1 controls, ASCII. */
const anyChar = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x9f }).map((c) => String.fromCharCode(c)) },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) },
);
const anyText = (minLength: number): fc.Arbitrary<string> => fc.array(anyChar, { minLength, maxLength: 12 }).map((a) => a.join(''));
/** Mostly representable values, so the allow path is exercised as much as the refusals. */
const cleanText = (minLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: 'binary', minLength, maxLength: 12 }).filter((s) => !/\p{Cc}/u.test(s));

describe('identity values over the whole Unicode range, through both front ends of one process', () => {
  it.each([
    ['a CJK name (the crash in issue 18)', { sub: 'alice', name: '中文', email: 'a@x', groups: [] }],
    ['a Latin Extended email', { sub: 'alice', name: 'Alice', email: 'Ā@x', groups: ['a'] }],
    ['a CJK subject', { sub: '中', name: 'n', email: 'e', groups: [] }],
    ['an emoji and a percent sign', { sub: '100%😀', name: 'José Müller', email: 'a b@x', groups: ['a,b', 'c'] }],
    ['a lone high surrogate subject', { sub: 'x\ud800', name: 'n', email: 'e', groups: [] }],
    ['a lone low surrogate name', { sub: 'alice', name: '\udc00', email: 'e', groups: [] }],
    ['a NEL (C1 control) email', { sub: 'alice', name: 'n', email: 'a\u0085b', groups: [] }],
    ['a CR/LF in a group', { sub: 'alice', name: 'n', email: 'e', groups: ['ok', 'x\r\nset-cookie: a=b'] }],
    ['a NUL subject', { sub: 'a\u0000b', name: 'n', email: 'e', groups: [] }],
  ] as const)('%s', async (_name, claims) => {
    await assertBothFrontEnds(claims);
  });

  it('property: random claims (fixed seed) never crash the process and always get the documented encoding', async () => {
    let allowed = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.record({ sub: cleanText(1), name: cleanText(0), email: cleanText(0), groups: fc.array(cleanText(0), { maxLength: 3 }) }),
          fc.record({ sub: anyText(0), name: anyText(0), email: anyText(0), groups: fc.array(anyText(0), { maxLength: 3 }) }),
        ),
        async (claims) => {
          if (expectedFor(claims).kind === 'allow') allowed++;
          else refused++;
          await assertBothFrontEnds(claims);
        },
      ),
      { seed: 20251205, numRuns: 150 },
    );
    // Both branches were exercised (a property that only ever denies proves nothing about the encoding).
    expect(allowed).toBeGreaterThan(20);
    expect(refused).toBeGreaterThan(20);
    console.log(`[scorecard] unicode identity: ${allowed + refused} claim sets × 2 front ends; ${allowed} allowed with the encoding checked, ${refused} refused`);
  }, 120_000);
});

describe('invalid UTF-8 in an incoming CheckRequest (proto3 forbids it; Envoy forwards client bytes as they are)', () => {
  /** An upstream-encoded request whose ASCII placeholder `QQQQ` is replaced by bytes that are not UTF-8. */
  function corrupted(req: UpstreamCheckRequest): Buffer {
    const bytes = Buffer.from(client.encodeRequest(req));
    for (let at = bytes.indexOf('QQQQ'); at >= 0; at = bytes.indexOf('QQQQ', at + 4)) bytes.set([0xed, 0xa0, 0x80, 0xff], at);
    return bytes;
  }

  it.each([
    ['in the host', { host: 'shopQQQQ.example.com', requestId: 'r1' }, 400, 'request_invalid'],
    ['in x-request-id, which the problem body echoes', { host: HOST, requestId: 'reqQQQQ' }, 401, 'token_missing'],
  ] as const)('%s: a deny with strict UTF-8 strings, never an RPC error', async (_name, o, status, code) => {
    const req = checkRequest('x');
    const http = req.attributes!.request!.http!;
    http.host = o.host;
    http.headers = { ':authority': o.host, ':method': 'GET', ':path': '/api/x', 'x-request-id': o.requestId };
    http.path = '/api/x';
    const bytes = await client.checkBytes(corrupted(req), { deadlineMs: 10_000 });
    expect(invalidUtf8Fields(bytes)).toEqual([]);
    const res = client.decodeResponse(bytes);
    expect(res.denied_response?.status?.code).toBe(status);
    expect((JSON.parse(res.denied_response?.body ?? '{}') as { code?: string }).code).toBe(code);
    expect(idgate.child.exitCode).toBeNull();
  });
});
