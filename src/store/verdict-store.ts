import { DependencyError } from '../core/dependency-error.js';
import type { PendingSession, SessionRecord, Verdict } from '../core/verdict.js';

/**
 * Why a store operation could not be done. Every code is an infrastructure fault; callers fail closed
 * (the engine answers 503 `dependency_unavailable`).
 *
 * - `unavailable`: the backend is down, unreachable, closed, read-only or refused the command.
 * - `timeout`: the command did not answer within the configured command timeout.
 * - `corrupt`: the backend answered something the store cannot interpret (wrong key type, odd script reply).
 */
export type StoreErrorCode = 'unavailable' | 'timeout' | 'corrupt';

/** The coded error every {@link VerdictStore} method throws on an infrastructure fault. */
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
 * Called when verdicts may have changed somewhere (any replica).
 * - `(subject, workflow)`: that one verdict changed.
 * - `(subject)`: every verdict of the subject changed (revocation).
 * - `()` (subject undefined): anything may have changed, e.g. the invalidation channel reconnected and
 *   events may have been missed; drop every cached verdict.
 */
export type InvalidationListener = (subject: string | undefined, workflow?: string) => void;

/**
 * The shared state of idgate: verification verdicts, pending Didit sessions, session records, webhook
 * de-duplication, step-up counters, single-flight locks and the audit stream. Implemented by
 * `RedisVerdictStore` (shared across replicas) and `MemoryVerdictStore` (one process), and wrapped by
 * `createCachedVerdictStore` for a per-replica read cache.
 *
 * Every method rejects only with a {@link StoreError} (codes `unavailable`, `timeout`, `corrupt`); callers
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

  /** The pending Didit session for subject+workflow, if one is stored and not expired. */
  getPending(subject: string, workflow: string): Promise<PendingSession | undefined>;

  /**
   * Stores (replaces) the pending session for its subject+workflow for `ttlMs` and indexes it by
   * `createdAt`; `revoked` (nothing stored) when a revocation watermark is at or after `p.createdAt`,
   * so a session created before a revocation is never handed out again.
   */
  putPending(p: PendingSession, ttlMs: number): Promise<'stored' | 'revoked'>;

  /** Removes the pending session for subject+workflow and its index entry. */
  deletePending(subject: string, workflow: string): Promise<void>;

  /**
   * Up to `limit` pending sessions created at or before `olderThan` (epoch ms), oldest first, for the
   * reconciliation sweep. Index entries whose session has expired are dropped on the way.
   */
  listStalePending(olderThan: number, limit: number): Promise<PendingSession[]>;

  /**
   * The reconciliation sweep checked this pending session at `checkedAt` and it is still open: index it
   * as of that time so the next sweeps take other sessions first (a never-opened session must not hold
   * the sweep's per-run budget until it expires). No-op when the pending session is gone.
   */
  deferPending(subject: string, workflow: string, checkedAt: number): Promise<void>;

  /** The record of a session idgate created, if stored and not expired. */
  getSession(sessionId: string): Promise<SessionRecord | undefined>;

  /** Stores (replaces) a session record for `ttlMs`. */
  putSession(rec: SessionRecord, ttlMs: number): Promise<void>;

  /** Webhook de-duplication: `true` the first time `eventKey` is seen within `ttlMs`, `false` afterwards. */
  markEventSeen(eventKey: string, ttlMs: number): Promise<boolean>;

  /** Appends one event to the bounded audit stream (oldest entries are trimmed). Values must not hold PII. */
  appendAudit(event: Readonly<Record<string, string>>): Promise<void>;

  /**
   * Counts one step-up for subject+workflow and returns the count within the current window; the window
   * starts with the first step-up and lasts `windowMs`.
   */
  countStepUp(subject: string, workflow: string, windowMs: number): Promise<number>;

  /**
   * Single-flight lock shared by every replica: a random token when acquired, `undefined` when another
   * holder has it. The lock expires after `ttlMs` even if never released.
   */
  acquireLock(name: string, ttlMs: number): Promise<string | undefined>;

  /** Releases the lock only if `token` still holds it; `true` when released. */
  releaseLock(name: string, token: string): Promise<boolean>;

  /** Subscribes to verdict invalidations from every replica; returns the unsubscribe function. */
  onInvalidate(listener: InvalidationListener): () => void;

  /** Whether the backend answers now (readiness probe); never rejects. */
  ping(): Promise<boolean>;

  /** Releases connections and timers; later calls reject with `unavailable`. */
  close(): Promise<void>;
}
