import { describe, expect, it } from 'vitest';
import type { Requirements } from '../config/types.js';
import { mergeAllRequirements, mergeRequirements } from './effective-requirements.js';

const NONE: Requirements = { authenticated: false, issuers: [], claims: {}, scopes: [], anyRoles: [], allRoles: [], verification: [], onInReview: 'allow', onDeclined: 'retry' };
const req = (over: Partial<Requirements>): Requirements => ({ ...NONE, authenticated: true, ...over });
const ACR = ['bronze', 'silver', 'gold'];

describe('mergeAllRequirements: stricter wins per requirement kind', () => {
  it('authenticated: either side', () => {
    expect(mergeAllRequirements([NONE, NONE], ACR).authenticated).toBe(false);
    expect(mergeAllRequirements([NONE, req({}), NONE], ACR).authenticated).toBe(true);
  });

  it('issuers intersect (empty list = any); an empty intersection accepts none', () => {
    expect(mergeAllRequirements([req({}), req({ issuers: ['a', 'b'] })], ACR).issuers).toEqual(new Set(['a', 'b']));
    expect(mergeAllRequirements([req({ issuers: ['a', 'b'] }), req({ issuers: ['b', 'c'] }), req({})], ACR).issuers).toEqual(new Set(['b']));
    expect(mergeAllRequirements([req({ issuers: ['a'] }), req({ issuers: ['c'] })], ACR).issuers).toEqual(new Set());
    expect(mergeAllRequirements([req({}), req({})], ACR).issuers).toBeUndefined();
  });

  it('claims: all hold', () => {
    const m = mergeAllRequirements([req({ claims: { a: { equals: 1 } } }), req({ claims: { a: { equals: 2 }, b: { present: true } } })], ACR);
    expect(m.claims.map((c) => [c.path.name, c.matcher])).toEqual([['a', { equals: 1 }], ['a', { equals: 2 }], ['b', { present: true }]]);
  });

  it('scopes and allRoles unite; anyRoles and amr stay separate groups', () => {
    const m = mergeAllRequirements(
      [req({ scopes: ['r'], anyRoles: ['x', 'y'], allRoles: ['u'], mfa: { amr: ['mfa'] } }), req({ scopes: ['r', 'w'], anyRoles: ['z'], allRoles: ['v'], mfa: { amr: ['hwk', 'otp'] } }), req({ anyRoles: [] })],
      ACR,
    );
    expect(m.scopes).toEqual(['r', 'w']);
    expect(m.allRoles).toEqual(['u', 'v']);
    expect(m.anyRoleGroups).toEqual([['x', 'y'], ['z']]);
    expect(m.amrGroups).toEqual([['mfa'], ['hwk', 'otp']]);
  });

  it('acr: the highest; an acr outside acrOrder is a TypeError', () => {
    expect(mergeAllRequirements([req({ mfa: { acrAtLeast: 'gold' } }), req({ mfa: { acrAtLeast: 'silver' } })], ACR).acrAtLeast).toEqual({ value: 'gold', rank: 2 });
    expect(() => mergeAllRequirements([req({ mfa: { acrAtLeast: 'platinum' } })], ACR)).toThrow(TypeError);
  });

  it('max token age and verification max age: the smallest; verification workflows unite', () => {
    const m = mergeAllRequirements(
      [req({ maxTokenAgeMs: 600_000, verification: ['kyc'] }), req({ maxTokenAgeMs: 60_000, verification: ['kyc', 'age'], verificationMaxAgeMs: 86_400_000 }), req({ verificationMaxAgeMs: 3_600_000 })],
      ACR,
    );
    expect(m.maxTokenAgeMs).toBe(60_000);
    expect(m.verification).toEqual(['kyc', 'age']);
    expect(m.verificationMaxAgeMs).toBe(3_600_000);
    expect(mergeAllRequirements([req({})], ACR).maxTokenAgeMs).toBeUndefined();
  });

  it('onInReview/onDeclined: deny beats allow/retry', () => {
    const m = mergeAllRequirements([req({}), req({ onInReview: 'deny' }), req({ onDeclined: 'deny' })], ACR);
    expect([m.onInReview, m.onDeclined]).toEqual(['deny', 'deny']);
    const lax = mergeAllRequirements([req({}), req({})], ACR);
    expect([lax.onInReview, lax.onDeclined]).toEqual(['allow', 'retry']);
  });

  it('mergeRequirements is its two-input case', () => {
    const a = req({ scopes: ['r'], issuers: ['a'] });
    const b = req({ scopes: ['w'], issuers: ['a', 'b'], maxTokenAgeMs: 5 });
    expect(mergeRequirements(a, b, ACR)).toEqual(mergeAllRequirements([a, b], ACR));
    expect(mergeRequirements(a, undefined, ACR)).toEqual(mergeAllRequirements([a], ACR));
  });
});
