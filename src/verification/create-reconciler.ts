import type { Logger } from 'pino';
import type { WorkflowConfig } from '../config/types.js';
import { verdictFromDecision } from '../didit/derive-verdict-facts.js';
import type { DiditDecision } from '../didit/types.js';
import type { Locks } from '../store/coordination.js';
import type { PendingSessions } from '../store/pending-sessions.js';
import { applyVerdict, isSettled, type SettleStore } from './settle-session.js';

/** Store operations the reconciler needs: settling, the stale-pending sweep and its election lock. */
export interface ReconcilerStore extends SettleStore, Pick<PendingSessions, 'listStalePending' | 'deferPending'>, Locks {}

export interface ReconcilerOptions {
  /** The workflows, or a function returning the current ones (read per session, so a config reload applies). */
  readonly workflows: Readonly<Record<string, WorkflowConfig>> | (() => Readonly<Record<string, WorkflowConfig>>);
  /** Pending sessions older than this are checked (default 2 min). */
  readonly reconcileAfterMs: number;
  readonly intervalMs: number;
  /**
   * Decision fetches per sweep. Didit's decision endpoint allows about 100 per minute per key; the default
   * (40 per sweep, one sweep a minute) leaves room for callbacks and webhook refetches.
   */
  readonly maxPerSweep?: number;
}

/**
 * Settles sessions whose webhook never arrived (Didit retries a delivery only twice, within about five
 * minutes): every `intervalMs` one replica (a store lock elects it) fetches the decision of each stale
 * pending session and writes the verdict in order. Failures are logged and retried on the next sweep.
 */
export function createReconciler(
  deps: {
    store: ReconcilerStore;
    didit: { getDecision(sessionId: string): Promise<DiditDecision> };
    logger: Logger;
    clock?: () => number;
    /**
     * `backlog(n)`: stale pending sessions this sweep found (capped at `maxPerSweep`); `backlog(undefined)`
     * when another replica holds the sweep lock, so only the latest sweeper exports a value.
     */
    metrics?: { backlog(count: number | undefined): void };
  },
  options: ReconcilerOptions,
): { start(): void; stop(): void; sweepOnce(): Promise<number> } {
  const clock = deps.clock ?? Date.now;
  const maxPerSweep = options.maxPerSweep ?? 40;
  let timer: NodeJS.Timeout | undefined;
  let running = false;

  async function sweepOnce(): Promise<number> {
    const token = await deps.store.acquireLock('reconcile', Math.max(1_000, options.intervalMs - 1_000));
    // The lock is kept until it expires so other replicas skip this interval instead of sweeping the
    // same sessions again right away.
    if (token === undefined) {
      deps.metrics?.backlog(undefined);
      return 0;
    }
    let settled = 0;
    const stale = await deps.store.listStalePending(clock() - options.reconcileAfterMs, maxPerSweep);
    deps.metrics?.backlog(stale.length);
    for (const pending of stale) {
      const workflow = (typeof options.workflows === 'function' ? options.workflows() : options.workflows)[pending.workflow];
      if (!workflow) continue;
      try {
        const decision = await deps.didit.getDecision(pending.sessionId);
        const verdict = verdictFromDecision(decision, pending.workflow, workflow, clock());
        if (verdict.sessionId !== pending.sessionId || verdict.subject !== pending.subject) continue;
        const result = await applyVerdict(deps.store, verdict, 'sweep', pending.createdAt);
        if (result === 'revoked') continue;
        if (isSettled(verdict.status)) settled++;
        // Still open (the user has not finished): look at the others first next time.
        else await deps.store.deferPending(pending.subject, pending.workflow, clock());
      } catch (err) {
        deps.logger.warn({ err, sessionId: pending.sessionId }, 'reconciling a pending session failed');
        await deps.store.deferPending(pending.subject, pending.workflow, clock()).catch(() => undefined);
      }
    }
    return settled;
  }

  return {
    start() {
      if (timer) return;
      timer = setInterval(() => {
        if (running) return;
        running = true;
        sweepOnce()
          .catch((err: unknown) => deps.logger.warn({ err }, 'reconcile sweep failed'))
          .finally(() => {
            running = false;
          });
      }, options.intervalMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
    sweepOnce,
  };
}
