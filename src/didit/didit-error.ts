/**
 * Stable codes of {@link DiditError}:
 * - `timeout`: Didit did not answer within the request timeout (after retries);
 * - `unavailable`: connection failure or 5xx (after retries);
 * - `rate_limited`: 429 that retries within the budget could not outlast (`retryAfterMs` says how long);
 * - `auth`: 401/403/402 — the API key, its permissions or the account's billing; an operator must act;
 * - `bad_request`: 400 or another final 4xx — our request was rejected;
 * - `not_found`: 404 — unknown session (or workflow);
 * - `bad_response`: an answer that cannot be used (not JSON, wrong shape, too large, a redirect).
 */
export type DiditErrorCode =
  | 'timeout'
  | 'unavailable'
  | 'rate_limited'
  | 'auth'
  | 'bad_request'
  | 'not_found'
  | 'bad_response';

import { DependencyError } from '../core/dependency-error.js';

/**
 * A failed call to Didit's API. Callers branch on `code` (or {@link DependencyError.outage}), never on the
 * message.
 */
export class DiditError extends DependencyError {
  override readonly name = 'DiditError';
  readonly code: DiditErrorCode;
  readonly dependency = 'didit' as const;
  /** HTTP status of the last response, when there was one. */
  readonly status?: number;
  /** Didit's own error `code` from the body (e.g. `contract_billing_suspended`), when it sent one. */
  readonly diditCode?: string;
  /** For `rate_limited` (and 5xx with `Retry-After`): how long Didit asked us to wait, ms. */
  readonly retryAfterMs?: number;

  constructor(
    code: DiditErrorCode,
    message: string,
    details: { status?: number; diditCode?: string; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    if (details.status !== undefined) this.status = details.status;
    if (details.diditCode !== undefined) this.diditCode = details.diditCode;
    if (details.retryAfterMs !== undefined) this.retryAfterMs = details.retryAfterMs;
  }

  /** True for codes a later attempt may cure (`timeout`, `unavailable`, `rate_limited`). */
  get transient(): boolean {
    return this.code === 'timeout' || this.code === 'unavailable' || this.code === 'rate_limited';
  }

  /**
   * Didit is down, slow or throttling (timeout, connection error, 5xx, 429, open circuit): the transient
   * codes. `bad_request`, `auth`, `not_found` and `bad_response` are answers to *our* request — a bug or a
   * misconfiguration here — and never let a `failOpen` route through.
   */
  get outage(): boolean {
    return this.transient;
  }
}
