import { describe, expect, it } from 'vitest';
import { compareCodePoints, pythonFloatRepr, quotePythonString, serializePythonJson } from './python-json.js';

/**
 * Edges of the Python-compatible serialiser (the bytes Didit signs), checked against what CPython 3 prints
 * (`json.dumps(v, sort_keys=True, separators=(",", ":"))`, `repr(float)`). Found by mutation testing.
 */
describe('python-json edges', () => {
  it('compares astral characters as one code point and prefixes before longer strings', () => {
    // U+1F600 > U+FFFF by code point; after it, the next character decides.
    expect(Math.sign(compareCodePoints('😀a', '😀b'))).toBe(-1);
    expect(Math.sign(compareCodePoints('😀b', '😀a'))).toBe(1);
    expect(Math.sign(compareCodePoints('\uffff', '😀'))).toBe(-1);
    expect(Math.sign(compareCodePoints('\uffffa', '\uffffb'))).toBe(-1);
    // U+FFFF is one code unit: stepping over two would compare 'a' with 'a' here instead of 'b' with 'a'.
    expect(Math.sign(compareCodePoints('\uffffba', '\uffffab'))).toBe(1);
    expect(compareCodePoints('😀', '😀')).toBe(0);
    expect(compareCodePoints('ab', 'abc')).toBe(-1);
    expect(compareCodePoints('abc', 'ab')).toBe(1);
    expect(compareCodePoints('', '')).toBe(0);
  });

  it('keeps "~" (0x7e) literal and escapes DEL (0x7f) with ensure_ascii', () => {
    expect(quotePythonString('~\u007f', true)).toBe('"~\\u007f"');
    expect(quotePythonString('~\u007f', false)).toBe('"~\u007f"');
  });

  it('repr(float): fixed from 1e-4 up to below 1e16, exponent form outside, signed and two digits', () => {
    expect(pythonFloatRepr(0.0001)).toBe('0.0001');
    expect(pythonFloatRepr(0.00001)).toBe('1e-05');
    expect(pythonFloatRepr(123456789012345.67)).toBe('123456789012345.67');
    expect(pythonFloatRepr(1.5e16)).toBe('1.5e+16');
    expect(pythonFloatRepr(1.5e-7)).toBe('1.5e-07');
    expect(pythonFloatRepr(2.5e100)).toBe('2.5e+100');
  });

  it('serialises booleans, nested arrays and objects, and refuses what JSON cannot hold by name', () => {
    expect(serializePythonJson({ b: [true, false, [null, undefined]], a: { z: 1.5, y: -1e-7 } }, { ensureAscii: true })).toBe(
      '{"a":{"y":-1e-07,"z":1.5},"b":[true,false,[null,null]]}',
    );
    expect(() => serializePythonJson(() => 1, { ensureAscii: true })).toThrow(new TypeError('cannot serialise a function as JSON'));
  });

  it('serialises exactly 1000 levels of nesting and refuses 1001, for arrays and objects alike', () => {
    const nest = (n: number, wrap: (v: unknown) => unknown): unknown => {
      let v: unknown = 0;
      for (let i = 0; i < n; i++) v = wrap(v);
      return v;
    };
    expect(serializePythonJson(nest(1000, (v) => [v]), { ensureAscii: true })).toBe('['.repeat(1000) + '0' + ']'.repeat(1000));
    expect(() => serializePythonJson(nest(1001, (v) => [v]), { ensureAscii: true })).toThrow(new TypeError('value nests too deeply to serialise'));
    expect(serializePythonJson(nest(1000, (v) => ({ k: v })), { ensureAscii: true })).toHaveLength(1000 * 6 + 1);
    expect(() => serializePythonJson(nest(1001, (v) => ({ k: v })), { ensureAscii: true })).toThrow(TypeError);
  });
});
