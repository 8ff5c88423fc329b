import type { LRUCache } from 'lru-cache';
import { boundedLru } from '../../core/bounded-lru.js';
import type { Logger } from 'pino';
import type { PendingSession } from '../../core/verdict.js';
import { InvalidationListeners } from '../invalidation-listeners.js';
import { StoreError } from '../store-error.js';
import type { Revocation, RevocationReason } from '../verdict-store.js';

/** A stored value with its expiry. */
export interface Timed<T> {
  readonly value: T;
  /** Epoch ms; `Infinity` = no TTL. */
  readonly expiresAt: number;
  /** Pending sessions only: when the sweep last found it still open (see `deferPending`). */
  checkedAt?: number;
}

/** The key of one subject+workflow in the memory maps (a JSON pair, so any two strings stay apart). */
export const pairKey = (subject: string, workflow: string): string => JSON.stringify([subject, workflow]);

/**
 * What the memory concerns share, the twin of the one Redis connection: the clock, the closed flag, the
 * invalidation listeners, and the state two concerns touch together — the pending sessions (a revocation
 * deletes them) and the revocation watermarks (both the verdict and the pending write check them).
 */
export class MemoryState {
  readonly listeners: InvalidationListeners;
  readonly pending: LRUCache<string, Timed<PendingSession>>;
  /**
   * Revocation watermarks per subject (key '' = the whole subject, else the workflow). Not an LRU: a
   * forgotten watermark would let an old session back in. Beyond `maxSubjects` subjects the oldest
   * subject's watermarks are folded into {@link revocationFloor}, which then applies to every subject
   * (fail closed: only sessions older than a forgotten revocation are refused).
   */
  readonly #revocations = new Map<string, Map<string, Revocation>>();
  #revocationFloor: number | undefined;
  #closed = false;

  constructor(
    readonly logger: Logger,
    readonly now: () => number,
    readonly maxSubjects: number,
    readonly maxEntries: number,
  ) {
    this.listeners = new InvalidationListeners(logger);
    this.pending = boundedLru(maxEntries);
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    this.#closed = true;
    this.listeners.clear();
  }

  /** @throws StoreError `unavailable` once closed (the twin of a closed Redis connection). */
  open(): void {
    if (this.#closed) throw new StoreError('unavailable', 'verdict store is closed');
  }

  /** The value of an entry that has not expired on the store's clock. */
  live<T>(entry: Timed<T> | undefined): T | undefined {
    return entry !== undefined && entry.expiresAt > this.now() ? entry.value : undefined;
  }

  /** The subject's watermarks as stored (subject-wide and per workflow), unsorted. */
  revocationsOf(subject: string): Revocation[] {
    return [...(this.#revocations.get(subject)?.values() ?? [])];
  }

  /** The latest revocation time of the subject or the workflow (or the floor), if any. */
  watermark(subject: string, workflow: string): number | undefined {
    const bySubject = this.#revocations.get(subject);
    const times = [bySubject?.get('')?.at, bySubject?.get(`w:${workflow}`)?.at, this.#revocationFloor].filter(
      (t): t is number => t !== undefined,
    );
    return times.length === 0 ? undefined : Math.max(...times);
  }

  /** Records a watermark, keeping a later one already stored. */
  recordRevocation(subject: string, workflow: string | undefined, r: { readonly at: number; readonly reason: RevocationReason }): void {
    let bySubject = this.#revocations.get(subject);
    if (bySubject === undefined) {
      if (this.#revocations.size >= this.maxSubjects) {
        const oldest = this.#revocations.entries().next();
        if (oldest.done !== true) {
          this.#revocations.delete(oldest.value[0]);
          for (const old of oldest.value[1].values()) this.#revocationFloor = Math.max(this.#revocationFloor ?? old.at, old.at);
        }
      }
      bySubject = new Map();
      this.#revocations.set(subject, bySubject);
    }
    const field = workflow === undefined ? '' : `w:${workflow}`;
    const current = bySubject.get(field);
    if (current !== undefined && current.at >= r.at) return;
    bySubject.set(field, { at: r.at, reason: r.reason, ...(workflow !== undefined ? { workflow } : {}) });
  }
}
