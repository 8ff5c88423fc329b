import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadAuthzProtos } from '../../bench/load-authz-protos.js';
import { decodeHealthRequest, decodeHealthResponse, encodeHealthRequest, encodeHealthResponse } from './health-codec.js';

/**
 * The reference: grpc.health.v1 as proto-loader loaded it from idgate's proto/ with the options idgate
 * used (bench/load-authz-protos.ts), i.e. what the grpc-js transport decoded and encoded before.
 */
const Health = loadAuthzProtos().health;
const reference = Health['Check']!;

/** The reference's decode: its object, or 'throws'. */
function referenceDecode(bytes: Buffer): unknown {
  try {
    return { ...(reference.requestDeserialize(bytes) as object) };
  } catch {
    return 'throws';
  }
}

function handDecode(bytes: Buffer): unknown {
  try {
    return decodeHealthRequest(bytes);
  } catch {
    return 'throws';
  }
}

const tag = (field: number, wireType: number): number => (field << 3) | wireType;

describe('decodeHealthRequest', () => {
  it('reads the service, and an empty message as no service', () => {
    expect(decodeHealthRequest(Buffer.concat([Buffer.from([0x0a, 4]), Buffer.from('nope')]))).toEqual({ service: 'nope' });
    expect(decodeHealthRequest(Buffer.alloc(0))).toEqual({});
  });

  it('throws on a truncated tag or an invalid wire type, and reads a truncated string as far as it goes (as protobufjs)', () => {
    expect(() => decodeHealthRequest(Buffer.from([0xff]))).toThrow();
    expect(() => decodeHealthRequest(Buffer.from([tag(2, 0)]))).toThrow();
    expect(() => decodeHealthRequest(Buffer.from([tag(2, 7), 0]))).toThrow();
    expect(decodeHealthRequest(Buffer.from([0x0a, 5, 0x61]))).toEqual({ service: 'a' });
  });

  const cases: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['a service', Buffer.from([0x0a, 3, 0x61, 0x62, 0x63])],
    ['the service twice (last wins)', Buffer.from([0x0a, 1, 0x61, 0x0a, 1, 0x62])],
    ['an unknown varint field', Buffer.from([tag(2, 0), 0x96, 0x01, 0x0a, 1, 0x61])],
    ['an unknown fixed64 field', Buffer.from([tag(3, 1), 1, 2, 3, 4, 5, 6, 7, 8])],
    ['an unknown fixed32 field', Buffer.from([tag(4, 5), 1, 2, 3, 4])],
    ['an unknown group', Buffer.from([tag(5, 3), tag(1, 0), 1, tag(5, 4)])],
    ['field 1 as a varint (read as a string length)', Buffer.from([tag(1, 0), 1, 0x61])],
    ['field 1 as a varint, truncated', Buffer.from([tag(1, 0), 1])],
    ['field 1 as fixed32', Buffer.from([tag(1, 5), 2, 0x61, 0x62])],
    ['field 0', Buffer.from([0, 0])],
    ['a string longer than the message', Buffer.from([0x0a, 5, 0x61])],
    ['a truncated varint tag', Buffer.from([0x80])],
    ['invalid wire type 6', Buffer.from([tag(2, 6), 0])],
    ['an end-group tag', Buffer.from([tag(2, 4)])],
    ['invalid UTF-8 in the service', Buffer.from([0x0a, 2, 0xc3, 0x28])],
  ];

  it.each(cases)('decodes %s as proto-loader did', (_name, bytes) => {
    expect(handDecode(bytes)).toEqual(referenceDecode(bytes));
  });

  it('agrees with proto-loader on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (bytes) => {
        const buf = Buffer.from(bytes);
        expect(handDecode(buf)).toEqual(referenceDecode(buf));
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('encodeHealthResponse / encodeHealthRequest / decodeHealthResponse', () => {
  it('writes the bytes proto-loader wrote for every ServingStatus', () => {
    for (const status of [0, 1, 2, 3]) {
      expect(encodeHealthResponse(status).toString('hex')).toBe(reference.responseSerialize({ status }).toString('hex'));
      expect(decodeHealthResponse(encodeHealthResponse(status))).toEqual({ status });
    }
    expect(encodeHealthResponse(1).toString('hex')).toBe('0801');
  });

  it('writes requests as proto-loader did', () => {
    for (const request of [{}, { service: '' }, { service: 'envoy.service.auth.v3.Authorization' }]) {
      expect(encodeHealthRequest(request).toString('hex')).toBe(reference.requestSerialize(request).toString('hex'));
    }
  });
});
