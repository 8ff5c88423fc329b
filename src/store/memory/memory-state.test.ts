import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Verdict } from '../../core/verdict.js';
import { createMemoryStore } from './create-memory-store.js';

const logger = pino({ level: 'silent' });
const verdict = (subject: string): Verdict => ({ subject, workflow: 'kyc', sessionId: 's', status: 'Approved', eventAt: 1, facts: {} });

describe('MemoryState revocation watermarks under memory pressure', () => {
  it('never forgets a revocation: beyond the cap the oldest watermark becomes a floor for every subject', async () => {
    const store = createMemoryStore({ logger, clock: () => 10_000 }, { maxSubjects: 2 });
    await store.revokeVerdicts('corp:a', undefined, { at: 500, reason: 'admin' });
    await store.revokeVerdicts('corp:b', 'kyc', { at: 600, reason: 'admin' });
    await store.revokeVerdicts('corp:c', 'kyc', { at: 700, reason: 'admin' });
    // corp:a's own record was folded into the floor (500), so its old sessions stay refused…
    expect(await store.getRevocations('corp:a')).toEqual([]);
    expect(await store.putVerdict(verdict('corp:a'), { sessionCreatedAt: 400 })).toBe('revoked');
    // …and so do other subjects' sessions older than the floor (fail closed), but not newer ones.
    expect(await store.putVerdict(verdict('corp:z'), { sessionCreatedAt: 499 })).toBe('revoked');
    expect(await store.putVerdict(verdict('corp:z'), { sessionCreatedAt: 501 })).toBe('written');
    expect(await store.putVerdict(verdict('corp:a'), { sessionCreatedAt: 501 })).toBe('written');
    expect(await store.putVerdict(verdict('corp:c'), { sessionCreatedAt: 650 })).toBe('revoked');
  });
});
