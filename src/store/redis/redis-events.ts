import type { AuditLog, WebhookDedupe } from '../event-log.js';
import { ttlMs } from '../ttl-ms.js';
import type { RedisConnection } from './redis-connection.js';

/** {@link AuditLog} and {@link WebhookDedupe} on Redis: a stream capped with `XADD MAXLEN ~`, and `SET NX PX` keys. */
export function createRedisEvents(conn: RedisConnection, options: { auditMaxLen: number }): AuditLog & WebhookDedupe {
  const { keys, client } = conn;
  return {
    async markEventSeen(eventKey, ttl) {
      const px = ttlMs(ttl, 'markEventSeen ttlMs');
      const reply = await conn.run(() => client.set(keys.event(eventKey), '1', 'PX', px, 'NX'));
      return reply === 'OK';
    },

    async appendAudit(event) {
      const fields = Object.entries(event).flat();
      if (fields.length === 0) return;
      await conn.run(() => client.xadd(keys.audit(), 'MAXLEN', '~', options.auditMaxLen, '*', ...fields));
    },
  };
}
