import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/config-error.js';
import { parseConfig } from '../src/config/parse-config.js';
import { canonicalizePath } from '../src/core/canonical-path.js';
import { verifyWebhookSignature } from '../src/didit/verify-webhook-signature.js';
import { decodeCheckRequest } from '../src/extauthz/check-codec.js';
import type { CheckRequestMessage } from '../src/extauthz/check-wire-types.js';
import { toRequestContext } from '../src/extauthz/to-request-context.js';
import { extractCredential, parseCookieHeader } from '../src/identity/token-sources.js';
import { compilePathMatcher } from '../src/policy/path-matcher.js';
import { signWebhook } from '../src/sandbox/webhook-dispatcher.js';
import { createEnvoyClient, type UpstreamCheckRequest } from './support/envoy-client.js';
import { requestContextWith } from './support/tokens.js';

/**
 * Property-based fuzzing (fast-check) of every parser that sees hostile input. Each property runs a fixed
 * number of cases with a fixed seed, so a failure reproduces; the counts go to docs/security.md.
 */
const SEED = 20_251_127;
const counts: Record<string, number> = {};
function runs(name: string, n: number): { numRuns: number; seed: number } {
  counts[name] = n;
  return { numRuns: n, seed: SEED };
}

afterAll(() => {
  console.log(`[scorecard] security-fuzz: ${Object.entries(counts).map(([k, v]) => `${k}=${v}`).join(', ')}`);
});

// ------------------------------------------------------------------ CheckRequest mapping

const upstream = createEnvoyClient('127.0.0.1:9');
afterAll(() => upstream.close());

const headerName = fc.oneof(
  fc.constantFrom(':path', ':method', ':authority', 'host', 'authorization', 'cookie', 'x-forwarded-for', 'x-request-id', 'x-idgate-subject', 'accept'),
  fc.string({ maxLength: 20 }),
);
const headerValue = fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit: 'binary', maxLength: 60 }), fc.constant(''));
const peer = fc.record(
  {
    address: fc.record({ socket_address: fc.record({ address: fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 40 })), port_value: fc.nat(65_535) }, { requiredKeys: [] }) }, { requiredKeys: [] }),
    principal: fc.string({ maxLength: 40 }),
  },
  { requiredKeys: [] },
);
const upstreamRequest: fc.Arbitrary<UpstreamCheckRequest> = fc.record(
  {
    attributes: fc.record(
      {
        source: peer,
        destination: peer,
        request: fc.record(
          {
            time: fc.record({ seconds: fc.oneof(fc.nat(), fc.constant('9223372036854775807')), nanos: fc.nat(999_999_999) }),
            http: fc.record(
              {
                id: fc.string({ maxLength: 30 }),
                method: fc.oneof(fc.constantFrom('GET', 'POST', 'get', ''), fc.string({ maxLength: 10 })),
                headers: fc.dictionary(headerName, headerValue, { maxKeys: 12 }),
                header_map: fc.record({ headers: fc.array(fc.record({ key: headerName, value: headerValue }), { maxLength: 8 }) }),
                path: fc.oneof(fc.string({ maxLength: 80 }), fc.constantFrom('/', '//admin', '/a/../b', '/%2e%2e/x', '*')),
                host: fc.oneof(fc.domain(), fc.string({ maxLength: 40 }), fc.constant('[::1]:8080')),
                scheme: fc.constantFrom('http', 'https', ''),
                size: fc.oneof(fc.nat(), fc.constant('-1')),
                protocol: fc.constantFrom('HTTP/1.1', 'HTTP/2', ''),
                body: fc.string({ maxLength: 100 }),
              },
              { requiredKeys: [] },
            ),
          },
          { requiredKeys: [] },
        ),
        context_extensions: fc.dictionary(fc.string({ maxLength: 12 }), fc.string({ maxLength: 20 }), { maxKeys: 4 }),
        metadata_context: fc.record({
          filter_metadata: fc.dictionary(
            fc.string({ maxLength: 12 }),
            fc.record({ fields: fc.dictionary(fc.string({ maxLength: 8 }), fc.record({ stringValue: fc.string({ maxLength: 12 }) }), { maxKeys: 3 }) }),
            { maxKeys: 2 },
          ),
        }),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
) as fc.Arbitrary<UpstreamCheckRequest>;

describe('CheckRequest decoding and mapping', () => {
  it('random upstream-encoded CheckRequests: decode + toRequestContext never throw, and a context always has a canonical path or a pathError', () => {
    fc.assert(
      fc.property(upstreamRequest, (req) => {
        const bytes = upstream.encodeRequest(req);
        const message = decodeCheckRequest(bytes) as CheckRequestMessage;
        const result = toRequestContext(message, 1_700_000_000_000);
        if (result.ok) {
          const ctx = result.value;
          expect(typeof ctx.method).toBe('string');
          if (ctx.pathError === undefined) expect(ctx.path.startsWith('/')).toBe(true);
          else expect(ctx.path).toBe('');
        } else {
          expect(typeof result.error).toBe('string');
        }
      }),
      runs('checkrequest-structured', 1_500),
    );
  });

  it('random bytes: decode either throws (the server answers request_invalid) or yields something toRequestContext maps without throwing', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        let message: unknown;
        try {
          message = decodeCheckRequest(bytes);
        } catch {
          return;
        }
        expect(() => toRequestContext(message as CheckRequestMessage, 0)).not.toThrow();
      }),
      runs('checkrequest-bytes', 3_000),
    );
  });
});

// ------------------------------------------------------------------ path canonicalisation

/** Percent-decodes a segment once into UTF-8 (fatal); undefined when the bytes are not valid UTF-8. */
function decodeSegment(seg: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < seg.length; i++) {
    if (seg[i] === '%' && /^[0-9a-fA-F]{2}$/.test(seg.slice(i + 1, i + 3))) {
      bytes.push(parseInt(seg.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      for (const b of Buffer.from(seg[i] as string, 'utf8')) bytes.push(b);
    }
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
  } catch {
    return undefined;
  }
}

/**
 * The reference model: split off query and fragment, drop each segment's `;` parameters (as servlet
 * containers do, before decoding), decode each segment once, RFC 3986 dot removal, merge empty segments.
 */
function referencePath(raw: string): string | undefined {
  const path = raw.split('#')[0]?.split('?')[0] ?? '';
  const segments = path.split('/').slice(1);
  const out: string[] = [];
  let trailing = false;
  for (let i = 0; i < segments.length; i++) {
    const rawSeg = segments[i] as string;
    const semicolon = rawSeg.indexOf(';');
    const seg = decodeSegment(semicolon >= 0 ? rawSeg.slice(0, semicolon) : rawSeg);
    if (seg === undefined) return undefined;
    const last = i === segments.length - 1;
    if (seg === '' || seg === '.') {
      if (last) trailing = out.length > 0;
      continue;
    }
    if (seg === '..') {
      out.pop();
      if (last) trailing = out.length > 0;
      continue;
    }
    out.push(seg);
  }
  return `/${out.join('/')}${trailing ? '/' : ''}`;
}

function decodedCanonical(path: string): string {
  return path
    .split('/')
    .map((s) => decodeSegment(s) ?? '\u0000undecodable')
    .join('/');
}

const PATH_PIECES = [
  '/', '/', '/', '.', '..', '%2e', '%2E', '%2e%2e', '.%2e', '%2f', '%2F', '%5c', '\\', 'admin', 'ADMIN', 'Admin', 'public', 'api', 'a', 'x',
  '%61', '%41dmin', ';', '..;', '%3b', '%00', '%20', ' ', '%c0%ae', '%c3%a9', '%e2%80%ae', 'é', '~', '%7e', '%25', '%252e', '%', '%zz', '?', '#', '&', '=', '|', '"', '%ff',
];
const rawPath = fc.array(fc.constantFrom(...PATH_PIECES), { minLength: 1, maxLength: 12 }).map((parts) => `/${parts.join('')}`);
const ROUTES = [{ prefix: '/admin' }, { prefix: '/public' }, { exact: '/api/x' }, { glob: '/a/*/admin' }];
const matchers = ROUTES.map((r) => compilePathMatcher([r]));

describe('path canonicalisation against a reference model', () => {
  it('an accepted path decodes to exactly what the reference model resolves, and routes identically', () => {
    let accepted = 0;
    fc.assert(
      fc.property(rawPath, (raw) => {
        const result = canonicalizePath(raw);
        if (!result.ok) return;
        accepted += 1;
        const decoded = decodedCanonical(result.path);
        expect(result.path.startsWith('/')).toBe(true);
        expect(result.path).not.toMatch(/\/\/|%2f|%5c|%00|\\/i);
        const segs = decoded.split('/').slice(1);
        for (const s of segs) {
          expect(s).not.toBe('.');
          expect(s).not.toBe('..');
          expect(s.includes('\u0000')).toBe(false);
        }
        const ref = referencePath(raw);
        expect(decoded).toBe(ref);
        for (const m of matchers) expect(m({ path: result.path })).toBe(m({ path: ref as string }));
      }),
      runs('canonical-path', 5_000),
    );
    expect(accepted).toBeGreaterThan(500);
  });

  it('never throws on arbitrary strings, and rejects raw control characters and non-ASCII in the path', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 120 }), (raw) => {
        const result = canonicalizePath(raw);
        if (result.ok) expect(/[\u0000-\u0020\u007f-\uffff\\]/.test(raw.split(/[?#]/)[0] ?? '')).toBe(false);
      }),
      runs('canonical-path-arbitrary', 3_000),
    );
  });
});

// ------------------------------------------------------------------ credential extraction

describe('header parsing', () => {
  it('authorization and cookie extraction never throw; a token is a whitespace-free part of the header it came from', () => {
    const value = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.tuple(fc.constantFrom('Bearer', 'bearer', 'BEARER', 'Basic', 'Bearer\t', 'Bearerx', ''), fc.string({ maxLength: 60 })).map(([a, b]) => `${a} ${b}`),
    );
    fc.assert(
      fc.property(value, fc.string({ maxLength: 120 }), (authorization, cookie) => {
        const ctx = requestContextWith({ authorization, cookie });
        const fromHeader = extractCredential(ctx, [{ type: 'header', name: 'authorization', scheme: 'Bearer' }]);
        if (fromHeader.kind === 'token') {
          expect(authorization.toLowerCase().trimStart().startsWith('bearer')).toBe(true);
          expect(authorization).toContain(fromHeader.token);
        }
        const fromCookie = extractCredential(ctx, [{ type: 'cookie', name: 'session' }]);
        if (fromCookie.kind === 'token') expect(cookie).toContain(fromCookie.token);
        expect(parseCookieHeader(cookie).size).toBeLessThanOrEqual(200);
      }),
      runs('credential-extraction', 3_000),
    );
  });

  it('the first of two same-named cookies wins (an appended cookie cannot override the real one)', () => {
    const cookies = parseCookieHeader('session=real; session=forged');
    expect(cookies.get('session')).toBe('real');
  });
});

// ------------------------------------------------------------------ webhook signatures

const SECRET = 'fuzz-webhook-secret-0123456789abcdef';
const payloadArb = fc.record({
  session_id: fc.uuid(),
  status: fc.constantFrom('Approved', 'Declined', 'In Review', 'Not Started'),
  webhook_type: fc.constant('status.updated'),
  vendor_data: fc.string({ maxLength: 30 }),
  workflow_id: fc.uuid(),
  timestamp: fc.constant(1_700_000_000),
  decision: fc.option(fc.record({ status: fc.constantFrom('Approved', 'Declined'), note: fc.string({ maxLength: 30 }) }), { nil: undefined }),
});
const NOW = 1_700_000_000_000;
const hex = fc.oneof(fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }), fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), maxLength: 70 }));

describe('webhook bodies and signatures', () => {
  it('random bodies and signature headers: never throws and never accepts without a valid HMAC', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.record({ 'x-signature': hex, 'x-signature-v2': hex, 'x-signature-simple': hex, 'x-timestamp': fc.constantFrom('1700000000', 'abc', '', '99999999999999999') }, { requiredKeys: [] }),
        (body, headers) => {
          const result = verifyWebhookSignature({ rawBody: Buffer.from(body), headers, secrets: [SECRET], now: NOW });
          expect(result.ok).toBe(false);
        },
      ),
      runs('webhook-random', 2_000),
    );
  });

  it('a signed delivery with a mutated body or the wrong secret is never accepted with content that differs from what was signed', () => {
    fc.assert(
      fc.property(payloadArb, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean(), (payload, at, byte, wrongSecret) => {
        const clean = Object.fromEntries(Object.entries(payload).filter(([, v]) => v !== undefined));
        const signed = signWebhook(wrongSecret ? 'another-secret-entirely-0123456789' : SECRET, clean);
        const body = Buffer.from(signed.body, 'utf8');
        if (body.length > 0) body[at % body.length] = byte;
        const result = verifyWebhookSignature({ rawBody: body, headers: signed.headers, secrets: [SECRET], now: NOW });
        if (!result.ok) return;
        expect(wrongSecret).toBe(false);
        const got = result.payload as Record<string, unknown>;
        if (result.needsRefetch) {
          // Only X-Signature-Simple matched: the four fields it covers must be the signed ones.
          for (const k of ['timestamp', 'session_id', 'status', 'webhook_type']) expect(got[k]).toEqual(clean[k as keyof typeof clean]);
        } else {
          expect(got).toEqual(clean);
        }
      }),
      runs('webhook-mutated', 3_000),
    );
  });

  it('a correct HMAC over the raw body is accepted (the property above is not vacuous)', () => {
    const payload = { session_id: '11111111-2222-4333-8444-555555555555', status: 'Approved', webhook_type: 'status.updated', timestamp: 1_700_000_000 };
    const signed = signWebhook(SECRET, payload);
    const ok = verifyWebhookSignature({ rawBody: Buffer.from(signed.body), headers: signed.headers, secrets: [SECRET], now: NOW });
    expect(ok.ok).toBe(true);
    const hmac = createHmac('sha256', SECRET).update(signed.body).digest('hex');
    expect(signed.headers['x-signature']).toBe(hmac);
  });
});

// ------------------------------------------------------------------ policy loading

const EXAMPLE = readFileSync(resolve(import.meta.dirname, '../examples/idgate.yaml'), 'utf8');

function expectConfigOrConfigError(text: string): 'config' | 'error' {
  try {
    parseConfig(text, { sourceName: 'fuzz.yaml', env: {} });
    return 'config';
  } catch (err) {
    if (!(err instanceof ConfigError)) throw new Error(`parseConfig threw ${String(err)} for:\n${text.slice(0, 500)}`);
    return 'error';
  }
}

describe('policy loading', () => {
  it('random YAML documents: a config or a ConfigError, never another exception', () => {
    const doc = fc.oneof(
      fc.anything({ maxDepth: 4 }).map((v) => stringify(v) ?? ''),
      fc.dictionary(fc.constantFrom('server', 'issuers', 'policy', 'store', 'didit', 'workflows', 'network', 'logging', 'headers', 'risk', 'context'), fc.anything({ maxDepth: 3 })).map((v) => stringify(v) ?? ''),
      fc.string({ maxLength: 200 }),
    );
    fc.assert(fc.property(doc, (text) => void expectConfigOrConfigError(text)), runs('config-random', 1_000));
  });

  it('the example config with random edits: a config or a ConfigError, never another exception', () => {
    const lines = EXAMPLE.split('\n');
    const edit = fc.record({
      line: fc.nat(lines.length - 1),
      kind: fc.constantFrom('delete', 'duplicate', 'truncate', 'insert'),
      text: fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('  - {', ': :', '&a *a', '!!binary x', '  prefix: "/admin/**"', '    require: { cel: "1/0 == 1" }', '\t', 'default: allow')),
    });
    let valid = 0;
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        const copy = [...lines];
        for (const e of edits) {
          const at = e.line % copy.length;
          if (e.kind === 'delete') copy.splice(at, 1);
          else if (e.kind === 'duplicate') copy.splice(at, 0, copy[at] ?? '');
          else if (e.kind === 'truncate') copy[at] = (copy[at] ?? '').slice(0, Math.floor((copy[at] ?? '').length / 2));
          else copy.splice(at, 0, e.text);
        }
        if (expectConfigOrConfigError(copy.join('\n')) === 'config') valid += 1;
      }),
      runs('config-example-edits', 600),
    );
    expect(expectConfigOrConfigError(EXAMPLE)).toBe('config');
    expect(valid).toBeGreaterThanOrEqual(0);
  });
});
