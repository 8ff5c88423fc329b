import { describe, expect, it } from 'vitest';
import type { Principal } from '../core/principal.js';
import { AllowPartsCache, type AllowParts } from './allow-parts-cache.js';

/**
 * The memo must hand out the parts `build` returns for exactly these inputs: the same frozen objects when
 * every input compares equal, a new build when any one differs (the principal object only locates).
 */
const alice: Principal = { issuerName: 'idp', issuer: 'https://idp.example', sub: 'alice', subject: 'idp:alice', claims: {}, source: 'header', tokenId: 't1' };

function counted() {
  const calls: unknown[][] = [];
  const cache = new AllowPartsCache((claimHeaders, routeId, principal, verified): AllowParts => {
    calls.push([claimHeaders, routeId, principal.subject, verified]);
    return {
      headers: { ...claimHeaders, 'x-s': principal.subject, 'x-i': principal.issuerName, ...(verified ? { 'x-v': verified.join(',') } : {}) },
      metadata: routeId === undefined ? {} : { route: routeId },
    };
  });
  return { cache, calls };
}

describe('AllowPartsCache', () => {
  it('builds once per distinct input and shares the frozen parts', () => {
    const { cache, calls } = counted();
    const a = cache.partsOf({ 'x-e': 'a@x' }, 'r', alice, ['age']);
    const b = cache.partsOf({ 'x-e': 'a@x' }, 'r', alice, ['age']);
    expect(b).toBe(a);
    expect(calls).toHaveLength(1);
    expect(Object.isFrozen(a.headers) && Object.isFrozen(a.metadata)).toBe(true);
    expect(a.headers).toEqual({ 'x-e': 'a@x', 'x-s': 'idp:alice', 'x-i': 'idp', 'x-v': 'age' });
  });

  it('builds anew when any one input differs', () => {
    const { cache, calls } = counted();
    const base = cache.partsOf({ 'x-e': 'a@x', 'x-f': '1' }, 'r', alice, ['age', 'kyc']);
    const variants: readonly (() => AllowParts)[] = [
      () => cache.partsOf({ 'x-e': 'b@x', 'x-f': '1' }, 'r', alice, ['age', 'kyc']),
      () => cache.partsOf({ 'x-f': '1', 'x-e': 'a@x' }, 'r', alice, ['age', 'kyc']),
      () => cache.partsOf({ 'x-e': 'a@x' }, 'r', alice, ['age', 'kyc']),
      () => cache.partsOf({ 'x-e': 'a@x', 'x-f': '1', 'x-g': '' }, 'r', alice, ['age', 'kyc']),
      () => cache.partsOf({ 'x-e': 'a@x', 'x-f': '1' }, 'r2', alice, ['age', 'kyc']),
      () => cache.partsOf({ 'x-e': 'a@x', 'x-f': '1' }, undefined, alice, ['age', 'kyc']),
      () => cache.partsOf({ 'x-e': 'a@x', 'x-f': '1' }, 'r', alice, ['kyc', 'age']),
      () => cache.partsOf({ 'x-e': 'a@x', 'x-f': '1' }, 'r', alice, ['age']),
      () => cache.partsOf({ 'x-e': 'a@x', 'x-f': '1' }, 'r', alice, []),
      () => cache.partsOf({ 'x-e': 'a@x', 'x-f': '1' }, 'r', alice, undefined),
    ];
    const seen = new Set<AllowParts>([base]);
    for (const variant of variants) seen.add(variant());
    expect(seen.size).toBe(1 + variants.length);
    expect(calls).toHaveLength(1 + variants.length);
  });

  it('compares subject and issuer name, not only the principal object', () => {
    const { cache, calls } = counted();
    const principal = { ...alice } as { -readonly [K in keyof Principal]: Principal[K] };
    const first = cache.partsOf({}, 'r', principal, undefined);
    principal.subject = 'idp:mallory';
    const second = cache.partsOf({}, 'r', principal, undefined);
    expect(second).not.toBe(first);
    expect(second.headers['x-s']).toBe('idp:mallory');
    principal.subject = 'idp:alice';
    principal.issuerName = 'other';
    expect(cache.partsOf({}, 'r', principal, undefined).headers['x-i']).toBe('other');
    expect(calls).toHaveLength(3);
  });

  it('keeps nothing for claim headers with inherited entries', () => {
    const { cache, calls } = counted();
    const inherited = Object.create({ 'x-e': 'a@x' }) as Record<string, string>;
    const first = cache.partsOf(inherited, 'r', alice, undefined);
    cache.partsOf(inherited, 'r', alice, undefined);
    expect(calls).toHaveLength(2);
    expect(Object.isFrozen(first.headers)).toBe(false);
    // An own entry equal to a kept inherited one is not taken for it either.
    cache.partsOf({ 'x-e': 'a@x' }, 'r', alice, undefined);
    expect(calls).toHaveLength(3);
  });

  it('is bounded: 8 allows per principal, the oldest out first', () => {
    const { cache, calls } = counted();
    for (let i = 0; i < 9; i++) cache.partsOf({}, `r${i}`, alice, undefined);
    expect(calls).toHaveLength(9);
    cache.partsOf({}, 'r8', alice, undefined);
    cache.partsOf({}, 'r1', alice, undefined);
    expect(calls).toHaveLength(9);
    cache.partsOf({}, 'r0', alice, undefined);
    expect(calls).toHaveLength(10);
  });
});
