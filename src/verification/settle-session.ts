import type { WorkflowConfig } from '../config/types.js';
import type { AuditLog } from '../store/event-log.js';
import type { PendingSessions } from '../store/pending-sessions.js';
import type { VerdictStore } from '../store/verdict-store.js';
import type { PendingSession, SessionStatus, Verdict } from '../core/verdict.js';

/** Statuses after which a session needs no more reuse: the pending record can go. */
const UNSETTLED: ReadonlySet<SessionStatus> = new Set(['Not Started', 'In Progress', 'Resubmitted', 'Awaiting User']);

/** True when the status is a (possibly soft-final) decision rather than a session still in the user's hands. */
export function isSettled(status: SessionStatus): boolean {
  return !UNSETTLED.has(status);
}

/**
 * The store operations settling needs: the ordered verdict write, the pending session it settles, and the
 * audit log (never the risk state, the locks or the verdict listing).
 */
export interface SettleStore
  extends Pick<VerdictStore, 'putVerdict'>,
    Pick<PendingSessions, 'getPending' | 'deletePending'>,
    AuditLog {}

/**
 * Writes a verdict in order (older events never replace newer ones) unless a revocation watermark covers
 * its session (`revoked`: the session was created at or before a revocation, or `sessionCreatedAt` is
 * unknown while a watermark exists), drops the pending session it settles (only if the pending record is
 * for this very session, so a newer retry session is kept; a revoked session's pending record goes too)
 * and appends an audit entry. Resolves only after the write is durable in the store; store faults
 * propagate.
 *
 * `sessionCreatedAt` must be idgate's own record of when it created the session (`SessionRecord` or
 * `PendingSession.createdAt`), never a time taken from the webhook or the decision: those are on Didit's
 * clock and, for the callback, named by the caller.
 */
export async function applyVerdict(
  store: SettleStore,
  verdict: Verdict,
  source: 'webhook' | 'callback' | 'sweep' | 'admin',
  sessionCreatedAt: number | undefined,
): Promise<'written' | 'stale' | 'duplicate' | 'revoked'> {
  const result = await store.putVerdict(verdict, sessionCreatedAt === undefined ? {} : { sessionCreatedAt });
  if (isSettled(verdict.status) || result === 'revoked') {
    const pending = await store.getPending(verdict.subject, verdict.workflow);
    if (pending && pending.sessionId === verdict.sessionId) {
      await store.deletePending(verdict.subject, verdict.workflow);
    }
  }
  await store.appendAudit({
    source,
    result,
    subject: verdict.subject,
    workflow: verdict.workflow,
    session_id: verdict.sessionId,
    status: verdict.status,
    event_at: String(verdict.eventAt),
  });
  return result;
}

/** Reverse map from Didit workflow UUID to the policy workflow name(s). */
export function workflowsByDiditId(
  workflows: Readonly<Record<string, WorkflowConfig>>,
): ReadonlyMap<string, WorkflowConfig> {
  const map = new Map<string, WorkflowConfig>();
  for (const wf of Object.values(workflows)) {
    if (!map.has(wf.workflowId)) map.set(wf.workflowId, wf);
  }
  return map;
}
