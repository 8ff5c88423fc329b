import { boundedLru } from '../../core/bounded-lru.js';
import type { AuditLog, WebhookDedupe } from '../event-log.js';
import { ttlMs } from '../ttl-ms.js';
import type { MemoryState } from './memory-state.js';

/** The memory {@link AuditLog} also shows its entries (for tests and `idgate explain`). */
export interface MemoryAuditLog extends AuditLog {
  /** The audit entries currently kept, oldest first. */
  auditEntries(): readonly Readonly<Record<string, string>>[];
}

/** {@link AuditLog} (an exact cap of `auditMaxLen`) and {@link WebhookDedupe} (an LRU of `maxEntries`) in memory. */
export function createMemoryEvents(state: MemoryState, options: { auditMaxLen: number }): MemoryAuditLog & WebhookDedupe {
  const events = boundedLru<string, number>(state.maxEntries);
  const audit: Readonly<Record<string, string>>[] = [];
  return {
    async markEventSeen(eventKey, ttl) {
      state.open();
      const ms = ttlMs(ttl, 'markEventSeen ttlMs');
      const seenUntil = events.get(eventKey);
      if (seenUntil !== undefined && seenUntil > state.now()) return false;
      events.set(eventKey, state.now() + ms);
      return true;
    },

    async appendAudit(event) {
      state.open();
      if (Object.keys(event).length === 0) return;
      audit.push({ ...event });
      if (audit.length > options.auditMaxLen) audit.splice(0, audit.length - options.auditMaxLen);
    },

    auditEntries: () => [...audit],
  };
}
