import type { Logger } from 'pino';
import type { StateStore } from '../state-store.js';
import { DEFAULT_SETTLED_VERDICT_TTL_MS } from '../verdict-order.js';
import { createMemoryCoordination } from './memory-coordination.js';
import { createMemoryEvents } from './memory-events.js';
import type { MemoryAuditLog } from './memory-events.js';
import { createMemoryPendingSessions } from './memory-pending-sessions.js';
import { createMemoryRisk } from './memory-risk.js';
import { MemoryState } from './memory-state.js';
import { createMemoryVerdicts, type MemoryVerdicts } from './memory-verdicts.js';

/** Options of {@link createMemoryStore}. */
export interface MemoryStoreOptions {
  /** Subjects whose verdicts are kept; the least recently used subject is forgotten beyond it (default 100 000). */
  readonly maxSubjects?: number;
  /** Cap of each of: pending sessions, session records, seen events, step-up counters, locks (default 100 000). */
  readonly maxEntries?: number;
  /** TTL of `Expired`/`Abandoned` verdicts (default 30 days). */
  readonly settledVerdictTtlMs?: number;
  /** Exact cap of the audit log (default 10 000). */
  readonly auditMaxLen?: number;
}

/**
 * The shared state inside one process (for `make run`, tests and a single replica): the same ordering
 * rules and results as the Redis store, TTLs against the injected clock, invalidation listeners called
 * synchronously before the write resolves, and LRU caps on every map so memory stays flat. Forgetting a
 * subject under memory pressure only ever causes a new step-up, never an allow.
 */
export interface MemoryStore extends StateStore, MemoryAuditLog, Pick<MemoryVerdicts, 'readCheckState'> {}

/**
 * Creates a {@link MemoryStore}: one {@link MemoryState} shared by every concern. `clock` defaults to
 * `Date.now` (tests pass a fake one).
 * @throws TypeError when a cap is not a positive integer.
 */
export function createMemoryStore(deps: { logger: Logger; clock?: () => number }, options: MemoryStoreOptions = {}): MemoryStore {
  for (const [name, value] of Object.entries(options)) {
    if (value !== undefined && (!Number.isInteger(value) || (value as number) <= 0)) {
      throw new TypeError(`memory store: ${name} must be a positive integer`);
    }
  }
  const state = new MemoryState(
    deps.logger.child({ component: 'verdict-store' }),
    deps.clock ?? Date.now,
    options.maxSubjects ?? 100_000,
    options.maxEntries ?? 100_000,
  );
  return {
    ...createMemoryVerdicts(state, { settledTtlMs: options.settledVerdictTtlMs ?? DEFAULT_SETTLED_VERDICT_TTL_MS }),
    ...createMemoryPendingSessions(state),
    ...createMemoryEvents(state, { auditMaxLen: options.auditMaxLen ?? 10_000 }),
    ...createMemoryCoordination(state),
    ...createMemoryRisk(state),
    onInvalidate: (listener) => state.listeners.onInvalidate(listener),
    ping: async () => !state.closed,
    close: async () => state.close(),
  };
}
