/**
 * One authenticated request as the risk state sees it. Nothing here is a secret; `ip` and `country` are
 * personal data and are kept only in the store (never in logs or risk signal details).
 */
export interface RiskObservation {
  /** Epoch ms of the request (the caller's clock; every replica's clock should be NTP-close). */
  readonly now: number;
  /** The resolved client address (text form). */
  readonly ip: string;
  /** ISO 3166-1 alpha-2 country (upper-case), when the proxy reported one. */
  readonly country?: string;
  /** A hash of the device headers (never the raw values), when the request carried any. */
  readonly deviceId?: string;
  /** The token's fingerprint (`Principal.tokenId`). */
  readonly tokenId: string;
}

/** Windows and lifetimes of the risk state (from `RiskConfig`). All positive ms. */
export interface RiskLimits {
  /** How long a subject's state is kept after its last request. */
  readonly stateTtlMs: number;
  /** Velocity window (sliding, approximated with two fixed buckets). */
  readonly velocityWindowMs: number;
  /** How long one token's set of source addresses is kept, from the token's first use. */
  readonly tokenIpWindowMs: number;
}

/**
 * What the risk state knew **before** this request, plus the counters **after** counting it.
 * - `firstSeen`: the subject had no state at all (first request ever, or state expired/revoked).
 * - `knownDevice`: `deviceId` was given and had been seen for this subject before (false without one).
 * - `velocityCount`: requests of the subject in the last velocity window, this one included.
 * - `distinctIpsForToken`: distinct source addresses of this token in its window, this one included.
 */
export interface RiskSnapshot {
  readonly lastIp?: string;
  readonly lastCountry?: string;
  /** Epoch ms of the last request that carried `lastCountry`. */
  readonly lastCountryAt?: number;
  readonly knownDevice: boolean;
  readonly firstSeen: boolean;
  readonly velocityCount: number;
  readonly distinctIpsForToken: number;
}

/** A subject's stored risk state, for the admin API. Device ids are counted, never listed. */
export interface RiskRecord {
  /** Epoch ms of the last request. */
  readonly lastSeenAt: number;
  readonly lastIp?: string;
  readonly lastCountry?: string;
  readonly lastCountryAt?: number;
  /** Devices remembered for the subject (at most {@link MAX_KNOWN_DEVICES}). */
  readonly knownDevices: number;
  /** Tokens whose address sets are currently tracked. */
  readonly trackedTokens: number;
}

/** Devices remembered per subject; beyond it one remembered device is forgotten for each new one. */
export const MAX_KNOWN_DEVICES = 50;
/** Addresses remembered per token; beyond it the count is reported as one more than the cap. */
export const MAX_IPS_PER_TOKEN = 64;
/** Tokens tracked per subject; beyond it the oldest token's address set is dropped. */
export const MAX_TRACKED_TOKENS = 64;

/**
 * Per-subject continuous-verification state shared by every replica (Redis) or kept in one process
 * (memory). Implemented by `store/redis/redis-risk.ts`, `store/memory/memory-risk.ts` and the cached wrapper (pass-through).
 *
 * Every method rejects only with a `StoreError` (`unavailable`, `timeout`, `corrupt`) on an infrastructure
 * fault, or a `TypeError` for invalid limits. Every piece of state has a TTL.
 */
export interface RiskStore {
  /**
   * Records one request and returns the state before it plus the counters after it, in one round trip.
   * @throws StoreError on a backend fault; TypeError when a limit is not a positive number.
   */
  recordActivity(subject: string, observation: RiskObservation, limits: RiskLimits): Promise<RiskSnapshot>;

  /** The subject's stored risk state, or undefined when there is none. */
  getRisk(subject: string): Promise<RiskRecord | undefined>;

  /** Forgets everything remembered about the subject (revocation); the next request is a first sighting. */
  deleteRisk(subject: string): Promise<void>;
}

/** Whether a store also implements {@link RiskStore}. */
export function isRiskStore(store: object): store is RiskStore {
  const s = store as Partial<RiskStore>;
  return typeof s.recordActivity === 'function' && typeof s.getRisk === 'function' && typeof s.deleteRisk === 'function';
}

/** Validates limits (shared by both backends). @throws TypeError when one is not a positive finite number. */
export function checkRiskLimits(limits: RiskLimits): void {
  for (const [name, ms] of Object.entries(limits)) {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) {
      throw new TypeError(`risk limit ${name} must be a positive number of ms`);
    }
  }
}

/**
 * Velocity over an approximated sliding window: the current fixed bucket's count plus the previous
 * bucket's count weighted by how much of it still overlaps the window (the classic two-bucket estimate;
 * O(1) state, never under-counts a burst inside one window).
 */
export function slidingCount(now: number, windowMs: number, bucketStart: number, current: number, previous: number): number {
  const elapsed = now - bucketStart;
  const overlap = Math.max(0, windowMs - elapsed) / windowMs;
  return current + Math.floor(previous * overlap);
}
