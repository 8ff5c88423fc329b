import { describe, expect, it } from 'vitest';
import { canonicalizePath } from './canonical-path.js';

/** Asserts that `raw` is accepted as exactly this path and query (and path-parameter report, if any). */
function expectCanonical(raw: string, path: string, query = '', pathParameters?: 'raw' | 'encoded'): void {
  expect(canonicalizePath(raw)).toEqual({ ok: true, path, query, ...(pathParameters !== undefined ? { pathParameters } : {}) });
}

/**
 * Edges of the path canonicaliser that canonical-path.test.ts leaves open (found by mutation testing,
 * `make mutation`): the exact reason of each rejection, the UTF-8 byte-range boundaries of RFC 3629, the
 * character classes at their edges, and the fast path for already canonical targets.
 */
describe('canonicalizePath rejection reasons', () => {
  it.each([
    ['', 'empty request target'],
    ['*', 'request target is not an absolute path'],
    ['a/b', 'request target is not an absolute path'],
    ['?/a', 'request target is not an absolute path'],
    ['/a?x=\u0001', 'control character in request target'],
    ['/a?x=\u007f', 'control character in request target'],
    ['/a#\u001f', 'control character in request target'],
    ['/a%', 'malformed percent-encoding'],
    ['/a%4', 'malformed percent-encoding'],
    ['/a%4?', 'malformed percent-encoding'],
    ['/a%g1', 'malformed percent-encoding'],
    ['/a%1g', 'malformed percent-encoding'],
    ['/a%:1', 'malformed percent-encoding'],
    ['/a%/1', 'malformed percent-encoding'],
    ['/a%@1', 'malformed percent-encoding'],
    ['/a%G1', 'malformed percent-encoding'],
    ['/a%`1', 'malformed percent-encoding'],
    ['/a%2f', 'encoded slash'],
    ['/a%5C', 'encoded backslash'],
    ['/a%00', 'encoded control character'],
    ['/a%1F', 'encoded control character'],
    ['/a%7F', 'encoded control character'],
    ['/a%80', 'invalid UTF-8 in percent-encoding'],
    ['/é', 'raw non-ASCII character in path'],
    ['/a\u007f', 'raw non-ASCII character in path'],
    ['/a b', 'raw space in path'],
    ['/a\tb', 'control character in path'],
    ['/a\u0000b', 'control character in path'],
    ['/a\\b', 'backslash in path'],
    ['/..', 'dot segment above the root'],
    ['/a/../..', 'dot segment above the root'],
    ['/a/..;x', 'dot segment with path parameter'],
    ['/a/.;x', 'dot segment with path parameter'],
    ['/a/.%3bx', 'dot segment with path parameter'],
    ['/a/..%3B', 'dot segment with path parameter'],
    ['/a/;x', 'path parameter without a segment name'],
  ])('%j → %s', (raw, reason) => {
    expect(canonicalizePath(raw)).toEqual({ ok: false, reason });
  });
});

describe('canonicalizePath input types and result shape', () => {
  it('refuses a non-string target without throwing', () => {
    expect(canonicalizePath(42 as unknown as string)).toEqual({ ok: false, reason: 'empty request target' });
    expect(canonicalizePath(undefined as unknown as string)).toEqual({ ok: false, reason: 'empty request target' });
  });

  it('has no pathParameters member at all when the path has none', () => {
    expect(Object.keys(canonicalizePath('/a/./b'))).toEqual(['ok', 'path', 'query']);
    expect(Object.keys(canonicalizePath('/a//'))).toEqual(['ok', 'path', 'query']);
    expect(Object.keys(canonicalizePath('/a;b'))).toEqual(['ok', 'path', 'query', 'pathParameters']);
  });

  it('allows a space and any printable character in the query, and ! in a decoded path', () => {
    expectCanonical('/a?b c!', '/a', 'b c!');
    expectCanonical('/a/./b?x y', '/a/b', 'x y');
    expectCanonical('/a//!', '/a/!');
    expectCanonical('/%41!', '/A!');
  });
});

describe('canonicalizePath UTF-8 escapes (RFC 3629 table)', () => {
  it.each([
    ['%C2%80', true],
    ['%DF%BF', true],
    ['%C1%BF', false], // overlong 2-byte lead
    ['%E0%A0%80', true],
    ['%E0%9F%BF', false], // overlong 3-byte
    ['%E1%80%80', true],
    ['%EC%BF%BF', true],
    ['%ED%9F%BF', true],
    ['%ED%A0%80', false], // surrogate
    ['%EE%80%80', true],
    ['%EF%BF%BF', true],
    ['%F0%90%80%80', true],
    ['%F0%8F%BF%BF', false], // overlong 4-byte
    ['%F1%80%80%80', true],
    ['%F4%8F%BF%BF', true],
    ['%F4%90%80%80', false], // above U+10FFFF
    ['%F5%80%80%80', false],
    ['%C2%7F', false], // continuation below 0x80
    ['%C2%C0', false], // continuation above 0xBF
    ['%E1%80%C0', false], // second continuation reset to 80..BF and checked
    ['%E1%80%7F', false],
    ['%F0%90%80', false], // truncated
    ['%F0%90%80%8', false], // truncated last escape
    ['%E1%80x', false],
    ['%E1%80%8', false],
    ['%80%80%80', false], // continuation bytes are never a lead (not a 3-byte sequence)
    ['%80%80%80%80', false], // nor a 4-byte one
    ['%C0%80%80', false],
    ['%F1%90%80%80', true], // only F4 lowers the second byte's upper bound
    ['%F3%BF%BF%BF', true],
    ['%C3xA9', false], // each continuation must be its own escape
    ['%E2x82%AC', false],
  ])('%s valid: %s', (escaped, valid) => {
    const result = canonicalizePath(`/a${escaped}/b`);
    if (valid) expect(result).toEqual({ ok: true, path: `/a${escaped}/b`, query: '' });
    else expect(result).toEqual({ ok: false, reason: 'invalid UTF-8 in percent-encoding' });
  });

  it('keeps a valid sequence escaped in upper case and continues after it', () => {
    expectCanonical('/%c3%a9%c3%a9x%e2%82%acy', '/%C3%A9%C3%A9x%E2%82%ACy');
    expectCanonical('/%f0%9f%98%80/%2e%2e/z', '/z');
  });
});

describe('canonicalizePath character classes', () => {
  it('decodes escaped unreserved characters at the edges of each range', () => {
    expectCanonical('/%41%5A%61%7A%30%39%2D%2E%5F%7E', '/AZaz09-._~');
  });

  it('keeps escaped reserved and other characters escaped, upper-case', () => {
    expectCanonical('/%21%2a%3a%40%20%22%7b%7c%3c', '/%21%2A%3A%40%20%22%7B%7C%3C');
    expectCanonical('/%40%5B%60', '/%40%5B%60');
  });

  it('escapes raw characters that are neither reserved nor unreserved, and keeps the others raw', () => {
    expectCanonical('/"<>^`{|}', '/%22%3C%3E%5E%60%7B%7C%7D');
    expectCanonical("/!$&'()*+,=:@~", "/!$&'()*+,=:@~");
    expectCanonical('/a~/%7e', '/a~/~');
  });

  it('accepts the printable edges ! and ~ raw', () => {
    expectCanonical('/!~', '/!~');
    expectCanonical('/!/~/', '/!/~/');
  });
});

describe('canonicalizePath segments and fast path', () => {
  it.each([
    ['/a/./', '/a/'],
    ['/./', '/'],
    ['/.', '/'],
    ['/a/..', '/'],
    ['/a/b/../', '/a/'],
    ['/a//', '/a/'],
    ['//', '/'],
    ['/a/.b', '/a/.b'],
    ['/a/b.', '/a/b.'],
    ['/.a/b', '/.a/b'],
    ['/a/..b', '/a/..b'],
    ['/a/..%2Eb', '/a/...b'],
    ['/a.;x/b', '/a./b'],
    ['/a/b;x', '/a/b'],
    ['/%2e', '/'],
    ['/a/%2E/', '/a/'],
    ['/a/b/c/../../d', '/a/d'],
  ])('%s → %s', (raw, path) => {
    const result = canonicalizePath(raw);
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.path).toBe(path);
  });

  it('reports raw path parameters only when a ; is in the path part', () => {
    expectCanonical('/a.;x/b', '/a./b', '', 'raw');
    expectCanonical('/a/b;', '/a/b', '', 'raw');
    expectCanonical('/a%3B', '/a%3B', '', 'encoded');
    expectCanonical('/a%3Bb;c', '/a%3Bb', '', 'encoded');
    expectCanonical('/a/b#;x', '/a/b');
  });

  it('returns an already canonical target as it is, with its query', () => {
    expectCanonical('/a.b/c-d_e~f/', '/a.b/c-d_e~f/');
    expectCanonical('/a/b?c=%2F..#x', '/a/b', 'c=%2F..');
    expectCanonical('/a#b?c', '/a');
    expectCanonical('/a?b#c?d', '/a', 'b');
    expectCanonical('/a?', '/a');
  });

  it('takes the slow path for every spelling the fast path must not pass through', () => {
    expectCanonical('/a/.', '/a/');
    expectCanonical('/a//b', '/a/b');
    expectCanonical('/a{', '/a%7B');
    expectCanonical('/a%41', '/aA');
    expectCanonical('/a;b', '/a', '', 'raw');
    expect(canonicalizePath('/x/é').ok).toBe(false);
  });
});
