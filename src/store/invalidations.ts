/**
 * Called when verdicts may have changed somewhere (any replica).
 * - `(subject, workflow)`: that one verdict changed.
 * - `(subject)`: every verdict of the subject changed (revocation).
 * - `()` (subject undefined): anything may have changed, e.g. the invalidation channel reconnected and
 *   events may have been missed; drop every cached verdict.
 */
export type InvalidationListener = (subject: string | undefined, workflow?: string) => void;

/**
 * Verdict invalidations from every replica (Redis pub/sub; in memory, the process's own writes, announced
 * before the write resolves). What the per-replica verdict cache listens to.
 */
export interface Invalidations {
  /** Subscribes to verdict invalidations from every replica; returns the unsubscribe function. */
  onInvalidate(listener: InvalidationListener): () => void;
  /**
   * False while invalidations from other replicas could be missed (the Redis subscription is not, or no
   * longer, acknowledged on a ready connection): a cache must not answer from memory then. Absent = always
   * live (the in-memory store announces its own writes synchronously).
   */
  invalidationsLive?(): boolean;
}
