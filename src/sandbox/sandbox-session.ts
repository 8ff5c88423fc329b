import type { SessionStatus } from '../core/verdict.js';
import { SANDBOX_NODES, type SandboxScenario } from './build-sandbox-decision.js';

/** A snapshot of one sandbox session: the state the transitions below move between. */
export interface SandboxSession {
  readonly sessionId: string;
  readonly sessionNumber: number;
  readonly sessionToken: string;
  readonly url: string;
  readonly workflowId: string;
  readonly workflowVersion: number;
  readonly vendorData?: string;
  readonly callback: string | null;
  readonly callbackMethod: 'initiator' | 'completer' | 'both';
  readonly metadata: unknown;
  readonly language?: string;
  readonly contactDetails: unknown;
  readonly expectedDetails: unknown;
  readonly status: SessionStatus;
  /** Epoch ms. */
  readonly createdAt: number;
  /** When data was captured (a decision reached), epoch ms. */
  readonly capturedAt?: number;
  readonly scenario: SandboxScenario;
  readonly clearedNodes: readonly string[];
  readonly resubmitInfo?: { readonly nodes_to_resubmit: readonly string[]; readonly reasons: Readonly<Record<string, string>> };
}

/** What a new session is created from (everything but its state). */
export type NewSandboxSession = Omit<SandboxSession, 'status' | 'createdAt' | 'capturedAt' | 'scenario' | 'clearedNodes' | 'resubmitInfo'>;

/** The results the hosted page offers. */
export type PageDecision = 'Approved' | 'Declined' | 'In Review';

/** The statuses `PATCH /v3/session/{id}/update-status/` may set. */
export const UPDATABLE_TO = ['Approved', 'Declined', 'Resubmitted'] as const;
export type UpdatableStatus = (typeof UPDATABLE_TO)[number];

/** Why a transition was refused: the page answers 409 for `finished`, the API 400 for the other two. */
export type SessionRefusal = 'finished' | 'not_updatable' | 'unchanged';

/**
 * An accepted transition. `steps` are the successive states to announce, in order (one `status.updated`
 * webhook each); `session` is the state to keep (the last step, or the unchanged session when none).
 */
export interface SessionSteps {
  readonly session: SandboxSession;
  readonly steps: readonly SandboxSession[];
}

/** A transition that may be refused. */
export type SessionTransition =
  | ({ readonly ok: true } & SessionSteps)
  | { readonly ok: false; readonly refusal: SessionRefusal; readonly detail: string };

/** Which hosted page a session shows. */
export type HostedPageView = 'form' | 'expired' | 'finished';

/** Statuses in which the user has not finished (vendor_data reuse and the hosted form apply). */
const UNFINISHED: ReadonlySet<SessionStatus> = new Set<SessionStatus>(['Not Started', 'In Progress', 'Resubmitted', 'Awaiting User']);
/** Statuses that mean the user's data was captured and checked. */
const CAPTURED: ReadonlySet<SessionStatus> = new Set<SessionStatus>(['Approved', 'Declined', 'In Review', 'Kyc Expired']);
/** Statuses a reviewer may change through the API. */
const UPDATABLE_FROM: ReadonlySet<SessionStatus> = new Set<SessionStatus>(['Approved', 'Declined', 'In Review', 'Kyc Expired', 'Abandoned', 'Resubmitted']);

// The transitions below are pure: no I/O, no clock (`now` is passed in), no mutation of their input.

/** A new session at `now`: Not Started, no scenario, nothing captured. `metadata` is copied. */
export function startSession(input: NewSandboxSession, now: number): SandboxSession {
  return {
    ...input,
    metadata: structuredClone(input.metadata),
    status: 'Not Started',
    createdAt: now,
    scenario: {},
    clearedNodes: [],
  };
}

/** Whether a create request with this `vendor_data` and workflow version gets `session` back (Didit's idempotency). */
export function isReusable(session: SandboxSession, vendorData: string, workflowId: string, workflowVersion: number): boolean {
  return (
    session.vendorData === vendorData &&
    session.workflowId.toLowerCase() === workflowId.toLowerCase() &&
    session.workflowVersion === workflowVersion &&
    UNFINISHED.has(session.status)
  );
}

/** A reused session takes the new request's `callback` and (a copy of its) `metadata`; the status stays. */
export function reuseSession(session: SandboxSession, callback: string | null, metadata: unknown): SandboxSession {
  return { ...session, callback, metadata: structuredClone(metadata) };
}

/** Opening the hosted page: Not Started and Resubmitted move to In Progress; any other status stays. */
export function openSession(session: SandboxSession): SessionSteps {
  if (session.status !== 'Not Started' && session.status !== 'Resubmitted') return { session, steps: [] };
  const opened: SandboxSession = { ...session, status: 'In Progress' };
  return { session: opened, steps: [opened] };
}

/** The page a session in `status` shows: the form while In Progress, 410 once Expired, else "finished". */
export function hostedPageView(status: SessionStatus): HostedPageView {
  if (status === 'In Progress') return 'form';
  if (status === 'Expired') return 'expired';
  return 'finished';
}

/**
 * The user submits the hosted form. Refused (`finished`) unless the user is still at it (Awaiting User
 * counts as finished for the form). A session not yet In Progress passes through it first, so a receiver
 * sees the same two webhooks as for a user who opened the page.
 */
export function submitSession(session: SandboxSession, decision: PageDecision, scenario: SandboxScenario, now: number): SessionTransition {
  if (!UNFINISHED.has(session.status) || session.status === 'Awaiting User') {
    return { ok: false, refusal: 'finished', detail: `This verification is already finished (status: ${session.status}).` };
  }
  const steps: SandboxSession[] = [];
  let current = session;
  if (current.status !== 'In Progress') {
    current = { ...current, status: 'In Progress' };
    steps.push(current);
  }
  current = setSessionStatus(current, decision, scenario, now);
  steps.push(current);
  return { ok: true, session: current, steps };
}

/**
 * A reviewer's `update-status`: only from a decided status (or Resubmitted) and only to a different one.
 * Resubmitted clears the named nodes (every node when none are named) and records why; Approved and
 * Declined capture nothing new (Didit keeps the data it had).
 */
export function updateSessionStatus(
  session: SandboxSession,
  target: UpdatableStatus,
  request: { readonly nodes?: readonly string[]; readonly comment?: string } = {},
): SessionTransition {
  if (!UPDATABLE_FROM.has(session.status)) {
    return { ok: false, refusal: 'not_updatable', detail: `Cannot update the status of a session in status "${session.status}".` };
  }
  if (session.status === target) return { ok: false, refusal: 'unchanged', detail: `The session is already "${target}".` };
  let next: SandboxSession;
  if (target === 'Resubmitted') {
    const chosen = request.nodes !== undefined && request.nodes.length > 0 ? [...request.nodes] : [...SANDBOX_NODES];
    const reason = request.comment !== undefined && request.comment !== '' ? request.comment : 'Please repeat this step.';
    next = {
      ...session,
      status: 'Resubmitted',
      clearedNodes: [...new Set([...session.clearedNodes, ...chosen])],
      resubmitInfo: { nodes_to_resubmit: chosen, reasons: Object.fromEntries(chosen.map((n) => [n, reason])) },
    };
  } else {
    next = { ...withoutResubmitInfo(session), status: target };
  }
  return { ok: true, session: next, steps: [next] };
}

/**
 * Any status, as the test hooks set it (`DiditSandbox.decide`): a data-bearing status (Approved, Declined,
 * In Review, Kyc Expired) captures data at `now` and restores every node; `scenario`, when given, replaces
 * the old one. Never refused.
 */
export function setSessionStatus(session: SandboxSession, status: SessionStatus, scenario: SandboxScenario | undefined, now: number): SandboxSession {
  let next: SandboxSession = status === 'Resubmitted' ? { ...session, status } : { ...withoutResubmitInfo(session), status };
  if (scenario !== undefined) next = { ...next, scenario: { ...scenario } };
  if (CAPTURED.has(status)) next = { ...next, capturedAt: now, clearedNodes: [] };
  return next;
}

function withoutResubmitInfo(session: SandboxSession): SandboxSession {
  const { resubmitInfo: _dropped, ...rest } = session;
  return rest;
}
