import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Verdict } from '../core/verdict.js';
import { createCachedVerdictStore } from './cached-verdict-store.js';
import type { InvalidationListener } from './invalidations.js';
import { createMemoryStore } from './memory/create-memory-store.js';
import type { MemoryStore } from './memory/create-memory-store.js';

const logger = pino({ level: 'silent' });

const verdict = (subject: string, over: Partial<Verdict> = {}): Verdict => ({
  subject,
  workflow: 'kyc',
  sessionId: 's1',
  status: 'Approved',
  eventAt: 1,
  facts: {},
  ...over,
});

/**
 * A memory store seen through a wrapper that can hold reads open (network latency) and emit invalidations
 * the way another replica's events arrive.
 */
function setup(options: { ttlMs?: number; maxEntries?: number; clock?: () => number } = {}) {
  let now = 1_000_000;
  const memory = createMemoryStore({ logger, clock: () => now });
  const listeners = new Set<InvalidationListener>();
  let hold: Promise<void> | undefined;
  let reads = 0;
  // Every other method is inherited from the memory store through the prototype chain.
  const inner: MemoryStore = Object.assign(Object.create(memory) as MemoryStore, {
    async getVerdicts(subject: string, workflows: readonly string[]) {
      reads += 1;
      const result = await memory.getVerdicts(subject, workflows);
      if (hold) await hold;
      return result;
    },
    async readCheckState(subject: string, workflows: readonly string[]) {
      reads += 1;
      const result = await memory.readCheckState(subject, workflows);
      if (hold) await hold;
      return result;
    },
    onInvalidate(listener: InvalidationListener) {
      listeners.add(listener);
      const off = memory.onInvalidate(listener);
      return () => {
        listeners.delete(listener);
        off();
      };
    },
  });
  const cached = createCachedVerdictStore(inner, {
    ttlMs: options.ttlMs ?? 5_000,
    maxEntries: options.maxEntries ?? 100,
    clock: options.clock ?? (() => now),
  });
  return {
    memory,
    cached,
    reads: () => reads,
    advance: (ms: number) => {
      now += ms;
    },
    emit: (subject: string | undefined, workflow?: string) => {
      for (const l of listeners) l(subject, workflow);
    },
    holdReads: () => {
      let release = (): void => undefined;
      hold = new Promise<void>((r) => {
        release = r;
      });
      return () => {
        hold = undefined;
        release();
      };
    },
  };
}

describe('createCachedVerdictStore', () => {
  it('serves repeated lookups (found and not found) from memory until the TTL passes', async () => {
    const t = setup({ ttlMs: 5_000 });
    await t.memory.putVerdict(verdict('corp:a'));
    expect((await t.cached.getVerdicts('corp:a', ['kyc', 'age'])).map((v) => v?.status)).toEqual(['Approved', undefined]);
    expect((await t.cached.getVerdicts('corp:a', ['kyc', 'age'])).map((v) => v?.status)).toEqual(['Approved', undefined]);
    expect(t.reads()).toBe(1);
    expect(t.cached.stats()).toMatchObject({ hits: 2, misses: 2, subjects: 1 });
    t.advance(5_000);
    await t.cached.getVerdicts('corp:a', ['kyc']);
    expect(t.reads()).toBe(2);
  });

  it('readCheckState answers a full cache hit synchronously and a miss through the store', async () => {
    const t = setup({ ttlMs: 5_000 });
    await t.memory.putVerdict(verdict('corp:a'));
    const miss = t.cached.readCheckState('corp:a', ['kyc']);
    expect(miss).toBeInstanceOf(Promise);
    expect((await miss).verdicts.map((v) => v?.status)).toEqual(['Approved']);
    const hit = t.cached.readCheckState('corp:a', ['kyc']);
    expect(!(hit instanceof Promise) && hit.verdicts.map((v) => v?.status)).toEqual(['Approved']);
    expect(t.reads()).toBe(1);
    // A partial hit still goes to the store.
    const partial = t.cached.readCheckState('corp:a', ['kyc', 'age']);
    expect(partial).toBeInstanceOf(Promise);
    expect((await partial).verdicts.map((v) => v?.status)).toEqual(['Approved', undefined]);
    expect(t.cached.stats()).toMatchObject({ hits: 2, misses: 2 });
  });

  it('readCheckState: a miss reads every workflow with its pending session in one step; a full hit reads none', async () => {
    const t = setup({ ttlMs: 5_000 });
    const pending = { subject: 'corp:p', workflow: 'age', sessionId: 'p1', url: 'https://verify.example/p1', createdAt: 1 };
    await t.memory.putVerdict(verdict('corp:p'));
    await t.memory.putPending(pending, 60_000);
    const miss = t.cached.readCheckState('corp:p', ['kyc', 'age']);
    expect(miss).toBeInstanceOf(Promise);
    const state = await miss;
    expect(state.verdicts.map((v) => v?.status)).toEqual(['Approved', undefined]);
    expect(state.pending?.[1]).toEqual(pending);
    const hit = t.cached.readCheckState('corp:p', ['kyc', 'age']);
    expect(hit).not.toBeInstanceOf(Promise);
    expect(hit).toEqual({ verdicts: state.verdicts, pending: undefined });
    // A partial hit re-reads every workflow, so each absent verdict comes with its pending session.
    const partial = await t.cached.readCheckState('corp:p', ['age', 'aml']);
    expect(partial.pending?.[0]).toEqual(pending);
    expect(t.reads()).toBe(2);
  });

  it('readCheckState does not cache a read that an invalidation overlapped', async () => {
    const t = setup();
    const release = t.holdReads();
    const read = t.cached.readCheckState('corp:q', ['kyc']);
    await Promise.resolve();
    t.emit('corp:q', 'kyc');
    release();
    expect((await read).verdicts).toEqual([undefined]);
    await t.cached.readCheckState('corp:q', ['kyc']);
    expect(t.reads()).toBe(2);
  });

  it('reads only the workflows it does not hold', async () => {
    const t = setup();
    await t.cached.getVerdicts('corp:a', ['kyc']);
    await t.memory.putVerdict(verdict('corp:a', { workflow: 'age', status: 'Declined' }));
    const got = await t.cached.getVerdicts('corp:a', ['kyc', 'age']);
    expect(got.map((v) => v?.status)).toEqual([undefined, 'Declined']);
    expect(t.cached.stats()).toMatchObject({ hits: 1, misses: 2 });
  });

  it.each<{ desc: string; invalidate: (t: ReturnType<typeof setup>) => Promise<void> | void }>([
    { desc: 'its own write', invalidate: async (t) => void (await t.cached.putVerdict(verdict('corp:a', { status: 'Declined', eventAt: 2 }))) },
    { desc: 'a write on the inner store', invalidate: async (t) => void (await t.memory.putVerdict(verdict('corp:a', { status: 'Declined', eventAt: 2 }))) },
    { desc: 'its own revocation', invalidate: async (t) => void (await t.cached.revokeVerdicts('corp:a', undefined, { at: 1, reason: 'admin' })) },
    { desc: 'a subject-wide event', invalidate: (t) => t.emit('corp:a') },
    { desc: 'a subject+workflow event', invalidate: (t) => t.emit('corp:a', 'kyc') },
    { desc: 'a flush-everything event', invalidate: (t) => t.emit(undefined) },
  ])('drops the entry on $desc', async ({ invalidate }) => {
    const t = setup();
    await t.memory.putVerdict(verdict('corp:a'));
    await t.cached.getVerdicts('corp:a', ['kyc']);
    await invalidate(t);
    await t.cached.getVerdicts('corp:a', ['kyc']);
    expect(t.reads()).toBe(2);
  });

  it('keeps entries of other workflows on a subject+workflow event', async () => {
    const t = setup();
    await t.cached.getVerdicts('corp:a', ['kyc', 'age']);
    t.emit('corp:a', 'age');
    await t.cached.getVerdicts('corp:a', ['kyc']);
    expect(t.reads()).toBe(1);
  });

  it('does not cache a read that overlapped an invalidation', async () => {
    const t = setup();
    const release = t.holdReads();
    const before = t.cached.getVerdicts('corp:a', ['kyc']);
    await t.memory.putVerdict(verdict('corp:a'));
    release();
    expect(await before).toEqual([undefined]);
    expect((await t.cached.getVerdicts('corp:a', ['kyc']))[0]?.status).toBe('Approved');
    expect(t.reads()).toBe(2);
  });

  it('treats a cache fault as a miss', async () => {
    const t = setup({
      clock: () => {
        throw new Error('clock broke');
      },
    });
    await t.memory.putVerdict(verdict('corp:a'));
    expect((await t.cached.getVerdicts('corp:a', ['kyc']))[0]?.status).toBe('Approved');
    expect((await t.cached.getVerdicts('corp:a', ['kyc']))[0]?.status).toBe('Approved');
    expect(t.reads()).toBe(2);
  });

  it('never caches with ttlMs 0 and stays within maxEntries', async () => {
    const off = setup({ ttlMs: 0 });
    await off.cached.getVerdicts('corp:a', ['kyc']);
    await off.cached.getVerdicts('corp:a', ['kyc']);
    expect(off.reads()).toBe(2);
    const small = setup({ maxEntries: 3 });
    for (let i = 0; i < 10; i += 1) await small.cached.getVerdicts(`corp:${i}`, ['kyc']);
    expect(small.cached.stats().subjects).toBe(3);
  });

  it('sheds subjects whose entries are all past the TTL as new ones come in, and keeps live ones', async () => {
    // Many more subjects within one TTL than after it: the cache must not stay full of dead entries.
    const t = setup({ ttlMs: 5_000, maxEntries: 1_000 });
    for (let i = 0; i < 10; i += 1) await t.cached.getVerdicts(`corp:old-${i}`, ['kyc']);
    t.advance(3_000);
    await t.cached.getVerdicts('corp:live', ['kyc']);
    expect(t.cached.stats().subjects).toBe(11); // nothing expired yet: nothing dropped
    t.advance(2_500); // the ten old subjects are past the TTL, `corp:live` is not
    for (let i = 0; i < 5; i += 1) await t.cached.getVerdicts(`corp:new-${i}`, ['kyc']);
    // Each insert drops up to two dead subjects from the least recently used end: all ten are gone.
    expect(t.cached.stats().subjects).toBe(6);
    const before = t.reads();
    await t.cached.getVerdicts('corp:live', ['kyc']);
    expect(t.reads()).toBe(before); // the live subject still answers from the cache
    // A subject with one workflow still fresh is not dropped, even at the least recently used end.
    const u = setup({ ttlMs: 5_000, maxEntries: 1_000 });
    await u.cached.getVerdicts('corp:mixed', ['kyc']);
    u.advance(4_000);
    await u.cached.getVerdicts('corp:mixed', ['aml']);
    u.advance(2_000); // kyc's entry is dead, aml's is not
    await u.cached.getVerdicts('corp:other', ['kyc']);
    expect(u.cached.stats().subjects).toBe(2);
  });

  it('rejects bad options', () => {
    const t = setup();
    expect(() => createCachedVerdictStore(t.memory, { ttlMs: -1, maxEntries: 1 })).toThrow(TypeError);
    expect(() => createCachedVerdictStore(t.memory, { ttlMs: 1, maxEntries: 0 })).toThrow(TypeError);
  });
});
