import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PendingSession, Verdict } from '../src/core/verdict.js';
import { createRedisStore, type RedisStore } from '../src/store/redis/create-redis-store.js';
import { MAX_BATCH_KEYS } from '../src/store/redis/mget-batcher.js';
import { createStoreKeys, DEFAULT_KEY_PREFIX } from '../src/store/store-keys.js';
import { StoreError } from '../src/store/store-error.js';
import type { CheckState } from '../src/store/verdict-store.js';
import { startRedis, type RedisServerHandle } from './support/redis-server.js';

/**
 * The per-Check read on Redis is one MGET per event-loop turn for all the Checks of that turn
 * (store/redis/mget-batcher), and a stored verdict's decoding is kept by its exact bytes. What must not
 * change, on a real redis-server: each Check gets its own verdicts and pending session, never another
 * subject's; a write acknowledged before the read (from any replica) is seen; a fault fails every Check of
 * the command with a coded StoreError; a turn with more keys than one command takes is split.
 */
const silent = pino({ level: 'silent' });
const WORKFLOWS = ['kyc'] as const;

function approved(subject: string, at: number): Verdict {
  return { subject, workflow: 'kyc', sessionId: `v-${subject}`, status: 'Approved', eventAt: at, decidedAt: at, facts: {} };
}

function pending(subject: string, at: number): PendingSession {
  return { subject, workflow: 'kyc', sessionId: `p-${subject}`, url: `https://didit.example/session/${encodeURIComponent(subject)}`, createdAt: at };
}

describe('batched per-Check reads on a real redis-server', () => {
  let server: RedisServerHandle;
  let raw: Redis;
  const stores: RedisStore[] = [];
  const open = async (commandTimeoutMs = 3_000): Promise<RedisStore> => {
    const store = createRedisStore({ logger: silent }, { redis: { url: server.url, commandTimeoutMs, connectTimeoutMs: 2_000 } });
    stores.push(store);
    expect(await store.whenReady(5_000)).toBe(true);
    return store;
  };
  const mgetCalls = async (): Promise<number> => {
    const info = await raw.info('commandstats');
    return Number(/^cmdstat_mget:calls=(\d+)/m.exec(info)?.[1] ?? 0);
  };
  /** What a Check of `subject` must see, by the subject's index: a verdict, a pending session, or nothing. */
  const expectedState = (subject: string, i: number, at: number): CheckState =>
    i % 3 === 0
      ? { verdicts: [approved(subject, at)], pending: expect.anything() as unknown as CheckState['pending'] }
      : i % 3 === 1
        ? { verdicts: [undefined], pending: [pending(subject, at)] }
        : { verdicts: [undefined], pending: expect.anything() as unknown as CheckState['pending'] };

  beforeAll(async () => {
    server = await startRedis();
    raw = new Redis(server.url);
  });
  afterAll(async () => {
    // Stores first (they quit their connections), then the inspecting client, then the server.
    for (const store of stores) await store.close();
    raw.disconnect();
    await server?.close();
  });

  async function seed(writer: RedisStore, prefix: string, n: number, at: number): Promise<string[]> {
    const subjects = Array.from({ length: n }, (_, i) => `test:${prefix}-${i}`);
    await Promise.all(
      subjects.map(async (subject, i) => {
        if (i % 3 === 0) expect(await writer.putVerdict(approved(subject, at))).toBe('written');
        else if (i % 3 === 1) expect(await writer.putPending(pending(subject, at), 3_600_000)).toBe('stored');
      }),
    );
    return subjects;
  }

  it('answers the Checks of one turn with one MGET, each with its own subject\'s state, including writes from another replica', async () => {
    const reader = await open();
    const writer = await open();
    const at = Date.now() - 1_000;
    const subjects = await seed(writer, 'turn', 40, at);
    await raw.call('CONFIG', 'RESETSTAT');
    const states = await Promise.all(subjects.map((s) => reader.readCheckState(s, WORKFLOWS)));
    expect(await mgetCalls()).toBe(1);
    subjects.forEach((subject, i) => {
      const state = states[i];
      expect(state).toEqual(expectedState(subject, i, at));
      if (i % 3 !== 1) expect((state?.pending ?? []).every((p) => p === undefined)).toBe(true);
    });
  });

  it('splits a turn with more keys than one MGET takes, and still answers each Check with its own state', async () => {
    const reader = await open();
    const at = Date.now() - 1_000;
    // Two keys per Check (verdict and pending): this many Checks need three commands.
    const n = MAX_BATCH_KEYS + 20;
    const subjects = await seed(await open(), 'split', n, at);
    await raw.call('CONFIG', 'RESETSTAT');
    const states = await Promise.all(subjects.map((s) => reader.readCheckState(s, WORKFLOWS)));
    expect(await mgetCalls()).toBe(3);
    subjects.forEach((subject, i) => expect(states[i]).toEqual(expectedState(subject, i, at)));
  });

  it('a verdict written between two turns is seen by the next turn\'s Checks', async () => {
    const reader = await open();
    const writer = await open();
    const at = Date.now() - 1_000;
    const subject = 'test:between';
    const before = await Promise.all([reader.readCheckState(subject, WORKFLOWS), reader.readCheckState(subject, WORKFLOWS)]);
    expect(before.map((s) => s.verdicts[0])).toEqual([undefined, undefined]);
    await writer.putVerdict(approved(subject, at));
    const after = await Promise.all([reader.readCheckState(subject, WORKFLOWS), reader.readCheckState('test:between-other', WORKFLOWS)]);
    expect(after[0]!.verdicts[0]).toEqual(approved(subject, at));
    expect(after[1]!.verdicts[0]).toBeUndefined();
  });

  it('a stuck Redis fails every Check of the command with a coded timeout, not an ioredis error', async () => {
    const reader = await open(200);
    const subjects = Array.from({ length: 10 }, (_, i) => `test:stuck-${i}`);
    await raw.call('CLIENT', 'PAUSE', '700', 'ALL');
    const settled = await Promise.allSettled(subjects.map((s) => reader.readCheckState(s, WORKFLOWS)));
    for (const result of settled) {
      expect(result.status).toBe('rejected');
      if (result.status === 'rejected') {
        expect(result.reason).toBeInstanceOf(StoreError);
        expect((result.reason as StoreError).code).toBe('timeout');
      }
    }
    await new Promise((r) => setTimeout(r, 800));
    // And it answers again once Redis does.
    expect((await reader.readCheckState('test:stuck-0', WORKFLOWS)).verdicts).toEqual([undefined]);
  });

  // A verdict and a pending session are each decoded once per stored value (keptDecoding): reads must still
  // answer what Redis holds now, and never hand a subject a value stored for another one.
  const KINDS = [
    {
      kind: 'verdict',
      key: (subject: string) => createStoreKeys(DEFAULT_KEY_PREFIX).verdict(subject, 'kyc'),
      value: (subject: string, at: number): Verdict | PendingSession => ({ ...approved(subject, at), status: at % 2 === 0 ? 'Approved' : 'Declined' }),
      read: (state: CheckState) => state.verdicts[0],
    },
    {
      kind: 'pending session',
      key: (subject: string) => createStoreKeys(DEFAULT_KEY_PREFIX).pending(subject, 'kyc'),
      value: (subject: string, at: number): Verdict | PendingSession => ({ ...pending(subject, at), sessionId: `p-${at}` }),
      read: (state: CheckState) => state.pending?.[0],
    },
  ] as const;

  it.each(KINDS)('a $kind: a changed stored value is read anew, a deleted one is gone, another subject\'s is refused', async ({ key, value, read }) => {
    const reader = await open();
    const at = Date.now() - 1_000;
    const subject = `test:decoded-${at}`;
    const first = value(subject, at);
    await raw.set(key(subject), JSON.stringify(first));
    for (let i = 0; i < 3; i++) expect(read(await reader.readCheckState(subject, WORKFLOWS))).toEqual(first);
    const changed = value(subject, at + 1);
    await raw.set(key(subject), JSON.stringify(changed));
    expect(read(await reader.readCheckState(subject, WORKFLOWS))).toEqual(changed);
    // Byte for byte the value just decoded for `subject`, stored under another subject's key: not theirs.
    await raw.set(key(`${subject}-other`), JSON.stringify(changed));
    const corrupt = reader.stats().corruptValues;
    expect(read(await reader.readCheckState(`${subject}-other`, WORKFLOWS))).toBeUndefined();
    expect(reader.stats().corruptValues).toBe(corrupt + 1);
    await raw.del(key(subject));
    expect(read(await reader.readCheckState(subject, WORKFLOWS))).toBeUndefined();
  });

  // The kept decoding compares the reply's bytes: a value that differs from the kept one in a single byte
  // (same length, invalid UTF-8, or not JSON at all) must be decoded anew — refused where unreadable, every
  // time it is read — and never answered with the decoding kept for the bytes it replaced.
  it.each(KINDS)('a $kind: a one-byte change, invalid UTF-8 and a malformed value are each read as Redis holds them', async ({ key, value, read }) => {
    const reader = await open();
    const at = Date.now() - 1_000;
    const subject = `test:bytes-${at}`;
    const good = JSON.stringify(value(subject, at));
    await raw.set(key(subject), good);
    expect(read(await reader.readCheckState(subject, WORKFLOWS))).toEqual(JSON.parse(good));
    // The same length, one byte changed inside the subject: a foreign value now, so refused.
    const flipped = Buffer.from(good);
    const at1 = flipped.indexOf('test:bytes-') + 'test:'.length;
    flipped[at1] = 'B'.charCodeAt(0);
    const bad = [flipped, Buffer.concat([Buffer.from(good.slice(0, -1)), Buffer.from([0xff, 0x7d])]), Buffer.from('{not json')];
    for (const bytes of bad) {
      await raw.set(key(subject), bytes);
      const corrupt = reader.stats().corruptValues;
      for (let i = 0; i < 2; i++) expect(read(await reader.readCheckState(subject, WORKFLOWS))).toBeUndefined();
      expect(reader.stats().corruptValues).toBe(corrupt + 2);
    }
    await raw.set(key(subject), good);
    expect(read(await reader.readCheckState(subject, WORKFLOWS))).toEqual(JSON.parse(good));
  });

  // A subject's keys are kept per workflow list (keptCheckStateKeys): each read must still read the keys of
  // the names it asked for — another list, or the same array changed in place, never gets the kept keys.
  it('reads the keys of the workflows asked for, whatever was read for the subject before', async () => {
    const reader = await open();
    const writer = await open();
    const at = Date.now() - 1_000;
    const subject = `test:keys-${at}`;
    const kyc = approved(subject, at);
    const aml: Verdict = { ...approved(subject, at), workflow: 'aml', sessionId: 'v-aml', status: 'Declined' };
    await writer.putVerdict(kyc);
    await writer.putVerdict(aml);
    const names = ['kyc'];
    expect((await reader.readCheckState(subject, names)).verdicts).toEqual([kyc]);
    expect((await reader.readCheckState(subject, ['aml'])).verdicts).toEqual([aml]);
    expect((await reader.readCheckState(subject, ['aml', 'kyc'])).verdicts).toEqual([aml, kyc]);
    expect((await reader.readCheckState(subject, names)).verdicts).toEqual([kyc]);
    names[0] = 'aml';
    expect((await reader.readCheckState(subject, names)).verdicts).toEqual([aml]);
    expect((await reader.readCheckState(`${subject}-other`, names)).verdicts).toEqual([undefined]);
  });

  it('a verdict revoked by another replica is gone at the next read, though its decoding was kept', async () => {
    const reader = await open();
    const writer = await open();
    const at = Date.now() - 1_000;
    const subject = `test:revoked-${at}`;
    await writer.putVerdict(approved(subject, at));
    for (let i = 0; i < 3; i++) expect((await reader.readCheckState(subject, WORKFLOWS)).verdicts).toEqual([approved(subject, at)]);
    await writer.revokeVerdicts(subject, 'kyc', { at: Date.now(), reason: 'admin' });
    const [first, second] = await Promise.all([reader.readCheckState(subject, WORKFLOWS), reader.readCheckState(subject, WORKFLOWS)]);
    expect(first?.verdicts).toEqual([undefined]);
    expect(second?.verdicts).toEqual([undefined]);
  });

  it('a closed store refuses the read at once', async () => {
    const reader = await open();
    await reader.close();
    await expect(reader.readCheckState('test:closed', WORKFLOWS)).rejects.toMatchObject({ name: 'StoreError', code: 'unavailable' });
  });
});
