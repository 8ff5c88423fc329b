import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SESSION_STATUSES } from '../core/verdict.js';
import type { Verdict } from '../core/verdict.js';
import { PUT_VERDICT_LUA } from './redis/redis-scripts.js';
import { compareUtf8, isRevokedSession, isStatusRegression, orderVerdictWrite, REFUSAL_STATUSES, STATUS_PRECEDENCE } from './verdict-order.js';

const arbVerdict = fc.record({
  subject: fc.constant('corp:u'),
  workflow: fc.constant('kyc'),
  sessionId: fc.constantFrom('a', 'b', 'é', 'ab'),
  status: fc.constantFrom(...SESSION_STATUSES),
  eventAt: fc.integer({ min: 0, max: 3 }),
  facts: fc.constant({}),
});

function applyAll(events: readonly Verdict[]): Verdict | undefined {
  let stored: Verdict | undefined;
  for (const v of events) if (orderVerdictWrite(stored, v) === 'written') stored = v;
  return stored;
}

describe('orderVerdictWrite', () => {
  it('gives every status a distinct precedence', () => {
    const ranks = SESSION_STATUSES.map((s) => STATUS_PRECEDENCE[s]);
    expect(new Set(ranks).size).toBe(SESSION_STATUSES.length);
    expect(STATUS_PRECEDENCE.Declined).toBeGreaterThan(STATUS_PRECEDENCE.Approved);
    expect(STATUS_PRECEDENCE.Approved).toBeGreaterThan(STATUS_PRECEDENCE['In Review']);
    expect(STATUS_PRECEDENCE['In Review']).toBeGreaterThan(STATUS_PRECEDENCE['In Progress']);
  });

  it('converges on the same verdict whatever order the events arrive in', () => {
    fc.assert(
      fc.property(fc.array(arbVerdict, { minLength: 1, maxLength: 8 }).chain((xs) => fc.tuple(fc.constant(xs), fc.shuffledSubarray(xs, { minLength: xs.length }))), ([events, shuffled]) => {
        const a = applyAll(events);
        const b = applyAll(shuffled);
        return a?.status === b?.status && a?.sessionId === b?.sessionId && a?.eventAt === b?.eventAt;
      }),
      { numRuns: 500 },
    );
  });

  it('compares session ids by UTF-8 bytes like the Lua script', () => {
    expect(compareUtf8('\uFFFF', '😀')).toBe(-1);
    expect('\uFFFF' < '😀').toBe(false);
  });
});

describe('revocation rule', () => {
  it.each([
    ['no watermark, unknown creation', undefined, undefined, false],
    ['no watermark, known creation', undefined, 5, false],
    ['created before', 10, 5, true],
    ['created at the same ms (revocation wins)', 10, 10, true],
    ['created after', 10, 11, false],
    ['unknown creation time fails closed', 10, undefined, true],
    ['NaN creation time fails closed', 10, Number.NaN, true],
  ])('%s', (_desc, watermark, created, expected) => {
    expect(isRevokedSession(watermark, created)).toBe(expected);
  });

  it('treats only Approved → a refusal as a status regression, and the Lua script knows the same refusals', () => {
    const v = (status: Verdict['status']): Verdict => ({ subject: 's', workflow: 'w', sessionId: 'x', status, eventAt: 1, facts: {} });
    for (const status of SESSION_STATUSES) {
      expect(isStatusRegression(v('Approved'), v(status))).toBe(REFUSAL_STATUSES.has(status));
      expect(isStatusRegression(v('In Review'), v(status))).toBe(false);
    }
    expect(isStatusRegression(undefined, v('Declined'))).toBe(false);
    for (const status of REFUSAL_STATUSES) expect(PUT_VERDICT_LUA).toContain(`[${JSON.stringify(status)}]=true`);
  });
});
