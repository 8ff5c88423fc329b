import { describe, expect, it } from 'vitest';
import type { WorkflowConfig } from '../config/types.js';
import type { VerificationNeed } from '../core/outcome.js';
import { evaluateVerdict } from './evaluate-verdict.js';
import type { SessionStatus, Verdict, VerdictFacts } from '../core/verdict.js';

const NOW = Date.UTC(2026, 10, 27, 12, 0, 0);
const DAY = 86_400_000;

const workflow: WorkflowConfig = {
  name: 'kyc',
  workflowId: '11111111-1111-4111-8111-111111111111',
  maxAgeMs: 365 * DAY,
  requireAmlClear: false,
  requireDocumentValid: false,
};
const strict: WorkflowConfig = { ...workflow, minAge: 18, requireAmlClear: true, requireDocumentValid: true };
const need: VerificationNeed = { workflow: 'kyc', maxAgeMs: 30 * DAY, onInReview: 'deny', onDeclined: 'deny' };

function verdict(status: SessionStatus, decidedAgoMs = DAY, facts: VerdictFacts = {}): Verdict {
  return { subject: 'demo:alice', workflow: 'kyc', sessionId: 's1', status, eventAt: NOW - decidedAgoMs, decidedAt: NOW - decidedAgoMs, facts };
}

describe('evaluateVerdict', () => {
  it.each<[string, Verdict | undefined, VerificationNeed, WorkflowConfig, string, string?]>([
    ['no verdict → step up', undefined, need, workflow, 'step_up'],
    ['fresh approval → satisfied', verdict('Approved'), need, workflow, 'satisfied'],
    ['approval older than the route max age → step up', verdict('Approved', 31 * DAY), need, workflow, 'step_up'],
    ['in review, default → deny in_review', verdict('In Review'), need, workflow, 'deny', 'verification_in_review'],
    ['in review, route allows → satisfied', verdict('In Review'), { ...need, onInReview: 'allow' }, workflow, 'satisfied'],
    ['declined, default → deny declined', verdict('Declined'), need, workflow, 'deny', 'verification_declined'],
    ['declined, retry allowed → step up', verdict('Declined'), { ...need, onDeclined: 'retry' }, workflow, 'step_up'],
    ['kyc expired → step up', verdict('Kyc Expired'), need, workflow, 'step_up'],
    ['expired session → step up', verdict('Expired'), need, workflow, 'step_up'],
    ['abandoned → step up', verdict('Abandoned'), need, workflow, 'step_up'],
    ['in progress → step up (reuse)', verdict('In Progress'), need, workflow, 'step_up'],
    ['resubmitted → step up', verdict('Resubmitted'), need, workflow, 'step_up'],
    ['approved, all facts hold → satisfied', verdict('Approved', DAY, { minAgeMet: true, amlClear: true, documentValid: true }), need, strict, 'satisfied'],
    ['approved, minor → insufficient', verdict('Approved', DAY, { minAgeMet: false, amlClear: true, documentValid: true }), need, strict, 'deny', 'verification_insufficient'],
    // Written while the workflow had no minAge (a reload added it): nothing is known about the age → verify again.
    ['approved without an age check, minAge added since → step up', verdict('Approved', DAY, { amlClear: true, documentValid: true }), need, strict, 'step_up'],
    // A reload may move minAge either way: a stored fact answers only what its threshold implies.
    ['met at 21, minAge now 18 → satisfied', verdict('Approved', DAY, { minAgeMet: true, minAgeChecked: 21, amlClear: true, documentValid: true }), need, strict, 'satisfied'],
    ['met at 18, minAge now 21 → step up', verdict('Approved', DAY, { minAgeMet: true, minAgeChecked: 18 }), need, { ...workflow, minAge: 21 }, 'step_up'],
    ['not met at 18, minAge now 21 → insufficient', verdict('Approved', DAY, { minAgeMet: false, minAgeChecked: 18 }), need, { ...workflow, minAge: 21 }, 'deny', 'verification_insufficient'],
    ['not met at 21, minAge now 18 → step up', verdict('Approved', DAY, { minAgeMet: false, minAgeChecked: 21 }), need, { ...workflow, minAge: 18 }, 'step_up'],
    ['age checked, minAge removed since → satisfied', verdict('Approved', DAY, { minAgeMet: false, minAgeChecked: 18 }), need, workflow, 'satisfied'],
    ['approved, AML hit → insufficient', verdict('Approved', DAY, { minAgeMet: true, amlClear: false, documentValid: true }), need, strict, 'deny', 'verification_insufficient'],
    ['approved, expired document → insufficient', verdict('Approved', DAY, { minAgeMet: true, amlClear: true, documentValid: false }), need, strict, 'deny', 'verification_insufficient'],
  ])('%s', (_name, v, n, wf, kind, code) => {
    const result = evaluateVerdict(v, n, wf, NOW);
    expect(result.kind).toBe(kind);
    if (code) expect(result).toMatchObject({ code });
  });
});
