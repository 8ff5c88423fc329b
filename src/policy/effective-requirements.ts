import type { ClaimMatcher, Requirements } from '../config/types.js';
import { compileClaimPath, type ClaimPath } from './claim-path.js';

/**
 * A route's requirements after its sensitivity level has been merged in, in a form the evaluator only
 * loops over. "Any of" lists stay separate groups so that merging never weakens a rule: a route needing
 * one of `[admin]` and a level needing one of `[staff]` needs both groups satisfied.
 */
export interface EffectiveRequirements {
  readonly authenticated: boolean;
  /** Accepted issuer names; undefined = any configured issuer. */
  readonly issuers?: ReadonlySet<string>;
  readonly claims: readonly { readonly path: ClaimPath; readonly matcher: ClaimMatcher }[];
  /** All required (union of route and level). */
  readonly scopes: readonly string[];
  /** Each group needs at least one role. */
  readonly anyRoleGroups: readonly (readonly string[])[];
  readonly allRoles: readonly string[];
  /** Each group needs at least one `amr` value. */
  readonly amrGroups: readonly (readonly string[])[];
  /** Minimum `acr` and its index in `policy.acrOrder`. */
  readonly acrAtLeast?: { readonly value: string; readonly rank: number };
  readonly maxTokenAgeMs?: number;
  readonly verification: readonly string[];
  readonly verificationMaxAgeMs?: number;
  readonly onInReview: 'deny' | 'allow';
  readonly onDeclined: 'deny' | 'retry';
}

/**
 * Merges a route's requirements with its sensitivity level's (stricter wins): lists are united, "any of"
 * groups are all kept, issuer lists are intersected, the smaller max age and the higher `acr` win, and
 * `deny` beats `allow`/`retry` for In Review/Declined verdicts.
 *
 * @throws {TypeError} when `acrAtLeast` is not in `acrOrder` (the configuration loader rejects that).
 */
export function mergeRequirements(
  route: Requirements,
  level: Requirements | undefined,
  acrOrder: readonly string[],
): EffectiveRequirements {
  return mergeAllRequirements(level === undefined ? [route] : [route, level], acrOrder);
}

/**
 * Merges any number of requirement sets (a route, its level, every matching guardrail and their levels)
 * so that the result holds only when each input holds: the same rules as {@link mergeRequirements}, which
 * is its two-input case. Order only affects the order of lists in traces, never what is required. An
 * empty intersection of issuers stays an empty set: no token is accepted (fail closed).
 *
 * @throws {TypeError} when `acrAtLeast` is not in `acrOrder` (the configuration loader rejects that).
 */
export function mergeAllRequirements(all: readonly Requirements[], acrOrder: readonly string[]): EffectiveRequirements {
  const union = (pick: (r: Requirements) => readonly string[]): string[] => [...new Set(all.flatMap(pick))];
  const min = (values: (number | undefined)[]): number | undefined => {
    const defined = values.filter((v): v is number => v !== undefined);
    return defined.length === 0 ? undefined : Math.min(...defined);
  };

  let issuers: Set<string> | undefined;
  for (const r of all) {
    if (r.issuers.length === 0) continue;
    issuers = issuers === undefined ? new Set(r.issuers) : new Set(r.issuers.filter((n) => issuers?.has(n)));
  }

  let acrAtLeast: EffectiveRequirements['acrAtLeast'];
  for (const r of all) {
    const value = r.mfa?.acrAtLeast;
    if (value === undefined) continue;
    const rank = acrOrder.indexOf(value);
    if (rank === -1) throw new TypeError(`acr "${value}" is not in policy.acrOrder`);
    if (acrAtLeast === undefined || rank > acrAtLeast.rank) acrAtLeast = { value, rank };
  }

  const maxTokenAgeMs = min(all.map((r) => r.maxTokenAgeMs));
  const verificationMaxAgeMs = min(all.map((r) => r.verificationMaxAgeMs));
  return {
    authenticated: all.some((r) => r.authenticated),
    ...(issuers !== undefined ? { issuers } : {}),
    claims: all.flatMap((r) => Object.entries(r.claims).map(([name, matcher]) => ({ path: compileClaimPath(name), matcher }))),
    scopes: union((r) => r.scopes),
    anyRoleGroups: all.map((r) => r.anyRoles).filter((g) => g.length > 0),
    allRoles: union((r) => r.allRoles),
    amrGroups: all.flatMap((r) => (r.mfa?.amr !== undefined && r.mfa.amr.length > 0 ? [r.mfa.amr] : [])),
    ...(acrAtLeast !== undefined ? { acrAtLeast } : {}),
    ...(maxTokenAgeMs !== undefined ? { maxTokenAgeMs } : {}),
    verification: union((r) => r.verification),
    ...(verificationMaxAgeMs !== undefined ? { verificationMaxAgeMs } : {}),
    onInReview: all.some((r) => r.onInReview === 'deny') ? 'deny' : 'allow',
    onDeclined: all.some((r) => r.onDeclined === 'deny') ? 'deny' : 'retry',
  };
}
