import { boundedLru } from '../../core/bounded-lru.js';
import type { PendingSession, Verdict } from '../../core/verdict.js';
import { sortRevocations, toVerdict } from '../store-codec.js';
import { EXPIRING_STATUSES, isRevokedSession, isStatusRegression, orderVerdictWrite } from '../verdict-order.js';
import { NO_PENDING, type CheckState, type CheckStateRead, type VerdictStore } from '../verdict-store.js';
import { pairKey } from './memory-state.js';
import type { MemoryState, Timed } from './memory-state.js';

/** The memory verdicts: a {@link VerdictStore} whose per-Check read (verdicts with pending sessions) answers synchronously. */
export interface MemoryVerdicts extends VerdictStore, CheckStateRead {}

/**
 * {@link VerdictStore} in memory: the same ordering rules and results as the Redis script, TTLs against the
 * state's clock, invalidations announced synchronously before the write resolves. Verdicts are kept for
 * the `maxSubjects` most recently used subjects: forgetting one only ever causes a new step-up.
 */
export function createMemoryVerdicts(state: MemoryState, options: { settledTtlMs: number }): MemoryVerdicts {
  const verdicts = boundedLru<string, Map<string, Timed<Verdict>>>(state.maxSubjects);
  // lru-cache's `get(k)` builds a default options object per call: one shared object instead, its `status`
  // (written by `get`; an object only while lru-cache's diagnostics channel has subscribers) reset after each.
  const getOptions: { status?: undefined } = { status: undefined };
  /** Per Check (readCheckState): no closure and no options object, one array of the workflows' verdicts. */
  const read = (subject: string, workflows: readonly string[]): (Verdict | undefined)[] => {
    state.open();
    const byWorkflow = verdicts.get(subject, getOptions);
    getOptions.status = undefined;
    const out = new Array<Verdict | undefined>(workflows.length);
    for (let i = 0; i < workflows.length; i++) out[i] = byWorkflow === undefined ? undefined : state.live(byWorkflow.get(workflows[i] as string));
    return out;
  };
  return {
    async getVerdicts(subject, workflows) {
      return read(subject, workflows);
    },
    readCheckState(subject, workflows) {
      // Synchronous: nothing to wait for in memory; a closed store still rejects, as getVerdicts does. The
      // pending sessions are those getPending would answer.
      try {
        const verdicts = read(subject, workflows);
        let pending: (PendingSession | undefined)[] | undefined;
        for (let i = 0; i < workflows.length; i++) {
          if (verdicts[i] !== undefined) continue;
          pending ??= new Array<PendingSession | undefined>(workflows.length).fill(undefined);
          pending[i] = state.live(state.pending.get(pairKey(subject, workflows[i] ?? '')));
        }
        const out: CheckState = { verdicts, pending: pending ?? NO_PENDING };
        return out;
      } catch (err) {
        return Promise.reject(err as Error);
      }
    },

    async putVerdict(v, opts = {}) {
      state.open();
      const clean = toVerdict(v);
      if (clean === undefined) throw new TypeError('putVerdict: not a valid Verdict');
      if (isRevokedSession(state.watermark(clean.subject, clean.workflow), opts.sessionCreatedAt)) return 'revoked';
      let byWorkflow = verdicts.get(v.subject);
      const stored = state.live(byWorkflow?.get(v.workflow));
      const result = orderVerdictWrite(stored, clean);
      if (result !== 'written') return result;
      if (byWorkflow === undefined) {
        byWorkflow = new Map();
        verdicts.set(v.subject, byWorkflow);
      }
      const ttl = EXPIRING_STATUSES.has(clean.status) ? options.settledTtlMs : Infinity;
      byWorkflow.set(clean.workflow, { value: clean, expiresAt: state.now() + ttl });
      if (isStatusRegression(stored, clean)) {
        state.recordRevocation(clean.subject, clean.workflow, { at: state.now(), reason: 'didit_status_regression' });
      }
      state.listeners.emit(clean.subject, clean.workflow);
      return 'written';
    },

    async revokeVerdicts(subject, workflow, revocation, pendingWorkflows = []) {
      state.open();
      if (!Number.isFinite(revocation.at)) throw new TypeError('revokeVerdicts: at must be a finite epoch ms');
      state.recordRevocation(subject, workflow, revocation);
      const removed: Verdict[] = [];
      const pending: PendingSession[] = [];
      const byWorkflow = verdicts.get(subject);
      const names = new Set<string>(workflow !== undefined ? [workflow] : [...(byWorkflow?.keys() ?? []), ...pendingWorkflows]);
      for (const name of names) {
        const v = state.live(byWorkflow?.get(name));
        if (v) removed.push(v);
        byWorkflow?.delete(name);
        const key = pairKey(subject, name);
        const p = state.live(state.pending.get(key));
        if (p) pending.push(p);
        state.pending.delete(key);
      }
      if (byWorkflow !== undefined && byWorkflow.size === 0) verdicts.delete(subject);
      state.listeners.emit(subject, workflow);
      return { verdicts: removed, pending };
    },

    async getRevocations(subject) {
      state.open();
      return sortRevocations(state.revocationsOf(subject));
    },

    async listVerdicts(subject) {
      state.open();
      const byWorkflow = verdicts.get(subject);
      if (byWorkflow === undefined) return [];
      const out: Verdict[] = [];
      for (const [workflow, entry] of byWorkflow) {
        const v = state.live(entry);
        if (v) out.push(v);
        else byWorkflow.delete(workflow);
      }
      return out;
    },
  };
}
