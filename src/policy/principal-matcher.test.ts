import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compilePrincipalMatcher } from './principal-matcher.js';

const WEB = 'spiffe://cluster.local/ns/shop/sa/web';

describe('compilePrincipalMatcher', () => {
  it('matches exact IDs only exactly', () => {
    const m = compilePrincipalMatcher([WEB]);
    expect(m(WEB)).toBe(true);
    expect(m(`${WEB}x`)).toBe(false);
    expect(m(`${WEB}/more`)).toBe(false);
    expect(m('spiffe://cluster.local/ns/shop/sa/WEB')).toBe(false);
    expect(m('')).toBe(false);
  });

  it('matches a prefix entry by whole path segments', () => {
    const m = compilePrincipalMatcher(['spiffe://cluster.local/ns/shop/*']);
    expect(m(WEB)).toBe(true);
    expect(m('spiffe://cluster.local/ns/shop/x')).toBe(true);
    expect(m('spiffe://cluster.local/ns/shopx/sa/web')).toBe(false);
    expect(m('spiffe://cluster.local/ns/shop')).toBe(false);
    expect(m('spiffe://cluster.local/ns/shop/')).toBe(false);
    expect(m('spiffe://other.local/ns/shop/sa/web')).toBe(false);
    // A dot segment would climb out of the prefix: not a SPIFFE ID, never matched.
    expect(m('spiffe://cluster.local/ns/shop/../admin/sa/x')).toBe(false);
    expect(m('spiffe://cluster.local/ns/shop/sa/web?x')).toBe(false);
    expect(m('')).toBe(false);
  });

  it('never matches the empty principal, whatever the list', () => {
    expect(compilePrincipalMatcher(['spiffe://cluster.local/*', WEB])('')).toBe(false);
  });

  it('refuses an entry the loader would have rejected', () => {
    expect(() => compilePrincipalMatcher(['spiffe://cluster.local/ns/*/sa'])).toThrow(TypeError);
  });

  const segment = fc.stringMatching(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,7}$/);
  const path = fc.array(segment, { minLength: 1, maxLength: 4 });
  const trustDomain = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,10}$/);

  it('a prefix entry never matches an ID outside its path segment', () => {
    fc.assert(
      fc.property(trustDomain, path, trustDomain, path, (td, prefix, otherTd, other) => {
        const m = compilePrincipalMatcher([`spiffe://${td}/${prefix.join('/')}/*`]);
        const id = `spiffe://${otherTd}/${other.join('/')}`;
        const inside = otherTd === td && other.length > prefix.length && prefix.every((s, i) => other[i] === s);
        expect(m(id)).toBe(inside);
      }),
    );
  });

  it('a prefix entry matches every ID under it', () => {
    fc.assert(
      fc.property(trustDomain, path, path, (td, prefix, rest) => {
        const m = compilePrincipalMatcher([`spiffe://${td}/${prefix.join('/')}/*`]);
        expect(m(`spiffe://${td}/${[...prefix, ...rest].join('/')}`)).toBe(true);
      }),
    );
  });
});
