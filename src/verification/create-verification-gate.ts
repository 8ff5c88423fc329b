import type { Logger } from 'pino';
import type { WorkflowConfig } from '../config/types.js';
import type { RequestContext } from '../core/request-context.js';
import type { Principal } from '../core/principal.js';
import type { VerificationGate, VerificationResult } from '../engine.js';
import type { VerificationNeed } from '../policy/outcome.js';
import { evaluateVerdict } from './evaluate-verdict.js';
import { originalUrl } from './return-url.js';
import type { PendingSession, SessionRecord, Verdict } from './verdict.js';

/** The store operations the gate needs (implemented by the verdict stores in store/). */
export interface GateStore {
  getVerdicts(subject: string, workflows: readonly string[]): Promise<(Verdict | undefined)[]>;
  getPending(subject: string, workflow: string): Promise<PendingSession | undefined>;
  /** `revoked` when a revocation is at or after the session's creation (nothing stored). */
  putPending(p: PendingSession, ttlMs: number): Promise<'stored' | 'revoked'>;
  putSession(rec: SessionRecord, ttlMs: number): Promise<void>;
  countStepUp(subject: string, workflow: string, windowMs: number): Promise<number>;
  acquireLock(name: string, ttlMs: number): Promise<string | undefined>;
  releaseLock(name: string, token: string): Promise<unknown>;
}

/** Creates Didit sessions (implemented by the Didit client in didit/). */
export interface SessionCreator {
  createSession(input: {
    workflowId: string;
    vendorData: string;
    callback: string;
    metadata?: Record<string, unknown>;
  }): Promise<{ sessionId: string; url: string }>;
}

export interface VerificationGateOptions {
  /** The workflows, or a function returning the current ones (read per check, so a config reload applies). */
  readonly workflows: Readonly<Record<string, WorkflowConfig>> | (() => Readonly<Record<string, WorkflowConfig>>);
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
 * The verification stage: looks up the subject's verdicts for every workflow the route needs (one store
 * round trip) and, for the first unmet one, sends the caller to a Didit session — reusing the pending
 * session when there is one, else creating exactly one even under a burst (in-process single-flight plus
 * a short Redis lock across replicas).
 *
 * Stage rule: every need must be satisfied (all must pass); the first final deny wins; store and Didit
 * faults propagate as coded errors, which the engine turns into fail-closed 503s. Step-ups are capped at
 * `maxStepUps` session creations per subject+workflow and window (`verification_loop`); an attempt whose
 * creation failed does not use up the budget.
 */
export function createVerificationGate(
  deps: { store: GateStore; didit: SessionCreator; logger: Logger; clock?: () => number; sleep?: (ms: number) => Promise<void> },
  options: VerificationGateOptions,
): VerificationGate {
  const clock = deps.clock ?? Date.now;
  const workflowsOf = typeof options.workflows === 'function' ? options.workflows : () => options.workflows as Readonly<Record<string, WorkflowConfig>>;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref()));
  const pendingTtlMs = options.pendingTtlMs ?? 24 * 3600_000;
  const sessionTtlMs = options.sessionTtlMs ?? 7 * 24 * 3600_000;
  const windowMs = options.stepUpWindowMs ?? 3600_000;
  const inFlight = new Map<string, Promise<VerificationResult>>();
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

  async function createOrReuse(
    ctx: RequestContext,
    principal: Principal,
    workflow: WorkflowConfig,
    deadlineAt: number,
  ): Promise<VerificationResult> {
    const subject = principal.subject;
    const pending = await deps.store.getPending(subject, workflow.name);
    if (pending) return stepUp(pending);

    const lockName = `create:${subject}:${workflow.name}`;
    const token = await deps.store.acquireLock(lockName, 15_000);
    if (token === undefined) {
      // Another replica is creating the session right now: wait briefly for it to appear.
      while (clock() + 25 < deadlineAt) {
        await sleep(20);
        const appeared = await deps.store.getPending(subject, workflow.name);
        if (appeared) return stepUp(appeared);
      }
      return {
        kind: 'deny',
        status: 503,
        code: 'dependency_unavailable',
        message: 'a verification session is being prepared; retry shortly',
        retryAfter: 1,
      };
    }
    try {
      // Re-check under the lock: the holder before us may have just finished.
      const raced = await deps.store.getPending(subject, workflow.name);
      if (raced) return stepUp(raced);
      const slotKey = `${subject}\u0000${workflow.name}`;
      const count = await takeStepUpSlot(slotKey, subject, workflow.name);
      if (count > options.maxStepUps) {
        return {
          kind: 'deny',
          status: 429,
          code: 'verification_loop',
          message: 'too many verification attempts; try again later',
          retryAfter: Math.ceil(windowMs / 1000),
          extra: { workflow: workflow.name },
        };
      }
      let fresh: PendingSession;
      try {
        // The session's creation time as idgate records it is when idgate asked for it: a revocation that
        // lands while Didit answers is then after it, and the session is refused (fail closed).
        const requestedAt = clock();
        const created = await deps.didit.createSession({
          workflowId: workflow.workflowId,
          vendorData: subject,
          callback: options.callbackUrl,
          metadata: { workflow: workflow.name },
        });
        const record: SessionRecord = {
          sessionId: created.sessionId,
          subject,
          workflow: workflow.name,
          returnTo: originalUrl(ctx),
          createdAt: requestedAt,
        };
        await deps.store.putSession(record, sessionTtlMs);
        fresh = {
          subject,
          workflow: workflow.name,
          sessionId: created.sessionId,
          url: created.url,
          createdAt: requestedAt,
        };
        if ((await deps.store.putPending(fresh, pendingTtlMs)) === 'revoked') {
          // A revocation landed while this session was being created: it predates the revocation and can
          // never settle, so it is not handed out; the next attempt creates one after the revocation.
          returnStepUpSlot(slotKey, count);
          return {
            kind: 'deny',
            status: 503,
            code: 'dependency_unavailable',
            message: 'verification was revoked while a session was being prepared; retry',
            retryAfter: 1,
          };
        }
      } catch (err) {
        returnStepUpSlot(slotKey, count);
        throw err;
      }
      deps.logger.info(
        { subject, workflow: workflow.name, sessionId: fresh.sessionId },
        'verification session created',
      );
      return stepUp(fresh);
    } finally {
      await deps.store.releaseLock(lockName, token).catch(() => undefined);
    }
  }

  function stepUp(p: PendingSession): VerificationResult {
    return { kind: 'step_up', workflow: p.workflow, verificationUrl: p.url, sessionId: p.sessionId };
  }

  return {
    async check({ ctx, principal, needs, now, deadlineAt }) {
      const verdicts = await deps.store.getVerdicts(
        principal.subject,
        needs.map((n) => n.workflow),
      );
      const satisfied: string[] = [];
      const workflows = workflowsOf();
      for (let i = 0; i < needs.length; i++) {
        const need = needs[i]!;
        const workflow = workflows[need.workflow];
        if (!workflow) {
          // Config validation makes this unreachable; fail closed if it ever is not.
          return { kind: 'deny', status: 503, code: 'internal_error', message: 'unknown workflow' };
        }
        const evaluation = evaluateVerdict(verdicts[i], need, workflow, now);
        if (evaluation.kind === 'satisfied') {
          satisfied.push(need.workflow);
          continue;
        }
        if (evaluation.kind === 'deny') {
          return {
            kind: 'deny',
            status: 403,
            code: evaluation.code,
            message: evaluation.message,
            extra: { workflow: need.workflow },
          };
        }
        const key = `${principal.subject}\u0000${need.workflow}`;
        let flight = inFlight.get(key);
        if (!flight) {
          flight = createOrReuse(ctx, principal, workflow, deadlineAt).finally(() => inFlight.delete(key));
          inFlight.set(key, flight);
        }
        return flight;
      }
      return { kind: 'satisfied', workflows: satisfied };
    },
  };
}
