import type { PendingSession, Verdict } from '../core/verdict.js';

/**
 * What {@link VerdictStore.putVerdict} did:
 * - `written`: the verdict replaced the stored one (or there was none); an invalidation was published.
 * - `stale`: the stored verdict is newer (or wins the precedence on an equal `eventAt`); nothing changed.
 * - `duplicate`: the same event (equal `eventAt`, status and session) was already stored; nothing changed.
 * - `revoked`: a revocation watermark of the subject (or of this workflow) is at or after the session's
 *   creation time, or that time is unknown; nothing changed. Only a session created after the revocation
 *   can establish a verdict again.
 */
export type PutVerdictResult = 'written' | 'stale' | 'duplicate' | 'revoked';

/** What the writer knows about the session a verdict comes from. */
export interface PutVerdictOptions {
  /**
   * When idgate created the session (its own `SessionRecord`/`PendingSession.createdAt`, epoch ms on an
   * idgate clock). Undefined = unknown: refused whenever a revocation watermark exists (fail closed).
   */
  readonly sessionCreatedAt?: number;
}

/**
 * Why a revocation watermark was recorded: an operator (`admin`), or Didit moving an Approved verdict to
 * a refusal (`didit_status_regression`: Declined, Kyc Expired, Expired, Abandoned).
 */
export type RevocationReason = 'admin' | 'didit_status_regression';

/**
 * A revocation watermark: no verdict from a session created at or before `at` is ever written again for
 * its scope (`workflow`, or the whole subject when `workflow` is absent).
 */
export interface Revocation {
  /** Epoch ms (idgate clock). */
  readonly at: number;
  readonly reason: RevocationReason;
  /** The policy workflow; absent for a subject-wide watermark. */
  readonly workflow?: string;
}

/** What {@link VerdictStore.revokeVerdicts} removed (the watermark is recorded either way). */
export interface RevokeResult {
  /** The verdicts that were stored and are now deleted. */
  readonly verdicts: readonly Verdict[];
  /** The pending sessions that were stored and are now deleted (they predate the watermark). */
  readonly pending: readonly PendingSession[];
}

/**
 * What a Check reads of one subject in one step: its verdicts and, for each workflow without a stored
 * verdict, its pending session. A step-up to a session that is already pending then needs no second read
 * (on Redis: no second round trip, and no budget timer against it), and both come from the same instant
 * (one `MGET`), so a webhook that writes the verdict and then deletes the pending session is seen either
 * wholly before or wholly after.
 */
export interface CheckState {
  /** What `getVerdicts` answers for the same workflows. */
  readonly verdicts: readonly (Verdict | undefined)[];
  /**
   * `pending[i]`: the pending session of `workflows[i]` (undefined when none is stored or it has expired),
   * read only where `verdicts[i]` is undefined — where a verdict is stored it is left undefined, not read.
   * The whole list is undefined when no pending session was read at all (a full hit of the local verdict
   * cache answers from memory and never asks the store for pending sessions).
   */
  readonly pending: readonly (PendingSession | undefined)[] | undefined;
}

/** A {@link CheckState}'s `pending` when pending sessions were read and none applies (every index is undefined). */
export const NO_PENDING: readonly (PendingSession | undefined)[] = Object.freeze([]);

/**
 * {@link CheckState} in one read: synchronous where the store can answer without I/O (memory, a full hit
 * of the local cache), else one round trip. Never throws (a fault rejects with a `StoreError`). A wrapper
 * that overrides `getVerdicts` or `getPending` must override this too (or leave it out).
 */
export interface CheckStateRead {
  readCheckState(subject: string, workflows: readonly string[]): CheckState | Promise<CheckState>;
}

/**
 * Verification verdicts and the revocation watermarks that guard them: the two are written together,
 * atomically (one Lua script on Redis), so no verdict from a revoked session can slip in between. What the
 * verification gate reads on every Check (`getVerdicts`), what settling a session writes, and what the admin
 * API revokes and lists. Implemented per backend (`store/redis/redis-verdicts.ts`,
 * `store/memory/memory-verdicts.ts`) and wrapped by `createCachedVerdictStore` for a per-replica read cache.
 *
 * Every method rejects only with a `StoreError` (codes `unavailable`, `timeout`, `corrupt`); callers
 * turn it into a fail-closed deny. A stored value that does not parse as what it should be is treated as
 * absent (and counted), never returned half-valid.
 */
export interface VerdictStore {
  /**
   * The stored verdicts for one subject, in the order of `workflows` (`undefined` where none), read in a
   * single round trip.
   */
  getVerdicts(subject: string, workflows: readonly string[]): Promise<(Verdict | undefined)[]>;

  /**
   * Atomic ordered write: first the revocation check (`revoked` when a watermark of the subject or of
   * the workflow is at or after `options.sessionCreatedAt`, or that time is unknown), then the order:
   * the verdict replaces the stored one only when its `eventAt` is newer, or equal with a higher
   * precedence (see `orderVerdictWrite`). Publishes an invalidation after a write. A write that moves an
   * `Approved` verdict to a refusal (Declined, Kyc Expired, Expired, Abandoned) also records a
   * `didit_status_regression` watermark for the workflow at the store's current time, in the same
   * atomic step. `Expired`/`Abandoned` verdicts expire after the store's settled-verdict TTL (30 days by
   * default); every other verdict has no TTL (policy applies `maxAge`).
   */
  putVerdict(v: Verdict, options?: PutVerdictOptions): Promise<PutVerdictResult>;

  /**
   * Revocation, atomically: records the watermark `at` for the workflow (or for the whole subject when
   * `workflow` is undefined; a later watermark already stored is kept), deletes the verdict(s) and the
   * pending session(s) of the workflow (or of every workflow with a verdict plus `pendingWorkflows`),
   * and publishes an invalidation. Resolves with what was deleted.
   */
  revokeVerdicts(
    subject: string,
    workflow: string | undefined,
    revocation: { readonly at: number; readonly reason: RevocationReason },
    pendingWorkflows?: readonly string[],
  ): Promise<RevokeResult>;

  /** The subject's revocation watermarks (subject-wide first when present), for the admin API. */
  getRevocations(subject: string): Promise<Revocation[]>;

  /** Every stored verdict of the subject (for the admin API), in no particular order. */
  listVerdicts(subject: string): Promise<Verdict[]>;
}
