import type { AuditLog, WebhookDedupe } from './event-log.js';
import type { Locks, StepUpCounters } from './coordination.js';
import type { Invalidations } from './invalidations.js';
import type { PendingSessions } from './pending-sessions.js';
import type { RiskStore } from './risk-store.js';
import type { VerdictStore } from './verdict-store.js';

/** The lifecycle of a backend: readiness and shutdown. */
export interface StoreLifecycle {
  /** Whether the backend answers now (readiness probe); never rejects. */
  ping(): Promise<boolean>;

  /** Releases connections and timers; later calls of every concern reject with `unavailable`. */
  close(): Promise<void>;
}

/**
 * The whole shared state of idgate on one backend, one concern per interface: verdicts and revocations,
 * pending sessions and session records, the audit log and webhook de-duplication, step-up counters and
 * locks, invalidations, risk state. Built by `createRedisStore` / `createMemoryStore` (one connection or one
 * memory state object shared by every concern). Only the composition root holds the whole set; every
 * other module takes the narrow interfaces it uses.
 */
export interface StateStore
  extends VerdictStore,
    PendingSessions,
    AuditLog,
    WebhookDedupe,
    StepUpCounters,
    Locks,
    Invalidations,
    RiskStore,
    StoreLifecycle {}
