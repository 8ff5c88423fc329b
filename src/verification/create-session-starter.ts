import type { Logger } from 'pino';
import type { WorkflowConfig } from '../config/types.js';
import type { Locks, StepUpCounters } from '../store/coordination.js';
import type { PendingSessions } from '../store/pending-sessions.js';
import type { PendingSession, SessionRecord } from '../core/verdict.js';

/**
 * The store operations session creation needs: pending sessions and session records, the step-up counter
 * and the single-flight lock (never verdicts or audit).
 */
export interface StarterStore
  extends Pick<PendingSessions, 'getPending' | 'putPending' | 'getSession' | 'putSession'>,
    StepUpCounters,
    Locks {}

/** Creates Didit sessions (implemented by the Didit client in didit/). */
export interface SessionCreator {
  createSession(input: {
    workflowId: string;
    vendorData: string;
    callback: string;
    metadata?: Record<string, unknown>;
  }): Promise<{ sessionId: string; url: string }>;
  /**
   * Ends a session at Didit for good (its `vendor_data` idempotency then creates a fresh one). Without it,
   * a session from before a revocation that Didit hands back is refused (`revoked`) until Didit drops it.
   */
  deleteSession?(sessionId: string): Promise<void>;
}

/** What {@link SessionStarter.start} found or did. */
export type StartResult =
  /** A usable Didit session (reused or just created). */
  | { readonly kind: 'session'; readonly pending: PendingSession; readonly created: boolean }
  /** `maxStepUps` sessions were already created in the window (`verification_loop`). */
  | { readonly kind: 'loop'; readonly retryAfterSeconds: number }
  /** Another replica holds the creation lock and its session did not appear by `waitUntil`. */
  | { readonly kind: 'preparing' }
  /** A revocation landed while the session was being created: it predates the revocation and is not used. */
  | { readonly kind: 'revoked' };

export interface SessionStarter {
  /**
   * Reuses the subject's pending session, else creates exactly one (in-process single-flight per
   * subject+workflow, plus a Redis lock across replicas; the first caller's `returnTo` and `waitUntil`
   * win). Rejects with the coded store or Didit error; a failed creation does not use up the step-up
   * budget.
   */
  start(input: {
    readonly subject: string;
    readonly workflow: WorkflowConfig;
    readonly returnTo?: string;
    /** Epoch ms until which to wait for another replica's creation. */
    readonly waitUntil: number;
  }): Promise<StartResult>;
}

export interface SessionStarterOptions {
  /** Absolute URL of idgate's `/verification/callback` (Didit appends its query parameters). */
  readonly callbackUrl: string;
  /** Cap on session creations per subject+workflow within {@link stepUpWindowMs} (loop protection). */
  readonly maxStepUps: number;
  readonly stepUpWindowMs?: number;
  /** How long a created session is reused for the same subject+workflow (default 24 h). */
  readonly pendingTtlMs?: number;
  /** How long a session record (for the callback) lives (default 7 d). */
  readonly sessionTtlMs?: number;
}

/**
 * Session creation shared by the Check path (in the background) and idgate's start URL (when the browser
 * opens it). Records the session (`createdAt` = creation time, which revocation watermarks compare
 * against) before the pending entry, so a webhook can always find who the session is for.
 */
export function createSessionStarter(
  deps: { store: StarterStore; didit: SessionCreator; logger: Logger; clock?: () => number; sleep?: (ms: number) => Promise<void> },
  options: SessionStarterOptions,
): SessionStarter {
  const clock = deps.clock ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref()));
  const pendingTtlMs = options.pendingTtlMs ?? 24 * 3600_000;
  const sessionTtlMs = options.sessionTtlMs ?? 7 * 24 * 3600_000;
  const windowMs = options.stepUpWindowMs ?? 3600_000;
  const inFlight = new Map<string, Promise<StartResult>>();
  // Step-up slots counted for a session creation that then failed (Didit down, circuit open, store
  // fault): the next attempt reuses the slot instead of counting again, so an outage cannot use up a
  // caller's step-up budget and lock them out with verification_loop once Didit is back. Per replica
  // and bounded; at worst each replica spends one extra slot per outage.
  const unusedSlots = new Map<string, { readonly count: number; readonly until: number }>();
  const MAX_UNUSED_SLOTS = 10_000;

  async function takeStepUpSlot(key: string, subject: string, workflow: string): Promise<number> {
    const slot = unusedSlots.get(key);
    unusedSlots.delete(key);
    if (slot !== undefined && slot.until > clock()) return slot.count;
    return deps.store.countStepUp(subject, workflow, windowMs);
  }

  function returnStepUpSlot(key: string, count: number): void {
    if (unusedSlots.size >= MAX_UNUSED_SLOTS) {
      const oldest = unusedSlots.keys().next();
      if (oldest.done !== true) unusedSlots.delete(oldest.value);
    }
    unusedSlots.set(key, { count, until: clock() + windowMs });
  }

  async function createOrReuse(subject: string, workflow: WorkflowConfig, returnTo: string | undefined, waitUntil: number): Promise<StartResult> {
    const lockName = `create:${subject}:${workflow.name}`;
    let token: string | undefined;
    for (;;) {
      const pending = await deps.store.getPending(subject, workflow.name);
      if (pending) return { kind: 'session', pending, created: false };
      token = await deps.store.acquireLock(lockName, 15_000);
      if (token !== undefined) break;
      // Another replica is creating the session right now: wait for it to appear, or for its lock to go
      // (its creation failed) and then try ourselves.
      if (clock() + 25 >= waitUntil) return { kind: 'preparing' };
      await sleep(20);
    }
    try {
      // Re-check under the lock: the holder before us may have just finished.
      const raced = await deps.store.getPending(subject, workflow.name);
      if (raced) return { kind: 'session', pending: raced, created: false };
      const slotKey = `${subject}\u0000${workflow.name}`;
      const count = await takeStepUpSlot(slotKey, subject, workflow.name);
      if (count > options.maxStepUps) return { kind: 'loop', retryAfterSeconds: Math.ceil(windowMs / 1000) };
      let fresh: PendingSession;
      try {
        for (let attempt = 0; ; attempt++) {
          // The session's creation time as idgate records it is when idgate asked for it: a revocation that
          // lands while Didit answers is then after it, and the session is refused (fail closed).
          const requestedAt = clock();
          const created = await deps.didit.createSession({
            workflowId: workflow.workflowId,
            vendorData: subject,
            callback: options.callbackUrl,
            metadata: { workflow: workflow.name },
          });
          // Didit's `vendor_data` idempotency hands back a session the user has not finished instead of
          // creating one. Such a session is as old as idgate's first record of it, never "now": else one
          // opened before a revocation would pass the watermark and its webhook or callback re-approve.
          const known = await deps.store.getSession(created.sessionId);
          if (known !== undefined && (known.subject !== subject || known.workflow !== workflow.name)) {
            throw new TypeError('Didit handed back a session idgate created for another subject or workflow');
          }
          const createdAt = known?.createdAt ?? requestedAt;
          const record: SessionRecord = {
            sessionId: created.sessionId,
            subject,
            workflow: workflow.name,
            ...(returnTo !== undefined ? { returnTo } : {}),
            createdAt,
          };
          await deps.store.putSession(record, sessionTtlMs);
          fresh = { subject, workflow: workflow.name, sessionId: created.sessionId, url: created.url, createdAt };
          if ((await deps.store.putPending(fresh, pendingTtlMs)) === 'stored') break;
          if (known === undefined || attempt > 0 || deps.didit.deleteSession === undefined) {
            returnStepUpSlot(slotKey, count);
            return { kind: 'revoked' };
          }
          // An unfinished session from before the revocation: end it at Didit, so the next creation is new.
          deps.logger.info({ subject, workflow: workflow.name, sessionId: created.sessionId }, 'deleting a pre-revocation Didit session handed back for reuse');
          await deps.didit.deleteSession(created.sessionId).catch((err: unknown) => {
            if ((err as { code?: unknown }).code !== 'not_found') throw err;
          });
        }
      } catch (err) {
        returnStepUpSlot(slotKey, count);
        throw err;
      }
      deps.logger.info({ subject, workflow: workflow.name, sessionId: fresh.sessionId }, 'verification session created');
      return { kind: 'session', pending: fresh, created: true };
    } finally {
      await deps.store.releaseLock(lockName, token).catch(() => undefined);
    }
  }

  return {
    start({ subject, workflow, returnTo, waitUntil }) {
      const key = `${subject}\u0000${workflow.name}`;
      let flight = inFlight.get(key);
      if (!flight) {
        flight = createOrReuse(subject, workflow, returnTo, waitUntil).finally(() => inFlight.delete(key));
        inFlight.set(key, flight);
      }
      return flight;
    },
  };
}
