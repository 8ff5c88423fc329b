import { describe, expect, it } from 'vitest';
import { isBrowserNavigation } from './browser-navigation.js';
import { testRequestContext } from './test-request-context.js';

/**
 * The test as it was before its `text/html` pre-test (the same rules, written as an oracle): the pre-test may only skip
 * work, never change an answer, since the renderer (redirect or challenge) and the gate (return URL or none)
 * must keep agreeing with each other and with what they answered before.
 */
function reference(method: string, accept: string | undefined): boolean {
  if (!['GET', 'HEAD'].includes(method) || accept === undefined) return false;
  return accept.split(',').some((range) => {
    const parts = range.split(';').map((p) => p.trim().toLowerCase());
    if (parts[0] !== 'text/html') return false;
    const q = parts.slice(1).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

const RANGES = [
  'text/html', 'TEXT/HTML', 'Text/Html', ' text/html ', 'text/html;q=0', 'text/html; q=0.5', 'text/html;Q=1',
  'text/html;level=1;q=0', 'text/html;q=', 'text/html;q=abc', 'text/html;q=0x1', 'text/html;q=1e0', 'text/html ;q=0.0',
  'text/htm', 'text/htmlx', 'xtext/html', 'text/ html', 'text/*', '*/*', 'application/json', 'application/xhtml+xml',
  'text/plain', 'application/text/html', 'text/html\u212a', '\u0130text/html', 'te\u212ext/html', '',
];

describe('isBrowserNavigation', () => {
  it('answers exactly as the full parse does for every method and Accept built from tricky ranges', () => {
    let browsers = 0;
    for (const method of ['GET', 'HEAD', 'POST', 'get']) {
      const accepts: (string | undefined)[] = [undefined, 'application/json, text/plain, */*'];
      for (const a of RANGES) {
        accepts.push(a);
        for (const b of RANGES) accepts.push(`${a},${b}`, `${b}, ${a};q=0.9`);
      }
      for (const accept of accepts) {
        const ctx = testRequestContext({ method, headers: accept === undefined ? {} : { accept } });
        const expected = reference(method, accept);
        expect([method, accept, isBrowserNavigation(ctx)]).toEqual([method, accept, expected]);
        if (expected) browsers++;
      }
    }
    // Both answers occur, so the comparison above is not vacuous.
    expect(browsers).toBeGreaterThan(100);
  });

  it('tells a browser navigation from an API call', () => {
    expect(isBrowserNavigation(testRequestContext({ headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } }))).toBe(true);
    expect(isBrowserNavigation(testRequestContext({ headers: { accept: 'application/json, text/plain, */*' } }))).toBe(false);
    expect(isBrowserNavigation(testRequestContext({ method: 'POST', headers: { accept: 'text/html' } }))).toBe(false);
    expect(isBrowserNavigation(testRequestContext({ headers: { accept: 'text/html;q=0' } }))).toBe(false);
  });
});
