import { describe, expect, it } from 'vitest';
import type { SessionStatus, Verdict } from '../core/verdict.js';
import { compareUtf8, orderVerdictWrite } from './verdict-order.js';

/**
 * Exact answers of the ordering rule, one per branch (the convergence property alone accepts a rule that is
 * consistently wrong, e.g. one where the lower precedence wins). Found by mutation testing (`make mutation`).
 */
const v = (status: SessionStatus, eventAt: number, sessionId = 's1'): Verdict => ({
  subject: 'corp:u',
  workflow: 'kyc',
  sessionId,
  status,
  eventAt,
  facts: {},
});

describe('orderVerdictWrite, branch by branch', () => {
  it('writes the first verdict', () => {
    expect(orderVerdictWrite(undefined, v('Approved', 5))).toBe('written');
  });

  it('writes a newer event and refuses an older one, whatever their statuses', () => {
    expect(orderVerdictWrite(v('Declined', 5), v('Approved', 6))).toBe('written');
    expect(orderVerdictWrite(v('Approved', 5), v('Declined', 4))).toBe('stale');
  });

  it('reports a replay of the same status and session as a duplicate', () => {
    expect(orderVerdictWrite(v('Approved', 5), v('Approved', 5))).toBe('duplicate');
    expect(orderVerdictWrite(v('Approved', 5, 'a'), v('Approved', 5, 'b'))).not.toBe('duplicate');
    expect(orderVerdictWrite(v('Approved', 5), v('Declined', 5))).not.toBe('duplicate');
  });

  it('at the same instant, a revocation beats an approval in both arrival orders', () => {
    expect(orderVerdictWrite(v('Approved', 5), v('Declined', 5))).toBe('written');
    expect(orderVerdictWrite(v('Declined', 5), v('Approved', 5))).toBe('stale');
    expect(orderVerdictWrite(v('In Review', 5), v('Approved', 5))).toBe('written');
    expect(orderVerdictWrite(v('Approved', 5), v('In Review', 5))).toBe('stale');
  });

  it('same instant and status, different sessions: the byte-wise greater session id wins', () => {
    expect(orderVerdictWrite(v('Approved', 5, 'a'), v('Approved', 5, 'b'))).toBe('written');
    expect(orderVerdictWrite(v('Approved', 5, 'b'), v('Approved', 5, 'a'))).toBe('stale');
  });

  it('compares UTF-8 bytes: -1, 0, 1', () => {
    expect(compareUtf8('a', 'b')).toBe(-1);
    expect(compareUtf8('b', 'a')).toBe(1);
    expect(compareUtf8('é', 'é')).toBe(0);
  });
});
