import { Cluster, Redis, ReplyError } from 'ioredis';
import type { Logger } from 'pino';
import { StoreError } from '../store-error.js';
import { createStoreKeys } from '../store-keys.js';
import type { StoreKeys } from '../store-keys.js';
import type { BatchedMget } from './mget-batcher.js';

/** Connection settings of `createRedisStore`; exactly one of `url`, `sentinels`, `cluster`. */
export interface RedisConnectionOptions {
  /** `redis://[:password@]host:port[/db]` (or `rediss://`) for a standalone server. */
  readonly url?: string;
  /** Sentinel addresses; requires `sentinelName` (the monitored master's name). */
  readonly sentinels?: readonly { readonly host: string; readonly port: number }[];
  readonly sentinelName?: string;
  /** Redis Cluster seed nodes. */
  readonly cluster?: readonly { readonly host: string; readonly port: number }[];
  /** Overrides any password in the URL; also used for the cluster nodes and the sentinels. */
  readonly password?: string;
  /** Default `idgate:v1:`. Must not contain `{` or `}`. */
  readonly keyPrefix?: string;
  /** Longest a single command may take before it fails with `timeout` (default 500 ms). */
  readonly commandTimeoutMs?: number;
  /** Longest a connection attempt may take (default 2 s). */
  readonly connectTimeoutMs?: number;
}

export type RedisClient = Redis | Cluster;

/** A Lua script defined on the command connection, called with its keys then its arguments. */
export type RedisScript = (...args: (string | number)[]) => Promise<unknown>;

/**
 * Maps an ioredis failure to a {@link StoreError}. ioredis gives client-side failures no codes, so the
 * timeout is recognised by its fixed message; server replies by their error prefix.
 */
export function toStoreError(err: unknown): StoreError | TypeError {
  if (err instanceof StoreError) return err;
  if (err instanceof TypeError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (message === 'Command timed out') return new StoreError('timeout', 'redis command timed out', { cause: err });
  if (err instanceof ReplyError) {
    if (message.startsWith('WRONGTYPE')) {
      return new StoreError('corrupt', 'redis key holds an unexpected type', { cause: err });
    }
    if (/^ERR .*script/i.test(message)) return new StoreError('corrupt', 'redis script failed', { cause: err });
    const prefix = message.split(' ', 1)[0] ?? 'ERR';
    return new StoreError('unavailable', `redis refused the command (${prefix})`, { cause: err });
  }
  return new StoreError('unavailable', `redis unavailable: ${message}`, { cause: err });
}

function rejectAsStoreError(err: unknown): never {
  throw toStoreError(err);
}

/**
 * The one command connection every Redis concern shares, with what they all need: the key layout, the
 * fault mapping ({@link run}), script definition and the count of unreadable values. Built by
 * `createRedisStore`, which also owns the subscriber connection.
 *
 * Failure behaviour: a command fails fast with `StoreError` `unavailable` while disconnected (no offline
 * queue), with `timeout` after the command timeout, and commands in flight when the connection drops are
 * failed rather than replayed; after {@link markClosed} every command fails with `unavailable`.
 */
export class RedisConnection {
  readonly keys: StoreKeys;
  #closed = false;
  #corrupt = 0;

  constructor(
    readonly logger: Logger,
    readonly client: RedisClient,
    keyPrefix: string,
  ) {
    this.keys = createStoreKeys(keyPrefix);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** How many stored values were unreadable and treated as absent since start. */
  get corruptValues(): number {
    return this.#corrupt;
  }

  markClosed(): void {
    this.#closed = true;
  }

  /** Runs one command (or a few in sequence), rejecting only with a coded `StoreError` (or a `TypeError`). */
  async run<T>(op: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreError('unavailable', 'verdict store is closed');
    try {
      return await op();
    } catch (err) {
      throw toStoreError(err);
    }
  }

  /**
   * {@link run} for the per-Check read, without its async frame: `op`'s reply handed to `decode`, a fault
   * mapped as `run` maps it. `decode`'s own errors reject as they are (as they would after `await run`).
   */
  read<T, R>(op: () => Promise<T>, decode: (reply: T) => R): Promise<R> {
    if (this.#closed) return Promise.reject(new StoreError('unavailable', 'verdict store is closed'));
    let reply: Promise<T>;
    try {
      reply = op();
    } catch (err) {
      return Promise.reject(toStoreError(err));
    }
    return reply.then(decode, rejectAsStoreError);
  }

  /**
   * {@link read} through a batched `MGET` (`createMgetBatcher(client, toStoreError, decode)`): the batcher's
   * `decode` runs on the command's shared reply with this caller's offset, keys, `a` and `b`, so the read
   * is one promise, not a reply promise and a decoding one. Faults are mapped as `run` maps them;
   * `decode`'s own errors reject as they are.
   */
  readBatched<A, B, R>(mget: BatchedMget<A, B, R>, keys: readonly string[], a: A, b: B): Promise<R> {
    if (this.#closed) return Promise.reject(new StoreError('unavailable', 'verdict store is closed'));
    try {
      return mget(keys, a, b);
    } catch (err) {
      return Promise.reject(toStoreError(err));
    }
  }

  /** Defines a Lua script as a command (EVALSHA, loaded on first use) and returns its caller. */
  defineScript(name: string, numberOfKeys: number, lua: string): RedisScript {
    this.client.defineCommand(name, { numberOfKeys, lua });
    const fn = (this.client as unknown as Record<string, RedisScript>)[name];
    if (fn === undefined) throw new TypeError(`redis script ${name} was not defined`);
    return fn.bind(this.client);
  }

  /** `value`, or `undefined` counted and logged as an unreadable stored value of `kind`. */
  counted<T>(value: T | undefined, kind: string): T | undefined {
    if (value === undefined) {
      this.#corrupt += 1;
      this.logger.warn({ kind }, 'unreadable value in the verdict store treated as absent');
    }
    return value;
  }
}

/** The longest wait before reviving an ended client (ioredis's own reconnect delay is bounded alike). */
const MAX_REVIVE_DELAY_MS = 2_000;

/**
 * Watches one client of the store for its whole life (`role`: `commands` or `subscriber`); `closedByUs`
 * tells our own `close()` apart.
 *
 * - Logs the first failure of each outage and its recovery (never once per retry: ioredis emits an error
 *   per failed reconnect attempt).
 * - Reconnects a client that ioredis ended on its own. A Sentinel client can end for good in the middle of a
 *   failover (ioredis 5.x): its failover detector's +switch-master closes the connector while a reconnect
 *   after the crash is still asking the sentinels, that connect then fails with "Connection is closed.", and
 *   `Redis.connect` sets the status `end` and retries no more — every Check would answer
 *   `dependency_unavailable` until a restart (seen in test/e2e/fault-redis-ha's crash failover). The delay
 *   grows per attempt up to {@link MAX_REVIVE_DELAY_MS} and starts over once ready.
 *
 * One job, the client's lifecycle, hence one function on the same `error`/`ready`/`end` events (it was two,
 * one per concern, registered from three places).
 */
export function superviseConnection(logger: Logger, c: RedisClient, role: string, closedByUs: () => boolean): void {
  let down = false;
  let attempts = 0;
  c.on('error', (err: Error) => {
    if (down) return;
    down = true;
    logger.warn({ role, err: err.message }, 'redis connection failed; reconnecting');
  });
  c.on('ready', () => {
    if (down) logger.info({ role }, 'redis connection restored');
    down = false;
    attempts = 0;
  });
  c.on('end', () => {
    if (closedByUs()) return;
    attempts += 1;
    const delayMs = Math.min(attempts * 100, MAX_REVIVE_DELAY_MS);
    logger.warn({ role, delayMs }, 'redis client stopped reconnecting on its own; reconnecting it');
    const timer = setTimeout(() => {
      if (closedByUs() || c.status !== 'end') return;
      c.connect().catch(() => undefined);
    }, delayMs);
    timer.unref();
  });
}
