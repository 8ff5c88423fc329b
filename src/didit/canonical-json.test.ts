import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CanonicalJsonError, canonicalJson, parseSignedJson } from './canonical-json.js';

describe('canonicalJson', () => {
  it.each([
    ['integer-like keys sort as strings', '{"9":2,"10":1,"a":3}', '{"10":1,"9":2,"a":3}'],
    ['nested objects sorted, arrays kept in order', '{"b":{"y":1,"x":[3,{"d":1,"c":2}]},"a":0}', '{"a":0,"b":{"x":[3,{"c":2,"d":1}],"y":1}}'],
    ['whitespace removed', ' { "a" : [ 1 , 2 ] } ', '{"a":[1,2]}'],
    ['integral float shortened', '{"score":92.0}', '{"score":92}'],
    ['exponent integral float', '[1e2,1E2,1.0e+2]', '[100,100,100]'],
    ['small float in Python exponent form', '[0.00005,1e-7,1.5e-7]', '[5e-05,1e-07,1.5e-07]'],
    ['0.0001 stays fixed', '[0.0001,0.1,-2.50]', '[0.0001,0.1,-2.5]'],
    ['1e21 becomes the exact integer', '[1e21]', '[1000000000000000000000]'],
    ['1e300 exact integer of the double', '[1e300]', `[${BigInt(1e300).toString()}]`],
    ['big integer literal kept verbatim', '[12345678901234567890,-98765432109876543210123]', '[12345678901234567890,-98765432109876543210123]'],
    ['negative zero integer becomes 0 (Python int)', '[-0,-0.0]', '[0,0]'],
    ['overflowing float becomes Infinity', '[1e400,-1e400]', '[Infinity,-Infinity]'],
    ['Python literals accepted', '[NaN,Infinity,-Infinity]', '[NaN,Infinity,-Infinity]'],
    ['non-ASCII written raw', '{"name":"Jos\\u00e9 M\\u00fcller","zh":"李雷"}', '{"name":"José Müller","zh":"李雷"}'],
    ['escaped surrogate pair combined', '"\\ud83d\\ude00"', '"😀"'],
    ['short escapes and control characters', '"\\"\\\\\\/\\b\\f\\n\\r\\t\\u0001\\u001F\\u007f"', '"\\"\\\\/\\b\\f\\n\\r\\t\\u0001\\u001f\u007f"'],
    ['U+2028 not escaped', '"\\u2028"', '"\u2028"'],
    ['duplicate key: last wins', '{"k":1,"k":2}', '{"k":2}'],
    ['astral keys sort after U+E000 (code points, not UTF-16 units)', '{"😀":1,"\\ue000":2,"z":3}', '{"z":3,"\ue000":2,"😀":1}'],
    ['__proto__ is an ordinary key', '{"__proto__":{"x":1},"a":1}', '{"__proto__":{"x":1},"a":1}'],
    ['scalars', 'true', 'true'],
  ])('%s', (_name, input, expected) => {
    expect(canonicalJson(input)).toBe(expected);
  });

  it('keeps a lone surrogate without throwing', () => {
    expect(canonicalJson('"a\\ud800b"')).toBe('"a\ud800b"');
  });

  it.each([
    ['empty', ''],
    ['trailing comma in array', '[1,]'],
    ['trailing comma in object', '{"a":1,}'],
    ['leading zero', '01'],
    ['bare decimal point', '1.'],
    ['missing exponent digits', '1e'],
    ['unquoted key', '{a:1}'],
    ['single quotes', "'a'"],
    ['raw control character in string', '"a\tb"'],
    ['bad escape', '"\\x"'],
    ['short unicode escape', '"\\u12"'],
    ['unterminated string', '"abc'],
    ['extra data', '{} {}'],
    ['-NaN', '-NaN'],
    ['BOM', '\ufeff{}'],
  ])('rejects %s with a coded error', (_name, input) => {
    expect(() => canonicalJson(input)).toThrow(CanonicalJsonError);
    expect(() => canonicalJson(input)).toThrow(expect.objectContaining({ code: 'invalid_json' }) as unknown as Error);
  });

  it('rejects nesting deeper than 1000 levels as too_deep', () => {
    const deep = '['.repeat(1100) + ']'.repeat(1100);
    expect(() => canonicalJson(deep)).toThrow(expect.objectContaining({ code: 'too_deep' }) as unknown as Error);
  });

  it('parseSignedJson returns the value with own __proto__ property', () => {
    const { value } = parseSignedJson('{"__proto__":{"polluted":true},"n":1.5}');
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value as object)).toEqual(['__proto__', 'n']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('is idempotent and never throws on valid JSON (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value);
        const once = canonicalJson(text);
        expect(canonicalJson(once)).toBe(once);
        // Same data: JSON.parse of both sides agrees (numbers compared as JS numbers).
        expect(JSON.parse(once)).toEqual(JSON.parse(text));
      }),
      { numRuns: 1000 },
    );
  });

  it('throws only CanonicalJsonError on arbitrary text (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (text) => {
        try {
          canonicalJson(text);
        } catch (err) {
          expect(err).toBeInstanceOf(CanonicalJsonError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
