import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCachedVerdictStore } from '../src/store/cached-verdict-store.js';
import { createMemoryStore } from '../src/store/memory/create-memory-store.js';
import { createRedisStore } from '../src/store/redis/create-redis-store.js';
import type { RiskLimits, RiskObservation, RiskStore } from '../src/store/risk-store.js';
import { MAX_IPS_PER_TOKEN, MAX_KNOWN_DEVICES } from '../src/store/risk-store.js';
import type { StateStore } from '../src/store/state-store.js';
import { startRedis, startRedisCluster, waitForServerClock } from './support/redis-server.js';
import type { RedisClusterHandle, RedisServerHandle } from './support/redis-server.js';

const logger = pino({ level: 'silent' });
const T0 = 1_700_000_000_000;
const MIN = 60_000;
const LIMITS: RiskLimits = { stateTtlMs: 30 * 24 * 3_600_000, velocityWindowMs: MIN, tokenIpWindowMs: 3_600_000 };
/** Short TTLs for the expiry cases (real time on Redis, so kept tiny). */
const SHORT: RiskLimits = { stateTtlMs: 150, velocityWindowMs: MIN, tokenIpWindowMs: 80 };

interface Harness {
  readonly store: StateStore;
  /** Lets `ms` pass for TTLs: the fake clock in memory, real time on Redis. */
  advance(ms: number): Promise<void>;
  /** Every key of this harness with its PTTL (Redis only). */
  keyTtls?(): Promise<Map<string, number>>;
  close(): Promise<void>;
}

interface Backend {
  readonly name: string;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  harness(): Promise<Harness>;
}

const uniquePrefix = (): string => `r-${randomBytes(4).toString('hex')}:`;

const memoryBackend: Backend = {
  name: 'MemoryStore',
  setup: async () => undefined,
  teardown: async () => undefined,
  async harness() {
    let now = T0;
    const store = createMemoryStore({ logger, clock: () => now }, { maxEntries: 1000, maxSubjects: 1000 });
    return {
      store,
      advance: async (ms) => {
        now += ms;
      },
      close: () => store.close(),
    };
  },
};

async function ttlsOf(client: Redis, keyPrefix: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const key of await client.keys(`${keyPrefix}*`)) out.set(key, await client.pttl(key));
  return out;
}

function redisBackend(): Backend {
  let server: RedisServerHandle | undefined;
  let raw: Redis | undefined;
  return {
    name: 'RedisStore (standalone)',
    async setup() {
      server = await startRedis();
      raw = new Redis(server.url);
      raw.on('error', () => undefined);
    },
    async teardown() {
      raw?.disconnect();
      await server?.close();
    },
    async harness() {
      if (!server || !raw) throw new Error('redis not started');
      const keyPrefix = uniquePrefix();
      const store = createRedisStore({ logger }, { redis: { url: server.url, keyPrefix, commandTimeoutMs: 2000 } });
      expect(await store.whenReady(5000)).toBe(true);
      const client = raw;
      return { store, advance: (ms) => waitForServerClock([client], ms), keyTtls: () => ttlsOf(client, keyPrefix), close: () => store.close() };
    },
  };
}

function clusterBackend(): Backend {
  let cluster: RedisClusterHandle | undefined;
  let raw: Cluster | undefined;
  return {
    name: 'RedisStore (cluster of 3)',
    async setup() {
      cluster = await startRedisCluster(3);
      raw = new Cluster([...cluster.startup]);
      raw.on('error', () => undefined);
    },
    async teardown() {
      raw?.disconnect();
      await cluster?.close();
    },
    async harness() {
      if (!cluster || !raw) throw new Error('cluster not started');
      const client = raw;
      const keyPrefix = uniquePrefix();
      const store = createRedisStore({ logger }, { redis: { cluster: cluster.startup, keyPrefix, commandTimeoutMs: 2000 } });
      expect(await store.whenReady(10_000)).toBe(true);
      return { store, advance: (ms) => waitForServerClock(client.nodes('master'), ms), close: () => store.close() };
    },
  };
}

function obs(over: Partial<RiskObservation> = {}): RiskObservation {
  return { now: T0, ip: '198.51.100.1', country: 'es', deviceId: 'dev-a', tokenId: 'tok-1', ...over };
}

describe.each([memoryBackend, redisBackend(), clusterBackend()])('RiskStore contract: $name', (backend) => {
  let h: Harness;
  beforeAll(() => backend.setup(), 30_000);
  afterAll(() => backend.teardown());
  beforeEach(async () => {
    h = await backend.harness();
  });
  afterEach(() => h.close());

  it('reports a first sighting, then the state before each later request', async () => {
    const first = await h.store.recordActivity('corp:alice', obs(), LIMITS);
    expect(first).toEqual({ knownDevice: false, firstSeen: true, velocityCount: 1, distinctIpsForToken: 1 });

    const second = await h.store.recordActivity('corp:alice', obs({ now: T0 + 1000, ip: '198.51.100.2', country: 'fr' }), LIMITS);
    expect(second).toEqual({
      lastIp: '198.51.100.1',
      lastCountry: 'es',
      lastCountryAt: T0,
      knownDevice: true,
      firstSeen: false,
      velocityCount: 2,
      distinctIpsForToken: 2,
    });

    // A request without a country keeps the last known one (and its time).
    const third = await h.store.recordActivity('corp:alice', obs({ now: T0 + 2000, country: undefined, deviceId: undefined }), LIMITS);
    expect(third).toMatchObject({ lastIp: '198.51.100.2', lastCountry: 'fr', lastCountryAt: T0 + 1000, knownDevice: false });
    const fourth = await h.store.recordActivity('corp:alice', obs({ now: T0 + 3000 }), LIMITS);
    expect(fourth).toMatchObject({ lastCountry: 'fr', lastCountryAt: T0 + 1000, firstSeen: false });
  });

  it('remembers devices per subject: a new one is unknown once, then known', async () => {
    await h.store.recordActivity('corp:bob', obs({ deviceId: 'dev-a' }), LIMITS);
    expect((await h.store.recordActivity('corp:bob', obs({ deviceId: 'dev-b' }), LIMITS)).knownDevice).toBe(false);
    expect((await h.store.recordActivity('corp:bob', obs({ deviceId: 'dev-b' }), LIMITS)).knownDevice).toBe(true);
    expect((await h.store.recordActivity('corp:bob', obs({ deviceId: 'dev-a' }), LIMITS)).knownDevice).toBe(true);
    // Another subject has its own devices.
    const carol = await h.store.recordActivity('corp:carol', obs({ deviceId: 'dev-a' }), LIMITS);
    expect(carol).toMatchObject({ firstSeen: true, knownDevice: false });
  });

  it('caps the remembered devices at MAX_KNOWN_DEVICES', async () => {
    for (let i = 0; i < MAX_KNOWN_DEVICES + 5; i += 1) {
      await h.store.recordActivity('corp:many', obs({ deviceId: `dev-${i}` }), LIMITS);
    }
    expect((await h.store.getRisk('corp:many'))?.knownDevices).toBe(MAX_KNOWN_DEVICES);
  });

  it('counts velocity over a sliding window of two buckets', async () => {
    const s = 'corp:fast';
    const base = Math.floor(T0 / MIN) * MIN;
    let last = 0;
    for (let i = 0; i < 10; i += 1) last = (await h.store.recordActivity(s, obs({ now: base + 1000 + i }), LIMITS)).velocityCount;
    expect(last).toBe(10);
    // A quarter into the next bucket, three quarters of the previous one still overlap the window.
    const next = await h.store.recordActivity(s, obs({ now: base + MIN + MIN / 4 }), LIMITS);
    expect(next.velocityCount).toBe(1 + Math.floor(10 * 0.75));
    // Two buckets later nothing old overlaps.
    const later = await h.store.recordActivity(s, obs({ now: base + 3 * MIN + 10 }), LIMITS);
    expect(later.velocityCount).toBe(1);
  });

  it('counts distinct source addresses per token, separately for each token', async () => {
    const s = 'corp:roamer';
    const counts: number[] = [];
    for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.1', '192.0.2.3']) {
      counts.push((await h.store.recordActivity(s, obs({ ip, tokenId: 'tok-x' }), LIMITS)).distinctIpsForToken);
    }
    expect(counts).toEqual([1, 2, 2, 3]);
    expect((await h.store.recordActivity(s, obs({ ip: '192.0.2.9', tokenId: 'tok-y' }), LIMITS)).distinctIpsForToken).toBe(1);
    expect((await h.store.getRisk(s))?.trackedTokens).toBe(2);
  });

  it('keeps at most MAX_IPS_PER_TOKEN addresses and reports one more beyond it', async () => {
    let n = 0;
    for (let i = 0; i < MAX_IPS_PER_TOKEN + 3; i += 1) {
      n = (await h.store.recordActivity('corp:botnet', obs({ ip: `10.0.${i >> 8}.${i & 255}`, tokenId: 'stolen' }), LIMITS)).distinctIpsForToken;
    }
    expect(n).toBe(MAX_IPS_PER_TOKEN + 1);
  });

  it('answers the stored state for the admin API, without device ids', async () => {
    expect(await h.store.getRisk('corp:nobody')).toBeUndefined();
    await h.store.recordActivity('corp:dana', obs({ now: T0 + 5 }), LIMITS);
    const record = await h.store.getRisk('corp:dana');
    expect(record).toEqual({ lastSeenAt: T0 + 5, lastIp: '198.51.100.1', lastCountry: 'es', lastCountryAt: T0 + 5, knownDevices: 1, trackedTokens: 1 });
    expect(JSON.stringify(record)).not.toContain('dev-a');
  });

  it('forgets everything on deleteRisk: the next request is a first sighting with fresh token counts', async () => {
    const s = 'corp:revoked';
    await h.store.recordActivity(s, obs({ ip: '192.0.2.1' }), LIMITS);
    await h.store.recordActivity(s, obs({ ip: '192.0.2.2' }), LIMITS);
    await h.store.deleteRisk(s);
    expect(await h.store.getRisk(s)).toBeUndefined();
    const after = await h.store.recordActivity(s, obs({ ip: '192.0.2.3' }), LIMITS);
    expect(after).toEqual({ knownDevice: false, firstSeen: true, velocityCount: 1, distinctIpsForToken: 1 });
    await h.store.deleteRisk('corp:never-seen');
  });

  it('expires a token address set after its window and the whole state after its TTL', async () => {
    const s = 'corp:ttl';
    await h.store.recordActivity(s, obs({ ip: '192.0.2.1' }), SHORT);
    expect((await h.store.recordActivity(s, obs({ ip: '192.0.2.2' }), SHORT)).distinctIpsForToken).toBe(2);
    await h.advance(SHORT.tokenIpWindowMs);
    const fresh = await h.store.recordActivity(s, obs({ ip: '192.0.2.3' }), SHORT);
    expect(fresh).toMatchObject({ firstSeen: false, distinctIpsForToken: 1 });
    await h.advance(SHORT.stateTtlMs);
    expect(await h.store.getRisk(s)).toBeUndefined();
    expect((await h.store.recordActivity(s, obs(), SHORT)).firstSeen).toBe(true);
  });

  it('keeps hostile subjects apart (hash-tag characters, empty subject)', async () => {
    const subjects = ['corp:{x}', 'corp:%7Bx%7D', '', 'corp:a}b{'];
    for (const s of subjects) await h.store.recordActivity(s, obs({ ip: `192.0.2.${subjects.indexOf(s) + 1}` }), LIMITS);
    for (const [i, s] of subjects.entries()) expect((await h.store.getRisk(s))?.lastIp).toBe(`192.0.2.${i + 1}`);
  });

  it('rejects limits that are not positive numbers with a TypeError', async () => {
    for (const bad of [{ ...LIMITS, stateTtlMs: 0 }, { ...LIMITS, velocityWindowMs: -1 }, { ...LIMITS, tokenIpWindowMs: Number.NaN }]) {
      await expect(h.store.recordActivity('corp:x', obs(), bad)).rejects.toBeInstanceOf(TypeError);
    }
  });

  it('puts a TTL on every key it writes (Redis)', async () => {
    if (!h.keyTtls) return;
    await h.store.recordActivity('corp:keys', obs(), LIMITS);
    await h.store.recordActivity('corp:keys', obs({ deviceId: 'dev-z', ip: '192.0.2.77' }), LIMITS);
    const ttls = await h.keyTtls();
    expect(ttls.size).toBe(4);
    for (const [key, ttl] of ttls) {
      expect(key).toContain('{corp:keys}');
      expect(ttl, key).toBeGreaterThan(0);
    }
  });
});

describe('RiskStore across replicas (two Redis stores, one server) and through the cached wrapper', () => {
  let server: RedisServerHandle;
  beforeAll(async () => {
    server = await startRedis();
  }, 30_000);
  afterAll(() => server?.close());

  it('shares risk state between replicas and revokes it for all of them at once', async () => {
    const keyPrefix = uniquePrefix();
    const a = createRedisStore({ logger }, { redis: { url: server.url, keyPrefix } });
    const bInner = createRedisStore({ logger }, { redis: { url: server.url, keyPrefix } });
    const b = createCachedVerdictStore(bInner, { ttlMs: 60_000, maxEntries: 10 });
    try {
      expect(await a.whenReady(5000)).toBe(true);
      expect(await bInner.whenReady(5000)).toBe(true);
      await a.recordActivity('corp:shared', obs({ country: 'de' }), LIMITS);
      expect((await b.getRisk('corp:shared'))?.lastCountry).toBe('de');
      const seenByB = await b.recordActivity('corp:shared', obs({ deviceId: 'dev-a' }), LIMITS);
      expect(seenByB).toMatchObject({ firstSeen: false, knownDevice: true, lastCountry: 'de' });
      await a.deleteRisk('corp:shared');
      expect(await b.getRisk('corp:shared')).toBeUndefined();
      expect((await b.recordActivity('corp:shared', obs(), LIMITS)).firstSeen).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('the cached wrapper rejects risk calls with StoreError when the inner store keeps no risk state', async () => {
    const memory = createMemoryStore({ logger });
    const { recordActivity: _r, getRisk: _g, deleteRisk: _d, ...rest } = memory;
    const cached = createCachedVerdictStore(rest, { ttlMs: 1000, maxEntries: 10 });
    await expect(cached.getRisk('corp:x')).rejects.toMatchObject({ name: 'StoreError', code: 'unavailable' });
    await cached.close();
  });
});
