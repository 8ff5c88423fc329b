/** The claim rules of one issuer's `jwtVerify` calls, as verifyJwt passes them to jose (all but the time). */
export interface ClaimsSetRules {
  readonly issuer: string;
  readonly audiences: readonly string[];
  /** `exp` and the subject claim. */
  readonly requiredClaims: readonly string[];
  /** The issuer's `requiredType`, compared with the header `typ` as jose does. */
  readonly typ?: string;
  /** Clock tolerance, s (finite, ≥ 0). */
  readonly toleranceSeconds: number;
}

/**
 * The error a jose claim check throws, reduced to the fields translateJoseError reads (never a claim
 * value), so both paths map to the same failure.
 */
export interface ClaimsSetError {
  readonly code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' | 'ERR_JWT_EXPIRED';
  readonly claim: string;
  readonly reason: 'missing' | 'check_failed' | 'invalid';
}

/**
 * jose 6's `validateClaimsSet` for the options verifyJwt uses, check for check and in the same order, so
 * the synchronous verify path fails a token exactly where jose would: `typ`, presence of
 * `iss`/`aud`/required claims, `iss`, `aud`, `iat`/`nbf` types, `nbf`, `exp` type, `exp`.
 * (No `maxTokenAge` or `subject` option: verifyJwt sets neither.)
 *
 * @param now current time, whole epoch seconds.
 * @returns undefined when the claims pass, else the error jose would throw.
 */
export function checkClaimsSet(
  header: Readonly<Record<string, unknown>>,
  claims: Readonly<Record<string, unknown>>,
  rules: ClaimsSetRules,
  now: number,
): ClaimsSetError | undefined {
  if (rules.typ !== undefined && (typeof header.typ !== 'string' || normalizeTyp(header.typ) !== normalizeTyp(rules.typ))) {
    return { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'typ', reason: 'check_failed' };
  }
  // jose pushes aud then iss after the required claims and reports the first claim missing from the
  // reversed list: iss, aud, then the required claims last to first. Walked in place (a duplicate is simply
  // checked twice), not through jose's reversed copy and Set, which cost a cold token three allocations.
  const { requiredClaims } = rules;
  if (!Object.hasOwn(claims, 'iss')) return { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'iss', reason: 'missing' };
  if (!Object.hasOwn(claims, 'aud')) return { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'aud', reason: 'missing' };
  for (let i = requiredClaims.length - 1; i >= 0; i--) {
    const claim = requiredClaims[i] as string;
    if (!Object.hasOwn(claims, claim)) return { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim, reason: 'missing' };
  }
  if (claims.iss !== rules.issuer) return { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'iss', reason: 'check_failed' };
  if (!audienceAccepted(claims.aud, rules.audiences)) {
    return { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'aud', reason: 'check_failed' };
  }
  const { toleranceSeconds: tolerance } = rules;
  if (claims.iat !== undefined && typeof claims.iat !== 'number') {
    return { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'iat', reason: 'invalid' };
  }
  const { nbf, exp } = claims;
  if (nbf !== undefined && typeof nbf !== 'number') return { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'nbf', reason: 'invalid' };
  if (nbf !== undefined && nbf > now + tolerance) return { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'nbf', reason: 'check_failed' };
  if (exp !== undefined && typeof exp !== 'number') return { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'exp', reason: 'invalid' };
  if (exp !== undefined && exp <= now - tolerance) return { code: 'ERR_JWT_EXPIRED', claim: 'exp', reason: 'check_failed' };
  return undefined;
}

/** jose's `typ` comparison: case-insensitive, `application/` implied when there is no `/`. */
function normalizeTyp(value: string): string {
  const normalized = value.toLowerCase();
  return value.includes('/') ? normalized : `application/${normalized}`;
}

function audienceAccepted(aud: unknown, accepted: readonly string[]): boolean {
  if (typeof aud === 'string') return accepted.includes(aud);
  if (Array.isArray(aud)) return accepted.some((a) => (aud as unknown[]).includes(a));
  return false;
}
