import type { PendingSession } from '../../core/verdict.js';
import { decodeIndexMember, decodePending, decodeSession, encodeIndexMember, encodePending, encodeSession, revocationField } from '../store-codec.js';
import { StoreError } from '../store-error.js';
import type { PendingSessions } from '../pending-sessions.js';
import { ttlMs } from '../ttl-ms.js';
import type { RedisConnection } from './redis-connection.js';
import { PUT_PENDING_LUA, UNINDEX_IF_SCORE_LUA } from './redis-scripts.js';

/**
 * {@link PendingSessions} on Redis: pending keys on the subject's hash tag (written by a script that checks
 * the subject's revocations hash on the same slot), the global pending index the sweep reads, and session
 * records by id.
 */
export function createRedisPendingSessions(conn: RedisConnection): PendingSessions {
  const { keys, client } = conn;
  const putPendingScript = conn.defineScript('idgatePutPending', 2, PUT_PENDING_LUA);
  const unindexIfScore = conn.defineScript('idgateUnindexIfScore', 1, UNINDEX_IF_SCORE_LUA);

  return {
    async getPending(subject, workflow) {
      const raw = await conn.run(() => client.get(keys.pending(subject, workflow)));
      return raw === null ? undefined : conn.counted(decodePending(raw, subject, workflow), 'pending');
    },

    async putPending(p, ttl) {
      const json = encodePending(p);
      const px = ttlMs(ttl, 'putPending ttlMs');
      // The index has no subject tag (it is global), so on Cluster it may live on another node: two commands,
      // pending key first. A crash in between leaves an unindexed pending that simply expires.
      return conn.run(async () => {
        const stored = await putPendingScript(
          keys.pending(p.subject, p.workflow),
          keys.revocations(p.subject),
          json,
          px,
          String(p.createdAt),
          revocationField(p.workflow),
        );
        if (stored === 'revoked') return 'revoked';
        if (stored !== 'stored') throw new StoreError('corrupt', 'unexpected reply from the pending write script');
        await client.zadd(keys.pendingIndex(), p.createdAt, encodeIndexMember(p.subject, p.workflow));
        return 'stored';
      });
    },

    async deletePending(subject, workflow) {
      await conn.run(async () => {
        await client.del(keys.pending(subject, workflow));
        await client.zrem(keys.pendingIndex(), encodeIndexMember(subject, workflow));
      });
    },

    async deferPending(subject, workflow, checkedAt) {
      // XX: only move an existing index entry; a deleted pending session stays deleted.
      await conn.run(() => client.zadd(keys.pendingIndex(), 'XX', checkedAt, encodeIndexMember(subject, workflow)));
    },

    async listStalePending(olderThan, limit) {
      if (!(limit > 0)) return [];
      const index = keys.pendingIndex();
      const flat = await conn.run(() => client.zrangebyscore(index, '-inf', olderThan, 'WITHSCORES', 'LIMIT', 0, Math.floor(limit)));
      const entries: { member: string; score: string }[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) entries.push({ member: flat[i] ?? '', score: flat[i + 1] ?? '' });
      const found = await Promise.all(
        entries.map(async ({ member, score }) => {
          const id = decodeIndexMember(member);
          const raw = id ? await conn.run(() => client.get(keys.pending(id.subject, id.workflow))) : null;
          const pending = raw !== null && id ? conn.counted(decodePending(raw, id.subject, id.workflow), 'pending') : undefined;
          if (pending === undefined) {
            // Only if not re-added meanwhile: a fresh putPending for the same pair keeps its index entry.
            await conn.run(() => unindexIfScore(index, member, score));
          }
          return pending;
        }),
      );
      return found.filter((p): p is PendingSession => p !== undefined);
    },

    async getSession(sessionId) {
      const raw = await conn.run(() => client.get(keys.session(sessionId)));
      return raw === null ? undefined : conn.counted(decodeSession(raw, sessionId), 'session');
    },

    async putSession(rec, ttl) {
      const json = encodeSession(rec);
      const px = ttlMs(ttl, 'putSession ttlMs');
      await conn.run(() => client.set(keys.session(rec.sessionId), json, 'PX', px));
    },
  };
}
