import type { CompactJWSHeaderParameters, CryptoKey, FlattenedJWSInput, JWTPayload, JWTVerifyOptions } from 'jose';
import { jwtVerify } from 'jose/jwt/verify';
import { DependencyError } from '../core/dependency-error.js';
import { isRepresentable } from '../core/encode-identity-value.js';
import type { IssuerConfig, JwtAlgorithm } from '../config/types.js';
import type { AuthResult } from '../core/auth-result.js';
import { checkClaimsSet, type ClaimsSetRules } from './check-claims-set.js';
import { COMPACT_JWS, decodeCompactJwt, verifyJwsSync, type DecodedJwt, type SyncKeyResolver } from './verify-jws-sync.js';

/** The `failed` branch of {@link AuthResult}. */
export type AuthFailure = Extract<AuthResult, { kind: 'failed' }>;

/** Resolves the verification key for a token header from the issuer's own key set (never from the token). */
export type KeyResolver = (header: CompactJWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

/** One issuer prepared for verification: its config, its effective `alg` allowlist and its key. */
export interface VerifierIssuer {
  readonly config: IssuerConfig;
  readonly algorithms: readonly JwtAlgorithm[];
  /** The shared secret (HS* issuers) or the JWKS key resolver. */
  readonly key: Uint8Array | KeyResolver;
  /** JWKS issuers: the keys already imported for the synchronous path (see {@link verifyJwtSync}). */
  readonly syncKey?: SyncKeyResolver;
}

/** A signature- and claims-checked token. */
export interface VerifiedClaims {
  readonly ok: true;
  readonly claims: JWTPayload;
  /** The subject claim's value (already checked to be a usable string). */
  readonly sub: string;
}

/** Unverified facts read from a token before choosing an issuer. */
export interface PreflightResult {
  readonly ok: true;
  /** The payload's `iss`, unverified. */
  readonly iss: string;
  /** The header and claims, unverified: handed to {@link verifyJwtSync} so it does not decode them again. */
  readonly decoded: DecodedJwt;
}

const failed = (code: AuthFailure['code'], message: string, issuerName?: string): AuthFailure =>
  issuerName === undefined ? { kind: 'failed', code, message } : { kind: 'failed', code, message, issuerName };

const COMPACT_JWE = /^[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){4}$/;

/**
 * Cheap structural checks done before any cryptography, on untrusted input: size, compact JWS shape, no
 * JWE, no nested JWT (`cty: JWT`), a JSON payload with a string `iss`.
 *
 * @returns the unverified `iss`, or a `token_invalid` failure ("token too large", "malformed token",
 *   "encrypted tokens are not accepted", "nested tokens are not accepted", "token has no issuer").
 */
export function preflightToken(token: string, maxTokenBytes: number): PreflightResult | AuthFailure {
  // length <= byte length, and anything non-ASCII fails the shape check below anyway.
  if (token.length > maxTokenBytes) return failed('token_invalid', 'token too large');
  if (!COMPACT_JWS.test(token)) {
    if (COMPACT_JWE.test(token)) return failed('token_invalid', 'encrypted tokens are not accepted');
    return failed('token_invalid', 'malformed token');
  }
  // Refuses exactly what jose's decodeProtectedHeader and decodeJwt refuse, with a third of their cost.
  const decoded = decodeCompactJwt(token);
  if (decoded === undefined) return failed('token_invalid', 'malformed token');
  const { header, claims } = decoded;
  if (typeof header.cty === 'string' && header.cty.toUpperCase() === 'JWT') {
    return failed('token_invalid', 'nested tokens are not accepted');
  }
  if (typeof claims.iss !== 'string' || claims.iss === '') return failed('token_invalid', 'token has no issuer');
  return { ok: true, iss: claims.iss, decoded };
}

/**
 * Verifies a compact JWS against one issuer — synchronously when {@link verifyJwtSync} can, else with jose
 * `jwtVerify` — with the same rules either way: the issuer's `alg` allowlist (checked
 * before any key is resolved), its own keys only, `iss` exact, `aud` one of the configured audiences,
 * `exp` required, `nbf`, `typ` when configured, the issuer's clock skew, `now` as the current time; then
 * `iat` not in the future and a usable subject claim.
 *
 * @param now epoch ms.
 * @returns the verified claims, or a failure: `token_expired`, `token_not_yet_valid`,
 *   `dependency_unavailable` (no signing keys), `token_invalid` (everything else, short safe message).
 *   Never rejects.
 */
export async function verifyJwt(token: string, issuer: VerifierIssuer, now: number): Promise<VerifiedClaims | AuthFailure> {
  return verifyJwtSync(token, issuer, now) ?? verifyJwtWithJose(token, issuer, now);
}

/**
 * {@link verifyJwt}'s jose path alone, for a caller that already tried {@link verifyJwtSync} on this token
 * (the authenticator): asking the sync path again would decode the token and, with several issuers, check
 * a signature a second time. Same rules and answers as verifyJwt.
 */
export async function verifyJwtWithJose(token: string, issuer: VerifierIssuer, now: number): Promise<VerifiedClaims | AuthFailure> {
  const { config } = issuer;
  // jose's base64url decoder (atob) skips whitespace and accepts '=' padding, which RFC 7515 §7.1 rules
  // out: without this a caller that did not preflight the token would verify `<token>==` or a token with a
  // line break in it, extra spellings of one token. Only the compact alphabet reaches jose.
  if (!COMPACT_JWS.test(token)) return failed('token_invalid', 'malformed token', config.name);
  const options: JWTVerifyOptions = {
    algorithms: [...issuer.algorithms],
    issuer: config.issuer,
    audience: [...config.audiences],
    clockTolerance: config.clockSkewMs / 1000,
    currentDate: new Date(now),
    requiredClaims: ['exp', config.subjectClaim],
    ...(config.requiredType !== undefined ? { typ: config.requiredType } : {}),
  };
  let payload: JWTPayload;
  try {
    payload = await verifyWithCandidates(token, issuer.key, options);
  } catch (err) {
    return translateJoseError(err, config.name);
  }
  return finishVerification(payload, config, now);
}

/**
 * {@link verifyJwt} without leaving the calling thread, for the common case only: a JWKS issuer whose key
 * for the token's `alg`/`kid` is already imported (see verifyJwsSync for the exact conditions). The
 * signature is checked with `node:crypto`, then the same claim checks as jose's (checkClaimsSet) and
 * verifyJwt's own follow.
 *
 * @param decoded this token's header and claims from {@link preflightToken}, if at hand.
 * @returns what verifyJwt would answer, or undefined when the token is not such a case (then verifyJwt's
 *   jose path decides). Never throws.
 */
export function verifyJwtSync(
  token: string,
  issuer: VerifierIssuer,
  now: number,
  decoded?: DecodedJwt,
): VerifiedClaims | AuthFailure | undefined {
  if (issuer.syncKey === undefined) return undefined;
  const { config } = issuer;
  const rules = claimsSetRulesOf(config);
  const nowSeconds = Math.floor(new Date(now).getTime() / 1000);
  // jose throws a TypeError for these; its path reports that.
  if (!Number.isFinite(rules.toleranceSeconds) || rules.toleranceSeconds < 0 || !Number.isFinite(nowSeconds)) return undefined;
  const jwt = verifyJwsSync(token, issuer.algorithms, issuer.syncKey, decoded);
  if (jwt === undefined) return undefined;
  if (jwt === 'bad_signature') return translateJoseError({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' }, config.name);
  const claimsError = checkClaimsSet(jwt.header, jwt.claims, rules, nowSeconds);
  if (claimsError !== undefined) return translateJoseError(claimsError, config.name);
  return finishVerification(jwt.claims, config, now);
}

/** Each issuer config's claim rules, built on its first token instead of on every one. */
const claimsSetRules = new WeakMap<IssuerConfig, ClaimsSetRules>();

/** The claim options verifyJwtWithJose gives jose, for checkClaimsSet. */
function claimsSetRulesOf(config: IssuerConfig): ClaimsSetRules {
  let rules = claimsSetRules.get(config);
  if (rules === undefined) {
    rules = {
      issuer: config.issuer,
      audiences: config.audiences,
      requiredClaims: ['exp', config.subjectClaim],
      ...(config.requiredType !== undefined ? { typ: config.requiredType } : {}),
      toleranceSeconds: config.clockSkewMs / 1000,
    };
    claimsSetRules.set(config, rules);
  }
  return rules;
}

/** verifyJwt's own checks after jose's (or checkClaimsSet's): `iat` not in the future, the token profile, the subject. */
function finishVerification(payload: JWTPayload, config: IssuerConfig, now: number): VerifiedClaims | AuthFailure {
  if (typeof payload.iat === 'number' && payload.iat > now / 1000 + config.clockSkewMs / 1000) {
    return failed('token_not_yet_valid', 'token issued in the future', config.name);
  }
  const profile = checkTokenProfile(payload, config);
  if (profile !== undefined) return failed('token_invalid', profile, config.name);
  const sub = readSubject(payload, config.subjectClaim);
  if (sub === undefined) return failed('token_invalid', 'invalid subject claim', config.name);
  return { ok: true, claims: payload, sub };
}

/**
 * The issuer's optional token-profile rules on already verified claims: `maxTokenLifetimeMs` (`exp - iat`
 * at most this long; `iat` then required) and `authorizedParties` (`azp` present and one of them).
 *
 * @returns undefined when the claims pass, else a short safe reason (no claim values).
 */
export function checkTokenProfile(
  claims: Readonly<Record<string, unknown>>,
  config: Pick<IssuerConfig, 'maxTokenLifetimeMs' | 'authorizedParties'>,
): string | undefined {
  if (config.maxTokenLifetimeMs !== undefined) {
    const { iat, exp } = claims;
    if (typeof iat !== 'number' || !Number.isFinite(iat)) return 'token is missing the iat claim';
    if (typeof exp !== 'number' || !Number.isFinite(exp)) return 'token is missing the exp claim';
    if ((exp - iat) * 1000 > config.maxTokenLifetimeMs) return 'token lifetime exceeds the maximum';
  }
  if (config.authorizedParties !== undefined) {
    const azp = claims.azp;
    if (typeof azp !== 'string') return 'token is missing the azp claim';
    if (!config.authorizedParties.includes(azp)) return 'authorized party not accepted';
  }
  return undefined;
}

async function verifyWithCandidates(
  token: string,
  key: Uint8Array | KeyResolver,
  options: JWTVerifyOptions,
): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, key, options)).payload;
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ERR_JWKS_MULTIPLE_MATCHING_KEYS') throw err;
    // No `kid` and several keys fit the alg: try each (jose's documented pattern); only a signature
    // mismatch moves on, any other failure is the answer for a correctly signed token.
    let last: unknown = err;
    for await (const candidate of err as AsyncIterable<CryptoKey>) {
      try {
        return (await jwtVerify(token, candidate, options)).payload;
      } catch (inner) {
        last = inner;
        if ((inner as { code?: unknown }).code !== 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') throw inner;
      }
    }
    throw last;
  }
}

/** Longest subject accepted; it becomes part of Redis keys and headers. */
const MAX_SUBJECT_LENGTH = 255;

/**
 * The subject claim as a string, if usable: a non-empty string of at most 255 characters without control
 * characters or lone surrogates (it ends up in headers, metadata, log lines and store keys, and must have
 * a lossless identity encoding there: see core/encode-identity-value).
 */
export function readSubject(claims: Readonly<Record<string, unknown>>, claim: string): string | undefined {
  const value = Object.hasOwn(claims, claim) ? claims[claim] : undefined;
  if (typeof value !== 'string' || value === '' || value.length > MAX_SUBJECT_LENGTH) return undefined;
  if (!isRepresentable(value)) return undefined;
  return value;
}

/**
 * Maps a jose (or key cache) error to a failure by its stable `code`, never by its message.
 *
 * @returns `token_expired` (ERR_JWT_EXPIRED), `token_not_yet_valid` (`nbf`/`iat` check failed),
 *   `dependency_unavailable` (a {@link DependencyError}, e.g. no usable signing keys), otherwise `token_invalid`
 *   with a short safe message.
 */
export function translateJoseError(err: unknown, issuerName?: string): AuthFailure {
  if (err instanceof DependencyError) return failed('dependency_unavailable', 'signing keys unavailable', issuerName);
  const { code, claim, reason } = (err ?? {}) as { code?: unknown; claim?: unknown; reason?: unknown };
  if (code === 'ERR_JWT_EXPIRED') return failed('token_expired', 'token has expired', issuerName);
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') {
    if ((claim === 'nbf' || claim === 'iat') && reason === 'check_failed') {
      return failed('token_not_yet_valid', 'token is not valid yet', issuerName);
    }
    if (reason === 'missing' && typeof claim === 'string') {
      return failed('token_invalid', `token is missing the ${claim} claim`, issuerName);
    }
    return failed('token_invalid', CLAIM_FAILURE_MESSAGES.get(claim) ?? 'claim validation failed', issuerName);
  }
  return failed('token_invalid', JOSE_FAILURE_MESSAGES.get(code) ?? 'token could not be verified', issuerName);
}

/** `token_invalid` messages by the claim a jose claim check refused (Maps: a code is never looked up on a prototype). */
const CLAIM_FAILURE_MESSAGES: ReadonlyMap<unknown, string> = new Map([
  ['aud', 'audience not accepted'],
  ['iss', 'issuer not accepted'],
  ['typ', 'token type not accepted'],
]);

/** `token_invalid` messages by jose (or key cache) error code. */
const JOSE_FAILURE_MESSAGES: ReadonlyMap<unknown, string> = new Map([
  ['ERR_JOSE_ALG_NOT_ALLOWED', 'algorithm not allowed'],
  ['ERR_JWS_SIGNATURE_VERIFICATION_FAILED', 'signature verification failed'],
  ['ERR_JWKS_MULTIPLE_MATCHING_KEYS', 'signature verification failed'],
  ['ERR_JWKS_NO_MATCHING_KEY', 'no matching signing key'],
  ['ERR_JOSE_NOT_SUPPORTED', 'unsupported token'],
  ['ERR_JWS_INVALID', 'malformed token'],
  ['ERR_JWT_INVALID', 'malformed token'],
  ['ERR_JWK_INVALID', 'signing key unusable'],
  ['ERR_JWKS_INVALID', 'signing key unusable'],
]);
