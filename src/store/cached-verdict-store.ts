import { boundedLru } from '../core/bounded-lru.js';
import type { Verdict } from '../core/verdict.js';
import { isRiskStore } from './risk-store.js';
import type { RiskStore } from './risk-store.js';
import type { StateStore } from './state-store.js';
import type { CheckState, CheckStateRead } from './verdict-store.js';
import { StoreError } from './store-error.js';

/** Options of {@link createCachedVerdictStore}. */
export interface CachedVerdictStoreOptions {
  /** How long a looked-up verdict (or its absence) is served from memory; 0 disables caching. */
  readonly ttlMs: number;
  /** Subjects kept (each holds the verdicts of the workflows looked up for it); LRU beyond. */
  readonly maxEntries: number;
  /** Epoch-ms clock (default `Date.now`). */
  readonly clock?: () => number;
}

/** Counters of the per-replica cache: one hit or miss per workflow looked up. */
export interface CacheStats {
  readonly hits: number;
  readonly misses: number;
  /** Subjects currently cached. */
  readonly subjects: number;
}

/**
 * What the cache wraps: a whole {@link StateStore}, with or without the risk concern, and with or without
 * the one-step {@link CheckStateRead} (Redis and memory have it).
 */
export type CacheableStore = Omit<StateStore, keyof RiskStore> & Partial<RiskStore> & Partial<CheckStateRead>;

/**
 * A {@link StateStore} with a local read cache in front of `getVerdicts`. The {@link RiskStore} methods
 * pass straight through (risk state is never cached: it changes on every request); when the inner store
 * keeps no risk state they reject with `StoreError` `unavailable`.
 */
export interface CachedVerdictStore extends StateStore, CheckStateRead {
  // readCheckState: synchronous when every verdict is in the local cache, reading no pending session (`pending`
  // undefined); a miss returns a promise that reads every workflow's verdict and pending session from the
  // store in one step (when the store can).
  stats(): CacheStats;
}

interface Entry {
  readonly verdict: Verdict | undefined;
  /** Epoch ms when the read that produced it started. */
  readonly at: number;
}

/**
 * Wraps a store with a per-replica read-through cache for `getVerdicts` (the hot path): found and
 * not-found verdicts alike are kept for `ttlMs`. Entries are dropped on the inner store's invalidation
 * events (any replica's writes; subject-wide, subject+workflow, or everything after the event channel
 * reconnected) and on this wrapper's own writes and deletes. A read that overlaps any invalidation is
 * returned but not cached, so a pre-write answer never outlives the write. A cache fault is a miss.
 * Every other method passes straight through; `close()` also closes the inner store.
 *
 * @throws TypeError when `ttlMs` is negative or `maxEntries` is not a positive integer.
 */
export function createCachedVerdictStore(inner: CacheableStore, options: CachedVerdictStoreOptions): CachedVerdictStore {
  const { ttlMs, maxEntries } = options;
  if (!Number.isFinite(ttlMs) || ttlMs < 0) throw new TypeError('cache ttlMs must be a number >= 0');
  if (!Number.isInteger(maxEntries) || maxEntries <= 0) throw new TypeError('cache maxEntries must be a positive integer');
  const clock = options.clock ?? Date.now;
  const cache = boundedLru<string, Map<string, Entry>>(maxEntries);
  let epoch = 0;
  let hits = 0;
  let misses = 0;

  const invalidate = (subject: string | undefined, workflow?: string): void => {
    epoch += 1;
    if (subject === undefined) cache.clear();
    else if (workflow === undefined) cache.delete(subject);
    else cache.peek(subject)?.delete(workflow);
  };
  const unsubscribe = inner.onInvalidate(invalidate);
  /** False while other replicas' invalidations could be missed: then every read goes to the store. */
  const live = inner.invalidationsLive?.bind(inner) ?? ((): boolean => true);

  const safeClock = (): number | undefined => {
    try {
      return clock();
    } catch {
      return undefined;
    }
  };

  const lookup = (subject: string, workflows: readonly string[], out: (Verdict | undefined)[]): number[] => {
    const missing: number[] = [];
    if (ttlMs === 0 || !live()) return workflows.map((_, i) => i);
    try {
      const byWorkflow = cache.get(subject);
      const now = clock();
      workflows.forEach((w, i) => {
        const entry = byWorkflow?.get(w);
        if (entry !== undefined && now - entry.at < ttlMs) out[i] = entry.verdict;
        else missing.push(i);
      });
      return missing;
    } catch {
      return workflows.map((_, i) => i);
    }
  };

  /**
   * Drops up to two least recently used subjects whose every entry is past `ttlMs`: they can never answer
   * again, and without this a replica seeing more subjects than `maxEntries` within the TTL keeps the cache
   * full of them (bench/README.md, "Cache memory per active subject, twelfth round"). Two per insert: the
   * cache sheds dead subjects faster than it gains new ones. The least recently used end is where they are.
   */
  const dropExpired = (now: number): void => {
    for (let n = 0; n < 2; n++) {
      const oldest = cache.rentries().next();
      if (oldest.done === true) return;
      const byWorkflow = oldest.value[1] as Map<string, Entry>;
      for (const entry of byWorkflow.values()) if (now - entry.at < ttlMs) return;
      cache.pop();
    }
  };

  const remember = (subject: string, workflows: readonly string[], found: readonly (Verdict | undefined)[], at: number): void => {
    if (ttlMs === 0 || !live()) return;
    try {
      dropExpired(clock());
      let byWorkflow = cache.get(subject);
      if (byWorkflow === undefined) {
        byWorkflow = new Map();
        cache.set(subject, byWorkflow);
      }
      workflows.forEach((w, i) => byWorkflow.set(w, { verdict: found[i], at }));
    } catch {
      // Not caching is always safe: the next read goes to the store.
    }
  };

  /** The verdicts the local cache did not hold (`missing`: their indexes), read from the store into `out`. */
  const readMissing = async (
    subject: string,
    workflows: readonly string[],
    out: (Verdict | undefined)[],
    missing: readonly number[],
  ): Promise<(Verdict | undefined)[]> => {
    const wanted = missing.map((i) => workflows[i] ?? '');
    const startEpoch = epoch;
    const startedAt = safeClock();
    const found = await inner.getVerdicts(subject, wanted);
    missing.forEach((i, k) => {
      out[i] = found[k];
    });
    if (epoch === startEpoch && startedAt !== undefined) remember(subject, wanted, found, startedAt);
    return out;
  };

  const innerState = inner.readCheckState?.bind(inner);

  /** A whole {@link CheckState} from the store, its verdicts cached unless an invalidation overlapped the read. */
  const readStateThrough = async (
    read: NonNullable<typeof innerState>,
    subject: string,
    workflows: readonly string[],
  ): Promise<CheckState> => {
    const startEpoch = epoch;
    const startedAt = safeClock();
    const state = await read(subject, workflows);
    if (epoch === startEpoch && startedAt !== undefined) remember(subject, workflows, state.verdicts, startedAt);
    return state;
  };

  const readCheckState = (subject: string, workflows: readonly string[]): CheckState | Promise<CheckState> => {
    try {
      const out: (Verdict | undefined)[] = new Array<Verdict | undefined>(workflows.length).fill(undefined);
      const missing = lookup(subject, workflows, out);
      hits += workflows.length - missing.length;
      misses += missing.length;
      if (missing.length === 0) return { verdicts: out, pending: undefined };
      // A miss goes to the store anyway: every workflow in the same step, so each verdict that is absent
      // comes with its pending session (a cached verdict re-read there is only fresher).
      if (innerState !== undefined) return readStateThrough(innerState, subject, workflows);
      return readMissing(subject, workflows, out, missing).then((verdicts) => ({ verdicts, pending: undefined }));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  };

  const risk: RiskStore | undefined = isRiskStore(inner) ? inner : undefined;
  const noRisk = (): Promise<never> => Promise.reject(new StoreError('unavailable', 'this store keeps no risk state'));

  const readVerdicts = (subject: string, workflows: readonly string[]): (Verdict | undefined)[] | Promise<(Verdict | undefined)[]> => {
    // Not async: a Check whose verdicts are all in the local cache (the hot path) is answered without an
    // async frame; only a miss goes on to readMissing.
    try {
      const out: (Verdict | undefined)[] = new Array<Verdict | undefined>(workflows.length).fill(undefined);
      const missing = lookup(subject, workflows, out);
      hits += workflows.length - missing.length;
      misses += missing.length;
      if (missing.length === 0) return out;
      return readMissing(subject, workflows, out, missing);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  };

  return {
    readCheckState,
    getVerdicts(subject, workflows) {
      const read = readVerdicts(subject, workflows);
      return read instanceof Promise ? read : Promise.resolve(read);
    },
    async putVerdict(v, options) {
      try {
        return await inner.putVerdict(v, options);
      } finally {
        invalidate(v.subject, v.workflow);
      }
    },
    async revokeVerdicts(subject, workflow, revocation, pendingWorkflows) {
      try {
        return await inner.revokeVerdicts(subject, workflow, revocation, pendingWorkflows);
      } finally {
        invalidate(subject, workflow);
      }
    },
    getRevocations: (subject) => inner.getRevocations(subject),
    listVerdicts: (subject) => inner.listVerdicts(subject),
    getPending: (subject, workflow) => inner.getPending(subject, workflow),
    putPending: (p, ttl) => inner.putPending(p, ttl),
    deletePending: (subject, workflow) => inner.deletePending(subject, workflow),
    listStalePending: (olderThan, limit) => inner.listStalePending(olderThan, limit),
    deferPending: (subject, workflow, checkedAt) => inner.deferPending(subject, workflow, checkedAt),
    getSession: (sessionId) => inner.getSession(sessionId),
    putSession: (rec, ttl) => inner.putSession(rec, ttl),
    markEventSeen: (eventKey, ttl) => inner.markEventSeen(eventKey, ttl),
    appendAudit: (event) => inner.appendAudit(event),
    countStepUp: (subject, workflow, windowMs) => inner.countStepUp(subject, workflow, windowMs),
    acquireLock: (name, ttl) => inner.acquireLock(name, ttl),
    releaseLock: (name, token) => inner.releaseLock(name, token),
    onInvalidate: (listener) => inner.onInvalidate(listener),
    invalidationsLive: live,
    recordActivity: (subject, observation, limits) => (risk ? risk.recordActivity(subject, observation, limits) : noRisk()),
    getRisk: (subject) => (risk ? risk.getRisk(subject) : noRisk()),
    deleteRisk: (subject) => (risk ? risk.deleteRisk(subject) : noRisk()),
    ping: () => inner.ping(),
    async close() {
      unsubscribe();
      cache.clear();
      await inner.close();
    },
    stats: () => ({ hits, misses, subjects: cache.size }),
  };
}
