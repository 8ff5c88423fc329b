import { Writable } from 'node:stream';
import { Cluster, Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createCachedVerdictStore } from '../src/store/cached-verdict-store.js';
import { createStore } from '../src/store/create-store.js';
import type { Invalidations } from '../src/store/invalidations.js';
import { createRedisStore } from '../src/store/redis/create-redis-store.js';
import type { RedisStore } from '../src/store/redis/create-redis-store.js';
import { StoreError } from '../src/store/store-error.js';
import type { Verdict } from '../src/core/verdict.js';
import { startRedis, startRedisCluster, startRedisSentinel } from './support/redis-server.js';
import type { RedisServerHandle } from './support/redis-server.js';

function capturedLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

const verdict = (subject: string, over: Partial<Verdict> = {}): Verdict => ({
  subject,
  workflow: 'kyc',
  sessionId: 'sess-1',
  status: 'Approved',
  eventAt: 1_000,
  decidedAt: 1_000,
  facts: {},
  ...over,
});

/** Resolves with the first invalidation for which `match` holds. */
function invalidationWhere(
  store: Invalidations,
  match: (subject: string | undefined, workflow?: string) => boolean,
): Promise<{ subject: string | undefined; workflow: string | undefined }> {
  return new Promise((resolve) => {
    const off = store.onInvalidate((subject, workflow) => {
      if (!match(subject, workflow)) return;
      off();
      resolve({ subject, workflow });
    });
  });
}

describe('RedisStore on a real redis-server', () => {
  let server: RedisServerHandle;
  let raw: Redis;
  const { logger, lines } = capturedLogger();
  const stores: RedisStore[] = [];
  const open = async (keyPrefix = 'idgate:v1:', commandTimeoutMs = 1000): Promise<RedisStore> => {
    const store = createRedisStore({ logger }, { redis: { url: server.url, keyPrefix, commandTimeoutMs, connectTimeoutMs: 1000 } });
    stores.push(store);
    expect(await store.whenReady(5000)).toBe(true);
    return store;
  };

  beforeAll(async () => {
    server = await startRedis({ appendonly: true });
    raw = new Redis(server.url);
    // This test stops the server on purpose; the raw client's reconnect errors are expected.
    raw.on('error', () => undefined);
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    raw.disconnect();
    await server.close();
  });

  it('lays keys out under the prefix with an escaped subject hash tag', async () => {
    const store = await open('layout:v1:');
    await store.putVerdict(verdict('corp:a}{b%', { workflow: 'kyc' }));
    await store.putPending(
      { subject: 'corp:a}{b%', workflow: 'kyc', sessionId: 's', url: 'https://v.example/s', createdAt: 1 },
      60_000,
    );
    await store.putSession({ sessionId: 'sess:1', subject: 'corp:a}{b%', workflow: 'kyc', createdAt: 1 }, 60_000);
    await store.countStepUp('corp:a}{b%', 'kyc', 60_000);
    expect((await raw.keys('layout:v1:*')).sort()).toEqual([
      'layout:v1:pending-index',
      'layout:v1:session:sess:1',
      'layout:v1:{corp:a%7D%7Bb%25}:pending:kyc',
      'layout:v1:{corp:a%7D%7Bb%25}:stepups:kyc',
      'layout:v1:{corp:a%7D%7Bb%25}:verdict:kyc',
      'layout:v1:{corp:a%7D%7Bb%25}:workflows',
    ]);
    expect(JSON.parse((await raw.get('layout:v1:{corp:a%7D%7Bb%25}:verdict:kyc')) ?? '')).toEqual(verdict('corp:a}{b%'));
    expect(await raw.pttl('layout:v1:{corp:a%7D%7Bb%25}:verdict:kyc')).toBe(-1);
  });

  it('gives Abandoned verdicts the 30-day TTL by default', async () => {
    const store = await open('ttl:v1:');
    await store.putVerdict(verdict('corp:t', { status: 'Abandoned' }));
    const ttl = await raw.pttl('ttl:v1:{corp:t}:verdict:kyc');
    expect(ttl).toBeGreaterThan(29 * 24 * 3600 * 1000);
    expect(ttl).toBeLessThanOrEqual(30 * 24 * 3600 * 1000);
    await store.putVerdict(verdict('corp:t', { status: 'Approved', eventAt: 2_000 }));
    expect(await raw.pttl('ttl:v1:{corp:t}:verdict:kyc')).toBe(-1);
  });

  it('treats unreadable or foreign values as absent and counts them', async () => {
    const store = await open('corrupt:v1:');
    await raw.set('corrupt:v1:{corp:c}:verdict:kyc', '{not json');
    await raw.set('corrupt:v1:{corp:c}:verdict:age', JSON.stringify(verdict('corp:someone-else', { workflow: 'age' })));
    await raw.set('corrupt:v1:{corp:c}:pending:kyc', JSON.stringify({ subject: 'corp:c' }));
    expect(await store.getVerdicts('corp:c', ['kyc', 'age'])).toEqual([undefined, undefined]);
    expect(await store.getPending('corp:c', 'kyc')).toBeUndefined();
    expect(store.stats().corruptValues).toBe(3);
    expect(lines.some((l) => l['msg'] === 'unreadable value in the verdict store treated as absent')).toBe(true);
    // A garbage verdict is replaced by the next valid write.
    expect(await store.putVerdict(verdict('corp:c'))).toBe('written');
  });

  it('maps a key of the wrong type to a corrupt StoreError', async () => {
    const store = await open('wrongtype:v1:');
    await raw.lpush('wrongtype:v1:{corp:w}:verdict:kyc', 'x');
    const err: unknown = await store.putVerdict(verdict('corp:w')).catch((e: unknown) => e);
    expect((err instanceof StoreError) && err.code).toBe('corrupt');
  });

  it('drops a cached entry on another replica after a write through this one', async () => {
    const a = await open('inval:v1:');
    const bInner = await open('inval:v1:');
    const b = createCachedVerdictStore(bInner, { ttlMs: 60_000, maxEntries: 100 });
    const subject = 'corp:replicated';

    expect(await b.getVerdicts(subject, ['kyc'])).toEqual([undefined]);
    expect(await b.getVerdicts(subject, ['kyc'])).toEqual([undefined]);
    expect(b.stats()).toMatchObject({ hits: 1, misses: 1 });

    const seenByB = invalidationWhere(bInner, (s) => s === subject);
    expect(await a.putVerdict(verdict(subject))).toBe('written');
    expect(await seenByB).toEqual({ subject, workflow: 'kyc' });
    expect((await b.getVerdicts(subject, ['kyc']))[0]?.status).toBe('Approved');
    expect(b.stats()).toMatchObject({ hits: 1, misses: 2 });

    const revokedOnB = invalidationWhere(bInner, (s, w) => s === subject && w === undefined);
    await a.revokeVerdicts(subject, undefined, { at: Date.now(), reason: 'admin' });
    await revokedOnB;
    expect(await b.getVerdicts(subject, ['kyc'])).toEqual([undefined]);
  });

  it('builds the configured store: cached Redis, plain memory, and refuses bad options', async () => {
    const built = createStore(
      { logger },
      {
        type: 'redis',
        redis: { url: server.url, keyPrefix: 'built:v1:', commandTimeoutMs: 1000, connectTimeoutMs: 1000 },
        localCacheTtlMs: 5000,
        localCacheMaxEntries: 10,
      },
    );
    try {
      // The backend is the Redis store itself (readiness lives there), wrapped by the cache.
      expect('whenReady' in built.backend && built.store !== built.backend).toBe(true);
      expect(await (built.backend as RedisStore).whenReady(5000)).toBe(true);
      // The write's own invalidation comes back over pub/sub; a read overlapping it is (rightly) not cached.
      const echoed = invalidationWhere(built.backend, (s) => s === 'corp:built');
      await built.store.putVerdict(verdict('corp:built'));
      await echoed;
      await built.store.getVerdicts('corp:built', ['kyc']);
      await built.store.getVerdicts('corp:built', ['kyc']);
      expect('stats' in built.store && built.store.stats()).toMatchObject({ hits: 1, misses: 1 });
    } finally {
      await built.store.close();
    }
    expect(await built.backend.ping()).toBe(false);
    const memory = createStore({ logger }, { type: 'memory', localCacheTtlMs: 5000, localCacheMaxEntries: 10 });
    // The memory store needs no cache: it is handed out as is.
    expect(memory.store === memory.backend && 'auditEntries' in memory.store).toBe(true);
    expect(() => createStore({ logger }, { type: 'redis', localCacheTtlMs: 0, localCacheMaxEntries: 1 })).toThrow(TypeError);
    expect(() => createRedisStore({ logger }, { redis: {} })).toThrow(TypeError);
    expect(() => createRedisStore({ logger }, { redis: { url: server.url, cluster: [] } })).toThrow(TypeError);
    expect(() => createRedisStore({ logger }, { redis: { url: server.url, keyPrefix: 'a{b}' } })).toThrow(TypeError);
    expect(() => createRedisStore({ logger }, { redis: { url: server.url, commandTimeoutMs: 0 } })).toThrow(TypeError);
  });

  it('answers nothing from the local cache until the invalidation channel is subscribed, and retries a refused SUBSCRIBE', async () => {
    // A user allowed every key and command but no pub/sub channel: the subscriber's SUBSCRIBE fails (NOPERM),
    // as a command timeout on a loaded Redis would. Another replica's revocation would then go unheard, so the
    // cached store must read Redis every time until the subscription is acknowledged.
    await raw.call('ACL', 'SETUSER', 'nochan', 'on', '>pw', '~*', '+@all', 'resetchannels');
    const url = server.url.replace('redis://', 'redis://nochan:pw@');
    const inner = createRedisStore({ logger }, { redis: { url, keyPrefix: 'live:v1:', commandTimeoutMs: 1000, connectTimeoutMs: 1000 } });
    stores.push(inner);
    const cached = createCachedVerdictStore(inner, { ttlMs: 60_000, maxEntries: 100 });
    const writer = await open('live:v1:');
    const subject = 'corp:unheard';
    expect(await writer.putVerdict(verdict(subject))).toBe('written');
    await vi.waitFor(() => expect(lines.some((l) => l.msg === 'invalidation subscribe failed; retrying in 1 s')).toBe(true), { timeout: 5_000 });
    expect(inner.invalidationsLive?.()).toBe(false);
    expect((await cached.getVerdicts(subject, ['kyc']))[0]?.status).toBe('Approved');
    // Revoked through the other replica: with no subscription this one hears nothing, yet it must not answer
    // the Approved verdict from memory.
    await writer.revokeVerdicts(subject, undefined, { at: Date.now(), reason: 'admin' });
    expect(await cached.getVerdicts(subject, ['kyc'])).toEqual([undefined]);
    expect(cached.stats()).toMatchObject({ hits: 0, misses: 2 });

    // Channels granted: the retry subscribes, and the cache is used again.
    await raw.call('ACL', 'SETUSER', 'nochan', 'allchannels');
    await vi.waitFor(() => expect(inner.invalidationsLive?.()).toBe(true), { timeout: 5_000 });
    expect(await inner.whenReady(1_000)).toBe(true);
    await cached.getVerdicts(subject, ['kyc']);
    await cached.getVerdicts(subject, ['kyc']);
    expect(cached.stats()).toMatchObject({ hits: 1, misses: 3 });
    // Its user is not in the AOF: after the outage test's restart it could not log in again.
    await inner.close();
  });

  it('subscribes again itself after a reconnect: a refused SUBSCRIBE is retried and logged, never an unhandled rejection', async () => {
    // ioredis's own re-subscription (autoResubscribe) sends a SUBSCRIBE at `ready` whose promise nobody
    // holds: refused (here: the user lost its channels while disconnected) or cut off by a close before its
    // reply ("Connection is closed.", a store closed during a reconnect), it was an unhandled rejection —
    // which fails a vitest run and, without idgate's process guard, exits Node — and the replica went on
    // answering from its cache while it heard no other replica's revocation.
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      await raw.call('ACL', 'SETUSER', 'flap', 'on', '>pw', '~*', '+@all', 'allchannels');
      const url = server.url.replace('redis://', 'redis://flap:pw@');
      const inner = createRedisStore({ logger }, { redis: { url, keyPrefix: 'resub:v1:', commandTimeoutMs: 1000, connectTimeoutMs: 1000 } });
      stores.push(inner);
      expect(await inner.whenReady(5000)).toBe(true);
      const cached = createCachedVerdictStore(inner, { ttlMs: 60_000, maxEntries: 100 });
      const writer = await open('resub:v1:');
      const subject = 'corp:resubscribed';
      expect(await writer.putVerdict(verdict(subject))).toBe('written');

      const refusals = (): number => lines.filter((l) => l.msg === 'invalidation subscribe failed; retrying in 1 s').length;
      const before = refusals();
      await raw.call('ACL', 'SETUSER', 'flap', 'resetchannels');
      await raw.call('CLIENT', 'KILL', 'USER', 'flap');
      await vi.waitFor(() => expect(refusals() > before || unhandled.length > 0).toBe(true), { timeout: 5_000 });
      expect(unhandled).toEqual([]);
      await vi.waitFor(async () => expect(await inner.ping()).toBe(true), { timeout: 5_000 });
      expect(inner.invalidationsLive?.()).toBe(false);
      // Not subscribed, so not cached: the other replica's revocation is seen at once.
      expect((await cached.getVerdicts(subject, ['kyc']))[0]?.status).toBe('Approved');
      await writer.revokeVerdicts(subject, undefined, { at: Date.now(), reason: 'admin' });
      expect(await cached.getVerdicts(subject, ['kyc'])).toEqual([undefined]);

      await raw.call('ACL', 'SETUSER', 'flap', 'allchannels');
      await vi.waitFor(() => expect(inner.invalidationsLive?.()).toBe(true), { timeout: 5_000 });
      const heard = invalidationWhere(inner, (s) => s === subject);
      expect(await writer.putVerdict(verdict(subject, { eventAt: Date.now() + 60_000, sessionId: 'sess-2' }), { sessionCreatedAt: Date.now() + 1 })).toBe('written');
      expect(await heard).toEqual({ subject, workflow: 'kyc' });

      // Closed in the middle of a reconnect: whatever is in flight on it is answered or handled.
      await raw.call('CLIENT', 'KILL', 'USER', 'flap');
      await inner.close();
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('fails fast while Redis is down, then recovers and keeps AOF data after a restart', async () => {
    const store = await open('outage:v1:', 300);
    expect(await store.putVerdict(verdict('corp:durable'))).toBe('written');
    const flushedAll = invalidationWhere(store, (s) => s === undefined);

    await server.stop();
    const err: unknown = await store.getVerdicts('corp:durable', ['kyc']).catch((e: unknown) => e);
    expect((err instanceof StoreError)).toBe(true);
    expect(['unavailable', 'timeout']).toContain((err instanceof StoreError) ? err.code : '');
    const writeErr: unknown = await store.putVerdict(verdict('corp:durable', { eventAt: 5 })).catch((e: unknown) => e);
    expect((writeErr instanceof StoreError)).toBe(true);
    expect(await store.ping()).toBe(false);

    await server.restart();
    expect(await store.whenReady(10_000)).toBe(true);
    expect((await store.getVerdicts('corp:durable', ['kyc']))[0]?.status).toBe('Approved');
    expect(await store.ping()).toBe(true);
    // The subscriber reconnected: events may have been missed, so listeners are told to drop everything.
    expect(await flushedAll).toEqual({ subject: undefined, workflow: undefined });
    // Every other store of this file reconnects too: end with all of them ready (or closed), not with
    // afterAll closing connections in the middle of their handshake.
    await Promise.all(stores.map((s) => s.whenReady(10_000)));
  });
});

describe('RedisStore on Redis Cluster', () => {
  it('keeps every key of a hostile subject on one slot', async () => {
    const cluster = await startRedisCluster(3);
    const store = createRedisStore({ logger: pino({ level: 'silent' }) }, { redis: { cluster: cluster.startup } });
    const rawCluster = new Cluster([...cluster.startup]);
    rawCluster.on('error', () => undefined);
    try {
      expect(await store.whenReady(10_000)).toBe(true);
      const subject = 'corp:}{evil}';
      for (const workflow of ['kyc', 'age', 'aml']) await store.putVerdict(verdict(subject, { workflow }));
      expect((await store.getVerdicts(subject, ['kyc', 'age', 'aml'])).map((v) => v?.workflow)).toEqual(['kyc', 'age', 'aml']);
      const revoked = await store.revokeVerdicts(subject, undefined, { at: Date.now(), reason: 'admin' }, ['kyc']);
      expect(revoked.verdicts.map((v) => v.workflow).sort()).toEqual(['age', 'aml', 'kyc']);
      expect(await store.listVerdicts(subject)).toEqual([]);
      // The watermark (written inside the same Lua scripts on the subject's slot) refuses an old session.
      expect(await store.putVerdict(verdict(subject, { workflow: 'kyc' }), { sessionCreatedAt: 1 })).toBe('revoked');
      const tagged = ['verdict:kyc', 'verdict:age', 'pending:kyc', 'workflows', 'stepups:kyc', 'revocations'].map(
        (suffix) => `idgate:v1:{corp:%7D%7Bevil%7D}${suffix === 'workflows' ? ':workflows' : `:${suffix}`}`,
      );
      const slots = await Promise.all(tagged.map((k) => rawCluster.cluster('KEYSLOT', k)));
      expect(new Set(slots).size).toBe(1);
      expect(slots[0]).toBe(await rawCluster.cluster('KEYSLOT', 'corp:%7D%7Bevil%7D'));
    } finally {
      rawCluster.disconnect();
      await store.close();
      await cluster.close();
    }
  });
});

describe('RedisStore through Redis Sentinel', () => {
  it('finds the master through a sentinel and reads its own writes', async () => {
    const master = await startRedis();
    const sentinel = await startRedisSentinel(master.port);
    const store = createRedisStore(
      { logger: pino({ level: 'silent' }) },
      { redis: { sentinels: [{ host: sentinel.host, port: sentinel.port }], sentinelName: sentinel.masterName } },
    );
    const probe = new Redis({ host: sentinel.host, port: sentinel.port });
    probe.on('error', () => undefined);
    try {
      expect(await store.whenReady(10_000)).toBe(true);
      // Each connection's failover detector subscribes to +switch-master on the sentinel.
      expect(String(await probe.call('CLIENT', 'LIST', 'TYPE', 'pubsub')).trim().split('\n')).toHaveLength(2);
      expect(await store.putVerdict(verdict('corp:sentinel'))).toBe('written');
      expect((await store.getVerdicts('corp:sentinel', ['kyc']))[0]?.status).toBe('Approved');
      const direct = new Redis(master.url);
      try {
        expect(await direct.exists('idgate:v1:{corp:sentinel}:verdict:kyc')).toBe(1);
      } finally {
        direct.disconnect();
      }
      // close() releases them too (QUIT alone left both subscriptions open, with their reconnect timers).
      await store.close();
      await vi.waitFor(async () => expect(String(await probe.call('CLIENT', 'LIST', 'TYPE', 'pubsub'))).toBe(''), { timeout: 2_000 });
    } finally {
      probe.disconnect();
      await store.close();
      await sentinel.close();
      await master.close();
    }
  });
});
