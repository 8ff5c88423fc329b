/**
 * Step-up loop protection shared by every replica. Rejects only with a `StoreError` on an infrastructure
 * fault (or a `TypeError` for a window that is not a positive number).
 */
export interface StepUpCounters {
  /**
   * Counts one step-up for subject+workflow and returns the count within the current window; the window
   * starts with the first step-up and lasts `windowMs`.
   */
  countStepUp(subject: string, workflow: string, windowMs: number): Promise<number>;
}

/** Single-flight locks shared by every replica. Rejects only with a `StoreError` on an infrastructure fault. */
export interface Locks {
  /**
   * A random token when acquired, `undefined` when another holder has it. The lock expires after `ttlMs`
   * even if never released.
   */
  acquireLock(name: string, ttlMs: number): Promise<string | undefined>;

  /** Releases the lock only if `token` still holds it; `true` when released. */
  releaseLock(name: string, token: string): Promise<boolean>;
}
