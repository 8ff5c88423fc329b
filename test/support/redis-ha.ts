import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { startRedis, type RedisServerHandle } from './redis-server.js';

/** Runs one command on a plain connection to `port` (a redis-server or a sentinel) and disconnects. */
export async function redisCall(port: number, ...args: (string | number)[]): Promise<unknown> {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  try {
    await client.connect();
    return await client.call(String(args[0]), ...args.slice(1).map(String));
  } finally {
    client.disconnect();
  }
}

/** Polls `fn` every 50 ms until it resolves truthy; throws `what` after `timeoutMs`. */
export async function waitUntil(what: string, fn: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * Starts a redis-server replicating `master` (`--replicaof`, AOF on) and resolves once its replication link
 * is up.
 */
export async function startRedisReplica(master: RedisServerHandle): Promise<RedisServerHandle> {
  const replica = await startRedis({ appendonly: true, args: ['--replicaof', master.host, String(master.port)] });
  await waitUntil('the replication link', async () => String(await redisCall(replica.port, 'INFO', 'replication')).includes('master_link_status:up'));
  return replica;
}

/** The master port a sentinel currently announces for `name`. */
export async function sentinelMasterPort(sentinelPort: number, name: string): Promise<number> {
  const reply = (await redisCall(sentinelPort, 'SENTINEL', 'get-master-addr-by-name', name)) as [string, string] | null;
  return reply === null ? 0 : Number(reply[1]);
}

/**
 * Asks the sentinel for a failover (`SENTINEL FAILOVER`, retried until it knows a replica) and resolves
 * once it announces `expectedPort` as the master and that server reports `role:master`.
 */
export async function sentinelFailover(sentinelPort: number, name: string, expectedPort: number): Promise<void> {
  await waitUntil('the sentinel to accept FAILOVER', async () => (await redisCall(sentinelPort, 'SENTINEL', 'FAILOVER', name)) === 'OK');
  await waitUntil('the sentinel to announce the new master', async () => (await sentinelMasterPort(sentinelPort, name)) === expectedPort);
  await waitUntil('the promoted replica to be master', async () => String(await redisCall(expectedPort, 'INFO', 'replication')).includes('role:master'));
}

/**
 * Crash failover: lowers the sentinel's `down-after-milliseconds` to 500 ms, SIGKILLs the master and
 * resolves once the sentinel announces `expectedPort` and that server reports `role:master`. A killed
 * master drops every client connection, so clients ask the sentinel again on reconnect.
 */
export async function sentinelCrashFailover(sentinelPort: number, name: string, master: RedisServerHandle, expectedPort: number): Promise<void> {
  await redisCall(sentinelPort, 'SENTINEL', 'SET', name, 'down-after-milliseconds', 500);
  await redisCall(sentinelPort, 'SENTINEL', 'SET', name, 'failover-timeout', 5_000);
  await waitUntil('the sentinel to know the replica', async () => {
    const replicas = (await redisCall(sentinelPort, 'SENTINEL', 'REPLICAS', name)) as unknown[];
    return Array.isArray(replicas) && replicas.length > 0;
  });
  await master.kill();
  await waitUntil('the sentinel to announce the new master', async () => (await sentinelMasterPort(sentinelPort, name)) === expectedPort, 20_000);
  await waitUntil('the promoted replica to be master', async () => String(await redisCall(expectedPort, 'INFO', 'replication')).includes('role:master'));
}
