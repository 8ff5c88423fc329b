import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseGrpcTimeout } from './grpc-framing.js';

/** grpc-js's own reading, as the transport did it before its plain-value fast path: the reference. */
function byPattern(value: string): number {
  const match = /(\d{1,8})\s*([HMSmun])/.exec(value);
  if (match === null) return Number.NaN;
  const unit: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000001 };
  return (Number(match[1]) * unit[match[2]!]!) | 0;
}

describe('parseGrpcTimeout', () => {
  it('answers every value as grpc-js\'s pattern does, the plain `<digits><unit>` ones included', () => {
    const char = fc.constantFrom(...'0123456789HMSmunxh .+-\t9'.split(''), 'é', '٣');
    fc.assert(
      fc.property(fc.array(char, { maxLength: 12 }).map((cs) => cs.join('')), (value) => {
        expect(parseGrpcTimeout(value)).toEqual(byPattern(value));
      }),
      { seed: 20261206, numRuns: 20_000 },
    );
    for (const value of ['200m', '1S', '99999999H', '00000200m', '123456789S', '5u', '999n', '12345678n', '0m', '1 m', 'm', '', '20x', '2M0', '+1S']) {
      expect(parseGrpcTimeout(value)).toEqual(byPattern(value));
    }
    expect(parseGrpcTimeout('200m')).toBe(200);
    expect(parseGrpcTimeout(['5S', '1m'])).toBe(5_000);
    expect(parseGrpcTimeout(undefined)).toBeUndefined();
    expect(parseGrpcTimeout([])).toBeUndefined();
  });
});
