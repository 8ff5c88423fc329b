import { boundedLru } from '../../core/bounded-lru.js';
import type { PendingSession, SessionRecord } from '../../core/verdict.js';
import type { PendingSessions } from '../pending-sessions.js';
import { encodePending, encodeSession } from '../store-codec.js';
import { ttlMs } from '../ttl-ms.js';
import { isRevokedSession } from '../verdict-order.js';
import { pairKey } from './memory-state.js';
import type { MemoryState, Timed } from './memory-state.js';

/**
 * {@link PendingSessions} in memory: pending sessions in the shared state (a revocation deletes them), session
 * records in an LRU of `maxEntries`. Values are stored as their encoded-and-parsed copies, like Redis.
 */
export function createMemoryPendingSessions(state: MemoryState): PendingSessions {
  const sessions = boundedLru<string, Timed<SessionRecord>>(state.maxEntries);
  return {
    async getPending(subject, workflow) {
      state.open();
      return state.live(state.pending.get(pairKey(subject, workflow)));
    },

    async putPending(p, ttl) {
      state.open();
      const clean = JSON.parse(encodePending(p)) as PendingSession;
      const ms = ttlMs(ttl, 'putPending ttlMs');
      if (isRevokedSession(state.watermark(clean.subject, clean.workflow), clean.createdAt)) return 'revoked';
      state.pending.set(pairKey(p.subject, p.workflow), { value: clean, expiresAt: state.now() + ms });
      return 'stored';
    },

    async deletePending(subject, workflow) {
      state.open();
      state.pending.delete(pairKey(subject, workflow));
    },

    async deferPending(subject, workflow, checkedAt) {
      state.open();
      const entry = state.pending.get(pairKey(subject, workflow));
      if (entry !== undefined) entry.checkedAt = checkedAt;
    },

    async listStalePending(olderThan, limit) {
      state.open();
      if (!(limit > 0)) return [];
      const stale: { p: PendingSession; at: number }[] = [];
      const expired: string[] = [];
      for (const [key, entry] of state.pending.entries()) {
        const p = state.live(entry);
        const at = entry.checkedAt ?? p?.createdAt ?? 0;
        if (p === undefined) expired.push(key);
        else if (at <= olderThan) stale.push({ p, at });
      }
      for (const key of expired) state.pending.delete(key);
      stale.sort((a, b) => a.at - b.at);
      return stale.slice(0, Math.floor(limit)).map((s) => s.p);
    },

    async getSession(sessionId) {
      state.open();
      return state.live(sessions.get(sessionId));
    },

    async putSession(rec, ttl) {
      state.open();
      const clean = JSON.parse(encodeSession(rec)) as SessionRecord;
      sessions.set(rec.sessionId, { value: clean, expiresAt: state.now() + ttlMs(ttl, 'putSession ttlMs') });
    },
  };
}
