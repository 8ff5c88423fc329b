import type { SessionStatus } from '../core/verdict.js';
import { buildSandboxDecision } from './build-sandbox-decision.js';
import type { SandboxSession } from './sandbox-session.js';

/** Statuses whose webhook carries the full decision. */
const WITH_DECISION: ReadonlySet<SessionStatus> = new Set<SessionStatus>(['Approved', 'Declined', 'In Review', 'Abandoned']);

/**
 * The `status.updated` payload for one state of a session, without `event_id` and `timestamp` (set per
 * delivery attempt). A deep copy: later changes to the session cannot alter a queued webhook.
 */
export function buildStatusWebhook(session: SandboxSession, applicationId: string): Record<string, unknown> {
  const payload: Record<string, unknown> = {
    application_id: applicationId,
    created_at: Math.floor(session.createdAt / 1000),
    environment: 'sandbox',
    session_id: session.sessionId,
    status: session.status,
    webhook_type: 'status.updated',
    workflow_id: session.workflowId,
    workflow_version: session.workflowVersion,
  };
  if (session.vendorData !== undefined) payload.vendor_data = session.vendorData;
  if (session.metadata !== null && session.metadata !== undefined) payload.metadata = session.metadata;
  if (WITH_DECISION.has(session.status)) payload.decision = buildSandboxDecision(session);
  if (session.status === 'Resubmitted' && session.resubmitInfo !== undefined) payload.resubmit_info = session.resubmitInfo;
  return structuredClone(payload);
}
