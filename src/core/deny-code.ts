/**
 * Stable, machine-readable reasons for every non-allow outcome. They appear in the problem+json body
 * (`code`), in the decision log and as the `code` label of the checks metric. Never rename one: add.
 */
export const DENY_CODES = [
  /** No token was presented on a route that needs an authenticated caller. */
  'token_missing',
  /** A token was presented but is malformed, badly signed, of a disallowed algorithm or wrong issuer/audience. */
  'token_invalid',
  /** The token's `exp` has passed (beyond the allowed clock skew). */
  'token_expired',
  /** The token is not valid yet (`nbf`/`iat` in the future beyond skew). */
  'token_not_yet_valid',
  /** Required claims, scopes or roles are missing or have the wrong value. */
  'claims_mismatch',
  /**
   * A claim the route passes upstream (`claimHeaders`) holds a value that cannot be represented in the
   * identity encoding: a lone surrogate or a control character.
   */
  'claims_invalid',
  /** MFA (`amr`/`acr`) requirement not met. */
  'mfa_required',
  /** The login is older than the route's `maxTokenAge` (`auth_time`). */
  'reauthentication_required',
  /** The request's path cannot be canonicalised safely. */
  'path_invalid',
  /** The request itself is malformed (missing method, garbled attributes). */
  'request_invalid',
  /**
   * The request asks for another method through `X-HTTP-Method-Override`, `X-HTTP-Method`,
   * `X-Method-Override` or `?_method=` and the policy does not honour overrides (`policy.methodOverride`).
   */
  'method_override',
  /** No route matched and the policy default is deny. */
  'no_route',
  /** The matched route explicitly denies. */
  'route_denied',
  /** Source address outside the allowed networks. */
  'network_denied',
  /** Country not allowed. */
  'country_denied',
  /** Outside the allowed time window. */
  'time_denied',
  /** Device posture requirement not met. */
  'device_denied',
  /** A custom condition denied. */
  'condition_denied',
  /** The risk score is too high for this route. */
  'risk_denied',
  /** The route needs an identity verification the caller has not completed (step-up follows). */
  'verification_required',
  /** The caller's verification was declined. */
  'verification_declined',
  /** The caller's verification waits for manual review. */
  'verification_in_review',
  /** The verification is approved but does not satisfy a derived requirement (age, AML, document). */
  'verification_insufficient',
  /** Too many step-ups in a row for this subject (loop protection). */
  'verification_loop',
  /** A dependency (Redis, Didit, JWKS) failed and the route fails closed. */
  'dependency_unavailable',
  /**
   * The tenant owning the request has no usable policy (its files failed to load and there is no previous
   * good version): 503, decided by `tenant <name>`.
   */
  'policy_unavailable',
  /** The decision could not be made in time (the proxy's deadline would pass). */
  'deadline_exceeded',
  /** An unexpected internal fault; fails closed. */
  'internal_error',
] as const;

export type DenyCode = (typeof DENY_CODES)[number];
