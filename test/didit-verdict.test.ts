import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { WorkflowConfig } from '../src/config/types.js';
import { deriveVerdictFacts, verdictFromDecision, verdictFromWebhook } from '../src/didit/derive-verdict-facts.js';
import { DiditError } from '../src/didit/didit-error.js';
import { parseDecision, parseWebhookPayload, type DiditDecision, type DiditWebhookPayload } from '../src/didit/types.js';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const TS_MS = NOW; // every fixture's webhook timestamp

const workflow: WorkflowConfig = {
  name: 'kyc-adult',
  workflowId: '9f1e0000-0000-4000-8000-0000000000aa',
  maxAgeMs: 365 * 86_400_000,
  minAge: 18,
  requireAmlClear: true,
  requireDocumentValid: true,
};
const { minAge: _minAge, ...noMinAge } = workflow;

function fixture(name: string): DiditWebhookPayload {
  const json: unknown = JSON.parse(readFileSync(new URL(`./fixtures/didit/webhook-${name}.json`, import.meta.url), 'utf8'));
  const parsed = parseWebhookPayload(json);
  if (!parsed.ok) throw new Error(`fixture ${name}: ${parsed.reason}`);
  return parsed.value;
}

describe('verdictFromWebhook over fixtures', () => {
  it.each([
    ['approved-adult', 'Approved', { minAgeMet: true, minAgeChecked: 18, amlClear: true, documentValid: true }],
    ['minor-by-document', 'Approved', { minAgeMet: false, minAgeChecked: 18, amlClear: true, documentValid: true }],
    ['minor-by-estimation-only', 'Approved', { minAgeMet: false, minAgeChecked: 18, amlClear: true }],
    ['aml-hit', 'In Review', { minAgeMet: true, minAgeChecked: 18, amlClear: false, documentValid: true }],
    ['expired-document', 'Declined', { minAgeMet: true, minAgeChecked: 18, amlClear: true, documentValid: false }],
    ['declined', 'Declined', { minAgeMet: true, minAgeChecked: 18, amlClear: true, documentValid: true }],
    ['in-review', 'In Review', { minAgeMet: true, minAgeChecked: 18, amlClear: true, documentValid: true }],
  ] as const)('%s → %s with facts %j', (name, status, facts) => {
    const payload = fixture(name);
    const verdict = verdictFromWebhook(payload, 'kyc-adult', workflow, NOW);
    expect(verdict).toEqual({
      subject: 'corp:user-42',
      workflow: 'kyc-adult',
      sessionId: payload.session_id,
      status,
      eventAt: TS_MS,
      decidedAt: TS_MS,
      facts,
    });
  });

  it('resubmitted: pending, no decidedAt, and the payload carries resubmit_info instead of decision', () => {
    const payload = fixture('resubmitted');
    expect(payload.decision).toBeUndefined();
    expect(payload.resubmit_info?.nodes_to_resubmit).toEqual(['feature_ocr_1']);
    const verdict = verdictFromWebhook(payload, 'kyc-adult', workflow, NOW);
    expect(verdict.status).toBe('Resubmitted');
    expect(verdict).not.toHaveProperty('decidedAt');
    expect(verdict.eventAt).toBe(TS_MS);
    // No decision: no age evidence, so a required minAge reads as not met.
    expect(verdict.facts).toEqual({ minAgeMet: false, minAgeChecked: 18 });
  });

  it('facts hold booleans only: no names, dates or document numbers', () => {
    const verdict = verdictFromWebhook(fixture('approved-adult'), 'kyc-adult', workflow, NOW);
    const text = JSON.stringify(verdict);
    for (const pii of ['Ana', 'López', '1999-02-03', 'X0000000', 'acme']) expect(text).not.toContain(pii);
  });

  it('without minAge in the workflow, minAgeMet is absent', () => {
    const verdict = verdictFromWebhook(fixture('minor-by-document'), 'kyc', noMinAge, NOW);
    expect(verdict.facts).toEqual({ amlClear: true, documentValid: true });
  });

  it('throws a coded error when vendor_data is missing', () => {
    const { vendor_data: _v, ...rest } = fixture('approved-adult');
    expect(() => verdictFromWebhook(rest as DiditWebhookPayload, 'kyc', workflow, NOW)).toThrow(DiditError);
  });
});

describe('verdictFromDecision', () => {
  it('uses the fetch time as eventAt/decidedAt', () => {
    const decision = fixture('approved-adult').decision as DiditDecision;
    const fetchedAt = NOW + 5000;
    expect(verdictFromDecision(decision, 'kyc-adult', workflow, fetchedAt)).toEqual({
      subject: 'corp:user-42',
      workflow: 'kyc-adult',
      sessionId: decision.session_id,
      status: 'Approved',
      eventAt: fetchedAt,
      decidedAt: fetchedAt,
      facts: { minAgeMet: true, minAgeChecked: 18, amlClear: true, documentValid: true },
    });
  });

  it('pending status has no decidedAt', () => {
    const decision = { ...(fixture('approved-adult').decision as DiditDecision), status: 'In Progress' as const };
    expect(verdictFromDecision(decision, 'kyc', workflow, NOW)).not.toHaveProperty('decidedAt');
  });

  it.each([
    ['no session_id', { status: 'Approved', vendor_data: 'x' }],
    ['no status', { session_id: 's', vendor_data: 'x' }],
    ['no vendor_data', { session_id: 's', status: 'Approved' }],
  ])('throws on %s', (_name, decision) => {
    expect(() => verdictFromDecision(decision as DiditDecision, 'kyc', workflow, NOW)).toThrow(DiditError);
  });
});

describe('deriveVerdictFacts edge cases', () => {
  const doc = (over: Record<string, unknown>) => ({ node_id: 'n', status: 'Approved', expiration_date: '2030-01-01', warnings: [], ...over });

  it.each([
    ['18th birthday today (from date_of_birth)', { date_of_birth: '2008-01-15' }, true],
    ['18th birthday tomorrow', { date_of_birth: '2008-01-16' }, false],
    ['29 Feb birth date', { date_of_birth: '2008-02-29' }, false],
    ['age wins over date_of_birth', { age: 30, date_of_birth: '2015-01-01' }, true],
    ['invalid date_of_birth and no age', { date_of_birth: '2008-02-30' }, false],
  ])('%s', (_name, over, expected) => {
    expect(deriveVerdictFacts({ id_verifications: [doc(over)] }, workflow, NOW).minAgeMet).toBe(expected);
  });

  it('the lowest document age counts', () => {
    const facts = deriveVerdictFacts({ id_verifications: [doc({ age: 40 }), doc({ age: 17 })] }, workflow, NOW);
    expect(facts.minAgeMet).toBe(false);
  });

  it('document age wins over a higher estimate', () => {
    const facts = deriveVerdictFacts({ id_verifications: [doc({ age: 17 })], liveness_checks: [{ age_estimation: 30 }] }, workflow, NOW);
    expect(facts.minAgeMet).toBe(false);
  });

  it('estimate 18.9 floors to 18 (met); 17.99 is not', () => {
    expect(deriveVerdictFacts({ liveness_checks: [{ age_estimation: 18.9 }] }, workflow, NOW).minAgeMet).toBe(true);
    expect(deriveVerdictFacts({ liveness_checks: [{ age_estimation: 17.99 }] }, workflow, NOW).minAgeMet).toBe(false);
  });

  it('a MINIMUM_AGE_NOT_MET warning forces false', () => {
    const facts = deriveVerdictFacts({ id_verifications: [doc({ age: 30, warnings: [{ risk: 'MINIMUM_AGE_NOT_MET', log_type: 'error' }] })] }, workflow, NOW);
    expect(facts.minAgeMet).toBe(false);
  });

  it('no evidence at all → minAgeMet false, other facts absent', () => {
    expect(deriveVerdictFacts({ id_verifications: null, liveness_checks: [{ age_estimation: null }], aml_screenings: null }, workflow, NOW)).toEqual({ minAgeMet: false, minAgeChecked: 18 });
  });

  it.each([
    ['approved, no hits', { status: 'Approved', total_hits: 0, hits: [] }, true],
    ['approved, hits key absent', { status: 'Approved', total_hits: 0 }, true],
    ['approved but a hit is counted', { status: 'Approved', total_hits: 1, hits: [{ id: 'h' }] }, false],
    ['total_hits missing', { status: 'Approved', hits: [] }, false],
    ['listed hit marked false positive, count 0', { status: 'Approved', total_hits: 0, hits: [{ id: 'h', review_status: 'False Positive' }] }, true],
    ['listed hit not marked, count 0', { status: 'Approved', total_hits: 0, hits: [{ id: 'h' }] }, false],
    ['not finished', { status: 'Not Finished', total_hits: 0, hits: [] }, false],
  ])('AML %s → %s', (_name, screening, expected) => {
    expect(deriveVerdictFacts({ aml_screenings: [screening] }, workflow, NOW).amlClear).toBe(expected);
  });

  it('every screening must be clear', () => {
    const facts = deriveVerdictFacts({ aml_screenings: [{ status: 'Approved', total_hits: 0 }, { status: 'In Review', total_hits: 2 }] }, workflow, NOW);
    expect(facts.amlClear).toBe(false);
  });

  it.each([
    ['expires today', '2026-01-15', true],
    ['expired yesterday', '2026-01-14', false],
    ['missing expiry', null, false],
    ['unreadable expiry', '15/01/2030', false],
  ])('document %s → %s', (_name, expiry, expected) => {
    expect(deriveVerdictFacts({ id_verifications: [doc({ expiration_date: expiry })] }, workflow, NOW).documentValid).toBe(expected);
  });

  it('a DOCUMENT_EXPIRED warning overrides a future date', () => {
    const facts = deriveVerdictFacts({ id_verifications: [doc({ warnings: [{ risk: 'DOCUMENT_EXPIRED' }] })] }, workflow, NOW);
    expect(facts.documentValid).toBe(false);
  });
});

describe('payload guards', () => {
  const base = { session_id: 's', status: 'Approved', timestamp: 1 };

  it.each([
    ['not an object', []],
    ['missing session_id', { status: 'Approved', timestamp: 1 }],
    ['numeric timestamp required', { ...base, timestamp: '1' }],
    ['unknown status', { ...base, status: 'APPROVED' }],
    ['KYC instead of Kyc', { ...base, status: 'KYC Expired' }],
    ['vendor_data not a string', { ...base, vendor_data: 5 }],
    ['decision not an object', { ...base, decision: 'x' }],
    ['decision with a bad status', { ...base, decision: { status: 'Done' } }],
  ])('parseWebhookPayload rejects %s', (_name, json) => {
    expect(parseWebhookPayload(json).ok).toBe(false);
  });

  it('parseWebhookPayload tolerates unknown fields and keeps them', () => {
    const result = parseWebhookPayload({ ...base, brand_new: { x: 1 } });
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.value.brand_new).toEqual({ x: 1 });
  });

  it('parseDecision requires feature blocks to be arrays or null', () => {
    expect(parseDecision({ status: 'Approved', id_verifications: null }).ok).toBe(true);
    expect(parseDecision({ status: 'Approved', id_verifications: {} }).ok).toBe(false);
  });
});
