import type { IssuerConfig } from '../config/types.js';
import { checkTokenProfile, readSubject, type AuthFailure } from './jwt-verifier.js';

/** Claims accepted from Envoy metadata, with the issuer they belong to. */
export interface AcceptedMetadataClaims {
  readonly ok: true;
  readonly issuer: IssuerConfig;
  readonly claims: Readonly<Record<string, unknown>>;
  readonly sub: string;
}

/**
 * Checks a claims object that Envoy's `jwt_authn` filter put in dynamic metadata (`payload_in_metadata`).
 * Envoy has verified the signature; idgate still insists that the claims belong to one of `candidates`
 * (`iss` exactly equal), name one of its audiences, carry an `exp` that has not passed and an `nbf` that
 * has (both with the issuer's clock skew), and hold a usable subject.
 *
 * @param now epoch ms.
 * @returns the accepted claims, or a failure: `token_expired`, `token_not_yet_valid`, `token_invalid`
 *   ("malformed metadata claims", "untrusted issuer", "audience not accepted", "token is missing the exp
 *   claim", "invalid subject claim").
 */
export function checkMetadataClaims(
  value: unknown,
  candidates: readonly IssuerConfig[],
  now: number,
): AcceptedMetadataClaims | AuthFailure {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { kind: 'failed', code: 'token_invalid', message: 'malformed metadata claims' };
  }
  const claims = value as Readonly<Record<string, unknown>>;
  const iss = claims.iss;
  const issuer = typeof iss === 'string' ? candidates.find((c) => c.issuer === iss) : undefined;
  if (issuer === undefined) return { kind: 'failed', code: 'token_invalid', message: 'untrusted issuer' };
  const fail = (code: AuthFailure['code'], message: string): AuthFailure => ({
    kind: 'failed',
    code,
    message,
    issuerName: issuer.name,
  });

  const aud = claims.aud;
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
  if (!audiences.some((a) => typeof a === 'string' && issuer.audiences.includes(a))) {
    return fail('token_invalid', 'audience not accepted');
  }
  const nowSeconds = now / 1000;
  const skewSeconds = issuer.clockSkewMs / 1000;
  const exp = claims.exp;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return fail('token_invalid', 'token is missing the exp claim');
  // Same boundary as jose: expired once exp <= now - skew.
  if (exp <= nowSeconds - skewSeconds) return fail('token_expired', 'token has expired');
  const nbf = claims.nbf;
  if (nbf !== undefined && (typeof nbf !== 'number' || !Number.isFinite(nbf))) {
    return fail('token_invalid', 'claim validation failed');
  }
  if (typeof nbf === 'number' && nbf > nowSeconds + skewSeconds) return fail('token_not_yet_valid', 'token is not valid yet');
  const profile = checkTokenProfile(claims, issuer);
  if (profile !== undefined) return fail('token_invalid', profile);
  const sub = readSubject(claims, issuer.subjectClaim);
  if (sub === undefined) return fail('token_invalid', 'invalid subject claim');
  return { ok: true, issuer, claims, sub };
}
