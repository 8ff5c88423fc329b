import { describe, expect, it } from 'vitest';
import { compareCodePoints, formatPythonNumber, serializePythonJson } from './python-json.js';

// Expected strings are Python 3 output of json.dumps(v, sort_keys=True, separators=(",", ":")) with
// ensure_ascii True/False, except 1.5e16, which Didit's float shortening turns into an integer.
const value = {
  name: 'José Müller',
  zh: '李雷',
  emoji: '😀',
  ctl: '\u0001\u007f\n"\\',
  '\ue000': 1,
  '😀': 2,
  '10': 1,
  '9': 2,
  f: [0.00005, 27.33, 1e-7, 1.5e16, 123456.789],
  skipped: undefined,
};

describe('serializePythonJson', () => {
  it('ensure_ascii=True (Didit raw body)', () => {
    expect(serializePythonJson(value, { ensureAscii: true })).toBe(
      '{"10":1,"9":2,"ctl":"\\u0001\\u007f\\n\\"\\\\","emoji":"\\ud83d\\ude00","f":[5e-05,27.33,1e-07,15000000000000000,123456.789],"name":"Jos\\u00e9 M\\u00fcller","zh":"\\u674e\\u96f7","\\ue000":1,"\\ud83d\\ude00":2}',
    );
  });

  it('ensure_ascii=False (the V2 canonical form)', () => {
    expect(serializePythonJson(value, { ensureAscii: false })).toBe(
      '{"10":1,"9":2,"ctl":"\\u0001\u007f\\n\\"\\\\","emoji":"😀","f":[5e-05,27.33,1e-07,15000000000000000,123456.789],"name":"José Müller","zh":"李雷","\ue000":1,"😀":2}',
    );
  });

  it('writes integral doubles exactly, -0 as 0, bigints verbatim, non-finite as Python', () => {
    expect([1e21, -0, 2 ** 60, Number.NaN, Infinity, -Infinity].map(formatPythonNumber)).toEqual([
      '1000000000000000000000', '0', '1152921504606846976', 'NaN', 'Infinity', '-Infinity',
    ]);
    expect(serializePythonJson([12345678901234567890n, null, true], { ensureAscii: true })).toBe('[12345678901234567890,null,true]');
  });

  it('throws TypeError for values JSON cannot hold', () => {
    expect(() => serializePythonJson({ f: () => 1 }, { ensureAscii: true })).toThrow(TypeError);
  });

  it('compareCodePoints orders astral characters after the BMP private-use area', () => {
    expect(['😀', '\ue000', 'a'].sort(compareCodePoints)).toEqual(['a', '\ue000', '😀']);
    expect(compareCodePoints('ab', 'a')).toBeGreaterThan(0);
    expect(compareCodePoints('a', 'a')).toBe(0);
  });
});
