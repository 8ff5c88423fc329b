import type { PendingSession, SessionRecord } from '../core/verdict.js';

/**
 * The Didit sessions idgate created and has not seen settled: the pending session per subject+workflow
 * (handed out again instead of creating another one, swept by the reconciler) and the session record per
 * session id (read back by the browser's callback and by webhooks). Implemented by both backends; every
 * method rejects only with a `StoreError` on an infrastructure fault (or a `TypeError` for a bad argument).
 */
export interface PendingSessions {
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
}
