import { DependencyError } from '../core/dependency-error.js';

/**
 * Why a store operation could not be done. Every code is an infrastructure fault; callers fail closed
 * (the engine answers 503 `dependency_unavailable`).
 *
 * - `unavailable`: the backend is down, unreachable, closed, read-only or refused the command.
 * - `timeout`: the command did not answer within the configured command timeout.
 * - `corrupt`: the backend answered something the store cannot interpret (wrong key type, odd script reply).
 */
export type StoreErrorCode = 'unavailable' | 'timeout' | 'corrupt';

/** The coded error every store method (of every concern, on every backend) throws on an infrastructure fault. */
export class StoreError extends DependencyError {
  override readonly name = 'StoreError';
  readonly code: StoreErrorCode;
  readonly dependency = 'store' as const;

  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** `unavailable` and `timeout` are outages; `corrupt` (an answer we cannot interpret) is not. */
  get outage(): boolean {
    return this.code !== 'corrupt';
  }
}
