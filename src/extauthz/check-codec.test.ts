import { resolve } from 'node:path';
import { loadSync } from '@grpc/proto-loader';
import { loadPackageDefinition, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COMMON_HEADER_NAMES, decodeCheckRequest, encodeCheckResponse, encodeVerdictResponse, headerShapeNodes } from './check-codec.js';
import type { BuildRequestContextResult } from '../core/build-request-context.js';
import type { RenderedVerdict } from '../core/render-decision.js';
import { headerNamesOf } from '../core/request-context.js';
import { toCheckResponse } from './to-check-response.js';
import { toRequestContext } from './to-request-context.js';
import { invalidUtf8Fields } from '../../test/support/strict-utf8.js';

/** The upstream Envoy protos (grpc-js-xds ships them): the reference this codec must agree with. */
const DEPS = resolve(import.meta.dirname, '../../node_modules/@grpc/grpc-js-xds/deps');
const upstream = loadSync('envoy/service/auth/v3/external_auth.proto', {
  includeDirs: ['envoy-api', 'googleapis', 'protoc-gen-validate', 'xds'].map((d) => resolve(DEPS, d)),
  keepCase: true,
  longs: String,
  enums: Number,
  defaults: false,
  oneofs: true,
});
const svc = ((loadPackageDefinition(upstream).envoy as GrpcObject).service as GrpcObject);
const Check = ((svc.auth as GrpcObject).v3 as GrpcObject).Authorization as ServiceClientConstructor;
const method = Check.service.Check!;
const encodeUpstream = (req: object): Buffer => method.requestSerialize(req);
const decodeUpstreamResponse = (bytes: Buffer) => method.responseDeserialize(bytes) as Record<string, unknown>;

const headerName = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/);
const text = fc.string({ maxLength: 40 });
const requestArb = fc.record({
  method: fc.constantFrom('GET', 'POST', 'DELETE', 'PATCH'),
  path: fc.string({ maxLength: 60 }).map((s) => `/${s}`),
  host: fc.domain(),
  scheme: fc.constantFrom('http', 'https'),
  headers: fc.dictionary(headerName, text, { maxKeys: 12 }),
  ext: fc.dictionary(headerName, text, { maxKeys: 3 }),
  address: fc.ipV4(),
  port: fc.integer({ min: 0, max: 65535 }),
  principal: text,
  id: fc.string({ maxLength: 20 }),
  seconds: fc.integer({ min: 0, max: 4_000_000_000 }),
  claims: fc.dictionary(headerName, fc.oneof(text, fc.double({ noNaN: true }), fc.boolean()), { maxKeys: 4 }),
});

function upstreamRequest(r: fc.Arbitrary<unknown> extends never ? never : ReturnType<typeof requestArb.generate>['value']) {
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r.claims)) {
    fields[k] = typeof v === 'string' ? { stringValue: v } : typeof v === 'number' ? { numberValue: v } : { boolValue: v };
  }
  return {
    attributes: {
      source: { address: { socket_address: { address: r.address, port_value: r.port } }, principal: r.principal, service: 'ignored' },
      destination: { address: { socket_address: { address: '10.0.0.1', port_value: 80 } } },
      request: {
        time: { seconds: String(r.seconds), nanos: 5 },
        http: { id: r.id, method: r.method, path: r.path, host: r.host, scheme: r.scheme, headers: r.headers, protocol: 'HTTP/2', size: '12' },
      },
      context_extensions: r.ext,
      metadata_context: { filter_metadata: { 'envoy.filters.http.jwt_authn': { fields: { claims: { structValue: { fields } } } } } },
      tls_session: { sni: 'x' },
    },
  };
}

/** The context without the codec's list of header names (the generic decoder does not list them). */
function withoutNames(result: BuildRequestContextResult): BuildRequestContextResult {
  if (!result.ok) return result;
  const { headerNames: _names, ...ctx } = result.value;
  return { ok: true, value: ctx };
}

describe('decodeCheckRequest', () => {
  it('yields the same RequestContext as the generic protobuf decoder for any upstream-encoded request', () => {
    fc.assert(
      fc.property(requestArb, (r) => {
        const bytes = encodeUpstream(upstreamRequest(r));
        const ours = toRequestContext(decodeCheckRequest(bytes), 0);
        const reference = toRequestContext(method.requestDeserialize(bytes) as never, 0);
        expect(withoutNames(ours)).toEqual(reference);
      }),
      { numRuns: 300 },
    );
  });

  it('lists the header names in for…in order, each once, or not at all when one looks like an array index', () => {
    // Two messages back to back merge (last entry wins): short names from a small alphabet collide.
    const name = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,2}$/);
    const half = requestArb.chain((r) => fc.dictionary(name, text, { maxKeys: 12 }).map((headers) => ({ ...r, headers })));
    fc.assert(
      fc.property(half, half, (a, b) => {
        const bytes = Buffer.concat([encodeUpstream(upstreamRequest(a)), encodeUpstream(upstreamRequest(b))]);
        const http = decodeCheckRequest(bytes).attributes?.request?.http;
        const enumerated: string[] = [];
        for (const key in http?.headers ?? {}) enumerated.push(key);
        if (enumerated.some((key) => /^[0-9]/.test(key))) expect(http?.header_names).toBeNull();
        else expect(http?.header_names ?? []).toEqual(enumerated);
        const ours = toRequestContext(decodeCheckRequest(bytes), 0);
        expect(withoutNames(ours)).toEqual(toRequestContext(method.requestDeserialize(bytes) as never, 0));
        // The context's own list: for its own headers, the same names, or none.
        if (ours.ok) expect(headerNamesOf(ours.value)).toEqual(http?.header_names ?? undefined);
      }),
      { numRuns: 300 },
    );
  });

  it('reads request.time.seconds as the number the generic decoder\'s Long string converts to, for any int64', () => {
    const edges = [0n, 1n, -1n, 127n, 128n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n), -(2n ** 53n) - 3n];
    fc.assert(
      fc.property(fc.oneof(fc.constantFrom(...edges), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })), (seconds) => {
        const bytes = encodeUpstream({ attributes: { request: { time: { seconds: seconds.toString(), nanos: 1 }, http: { method: 'GET', path: '/' } } } });
        const reference = (method.requestDeserialize(bytes) as { attributes: { request: { time: { seconds: string } } } }).attributes.request.time.seconds;
        expect(reference).toBe(seconds.toString());
        const ours = decodeCheckRequest(bytes).attributes?.request?.time?.seconds;
        expect(ours).toBe(Number(reference));
        // And what the engine sees: the same receivedAt (or none) either way.
        expect(toRequestContext(decodeCheckRequest(bytes), 7)).toEqual(toRequestContext(method.requestDeserialize(bytes) as never, 7));
      }),
      { seed: 20261205, numRuns: 1_000 },
    );
    // A varint cut short or longer than 10 bytes is refused, as by protobufjs.
    const time = (varint: number[]): Buffer => Buffer.from([0x0a, varint.length + 5, 0x22, varint.length + 3, 0x0a, varint.length + 1, 0x08, ...varint]);
    expect(() => decodeCheckRequest(time([0x80, 0x80]))).toThrow();
    expect(() => decodeCheckRequest(time(new Array<number>(11).fill(0x80)))).toThrow();
  });

  it('decodes the interned common header names, and every near miss of them, as the generic decoder does', () => {
    // Near misses share a name's length and hash slot or its prefix: one byte changed (also to a non-ASCII
    // character), one more or one fewer character, upper case.
    const nearMisses = COMMON_HEADER_NAMES.flatMap((name) => [
      `${name.slice(0, -1)}${name.at(-1) === 'a' ? 'b' : 'a'}`,
      `${name.slice(0, 1) === 'x' ? 'y' : 'x'}${name.slice(1)}`,
      `${name.slice(0, -2)}é`,
      `${name}-`,
      name.slice(0, -1),
      name.toUpperCase(),
    ]);
    const names = fc.constantFrom(...COMMON_HEADER_NAMES, ...nearMisses);
    fc.assert(
      fc.property(fc.dictionary(names, text, { maxKeys: 20 }), (headers) => {
        const bytes = encodeUpstream({ attributes: { request: { http: { method: 'GET', path: '/', headers } } } });
        const ours = decodeCheckRequest(bytes).attributes?.request?.http?.headers;
        const reference = (method.requestDeserialize(bytes) as { attributes: { request: { http: { headers?: Record<string, string> } } } }).attributes.request.http.headers;
        expect({ ...ours }).toEqual({ ...reference });
      }),
      { seed: 20261205, numRuns: 500 },
    );
    // Every common name on its own is found (and decodes to itself).
    for (const name of COMMON_HEADER_NAMES) {
      const bytes = encodeUpstream({ attributes: { request: { http: { method: 'GET', path: '/', headers: { [name]: 'v' } } } } });
      expect(Object.keys(decodeCheckRequest(bytes).attributes?.request?.http?.headers ?? {})).toEqual([name]);
    }
    // A name whose bytes run past the end of the message is not looked up: the decoder refuses the message
    // as it always did.
    const whole = encodeUpstream({ attributes: { request: { http: { headers: { authorization: '' } } } } });
    expect(() => decodeCheckRequest(whole.subarray(0, whole.indexOf('authorization') + 5))).toThrow();
  });

  it('keeps a __proto__ header as a header, never as a prototype', () => {
    const bytes = encodeUpstream({ attributes: { request: { http: { method: 'GET', path: '/', headers: { ['__proto__']: 'x', a: 'b' } } } } });
    const decoded = decodeCheckRequest(bytes);
    const headers = decoded.attributes?.request?.http?.headers as Record<string, string>;
    expect(Object.getPrototypeOf(headers)).toBe(null);
    expect(headers.a).toBe('b');
  });

  describe('header records along admitted shapes (fast properties) and off them (dictionaries)', () => {
    /** A length-delimited field (length below 16,384: at most two varint bytes). */
    const field = (num: number, body: Buffer): Buffer => {
      const n = body.length;
      const length = n < 128 ? [n] : [(n & 127) | 128, n >> 7];
      return Buffer.concat([Buffer.from([(num << 3) | 2, ...length]), body]);
    };
    /** A CheckRequest whose `request.http.headers` entries are `entries` in this order, duplicates kept. */
    const request = (entries: readonly (readonly [string, string])[]): Buffer => {
      const http = Buffer.concat(entries.map(([k, v]) => field(3, Buffer.concat([field(1, Buffer.from(k)), field(2, Buffer.from(v))]))));
      return field(1, field(4, field(2, http)));
    };
    /** What the map must be: keys in first-seen order, the last value of a duplicate. */
    const expected = (entries: readonly (readonly [string, string])[]): [string, string][] => {
      const m = new Map<string, string>();
      for (const [k, v] of entries) m.set(k, v);
      return [...m];
    };
    const decodeHeaders = (bytes: Buffer) => {
      const http = decodeCheckRequest(bytes).attributes?.request?.http;
      const headers = http?.headers as Record<string, string>;
      const names: string[] = [];
      for (const name in headers) names.push(name);
      return { headers, names, listed: http?.header_names, entries: names.map((n) => [n, headers[n]]) };
    };

    it('decodes the same keys, values, order, list and null prototype the first time a shape is seen and once it is admitted', () => {
      const cases: (readonly (readonly [string, string])[])[] = [
        [[':authority', 'a'], [':method', 'GET'], [':path', '/x'], ['user-agent', 'u'], ['accept', '*/*'], ['x-request-id', 'r']],
        // A duplicate common name: the last value wins, in the fast record as in the dictionary.
        [[':authority', 'a'], ['cookie', 'c1'], [':path', '/x'], ['cookie', 'c2']],
        // Off the shape after common names: an unknown name, `__proto__`, a digit name, then a duplicate.
        [[':authority', 'a'], [':method', 'GET'], ['x-custom', '1'], ['__proto__', 'p'], [':authority', 'b']],
        [[':authority', 'a'], [':method', 'GET'], ['9lives', 'd'], ['accept', 'x']],
        [['x-custom', '1'], [':authority', 'a']],
        [],
      ];
      for (const entries of cases) {
        const bytes = request(entries);
        for (let round = 0; round < 3; round++) {
          const got = decodeHeaders(bytes);
          if (entries.length === 0) {
            expect(got.headers).toBeUndefined();
            continue;
          }
          expect(Object.getPrototypeOf(got.headers)).toBe(null);
          // Digit names are enumerated first; everything else in first-seen order.
          const want = expected(entries);
          const digits = want.filter(([k]) => /^\d/.test(k) && String(Number(k)) === k);
          expect(got.entries).toEqual(digits.length > 0 ? got.entries : want);
          expect(Object.fromEntries(got.entries)).toEqual(Object.fromEntries(want));
          expect(got.listed).toEqual(want.some(([k]) => /^\d/.test(k)) ? null : want.map(([k]) => k));
          expect(Object.prototype.hasOwnProperty.call(got.headers, '__proto__')).toBe(want.some(([k]) => k === '__proto__'));
        }
      }
    });

    it('admits at most a bounded number of names into the shape trie, whatever the clients send, and decodes past it as before', () => {
      const pool = COMMON_HEADER_NAMES.slice(0, 20);
      let seed = 7;
      const rand = (n: number): number => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed % n;
      };
      for (let i = 0; i < 400; i++) {
        const names = [...pool];
        for (let j = names.length - 1; j > 0; j--) {
          const k = rand(j + 1);
          [names[j], names[k]] = [names[k]!, names[j]!];
        }
        const entries = names.slice(0, 8 + rand(12)).map((n, j) => [n, `v${i}.${j}`] as const);
        const bytes = request(entries);
        for (let round = 0; round < 2; round++) {
          const got = decodeHeaders(bytes);
          expect(got.entries).toEqual(expected(entries));
          expect(got.listed).toEqual(entries.map(([k]) => k));
        }
        expect(headerShapeNodes()).toBeLessThanOrEqual(512);
      }
      expect(headerShapeNodes()).toBeGreaterThan(400);
    });
  });

  it('never throws anything but an Error on random bytes, and never loops', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decodeCheckRequest(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(Error);
        }
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('encodeCheckResponse', () => {
  it('encodes allow responses that the upstream protos decode to the same object', () => {
    const response = toCheckResponse({
      allow: true,
      upstreamHeaders: [['x-idgate-subject', 'demo:alice'], ['x-idgate-verified', 'kyc,age']],
      removeHeaders: ['x-idgate-issuer', 'authorization'],
      metadata: { subject: 'demo:alice', score: 12.5, shadow: false },
    });
    expect(decodeUpstreamResponse(encodeCheckResponse(response))).toEqual({
      status: { code: 0 },
      http_response: 'ok_response',
      ok_response: {
        headers: [
          { header: { key: 'x-idgate-subject', value: 'demo:alice' }, append: { value: false } },
          { header: { key: 'x-idgate-verified', value: 'kyc,age' }, append: { value: false } },
        ],
        headers_to_remove: ['x-idgate-issuer', 'authorization'],
      },
      dynamic_metadata: { fields: { subject: { stringValue: 'demo:alice', kind: 'stringValue' }, score: { numberValue: 12.5, kind: 'numberValue' }, shadow: { boolValue: false, kind: 'boolValue' } } },
    });
  });

  it('encodes deny responses byte-for-byte like the generic encoder', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(400, 401, 403, 429, 503, 302),
        fc.array(fc.tuple(headerName, text), { maxLength: 5 }),
        fc.string({ maxLength: 200 }),
        (status, headers, body) => {
          const response = toCheckResponse({
            allow: false,
            status: status as 401,
            code: 'token_missing',
            headers,
            body,
            metadata: { code: 'token_missing' },
          });
          expect(encodeCheckResponse(response).equals(method.responseSerialize(response))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('encodeVerdictResponse', () => {
  const anyText = fc.string({ unit: 'binary', maxLength: 60 });
  const metadataKey = fc.oneof(headerName, fc.constantFrom('__proto__', '0', '17', 'constructor'), anyText);
  const metadataValue = fc.oneof(anyText, fc.double(), fc.boolean(), fc.constantFrom(undefined, null, { nested: 1 }));
  const metadata = fc.array(fc.tuple(metadataKey, metadataValue), { maxLength: 8 }).map((entries) => {
    // Built by assignment like render-decision's metadata (so '__proto__' is a real key via defineProperty).
    const out: Record<string, unknown> = {};
    for (const [k, v] of entries) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    return out as RenderedVerdict['metadata'];
  });
  const headers = fc.array(fc.tuple(anyText, anyText), { maxLength: 6 });
  const verdict: fc.Arbitrary<RenderedVerdict> = fc.oneof(
    fc.record({ allow: fc.constant(true as const), upstreamHeaders: headers, removeHeaders: fc.array(anyText, { maxLength: 6 }), metadata }),
    fc.record({
      allow: fc.constant(false as const),
      status: fc.constantFrom(400, 401, 403, 429, 503, 302) as fc.Arbitrary<401>,
      code: fc.constantFrom('token_missing', 'route_denied', 'verification_required') as fc.Arbitrary<'token_missing'>,
      headers,
      body: fc.string({ unit: 'binary', maxLength: 400 }),
      metadata,
    }),
  );

  it('writes the same bytes as encodeCheckResponse(toCheckResponse(verdict)) for any verdict', () => {
    fc.assert(
      fc.property(verdict, (v) => {
        expect(encodeVerdictResponse(v).equals(encodeCheckResponse(toCheckResponse(v)))).toBe(true);
      }),
      { seed: 20261205, numRuns: 2_000 },
    );
  });
});

describe('UTF-8 at the wire (issue 18)', () => {
  const strict = new TextDecoder('utf-8', { fatal: true });

  it('never writes a string field that is not UTF-8, even for lone surrogates (libprotobuf would fail the RPC)', () => {
    const lone = 'x\ud800y\udc00';
    const bytes = encodeCheckResponse({
      status: { code: 7, message: lone },
      denied_response: { status: { code: 403 }, headers: [{ header: { key: 'x-a', value: lone } }], body: lone },
      dynamic_metadata: { fields: { [lone]: { stringValue: lone } } },
    });
    expect(invalidUtf8Fields(bytes)).toEqual([]);
    const ok = encodeCheckResponse({
      status: { code: 0 },
      ok_response: { headers: [{ header: { key: 'x-b', value: '\udfff' }, append: { value: false } }], headers_to_remove: ['\ud83d'] },
      dynamic_metadata: { fields: {} },
    });
    expect(invalidUtf8Fields(ok)).toEqual([]);
    // Well-formed text is written unchanged.
    const decoded = decodeUpstreamResponse(encodeCheckResponse({ status: { code: 7, message: '中文😀' }, dynamic_metadata: { fields: {} } }));
    expect((decoded.status as { message: string }).message).toBe('中文😀');
  });

  it('property: any UTF-16 string in any string field encodes to strict UTF-8', () => {
    const unit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
    const anyString = fc.array(unit, { maxLength: 20 }).map((a) => a.join(''));
    fc.assert(
      fc.property(anyString, anyString, anyString, (a, b, c) => {
        const bytes = encodeCheckResponse({
          status: { code: 0 },
          ok_response: { headers: [{ header: { key: a, value: b }, append: { value: false } }], headers_to_remove: [c] },
          dynamic_metadata: { fields: { [a]: { stringValue: c } } },
        });
        expect(invalidUtf8Fields(bytes)).toEqual([]);
      }),
      { seed: 20251205, numRuns: 1_000 },
    );
  });

  it.each([
    ['a Buffer', (b: Buffer): Uint8Array => b],
    ['a plain Uint8Array', (b: Buffer): Uint8Array => new Uint8Array(b)],
  ])('decodes invalid UTF-8 from %s without throwing, into well-formed strings (host refused later)', (_name, wrap) => {
    const good = encodeUpstream({
      attributes: { request: { http: { method: 'GET', path: '/p', host: 'hostAAAA', headers: { 'x-v': 'valAAAA' } } } },
    });
    // Replace the ASCII placeholders with bytes that are not UTF-8: a lone surrogate (ED A0 80), a stray
    // continuation byte and a truncated sequence.
    const bytes = Buffer.from(good);
    for (const marker of ['AAAA']) {
      let at = bytes.indexOf(marker);
      while (at >= 0) {
        bytes.set([0xed, 0xa0, 0x80, 0xc3], at);
        at = bytes.indexOf(marker, at + 4);
      }
    }
    const message = decodeCheckRequest(wrap(bytes));
    const http = message.attributes?.request?.http;
    expect(http?.host).toBe('host\ufffd\ufffd\ufffd\ufffd');
    for (const s of [http?.host, http?.headers?.['x-v']]) {
      expect(s).toBeTypeOf('string');
      expect(/\p{Cs}/u.test(s as string)).toBe(false);
      expect(() => strict.decode(Buffer.from(s as string, 'utf8'))).not.toThrow();
    }
    const ctx = toRequestContext(message, 0);
    expect(ctx).toMatchObject({ ok: false });
  });
});
