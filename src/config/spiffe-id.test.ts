import { describe, expect, it } from 'vitest';
import { checkPrincipalPattern, isSpiffeId, parsePrincipalPattern, spiffeIdProblem } from './spiffe-id.js';

describe('spiffeIdProblem', () => {
  it.each([
    'spiffe://cluster.local/ns/shop/sa/web',
    'spiffe://cluster.local',
    'spiffe://example.org/a_b/c-d/e.f/.hidden/..x',
    'spiffe://td-1_x.example/Path/UPPER',
  ])('accepts %s', (id) => {
    expect(spiffeIdProblem(id)).toBeUndefined();
    expect(isSpiffeId(id)).toBe(true);
  });

  it.each([
    ['', /must start with "spiffe:\/\/"/],
    ['SPIFFE://cluster.local/ns/a', /lower-case scheme/],
    ['https://cluster.local/ns/a', /must start with "spiffe:\/\/"/],
    ['spiffe:///ns/a', /trust domain is empty/],
    ['spiffe://Cluster.local/ns/a', /trust domain may hold only lower-case/],
    ['spiffe://cluster.local:8443/ns/a', /no port/],
    ['spiffe://user@cluster.local/ns/a', /trust domain may hold only/],
    ['spiffe://cluster.local/', /empty segment/],
    ['spiffe://cluster.local/ns//a', /empty segment/],
    ['spiffe://cluster.local/ns/a/', /empty segment/],
    ['spiffe://cluster.local/ns/./a', /"\." or "\.\." segment/],
    ['spiffe://cluster.local/ns/../a', /"\." or "\.\." segment/],
    ['spiffe://cluster.local/ns/a?x=1', /no query or fragment/],
    ['spiffe://cluster.local/ns/a#frag', /no query or fragment/],
    ['spiffe://cluster.local/ns/a%2Fb', /path segments may hold only/],
    [`spiffe://cluster.local/${'a'.repeat(2040)}`, /too long/],
  ])('rejects %j', (id, problem) => {
    expect(spiffeIdProblem(id)).toMatch(problem);
    expect(isSpiffeId(id)).toBe(false);
  });
});

describe('parsePrincipalPattern', () => {
  it('reads an exact ID and a segment-aware prefix', () => {
    expect(parsePrincipalPattern('spiffe://cluster.local/ns/shop/sa/web')).toEqual({ exact: 'spiffe://cluster.local/ns/shop/sa/web' });
    expect(parsePrincipalPattern('spiffe://cluster.local/ns/shop/*')).toEqual({ under: 'spiffe://cluster.local/ns/shop/' });
    expect(parsePrincipalPattern('spiffe://cluster.local/*')).toEqual({ under: 'spiffe://cluster.local/' });
  });

  it.each([
    'spiffe://cluster.local/ns/shop*',
    'spiffe://cluster.local/ns/*/sa/web',
    'spiffe://cluster.local/ns/shop/**',
    'spiffe://*/ns/shop',
    'spiffe://cluster.local/ns/shop//*',
    '/*',
  ])('refuses %j, naming the rule', (entry) => {
    const problem = checkPrincipalPattern(entry);
    expect(problem).toMatch(/^not a SPIFFE ID: /);
    expect(problem).toContain(JSON.stringify(entry));
  });

  it('explains where "*" may go', () => {
    expect(checkPrincipalPattern('spiffe://cluster.local/ns/*/sa/web')).toContain('"*" is allowed only as the whole last segment');
  });
});
