import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { instrumentRedis } from '../../tracing/tracing.js';
import type { StateStore } from '../state-store.js';
import type { CheckStateRead } from '../verdict-store.js';
import { createStoreKeys, DEFAULT_KEY_PREFIX } from '../store-keys.js';
import { DEFAULT_SETTLED_VERDICT_TTL_MS } from '../verdict-order.js';
import { RedisConnection, superviseConnection } from './redis-connection.js';
import type { RedisClient, RedisConnectionOptions } from './redis-connection.js';
import { createRedisCoordination } from './redis-coordination.js';
import { createRedisEvents } from './redis-events.js';
import { RedisInvalidations } from './redis-invalidations.js';
import { createRedisPendingSessions } from './redis-pending-sessions.js';
import { createRedisRisk } from './redis-risk.js';
import { createRedisVerdicts } from './redis-verdicts.js';

/** Options of {@link createRedisStore}. */
export interface RedisStoreOptions {
  readonly redis: RedisConnectionOptions;
  /** TTL of `Expired`/`Abandoned` verdicts (default 30 days). */
  readonly settledVerdictTtlMs?: number;
  /** Approximate cap of the audit stream (`XADD MAXLEN ~`, default 10 000). */
  readonly auditMaxLen?: number;
  /** Subscribe to invalidations (default true; a write-only tool may turn it off). */
  readonly subscribe?: boolean;
  /** The clock of status-regression watermarks (default `Date.now`); the same clock idgate stamps sessions with. */
  readonly clock?: () => number;
}

/**
 * The shared state on Redis (standalone, Sentinel or Cluster), every concern on one command connection
 * plus the invalidation subscriber. A resource with a lifecycle: call `close()` on shutdown.
 */
export interface RedisStore extends StateStore, CheckStateRead {
  /**
   * Resolves `true` once the command connection is ready and the invalidation subscription is active, or
   * `false` if that has not happened within `timeoutMs` (default: the connect timeout). Never rejects.
   */
  whenReady(timeoutMs?: number): Promise<boolean>;
  /** How many stored values were unreadable and treated as absent since start. */
  stats(): { corruptValues: number };
}

/**
 * Builds the two ioredis connections (commands, subscriber) for one connection mode. No offline queue:
 * while Redis is unreachable a command fails at once (`unavailable`) instead of piling up in memory and
 * answering after Envoy's deadline; maxRetriesPerRequest 0 and no resend fail commands in flight when the
 * connection drops (a replayed INCR or SET NX could double-apply). commandTimeout bounds a command on a live
 * but stuck connection.
 */
function connect(
  r: RedisConnectionOptions,
  commandTimeout: number,
  connectTimeout: number,
  subscribe: boolean,
): { client: RedisClient; subscriber: RedisClient | undefined } {
  const base: RedisOptions = {
    ...(r.password !== undefined ? { password: r.password } : {}),
    commandTimeout,
    connectTimeout,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    enableAutoPipelining: true,
    lazyConnect: false,
  };
  // The subscriber holds one SUBSCRIBE (re-sent by ioredis on reconnect); queuing it offline is bounded.
  // Its SUBSCRIBE is issued at start-up, queued behind the connect and the ready check while the process is
  // busy loading: the hot-path commandTimeout (500 ms) timed it out there, and a replica then never heard
  // another replica's revocation. It is off the hot path, so it gets the connect timeout if that is longer.
  const subscriberTimeout = Math.max(commandTimeout, connectTimeout);
  // RedisInvalidations sends every SUBSCRIBE itself, its failure handled: ioredis's own re-subscription
  // after a reconnect holds its promise nowhere (a refused or cut-off one was an unhandled rejection).
  const subscriberOverrides: Partial<RedisOptions> = {
    enableOfflineQueue: true,
    autoResubscribe: false,
    enableAutoPipelining: false,
    commandTimeout: subscriberTimeout,
  };

  if (r.cluster !== undefined) {
    const clusterOptions: ClusterOptions = {
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      slotsRefreshTimeout: connectTimeout,
      scaleReads: 'master',
      redisOptions: {
        ...(r.password !== undefined ? { password: r.password } : {}),
        commandTimeout,
        connectTimeout,
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
      },
    };
    const nodes = r.cluster.map((n) => ({ host: n.host, port: n.port }));
    return {
      client: new Cluster(nodes, clusterOptions),
      subscriber: subscribe
        ? new Cluster(nodes, {
            ...clusterOptions,
            enableOfflineQueue: true,
            redisOptions: { ...clusterOptions.redisOptions, commandTimeout: subscriberTimeout },
          })
        : undefined,
    };
  }
  if (r.sentinels !== undefined) {
    const sentinelOptions: RedisOptions = {
      ...base,
      sentinels: r.sentinels.map((s) => ({ host: s.host, port: s.port })),
      name: r.sentinelName ?? '',
      // Subscribe to the sentinels' +switch-master: after a forced failover the old master keeps accepting
      // writes until it is demoted, and a verdict written there would be acknowledged and then lost.
      failoverDetector: true,
      ...(r.password !== undefined ? { sentinelPassword: r.password } : {}),
    };
    return {
      client: new Redis(sentinelOptions),
      subscriber: subscribe ? new Redis({ ...sentinelOptions, ...subscriberOverrides }) : undefined,
    };
  }
  return {
    client: new Redis(r.url ?? '', base),
    subscriber: subscribe ? new Redis(r.url ?? '', { ...base, ...subscriberOverrides }) : undefined,
  };
}

/**
 * Creates a {@link RedisStore} for a standalone server (`url`), a Sentinel group (`sentinels` +
 * `sentinelName`) or a Cluster (`cluster`). Connects in the background; use `whenReady()` to wait.
 *
 * Failure behaviour: a command fails fast with `StoreError` `unavailable` while disconnected (no offline
 * queue), with `timeout` after `commandTimeoutMs`, and commands in flight when the connection drops are
 * failed rather than replayed. The client keeps reconnecting in the background.
 *
 * @throws TypeError when not exactly one connection mode is given, or a timeout/prefix is invalid.
 */
export function createRedisStore(deps: { logger: Logger }, options: RedisStoreOptions): RedisStore {
  const r = options.redis;
  const modes = [r.url !== undefined, r.sentinels !== undefined, r.cluster !== undefined].filter(Boolean).length;
  if (modes !== 1) throw new TypeError('redis: set exactly one of url, sentinels, cluster');
  if (r.sentinels !== undefined && !r.sentinelName) throw new TypeError('redis: sentinels need sentinelName');
  const commandTimeout = r.commandTimeoutMs ?? 500;
  const connectTimeout = r.connectTimeoutMs ?? 2000;
  for (const [name, ms] of [['commandTimeoutMs', commandTimeout], ['connectTimeoutMs', connectTimeout]] as const) {
    if (!Number.isFinite(ms) || ms <= 0) throw new TypeError(`redis: ${name} must be a positive number`);
  }
  const keyPrefix = r.keyPrefix ?? DEFAULT_KEY_PREFIX;
  createStoreKeys(keyPrefix);
  const logger = deps.logger.child({ component: 'verdict-store' });

  const { client, subscriber } = connect(r, commandTimeout, connectTimeout, options.subscribe ?? true);
  instrumentRedis(client);
  const conn = new RedisConnection(logger, client, keyPrefix);
  const closedByUs = (): boolean => conn.closed;
  superviseConnection(logger, client, 'commands', closedByUs);
  if (subscriber !== undefined) superviseConnection(logger, subscriber, 'subscriber', closedByUs);
  const invalidations = new RedisInvalidations(logger, subscriber, conn.keys.invalidationChannel());

  return {
    ...createRedisVerdicts(conn, {
      settledTtlMs: options.settledVerdictTtlMs ?? DEFAULT_SETTLED_VERDICT_TTL_MS,
      clock: options.clock ?? Date.now,
    }),
    ...createRedisPendingSessions(conn),
    ...createRedisEvents(conn, { auditMaxLen: options.auditMaxLen ?? 10_000 }),
    ...createRedisCoordination(conn),
    ...createRedisRisk(conn),
    onInvalidate: (listener) => invalidations.onInvalidate(listener),
    // Without a subscriber (a write-only tool) nothing is announced either way; it reads no cached verdicts.
    invalidationsLive: () => subscriber === undefined || invalidations.live,

    async ping() {
      if (conn.closed) return false;
      try {
        return (await client.ping()) === 'PONG';
      } catch {
        return false;
      }
    },

    async close() {
      if (conn.closed) return;
      conn.markClosed();
      invalidations.stop();
      const quit = async (c: RedisClient): Promise<void> => {
        try {
          await c.quit();
        } catch {
          c.disconnect();
          return;
        }
        // QUIT ends the connection but not a Sentinel connector's failover detector (ioredis 5: only
        // disconnect() reaches the connector): its subscriptions to every sentinel stayed open, with their
        // reconnect timers. On an ended standalone client this does nothing more.
        if (c instanceof Redis) c.disconnect();
      };
      await Promise.all([quit(client), ...(subscriber ? [quit(subscriber)] : [])]);
    },

    async whenReady(timeoutMs = connectTimeout) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        if (conn.closed) return false;
        if (client.status === 'ready' && (subscriber === undefined || invalidations.live)) return true;
        if (performance.now() >= deadline) return false;
        // Polling keeps this free of listener bookkeeping; it runs at startup and in tests only.
        await sleep(10);
      }
    },

    stats: () => ({ corruptValues: conn.corruptValues }),
  };
}
