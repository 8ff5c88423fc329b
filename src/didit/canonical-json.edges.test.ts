import { describe, expect, it } from 'vitest';
import { CanonicalJsonError, canonicalJson, parseSignedJson } from './canonical-json.js';

/**
 * Edges of the canonical JSON parser that the examples in canonical-json.test.ts leave open (found by mutation
 * testing, `make mutation`): the exact error (code, message, offset) for each kind of bad input, the nesting
 * limit at exactly 1000 levels, every JSON whitespace character, and the parsed value next to the canonical text.
 */
function errorOf(text: string): CanonicalJsonError {
  try {
    canonicalJson(text);
  } catch (err) {
    expect(err).toBeInstanceOf(CanonicalJsonError);
    return err as CanonicalJsonError;
  }
  throw new Error(`accepted: ${JSON.stringify(text)}`);
}

describe('canonicalJson errors: code, message and offset', () => {
  it.each([
    ['', 'unexpected end of input', 0],
    ['[', 'unexpected end of input', 1],
    ['x', 'unexpected character', 0],
    ['[1,x]', 'unexpected character', 3],
    ['{} {}', 'unexpected data after the JSON value', 3],
    ['tru', 'invalid literal', 0],
    ['[fals]', 'invalid literal', 1],
    ['nul', 'invalid literal', 0],
    ['Na', 'invalid literal', 0],
    ['Inf', 'invalid literal', 0],
    ['-Inf', 'invalid number', 1],
    ['{a:1}', 'expected a property name in double quotes', 1],
    ['{"a",1}', "expected ':'", 4],
    ['{"a":1 "b":2}', "expected ',' or '}'", 7],
    ['{"a":1', "expected ',' or '}'", 6],
    ['[1 2]', "expected ',' or ']'", 3],
    ['[1', "expected ',' or ']'", 2],
    ['"abc', 'unterminated string', 4],
    ['"a\\', 'invalid escape', 2],
    ['"a\u001fb"', 'control character in string', 2],
    ['"a\nb"', 'control character in string', 2],
    ['"\\x"', 'invalid escape', 1],
    ['"\\u12"', 'invalid \\u escape', 3],
    ['"\\u12g4"', 'invalid \\u escape', 3],
    ['-', 'invalid number', 1],
    ['-a', 'invalid number', 1],
    ['-/', 'invalid number', 1], // '/' is just below '0'
    ['--1', 'invalid number', 1],
    ['-+1', 'invalid number', 1],
    ['1.', 'invalid number: digits expected after the decimal point', 2],
    ['1.e5', 'invalid number: digits expected after the decimal point', 2],
    ['1e', 'invalid number: digits expected in the exponent', 2],
    ['1e+', 'invalid number: digits expected in the exponent', 3],
    ['1E-x', 'invalid number: digits expected in the exponent', 3],
    ['01', 'unexpected data after the JSON value', 1],
    ['-01', 'unexpected data after the JSON value', 2],
  ])('%j → %s at offset %d', (text, message, position) => {
    const error = errorOf(text);
    expect(error.code).toBe('invalid_json');
    expect(error.name).toBe('CanonicalJsonError');
    expect(error.position).toBe(position);
    expect(error.message).toBe(`${message} at offset ${position}`);
  });

  it('allows exactly 1000 levels of nesting below the top value and refuses 1001', () => {
    expect(canonicalJson('['.repeat(1000) + '1' + ']'.repeat(1000))).toBe('['.repeat(1000) + '1' + ']'.repeat(1000));
    expect(canonicalJson('{"a":'.repeat(1000) + '1' + '}'.repeat(1000))).toBe('{"a":'.repeat(1000) + '1' + '}'.repeat(1000));
    const deep = errorOf('['.repeat(1001) + '1' + ']'.repeat(1001));
    expect(deep.code).toBe('too_deep');
    expect(deep.message).toBe('JSON nests too deeply at offset 1001');
    expect(errorOf('{"a":'.repeat(1001) + '1' + '}'.repeat(1001)).code).toBe('too_deep');
  });
});

describe('canonicalJson whitespace', () => {
  it.each([' ', '\t', '\n', '\r'])('skips %j everywhere JSON allows it', (ws) => {
    const text = `${ws}{${ws}"a"${ws}:${ws}[${ws}1${ws},${ws}2${ws}]${ws},${ws}"b"${ws}:${ws}{${ws}}${ws}}${ws}`;
    expect(canonicalJson(text)).toBe('{"a":[1,2],"b":{}}');
    expect(canonicalJson(`[${ws}]`)).toBe('[]');
  });

  it.each(['\u000b', '\u000c', '\u00a0', '\u2028'])('refuses %j, which Python does not count as JSON whitespace', (ws) => {
    expect(errorOf(`${ws}1`).message).toBe('unexpected character at offset 0');
    expect(errorOf(`1${ws}`).message).toBe('unexpected data after the JSON value at offset 1');
  });
});

describe('parseSignedJson values', () => {
  it('returns each kind of value as JavaScript reads it', () => {
    const { canonical, value } = parseSignedJson(
      '{"t":true,"f":false,"n":null,"nan":NaN,"inf":Infinity,"ninf":-Infinity,"i":-12,"z":-0,"x":1.5e1,"y":-2.25,' +
        '"s":"a\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041","arr":[1,[],{}],"o":{}}',
    );
    expect(canonical).toBe(
      '{"arr":[1,[],{}],"f":false,"i":-12,"inf":Infinity,"n":null,"nan":NaN,"ninf":-Infinity,"o":{},' +
        '"s":"a\\"\\\\/\\b\\f\\n\\r\\tA","t":true,"x":15,"y":-2.25,"z":0}',
    );
    const v = value as Record<string, unknown>;
    expect(v.t).toBe(true);
    expect(v.f).toBe(false);
    expect(v.n).toBeNull();
    expect(v.nan).toBeNaN();
    expect(v.inf).toBe(Infinity);
    expect(v.ninf).toBe(-Infinity);
    expect(v.i).toBe(-12);
    expect(Object.is(v.z, 0)).toBe(true);
    expect(v.x).toBe(15);
    expect(v.y).toBe(-2.25);
    expect(v.s).toBe('a"\\/\b\f\n\r\tA');
    expect(v.arr).toEqual([1, [], {}]);
    expect(v.o).toEqual({});
    expect(Object.keys(v)).toEqual(['arr', 'f', 'i', 'inf', 'n', 'nan', 'ninf', 'o', 's', 't', 'x', 'y', 'z']);
    const descriptor = Object.getOwnPropertyDescriptor(v, 't');
    expect(descriptor).toEqual({ value: true, enumerable: true, writable: true, configurable: true });
  });

  it('keeps the last value of a repeated key in both the text and the value', () => {
    const { canonical, value } = parseSignedJson('{"k":{"a":1},"k":[2]}');
    expect(canonical).toBe('{"k":[2]}');
    expect(value).toEqual({ k: [2] });
  });

  it('reads strings with escapes between raw runs', () => {
    expect(parseSignedJson('"ab\\ncd\\u00e9ef"').value).toBe('ab\ncdéef');
    expect(parseSignedJson('"\\uD83D\\uDE00x"').value).toBe('😀x');
    expect(parseSignedJson('""').value).toBe('');
    expect(parseSignedJson('"\\u0000"').canonical).toBe('"\\u0000"');
  });

  it('writes integral floats as exact integers and big literals verbatim', () => {
    expect(parseSignedJson('-5.0').canonical).toBe('-5');
    expect(parseSignedJson('2e0').canonical).toBe('2');
    expect(parseSignedJson('0').value).toBe(0);
    expect(parseSignedJson('-0').canonical).toBe('0');
    expect(Object.is(parseSignedJson('-0').value, 0)).toBe(true);
    expect(parseSignedJson('1e-400').canonical).toBe('0');
    expect(parseSignedJson('0.5').canonical).toBe('0.5');
    expect(parseSignedJson('1234567890').canonical).toBe('1234567890');
  });
});
