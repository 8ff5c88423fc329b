import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeIdentityValue, isRepresentable, toHeaderSafe, toWellFormed } from './encode-identity-value.js';

describe('encodeIdentityValue', () => {
  it.each([
    ['plain ASCII identifiers pass unchanged', 'test:alice@example.com', 'test:alice@example.com'],
    ['Latin-1 as UTF-8 bytes', 'José', 'Jos%C3%A9'],
    ['above U+00FF (the issue 18 crash)', 'Ā@x', '%C4%80@x'],
    ['CJK', '中文', '%E4%B8%AD%E6%96%87'],
    ['astral (a surrogate pair)', '😀', '%F0%9F%98%80'],
    ['percent itself, so decoding is exact', '100%', '100%25'],
    ['comma, so list items stay apart', 'a,b', 'a%2Cb'],
    ['space (HTTP trims leading and trailing blanks)', ' a b ', '%20a%20b%20'],
    ['quote, backslash and semicolon are visible ASCII', `"\\;`, `"\\;`],
  ])('%s', (_name, input, expected) => {
    expect(encodeIdentityValue(input)).toBe(expected);
    expect(decodeURIComponent(expected)).toBe(input);
  });

  it.each([
    ['a lone high surrogate', 'a\ud800'],
    ['a lone low surrogate', '\udc00b'],
    ['NUL', 'a\u0000'],
    ['CR LF', 'a\r\nb'],
    ['tab', 'a\tb'],
    ['DEL', '\u007f'],
    ['a C1 control (NEL)', 'a\u0085'],
  ])('refuses %s', (_name, input) => {
    expect(isRepresentable(input)).toBe(false);
    expect(encodeIdentityValue(input)).toBeUndefined();
  });

  it('property: every representable string encodes to visible ASCII without a raw comma and decodes back exactly', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
        const encoded = encodeIdentityValue(s);
        if (/[\p{Cc}]/u.test(s)) return encoded === undefined;
        expect(encoded).toMatch(/^[\x21-\x24\x26-\x2b\x2d-\x7e]*(%[0-9A-F]{2}[\x21-\x24\x26-\x2b\x2d-\x7e]*)*$/);
        expect(decodeURIComponent(encoded as string)).toBe(s);
        return true;
      }),
      { seed: 20251205, numRuns: 2_000 },
    );
  });
});

describe('toHeaderSafe / toWellFormed', () => {
  it('property: any UTF-16 string becomes a value Node accepts in a header, and encoded values are fixed points', () => {
    const unit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
    fc.assert(
      fc.property(fc.array(unit, { maxLength: 30 }).map((a) => a.join('')), (s) => {
        const safe = toHeaderSafe(s);
        expect(safe).toMatch(/^[\t\x20-\x7e]*$/);
        const encoded = encodeIdentityValue(s);
        if (encoded !== undefined) expect(toHeaderSafe(encoded)).toBe(encoded);
        expect(/\p{Cs}/u.test(toWellFormed(s))).toBe(false);
      }),
      { seed: 20251205, numRuns: 2_000 },
    );
  });
});
