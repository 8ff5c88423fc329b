import type { KeyObject } from 'node:crypto';
import type { CompactJWSHeaderParameters, CryptoKey, FlattenedJWSInput, JWK } from 'jose';
import { createLocalJWKSet } from 'jose/jwks/local';
import type { Logger } from 'pino';
import { Agent } from '../http/undici-request.js';
import type { JwksConfig } from '../config/types.js';
import { DependencyError } from '../core/dependency-error.js';
import { fetchJson } from './fetch-json.js';
import { traced } from '../tracing/tracing.js';
import { parseDiscoveryDocument, parseJwks, type PublicJwk } from './key-documents.js';
import { SyncKeyTable } from './sync-key-table.js';

/**
 * How one background or on-demand key fetch ended: `ok` = new keys installed, `unchanged` = same keys as
 * before, `invalid` = the endpoint answered with something unusable (keys kept), `error` = network/HTTP
 * failure (keys kept).
 */
export type JwksFetchOutcome = 'ok' | 'unchanged' | 'invalid' | 'error';

/** What an unknown `kid` led to: a new fetch, joining one already running, or nothing (rate limit). */
export type UnknownKidOutcome = 'refetch' | 'joined' | 'rate_limited';

/** Counters the JWKS cache reports; implemented by observability/. */
export interface JwksMetrics {
  onJwksFetch(issuer: string, outcome: JwksFetchOutcome): void;
  onUnknownKid(issuer: string, outcome: UnknownKidOutcome): void;
}

/** Collaborators of a {@link JwksCache}. */
export interface JwksCacheDeps {
  readonly logger: Logger;
  /** Epoch ms; drives key age, stale limits and refetch rate limiting (not the timers' real delays). */
  readonly clock: () => number;
  readonly metrics?: JwksMetrics;
}

/** Where one issuer's keys come from and how they are kept fresh. */
export interface JwksCacheOptions {
  /** The issuer's configured short name (logs, metrics, status). */
  readonly issuerName: string;
  /** The exact `iss` the discovery document must announce. */
  readonly issuer: string;
  /** Exactly one of `jwksUri` and `discoveryUrl`. */
  readonly jwksUri?: string;
  readonly discoveryUrl?: string;
  readonly config: JwksConfig;
  /** First retry delay after a failed fetch, doubled per failure (default 1 s). */
  readonly retryBaseMs?: number;
  /** Largest retry delay (default 60 s). */
  readonly retryMaxMs?: number;
}

/** A snapshot for `/readyz`. */
export interface JwksStatus {
  /** Usable keys are held (fetched at least once and not older than `maxStaleMs`). */
  readonly keysLoaded: boolean;
  /** Epoch ms of the last successful fetch. */
  readonly lastFetchOk?: number;
  /** Safe description of the last failure, cleared by a success. */
  readonly lastError?: string;
  readonly keyCount: number;
}

/** Thrown by {@link JwksCache.getKey} when no usable keys are held and none could be fetched. */
export class KeysUnavailableError extends DependencyError {
  readonly code = 'ERR_KEYS_UNAVAILABLE';
  readonly outage = true;
  readonly dependency = 'keys' as const;

  constructor() {
    super('signing keys unavailable');
    this.name = 'KeysUnavailableError';
  }
}

type LocalKeySet = ReturnType<typeof createLocalJWKSet>;

const DEFAULT_RETRY_BASE_MS = 1_000;
const DEFAULT_RETRY_MAX_MS = 60_000;

/**
 * One issuer's signing keys, fetched over HTTP (directly or through OIDC discovery) and kept fresh:
 *
 * - background refresh every `refreshIntervalMs`; failures retried with exponential backoff;
 * - an unknown `kid` triggers a refetch that is single-flight (concurrent misses share one request) and
 *   rate-limited (at most one request-triggered fetch per `minRefetchIntervalMs`), so a flood of random
 *   `kid`s costs at most one request per interval; background fetches do not count against the limit,
 *   so a key rotated in just after a scheduled refresh is still picked up at once;
 * - stale-if-error: when the endpoint fails, the last good keys keep verifying for up to `maxStaleMs`
 *   after their last successful fetch; a bad document never replaces good keys;
 * - no usable keys → {@link KeysUnavailableError} (the caller answers `dependency_unavailable`).
 *
 * Keys are only ever taken from the configured endpoint: the resolver looks at the token header's `alg`
 * and `kid` and nothing else (`jku`, `x5u`, `x5c` and embedded `jwk` are never followed).
 */
export class JwksCache {
  readonly #deps: JwksCacheDeps;
  readonly #options: JwksCacheOptions;
  readonly #agent: Agent;
  readonly #abort = new AbortController();
  #keySet: LocalKeySet | undefined;
  /** KeyObjects of the installed key set for the synchronous verify path; replaced with it. */
  #syncKeys: SyncKeyTable | undefined;
  #fingerprint = '';
  #keyCount = 0;
  /** Incremented whenever the installed key set changes. */
  #version = 0;
  #fetchedAt = Number.NEGATIVE_INFINITY;
  /** Start of the last fetch triggered by a request (unknown kid, no usable keys, lagging timer). */
  #lastOnDemandAt = Number.NEGATIVE_INFINITY;
  #lastError: string | undefined;
  #failures = 0;
  #discoveredUri: string | undefined;
  #discoveredAt = Number.NEGATIVE_INFINITY;
  #inflight: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  /** @throws TypeError unless exactly one of `jwksUri` / `discoveryUrl` is set. */
  constructor(deps: JwksCacheDeps, options: JwksCacheOptions) {
    if ((options.jwksUri === undefined) === (options.discoveryUrl === undefined)) {
      throw new TypeError(`issuer ${options.issuerName}: exactly one of jwksUri and discoveryUrl is required`);
    }
    this.#deps = deps;
    this.#options = options;
    this.#agent = new Agent({
      connect: { timeout: options.config.fetchTimeoutMs },
      headersTimeout: options.config.fetchTimeoutMs,
      bodyTimeout: options.config.fetchTimeoutMs,
      connections: 2,
    });
  }

  /**
   * Starts the first fetch (and with it the refresh cycle). Never rejects; failures are retried in the
   * background and reported by {@link status}.
   * @returns a promise settled when the first attempt has finished, successful or not.
   */
  start(): Promise<void> {
    return this.#refresh();
  }

  /** Stops timers, aborts a running fetch and closes connections. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#abort.abort();
    await this.#inflight;
    await this.#agent.destroy();
  }

  status(): JwksStatus {
    const base = { keysLoaded: this.#usable(this.#deps.clock()), keyCount: this.#keyCount };
    return {
      ...base,
      ...(Number.isFinite(this.#fetchedAt) ? { lastFetchOk: this.#fetchedAt } : {}),
      ...(this.#lastError !== undefined ? { lastError: this.#lastError } : {}),
    };
  }

  /**
   * jose key resolver (pass to `jwtVerify`): the key for the token's `alg`/`kid` from the cached set.
   * On a miss it refetches once (single-flight, rate-limited) and looks again.
   *
   * @throws KeysUnavailableError no usable keys; jose `ERR_JWKS_NO_MATCHING_KEY` (still unknown after a
   *   refetch, or refetch rate-limited); jose `ERR_JWKS_MULTIPLE_MATCHING_KEYS` (no `kid`, several keys
   *   fit: the error iterates the candidates).
   */
  readonly getKey = async (header: CompactJWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> => {
    let keySet = await this.#usableKeySet();
    try {
      return await keySet(header, token);
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ERR_JWKS_NO_MATCHING_KEY') throw err;
      const before = this.#version;
      await this.#refetchForUnknownKey();
      if (this.#version === before) throw err;
      keySet = await this.#usableKeySet();
      return keySet(header, token);
    }
  };

  /**
   * Synchronous counterpart of {@link getKey} for the common case: the key jose would resolve for this
   * `alg`/`kid` from fresh keys, already imported. Anything that needs {@link getKey}'s logic (no usable
   * keys, a refresh due, an unknown `kid`, several candidates, a key not imported yet) answers undefined,
   * and the caller takes the async path, which handles it exactly as before.
   */
  readonly syncKey = (alg: string, kid: unknown): KeyObject | undefined => {
    const now = this.#deps.clock();
    if (!this.#usable(now) || now - this.#fetchedAt > this.#options.config.refreshIntervalMs) return undefined;
    return this.#syncKeys?.get(alg, kid);
  };

  #usable(now: number): boolean {
    return this.#keySet !== undefined && now - this.#fetchedAt <= this.#options.config.maxStaleMs;
  }

  async #usableKeySet(): Promise<LocalKeySet> {
    const now = this.#deps.clock();
    if (this.#usable(now) && this.#keySet !== undefined) {
      // The timer may lag (suspended process, long GC); refresh opportunistically without waiting.
      if (now - this.#fetchedAt > this.#options.config.refreshIntervalMs && this.#mayFetch(now)) {
        void this.#refresh(true);
      }
      return this.#keySet;
    }
    if (this.#inflight !== undefined) {
      await this.#inflight;
    } else if (this.#mayFetch(now)) {
      await this.#refresh(true);
    }
    if (this.#usable(this.#deps.clock()) && this.#keySet !== undefined) return this.#keySet;
    throw new KeysUnavailableError();
  }

  #mayFetch(now: number): boolean {
    return !this.#closed && now - this.#lastOnDemandAt >= this.#options.config.minRefetchIntervalMs;
  }

  async #refetchForUnknownKey(): Promise<void> {
    const { issuerName } = this.#options;
    if (this.#inflight !== undefined) {
      this.#deps.metrics?.onUnknownKid(issuerName, 'joined');
      await this.#inflight;
      return;
    }
    if (!this.#mayFetch(this.#deps.clock())) {
      this.#deps.metrics?.onUnknownKid(issuerName, 'rate_limited');
      return;
    }
    this.#deps.metrics?.onUnknownKid(issuerName, 'refetch');
    await this.#refresh(true);
  }

  /** Single-flight fetch; never rejects. */
  #refresh(onDemand = false): Promise<void> {
    if (this.#inflight !== undefined) return this.#inflight;
    if (this.#closed) return Promise.resolve();
    if (onDemand) this.#lastOnDemandAt = this.#deps.clock();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const run = this.#fetchAndInstall().finally(() => {
      this.#inflight = undefined;
      this.#schedule();
    });
    this.#inflight = run;
    return run;
  }

  async #fetchAndInstall(): Promise<void> {
    const { issuerName } = this.#options;
    let stage = 'jwks';
    try {
      let jwksUri = this.#options.jwksUri;
      if (jwksUri === undefined) {
        stage = 'discovery';
        jwksUri = await this.#resolveJwksUri();
        stage = 'jwks';
      }
      const keys = parseJwks(await traced('jwks fetch', () => fetchJson(jwksUri, this.#fetchOptions())));
      const changed = this.#install(keys);
      this.#fetchedAt = this.#deps.clock();
      this.#lastError = undefined;
      this.#failures = 0;
      this.#deps.metrics?.onJwksFetch(issuerName, changed ? 'ok' : 'unchanged');
      if (changed) {
        this.#deps.logger.info({ issuer: issuerName, keys: keys.length }, 'signing keys updated');
      }
    } catch (err) {
      if (this.#closed) return;
      this.#failures += 1;
      const message = err instanceof Error ? err.message : 'unknown error';
      this.#lastError = `${stage}: ${message}`;
      const code = (err as { code?: unknown }).code;
      const invalid = code === 'ERR_KEY_SOURCE_INVALID' || code === 'ERR_FETCH_NOT_JSON' || code === 'ERR_JWKS_INVALID';
      this.#deps.metrics?.onJwksFetch(issuerName, invalid ? 'invalid' : 'error');
      this.#deps.logger.warn(
        { issuer: issuerName, stage, error: message, failures: this.#failures, keysLoaded: this.#usable(this.#deps.clock()) },
        'signing key fetch failed',
      );
    }
  }

  async #resolveJwksUri(): Promise<string> {
    const discoveryUrl = this.#options.discoveryUrl as string;
    const now = this.#deps.clock();
    if (this.#discoveredUri !== undefined && now - this.#discoveredAt < this.#options.config.refreshIntervalMs) {
      return this.#discoveredUri;
    }
    try {
      const doc = await traced('oidc discovery', () => fetchJson(discoveryUrl, this.#fetchOptions()));
      this.#discoveredUri = parseDiscoveryDocument(doc, this.#options.issuer);
      this.#discoveredAt = this.#deps.clock();
      return this.#discoveredUri;
    } catch (err) {
      if (this.#discoveredUri === undefined || this.#closed) throw err;
      // A failed re-discovery keeps the jwks_uri learnt earlier rather than losing key refreshes too.
      this.#deps.logger.warn(
        { issuer: this.#options.issuerName, error: err instanceof Error ? err.message : 'unknown error' },
        'OIDC re-discovery failed; keeping the previous jwks_uri',
      );
      return this.#discoveredUri;
    }
  }

  /** @returns whether the key set changed. @throws jose `ERR_JWKS_INVALID` (previous keys kept). */
  #install(keys: PublicJwk[]): boolean {
    const fingerprint = JSON.stringify(keys);
    if (fingerprint === this.#fingerprint && this.#keySet !== undefined) return false;
    // Rebuilt only on change: the local set caches imported CryptoKeys per JWK object.
    this.#keySet = createLocalJWKSet({ keys: keys as unknown as JWK[] });
    this.#syncKeys = new SyncKeyTable(this.#keySet);
    this.#fingerprint = fingerprint;
    this.#keyCount = keys.length;
    this.#version += 1;
    return true;
  }

  #fetchOptions() {
    return {
      timeoutMs: this.#options.config.fetchTimeoutMs,
      maxBodyBytes: this.#options.config.maxBodyBytes,
      dispatcher: this.#agent,
      signal: this.#abort.signal,
    };
  }

  #schedule(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    const { refreshIntervalMs } = this.#options.config;
    let delay = refreshIntervalMs;
    if (this.#failures > 0) {
      const base = this.#options.retryBaseMs ?? DEFAULT_RETRY_BASE_MS;
      const max = this.#options.retryMaxMs ?? DEFAULT_RETRY_MAX_MS;
      const backoff = Math.min(max, base * 2 ** Math.min(this.#failures - 1, 30));
      // Jitter spreads the retries of many replicas hitting the same recovering IdP.
      delay = Math.min(refreshIntervalMs, backoff * (0.9 + Math.random() * 0.2));
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#refresh();
    }, delay);
    // Key refresh alone must never keep the process alive.
    this.#timer.unref();
  }
}
