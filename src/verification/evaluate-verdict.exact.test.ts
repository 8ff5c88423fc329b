import { describe, expect, it } from 'vitest';
import type { WorkflowConfig } from '../config/types.js';
import type { VerificationNeed } from '../core/outcome.js';
import { evaluateVerdict } from './evaluate-verdict.js';
import type { SessionStatus, Verdict, VerdictFacts } from '../core/verdict.js';

/**
 * The exact evaluation (reason text included: it reaches logs and problem documents) for every status, and
 * the freshness boundary at ±1 ms. Found by mutation testing (`make mutation`).
 */
const NOW = Date.UTC(2026, 10, 27, 12, 0, 0);
const DAY = 86_400_000;
const workflow: WorkflowConfig = { name: 'kyc', workflowId: 'w', maxAgeMs: 365 * DAY, requireAmlClear: false, requireDocumentValid: false };
const strict: WorkflowConfig = { ...workflow, minAge: 18, requireAmlClear: true, requireDocumentValid: true };
const need: VerificationNeed = { workflow: 'kyc', maxAgeMs: 30 * DAY, onInReview: 'deny', onDeclined: 'deny' };
const verdict = (status: SessionStatus, facts: VerdictFacts = {}, at: { eventAt?: number; decidedAt?: number } = {}): Verdict => ({
  subject: 'demo:alice',
  workflow: 'kyc',
  sessionId: 's1',
  status,
  eventAt: at.eventAt ?? NOW - DAY,
  ...(at.decidedAt !== undefined || at.eventAt === undefined ? { decidedAt: at.decidedAt ?? NOW - DAY } : {}),
  facts,
});
const allFacts: VerdictFacts = { minAgeMet: true, amlClear: true, documentValid: true };

describe('evaluateVerdict, exactly', () => {
  it.each<[string, Verdict | undefined, VerificationNeed, WorkflowConfig, unknown]>([
    ['none', undefined, need, workflow, { kind: 'step_up', why: 'no verification on record' }],
    ['minor', verdict('Approved', { ...allFacts, minAgeMet: false }), need, strict, { kind: 'deny', code: 'verification_insufficient', message: 'minimum age requirement not met' }],
    ['aml', verdict('Approved', { ...allFacts, amlClear: false }), need, strict, { kind: 'deny', code: 'verification_insufficient', message: 'AML screening not clear' }],
    ['document', verdict('Approved', { ...allFacts, documentValid: false }), need, strict, { kind: 'deny', code: 'verification_insufficient', message: 'identity document not valid' }],
    ['in review', verdict('In Review'), need, workflow, { kind: 'deny', code: 'verification_in_review', message: 'verification is under review' }],
    ['declined', verdict('Declined'), need, workflow, { kind: 'deny', code: 'verification_declined', message: 'verification was declined' }],
    ['declined, retry', verdict('Declined'), { ...need, onDeclined: 'retry' }, workflow, { kind: 'step_up', why: 'previous verification declined; retry allowed' }],
    ['kyc expired', verdict('Kyc Expired'), need, workflow, { kind: 'step_up', why: 'verified document has expired' }],
    ['expired', verdict('Expired'), need, workflow, { kind: 'step_up', why: 'previous verification session was not completed' }],
    ['abandoned', verdict('Abandoned'), need, workflow, { kind: 'step_up', why: 'previous verification session was not completed' }],
    ['not started', verdict('Not Started'), need, workflow, { kind: 'step_up', why: 'verification in progress' }],
    ['in progress', verdict('In Progress'), need, workflow, { kind: 'step_up', why: 'verification in progress' }],
    ['resubmitted', verdict('Resubmitted'), need, workflow, { kind: 'step_up', why: 'verification in progress' }],
    ['awaiting user', verdict('Awaiting User'), need, workflow, { kind: 'step_up', why: 'verification in progress' }],
  ])('%s', (_name, v, n, w, expected) => {
    expect(evaluateVerdict(v, n, w, NOW)).toEqual(expected);
  });

  it('an approval exactly maxAge old is still fresh; 1 ms older steps up', () => {
    const at = (ago: number) => verdict('Approved', {}, { eventAt: NOW - ago, decidedAt: NOW - ago });
    expect(evaluateVerdict(at(need.maxAgeMs), need, workflow, NOW)).toEqual({ kind: 'satisfied' });
    expect(evaluateVerdict(at(need.maxAgeMs + 1), need, workflow, NOW)).toEqual({ kind: 'step_up', why: 'verification is older than allowed' });
  });

  it('freshness counts from the decision time when there is one, else from the event time', () => {
    const decidedRecently = verdict('Approved', {}, { eventAt: NOW - 60 * DAY, decidedAt: NOW - DAY });
    expect(evaluateVerdict(decidedRecently, need, workflow, NOW)).toEqual({ kind: 'satisfied' });
    const decidedLongAgo = verdict('Approved', {}, { eventAt: NOW - DAY, decidedAt: NOW - 60 * DAY });
    expect(evaluateVerdict(decidedLongAgo, need, workflow, NOW).kind).toBe('step_up');
    const noDecisionTime = verdict('Approved', {}, { eventAt: NOW - 60 * DAY });
    expect(noDecisionTime.decidedAt).toBeUndefined();
    expect(evaluateVerdict(noDecisionTime, need, workflow, NOW).kind).toBe('step_up');
  });

  it('refuses an unknown status loudly instead of treating it as any known one', () => {
    const bogus = { ...verdict('Approved'), status: 'Approved ' } as unknown as Verdict;
    expect(() => evaluateVerdict(bogus, need, workflow, NOW)).toThrow('unknown status Approved ');
  });
});
