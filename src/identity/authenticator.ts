import { hash } from 'node:crypto';
import type { Logger } from 'pino';
import type { IssuerConfig, JwtAlgorithm, TokenSource } from '../config/types.js';
import { deepFreeze } from '../config/deep-freeze.js';
import type { Principal } from '../core/principal.js';
import type { RequestContext } from '../core/request-context.js';
import type { Authenticator } from '../core/stages.js';
import type { AuthResult } from '../core/auth-result.js';
import { JwksCache, type JwksMetrics } from './jwks-cache.js';
import { preflightToken, verifyJwtSync, verifyJwtWithJose, type AuthFailure, type VerifiedClaims, type VerifierIssuer } from './jwt-verifier.js';
import { checkMetadataClaims } from './metadata-claims.js';
import { createTokenCache, type CachedVerification } from './token-cache.js';
import { DEFAULT_TOKEN_SOURCE, extractCredential, tokenSourceKey } from './token-sources.js';

/** Counters the identity stage reports; implemented by observability/. */
export interface IdentityMetrics extends JwksMetrics {
  /** One verified-token cache lookup. */
  onTokenCache(hit: boolean): void;
}

/** Collaborators of {@link createAuthenticator}. */
export interface AuthenticatorDeps {
  readonly logger: Logger;
  /** Epoch ms for the JWKS cache's key ages and rate limits (default `Date.now`). */
  readonly clock?: () => number;
  readonly metrics?: IdentityMetrics;
}

/** Options of {@link createAuthenticator}. */
export interface AuthenticatorOptions {
  readonly issuers: readonly IssuerConfig[];
  /** Largest number of cached verifications (default 2,000, as `caches.tokens`). */
  readonly tokenCacheMaxEntries?: number;
  /** Tokens longer than this are rejected unparsed (default 16 KiB). */
  readonly maxTokenBytes?: number;
  /** First retry delay after a failed key/discovery fetch, doubled per failure (default 1 s). */
  readonly jwksRetryBaseMs?: number;
  /** Largest such retry delay (default 60 s). */
  readonly jwksRetryMaxMs?: number;
}

/** One issuer's key state, for `/readyz`. */
export interface IssuerStatus {
  readonly name: string;
  /** Usable verification keys are held (always true for a shared-secret issuer). */
  readonly keysLoaded: boolean;
  /** Epoch ms of the last successful key fetch. */
  readonly lastFetchOk?: number;
  /** Safe description of the last key fetch failure. */
  readonly lastError?: string;
}

/** An {@link Authenticator} that owns background key fetching. */
export interface JwtAuthenticator extends Authenticator {
  /** Kicks off discovery/JWKS fetches; resolves when every first attempt has settled. Never rejects. */
  start(): Promise<void>;
  /** Stops refresh timers and closes key-fetch connections. */
  close(): Promise<void>;
  status(): readonly IssuerStatus[];
}

/** As `caches.tokens`' default (bench/README.md, "Cache memory per active subject, twelfth round"). */
const DEFAULT_TOKEN_CACHE_MAX_ENTRIES = 2_000;
const DEFAULT_MAX_TOKEN_BYTES = 16 * 1024;
/** RFC 7518 §3.2: an HMAC key must be at least as long as the hash output (256 bits for HS256). */
const MIN_SECRET_BYTES = 32;

const HMAC_ALGORITHMS: ReadonlySet<string> = new Set<JwtAlgorithm>(['HS256', 'HS384', 'HS512']);
const KNOWN_ALGORITHMS: ReadonlySet<string> = new Set<JwtAlgorithm>([
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'HS256', 'HS384', 'HS512',
]);

interface IssuerRuntime {
  readonly config: IssuerConfig;
  readonly verifier: VerifierIssuer;
  readonly jwks?: JwksCache;
  /** Keys of the sources this issuer accepts tokens from. */
  readonly sourceKeys: ReadonlySet<string>;
  /** Hash of every config field that shapes a verification; part of the token cache key. */
  readonly configHash: string;
}

/**
 * Builds the identity stage: finds the caller's credential in the configured sources (in issuer order,
 * then each issuer's source order; the first source present wins), picks the issuer by the token's exact
 * `iss`, verifies it (see `verifyJwt` in jwt-verifier.ts) against that issuer's own keys, and caches successful
 * verifications (key: token hash; each entry scoped to its source and the issuers' verification-shaping config; never past `exp`,
 * at most 5 min).
 *
 * `authenticate` answers `anonymous` (no credential), `verified`, or `failed` with `token_invalid`
 * (malformed, too large, JWE, nested, untrusted issuer, source not accepted for the issuer, bad signature,
 * alg, audience, type or subject), `token_expired`, `token_not_yet_valid` or `dependency_unavailable`
 * (no usable signing keys). It never rejects; an unexpected fault is logged and answered `token_invalid`.
 *
 * @param options.issuers the validated issuer configs; each must have exactly one of `jwksUri`,
 *   `discoveryUrl`, `secret`.
 * @throws TypeError on an inconsistent issuer config (duplicate name, no audience, empty or unknown
 *   algorithm list, HS* without a secret or asymmetric with one, short secret, bad URL).
 */
export function createAuthenticator(deps: AuthenticatorDeps, options: AuthenticatorOptions): JwtAuthenticator {
  const clock = deps.clock ?? Date.now;
  const maxTokenBytes = options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES;
  const cache = createTokenCache({ maxEntries: options.tokenCacheMaxEntries ?? DEFAULT_TOKEN_CACHE_MAX_ENTRIES });
  const logger = deps.logger.child({ component: 'identity' });

  const names = new Set<string>();
  const runtimes: IssuerRuntime[] = [];
  const byIss = new Map<string, IssuerRuntime[]>();
  const sources: TokenSource[] = [];
  const sourceSeen = new Set<string>();
  const metadataCandidates = new Map<string, IssuerConfig[]>();

  for (const config of options.issuers) {
    if (names.has(config.name)) throw new TypeError(`duplicate issuer name ${config.name}`);
    names.add(config.name);
    const runtime = compileIssuer(config, { ...deps, logger, clock }, options);
    runtimes.push(runtime);
    const list = byIss.get(config.issuer) ?? [];
    list.push(runtime);
    byIss.set(config.issuer, list);
    for (const source of config.sources.length > 0 ? config.sources : [DEFAULT_TOKEN_SOURCE]) {
      const key = tokenSourceKey(source);
      if (source.type === 'envoyMetadata') {
        const candidates = metadataCandidates.get(key) ?? [];
        candidates.push(config);
        metadataCandidates.set(key, candidates);
      }
      if (!sourceSeen.has(key)) {
        sourceSeen.add(key);
        sources.push(source);
      }
    }
  }

  // Per `iss` and configured source, the issuers that accept tokens from there, in config order: listed
  // once here rather than filtered again for every cold token.
  const acceptingByIss = new Map<string, ReadonlyMap<string, readonly IssuerRuntime[]>>();
  for (const [iss, list] of byIss) {
    acceptingByIss.set(iss, new Map([...sourceSeen].map((key) => [key, list.filter((c) => c.sourceKeys.has(key))])));
  }

  // Every verification-shaping field of every issuer is part of each cache entry's scope (design rule 6), so
  // a cache can never answer for a configuration other than the one that verified the token; with the source,
  // one scope string per configured source, built once here.
  const configPrefix = `${sha256Hex(runtimes.map((r) => r.configHash).join('|')).slice(0, 16)}|`;
  const scopes = new Map<string, string>([...sourceSeen].map((key) => [key, `${configPrefix}${key}`]));
  const scopeOf = (sourceKey: string): string => scopes.get(sourceKey) ?? `${configPrefix}${sourceKey}`;

  /**
   * Hot path: a token already verified from this source is answered from the cache before any parsing,
   * synchronously (no async frame for the common case). Within one authenticator the issuer configs are
   * fixed and the issuer is chosen by the token's own `iss`, so token hash + source determine the result;
   * entries never outlive `exp` (see token-cache). The cache is keyed by the token's SHA-256 (hex) alone and
   * the entry holds its scope (config hash + source), compared in full on a hit: the same guarantee as a key
   * of all three, without building and flattening a concatenated key per Check.
   * @returns the cached `verified` result, else (a string) the digest {@link verifyToken} stores a success under
   *   (`''` for a token too long to hash, which preflight then refuses).
   */
  function cachedToken(token: string, sourceKey: string, now: number): CachedVerification | string {
    if (token.length > maxTokenBytes) return '';
    const tokenHash = sha256Hex(token);
    // The entry's own frozen `verified` result: a hit builds no result object.
    const hit = cache.lookup(tokenHash, now, scopeOf(sourceKey));
    deps.metrics?.onTokenCache(hit !== undefined);
    // The digest itself, not an object holding it: a cold token allocates one object fewer.
    return hit ?? tokenHash;
  }

  /**
   * Verifies a token the cache did not hold (see {@link cachedToken}) and caches a success under its digest and scope: synchronously
   * when every issuer it tries can answer on the sync path (verifyJwtSync), so the common cold token
   * costs no async frame; else on jose's path for all of them, in the same order.
   */
  function verifyToken(
    token: string,
    source: 'header' | 'cookie',
    sourceKey: string,
    now: number,
    cacheKey: string,
  ): AuthResult | Promise<AuthResult> {
    const preflight = preflightToken(token, maxTokenBytes);
    if (!('ok' in preflight)) return preflight;
    const candidates = byIss.get(preflight.iss);
    if (candidates === undefined) return { kind: 'failed', code: 'token_invalid', message: 'untrusted issuer' };
    const accepting = acceptingByIss.get(preflight.iss)?.get(sourceKey) ?? [];
    if (accepting.length === 0) {
      const first = candidates[0] as IssuerRuntime;
      return { kind: 'failed', code: 'token_invalid', message: 'token not accepted from this source', issuerName: first.config.name };
    }
    let firstFailure: AuthFailure | undefined;
    for (const issuer of accepting) {
      const result = verifyJwtSync(token, issuer.verifier, now, preflight.decoded);
      if (result === undefined) return verifyWithJose(token, accepting, source, sourceKey, now, cacheKey);
      if ('ok' in result) return verified(token, issuer, result, source, sourceKey, now, cacheKey);
      firstFailure ??= result;
    }
    return firstFailure as AuthFailure;
  }

  async function verifyWithJose(
    token: string,
    accepting: readonly IssuerRuntime[],
    source: 'header' | 'cookie',
    sourceKey: string,
    now: number,
    cacheKey: string,
  ): Promise<AuthResult> {
    let firstFailure: AuthFailure | undefined;
    for (const issuer of accepting) {
      // The sync path already deferred or failed for these issuers: straight to jose, no second attempt.
      const result = await verifyJwtWithJose(token, issuer.verifier, now);
      if ('ok' in result) return verified(token, issuer, result, source, sourceKey, now, cacheKey);
      firstFailure ??= result;
    }
    return firstFailure as AuthFailure;
  }

  function verified(
    token: string,
    issuer: IssuerRuntime,
    result: VerifiedClaims,
    source: 'header' | 'cookie',
    sourceKey: string,
    now: number,
    cacheKey: string,
  ): AuthResult {
    // The fingerprint (tokenId: the risk engine's "one token from too many addresses") is the hash of the
    // signed part only. The signature segment is malleable — the unused low bits of its last base64url
    // character, and ECDSA's (r, n − s) twin — so up to 32 spellings of one token verify; hashing the
    // whole string gave each its own tokenId. The cache key stays the whole token: a hit must mean this
    // exact string verified.
    const principal = makePrincipal(issuer.config, result.claims, result.sub, source, fingerprintOf(token.slice(0, token.lastIndexOf('.'))));
    if (cacheKey !== '') cache.set(cacheKey, principal, now, scopeOf(sourceKey));
    return { kind: 'verified', principal };
  }

  /** The answer to a fault while authenticating: logged without token material, and a `failed` result. */
  const faulted = (err: unknown): AuthResult => {
    // Only the error's class and code: jose errors can carry the token payload.
    logger.error(
      { errName: (err as Error | null)?.name, errCode: (err as { code?: unknown } | null)?.code },
      'unexpected fault while authenticating',
    );
    return { kind: 'failed', code: 'token_invalid', message: 'token could not be verified' };
  };

  return {
    // Not async: no credential, a cached token and metadata claims are answered synchronously (a fully
    // cached Check then needs no promise); only a token to verify returns one.
    authenticate(ctx: RequestContext, now: number): AuthResult | Promise<AuthResult> {
      try {
        const credential = extractCredential(ctx, sources);
        switch (credential.kind) {
          case 'none':
            return { kind: 'anonymous' };
          case 'token': {
            const cached = cachedToken(credential.token, credential.sourceKey, now);
            if (typeof cached !== 'string') return cached;
            // A cold token the sync path verified is answered without a promise too (verifyJwtSync).
            const result = verifyToken(credential.token, credential.source, credential.sourceKey, now, cached);
            return result instanceof Promise ? result.catch(faulted) : result;
          }
          case 'claims': {
            const checked = checkMetadataClaims(credential.claims, metadataCandidates.get(credential.sourceKey) ?? [], now);
            if (!('ok' in checked)) return checked;
            const fingerprint = fingerprintOf(JSON.stringify(checked.claims));
            return {
              kind: 'verified',
              // Cloned: these claims belong to the request's metadata, which must not be frozen under it.
              principal: makePrincipal(checked.issuer, structuredClone(checked.claims), checked.sub, 'metadata', fingerprint),
            };
          }
          default: {
            const unreachable: never = credential;
            return unreachable;
          }
        }
      } catch (err) {
        return faulted(err);
      }
    },

    async start(): Promise<void> {
      await Promise.all(runtimes.map((r) => r.jwks?.start()));
    },

    async close(): Promise<void> {
      await Promise.all(runtimes.map((r) => r.jwks?.close()));
      cache.clear();
    },

    status(): readonly IssuerStatus[] {
      return runtimes.map((r) => {
        if (r.jwks === undefined) return { name: r.config.name, keysLoaded: true };
        const s = r.jwks.status();
        return {
          name: r.config.name,
          keysLoaded: s.keysLoaded,
          ...(s.lastFetchOk !== undefined ? { lastFetchOk: s.lastFetchOk } : {}),
          ...(s.lastError !== undefined ? { lastError: s.lastError } : {}),
        };
      });
    },
  };
}

function compileIssuer(
  config: IssuerConfig,
  deps: { readonly logger: Logger; readonly clock: () => number; readonly metrics?: IdentityMetrics },
  options: AuthenticatorOptions,
): IssuerRuntime {
  const where = `issuer ${config.name}`;
  if (config.audiences.length === 0) throw new TypeError(`${where}: at least one audience is required`);
  if (config.algorithms.length === 0) throw new TypeError(`${where}: at least one algorithm is required`);
  for (const alg of config.algorithms) {
    if (!KNOWN_ALGORITHMS.has(alg)) throw new TypeError(`${where}: algorithm ${String(alg)} is not allowed`);
  }
  const keySources = [config.jwksUri, config.discoveryUrl, config.secret].filter((v) => v !== undefined).length;
  if (keySources !== 1) throw new TypeError(`${where}: exactly one of jwksUri, discoveryUrl, secret is required`);
  const hmac = config.algorithms.filter((a) => HMAC_ALGORITHMS.has(a));
  const sourceKeys = new Set((config.sources.length > 0 ? config.sources : [DEFAULT_TOKEN_SOURCE]).map(tokenSourceKey));
  const configHash = sha256Hex(
    JSON.stringify([
      config.issuer,
      config.audiences,
      config.algorithms,
      config.requiredType ?? null,
      config.subjectClaim,
      config.clockSkewMs,
      config.maxTokenLifetimeMs ?? null,
      config.authorizedParties ?? null,
    ]),
  ).slice(0, 16);

  if (config.secret !== undefined) {
    // HS* with an asymmetric issuer's keys is the classic key-confusion attack; keep the two worlds apart.
    if (hmac.length !== config.algorithms.length) throw new TypeError(`${where}: a secret issuer may only allow HS* algorithms`);
    const secret = new TextEncoder().encode(config.secret);
    if (secret.length < MIN_SECRET_BYTES) throw new TypeError(`${where}: the secret must be at least ${MIN_SECRET_BYTES} bytes`);
    return { config, verifier: { config, algorithms: config.algorithms, key: secret }, sourceKeys, configHash };
  }
  if (hmac.length > 0) throw new TypeError(`${where}: HS* algorithms need a secret, not a JWKS`);
  const url = config.jwksUri ?? (config.discoveryUrl as string);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`${where}: key URL is not a valid URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new TypeError(`${where}: key URL must be http(s)`);
  const jwks = new JwksCache(deps, {
    issuerName: config.name,
    issuer: config.issuer,
    ...(config.jwksUri !== undefined ? { jwksUri: config.jwksUri } : {}),
    ...(config.discoveryUrl !== undefined ? { discoveryUrl: config.discoveryUrl } : {}),
    config: config.jwks,
    ...(options.jwksRetryBaseMs !== undefined ? { retryBaseMs: options.jwksRetryBaseMs } : {}),
    ...(options.jwksRetryMaxMs !== undefined ? { retryMaxMs: options.jwksRetryMaxMs } : {}),
  });
  return {
    config,
    verifier: { config, algorithms: config.algorithms, key: jwks.getKey, syncKey: jwks.syncKey },
    jwks,
    sourceKeys,
    configHash,
  };
}

/**
 * @param claims owned by the principal from now on and frozen in place: a token's claims are parsed afresh
 *   for each verification, so only claims that belong to someone else are cloned first (by the caller).
 * @param tokenId the credential's fingerprint ({@link fingerprintOf}).
 */
function makePrincipal(
  config: IssuerConfig,
  claims: Readonly<Record<string, unknown>>,
  sub: string,
  source: Principal['source'],
  tokenId: string,
): Principal {
  const exp = claims.exp;
  const subject = `${config.name}:${sub}`;
  // The token's `iss` is the configured issuer's (it chose the issuer): the config's string, shared by every
  // principal of the issuer, instead of each token's own copy (a token-cache entry lives up to 5 min).
  if (claims.iss === config.issuer && !Object.isFrozen(claims)) (claims as Record<string, unknown>).iss = config.issuer;
  // Two literals rather than a spread of a conditional object: no temporary object per principal, and a
  // principal gets its final shape at once (this runs for every cold token).
  return Object.freeze(
    typeof exp === 'number'
      ? { issuerName: config.name, issuer: config.issuer, sub, subject, claims: deepFreeze(claims), expiresAt: exp, source, tokenId }
      : { issuerName: config.name, issuer: config.issuer, sub, subject, claims: deepFreeze(claims), source, tokenId },
  );
}


/**
 * A token's fingerprint (`Principal.tokenId`): the first 16 hex digits of the SHA-256 of `signedPart`.
 * (A slice of the whole hex digest, which it keeps alive: a flat copy through a Buffer cost ~1.5 µs more per
 * cold token, bench/README.md "Cache memory per active subject, twelfth round".)
 */
function fingerprintOf(signedPart: string): string {
  return sha256Hex(signedPart).slice(0, 16);
}

function sha256Hex(input: string): string {
  // One-shot crypto.hash is about 40 % cheaper than createHash().update().digest() (no Hash object).
  return hash('sha256', input, 'hex');
}
