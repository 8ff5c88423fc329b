import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { StoreError } from '../store-error.js';
import { createMemoryStore } from './create-memory-store.js';

describe('memory verdicts: readCheckState', () => {
  it('answers synchronously what getVerdicts resolves to, and rejects (never throws) once closed', async () => {
    let now = 1_000_000;
    const store = createMemoryStore({ logger: pino({ level: 'silent' }), clock: () => now });
    await store.putVerdict({ subject: 'corp:a', workflow: 'kyc', sessionId: 's1', status: 'Expired', eventAt: 1, facts: {} });
    const read = store.readCheckState('corp:a', ['kyc', 'age']);
    expect(read).not.toBeInstanceOf(Promise);
    const { verdicts } = read as Exclude<typeof read, Promise<unknown>>;
    expect(verdicts).toEqual(await store.getVerdicts('corp:a', ['kyc', 'age']));
    expect(verdicts[0]).toMatchObject({ status: 'Expired' });
    // The settled verdict's TTL applies to the synchronous read too.
    now += 365 * 86_400_000;
    expect(store.readCheckState('corp:a', ['kyc'])).toMatchObject({ verdicts: [undefined] });
    await store.close();
    const closed = store.readCheckState('corp:a', ['kyc']);
    expect(closed).toBeInstanceOf(Promise);
    await expect(closed).rejects.toBeInstanceOf(StoreError);
  });
});
