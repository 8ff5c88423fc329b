import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../config/parse-config.js';
import type { Outcome } from '../core/outcome.js';
import { compilePolicy } from '../policy/compile-policy.js';
import { compareOutcomes, MAX_LOG_LINE_BYTES, replayDecisions } from './replay-decisions.js';

const dir = mkdtempSync(join(tmpdir(), 'idgate-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const policy = (payScopes: string) =>
  compilePolicy(
    parseConfig(
      `
issuers:
  - { name: corp, issuer: https://corp.example, audiences: [api], jwksUri: https://corp.example/jwks }
policy:
  routes:
    - { id: pay, match: { prefix: /pay }, require: { scopes: [${payScopes}] } }
    - { id: office, match: { prefix: /office }, require: { scopes: [a] }, conditions: [{ name: hours, when: { time: { within: { days: [mon-fri], hours: "09:00-17:00", timeZone: UTC } } }, then: allow }, { name: closed, when: { cel: "true" }, then: deny }] }
`,
      { sourceName: 't.yaml', env: {} },
    ),
  );

const record = (path: string, scope: string, at = Date.UTC(2026, 0, 5, 10)) => ({
  v: 1,
  at,
  request: { method: 'GET', scheme: 'https', host: 'shop.example', path, sourceAddress: '192.0.2.1' },
  auth: { kind: 'verified', issuer: 'corp', subject: 'corp:u1', claims: { scope } },
});

describe('replayDecisions', () => {
  it('evaluates each replay record under both policies at its own time and counts every other line, never failing', async () => {
    const file = join(dir, 'decisions.log');
    const lines = [
      JSON.stringify({ level: 30, msg: 'listening', port: 9191 }),
      '',
      'not json {',
      JSON.stringify({ msg: 'decision', decisionId: 'd-old', outcome: 'allow' }),
      JSON.stringify({ msg: 'decision', decisionId: 'd-bad', replay: { v: 1, at: 'yesterday' } }),
      'x'.repeat(MAX_LOG_LINE_BYTES + 10),
      JSON.stringify({ msg: 'decision', decisionId: 'd-same', replay: record('/pay', 'pay refund') }),
      JSON.stringify({ msg: 'decision', decisionId: 'd-now-denied', replay: record('/pay', 'pay') }),
      // Monday 10:00 UTC: inside office hours; the same request at 20:00 is denied by `closed` under both.
      JSON.stringify({ msg: 'decision', decisionId: 'd-hours', replay: record('/office', 'a') }),
      JSON.stringify({ msg: 'decision', decisionId: 'd-late', replay: record('/office', 'a', Date.UTC(2026, 0, 5, 20)) }),
    ];
    writeFileSync(file, `${lines.join('\n')}\n`);
    const report = await replayDecisions([file], policy('pay'), policy('pay, refund'));
    expect(report).toMatchObject({ replayed: 4, unchanged: 3, ignored: 2, withoutReplay: 1, malformed: 3 });
    expect(report.changed).toEqual([
      { decisionId: 'd-now-denied', direction: 'stricter', request: 'GET shop.example /pay', from: 'allow by pay', to: 'deny claims_mismatch by pay', detail: 'allow by pay → deny claims_mismatch by pay' },
    ]);
    expect(report.malformedSamples).toEqual([
      `${file}:3: not JSON`,
      expect.stringMatching(new RegExp(`^${file}:5: invalid replay record at at: `)),
      `${file}:6: line longer than ${MAX_LOG_LINE_BYTES} bytes`,
    ]);
  });

  it('throws for a file it cannot read (the command answers exit 2)', async () => {
    await expect(replayDecisions([join(dir, 'missing.log')], policy('a'), policy('a'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('compareOutcomes', () => {
  const base = { shadow: false, trace: [] } as const;
  const allow: Outcome = { ...base, kind: 'allow', routeId: 'r', headers: {}, failOpen: false };
  const deny: Outcome = { ...base, kind: 'deny', routeId: 'r', status: 403, code: 'claims_mismatch', message: 'm' };
  const verify = (maxAgeMs: number, onInReview: 'deny' | 'allow' = 'deny'): Outcome => ({
    ...base, kind: 'verify', routeId: 'r', headers: {}, failOpen: false, needs: [{ workflow: 'kyc', maxAgeMs, onInReview, onDeclined: 'deny' }],
  });

  it('classifies fewer barriers as looser and more as stricter', () => {
    expect(compareOutcomes(deny, allow)?.direction).toBe('looser');
    expect(compareOutcomes(verify(1000), allow)?.direction).toBe('looser');
    expect(compareOutcomes(deny, verify(1000))?.direction).toBe('looser');
    expect(compareOutcomes(allow, verify(1000))?.direction).toBe('stricter');
    expect(compareOutcomes(verify(1000), verify(2000))).toMatchObject({ direction: 'looser', detail: 'kyc accepts older verdicts' });
    expect(compareOutcomes(verify(2000), verify(1000))).toMatchObject({ direction: 'stricter', detail: 'kyc needs fresher verdicts' });
    expect(compareOutcomes(verify(1000), verify(1000, 'allow'))?.direction).toBe('looser');
    expect(compareOutcomes(deny, { ...deny, shadow: true })).toMatchObject({ direction: 'looser', to: 'deny claims_mismatch by r (shadow: allowed)' });
  });

  it('a different code or deciding route is a change; the same decision is none', () => {
    expect(compareOutcomes(deny, { ...deny, code: 'mfa_required', status: 401 })?.direction).toBe('changed');
    expect(compareOutcomes(allow, { ...allow, routeId: 'other' })?.direction).toBe('changed');
    expect(compareOutcomes(deny, { ...deny, message: 'other words' })).toBeUndefined();
  });
});
