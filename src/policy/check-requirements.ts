import type { ClaimMatcher } from '../config/types.js';
import type { Principal } from '../core/principal.js';
import { claimList, readClaim, type ClaimPath } from './claim-path.js';
import type { EffectiveRequirements } from './effective-requirements.js';
import type { Outcome, TraceStep } from '../core/outcome.js';

/** A failed requirement: the deny fields of an {@link Outcome}. */
export interface RequirementFailure {
  readonly status: 401 | 403;
  readonly code: 'token_invalid' | 'claims_mismatch' | 'mfa_required' | 'reauthentication_required';
  readonly message: string;
  readonly challenge?: Readonly<Record<string, string>>;
}

/** Policy-wide inputs the checks need. */
export interface CheckSettings {
  readonly roleClaims: readonly ClaimPath[];
  readonly acrOrder: readonly string[];
  /** Allowed clock skew per issuer name (a login "in the future" beyond it is not a recent login). */
  readonly clockSkewMs: ReadonlyMap<string, number>;
}

/**
 * Checks a verified principal against effective requirements. The issuer check stops early (claims of a
 * token this route does not accept mean nothing); the claim, scope, role, MFA and token-age checks all run
 * so the trace shows every gap, and the first failure in that order decides:
 * issuer → claims → scopes → roles → mfa → token age.
 *
 * Never throws on odd claim types: a value of the wrong type is a mismatch. Trace details name claims,
 * scopes and roles from the policy, never claim values.
 *
 * @param now epoch ms.
 * @returns undefined when all hold, else the first failure.
 */
export function checkRequirements(
  req: EffectiveRequirements,
  principal: Principal,
  settings: CheckSettings,
  now: number,
  trace: TraceStep[],
): RequirementFailure | undefined {
  const claims = principal.claims;
  if (req.issuers !== undefined) {
    if (!req.issuers.has(principal.issuerName)) {
      trace.push({ step: 'issuer', result: 'fail', detail: `issuer ${principal.issuerName} is not accepted (accepted: ${[...req.issuers].join(', ')})` });
      return { status: 401, code: 'token_invalid', message: 'issuer not accepted for this route', challenge: { error: 'invalid_token' } };
    }
    trace.push({ step: 'issuer', result: 'pass', detail: `issuer ${principal.issuerName} accepted` });
  }

  let failure: RequirementFailure | undefined;
  const fail = (f: RequirementFailure): void => {
    failure ??= f;
  };

  for (const { path, matcher } of req.claims) {
    const ok = matchClaim(readClaim(claims, path), matcher);
    const kind = Object.keys(matcher)[0] ?? 'match';
    trace.push({ step: `claim:${path.name}`, result: ok ? 'pass' : 'fail', detail: `claim ${path.name} ${ok ? 'satisfies' : 'fails'} ${kind}` });
    if (!ok) fail({ status: 403, code: 'claims_mismatch', message: `claim ${path.name} is missing or does not match` });
  }

  if (req.scopes.length > 0) {
    const granted = new Set([...claimList(claims['scope']), ...claimList(claims['scp'])]);
    const missing = req.scopes.filter((s) => !granted.has(s));
    if (missing.length > 0) {
      trace.push({ step: 'scope', result: 'fail', detail: `missing scope ${missing.join(' ')}` });
      // RFC 6750 §3.1: the challenge lists the scope needed for this resource.
      fail({
        status: 403,
        code: 'claims_mismatch',
        message: 'insufficient scope',
        challenge: { error: 'insufficient_scope', scope: req.scopes.join(' ') },
      });
    } else {
      trace.push({ step: 'scope', result: 'pass', detail: `has scope ${req.scopes.join(' ')}` });
    }
  }

  if (req.anyRoleGroups.length > 0 || req.allRoles.length > 0) {
    const roles = new Set(settings.roleClaims.flatMap((p) => claimList(readClaim(claims, p))));
    const missingAny = req.anyRoleGroups.filter((g) => !g.some((r) => roles.has(r)));
    const missingAll = req.allRoles.filter((r) => !roles.has(r));
    if (missingAny.length > 0 || missingAll.length > 0) {
      const parts = [
        ...missingAny.map((g) => `one of ${g.join(', ')}`),
        ...(missingAll.length > 0 ? [`all of ${missingAll.join(', ')}`] : []),
      ];
      trace.push({ step: 'roles', result: 'fail', detail: `missing role: ${parts.join('; ')}` });
      fail({ status: 403, code: 'claims_mismatch', message: 'required role missing' });
    } else {
      trace.push({ step: 'roles', result: 'pass', detail: 'required roles present' });
    }
  }

  if (req.amrGroups.length > 0 || req.acrAtLeast !== undefined) {
    const amr = new Set(claimList(claims['amr']));
    const amrOk = req.amrGroups.every((g) => g.some((m) => amr.has(m)));
    const acr = claims['acr'];
    const acrOk = req.acrAtLeast === undefined || (typeof acr === 'string' && settings.acrOrder.indexOf(acr) >= req.acrAtLeast.rank);
    if (amrOk && acrOk) {
      trace.push({ step: 'mfa', result: 'pass', detail: 'authentication strength sufficient' });
    } else {
      const wanted = [
        ...req.amrGroups.map((g) => `amr one of ${g.join(', ')}`),
        ...(req.acrAtLeast !== undefined ? [`acr at least ${req.acrAtLeast.value}`] : []),
      ];
      trace.push({ step: 'mfa', result: 'fail', detail: `needs ${wanted.join(' and ')}` });
      // RFC 9470 §3: acr_values lists acceptable values, the weakest sufficient one first.
      const acrValues = req.acrAtLeast !== undefined ? settings.acrOrder.slice(req.acrAtLeast.rank).join(' ') : undefined;
      fail({
        status: 401,
        code: 'mfa_required',
        message: 'a stronger authentication is required',
        challenge: { error: 'insufficient_user_authentication', ...(acrValues !== undefined ? { acr_values: acrValues } : {}) },
      });
    }
  }

  if (req.maxTokenAgeMs !== undefined) {
    const authTime = claims['auth_time'];
    // A token without auth_time cannot prove a recent login, so it counts as too old; so does a login
    // time in the future beyond the issuer's clock skew (a forged or broken claim).
    const skew = settings.clockSkewMs.get(principal.issuerName) ?? 0;
    const fresh =
      typeof authTime === 'number' &&
      Number.isFinite(authTime) &&
      now - authTime * 1000 <= req.maxTokenAgeMs &&
      authTime * 1000 <= now + skew;
    const maxAge = Math.floor(req.maxTokenAgeMs / 1000);
    trace.push({
      step: 'token_age',
      result: fresh ? 'pass' : 'fail',
      detail: fresh ? `login within ${maxAge}s` : typeof authTime === 'number' ? `login older than ${maxAge}s` : 'auth_time missing',
    });
    if (!fresh) {
      fail({
        status: 401,
        code: 'reauthentication_required',
        message: 'a more recent login is required',
        challenge: { error: 'insufficient_user_authentication', max_age: String(maxAge) },
      });
    }
  }
  return failure;
}

/** Strict matching (no type coercion: `true` ≠ `"true"`); any unexpected type is a mismatch. */
export function matchClaim(value: unknown, matcher: ClaimMatcher): boolean {
  if ('equals' in matcher) return value === matcher.equals;
  if ('oneOf' in matcher) return matcher.oneOf.some((v) => v === value);
  if ('contains' in matcher) return claimList(value).includes(matcher.contains);
  return value !== undefined && value !== null;
}
