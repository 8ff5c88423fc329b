import type { ClaimMatcher } from '../config/types.js';
import type { Principal } from '../core/principal.js';
import { claimListIncludes, readClaim, type ClaimPath } from './claim-path.js';
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

/** The pass steps of one requirement set that do not depend on the caller, built on its first check. */
interface PassSteps {
  /** `issuer <name> accepted`, per accepted issuer (bounded by `req.issuers`). */
  readonly issuer: ReadonlyMap<string, TraceStep>;
  /** Per entry of `req.claims`: its matcher kind and its pass step. */
  readonly claims: readonly { readonly kind: string; readonly pass: TraceStep }[];
  readonly scope: TraceStep;
  readonly tokenAge: TraceStep;
}

const ROLES_PASS: TraceStep = Object.freeze({ step: 'roles', result: 'pass', detail: 'required roles present' });
const MFA_PASS: TraceStep = Object.freeze({ step: 'mfa', result: 'pass', detail: 'authentication strength sufficient' });

/**
 * The trace of a passing check is the same for every caller of a route (or of one issuer on it), so its
 * steps and detail strings are built once per requirement set rather than per Check; a trace step is
 * read-only, so sharing it is safe. Keyed weakly: a reloaded policy's requirement sets take theirs along.
 */
const passStepsOf = new WeakMap<EffectiveRequirements, PassSteps>();

function passSteps(req: EffectiveRequirements): PassSteps {
  let steps = passStepsOf.get(req);
  if (steps === undefined) {
    const maxAge = req.maxTokenAgeMs !== undefined ? Math.floor(req.maxTokenAgeMs / 1000) : 0;
    steps = {
      issuer: new Map([...(req.issuers ?? [])].map((name) => [name, Object.freeze<TraceStep>({ step: 'issuer', result: 'pass', detail: `issuer ${name} accepted` })])),
      claims: req.claims.map(({ path, matcher }) => {
        const kind = Object.keys(matcher)[0] ?? 'match';
        return { kind, pass: Object.freeze<TraceStep>({ step: `claim:${path.name}`, result: 'pass', detail: `claim ${path.name} satisfies ${kind}` }) };
      }),
      scope: Object.freeze({ step: 'scope', result: 'pass', detail: `has scope ${req.scopes.join(' ')}` }),
      tokenAge: Object.freeze({ step: 'token_age', result: 'pass', detail: `login within ${maxAge}s` }),
    };
    passStepsOf.set(req, steps);
  }
  return steps;
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
  const pass = passSteps(req);
  if (req.issuers !== undefined) {
    const accepted = pass.issuer.get(principal.issuerName);
    if (accepted === undefined) {
      trace.push({ step: 'issuer', result: 'fail', detail: `issuer ${principal.issuerName} is not accepted (accepted: ${[...req.issuers].join(', ')})` });
      return { status: 401, code: 'token_invalid', message: 'issuer not accepted for this route', challenge: { error: 'invalid_token' } };
    }
    trace.push(accepted);
  }

  // The first failure decides; no closure for it, nor arrays on the passing paths below: this runs on
  // every authenticated Check, and nearly every one passes (bench/README.md, fifth round).
  let failure: RequirementFailure | undefined;

  for (let i = 0; i < req.claims.length; i++) {
    const { path, matcher } = req.claims[i]!;
    const { kind, pass: passed } = pass.claims[i]!;
    if (matchClaim(readClaim(claims, path), matcher)) {
      trace.push(passed);
    } else {
      trace.push({ step: `claim:${path.name}`, result: 'fail', detail: `claim ${path.name} fails ${kind}` });
      failure ??= { status: 403, code: 'claims_mismatch', message: `claim ${path.name} is missing or does not match` };
    }
  }

  if (req.scopes.length > 0) {
    const scope = claims['scope'];
    const scp = claims['scp'];
    if (holdsScopes(req.scopes, scope, scp)) {
      trace.push(pass.scope);
    } else {
      const missing = req.scopes.filter((s) => !claimListIncludes(scope, s) && !claimListIncludes(scp, s));
      trace.push({ step: 'scope', result: 'fail', detail: `missing scope ${missing.join(' ')}` });
      // RFC 6750 §3.1: the challenge lists the scope needed for this resource.
      failure ??= {
        status: 403,
        code: 'claims_mismatch',
        message: 'insufficient scope',
        challenge: { error: 'insufficient_scope', scope: req.scopes.join(' ') },
      };
    }
  }

  if (req.anyRoleGroups.length > 0 || req.allRoles.length > 0) {
    if (holdsRoles(req, claims, settings.roleClaims)) {
      trace.push(ROLES_PASS);
    } else {
      const hasRole = (r: string): boolean => hasRoleClaim(claims, settings.roleClaims, r);
      const missingAny = req.anyRoleGroups.filter((g) => !g.some(hasRole));
      const missingAll = req.allRoles.filter((r) => !hasRole(r));
      const parts = [
        ...missingAny.map((g) => `one of ${g.join(', ')}`),
        ...(missingAll.length > 0 ? [`all of ${missingAll.join(', ')}`] : []),
      ];
      trace.push({ step: 'roles', result: 'fail', detail: `missing role: ${parts.join('; ')}` });
      failure ??= { status: 403, code: 'claims_mismatch', message: 'required role missing' };
    }
  }

  if (req.amrGroups.length > 0 || req.acrAtLeast !== undefined) {
    const amr = claims['amr'];
    const amrOk = req.amrGroups.every((g) => g.some((m) => claimListIncludes(amr, m)));
    const acr = claims['acr'];
    const acrOk = req.acrAtLeast === undefined || (typeof acr === 'string' && settings.acrOrder.indexOf(acr) >= req.acrAtLeast.rank);
    if (amrOk && acrOk) {
      trace.push(MFA_PASS);
    } else {
      const wanted = [
        ...req.amrGroups.map((g) => `amr one of ${g.join(', ')}`),
        ...(req.acrAtLeast !== undefined ? [`acr at least ${req.acrAtLeast.value}`] : []),
      ];
      trace.push({ step: 'mfa', result: 'fail', detail: `needs ${wanted.join(' and ')}` });
      // RFC 9470 §3: acr_values lists acceptable values, the weakest sufficient one first.
      const acrValues = req.acrAtLeast !== undefined ? settings.acrOrder.slice(req.acrAtLeast.rank).join(' ') : undefined;
      failure ??= {
        status: 401,
        code: 'mfa_required',
        message: 'a stronger authentication is required',
        challenge: { error: 'insufficient_user_authentication', ...(acrValues !== undefined ? { acr_values: acrValues } : {}) },
      };
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
    if (fresh) trace.push(pass.tokenAge);
    else trace.push({ step: 'token_age', result: 'fail', detail: typeof authTime === 'number' ? `login older than ${maxAge}s` : 'auth_time missing' });
    if (!fresh) {
      failure ??= {
        status: 401,
        code: 'reauthentication_required',
        message: 'a more recent login is required',
        challenge: { error: 'insufficient_user_authentication', max_age: String(maxAge) },
      };
    }
  }
  return failure;
}

/** Whether `scope` or `scp` lists every one of `scopes` (the passing case, without allocating). */
function holdsScopes(scopes: readonly string[], scope: unknown, scp: unknown): boolean {
  for (let i = 0; i < scopes.length; i++) {
    const s = scopes[i]!;
    if (!claimListIncludes(scope, s) && !claimListIncludes(scp, s)) return false;
  }
  return true;
}

/** Whether any role claim lists `role`. */
function hasRoleClaim(claims: Readonly<Record<string, unknown>>, roleClaims: readonly ClaimPath[], role: string): boolean {
  for (let i = 0; i < roleClaims.length; i++) {
    if (claimListIncludes(readClaim(claims, roleClaims[i]!), role)) return true;
  }
  return false;
}

/** Whether the caller has a role of every `anyRoleGroups` group and every `allRoles` role (the passing case, without allocating). */
function holdsRoles(req: EffectiveRequirements, claims: Readonly<Record<string, unknown>>, roleClaims: readonly ClaimPath[]): boolean {
  for (let g = 0; g < req.anyRoleGroups.length; g++) {
    const group = req.anyRoleGroups[g]!;
    let any = false;
    for (let i = 0; i < group.length && !any; i++) any = hasRoleClaim(claims, roleClaims, group[i]!);
    if (!any) return false;
  }
  for (let i = 0; i < req.allRoles.length; i++) {
    if (!hasRoleClaim(claims, roleClaims, req.allRoles[i]!)) return false;
  }
  return true;
}

/** Strict matching (no type coercion: `true` ≠ `"true"`); any unexpected type is a mismatch. */
export function matchClaim(value: unknown, matcher: ClaimMatcher): boolean {
  if ('equals' in matcher) return value === matcher.equals;
  if ('oneOf' in matcher) return matcher.oneOf.some((v) => v === value);
  if ('contains' in matcher) return claimListIncludes(value, matcher.contains);
  return value !== undefined && value !== null;
}
