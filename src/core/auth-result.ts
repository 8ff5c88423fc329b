import type { Principal } from './principal.js';

/**
 * The identity stage's answer. `anonymous` = no token was presented in any configured source;
 * `failed` = a token was presented and rejected (or could not be checked because a JWKS endpoint is down
 * with no usable cached keys: `dependency_unavailable`).
 */
export type AuthResult =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'verified'; readonly principal: Principal }
  | {
      readonly kind: 'failed';
      readonly code: 'token_invalid' | 'token_expired' | 'token_not_yet_valid' | 'dependency_unavailable';
      /** Safe for clients: never echoes the token or its claims. */
      readonly message: string;
      /** The issuer the token claimed, when it named a configured one. */
      readonly issuerName?: string;
    };
