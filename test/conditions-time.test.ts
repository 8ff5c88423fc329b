import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/parse-config.js';
import type { TimeWindow } from '../src/config/types.js';
import type { RequestContext } from '../src/core/request-context.js';
import type { AuthResult } from '../src/core/auth-result.js';
import { compilePolicy } from '../src/policy/compile-policy.js';
import { compileTimeWindow, createLocalClock } from '../src/policy/time-window-matcher.js';

const at = (iso: string): number => Date.parse(iso);

const OFFICE: TimeWindow = { days: ['mon', 'tue', 'wed', 'thu', 'fri'], fromMinute: 8 * 60, toMinute: 18 * 60, timeZone: 'Europe/Madrid' };
const EVERY_DAY_MADRID: TimeWindow = { ...OFFICE, days: [] };
const NIGHT_FRI: TimeWindow = { days: ['fri'], fromMinute: 22 * 60, toMinute: 6 * 60, timeZone: 'UTC' };
const KOLKATA: TimeWindow = { days: [], fromMinute: 9 * 60, toMinute: 17 * 60 + 30, timeZone: 'Asia/Kolkata' };
const KATHMANDU: TimeWindow = { days: [], fromMinute: 9 * 60, toMinute: 10 * 60, timeZone: 'Asia/Kathmandu' };

describe('time windows', () => {
  it.each([
    // 2026-03-29 is the last Sunday of March: Madrid moves from CET (+1) to CEST (+2) at 01:00 UTC.
    ['Madrid spring-forward day: 06:30Z is 08:30 CEST (inside; a fixed +1 would say 07:30)', EVERY_DAY_MADRID, '2026-03-29T06:30:00Z', true],
    ['Madrid spring-forward day: 05:59Z is 07:59 CEST (outside)', EVERY_DAY_MADRID, '2026-03-29T05:59:00Z', false],
    ['Madrid the day before: 06:30Z is 07:30 CET (outside)', EVERY_DAY_MADRID, '2026-03-28T06:30:00Z', false],
    ['Madrid spring-forward day: 15:59Z is 17:59 CEST (inside)', EVERY_DAY_MADRID, '2026-03-29T15:59:00Z', true],
    ['Madrid spring-forward day: 16:00Z is 18:00 CEST (end is exclusive)', EVERY_DAY_MADRID, '2026-03-29T16:00:00Z', false],
    // 2026-10-25 is the last Sunday of October: back to CET at 01:00 UTC.
    ['Madrid fall-back day: 16:30Z is 17:30 CET (inside; a fixed +2 would say 18:30)', EVERY_DAY_MADRID, '2026-10-25T16:30:00Z', true],
    ['Madrid fall-back day: 17:00Z is 18:00 CET (outside)', EVERY_DAY_MADRID, '2026-10-25T17:00:00Z', false],
    ['Madrid the day before fall-back: 16:30Z is 18:30 CEST (outside)', EVERY_DAY_MADRID, '2026-10-24T16:30:00Z', false],
    ['Madrid fall-back day: 07:00Z is 08:00 CET (start is inclusive)', EVERY_DAY_MADRID, '2026-10-25T07:00:00Z', true],
    ['office hours: Monday 09:00 Madrid', OFFICE, '2026-03-30T07:00:00Z', true],
    ['office hours: Sunday is not a listed day', OFFICE, '2026-03-29T10:00:00Z', false],
    ['office hours: the weekday is read in the zone (Sunday 23:30Z is Monday 01:30 Madrid, before 08:00)', OFFICE, '2026-03-29T23:30:00Z', false],
    ['wrap: Friday 23:00 is inside a fri 22:00-06:00 window', NIGHT_FRI, '2026-01-09T23:00:00Z', true],
    ['wrap: Friday 22:00 is inside (inclusive start)', NIGHT_FRI, '2026-01-09T22:00:00Z', true],
    ['wrap: Saturday 05:59 belongs to Friday night', NIGHT_FRI, '2026-01-10T05:59:00Z', true],
    ['wrap: Saturday 06:00 is outside (exclusive end)', NIGHT_FRI, '2026-01-10T06:00:00Z', false],
    ['wrap: Saturday 22:30 is outside (Saturday not listed)', NIGHT_FRI, '2026-01-10T22:30:00Z', false],
    ['wrap: Friday 05:00 is outside (Thursday night not listed)', NIGHT_FRI, '2026-01-09T05:00:00Z', false],
    ['30-minute offset: 03:29Z is 08:59 IST (outside)', KOLKATA, '2026-01-05T03:29:00Z', false],
    ['30-minute offset: 03:30Z is 09:00 IST (inside)', KOLKATA, '2026-01-05T03:30:00Z', true],
    ['30-minute offset: 11:59Z is 17:29 IST (inside)', KOLKATA, '2026-01-05T11:59:00Z', true],
    ['30-minute offset: 12:00Z is 17:30 IST (outside)', KOLKATA, '2026-01-05T12:00:00Z', false],
    ['45-minute offset: 03:15Z is 09:00 NPT (inside)', KATHMANDU, '2026-01-05T03:15:00Z', true],
    ['45-minute offset: 03:14Z is 08:59 NPT (outside)', KATHMANDU, '2026-01-05T03:14:59Z', false],
  ] as const)('%s', (_name, window, iso, expected) => {
    expect(compileTimeWindow(window)(at(iso))).toBe(expected);
  });

  it('the per-minute cache never leaks across minutes', () => {
    const inside = compileTimeWindow(EVERY_DAY_MADRID);
    const boundary = at('2026-03-29T05:59:59.999Z');
    expect(inside(boundary)).toBe(false);
    expect(inside(boundary + 1)).toBe(true);
    expect(inside(boundary)).toBe(false);
  });

  it('reads the local weekday and minute in the zone', () => {
    const clock = createLocalClock('America/New_York');
    // Monday 2026-03-09 03:30Z is Sunday 23:30 EDT (DST started on 2026-03-08).
    expect(clock(at('2026-03-09T03:30:00Z'))).toEqual({ day: 6, minute: 23 * 60 + 30 });
  });
});

describe('time conditions in a policy', () => {
  const policy = compilePolicy(
    parseConfig(
      `
issuers: [{ name: corp, issuer: https://corp.example, audiences: [api], jwksUri: https://corp.example/jwks }]
policy:
  routes:
    - id: office
      match: { prefix: /office }
      conditions:
        - name: office-hours
          when: { time: { outside: { days: [mon-fri], hours: "08:00-18:00", timeZone: Europe/Madrid } } }
          then: deny
    - id: maintenance
      match: { prefix: /maint }
      conditions:
        - name: maintenance-window
          when: { time: { within: { days: [sun], hours: "02:00-04:00", timeZone: UTC } } }
          then: { deny: time_denied, message: "maintenance in progress" }
`,
      { sourceName: 't.yaml', env: {} },
    ),
  );
  const ctx = (path: string): RequestContext => ({
    method: 'GET', scheme: 'https', host: 'a.example', path, rawPath: path, query: '', headers: {}, sourceAddress: '192.0.2.1',
    sourcePrincipal: '', contextExtensions: {}, metadata: {}, requestId: 'r', protocol: 'HTTP/2', receivedAt: 0,
  });
  const user: AuthResult = {
    kind: 'verified',
    principal: { issuerName: 'corp', issuer: 'https://corp.example', sub: 'u', subject: 'corp:u', claims: {}, source: 'header', tokenId: 't' },
  };

  it.each([
    ['outside office hours is denied with time_denied', '/office', '2026-03-28T10:00:00Z', 'time_denied', 'access is not allowed at this time'],
    ['inside office hours passes', '/office', '2026-03-30T10:00:00Z', 'allow', undefined],
    ['inside the maintenance window is denied with its message', '/maint', '2026-03-29T03:00:00Z', 'time_denied', 'maintenance in progress'],
    ['outside the maintenance window passes', '/maint', '2026-03-29T04:00:00Z', 'allow', undefined],
  ] as const)('%s', (_name, path, iso, expected, message) => {
    const outcome = policy.evaluate(ctx(path), user, at(iso));
    if (expected === 'allow') expect(outcome.kind).toBe('allow');
    else expect(outcome).toMatchObject({ kind: 'deny', status: 403, code: expected, message });
  });

  it('the trace names the zone and the result, not the time', () => {
    const outcome = policy.evaluate(ctx('/office'), user, at('2026-03-28T10:00:00Z'));
    expect(outcome.trace.find((s) => s.step === 'condition:office-hours')).toEqual({
      step: 'condition:office-hours',
      result: 'fail',
      detail: 'local time (Europe/Madrid) outside the window: deny time_denied',
    });
  });

  it('an invalid request time fails closed', () => {
    expect(policy.evaluate(ctx('/office'), user, Number.NaN)).toMatchObject({ kind: 'deny', code: 'condition_denied' });
  });
});
