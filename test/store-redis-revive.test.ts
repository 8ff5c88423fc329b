import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { superviseConnection } from '../src/store/redis/redis-connection.js';
import { startRedis, type RedisServerHandle } from './support/redis-server.js';

/*
 * ioredis 5.x can end a Sentinel client for good in the middle of a failover (the failover detector closes
 * the connector while a reconnect is resolving the master; `Redis.connect` then sets `end`). That race is
 * timing-bound; here a real client is ended the way ioredis ends it — status `end`, no more retries — and
 * must come back by itself, while an end we asked for (the store's close) must stay ended.
 */
let redis: RedisServerHandle;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.close();
});

async function until(predicate: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (predicate()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return predicate();
}

describe('superviseConnection', () => {
  it('reconnects a client ioredis ended on its own, and leaves one ended by our close', async () => {
    const client = new Redis(redis.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false });
    client.on('error', () => undefined);
    let closed = false;
    superviseConnection(pino({ level: 'silent' }), client, 'commands', () => closed);
    try {
      expect(await until(() => client.status === 'ready', 5_000)).toBe(true);

      // Status `end`, no retry: what ioredis does after the failover race.
      const ended = new Promise((resolve) => client.once('end', resolve));
      client.disconnect();
      await ended;
      expect(await until(() => client.status === 'ready', 5_000)).toBe(true);
      expect(await client.ping()).toBe('PONG');

      // Ended again: revived again (the count of attempts starts over once ready).
      client.disconnect();
      expect(await until(() => client.status === 'ready', 5_000)).toBe(true);

      closed = true;
      const endedByUs = new Promise((resolve) => client.once('end', resolve));
      client.disconnect();
      await endedByUs;
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(client.status).toBe('end');
    } finally {
      closed = true;
      client.disconnect();
    }
  });
});
