import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalizePath } from './canonical-path.js';

describe('canonicalizePath', () => {
  it.each<[string, string, string, string, ('raw' | 'encoded')?]>([
    ['plain path', '/api/users', '/api/users', ''],
    ['root', '/', '/', ''],
    ['query split at the first ?', '/a/b?x=1&y=/../?z', '/a/b', 'x=1&y=/../?z'],
    ['fragment dropped', '/a#frag', '/a', ''],
    ['fragment after query dropped', '/a?q=1#frag', '/a', 'q=1'],
    ['empty query kept empty', '/a?', '/a', ''],
    ['double slash at the start merged', '//admin', '/admin', ''],
    ['slash runs merged', '/a///b//c', '/a/b/c', ''],
    ['dot-dot resolved', '/a/../admin', '/admin', ''],
    ['single dot removed', '/a/./b', '/a/b', ''],
    ['encoded dot-dot resolved', '/x/%2e%2e/admin', '/admin', ''],
    ['upper-case encoded dots resolved', '/x/%2E%2E/admin', '/admin', ''],
    ['mixed encoded dot', '/x/.%2e/admin', '/admin', ''],
    ['trailing slash preserved', '/a/b/', '/a/b/', ''],
    ['trailing dot-dot leaves a slash', '/a/b/..', '/a/', ''],
    ['trailing dot leaves a slash', '/a/.', '/a/', ''],
    ['dot-dot back to root', '/a/..', '/', ''],
    ['case kept', '/ADMIN', '/ADMIN', ''],
    ['unreserved escapes decoded', '/%61%64%6D%69%6E', '/admin', ''],
    ['tilde and dash decoded', '/%7euser%2Dx', '/~user-x', ''],
    ['reserved escape kept, hex upper-cased', '/a%3fb%3d%25', '/a%3Fb%3D%25', ''],
    ['space escape kept', '/a%20b', '/a%20b', ''],
    ['valid UTF-8 escapes kept upper-case', '/caf%c3%a9', '/caf%C3%A9', ''],
    ['4-byte UTF-8 kept', '/%F0%9F%98%80', '/%F0%9F%98%80', ''],
    ['raw unsafe character escaped', '/a{b}|c', '/a%7Bb%7D%7Cc', ''],
    ['three dots is a name', '/.../a', '/.../a', ''],
    ['dotfile is a name', '/.well-known/x', '/.well-known/x', ''],
    ['double-encoded stays encoded', '/%252e%252e/admin', '/%252e%252e/admin', ''],
    // Path parameters: stripped from each segment as servlet containers route (so the policy sees what
    // Spring/Tomcat see) and reported, so the policy can refuse them; an encoded `;` is only reported.
    ['parameter stripped from a middle segment', '/api/admin;x/users', '/api/admin/users', '', 'raw'],
    ['parameter with a value', '/a;jsessionid=1/c', '/a/c', '', 'raw'],
    ['several parameters in one segment', '/a;b=1;c=2/d', '/a/d', '', 'raw'],
    ['parameters on several segments', '/a;x/b;y', '/a/b', '', 'raw'],
    ['empty parameter', '/admin;/users', '/admin/users', '', 'raw'],
    ['parameter on the last segment, trailing slash kept', '/a/b;x/', '/a/b/', '', 'raw'],
    ['encoded semicolon reported, kept escaped', '/api/admin%3Bx/users', '/api/admin%3Bx/users', '', 'encoded'],
    ['encoded semicolon, lower-case hex', '/api/admin%3bx/users', '/api/admin%3Bx/users', '', 'encoded'],
    ['encoded wins over raw', '/a;x/b%3by', '/a/b%3By', '', 'encoded'],
    ['parameter on a segment removed by dot-dot still reported', '/a;x/../b', '/b', '', 'raw'],
  ])('%s: %s → %s', (_name, raw, path, query, pathParameters) => {
    // toEqual: an absent pathParameters matches a result without the key.
    expect(canonicalizePath(raw)).toEqual({ ok: true, path, query, pathParameters });
  });

  it('a semicolon in the query is not a path parameter', () => {
    expect(canonicalizePath('/a?b;c=%3b')).toEqual({ ok: true, path: '/a', query: 'b;c=%3b' });
  });

  it.each([
    ['parameter without a segment name', '/api/;x/admin'],
    ['parameter-only first segment', '/;x/admin'],
    ['bare semicolon segment', '/a/;/b'],
    ['encoded dots with a parameter', '/api/%2E%2E;x/admin'],
    ['encoded slash', '/api%2fadmin'],
    ['encoded slash upper-case', '/api%2Fadmin'],
    ['encoded backslash', '/api%5cadmin'],
    ['raw backslash', '/api\\admin'],
    ['servlet dot-dot parameter', '/api/..;/admin'],
    ['servlet dot-dot parameter with value', '/api/..;jsessionid=1/admin'],
    ['servlet dot parameter', '/api/.;/admin'],
    ['encoded dots with parameter', '/api/%2e%2e;/admin'],
    ['dot-dot with encoded semicolon', '/api/..%3b/admin'],
    ['dot-dot above the root', '/..'],
    ['dot-dot above the root later', '/a/../../admin'],
    ['encoded dot-dot above the root', '/%2e%2e/admin'],
    ['encoded NUL', '/a%00b'],
    ['raw NUL', '/a\u0000b'],
    ['encoded newline', '/a%0d%0ab'],
    ['raw tab', '/a\tb'],
    ['encoded DEL', '/a%7f'],
    ['bad escape', '/a%zz'],
    ['half-hex escape', '/a%4g'],
    ['truncated escape', '/a%4'],
    ['lone percent', '/a%'],
    ['overlong dot (c0 ae)', '/%c0%ae%c0%ae/admin'],
    ['overlong slash (c0 af)', '/a%c0%afb'],
    ['overlong 3-byte', '/%e0%80%af'],
    ['UTF-16 surrogate encoded', '/%ed%a0%80'],
    ['truncated UTF-8 sequence', '/%c3'],
    ['UTF-8 lead byte followed by plain text', '/%c3a'],
    ['stray continuation byte', '/%80'],
    ['above U+10FFFF', '/%f4%90%80%80'],
    ['invalid lead byte', '/%ff'],
    ['raw non-ASCII', '/café'],
    ['raw space', '/a b'],
    ['asterisk form', '*'],
    ['relative target', 'admin'],
    ['absolute-form URL', 'http://evil/admin'],
    ['empty', ''],
    ['control char in query', '/a?x=\u0001'],
  ])('rejects %s: %j', (_name, raw) => {
    const result = canonicalizePath(raw);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/\w/);
  });

  it('never throws and yields a canonical, idempotent path (property)', () => {
    const pieces = fc.constantFrom(
      '/', '//', '.', '..', '%2e', '%2E', '%2f', '%5c', ';', '..;', 'a', 'B', '~', '%41', '%7e', '%c3%a9',
      '%c0%ae', '%', '%z', '?', '#', '\\', ' ', '{', '%00', 'é', '%25', '-',
    );
    const target = fc.oneof(
      fc.array(pieces, { maxLength: 12 }).map((parts) => '/' + parts.join('')),
      fc.string({ maxLength: 30 }),
      fc.string({ unit: 'binary', maxLength: 20 }).map((s) => '/' + s),
    );
    fc.assert(
      fc.property(target, (raw) => {
        const result = canonicalizePath(raw);
        if (!result.ok) return;
        const { path } = result;
        expect(path.startsWith('/')).toBe(true);
        expect(path).not.toContain('//');
        expect(path).not.toContain('/./');
        expect(path).not.toContain('/../');
        expect(path.endsWith('/.')).toBe(false);
        expect(path.endsWith('/..')).toBe(false);
        expect(path).not.toMatch(/%(2[fF]|5[cC]|00)/);
        expect(path).not.toContain(';');
        const again = canonicalizePath(path);
        const encoded = result.pathParameters === 'encoded' ? { pathParameters: 'encoded' } : {};
        expect(again).toEqual({ ok: true, path, query: '', ...encoded });
      }),
      { numRuns: 2000 },
    );
  });
});
